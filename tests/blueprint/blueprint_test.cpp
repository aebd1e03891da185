// The production spec against the good scene and every derived failure, and the preflight.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
using nlohmann::json;

namespace {

const std::string kSource = STAGECHECK_SOURCE_DIR;
const std::string kSpec = kSource + "/examples/blueprint/production_e2e.yaml";
const std::string kScene = kSource + "/examples/blueprint/scene";
const std::string kSceneDir = "scenes/kitchen_001";

std::string q(const std::string& s) { return "'" + s + "'"; }

const json* result(const json& report, const std::string& id) {
  for (const auto& r : report["results"]) {
    if (r["id"] == id) return &r;
  }
  return nullptr;
}

}  // namespace

TEST(ProductionE2E, GoodSceneWithJobEnvPasses) {
  st::DriverRun r = st::run_driver("run " + q(kSpec) + " --root " + q(kScene) +
                                   " --var scene_id=kitchen_001 --var job_env=" +
                                   q(kSource + "/examples/blueprint/job.env") + " --format json");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  json report = json::parse(r.out);
  EXPECT_EQ(report["summary"]["fail"], 0);
  EXPECT_EQ(report["summary"]["warn"], 0) << "with job_env the flags are verified";
  EXPECT_EQ((*result(report, "production_config.job_flags"))["status"], "pass");
}

TEST(ProductionE2E, WithoutJobEnvFlagsAreAWarningNotAPass) {
  st::DriverRun r = st::run_driver("run " + q(kSpec) + " --root " + q(kScene) +
                                   " --var scene_id=kitchen_001 --format json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json report = json::parse(r.out);
  const json* flags = result(report, "production_config.job_flags");
  ASSERT_NE(flags, nullptr);
  EXPECT_EQ((*flags)["status"], "warn");
  EXPECT_NE((*flags)["message"].get<std::string>().find("not verified"), std::string::npos);
}

TEST(ProductionE2E, SceneIdIsRequiredAndNotUnknown) {
  EXPECT_EQ(st::run_driver("run " + q(kSpec) + " --root " + q(kScene)).code, 2);
  EXPECT_EQ(st::run_driver("run " + q(kSpec) + " --root " + q(kScene) + " --var scene_id=").code,
            2);
  st::DriverRun r =
      st::run_driver("run " + q(kSpec) + " --root " + q(kScene) + " --var scene_id=unknown");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("\"unknown\" is refused"), std::string::npos) << r.err;
}

// Every variant of derive_failures.py: the exit code, the check that must show the fault, its
// status, and the artifact or field it must name.
TEST(ProductionE2E, DerivedFailures) {
  st::ScratchDir out;
  const std::string cmd = "python3 " + q(kSource + "/examples/blueprint/derive_failures.py") + " " +
                          q(kScene) + " " + q(out.path().string()) + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "derive_failures.py failed (is python3 installed?)";
  json variants = json::parse(st::slurp(out / "variants.json"));
  ASSERT_GE(variants.size(), 40u);
  int failures = 0;
  for (const auto& v : variants) {
    SCOPED_TRACE(v["name"].get<std::string>() + ": " + v["description"].get<std::string>());
    std::string args =
        "run " + q(kSpec) + " --root " + q(v["root"]) + " --var scene_id=kitchen_001 --format json";
    for (const auto& [k, val] : v["vars"].items())
      args += " --var " + q(k + "=" + val.get<std::string>());
    st::DriverRun r = st::run_driver(args);
    EXPECT_EQ(r.code, v["exit_code"].get<int>()) << r.err;
    json report = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(report.is_discarded()) << r.out << r.err;
    const json* res = result(report, v["check"]);
    ASSERT_NE(res, nullptr) << "no result " << v["check"];
    EXPECT_EQ((*res)["status"], v["status"]) << (*res)["message"];
    const std::string needle = v["needle"];
    bool named = (*res)["message"].get<std::string>().find(needle) != std::string::npos;
    for (const auto& a : (*res)["artifacts"])
      named = named || a.get<std::string>().find(needle) != std::string::npos;
    EXPECT_TRUE(named) << "'" << needle << "' not in: " << (*res)["message"] << " "
                       << (*res)["artifacts"];
    if (r.code != v["exit_code"].get<int>() || !named) ++failures;
  }
  EXPECT_EQ(failures, 0);
}

// ---- preflight -----------------------------------------------------------------------------

class Preflight : public ::testing::Test {
 protected:
  void SetUp() override { dir_.copy_tree(kScene); }
  st::DriverRun preflight(const std::string& extra = "") {
    return st::run_driver("preflight --root " + q(dir_.path().string()) +
                          " --scene-id kitchen_001 --consumer training " + extra);
  }
  std::string marker_path() const { return (dir_ / (kSceneDir + "/training/.failed")).string(); }
  json marker() const { return json::parse(st::slurp(marker_path())); }
  void edit(const std::string& rel, const std::function<void(json&)>& fn) {
    json doc = json::parse(st::slurp(dir_ / rel));
    fn(doc);
    dir_.write(rel, doc.dump(2));
  }
  st::ScratchDir dir_;
};

