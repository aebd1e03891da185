// PluginLoader + Registry against the broken-plugin corpus: every refusal is asserted by its
// exact message (built from the real plugin path), and every refusal must leave the registry
// exactly as it was.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "stagecheck/embed.hpp"
#include "stagecheck/plugin.hpp"
#include "stagecheck/plugin_loader.hpp"
#include "stagecheck/registry.hpp"

namespace fs = std::filesystem;
using stagecheck::Errc;
using stagecheck::PluginLoader;
using stagecheck::Registry;

namespace {

const fs::path kCorpus = STAGECHECK_CORPUS_DIR;
constexpr fs::perms kPrivateDir = fs::perms::owner_all | fs::perms::group_read |
                                  fs::perms::group_exec | fs::perms::others_read |
                                  fs::perms::others_exec;  // 0755

/// The folder holding exactly one corpus plugin.
fs::path case_dir(const std::string& name) { return kCorpus / name; }

/// The corpus plugin's file, spelled the way load_dir names it in messages.
std::string case_file(const std::string& name) {
  return (case_dir(name) / ("stagecheck_corpus_" + name + ".so")).string();
}

/// What dlopen itself says about `path`: the loader quotes it, and its wording belongs to the
/// C library, not to stagecheck.
std::string dlopen_error(const std::string& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) {
    ::dlclose(handle);
    return "<dlopen succeeded>";
  }
  const char* why = ::dlerror();
  return why != nullptr ? why : "<no dlerror>";
}

/// The corpus plugin's info, straight from its entry point (the plugin stays loaded).
const StagecheckPluginInfo* plugin_info(const std::string& name) {
  void* handle = ::dlopen(case_file(name).c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) return nullptr;
  void* sym = ::dlsym(handle, STAGECHECK_PLUGIN_ENTRY_NAME);
  if (sym == nullptr) return nullptr;
  return reinterpret_cast<StagecheckPluginEntry>(sym)();
}

/// Records what a register callback does, without the loader in between.
class RecordingRegistrar final : public stagecheck::PluginRegistrar {
 public:
  void add(stagecheck::CheckInfo info, stagecheck::CheckFactory) override {
    added.push_back(std::move(info.type));
  }
  void fail(std::string message) override { failure = std::move(message); }

  std::vector<std::string> added;
  std::string failure;
};

std::vector<std::string> type_names(const Registry& registry) {
  std::vector<std::string> names;
  for (const auto* entry : registry.entries()) names.push_back(entry->info.type);
  return names;
}

class PluginLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ok = stagecheck::register_builtin_checks(registry_);
    ASSERT_TRUE(ok) << ok.error().message;
    builtin_types_ = type_names(registry_);
    ASSERT_EQ(builtin_types_, (std::vector<std::string>{"drift", "json", "marker"}));
  }

  void TearDown() override {
    if (!tmp_.empty()) {
      std::error_code ec;
      fs::permissions(tmp_, fs::perms::owner_all, ec);
      fs::remove_all(tmp_, ec);
    }
  }

  /// A fresh private (0700) folder for this test.
  const fs::path& tmp() {
    if (tmp_.empty()) {
      char pattern[] = "/tmp/stagecheck-plugin-XXXXXX";
      if (::mkdtemp(pattern) == nullptr) ADD_FAILURE() << "mkdtemp failed";
      tmp_ = pattern;
    }
    return tmp_;
  }

  /// Copies the good plugin into `dir` (created 0755 whatever the umask) and returns the copy.
  fs::path copy_good_into(const fs::path& dir) {
    fs::create_directories(dir);
    fs::permissions(dir, kPrivateDir);
    fs::path copy = dir / "stagecheck_corpus_good.so";
    fs::copy_file(case_file("good"), copy, fs::copy_options::overwrite_existing);
    fs::permissions(copy, kPrivateDir);
    return copy;
  }

  /// Loads the case's folder, expects exactly `message`, and expects nothing to have changed.
  void expect_refused(const std::string& name, const std::string& message) {
    auto ok = loader_.load_dir(case_dir(name));
    ASSERT_FALSE(ok) << name << " was loaded";
    EXPECT_EQ(ok.error().code, Errc::plugin_error);
    EXPECT_EQ(ok.error().message, message);
    expect_unchanged();
  }

  /// The registry holds the built-ins only and no plugin counts as loaded.
  void expect_unchanged() {
    EXPECT_EQ(type_names(registry_), builtin_types_);
    EXPECT_TRUE(loader_.plugins().empty());
  }

  Registry registry_;
  PluginLoader loader_{registry_};
  std::vector<std::string> builtin_types_;
  fs::path tmp_;
};

