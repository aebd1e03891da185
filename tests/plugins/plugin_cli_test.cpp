// Runs the built driver against one corpus plugin folder at a time and asserts exit codes and
// the exact stderr: every broken plugin is a plugin error (exit 2) on every verb, a check that
// throws is an `error` result (exit 3), and the good plugin's check type works end to end.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "stagecheck/abi_tag.hpp"

namespace fs = std::filesystem;

namespace {

const std::string kDriver = STAGECHECK_DRIVER;
const fs::path kCorpus = STAGECHECK_CORPUS_DIR;
constexpr fs::perms kDirPerms = fs::perms::owner_all | fs::perms::group_read |
                                fs::perms::group_exec | fs::perms::others_read |
                                fs::perms::others_exec;  // 0755

/// The folder holding exactly one corpus plugin.
std::string case_dir(const std::string& name) { return (kCorpus / name).string(); }

/// The corpus plugin's file, spelled the way the loader names it in messages.
std::string case_file(const std::string& name) {
  return (kCorpus / name / ("stagecheck_corpus_" + name + ".so")).string();
}

/// What dlopen itself says about `path` (C library wording the loader quotes).
std::string dlopen_error(const std::string& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) {
    ::dlclose(handle);
    return "<dlopen succeeded>";
  }
  const char* why = ::dlerror();
  return why != nullptr ? why : "<no dlerror>";
}

/// The loader's exact refusal for each broken corpus case.
std::string expected_message(const std::string& name) {
  const std::string file = case_file(name);
  const std::string owner = "plugin " + name + " 1.0.0 (" + file + ")";
  if (name == "no_entry") {
    return "plugin '" + file +
           "' has no entry point 'stagecheck_plugin_v1' (is it a stagecheck "
           "plugin? define it with STAGECHECK_PLUGIN)";
  }
  if (name == "null_info") return "plugin '" + file + "': its entry point returned no plugin info";
  if (name == "entry_throws") return "plugin '" + file + "': its entry point threw: entry boom";
  if (name == "wrong_abi") {
    return "plugin '" + file +
           "' was built for plugin ABI version 999, but this stagecheck has ABI "
           "version 3; rebuild the plugin";
  }
  if (name == "wrong_tag") {
    return "plugin '" + file +
           "' (wrong_tag 1.0.0) was built with ABI tag "
           "'gcc-0|bogus-stdlib|c++20|nlohmann_json-0.0', but this stagecheck has '" +
           std::string(STAGECHECK_ABI_TAG) +
           "'; rebuild the plugin with the same compiler, standard library and nlohmann_json";
  }
  if (name == "no_name" || name == "no_register") {
    return "plugin '" + file + "': its plugin info has no name or no register callback";
  }
  if (name == "duplicate_name") {
    return "check type 'json' is registered twice: by built-in and by " + owner;
  }
  if (name == "duplicate_within") return owner + " registers check type 'twice' twice";
  if (name == "throwing_register") return owner + ": registration failed: register threw: boom";
  if (name == "raw_throwing_register") {
    return owner + ": registration failed: register threw: raw boom";
  }
  if (name == "raw_throwing_nonstd") {
    return owner + ": registration failed: register threw a non-standard exception";
  }
  if (name == "returns_error")
    return owner + ": registration failed: the callback returned an error";
  if (name == "failing_register" || name == "fail_then_return") {
    return owner + ": registration failed: licence file not found";
  }
  if (name == "partial_commit") {
    return owner + ": registration failed: a check type has an empty name (nothing was registered)";
  }
  if (name == "no_factory") {
    return owner +
           ": registration failed: a check type 'no_factory_check' has no factory (nothing "
           "was registered)";
  }
  if (name == "undefined_symbol")
    return "plugin '" + file + "' cannot be loaded: " + dlopen_error(file);
  ADD_FAILURE() << "no expected message for " << name;
  return {};
}

/// The driver's whole stderr for a plugin refusal. list-checks and validate print
/// "stagecheck: error: <message>"; run prints the message bare, then "nothing was run"
/// (see the report: the two should agree).
std::string expected_stderr(const std::string& verb, const std::string& message) {
  if (verb == "run")
    return "stagecheck: error: " + message + "\nstagecheck: error: nothing was run\n";
  return "stagecheck: error: " + message + "\n";
}

