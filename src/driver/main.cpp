// The `stagecheck` driver: loads check types, runs a spec, writes reports and gates on the
// result through its exit code (see the README's table).

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
#include <boost/program_options.hpp>

#include "dataset_regression/metrics.hpp"
#include "stagecheck/console_reporter.hpp"
#include "stagecheck/embed.hpp"
#include "stagecheck/json_reporter.hpp"
#include "stagecheck/junit_reporter.hpp"
#include "stagecheck/local_store.hpp"
#include "stagecheck/open_store.hpp"
#include "stagecheck/plugin_loader.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/runner.hpp"
#include "stagecheck/spec.hpp"
#include "stagecheck/version.hpp"

namespace po = boost::program_options;
using namespace stagecheck;

namespace {

constexpr int kExitUsage = 2;

std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int sig) {
  g_interrupted.store(true);
  // A second signal ends the process the default way.
  std::signal(sig, SIG_DFL);
}

const char* const kMainHelp = R"(stagecheck - end-to-end validation of data pipelines

Usage:
  stagecheck run SPEC [options]        run a spec's checks and gate on the result
  stagecheck preflight --root ROOT --scene-id ID --consumer NAME
                                       the downstream quality-gate preflight; writes
                                       scenes/ID/NAME/.failed when it blocks
  stagecheck validate SPEC [--var K=V]  load and validate a spec; run nothing
  stagecheck metrics --dataset-dir DIR print a dataset's regression metrics as JSON (the
                                       keys of the pipeline's baseline_metrics.json)
  stagecheck list-checks [--json]      list every check type, its parameters and docs
  stagecheck --version                 print the version
  stagecheck VERB --help               help for one verb

ROOT (--root) is a folder or an S3 bucket: s3://BUCKET[/PREFIX] (AWS S3, GCS through its S3
interoperability endpoint, MinIO, ...). Endpoint, region and credentials come from the options
or, as for the AWS CLI, from AWS_ENDPOINT_URL(_S3), AWS_REGION, AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and ~/.aws/credentials (AWS_PROFILE); see 'run --help'.

Exit codes (every verb):
  0  at least one check was evaluated; none failed; none could not be evaluated
     (warnings allowed unless --fail-on-warn)
  1  at least one check failed (missing, malformed, truncated, wrongly typed, oversized or
     out-of-root artifacts included); takes precedence over 3
  2  usage, spec or plugin error, found before anything ran
  3  no verdict: nothing failed, but something could not be evaluated (permission denied,
     store unreachable), nothing was evaluated at all, or the run was interrupted
A report is written for 0, 1 and 3.
)";

int usage_error(const std::string& message, const char* verb) {
  std::cerr << "stagecheck: error: " << message << "\n";
  if (verb != nullptr) std::cerr << "Try 'stagecheck " << verb << " --help'.\n";
  return kExitUsage;
}

Result<std::map<std::string, std::string>> parse_vars(const std::vector<std::string>& items) {
  std::map<std::string, std::string> vars;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return make_error(Errc::invalid_argument,
                        fmt::format("--var expects NAME=VALUE, found \"{}\"", item));
    }
    vars[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return vars;
}

Result<std::uint64_t> parse_size(const std::string& text) {
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &pos);
  } catch (const std::exception&) {
    return make_error(Errc::invalid_argument,
                      fmt::format("expected a size like 64M, found \"{}\"", text));
  }
  std::string suffix = text.substr(pos);
  std::uint64_t mult = 1;
  if (suffix.empty() || suffix == "B")
    mult = 1;
  else if (suffix == "K" || suffix == "KiB")
    mult = 1ull << 10;
  else if (suffix == "M" || suffix == "MiB")
    mult = 1ull << 20;
  else if (suffix == "G" || suffix == "GiB")
    mult = 1ull << 30;
  else
    return make_error(Errc::invalid_argument,
                      fmt::format("expected a size like 64M, found \"{}\"", text));
  if (n == 0) return make_error(Errc::invalid_argument, "the size must be positive");
  return static_cast<std::uint64_t>(n) * mult;
}

struct PluginOptions {
  std::vector<std::string> dirs;
  bool no_default = false;
};

void add_plugin_options(po::options_description& opts, PluginOptions& p) {
  opts.add_options()("plugin-dir", po::value(&p.dirs)->composing(),
                     "also load every *.so check plugin in this folder (repeatable)")(
      "no-default-plugins", po::bool_switch(&p.no_default),
      "do not load the installed plugin folder (<libdir>/stagecheck/plugins)");
}

