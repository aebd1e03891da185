#pragma once
/// \file
/// Alerts: a failing run (and optionally one without a verdict) posted to Alertmanager's API
/// (`POST <url>/api/v2/alerts`) or to a plain webhook, with the failures, the scene and the
/// report's location; a passing run resolves what an earlier run of the same spec and scene
/// fired (Alertmanager only).

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "stagecheck/export.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

/// Which verdicts raise an alert (`--alert-on`).
enum class AlertOn {
  fail,        ///< Exit 1 only (the default).
  no_verdict,  ///< Exit 3 only.
  both,        ///< Exit 1 and exit 3.
};

/// Parses "fail", "no_verdict" or "both".
STAGECHECK_API Result<AlertOn> parse_alert_on(std::string_view text);

/// What an alert carries beyond the report, and how it is delivered.
struct AlertOptions {
  /// Extra labels (`--alert-label`). Names are `[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-prefixed and
  /// not one stagecheck sets (alertname, spec, scene, severity); values are non-empty.
  std::map<std::string, std::string> labels;
  /// Where the report is (a path, an object URI or a URL); empty: none given.
  std::string report_location;
  /// Alertmanager's generatorURL (a link back to the job); empty: omitted.
  std::string generator_url;
  /// A firing alert's endsAt is startsAt + this, so that it stays active until a passing run
  /// resolves it (or it expires). Zero: no endsAt (Alertmanager's resolve_timeout applies).
  std::chrono::seconds expires{std::chrono::hours(24)};
  /// Failures listed one per line in the description annotation; the rest are counted.
  std::size_t max_listed = 20;
  /// Delivery: connect timeout, a transfer with no byte for `idle_timeout` is stalled, and
  /// retries (on 429, 5xx and transport errors) with capped backoff within `max_total`.
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::seconds idle_timeout{10};
  unsigned retries = 2;
  std::chrono::milliseconds max_total{20000};
};

/// Whether a run with `verdict` raises an alert under `on`.
STAGECHECK_API bool alert_due(ExitCode verdict, AlertOn on) noexcept;

/// The alert's labels for `report`: alertname (StagecheckRunFailed, or StagecheckNoVerdict for
/// a run without a verdict), spec, scene (when the variable scene_id is bound), severity
/// (critical for a failure, warning for no verdict) and `options.labels`.
STAGECHECK_API std::map<std::string, std::string> alert_labels(const Report& report,
                                                               const AlertOptions& options);

/// One line: "stagecheck: <spec> FAILED for scene <id>: 3 of 42 checks failed" (or "NO
/// VERDICT ...: 2 of 42 checks could not be evaluated", or "PASSED").
STAGECHECK_API std::string alert_summary(const Report& report);

/// The body of `POST <url>/api/v2/alerts` (a JSON array). A failing or no-verdict run: one
/// firing alert (startsAt `now`, endsAt `now + options.expires`). A passing run: the
/// resolutions (endsAt `now`) of both alert names for this spec, scene and labels, so that
/// whichever an earlier run fired resolves.
STAGECHECK_API nlohmann::json alertmanager_payload(const Report& report,
                                                   const AlertOptions& options,
                                                   std::chrono::system_clock::time_point now);

/// The body of a plain webhook post: {version, status: "firing", run_id, spec, scene, verdict,
/// exit_code, summary, failures: [{id, stage, type, status, message}], counts, report, labels,
/// started_at}.
STAGECHECK_API nlohmann::json webhook_payload(const Report& report, const AlertOptions& options);

/// Checks an alert URL (`option` names it in the message): http:// or https://, a host, no
/// fragment; `base` (an Alertmanager) also no query. Errc::invalid_argument otherwise. The
/// message never shows credentials.
STAGECHECK_API Result<void> check_alert_url(std::string_view url, std::string_view option,
                                            bool base);

/// Checks --alert-label names and values (see AlertOptions::labels).
STAGECHECK_API Result<void> check_alert_labels(const std::map<std::string, std::string>& labels);

/// `url` with any user:password@ replaced by "***@", for messages.
STAGECHECK_API std::string redact_url(std::string_view url);

/// Where alerts go to on an Alertmanager at `base_url`: `<base_url>/api/v2/alerts`.
STAGECHECK_API std::string alertmanager_endpoint(std::string_view base_url);

/// POSTs `body` (JSON) to `url` with the timeouts and retries of `options`. A 2xx answer is
/// success; anything else (after retries) is Errc::unavailable with the status (and the start
/// of the answer) or the transport error. Credentials in `url` are used (basic auth) but never
/// shown. Thread-safe.
STAGECHECK_API Result<void> post_alert(const std::string& url, const std::string& body,
                                       const AlertOptions& options);

}  // namespace stagecheck