struct DriverRun {
  int code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

constexpr const char* kMarkerSpec =
    "version: 1\nname: plugin-cli\nstages:\n  - id: s\n    checks:\n"
    "      - {id: c, type: marker, path: data.txt}\n";
constexpr const char* kNonemptySpec =
    "version: 1\nname: plugin-cli\nstages:\n  - id: s\n    checks:\n"
    "      - {id: c, type: nonempty_file, path: data.txt}\n";
constexpr const char* kThrowsSpec =
    "version: 1\nname: plugin-cli\nstages:\n  - id: s\n    checks:\n"
    "      - {id: c, type: throws_on_run}\n";

class PluginCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/stagecheck-plugin-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    root_ = dir_ / "root";
    fs::create_directories(root_);
    fs::permissions(root_, kDirPerms);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }

  /// Runs the driver with `args` (already quoted) and never the installed plugin folder.
  DriverRun run(const std::string& verb, const std::string& args) {
    fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    std::string cmd = quote(kDriver) + " " + verb + " --no-default-plugins " + args + " >" +
                      quote(out.string()) + " 2>" + quote(err.string()) + " </dev/null";
    int status = std::system(cmd.c_str());
    DriverRun r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  /// Runs `verb` with the spec `spec_body` (ignored by list-checks) and these plugin folders.
  DriverRun run_verb(const std::string& verb, const std::string& plugin_args,
                     const std::string& spec_body = kMarkerSpec, const std::string& extra = "") {
    const fs::path spec = dir_ / "spec.yaml";
    std::ofstream(spec) << spec_body;
    std::string args = plugin_args;
    if (verb != "list-checks") args = quote(spec.string()) + " " + args;
    if (verb == "run") args += " --root " + quote(root_.string());
    return run(verb, args + " " + extra);
  }

  /// Copies the good plugin into `dir` (0755 whatever the umask) and returns the copy.
  fs::path copy_good_into(const fs::path& dir) {
    fs::create_directories(dir);
    fs::permissions(dir, kDirPerms);
    fs::path copy = dir / "stagecheck_corpus_good.so";
    fs::copy_file(case_file("good"), copy, fs::copy_options::overwrite_existing);
    fs::permissions(copy, kDirPerms);
    return copy;
  }

  fs::path dir_;
  fs::path root_;
};

// ---- every broken plugin, on every verb ----------------------------------------------------

class PluginCliBrokenTest
    : public PluginCliTest,
      public ::testing::WithParamInterface<std::tuple<std::string, std::string>> {};

TEST_P(PluginCliBrokenTest, ExitsTwoWithExactMessage) {
  const auto& [name, verb] = GetParam();
  const fs::path report = dir_ / "report.json";
  const std::string extra = verb == "run" ? "--report-json " + quote(report.string()) : "";
  DriverRun r = run_verb(verb, "--plugin-dir " + quote(case_dir(name)), kMarkerSpec, extra);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.err, expected_stderr(verb, expected_message(name)));
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(fs::exists(report)) << "nothing ran, so no report";
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, PluginCliBrokenTest,
    ::testing::Combine(::testing::Values("no_entry", "null_info", "entry_throws", "wrong_abi",
                                         "wrong_tag", "no_name", "no_register", "duplicate_name",
                                         "duplicate_within", "throwing_register",
                                         "raw_throwing_register", "raw_throwing_nonstd",
                                         "returns_error", "failing_register", "fail_then_return",
                                         "partial_commit", "no_factory", "undefined_symbol"),
                       ::testing::Values("list-checks", "validate", "run")),
    [](const ::testing::TestParamInfo<PluginCliBrokenTest::ParamType>& param_info) {
      std::string verb = std::get<1>(param_info.param);
      for (char& c : verb) {
        if (c == '-') c = '_';
      }
      return std::get<0>(param_info.param) + "_" + verb;
    });

