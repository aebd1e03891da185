#include "stagecheck/spec.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

using namespace stagecheck;

namespace {

Registry& builtins() {
  static Registry registry = [] {
    Registry r;
    EXPECT_TRUE(register_builtin_checks(r).ok());
    return r;
  }();
  return registry;
}

Result<Spec> load(const std::string& text, std::map<std::string, std::string> vars = {}) {
  SpecOptions opts;
  opts.registry = &builtins();
  opts.vars = std::move(vars);
  return load_spec_string(text, "spec.yaml", opts);
}

// Asserts that loading fails with a message containing `fragment`.
void expect_error(const std::string& text, const std::string& fragment,
                  std::map<std::string, std::string> vars = {}) {
  auto spec = load(text, std::move(vars));
  ASSERT_FALSE(spec.ok()) << "expected a spec error containing: " << fragment;
  EXPECT_EQ(spec.error().code, Errc::spec_error);
  EXPECT_NE(spec.error().message.find(fragment), std::string::npos)
      << "message was:\n"
      << spec.error().message << "\nexpected fragment:\n"
      << fragment;
}

const char* const kGood = R"(version: 1
name: demo
vars:
  scene_id: {type: segment, required: true}
  min_rate: {type: number, default: 0.9}
artifacts:
  job: scenes/${scene_id}/job.json
  manifest: scenes/${scene_id}/geniesim_${@job.job_id}/import_manifest.json
  config: {path: "scenes/${scene_id}/config.json", optional: true}
stages:
  - id: export
    skip_if: {artifact: config, condition: "use_geniesim == false"}
    inputs: ["scenes/${scene_id}/.start"]
    expects: [job]
    checks:
      - id: rate
        type: json
        artifact: job
        severity: warning
        conditions: ["rate >= $min_rate"]
  - id: import
    depends_on: [export]
    checks:
      - id: m
        type: json
        artifact: manifest
        conditions: ["episodes.passed_validation > 0"]
)";

}  // namespace

TEST(SpecLoader, LoadsAndBinds) {
  auto spec = load(kGood, {{"scene_id", "kitchen_001"}});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->name, "demo");
  ASSERT_EQ(spec->stages.size(), 2u);
  EXPECT_EQ(spec->check_count(), 4u);
  EXPECT_EQ(spec->stages[0].checks[0].id, "export.inputs[0]");
  EXPECT_EQ(spec->stages[0].checks[1].id, "export.expects[0]");
  EXPECT_EQ(spec->stages[0].checks[2].id, "export.rate");
  EXPECT_EQ(spec->stages[0].checks[2].severity, Severity::warning);
  EXPECT_TRUE(spec->stages[0].skip_if.has_value());
  EXPECT_EQ(spec->values["scene_id"], "kitchen_001");
  EXPECT_EQ(spec->values["min_rate"], 0.9);
  EXPECT_EQ(spec->stages[1].depends_on, std::vector<std::string>{"export"});
  EXPECT_EQ(spec->hash.size(), 16u);
  EXPECT_TRUE(spec->artifacts.at("config").ref.optional);
}

TEST(SpecLoader, VarOverrideIsTyped) {
  auto spec = load(kGood, {{"scene_id", "k"}, {"min_rate", "0.95"}});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->values["min_rate"], 0.95);
  expect_error(kGood, "--var min_rate: expected number, found \"high\"",
               {{"scene_id", "k"}, {"min_rate", "high"}});
  expect_error(kGood,
               "--var min_rate: expected number, found \"nan\" (NaN and infinity are not accepted)",
               {{"scene_id", "k"}, {"min_rate", "nan"}});
}

TEST(SpecLoader, MissingRequiredVar) {
  expect_error(kGood,
               "spec.yaml:4:3: required variable 'scene_id' is missing: pass --var scene_id=VALUE");
}

TEST(SpecLoader, EmptyRequiredVar) {
  expect_error(kGood, "required variable 'scene_id' is empty", {{"scene_id", ""}});
}

