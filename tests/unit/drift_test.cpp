// The `drift` check: spec validation, the runner's final phase, and every verdict, against an
// in-memory History (a test double of the interface in include/stagecheck/history.hpp).

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>

#include <fmt/format.h>

#include "stagecheck/history.hpp"
#include "stagecheck/local_store.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/runner.hpp"

using namespace stagecheck;
namespace fs = std::filesystem;

namespace {

// Runs in memory, newest last; observations() answers newest first and remembers what it was
// asked.
class MemoryHistory final : public History {
 public:
  struct Obs {
    std::string key, run_id, check_id;
    Status status;
    nlohmann::json observed;
  };

  std::string describe() const override { return "memory"; }
  Result<void> record(const Report& report) override {
    std::lock_guard lock(mutex_);
    const std::string key = history_key(report.spec_name, report.vars);
    for (const auto& r : report.results) {
      obs_.push_back({key, report.run_id, r.id, r.status, r.observed});
    }
    return {};
  }
  Result<std::vector<HistoryRun>> list(const HistoryQuery&) const override {
    return std::vector<HistoryRun>{};
  }
  Result<nlohmann::json> report(std::string_view) const override {
    return make_error(Errc::not_found, "not kept");
  }
  Result<std::vector<PastObservation>> observations(std::string_view key, std::string_view check_id,
                                                    std::size_t limit) const override {
    std::lock_guard lock(mutex_);
    ++calls_;
    last_limit_ = limit;
    last_key_ = std::string(key);
    last_check_ = std::string(check_id);
    if (fail_reads_) return make_error(Errc::io_error, "database is locked");
    std::vector<PastObservation> out;
    for (auto it = obs_.rbegin(); it != obs_.rend(); ++it) {
      if (it->key != key || it->check_id != check_id) continue;
      if (limit != 0 && out.size() == limit) break;
      out.push_back({it->run_id, "2026-01-01T00:00:00Z", it->status, it->observed});
    }
    return out;
  }
  Result<std::size_t> prune(const Retention&) override { return std::size_t{0}; }

  void add_run(const std::string& key, const std::string& run_id, const std::string& check_id,
               Status status, nlohmann::json observed) {
    std::lock_guard lock(mutex_);
    obs_.push_back({key, run_id, check_id, status, std::move(observed)});
  }

  void add(const std::string& key, const std::string& check_id, Status status,
           nlohmann::json observed) {
    std::lock_guard lock(mutex_);
    obs_.push_back(
        {key, fmt::format("run{:02}", obs_.size()), check_id, status, std::move(observed)});
  }

  bool fail_reads_ = false;
  mutable std::size_t calls_ = 0, last_limit_ = 0;
  mutable std::string last_key_, last_check_;

 private:
  mutable std::mutex mutex_;
  std::vector<Obs> obs_;
};

// A test check type `emit`: passes (or returns `status`) with `observed` as given; `nan: true`
// puts a NaN at /pass_rate. Lets a test choose exactly what the measured check observed.
class EmitCheck final : public Check {
 public:
  EmitCheck(Status status, nlohmann::json observed)
      : status_(status), observed_(std::move(observed)) {}
  CheckOutcome run(CheckContext&) const override {
    CheckOutcome out = CheckOutcome::make(status_, fmt::format("emitted {}", observed_.dump()));
    out.observed = observed_;
    return out;
  }

