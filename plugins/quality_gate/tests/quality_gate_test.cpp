// Tests of the quality_gate check: the report's strict reading, the summary-versus-results
// recount, and approvals/overrides from the file approval store. Specs run in-process with the
// in-tree plugins (run_spec_text); two tests go through the built driver.

#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stagecheck_test_support.hpp"

namespace {

using nlohmann::json;
using stagecheck::CheckResult;
using stagecheck::Status;
namespace st = stagecheck::testing;

constexpr const char* kScene = "kitchen_001";
constexpr const char* kReportPath =
    "scenes/kitchen_001/episode-generation-job/quality_gate_report.json";
constexpr const char* kCheckId = "episode_generation.quality_gate";
constexpr const char* kGoodJustification =
    "Known sensor calibration drift on rig 3; verified acceptable for this delivery by QA.";

/// How the spec under test is written.
struct SpecOptions {
  bool optional = true;
  std::string profile = "production";
  bool approvals = true;
  std::string scene = "scene_id: $scene_id";
  std::string max_bytes;  ///< e.g. "max_bytes: 64" on the artifact
};

std::string make_spec(const SpecOptions& o = {}) {
  std::string spec =
      "version: 1\n"
      "name: qg\n"
      "vars:\n"
      "  scene_id: {type: segment, required: true}\n"
      "  approvals_dir: {type: local_path}\n"
      "artifacts:\n"
      "  quality_gate_report:\n"
      "    path: scenes/${scene_id}/episode-generation-job/quality_gate_report.json\n"
      "    optional: " +
      std::string(o.optional ? "true" : "false") + "\n";
  if (!o.max_bytes.empty()) spec += "    " + o.max_bytes + "\n";
  spec +=
      "stages:\n"
      "  - id: episode_generation\n"
      "    checks:\n"
      "      - id: quality_gate\n"
      "        type: quality_gate\n"
      "        report: quality_gate_report\n"
      "        profile: " +
      o.profile + "\n";
  if (!o.scene.empty()) spec += "        " + o.scene + "\n";
  if (o.approvals) spec += "        approvals: $approvals_dir\n";
  return spec;
}

json gate(const std::string& id, bool passed, const std::string& severity = "error",
          const std::string& message = "", const std::string& checkpoint = "episodes_generated") {
  return {{"gate_id", id},
          {"checkpoint", checkpoint},
          {"passed", passed},
          {"severity", severity},
          {"message", message.empty() ? id + (passed ? " passed" : " failed") : message},
          {"details", json::object()},
          {"recommendations", passed ? json::array() : json::array({"Re-run " + id})},
          {"requires_human_approval", !passed && severity == "error"},
          {"timestamp", "2025-03-02T10:11:12Z"}};
}

/// A v2.0 report whose summary agrees with `results`.
json report(const json& results) {
  int passed = 0, failed = 0, blocking = 0;
  for (const auto& r : results) {
    if (r["passed"].get<bool>()) {
      ++passed;
    } else {
      ++failed;
      if (r["severity"] == "error") ++blocking;
    }
  }
  return {{"report_version", "2.0"},
          {"scene_id", kScene},
          {"timestamp", "2025-03-02T10:11:12Z"},
          {"required_checkpoints", {"episodes_generated"}},
          {"executed_checkpoints", {"episodes_generated"}},
          {"skipped_checkpoints", json::array()},
          {"skip_reasons", json::object()},
          {"summary",
           {{"total_gates", results.size()},
            {"passed", passed},
            {"failed", failed},
            {"blocking_failures", blocking},
            {"can_proceed", blocking == 0},
            {"required_checkpoints", 1},
            {"executed_checkpoints", 1},
            {"skipped_checkpoints", 0}}},
          {"results", results}};
}

/// The seven episodes_generated gates, all passing (like the reference's example).
json passing_gates() {
  return json::array({gate("qg-6-episodes", true, "warning"), gate("qg-11-episode-metadata", true),
                      gate("qg-6a-quality-score-sli", true), gate("qg-6c-sensor-capture", true),
                      gate("qg-6d-physics-validation", true),
                      gate("qg-6b-sim2real", true, "warning"), gate("qg-12b-data-realness", true)});
}

/// Two blocking failures plus five passes.
json two_blocking_gates() {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false, "error", "Average quality score: 0.81 (min 0.90)");
  g[3] = gate("qg-6c-sensor-capture", false, "error", "Sensor capture rate 0.70 (min 0.95)");
  return g;
}

json approval_record(const std::string& request_id, const std::string& gate_id,
                     const std::string& status = "approved") {
  return {{"request_id", request_id},
          {"gate_id", gate_id},
          {"scene_id", kScene},
          {"checkpoint", "episodes_generated"},
          {"status", status},
          {"failure_message", "failed"},
          {"failure_details", json::object()},
          {"recommendations", json::array()},
          {"created_at", "2025-03-02T10:11:12.000000Z"},
          {"expires_at", "2025-03-03T10:11:12.000000Z"},
          {"approved_by", "lead@example.com"},
          {"approved_at", "2025-03-02T11:00:00.123456Z"},
          {"override_reason", nullptr},
          {"override_metadata", nullptr},
          {"approval_notes", nullptr}};
}

