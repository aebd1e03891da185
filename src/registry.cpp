#include "stagecheck/registry.hpp"

#include <fmt/format.h>

namespace stagecheck {

const char* to_string(ParamType type) noexcept {
  switch (type) {
    case ParamType::string:
      return "string";
    case ParamType::integer:
      return "integer";
    case ParamType::number:
      return "number";
    case ParamType::boolean:
      return "boolean";
    case ParamType::string_list:
      return "list of strings";
    case ParamType::condition_list:
      return "list of conditions";
    case ParamType::condition:
      return "condition";
    case ParamType::path:
      return "path template";
    case ParamType::path_list:
      return "list of path templates";
    case ParamType::artifact:
      return "artifact name or path";
    case ParamType::local_path:
      return "$variable of type local_path";
    case ParamType::object:
      return "mapping";
    case ParamType::any:
      return "any";
  }
  return "any";
}

Result<void> Registry::add(CheckInfo info, CheckFactory factory, std::string source) {
  if (info.type.empty()) {
    return make_error(Errc::plugin_error,
                      fmt::format("{}: a check type has an empty name", source));
  }
  if (!factory) {
    return make_error(Errc::plugin_error,
                      fmt::format("{}: check type '{}' has no factory", source, info.type));
  }
  if (auto it = entries_.find(info.type); it != entries_.end()) {
    return make_error(Errc::plugin_error,
                      fmt::format("check type '{}' is registered twice: by {} and by {}", info.type,
                                  it->second.source, source));
  }
  std::string key = info.type;
  entries_.emplace(std::move(key), Entry{std::move(info), std::move(factory), std::move(source)});
  return {};
}

const Registry::Entry* Registry::find(std::string_view type) const {
  auto it = entries_.find(type);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<const Registry::Entry*> Registry::entries() const {
  std::vector<const Entry*> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(&entry);
  return out;
}

}  // namespace stagecheck