// ---- refusals, one per failure mode --------------------------------------------------------

TEST_F(PluginLoaderTest, NoEntryPointIsRefused) {
  expect_refused("no_entry", "plugin '" + case_file("no_entry") +
                                 "' has no entry point 'stagecheck_plugin_v1' (is it a stagecheck "
                                 "plugin? define it with STAGECHECK_PLUGIN)");
}

TEST_F(PluginLoaderTest, NullPluginInfoIsRefused) {
  expect_refused("null_info", "plugin '" + case_file("null_info") +
                                  "': its entry point returned no plugin info");
}

TEST_F(PluginLoaderTest, ThrowingEntryPointIsRefused) {
  expect_refused("entry_throws",
                 "plugin '" + case_file("entry_throws") + "': its entry point threw: entry boom");
}

TEST_F(PluginLoaderTest, WrongAbiVersionIsRefusedBeforeRegistering) {
  expect_refused("wrong_abi", "plugin '" + case_file("wrong_abi") +
                                  "' was built for plugin ABI version 999, but this stagecheck has "
                                  "ABI version 3; rebuild the plugin");
  EXPECT_EQ(registry_.find("wrong_abi_check"), nullptr);
}

TEST_F(PluginLoaderTest, WrongAbiTagIsRefusedBeforeRegistering) {
  expect_refused("wrong_tag",
                 "plugin '" + case_file("wrong_tag") +
                     "' (wrong_tag 1.0.0) was built with ABI tag "
                     "'gcc-0|bogus-stdlib|c++20|nlohmann_json-0.0', but this stagecheck has '" +
                     std::string(STAGECHECK_ABI_TAG) +
                     "'; rebuild the plugin with the same compiler, standard library and "
                     "nlohmann_json");
  EXPECT_EQ(registry_.find("wrong_tag_check"), nullptr);
}

TEST_F(PluginLoaderTest, NullNameIsRefused) {
  expect_refused("no_name", "plugin '" + case_file("no_name") +
                                "': its plugin info has no name or no register callback");
}

TEST_F(PluginLoaderTest, NullRegisterCallbackIsRefused) {
  expect_refused("no_register", "plugin '" + case_file("no_register") +
                                    "': its plugin info has no name or no register callback");
}

TEST_F(PluginLoaderTest, CollisionWithBuiltinNamesBothOwnersAndRegistersNothing) {
  expect_refused("duplicate_name",
                 "check type 'json' is registered twice: by built-in and by "
                 "plugin duplicate_name 1.0.0 (" +
                     case_file("duplicate_name") + ")");
  // The valid type queued before the collision is not committed either.
  EXPECT_EQ(registry_.find("duplicate_name_ok"), nullptr);
  EXPECT_EQ(registry_.find("json")->source, "built-in");
}

TEST_F(PluginLoaderTest, SameTypeTwiceInOnePluginIsRefused) {
  expect_refused("duplicate_within", "plugin duplicate_within 1.0.0 (" +
                                         case_file("duplicate_within") +
                                         ") registers check type 'twice' twice");
  EXPECT_EQ(registry_.find("twice"), nullptr);
}

TEST_F(PluginLoaderTest, MacroTurnsThrowingRegisterIntoFailure) {
  expect_refused("throwing_register", "plugin throwing_register 1.0.0 (" +
                                          case_file("throwing_register") +
                                          "): registration failed: register threw: boom");
  EXPECT_EQ(registry_.find("throwing_register_ok"), nullptr);
}

// The two tests above and below see the same text; calling the callbacks directly shows which
// catch produced it: the macro's for throwing_register, the loader's for raw_throwing_register.
TEST_F(PluginLoaderTest, MacroCatchesBeforeTheLoaderDoes) {
  const StagecheckPluginInfo* info = plugin_info("throwing_register");
  ASSERT_NE(info, nullptr);
  RecordingRegistrar registrar;
  int rc = 0;
  EXPECT_NO_THROW(rc = info->register_checks(registrar.handle()));
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(registrar.failure, "register threw: boom");
  EXPECT_EQ(registrar.added, (std::vector<std::string>{"throwing_register_ok"}));

  const StagecheckPluginInfo* raw = plugin_info("raw_throwing_register");
  ASSERT_NE(raw, nullptr);
  RecordingRegistrar raw_registrar;
  EXPECT_THROW(static_cast<void>(raw->register_checks(raw_registrar.handle())), std::runtime_error);
}

