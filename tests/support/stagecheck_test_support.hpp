#pragma once
// Test helpers shared by the core's and the plugins' tests: a scratch folder, running the
// built driver, and running a spec in-process with the in-tree plugins.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include <stagecheck/embed.hpp>

namespace stagecheck::testing {

namespace fs = std::filesystem;

/// Reads a whole file ("" if it cannot be read).
inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A temporary folder, removed with everything in it when the object dies.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "stagecheck-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

  /// Writes `body` to `rel`, creating folders.
  void write(const std::string& rel, const std::string& body) const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << body;
  }
  /// Copies a folder tree into `rel` (or the scratch root).
  void copy_tree(const fs::path& from, const std::string& rel = "") const {
    fs::copy(from, path_ / rel, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }

 private:
  fs::path path_;
};

/// The outcome of running the driver.
struct DriverRun {
  int code = -1;
  std::string out;
  std::string err;
};

/// Runs `<driver> args` through the shell (args quoted by the caller), no stdin.
inline DriverRun run_driver(const std::string& args, const std::string& prefix = "") {
  ScratchDir tmp;
  const fs::path out = tmp / "stdout", err = tmp / "stderr";
  std::string cmd = prefix + " '" + std::string(STAGECHECK_DRIVER) + "' " + args + " >'" +
                    out.string() + "' 2>'" + err.string() + "' </dev/null";
  int status = std::system(cmd.c_str());
  DriverRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// Runs a spec in-process against `root`, with exactly the in-tree plugins loaded.
inline RunOutcome run_spec_text(const std::string& spec, const fs::path& root,
                                std::map<std::string, std::string> vars = {},
                                RunOptions options = {}) {
  RunRequest req;
  req.spec_text = spec;
  req.spec_name = "spec.yaml";
  req.vars = std::move(vars);
  req.root = root;
  req.plugin_dirs = {STAGECHECK_PLUGIN_BUILD_DIR};
  req.load_default_plugins = false;
  req.options = options;
  return run_spec(req);
}

/// The result with this id, or nullptr.
inline const CheckResult* find_result(const Report& report, const std::string& id) {
  for (const auto& r : report.results) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

}  // namespace stagecheck::testing
