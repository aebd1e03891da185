#include "stagecheck/runner.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "stagecheck/local_store.hpp"
#include "stagecheck/registry.hpp"

using namespace stagecheck;
namespace fs = std::filesystem;

namespace {

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stagecheck-runner-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_TRUE(register_builtin_checks(registry_).ok());
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(root_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root_, ec);
  }

  void write(const std::string& rel, const std::string& body) {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << body;
  }

  Report run(const std::string& spec_text, std::map<std::string, std::string> vars = {},
             RunOptions options = {}) {
    SpecOptions opts;
    opts.registry = &registry_;
    opts.vars = std::move(vars);
    auto spec = load_spec_string(spec_text, "spec.yaml", opts);
    EXPECT_TRUE(spec.ok()) << (spec ? "" : spec.error().message);
    if (!spec) return {};
    spec_ = std::make_unique<Spec>(std::move(*spec));
    auto store = open_local_store(root_);
    EXPECT_TRUE(store.ok());
    store_ = std::move(*store);
    Runner runner(*spec_, *store_, options);
    return runner.run();
  }

  static const CheckResult& result(const Report& r, const std::string& id) {
    for (const auto& c : r.results) {
      if (c.id == id) return c;
    }
    static CheckResult none;
    ADD_FAILURE() << "no result " << id;
    return none;
  }

  static std::string one_json_check(const std::string& path, const std::string& condition) {
    return "version: 1\nname: t\nstages:\n  - id: s\n    checks:\n      - id: c\n        type: "
           "json\n"
           "        artifact: " +
           path + "\n        conditions: ['" + condition + "']\n";
  }

  fs::path root_;
  Registry registry_;
  std::unique_ptr<Spec> spec_;
  std::unique_ptr<Store> store_;
};

}  // namespace

TEST_F(RunnerTest, PassingJsonCheckRecordsObservedAndArtifacts) {
  write("r/report.json", R"({"summary": {"pass_rate": 0.93}})");
  Report r = run(one_json_check("r/report.json", "summary.pass_rate >= 0.9"));
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::pass) << c.message;
  EXPECT_EQ(c.observed["summary.pass_rate >= 0.9"], 0.93);
  EXPECT_EQ(c.artifacts, std::vector<std::string>{"r/report.json"});
  EXPECT_EQ(r.exit_code, ExitCode::pass);
}