std::vector<std::filesystem::path> to_paths(const std::vector<std::string>& dirs) {
  return {dirs.begin(), dirs.end()};
}

// Built-in checks plus plugins; prints the refusal and returns false on any error.
bool registry_setup(Registry& registry, PluginLoader& loader, const PluginOptions& p) {
  if (auto ok = register_builtin_checks(registry); !ok) {
    std::cerr << "stagecheck: error: " << ok.error().message << "\n";
    return false;
  }
  if (auto ok = loader.load_all(to_paths(p.dirs), !p.no_default); !ok) {
    std::cerr << "stagecheck: error: " << ok.error().message << "\n";
    return false;
  }
  return true;
}

// ---- run ----------------------------------------------------------------------------------

// Options shared by `run` and `preflight`.
struct RunCli {
  std::string root = ".";
  std::string report_json, junit, format = "text", max_bytes_text = "64M";
  unsigned jobs = 0;
  int max_depth = 256;
  PluginOptions plugins;
  // Object stores (--root s3://...).
  std::string endpoint_url, region, profile;
  unsigned io_concurrency = 32;
  unsigned io_retries = 5;
  unsigned io_timeout = 30;
};

void add_run_options(po::options_description& opts, RunCli& o) {
  // clang-format off
  opts.add_options()
    ("root", po::value(&o.root), "folder or s3://BUCKET[/PREFIX] holding the artifacts (default: the current folder)")
    ("report-json", po::value(&o.report_json), "write the JSON report to this file (atomically)")
    ("junit", po::value(&o.junit), "write a JUnit XML report to this file (atomically)")
    ("format", po::value(&o.format), "stdout format: text (default) or json (the JSON report, nothing else)")
    ("jobs,j", po::value(&o.jobs), "checks run at once (default: number of cores)")
    ("fail-on-warn", "exit 1 when a warning-severity check did not hold")
    ("quiet,q", "text format: print only failures, errors, warnings and the summary")
    ("max-bytes", po::value(&o.max_bytes_text), "largest artifact read whole, e.g. 64M (default 64M)")
    ("max-depth", po::value(&o.max_depth), "deepest JSON/YAML nesting accepted (default 256)")
    ("endpoint-url", po::value(&o.endpoint_url), "s3:// root: the S3 endpoint, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS)")
    ("region", po::value(&o.region), "s3:// root: the region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1)")
    ("profile", po::value(&o.profile), "s3:// root: the profile in ~/.aws/credentials (default: AWS_PROFILE, else default); used only when AWS_ACCESS_KEY_ID is not set")
    ("io-concurrency", po::value(&o.io_concurrency), "s3:// root: requests in flight at once (default 32; separate from --jobs)")
    ("io-retries", po::value(&o.io_retries), "s3:// root: retries of a request on 429, 5xx and transport errors (default 5)")
    ("io-timeout", po::value(&o.io_timeout), "s3:// root: seconds to connect, and seconds without a byte before a transfer counts as stalled (default 30)");
  // clang-format on
  add_plugin_options(opts, o.plugins);
}

// Parses `args` with `opts` plus one hidden positional; returns an exit code to stop with.
std::optional<int> parse_args(const std::vector<std::string>& args,
                              const po::options_description& opts, const char* positional,
                              std::string* positional_value, po::variables_map& vm,
                              const char* verb) {
  po::options_description all;
  all.add(opts);
  po::options_description hidden;
  po::positional_options_description pos;
  if (positional != nullptr) {
    hidden.add_options()(positional, po::value(positional_value));
    all.add(hidden);
    pos.add(positional, 1);
  }
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return usage_error(e.what(), verb);
  }
  if (vm.count("help") != 0) {
    std::cout << opts << "\n";
    return 0;
  }
  return std::nullopt;
}

// Checks the shared options and fills the run options; returns an exit code to stop with.
std::optional<int> apply_run_options(const RunCli& o, const po::variables_map& vm, RunOptions& ro,
                                     const char* verb) {
  if (o.format != "text" && o.format != "json") {
    return usage_error(fmt::format("--format must be text or json, found \"{}\"", o.format), verb);
  }
  if (vm.count("jobs") != 0 && o.jobs == 0) return usage_error("--jobs must be at least 1", verb);
  if (o.max_depth < 1) return usage_error("--max-depth must be at least 1", verb);
  auto max_bytes = parse_size(o.max_bytes_text);
  if (!max_bytes) return usage_error("--max-bytes: " + max_bytes.error().message, verb);
  ro.jobs = o.jobs;
  ro.fail_on_warn = vm.count("fail-on-warn") != 0;
  ro.limits.max_bytes = *max_bytes;
  ro.limits.max_depth = o.max_depth;
  ro.cancel = &g_interrupted;
  if (o.io_concurrency == 0) return usage_error("--io-concurrency must be at least 1", verb);
  if (o.io_timeout == 0) return usage_error("--io-timeout must be at least 1", verb);
  return std::nullopt;
}

