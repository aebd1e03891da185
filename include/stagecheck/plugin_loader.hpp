#pragma once
/// \file
/// PluginLoader: loads check plugins into a Registry and keeps them loaded.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "stagecheck/export.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

/// What is known about a loaded plugin.
struct LoadedPlugin {
  std::string path;
  std::string name;
  std::string version;
  std::vector<std::string> checks;  ///< Check types it registered.
};

/// Loads plugins with dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE): code stays mapped for the
/// life of the process, so checks and factories a plugin made can never outlive their code.
/// A plugin file or folder that is world-writable is refused, as is a missing entry point, a
/// different ABI version or tag, a name collision, or a failing register callback; every
/// refusal is an Errc::plugin_error naming the file. Not thread-safe.
class STAGECHECK_API PluginLoader {
 public:
  explicit PluginLoader(Registry& registry) : registry_(registry) {}

  /// Loads one shared object.
  Result<void> load_file(const std::filesystem::path& path);
  /// Loads every `*.so` in `dir` (not recursive), in name order. A missing folder is an error.
  Result<void> load_dir(const std::filesystem::path& dir);

  /// Loads default_dir() if `include_default` and it exists, then every folder of `dirs`.
  Result<void> load_all(const std::vector<std::filesystem::path>& dirs, bool include_default);

  const std::vector<LoadedPlugin>& plugins() const noexcept { return plugins_; }

  /// The folder installed plugins live in: `stagecheck/plugins` next to libstagecheck
  /// (`<libdir>/stagecheck/plugins`), in the build tree and once installed.
  static std::filesystem::path default_dir();

 private:
  Registry& registry_;
  std::vector<LoadedPlugin> plugins_;
};

}  // namespace stagecheck
