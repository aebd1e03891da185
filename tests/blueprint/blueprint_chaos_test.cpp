// The chaos invariant (--chaos RATE --seed S): on the example scene and on failing variants,
// over hundreds of seeds, the verdict under injected store faults is the clean run's verdict
// or "could not be evaluated" (exit 3): never PASS where the clean run does not pass, never a
// failure the clean run does not have (a fault blamed on the data). At rate 1.0 it is 3.

#include <gtest/gtest.h>

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
namespace fs = std::filesystem;
using namespace stagecheck;

namespace {

const std::string kSource = STAGECHECK_SOURCE_DIR;
const std::string kSpec = kSource + "/examples/blueprint/production_e2e.yaml";
const std::string kScene = kSource + "/examples/blueprint/scene";

struct Verdict {
  ExitCode code = ExitCode::usage;
  std::set<std::string> failed;
  std::uint64_t injected = 0, exhausted = 0;
};

Verdict run(const fs::path& root, std::optional<ChaosOptions> chaos, unsigned jobs = 2,
            std::vector<std::string>* faults = nullptr) {
  RunRequest req;
  req.spec_file = kSpec;
  req.vars = {{"scene_id", "kitchen_001"}, {"job_env", kSource + "/examples/blueprint/job.env"}};
  req.root = root;
  req.plugin_dirs = {STAGECHECK_PLUGIN_BUILD_DIR};
  req.load_default_plugins = false;
  req.options.jobs = jobs;
  req.chaos = chaos;
  RunOutcome out = run_spec(req);
  Verdict v;
  v.code = out.exit_code;
  EXPECT_TRUE(out.report.has_value()) << out.error;
  if (!out.report) return v;
  for (const auto& r : out.report->results) {
    if (r.status == Status::fail) v.failed.insert(r.id);
  }
  if (out.report->chaos) {
    v.injected = out.report->chaos->injected;
    v.exhausted = out.report->chaos->exhausted;
    for (const auto& f : out.report->chaos->faults) {
      if (faults != nullptr) {
        faults->push_back(
            fmt::format("{} {} {} {} {}", f.op, f.path, f.kind, f.attempt, f.outcome));
      }
    }
  }
  return v;
}

std::string show(const std::set<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += id + " ";
  return s;
}

class ChaosInvariant : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    variants_ = std::make_unique<st::ScratchDir>();
    ASSERT_EQ(std::system(("python3 '" + kSource + "/examples/blueprint/derive_failures.py' '" +
                           kScene + "' '" + variants_->path().string() + "' >/dev/null")
                              .c_str()),
              0);
  }
  static void TearDownTestSuite() { variants_.reset(); }
  static fs::path root(const std::string& variant) {
    return variant == "good" ? fs::path(kScene) : variants_->path() / variant;
  }
  static std::unique_ptr<st::ScratchDir> variants_;
};

std::unique_ptr<st::ScratchDir> ChaosInvariant::variants_;

}  // namespace