// Store settings for a bucket --root. A CLI takes its credentials where the AWS SDKs do, so
// the driver, unlike a check, reads the process environment for them.
StoreOptions store_options(const RunCli& o) {
  StoreOptions options;
  options.s3.env = process_environment();
  options.s3.endpoint = o.endpoint_url;
  options.s3.region = o.region;
  options.s3.profile = o.profile;
  options.s3.io_concurrency = o.io_concurrency;
  options.s3.retry.max_retries = o.io_retries;
  options.s3.connect_timeout = std::chrono::seconds(o.io_timeout);
  options.s3.idle_timeout = std::chrono::seconds(o.io_timeout);
  return options;
}

// Runs `go` with the console reporter (text format) and signal handling, then prints or
// writes the reports; returns the exit code.
int execute(const RunCli& o, const po::variables_map& vm,
            const std::function<RunOutcome(std::vector<Reporter*>)>& go) {
  ConsoleOptions copts;
  copts.color = want_color(STDOUT_FILENO);
  copts.quiet = vm.count("quiet") != 0;
  ConsoleReporter console(std::cout, copts);
  std::vector<Reporter*> reporters;
  if (o.format == "text") reporters.push_back(&console);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  RunOutcome outcome = go(reporters);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (!outcome.report) {
    // Spec errors are lines that start with file:line:column, as `validate` prints them.
    if (outcome.error_code != Errc::spec_error) std::cerr << "stagecheck: error: ";
    std::cerr << outcome.error << "\n";
    std::cerr << "stagecheck: error: nothing was run\n";
    return static_cast<int>(outcome.exit_code);
  }
  const Report& report = *outcome.report;
  int code = static_cast<int>(report.exit_code);
  std::ostream& notes = o.format == "json" ? std::cerr : std::cout;
  if (!report.failure_marker_error.empty()) {
    notes << fmt::format(
        "stagecheck: error: the run failed but its failure marker '{}' could not "
        "be written: {} (exit 3)\n",
        report.failure_marker, report.failure_marker_error);
  } else if (!report.failure_marker.empty()) {
    notes << fmt::format("Wrote failure marker {}\n", report.failure_marker);
  }
  const std::string json_text =
      report_to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (o.format == "json") std::cout << json_text;
  std::cout.flush();
  auto write_report = [&](const std::string& path, const std::string& body, const char* what) {
    if (path.empty()) return;
    if (auto ok = write_file_atomic(path, body); !ok) {
      std::cerr << fmt::format("stagecheck: error: cannot write the {} report: {}\n", what,
                               ok.error().message);
      if (code == 0) code = static_cast<int>(ExitCode::no_verdict);
    }
  };
  write_report(o.report_json, json_text, "JSON");
  write_report(o.junit, report_to_junit(report), "JUnit");
  return code;
}

// ---- run ----------------------------------------------------------------------------------

int cmd_run(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck run SPEC [options]

Runs every stage of SPEC against the artifacts under --root (a folder or s3://BUCKET[/PREFIX])
and exits with the verdict
(0 pass, 1 fail, 2 usage/spec error, 3 no verdict). Every stage is evaluated: a failure
never stops the run; stages whose dependency failed are reported as blocked. If the spec
has on_failure.write_marker and the run fails, that marker is written (exit 3 if it cannot).

Options)");
  RunCli o;
  std::vector<std::string> var_items;
  opts.add_options()("help,h", "show this help")("var", po::value(&var_items)->composing(),
                                                 "set a spec variable, NAME=VALUE (repeatable)");
  add_run_options(opts, o);
  po::variables_map vm;
  std::string spec_path;
  if (auto stop = parse_args(args, opts, "spec", &spec_path, vm, "run")) return *stop;
  if (spec_path.empty()) return usage_error("run needs a SPEC file", "run");
  RunRequest req;
  if (auto stop = apply_run_options(o, vm, req.options, "run")) return *stop;
  auto vars = parse_vars(var_items);
  if (!vars) return usage_error(vars.error().message, "run");
  req.spec_file = spec_path;
  req.vars = *vars;
  req.root = o.root;
  req.store_options = store_options(o);
  req.plugin_dirs = to_paths(o.plugins.dirs);
  req.load_default_plugins = !o.plugins.no_default;
  return execute(o, vm, [&](std::vector<Reporter*> reporters) {
    req.reporters = std::move(reporters);
    return run_spec(req);
  });
}

