// `run --execute` drives the local stand-in of the scene pipeline's four workflows
// (examples/blueprint/stand_in_pipeline.sh) with the production spec's triggers and waits.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kSource = STAGECHECK_SOURCE_DIR;
const std::string kSpec = kSource + "/examples/blueprint/production_e2e.yaml";
const std::string kStandIn = kSource + "/examples/blueprint/stand_in_pipeline.sh";
const std::string kScene = kSource + "/examples/blueprint/scene";

std::string q(const std::string& s) { return "'" + s + "'"; }

const json& result(const json& report, const std::string& id) {
  for (const auto& r : report["results"]) {
    if (r["id"] == id) return r;
  }
  static const json none;
  ADD_FAILURE() << "no result " << id;
  return none;
}

// Every regular file under `dir`, relative, with its bytes.
std::map<std::string, std::string> tree(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = st::slurp(e.path());
  }
  return files;
}

// True if a live (not zombie) process is in process group `pgid`.
bool group_alive(int pgid) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = st::slurp(e.path() / "stat");
    std::size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream in(stat.substr(paren + 2));
    std::string state;
    int ppid = 0, pgrp = 0;
    in >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != "Z") return true;
  }
  return false;
}

class ExecuteE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = scratch_ / "run";
    ASSERT_EQ(std::system((q(kStandIn) + " upstream --root " + q(root_.string()) +
                           " --scene kitchen_001 >/dev/null")
                              .c_str()),
              0);
  }
  // Runs the production spec with --execute; `env` is prefixed to the command.
  st::DriverRun execute(const std::string& env, const std::string& timeout = "20s") {
    return st::run_driver("run " + q(kSpec) + " --root " + q(root_.string()) +
                              " --var scene_id=kitchen_001 --var job_env=" +
                              q(kSource + "/examples/blueprint/job.env") +
                              " --var pipeline=" + q(kStandIn) +
                              " --var workflow_timeout=" + timeout + " --execute --format json",
                          "STAND_IN_DELAY=0.3 " + env);
  }
  st::ScratchDir scratch_;
  fs::path root_;
};

}  // namespace

TEST_F(ExecuteE2E, DrivesTheFourWorkflowsAndPassesOnTheGoodRun) {
  st::DriverRun r = execute("");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  json report = json::parse(r.out);
  for (const char* stage :
       {"geniesim_export", "episode_generation", "geniesim_import", "dwm_preparation"}) {
    EXPECT_EQ(result(report, std::string(stage) + ".trigger")["status"], "pass") << stage;
    EXPECT_EQ(result(report, std::string(stage) + ".wait")["status"], "pass") << stage;
  }
  EXPECT_EQ(report["summary"]["fail"], 0);
  // The stand-in played back exactly the good run, and stagecheck wrote nothing of its own.
  EXPECT_EQ(tree(root_), tree(kScene));
}

TEST_F(ExecuteE2E, WithoutExecuteNothingIsTriggered) {
  st::DriverRun r = st::run_driver("run " + q(kSpec) + " --root " + q(root_.string()) +
                                   " --var scene_id=kitchen_001 --format json");
  EXPECT_EQ(r.code, 1) << r.err;
  json report = json::parse(r.out);
  EXPECT_EQ(result(report, "geniesim_export.trigger")["status"], "skipped");
  EXPECT_FALSE(fs::exists(root_ / "scenes/kitchen_001/geniesim"));
}

TEST_F(ExecuteE2E, AFailingVariantFailsOnItsCriterion) {
  st::ScratchDir variants;
  ASSERT_EQ(std::system(("python3 " + q(kSource + "/examples/blueprint/derive_failures.py") + " " +
                         q(kScene) + " " + q(variants.path().string()) + " >/dev/null")
                            .c_str()),
            0);
  st::DriverRun r = execute("STAND_IN_SOURCE=" + q((variants / "low_pass_rate").string()));
  EXPECT_EQ(r.code, 1) << r.err;
  json report = json::parse(r.out);
  const json& v = result(report, "episode_generation.validation_thresholds");
  EXPECT_EQ(v["status"], "fail");
  EXPECT_NE(v["message"].get<std::string>().find("summary.pass_rate = 0.85"), std::string::npos);
  EXPECT_EQ(result(report, "episode_generation.trigger")["status"], "pass");
}