TEST(SpecLoader, SegmentVarRefusesSlash) {
  expect_error(kGood, "--var scene_id: expected segment, found \"a/b\"", {{"scene_id", "a/b"}});
  expect_error(kGood, "--var scene_id: expected segment, found \"..\"", {{"scene_id", ".."}});
}

TEST(SpecLoader, UnknownVarOnCommandLine) {
  expect_error(kGood,
               "--var nope: the spec declares no variable 'nope' (declared: scene_id, min_rate)",
               {{"scene_id", "k"}, {"nope", "1"}});
}

TEST(SpecLoader, UnknownTopLevelKey) {
  expect_error("version: 1\nname: x\nstagez: []\nstages: []\n",
               "spec.yaml:3:1: unknown key 'stagez' in the spec (expected one of: version, name, "
               "description, vars, artifacts, stages, on_failure)");
}

TEST(SpecLoader, UnknownCheckKey) {
  expect_error(
      R"(version: 1
name: x
stages:
  - id: s
    checks:
      - id: c
        type: json
        artifact: a/b.json
        conditions: ["x == 1"]
        threshold: 3
)",
      "spec.yaml:10:9: unknown key 'threshold' in check 's.c' (type json) (expected one of: "
      "id, type, severity, description, failure_code, artifact, conditions, format)");
}

TEST(SpecLoader, WrongParamType) {
  expect_error(
      R"(version: 1
name: x
stages:
  - id: s
    checks:
      - id: c
        type: json
        artifact: a/b.json
        conditions: "x == 1"
)",
      "spec.yaml:9:21: check 's.c': parameter 'conditions': expected a list of conditions, "
      "found string \"x == 1\"");
}

TEST(SpecLoader, WrongChoice) {
  expect_error(R"(version: 1
name: x
stages:
  - id: s
    checks:
      - {id: c, type: marker, path: a/.done, expect: maybe}
)",
               "check 's.c': parameter 'expect': expected one of present, absent, found \"maybe\"");
}

TEST(SpecLoader, BadSeverity) {
  expect_error(R"(version: 1
name: x
stages:
  - id: s
    checks:
      - {id: c, type: marker, path: a/.done, severity: fatal}
)",
               "check 's.c': severity must be error or warning, found \"fatal\"");
}

TEST(SpecLoader, UnknownCheckType) {
  expect_error(
      R"(version: 1
name: x
stages:
  - id: s
    checks:
      - {id: c, type: quality_gates, path: a}
)",
      "spec.yaml:6:23: check 's.c': unknown check type 'quality_gates' (known: drift, json, "
      "marker); "
      "is its plugin loaded?");
}

TEST(SpecLoader, MissingRequiredParam) {
  expect_error(R"(version: 1
name: x
stages:
  - id: s
    checks:
      - {id: c, type: json, artifact: a/b.json}
)",
               "check 's.c': missing required parameter 'conditions' (list of conditions)");
}

TEST(SpecLoader, NoChecks) {
  expect_error("version: 1\nname: x\nstages:\n  - id: s\n",
               "the spec has no checks: a spec must check something");
  expect_error("version: 1\nname: x\nstages: []\n", "the spec has no checks");
}

TEST(SpecLoader, MissingStages) {
  expect_error("version: 1\nname: x\n", "spec.yaml: missing required key 'stages'");
}

TEST(SpecLoader, VersionAndName) {
  expect_error("version: 2\nname: x\nstages: []\n",
               "spec.yaml:1:10: unsupported spec version: expected 1, found integer 2");
  expect_error("version: \"1\"\nname: x\nstages: []\n",
               "unsupported spec version: expected 1, found string \"1\"");
  expect_error("version: 1\nstages: []\n", "the spec: missing required key 'name'");
}

TEST(SpecLoader, YamlSyntaxError) {
  expect_error("version: 1\nname: [x\n", "spec.yaml:3:1: YAML syntax error");
}

TEST(SpecLoader, FlowCollectionHint) {
  expect_error(
      "version: 1\nname: x\nvars: {s: {type: segment}}\nstages:\n  - id: a\n    inputs: "
      "[x/${s}/.m]\n",
      "YAML syntax error: end of sequence flow not found (inside [...] or {...}, quote values "
      "that contain ${...})");
}

