// Tests of the lerobot_bundle check: bundles written by the committed generator (Parquet from
// the npm hyparquet-writer), each corrupted one way, run through specs in-process and through
// the built driver; the committed example bundle; and the pipeline's own mock fixture.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lerobot_test_support.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;
using namespace stagecheck::lerobot_testing;

constexpr const char* kCheckId = "lerobot.bundle";
constexpr const char* kEp0 = "data/chunk-000/episode_000000.parquet";
constexpr const char* kEp1 = "data/chunk-000/episode_000001.parquet";
constexpr const char* kVideo1 = "videos/chunk-000/observation.images.front/episode_000001.mp4";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// A spec with one lerobot_bundle check; `params` are extra lines under the check.
std::string spec(const std::string& params = "") {
  std::string text = R"(version: 1
name: lerobot-test
stages:
  - id: lerobot
    checks:
      - id: bundle
        type: lerobot_bundle
)";
  for (std::size_t start = 0; start < params.size();) {
    std::size_t end = params.find('\n', start);
    if (end == std::string::npos) end = params.size();
    text += "        " + params.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return text;
}

CheckResult run_check(const std::filesystem::path& root, const std::string& params = "") {
  RunOutcome out = run_spec_text(spec(params), root);
  EXPECT_TRUE(out.report.has_value()) << out.error;
  if (!out.report) return {};
  const CheckResult* r = find_result(*out.report, kCheckId);
  EXPECT_NE(r, nullptr);
  return r != nullptr ? *r : CheckResult{};
}

/// The problem messages of a result, "path: message" each.
std::vector<std::string> problems(const CheckResult& r) {
  std::vector<std::string> out;
  if (!r.details.contains("problems")) return out;
  for (const auto& p : r.details["problems"]) {
    out.push_back(p["path"].get<std::string>() + ": " + p["message"].get<std::string>());
  }
  return out;
}

std::string dump(const CheckResult& r) { return r.message + "\n" + r.details.dump(2); }

class LerobotTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!generator_unavailable().empty()) return;
    good_ = new ScratchDir;
    generated_ = generate_bundle(good_->path());
  }
  static void TearDownTestSuite() {
    delete good_;
    good_ = nullptr;
  }
  void SetUp() override {
    LEROBOT_REQUIRE_GENERATOR();
    ASSERT_TRUE(generated_) << "the generator failed";
    root_.copy_tree(good_->path());
  }

  nlohmann::json read_json(const std::string& rel) const {
    return nlohmann::json::parse(slurp(root_ / rel));
  }
  void write_json(const std::string& rel, const nlohmann::json& doc) const {
    overwrite(root_ / rel, doc.dump(2));
  }
  /// Applies `edit` to line `index` (0-based) of a JSON Lines file.
  void edit_line(const std::string& rel, std::size_t index,
                 const std::function<void(nlohmann::json&)>& edit) const {
    const std::string text = slurp(root_ / rel);
    std::vector<std::string> lines;
    for (std::size_t start = 0; start < text.size();) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      lines.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    nlohmann::json doc = nlohmann::json::parse(lines.at(index));
    edit(doc);
    lines[index] = doc.dump();
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    overwrite(root_ / rel, out);
  }
  void edit_info(const std::function<void(nlohmann::json&)>& edit) const {
    nlohmann::json info = read_json("meta/info.json");
    edit(info);
    write_json("meta/info.json", info);
  }

  CheckResult result(const std::string& params = "") const {
    return run_check(root_.path(), params);
  }

  static ScratchDir* good_;
  static bool generated_;
  ScratchDir root_;
};
ScratchDir* LerobotTest::good_ = nullptr;
bool LerobotTest::generated_ = false;