json override_record(const std::string& request_id, const std::string& gate_id,
                     const std::string& category = "known_issue",
                     const std::string& ticket = "OPS-1234",
                     const std::string& justification = kGoodJustification) {
  json r = approval_record(request_id, gate_id, "overridden");
  r["approved_by"] = "admin@example.com";
  r["override_reason"] = category + ": " + justification;
  r["override_metadata"] = {{"approver_id", "admin@example.com"},
                            {"category", category},
                            {"ticket", ticket},
                            {"justification", justification},
                            {"timestamp", "2025-03-02T12:00:00Z"}};
  return r;
}

json audit_entry(const std::string& action, const json& record) {
  return {{"timestamp", "2025-03-02T11:00:00.123456Z"},
          {"action", action},
          {"request_id", record["request_id"]},
          {"gate_id", record["gate_id"]},
          {"scene_id", record["scene_id"]},
          {"actor", record["approved_by"]},
          {"reason", record["override_reason"]},
          {"metadata", record["override_metadata"]}};
}

class QualityGate : public ::testing::Test {
 protected:
  void write_report(const json& r) { root_.write(kReportPath, r.dump(2)); }

  void write_record(const json& record) {
    approvals_.write(std::string(kScene) + "/" + record["request_id"].get<std::string>() + ".json",
                     record.dump(2));
  }

  /// Writes the audit log the way the pipeline's FilesystemApprovalStore does (under the scene),
  /// or at the approvals folder's top (the reference's reading).
  void write_audit(const std::vector<json>& entries, bool under_scene = true) {
    std::string body;
    for (const auto& e : entries) body += e.dump() + "\n";
    approvals_.write(under_scene ? std::string(kScene) + "/audit/audit.log.jsonl"
                                 : std::string("audit/audit.log.jsonl"),
                     body);
  }

  /// A record and its backing audit entry.
  void approve(const json& record) {
    write_record(record);
    audit_.push_back(
        audit_entry(record["status"] == "overridden" ? "OVERRIDDEN" : "APPROVED", record));
    write_audit(audit_);
  }

  CheckResult run(const SpecOptions& o = {}, bool with_approvals_dir = true) {
    std::map<std::string, std::string> vars = {{"scene_id", kScene}};
    if (with_approvals_dir) vars["approvals_dir"] = approvals_.path().string();
    stagecheck::RunOutcome out = st::run_spec_text(make_spec(o), root_.path(), vars);
    if (!out.report) {
      ADD_FAILURE() << "nothing ran: " << out.error;
      return {};
    }
    const CheckResult* r = st::find_result(*out.report, kCheckId);
    if (r == nullptr) {
      ADD_FAILURE() << "no result " << kCheckId;
      return {};
    }
    return *r;
  }

  static const json* find_by(const json& list, const std::string& key, const std::string& value) {
    for (const auto& e : list) {
      if (e.contains(key) && e[key] == value) return &e;
    }
    return nullptr;
  }

  st::ScratchDir root_;
  st::ScratchDir approvals_;
  std::vector<json> audit_;
};

std::string prefix() { return std::string("gate report '") + kReportPath + "'"; }

// ---- the report -----------------------------------------------------------------------------

TEST_F(QualityGate, PassingV2ReportPasses) {
  write_report(report(passing_gates()));
  CheckResult r = run();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.message, prefix() +
                           " allows proceeding: 7/7 gates passed, 0 blocking failure(s) "
                           "in results[]");
  EXPECT_EQ(r.code, "");
  EXPECT_EQ(r.expected,
            json({{"can_proceed", true}, {"blocking_failures", 0}, {"scene_id", kScene}}));
  EXPECT_EQ(r.observed["summary"]["can_proceed"], true);
  EXPECT_EQ(r.observed["counts"]["total"], 7);
  EXPECT_EQ(r.observed["counts"]["blocking_after_approvals"], 0);
  EXPECT_EQ(r.details["failing_gates"], json::array());
  ASSERT_EQ(r.artifacts.size(), 1u);
  EXPECT_EQ(r.artifacts[0], kReportPath);
}

TEST_F(QualityGate, ReferenceExampleWithoutScenePinningPasses) {
  // The reference's own example is inconsistent (total_gates 7, one result), so it is made
  // consistent here; no scene_id param and no approvals param.
  json r = report(json::array(
      {gate("qg-6a-quality-score-sli", true, "error", "Average quality score: 0.93 (min 0.90)")}));
  r["results"][0]["details"] = {
      {"average_quality_score", 0.93}, {"total_episodes", 40}, {"threshold", 0.9}};
  write_report(r);
  SpecOptions o;
  o.scene = "";
  o.approvals = false;
  CheckResult res = run(o);
  EXPECT_EQ(res.status, Status::pass) << res.message;
  EXPECT_EQ(res.details["approvals"]["consulted"], false);
  EXPECT_EQ(res.expected, json({{"can_proceed", true}, {"blocking_failures", 0}}));
}

