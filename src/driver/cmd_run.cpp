// `stagecheck run` and `stagecheck preflight`.

#include "cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/program_options.hpp>

namespace stagecheck::driver {

int cmd_run(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck run SPEC [options]

Runs every stage of SPEC against the artifacts under --root (a folder or s3://BUCKET[/PREFIX])
and exits with the verdict
(0 pass, 1 fail, 2 usage/spec error, 3 no verdict). Every stage is evaluated: a failure
never stops the run; stages whose dependency failed are reported as blocked. If the spec
has on_failure.write_marker and the run fails, that marker is written (exit 3 if it cannot).
With --execute, each stage first runs its trigger (a command, an HTTP request or an input
marker), waits (bounded) for the markers it names and compares its before/after snapshots;
without it stagecheck only reads, and those rows are skipped.
With --scenes, runs SPEC once per scene (scene_id bound to each folder ROOT/scenes/ID/),
--jobs scenes at once, prints a line per scene and writes one batch report: exit 1 if any
scene failed, else 3 if any scene had no verdict or none was found, else 0. --shard I/N (or a
Slurm array or Kubernetes Indexed Job) takes one share; 'stagecheck merge' joins the shards.
With --alertmanager URL (or --alert-webhook URL), a failing run (with --alert-on both, also
one without a verdict) posts an alert naming the spec, scene, failures and report; a passing
run resolves it; an alert that cannot be delivered makes the exit code 3 unless it is 1.

Options)");
  RunCli o;
  std::vector<std::string> var_items;
  opts.add_options()("help,h", "show this help")("var", po::value(&var_items)->composing(),
                                                 "set a spec variable, NAME=VALUE (repeatable)")(
      "execute", "run the spec's triggers, waits and snapshots (runs the commands it names)")(
      "iterations", po::value<unsigned>()->default_value(1),
      "stress: run N times; passes only if every iteration passed (each iteration's verdict, "
      "timings and stagecheck's memory and open descriptors are reported)")(
      "chaos", po::value<double>(),
      "inject transport faults (resets, timeouts, stalls, 503/429, cut streams) into this "
      "fraction of store requests, 0 to 1; the verdict is the clean run's or 3")(
      "seed", po::value<std::uint64_t>(), "--chaos: the seed that makes the faults reproducible")(
      "chaos-retries", po::value<unsigned>()->default_value(2),
      "--chaos: retries of a faulted request before its error reaches a check")(
      "scenes", po::value<std::string>(),
      "validate many scenes: all (every folder ROOT/scenes/ID/), ID,ID,... or @FILE (one id a "
      "line); binds scene_id per scene, runs --jobs scenes at once, writes one batch report")(
      "shard", po::value<std::string>(),
      "with --scenes: only the scenes of share I/N (I from 0; by a hash of the scene id, so a "
      "scene never changes shard); default from a Slurm array (SLURM_ARRAY_TASK_ID - "
      "SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job "
      "(JOB_COMPLETION_INDEX of STAGECHECK_SHARD_COUNT)");
  add_run_options(opts, o);
  po::variables_map vm;
  std::string spec_path;
  if (auto stop = parse_args(args, opts, "spec", &spec_path, vm, "run")) return *stop;
  if (spec_path.empty()) return usage_error("run needs a SPEC file", "run");
  RunRequest req;
  if (auto stop = apply_run_options(o, vm, req.options, "run")) return *stop;
  if (auto stop = open_run_history(o, vm, "run")) return *stop;
  req.history = o.history_store.get();
  req.options.execute = vm.count("execute") != 0;
  req.iterations = vm["iterations"].as<unsigned>();
  if (req.iterations == 0) return usage_error("--iterations must be at least 1", "run");
  if (vm.count("chaos") != 0) {
    ChaosOptions chaos;
    chaos.rate = vm["chaos"].as<double>();
    if (!(chaos.rate >= 0.0 && chaos.rate <= 1.0)) {
      return usage_error(fmt::format("--chaos must be between 0 and 1, found {}", chaos.rate),
                         "run");
    }
    if (vm.count("seed") == 0) {
      return usage_error("--chaos needs --seed S (the faults are reproducible from it)", "run");
    }
    chaos.seed = vm["seed"].as<std::uint64_t>();
    chaos.retries = vm["chaos-retries"].as<unsigned>();
    req.chaos = chaos;
  } else if (vm.count("seed") != 0) {
    return usage_error("--seed is only used with --chaos", "run");
  }
  auto vars = parse_vars(var_items);
  if (!vars) return usage_error(vars.error().message, "run");
  req.spec_file = spec_path;
  req.vars = *vars;
  req.root = o.root;
  req.store_options = store_options(o);
  req.plugin_dirs = to_paths(o.plugins.dirs);
  req.load_default_plugins = !o.plugins.no_default;
  if (vm.count("scenes") != 0) return run_batch_cli(o, vm, req);
  if (vm.count("shard") != 0) return usage_error("--shard is only used with --scenes", "run");
  return execute(o, vm, req.options, [&](std::vector<Reporter*> reporters) {
    req.reporters = std::move(reporters);
    return run_spec(req);
  });
}

int cmd_preflight(const std::vector<std::string>& args) {
  po::options_description opts(
      R"(Usage: stagecheck preflight --root ROOT --scene-id ID --consumer NAME [options]

The quality-gate preflight a downstream consumer (training, import, upsell) runs before it
uses a scene's episodes. Primary: scenes/ID/episode-generation-job/quality_gate_report.json;
fallback, only when that report is absent: every per-episode quality_certificate.json.
When it blocks: exit 1, and scenes/ID/NAME/.failed is written atomically as JSON with the
error code (quality_gate_blocked, quality_gate_unreadable, certificates_failed,
quality_artifacts_missing), message and report_path; exit 3 if it cannot be written. A
passing preflight writes nothing and warns about a stale .failed from an earlier run. A
missing, empty or "unknown" scene id is exit 2. The spec is examples/blueprint/preflight.yaml,
bundled into stagecheck. ROOT is a folder or s3://BUCKET[/PREFIX]; on a bucket the marker is
written into the bucket.

Options)");
  RunCli o;
  std::string scene_id, consumer;
  opts.add_options()("help,h", "show this help")("scene-id", po::value(&scene_id),
                                                 "the scene to check (required)")(
      "consumer", po::value(&consumer), "the downstream job, e.g. training (required)");
  add_run_options(opts, o);
  po::variables_map vm;
  if (auto stop = parse_args(args, opts, nullptr, nullptr, vm, "preflight")) return *stop;
  if (vm.count("scene-id") == 0) return usage_error("preflight needs --scene-id", "preflight");
  if (vm.count("consumer") == 0) return usage_error("preflight needs --consumer", "preflight");
  PreflightRequest req;
  if (auto stop = apply_run_options(o, vm, req.options, "preflight")) return *stop;
  if (auto stop = open_run_history(o, vm, "preflight")) return *stop;
  req.history = o.history_store.get();
  req.scene_id = scene_id;
  req.consumer = consumer;
  req.root = o.root;
  req.store_options = store_options(o);
  req.plugin_dirs = to_paths(o.plugins.dirs);
  req.load_default_plugins = !o.plugins.no_default;
  return execute(o, vm, req.options, [&](std::vector<Reporter*> reporters) {
    req.reporters = std::move(reporters);
    return run_preflight(req);
  });
}

}  // namespace stagecheck::driver
