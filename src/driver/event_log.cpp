// The driver's structured logs (see event_log.hpp).

#include "event_log.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "stagecheck/status.hpp"

namespace stagecheck::driver {

namespace {
// The run this thread is running, from on_run_start to on_run_finish: a batch runs its scenes
// on their own threads (each scene's checks on its thread), each with its own run id.
thread_local std::string t_run_id;
}  // namespace
namespace {

std::string now_rfc3339_ms() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "error";
}

spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warn:
      return spdlog::level::warn;
    case LogLevel::error:
      return spdlog::level::err;
  }
  return spdlog::level::err;
}

constexpr auto kDump = nlohmann::json::error_handler_t::replace;

// A value as text logs show it: bare when it is a plain word, else JSON-quoted.
std::string text_value(const nlohmann::ordered_json& v) {
  if (!v.is_string()) return v.dump(-1, ' ', false, kDump);
  const auto& s = v.get_ref<const std::string&>();
  const bool bare = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b > 0x20 && b != 0x7f && c != '"' && c != '=' && c != '\\';
  });
  return bare ? s : v.dump(-1, ' ', false, kDump);
}

}  // namespace

Result<LogLevel> parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::debug;
  if (text == "info") return LogLevel::info;
  if (text == "warn") return LogLevel::warn;
  if (text == "error") return LogLevel::error;
  return make_error(
      Errc::invalid_argument,
      fmt::format("--log-level must be debug, info, warn or error, found \"{}\"", text));
}

Result<std::unique_ptr<EventLog>> EventLog::open(const LogSettings& settings, std::string run_id) {
  if (settings.format != "text" && settings.format != "json") {
    return make_error(
        Errc::invalid_argument,
        fmt::format("--log-format must be text or json, found \"{}\"", settings.format));
  }
  auto level = parse_log_level(settings.level);
  if (!level) return std::move(level).error();
  if (!settings.file.empty()) {
    // spdlog would create missing folders: a mistyped path is an error instead.
    const std::filesystem::path parent = std::filesystem::path(settings.file).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      return make_error(Errc::not_found,
                        fmt::format("--log-file '{}': the folder '{}' does not exist",
                                    settings.file, parent.string()));
    }
  }
  std::shared_ptr<spdlog::sinks::sink> sink;
  try {
    if (settings.file.empty()) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(settings.file, false);
    }
  } catch (const std::exception& e) {
    return make_error(
        Errc::io_error,
        fmt::format("--log-file '{}': cannot open it for appending: {}", settings.file, e.what()));
  }
  auto logger = std::make_shared<spdlog::logger>("stagecheck", std::move(sink));
  logger->set_pattern("%v");  // each line is built whole here: ts, level, run id, fields
  logger->set_level(to_spdlog(*level));
  logger->flush_on(spdlog::level::trace);  // every line reaches the file at once
  return std::unique_ptr<EventLog>(
      new EventLog(std::move(logger), settings.format == "json", *level, std::move(run_id)));
}

EventLog::EventLog(std::shared_ptr<spdlog::logger> logger, bool json, LogLevel level,
                   std::string run_id)
    : logger_(std::move(logger)), json_(json), level_(level), run_id_(std::move(run_id)) {}

EventLog::~EventLog() {
  if (logger_) logger_->flush();
}

void EventLog::add_secrets(const std::vector<std::string>& values) {
  std::lock_guard lock(mutex_);
  for (const auto& v : values) {
    if (v.empty()) continue;
    secrets_.push_back(v);
    // The form a JSON line would carry it in (quotes, backslashes, control bytes escaped).
    std::string escaped = nlohmann::json(v).dump(-1, ' ', false, kDump);
    escaped = escaped.substr(1, escaped.size() - 2);
    if (escaped != v) secrets_.push_back(std::move(escaped));
  }
}

std::string EventLog::scrub(std::string text) const {
  return redact_secrets(std::move(text), secrets_);
}

