// Tests for the `env_flags` check: run small specs in-process with the in-tree plugins.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "stagecheck_test_support.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;

/// The runbook's required production flags, as a spec's `flags:` block (indented for kSpec).
constexpr const char* kProductionFlags = R"(
          DATA_QUALITY_LEVEL: production
          REQUIRE_REAL_PHYSICS: true
          ISAAC_SIM_REQUIRED: true
          SENSOR_CAPTURE_MODE: isaac_sim
          USE_MOCK_CAPTURE: false
          ALLOW_MOCK_DATA: false
          ALLOW_MOCK_CAPTURE: false
          MIN_QUALITY_SCORE: {min: 0.85}
          ENABLE_VALIDATION: true
          FILTER_LOW_QUALITY: true
          GENIESIM_VALIDATE_FRAMES: 1
          GENIESIM_FAIL_ON_FRAME_VALIDATION: 1
          BYPASS_QUALITY_GATES: {unset: true}
          SKIP_QUALITY_GATES: {unset: true}
          GENIESIM_MOCK_MODE: {unset: true}
)";

/// An env file meeting every production flag, in the shapes operators write.
constexpr const char* kGoodEnv = R"(# production episode job
export DATA_QUALITY_LEVEL=production
REQUIRE_REAL_PHYSICS=true
ISAAC_SIM_REQUIRED="true"
SENSOR_CAPTURE_MODE='isaac_sim'
USE_MOCK_CAPTURE=false
ALLOW_MOCK_DATA=False
ALLOW_MOCK_CAPTURE=0
MIN_QUALITY_SCORE=0.9   # stricter than the floor
ENABLE_VALIDATION=TRUE
FILTER_LOW_QUALITY=1

GENIESIM_VALIDATE_FRAMES=1
GENIESIM_FAIL_ON_FRAME_VALIDATION=1
API_TOKEN=hunter2
)";

/// A spec with one env_flags check `s.flags` reading the env file named by $env_file.
std::string env_file_spec(const std::string& flags = kProductionFlags) {
  return R"(version: 1
name: env-flags-test
vars:
  env_file: {type: local_path}
stages:
  - id: s
    checks:
      - id: flags
        type: env_flags
        env_file: $env_file
        flags:)" +
         flags;
}

/// Replaces the line starting with `name=` in `env` by `line` (appends if absent).
std::string with_line(std::string env, const std::string& name, const std::string& line) {
  std::size_t at = env.find("\n" + name + "=");
  if (at == std::string::npos) return env + line + "\n";
  std::size_t end = env.find('\n', at + 1);
  return env.substr(0, at + 1) + line + env.substr(end);
}

std::string without_line(std::string env, const std::string& name) {
  std::size_t at = env.find("\n" + name + "=");
  if (at == std::string::npos) return env;
  std::size_t end = env.find('\n', at + 1);
  return env.substr(0, at) + env.substr(end);
}

struct Run {
  RunOutcome outcome;
  const CheckResult* result = nullptr;
};

/// Runs `spec` with env file `name` holding `body` (written into a scratch folder).
class EnvFlagsTest : public ::testing::Test {
 protected:
  RunOutcome run_with_file(const std::string& spec, const std::string& name,
                           const std::string& body, RunOptions options = {}) {
    scratch_.write("etc/" + name, body);
    return run_spec_text(spec, scratch_ / "store",
                         {{"env_file", (scratch_ / ("etc/" + name)).string()}}, options);
  }
  RunOutcome run(const std::string& spec, std::map<std::string, std::string> vars = {},
                 RunOptions options = {}) {
    return run_spec_text(spec, scratch_ / "store", std::move(vars), options);
  }
  /// The result `id` of `out`, which must outlive it (hence no temporaries).
  static const CheckResult& result(RunOutcome&&, const std::string& = "") = delete;
  static const CheckResult& result(const RunOutcome& out, const std::string& id = "s.flags") {
    EXPECT_TRUE(out.report.has_value()) << out.error;
    const CheckResult* r = out.report ? find_result(*out.report, id) : nullptr;
    if (r == nullptr) throw std::runtime_error("no result " + id + ": " + out.error);
    return *r;
  }
  void SetUp() override { std::filesystem::create_directories(scratch_ / "store"); }

