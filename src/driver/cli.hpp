#pragma once
// Shared pieces of the `stagecheck` driver's verbs: option parsing, plugin setup, store
// options, signal handling and report output. Internal to the driver.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "stagecheck/embed.hpp"
#include "stagecheck/history.hpp"
#include "stagecheck/open_store.hpp"
#include "stagecheck/plugin_loader.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/reporter.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/runner.hpp"

namespace stagecheck::driver {

namespace po = boost::program_options;

constexpr int kExitUsage = 2;

/// Set by SIGINT/SIGTERM while a verb runs (see install_signal_handlers()).
extern std::atomic<bool> g_interrupted;

/// Installs the SIGINT/SIGTERM handlers that set g_interrupted (a second signal ends the
/// process the default way); restore_signal_handlers() puts the defaults back.
void install_signal_handlers();
void restore_signal_handlers();

int usage_error(const std::string& message, const char* verb);
Result<std::map<std::string, std::string>> parse_vars(const std::vector<std::string>& items);
Result<std::uint64_t> parse_size(const std::string& text);

struct PluginOptions {
  std::vector<std::string> dirs;
  bool no_default = false;
};

void add_plugin_options(po::options_description& opts, PluginOptions& p);
std::vector<std::filesystem::path> to_paths(const std::vector<std::string>& dirs);
/// Built-in checks plus plugins; prints the refusal and returns false on any error.
bool registry_setup(Registry& registry, PluginLoader& loader, const PluginOptions& p);

/// Options shared by `run` and `preflight`.
struct RunCli {
  std::string root = ".";
  std::string report_json, junit, format = "text", max_bytes_text = "64M";
  unsigned jobs = 0;
  int max_depth = 256;
  PluginOptions plugins;
  // Object stores (--root s3://... or gs://...).
  std::string endpoint_url, region, profile;
  std::string gcs_api = "json", gcs_token_file;
  unsigned io_concurrency = 32;
  unsigned io_retries = 5;
  unsigned io_timeout = 30;
  // The run's metrics: a textfile for node_exporter, and/or a Pushgateway.
  std::string metrics_file, pushgateway;
  std::vector<std::string> metrics_labels;
  // Alerts: Alertmanager's API and/or a plain webhook.
  std::string alertmanager, alert_webhook, alert_on = "fail", alert_report_url, alert_generator_url,
                                           alert_expires = "24h";
  std::vector<std::string> alert_labels;
  bool alert_dry_run = false, no_alert_resolve = false;
  /// Whether any alert target is set.
  bool alerting() const { return !alertmanager.empty() || !alert_webhook.empty(); }
  // Watching the run: live progress on stderr, structured logs.
  bool monitor = false;
  double monitor_interval = 2.0;
  std::string log_format = "text", log_level = "info", log_file;
  // The run history: --history URL (default STAGECHECK_HISTORY) and its retention.
  std::string history, history_max_age;
  long long history_keep = 0;
  /// Opened by open_run_history() before the run; shared so RunCli stays copyable.
  std::shared_ptr<History> history_store;
  Retention history_retention;
};

/// True if any --log-* option was given: only then are logs written.
bool logging_wanted(const po::variables_map& vm);

void add_run_options(po::options_description& opts, RunCli& o);
/// Parses `args` with `opts` plus one hidden positional; returns an exit code to stop with.
std::optional<int> parse_args(const std::vector<std::string>& args,
                              const po::options_description& opts, const char* positional,
                              std::string* positional_value, po::variables_map& vm,
                              const char* verb);
/// Checks the shared options and fills the run options; returns an exit code to stop with.
std::optional<int> apply_run_options(const RunCli& o, const po::variables_map& vm, RunOptions& ro,
                                     const char* verb);
/// Opens --history (or STAGECHECK_HISTORY) into `o.history_store` and checks the retention
/// options; returns an exit code (2) to stop with when it cannot be opened.
std::optional<int> open_run_history(RunCli& o, const po::variables_map& vm, const char* verb);
/// Applies --history-keep / --history-max-age after the run(s) were recorded; prints why not
/// and returns false if it failed.
bool apply_history_retention(const RunCli& o);
/// Parses a duration: 30d, 12h, 90m or 3600s.
Result<std::chrono::seconds> parse_duration(const std::string& text);
/// The history URL from --history, else STAGECHECK_HISTORY; empty if neither.
std::string history_url(const std::string& option, const po::variables_map& vm);
/// Store settings for a bucket --root.
StoreOptions store_options(const RunCli& o);
/// Writes an output file atomically: a local path, or an object `s3://BUCKET/KEY` or
/// `gs://BUCKET/KEY` (written through the bucket store with `store`'s settings).
Result<void> write_output(const std::string& path, const std::string& body,
                          const StoreOptions& store);
/// Splits `s3://BUCKET/KEY` into the bucket root and the key; an error if there is no key.
Result<std::pair<std::string, std::string>> split_object_uri(const std::string& uri);
/// Prints why nothing ran (a spec error as the loader wrote it, else "stagecheck: error: ...")
/// and returns `exit_code`.
int nothing_ran(const std::string& error, Errc code, ExitCode exit_code);
/// Runs `go` with the console reporter (text format) and signal handling, then prints or
/// writes the reports; returns the exit code.
/// `ro`: the run's options, given their run id (new_run_id() unless set) and observers (the
/// --monitor display, the --log-* event log) before `go` runs.
/// Posts (or, with --alert-dry-run, prints) the alerts `report` calls for; returns `code`, made
/// 3 (unless it is 1) when an alert cannot be delivered.
int send_alerts(const RunCli& o, const Report& report, int code, std::ostream& notes,
                const std::function<void(const std::string&)>& on_error = {});
int execute(const RunCli& o, const po::variables_map& vm, RunOptions& ro,
            const std::function<RunOutcome(std::vector<Reporter*>)>& go);

// The verbs.
int cmd_run(const std::vector<std::string>& args);
int cmd_preflight(const std::vector<std::string>& args);
int cmd_validate(const std::vector<std::string>& args);
int cmd_list_checks(const std::vector<std::string>& args);
int cmd_metrics(const std::vector<std::string>& args);
int cmd_merge(const std::vector<std::string>& args);
int cmd_history(const std::vector<std::string>& args);
/// `run --scenes`: the batch over many scenes, with `single`'s settings (cmd_batch.cpp).
int run_batch_cli(const RunCli& o, const po::variables_map& vm, const RunRequest& single);

}  // namespace stagecheck::driver