// ---- preflight ----------------------------------------------------------------------------

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
  req.scene_id = scene_id;
  req.consumer = consumer;
  req.root = o.root;
  req.store_options = store_options(o);
  req.plugin_dirs = to_paths(o.plugins.dirs);
  req.load_default_plugins = !o.plugins.no_default;
  return execute(o, vm, [&](std::vector<Reporter*> reporters) {
    req.reporters = std::move(reporters);
    return run_preflight(req);
  });
}

// ---- validate -----------------------------------------------------------------------------

int cmd_validate(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck validate SPEC [--var NAME=VALUE]...

Loads SPEC, checks every key, type, variable, condition, path and check parameter, binds the
variables, and runs nothing. Exit 0 if the spec is valid, 2 otherwise (every error is listed
with file:line:column).

Options)");
  std::vector<std::string> var_items;
  opts.add_options()("help,h", "show this help")("var", po::value(&var_items)->composing(),
                                                 "set a spec variable, NAME=VALUE (repeatable)");
  PluginOptions plugins;
  add_plugin_options(opts, plugins);
  std::string spec_path;
  po::variables_map vm;
  if (auto stop = parse_args(args, opts, "spec", &spec_path, vm, "validate")) return *stop;
  if (spec_path.empty()) return usage_error("validate needs a SPEC file", "validate");
  auto vars = parse_vars(var_items);
  if (!vars) return usage_error(vars.error().message, "validate");
  Registry registry;
  PluginLoader loader(registry);
  if (!registry_setup(registry, loader, plugins)) return kExitUsage;
  SpecOptions sopts;
  sopts.registry = &registry;
  sopts.vars = *vars;
  auto spec = load_spec_file(spec_path, sopts);
  if (!spec) {
    std::cerr << spec.error().message << "\n";
    return kExitUsage;
  }
  std::cout << fmt::format("{}: spec \"{}\" is valid: {} stages, {} checks\n", spec_path,
                           spec->name, spec->stages.size(), spec->check_count());
  return 0;
}

// ---- metrics ------------------------------------------------------------------------------

int cmd_metrics(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck metrics --dataset-dir DIR [options]

Prints the golden dataset regression metrics of DIR as JSON on stdout, with sorted keys, as
the pipeline's baseline_metrics.json spells them: episode_count, quality_distribution,
quality_summary, collision_rate, duration_seconds, checksums and checksums_path (DIR joined
with the manifest used). Reads DIR/recordings/**/*.json and the checksum manifest named by
DIR/import_manifest.json's checksums_path, else DIR/checksums.json; hashes every file it
lists. Save the output as baseline_metrics.json to pin a baseline for the dataset_regression
check (examples/dataset/regression.yaml). Fails closed: exit 1 and no JSON when a recording
is unreadable or malformed, a quality_score is missing or outside [0, 1], there are no
recordings, or the checksum manifest is missing or malformed; exit 2 for a missing DIR or a
usage error; exit 3 when a file cannot be read (permission, I/O) or on interruption.

Options)");
  std::string dataset_dir, recordings = "recordings", checksums, max_bytes_text = "64M";
  unsigned jobs = 0;
  // clang-format off
  opts.add_options()
    ("help,h", "show this help")
    ("dataset-dir", po::value(&dataset_dir), "the dataset folder (required)")
    ("recordings", po::value(&recordings), "recordings folder relative to DIR (default: recordings)")
    ("checksums", po::value(&checksums), "checksum manifest relative to DIR (default: from import_manifest.json, else checksums.json)")
    ("jobs,j", po::value(&jobs), "threads reading and hashing (default: number of cores)")
    ("max-bytes", po::value(&max_bytes_text), "largest JSON file read, e.g. 64M (default 64M)");
  // clang-format on
  po::variables_map vm;
  if (auto stop = parse_args(args, opts, nullptr, nullptr, vm, "metrics")) return *stop;
  if (dataset_dir.empty()) return usage_error("metrics needs --dataset-dir", "metrics");
  if (vm.count("jobs") != 0 && jobs == 0)
    return usage_error("--jobs must be at least 1", "metrics");
  auto max_bytes = parse_size(max_bytes_text);
  if (!max_bytes) return usage_error("--max-bytes: " + max_bytes.error().message, "metrics");
  for (const auto* rel : {&recordings, &checksums}) {
    if (rel->empty() && rel == &checksums) continue;
    if (auto valid = validate_store_path(*rel); !valid) {
      return usage_error(fmt::format("--{}: {}", rel == &recordings ? "recordings" : "checksums",
                                     valid.error().message),
                         "metrics");
    }
  }
  auto store = open_local_store(dataset_dir);
  if (!store) return usage_error("--dataset-dir: " + store.error().message, "metrics");
  dataset_regression::MetricsOptions mo;
  mo.recordings = recordings;
  mo.checksums = checksums;
  mo.limits.max_bytes = *max_bytes;
  mo.jobs = jobs != 0 ? jobs : std::max(1u, std::thread::hardware_concurrency());
  mo.cancelled = [] { return g_interrupted.load(); };
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  auto metrics = dataset_regression::compute_metrics(**store, mo);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (!metrics) {
    std::cerr << "stagecheck: error: " << metrics.error().message << "\n";
    return status_for(metrics.error().code) == Status::fail
               ? static_cast<int>(ExitCode::fail)
               : static_cast<int>(ExitCode::no_verdict);
  }
  const std::string shown = (std::filesystem::path(dataset_dir) / metrics->checksums_path).string();
  std::cout << dataset_regression::metrics_to_json(*metrics, shown)
                   .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  return 0;
}

