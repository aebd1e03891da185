// Shared pieces of the driver's verbs (see cli.hpp).

#include "cli.hpp"
#include "event_log.hpp"

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

#include "stagecheck/alert.hpp"
#include "stagecheck/console_reporter.hpp"
#include "stagecheck/json_reporter.hpp"
#include "stagecheck/junit_reporter.hpp"
#include "stagecheck/local_store.hpp"
#include "stagecheck/metrics_export.hpp"
#include "stagecheck/open_store.hpp"
#include "stagecheck/progress_monitor.hpp"
#include "stagecheck/trigger.hpp"

namespace stagecheck::driver {

std::atomic<bool> g_interrupted{false};

namespace {
extern "C" void on_signal(int sig) {
  if (!g_interrupted.exchange(true)) return;  // the first: stop new work, finish cleanly
  // A second signal ends the process at once, and the commands it triggered with it.
  kill_running_triggers();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
}  // namespace

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

void restore_signal_handlers() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

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

void add_run_options(po::options_description& opts, RunCli& o) {
  // clang-format off
  opts.add_options()
    ("root", po::value(&o.root), "folder, s3://BUCKET[/PREFIX] or gs://BUCKET[/PREFIX] holding the artifacts (default: the current folder)")
    ("report-json", po::value(&o.report_json), "write the JSON report to this file, or to an object s3://BUCKET/KEY or gs://BUCKET/KEY (atomically)")
    ("junit", po::value(&o.junit), "write a JUnit XML report to this file (atomically)")
    ("format", po::value(&o.format), "stdout format: text (default) or json (the JSON report, nothing else)")
    ("jobs,j", po::value(&o.jobs), "checks run at once (default: the number of cores; for an s3:// or gs:// root, --io-concurrency)")
    ("fail-on-warn", "exit 1 when a warning-severity check did not hold")
    ("quiet,q", "text format: print only failures, errors, warnings and the summary")
    ("max-bytes", po::value(&o.max_bytes_text), "largest artifact read whole, e.g. 64M (default 64M)")
    ("max-depth", po::value(&o.max_depth), "deepest JSON/YAML nesting accepted (default 256)")
    ("endpoint-url", po::value(&o.endpoint_url), "s3:// root (and gs:// with --gcs-api s3): the S3 endpoint, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS; for gs://, https://storage.googleapis.com)")
    ("region", po::value(&o.region), "s3:// root: the region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1)")
    ("profile", po::value(&o.profile), "s3:// root: the profile in ~/.aws/credentials (default: AWS_PROFILE, else default); used only when AWS_ACCESS_KEY_ID is not set")
    ("gcs-api", po::value(&o.gcs_api), "gs:// root: json (default: the GCS JSON API with an OAuth token) or s3 (GCS's S3 interoperability mode at https://storage.googleapis.com with HMAC keys, taken as for s3://)")
    ("gcs-token-file", po::value(&o.gcs_token_file), "gs:// root: a file holding an OAuth access token (default: GOOGLE_OAUTH_ACCESS_TOKEN_FILE); GOOGLE_OAUTH_ACCESS_TOKEN wins over it, gcloud and the metadata server come after it")
    ("io-concurrency", po::value(&o.io_concurrency), "s3:// and gs:// roots: requests in flight at once (default 32; separate from --jobs)")
    ("io-retries", po::value(&o.io_retries), "s3:// and gs:// roots: retries of a request on 429, 5xx and transport errors (default 5)")
    ("io-timeout", po::value(&o.io_timeout), "s3:// and gs:// roots: seconds to connect, and seconds without a byte before a transfer counts as stalled (default 30)")
    ("metrics-file", po::value(&o.metrics_file), "write the run's metrics in Prometheus text format to this file (atomically; for node_exporter's textfile collector)")
    ("pushgateway", po::value(&o.pushgateway), "push the run's metrics to this Pushgateway URL (job=stagecheck, spec=NAME)")
    ("metrics-label", po::value(&o.metrics_labels)->composing(), "NAME=VALUE added to every metric and to the Pushgateway grouping key (repeatable)")
    ("alertmanager", po::value(&o.alertmanager), "on a failing run, post an alert to this Alertmanager (POST URL/api/v2/alerts); a passing run resolves it; with --scenes, per scene")
    ("alert-webhook", po::value(&o.alert_webhook), "on a failing run, POST the alert as JSON to this URL")
    ("alert-on", po::value(&o.alert_on), "which verdicts alert: fail (exit 1, the default), no_verdict (exit 3) or both")
    ("alert-label", po::value(&o.alert_labels)->composing(), "NAME=VALUE added to the alert's labels (repeatable)")
    ("alert-report-url", po::value(&o.alert_report_url), "where the report is, shown in the alert (default: the --report-json file)")
    ("alert-generator-url", po::value(&o.alert_generator_url), "Alertmanager: the alert's generatorURL (e.g. the CI job's page)")
    ("alert-expires", po::value(&o.alert_expires), "Alertmanager: a firing alert ends after this long unless a later run fails again, e.g. 30m, 24h, 7d; 0: Alertmanager's resolve_timeout (default 24h)")
    ("no-alert-resolve", po::bool_switch(&o.no_alert_resolve), "Alertmanager: a passing run does not resolve the alert of an earlier failing run")
    ("alert-dry-run", po::bool_switch(&o.alert_dry_run), "print the alert payload(s) to stderr instead of sending them")
    ("monitor", po::bool_switch(&o.monitor), "show live progress on stderr (never stdout): on a terminal a status line redrawn in place (elapsed, stages running, checks done/total, the check and artifact being read, failures so far) with failures printed above it; elsewhere plain lines every --monitor-interval seconds, per finished stage and per failure; with --scenes, a line per finished scene")
    ("monitor-interval", po::value(&o.monitor_interval), "--monitor without a terminal: seconds between periodic lines (default 2)")
    ("log-format", po::value(&o.log_format), "write structured logs: text (default; key=value lines) or json (one JSON object a line: ts, level, run_id, event and its fields); logs are written only when a --log-* option is given, and never contain a secret variable's value; with --scenes, each scene's lines carry its own run_id and the batch's batch_id")
    ("log-level", po::value(&o.log_level), "debug (every check and artifact read), info (default: run start/end, stage ends, failing checks), warn or error")
    ("log-file", po::value(&o.log_file), "append the logs to this file (default: stderr)")
    ("history", po::value(&o.history), "record the run in this history: a SQLite file (PATH, sqlite:PATH or sqlite:///ABS/PATH; created if missing) or postgresql://USER@HOST:PORT/DB (default: STAGECHECK_HISTORY); drift checks read it; see 'stagecheck history --help'. If the run cannot be recorded: exit 3 unless it failed")
    ("history-keep", po::value(&o.history_keep), "after recording, keep only the newest N runs of each spec in the history")
    ("history-max-age", po::value(&o.history_max_age), "after recording, delete runs that started longer ago than this, e.g. 30d, 12h, 90m, 3600s");
  // clang-format on
  add_plugin_options(opts, o.plugins);
}

namespace {

// "0", or a duration (see parse_duration): an alert's lifetime.
Result<std::chrono::seconds> parse_alert_expires(const std::string& text) {
  if (text == "0") return std::chrono::seconds(0);
  auto d = parse_duration(text);
  if (!d) {
    return make_error(Errc::invalid_argument,
                      fmt::format("--alert-expires expects 0 or a duration like 30m, 24h or 7d "
                                  "(at most 100 years), found \"{}\"",
                                  text));
  }
  return d;
}

// The alert settings of the options (checked by apply_run_options).
Result<AlertOptions> alert_options(const RunCli& o) {
  AlertOptions a;
  for (const auto& item : o.alert_labels) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return make_error(Errc::invalid_argument,
                        fmt::format("--alert-label expects NAME=VALUE, found \"{}\"", item));
    }
    a.labels[item.substr(0, eq)] = item.substr(eq + 1);
  }
  if (auto ok = check_alert_labels(a.labels); !ok) return std::move(ok).error();
  if (!o.alert_generator_url.empty()) {
    if (auto ok = check_alert_url(o.alert_generator_url, "--alert-generator-url", false); !ok) {
      return std::move(ok).error();
    }
    a.generator_url = o.alert_generator_url;
  }
  auto expires = parse_alert_expires(o.alert_expires);
  if (!expires) return std::move(expires).error();
  a.expires = *expires;
  if (!o.alert_report_url.empty()) {
    a.report_location = o.alert_report_url;
  } else if (!o.report_json.empty()) {
    // A relative path means nothing to whoever reads the alert.
    std::error_code ec;
    a.report_location = is_store_uri(o.report_json)
                            ? o.report_json
                            : std::filesystem::absolute(o.report_json, ec).string();
    if (ec) a.report_location = o.report_json;
  }
  return a;
}

// Checks the alert options; an error message, or "".
std::string check_alert_options(const RunCli& o, const po::variables_map& vm) {
  if (!o.alerting()) {
    for (const char* name :
         {"alert-on", "alert-label", "alert-report-url", "alert-generator-url", "alert-expires"}) {
      if (vm.count(name) != 0) {
        return fmt::format("--{} needs --alertmanager URL or --alert-webhook URL", name);
      }
    }
    if (o.alert_dry_run) return "--alert-dry-run needs --alertmanager URL or --alert-webhook URL";
    if (o.no_alert_resolve) return "--no-alert-resolve needs --alertmanager URL";
    return {};
  }
  if (!o.alertmanager.empty()) {
    if (auto ok = check_alert_url(o.alertmanager, "--alertmanager", true); !ok) {
      return ok.error().message;
    }
  }
  if (!o.alert_webhook.empty()) {
    if (auto ok = check_alert_url(o.alert_webhook, "--alert-webhook", false); !ok) {
      return ok.error().message;
    }
  }
  if (o.no_alert_resolve && o.alertmanager.empty()) {
    return "--no-alert-resolve needs --alertmanager URL (a webhook is never resolved)";
  }
  if (auto on = parse_alert_on(o.alert_on); !on) return on.error().message;
  if (auto a = alert_options(o); !a) return a.error().message;
  return {};
}

}  // namespace