  ScratchDir scratch_;
};

TEST_F(EnvFlagsTest, AllProductionFlagsHoldInAnEnvFile) {
  auto out = run_with_file(env_file_spec(), "prod.env", kGoodEnv);
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::pass);
  EXPECT_NE(r.message.find("all 15 flags hold in env file"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["flags"]["ALLOW_MOCK_DATA"], "False");
  EXPECT_EQ(r.observed["flags"]["MIN_QUALITY_SCORE"], "0.9");
  EXPECT_EQ(r.observed["source"]["format"], "env");
  // Only the flags that must be unset are absent (flags are reported in name order).
  EXPECT_EQ(
      r.observed["not_set"],
      nlohmann::json::array({"BYPASS_QUALITY_GATES", "GENIESIM_MOCK_MODE", "SKIP_QUALITY_GATES"}));
  EXPECT_EQ(r.expected["MIN_QUALITY_SCORE"]["min"], 0.85);
}

TEST_F(EnvFlagsTest, AllowMockDataTrueFailsNamingTheFlag) {
  auto out = run_with_file(env_file_spec(), "prod.env",
                           with_line(kGoodEnv, "ALLOW_MOCK_DATA", "ALLOW_MOCK_DATA=true"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_NE(r.message.find("1 of 15 flags fail"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("ALLOW_MOCK_DATA: expected false, found \"true\""), std::string::npos)
      << r.message;
  ASSERT_EQ(r.details["failures"].size(), 1u);
  EXPECT_EQ(r.details["failures"][0]["flag"], "ALLOW_MOCK_DATA");
  EXPECT_EQ(r.details["failures"][0]["found"], "true");
}

TEST_F(EnvFlagsTest, NonBooleanWordsFailABooleanRequirement) {
  for (const std::string value : {"yes", "on", "", "2", "truee", "no"}) {
    auto out = run_with_file(env_file_spec(), "prod.env",
                             with_line(kGoodEnv, "USE_MOCK_CAPTURE", "USE_MOCK_CAPTURE=" + value));
    const CheckResult& r = result(out);
    EXPECT_EQ(r.status, Status::fail) << value;
    EXPECT_NE(r.message.find("USE_MOCK_CAPTURE: expected a boolean (true/false/1/0), found \"" +
                             value + "\""),
              std::string::npos)
        << r.message;
  }
}

TEST_F(EnvFlagsTest, EveryFailingFlagIsListed) {
  std::string env = with_line(kGoodEnv, "ALLOW_MOCK_DATA", "ALLOW_MOCK_DATA=1");
  env = with_line(env, "SENSOR_CAPTURE_MODE", "SENSOR_CAPTURE_MODE=mock_dev");
  env = without_line(env, "ISAAC_SIM_REQUIRED");
  env += "SKIP_QUALITY_GATES=1\n";
  auto out = run_with_file(env_file_spec(), "prod.env", env);
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("4 of 15 flags fail"), std::string::npos) << r.message;
  for (const char* part : {"ALLOW_MOCK_DATA: expected false, found \"1\"",
                           "SENSOR_CAPTURE_MODE: expected \"isaac_sim\", found \"mock_dev\"",
                           "ISAAC_SIM_REQUIRED: not set, expected the boolean true",
                           "SKIP_QUALITY_GATES: must not be set, found \"1\""}) {
    EXPECT_NE(r.message.find(part), std::string::npos) << part << "\n" << r.message;
  }
  EXPECT_EQ(r.details["failures"].size(), 4u);
  EXPECT_EQ(
      r.observed["not_set"],
      nlohmann::json::array({"BYPASS_QUALITY_GATES", "GENIESIM_MOCK_MODE", "ISAAC_SIM_REQUIRED"}));
}

TEST_F(EnvFlagsTest, GateBypassSetFailsWhenItMustBeUnset) {
  // Any value, even "0" or empty, means the variable is set.
  for (const std::string line : {"BYPASS_QUALITY_GATES=1", "BYPASS_QUALITY_GATES=0",
                                 "BYPASS_QUALITY_GATES=", "export BYPASS_QUALITY_GATES=false"}) {
    auto out = run_with_file(env_file_spec(), "prod.env", std::string(kGoodEnv) + line + "\n");
    const CheckResult& r = result(out);
    EXPECT_EQ(r.status, Status::fail) << line;
    EXPECT_NE(r.message.find("BYPASS_QUALITY_GATES: must not be set, found"), std::string::npos)
        << r.message;
  }
}

TEST_F(EnvFlagsTest, MinQualityScoreIsANumberAtLeastTheMinimum) {
  struct Case {
    std::string value;
    bool pass;
    std::string why;
  };
  for (const Case& c :
       {Case{"0.85", true, ""}, Case{"0.95", true, ""},
        Case{"0.8", false, "expected a number >= 0.85, found \"0.8\""},
        Case{"abc", false, "found \"abc\" (not a finite number)"},
        Case{"0.9x", false, "(not a finite number)"}, Case{"nan", false, "(not a finite number)"},
        Case{"inf", false, "(not a finite number)"}, Case{" 0.9", false, "(not a finite number)"},
        Case{"", false, "(not a finite number)"}}) {
    auto out = run_with_file(
        env_file_spec(), "prod.env",
        with_line(kGoodEnv, "MIN_QUALITY_SCORE", "MIN_QUALITY_SCORE='" + c.value + "'"));
    const CheckResult& r = result(out);
    EXPECT_EQ(r.status, c.pass ? Status::pass : Status::fail) << c.value << ": " << r.message;
    if (!c.pass) {
      EXPECT_NE(r.message.find("MIN_QUALITY_SCORE: "), std::string::npos) << r.message;
      EXPECT_NE(r.message.find(c.why), std::string::npos) << c.value << ": " << r.message;
    }
  }
}

TEST_F(EnvFlagsTest, MalformedEnvLineFailsWithItsLineNumber) {
  struct Case {
    std::string body;
    std::string message;
  };
  for (const Case& c : {
           Case{"DATA_QUALITY_LEVEL=production\n# ok\nthis line has no equals sign\n",
                "line 3: expected NAME=VALUE (no '=' found)"},
           Case{"A=1\n\nB=\"unterminated\n", "line 3: B: unterminated \" quote"},
           Case{"A=1\nB='x' trailing\n", "line 2: B: unexpected text after the closing quote"},
           Case{"A=1\nB=it's\n", "line 2: B: a quote inside an unquoted value"},
           Case{"A=1\nB=2\nA=3\n", "line 3: A is set again (first set on line 1)"},
           Case{"1ABC=1\n", "line 1: '1ABC' is not a variable name"},
       }) {
    auto out = run_with_file(env_file_spec("\n          A: 1\n"), "bad.env", c.body);
    const CheckResult& r = result(out);
    EXPECT_EQ(r.status, Status::fail) << c.body;
    EXPECT_NE(r.message.find("bad.env"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(c.message), std::string::npos) << r.message;
  }
}

TEST_F(EnvFlagsTest, SecretValuesAreRedacted) {
  auto out = run_with_file(env_file_spec(R"(
          API_TOKEN: {equals: expected-token}
          DB_PASSWORD: {unset: true}
          ALLOW_MOCK_DATA: false
)"),
                           "prod.env",
                           "API_TOKEN=hunter2\nDB_PASSWORD=swordfish\nALLOW_MOCK_DATA=false\n");
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("API_TOKEN: expected \"expected-token\", found ***"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("DB_PASSWORD: must not be set, found ***"), std::string::npos)
      << r.message;
  for (const std::string& text :
       {r.message, r.observed.dump(), r.details.dump(), r.expected.dump()}) {
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
    EXPECT_EQ(text.find("swordfish"), std::string::npos) << text;
  }
  EXPECT_EQ(r.observed["flags"]["API_TOKEN"], "***");
  EXPECT_EQ(r.observed["flags"]["ALLOW_MOCK_DATA"], "false");
}

TEST_F(EnvFlagsTest, OneOfMatchesAndNumericEquality) {
  const std::string flags = R"(
          PIPELINE_ENV: {one_of: [production, prod]}
          RUN_ID: {matches: "^run-[0-9]+$"}
          GENIESIM_VALIDATE_FRAMES: 1
          LEROBOT_SKIP_RATE_MAX: {max: 0}
          MIN_QUALITY_SCORE: {min: 0.85, max: 0.95}
)";
  auto good = run_with_file(env_file_spec(flags), "a.env",
                            "PIPELINE_ENV=prod\nRUN_ID=run-42\nGENIESIM_VALIDATE_FRAMES=1.0\n"
                            "LEROBOT_SKIP_RATE_MAX=0\nMIN_QUALITY_SCORE=0.95\n");
  EXPECT_EQ(result(good).status, Status::pass) << result(good).message;
  auto bad = run_with_file(env_file_spec(flags), "b.env",
                           "PIPELINE_ENV=staging\nRUN_ID=run-42x\nGENIESIM_VALIDATE_FRAMES=true\n"
                           "LEROBOT_SKIP_RATE_MAX=5\nMIN_QUALITY_SCORE=0.96\n");
  const CheckResult& r = result(bad);
  EXPECT_EQ(r.status, Status::fail);
  for (const char* part :
       {"PIPELINE_ENV: expected one of [\"production\", \"prod\"], found \"staging\"",
        "RUN_ID: expected a string matching \"^run-[0-9]+$\", found \"run-42x\"",
        "GENIESIM_VALIDATE_FRAMES: expected the number 1, found \"true\" (not a number)",
        "LEROBOT_SKIP_RATE_MAX: expected a number <= 0, found \"5\"",
        "MIN_QUALITY_SCORE: expected a number between 0.85 and 0.95, found \"0.96\""}) {
    EXPECT_NE(r.message.find(part), std::string::npos) << part << "\n" << r.message;
  }
}

TEST_F(EnvFlagsTest, YamlEnvFile) {
  const std::string good = R"(DATA_QUALITY_LEVEL: production
REQUIRE_REAL_PHYSICS: true
ISAAC_SIM_REQUIRED: "true"
SENSOR_CAPTURE_MODE: isaac_sim
USE_MOCK_CAPTURE: false
ALLOW_MOCK_DATA: 0
ALLOW_MOCK_CAPTURE: false
MIN_QUALITY_SCORE: 0.9
ENABLE_VALIDATION: true
FILTER_LOW_QUALITY: true
GENIESIM_VALIDATE_FRAMES: 1
GENIESIM_FAIL_ON_FRAME_VALIDATION: "1"
)";
  auto out = run_with_file(env_file_spec(), "prod.yaml", good);
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;
  EXPECT_EQ(result(out).observed["source"]["format"], "yaml");

  // YAML's `yes` is a string under the core schema, so it is not a boolean; a YAML number is
  // not the string "isaac_sim"; a nested value is not a flag value.
  std::string bad = good;
  bad.replace(bad.find("ALLOW_MOCK_DATA: 0"), 18, "ALLOW_MOCK_DATA: yes");
  bad.replace(bad.find("SENSOR_CAPTURE_MODE: isaac_sim"), 30, "SENSOR_CAPTURE_MODE: 1");
  bad += "GENIESIM_MOCK_MODE: {enabled: false}\n";
  auto out2 = run_with_file(env_file_spec(), "bad.yml", bad);
  const CheckResult& r = result(out2);
  EXPECT_EQ(r.status, Status::fail);
  for (const char* part :
       {"ALLOW_MOCK_DATA: expected a boolean (true/false/1/0), found \"yes\"",
        "SENSOR_CAPTURE_MODE: expected the string \"isaac_sim\", found 1 (number)",
        "GENIESIM_MOCK_MODE: must not be set"}) {
    EXPECT_NE(r.message.find(part), std::string::npos) << part << "\n" << r.message;
  }

  auto list = run_with_file(env_file_spec(), "list.yaml", "- A=1\n- B=2\n");
  EXPECT_EQ(result(list).status, Status::fail);
  EXPECT_NE(result(list).message.find("expected a mapping of NAME: value, found array"),
            std::string::npos)
      << result(list).message;
  auto broken = run_with_file(env_file_spec(), "broken.yaml", "A: [1, 2\n");
  EXPECT_EQ(result(broken).status, Status::fail);
  EXPECT_NE(result(broken).message.find("broken.yaml"), std::string::npos);
}

TEST_F(EnvFlagsTest, JsonEnvFile) {
  const std::string flags = R"(
          ALLOW_MOCK_DATA: false
          REQUIRE_REAL_PHYSICS: true
          MIN_QUALITY_SCORE: {min: 0.85}
)";
  auto good = run_with_file(env_file_spec(flags), "env.json",
                            R"({"ALLOW_MOCK_DATA": false, "REQUIRE_REAL_PHYSICS": "1",
                                "MIN_QUALITY_SCORE": 0.9})");
  EXPECT_EQ(result(good).status, Status::pass) << result(good).message;
  EXPECT_EQ(result(good).observed["source"]["format"], "json");
  auto bad = run_with_file(env_file_spec(flags), "bad.json",
                           R"({"ALLOW_MOCK_DATA": "true", "REQUIRE_REAL_PHYSICS": 2,
                               "MIN_QUALITY_SCORE": "0.80"})");
  const CheckResult& r = result(bad);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("3 of 3 flags fail"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("REQUIRE_REAL_PHYSICS: expected a boolean (true/false/1/0), found 2"),
            std::string::npos)
      << r.message;
  auto nested = run_with_file(env_file_spec(flags), "nested.json",
                              R"({"ALLOW_MOCK_DATA": {"value": false}, "REQUIRE_REAL_PHYSICS": true,
                                  "MIN_QUALITY_SCORE": [0.9]})");
  const CheckResult& n = result(nested);
  EXPECT_EQ(n.status, Status::fail);
  EXPECT_NE(n.message.find("ALLOW_MOCK_DATA: expected the boolean false, found object (a flag "
                           "holds one value)"),
            std::string::npos)
      << n.message;
  EXPECT_NE(n.message.find("MIN_QUALITY_SCORE: expected a number >= 0.85, found array"),
            std::string::npos)
      << n.message;
  auto malformed = run_with_file(env_file_spec(flags), "m.json", R"({"A": 1,})");
  EXPECT_EQ(result(malformed).status, Status::fail);
  EXPECT_NE(result(malformed).message.find("m.json"), std::string::npos);
}