TEST_F(Preflight, PassesAndWritesNothing) {
  st::DriverRun r = preflight();
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_FALSE(std::filesystem::exists(marker_path()));
}

TEST_F(Preflight, BlockedGateWritesTheMarker) {
  edit(kSceneDir + "/episode-generation-job/quality_gate_report.json", [](json& d) {
    d["summary"]["passed"] = 6;
    d["summary"]["failed"] = 1;
    d["summary"]["blocking_failures"] = 1;
    d["summary"]["can_proceed"] = false;
    d["results"][2]["passed"] = false;
  });
  st::DriverRun r = preflight();
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("Wrote failure marker scenes/kitchen_001/training/.failed"),
            std::string::npos)
      << r.out;
  json m = marker();
  EXPECT_EQ(m["scene_id"], "kitchen_001");
  EXPECT_EQ(m["consumer"], "training");
  EXPECT_EQ(m["status"], "failed");
  const std::string ts = m["timestamp"];
  EXPECT_EQ(ts.size(), 20u) << ts;
  EXPECT_EQ(ts.back(), 'Z') << ts;
  EXPECT_EQ(m["error"]["code"], "quality_gate_blocked");
  EXPECT_EQ(m["error"]["report_path"],
            kSceneDir + "/episode-generation-job/quality_gate_report.json");
  EXPECT_NE(m["error"]["message"].get<std::string>().find("qg-6a-quality-score-sli"),
            std::string::npos);
}

TEST_F(Preflight, UnreadableGateReport) {
  dir_.write(kSceneDir + "/episode-generation-job/quality_gate_report.json", "{\"summary\": {");
  EXPECT_EQ(preflight().code, 1);
  EXPECT_EQ(marker()["error"]["code"], "quality_gate_unreadable");
}

TEST_F(Preflight, CertificatesDecideWhenTheReportIsAbsent) {
  std::filesystem::remove(dir_ / (kSceneDir + "/episode-generation-job/quality_gate_report.json"));
  EXPECT_EQ(preflight().code, 0);
  edit(kSceneDir + "/episodes/quality/episodes/episode_000031/quality_certificate.json",
       [](json& d) { d["validation_passed"] = false; });
  st::DriverRun r = preflight();
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(marker()["error"]["code"], "certificates_failed");
  EXPECT_NE(marker()["error"]["message"].get<std::string>().find("episode_000031"),
            std::string::npos);
}

TEST_F(Preflight, NothingToDecideOn) {
  std::filesystem::remove(dir_ / (kSceneDir + "/episode-generation-job/quality_gate_report.json"));
  std::filesystem::remove_all(dir_ / (kSceneDir + "/episodes/quality/episodes"));
  EXPECT_EQ(preflight().code, 1);
  EXPECT_EQ(marker()["error"]["code"], "quality_artifacts_missing");
}

TEST_F(Preflight, StaleMarkerIsAWarning) {
  dir_.write(kSceneDir + "/training/.failed", "{\"status\": \"failed\"}\n");
  st::DriverRun r = preflight("--format json");
  EXPECT_EQ(r.code, 0) << r.err;
  const json report = json::parse(r.out);
  const json* stale = result(report, "preflight.no_stale_failed_marker");
  ASSERT_NE(stale, nullptr);
  EXPECT_EQ((*stale)["status"], "warn");
}

TEST_F(Preflight, BadSceneIdIsAUsageError) {
  for (const char* id : {"unknown", "", "a/b"}) {
    st::DriverRun r = st::run_driver("preflight --root " + q(dir_.path().string()) +
                                     " --scene-id '" + id + "' --consumer training");
    EXPECT_EQ(r.code, 2) << id << ": " << r.err;
  }
  EXPECT_EQ(
      st::run_driver("preflight --root " + q(dir_.path().string()) + " --consumer training").code,
      2);
}

TEST_F(Preflight, MarkerThatCannotBeWrittenIsNoVerdict) {
  edit(kSceneDir + "/episode-generation-job/quality_gate_report.json",
       [](json& d) { d["summary"]["can_proceed"] = false; });
  dir_.write(kSceneDir + "/training", "a file where the marker's folder should be");
  st::DriverRun r = preflight("--report-json " + q((dir_ / "report.json").string()));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("could not be written"), std::string::npos) << r.out;
  json report = json::parse(st::slurp(dir_ / "report.json"));
  EXPECT_EQ(report["failure_marker"]["written"], false);
}