// Posts (or, with --alert-dry-run, prints) the alerts `report` calls for; returns the exit
// code: a failed delivery makes it 3 unless the run already failed.
int send_alerts(const RunCli& o, const Report& report, int code, std::ostream& notes,
                const std::function<void(const std::string&)>& on_error) {
  auto options = alert_options(o);
  auto on = parse_alert_on(o.alert_on);
  if (!options || !on) return code;  // checked before the run
  const bool due = alert_due(report.exit_code, *on);
  const bool resolve =
      report.exit_code == ExitCode::pass && !o.no_alert_resolve && !o.alertmanager.empty();
  struct Post {
    std::string url, body, what;
  };
  std::vector<Post> posts;
  auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (!o.alertmanager.empty() && (due || resolve)) {
    posts.push_back({alertmanager_endpoint(o.alertmanager),
                     dump(alertmanager_payload(report, *options, std::chrono::system_clock::now())),
                     due ? alert_labels(report, *options)["alertname"] : "resolution"});
  }
  if (!o.alert_webhook.empty() && due) {
    posts.push_back({o.alert_webhook, dump(webhook_payload(report, *options)), "webhook alert"});
  }
  if (o.alert_dry_run) {
    if (posts.empty()) {
      std::cerr << fmt::format("stagecheck: alert dry run: no alert is due (verdict {})\n",
                               report.verdict());
    }
    for (const Post& p : posts) {
      std::cerr << fmt::format("stagecheck: alert dry run: would POST to {}:\n{}\n",
                               redact_url(p.url), p.body);
    }
    return code;
  }
  for (const Post& p : posts) {
    if (auto ok = post_alert(p.url, p.body, *options); !ok) {
      const std::string message =
          fmt::format("cannot send the alert to {}: {}", redact_url(p.url), ok.error().message);
      std::cerr << "stagecheck: error: " << message << "\n";
      if (on_error) on_error(message);
      if (code != static_cast<int>(ExitCode::fail)) code = static_cast<int>(ExitCode::no_verdict);
    } else {
      notes << fmt::format("Sent {} to {}\n", p.what, redact_url(p.url));
    }
  }
  return code;
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
  std::map<std::string, std::string> labels;
  for (const auto& item : o.metrics_labels) {
    if (item.find('=') == std::string::npos) {
      return usage_error(fmt::format("--metrics-label expects NAME=VALUE, found \"{}\"", item),
                         verb);
    }
    labels[item.substr(0, item.find('='))] = item.substr(item.find('=') + 1);
  }
  if (auto ok = report_to_metrics(Report{}, labels); !ok) {
    return usage_error(ok.error().message, verb);
  }
  if (!o.pushgateway.empty() && o.pushgateway.rfind("http://", 0) != 0 &&
      o.pushgateway.rfind("https://", 0) != 0) {
    return usage_error(fmt::format("--pushgateway expects an http:// or https:// URL, found \"{}\"",
                                   o.pushgateway),
                       verb);
  }
  if (const std::string why = check_alert_options(o, vm); !why.empty()) {
    return usage_error(why, verb);
  }
  if (vm.count("jobs") != 0 && o.jobs == 0) return usage_error("--jobs must be at least 1", verb);
  if (o.max_depth < 1) return usage_error("--max-depth must be at least 1", verb);
  auto max_bytes = parse_size(o.max_bytes_text);
  if (!max_bytes) return usage_error("--max-bytes: " + max_bytes.error().message, verb);
  ro.jobs = o.jobs;
  // Checks on a bucket wait on the network, not the CPU: by default as many run (and read) at
  // once as requests may be in flight, not one per core.
  if (vm.count("jobs") == 0 && is_store_uri(o.root)) ro.jobs = o.io_concurrency;
  ro.fail_on_warn = vm.count("fail-on-warn") != 0;
  ro.limits.max_bytes = *max_bytes;
  ro.limits.max_depth = o.max_depth;
  ro.cancel = &g_interrupted;
  if (o.io_concurrency == 0) return usage_error("--io-concurrency must be at least 1", verb);
  if (o.io_timeout == 0) return usage_error("--io-timeout must be at least 1", verb);
  if (o.gcs_api != "json" && o.gcs_api != "s3") {
    return usage_error(fmt::format("--gcs-api must be json or s3, found \"{}\"", o.gcs_api), verb);
  }
  if (!(o.monitor_interval > 0.0 && o.monitor_interval <= 86400.0)) {
    return usage_error(
        fmt::format("--monitor-interval must be more than 0 and at most 86400 seconds, found {}",
                    o.monitor_interval),
        verb);
  }
  if (vm.count("monitor-interval") != 0 && !o.monitor) {
    return usage_error("--monitor-interval is only used with --monitor", verb);
  }
  if (o.log_format != "text" && o.log_format != "json") {
    return usage_error(fmt::format("--log-format must be text or json, found \"{}\"", o.log_format),
                       verb);
  }
  if (auto level = parse_log_level(o.log_level); !level) {
    return usage_error(level.error().message, verb);
  }
  if (vm.count("log-file") != 0 && o.log_file.empty()) {
    return usage_error("--log-file needs a path", verb);
  }
  if (o.monitor && logging_wanted(vm) && o.log_file.empty()) {
    return usage_error(
        "--monitor and the logs would both write to stderr: give the logs a --log-file PATH", verb);
  }
  return std::nullopt;
}