TEST_F(RunnerTest, ThresholdViolationFails) {
  write("r/report.json", R"({"summary": {"pass_rate": 0.85}})");
  Report r = run(one_json_check("r/report.json", "summary.pass_rate >= 0.9"));
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.message.find("r/report.json"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("0.85"), std::string::npos) << c.message;
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, StringFalseIsNotABoolean) {
  write("r/report.json", R"({"ok": "false"})");
  Report r = run(one_json_check("r/report.json", "ok == false"));
  EXPECT_EQ(result(r, "s.c").status, Status::fail);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, MissingArtifactFailsNamingIt) {
  Report r = run(one_json_check("r/nope.json", "x == 1"));
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_EQ(c.message, "'r/nope.json' is missing");
  EXPECT_EQ(c.artifacts, std::vector<std::string>{"r/nope.json"});
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, TruncatedJsonFails) {
  write("r/report.json", R"({"summary": {"pass_rate": 0.9)");
  Report r = run(one_json_check("r/report.json", "summary.pass_rate >= 0.9"));
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.message.find("malformed JSON"), std::string::npos) << c.message;
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, DeepNestingFailsWithoutCrashing) {
  write("r/deep.json", std::string(100000, '[') + std::string(100000, ']'));
  Report r = run(one_json_check("r/deep.json", "x == 1"));
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.message.find("nested deeper than"), std::string::npos) << c.message;
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, OversizedArtifactFails) {
  write("r/big.json", "{\"x\": \"" + std::string(4096, 'a') + "\"}");
  RunOptions opts;
  opts.limits.max_bytes = 1024;
  Report r = run(one_json_check("r/big.json", "x == 1"), {}, opts);
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.message.find("over the read cap of 1024 bytes"), std::string::npos) << c.message;
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, SymlinkOutOfRootFails) {
  char outside_tmpl[] = "/tmp/stagecheck-outside-XXXXXX";
  ASSERT_NE(mkdtemp(outside_tmpl), nullptr);
  fs::path outside = outside_tmpl;
  std::ofstream(outside / "secret.json") << R"({"x": 1})";
  fs::create_directories(root_ / "r");
  fs::create_symlink(outside / "secret.json", root_ / "r/link.json");
  Report r = run(one_json_check("r/link.json", "x == 1"));
  fs::remove_all(outside);
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.message.find("outside the root"), std::string::npos) << c.message;
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, NanLiteralInJsonIsMalformed) {
  write("r/report.json", R"({"summary": {"pass_rate": NaN}})");
  Report r = run(one_json_check("r/report.json", "summary.pass_rate >= 0.9"));
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.message.find("malformed JSON"), std::string::npos) << c.message;
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, NanAndInfinityInYamlFail) {
  write("r/metrics.yaml", "pass_rate: .nan\nscore: .inf\n");
  const char* spec = R"(version: 1
name: t
stages:
  - id: s
    checks:
      - {id: nan, type: json, artifact: r/metrics.yaml, conditions: ["pass_rate >= 0.9"]}
      - {id: inf, type: json, artifact: r/metrics.yaml, conditions: ["score <= 1.0"]}
      - {id: ne, type: json, artifact: r/metrics.yaml, conditions: ["pass_rate != 0.5"]}
)";
  Report r = run(spec);
  for (const char* id : {"s.nan", "s.inf", "s.ne"}) {
    const auto& c = result(r, id);
    EXPECT_EQ(c.status, Status::fail) << id << ": " << c.message;
  }
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, WrongTypeFails) {
  write("r/m.json", R"({"quality": {"threshold": "0.85"}})");
  Report r = run(one_json_check("r/m.json", "quality.threshold == 0.85"));
  EXPECT_EQ(result(r, "s.c").status, Status::fail);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, UnreadableIsErrorNotAbsent) {
  write("r/report.json", R"({"x": 1})");
  fs::permissions(root_ / "r/report.json", fs::perms::none);
  // Root ignores file modes, so read as 'nobody' for the duration of the run.
  fs::permissions(root_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  fs::permissions(root_ / "r",
                  fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  bool dropped = false;
  if (geteuid() == 0) {
    ASSERT_EQ(seteuid(65534), 0);
    dropped = true;
  }
  RunOptions opts;
  opts.jobs = 1;
  SpecOptions sopts;
  sopts.registry = &registry_;
  auto spec = load_spec_string(one_json_check("r/report.json", "x == 1"), "spec.yaml", sopts);
  auto store = open_local_store(root_);
  Report r;
  if (spec && store) r = Runner(*spec, **store, opts).run();
  if (dropped) {
    ASSERT_EQ(seteuid(0), 0);
  }
  ASSERT_TRUE(spec.ok() && store.ok());
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::error) << c.message;
  EXPECT_EQ(r.exit_code, ExitCode::no_verdict);
}

TEST_F(RunnerTest, DependentOfFailedStageIsBlocked) {
  const char* spec = R"(version: 1
name: t
stages:
  - id: a
    checks: [{id: m, type: marker, path: a/.done}]
  - id: b
    depends_on: [a]
    checks: [{id: m, type: marker, path: b/.done}]
  - id: c
    depends_on: [b]
    checks: [{id: m, type: marker, path: c/.done}]
)";
  write("b/.done", "{}");
  write("c/.done", "{}");
  Report r = run(spec);
  EXPECT_EQ(result(r, "a.m").status, Status::fail);
  EXPECT_EQ(result(r, "b.m").status, Status::blocked);
  EXPECT_EQ(result(r, "b.m").message, "stage 'b' blocked: depends on 'a', which failed");
  EXPECT_EQ(result(r, "c.m").status, Status::blocked);
  EXPECT_EQ(r.stages[2].reason, "depends on 'b', which is blocked (depends on 'a', which failed)");
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

const char* const kSkipSpec = R"(version: 1
name: t
artifacts:
  config: {path: cfg/config.json, optional: true}
stages:
  - id: export
    skip_if: {artifact: config, condition: "use_geniesim == false"}
    checks: [{id: m, type: marker, path: g/.complete}]
  - id: import
    depends_on: [export]
    checks: [{id: m, type: marker, path: g/.import_complete}]
  - id: other
    checks: [{id: m, type: marker, path: o/.done}]
)";

TEST_F(RunnerTest, SkipIfHoldsSkipsStageAndDependents) {
  write("cfg/config.json", R"({"use_geniesim": false})");
  write("o/.done", "{}");
  Report r = run(kSkipSpec);
  EXPECT_EQ(result(r, "export.m").status, Status::skipped);
  EXPECT_EQ(result(r, "import.m").status, Status::skipped);
  EXPECT_NE(r.stages[1].reason.find(
                "depends on 'export', which was skipped: skip_if holds on cfg/config.json"),
            std::string::npos)
      << r.stages[1].reason;
  EXPECT_EQ(result(r, "other.m").status, Status::pass);
  EXPECT_EQ(r.exit_code, ExitCode::pass);
}

TEST_F(RunnerTest, SkipIfWithAbsentConfigRuns) {
  write("g/.complete", "{}");
  write("g/.import_complete", "{}");
  write("o/.done", "{}");
  Report r = run(kSkipSpec);
  EXPECT_EQ(result(r, "export.m").status, Status::pass);
  EXPECT_EQ(result(r, "import.m").status, Status::pass);
  EXPECT_EQ(r.exit_code, ExitCode::pass);
}