TEST(SpecLoader, NotAMapping) { expect_error("- 1\n- 2\n", "spec.yaml: a spec is a mapping"); }

TEST(SpecLoader, BadConditionHasLocation) {
  auto spec = load(R"(version: 1
name: x
stages:
  - id: s
    checks:
      - id: c
        type: json
        artifact: a/b.json
        conditions:
          - "x >= "
)");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().message.rfind(
                "spec.yaml:10:13: check 's.c': parameter 'conditions': condition", 0),
            0u)
      << spec.error().message;
}

TEST(SpecLoader, UndeclaredVarInCondition) {
  expect_error(R"(version: 1
name: x
stages:
  - id: s
    checks:
      - {id: c, type: json, artifact: a/b.json, conditions: ["x >= $floor"]}
)",
               "condition \"x >= $floor\" uses undeclared variable 'floor'");
}

TEST(SpecLoader, UndeclaredArtifactInCondition) {
  expect_error(R"(version: 1
name: x
stages:
  - id: s
    checks:
      - {id: c, type: json, artifact: a/b.json, conditions: ["x == @job.x"]}
)",
               "condition \"x == @job.x\" uses undeclared artifact 'job'");
}

TEST(SpecLoader, StringVarCannotBuildPaths) {
  expect_error(
      R"(version: 1
name: x
vars: {who: {type: string, default: a}}
stages:
  - id: s
    checks:
      - {id: c, type: marker, path: "scenes/${who}/.done"}
)",
      "path 'scenes/${who}/.done' uses variable 'who' of type string; only segment, store_path "
      "and integer variables may build store paths");
}

TEST(SpecLoader, UnknownArtifactName) {
  expect_error(R"(version: 1
name: x
artifacts: {job: a/job.json}
stages:
  - id: s
    checks:
      - {id: c, type: marker, path: jobb}
)",
               "unknown artifact 'jobb' (declared: job)");
}

TEST(SpecLoader, ArtifactCycle) {
  expect_error(R"(version: 1
name: x
artifacts:
  a: x/${@b.id}.json
  b: y/${@a.id}.json
stages:
  - id: s
    checks:
      - {id: c, type: marker, path: a}
)",
               "artifact paths refer to each other in a cycle: a -> b -> a");
}

TEST(SpecLoader, StageDependencyErrors) {
  const char* base = R"(version: 1
name: x
stages:
  - id: a
    depends_on: [%s]
    checks: [{id: c, type: marker, path: a/.m}]
  - id: b
    depends_on: [a]
    checks: [{id: c, type: marker, path: a/.m}]
)";
  char buf[512];
  std::snprintf(buf, sizeof buf, base, "zzz");
  expect_error(buf, "stage 'a' depends on unknown stage 'zzz'");
  std::snprintf(buf, sizeof buf, base, "a");
  expect_error(buf, "stage 'a' depends on itself");
  std::snprintf(buf, sizeof buf, base, "b");
  expect_error(buf, "stage dependencies form a cycle: a -> b -> a");
}

TEST(SpecLoader, DuplicateIds) {
  expect_error(R"(version: 1
name: x
stages:
  - id: a
    checks:
      - {id: c, type: marker, path: a/.m}
      - {id: c, type: marker, path: a/.n}
)",
               "check id 'a.c' is used twice");
  expect_error(R"(version: 1
name: x
stages:
  - id: a
    checks: [{id: c, type: marker, path: a/.m}]
  - id: a
    checks: [{id: d, type: marker, path: a/.m}]
)",
               "stage id 'a' is used twice");
}