 private:
  Status status_;
  nlohmann::json observed_;
};

void register_emit(Registry& registry) {
  CheckInfo info;
  info.type = "emit";
  info.category = "test";
  info.summary = "Emits an observed value.";
  info.params = {{"observed", ParamType::any, false, nullptr, "", {}},
                 {"status", ParamType::string, false, "pass", "", {}},
                 {"nan", ParamType::boolean, false, false, "", {}}};
  auto ok = registry.add(
      info,
      [](const CheckConfig& c) -> Result<std::unique_ptr<Check>> {
        nlohmann::json observed = c.get_json("observed");
        if (c.get_bool("nan")) observed = {{"pass_rate", std::nan("")}};
        return std::unique_ptr<Check>(std::make_unique<EmitCheck>(
            parse_status(c.get_string("status")).value_or(Status::error), observed));
      },
      "test");
  ASSERT_TRUE(ok.ok());
}

const char* kSpecHead = "version: 1\nname: drift_t\n";

// One stage `quality` with the measured check `gate` (emit) and a drift check `d`.
std::string spec_with(const std::string& gate_observed, const std::string& drift_params,
                      const std::string& gate_extra = "") {
  return fmt::format(
      "{}stages:\n"
      "  - id: quality\n"
      "    checks:\n"
      "      - id: gate\n"
      "        type: emit\n"
      "        observed: {}\n{}"
      "      - id: d\n"
      "        type: drift\n"
      "        metric: quality.gate\n"
      "{}",
      kSpecHead, gate_observed, gate_extra, drift_params);
}

class DriftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stagecheck-drift-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_TRUE(register_builtin_checks(registry_).ok());
    register_emit(registry_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  Result<Spec> load(const std::string& text) {
    SpecOptions opts;
    opts.registry = &registry_;
    return load_spec_string(text, "spec.yaml", opts);
  }

  // The key this spec's runs are recorded under.
  std::string key() const { return history_key("drift_t", nlohmann::json::object()); }

  // Plants earlier observations of quality.gate, oldest first.
  void plant(std::initializer_list<double> values, const std::string& check = "quality.gate") {
    for (double v : values) history_.add(key(), check, Status::pass, {{"pass_rate", v}});
  }

  Report run(const std::string& text, RunOptions options = {}, bool with_history = true) {
    auto spec = load(text);
    EXPECT_TRUE(spec.ok()) << (spec ? "" : spec.error().message);
    if (!spec) return {};
    spec_ = std::make_unique<Spec>(std::move(*spec));
    auto store = open_local_store(root_);
    EXPECT_TRUE(store.ok());
    store_ = std::move(*store);
    if (with_history) options.history = &history_;
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
  static const StageResult& stage(const Report& r, const std::string& id) {
    for (const auto& s : r.stages) {
      if (s.id == id) return s;
    }
    static StageResult none;
    ADD_FAILURE() << "no stage " << id;
    return none;
  }

  fs::path root_;
  Registry registry_;
  MemoryHistory history_;
  std::unique_ptr<Spec> spec_;
  std::unique_ptr<Store> store_;
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

// ---- spec validation ------------------------------------------------------------------------

TEST_F(DriftTest, ValidSpecLoadsAndRecordsWhatItMeasures) {
  auto spec = load(spec_with("{pass_rate: 0.9}",
                             "        value: /pass_rate\n"
                             "        max_rel_change: 0.1\n"));
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->stages[0].checks[1].measures, "quality.gate");
  EXPECT_TRUE(spec->stages[0].checks[0].measures.empty());
}

TEST_F(DriftTest, SpecErrorsCarryFileLineColumn) {
  struct Case {
    std::string params;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"        max_abs_change: 0.1\n", ""},  // control: valid
      {"",
       "spec.yaml:9:9: check 'quality.d': max_abs_change: a drift check needs at least one "
       "bound"},
      {"        max_abs_change: -0.1\n",
       "spec.yaml:12:25: check 'quality.d': max_abs_change: expected a finite number >= 0, "
       "found -0.1"},
      {"        max_zscore: .nan\n", "max_zscore': expected a finite number"},
      {"        max_rel_change: 0.1\n        window: 0\n",
       "window: expected 1..10000 runs, found 0"},
      {"        max_rel_change: 0.1\n        min_history: 0\n",
       "min_history: expected 1..window (10), found 0"},
      {"        max_rel_change: 0.1\n        window: 3\n        min_history: 4\n",
       "min_history: expected 1..window (3), found 4"},
      {"        max_rel_change: 0.1\n        baseline: average\n", "baseline"},
      {"        max_rel_change: 0.1\n        direction: down\n", "direction"},
      {"        max_rel_change: 0.1\n        value: \"/pass_rate~2\"\n",
       "value: expected a JSON pointer"},
  };
  for (const auto& c : cases) {
    auto spec = load(spec_with("{pass_rate: 0.9}", c.params));
    if (c.expected.empty()) {
      EXPECT_TRUE(spec.ok()) << spec.error().message;
      continue;
    }
    ASSERT_FALSE(spec.ok()) << c.params;
    EXPECT_EQ(spec.error().code, Errc::spec_error);
    EXPECT_TRUE(has(spec.error().message, c.expected)) << c.params << "\n" << spec.error().message;
  }
}

TEST_F(DriftTest, MetricMustNameANonDriftCheck) {
  auto unknown =
      load(fmt::format("{}stages:\n  - id: q\n    checks:\n"
                       "      - {{id: gate, type: emit, observed: 1}}\n"
                       "      - id: d\n        type: drift\n"
                       "        metric: q.nope\n        max_abs_change: 1\n",
                       kSpecHead));
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(has(unknown.error().message,
                  "spec.yaml:9:17: check 'q.d': metric: names no check of this spec: \"q.nope\""))
      << unknown.error().message;
  EXPECT_TRUE(has(unknown.error().message, "q.gate")) << unknown.error().message;

  auto drift_of_drift =
      load(fmt::format("{}stages:\n  - id: q\n    checks:\n"
                       "      - {{id: gate, type: emit, observed: 1}}\n"
                       "      - {{id: d1, type: drift, metric: q.gate, "
                       "max_abs_change: 1}}\n"
                       "      - {{id: d2, type: drift, metric: q.d1, "
                       "max_abs_change: 1}}\n",
                       kSpecHead));
  ASSERT_FALSE(drift_of_drift.ok());
  EXPECT_TRUE(
      has(drift_of_drift.error().message, "check 'q.d2': metric: \"q.d1\" is a drift check"))
      << drift_of_drift.error().message;

  auto bare =
      load(fmt::format("{}stages:\n  - id: q\n    checks:\n"
                       "      - {{id: gate, type: emit, observed: 1}}\n"
                       "      - {{id: d, type: drift, metric: gate, max_abs_change: 1}}\n",
                       kSpecHead));
  ASSERT_FALSE(bare.ok());
  EXPECT_TRUE(has(bare.error().message, "metric: expected a check id \"<stage>.<check>\""))
      << bare.error().message;
}

TEST_F(DriftTest, DriftCannotBeASnapshotProbe) {
  auto spec =
      load(fmt::format("{}stages:\n  - id: q\n    checks:\n"
                       "      - {{id: gate, type: emit, observed: 1}}\n"
                       "    snapshots:\n"
                       "      - id: s\n"
                       "        probe: {{type: drift, metric: q.gate, max_abs_change: 1}}\n"
                       "        value: a\n        expect: \"delta == 0\"\n",
                       kSpecHead));
  ASSERT_FALSE(spec.ok());
  EXPECT_TRUE(has(spec.error().message, "a drift check cannot be a snapshot's probe"))
      << spec.error().message;
}

// ---- verdicts -----------------------------------------------------------------------------

TEST_F(DriftTest, WithinBoundsPasses) {
  plant({0.88, 0.90, 0.86, 0.88, 0.88});
  Report r = run(spec_with("{pass_rate: 0.87}",
                           "        value: /pass_rate\n"
                           "        max_abs_change: 0.05\n"
                           "        max_rel_change: 0.10\n"
                           "        max_zscore: 3\n"));
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::pass) << d.message;
  EXPECT_EQ(d.observed["value"], 0.87);
  EXPECT_DOUBLE_EQ(d.observed["baseline"].get<double>(), 0.88);
  EXPECT_EQ(d.observed["history_count"], 5);
  EXPECT_TRUE(d.observed["zscore"].is_number());
  EXPECT_EQ(d.expected["max_abs_change"], 0.05);
  EXPECT_EQ(d.expected["direction"], "both");
  ASSERT_EQ(d.details["runs"].size(), 5u);
  EXPECT_EQ(d.details["runs"][0]["run_id"], "run04");  // newest first
  EXPECT_EQ(r.exit_code, ExitCode::pass);
  EXPECT_EQ(history_.last_key_, key());
  EXPECT_EQ(history_.last_check_, "quality.gate");
}