TEST_F(QualityGate, RunbookExampleFailsNamingTheBlockingGateFirst) {
  root_.write(kReportPath, R"({
  "scene_id": "kitchen_001",
  "timestamp": "2024-05-08T12:34:56Z",
  "summary": {"total_gates": 12, "passed": 11, "failed": 1, "blocking_failures": 1,
              "can_proceed": false},
  "results": [
    {"gate_id": "QG-EPISODES-GENERATED", "checkpoint": "episodes_generated", "passed": false,
     "severity": "error", "message": "Blocking failure details...", "details": {},
     "recommendations": [], "requires_human_approval": true,
     "timestamp": "2024-05-08T12:34:56Z"}
  ]
})");
  CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "quality_gate_blocked");
  EXPECT_EQ(r.message.rfind(prefix() + " does not allow proceeding: 1 blocking gate(s) failed: "
                                       "QG-EPISODES-GENERATED [episodes_generated, error]: "
                                       "Blocking failure details...",
                            0),
            0u)
      << r.message;
  // The example's summary counts twelve gates but results[] holds one: also named.
  EXPECT_NE(r.message.find("summary.total_gates is 12 but results[] holds 1 gate(s)"),
            std::string::npos)
      << r.message;
  ASSERT_EQ(r.details["failing_gates"].size(), 1u);
  EXPECT_EQ(r.details["failing_gates"][0]["gate_id"], "QG-EPISODES-GENERATED");
  EXPECT_EQ(r.details["failing_gates"][0]["blocking"], true);
}

TEST_F(QualityGate, SummarySaysProceedButAnErrorGateFailed) {
  json r = report(two_blocking_gates());
  r["results"][3]["passed"] = true;  // one blocking failure left: qg-6a
  r["summary"] = {{"total_gates", 7},
                  {"passed", 7},
                  {"failed", 0},
                  {"blocking_failures", 0},
                  {"can_proceed", true},
                  {"required_checkpoints", 1},
                  {"executed_checkpoints", 1},
                  {"skipped_checkpoints", 0}};
  write_report(r);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_NE(res.message.find("1 blocking gate(s) failed: qg-6a-quality-score-sli "
                             "[episodes_generated, error]: Average quality score: 0.81 (min "
                             "0.90) (recommendations: Re-run qg-6a-quality-score-sli)"),
            std::string::npos)
      << res.message;
  EXPECT_NE(res.message.find("summary.blocking_failures is 0 but 1 gate(s) in results[] failed "
                             "with severity error"),
            std::string::npos)
      << res.message;
  EXPECT_NE(res.message.find("summary.passed is 7 but 6 gate(s) in results[] passed"),
            std::string::npos);
}

TEST_F(QualityGate, SummaryCountsDisagreeWithResults) {
  json r = report(passing_gates());
  r["summary"]["passed"] = 6;
  r["summary"]["failed"] = 1;
  write_report(r);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_NE(res.details["reasons"].dump().find("quality_gate_inconsistent"), std::string::npos)
      << res.details.dump();
  EXPECT_EQ(res.message, prefix() +
                             " does not allow proceeding: the summary disagrees with results[]: "
                             "summary.passed is 6 but 7 gate(s) in results[] passed; "
                             "summary.failed is 1 but 0 gate(s) in results[] failed");
  EXPECT_EQ(res.details["disagreements"].size(), 2u);
}

TEST_F(QualityGate, CanProceedFalseWithoutBlockingFailuresIsInconsistent) {
  json r = report(passing_gates());
  r["summary"]["can_proceed"] = false;
  write_report(r);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_NE(res.details["reasons"].dump().find("quality_gate_inconsistent"), std::string::npos)
      << res.details.dump();
  EXPECT_NE(res.message.find("summary.can_proceed is false but summary.blocking_failures is 0"),
            std::string::npos)
      << res.message;
}

TEST_F(QualityGate, CheckpointCountsMustMatchTheLists) {
  json r = report(passing_gates());
  r["summary"]["executed_checkpoints"] = 2;
  write_report(r);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_NE(res.details["reasons"].dump().find("quality_gate_inconsistent"), std::string::npos)
      << res.details.dump();
  EXPECT_NE(
      res.message.find("summary.executed_checkpoints is 2 but executed_checkpoints[] lists 1"),
      std::string::npos)
      << res.message;
}

TEST_F(QualityGate, FailingWarningGatePassesAndIsListed) {
  json g = passing_gates();
  g[0] = gate("qg-6-episodes", false, "warning", "Only 4 episodes (min 5)");
  g[5] = gate("qg-6b-sim2real", false, "info", "sim2real skipped");
  write_report(report(g));
  CheckResult r = run();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.message, prefix() +
                           " allows proceeding: 5/7 gates passed, 0 blocking failure(s) in "
                           "results[]; 2 non-blocking failure(s): qg-6-episodes "
                           "[episodes_generated, warning]: Only 4 episodes (min 5); "
                           "qg-6b-sim2real [episodes_generated, info]: sim2real skipped");
  ASSERT_EQ(r.details["non_blocking"].size(), 2u);
  EXPECT_EQ(r.details["non_blocking"][0]["gate_id"], "qg-6-episodes");
  EXPECT_EQ(r.details["non_blocking"][0]["recommendations"], json::array({"Re-run qg-6-episodes"}));
  EXPECT_EQ(r.details["failing_gates"].size(), 2u);
  EXPECT_EQ(r.observed["counts"]["non_blocking"], 2);
}