/// An import manifest recording its job's environment, as the import job writes it.
nlohmann::json import_manifest(nlohmann::json env) {
  return {{"schema_version", "1.3"},
          {"scene_id", "kitchen_001"},
          {"provenance",
           {{"git_sha", "abc123"},
            {"config_snapshot", {{"env", std::move(env)}, {"config", nlohmann::json::object()}}}}}};
}

std::string artifact_spec(bool optional = false,
                          const std::string& field = "provenance.config_snapshot.env") {
  return std::string(R"(version: 1
name: env-flags-artifact
vars:
  scene_id: {type: segment, required: true}
artifacts:
  import_manifest: {path: "scenes/${scene_id}/episodes/import_manifest.json", optional: )") +
         (optional ? "true" : "false") + R"(}
stages:
  - id: s
    checks:
      - id: flags
        type: env_flags
        artifact: import_manifest
        field: )" +
         field + R"(
        flags:
          MIN_QUALITY_SCORE: {min: 0.85}
          ENABLE_VALIDATION: true
          FILTER_LOW_QUALITY: true
          BYPASS_QUALITY_GATES: {unset: true}
)";
}

TEST_F(EnvFlagsTest, ArtifactSourceReadsTheRecordedEnvironment) {
  const std::string path = "store/scenes/k1/episodes/import_manifest.json";
  scratch_.write(path, import_manifest({{"MIN_QUALITY_SCORE", "0.85"},
                                        {"ENABLE_VALIDATION", "true"},
                                        {"FILTER_LOW_QUALITY", "true"},
                                        {"PATH", "/usr/bin"}})
                           .dump());
  auto good = run(artifact_spec(), {{"scene_id", "k1"}});
  const CheckResult& g = result(good);
  EXPECT_EQ(g.status, Status::pass) << g.message;
  EXPECT_NE(g.message.find("'scenes/k1/episodes/import_manifest.json' at "
                           "provenance.config_snapshot.env"),
            std::string::npos)
      << g.message;
  EXPECT_FALSE(g.observed["flags"].contains("PATH"));  // only the flags the spec names

  scratch_.write(path, import_manifest({{"MIN_QUALITY_SCORE", "0.5"},
                                        {"ENABLE_VALIDATION", "false"},
                                        {"FILTER_LOW_QUALITY", "true"},
                                        {"BYPASS_QUALITY_GATES", "true"}})
                           .dump());
  auto bad = run(artifact_spec(), {{"scene_id", "k1"}});
  const CheckResult& b = result(bad);
  EXPECT_EQ(b.status, Status::fail);
  for (const char* part : {"MIN_QUALITY_SCORE: expected a number >= 0.85, found \"0.5\"",
                           "ENABLE_VALIDATION: expected true, found \"false\"",
                           "BYPASS_QUALITY_GATES: must not be set, found \"true\""}) {
    EXPECT_NE(b.message.find(part), std::string::npos) << part << "\n" << b.message;
  }
}