TEST_F(DriftTest, ExactBoundIsNotExceeded) {
  plant({0.88, 0.88, 0.88});
  // 0.93 - 0.88 is 0.05000000000000004 in binary: still "at most 0.05".
  Report r = run(spec_with("{pass_rate: 0.93}",
                           "        value: /pass_rate\n"
                           "        max_abs_change: 0.05\n"));
  EXPECT_EQ(result(r, "quality.d").status, Status::pass) << result(r, "quality.d").message;
}

TEST_F(DriftTest, AbsoluteChangeFails) {
  plant({0.88, 0.88, 0.88, 0.88});
  Report r = run(spec_with("{pass_rate: 0.80}",
                           "        value: /pass_rate\n"
                           "        max_abs_change: 0.05\n"));
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::fail);
  EXPECT_EQ(d.message,
            "pass_rate 0.8 dropped 0.08 (9.1 %) below the mean 0.88 of the last 4 runs "
            "(max_abs_change 0.05)");
  EXPECT_EQ(d.code, "drift");
  EXPECT_EQ(stage(r, "quality").status, Status::fail);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(DriftTest, WindowLimitsTheRunsRead) {
  plant({0.20, 0.87, 0.89, 0.88, 0.88, 0.86, 0.90, 0.88, 0.87, 0.89, 0.88});  // 0.20: oldest
  Report r = run(spec_with("{pass_rate: 0.71}",
                           "        value: /pass_rate\n"
                           "        max_rel_change: 0.10\n"));
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(history_.last_limit_, 10u);
  EXPECT_EQ(history_.calls_, 2u);  // this drift check's own past, then the metric's
  EXPECT_EQ(d.observed["history_count"], 10);
  EXPECT_EQ(d.details["runs_read"], 10);
  EXPECT_EQ(d.status, Status::fail);
  EXPECT_EQ(d.message,
            "pass_rate 0.71 dropped 0.17 (19.3 %) below the mean 0.88 of the last 10 runs "
            "(max_rel_change 10 %)");

  Report r3 = run(spec_with("{pass_rate: 0.71}",
                            "        value: /pass_rate\n"
                            "        window: 3\n"
                            "        max_rel_change: 0.10\n"));
  EXPECT_EQ(history_.last_limit_, 3u);
  EXPECT_EQ(result(r3, "quality.d").observed["history_count"], 3);
}