TEST_F(QualityGate, StringFalseIsNotABoolean) {
  json r = report(passing_gates());
  r["results"][3]["passed"] = "false";
  write_report(r);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_unreadable");
  EXPECT_EQ(res.message, prefix() +
                             " is malformed: results[3].passed: expected a boolean, found "
                             "string \"false\"");
}

TEST_F(QualityGate, FloatOrStringCountsAreNotIntegers) {
  json r = report(passing_gates());
  r["summary"]["blocking_failures"] = 0.0;
  r["summary"]["total_gates"] = "7";
  r["summary"]["passed"] = -1;
  write_report(r);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_unreadable");
  EXPECT_NE(res.message.find("summary.blocking_failures: expected a non-negative integer, found "
                             "number 0.0"),
            std::string::npos)
      << res.message;
  EXPECT_NE(res.message.find("summary.total_gates: expected a non-negative integer, found string "
                             "\"7\""),
            std::string::npos);
  EXPECT_NE(res.message.find("summary.passed: expected a non-negative integer, found integer -1"),
            std::string::npos);
  EXPECT_EQ(res.details["problems"].size(), 3u);
}

TEST_F(QualityGate, WrongTypesAndMissingFieldsAreNamed) {
  json r = report(passing_gates());
  r["results"][0]["severity"] = "critical";
  r["results"][1].erase("gate_id");
  r["results"][2]["recommendations"] = json::array({"ok", 3});
  r["results"][4]["details"] = "none";
  r["summary"].erase("can_proceed");
  r["report_version"] = "3.0";
  r["skip_reasons"] = {{"dwm_prepared", false}};
  write_report(r);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_unreadable");
  for (const char* fragment :
       {"results[0].severity: expected one of \"error\", \"warning\", \"info\", found string "
        "\"critical\"",
        "results[1].gate_id: expected a non-empty string, found nothing (the field is missing)",
        "results[2].recommendations[1]: expected a string, found integer 3",
        "results[4].details: expected an object, found string \"none\"",
        "summary.can_proceed: expected a boolean, found nothing (the field is missing)",
        "report_version: expected \"2.0\" (a 2.x version), found string \"3.0\"",
        "skip_reasons[\"dwm_prepared\"]: expected a string, found boolean false"}) {
    EXPECT_NE(res.message.find(fragment), std::string::npos) << fragment << "\n" << res.message;
  }
}

TEST_F(QualityGate, NotAnObjectIsMalformed) {
  root_.write(kReportPath, "[1, 2, 3]");
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_unreadable");
  EXPECT_EQ(res.message,
            prefix() +
                " is malformed: (document): expected a JSON object, found an array of 3 "
                "element(s)");
}

TEST_F(QualityGate, TruncatedJsonIsUnreadable) {
  std::string body = report(passing_gates()).dump();
  root_.write(kReportPath, body.substr(0, body.size() / 2));
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_unreadable");
  EXPECT_EQ(res.message.rfind(prefix() + " is unreadable: ", 0), 0u) << res.message;
}

TEST_F(QualityGate, OversizedReportIsUnreadable) {
  write_report(report(passing_gates()));
  SpecOptions o;
  o.max_bytes = "max_bytes: 64";
  CheckResult res = run(o);
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_unreadable");
  EXPECT_EQ(res.message.rfind(prefix() + " is unreadable: ", 0), 0u) << res.message;
}

TEST_F(QualityGate, UnreadableReportCannotBeEvaluated) {
  write_report(report(passing_gates()));
  st::fs::permissions(root_ / kReportPath, st::fs::perms::none);
  // Root reads files whatever their mode: read as 'nobody' for the run (folders traversable).
  bool dropped = false;
  if (geteuid() == 0) {
    for (st::fs::path p = root_ / kReportPath; p != p.root_path(); p = p.parent_path()) {
      if (p.parent_path() == p.root_path()) break;
      std::error_code ec;
      if (st::fs::is_directory(p.parent_path(), ec)) {
        st::fs::permissions(p.parent_path(), st::fs::perms::others_exec, st::fs::perm_options::add,
                            ec);
      }
    }
    ASSERT_EQ(seteuid(65534), 0);
    dropped = true;
  }
  CheckResult res = run();
  if (dropped) {
    ASSERT_EQ(seteuid(0), 0);
  }
  EXPECT_EQ(res.status, Status::error);
  EXPECT_EQ(res.code, "quality_gate_unreadable");
}

TEST_F(QualityGate, MissingOptionalReportIsSkipped) {
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::skipped);
  EXPECT_EQ(res.message, prefix() + " is absent; the certificate fallback decides");
  EXPECT_EQ(res.code, "");
}

TEST_F(QualityGate, MissingRequiredReportFails) {
  SpecOptions o;
  o.optional = false;
  CheckResult res = run(o);
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_artifacts_missing");
  EXPECT_EQ(res.message.rfind(prefix() + " is missing", 0), 0u) << res.message;
}

