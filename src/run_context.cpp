#include "run_context.hpp"

#include <algorithm>

#include "stage_actions.hpp"

#include <fmt/format.h>

namespace stagecheck::detail {

Result<Doc> RunState::load(const std::string& path, Format format, std::uint64_t max_bytes,
                           bool fresh) {
  std::string key = fmt::format("{}\n{}\n{}", to_string(format), max_bytes, path);
  std::promise<Result<Doc>> promise;
  std::shared_future<Result<Doc>> future;
  bool owner = fresh;
  if (fresh) {
    future = promise.get_future().share();
  } else {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      future = promise.get_future().share();
      cache_.emplace(key, future);
      owner = true;
    } else {
      future = it->second;
    }
  }
  if (owner) {
    LoadLimits limits = limits_;
    limits.max_bytes = max_bytes;
    Artifact artifact(path, path, format, store_, limits);
    Result<Doc> result = make_error(Errc::internal, "not loaded");
    try {
      auto parsed = artifact.load();
      if (parsed) {
        result = Doc(std::make_shared<const nlohmann::json>(std::move(*parsed)));
      } else {
        result = std::move(parsed).error();
      }
    } catch (const std::exception& e) {
      result = make_error(Errc::internal, fmt::format("'{}': {}", path, e.what()));
    }
    promise.set_value(std::move(result));
  }
  return future.get();
}

std::optional<Error> CheckContextImpl::probe_fault(std::string_view service,
                                                   std::string_view target) {
  if (run_.chaos() == nullptr) return std::nullopt;
  // What the report shows: no credentials (user:password@) and no query string.
  // What the report shows: no user information (the last '@' of the authority ends it), no
  // query string, and no secret variable's value anywhere.
  std::string shown(target.substr(0, target.find('?')));
  const std::size_t scheme = shown.find("://");
  if (scheme != std::string::npos) {
    const std::size_t host = scheme + 3;
    const std::size_t end = std::min(shown.find('/', host), shown.size());
    const std::size_t at = shown.rfind('@', end == 0 ? 0 : end - 1);
    if (at != std::string::npos && at >= host) shown.erase(host, at + 1 - host);
  }
  return run_.chaos()->request(fmt::format("probe:{}", service),
                               scrub_secrets(std::move(shown), run_.spec()));
}

void RunState::forget_cached() {
  std::lock_guard lock(mutex_);
  cache_.clear();
}

const nlohmann::json* CheckContextImpl::var(std::string_view name) const {
  const auto& values = run_.spec().values;
  auto it = values.find(std::string(name));
  return it == values.end() ? nullptr : &*it;
}

TemplateEnv CheckContextImpl::template_env() {
  TemplateEnv env;
  env.var = [this](std::string_view name, bool& multi) -> const nlohmann::json* {
    const VarDecl* decl = run_.spec().find_var(name);
    multi = decl != nullptr && decl->type == VarType::store_path;
    return var(name);
  };
  env.artifact = [this](std::string_view name) -> Result<const nlohmann::json*> {
    auto doc = load_declared(name);
    if (!doc) return std::move(doc).error();
    return doc->get();
  };
  return env;
}

Result<std::string> CheckContextImpl::resolve(const PathTemplate& path) {
  return path.expand(template_env());
}

Result<Artifact> CheckContextImpl::artifact(const ArtifactRef& ref) {
  auto path = resolve(ref.path);
  if (!path) {
    const Error& e = path.error();
    return make_error(e.code, ref.name.empty()
                                  ? e.message
                                  : fmt::format("artifact '{}': {}", ref.name, e.message));
  }
  record_artifact(*path);
  LoadLimits limits = run_.limits();
  if (ref.max_bytes) limits.max_bytes = *ref.max_bytes;
  return Artifact(ref.label(), *path, ref.format, run_.store(), limits);
}

Result<Doc> CheckContextImpl::load(const ArtifactRef& ref) {
  auto art = artifact(ref);
  if (!art) return std::move(art).error();
  Format format = ref.format == Format::bytes ? Format::json : ref.format;
  auto doc = run_.load(art->path(), format, art->limits().max_bytes, fresh_);
  if (doc) keep_.push_back(*doc);
  return doc;
}

Result<Doc> CheckContextImpl::load_path(const std::string& path, Format format) {
  if (auto ok = validate_store_path(path); !ok) return std::move(ok).error();
  record_artifact(path);
  auto doc = run_.load(path, format, run_.limits().max_bytes, fresh_);
  if (doc) keep_.push_back(*doc);
  return doc;
}

Result<Doc> CheckContextImpl::load_declared(std::string_view name) {
  auto it = run_.spec().artifacts.find(name);
  if (it == run_.spec().artifacts.end()) {
    return make_error(Errc::not_found, fmt::format("no artifact named '{}' is declared", name));
  }
  // Declared artifacts form no cycle (checked at load); the guard is belt and braces.
  if (depth_ > 32) {
    return make_error(Errc::internal, fmt::format("artifact '{}': references nest too deep", name));
  }
  ++depth_;
  auto doc = load(it->second.ref);
  --depth_;
  return doc;
}

EvalEnv CheckContextImpl::eval_env() {
  EvalEnv env;
  env.var = [this](std::string_view name) { return var(name); };
  env.artifact = [this](std::string_view name) -> Result<const nlohmann::json*> {
    auto doc = load_declared(name);
    if (!doc) return std::move(doc).error();
    return doc->get();
  };
  return env;
}

void CheckContextImpl::record_artifact(std::string path) {
  auto [it, inserted] = read_.insert(std::move(path));
  if (inserted && check_id_ != nullptr && run_.observed()) {
    run_.notify([&](RunObserver& o) { o.on_artifact_read(*stage_id_, *check_id_, *it); });
  }
}

}  // namespace stagecheck::detail
