// Cost of remembering runs: recording a run of N checks in a SQLite history (one transaction),
// the drift check's query (the last 10 values of one check among many runs), and listing.

#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stagecheck/history.hpp"
#include "stagecheck/report.hpp"

namespace {

using stagecheck::CheckResult;
using stagecheck::History;
using stagecheck::Report;
using stagecheck::Status;

// A run of `checks` json checks (a tenth failing), each observing a pass rate.
Report make_run(std::size_t checks, std::size_t seq) {
  Report r;
  r.run_id = stagecheck::new_run_id();
  r.tool_version = "0.1.0";
  r.spec_name = "bench";
  r.spec_source = "bench/spec.yaml";
  r.spec_hash = "sha256:0000";
  r.root = "/data/bench";
  r.vars = nlohmann::json{{"scene_id", "kitchen_001"}};
  r.started_at = fmt::format("2026-01-01T00:{:02}:{:02}.000Z", (seq / 60) % 60, seq % 60);
  r.duration_ms = 12.5;
  for (std::size_t i = 0; i < checks; ++i) {
    CheckResult c;
    c.stage = fmt::format("stage{}", i / 50);
    c.id = fmt::format("{}.check{}", c.stage, i);
    c.type = "json";
    c.status = i % 10 == 3 ? Status::fail : Status::pass;
    c.observed =
        nlohmann::json{{"summary.pass_rate >= 0.9", 0.85 + 0.001 * static_cast<double>(seq % 100)}};
    c.expected = nlohmann::json::array({"summary.pass_rate >= 0.9"});
    c.message = "summary.pass_rate = 0.85, expected >= 0.9";
    c.duration_ms = 0.25;
    r.results.push_back(std::move(c));
  }
  r.summary = stagecheck::summarize(r.results);
  r.exit_code = stagecheck::compute_exit_code(r.summary, false, false);
  return r;
}

struct TempDb {
  TempDb() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "stagecheck-hbench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
  }
  ~TempDb() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::unique_ptr<History> open() const {
    auto h = stagecheck::open_history("sqlite:" + (dir / "h.db").string());
    if (!h) std::abort();
    return std::move(*h);
  }
  std::filesystem::path dir;
};

// Recording one run (its row, every check, the JSON report) in one transaction.
void BM_RecordRun(benchmark::State& state) {
  TempDb db;
  auto history = db.open();
  std::size_t seq = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Report r = make_run(static_cast<std::size_t>(state.range(0)), seq++);
    state.ResumeTiming();
    if (!history->record(r)) state.SkipWithError("record failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_RecordRun)->Arg(20)->Arg(200)->Arg(2000)->Unit(benchmark::kMillisecond);

// A history of N runs of 20 checks; the drift check's query, and `history list`.
class Filled : public benchmark::Fixture {
 public:
  void SetUp(const benchmark::State& state) override {
    if (history_ && runs_ == static_cast<std::size_t>(state.range(0))) return;
    db_ = std::make_unique<TempDb>();
    history_ = db_->open();
    runs_ = static_cast<std::size_t>(state.range(0));
    for (std::size_t i = 0; i < runs_; ++i) {
      if (!history_->record(make_run(20, i))) std::abort();
    }
    key_ = stagecheck::history_key("bench", nlohmann::json{{"scene_id", "kitchen_001"}});
  }

 protected:
  std::unique_ptr<TempDb> db_;
  std::unique_ptr<History> history_;
  std::size_t runs_ = 0;
  std::string key_;
};

BENCHMARK_DEFINE_F(Filled, DriftQueryLast10)(benchmark::State& state) {
  for (auto _ : state) {
    auto obs = history_->observations(key_, "stage0.check3", 10);
    if (!obs || obs->size() != 10) state.SkipWithError("query failed");
    benchmark::DoNotOptimize(obs);
  }
}
BENCHMARK_REGISTER_F(Filled, DriftQueryLast10)->Arg(100)->Arg(5000)->Unit(benchmark::kMicrosecond);

BENCHMARK_DEFINE_F(Filled, ListNewest20)(benchmark::State& state) {
  stagecheck::HistoryQuery q;
  q.limit = 20;
  for (auto _ : state) {
    auto runs = history_->list(q);
    if (!runs || runs->size() != 20) state.SkipWithError("list failed");
    benchmark::DoNotOptimize(runs);
  }
}
BENCHMARK_REGISTER_F(Filled, ListNewest20)->Arg(100)->Arg(5000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