TEST_F(QualityGate, EmptyResultsAreNotEvidence) {
  write_report(report(json::array()));
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_NE(res.details["reasons"].dump().find("quality_gate_empty"), std::string::npos)
      << res.details.dump();
  EXPECT_EQ(res.message, prefix() +
                             " does not allow proceeding: no gates were evaluated (results[] is "
                             "empty, summary.total_gates 0): an empty report is not evidence");
}

TEST_F(QualityGate, ReportForAnotherSceneFails) {
  json r = report(passing_gates());
  r["scene_id"] = "kitchen_002";
  write_report(r);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_NE(res.details["reasons"].dump().find("quality_gate_scene_mismatch"), std::string::npos)
      << res.details.dump();
  EXPECT_EQ(res.message, prefix() +
                             " does not allow proceeding: scene_id: expected "
                             "\"kitchen_001\", found \"kitchen_002\"");
}

TEST_F(QualityGate, LiteralSceneIdIsCheckedToo) {
  write_report(report(passing_gates()));
  SpecOptions o;
  o.scene = "scene_id: kitchen_009";
  CheckResult res = run(o);
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_NE(res.details["reasons"].dump().find("quality_gate_scene_mismatch"), std::string::npos)
      << res.details.dump();
  o.scene = "scene_id: kitchen_001";
  EXPECT_EQ(run(o).status, Status::pass);
}

TEST_F(QualityGate, SceneIdThatIsNotAPathSegmentIsASpecError) {
  SpecOptions o;
  o.scene = "scene_id: kitchen/../other";
  stagecheck::RunOutcome out =
      st::run_spec_text(make_spec(o), root_.path(), {{"scene_id", kScene}});
  EXPECT_EQ(out.exit_code, stagecheck::ExitCode::usage);
  EXPECT_NE(out.error.find("scene_id: expected a scene id (one non-empty path segment)"),
            std::string::npos)
      << out.error;
}

// ---- approvals ------------------------------------------------------------------------------

TEST_F(QualityGate, ApprovalLiftsOnlyItsGate) {
  write_report(report(two_blocking_gates()));
  approve(approval_record("apr_0123456789ab", "qg-6a-quality-score-sli"));
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_EQ(res.message.rfind(prefix() + " does not allow proceeding: 1 blocking gate(s) failed: "
                                         "qg-6c-sensor-capture [episodes_generated, error]",
                              0),
            0u)
      << res.message;
  EXPECT_NE(res.message.find("1 blocking gate(s) lifted by audited approval: "
                             "qg-6a-quality-score-sli (approval apr_0123456789ab by "
                             "lead@example.com)"),
            std::string::npos)
      << res.message;
  ASSERT_EQ(res.details["approvals_used"].size(), 1u);
  const json& used = res.details["approvals_used"][0];
  EXPECT_EQ(used["request_id"], "apr_0123456789ab");
  EXPECT_EQ(used["gate_id"], "qg-6a-quality-score-sli");
  EXPECT_EQ(used["approver"], "lead@example.com");
  EXPECT_EQ(used["kind"], "approval");
  EXPECT_EQ(used["ticket"], nullptr);
  EXPECT_EQ(res.details["approvals_rejected"], json::array());
  const json* lifted = find_by(res.details["failing_gates"], "gate_id", "qg-6a-quality-score-sli");
  ASSERT_NE(lifted, nullptr);
  EXPECT_EQ((*lifted)["lifted_by"], json::array({"apr_0123456789ab"}));
  EXPECT_EQ(res.observed["counts"]["blocking_after_approvals"], 1);
}

TEST_F(QualityGate, ApprovalsForBothBlockingGatesPass) {
  write_report(report(two_blocking_gates()));
  approve(approval_record("apr_0123456789ab", "qg-6a-quality-score-sli"));
  approve(approval_record("apr_ba9876543210", "qg-6c-sensor-capture"));
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::pass) << res.message;
  EXPECT_EQ(res.code, "");
  EXPECT_NE(res.message.find("5/7 gates passed, 2 blocking failure(s) in results[]; 2 blocking "
                             "gate(s) lifted by audited approval"),
            std::string::npos)
      << res.message;
  EXPECT_EQ(res.details["approvals_used"].size(), 2u);
  EXPECT_EQ(res.details["verdict"], "pass_with_approvals");
}

TEST_F(QualityGate, AuditLogAtTheApprovalsFolderTopIsAcceptedToo) {
  write_report(report(two_blocking_gates()));
  json a = approval_record("apr_0123456789ab", "qg-6a-quality-score-sli");
  json b = approval_record("apr_ba9876543210", "qg-6c-sensor-capture");
  write_record(a);
  write_record(b);
  write_audit({audit_entry("APPROVED", a), audit_entry("APPROVED", b)}, /*under_scene=*/false);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::pass) << res.message;
}

TEST_F(QualityGate, ApprovalsNeverFixAnInconsistentReport) {
  json r = report(two_blocking_gates());
  r["summary"]["total_gates"] = 8;
  write_report(r);
  approve(approval_record("apr_0123456789ab", "qg-6a-quality-score-sli"));
  approve(approval_record("apr_ba9876543210", "qg-6c-sensor-capture"));
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_NE(res.details["reasons"].dump().find("quality_gate_inconsistent"), std::string::npos)
      << res.details.dump();
  EXPECT_NE(res.message.find("summary.total_gates is 8 but results[] holds 7 gate(s)"),
            std::string::npos)
      << res.message;
}

