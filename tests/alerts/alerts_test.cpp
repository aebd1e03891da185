// Alerts: the payloads (alert.hpp), and the driver's --alertmanager / --alert-webhook against a
// real Alertmanager and a real HTTP target, asserted through Alertmanager's own API.

#include "stagecheck/alert.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "alertmanager_server.hpp"
#include "http_target.hpp"
#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace stagecheck;

namespace {

const std::string kSource = STAGECHECK_SOURCE_DIR;

std::string q(const std::string& s) { return "'" + s + "'"; }

// A tiny spec: one json check on scenes/ID/report.json, skipped (no verdict) when
// scenes/ID/config.json says skip.
constexpr const char* kSpecText = R"(version: 1
name: alert-demo
vars:
  scene_id: {type: segment, required: true}
artifacts:
  config: {path: "scenes/${scene_id}/config.json", optional: true}
  report: "scenes/${scene_id}/report.json"
stages:
  - id: quality
    skip_if: {artifact: config, condition: "skip == true"}
    checks:
      - id: pass_rate
        type: json
        artifact: report
        conditions: ["pass_rate >= 0.9"]
)";

Report failing_report(std::size_t failures) {
  Report r;
  r.run_id = "0123456789abcdef0123456789abcdef";
  r.spec_name = "scene-e2e";
  r.vars = {{"scene_id", "kitchen_001"}};
  r.started_at = "2026-01-01T00:00:00.000Z";
  for (std::size_t i = 0; i < failures; ++i) {
    CheckResult c;
    c.id = fmt::format("stage.check_{:02}", i);
    c.stage = "stage";
    c.type = "json";
    c.status = Status::fail;
    c.message = fmt::format("pass_rate >= 0.9: found {}\nsecond line", i);
    r.results.push_back(c);
  }
  CheckResult ok;
  ok.id = "stage.ok";
  ok.status = Status::pass;
  r.results.push_back(ok);
  r.summary = summarize(r.results);
  r.exit_code = compute_exit_code(r.summary, false, false);
  return r;
}

}  // namespace

// ---- payloads -------------------------------------------------------------------------------