TEST_F(LerobotTest, GoodBundlePasses) {
  const CheckResult r = result("expected_tier: core");
  EXPECT_EQ(r.status, Status::pass) << dump(r);
  EXPECT_EQ(r.observed["episodes"], 3);
  EXPECT_EQ(r.observed["frames"], 18);
  EXPECT_EQ(r.observed["tasks"], 2);
  EXPECT_EQ(r.observed["parquet_files_verified"], 3);
  EXPECT_EQ(r.observed["parquet_rows"], 18);
  EXPECT_EQ(r.observed["videos_verified"], 3);
  EXPECT_EQ(r.observed["tier"], "core");
  EXPECT_EQ(r.message,
            "LeRobot bundle '.': 3 episodes, 18 frames, 2 tasks; 3 Parquet files (18 rows) and 3 "
            "videos verified; tier core");
}

TEST_F(LerobotTest, BundleBelowARootPasses) {
  ScratchDir store;
  std::filesystem::create_directories(store / "scenes/kitchen_001/lerobot");
  store.copy_tree(root_.path(), "scenes/kitchen_001/lerobot");
  const CheckResult r = run_check(store.path(), "root: scenes/kitchen_001/lerobot");
  EXPECT_EQ(r.status, Status::pass) << dump(r);
  EXPECT_TRUE(contains(r.message, "LeRobot bundle 'scenes/kitchen_001/lerobot'")) << r.message;
}

TEST_F(LerobotTest, FourByteParquetFails) {
  overwrite(root_ / kEp1, "mock");
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "lerobot_parquet_invalid");
  EXPECT_TRUE(contains(r.message, std::string(kEp1) +
                                      ": is 4 bytes (\"6d 6f 63 6b\"), too small for a Parquet "
                                      "file"))
      << r.message;
  EXPECT_EQ(r.observed["parquet_files_verified"], 2);
  EXPECT_EQ(r.observed["problems"], 1) << dump(r);
}

TEST_F(LerobotTest, ParquetOfAnotherEpisodeFails) {
  // Episodes 0 and 3 of a 4-episode bundle both have 5 rows: only episode_index can tell.
  ScratchDir four;
  ASSERT_TRUE(generate_bundle(four.path(), "--episodes 4"));
  std::filesystem::copy_file(four / kEp0, four / "data/chunk-000/episode_000003.parquet",
                             std::filesystem::copy_options::overwrite_existing);
  const CheckResult r = run_check(four.path());
  EXPECT_EQ(r.code, "lerobot_parquet_invalid") << dump(r);
  EXPECT_EQ(problems(r), (std::vector<std::string>{
                             "data/chunk-000/episode_000003.parquet: column \"episode_index\" row "
                             "group 0 holds 0 .. 0, expected only episode 3 (meta/episodes.jsonl "
                             "line 4)"}))
      << dump(r);
}

TEST_F(LerobotTest, TruncatedParquetFails) {
  const std::string body = slurp(root_ / kEp0);
  overwrite(root_ / kEp0, body.substr(0, body.size() / 2));
  const CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_parquet_invalid") << dump(r);
  EXPECT_TRUE(contains(r.message, "does not end with the Parquet magic PAR1")) << r.message;
  EXPECT_TRUE(contains(r.message, kEp0)) << r.message;
}

TEST_F(LerobotTest, CorruptFooterFails) {
  std::string body = slurp(root_ / kEp0);
  // The FileMetaData's first byte (field 1, i32) becomes field 1 of wire type 13 (unknown).
  std::uint32_t len = 0;
  for (int i = 3; i >= 0; --i) {
    len = (len << 8) |
          static_cast<unsigned char>(body[body.size() - 8 + static_cast<std::size_t>(i)]);
  }
  body[body.size() - 8 - len] = '\x1d';
  overwrite(root_ / kEp0, body);
  const CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_parquet_invalid") << dump(r);
  EXPECT_TRUE(contains(r.message, std::string(kEp0) +
                                      ": Parquet footer is malformed: field version has wire "
                                      "type 13 (unknown), expected i32 (at byte 1 of "))
      << r.message;
}