void EventLog::event(LogLevel level, std::string_view name, nlohmann::ordered_json fields) {
  if (!enabled(level)) return;
  std::lock_guard lock(mutex_);
  const std::string& run_id = t_run_id.empty() ? run_id_ : t_run_id;
  nlohmann::ordered_json line = {{"ts", now_rfc3339_ms()},
                                 {"level", level_name(level)},
                                 {"run_id", run_id},
                                 {"event", std::string(name)}};
  if (batch_) line["batch_id"] = run_id_;
  for (auto& [key, value] : fields.items()) {
    if (value.is_string()) value = scrub(value.get<std::string>());
    line[key] = std::move(value);
  }
  std::string text;
  if (json_) {
    text = line.dump(-1, ' ', false, kDump);
  } else {
    text = fmt::format("{} {:<5} run_id={} event={}", line["ts"].get<std::string>(),
                       level_name(level), run_id, name);
    for (const auto& [key, value] : line.items()) {
      if (key == "ts" || key == "level" || key == "run_id" || key == "event") continue;
      text += fmt::format(" {}={}", key, text_value(value));
    }
  }
  // The last line of defence: no secret value, raw or escaped, in the line as written.
  logger_->log(to_spdlog(level), "{}", scrub(std::move(text)));
}

void EventLog::on_run_start(const RunInfo& info, const std::vector<std::string>& secret_values) {
  add_secrets(secret_values);
  t_run_id = info.run_id;
  event(LogLevel::info, "run_start",
        {{"spec", info.spec_name},
         {"spec_source", info.spec_source},
         {"root", info.root},
         {"checks", info.check_count},
         {"started_at", info.started_at}});
}

void EventLog::on_stage_start(std::string_view stage_id) {
  event(LogLevel::debug, "stage_start", {{"stage", std::string(stage_id)}});
}

void EventLog::on_stage_finish(const StageResult& stage) {
  nlohmann::ordered_json f = {{"stage", stage.id},
                              {"status", std::string(to_string(stage.status))},
                              {"duration_ms", stage.duration_ms}};
  if (!stage.reason.empty()) f["message"] = stage.reason;
  event(LogLevel::info, "stage_end", std::move(f));
}

void EventLog::on_check_start(std::string_view stage_id, std::string_view check_id,
                              std::string_view type) {
  event(LogLevel::debug, "check_start",
        {{"stage", std::string(stage_id)},
         {"check", std::string(check_id)},
         {"type", std::string(type)}});
}

void EventLog::on_artifact_read(std::string_view stage_id, std::string_view check_id,
                                std::string_view path) {
  event(LogLevel::debug, "artifact_read",
        {{"stage", std::string(stage_id)},
         {"check", std::string(check_id)},
         {"path", std::string(path)}});
}

void EventLog::on_check_finish(const CheckResult& r) {
  const LogLevel level = r.status == Status::fail || r.status == Status::error ? LogLevel::error
                         : r.status == Status::warn                            ? LogLevel::warn
                                                                               : LogLevel::debug;
  nlohmann::ordered_json f = {{"stage", r.stage},
                              {"check", r.id},
                              {"type", r.type},
                              {"status", std::string(to_string(r.status))},
                              {"duration_ms", r.duration_ms},
                              {"message", r.message}};
  if (!r.code.empty()) f["code"] = r.code;
  if (!r.artifacts.empty()) f["path"] = r.artifacts.front();
  event(level, "check_end", std::move(f));
}

void EventLog::on_run_finish(const Report& report) {
  const Summary& s = report.summary;
  event(LogLevel::info, "run_end",
        {{"spec", report.spec_name},
         {"status", std::string(report.verdict())},
         {"exit_code", static_cast<int>(report.exit_code)},
         {"duration_ms", report.duration_ms},
         {"interrupted", report.interrupted},
         {"total", s.total},
         {"pass", s.pass},
         {"fail", s.fail},
         {"warn", s.warn},
         {"error", s.error},
         {"skipped", s.skipped},
         {"blocked", s.blocked}});
  t_run_id.clear();
}

}  // namespace stagecheck::driver