TEST_F(DriftTest, ZScoreFails) {
  plant({0.88, 0.89, 0.87, 0.88, 0.88});
  // mean 0.88, sample stddev 0.00707: 0.91 is 4.2 standard deviations above (2.3 % only).
  Report r = run(spec_with("{pass_rate: 0.91}",
                           "        value: /pass_rate\n"
                           "        max_zscore: 3\n"));
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::fail) << d.message;
  EXPECT_TRUE(has(d.message, "rose")) << d.message;
  EXPECT_TRUE(has(d.message, "> max_zscore 3")) << d.message;
  EXPECT_GT(d.observed["zscore"].get<double>(), 3.0);
}

TEST_F(DriftTest, ZeroStddevPassesOnlyOnTheMean) {
  plant({0.5, 0.5, 0.5});
  Report same = run(spec_with("{pass_rate: 0.5}",
                              "        value: /pass_rate\n"
                              "        max_zscore: 3\n"));
  EXPECT_EQ(result(same, "quality.d").status, Status::pass) << result(same, "quality.d").message;
  Report moved = run(spec_with("{pass_rate: 0.5001}",
                               "        value: /pass_rate\n"
                               "        max_zscore: 3\n"));
  const auto& d = result(moved, "quality.d");
  EXPECT_EQ(d.status, Status::fail);
  EXPECT_TRUE(has(d.message, "infinite z-score")) << d.message;
  EXPECT_TRUE(d.observed["zscore"].is_null());
}

TEST_F(DriftTest, ZeroBaselineMakesAnyRelativeChangeInfinite) {
  plant({0.0, 0.0, 0.0});
  Report zero = run(spec_with("{errors: 0}",
                              "        value: /errors\n"
                              "        max_rel_change: 0.5\n"),
                    {}, true);
  // planted values sit at /pass_rate: none usable at /errors
  EXPECT_EQ(result(zero, "quality.d").status, Status::warn);

  history_.add(key(), "quality.gate", Status::pass, {{"errors", 0}});
  history_.add(key(), "quality.gate", Status::pass, {{"errors", 0}});
  history_.add(key(), "quality.gate", Status::pass, {{"errors", 0}});
  Report still = run(spec_with("{errors: 0}",
                               "        value: /errors\n"
                               "        max_rel_change: 0.5\n"));
  EXPECT_EQ(result(still, "quality.d").status, Status::pass) << result(still, "quality.d").message;
  Report one = run(spec_with("{errors: 1}",
                             "        value: /errors\n"
                             "        max_rel_change: 0.5\n"));
  const auto& d = result(one, "quality.d");
  EXPECT_EQ(d.status, Status::fail);
  EXPECT_TRUE(has(d.message, "the baseline is 0, so any change is an infinite relative change"))
      << d.message;
  EXPECT_TRUE(d.observed["rel_change"].is_null());
}

TEST_F(DriftTest, DirectionDecreaseIgnoresARise) {
  plant({0.80, 0.80, 0.80});
  const std::string params =
      "        value: /pass_rate\n        max_abs_change: 0.05\n        direction: decrease\n";
  EXPECT_EQ(result(run(spec_with("{pass_rate: 0.99}", params)), "quality.d").status, Status::pass);
  EXPECT_EQ(result(run(spec_with("{pass_rate: 0.70}", params)), "quality.d").status, Status::fail);
}

TEST_F(DriftTest, DirectionIncreaseIgnoresADrop) {
  plant({100, 100, 110, 90});
  const std::string params =
      "        value: /pass_rate\n        max_rel_change: 0.2\n        direction: increase\n"
      "        baseline: median\n";
  EXPECT_EQ(result(run(spec_with("{pass_rate: 10}", params)), "quality.d").status, Status::pass);
  Report r = run(spec_with("{pass_rate: 150}", params));
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::fail);
  EXPECT_TRUE(has(d.message, "rose 50 (50.0 %) above the median 100 of the last 4 runs"))
      << d.message;
}