TEST_F(LerobotTest, RowCountMismatchFails) {
  edit_line("meta/episodes.jsonl", 1, [](nlohmann::json& e) { e["length"] = 99; });
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "lerobot_row_count_mismatch") << dump(r);
  EXPECT_TRUE(contains(r.message, std::string(kEp1) +
                                      ": num_rows is 6, but meta/episodes.jsonl line 2 gives "
                                      "episode 1 length 99"))
      << r.message;
  // The totals no longer agree either.
  EXPECT_TRUE(contains(r.message, "total_frames is 18, but the episodes' lengths sum to 111"))
      << r.message;
}

TEST_F(LerobotTest, MissingParquetAndVideoFail) {
  std::filesystem::remove(root_ / kEp1);
  std::filesystem::remove(root_ / kVideo1);
  const CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_missing_files") << dump(r);
  EXPECT_TRUE(contains(r.message, std::string(kEp1) + ": episode 1: the Parquet file is missing"))
      << r.message;
  EXPECT_TRUE(contains(r.message, std::string(kVideo1) +
                                      ": episode 1: the video of \"observation.images.front\" is "
                                      "missing"))
      << r.message;
}

TEST_F(LerobotTest, EmptyOrNonMp4VideoFails) {
  overwrite(root_ / kVideo1, "");
  CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_missing_files") << dump(r);
  EXPECT_TRUE(contains(r.message, "episode 1: the video of \"observation.images.front\" is empty"))
      << r.message;
  overwrite(root_ / kVideo1, "not a video at all");
  r = result();
  EXPECT_TRUE(contains(r.message, "is not an MP4/ISO-BMFF file")) << r.message;
  // Without require_videos the videos are not read.
  r = result("require_videos: false");
  EXPECT_EQ(r.status, Status::pass) << dump(r);
  EXPECT_EQ(r.observed["videos_verified"], 0);
}

TEST_F(LerobotTest, NaNInParquetStatisticsFails) {
  ScratchDir bad;
  ASSERT_TRUE(generate_bundle(bad.path(), "--bad-value nan"));
  const CheckResult r = run_check(bad.path());
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "lerobot_non_finite") << dump(r);
  EXPECT_TRUE(contains(r.message, std::string(kEp0) +
                                      ": column \"observation.ee_position.list.element\" row "
                                      "group 0: statistics nan_count is 1 (expected finite)"))
      << r.message;
  // The generator computes stats.json before planting the NaN: only the Parquet file has it.
  EXPECT_EQ(r.observed["problems"], 1) << dump(r);
}

TEST_F(LerobotTest, InfinityInParquetStatisticsFails) {
  ScratchDir bad;
  ASSERT_TRUE(generate_bundle(bad.path(), "--bad-value inf"));
  const CheckResult r = run_check(bad.path());
  EXPECT_EQ(r.code, "lerobot_non_finite") << dump(r);
  EXPECT_TRUE(contains(r.message, std::string(kEp0) +
                                      ": column \"observation.ee_position.list.element\" row "
                                      "group 0: statistics max_value is inf"))
      << r.message;
}

TEST_F(LerobotTest, FloatColumnsWithoutStatisticsFail) {
  ScratchDir bare;
  ASSERT_TRUE(generate_bundle(bare.path(), "--no-statistics --episodes 1"));
  CheckResult r = run_check(bare.path());
  EXPECT_EQ(r.code, "lerobot_parquet_invalid") << dump(r);
  // Five floating-point columns: state, gripper, ee_position, action, timestamp.
  EXPECT_EQ(r.observed["problems_by_kind"]["parquet"], 5) << dump(r);
  EXPECT_TRUE(contains(r.message, std::string(kEp0) +
                                      ": column \"observation.ee_position.list.element\" row "
                                      "group 0: no min/max statistics, so NaN/Inf cannot be "
                                      "ruled out"))
      << r.message;
  r = run_check(bare.path(), "require_float_statistics: false");
  EXPECT_EQ(r.status, Status::pass) << dump(r);
}