TEST(AlertPayload, FailingRunFiresOneCriticalAlertWithCappedFailures) {
  AlertOptions o;
  o.labels = {{"team", "data"}};
  o.report_location = "s3://reports/run.json";
  o.generator_url = "https://ci.example/job/7";
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
  json a = alertmanager_payload(failing_report(25), o, now);
  ASSERT_EQ(a.size(), 1u) << a.dump(2);
  EXPECT_EQ(a[0]["labels"], (json{{"alertname", "StagecheckRunFailed"},
                                  {"spec", "scene-e2e"},
                                  {"scene", "kitchen_001"},
                                  {"severity", "critical"},
                                  {"team", "data"}}));
  EXPECT_EQ(a[0]["startsAt"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(a[0]["endsAt"], "2026-01-02T00:00:00.000Z");  // + 24 h
  EXPECT_EQ(a[0]["generatorURL"], "https://ci.example/job/7");
  const json& ann = a[0]["annotations"];
  EXPECT_EQ(ann["summary"],
            "stagecheck: scene-e2e FAILED for scene kitchen_001: 25 of 26 checks "
            "failed");
  EXPECT_EQ(ann["run_id"], "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(ann["report"], "s3://reports/run.json");
  const std::string d = ann["description"];
  EXPECT_EQ(std::count(d.begin(), d.end(), '\n'), 20) << d;  // 20 listed, then "… and 5 more"
  EXPECT_NE(d.find("stage.check_00 (fail): pass_rate >= 0.9: found 0 second line\n"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("… and 5 more"), std::string::npos) << d;
  EXPECT_EQ(d.find("check_20"), std::string::npos) << d;
  EXPECT_NE(ann["failures"].get<std::string>().find("stage.check_24"), std::string::npos);
  for (const auto& [k, v] : ann.items()) EXPECT_TRUE(v.is_string()) << k;
}

TEST(AlertPayload, NoVerdictIsAWarningAndAPassResolvesBothNames) {
  Report r = failing_report(0);
  CheckResult err;
  err.id = "stage.unreadable";
  err.status = Status::error;
  err.message = "permission denied";
  r.results.push_back(err);
  r.summary = summarize(r.results);
  r.exit_code = compute_exit_code(r.summary, false, false);
  ASSERT_EQ(r.exit_code, ExitCode::no_verdict);
  AlertOptions o;
  o.expires = std::chrono::seconds(0);
  json a = alertmanager_payload(r, o, std::chrono::system_clock::now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["labels"]["alertname"], "StagecheckNoVerdict");
  EXPECT_EQ(a[0]["labels"]["severity"], "warning");
  EXPECT_FALSE(a[0].contains("endsAt"));
  EXPECT_EQ(a[0]["annotations"]["summary"],
            "stagecheck: scene-e2e NO VERDICT for scene kitchen_001: 1 of 2 checks could not be "
            "evaluated");
  EXPECT_EQ(a[0]["annotations"]["failures"], "stage.unreadable");

  Report pass = failing_report(0);
  ASSERT_EQ(pass.exit_code, ExitCode::pass);
  json resolved = alertmanager_payload(pass, o, std::chrono::system_clock::now());
  ASSERT_EQ(resolved.size(), 2u);
  for (const json& x : resolved) {
    EXPECT_EQ(x["startsAt"], x["endsAt"]);
    EXPECT_EQ(x["labels"]["spec"], "scene-e2e");
    EXPECT_EQ(x["labels"]["scene"], "kitchen_001");
  }
  EXPECT_EQ(resolved[0]["labels"]["alertname"], "StagecheckRunFailed");
  EXPECT_EQ(resolved[1]["labels"]["alertname"], "StagecheckNoVerdict");
}

TEST(AlertPayload, WebhookBodyAndNoSceneWithoutScenId) {
  Report r = failing_report(2);
  r.vars = json::object();
  AlertOptions o;
  json w = webhook_payload(r, o);
  EXPECT_EQ(w["version"], 1);
  EXPECT_EQ(w["status"], "firing");
  EXPECT_TRUE(w["scene"].is_null());
  EXPECT_TRUE(w["report"].is_null());
  EXPECT_EQ(w["verdict"], "fail");
  EXPECT_EQ(w["exit_code"], 1);
  EXPECT_EQ(w["counts"]["fail"], 2);
  EXPECT_EQ(w["counts"]["total"], 3);
  ASSERT_EQ(w["failures"].size(), 2u);
  EXPECT_EQ(w["failures"][1]["id"], "stage.check_01");
  EXPECT_EQ(w["summary"], "stagecheck: scene-e2e FAILED: 2 of 3 checks failed");
  EXPECT_FALSE(alert_labels(r, o).contains("scene"));
}

TEST(AlertPayload, WhenAnAlertIsDue) {
  EXPECT_TRUE(alert_due(ExitCode::fail, AlertOn::fail));
  EXPECT_FALSE(alert_due(ExitCode::no_verdict, AlertOn::fail));
  EXPECT_TRUE(alert_due(ExitCode::no_verdict, AlertOn::no_verdict));
  EXPECT_FALSE(alert_due(ExitCode::fail, AlertOn::no_verdict));
  EXPECT_TRUE(alert_due(ExitCode::fail, AlertOn::both));
  EXPECT_TRUE(alert_due(ExitCode::no_verdict, AlertOn::both));
  EXPECT_FALSE(alert_due(ExitCode::pass, AlertOn::both));
  EXPECT_FALSE(parse_alert_on("always").ok());
  EXPECT_FALSE(parse_alert_on("").ok());
}

TEST(AlertUrl, CredentialsAreNeverShownAndBadUrlsAreRefused) {
  EXPECT_EQ(redact_url("http://user:s3cret@am.example:9093/x?y"), "http://***@am.example:9093/x?y");
  EXPECT_EQ(redact_url("https://am.example/a@b"), "https://am.example/a@b");
  EXPECT_TRUE(check_alert_url("http://user:s3cret@127.0.0.1:9093", "--alertmanager", true).ok());
  EXPECT_TRUE(check_alert_url("https://hooks.example/x?token=1", "--alert-webhook", false).ok());
  for (const char* bad : {"ftp://user:s3cret@h", "http://", "http://user:s3cret@h/#frag",
                          "http://user:s3cret@h/ x", "am.example:9093", ""}) {
    auto ok = check_alert_url(bad, "--alertmanager", true);
    ASSERT_FALSE(ok.ok()) << bad;
    EXPECT_EQ(ok.error().message.find("s3cret"), std::string::npos) << ok.error().message;
    EXPECT_NE(ok.error().message.find("--alertmanager"), std::string::npos);
  }
  EXPECT_FALSE(check_alert_url("http://h/?q=1", "--alertmanager", true).ok());
  EXPECT_EQ(alertmanager_endpoint("http://h:9093/am/"), "http://h:9093/am/api/v2/alerts");
}

TEST(AlertLabels, ReservedBadAndEmptyAreRefused) {
  EXPECT_TRUE(check_alert_labels({{"team", "data"}, {"env_2", "staging"}}).ok());
  for (const char* name : {"alertname", "spec", "scene", "severity", "__x", "1a", "a-b", ""}) {
    EXPECT_FALSE(check_alert_labels({{name, "x"}}).ok()) << name;
  }
  EXPECT_FALSE(check_alert_labels({{"team", ""}}).ok());
}

// ---- the driver against a real Alertmanager -------------------------------------------------

class AlertDriver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    am_ = new st::AlertmanagerServer();
    if (!am_->start()) problem_ = am_->problem();
  }
  static void TearDownTestSuite() {
    delete am_;
    am_ = nullptr;
  }
  void SetUp() override {
    if (!problem_.empty()) {
      if (st::servers_required()) FAIL() << problem_;
      GTEST_SKIP() << problem_;
    }
    std::ofstream(dir_ / "spec.yaml") << kSpecText;
  }

  // Writes scene ID's artifacts: a pass rate, and optionally the skip switch (no verdict).
  void scene(const std::string& id, double pass_rate, bool skip = false) {
    fs::create_directories(dir_ / "root/scenes" / id);
    std::ofstream(dir_ / "root/scenes" / id / "report.json")
        << fmt::format("{{\"pass_rate\": {}}}", pass_rate);
    if (skip) {
      std::ofstream(dir_ / "root/scenes" / id / "config.json") << "{\"skip\": true}";
    } else {
      fs::remove(dir_ / "root/scenes" / id / "config.json");
    }
  }

  st::DriverRun run(const std::string& id, const std::string& extra) {
    return st::run_driver(fmt::format("run {} --root {} --var scene_id={} --quiet {}",
                                      q((dir_ / "spec.yaml").string()), q((dir_ / "root").string()),
                                      id, extra));
  }

  // The scene's unresolved alerts in Alertmanager.
  static json alerts_of(const std::string& id) {
    auto [status, body] = am_->alerts(fmt::format("scene=\"{}\"", id));
    EXPECT_EQ(status, 200) << body;
    json j = json::parse(body, nullptr, false);
    return j.is_array() ? j : json::array();
  }

  // Polls (bounded) until the scene has `n` unresolved alerts; returns them.
  static json wait_alerts(const std::string& id, std::size_t n) {
    json a;
    for (int i = 0; i < 100; ++i) {
      a = alerts_of(id);
      if (a.size() == n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return a;
  }

  st::ScratchDir dir_;
  static st::AlertmanagerServer* am_;
  static std::string problem_;
};

st::AlertmanagerServer* AlertDriver::am_ = nullptr;
std::string AlertDriver::problem_;

TEST_F(AlertDriver, FailingRunFiresAndALaterPassingRunResolves) {
  scene("fire_1", 0.5);
  const fs::path report = dir_ / "report.json";
  st::DriverRun r =
      run("fire_1", "--alertmanager " + q(am_->url()) + " --alert-label team=data --report-json " +
                        q(report.string()));
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("Sent StagecheckRunFailed to " + am_->url() + "/api/v2/alerts"),
            std::string::npos)
      << r.out;
  const json rep = json::parse(st::slurp(report));
  json a = wait_alerts("fire_1", 1);
  ASSERT_EQ(a.size(), 1u) << a.dump(2);
  const json& labels = a[0]["labels"];
  EXPECT_EQ(labels["alertname"], "StagecheckRunFailed");
  EXPECT_EQ(labels["spec"], "alert-demo");
  EXPECT_EQ(labels["scene"], "fire_1");
  EXPECT_EQ(labels["severity"], "critical");
  EXPECT_EQ(labels["team"], "data");
  EXPECT_NE(a[0]["status"]["state"], "suppressed");
  const json& ann = a[0]["annotations"];
  EXPECT_EQ(ann["run_id"], rep["run_id"]);
  EXPECT_EQ(ann["run_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(ann["failures"], "quality.pass_rate");
  EXPECT_NE(ann["description"].get<std::string>().find("quality.pass_rate (fail)"),
            std::string::npos)
      << ann.dump(2);
  EXPECT_EQ(ann["report"], fs::absolute(report).string());
  EXPECT_EQ(ann["summary"], "stagecheck: alert-demo FAILED for scene fire_1: 1 of 1 checks failed");

  // Fixed: the next run passes and resolves it (endsAt now: no longer returned as unresolved).
  scene("fire_1", 0.95);
  r = run("fire_1", "--alertmanager " + q(am_->url()) + " --alert-label team=data");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Sent resolution to"), std::string::npos) << r.out;
  EXPECT_EQ(wait_alerts("fire_1", 0).size(), 0u);
}

TEST_F(AlertDriver, PassingRunAloneSendsNothingThatFires) {
  scene("calm_1", 0.99);
  st::HttpTarget hook;
  hook.json("/hook", "{}");
  st::DriverRun r = run("calm_1", "--alert-webhook " + q(hook.url("/hook")) + " --alertmanager " +
                                      q(am_->url()) + " --no-alert-resolve");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(hook.count("/hook"), 0u);
  EXPECT_EQ(r.out.find("Sent"), std::string::npos) << r.out;
  EXPECT_EQ(alerts_of("calm_1").size(), 0u);
  r = run("calm_1", "--alertmanager " + q(am_->url()) + " --no-alert-resolve --alert-dry-run");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("no alert is due (verdict pass)"), std::string::npos) << r.err;
  // With resolving on (the default), a passing run posts only resolutions: nothing fires.
  r = run("calm_1", "--alertmanager " + q(am_->url()));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Sent resolution to"), std::string::npos) << r.out;
  EXPECT_EQ(alerts_of("calm_1").size(), 0u);
}

TEST_F(AlertDriver, NoVerdictAlertsOnlyWhenAskedWithSeverityWarning) {
  scene("skip_1", 0.5, /*skip=*/true);
  st::DriverRun r = run("skip_1", "--alertmanager " + q(am_->url()));
  ASSERT_EQ(r.code, 3) << r.out << r.err;  // default --alert-on fail: nothing
  EXPECT_EQ(r.out.find("Sent"), std::string::npos) << r.out;
  EXPECT_EQ(alerts_of("skip_1").size(), 0u);
  r = run("skip_1", "--alertmanager " + q(am_->url()) + " --alert-dry-run");
  ASSERT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("no alert is due (verdict no_verdict)"), std::string::npos) << r.err;
  r = run("skip_1", "--alertmanager " + q(am_->url()) + " --alert-on both");
  ASSERT_EQ(r.code, 3) << r.out << r.err;
  json a = wait_alerts("skip_1", 1);
  ASSERT_EQ(a.size(), 1u) << a.dump(2);
  EXPECT_EQ(a[0]["labels"]["alertname"], "StagecheckNoVerdict");
  EXPECT_EQ(a[0]["labels"]["severity"], "warning");
  EXPECT_NE(a[0]["annotations"]["summary"].get<std::string>().find("NO VERDICT for scene skip_1"),
            std::string::npos);
  // --alert-on fail|no_verdict|both: a failing run does not alert under no_verdict.
  scene("skip_2", 0.5);
  r = run("skip_2", "--alertmanager " + q(am_->url()) + " --alert-on no_verdict");
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(alerts_of("skip_2").size(), 0u);
}

TEST_F(AlertDriver, DryRunPrintsThePayloadAndSendsNothing) {
  scene("dry_1", 0.5);
  st::DriverRun r = run("dry_1", "--format json --alert-dry-run --alertmanager " + q(am_->url()) +
                                     " --alert-label team=data");
  ASSERT_EQ(r.code, 1) << r.err;
  const json report = json::parse(r.out);  // stdout is still the JSON report alone
  const std::string marker =
      "stagecheck: alert dry run: would POST to " + am_->url() + "/api/v2/alerts:\n";
  const std::size_t at = r.err.find(marker);
  ASSERT_NE(at, std::string::npos) << r.err;
  const std::size_t start = at + marker.size();
  const json payload = json::parse(r.err.substr(start, r.err.find('\n', start) - start));
  ASSERT_TRUE(payload.is_array());
  ASSERT_EQ(payload.size(), 1u);
  EXPECT_EQ(payload[0]["labels"]["scene"], "dry_1");
  EXPECT_EQ(payload[0]["labels"]["team"], "data");
  EXPECT_EQ(payload[0]["annotations"]["run_id"], report["run_id"]);
  EXPECT_EQ(alerts_of("dry_1").size(), 0u);  // a real post is stored before it is answered
}

TEST_F(AlertDriver, UndeliverableAlertIsReportedWithoutCredentials) {
  const std::string dead = fmt::format("http://ops:hunter2@127.0.0.1:{}", st::free_loopback_port());
  scene("dead_1", 0.5);
  st::DriverRun r = run("dead_1", "--alertmanager " + q(dead));
  EXPECT_EQ(r.code, 1) << r.err;  // a failing run stays 1
  EXPECT_NE(r.err.find("stagecheck: error: cannot send the alert to http://***@127.0.0.1:"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos) << r.out;
  scene("dead_2", 0.5, /*skip=*/true);
  r = run("dead_2", "--alertmanager " + q(dead) + " --alert-on both");
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("cannot send the alert"), std::string::npos) << r.err;
  scene("dead_3", 0.95);  // a resolution that cannot be delivered: the verdict was not handed on
  const fs::path log = dir_ / "dead_3.log";
  r = run("dead_3",
          "--alertmanager " + q(dead) + " --log-format json --log-file " + q(log.string()));
  EXPECT_EQ(r.code, 3) << r.err;
  // The reports carry the run's own verdict (pass); the last word says why the exit is 3.
  EXPECT_NE(r.err.find("stagecheck: exit 3: the run's verdict is pass (exit 0), but it could not "
                       "be handed on"),
            std::string::npos)
      << r.err;
  const std::string logged = st::slurp(log);
  EXPECT_NE(logged.find("\"message\":\"cannot send the alert to http://***@127.0.0.1:"),
            std::string::npos)
      << logged;
  EXPECT_EQ(logged.find("hunter2"), std::string::npos) << logged;
  // Alertmanager refusing the payload (404 here: not its API path) is an error too.
  r = run("dead_1", "--alertmanager " + q(am_->url() + "/nothing-here"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("HTTP 404"), std::string::npos) << r.err;
}

TEST_F(AlertDriver, BadAlertOptionsAreUsageErrors) {
  scene("bad_1", 0.5);
  for (const std::string& extra :
       {std::string("--alertmanager ftp://am.example"),
        std::string("--alertmanager 'http://h/?x=1'"),
        std::string("--alertmanager am.example:9093"), std::string("--alert-webhook 'http://'"),
        "--alertmanager " + q(am_->url()) + " --alert-label spec=x",
        "--alertmanager " + q(am_->url()) + " --alert-label team",
        "--alertmanager " + q(am_->url()) + " --alert-on sometimes",
        "--alertmanager " + q(am_->url()) + " --alert-expires 5x",
        "--alertmanager " + q(am_->url()) + " --alert-generator-url nope",
        "--alert-webhook " + q(am_->url()) + " --no-alert-resolve", std::string("--alert-dry-run"),
        std::string("--alert-label team=data"), std::string("--alert-on both")}) {
    st::DriverRun r = run("bad_1", extra + " --report-json " + q((dir_ / "r.json").string()));
    EXPECT_EQ(r.code, 2) << extra << "\n" << r.err;
    EXPECT_NE(r.err.find("stagecheck: error: "), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "r.json")) << extra;  // nothing ran
  }
  EXPECT_EQ(alerts_of("bad_1").size(), 0u);
}

// A batch alerts per scene: the failing scene fires, the passing one does not, each with its own
// scene label and run id; a later batch where it passes resolves it.
TEST_F(AlertDriver, BatchAlertsPerFailingSceneAndResolves) {
  scene("batch_bad", 0.5);
  scene("batch_good", 0.95);
  const fs::path report = dir_ / "batch.json";
  auto batch = [&] {
    return st::run_driver(fmt::format(
        "run {} --root {} --scenes batch_bad,batch_good --alertmanager {} --report-json {}",
        q((dir_ / "spec.yaml").string()), q((dir_ / "root").string()), q(am_->url()),
        q(report.string())));
  };
  st::DriverRun r = batch();
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  json a = wait_alerts("batch_bad", 1);
  ASSERT_EQ(a.size(), 1u) << a.dump(2);
  EXPECT_EQ(a[0]["labels"]["alertname"], "StagecheckRunFailed");
  EXPECT_EQ(a[0]["labels"]["spec"], "alert-demo");
  EXPECT_EQ(a[0]["annotations"]["failures"], "quality.pass_rate");
  EXPECT_EQ(a[0]["annotations"]["report"], fs::absolute(report).string());
  EXPECT_EQ(a[0]["annotations"]["run_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(alerts_of("batch_good").size(), 0u);

  scene("batch_bad", 0.97);
  r = batch();
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(wait_alerts("batch_bad", 0).size(), 0u);
}

// ---- the plain webhook -----------------------------------------------------------------------

TEST_F(AlertDriver, WebhookReceivesTheRunAsJson) {
  scene("hook_1", 0.5);
  st::HttpTarget hook;
  hook.json("/hook", "{\"ok\": true}");
  const fs::path report = dir_ / "report.json";
  const std::string url = fmt::format("http://bot:tok3n@127.0.0.1:{}/hook?channel=qa", hook.port());
  st::DriverRun r =
      run("hook_1", "--alert-webhook " + q(url) + " --report-json " + q(report.string()) +
                        " --alert-report-url https://reports.example/r.json");
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.find("tok3n"), std::string::npos) << r.out;
  const auto seen = hook.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/hook?channel=qa");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(seen[0].headers.at("authorization"), "Basic Ym90OnRvazNu");  // bot:tok3n
  const json body = json::parse(seen[0].body);
  const json rep = json::parse(st::slurp(report));
  EXPECT_EQ(body["version"], 1);
  EXPECT_EQ(body["status"], "firing");
  EXPECT_EQ(body["run_id"], rep["run_id"]);
  EXPECT_EQ(body["spec"], "alert-demo");
  EXPECT_EQ(body["scene"], "hook_1");
  EXPECT_EQ(body["verdict"], "fail");
  EXPECT_EQ(body["exit_code"], 1);
  EXPECT_EQ(body["report"], "https://reports.example/r.json");
  EXPECT_EQ(body["counts"]["fail"], 1);
  ASSERT_EQ(body["failures"].size(), 1u);
  EXPECT_EQ(body["failures"][0]["id"], "quality.pass_rate");
  EXPECT_EQ(body["failures"][0]["status"], "fail");

  // A webhook answering 500 is retried (bounded), then reported; the failing run stays 1.
  st::HttpTarget broken;
  broken.json("/hook", "{\"error\": \"down\"}", 500);
  r = run("hook_1", "--alert-webhook " + q(broken.url("/hook")));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(broken.count("/hook"), 3u);  // 1 + 2 retries
  EXPECT_NE(r.err.find("cannot send the alert to " + broken.url("/hook") + ": "), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("HTTP 500"), std::string::npos) << r.err;
}

// ---- the example configs ---------------------------------------------------------------------

namespace {
int sh(const std::string& cmd) {
  const int status = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
bool have(const char* tool) { return sh(std::string("command -v ") + tool) == 0; }
}  // namespace

TEST(AlertExamples, PrometheusRulesPassPromtoolAndTheirUnitTests) {
  if (!have("promtool")) {
    if (st::servers_required()) FAIL() << "promtool not found (the prometheus package ships it)";
    GTEST_SKIP() << "promtool not found";
  }
  const std::string dir = kSource + "/examples/prometheus";
  EXPECT_EQ(sh("promtool check rules " + q(dir + "/stagecheck-rules.yml")), 0);
  EXPECT_EQ(sh("cd " + q(dir) + " && promtool test rules stagecheck-rules.test.yml"), 0);
}

TEST(AlertExamples, AlertmanagerConfigIsValidAndRoutesStagecheckAlerts) {
  if (!have("amtool")) {
    if (st::servers_required()) FAIL() << "amtool not found (prometheus-alertmanager ships it)";
    GTEST_SKIP() << "amtool not found";
  }
  const std::string cfg = q(kSource + "/examples/alertmanager/alertmanager.yml");
  EXPECT_EQ(sh("amtool check-config " + cfg), 0);
  auto route = [&](const std::string& labels) {
    const std::string out = (fs::temp_directory_path() / "stagecheck-amtool-route").string();
    std::system(("amtool config routes test --config.file=" + cfg + " " + labels + " >" + q(out) +
                 " 2>/dev/null")
                    .c_str());
    std::string text = st::slurp(out);
    fs::remove(out);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  };
  EXPECT_EQ(route("alertname=StagecheckRunFailed spec=x scene=y"), "stagecheck-page");
  EXPECT_EQ(route("alertname=StagecheckNoVerdict spec=x"), "stagecheck-chat");
  EXPECT_EQ(route("alertname=Other"), "default");
}