TEST_F(DriftTest, BaselineLastIsTheNewestRun) {
  plant({0.5, 0.5, 0.9});
  Report r = run(spec_with("{pass_rate: 0.9}",
                           "        value: /pass_rate\n"
                           "        baseline: last\n"
                           "        max_abs_change: 0.01\n"));
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::pass) << d.message;
  EXPECT_DOUBLE_EQ(d.observed["baseline"].get<double>(), 0.9);
}

TEST_F(DriftTest, TooLittleHistoryIsAWarningNotAPass) {
  plant({0.88, 0.88});
  const std::string text =
      spec_with("{pass_rate: 0.2}", "        value: /pass_rate\n        max_abs_change: 0.05\n");
  Report r = run(text);
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::warn);
  EXPECT_TRUE(has(d.message, "too little history (2 of 3 runs)")) << d.message;
  EXPECT_EQ(stage(r, "quality").status, Status::warn);
  EXPECT_EQ(r.exit_code, ExitCode::pass);

  RunOptions strict;
  strict.fail_on_warn = true;
  Report s = run(text, strict);
  EXPECT_EQ(result(s, "quality.d").status, Status::warn);
  EXPECT_EQ(s.exit_code, ExitCode::fail);
}

TEST_F(DriftTest, NoHistoryIsAnErrorAndExit3) {
  Report r = run(spec_with("{pass_rate: 0.9}",
                           "        value: /pass_rate\n"
                           "        max_abs_change: 0.05\n"),
                 {}, /*with_history=*/false);
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::error);
  EXPECT_TRUE(has(d.message, "pass --history URL")) << d.message;
  EXPECT_EQ(r.exit_code, ExitCode::no_verdict);
}

TEST_F(DriftTest, HistoryReadErrorIsAnError) {
  plant({0.9, 0.9, 0.9});
  history_.fail_reads_ = true;
  Report r = run(spec_with("{pass_rate: 0.9}",
                           "        value: /pass_rate\n"
                           "        max_abs_change: 0.05\n"));
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::error);
  EXPECT_TRUE(has(d.message,
                  "cannot read the history (memory) of 'quality.d': database is "
                  "locked"))
      << d.message;
  EXPECT_EQ(r.exit_code, ExitCode::no_verdict);
}

TEST_F(DriftTest, MeasuredCheckErroredIsAnError) {
  plant({0.9, 0.9, 0.9});
  for (const char* status : {"error", "skipped"}) {
    Report r = run(spec_with("{pass_rate: 0.9}",
                             "        value: /pass_rate\n"
                             "        max_abs_change: 0.05\n",
                             fmt::format("        status: {}\n", status)));
    const auto& d = result(r, "quality.d");
    EXPECT_EQ(d.status, Status::error) << status;
    EXPECT_TRUE(has(d.message, "cannot measure 'quality.gate'")) << d.message;
  }
}

TEST_F(DriftTest, MeasuredCheckFailedIsStillMeasured) {
  plant({0.9, 0.9, 0.9});
  Report r = run(spec_with("{pass_rate: 0.9}",
                           "        value: /pass_rate\n"
                           "        max_abs_change: 0.05\n",
                           "        status: fail\n"));
  EXPECT_EQ(result(r, "quality.d").status, Status::pass) << result(r, "quality.d").message;
}

TEST_F(DriftTest, MeasuredCheckBlockedIsAnError) {
  plant({0.9, 0.9, 0.9}, "late.gate");
  Report r =
      run(fmt::format("{}stages:\n"
                      "  - id: early\n    checks:\n"
                      "      - {{id: bad, type: emit, observed: 1, status: fail}}\n"
                      "  - id: late\n    depends_on: early\n    checks:\n"
                      "      - {{id: gate, type: emit, observed: {{pass_rate: 0.9}}}}\n"
                      "  - id: trends\n    checks:\n"
                      "      - {{id: d, type: drift, metric: late.gate, value: /pass_rate, "
                      "max_abs_change: 0.1}}\n",
                      kSpecHead));
  const auto& d = result(r, "trends.d");
  EXPECT_EQ(d.status, Status::error);
  EXPECT_TRUE(has(d.message, "cannot measure 'late.gate': it was blocked")) << d.message;
}