TEST_F(PluginCliTest, UndefinedSymbolNamesTheSymbol) {
  // The exact test above quotes dlerror; this pins down that it names the missing symbol.
  DriverRun r = run_verb("list-checks", "--plugin-dir " + quote(case_dir("undefined_symbol")));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("stagecheck: error: plugin '" + case_file("undefined_symbol") +
                            "' cannot be loaded: ",
                        0),
            0u)
      << r.err;
  EXPECT_NE(r.err.find("undefined symbol: stagecheck_corpus_missing_symbol"), std::string::npos)
      << r.err;
}

// ---- folders -------------------------------------------------------------------------------

TEST_F(PluginCliTest, MissingPluginFolderIsExit2) {
  const std::string dir = (dir_ / "no-such-folder").string();
  DriverRun r = run_verb("list-checks", "--plugin-dir " + quote(dir));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "stagecheck: error: plugin folder '" + dir + "' does not exist or is not a folder\n");
}

TEST_F(PluginCliTest, WorldWritablePluginFileIsRefused) {
  const fs::path copy = copy_good_into(dir_ / "plugins");
  fs::permissions(copy, fs::perms::others_write, fs::perm_options::add);  // 0757
  for (const char* verb : {"list-checks", "validate", "run"}) {
    DriverRun r =
        run_verb(verb, "--plugin-dir " + quote(copy.parent_path().string()), kNonemptySpec);
    EXPECT_EQ(r.code, 2) << verb;
    EXPECT_EQ(r.err, expected_stderr(verb, "plugin file '" + copy.string() +
                                               "' is world-writable (mode 0757); refusing to "
                                               "load code anyone can replace"))
        << verb;
  }
}

TEST_F(PluginCliTest, WorldWritablePluginFolderIsRefused) {
  const fs::path dir = dir_ / "plugins";
  copy_good_into(dir);
  fs::permissions(dir, fs::perms::all);  // 0777
  for (const char* verb : {"list-checks", "validate", "run"}) {
    DriverRun r = run_verb(verb, "--plugin-dir " + quote(dir.string()), kNonemptySpec);
    EXPECT_EQ(r.code, 2) << verb;
    EXPECT_EQ(r.err, expected_stderr(verb, "plugin folder '" + dir.string() +
                                               "' is world-writable (mode 0777); refusing to "
                                               "load code anyone can replace"))
        << verb;
  }
}