TEST_F(ExecuteE2E, AMarkerThatNeverLandsFailsAtTheDeadlineNamingIt) {
  st::ScratchDir variants;
  ASSERT_EQ(std::system(("python3 " + q(kSource + "/examples/blueprint/derive_failures.py") + " " +
                         q(kScene) + " " + q(variants.path().string()) + " >/dev/null")
                            .c_str()),
            0);
  auto start = std::chrono::steady_clock::now();
  st::DriverRun r =
      execute("STAND_IN_SOURCE=" + q((variants / "missing_dwm_complete").string()), "2s");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.code, 1) << r.err;
  json report = json::parse(r.out);
  const json& w = result(report, "dwm_preparation.wait");
  EXPECT_EQ(w["status"], "fail");
  EXPECT_EQ(w["code"], "wait_timeout");
  const std::string message = w["message"];
  EXPECT_NE(message.find("wait of stage 'dwm_preparation': after 2s ("), std::string::npos)
      << message;
  EXPECT_NE(message.find("still missing: scenes/kitchen_001/dwm/.dwm_complete"), std::string::npos)
      << message;
  EXPECT_LT(took, std::chrono::seconds(10));
}

TEST_F(ExecuteE2E, AFailedWorkflowFailsItsTriggerAndSkipsItsWait) {
  st::DriverRun r = execute("STAND_IN_FAIL=genie-sim-export");
  EXPECT_EQ(r.code, 1) << r.err;
  json report = json::parse(r.out);
  const json& t = result(report, "geniesim_export.trigger");
  EXPECT_EQ(t["status"], "fail");
  EXPECT_EQ(t["observed"]["exit_code"], 1);
  EXPECT_NE(t["message"].get<std::string>().find("execution FAILED"), std::string::npos);
  EXPECT_EQ(result(report, "geniesim_export.wait")["status"], "blocked");
  // geniesim_import depends on the export: blocked, never triggered.
  EXPECT_EQ(result(report, "geniesim_import.trigger")["status"], "blocked");
  EXPECT_FALSE(fs::exists(root_ / "scenes/kitchen_001/geniesim/.geniesim_import_complete"));
}

TEST_F(ExecuteE2E, AHangingWorkflowIsKilledAtItsTimeout) {
  st::DriverRun r = execute("STAND_IN_HANG=dwm-preparation", "1s");
  EXPECT_EQ(r.code, 1) << r.err;
  json report = json::parse(r.out);
  const json& t = result(report, "dwm_preparation.trigger");
  EXPECT_EQ(t["status"], "fail");
  EXPECT_EQ(t["code"], "trigger_timeout");
  std::string tail = t["details"]["output_tail"];
  std::size_t at = tail.find("process group ");
  ASSERT_NE(at, std::string::npos) << tail;
  EXPECT_FALSE(group_alive(std::stoi(tail.substr(at + 14))));
}

