#include "stagecheck/plugin_loader.hpp"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "stagecheck/plugin.hpp"

namespace stagecheck {

PluginRegistrar::~PluginRegistrar() = default;

namespace {

// Queues registrations; commit() adds them all or none.
class QueueRegistrar final : public PluginRegistrar {
 public:
  void add(CheckInfo info, CheckFactory factory) override {
    entries_.push_back({std::move(info), std::move(factory)});
  }
  void fail(std::string message) override { failure_ = std::move(message); }

  struct Item {
    CheckInfo info;
    CheckFactory factory;
  };
  std::vector<Item> entries_;
  std::string failure_;
};

Result<void> refuse_writable(const std::filesystem::path& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(Errc::plugin_error,
                      fmt::format("plugin {} '{}': {}", what, path.string(), std::strerror(errno)));
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    return make_error(
        Errc::plugin_error,
        fmt::format("plugin {} '{}' is world-writable (mode {:04o}); refusing to load "
                    "code anyone can replace",
                    what, path.string(), st.st_mode & 07777));
  }
  return {};
}

std::string library_tag() { return STAGECHECK_ABI_TAG; }

}  // namespace

std::filesystem::path PluginLoader::default_dir() {
  // Next to libstagecheck itself, so the driver and programs that embed the library agree,
  // in the build tree and once installed.
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&PluginLoader::default_dir), &info) == 0 ||
      info.dli_fname == nullptr) {
    return {};
  }
  std::error_code ec;
  std::filesystem::path lib = std::filesystem::canonical(info.dli_fname, ec);
  if (ec) return {};
  return lib.parent_path() / "stagecheck" / "plugins";
}