TEST_F(RunnerTest, SkipIfWithStringFalseFails) {
  write("cfg/config.json", R"({"use_geniesim": "false"})");
  write("g/.complete", "{}");
  write("g/.import_complete", "{}");
  write("o/.done", "{}");
  Report r = run(kSkipSpec);
  const auto& row = result(r, "export.skip_if");
  EXPECT_EQ(row.status, Status::fail);
  EXPECT_NE(row.message.find("skip_if cannot be decided"), std::string::npos) << row.message;
  EXPECT_EQ(result(r, "import.m").status, Status::blocked);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, SkipIfWithUnparsableConfigFails) {
  write("cfg/config.json", R"({"use_geniesim": fal)");
  Report r = run(kSkipSpec);
  EXPECT_EQ(result(r, "export.skip_if").status, Status::fail);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, SkipIfWithoutTheFieldRuns) {
  write("cfg/config.json", R"({"scene_id": "x"})");
  write("g/.complete", "{}");
  write("g/.import_complete", "{}");
  write("o/.done", "{}");
  Report r = run(kSkipSpec);
  EXPECT_EQ(result(r, "export.m").status, Status::pass);
}

TEST_F(RunnerTest, NothingEvaluatedIsNoVerdict) {
  write("cfg/config.json", R"({"use_geniesim": false})");
  const char* spec = R"(version: 1
name: t
artifacts:
  config: {path: cfg/config.json}
stages:
  - id: export
    skip_if: {artifact: config, condition: "use_geniesim == false"}
    checks: [{id: m, type: marker, path: g/.complete}]
)";
  Report r = run(spec);
  EXPECT_EQ(r.summary.evaluated(), 0u);
  EXPECT_EQ(r.exit_code, ExitCode::no_verdict);
}

TEST_F(RunnerTest, WarningSeverityWarns) {
  write("r/x.json", R"({"x": 1})");
  const char* spec = R"(version: 1
name: t
stages:
  - id: s
    checks: [{id: c, type: json, artifact: r/x.json, severity: warning, conditions: ["x == 2"]}]
)";
  Report r = run(spec);
  EXPECT_EQ(result(r, "s.c").status, Status::warn);
  EXPECT_EQ(r.exit_code, ExitCode::pass);
  RunOptions strict;
  strict.fail_on_warn = true;
  Report r2 = run(spec, {}, strict);
  EXPECT_EQ(r2.exit_code, ExitCode::fail);
}

TEST_F(RunnerTest, ArtifactFieldBuildsPathAndInjectionFails) {
  write("scenes/k/geniesim/job.json", R"({"job_id": "j1"})");
  write("scenes/k/episodes/geniesim_j1/import_manifest.json",
        R"({"episodes": {"passed_validation": 3}})");
  const char* spec = R"(version: 1
name: t
vars: {scene_id: {type: segment, required: true}}
artifacts:
  job: scenes/${scene_id}/geniesim/job.json
  manifest: scenes/${scene_id}/episodes/geniesim_${@job.job_id}/import_manifest.json
stages:
  - id: s
    checks: [{id: c, type: json, artifact: manifest, conditions: ["episodes.passed_validation > 0"]}]
)";
  Report r = run(spec, {{"scene_id", "k"}});
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::pass) << c.message;
  EXPECT_EQ(c.artifacts,
            (std::vector<std::string>{"scenes/k/episodes/geniesim_j1/import_manifest.json",
                                      "scenes/k/geniesim/job.json"}));
  write("scenes/k/geniesim/job.json", R"({"job_id": "../../../etc"})");
  Report bad = run(spec, {{"scene_id", "k"}});
  const auto& b = result(bad, "s.c");
  EXPECT_EQ(b.status, Status::fail);
  EXPECT_NE(b.message.find("is not a single path segment"), std::string::npos) << b.message;
  write("scenes/k/geniesim/job.json", R"({"status": "done"})");
  Report missing = run(spec, {{"scene_id", "k"}});
  EXPECT_NE(result(missing, "s.c").message.find("cannot be built"), std::string::npos);
}

TEST_F(RunnerTest, InputMarkersAndExpectsAreNamed) {
  const char* spec = R"(version: 1
name: t
stages:
  - id: s
    inputs: [in/.trigger]
    expects: [out/.complete]
)";
  write("out/.complete", "{}");
  Report r = run(spec);
  EXPECT_EQ(result(r, "s.inputs[0]").status, Status::fail);
  EXPECT_EQ(result(r, "s.inputs[0]").message, "'in/.trigger' is missing");
  EXPECT_EQ(result(r, "s.expects[0]").status, Status::pass);
}