bool logging_wanted(const po::variables_map& vm) {
  return vm.count("log-format") != 0 || vm.count("log-level") != 0 || vm.count("log-file") != 0;
}

Result<std::chrono::seconds> parse_duration(const std::string& text) {
  auto bad = [&] {
    return make_error(
        Errc::invalid_argument,
        fmt::format("expected a duration like 30d, 12h, 90m or 3600s, found \"{}\"", text));
  };
  if (text.size() < 2) return bad();
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    if (text.front() < '0' || text.front() > '9') return bad();
    n = std::stoull(text, &pos);
  } catch (const std::exception&) {
    return bad();
  }
  if (pos != text.size() - 1) return bad();
  unsigned long long unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return bad();
  }
  if (n == 0) return make_error(Errc::invalid_argument, "the duration must be positive");
  if (n > 100ull * 365 * 86400 / unit) return bad();
  return std::chrono::seconds(static_cast<std::int64_t>(n * unit));
}

std::string history_url(const std::string& option, const po::variables_map& vm) {
  if (vm.count("history") != 0) return option;
  const char* env = std::getenv("STAGECHECK_HISTORY");
  return env != nullptr ? env : "";
}

std::optional<int> open_run_history(RunCli& o, const po::variables_map& vm, const char* verb) {
  const std::string url = history_url(o.history, vm);
  if (vm.count("history") != 0 && url.empty()) return usage_error("--history is empty", verb);
  if (vm.count("history-keep") != 0 && o.history_keep < 1) {
    return usage_error("--history-keep must be at least 1", verb);
  }
  o.history_retention.keep_last = static_cast<std::size_t>(std::max(0LL, o.history_keep));
  if (vm.count("history-max-age") != 0) {
    auto age = parse_duration(o.history_max_age);
    if (!age) return usage_error("--history-max-age: " + age.error().message, verb);
    o.history_retention.max_age = *age;
  }
  if (url.empty()) {
    if (vm.count("history-keep") != 0 || vm.count("history-max-age") != 0) {
      return usage_error(
          "--history-keep and --history-max-age need --history URL (or "
          "STAGECHECK_HISTORY)",
          verb);
    }
    return std::nullopt;
  }
  auto opened = open_history(url);
  if (!opened) {
    return usage_error(fmt::format("cannot open the history{}: {}",
                                   vm.count("history") != 0 ? "" : " (STAGECHECK_HISTORY)",
                                   opened.error().message),
                       verb);
  }
  o.history_store = std::move(*opened);
  return std::nullopt;
}