Result<void> PluginLoader::load_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  if (auto ok = refuse_writable(path.parent_path().empty() ? "." : path.parent_path(), "folder");
      !ok) {
    return ok;
  }
  if (auto ok = refuse_writable(path, "file"); !ok) return ok;
  // Through a symbolic link, the code really lives where the link points: check that folder
  // and file too, or a safe-looking link could lead into a folder anyone can write.
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  if (ec) {
    return make_error(Errc::plugin_error, fmt::format("plugin file '{}': {}", file, ec.message()));
  }
  if (real != std::filesystem::absolute(path).lexically_normal()) {
    if (auto ok = refuse_writable(real.parent_path(), "folder"); !ok) return ok;
    if (auto ok = refuse_writable(real, "file"); !ok) return ok;
  }

  // RTLD_NODELETE keeps the code mapped for the process's life: factories and checks the plugin
  // made may live in the registry and in specs long after this loader is gone.
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return make_error(Errc::plugin_error, fmt::format("plugin '{}' cannot be loaded: {}", file,
                                                      why != nullptr ? why : "unknown error"));
  }
  ::dlerror();
  void* sym = ::dlsym(handle, STAGECHECK_PLUGIN_ENTRY_NAME);
  if (sym == nullptr) {
    ::dlclose(handle);
    return make_error(Errc::plugin_error,
                      fmt::format("plugin '{}' has no entry point '{}' (is it a stagecheck plugin? "
                                  "define it with STAGECHECK_PLUGIN)",
                                  file, STAGECHECK_PLUGIN_ENTRY_NAME));
  }
  auto entry = reinterpret_cast<StagecheckPluginEntry>(sym);
  const StagecheckPluginInfo* info = nullptr;
  try {
    info = entry();
  } catch (const std::exception& e) {
    return make_error(Errc::plugin_error,
                      fmt::format("plugin '{}': its entry point threw: {}", file, e.what()));
  } catch (...) {
    return make_error(
        Errc::plugin_error,
        fmt::format("plugin '{}': its entry point threw a non-standard exception", file));
  }
  if (info == nullptr) {
    return make_error(Errc::plugin_error,
                      fmt::format("plugin '{}': its entry point returned no plugin info", file));
  }
  // The version is read before any other field: later versions may lay the struct out anew.
  if (info->abi_version != STAGECHECK_PLUGIN_ABI_VERSION) {
    return make_error(Errc::plugin_error,
                      fmt::format("plugin '{}' was built for plugin ABI version {}, but this "
                                  "stagecheck has ABI version {}; rebuild the plugin",
                                  file, info->abi_version, STAGECHECK_PLUGIN_ABI_VERSION));
  }
  const std::string name = info->name != nullptr ? info->name : "";
  const std::string version = info->version != nullptr ? info->version : "";
  const std::string tag = info->abi_tag != nullptr ? info->abi_tag : "";
  if (tag != library_tag()) {
    return make_error(Errc::plugin_error,
                      fmt::format("plugin '{}' ({} {}) was built with ABI tag '{}', but this "
                                  "stagecheck has '{}'; rebuild the plugin with the same compiler, "
                                  "standard library and nlohmann_json",
                                  file, name, version, tag, library_tag()));
  }
  if (name.empty() || info->register_checks == nullptr) {
    return make_error(
        Errc::plugin_error,
        fmt::format("plugin '{}': its plugin info has no name or no register callback", file));
  }
  const std::string owner = fmt::format("plugin {} {} ({})", name, version, file);
  QueueRegistrar registrar;
  int rc = 1;
  try {
    rc = info->register_checks(registrar.handle());
  } catch (const std::exception& e) {
    registrar.failure_ = fmt::format("register threw: {}", e.what());
  } catch (...) {
    registrar.failure_ = "register threw a non-standard exception";
  }
  // A recorded failure counts even if the callback then returned 0.
  if (rc != 0 || !registrar.failure_.empty()) {
    return make_error(Errc::plugin_error,
                      fmt::format("{}: registration failed: {}", owner,
                                  registrar.failure_.empty() ? "the callback returned an error"
                                                             : registrar.failure_));
  }
  // All or nothing: check every name first.
  std::vector<std::string> names;
  for (const auto& item : registrar.entries_) {
    if (item.info.type.empty() || !item.factory) {
      return make_error(
          Errc::plugin_error,
          fmt::format("{}: registration failed: a check type {} (nothing was registered)", owner,
                      item.info.type.empty() ? "has an empty name"
                                             : "'" + item.info.type + "' has no factory"));
    }
    if (const auto* existing = registry_.find(item.info.type)) {
      return make_error(Errc::plugin_error,
                        fmt::format("check type '{}' is registered twice: by {} and by {}",
                                    item.info.type, existing->source, owner));
    }
    if (std::find(names.begin(), names.end(), item.info.type) != names.end()) {
      return make_error(Errc::plugin_error,
                        fmt::format("{} registers check type '{}' twice", owner, item.info.type));
    }
    names.push_back(item.info.type);
  }
  for (auto& item : registrar.entries_) {
    if (auto ok = registry_.add(std::move(item.info), std::move(item.factory), owner); !ok)
      return ok;
  }
  plugins_.push_back(LoadedPlugin{file, name, version, std::move(names)});
  return {};
}

Result<void> PluginLoader::load_all(const std::vector<std::filesystem::path>& dirs,
                                    bool include_default) {
  if (include_default) {
    std::filesystem::path def = default_dir();
    std::error_code ec;
    if (!def.empty() && std::filesystem::is_directory(def, ec)) {
      if (auto ok = load_dir(def); !ok) return ok;
    }
  }
  for (const auto& dir : dirs) {
    if (auto ok = load_dir(dir); !ok) return ok;
  }
  return {};
}

Result<void> PluginLoader::load_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return make_error(
        Errc::plugin_error,
        fmt::format("plugin folder '{}' does not exist or is not a folder", dir.string()));
  }
  if (auto ok = refuse_writable(dir, "folder"); !ok) return ok;
  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(dir, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (it->path().extension() == ".so" && it->is_regular_file(type_ec))
      files.push_back(it->path());
  }
  if (ec) {
    return make_error(Errc::plugin_error, fmt::format("plugin folder '{}' cannot be read: {}",
                                                      dir.string(), ec.message()));
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    if (auto ok = load_file(f); !ok) return ok;
  }
  return {};
}

}  // namespace stagecheck
