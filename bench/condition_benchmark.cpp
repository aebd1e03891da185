// Benchmarks of the condition language: parsing, and evaluating the conditions of the
// quickstart spec on documents shaped like the pipeline's reports.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "stagecheck/condition.hpp"

namespace {

using json = nlohmann::json;
using stagecheck::Condition;
using stagecheck::EvalEnv;

/// A validation report with `episodes` episodes, all on an accepted backend, a third of
/// them failing their quality gate with error severity.
json make_report(std::int64_t episodes) {
  json eps = json::array();
  for (std::int64_t i = 0; i < episodes; ++i) {
    eps.push_back({{"episode_id", "ep_" + std::to_string(i)},
                   {"physics_backend", i % 2 == 0 ? "isaac_sim" : "isaac_lab"},
                   {"dev_only_fallback", false},
                   {"passed", i % 3 != 0},
                   {"severity", i % 6 == 0 ? "error" : "warning"},
                   {"score", 0.8 + static_cast<double>(i % 20) / 100.0},
                   {"metrics", {{"camera_data_present", true}, {"frames", 240}}}});
  }
  return {{"scene_id", "kitchen_001"},
          {"summary",
           {{"pass_rate", 0.93},
            {"average_score", 0.88},
            {"total_episodes", episodes},
            {"passed_episodes", episodes - episodes / 3}}},
          {"physics_validation", {{"physx_used", true}, {"non_physx_episode_count", 0}}},
          {"quality_distribution", {{"excellent_0.9_1.0", 120}, {"good_0.8_0.9", 80}}},
          {"episodes", std::move(eps)}};
}

Condition parse_or_die(const char* text) {
  auto c = Condition::parse(text);
  if (!c.ok()) {
    // A benchmark that measures a parse error would measure nothing useful.
    std::fprintf(stderr, "bad benchmark condition: %s\n", c.error().message.c_str());
    std::abort();
  }
  return *c;
}

void BM_ParseTypicalCondition(benchmark::State& state) {
  const char* text = R"(count(results[*] where passed == false and severity == "error") == 0 and )"
                     R"(summary.pass_rate >= $min_pass_rate and q["excellent_0.9_1.0"] > 0)";
  for (auto _ : state) {
    auto c = Condition::parse(text);
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_ParseTypicalCondition);

void BM_EvaluateThreshold(benchmark::State& state) {
  const json doc = make_report(50);
  const Condition c = parse_or_die("summary.pass_rate >= 0.9");
  const EvalEnv env;
  for (auto _ : state) {
    auto o = c.evaluate(doc, env);
    benchmark::DoNotOptimize(o);
  }
}
BENCHMARK(BM_EvaluateThreshold);

void BM_EvaluateThresholdFromVar(benchmark::State& state) {
  const json doc = make_report(50);
  const json floor = 0.9;
  const Condition c = parse_or_die("summary.pass_rate >= $min_pass_rate");
  EvalEnv env;
  env.var = [&floor](std::string_view) { return &floor; };
  for (auto _ : state) {
    auto o = c.evaluate(doc, env);
    benchmark::DoNotOptimize(o);
  }
}
BENCHMARK(BM_EvaluateThresholdFromVar);

void BM_EvaluateAllBackends(benchmark::State& state) {
  const json doc = make_report(state.range(0));
  const Condition c =
      parse_or_die(R"(all(episodes[*].physics_backend in ["isaac_sim", "isaac_lab"]))");
  const EvalEnv env;
  for (auto _ : state) {
    auto o = c.evaluate(doc, env);
    if (!o.satisfied()) state.SkipWithError("condition unexpectedly not satisfied");
    benchmark::DoNotOptimize(o);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EvaluateAllBackends)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

void BM_EvaluateCountWhere(benchmark::State& state) {
  const json doc = make_report(state.range(0));
  const Condition c = parse_or_die(
      R"(count(episodes[*] where passed == false and severity == "error") <= 1000000)");
  const EvalEnv env;
  for (auto _ : state) {
    auto o = c.evaluate(doc, env);
    if (!o.satisfied()) state.SkipWithError("condition unexpectedly not satisfied");
    benchmark::DoNotOptimize(o);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EvaluateCountWhere)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
