// Spec loading: parsing YAML, validating every parameter, parsing conditions and templates,
// binding variables. Measured on the quickstart spec and on generated specs of growing size.

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "stagecheck/registry.hpp"
#include "stagecheck/spec.hpp"

using namespace stagecheck;

namespace {

const Registry& registry() {
  static Registry r = [] {
    Registry reg;
    (void)register_builtin_checks(reg);
    return reg;
  }();
  return r;
}

std::string quickstart_text() {
  std::ifstream in(std::string(STAGECHECK_SOURCE_DIR) + "/examples/quickstart/spec.yaml");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string generated(int stages, int checks) {
  std::string t =
      "version: 1\nname: gen\nvars:\n  scene_id: {type: segment, required: true}\n"
      "  floor: {type: number, default: 0.9}\nstages:\n";
  for (int s = 0; s < stages; ++s) {
    t += "  - id: s" + std::to_string(s) + "\n";
    if (s > 0) t += "    depends_on: [s" + std::to_string(s - 1) + "]\n";
    t += "    inputs: [\"scenes/${scene_id}/in" + std::to_string(s) + "/.done\"]\n    checks:\n";
    for (int c = 0; c < checks; ++c) {
      t += "      - id: c" + std::to_string(c) +
           "\n        type: json\n        artifact: scenes/${scene_id}/r" + std::to_string(c) +
           ".json\n        conditions:\n          - summary.pass_rate >= $floor\n"
           "          - all(episodes[*].physics_backend in [\"isaac_sim\", \"isaac_lab\"])\n";
    }
  }
  return t;
}

void load(benchmark::State& state, const std::string& text) {
  SpecOptions opts;
  opts.registry = &registry();
  opts.vars = {{"scene_id", "kitchen_001"}};
  for (auto _ : state) {
    auto spec = load_spec_string(text, "bench.yaml", opts);
    if (!spec) state.SkipWithError(spec.error().message.c_str());
    benchmark::DoNotOptimize(spec);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_LoadQuickstartSpec(benchmark::State& state) { load(state, quickstart_text()); }
BENCHMARK(BM_LoadQuickstartSpec);

void BM_LoadGeneratedSpec(benchmark::State& state) {
  std::string text = generated(static_cast<int>(state.range(0)), 10);
  load(state, text);
  state.counters["checks"] = static_cast<double>(state.range(0) * 11);
}
BENCHMARK(BM_LoadGeneratedSpec)->Arg(10)->Arg(100)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