TEST_F(PluginLoaderTest, LoaderCatchesRawThrowingRegister) {
  expect_refused("raw_throwing_register", "plugin raw_throwing_register 1.0.0 (" +
                                              case_file("raw_throwing_register") +
                                              "): registration failed: register threw: raw boom");
}

TEST_F(PluginLoaderTest, LoaderCatchesNonStandardException) {
  expect_refused("raw_throwing_nonstd",
                 "plugin raw_throwing_nonstd 1.0.0 (" + case_file("raw_throwing_nonstd") +
                     "): registration failed: register threw a non-standard exception");
}

TEST_F(PluginLoaderTest, NonZeroReturnWithoutReasonIsRefused) {
  expect_refused("returns_error", "plugin returns_error 1.0.0 (" + case_file("returns_error") +
                                      "): registration failed: the callback returned an error");
}

TEST_F(PluginLoaderTest, FailedRegistrationIsAllOrNothing) {
  expect_refused("failing_register", "plugin failing_register 1.0.0 (" +
                                         case_file("failing_register") +
                                         "): registration failed: licence file not found");
  EXPECT_EQ(registry_.find("failing_register_ok"), nullptr);
}

// With STAGECHECK_PLUGIN the only non-throwing way to fail is PluginRegistrar::fail followed by
// a normal return; the recorded failure must not be dropped.
TEST_F(PluginLoaderTest, RecordedFailureRefusesEvenOnNormalReturn) {
  expect_refused("fail_then_return", "plugin fail_then_return 1.0.0 (" +
                                         case_file("fail_then_return") +
                                         "): registration failed: licence file not found");
  EXPECT_EQ(registry_.find("fail_then_return_ok"), nullptr);
}

// Registry::add refuses an empty name or a missing factory; the loader must find that before
// committing anything, or the valid type queued first would stay registered.
TEST_F(PluginLoaderTest, EmptyNameAfterValidTypeCommitsNothing) {
  expect_refused("partial_commit", "plugin partial_commit 1.0.0 (" + case_file("partial_commit") +
                                       "): registration failed: a check type has an empty name "
                                       "(nothing was registered)");
  EXPECT_EQ(registry_.find("partial_commit_ok"), nullptr);
}

TEST_F(PluginLoaderTest, MissingFactoryAfterValidTypeCommitsNothing) {
  expect_refused("no_factory", "plugin no_factory 1.0.0 (" + case_file("no_factory") +
                                   "): registration failed: a check type 'no_factory_check' has no "
                                   "factory (nothing was registered)");
  EXPECT_EQ(registry_.find("no_factory_ok"), nullptr);
}

TEST_F(PluginLoaderTest, UndefinedSymbolIsRefusedByDlopen) {
  const std::string file = case_file("undefined_symbol");
  const std::string why = dlopen_error(file);
  // Guards against both dlopens failing for some other reason (e.g. a missing file).
  EXPECT_NE(why.find("undefined symbol: stagecheck_corpus_missing_symbol"), std::string::npos)
      << why;
  expect_refused("undefined_symbol", "plugin '" + file + "' cannot be loaded: " + why);
}

TEST_F(PluginLoaderTest, NonElfFileIsRefusedByDlopen) {
  const fs::path file = tmp() / "junk.so";
  std::ofstream(file) << "not a shared object\n";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);  // whatever the umask
  const std::string why = dlopen_error(file.string());
  auto ok = loader_.load_dir(tmp());
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().message, "plugin '" + file.string() + "' cannot be loaded: " + why);
  expect_unchanged();
}

TEST_F(PluginLoaderTest, MissingFolderIsRefused) {
  const fs::path dir = kCorpus / "no_such_case";
  auto ok = loader_.load_dir(dir);
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, Errc::plugin_error);
  EXPECT_EQ(ok.error().message,
            "plugin folder '" + dir.string() + "' does not exist or is not a folder");
  // A file is not a folder either.
  auto file = loader_.load_dir(case_file("good"));
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().message,
            "plugin folder '" + case_file("good") + "' does not exist or is not a folder");
  expect_unchanged();
}

