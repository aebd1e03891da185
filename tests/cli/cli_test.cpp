// Runs the built driver as a user would and asserts exit codes, output and report files.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

const std::string kDriver = STAGECHECK_DRIVER;
const std::string kSource = STAGECHECK_SOURCE_DIR;
const std::string kSpec = kSource + "/examples/quickstart/spec.yaml";
const std::string kGood = kSource + "/examples/quickstart/scene";
const std::string kBroken = kSource + "/examples/quickstart/broken";

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

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stagecheck-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs `prefix DRIVER args` through the shell; args are already quoted where needed.
  DriverRun run(const std::string& args, const std::string& prefix = "") {
    fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    std::string cmd = fmt::format("{} '{}' {} >'{}' 2>'{}' </dev/null", prefix, kDriver, args,
                                  out.string(), err.string());
    int status = std::system(cmd.c_str());
    DriverRun r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  void write(const std::string& rel, const std::string& body) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << body;
  }

  fs::path dir_;
};

}  // namespace

TEST_F(CliTest, QuickstartPasses) {
  DriverRun r = run(fmt::format("run '{}' --root '{}' --var scene_id=kitchen_001", kSpec, kGood));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos) << "no colour on a pipe";
}

TEST_F(CliTest, BrokenSceneFailsWithEvidence) {
  fs::path json = dir_ / "report.json", junit = dir_ / "junit.xml";
  DriverRun r = run(
      fmt::format("run '{}' --root '{}' --var scene_id=kitchen_001 --report-json '{}' --junit '{}'",
                  kSpec, kBroken, json.string(), junit.string()));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  // Every fault planted in examples/quickstart/broken is named in the report.
  for (const char* needle : {"summary.pass_rate", "episodes[2]", "dev_only_fallback",
                             "scenes/kitchen_001/dwm/.dwm_complete' is missing",
                             "quality.threshold", "string \"0.85\"", "validation_report.json"}) {
    EXPECT_NE(r.out.find(needle), std::string::npos) << "missing '" << needle << "' in:\n" << r.out;
  }
  auto report = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(report["report_version"], 1);
  EXPECT_EQ(report["exit_code"], 1);
  EXPECT_EQ(report["verdict"], "fail");
  bool gate_failed = false;
  for (const auto& res : report["results"]) {
    if (res["id"] == "episode_generation.quality_gate") gate_failed = res["status"] == "fail";
    if (res["status"] == "fail") {
      EXPECT_FALSE(res["artifacts"].empty()) << res.dump();
    }
  }
  EXPECT_TRUE(gate_failed) << "a failed error-severity gate must fail the quality gate check";
  std::string xml = slurp(junit);
  EXPECT_NE(xml.find("<testsuites"), std::string::npos);
  EXPECT_NE(xml.find("<failure"), std::string::npos);
}

TEST_F(CliTest, FormatJsonPrintsOnlyJson) {
  DriverRun r = run(
      fmt::format("run '{}' --root '{}' --var scene_id=kitchen_001 --format json", kSpec, kGood));
  EXPECT_EQ(r.code, 0) << r.err;
  auto report = nlohmann::json::parse(r.out);  // throws (fails the test) if anything else is there
  EXPECT_EQ(report["verdict"], "pass");
  EXPECT_GT(report["summary"]["pass"].get<int>(), 10);
  EXPECT_EQ(report["summary"]["fail"], 0);
}

TEST_F(CliTest, ValidateGoodAndBad) {
  DriverRun ok = run(fmt::format("validate '{}' --var scene_id=kitchen_001", kSpec));
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("is valid: 4 stages"), std::string::npos) << ok.out;
  DriverRun missing = run(fmt::format("validate '{}'", kSpec));
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("required variable 'scene_id' is missing"), std::string::npos)
      << missing.err;
  write("bad.yaml",
        "version: 1\nname: x\nstages:\n  - id: s\n    checks:\n      - {id: c, type: nope}\n");
  DriverRun bad = run(fmt::format("validate '{}'", (dir_ / "bad.yaml").string()));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("bad.yaml:6:23: check 's.c': unknown check type 'nope'"),
            std::string::npos)
      << bad.err;
}