TEST_F(EnvFlagsTest, ArtifactSourceFailsClosed) {
  // Missing artifact.
  auto missing = run(artifact_spec(), {{"scene_id", "k1"}});
  EXPECT_EQ(result(missing).status, Status::fail);
  EXPECT_NE(result(missing).message.find("'scenes/k1/episodes/import_manifest.json' is missing"),
            std::string::npos)
      << result(missing).message;
  // Absent optional artifact: not verified, never a pass.
  auto optional = run(artifact_spec(true), {{"scene_id", "k1"}});
  EXPECT_EQ(result(optional).status, Status::warn);
  EXPECT_NE(result(optional).message.find("flags not verified: optional artifact"),
            std::string::npos);
  // The field is absent.
  scratch_.write("store/scenes/k1/episodes/import_manifest.json",
                 R"({"provenance": {"config_snapshot": {"config": {}}}})");
  auto no_field = run(artifact_spec(), {{"scene_id", "k1"}});
  EXPECT_EQ(result(no_field).status, Status::fail);
  EXPECT_NE(result(no_field).message.find("provenance.config_snapshot.env"), std::string::npos)
      << result(no_field).message;
  // The field is not a mapping.
  scratch_.write("store/scenes/k1/episodes/import_manifest.json",
                 R"({"provenance": {"config_snapshot": {"env": ["A=1"]}}})");
  auto not_map = run(artifact_spec(), {{"scene_id", "k1"}});
  EXPECT_EQ(result(not_map).status, Status::fail);
  EXPECT_NE(
      result(not_map).message.find("expected a mapping of environment variables, found array"),
      std::string::npos)
      << result(not_map).message;
  // Malformed.
  scratch_.write("store/scenes/k1/episodes/import_manifest.json", R"({"provenance": )");
  auto malformed = run(artifact_spec(), {{"scene_id", "k1"}});
  EXPECT_EQ(result(malformed).status, Status::fail);
}