TEST_F(PluginLoaderTest, MissingFileIsRefused) {
  const std::string file = (case_dir("good") / "stagecheck_nothing.so").string();
  auto ok = loader_.load_file(file);
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().message, "plugin file '" + file + "': No such file or directory");
  expect_unchanged();
}

TEST_F(PluginLoaderTest, WorldWritableFileIsRefused) {
  const fs::path copy = copy_good_into(tmp() / "plugins");
  fs::permissions(copy, fs::perms::others_write, fs::perm_options::add);  // 0757
  const std::string message = "plugin file '" + copy.string() +
                              "' is world-writable (mode 0757); refusing to load code anyone "
                              "can replace";
  auto by_dir = loader_.load_dir(copy.parent_path());
  ASSERT_FALSE(by_dir);
  EXPECT_EQ(by_dir.error().code, Errc::plugin_error);
  EXPECT_EQ(by_dir.error().message, message);
  auto by_file = loader_.load_file(copy);
  ASSERT_FALSE(by_file);
  EXPECT_EQ(by_file.error().message, message);
  expect_unchanged();
}

TEST_F(PluginLoaderTest, WorldWritableFolderIsRefused) {
  const fs::path dir = tmp() / "plugins";
  const fs::path copy = copy_good_into(dir);
  fs::permissions(dir, fs::perms::all);  // 0777
  const std::string message = "plugin folder '" + dir.string() +
                              "' is world-writable (mode 0777); refusing to load code anyone "
                              "can replace";
  auto by_dir = loader_.load_dir(dir);
  ASSERT_FALSE(by_dir);
  EXPECT_EQ(by_dir.error().message, message);
  // load_file checks the folder it is given a file in, too.
  auto by_file = loader_.load_file(copy);
  ASSERT_FALSE(by_file);
  EXPECT_EQ(by_file.error().message, message);
  // The sticky bit stops replacing files, not adding a new *.so: still refused.
  fs::permissions(dir, fs::perms::all | fs::perms::sticky_bit);
  auto sticky = loader_.load_dir(dir);
  ASSERT_FALSE(sticky);
  EXPECT_EQ(sticky.error().message, "plugin folder '" + dir.string() +
                                        "' is world-writable (mode 1777); refusing to load code "
                                        "anyone can replace");
  expect_unchanged();
}

// The checks must look at the folder the file really lives in, not only where the link sits.
TEST_F(PluginLoaderTest, SymlinkIntoWorldWritableFolderIsRefused) {
  const fs::path open_dir = tmp() / "open";
  const fs::path target = copy_good_into(open_dir);
  fs::permissions(open_dir, fs::perms::all);  // 0777
  const fs::path link_dir = tmp() / "private";
  fs::create_directories(link_dir);
  fs::permissions(link_dir, kPrivateDir);
  fs::create_symlink(target, link_dir / "stagecheck_corpus_good.so");
  auto ok = loader_.load_dir(link_dir);
  ASSERT_FALSE(ok) << "loaded code from a world-writable folder through a symlink";
  EXPECT_EQ(ok.error().message, "plugin folder '" + open_dir.string() +
                                    "' is world-writable (mode 0777); refusing to load code "
                                    "anyone can replace");
  expect_unchanged();
}

// ---- success paths -------------------------------------------------------------------------

TEST_F(PluginLoaderTest, GoodPluginRegistersWithProvenance) {
  auto ok = loader_.load_dir(case_dir("good"));
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(loader_.plugins().size(), 1u);
  const stagecheck::LoadedPlugin& plugin = loader_.plugins().front();
  EXPECT_EQ(plugin.path, case_file("good"));
  EXPECT_EQ(plugin.name, "good");
  EXPECT_EQ(plugin.version, "1.0.0");
  EXPECT_EQ(plugin.checks, (std::vector<std::string>{"nonempty_file"}));
  EXPECT_EQ(type_names(registry_),
            (std::vector<std::string>{"drift", "json", "marker", "nonempty_file"}));
  const Registry::Entry* entry = registry_.find("nonempty_file");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->source, "plugin good 1.0.0 (" + case_file("good") + ")");
  EXPECT_EQ(entry->info.category, "files");
  ASSERT_EQ(entry->info.params.size(), 1u);
  EXPECT_EQ(entry->info.params[0].name, "path");
  EXPECT_TRUE(entry->info.params[0].required);
}

