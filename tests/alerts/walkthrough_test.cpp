// The "done when", as the README tells a new user to do it: watch a run with --monitor,
// remember it in a history, plant a worse run and see the drift check fail, and get an alert
// in a real Alertmanager for that failing run (the dashboard's queries are tested against a
// real Prometheus in tests/metrics).

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "alertmanager_server.hpp"
#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kSource = STAGECHECK_SOURCE_DIR;

std::string q(const std::string& s) { return "'" + s + "'"; }

TEST(WatchWalkthrough, MonitorHistoryDriftAndAnAlertForAWorseRun) {
  st::AlertmanagerServer am;
  if (!am.start()) {
    if (st::servers_required()) FAIL() << am.problem();
    GTEST_SKIP() << am.problem();
  }
  st::ScratchDir dir;
  fs::copy(kSource + "/examples/quickstart/scene", dir / "scene", fs::copy_options::recursive);
  const std::string db = "sqlite:" + (dir / "runs.db").string();
  const std::string report = (dir / "report.json").string();
  auto run = [&] {
    return st::run_driver(fmt::format(
        "run {} --root {} --var scene_id=kitchen_001 --history {} --monitor --report-json {} "
        "--alertmanager {}",
        q(kSource + "/examples/drift/spec.yaml"), q((dir / "scene").string()), q(db), q(report),
        q(am.url())));
  };

  // Four good runs: the first three have too little history (a warning, not a pass), the
  // fourth compares with three.
  for (int i = 1; i <= 4; ++i) {
    st::DriverRun r = run();
    ASSERT_EQ(r.code, 0) << "run " << i << "\n" << r.out << r.err;
    // --monitor: plain lines on stderr (not a terminal), the summary last; stdout untouched.
    EXPECT_NE(r.err.find("stagecheck: done in"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("stagecheck: done in"), std::string::npos) << r.out;
    const json rep = json::parse(st::slurp(report));
    const json& drift = rep["results"][1];
    ASSERT_EQ(drift["id"], "quality.score_drift");
    EXPECT_EQ(drift["status"], i <= 3 ? "warn" : "pass") << drift.dump(2);
  }

  // Plant a worse run: the average score drops from 0.91 to 0.70 (still above the 0.5 floor,
  // so only the drift check can see it).
  const fs::path vr = dir / "scene/scenes/kitchen_001/episodes/quality/validation_report.json";
  std::string text = st::slurp(vr);
  const std::string from = "\"average_score\": 0.91";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "\"average_score\": 0.70");
  std::ofstream(vr, std::ios::trunc) << text;

  st::DriverRun r = run();
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("summary.average_score 0.7 dropped 0.21 (23.1 %) below the mean 0.91 of "
                       "the last 4 runs"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("FAIL quality.score_drift"), std::string::npos) << r.err;
  const json rep = json::parse(st::slurp(report));
  EXPECT_EQ(rep["results"][0]["status"], "pass");  // the fixed floor alone would have shipped it
  EXPECT_EQ(rep["results"][1]["status"], "fail");

  // Run again: still a failure; the failed run is not part of the baseline.
  st::DriverRun again = run();
  ASSERT_EQ(again.code, 1) << again.out << again.err;
  EXPECT_NE(again.out.find("below the mean 0.91 of the last 4 runs"), std::string::npos)
      << again.out;

  // Remembered: six runs, the newest two failing.
  st::DriverRun list = st::run_driver("history list --format json --history " + q(db));
  ASSERT_EQ(list.code, 0) << list.out << list.err;
  const json runs = json::parse(list.out);
  ASSERT_TRUE(runs.contains("runs")) << runs.dump(2);
  ASSERT_EQ(runs["runs"].size(), 6u) << runs.dump(2);
  EXPECT_EQ(runs["runs"][1]["run_id"], rep["run_id"]);
  EXPECT_EQ(runs["runs"][0]["verdict"], "fail");
  EXPECT_EQ(runs["runs"][1]["verdict"], "fail");

  // Paged: the alert is active in Alertmanager, for this scene, naming this run.
  json alerts;
  for (int i = 0; i < 100; ++i) {
    auto [status, body] = am.alerts("spec=\"scene-drift\"");
    ASSERT_EQ(status, 200) << body;
    alerts = json::parse(body, nullptr, false);
    if (alerts.is_array() && alerts.size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(alerts.is_array() && alerts.size() == 1) << alerts.dump(2);
  EXPECT_EQ(alerts[0]["labels"]["alertname"], "StagecheckRunFailed");
  EXPECT_EQ(alerts[0]["labels"]["scene"], "kitchen_001");
  EXPECT_EQ(alerts[0]["status"]["state"], "active");
  EXPECT_EQ(alerts[0]["annotations"]["run_id"], runs["runs"][0]["run_id"]);  // the newest
  EXPECT_EQ(alerts[0]["annotations"]["failures"], "quality.score_drift");
}

}  // namespace
