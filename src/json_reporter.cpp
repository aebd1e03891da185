#include "stagecheck/json_reporter.hpp"
#include "text_util.hpp"

#include <cmath>
#include <utility>

#include "stagecheck/status.hpp"

namespace stagecheck {
namespace {

using detail::preserve_non_finite;

using nlohmann::json;

json evidence(const json& value) {
  json copy = value;
  preserve_non_finite(copy);
  return copy;
}

// Built by assignment rather than from initializer lists: nlohmann copies every element of
// an initializer list once more, which doubles the cost on reports with many results.
json stage_to_json(const StageResult& stage) {
  json out = json::object();
  out["id"] = stage.id;
  out["name"] = stage.name;
  out["status"] = to_string(stage.status);
  out["reason"] = stage.reason;
  out["duration_ms"] = stage.duration_ms;
  return out;
}

json result_to_json(const CheckResult& result) {
  json out = json::object();
  out["id"] = result.id;
  out["stage"] = result.stage;
  out["type"] = result.type;
  out["description"] = result.description;
  out["status"] = to_string(result.status);
  out["severity"] = to_string(result.severity);
  out["message"] = result.message;
  out["artifacts"] = result.artifacts;
  out["observed"] = evidence(result.observed);
  out["expected"] = evidence(result.expected);
  out["details"] = evidence(result.details);
  if (!result.code.empty()) out["code"] = result.code;
  out["duration_ms"] = result.duration_ms;
  return out;
}

}  // namespace

json report_to_json(const Report& report) {
  const Summary& s = report.summary;
  json stages = json::array();
  for (const StageResult& stage : report.stages) stages.push_back(stage_to_json(stage));
  json results = json::array();
  results.get_ref<json::array_t&>().reserve(report.results.size());
  for (const CheckResult& result : report.results) results.push_back(result_to_json(result));

  json out = json::object();
  out["report_version"] = Report::kReportVersion;
  out["tool"] = json{{"name", "stagecheck"}, {"version", report.tool_version}};
  if (!report.run_id.empty()) out["run_id"] = report.run_id;
  out["spec"] =
      json{{"name", report.spec_name}, {"source", report.spec_source}, {"hash", report.spec_hash}};
  out["root"] = report.root;
  // Consumers index into "vars" unconditionally, so an unset value is reported as {}.
  out["vars"] = report.vars.is_null() ? json::object() : evidence(report.vars);
  if (!report.history.empty()) {
    out["history"] = {{"location", report.history},
                      {"recorded", report.history_error.empty()},
                      {"error", report.history_error}};
  }
  out["started_at"] = report.started_at;
  out["duration_ms"] = report.duration_ms;
  out["verdict"] = report.verdict();
  out["exit_code"] = static_cast<int>(report.exit_code);
  out["fail_on_warn"] = report.fail_on_warn;
  out["interrupted"] = report.interrupted;
  if (!report.failure_marker.empty() || !report.failure_marker_error.empty()) {
    out["failure_marker"] = {{"path", report.failure_marker},
                             {"written", report.failure_marker_error.empty()},
                             {"error", report.failure_marker_error}};
  }
  out["summary"] = json{{"total", s.total},     {"pass", s.pass},
                        {"fail", s.fail},       {"warn", s.warn},
                        {"skipped", s.skipped}, {"blocked", s.blocked},
                        {"error", s.error},     {"evaluated", s.evaluated()}};
  if (!report.iterations.empty()) {
    json its = json::array();
    for (const Iteration& it : report.iterations) {
      its.push_back({{"iteration", it.index},
                     {"exit_code", it.exit_code},
                     {"started_at", it.started_at},
                     {"duration_ms", it.duration_ms},
                     {"pass", it.pass},
                     {"fail", it.fail},
                     {"warn", it.warn},
                     {"error", it.error},
                     {"failed", it.failed},
                     {"unevaluated", it.unevaluated},
                     {"rss_kib", it.rss_kib},
                     {"open_fds", it.open_fds}});
    }
    std::size_t passed = 0;
    for (const Iteration& it : report.iterations) passed += it.exit_code == 0;
    out["stress"] = {{"iterations", report.iterations.size()},
                     {"passed", passed},
                     {"results_from_iteration", report.results_iteration},
                     {"warnings", report.stress_warnings},
                     {"runs", std::move(its)}};
  }
  if (report.chaos) {
    const ChaosReport& c = *report.chaos;
    json faults = json::array();
    for (const InjectedFault& f : c.faults) {
      faults.push_back({{"number", f.number},
                        {"op", f.op},
                        {"path", f.path},
                        {"kind", f.kind},
                        {"attempt", f.attempt},
                        {"outcome", f.outcome},
                        {"recovered", f.recovered}});
    }
    out["chaos"] = {{"rate", c.options.rate},
                    {"seed", c.options.seed},
                    {"retries", c.options.retries},
                    {"injected", c.injected},
                    {"retried_clean", c.retried_clean},
                    {"exhausted", c.exhausted},
                    {"faults_recorded", c.faults.size()},
                    {"faults", std::move(faults)}};
  }
  out["stages"] = std::move(stages);
  out["results"] = std::move(results);
  return out;
}

void JsonReporter::end(const Report& report) {
  // Observed values come from artifacts and may hold invalid UTF-8; replacing it (U+FFFD)
  // keeps the report writable instead of throwing at the very end of a run.
  out_ << report_to_json(report).dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  out_.flush();
}

}  // namespace stagecheck