TEST_P(ChaosInvariant, VerdictIsTheCleanOneOrNoVerdict) {
  const fs::path dir = root(GetParam());
  const Verdict clean = run(dir, std::nullopt);
  ASSERT_NE(clean.code, ExitCode::usage);
  ASSERT_NE(clean.code, ExitCode::no_verdict) << "the clean run must reach a verdict";
  std::size_t seeds = 0, same = 0, no_verdict = 0, with_faults = 0, reached_checks = 0;
  // 200 seeds at rate 0.2 on the good run and on the scenes with the most decisions (a
  // threshold failure; the certificate fallback), 60 on the others; fewer at 0.05 and 0.5.
  const std::string& scene = GetParam();
  const bool deep =
      scene == "good" || scene == "low_pass_rate" || scene == "no_gate_certificates_ok";
  for (double rate : {0.05, 0.2, 0.5}) {
    const unsigned n = rate == 0.2 ? (deep ? 200 : 60) : 20;
    for (std::uint64_t seed = 1; seed <= n; ++seed) {
      ChaosOptions o;
      o.rate = rate;
      o.seed = seed;
      const Verdict v = run(dir, o);
      ++seeds;
      with_faults += v.injected > 0;
      reached_checks += v.exhausted > 0;
      const std::string where =
          fmt::format("{} --chaos {} --seed {}: clean exit {} [{}], chaos exit {} [{}]", GetParam(),
                      rate, seed, static_cast<int>(clean.code), show(clean.failed),
                      static_cast<int>(v.code), show(v.failed));
      ASSERT_TRUE(v.code == clean.code || v.code == ExitCode::no_verdict) << where;
      // Never a failure the data does not have.
      for (const auto& id : v.failed) {
        ASSERT_TRUE(clean.failed.count(id) != 0) << where << ": " << id;
      }
      // Nothing reached a check: exactly the clean run's verdict and failures.
      if (v.exhausted == 0) {
        ASSERT_EQ(v.code, clean.code) << where;
        ASSERT_EQ(v.failed, clean.failed) << where;
      }
      same += v.code == clean.code;
      no_verdict += v.code == ExitCode::no_verdict;
    }
  }
  // The test must have exercised both outcomes, or it proves nothing.
  EXPECT_GT(with_faults, seeds * 9 / 10);
  EXPECT_GT(reached_checks, 10u);
  EXPECT_GT(same, 10u);
  // A failure takes precedence over "no verdict", so only a passing scene must show many.
  EXPECT_GT(no_verdict, clean.code == ExitCode::pass ? 10u : 0u);
  // Rate 1.0: every request faults; nothing can be evaluated from the store.
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    ChaosOptions o;
    o.rate = 1.0;
    o.seed = seed;
    const Verdict v = run(dir, o);
    EXPECT_EQ(v.code, ExitCode::no_verdict) << GetParam() << " seed " << seed;
    EXPECT_TRUE(v.failed.empty()) << show(v.failed);
  }
}

// The good run; failures of a threshold, a marker, mock detection, the gate, and the scenes
// where the certificate fallback decides (it may only fall back on a true absence).
INSTANTIATE_TEST_SUITE_P(Scenes, ChaosInvariant,
                         ::testing::Values("good", "low_pass_rate", "missing_dwm_complete",
                                           "dev_only_fallback", "gate_blocked",
                                           "no_gate_certificates_ok",
                                           "no_gate_certificate_testing"));

TEST(Chaos, TheSameSeedInjectsTheSameFaultsInTheSameOrder) {
  // With one job the order of requests is fixed, so the same seed gives the same faults, in
  // the same order, on the same paths; another seed gives others.
  ChaosOptions o;
  o.rate = 0.3;
  o.seed = 7;
  std::vector<std::string> fa, fb, fc;
  const Verdict a = run(kScene, o, 1, &fa);
  const Verdict b = run(kScene, o, 1, &fb);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.failed, b.failed);
  EXPECT_EQ(fa, fb);
  EXPECT_GT(fa.size(), 0u);
  o.seed = 8;
  run(kScene, o, 1, &fc);
  EXPECT_NE(fa, fc);
}

TEST(Chaos, TheDriverReportsEveryFault) {
  st::ScratchDir dir;
  st::DriverRun r = st::run_driver(
      "run '" + kSpec + "' --root '" + kScene + "' --var scene_id=kitchen_001 --chaos 0.2 " +
      "--seed 4 --report-json '" + (dir / "r.json").string() + "' --quiet");
  ASSERT_TRUE(r.code == 0 || r.code == 3) << r.err << r.out;
  nlohmann::json report = nlohmann::json::parse(st::slurp(dir / "r.json"));
  const auto& c = report["chaos"];
  EXPECT_EQ(c["seed"], 4);
  EXPECT_EQ(c["rate"], 0.2);
  EXPECT_GT(c["injected"].get<int>(), 0);
  EXPECT_EQ(c["faults"].size(), c["injected"].get<std::size_t>());
  for (const auto& f : c["faults"]) {
    EXPECT_TRUE(f["outcome"] == "retried" || f["outcome"] == "exhausted" ||
                f["outcome"] == "not_retryable")
        << f;
    EXPECT_FALSE(f["path"].get<std::string>().empty());
  }
  EXPECT_NE(r.out.find("Chaos (--chaos 0.2 --seed 4, 2 retries)"), std::string::npos) << r.out;
  // Usage errors.
  EXPECT_EQ(st::run_driver("run '" + kSpec + "' --chaos 0.2").code, 2);
  EXPECT_EQ(st::run_driver("run '" + kSpec + "' --chaos 1.5 --seed 1").code, 2);
  EXPECT_EQ(st::run_driver("run '" + kSpec + "' --seed 1").code, 2);
}