TEST_F(DriftTest, BadCurrentValuesFail) {
  plant({0.9, 0.9, 0.9});
  struct Case {
    std::string observed, extra, found;
  };
  const std::vector<Case> cases = {
      {"{pass_rate: \"0.9\"}", "", "expected a finite number, found string \"0.9\""},
      {"{other: 1}", "", "at '/pass_rate': expected a finite number, found nothing"},
      {"{pass_rate: null}", "", "found null null"},
      {"{pass_rate: 1}", "        nan: true\n", "found the non-finite number nan"},
  };
  for (const auto& c : cases) {
    Report r = run(
        spec_with(c.observed, "        value: /pass_rate\n        max_abs_change: 1\n", c.extra));
    const auto& d = result(r, "quality.d");
    EXPECT_EQ(d.status, Status::fail) << c.observed;
    EXPECT_TRUE(has(d.message, "check 'quality.gate': observed")) << d.message;
    EXPECT_TRUE(has(d.message, c.found)) << d.message;
    EXPECT_EQ(r.exit_code, ExitCode::fail);
  }
}

TEST_F(DriftTest, WholeObservedAsTheValue) {
  for (double v : {10.0, 10.0, 10.0}) history_.add(key(), "quality.gate", Status::pass, v);
  Report r = run(spec_with("10.5", "        max_abs_change: 1\n"));
  EXPECT_EQ(result(r, "quality.d").status, Status::pass) << result(r, "quality.d").message;
  Report bad = run(spec_with("{a: 1}", "        max_abs_change: 1\n"));
  EXPECT_EQ(result(bad, "quality.d").status, Status::fail);
  EXPECT_TRUE(has(result(bad, "quality.d").message,
                  "observed: expected a finite number, found "
                  "object"))
      << result(bad, "quality.d").message;
}

TEST_F(DriftTest, UnusablePastRunsAreSkippedAndCounted) {
  history_.add(key(), "quality.gate", Status::pass, {{"pass_rate", 0.9}});
  history_.add(key(), "quality.gate", Status::pass, {{"pass_rate", "n/a"}});
  history_.add(key(), "quality.gate", Status::error, {{"pass_rate", 0.1}});
  history_.add(key(), "quality.gate", Status::pass, {{"other", 1}});
  history_.add(key(), "quality.gate", Status::fail, {{"pass_rate", 0.9}});
  history_.add(key(), "quality.gate", Status::skipped, {{"pass_rate", 0.1}});
  history_.add(key(), "quality.gate", Status::pass, {{"pass_rate", 0.9}});
  history_.add(key(), "quality.gate", Status::blocked, nlohmann::json());
  history_.add("other spec\n{}", "quality.gate", Status::pass, {{"pass_rate", 0.1}});
  Report r = run(spec_with("{pass_rate: 0.9}",
                           "        value: /pass_rate\n"
                           "        max_abs_change: 0.01\n"));
  const auto& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::pass) << d.message;
  EXPECT_EQ(d.observed["history_count"], 3);
  EXPECT_EQ(d.details["skipped_count"], 5);
  EXPECT_EQ(d.details["runs_read"], 8);

  // With only these, min_history 4 is not reached: a warning that counts them.
  Report w = run(spec_with("{pass_rate: 0.9}",
                           "        value: /pass_rate\n"
                           "        min_history: 4\n"
                           "        max_abs_change: 0.01\n"));
  EXPECT_EQ(result(w, "quality.d").status, Status::warn);
  EXPECT_TRUE(has(result(w, "quality.d").message, "(3 of 4 runs)"))
      << result(w, "quality.d").message;
  EXPECT_TRUE(has(result(w, "quality.d").message, "5 skipped")) << result(w, "quality.d").message;
}

// ---- the runner's final phase ---------------------------------------------------------------