TEST_F(LerobotTest, NaNInStatsJsonFails) {
  std::string stats = slurp(root_ / "meta/stats.json");
  const std::size_t at = stats.find("\"mean\": [");
  ASSERT_NE(at, std::string::npos);
  stats.insert(at + 9, "NaN, ");
  overwrite(root_ / "meta/stats.json", stats);
  CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_non_finite") << dump(r);
  EXPECT_TRUE(contains(r.message, fmt::format("meta/stats.json: holds NaN at byte {} (expected "
                                              "only finite numbers)",
                                              at + 9)))
      << r.message;
  nlohmann::json doc = read_json("meta/info.json");
  write_json("meta/stats.json", {{"observation.state", {{"min", "-inf"}}}});
  r = result();
  EXPECT_TRUE(contains(r.message, "observation.state.min is the string \"-inf\"")) << r.message;
}

TEST_F(LerobotTest, IsMockMustBeFalseEverywhere) {
  edit_line("meta/episodes.jsonl", 1, [](nlohmann::json& e) { e["is_mock"] = true; });
  edit_line("meta/episodes.jsonl", 2, [](nlohmann::json& e) { e.erase("is_mock"); });
  edit_info([](nlohmann::json& i) { i["data_quality"]["is_mock"] = "false"; });
  const CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_mock_data") << dump(r);
  const std::vector<std::string> p = problems(r);
  EXPECT_EQ(p, (std::vector<std::string>{
                   "meta/episodes.jsonl: line 2 (episode 1): is_mock is true (expected false)",
                   "meta/episodes.jsonl: line 3 (episode 2): is_mock is missing (expected false)",
                   "meta/info.json: data_quality.is_mock is the string \"false\" (expected false)",
               }))
      << dump(r);
}

TEST_F(LerobotTest, TotalsMustAgree) {
  edit_info([](nlohmann::json& i) {
    i["total_episodes"] = 4;
    i["total_tasks"] = 3;
    i["total_chunks"] = 2;
    i["total_videos"] = 2;
    i["total_frames"] = "18";
  });
  const CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_totals_mismatch") << dump(r);
  EXPECT_EQ(problems(r),
            (std::vector<std::string>{
                "meta/info.json: total_episodes is 4, but meta/episodes.jsonl lists 3",
                "meta/info.json: total_frames: expected an integer >= 0 (the sum of the "
                "episodes' length), found the string \"18\"",
                "meta/info.json: total_tasks is 3, but meta/tasks.jsonl lists 2",
                "meta/info.json: total_chunks is 2, but the episodes fill 1 chunks of 1000",
                "meta/info.json: total_videos is the number 2, expected 3 (3 episodes x 1 video "
                "features)",
            }))
      << dump(r);
}

TEST_F(LerobotTest, OrphanParquetAndIndexGapFail) {
  std::filesystem::copy_file(root_ / kEp0, root_ / "data/chunk-000/episode_000009.parquet");
  edit_line("meta/episodes.jsonl", 2, [](nlohmann::json& e) { e["episode_index"] = 5; });
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  const std::vector<std::string> p = problems(r);
  EXPECT_NE(std::find(p.begin(), p.end(),
                      "meta/episodes.jsonl: episode_index 2 is missing (indices must run from 0 "
                      "to 2 without gaps; line 3 has 5)"),
            p.end())
      << dump(r);
  EXPECT_NE(std::find(p.begin(), p.end(),
                      "data/chunk-000/episode_000009.parquet: is not the Parquet file of any "
                      "episode in meta/episodes.jsonl"),
            p.end())
      << dump(r);
  // Episode 5's file does not exist; episode 2's file is now an orphan too.
  EXPECT_TRUE(contains(r.message, "episode_000005.parquet: episode 5: the Parquet file is missing"))
      << r.message;
}