// ---- list-checks --------------------------------------------------------------------------

nlohmann::json info_to_json(const Registry::Entry& e) {
  nlohmann::json params = nlohmann::json::array();
  for (const auto& p : e.info.params) {
    params.push_back({{"name", p.name},
                      {"type", to_string(p.type)},
                      {"required", p.required},
                      {"default", p.default_value},
                      {"choices", p.choices},
                      {"description", p.description}});
  }
  return {{"type", e.info.type},       {"category", e.info.category},
          {"summary", e.info.summary}, {"description", e.info.description},
          {"params", params},          {"example", e.info.example},
          {"source", e.source}};
}

int cmd_list_checks(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck list-checks [--json]

Lists every check type the driver knows (built in or from plugins): its category, the
plugin that provides it, its parameters and documentation.

Options)");
  opts.add_options()("help,h", "show this help")("json", "print JSON instead of text");
  PluginOptions plugins;
  add_plugin_options(opts, plugins);
  po::variables_map vm;
  if (auto stop = parse_args(args, opts, nullptr, nullptr, vm, "list-checks")) return *stop;
  Registry registry;
  PluginLoader loader(registry);
  if (!registry_setup(registry, loader, plugins)) return kExitUsage;
  if (vm.count("json") != 0) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto* e : registry.entries()) out.push_back(info_to_json(*e));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (const auto* e : registry.entries()) {
    std::cout << fmt::format("{}  [{}]  from {}\n  {}\n", e->info.type, e->info.category, e->source,
                             e->info.summary);
    if (!e->info.description.empty()) std::cout << "  " << e->info.description << "\n";
    std::cout << "  parameters:\n";
    for (const auto& p : e->info.params) {
      std::string extra;
      if (p.required) extra = ", required";
      if (!p.default_value.is_null()) extra += fmt::format(", default {}", p.default_value.dump());
      if (!p.choices.empty()) extra += fmt::format(", one of {}", fmt::join(p.choices, "|"));
      std::cout << fmt::format("    {} ({}{}): {}\n", p.name, to_string(p.type), extra,
                               p.description);
    }
    if (!e->info.example.empty()) {
      std::cout << "  example:\n";
      std::istringstream lines(e->info.example);
      for (std::string line; std::getline(lines, line);) std::cout << "    " << line << "\n";
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kMainHelp;
    return kExitUsage;
  }
  const std::string verb = args.front();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (verb == "--help" || verb == "-h" || verb == "help") {
      std::cout << kMainHelp;
      return 0;
    }
    if (verb == "--version" || verb == "-V") {
      std::cout << "stagecheck " << version() << "\n";
      return 0;
    }
    if (verb == "run") return cmd_run(rest);
    if (verb == "preflight") return cmd_preflight(rest);
    if (verb == "validate") return cmd_validate(rest);
    if (verb == "list-checks") return cmd_list_checks(rest);
    if (verb == "metrics") return cmd_metrics(rest);
  } catch (const std::exception& e) {
    std::cerr << "stagecheck: internal error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::no_verdict);
  }
  return usage_error(
      fmt::format("unknown verb '{}' (expected run, preflight, validate, list-checks or metrics)",
                  verb),
      nullptr);
}