// The drift check sits in a stage before (in spec order) the stage of the check it measures,
// which depends on a slow chain: it must still run after it, with any --jobs.
TEST_F(DriftTest, RunsAfterTheMeasuredCheckWhateverTheOrder) {
  plant({0.9, 0.9, 0.9}, "c.gate");
  plant({0.9, 0.9, 0.9}, "trends.own");
  const std::string text = fmt::format(
      "{}stages:\n"
      "  - id: trends\n    checks:\n"
      "      - {{id: d, type: drift, metric: c.gate, value: /pass_rate, max_abs_change: 0.05}}\n"
      "      - {{id: own, type: emit, observed: {{pass_rate: 0.9}}}}\n"
      "      - {{id: d_own, type: drift, metric: trends.own, value: /pass_rate, "
      "max_abs_change: 0.05}}\n"
      "  - id: a\n    checks:\n      - {{id: x, type: emit, observed: 1}}\n"
      "  - id: b\n    depends_on: a\n    checks:\n      - {{id: x, type: emit, observed: 1}}\n"
      "  - id: c\n    depends_on: b\n    checks:\n"
      "      - {{id: gate, type: emit, observed: {{pass_rate: 0.91}}}}\n"
      "      - {{id: d_same, type: drift, metric: c.gate, value: /pass_rate, "
      "max_abs_change: 0.05}}\n"
      "  - id: after\n    depends_on: trends\n    checks:\n"
      "      - {{id: x, type: emit, observed: 1}}\n",
      kSpecHead);
  for (unsigned jobs : {1u, 8u}) {
    RunOptions o;
    o.jobs = jobs;
    Report r = run(text, o);
    for (const char* id : {"trends.d", "trends.d_own", "c.d_same"}) {
      EXPECT_EQ(result(r, id).status, Status::pass)
          << jobs << " " << id << ": " << result(r, id).message;
    }
    // Spec order, whatever the timing.
    std::vector<std::string> ids;
    for (const auto& c : r.results) ids.push_back(c.id);
    EXPECT_EQ(ids, (std::vector<std::string>{"trends.d", "trends.own", "trends.d_own", "a.x", "b.x",
                                             "c.gate", "c.d_same", "after.x"}));
    EXPECT_EQ(stage(r, "trends").status, Status::pass);
    EXPECT_EQ(stage(r, "after").status, Status::pass);
    EXPECT_EQ(r.exit_code, ExitCode::pass);
  }
}

// A reporter sees every row in spec order, and a stage's drift row arrives with its stage.
TEST_F(DriftTest, ReportersGetResultsInSpecOrderAndStagesIncludeDrift) {
  struct Collect final : Reporter {
    void begin(const RunInfo&) override {}
    void on_result(const CheckResult& r) override { rows.push_back(r); }
    void end(const Report&) override {}
    std::vector<CheckResult> rows;
  } collect;
  plant({0.9, 0.9, 0.9}, "q.gate");
  auto spec = load(fmt::format(
      "{}stages:\n"
      "  - id: q\n    checks:\n"
      "      - {{id: gate, type: emit, observed: {{pass_rate: 0.5}}}}\n"
      "      - {{id: d, type: drift, metric: q.gate, value: /pass_rate, max_abs_change: 0.05}}\n"
      "  - id: next\n    depends_on: q\n    checks:\n"
      "      - {{id: x, type: emit, observed: 1}}\n",
      kSpecHead));
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  auto store = open_local_store(root_);
  ASSERT_TRUE(store.ok());
  RunOptions o;
  o.history = &history_;
  Runner runner(*spec, **store, o);
  Report r = runner.run({&collect});
  ASSERT_EQ(collect.rows.size(), 3u);
  EXPECT_EQ(collect.rows[0].id, "q.gate");
  EXPECT_EQ(collect.rows[1].id, "q.d");
  EXPECT_EQ(collect.rows[1].status, Status::fail);
  EXPECT_EQ(collect.rows[2].id, "next.x");
  // The drift failure fails its stage; it runs last, so it does not block `next`.
  EXPECT_EQ(stage(r, "q").status, Status::fail);
  EXPECT_EQ(stage(r, "next").status, Status::pass);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

// A stage holding only a drift check: not "skipped" while it waits for the final phase.
TEST_F(DriftTest, StageWithOnlyADriftCheck) {
  plant({0.9, 0.9, 0.9}, "q.gate");
  Report r = run(fmt::format(
      "{}stages:\n"
      "  - id: q\n    checks:\n      - {{id: gate, type: emit, observed: {{pass_rate: 0.9}}}}\n"
      "  - id: trends\n    checks:\n"
      "      - {{id: d, type: drift, metric: q.gate, value: /pass_rate, max_abs_change: 0.05}}\n"
      "  - id: after\n    depends_on: trends\n    checks:\n"
      "      - {{id: x, type: emit, observed: 1}}\n",
      kSpecHead));
  EXPECT_EQ(stage(r, "trends").status, Status::pass);
  EXPECT_EQ(stage(r, "after").status, Status::pass);
  EXPECT_EQ(result(r, "after.x").status, Status::pass);
}

// Real runs recorded one after another: the history fills up, then a worse run fails.
TEST_F(DriftTest, RecordedRunsThenAWorseOne) {
  auto spec_for = [](double rate) {
    return spec_with(fmt::format("{{pass_rate: {}}}", rate),
                     "        value: /pass_rate\n        max_rel_change: 0.10\n"
                     "        direction: decrease\n");
  };
  std::vector<Status> seen;
  for (double rate : {0.88, 0.90, 0.86, 0.89}) {
    Report r = run(spec_for(rate));
    seen.push_back(result(r, "quality.d").status);
    ASSERT_TRUE(history_.record(r).ok());
  }
  EXPECT_EQ(seen, (std::vector<Status>{Status::warn, Status::warn, Status::warn, Status::pass}));
  Report worse = run(spec_for(0.60));
  EXPECT_EQ(result(worse, "quality.d").status, Status::fail) << result(worse, "quality.d").message;
  EXPECT_EQ(worse.exit_code, ExitCode::fail);
}

TEST(DriftDocs, ListedWithItsParameters) {
  Registry registry;
  ASSERT_TRUE(register_builtin_checks(registry).ok());
  const Registry::Entry* e = registry.find("drift");
  ASSERT_NE(e, nullptr);
  std::vector<std::string> names;
  for (const auto& p : e->info.params) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"metric", "value", "window", "min_history", "baseline",
                                             "max_abs_change", "max_rel_change", "max_zscore",
                                             "direction", "include_drifted_runs"}));
  EXPECT_TRUE(has(e->info.description, "--history URL"));
}