TEST_F(ExecuteE2E, SigtermMidRunLeavesACompleteReportMarkedInterrupted) {
  const fs::path report_file = scratch_ / "report.json";
  const fs::path code_file = scratch_ / "code";
  const fs::path note = scratch_ / "hanging";
  // The driver in the background, SIGTERM once the hanging workflow is running (it writes
  // the note; polled for at most 20 s).
  std::string cmd =
      "STAND_IN_DELAY=0.3 STAND_IN_HANG=episode-generation STAND_IN_HANG_NOTE=" + q(note.string()) +
      " '" + std::string(STAGECHECK_DRIVER) + "' run " + q(kSpec) + " --root " + q(root_.string()) +
      " --var scene_id=kitchen_001 --var pipeline=" + q(kStandIn) +
      " --execute --quiet --report-json " + q(report_file.string()) +
      " >/dev/null 2>&1 & p=$!; i=0; while [ ! -s " + q(note.string()) +
      " ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; kill -TERM $p; "
      "wait $p; echo $? > " +
      q(code_file.string());
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(std::system(("sh -c " + q(cmd)).c_str()), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  ASSERT_FALSE(st::slurp(note).empty()) << "the workflow never started";
  EXPECT_EQ(st::slurp(code_file), "3\n");
  json report = json::parse(st::slurp(report_file));  // complete, parseable
  EXPECT_EQ(report["interrupted"], true);
  EXPECT_EQ(report["exit_code"], 3);
  const json& t = result(report, "episode_generation.trigger");
  EXPECT_EQ(t["status"], "error");
  EXPECT_EQ(t["code"], "interrupted");
  std::string tail = t["details"]["output_tail"];
  std::size_t at = tail.find("process group ");
  ASSERT_NE(at, std::string::npos) << tail;
  EXPECT_FALSE(group_alive(std::stoi(tail.substr(at + 14))));
  // No temporary report file left behind.
  for (const auto& e : fs::directory_iterator(scratch_.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST(ExecuteSignals, ASecondSignalEndsAtOnceAndTakesTheTriggeredCommandsWithIt) {
  st::ScratchDir dir;
  // A trigger that ignores SIGTERM (and so does its child): only SIGKILL ends it.
  dir.write("stubborn.sh", "#!/bin/sh\ntrap '' TERM\necho \"process group $$\" > '" +
                               (dir / "pgid").string() + "'\nsleep 30\n");
  fs::permissions(dir / "stubborn.sh", fs::perms::owner_all);
  dir.write("store/keep.json", "{}");
  dir.write("spec.yaml",
            "version: 1\nname: t\nstages:\n  - id: s\n    trigger:\n      command: "
            "{argv: ['" +
                (dir / "stubborn.sh").string() +
                "'], timeout: 1m, kill_grace: 30s}\n    checks: [{id: k, type: "
                "marker, path: keep.json}]\n");
  std::string cmd = "'" + std::string(STAGECHECK_DRIVER) + "' run " +
                    q((dir / "spec.yaml").string()) + " --root " + q((dir / "store").string()) +
                    " --execute >/dev/null 2>&1 & p=$!; i=0; while [ ! -s " +
                    q((dir / "pgid").string()) +
                    " ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; kill -TERM $p; "
                    "sleep 0.3; kill -TERM $p; wait $p; echo $? > " +
                    q((dir / "code").string());
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(std::system(("sh -c " + q(cmd)).c_str()), 0);
  // Without the second signal it would wait out the 30 s kill_grace.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(st::slurp(dir / "code"), fmt::format("{}\n", 128 + SIGTERM));
  std::string pg = st::slurp(dir / "pgid");
  ASSERT_EQ(pg.rfind("process group ", 0), 0u) << pg;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(group_alive(std::stoi(pg.substr(14))));
}

TEST_F(ExecuteE2E, IterationsRepeatTheRunAndReportEach) {
  st::DriverRun r =
      st::run_driver("run " + q(kSpec) + " --root " + q(root_.string()) +
                         " --var scene_id=kitchen_001" + " --var pipeline=" + q(kStandIn) +
                         " --var workflow_timeout=20s --execute" + " --iterations 3 --format json",
                     "STAND_IN_DELAY=0.2");
  ASSERT_EQ(r.code, 0) << r.err;
  json report = json::parse(r.out);
  const json& stress = report["stress"];
  ASSERT_EQ(stress["iterations"], 3);
  EXPECT_EQ(stress["passed"], 3);
  EXPECT_EQ(stress["results_from_iteration"], 3);
  ASSERT_EQ(stress["runs"].size(), 3u);
  for (const auto& run : stress["runs"]) {
    EXPECT_EQ(run["exit_code"], 0);
    EXPECT_GT(run["rss_kib"].get<std::int64_t>(), 0);
    EXPECT_GT(run["open_fds"].get<int>(), 2);
    // Each iteration waited for markers its own workflows wrote (they withdraw old ones).
    EXPECT_GT(run["duration_ms"].get<double>(), 200.0);
  }
  // The text summary goes to stderr with --format json.
  EXPECT_NE(r.err.find("iteration   3: PASS"), std::string::npos) << r.err;
}

TEST(ExecuteStress, OneFailingIterationFailsTheWholeRunAndIsTheOneShown) {
  st::ScratchDir dir;
  // Passes on odd invocations, fails on even ones.
  dir.write("flaky.sh", "#!/bin/sh\nn=$(cat '" + (dir / "n").string() +
                            "' 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > '" +
                            (dir / "n").string() + "'\n[ $((n % 2)) -eq 1 ]\n");
  fs::permissions(dir / "flaky.sh", fs::perms::owner_all);
  dir.write("store/keep.json", "{}");
  dir.write("spec.yaml", "version: 1\nname: t\nstages:\n  - id: s\n    trigger: {command: ['" +
                             (dir / "flaky.sh").string() +
                             "']}\n    checks: [{id: k, type: marker, path: keep.json}]\n");
  st::DriverRun r =
      st::run_driver("run " + q((dir / "spec.yaml").string()) + " --root " +
                     q((dir / "store").string()) + " --execute --iterations 3 --format json");
  EXPECT_EQ(r.code, 1) << r.err;
  json report = json::parse(r.out);
  EXPECT_EQ(report["exit_code"], 1);
  EXPECT_EQ(report["stress"]["passed"], 2);
  EXPECT_EQ(report["stress"]["results_from_iteration"], 2);
  EXPECT_EQ(report["stress"]["runs"][1]["failed"], json::array({"s.trigger"}));
  EXPECT_EQ(result(report, "s.trigger")["status"], "fail");

  EXPECT_EQ(st::run_driver("run " + q((dir / "spec.yaml").string()) + " --iterations 0").code, 2);
}