TEST_F(EnvFlagsTest, NoSourceWarnsAndNeverPasses) {
  // The env_file variable is declared but not given.
  auto out = run(env_file_spec());
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::warn);
  EXPECT_NE(r.message.find("flags not verified: no env_file, artifact or process environment "
                           "given"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::pass);  // a warning alone does not fail the run...
  RunOptions strict;
  strict.fail_on_warn = true;
  EXPECT_EQ(run(env_file_spec(), {}, strict).exit_code, ExitCode::fail);  // ...unless asked

  // No source parameter at all.
  auto none = run(R"(version: 1
name: t
stages:
  - id: s
    checks:
      - id: flags
        type: env_flags
        flags: {ALLOW_MOCK_DATA: false}
)");
  EXPECT_EQ(result(none).status, Status::warn);
  EXPECT_EQ(result(none).message,
            "flags not verified: no env_file, artifact or process environment given");
}

constexpr const char* kProcessSpec = R"(version: 1
name: t
stages:
  - id: s
    checks:
      - id: flags
        type: env_flags
        source: process
        flags:
          STAGECHECK_TEST_ALLOW_MOCK_DATA: false
          STAGECHECK_TEST_BYPASS_QUALITY_GATES: {unset: true}
)";

TEST_F(EnvFlagsTest, ProcessEnvironmentIsRefusedUnlessAllowed) {
  ::setenv("STAGECHECK_TEST_ALLOW_MOCK_DATA", "false", 1);
  ::unsetenv("STAGECHECK_TEST_BYPASS_QUALITY_GATES");
  auto refused = run(kProcessSpec);
  EXPECT_EQ(result(refused).status, Status::error);
  EXPECT_NE(
      result(refused).message.find("reading the process environment is only allowed when embedded"),
      std::string::npos)
      << result(refused).message;
  EXPECT_EQ(refused.exit_code, ExitCode::no_verdict);

  RunOptions allowed;
  allowed.allow_process_env = true;
  auto good = run(kProcessSpec, {}, allowed);
  EXPECT_EQ(result(good).status, Status::pass) << result(good).message;
  EXPECT_NE(result(good).message.find("the process environment"), std::string::npos);

  ::setenv("STAGECHECK_TEST_ALLOW_MOCK_DATA", "true", 1);
  ::setenv("STAGECHECK_TEST_BYPASS_QUALITY_GATES", "1", 1);
  auto bad = run(kProcessSpec, {}, allowed);
  EXPECT_EQ(result(bad).status, Status::fail);
  EXPECT_NE(result(bad).message.find("STAGECHECK_TEST_ALLOW_MOCK_DATA: expected false, found "
                                     "\"true\""),
            std::string::npos)
      << result(bad).message;
  EXPECT_NE(result(bad).message.find("STAGECHECK_TEST_BYPASS_QUALITY_GATES: must not be set"),
            std::string::npos);
  ::unsetenv("STAGECHECK_TEST_ALLOW_MOCK_DATA");
  ::unsetenv("STAGECHECK_TEST_BYPASS_QUALITY_GATES");
}

