// Batch runs of the production spec over many generated scenes (tests/support/make_scenes.py):
// discovery, --scenes lists, the exit-code table, shards and `stagecheck merge`.

#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kSource = STAGECHECK_SOURCE_DIR;
const std::string kSpec = kSource + "/examples/blueprint/production_e2e.yaml";

std::string q(const std::string& s) { return "'" + s + "'"; }

// Writes `scenes` generated scenes (10 episodes each) into `out`; returns expected.json.
json make_scenes(const fs::path& out, int scenes, double fail_fraction, int seed, int first = 0) {
  const std::string cmd = "python3 " + q(kSource + "/tests/support/make_scenes.py") + " " +
                          q(out.string()) + " --scenes " + std::to_string(scenes) +
                          " --episodes 10 --fail-fraction " + std::to_string(fail_fraction) +
                          " --seed " + std::to_string(seed) + " --first " + std::to_string(first) +
                          " >/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make_scenes.py failed: " + cmd);
  return json::parse(st::slurp(out / "expected.json"));
}

std::vector<std::string> names(const json& array) {
  std::vector<std::string> out;
  for (const auto& v : array) out.push_back(v.get<std::string>());
  return out;
}

// The scenes of a batch report without their timings, to compare runs.
json scenes_without_times(json scenes) {
  for (auto& s : scenes) s.erase("duration_ms");
  return scenes;
}

class Batch : public ::testing::Test {
 protected:
  // 12 scenes, 3 of them broken (seed 5), shared by the tests that only read them.
  static void SetUpTestSuite() {
    fleet_ = new st::ScratchDir();
    expected_ = new json(make_scenes(fleet_->path(), 12, 0.25, 5));
  }
  static void TearDownTestSuite() {
    delete fleet_;
    delete expected_;
  }

  st::DriverRun batch(const std::string& root, const std::string& extra,
                      const std::string& prefix = "") {
    return st::run_driver("run " + q(kSpec) + " --root " + q(root) + " " + extra, prefix);
  }
  json report(const std::string& name) { return json::parse(st::slurp(dir_ / name)); }
  std::string out(const std::string& name) { return (dir_ / name).string(); }

  static st::ScratchDir* fleet_;
  static json* expected_;
  st::ScratchDir dir_;
};

st::ScratchDir* Batch::fleet_ = nullptr;
json* Batch::expected_ = nullptr;

}  // namespace