TEST_F(LerobotTest, TierMismatchNamesTheMissingFeatures) {
  edit_info([](nlohmann::json& i) { i["data_pack"]["tier"] = "plus"; });
  CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_tier_mismatch") << dump(r);
  EXPECT_EQ(problems(r), (std::vector<std::string>{
                             "meta/info.json: data_pack.tier \"plus\" requires feature "
                             "\"ground_truth.bboxes_2d\", which features lacks",
                             "meta/info.json: data_pack.tier \"plus\" requires feature "
                             "\"ground_truth.bboxes_3d\", which features lacks",
                             "meta/info.json: data_pack.tier \"plus\" requires feature "
                             "\"observation.depth.front\", which features lacks",
                             "meta/info.json: data_pack.tier \"plus\" requires feature "
                             "\"observation.segmentation.front\", which features lacks",
                         }))
      << dump(r);
  edit_info([](nlohmann::json& i) { i["data_pack"]["tier"] = "gold"; });
  r = result();
  EXPECT_TRUE(contains(r.message,
                       "data_pack.tier: expected one of core, plus, full, found the "
                       "string \"gold\""))
      << r.message;
  // A core bundle missing a core feature.
  edit_info([](nlohmann::json& i) {
    i["data_pack"]["tier"] = "core";
    i["features"].erase("observation.gripper_position");
  });
  r = result("expected_tier: full");
  const std::vector<std::string> p = problems(r);
  EXPECT_NE(std::find(p.begin(), p.end(),
                      "meta/info.json: data_pack.tier is \"core\", expected \"full\""),
            p.end())
      << dump(r);
  EXPECT_NE(std::find(p.begin(), p.end(),
                      "meta/info.json: data_pack.tier \"core\" requires feature "
                      "\"observation.gripper_position\", which features lacks"),
            p.end())
      << dump(r);
}

TEST_F(LerobotTest, LineageMustBePresentAndNonEmpty) {
  edit_info([](nlohmann::json& i) {
    i["lineage"]["sim_backend"].erase("build_id");
    i["lineage"]["quality_gates"]["config_hash"] = " ";
    i["lineage"]["physics_parameters"]["resolved_thresholds"] = nlohmann::json::object();
  });
  CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_lineage_missing") << dump(r);
  EXPECT_EQ(problems(r),
            (std::vector<std::string>{
                "meta/info.json: lineage.sim_backend.build_id: expected a non-empty value, found "
                "nothing (missing)",
                "meta/info.json: lineage.quality_gates.config_hash: expected a non-empty value, "
                "found the string \" \"",
                "meta/info.json: lineage.physics_parameters.resolved_thresholds: expected a "
                "non-empty value, found object {}",
            }))
      << dump(r);
  // A custom list replaces the default.
  r = result("required_lineage: [lineage.pipeline.run_id, lineage.pipeline.commit]");
  EXPECT_EQ(problems(r),
            (std::vector<std::string>{"meta/info.json: lineage.pipeline.commit: expected a "
                                      "non-empty value, found nothing (missing)"}))
      << dump(r);
}

TEST_F(LerobotTest, DataQualityMustBeProduction) {
  edit_info([](nlohmann::json& i) {
    i["data_quality"]["sensor_source"] = "mock_random";
    i["data_quality"]["isaac_sim_used"] = false;
    i["lineage"]["quality_gates"]["bypass_enabled"] = true;
  });
  CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_data_quality") << dump(r);
  EXPECT_EQ(problems(r),
            (std::vector<std::string>{
                "meta/info.json: data_quality.sensor_source: expected one of "
                "[isaac_sim_replicator], found the string \"mock_random\"",
                "meta/info.json: data_quality.isaac_sim_used: expected true, found false",
                "meta/info.json: lineage.quality_gates.bypass_enabled is true, expected false",
            }))
      << dump(r);
  r = result(
      "allowed_sensor_sources: [isaac_sim_replicator, mock_random]\n"
      "require_production_quality: false");
  EXPECT_EQ(r.status, Status::pass) << dump(r);
}

