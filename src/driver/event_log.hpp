#pragma once
// The driver's structured logs (`--log-format text|json`, `--log-level`, `--log-file`): a
// RunObserver that writes one line per event through spdlog, each with the run id. Internal
// to the driver.

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/result.hpp"
#include "stagecheck/run_observer.hpp"

namespace spdlog {
class logger;
}

namespace stagecheck::driver {

/// Where and how to log.
struct LogSettings {
  std::string format = "text";  ///< text or json
  std::string level = "info";   ///< debug, info, warn or error
  std::string file;             ///< Appended to; empty: stderr.
};

/// Severity of an event.
enum class LogLevel { debug, info, warn, error };

/// Parses "debug", "info", "warn" or "error".
Result<LogLevel> parse_log_level(std::string_view text);

/// Structured event log. Thread-safe: events may come from any thread; each line is written
/// whole. Every line carries `run_id`. No line ever contains the value of a secret variable
/// (see RunObserver): every field, and then the whole line, is scrubbed.
class EventLog final : public RunObserver {
 public:
  /// Opens the log (the file is created or appended to). An error names the file.
  static Result<std::unique_ptr<EventLog>> open(const LogSettings& settings, std::string run_id);
  ~EventLog() override;

  /// Writes one event: `fields` (an object) after ts, level, run_id and event.
  void event(LogLevel level, std::string_view name, nlohmann::ordered_json fields);
  /// A batch: `run_id` (of open()) is the batch's id; each scene's events carry the scene's
  /// own run id and, as `batch_id`, the batch's.
  void set_batch(bool batch) { batch_ = batch; }
  /// Values that must never appear in a line (added to those of on_run_start).
  void add_secrets(const std::vector<std::string>& values);

  void on_run_start(const RunInfo& info, const std::vector<std::string>& secret_values) override;
  void on_stage_start(std::string_view stage_id) override;
  void on_stage_finish(const StageResult& stage) override;
  void on_check_start(std::string_view stage_id, std::string_view check_id,
                      std::string_view type) override;
  void on_artifact_read(std::string_view stage_id, std::string_view check_id,
                        std::string_view path) override;
  void on_check_finish(const CheckResult& result) override;
  void on_run_finish(const Report& report) override;

 private:
  EventLog(std::shared_ptr<spdlog::logger> logger, bool json, LogLevel level, std::string run_id);
  bool enabled(LogLevel level) const { return level >= level_; }
  std::string scrub(std::string text) const;  // needs mutex_

  std::shared_ptr<spdlog::logger> logger_;
  bool json_;
  LogLevel level_;
  std::string run_id_;
  bool batch_ = false;
  mutable std::mutex mutex_;
  std::vector<std::string> secrets_;  // raw values and their JSON-escaped forms
};

}  // namespace stagecheck::driver