TEST(SpecLoader, AllErrorsAtOnce) {
  auto spec = load(R"(version: 1
name: x
bogus: 1
stages:
  - id: s
    checks:
      - {id: c, type: nope}
      - {id: d, type: json, artifact: a/b.json, conditions: 3}
)");
  ASSERT_FALSE(spec.ok());
  const std::string& m = spec.error().message;
  EXPECT_NE(m.find("unknown key 'bogus'"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown check type 'nope'"), std::string::npos) << m;
  EXPECT_NE(m.find("expected a list of conditions, found integer 3"), std::string::npos) << m;
}

TEST(SpecLoader, LocalPathVar) {
  auto dir = std::filesystem::temp_directory_path();
  const char* text = R"(version: 1
name: x
vars: {baseline: {type: local_path}}
stages:
  - id: s
    checks: [{id: c, type: marker, path: a/.m}]
)";
  auto spec = load(text, {{"baseline", dir.string()}});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->values["baseline"], dir.lexically_normal().string());
  expect_error(
      text, "--var baseline: expected local_path, found \"/no/such/dir\" (no such file or folder)",
      {{"baseline", "/no/such/dir"}});
}

TEST(SpecLoader, SecretVarIsRedacted) {
  auto spec = load(R"(version: 1
name: x
vars: {token: {type: string, secret: true, default: hunter2}}
stages:
  - id: s
    checks: [{id: c, type: marker, path: a/.m}]
)");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->values["token"], "hunter2");
  EXPECT_EQ(spec->redacted_values()["token"], "***");
}

TEST(SpecLoader, BooleanVarIsStrict) {
  const char* text = R"(version: 1
name: x
vars: {strict: {type: boolean, default: true}}
stages:
  - id: s
    checks: [{id: c, type: marker, path: a/.m}]
)";
  expect_error(text, "--var strict: expected boolean, found \"yes\" (write true or false)",
               {{"strict", "yes"}});
  auto spec = load(text, {{"strict", "false"}});
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->values["strict"], false);
}

TEST(SpecLoader, FileErrors) {
  SpecOptions opts;
  opts.registry = &builtins();
  auto spec = load_spec_file("/no/such/spec.yaml", opts);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.error().message.find("/no/such/spec.yaml: cannot read the spec"),
            std::string::npos);
}

TEST(SpecLoader, QuickstartExampleIsValid) {
  SpecOptions opts;
  opts.registry = &builtins();
  opts.vars = {{"scene_id", "kitchen_001"}};
  auto spec =
      load_spec_file(std::string(STAGECHECK_SOURCE_DIR) + "/examples/quickstart/spec.yaml", opts);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->stages.size(), 4u);
}

TEST(SpecLoader, ReadmeExampleIsValid) {
  std::ifstream in(std::string(STAGECHECK_SOURCE_DIR) + "/README.md");
  std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto section = readme.find("## Writing a spec");
  ASSERT_NE(section, std::string::npos);
  auto start = readme.find("```yaml\n", section);
  ASSERT_NE(start, std::string::npos);
  start += 8;
  auto end = readme.find("```", start);
  auto spec = load(readme.substr(start, end - start), {{"scene_id", "kitchen_001"}});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->stages.size(), 2u);
}

TEST(SpecLoader, StringListVarAndNotIn) {
  const char* text = R"(version: 1
name: x
vars:
  scene_id: {type: segment, required: true, not_in: [unknown, none]}
  backends: {type: string_list, default: [isaac_sim, isaac_lab]}
stages:
  - id: s
    checks: [{id: c, type: json, artifact: a/b.json, conditions: ["b in $backends"]}]
)";
  auto spec = load(text, {{"scene_id", "k"}});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->values["backends"], nlohmann::json({"isaac_sim", "isaac_lab"}));
  spec = load(text, {{"scene_id", "k"}, {"backends", "physx, isaac_sim"}});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->values["backends"], nlohmann::json({"physx", "isaac_sim"}));
  expect_error(
      text,
      "--var backends: expected string_list, found \"a,,b\" (write a,b,c with no empty items)",
      {{"scene_id", "k"}, {"backends", "a,,b"}});
  expect_error(text,
               "--var scene_id: expected segment, found \"unknown\" (the value \"unknown\" is "
               "refused (not_in))",
               {{"scene_id", "unknown"}});
}