TEST_F(Batch, AllScenesOneReportEveryFailureNamed) {
  const std::string root = fleet_->path().string();
  st::DriverRun r = batch(root, "--scenes all --jobs 2 --report-json " + q(out("all.json")));
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  json rep = report("all.json");
  EXPECT_EQ(rep["kind"], "batch");
  EXPECT_EQ(rep["verdict"], "fail");
  EXPECT_EQ(rep["summary"]["scenes"], 12);
  EXPECT_EQ(rep["summary"]["fail"], 3);
  EXPECT_EQ(rep["summary"]["pass"], 9);
  EXPECT_EQ(rep["scene_set"]["count"], 12);
  EXPECT_EQ(names(rep["failing_scenes"]), names((*expected_)["failing"]));
  EXPECT_TRUE(rep["unevaluated_scenes"].empty());
  EXPECT_TRUE(rep["shard"].is_null());
  EXPECT_FALSE(rep["vars"].contains("scene_id"));
  for (const auto& s : rep["scenes"]) {
    const json& want = (*expected_)["scenes"][s["scene_id"].get<std::string>()];
    SCOPED_TRACE(s.dump());
    EXPECT_EQ(s["exit_code"], want["exit_code"]);
    if (want["exit_code"] == 1) {
      const auto failed = names(s["failed"]);
      EXPECT_NE(std::find(failed.begin(), failed.end(), want["check"].get<std::string>()),
                failed.end());
    } else {
      EXPECT_TRUE(s["failed"].empty());
      EXPECT_GT(s["summary"]["pass"].get<int>(), 10);
    }
  }
  // The console: a line per scene, and the summary names every failing scene.
  for (const auto& id : names((*expected_)["failing"])) {
    EXPECT_NE(r.out.find("FAIL        " + id), std::string::npos) << r.out;
  }
  EXPECT_NE(r.out.find("Failing scenes (3): " + names((*expected_)["failing"])[0]),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("PASS        scene_00000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("VERDICT: FAIL (exit 1)"), std::string::npos) << r.out;
}

TEST_F(Batch, AllGoodScenesPassAndJsonFormatIsOnlyJson) {
  make_scenes(dir_.path(), 3, 0.0, 1);
  st::DriverRun r = batch(dir_.path().string(), "--scenes all --format json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json rep = json::parse(r.out);
  EXPECT_EQ(rep["verdict"], "pass");
  EXPECT_EQ(rep["summary"]["pass"], 3);
}

TEST_F(Batch, ListAndFileSelectOnlyThoseScenes) {
  const std::string root = fleet_->path().string();
  const std::string a = names((*expected_)["failing"])[0];
  st::DriverRun r = batch(root, "--scenes scene_00000," + a + " --format json");
  EXPECT_EQ(r.code, 1) << r.err;
  json rep = json::parse(r.out);
  ASSERT_EQ(rep["scenes"].size(), 2u);
  EXPECT_EQ(rep["selection"], "scene_00000," + a);

  dir_.write("ids.txt", "# the good ones\nscene_00000\n\n  scene_00000  \n");
  std::string good = "scene_00000";
  r = batch(root, "--scenes @" + q(out("ids.txt")) + " --format json");
  EXPECT_EQ(r.code, (*expected_)["scenes"][good]["exit_code"].get<int>()) << r.err;
  rep = json::parse(r.out);
  ASSERT_EQ(rep["scenes"].size(), 1u) << "listed twice, validated once";
  EXPECT_EQ(rep["scenes"][0]["scene_id"], good);
}

TEST_F(Batch, UnknownSceneIdIsAUsageErrorBeforeAnythingRuns) {
  st::DriverRun r = batch(fleet_->path().string(),
                          "--scenes scene_00000,kitchen_999 --report-json " + q(out("r.json")));
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("unknown scene id(s)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("kitchen_999"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "r.json"));
}

TEST_F(Batch, ZeroScenesIsNoVerdictNeverAPass) {
  for (const bool with_folder : {false, true}) {
    st::ScratchDir empty;
    if (with_folder) fs::create_directories(empty / "scenes");
    st::DriverRun r =
        batch(empty.path().string(), "--scenes all --report-json " + q(out("zero.json")));
    EXPECT_EQ(r.code, 3) << r.out << r.err;
    EXPECT_NE(r.out.find("no scene found"), std::string::npos) << r.out;
    json rep = report("zero.json");
    EXPECT_EQ(rep["verdict"], "no_verdict");
    EXPECT_EQ(rep["summary"]["scenes"], 0);
  }
}

// A scene whose id the spec refuses ("unknown") has no verdict: 3 alone, 1 beside a failure.
TEST_F(Batch, ExitCodeTable) {
  make_scenes(dir_.path(), 2, 0.0, 1);
  fs::create_directories(dir_ / "scenes/unknown/episodes");
  st::DriverRun r = batch(dir_.path().string(), "--scenes all --report-json " + q(out("r.json")));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  json rep = report("r.json");
  EXPECT_EQ(names(rep["unevaluated_scenes"]), std::vector<std::string>{"unknown"});
  EXPECT_NE(r.out.find("Unevaluated scenes (1): unknown"), std::string::npos) << r.out;
  EXPECT_NE(rep["scenes"][2]["error"].get<std::string>().find("refused"), std::string::npos)
      << rep["scenes"][2].dump();

  fs::remove(dir_ / "scenes/scene_00001/dwm/.dwm_complete");
  r = batch(dir_.path().string(), "--scenes all --report-json " + q(out("r.json")));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  rep = report("r.json");
  EXPECT_EQ(names(rep["failing_scenes"]), std::vector<std::string>{"scene_00001"});
  EXPECT_EQ(names(rep["unevaluated_scenes"]), std::vector<std::string>{"unknown"});
}

TEST_F(Batch, MalformedOptionsAreUsageErrors) {
  const std::string root = fleet_->path().string();
  for (const std::string extra :
       {"--scenes all --shard 4/4", "--scenes all --shard 1", "--scenes all --shard a/4",
        "--scenes all --shard 0/0", "--shard 0/2 --var scene_id=scene_00000",
        "--scenes all --var scene_id=scene_00000", "--scenes a/b", "--scenes ''",
        "--scenes @/nonexistent/ids.txt", "--scenes all --iterations 2",
        "--scenes all --junit x.xml"}) {
    st::DriverRun r = batch(root, extra);
    EXPECT_EQ(r.code, 2) << extra << "\n" << r.out << r.err;
  }
  // A Slurm or Kubernetes environment that does not give a shard.
  for (const std::string env :
       {"SLURM_ARRAY_TASK_ID=3",
        "SLURM_ARRAY_TASK_ID=6 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_COUNT=4",
        "JOB_COMPLETION_INDEX=1", "JOB_COMPLETION_INDEX=4 STAGECHECK_SHARD_COUNT=4"}) {
    st::DriverRun r = batch(root, "--scenes all", "env " + env);
    EXPECT_EQ(r.code, 2) << env << "\n" << r.out << r.err;
  }
}

TEST_F(Batch, ShardFromSlurmOrKubernetesOnlyWithScenes) {
  const std::string root = fleet_->path().string();
  st::DriverRun r =
      batch(root, "--scenes all --format json",
            "env SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=4");
  ASSERT_NE(r.code, 2) << r.err;
  json rep = json::parse(r.out);
  EXPECT_EQ(rep["shard"], (json{{"index", 3}, {"count", 4}, {"source", "slurm"}}));
  r = batch(root, "--scenes all --format json",
            "env JOB_COMPLETION_INDEX=2 STAGECHECK_SHARD_COUNT=4");
  rep = json::parse(r.out);
  EXPECT_EQ(rep["shard"], (json{{"index", 2}, {"count", 4}, {"source", "kubernetes"}}));
  // --shard wins over the environment.
  r = batch(root, "--scenes all --shard 1/2 --format json", "env JOB_COMPLETION_INDEX=2");
  rep = json::parse(r.out);
  EXPECT_EQ(rep["shard"]["source"], "--shard");
  // Without --scenes the environment is not read: a single run as before.
  r = batch(root, "--var scene_id=scene_00000 --format json", "env JOB_COMPLETION_INDEX=1");
  rep = json::parse(r.out);
  EXPECT_FALSE(rep.contains("kind"));
  EXPECT_EQ(rep["exit_code"], r.code);
}

// The shards partition the scenes, merging them gives the single run's verdict and scenes, and
// adding scenes never moves a scene to another shard.
TEST_F(Batch, ShardsPartitionMergeEqualsSingleRunAndAreStable) {
  st::ScratchDir root;
  const json expected = make_scenes(root.path(), 12, 0.25, 5);
  st::DriverRun single =
      batch(root.path().string(), "--scenes all --report-json " + q(out("single.json")));
  ASSERT_EQ(single.code, 1) << single.err;
  std::map<std::string, int> shard_of;
  std::string shard_files;
  for (int i = 0; i < 4; ++i) {
    const std::string f = out("shard" + std::to_string(i) + ".json");
    st::DriverRun r = batch(root.path().string(), "--scenes all --shard " + std::to_string(i) +
                                                      "/4 --report-json " + q(f));
    EXPECT_NE(r.code, 2) << r.err;
    json rep = json::parse(st::slurp(f));
    EXPECT_EQ(rep["shard"]["index"], i);
    EXPECT_EQ(rep["shard"]["count"], 4);
    EXPECT_EQ(rep["spec"]["hash"], report("single.json")["spec"]["hash"]);
    for (const auto& s : rep["scenes"]) {
      EXPECT_TRUE(shard_of.emplace(s["scene_id"], i).second) << "in two shards: " << s.dump();
    }
    shard_files += " " + q(f);
  }
  EXPECT_EQ(shard_of.size(), 12u) << "the shards cover every scene";
  std::set<int> used;
  for (const auto& [id, i] : shard_of) used.insert(i);
  EXPECT_GE(used.size(), 3u) << "12 scenes spread over at least 3 of 4 shards";

  st::DriverRun merged =
      st::run_driver("merge" + shard_files + " --report-json " + q(out("merged.json")));
  EXPECT_EQ(merged.code, single.code) << merged.out << merged.err;
  json m = report("merged.json"), s = report("single.json");
  EXPECT_EQ(m["verdict"], s["verdict"]);
  EXPECT_EQ(m["failing_scenes"], s["failing_scenes"]);
  EXPECT_EQ(m["summary"], s["summary"]);
  EXPECT_EQ(scenes_without_times(m["scenes"]), scenes_without_times(s["scenes"]));
  EXPECT_TRUE(m["problems"].empty()) << m["problems"].dump();
  EXPECT_EQ(m["merged_from"].size(), 4u);
  EXPECT_NE(merged.out.find("VERDICT: FAIL (exit 1)"), std::string::npos) << merged.out;
  // A folder of shard reports merges the same.
  fs::create_directories(dir_ / "shards");
  for (int i = 0; i < 4; ++i) {
    fs::copy(dir_ / ("shard" + std::to_string(i) + ".json"), dir_ / "shards");
  }
  EXPECT_EQ(st::run_driver("merge " + q(out("shards"))).code, 1);

  // Eight more scenes: every earlier scene stays in its shard.
  make_scenes(root.path(), 8, 0.0, 9, 100);
  for (int i = 0; i < 4; ++i) {
    st::DriverRun r = batch(root.path().string(),
                            "--scenes all --format json --shard " + std::to_string(i) + "/4");
    for (const auto& sc : json::parse(r.out)["scenes"]) {
      auto it = shard_of.find(sc["scene_id"]);
      if (it != shard_of.end()) {
        EXPECT_EQ(it->second, i) << sc["scene_id"] << " moved";
      }
    }
  }
}

TEST_F(Batch, MergeRefusesMissingDuplicatedAndForeignShards) {
  const std::string root = fleet_->path().string();
  std::vector<std::string> f;
  for (int i = 0; i < 3; ++i) {
    f.push_back(out("s" + std::to_string(i) + ".json"));
    batch(root, "--scenes all --shard " + std::to_string(i) + "/3 --report-json " + q(f.back()));
  }
  // Good: exit 1 (the fleet has failing scenes).
  EXPECT_EQ(st::run_driver("merge " + q(f[0]) + " " + q(f[1]) + " " + q(f[2])).code, 1);

  st::DriverRun r = st::run_driver("merge " + q(f[0]) + " " + q(f[2]) + " --format json");
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  json m = json::parse(r.out);
  EXPECT_EQ(m["verdict"], "no_verdict");
  EXPECT_NE(m["problems"].dump().find("shard 1/3 is missing"), std::string::npos) << m.dump();
  EXPECT_FALSE(m["failing_scenes"].empty()) << "the failures found are still listed";

  r = st::run_driver("merge " + q(f[0]) + " " + q(f[1]) + " " + q(f[2]) + " " + q(f[1]));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("duplicated shard 1/3"), std::string::npos) << r.out;

  // Another shard count, another spec variable: foreign.
  const std::string other_n = out("n4.json"), other_var = out("var.json");
  batch(root, "--scenes all --shard 1/4 --report-json " + q(other_n));
  batch(root, "--scenes all --shard 1/3 --var min_pass_rate=0.5 --report-json " + q(other_var));
  r = st::run_driver("merge " + q(f[0]) + " " + q(other_n) + " " + q(f[1]) + " " + q(f[2]));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find(other_n + ": foreign shard: shard count 4 (expected 3)"), std::string::npos)
      << r.out;
  r = st::run_driver("merge " + q(f[0]) + " " + q(other_var) + " " + q(f[2]));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find(other_var + ": foreign shard: other variables"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("shard 1/3 is missing"), std::string::npos) << r.out;

  // Another spec: foreign.
  dir_.write("other.yaml", st::slurp(kSpec) + "\n# another spec\n");
  const std::string other_spec = out("spec.json");
  st::run_driver("run " + q(out("other.yaml")) + " --root " + q(root) +
                 " --scenes all --shard 2/3 --report-json " + q(other_spec));
  r = st::run_driver("merge " + q(f[0]) + " " + q(f[1]) + " " + q(other_spec));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find(other_spec + ": foreign shard: spec hash"), std::string::npos) << r.out;

  // Unreadable, not JSON, a single-scene report, no report at all.
  dir_.write("junk.json", "{not json");
  st::run_driver("run " + q(kSpec) + " --root " + q(root) +
                 " --var scene_id=scene_00000 --report-json " + q(out("one.json")));
  r = st::run_driver("merge " + q(f[0]) + " " + q(f[1]) + " " + q(f[2]) + " " +
                     q(out("junk.json")) + " " + q(out("one.json")) + " " + q(out("none.json")));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find(out("junk.json") + ": not a stagecheck batch report: not JSON"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(out("one.json") + ": not a stagecheck batch report"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(out("none.json") + ": cannot read the report"), std::string::npos) << r.out;
  EXPECT_EQ(st::run_driver("merge").code, 2);
}
