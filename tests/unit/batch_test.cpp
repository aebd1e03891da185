// Sharding, scene selections and merging of batch reports (the library side of `run --scenes`
// and `merge`; the driver side is tests/blueprint/blueprint_batch_test.cpp).

#include <gtest/gtest.h>

#include <map>

#include <stagecheck/batch.hpp>

#include "stagecheck_test_support.hpp"

using namespace stagecheck;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const char* const kTinySpec = R"(version: 1
name: tiny
vars:
  scene_id: {type: segment, required: true, not_in: [unknown]}
stages:
  - id: s
    name: S
    expects: ["scenes/${scene_id}/.done"]
)";

// Scenes s1..s7 under `dir`, each done but s3; and the tiny spec.
void write_fleet(const stagecheck::testing::ScratchDir& dir) {
  dir.write("spec.yaml", kTinySpec);
  for (int i = 1; i <= 7; ++i) {
    const std::string id = "s" + std::to_string(i);
    dir.write("root/scenes/" + id + "/" + (i == 3 ? "x" : ".done"), "{}");
  }
}

BatchOutcome run_tiny(const stagecheck::testing::ScratchDir& dir, std::optional<Shard> shard,
                      const std::string& scenes = "all") {
  BatchRequest req;
  req.spec_file = dir / "spec.yaml";
  req.root = dir / "root";
  req.load_default_plugins = false;
  req.scene_jobs = 2;
  req.scenes = *parse_scene_selection(scenes);
  req.shard = std::move(shard);
  return run_batch(req);
}

}  // namespace

// The shard function is part of the report format: a scene's shard must never change between
// versions, or shards written by two versions would not merge.
TEST(Batch, ShardOfIsPinned) {
  EXPECT_EQ(shard_of("kitchen_001", 4), shard_of("kitchen_001", 4));
  EXPECT_EQ(shard_of("", 7), 0xcbf29ce484222325ull % 7);  // FNV-1a 64 offset basis
  EXPECT_EQ(shard_of("a", 1000003), 0xaf63dc4c8601ec8cull % 1000003);
  for (unsigned n = 1; n < 10; ++n) EXPECT_LT(shard_of("scene_00042", n), n);
}

TEST(Batch, ParseShard) {
  auto s = parse_shard("2/4");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 2u);
  EXPECT_EQ(s->count, 4u);
  for (const char* bad : {"4/4", "0/0", "1", "/4", "1/", "-1/4", "a/b", "1/4x", " 1/4"}) {
    EXPECT_FALSE(parse_shard(bad)) << bad;
  }
}

TEST(Batch, ShardFromEnvironment) {
  auto none = shard_from_environment(env_of({}));
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  auto slurm = shard_from_environment(env_of({{"SLURM_ARRAY_TASK_ID", "12"},
                                              {"SLURM_ARRAY_TASK_MIN", "10"},
                                              {"SLURM_ARRAY_TASK_COUNT", "4"}}));
  ASSERT_TRUE(slurm && slurm->has_value());
  EXPECT_EQ((*slurm)->index, 2u);
  EXPECT_EQ((*slurm)->count, 4u);
  EXPECT_EQ((*slurm)->source, "slurm");
  auto k8s = shard_from_environment(
      env_of({{"JOB_COMPLETION_INDEX", "3"}, {"STAGECHECK_SHARD_COUNT", "5"}}));
  ASSERT_TRUE(k8s && k8s->has_value());
  EXPECT_EQ((*k8s)->index, 3u);
  EXPECT_EQ((*k8s)->source, "kubernetes");
  auto half = shard_from_environment(env_of({{"JOB_COMPLETION_INDEX", "3"}}));
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message.find("STAGECHECK_SHARD_COUNT"), std::string::npos);
  EXPECT_FALSE(shard_from_environment(env_of({{"SLURM_ARRAY_TASK_ID", "1"}})));
  EXPECT_FALSE(shard_from_environment(env_of({{"SLURM_ARRAY_TASK_ID", "9"},
                                              {"SLURM_ARRAY_TASK_MIN", "0"},
                                              {"SLURM_ARRAY_TASK_COUNT", "4"}})));
}

TEST(Batch, SceneSelection) {
  auto all = parse_scene_selection("all");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->all);
  auto list = parse_scene_selection("b, a,b");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->ids, (std::vector<std::string>{"b", "a"}));
  for (const char* bad : {"", "a,,b", "a/b", "..", "@/nonexistent/ids"}) {
    EXPECT_FALSE(parse_scene_selection(bad)) << bad;
  }
  stagecheck::testing::ScratchDir dir;
  dir.write("ids", "# comment\n\nx1\n x2 \r\n");
  auto file = parse_scene_selection("@" + (dir / "ids").string());
  ASSERT_TRUE(file);
  EXPECT_EQ(file->ids, (std::vector<std::string>{"x1", "x2"}));
  dir.write("empty", "# nothing\n");
  EXPECT_FALSE(parse_scene_selection("@" + (dir / "empty").string()));
}