TEST_F(QualityGate, OverrideIsRejectedInProduction) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  approve(override_record("apr_000000000001", "qg-6a-quality-score-sli"));
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  ASSERT_EQ(res.details["approvals_rejected"].size(), 1u);
  const json& rej = res.details["approvals_rejected"][0];
  EXPECT_EQ(rej["request_id"], "apr_000000000001");
  EXPECT_EQ(rej["reason"], "the production profile forbids overrides");
  EXPECT_NE(res.message.find("1 approval record(s) rejected: apr_000000000001 "
                             "(qg-6a-quality-score-sli): the production profile forbids overrides"),
            std::string::npos)
      << res.message;
  EXPECT_EQ(res.details["approvals_used"], json::array());
}

TEST_F(QualityGate, StagingOverridesMustMeetThePolicy) {
  json g = passing_gates();
  for (std::size_t i : {1u, 2u, 3u, 4u, 6u}) g[i]["passed"] = false;
  write_report(report(g));
  approve(override_record("apr_bad_ticket", "qg-11-episode-metadata", "known_issue", "see slack"));
  approve(override_record("apr_bare_url", "qg-6a-quality-score-sli", "known_issue", "https://"));
  approve(override_record("apr_short", "qg-6c-sensor-capture", "known_issue", "OPS-1",
                          "  looks fine to me                                  "));
  approve(override_record("apr_category", "qg-6d-physics-validation", "vibes"));
  approve(override_record("apr_good_url", "qg-12b-data-realness", "data_gap",
                          "https://jira.example.com/browse/DATA-77"));
  SpecOptions o;
  o.profile = "staging";
  CheckResult res = run(o);
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  const json& rejected = res.details["approvals_rejected"];
  ASSERT_EQ(rejected.size(), 4u) << rejected.dump(2);
  const std::map<std::string, std::string> reasons = {
      {"apr_bad_ticket",
       "override ticket \"see slack\" is not a ticket id (e.g. OPS-1234) or an http(s) URL"},
      {"apr_bare_url",
       "override ticket \"https://\" is not a ticket id (e.g. OPS-1234) or an http(s) URL"},
      {"apr_short", "override justification has 16 characters, fewer than 50"},
      {"apr_category",
       "override category \"vibes\" is not one of \"data_gap\", \"tooling_failure\", "
       "\"known_issue\", \"customer_exception\", \"other\""}};
  for (const auto& [id, reason] : reasons) {
    const json* rej = find_by(rejected, "request_id", id);
    ASSERT_NE(rej, nullptr) << id;
    EXPECT_EQ((*rej)["reason"], reason) << id;
  }
  ASSERT_EQ(res.details["approvals_used"].size(), 1u);
  EXPECT_EQ(res.details["approvals_used"][0]["request_id"], "apr_good_url");
  EXPECT_EQ(res.details["approvals_used"][0]["ticket"], "https://jira.example.com/browse/DATA-77");
}

TEST_F(QualityGate, GoodOverrideInStagingPasses) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  approve(override_record("apr_000000000001", "qg-6a-quality-score-sli"));
  SpecOptions o;
  o.profile = "staging";
  CheckResult res = run(o);
  EXPECT_EQ(res.status, Status::pass) << res.message;
  EXPECT_NE(res.message.find("1 blocking gate(s) lifted by audited approval: "
                             "qg-6a-quality-score-sli (override apr_000000000001 by "
                             "admin@example.com, ticket OPS-1234)"),
            std::string::npos)
      << res.message;
  ASSERT_EQ(res.details["approvals_used"].size(), 1u);
  const json& used = res.details["approvals_used"][0];
  EXPECT_EQ(used["kind"], "override");
  EXPECT_EQ(used["ticket"], "OPS-1234");
  EXPECT_EQ(used["approver"], "admin@example.com");
  EXPECT_EQ(res.details["approvals"]["profile"], "staging");
}

TEST_F(QualityGate, OverrideWhoseAuditMetadataDiffersIsRejected) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  json rec = override_record("apr_000000000001", "qg-6a-quality-score-sli");
  json entry = audit_entry("OVERRIDDEN", rec);
  rec["override_metadata"]["ticket"] = "OPS-9999";  // edited after the fact
  write_record(rec);
  write_audit({entry});
  SpecOptions o;
  o.profile = "staging";
  CheckResult res = run(o);
  EXPECT_EQ(res.status, Status::fail);
  ASSERT_EQ(res.details["approvals_rejected"].size(), 1u);
  EXPECT_NE(res.details["approvals_rejected"][0]["reason"].get<std::string>().find(
                "the audit entry's override metadata differs from the record's"),
            std::string::npos);
}

TEST_F(QualityGate, ApprovalForAPassedGateIsNotUsed) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  approve(approval_record("apr_0000000000aa", "qg-6c-sensor-capture"));
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_EQ(res.details["approvals_used"], json::array());
  ASSERT_EQ(res.details["approvals_rejected"].size(), 1u);
  EXPECT_EQ(res.details["approvals_rejected"][0]["reason"],
            "gate \"qg-6c-sensor-capture\" passed in the report; an approval only lifts a failed "
            "gate");
}