TEST_F(PluginLoaderTest, LoadFileLoadsOnePlugin) {
  auto ok = loader_.load_file(case_file("good"));
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(loader_.plugins().size(), 1u);
  EXPECT_EQ(loader_.plugins().front().path, case_file("good"));
  EXPECT_NE(registry_.find("nonempty_file"), nullptr);
}

TEST_F(PluginLoaderTest, LoadAllLoadsEveryFolderInOrder) {
  auto ok = loader_.load_all({case_dir("good"), case_dir("throwing_run")}, false);
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(loader_.plugins().size(), 2u);
  EXPECT_EQ(loader_.plugins()[0].name, "good");
  EXPECT_EQ(loader_.plugins()[1].name, "throwing_run");
  EXPECT_EQ(type_names(registry_), (std::vector<std::string>{"drift", "json", "marker",
                                                             "nonempty_file", "throws_on_run"}));
}

TEST_F(PluginLoaderTest, LoadAllStopsAtTheFirstRefusal) {
  auto ok = loader_.load_all({case_dir("no_entry"), case_dir("good")}, false);
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().message, "plugin '" + case_file("no_entry") +
                                    "' has no entry point 'stagecheck_plugin_v1' (is it a "
                                    "stagecheck plugin? define it with STAGECHECK_PLUGIN)");
  expect_unchanged();
}

TEST_F(PluginLoaderTest, FolderWithoutPluginsLoadsNothing) {
  fs::permissions(tmp(), kPrivateDir);
  std::ofstream(tmp() / "README") << "no plugins here\n";
  std::ofstream(tmp() / "stagecheck_old.so.bak") << "ignored: not *.so\n";
  auto ok = loader_.load_dir(tmp());
  ASSERT_TRUE(ok) << ok.error().message;
  expect_unchanged();
}

TEST_F(PluginLoaderTest, SamePluginFromTwoFoldersCollides) {
  ASSERT_TRUE(loader_.load_dir(case_dir("good")));
  const fs::path copy = copy_good_into(tmp() / "again");
  auto ok = loader_.load_dir(copy.parent_path());
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().message,
            "check type 'nonempty_file' is registered twice: by plugin good "
            "1.0.0 (" +
                case_file("good") + ") and by plugin good 1.0.0 (" + copy.string() + ")");
  // The first load stands; the second adds nothing.
  EXPECT_EQ(loader_.plugins().size(), 1u);
  EXPECT_EQ(registry_.find("nonempty_file")->source,
            "plugin good 1.0.0 (" + case_file("good") + ")");
}

// ---- a plugin check that throws while running ----------------------------------------------

TEST_F(PluginLoaderTest, ThrowingRunBecomesAnErrorResult) {
  stagecheck::RunRequest req;
  req.spec_text =
      "version: 1\nname: plugin-throws\nstages:\n  - id: s\n    checks:\n"
      "      - {id: c, type: throws_on_run}\n";
  req.root = tmp();
  req.plugin_dirs = {case_dir("throwing_run")};
  req.load_default_plugins = false;
  req.options.jobs = 1;
  stagecheck::RunOutcome out = stagecheck::run_spec(req);
  ASSERT_TRUE(out.report.has_value()) << out.error;
  EXPECT_EQ(out.exit_code, stagecheck::ExitCode::no_verdict);
  ASSERT_EQ(out.report->results.size(), 1u);
  const stagecheck::CheckResult& result = out.report->results.front();
  EXPECT_EQ(result.id, "s.c");
  EXPECT_EQ(result.status, stagecheck::Status::error);
  EXPECT_EQ(result.message, "check 's.c' (type throws_on_run) threw an exception: kaboom");
}

TEST_F(PluginLoaderTest, RunSpecReportsPluginRefusal) {
  stagecheck::RunRequest req;
  req.spec_text =
      "version: 1\nname: plugin-refused\nstages:\n  - id: s\n    checks:\n"
      "      - {id: c, type: marker, path: data.txt}\n";
  req.root = tmp();
  req.plugin_dirs = {case_dir("wrong_abi")};
  req.load_default_plugins = false;
  stagecheck::RunOutcome out = stagecheck::run_spec(req);
  EXPECT_FALSE(out.report.has_value());
  EXPECT_EQ(out.exit_code, stagecheck::ExitCode::usage);
  EXPECT_EQ(out.error, "plugin '" + case_file("wrong_abi") +
                           "' was built for plugin ABI version 999, but this stagecheck has ABI "
                           "version 3; rebuild the plugin");
}

}  // namespace