TEST_F(LerobotTest, FramesExpectedMustEqualFramesWritten) {
  edit_line("meta/episodes.jsonl", 0, [](nlohmann::json& e) {
    e["rgb_frames_written_total"] = 4;
    e["dropped_frames_total"] = 1;
  });
  edit_line("meta/episodes.jsonl", 1, [](nlohmann::json& e) {
    e.erase("rgb_frames_expected_total");
    e.erase("rgb_frames_written_total");
  });
  CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_frames_mismatch") << dump(r);
  EXPECT_EQ(problems(r),
            (std::vector<std::string>{
                "meta/episodes.jsonl: line 1 (episode 0): rgb_frames_written_total is 4, "
                "expected rgb_frames_expected_total 5",
                "meta/episodes.jsonl: line 1 (episode 0): dropped_frames_total is the number 1, "
                "expected 0",
                "meta/episodes.jsonl: line 2 (episode 1): rgb_frames_expected_total: expected an "
                "integer >= 0, found nothing (missing)",
                "meta/episodes.jsonl: line 2 (episode 1): rgb_frames_written_total: expected an "
                "integer >= 0, found nothing (missing)",
            }))
      << dump(r);
  // Not required: absent counts are accepted, unequal ones still fail.
  r = result("require_frame_counts: false");
  EXPECT_EQ(r.observed["problems"], 2) << dump(r);
}

TEST_F(LerobotTest, EveryEpisodeNeedsAKnownTask) {
  edit_line("meta/episodes.jsonl", 0, [](nlohmann::json& e) { e["task_index"] = 7; });
  edit_line("meta/episodes.jsonl", 1, [](nlohmann::json& e) {
    e.erase("task_index");
    e.erase("task");
  });
  edit_line("meta/episodes.jsonl", 2, [](nlohmann::json& e) { e["task"] = "dance"; });
  const CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_task_missing") << dump(r);
  EXPECT_EQ(problems(r),
            (std::vector<std::string>{
                "meta/episodes.jsonl: line 1 (episode 0): task_index 7 is not in "
                "meta/tasks.jsonl",
                "meta/episodes.jsonl: line 2 (episode 1): has no task (expected task_index, task "
                "or tasks)",
                "meta/episodes.jsonl: line 3 (episode 2): task \"dance\" is not in "
                "meta/tasks.jsonl",
            }))
      << dump(r);
}

TEST_F(LerobotTest, MalformedMetaFilesFail) {
  overwrite(root_ / "meta/info.json", "{\"total_episodes\": 3,");
  std::string episodes = slurp(root_ / "meta/episodes.jsonl");
  overwrite(root_ / "meta/episodes.jsonl", episodes + "{not json}\n");
  CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "lerobot_meta_invalid") << dump(r);
  const std::vector<std::string> p = problems(r);
  ASSERT_GE(p.size(), 2u) << dump(r);
  EXPECT_EQ(p[0].rfind("meta/info.json: ", 0), 0u) << p[0];
  EXPECT_EQ(p[1].rfind("meta/episodes.jsonl: ", 0), 0u) << p[1];
  EXPECT_TRUE(contains(p[1], "line 4")) << p[1];
  EXPECT_EQ(p.size(), 2u) << dump(r);  // the Parquet files are still checked, and are good
  // Missing meta files are named.
  std::filesystem::remove(root_ / "meta/tasks.jsonl");
  std::filesystem::remove(root_ / "meta/stats.json");
  r = result();
  EXPECT_EQ(r.code, "lerobot_missing_files") << dump(r);
  EXPECT_TRUE(contains(r.message, "meta/tasks.jsonl")) << r.message;
  EXPECT_TRUE(contains(r.message, "meta/stats.json")) << r.message;
}