TEST_F(EnvFlagsTest, FactoryRejectsABadFlagsMapping) {
  struct Case {
    std::string flags;
    std::string message;
  };
  for (const Case& c : {
           Case{"{MIN_QUALITY_SCORE: {atleast: 0.85}}",
                "MIN_QUALITY_SCORE: unknown requirement key 'atleast'"},
           Case{"{MIN_QUALITY_SCORE: {min: \"0.85\"}}",
                "MIN_QUALITY_SCORE: min: expected a finite number, found \"0.85\""},
           Case{"{MIN_QUALITY_SCORE: {min: 1, max: 0}}", "MIN_QUALITY_SCORE: min 1 is above max 0"},
           Case{"{MIN_QUALITY_SCORE: {min: .nan}}",
                "MIN_QUALITY_SCORE: min: expected a finite number, found NaN or infinity"},
           Case{"{BYPASS_QUALITY_GATES: {unset: false}}", "BYPASS_QUALITY_GATES: unset: false"},
           Case{"{BYPASS_QUALITY_GATES: {unset: \"true\"}}",
                "BYPASS_QUALITY_GATES: unset: expected the boolean true, found \"true\""},
           Case{"{PIPELINE_ENV: {one_of: []}}", "PIPELINE_ENV: one_of: expected a non-empty list"},
           Case{"{PIPELINE_ENV: {one_of: [prod, [x]]}}",
                "PIPELINE_ENV: one_of[1]: expected a boolean, string or number, found array"},
           Case{"{PIPELINE_ENV: {equals: {a: 1}}}",
                "PIPELINE_ENV: equals: expected a boolean, string or number, found object"},
           Case{"{PIPELINE_ENV: {equals: prod, min: 1}}",
                "PIPELINE_ENV: give one of equals, one_of, unset, min/max or matches, not equals "
                "and min/max"},
           Case{"{RUN_ID: {matches: \"(\"}}", "RUN_ID: matches: invalid regex"},
           Case{"{RUN_ID: {matches: 3}}", "RUN_ID: matches: expected a regex string"},
           Case{"{ALLOW_MOCK_DATA: ~}", "ALLOW_MOCK_DATA: no requirement given"},
           Case{"{ALLOW_MOCK_DATA: [false]}", "ALLOW_MOCK_DATA: a list is not a requirement"},
           Case{"{ALLOW_MOCK_DATA: {}}", "ALLOW_MOCK_DATA: an empty mapping"},
           Case{"{1ALLOW: false}", "'1ALLOW' is not an environment variable name"},
           Case{"{}", "no flags given"},
       }) {
    auto out = run(R"(version: 1
name: t
stages:
  - id: s
    checks:
      - id: flags
        type: env_flags
        flags: )" + c.flags +
                   "\n");
    EXPECT_EQ(out.exit_code, ExitCode::usage) << c.flags;
    EXPECT_EQ(out.error_code, Errc::spec_error) << c.flags;
    EXPECT_NE(out.error.find("check 's.flags': flags: " + c.message), std::string::npos)
        << c.flags << "\n"
        << out.error;
  }
}