bool apply_history_retention(const RunCli& o) {
  if (!o.history_store) return true;
  const Retention& r = o.history_retention;
  if (r.keep_last == 0 && r.max_age.count() == 0) return true;
  auto deleted = o.history_store->prune(r);
  if (!deleted) {
    std::cerr << fmt::format(
        "stagecheck: error: cannot apply the retention to the history {}: {}\n",
        o.history_store->describe(), deleted.error().message);
    return false;
  }
  return true;
}

// Store settings for a bucket --root. A CLI takes its credentials where the cloud SDKs do, so
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
  options.gcs_api = o.gcs_api == "s3" ? GcsApi::s3 : GcsApi::json;
  options.gcs.env = process_environment();
  options.gcs.token_file = o.gcs_token_file;
  options.gcs.io_concurrency = o.io_concurrency;
  options.gcs.retry.max_retries = o.io_retries;
  options.gcs.connect_timeout = std::chrono::seconds(o.io_timeout);
  options.gcs.idle_timeout = std::chrono::seconds(o.io_timeout);
  return options;
}

int nothing_ran(const std::string& error, Errc code, ExitCode exit_code) {
  // Spec errors are lines that start with file:line:column, as `validate` prints them.
  if (code != Errc::spec_error) std::cerr << "stagecheck: error: ";
  std::cerr << error << "\n";
  std::cerr << "stagecheck: error: nothing was run\n";
  return static_cast<int>(exit_code);
}

