// Cost of writing a report: JSON (build + dump), JUnit XML and the console report, over a
// report of N results spread over stages of 50 checks, a tenth of them failing with evidence.

#include <cstddef>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "stagecheck/check_result.hpp"
#include "stagecheck/console_reporter.hpp"
#include "stagecheck/json_reporter.hpp"
#include "stagecheck/junit_reporter.hpp"
#include "stagecheck/report.hpp"

namespace {

using stagecheck::CheckResult;
using stagecheck::Report;
using stagecheck::Status;

constexpr std::size_t kChecksPerStage = 50;

Report make_report(std::size_t n) {
  Report report;
  report.tool_version = "0.1.0";
  report.spec_name = "bench";
  report.spec_source = "bench/spec.yaml";
  report.spec_hash = "sha256:0000";
  report.root = "/data/bench";
  report.vars = nlohmann::json{{"scene", "kitchen_001"}};
  report.started_at = "2024-05-01T12:00:00Z";
  report.duration_ms = 1234.5;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string stage = "stage" + std::to_string(i / kChecksPerStage);
    if (i % kChecksPerStage == 0) {
      stagecheck::StageResult s;
      s.id = stage;
      s.name = "Stage " + stage;
      s.duration_ms = 3.5;
      report.stages.push_back(s);
    }
    CheckResult r;
    r.id = stage + ".check" + std::to_string(i);
    r.stage = stage;
    r.type = "json";
    r.status = i % 10 == 3 ? Status::fail : (i % 10 == 7 ? Status::warn : Status::pass);
    r.severity =
        r.status == Status::warn ? stagecheck::Severity::warning : stagecheck::Severity::error;
    r.artifacts = {"scenes/kitchen_001/episodes/" + std::to_string(i) + "/report.json"};
    r.expected = nlohmann::json{{"op", ">="}, {"value", 0.9}};
    r.observed = 0.85;
    r.details = nlohmann::json{{"field", "summary.pass_rate"}, {"rows", {1, 2, 3}}};
    r.message = "summary.pass_rate = 0.85, expected >= 0.9 <&>";
    r.duration_ms = 0.25;
    report.results.push_back(std::move(r));
  }
  report.summary = stagecheck::summarize(report.results);
  report.exit_code = stagecheck::compute_exit_code(report.summary, false, false);
  return report;
}

void BM_JsonReport(benchmark::State& state) {
  const Report report = make_report(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    std::string text = stagecheck::report_to_json(report).dump(2);
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_JsonReport)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_JunitReport(benchmark::State& state) {
  const Report report = make_report(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    std::string text = stagecheck::report_to_junit(report);
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_JunitReport)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_ConsoleReport(benchmark::State& state) {
  const Report report = make_report(static_cast<std::size_t>(state.range(0)));
  stagecheck::RunInfo info;
  info.spec_name = report.spec_name;
  info.spec_source = report.spec_source;
  info.root = report.root;
  info.check_count = report.results.size();
  for (auto _ : state) {
    std::ostringstream out;
    stagecheck::ConsoleReporter reporter(out, stagecheck::ConsoleOptions{});
    reporter.begin(info);
    for (const CheckResult& result : report.results) reporter.on_result(result);
    reporter.end(report);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ConsoleReport)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