TEST_F(EnvFlagsTest, FactoryRejectsConflictingSources) {
  auto two = run(R"(version: 1
name: t
vars: {env_file: {type: local_path}}
stages:
  - id: s
    checks:
      - id: flags
        type: env_flags
        env_file: $env_file
        source: process
        flags: {A: 1}
)");
  EXPECT_EQ(two.exit_code, ExitCode::usage);
  EXPECT_NE(two.error.find("give one source (env_file, artifact or source: process), found "
                           "env_file and source"),
            std::string::npos)
      << two.error;
  auto field = run(R"(version: 1
name: t
stages:
  - id: s
    checks:
      - id: flags
        type: env_flags
        field: provenance.env
        flags: {A: 1}
)");
  EXPECT_EQ(field.exit_code, ExitCode::usage);
  EXPECT_NE(field.error.find("field: field needs `artifact`"), std::string::npos) << field.error;
  auto bad_path = run(R"(version: 1
name: t
stages:
  - id: s
    checks:
      - id: flags
        type: env_flags
        artifact: a.json
        field: "provenance..env"
        flags: {A: 1}
)");
  EXPECT_EQ(bad_path.exit_code, ExitCode::usage);
  EXPECT_NE(bad_path.error.find("check 's.flags': field: path \"provenance..env\""),
            std::string::npos)
      << bad_path.error;
}

TEST_F(EnvFlagsTest, EnvFileThatIsAFolderFails) {
  std::filesystem::create_directories(scratch_ / "etc/dir.env");
  auto out = run(env_file_spec(), {{"env_file", (scratch_ / "etc/dir.env").string()}});
  EXPECT_EQ(result(out).status, Status::fail);
  EXPECT_NE(result(out).message.find("is not a regular file"), std::string::npos)
      << result(out).message;
}

}  // namespace