TEST_F(LerobotTest, FeatureWithoutColumnFails) {
  edit_info([](nlohmann::json& i) {
    i["features"]["observation.wrench"] = {{"dtype", "float32"}, {"shape", {6}}};
  });
  const CheckResult r = result();
  EXPECT_EQ(r.code, "lerobot_parquet_invalid") << dump(r);
  EXPECT_EQ(r.observed["problems_by_kind"]["parquet"], 3) << dump(r);
  EXPECT_TRUE(contains(r.message, std::string(kEp0) + ": has no column for feature "
                                                      "\"observation.wrench\" of meta/info.json"))
      << r.message;
  EXPECT_EQ(result("check_feature_columns: false").status, Status::pass);
}

TEST_F(LerobotTest, UnreadableParquetIsAnErrorNotAPass) {
  namespace fs = std::filesystem;
  fs::permissions(root_ / kEp1, fs::perms::none);
  bool dropped = false;
  if (geteuid() == 0) {
    // Root reads files whatever their mode: read as 'nobody', with everything else readable.
    const auto readable = fs::perms::others_read | fs::perms::group_read;
    const auto traversable = fs::perms::others_exec | fs::perms::group_exec;
    fs::permissions(root_.path(), readable | traversable, fs::perm_options::add);
    for (const auto& e : fs::recursive_directory_iterator(root_.path())) {
      if (e.path() == root_ / kEp1) continue;
      fs::permissions(e.path(), e.is_directory() ? readable | traversable : readable,
                      fs::perm_options::add);
    }
    ASSERT_EQ(seteuid(65534), 0);
    dropped = true;
  }
  const CheckResult r = result();
  if (dropped) {
    ASSERT_EQ(seteuid(0), 0);
  }
  EXPECT_EQ(r.status, Status::error) << dump(r);
  EXPECT_EQ(r.code, "lerobot_unreadable");
  EXPECT_TRUE(contains(r.message, "1 files could not be read: " + std::string(kEp1))) << r.message;
  EXPECT_EQ(r.observed["parquet_files_verified"], 2);
}

TEST_F(LerobotTest, ManyEpisodesOnFourThreadsReportInOrderAndCountAll) {
  ScratchDir many;
  ASSERT_TRUE(generate_bundle(many.path(), "--episodes 40"));
  overwrite(many / "data/chunk-000/episode_000031.parquet", "PAR1");
  overwrite(many / "data/chunk-000/episode_000007.parquet", "");
  std::string lines;
  const std::string text = slurp(many / "meta/episodes.jsonl");
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = text.find('\n', start);
    nlohmann::json e = nlohmann::json::parse(text.substr(start, end - start));
    e["is_mock"] = true;
    lines += e.dump() + "\n";
    start = end + 1;
  }
  overwrite(many / "meta/episodes.jsonl", lines);
  RunOptions options;
  options.jobs = 4;
  RunOutcome out = run_spec_text(spec(), many.path(), {}, options);
  ASSERT_TRUE(out.report.has_value()) << out.error;
  const CheckResult* r = find_result(*out.report, kCheckId);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->code, "lerobot_mock_data");
  EXPECT_EQ(r->observed["problems"], 42) << dump(*r);
  EXPECT_EQ(r->observed["problems_by_kind"]["mock"], 40);
  EXPECT_EQ(r->observed["parquet_files_verified"], 38);
  // 20 named in the message, the rest counted.
  EXPECT_TRUE(contains(r->message, "; ... and 22 more")) << r->message;
  const std::vector<std::string> p = problems(*r);
  ASSERT_EQ(p.size(), 42u);
  EXPECT_EQ(p[40],
            "data/chunk-000/episode_000007.parquet: is 0 bytes (\"\"), too small for a "
            "Parquet file (at least 12: PAR1, footer length, PAR1)");
  EXPECT_EQ(p[41],
            "data/chunk-000/episode_000031.parquet: is 4 bytes (\"50 41 52 31\"), too "
            "small for a Parquet file (at least 12: PAR1, footer length, PAR1)");
}