SceneVerdict scene(const std::string& id, ExitCode code) {
  SceneVerdict v;
  v.scene_id = id;
  v.exit_code = code;
  return v;
}

TEST(Batch, ExitCodeTable) {
  BatchReport r;
  EXPECT_EQ(batch_exit_code(r), ExitCode::no_verdict) << "no scene is never a pass";
  r.scenes.push_back(scene("a", ExitCode::pass));
  EXPECT_EQ(batch_exit_code(r), ExitCode::pass);
  r.scenes.push_back(scene("b", ExitCode::no_verdict));
  EXPECT_EQ(batch_exit_code(r), ExitCode::no_verdict);
  r.scenes.push_back(scene("c", ExitCode::fail));
  EXPECT_EQ(batch_exit_code(r), ExitCode::fail);
  r.problems.push_back("shard 1/2 is missing");
  EXPECT_EQ(batch_exit_code(r), ExitCode::no_verdict);
}

TEST(Batch, RunShardsJsonRoundTripAndMerge) {
  stagecheck::testing::ScratchDir dir;
  write_fleet(dir);
  BatchOutcome whole = run_tiny(dir, std::nullopt);
  ASSERT_TRUE(whole.report) << whole.error;
  EXPECT_EQ(whole.exit_code, ExitCode::fail);
  EXPECT_EQ(whole.report->scenes.size(), 7u);
  EXPECT_EQ(whole.report->scenes_with(ExitCode::fail), std::vector<std::string>{"s3"});
  EXPECT_EQ(whole.report->scenes[2].failed, std::vector<std::string>{"s.expects[0]"});

  std::vector<MergeInput> inputs;
  for (unsigned i = 0; i < 2; ++i) {
    BatchOutcome part = run_tiny(dir, Shard{i, 2, "--shard"});
    ASSERT_TRUE(part.report) << part.error;
    for (const auto& sc : part.report->scenes) EXPECT_EQ(shard_of(sc.scene_id, 2), i);
    auto j = batch_report_to_json(*part.report);
    auto back = batch_report_from_json(j, "shard" + std::to_string(i));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(batch_report_to_json(*back).dump(), j.dump()) << "the JSON round trip is exact";
    inputs.push_back({"shard" + std::to_string(i), *back, ""});
  }
  BatchReport merged = merge_batch_reports(inputs);
  EXPECT_TRUE(merged.problems.empty()) << merged.problems.front();
  EXPECT_EQ(merged.exit_code, ExitCode::fail);
  ASSERT_EQ(merged.scenes.size(), 7u);
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(merged.scenes[i].scene_id, whole.report->scenes[i].scene_id);
    EXPECT_EQ(merged.scenes[i].exit_code, whole.report->scenes[i].exit_code);
  }
  // A scene dropped from a shard report: the shards no longer cover the set.
  inputs[0].report->scenes.pop_back();
  merged = merge_batch_reports(inputs);
  EXPECT_EQ(merged.exit_code, ExitCode::no_verdict);
  ASSERT_EQ(merged.problems.size(), 1u);
  EXPECT_NE(merged.problems[0].find("not covered exactly"), std::string::npos)
      << merged.problems[0];
  // The same scene in two shard reports.
  inputs[0].report->scenes.push_back(inputs[1].report->scenes.front());
  merged = merge_batch_reports(inputs);
  EXPECT_EQ(merged.exit_code, ExitCode::no_verdict);

  auto bad =
      batch_report_from_json(nlohmann::json{{"kind", "batch"}, {"report_version", 1}}, "x.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("x.json: not a stagecheck batch report: spec is missing"),
            std::string::npos)
      << bad.error().message;
}

TEST(Batch, SpecErrorsAndUnknownScenesRunNothing) {
  stagecheck::testing::ScratchDir dir;
  write_fleet(dir);
  BatchOutcome unknown = run_tiny(dir, std::nullopt, "s1,nope");
  EXPECT_EQ(unknown.exit_code, ExitCode::usage);
  EXPECT_FALSE(unknown.report);
  EXPECT_NE(unknown.error.find("nope"), std::string::npos) << unknown.error;
  dir.write("spec.yaml",
            "version: 1\nname: t\nstages:\n  - id: s\n    name: S\n    expects: [a/b.json]\n");
  BatchOutcome no_var = run_tiny(dir, std::nullopt);
  EXPECT_EQ(no_var.exit_code, ExitCode::usage);
  EXPECT_NE(no_var.error.find("declares no variable 'scene_id'"), std::string::npos)
      << no_var.error;
  // A scene the spec refuses has no verdict, and does not stop the others.
  write_fleet(dir);
  dir.write("root/scenes/unknown/.done", "{}");
  BatchOutcome refused = run_tiny(dir, std::nullopt, "s1,unknown");
  ASSERT_TRUE(refused.report) << refused.error;
  EXPECT_EQ(refused.exit_code, ExitCode::no_verdict);
  EXPECT_EQ(refused.report->scenes_with(ExitCode::pass), std::vector<std::string>{"s1"});
  EXPECT_NE(refused.report->scenes[1].error.find("refused"), std::string::npos);
}