// ---- `value` as a field name ----------------------------------------------------------------

TEST_F(DriftTest, FieldNameFindsTheOneConditionOnIt) {
  // A `json` check observes each condition's value under the condition's text.
  for (double v : {0.9, 0.91, 0.89}) {
    history_.add(key(), "quality.gate", Status::pass, {{"summary.score >= 0.5", v}});
  }
  const std::string params =
      "        value: summary.score\n        min_history: 3\n        max_abs_change: 0.05\n"
      "        direction: decrease\n";
  Report good = run(spec_with("{\"summary.score >= 0.5\": 0.88}", params));
  EXPECT_EQ(result(good, "quality.d").status, Status::pass) << result(good, "quality.d").message;
  Report bad = run(spec_with("{\"summary.score >= 0.5\": 0.7}", params));
  const CheckResult& d = result(bad, "quality.d");
  EXPECT_EQ(d.status, Status::fail);
  EXPECT_TRUE(has(d.message, "summary.score 0.7 dropped")) << d.message;
}

TEST_F(DriftTest, FieldNameThatIsAmbiguousOrAbsentFails) {
  plant({0.9, 0.9, 0.9});
  const std::string params = "        value: pass\n        max_abs_change: 0.05\n";
  Report two = run(spec_with("{\"pass >= 0.5\": 0.9, \"pass <= 1\": 0.9}", params));
  EXPECT_EQ(result(two, "quality.d").status, Status::fail);
  EXPECT_TRUE(has(result(two, "quality.d").message, "2 conditions on this field"))
      << result(two, "quality.d").message;
  // "pass_rate" is not the field "pass": a prefix must end at the condition's operator.
  Report none = run(spec_with("{pass_rate: 0.9}", params));
  EXPECT_EQ(result(none, "quality.d").status, Status::fail);
  EXPECT_TRUE(has(result(none, "quality.d").message, "no such field"))
      << result(none, "quality.d").message;
}

// ---- a degraded value never becomes the baseline by being run again -------------------------

TEST_F(DriftTest, RunsWhereThisDriftCheckFailedAreNotTheBaseline) {
  // Three good runs, then five retries of a degraded scene whose drift check failed each time.
  for (int i = 0; i < 3; ++i) {
    const std::string id = fmt::format("good{}", i);
    history_.add_run(key(), id, "quality.gate", Status::pass, {{"pass_rate", 0.9}});
    history_.add_run(key(), id, "quality.d", Status::pass, {{"value", 0.9}});
  }
  for (int i = 0; i < 5; ++i) {
    const std::string id = fmt::format("bad{}", i);
    history_.add_run(key(), id, "quality.gate", Status::pass, {{"pass_rate", 0.7}});
    history_.add_run(key(), id, "quality.d", Status::fail, {{"value", 0.7}});
  }
  const std::string params =
      "        value: /pass_rate\n        max_rel_change: 0.10\n        direction: decrease\n";
  Report r = run(spec_with("{pass_rate: 0.7}", params));
  const CheckResult& d = result(r, "quality.d");
  EXPECT_EQ(d.status, Status::fail) << d.message;
  EXPECT_EQ(d.observed["baseline"], 0.9);
  EXPECT_EQ(d.observed["history_count"], 3);
  EXPECT_EQ(d.details["skipped_count"], 5);
  EXPECT_TRUE(has(d.details["skipped"][0]["reason"].get<std::string>(), "drift check failed"));

  // Opting in: the retries count, and the drop looks small against them.
  Report in = run(spec_with("{pass_rate: 0.7}", params + "        include_drifted_runs: true\n"));
  const CheckResult& d2 = result(in, "quality.d");
  EXPECT_EQ(d2.status, Status::pass) << d2.message;
  EXPECT_EQ(d2.observed["history_count"], 8);
}