TEST(SpecLoader, WholeVariableParameters) {
  const char* text = R"(version: 1
name: x
vars:
  mode: {type: string, default: absent}
  n: {type: number, default: 0.5}
stages:
  - id: s
    checks: [{id: c, type: marker, path: a/.m, expect: $mode}]
)";
  auto spec = load(text);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  expect_error(
      text,
      "check 's.c': parameter 'expect': variable 'mode' = \"maybe\" is not one of present, absent",
      {{"mode", "maybe"}});
  expect_error(R"(version: 1
name: x
vars: {n: {type: number, default: 0.5}}
stages:
  - id: s
    checks: [{id: c, type: marker, path: a/.m, expect: $n}]
)",
               "parameter 'expect': variable 'n' (type number) cannot give a string");
  expect_error(R"(version: 1
name: x
stages:
  - id: s
    checks: [{id: c, type: marker, path: a/.m, expect: $nope}]
)",
               "parameter 'expect': uses undeclared variable 'nope'");
}

namespace {

// A check type whose artifact, path and condition parameters all have defaults: the factory
// must see them parsed, exactly as if the spec had written them.
struct DefaultsSeen {
  bool artifact = false;
  std::string artifact_path;
  std::size_t paths = 0;
  std::size_t conditions = 0;
  bool artifact_written = true;
};

Registry& defaults_registry(DefaultsSeen& seen, nlohmann::json artifact_default) {
  static std::unique_ptr<Registry> registry;
  registry = std::make_unique<Registry>();
  CheckInfo info;
  info.type = "with_defaults";
  info.category = "test";
  info.summary = "defaults";
  info.params = {
      {"report", ParamType::artifact, false, std::move(artifact_default), "", {}},
      {"extra",
       ParamType::path_list,
       false,
       nlohmann::json::array({"a/${scene}.json", "b.json"}),
       "",
       {}},
      {"when", ParamType::condition_list, false, nlohmann::json::array({"ok == true"}), "", {}},
  };
  EXPECT_TRUE(registry
                  ->add(
                      info,
                      [&seen](const CheckConfig& c) -> Result<std::unique_ptr<Check>> {
                        const ArtifactRef* ref = c.get_artifact("report");
                        seen.artifact = ref != nullptr;
                        if (ref != nullptr) seen.artifact_path = c.get_string("report");
                        seen.artifact_written = c.has("report");
                        seen.paths = c.get_paths("extra").size();
                        seen.conditions = c.get_conditions("when").size();
                        return make_error(Errc::spec_error, "stop here");
                      },
                      "test")
                  .ok());
  return *registry;
}

const char* const kDefaultsSpec = R"(version: 1
name: d
vars:
  scene: {type: segment, default: s1}
stages:
  - id: s
    checks:
      - id: c
        type: with_defaults
)";

}  // namespace

TEST(SpecLoader, TypedParameterDefaultsAreParsedLikeWrittenValues) {
  DefaultsSeen seen;
  SpecOptions opts;
  opts.registry = &defaults_registry(seen, "reports/quality.json");
  auto spec = load_spec_string(kDefaultsSpec, "spec.yaml", opts);
  ASSERT_FALSE(spec.ok());  // the factory stops the load once it has looked
  EXPECT_NE(spec.error().message.find("stop here"), std::string::npos) << spec.error().message;
  EXPECT_TRUE(seen.artifact);
  EXPECT_EQ(seen.artifact_path, "reports/quality.json");
  EXPECT_FALSE(seen.artifact_written);
  EXPECT_EQ(seen.paths, 2u);
  EXPECT_EQ(seen.conditions, 1u);
}

TEST(SpecLoader, ABadTypedDefaultIsASpecErrorNamingTheParameter) {
  DefaultsSeen seen;
  SpecOptions opts;
  opts.registry = &defaults_registry(seen, 42);
  auto spec = load_spec_string(kDefaultsSpec, "spec.yaml", opts);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.error().message.find("default for 'report'"), std::string::npos)
      << spec.error().message;
  EXPECT_FALSE(seen.artifact);
}
