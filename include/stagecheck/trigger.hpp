#pragma once
/// \file
/// Trigger and StageWait: how a stage starts its work before it is validated (only with
/// `--execute` / RunOptions::execute) and how it waits, bounded, for the work's markers.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/artifact_ref.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/path_template.hpp"
#include "stagecheck/source_mark.hpp"

namespace stagecheck {

/// `trigger: {command: [...]}`: runs a program, never through a shell. Each argument and
/// each `env` value may use `${var}` (spec variables, plus `${root}`, the store being
/// validated); secret variables are shown as `***` in the report.
struct CommandTrigger {
  std::vector<std::string> argv;           ///< Templates; argv[0] is looked up on PATH.
  std::map<std::string, std::string> env;  ///< Set explicitly (templates).
  /// Names passed through from stagecheck's own environment (default: PATH only). Nothing
  /// else is inherited.
  std::vector<std::string> env_allow{"PATH"};
  std::string cwd;  ///< Working folder (template); empty: stagecheck's own.
  /// At the timeout the command and every process in its process group get SIGTERM, then
  /// SIGKILL after `kill_grace`.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds kill_grace{std::chrono::seconds(2)};
};

/// `trigger: {http: {...}}`: one HTTP request, e.g. to start a workflow.
struct HttpTrigger {
  std::string method = "POST";
  std::string url;                             ///< Template; http:// or https:// only.
  std::map<std::string, std::string> headers;  ///< Values are templates.
  std::string body;                            ///< Template.
  std::vector<long> expect_status{200, 201, 202, 204};
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};

/// `trigger: {write_marker: {path, fields}}`: writes a JSON input marker into the store
/// (atomically), e.g. the `.ready` file a pipeline watches for.
struct MarkerTrigger {
  PathTemplate path;
  nlohmann::json fields = nlohmann::json::object();  ///< `$var` values already bound.
};

/// A stage's trigger: exactly one of the three kinds.
struct Trigger {
  enum class Kind { command, http, write_marker };
  Kind kind = Kind::command;
  CommandTrigger command;
  HttpTrigger http;
  MarkerTrigger marker;
  SourceMark mark;
};

/// `wait: {for: [...], timeout, interval, max_interval}`: after the trigger, polls until every
/// listed marker exists, with capped exponential backoff, and fails at the deadline naming
/// what is still missing. Never an unbounded loop.
struct StageWait {
  std::vector<ArtifactRef> markers;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  std::chrono::milliseconds max_interval{std::chrono::seconds(15)};
  /// With a trigger: a marker counts only if it was modified at or after the trigger started
  /// (less 2 s for clock skew and stores that keep whole seconds), so that an earlier run's
  /// marker is never taken for this run's. `newer_than_trigger: false` turns it off.
  bool newer_than_trigger = true;
  SourceMark mark;
};

/// Sends SIGKILL to every command trigger still running (its whole process group). Safe to
/// call from a signal handler: the driver calls it when a second SIGINT/SIGTERM ends the
/// process at once.
STAGECHECK_API void kill_running_triggers() noexcept;

}  // namespace stagecheck