TEST_F(PluginCliTest, SamePluginInTwoFoldersCollides) {
  const fs::path copy = copy_good_into(dir_ / "again");
  DriverRun r = run_verb("list-checks", "--plugin-dir " + quote(case_dir("good")) +
                                            " --plugin-dir " + quote(copy.parent_path().string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "stagecheck: error: check type 'nonempty_file' is registered twice: by plugin "
            "good 1.0.0 (" +
                case_file("good") + ") and by plugin good 1.0.0 (" + copy.string() + ")\n");
}

// ---- the good plugin -----------------------------------------------------------------------

TEST_F(PluginCliTest, GoodPluginListedWithProvenance) {
  DriverRun r = run_verb("list-checks", "--plugin-dir " + quote(case_dir("good")));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("nonempty_file  [files]  from plugin good 1.0.0 (" + case_file("good") +
                       ")\n  A file exists and is not empty.\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find("    path (artifact name or path, required): A declared artifact or a path.\n"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("json  [artifacts]  from built-in\n"), std::string::npos) << r.out;
}

TEST_F(PluginCliTest, GoodPluginListedAsJson) {
  DriverRun r =
      run_verb("list-checks", "--plugin-dir " + quote(case_dir("good")), kMarkerSpec, "--json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto list = nlohmann::json::parse(r.out);
  ASSERT_TRUE(list.is_array());
  std::vector<std::string> types;
  for (const auto& e : list) types.push_back(e["type"].get<std::string>());
  EXPECT_EQ(types, (std::vector<std::string>{"drift", "json", "marker", "nonempty_file"}));
  const auto& entry = list[3];
  EXPECT_EQ(entry["source"], "plugin good 1.0.0 (" + case_file("good") + ")");
  EXPECT_EQ(entry["category"], "files");
  EXPECT_EQ(entry["params"][0]["name"], "path");
  EXPECT_EQ(entry["params"][0]["required"], true);
}

TEST_F(PluginCliTest, WithoutThePluginItsTypeIsUnknown) {
  // Proves the type below comes from --plugin-dir, not from anywhere else.
  DriverRun r = run_verb("validate", "", kNonemptySpec);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown check type 'nonempty_file'"), std::string::npos) << r.err;
}

TEST_F(PluginCliTest, GoodPluginValidates) {
  DriverRun r = run_verb("validate", "--plugin-dir " + quote(case_dir("good")), kNonemptySpec);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            (dir_ / "spec.yaml").string() + ": spec \"plugin-cli\" is valid: 1 stages, 1 checks\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(PluginCliTest, GoodPluginRunPassesOnNonEmptyFile) {
  std::ofstream(root_ / "data.txt") << "hello";
  DriverRun r =
      run_verb("run", "--plugin-dir " + quote(case_dir("good")), kNonemptySpec, "--format json");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  auto report = nlohmann::json::parse(r.out);
  ASSERT_EQ(report["results"].size(), 1u);
  EXPECT_EQ(report["results"][0]["status"], "pass");
  EXPECT_EQ(report["results"][0]["message"], "'data.txt' has 5 bytes");
}

TEST_F(PluginCliTest, GoodPluginRunFailsOnEmptyFile) {
  std::ofstream(root_ / "data.txt") << "";
  DriverRun r =
      run_verb("run", "--plugin-dir " + quote(case_dir("good")), kNonemptySpec, "--format json");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  auto report = nlohmann::json::parse(r.out);
  ASSERT_EQ(report["results"].size(), 1u);
  EXPECT_EQ(report["results"][0]["status"], "fail");
  EXPECT_EQ(report["results"][0]["message"], "'data.txt' is empty");
}

TEST_F(PluginCliTest, GoodPluginRunFailsOnMissingFile) {
  DriverRun r =
      run_verb("run", "--plugin-dir " + quote(case_dir("good")), kNonemptySpec, "--format json");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  auto report = nlohmann::json::parse(r.out);
  ASSERT_EQ(report["results"].size(), 1u);
  EXPECT_EQ(report["results"][0]["status"], "fail");
  EXPECT_EQ(report["results"][0]["message"], "'data.txt' is missing");
}

TEST_F(PluginCliTest, RepeatedPluginDirLoadsEveryFolder) {
  DriverRun r = run_verb("list-checks",
                         "--plugin-dir " + quote(case_dir("good")) + " --plugin-dir " +
                             quote(case_dir("throwing_run")),
                         kMarkerSpec, "--json");
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> types;
  for (const auto& e : nlohmann::json::parse(r.out)) types.push_back(e["type"].get<std::string>());
  EXPECT_EQ(types, (std::vector<std::string>{"drift", "json", "marker", "nonempty_file",
                                             "throws_on_run"}));
}

// ---- a plugin check that throws ------------------------------------------------------------

TEST_F(PluginCliTest, ThrowingRunLoadsAndValidates) {
  DriverRun list = run_verb("list-checks", "--plugin-dir " + quote(case_dir("throwing_run")));
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("throws_on_run  [corpus]  from plugin throwing_run 1.0.0 (" +
                          case_file("throwing_run") + ")\n"),
            std::string::npos)
      << list.out;
  DriverRun validate =
      run_verb("validate", "--plugin-dir " + quote(case_dir("throwing_run")), kThrowsSpec);
  EXPECT_EQ(validate.code, 0) << validate.err;
}

TEST_F(PluginCliTest, ThrowingRunIsAnErrorResultAndExit3) {
  const fs::path report_file = dir_ / "report.json";
  DriverRun r = run_verb("run", "--plugin-dir " + quote(case_dir("throwing_run")), kThrowsSpec,
                         "--report-json " + quote(report_file.string()));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  auto report = nlohmann::json::parse(slurp(report_file));
  EXPECT_EQ(report["verdict"], "no_verdict");
  EXPECT_EQ(report["exit_code"], 3);
  ASSERT_EQ(report["results"].size(), 1u);
  EXPECT_EQ(report["results"][0]["id"], "s.c");
  EXPECT_EQ(report["results"][0]["status"], "error");
  EXPECT_EQ(report["results"][0]["message"],
            "check 's.c' (type throws_on_run) threw an exception: kaboom");
  EXPECT_NE(r.out.find("threw an exception: kaboom"), std::string::npos) << r.out;
}

}  // namespace