TEST_F(CliTest, SpecErrorIsExit2AndWritesNoReport) {
  write("bad.yaml", "version: 1\nname: x\nstages: []\n");
  fs::path json = dir_ / "report.json";
  DriverRun r = run(fmt::format("run '{}' --root '{}' --report-json '{}'",
                                (dir_ / "bad.yaml").string(), kGood, json.string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("the spec has no checks"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(json));
}

TEST_F(CliTest, UsageErrors) {
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("frobnicate").code, 2);
  EXPECT_EQ(run("run").code, 2);
  EXPECT_EQ(run(fmt::format("run '{}' --bogus", kSpec)).code, 2);
  EXPECT_EQ(run(fmt::format("run '{}' --var scene_id", kSpec)).code, 2);
  EXPECT_EQ(run(fmt::format("run '{}' --var scene_id=k --format xml", kSpec)).code, 2);
  EXPECT_EQ(run(fmt::format("run '{}' --var scene_id=k --jobs 0", kSpec)).code, 2);
  DriverRun r = run(fmt::format("run '{}' --var scene_id=k --root /no/such/root", kSpec));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/no/such/root"), std::string::npos) << r.err;
}

TEST_F(CliTest, HelpAndVersion) {
  for (const char* verb : {"--help", "run --help", "validate --help", "list-checks --help"}) {
    DriverRun r = run(verb);
    EXPECT_EQ(r.code, 0) << verb;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << verb << ": " << r.out;
  }
  DriverRun h = run("--help");
  EXPECT_NE(h.out.find("3  no verdict"), std::string::npos);
  DriverRun v = run("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("stagecheck ", 0), 0u);
}

TEST_F(CliTest, ListChecks) {
  DriverRun r = run("list-checks --no-default-plugins");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("marker  [artifacts]  from built-in"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("json  [artifacts]  from built-in"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("drift  [history]  from built-in"), std::string::npos) << r.out;
  DriverRun j = run("list-checks --json --no-default-plugins");
  auto list = nlohmann::json::parse(j.out);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["type"], "drift");
  EXPECT_EQ(list[0]["params"][0]["name"], "metric");
  EXPECT_EQ(list[1]["type"], "json");
  EXPECT_EQ(list[1]["params"][0]["name"], "artifact");
}

TEST_F(CliTest, MissingArtifactIsExit1WithReport) {
  write("spec.yaml",
        "version: 1\nname: x\nstages:\n  - id: s\n    checks:\n"
        "      - {id: c, type: json, artifact: r.json, conditions: ['x == 1']}\n");
  fs::create_directories(dir_ / "root");
  fs::path json = dir_ / "out.json";
  DriverRun r =
      run(fmt::format("run '{}' --root '{}' --report-json '{}'", (dir_ / "spec.yaml").string(),
                      (dir_ / "root").string(), json.string()));
  EXPECT_EQ(r.code, 1);
  auto report = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(report["results"][0]["message"], "'r.json' is missing");
}

TEST_F(CliTest, UnreadableArtifactIsExit3) {
  write("spec.yaml",
        "version: 1\nname: x\nstages:\n  - id: s\n    checks:\n"
        "      - {id: c, type: json, artifact: r.json, conditions: ['x == 1']}\n");
  write("root/r.json", "{\"x\": 1}");
  fs::permissions(dir_ / "root/r.json", fs::perms::none);
  for (const auto& p : {dir_, dir_ / "root"}) {
    fs::permissions(p, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec |
                           fs::perms::others_read | fs::perms::group_read);
  }
  fs::permissions(dir_ / "spec.yaml", fs::perms::owner_all | fs::perms::others_read);
  // As root, drop to 'nobody' so that file modes apply.
  std::string prefix = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "";
  fs::path json = dir_ / "out";
  fs::create_directories(json);
  fs::permissions(json, fs::perms::all);
  DriverRun r =
      run(fmt::format("run '{}' --root '{}' --report-json '{}/r.json'",
                      (dir_ / "spec.yaml").string(), (dir_ / "root").string(), json.string()),
          prefix);
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("ERROR"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(json / "r.json")) << "a report is written for exit 3";
}

TEST_F(CliTest, FailOnWarn) {
  write(
      "spec.yaml",
      "version: 1\nname: x\nstages:\n  - id: s\n    checks:\n"
      "      - {id: c, type: json, artifact: r.json, severity: warning, conditions: ['x == 2']}\n");
  write("root/r.json", "{\"x\": 1}");
  std::string base =
      fmt::format("run '{}' --root '{}'", (dir_ / "spec.yaml").string(), (dir_ / "root").string());
  EXPECT_EQ(run(base).code, 0);
  EXPECT_EQ(run(base + " --fail-on-warn").code, 1);
}

TEST_F(CliTest, ColourOnlyOnTtyAndNotWithNoColor) {
  if (std::system("command -v script >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "script(1) not installed";
  std::string args = fmt::format("run '{}' --root '{}' --var scene_id=kitchen_001", kSpec, kGood);
  fs::path out = dir_ / "tty";
  std::string cmd = fmt::format("script -qec \"'{}' {}\" /dev/null > '{}' 2>&1 </dev/null", kDriver,
                                args, out.string());
  ASSERT_EQ(std::system(("unset NO_COLOR; " + cmd).c_str()), 0);
  EXPECT_NE(slurp(out).find("\x1b["), std::string::npos) << "colour on a TTY";
  ASSERT_EQ(std::system(("NO_COLOR=1 " + cmd).c_str()), 0);
  EXPECT_EQ(slurp(out).find("\x1b["), std::string::npos) << "NO_COLOR disables colour";
}

TEST_F(CliTest, QuietPrintsOnlyProblems) {
  DriverRun r =
      run(fmt::format("run '{}' --root '{}' --var scene_id=kitchen_001 --quiet", kSpec, kBroken));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.find("PASS "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL"), std::string::npos);
}

// `stagecheck validate` accepts a drift spec (and the example) and refuses a broken one with
// exit 2 and file:line:column.
TEST_F(CliTest, ValidateDriftSpecs) {
  const std::string head =
      "version: 1\nname: v\nstages:\n  - id: q\n    checks:\n"
      "      - {id: gate, type: json, artifact: r.json, conditions: ['pass_rate >= 0']}\n";
  write("good.yaml", head +
                         "      - {id: d, type: drift, metric: q.gate, value: '/pass_rate >= "
                         "0', max_rel_change: 0.1}\n");
  write("bad.yaml", head + "      - {id: d, type: drift, metric: q.gaet, max_rel_change: 0.1}\n");
  write("nobound.yaml", head + "      - {id: d, type: drift, metric: q.gate}\n");
  DriverRun good = run(fmt::format("validate '{}'", (dir_ / "good.yaml").string()));
  EXPECT_EQ(good.code, 0) << good.out << good.err;
  DriverRun example =
      run(fmt::format("validate '{}/examples/drift/spec.yaml' --var scene_id=k", kSource));
  EXPECT_EQ(example.code, 0) << example.out << example.err;
  DriverRun bad = run(fmt::format("validate '{}'", (dir_ / "bad.yaml").string()));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE((bad.out + bad.err)
                .find("bad.yaml:7:38: check 'q.d': metric: names no check of this "
                      "spec: \"q.gaet\""),
            std::string::npos)
      << bad.out << bad.err;
  DriverRun nobound = run(fmt::format("validate '{}'", (dir_ / "nobound.yaml").string()));
  EXPECT_EQ(nobound.code, 2);
  EXPECT_NE((nobound.out + nobound.err).find("needs at least one bound"), std::string::npos)
      << nobound.out << nobound.err;
}

// Without --history a drift check cannot be evaluated: exit 3, and the message says what to do.
TEST_F(CliTest, DriftWithoutHistoryIsExit3) {
  DriverRun r = run(fmt::format(
      "run '{}/examples/drift/spec.yaml' --root '{}' --var scene_id=kitchen_001", kSource, kGood));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("pass --history URL"), std::string::npos) << r.out;
}