TEST_F(QualityGate, ApprovalOfAPassingReportChangesNothing) {
  write_report(report(passing_gates()));
  approve(approval_record("apr_0000000000aa", "qg-6c-sensor-capture"));
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::pass) << res.message;
  EXPECT_EQ(res.details["approvals_used"], json::array());
  EXPECT_EQ(res.details["approvals_rejected"].size(), 1u);
  EXPECT_EQ(res.details["verdict"], "pass");
}

TEST_F(QualityGate, AutoApprovedTimeoutIsNeverAccepted) {
  json g = two_blocking_gates();
  write_report(report(g));
  // As the pipeline writes it: approved by the system, audited as a timeout.
  json system = approval_record("apr_00000000000a", "qg-6a-quality-score-sli");
  system["approved_by"] = "SYSTEM:auto_timeout";
  write_record(system);
  // A human name on the record, but the only audit entry is the timeout.
  json human = approval_record("apr_00000000000b", "qg-6c-sensor-capture");
  write_record(human);
  write_audit(
      {audit_entry("AUTO_APPROVED_TIMEOUT", system), audit_entry("AUTO_APPROVED_TIMEOUT", human)});
  SpecOptions o;
  o.profile = "staging";  // not accepted in staging either
  CheckResult res = run(o);
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_EQ(res.details["approvals_used"], json::array());
  const json* a = find_by(res.details["approvals_rejected"], "request_id", "apr_00000000000a");
  const json* b = find_by(res.details["approvals_rejected"], "request_id", "apr_00000000000b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE((*a)["reason"].get<std::string>().find(
                "approved by \"SYSTEM:auto_timeout\": automatic approvals are never accepted"),
            std::string::npos)
      << (*a)["reason"];
  EXPECT_EQ((*b)["reason"],
            "the audit log records AUTO_APPROVED_TIMEOUT for this request: auto-approval on "
            "timeout is never accepted");
}

TEST_F(QualityGate, ApprovalWithoutAuditEntryIsRejected) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  write_record(approval_record("apr_0123456789ab", "qg-6a-quality-score-sli"));
  // An audit log exists, but only for another request.
  write_audit({audit_entry("APPROVED", approval_record("apr_ffffffffffff", "qg-x"))});
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  ASSERT_EQ(res.details["approvals_rejected"].size(), 1u);
  EXPECT_EQ(res.details["approvals_rejected"][0]["reason"].get<std::string>().rfind(
                "no APPROVED audit entry for request_id \"apr_0123456789ab\" and gate "
                "\"qg-6a-quality-score-sli\" (looked in ",
                0),
            0u)
      << res.details["approvals_rejected"][0]["reason"];
}

TEST_F(QualityGate, RejectedOrExpiredRecordsAreNotApprovals) {
  json g = two_blocking_gates();
  write_report(report(g));
  json rejected = approval_record("apr_00000000000a", "qg-6a-quality-score-sli", "rejected");
  json expired = approval_record("apr_00000000000b", "qg-6c-sensor-capture", "expired");
  write_record(rejected);
  write_record(expired);
  write_audit({audit_entry("REJECTED", rejected), audit_entry("EXPIRED", expired)});
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  const json* a = find_by(res.details["approvals_rejected"], "request_id", "apr_00000000000a");
  const json* b = find_by(res.details["approvals_rejected"], "request_id", "apr_00000000000b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ((*a)["reason"], "status is \"rejected\": not an approval");
  EXPECT_EQ((*b)["reason"], "status is \"expired\": not an approval");
}

TEST_F(QualityGate, ApprovalGivenAfterExpiryIsRejected) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  json rec = approval_record("apr_0123456789ab", "qg-6a-quality-score-sli");
  rec["approved_at"] = "2025-03-04T09:00:00Z";
  approve(rec);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  ASSERT_EQ(res.details["approvals_rejected"].size(), 1u);
  EXPECT_EQ(res.details["approvals_rejected"][0]["reason"],
            "approved at 2025-03-04T09:00:00Z, not before it expired at "
            "2025-03-03T10:11:12.000000Z");
}

TEST_F(QualityGate, MalformedApprovalFileIsRejectedAndNamed) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  approvals_.write(std::string(kScene) + "/apr_broken.json", "{\"request_id\": \"apr_broken\",");
  json wrong = approval_record("apr_wrongtype", "qg-6a-quality-score-sli");
  wrong["approved_at"] = 20250302;
  approve(wrong);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  const json& rejected = res.details["approvals_rejected"];
  ASSERT_EQ(rejected.size(), 2u) << rejected.dump(2);
  const json& broken = rejected[0];
  EXPECT_EQ(broken["file"], (approvals_.path() / kScene / "apr_broken.json").string());
  EXPECT_EQ(broken["request_id"], nullptr);
  EXPECT_EQ(broken["reason"].get<std::string>().rfind("malformed: ", 0), 0u) << broken["reason"];
  EXPECT_EQ(rejected[1]["reason"],
            "malformed: approved_at: expected a string, found integer 20250302");
  EXPECT_NE(res.message.find("apr_broken.json (?): malformed: "), std::string::npos) << res.message;
}