TEST_F(LerobotTest, SpecErrorsAreFoundBeforeRunning) {
  for (const std::string& params :
       {std::string("max_footer_bytes: 0"), std::string("min_episodes: 0"),
        std::string("required_lineage: [\"lineage..x\"]"), std::string("expected_tier: gold"),
        std::string("allowed_sensor_sources: []"), std::string("require_videos: \"yes\"")}) {
    RunOutcome out = run_spec_text(spec(params), root_.path());
    EXPECT_FALSE(out.report.has_value()) << params;
    EXPECT_FALSE(out.error.empty()) << params;
  }
}

TEST(LerobotExample, BundlePassesInPlace) {
  const std::filesystem::path bundle = kSource / "examples/dataset/lerobot_bundle";
  ASSERT_TRUE(std::filesystem::exists(bundle / "meta/info.json"));
  const CheckResult r = run_check(bundle, "expected_tier: core");
  EXPECT_EQ(r.status, Status::pass) << dump(r);
  EXPECT_EQ(r.observed["episodes"], 3);
}

TEST(LerobotExample, DriverPassesOnItAndFailsOnACorruptedCopy) {
  const std::string spec_path = (kSource / "examples/dataset/lerobot.yaml").string();
  const std::filesystem::path bundle = kSource / "examples/dataset/lerobot_bundle";
  DriverRun ok = run_driver(fmt::format("run '{}' --root '{}'", spec_path, bundle.string()));
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  ScratchDir copy;
  copy.copy_tree(bundle);
  overwrite(copy / kEp1, "mock");
  DriverRun bad = run_driver(
      fmt::format("run '{}' --root '{}' --format json", spec_path, copy.path().string()));
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  nlohmann::json report = nlohmann::json::parse(bad.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << bad.out;
  bool found = false;
  for (const auto& r : report["results"]) {
    if (r["id"] == "lerobot_export.bundle") {
      found = true;
      EXPECT_EQ(r["status"], "fail");
      EXPECT_EQ(r["code"], "lerobot_parquet_invalid");
      EXPECT_TRUE(contains(r["message"].get<std::string>(), std::string(kEp1) + ": is 4 bytes"))
          << r["message"];
    }
  }
  EXPECT_TRUE(found) << bad.out;
}

TEST(LerobotExample, DriverListsTheCheck) {
  DriverRun list = run_driver("list-checks");
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_TRUE(contains(list.out, "lerobot_bundle")) << list.out;
  EXPECT_TRUE(contains(list.out, "max_footer_bytes")) << list.out;
}

// The pipeline's own exporter fixture is a MOCK scene with a 4-byte placeholder "Parquet" file
// and meta files that lack nearly everything: it must fail, first for mock data.
TEST(LerobotFixture, PipelineMockSceneFails) {
  const std::filesystem::path folder =
      kSource / "../shared/fixtures/pipeline-golden/mock_scene/expected/episode_generation/lerobot";
  if (!std::filesystem::exists(folder / "meta/info.json")) {
    GTEST_SKIP() << "fixture absent: " << folder.string();
  }
  const CheckResult r = run_check(folder);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "lerobot_mock_data") << dump(r);
  const std::vector<std::string> p = problems(r);
  auto has = [&](const std::string& s) { return std::find(p.begin(), p.end(), s) != p.end(); };
  EXPECT_TRUE(has("meta/episodes.jsonl: line 1: is_mock is missing (expected false)")) << dump(r);
  EXPECT_TRUE(has("meta/info.json: data_quality: expected an object, found nothing (missing)"))
      << dump(r);
  EXPECT_TRUE(
      has("data/chunk-000/episode_000000.parquet: is 4 bytes (\"6d 6f 63 6b\"), too small for "
          "a Parquet file (at least 12: PAR1, footer length, PAR1)"))
      << dump(r);
  EXPECT_TRUE(
      has("meta/episodes.jsonl: line 1: episode_index: expected an integer >= 0, found "
          "nothing (missing)"))
      << dump(r);
  EXPECT_EQ(r.observed["problems_by_kind"]["mock"], 1) << dump(r);
  EXPECT_EQ(r.observed["problems_by_kind"]["data_quality"], 1) << dump(r);
}

}  // namespace