TEST_F(RunnerTest, MarkerAbsentAndPayload) {
  write("e/.failed", R"({"status": "failed", "error": {"message": "boom"}})");
  write("g/.complete", R"({"status": "running"})");
  const char* spec = R"(version: 1
name: t
stages:
  - id: s
    checks:
      - {id: nofail, type: marker, path: e/.failed, expect: absent}
      - {id: done, type: marker, path: g/.complete, conditions: ['status == "completed"']}
      - {id: absent_ok, type: marker, path: x/.failed, expect: absent}
)";
  Report r = run(spec);
  EXPECT_EQ(result(r, "s.nofail").status, Status::fail);
  EXPECT_NE(result(r, "s.nofail").details.dump().find("boom"), std::string::npos);
  EXPECT_EQ(result(r, "s.done").status, Status::fail);
  EXPECT_EQ(result(r, "s.absent_ok").status, Status::pass);
}

TEST_F(RunnerTest, ResultsComeInSpecOrderWithManyJobs) {
  std::string spec = "version: 1\nname: t\nstages:\n";
  for (int s = 0; s < 6; ++s) {
    spec += "  - id: s" + std::to_string(s) + "\n    checks:\n";
    for (int c = 0; c < 10; ++c) {
      spec += "      - {id: c" + std::to_string(c) + ", type: marker, path: m/" +
              std::to_string(c) + "}\n";
    }
  }
  for (int c = 0; c < 10; c += 2) write("m/" + std::to_string(c), "{}");
  RunOptions opts;
  opts.jobs = 4;
  Report r = run(spec, {}, opts);
  ASSERT_EQ(r.results.size(), 60u);
  for (int s = 0; s < 6; ++s) {
    for (int c = 0; c < 10; ++c) {
      const auto& res = r.results[static_cast<std::size_t>(s * 10 + c)];
      EXPECT_EQ(res.id, "s" + std::to_string(s) + ".c" + std::to_string(c));
      EXPECT_EQ(res.status, c % 2 == 0 ? Status::pass : Status::fail);
    }
  }
}

TEST_F(RunnerTest, InterruptedRunIsNoVerdict) {
  write("m/.a", "{}");
  std::atomic<bool> cancel{true};
  RunOptions opts;
  opts.cancel = &cancel;
  Report r = run(
      "version: 1\nname: t\nstages:\n  - id: s\n    checks: [{id: c, type: marker, path: m/.a}]\n",
      {}, opts);
  EXPECT_TRUE(r.interrupted);
  EXPECT_EQ(result(r, "s.c").status, Status::error);
  EXPECT_EQ(r.exit_code, ExitCode::no_verdict);
}

namespace {
class ThrowingCheck final : public Check {
 public:
  CheckOutcome run(CheckContext&) const override { throw std::runtime_error("kaboom"); }
};
}  // namespace

TEST_F(RunnerTest, ThrowingCheckBecomesError) {
  CheckInfo info;
  info.type = "throws";
  ASSERT_TRUE(registry_
                  .add(
                      info,
                      [](const CheckConfig&) -> Result<std::unique_ptr<Check>> {
                        return std::unique_ptr<Check>(std::make_unique<ThrowingCheck>());
                      },
                      "test")
                  .ok());
  Report r = run("version: 1\nname: t\nstages:\n  - id: s\n    checks: [{id: c, type: throws}]\n");
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::error);
  EXPECT_EQ(c.message, "check 's.c' (type throws) threw an exception: kaboom");
  EXPECT_EQ(r.exit_code, ExitCode::no_verdict);
}

TEST_F(RunnerTest, DuplicateRegistrationNamesBothOwners) {
  CheckInfo info;
  info.type = "marker";
  auto r = registry_.add(
      info,
      [](const CheckConfig&) -> Result<std::unique_ptr<Check>> {
        return make_error(Errc::internal, "x");
      },
      "plugin libfoo.so (foo 1.0)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.error().message,
      "check type 'marker' is registered twice: by built-in and by plugin libfoo.so (foo 1.0)");
}

TEST_F(RunnerTest, InListVariable) {
  write("r/v.json", R"({"episodes": [{"b": "isaac_sim"}, {"b": "heuristic"}]})");
  const char* spec = R"SPEC(version: 1
name: t
vars:
  backends: {type: string_list, default: [isaac_sim, isaac_lab]}
stages:
  - id: s
    checks:
      - {id: c, type: json, artifact: r/v.json, conditions: ["all(episodes[*].b in $backends)"]}
)SPEC";
  Report r = run(spec);
  const auto& c = result(r, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.message.find("episodes[1].b = \"heuristic\""), std::string::npos) << c.message;
  Report ok = run(spec, {{"backends", "isaac_sim,heuristic"}});
  EXPECT_EQ(result(ok, "s.c").status, Status::pass) << result(ok, "s.c").message;
}