Result<std::pair<std::string, std::string>> split_object_uri(const std::string& uri) {
  const std::size_t scheme = uri.find("://");
  const std::size_t slash =
      scheme == std::string::npos ? std::string::npos : uri.find('/', scheme + 3);
  if (slash == std::string::npos || slash + 1 >= uri.size() || uri.back() == '/') {
    return make_error(Errc::invalid_argument,
                      fmt::format("'{}': expected SCHEME://BUCKET/KEY naming an object", uri));
  }
  return std::pair{uri.substr(0, slash), uri.substr(slash + 1)};
}

Result<void> write_output(const std::string& path, const std::string& body,
                          const StoreOptions& store) {
  if (!is_store_uri(path)) return write_file_atomic(path, body);
  auto parts = split_object_uri(path);
  if (!parts) return std::move(parts).error();
  auto opened = open_store(parts->first, store);
  if (!opened) return std::move(opened).error();
  return (*opened)->write_atomic(parts->second, body);
}

// Runs `go` with the console reporter (text format) and signal handling, then prints or
// writes the reports; returns the exit code.
int execute(const RunCli& o, const po::variables_map& vm, RunOptions& ro,
            const std::function<RunOutcome(std::vector<Reporter*>)>& go) {
  // One run id from the start, so that the first log line already carries it.
  if (ro.run_id.empty()) ro.run_id = new_run_id();
  std::unique_ptr<EventLog> log;
  if (logging_wanted(vm)) {
    auto opened = EventLog::open({o.log_format, o.log_level, o.log_file}, ro.run_id);
    if (!opened) return usage_error(opened.error().message, nullptr);
    log = std::move(*opened);
    ro.observers.push_back(log.get());
  }
  // An error the driver reports on stderr, and as an `error` event in the logs.
  auto log_error = [&](const std::string& message) {
    if (log) log->event(LogLevel::error, "error", {{"message", message}});
  };
  std::optional<ProgressMonitor> monitor;
  if (o.monitor) {
    MonitorOptions mo;
    mo.tty = ProgressMonitor::is_terminal(STDERR_FILENO);
    mo.width = ProgressMonitor::terminal_width(STDERR_FILENO);
    mo.interval = std::chrono::milliseconds(static_cast<long long>(o.monitor_interval * 1000.0));
    monitor.emplace(std::cerr, mo);
    ro.observers.push_back(&*monitor);
  }
  ConsoleOptions copts;
  copts.color = want_color(STDOUT_FILENO);
  copts.quiet = vm.count("quiet") != 0;
  ConsoleReporter console(std::cout, copts);
  std::vector<Reporter*> reporters;
  if (o.format == "text") {
    // The status line steps aside while the console writes (they may share a terminal).
    if (monitor) reporters.push_back(&monitor->hold_output());
    reporters.push_back(&console);
    if (monitor) reporters.push_back(&monitor->release_output());
  }

  install_signal_handlers();
  RunOutcome outcome = go(reporters);
  restore_signal_handlers();
  monitor.reset();  // joins its ticker; nothing more is drawn
  if (!outcome.report) {
    log_error(outcome.error);
    return nothing_ran(outcome.error, outcome.error_code, outcome.exit_code);
  }
  const Report& report = *outcome.report;
  int code = static_cast<int>(report.exit_code);
  std::ostream& notes = o.format == "json" ? std::cerr : std::cout;
  if (!report.failure_marker_error.empty()) {
    notes << fmt::format(
        "stagecheck: error: the run failed but its failure marker '{}' could not "
        "be written: {} (exit 3)\n",
        report.failure_marker, report.failure_marker_error);
    log_error(fmt::format("the run failed but its failure marker '{}' could not be written: {}",
                          report.failure_marker, report.failure_marker_error));
  } else if (!report.failure_marker.empty()) {
    notes << fmt::format("Wrote failure marker {}\n", report.failure_marker);
  }
  if (!report.history_error.empty()) {
    std::cerr << fmt::format("stagecheck: error: cannot record the run in the history {}: {}\n",
                             report.history, report.history_error);
    log_error(fmt::format("cannot record the run in the history {}: {}", report.history,
                          report.history_error));
  }
  if (!apply_history_retention(o) && code == 0) code = static_cast<int>(ExitCode::no_verdict);
  if (!report.iterations.empty()) {
    notes << fmt::format("\nStress: {} iteration(s)\n", report.iterations.size());
    for (const Iteration& it : report.iterations) {
      notes << fmt::format(
          "  iteration {:>3}: {:<10} exit {}  {} pass, {} fail, {} error  {:.2f} s  rss {:.1f} MiB "
          " "
          "{} fds{}\n",
          it.index,
          it.exit_code == 0   ? "PASS"
          : it.exit_code == 1 ? "FAIL"
                              : "NO VERDICT",
          it.exit_code, it.pass, it.fail, it.error, it.duration_ms / 1000.0,
          static_cast<double>(it.rss_kib) / 1024.0, it.open_fds,
          it.failed.empty() ? "" : fmt::format("  failed: {}", fmt::join(it.failed, ", ")));
    }
    for (const auto& w : report.stress_warnings) notes << "  warning: " << w << "\n";
    notes << fmt::format("Overall: {} (exit {}); results above are from iteration {}\n",
                         report.exit_code == ExitCode::pass   ? "PASS"
                         : report.exit_code == ExitCode::fail ? "FAIL"
                                                              : "NO VERDICT",
                         static_cast<int>(report.exit_code), report.results_iteration);
  }
  if (report.chaos) {
    const ChaosReport& c = *report.chaos;
    notes << fmt::format(
        "\nChaos (--chaos {} --seed {}, {} retries): {} fault(s) injected; {} request(s) "
        "retried clean; {} fault(s) returned as errors (could not be evaluated)\n",
        c.options.rate, c.options.seed, c.options.retries, c.injected, c.retried_clean,
        c.exhausted);
    std::size_t shown = 0;
    for (const InjectedFault& f : c.faults) {
      if (f.outcome == "retried" && f.recovered) continue;
      if (++shown > 20) {
        notes << "  ... (every fault is in the JSON report)\n";
        break;
      }
      notes << fmt::format("  #{} {} '{}': {} (attempt {}): {}\n", f.number, f.op, f.path, f.kind,
                           f.attempt, f.outcome);
    }
    if (shown == 0 && c.injected > 0) {
      notes << "  every fault was retried clean (each is listed in the JSON report)\n";
    }
  }
  const std::string json_text =
      report_to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (o.format == "json") std::cout << json_text;
  std::cout.flush();
  auto write_report = [&](const std::string& path, const std::string& body, const char* what) {
    if (path.empty()) return;
    if (auto ok = write_output(path, body, store_options(o)); !ok) {
      const std::string message =
          fmt::format("cannot write the {} report: {}", what, ok.error().message);
      std::cerr << "stagecheck: error: " << message << "\n";
      log_error(message);
      if (code == 0) code = static_cast<int>(ExitCode::no_verdict);
    }
  };
  write_report(o.report_json, json_text, "JSON");
  write_report(o.junit, report_to_junit(report), "JUnit");
  if (!o.metrics_file.empty() || !o.pushgateway.empty()) {
    std::map<std::string, std::string> labels;
    for (const auto& item : o.metrics_labels) {
      const std::size_t eq = item.find('=');
      labels[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
    }
    auto fail = [&](const std::string& what, const std::string& why) {
      std::cerr << fmt::format("stagecheck: error: {}: {}\n", what, why);
      log_error(fmt::format("{}: {}", what, why));
      if (code == 0) code = static_cast<int>(ExitCode::no_verdict);
    };
    auto text = report_to_metrics(report, labels);
    if (!text) {
      fail("metrics", text.error().message);
    } else {
      write_report(o.metrics_file, *text, "metrics");
      if (!o.pushgateway.empty()) {
        if (auto ok = push_metrics(o.pushgateway, report.spec_name, labels, *text,
                                   std::chrono::seconds(10));
            !ok) {
          fail("cannot push the metrics", ok.error().message);
        }
      }
    }
  }
  if (o.alerting()) {
    std::cout.flush();
    code = send_alerts(o, report, code, notes, log_error);
  }
  if (code != static_cast<int>(report.exit_code)) {
    // The reports above carry the run's own verdict; say why the process ends otherwise.
    const std::string message = fmt::format(
        "exit {}: the run's verdict is {} (exit {}), but it could not be handed on (see the "
        "errors above)",
        code, report.verdict(), static_cast<int>(report.exit_code));
    std::cerr << "stagecheck: " << message << "\n";
    log_error(message);
  }
  return code;
}

}  // namespace stagecheck::driver