TEST_F(QualityGate, UnusableAuditLogVoidsEveryApproval) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  json rec = approval_record("apr_0123456789ab", "qg-6a-quality-score-sli");
  write_record(rec);
  // The scene's log backs the approval, but the top-level log is corrupt.
  write_audit({audit_entry("APPROVED", rec)});
  approvals_.write("audit/audit.log.jsonl", "{\"action\": \"REJECTED\", \"request_id\": \n");
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  ASSERT_EQ(res.details["approvals_rejected"].size(), 1u);
  EXPECT_EQ(res.details["approvals_rejected"][0]["reason"].get<std::string>().rfind(
                "audit log '" + (approvals_.path() / "audit/audit.log.jsonl").string() +
                    "' is unusable: ",
                0),
            0u)
      << res.details["approvals_rejected"][0]["reason"];
}

TEST_F(QualityGate, ApprovalForAnotherSceneIsRejected) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  json rec = approval_record("apr_0123456789ab", "qg-6a-quality-score-sli");
  rec["scene_id"] = "kitchen_002";
  approve(rec);
  CheckResult res = run();
  EXPECT_EQ(res.status, Status::fail);
  ASSERT_EQ(res.details["approvals_rejected"].size(), 1u);
  EXPECT_NE(res.details["approvals_rejected"][0]["reason"].get<std::string>().find(
                "scene_id \"kitchen_002\" is not the report's scene \"kitchen_001\""),
            std::string::npos);
}

TEST_F(QualityGate, ApprovalsVariableUnsetMeansNotConsulted) {
  json g = passing_gates();
  g[2] = gate("qg-6a-quality-score-sli", false);
  write_report(report(g));
  approve(approval_record("apr_0123456789ab", "qg-6a-quality-score-sli"));  // would lift it
  CheckResult res = run({}, /*with_approvals_dir=*/false);
  EXPECT_EQ(res.status, Status::fail);
  EXPECT_EQ(res.code, "quality_gate_blocked");
  EXPECT_EQ(res.details["approvals"]["consulted"], false);
  EXPECT_EQ(res.details["approvals"]["reason"],
            "variable 'approvals_dir' is unset: approvals are not consulted");
  EXPECT_NE(res.message.find("approvals: variable 'approvals_dir' is unset: approvals are not "
                             "consulted"),
            std::string::npos)
      << res.message;
  EXPECT_EQ(res.details["approvals_used"], json::array());
}

// ---- through the driver ---------------------------------------------------------------------

std::string quote(const std::string& s) { return "'" + s + "'"; }

/// A plugin folder holding only this plugin, so the driver tests do not depend on the other
/// plugins built next to it.
class PluginDir {
 public:
  PluginDir() {
    const char* kName = "stagecheck_quality_gate.so";
    st::fs::copy_file(st::fs::path(STAGECHECK_PLUGIN_BUILD_DIR) / kName, dir_ / kName);
  }
  std::string options() const {
    return " --no-default-plugins --plugin-dir " + quote(dir_.path().string());
  }

 private:
  st::ScratchDir dir_;
};

TEST_F(QualityGate, DriverFailsABlockedReportWithItsCode) {
  json r = report(two_blocking_gates());
  write_report(r);
  root_.write("spec.yaml", make_spec());
  PluginDir plugin_dir;
  st::DriverRun run = st::run_driver(
      "run " + quote((root_ / "spec.yaml").string()) + " --root " + quote(root_.path().string()) +
      " --var scene_id=kitchen_001 --format json" + plugin_dir.options());
  EXPECT_EQ(run.code, 1) << run.err;
  json out = json::parse(run.out);
  ASSERT_EQ(out["results"].size(), 1u);
  EXPECT_EQ(out["results"][0]["status"], "fail");
  EXPECT_EQ(out["results"][0]["code"], "quality_gate_blocked");
  EXPECT_NE(out["results"][0]["message"].get<std::string>().find(
                "2 blocking gate(s) failed: qg-6a-quality-score-sli"),
            std::string::npos);
}

TEST_F(QualityGate, DriverPassesWithApprovalsAndListsTheCheck) {
  write_report(report(two_blocking_gates()));
  approve(approval_record("apr_0123456789ab", "qg-6a-quality-score-sli"));
  approve(approval_record("apr_ba9876543210", "qg-6c-sensor-capture"));
  root_.write("spec.yaml", make_spec());
  PluginDir plugin_dir;
  const std::string plugins = plugin_dir.options();
  st::DriverRun run = st::run_driver(
      "run " + quote((root_ / "spec.yaml").string()) + " --root " + quote(root_.path().string()) +
      " --var scene_id=kitchen_001 --var approvals_dir=" + quote(approvals_.path().string()) +
      " --format json" + plugins);
  EXPECT_EQ(run.code, 0) << run.out << run.err;
  json out = json::parse(run.out);
  EXPECT_EQ(out["results"][0]["status"], "pass");
  EXPECT_EQ(out["results"][0]["details"]["approvals_used"].size(), 2u);

  st::DriverRun list = st::run_driver("list-checks" + plugins);
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("quality_gate"), std::string::npos) << list.out;
}

}  // namespace
