// Tests of the dataset_regression check and its metrics: the pipeline's golden fixture (read in
// place from ../shared, skipped when absent), synthetic datasets that drift, are tampered with
// or malformed, and strict baseline and thresholds files. Specs run in-process with the in-tree
// plugins (run_spec_text).

#include <openssl/evp.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stagecheck/local_store.hpp>

#include "dataset_regression/metrics.hpp"
#include "stagecheck_test_support.hpp"

namespace {

using nlohmann::json;
using stagecheck::CheckResult;
using stagecheck::Status;
namespace fs = std::filesystem;
namespace st = stagecheck::testing;
namespace dr = stagecheck::dataset_regression;

constexpr const char* kCheckId = "dataset.regression";

const fs::path kFixture = fs::path(STAGECHECK_SOURCE_DIR) / ".." / "shared" / "fixtures" /
                          "pipeline-golden" / "dataset_regression";

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::string spec(const std::string& extra = "") {
  return "version: 1\n"
         "name: regression\n"
         "vars:\n"
         "  baseline: {type: local_path, required: true}\n"
         "stages:\n"
         "  - id: dataset\n"
         "    checks:\n"
         "      - id: regression\n"
         "        type: dataset_regression\n"
         "        baseline: $baseline\n" +
         extra;
}

/// One recording of a synthetic dataset.
json episode(double score, int collisions, double seconds) {
  return {{"episode_id", "e"},
          {"quality_score", score},
          {"collision_count", collisions},
          {"duration_seconds", seconds}};
}

/// A synthetic dataset in `dir/data` with a baseline folder `dir/baseline` that matches it.
/// Three episodes: 0.3 (no collision, 1.0 s), 0.85 (1 collision, 2.5 s), 1.0 (none, 1.5 s).
class Dataset {
 public:
  Dataset() {
    recordings_ = {{"recordings/episode_000000.json", episode(0.3, 0, 1.0)},
                   {"recordings/episode_000001.json", episode(0.85, 1, 2.5)},
                   {"recordings/sub/episode_000002.json", episode(1.0, 0, 1.5)}};
    baseline_ = {
        {"episode_count", 3},
        {"quality_distribution", {{"0.0-0.5", 1}, {"0.5-0.8", 0}, {"0.8-0.9", 1}, {"0.9-1.0", 1}}},
        {"quality_summary",
         {{"average_score", 0.7166666666666667}, {"min_score", 0.3}, {"max_score", 1.0}}},
        {"collision_rate", 1.0 / 3.0},
        {"duration_seconds",
         {{"average_seconds", 5.0 / 3.0}, {"min_seconds", 1.0}, {"max_seconds", 2.5}}},
        {"checksums",
         {{"total_files", 3},
          {"missing_files", json::array()},
          {"mismatched_files", json::array()},
          {"success", true}}},
        {"checksums_path", "checksums.json"}};
    thresholds_ = {{"episode_count_delta", 0},      {"quality_distribution_delta", 0},
                   {"collision_rate_delta", 0.0},   {"duration_average_delta", 0.0},
                   {"checksum_missing_allowed", 0}, {"checksum_mismatch_allowed", 0}};
  }

  /// Writes the recordings, checksums.json over them, and the baseline folder.
  void write() {
    json files = json::object();
    for (const auto& [rel, doc] : recordings_) {
      const std::string body = doc.is_string() ? doc.get<std::string>() : doc.dump(2);
      dir_.write("data/" + rel, body);
      files[rel] = {{"sha256", sha256_hex(body)}, {"size_bytes", body.size()}};
    }
    if (write_checksums_) dir_.write("data/checksums.json", json{{"files", files}}.dump(2));
    write_baseline();
  }
  void write_baseline() const {
    dir_.write("baseline/baseline_metrics.json", baseline_.dump(2));
    dir_.write("baseline/thresholds.json", thresholds_.dump(2));
  }

  stagecheck::RunOutcome run(const std::string& extra = "") const {
    return st::run_spec_text(spec(extra), data(), {{"baseline", (dir_ / "baseline").string()}});
  }
  fs::path data() const { return dir_ / "data"; }

  st::ScratchDir dir_;
  std::map<std::string, json> recordings_;  ///< a string value is written verbatim
  json baseline_, thresholds_;
  bool write_checksums_ = true;
};

/// A copy of the check's result (so that it may outlive the outcome).
CheckResult result_of(const stagecheck::RunOutcome& outcome) {
  if (!outcome.report) {
    ADD_FAILURE() << "no report: " << outcome.error;
    return {};
  }
  const CheckResult* r = st::find_result(*outcome.report, kCheckId);
  if (r == nullptr) {
    ADD_FAILURE() << "no result " << kCheckId;
    return {};
  }
  return *r;
}

/// The metrics of a local folder, computed directly.
stagecheck::Result<dr::DatasetMetrics> metrics_of(const fs::path& dir) {
  auto store = stagecheck::open_local_store(dir);
  if (!store) return std::move(store).error();
  dr::MetricsOptions o;
  o.jobs = 2;
  return dr::compute_metrics(**store, o);
}

// ---- the golden fixture -------------------------------------------------------------------

TEST(DatasetRegressionGolden, FixturePassesAndMetricsEqualTheBaseline) {
  if (!fs::exists(kFixture / "baseline_metrics.json")) {
    GTEST_SKIP() << "the pipeline's golden fixture is absent: " << kFixture;
  }
  auto outcome =
      st::run_spec_text(spec(), kFixture / "baseline_dataset", {{"baseline", kFixture.string()}});
  const CheckResult& r = result_of(outcome);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(outcome.exit_code, stagecheck::ExitCode::pass);

  json baseline = json::parse(st::slurp(kFixture / "baseline_metrics.json"));
  json observed = r.observed;
  ASSERT_TRUE(observed.is_object());
  EXPECT_EQ(observed["checksums_path"], "checksums.json");
  // checksums_path is a path, not a metric: everything else must be equal, key for key.
  baseline.erase("checksums_path");
  observed.erase("checksums_path");
  EXPECT_EQ(observed, baseline) << observed.dump(2);
  for (const auto& [key, value] : baseline.items()) {
    EXPECT_EQ(observed[key], value) << key;
  }
  // The printed numbers are the pipeline's too (0.835, not 0.8350000000000001).
  EXPECT_EQ(observed["quality_summary"]["average_score"].dump(), "0.835");
  EXPECT_EQ(observed["duration_seconds"]["average_seconds"].dump(), "1.6");
}

TEST(DatasetRegressionGolden, ComputedMetricsEqualTheBaselineDirectly) {
  if (!fs::exists(kFixture / "baseline_metrics.json")) {
    GTEST_SKIP() << "the pipeline's golden fixture is absent: " << kFixture;
  }
  auto m = metrics_of(kFixture / "baseline_dataset");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->checksums_source, "import_manifest");
  json actual = dr::metrics_to_json(*m, "x");
  json baseline = json::parse(st::slurp(kFixture / "baseline_metrics.json"));
  baseline.erase("checksums_path");
  actual.erase("checksums_path");
  EXPECT_EQ(actual, baseline);
}

// ---- synthetic datasets -------------------------------------------------------------------

TEST(DatasetRegression, MatchingDatasetPasses) {
  Dataset d;
  d.write();
  auto outcome = d.run();
  const CheckResult& r = result_of(outcome);
  ASSERT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["episode_count"], 3);
  EXPECT_EQ(r.observed["quality_distribution"]["0.9-1.0"], 1);  // 1.0 is in the top bucket
  EXPECT_EQ(r.observed["checksums"]["total_files"], 3);
  EXPECT_EQ(r.observed["checksums"]["success"], true);
  EXPECT_EQ(r.details["checksums_source"], "default");
  EXPECT_NE(r.message.find("3 episodes"), std::string::npos) << r.message;
}

TEST(DatasetRegression, ScoreOfOneIsInTheTopBucketAndBoundsAreHalfOpen) {
  EXPECT_EQ(dr::bucket_of(1.0), 3u);
  EXPECT_EQ(dr::bucket_of(0.9), 3u);
  EXPECT_EQ(dr::bucket_of(0.8999999), 2u);
  EXPECT_EQ(dr::bucket_of(0.8), 2u);
  EXPECT_EQ(dr::bucket_of(0.5), 1u);
  EXPECT_EQ(dr::bucket_of(0.4999999), 0u);
  EXPECT_EQ(dr::bucket_of(0.0), 0u);
  Dataset d;
  d.recordings_ = {{"recordings/a.json", episode(1.0, 0, 1.0)}};
  d.write();
  auto m = metrics_of(d.data());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->quality_distribution[3], 1u);
  EXPECT_EQ(m->max_score, 1.0);
}

TEST(DatasetRegression, PythonSumMatchesPython312) {
  // Python 3.12: sum([0.1] * 10) == 1.0 (compensated); naive summation gives 0.9999999999999999.
  EXPECT_EQ(dr::python_sum(std::vector<double>(10, 0.1)), 1.0);
  EXPECT_EQ(dr::python_sum({0.92, 0.75}) / 2, 0.835);
}

TEST(DatasetRegression, DriftedScoreFailsNamingTheMetricBaselineAndActual) {
  Dataset d;
  d.recordings_["recordings/sub/episode_000002.json"] = episode(0.6, 0, 1.5);  // 0.9-1.0 -> 0.5-0.8
  d.write();
  auto outcome = d.run();
  const CheckResult& r = result_of(outcome);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.code, "dataset_regression_drift");
  EXPECT_EQ(outcome.exit_code, stagecheck::ExitCode::fail);
  EXPECT_NE(r.message.find("quality_distribution[\"0.9-1.0\"]: baseline 1, actual 0"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("quality_distribution[\"0.5-0.8\"]: baseline 0, actual 1"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("quality_distribution_delta 0"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("baseline_metrics.json"), std::string::npos) << r.message;
  // The other metrics held.
  EXPECT_EQ(r.message.find("episode_count:"), std::string::npos) << r.message;
}

TEST(DatasetRegression, DriftWithinTheThresholdPasses) {
  Dataset d;
  d.recordings_["recordings/sub/episode_000002.json"] = episode(0.6, 0, 1.5);
  d.thresholds_["quality_distribution_delta"] = 1;
  d.write();
  const CheckResult& r = result_of(d.run());
  EXPECT_EQ(r.status, Status::pass) << r.message;
}

TEST(DatasetRegression, CollisionRateAndDurationDriftFail) {
  Dataset d;
  d.recordings_["recordings/episode_000000.json"] = episode(0.3, 4, 1.3);
  d.write();
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("collision_rate: baseline 0.3333333333333333, actual "
                           "0.6666666666666666"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("duration_seconds.average_seconds: baseline 1.6666666666666667"),
            std::string::npos)
      << r.message;
}

TEST(DatasetRegression, EpisodeCountDriftFails) {
  Dataset d;
  d.recordings_.erase("recordings/episode_000001.json");
  d.thresholds_["quality_distribution_delta"] = 1;
  d.thresholds_["collision_rate_delta"] = 1;
  d.thresholds_["duration_average_delta"] = 10;
  d.write();
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("episode_count: baseline 3, actual 2"), std::string::npos) << r.message;
}

TEST(DatasetRegression, TamperedRecordingFailsAsAChecksumMismatch) {
  Dataset d;
  d.write();
  // Same metrics, different bytes.
  d.dir_.write("data/recordings/episode_000001.json", episode(0.85, 1, 2.5).dump());
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.code, "dataset_regression_drift");
  EXPECT_NE(r.message.find("checksums.mismatched_files: 1 files (recordings/episode_000001.json)"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.observed["checksums"]["success"], false);
  EXPECT_EQ(r.observed["checksums"]["mismatched_files"],
            json::array({"recordings/episode_000001.json"}));

  // Allowed by the thresholds: passes.
  d.thresholds_["checksum_mismatch_allowed"] = 1;
  d.write_baseline();
  EXPECT_EQ(result_of(d.run()).status, Status::pass);
}

TEST(DatasetRegression, SameSizeTamperingIsFoundByHashing) {
  Dataset d;
  d.write();
  std::string body = st::slurp(d.data() / "recordings/episode_000000.json");
  body.replace(body.find("\"e\""), 3, "\"f\"");
  d.dir_.write("data/recordings/episode_000000.json", body);
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.observed["checksums"]["mismatched_files"],
            json::array({"recordings/episode_000000.json"}));
}

TEST(DatasetRegression, MissingChecksummedFileFails) {
  Dataset d;
  d.write();
  json sums = json::parse(st::slurp(d.data() / "checksums.json"));
  sums["files"]["meta/info.json"] = {{"sha256", std::string(64, 'a')}, {"size_bytes", 3}};
  d.dir_.write("data/checksums.json", sums.dump());
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("checksums.missing_files: 1 files (meta/info.json)"), std::string::npos)
      << r.message;
}

TEST(DatasetRegression, MissingChecksumsFileFails) {
  Dataset d;
  d.write_checksums_ = false;
  d.write();
  auto outcome = d.run();
  const CheckResult& r = result_of(outcome);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.code, "dataset_regression_metrics_invalid");
  EXPECT_NE(r.message.find("checksums.json"), std::string::npos) << r.message;
  EXPECT_EQ(outcome.exit_code, stagecheck::ExitCode::fail);
}

TEST(DatasetRegression, EmptyChecksumManifestFailsAtLeastOneFile) {
  Dataset d;
  d.write();
  d.dir_.write("data/checksums.json", R"({"files": {}})");
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("checksums.total_files: expected at least 1"), std::string::npos)
      << r.message;
  EXPECT_EQ(r.observed["checksums"]["success"], false);
}

TEST(DatasetRegression, ImportManifestNamesTheChecksumsFile) {
  Dataset d;
  d.write();
  fs::create_directories(d.data() / "meta");
  fs::rename(d.data() / "checksums.json", d.data() / "meta/sums.json");
  d.dir_.write("data/import_manifest.json", R"({"checksums_path": "meta/sums.json"})");
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["checksums_path"], "meta/sums.json");
  EXPECT_EQ(r.details["checksums_source"], "import_manifest");

  // Named but absent: fails naming it, never falls back to checksums.json.
  d.dir_.write("data/checksums.json", "{}");
  fs::remove(d.data() / "meta/sums.json");
  const CheckResult& missing = result_of(d.run());
  ASSERT_EQ(missing.status, Status::fail) << missing.message;
  EXPECT_NE(missing.message.find("meta/sums.json"), std::string::npos) << missing.message;
}

TEST(DatasetRegression, MalformedImportManifestFails) {
  for (const char* body : {"{", "[]", R"({"checksums_path": 3})", R"({"checksums_path": "../x"})",
                           R"({"checksums_path": "/etc/passwd"})"}) {
    Dataset d;
    d.write();
    d.dir_.write("data/import_manifest.json", body);
    const CheckResult& r = result_of(d.run());
    EXPECT_EQ(r.status, Status::fail) << body << ": " << r.message;
    EXPECT_EQ(r.code, "dataset_regression_metrics_invalid") << body;
  }
}

TEST(DatasetRegression, TheDatasetParameterAndAChecksumsOverrideAreHonoured) {
  Dataset d;
  d.write();
  fs::create_directories(d.dir_ / "bucket/runs");
  fs::rename(d.data(), d.dir_ / "bucket/runs/r1");
  fs::rename(d.dir_ / "bucket/runs/r1/checksums.json", d.dir_ / "bucket/runs/r1/sums.json");
  auto outcome =
      st::run_spec_text(spec("        dataset: runs/r1\n        checksums: sums.json\n"),
                        d.dir_ / "bucket", {{"baseline", (d.dir_ / "baseline").string()}});
  const CheckResult& r = result_of(outcome);
  ASSERT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["checksums_path"], "runs/r1/sums.json");
  EXPECT_EQ(r.details["checksums_source"], "option");
}

// ---- recordings that must fail --------------------------------------------------------------

struct BadRecording {
  const char* name;
  std::string body;
  const char* needle;  ///< expected in the message, besides the file name
};

class BadRecordingTest : public ::testing::TestWithParam<BadRecording> {};

TEST_P(BadRecordingTest, FailsNamingTheFile) {
  Dataset d;
  d.recordings_["recordings/episode_000001.json"] = GetParam().body;
  d.write();
  auto outcome = d.run();
  const CheckResult& r = result_of(outcome);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.code, "dataset_regression_metrics_invalid");
  EXPECT_NE(r.message.find("recordings/episode_000001.json"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(GetParam().needle), std::string::npos) << r.message;
  EXPECT_EQ(outcome.exit_code, stagecheck::ExitCode::fail);
}

INSTANTIATE_TEST_SUITE_P(
    Recordings, BadRecordingTest,
    ::testing::Values(
        BadRecording{"NotJson", "{\"quality_score\": 0.5,", "recording"},
        BadRecording{"Empty", "", "recording"},
        BadRecording{"Array", "[1, 2]", "expected a JSON object, found array"},
        BadRecording{"ScoreMissing", R"({"collision_count": 0, "duration_seconds": 1})",
                     "quality_score: expected a number in [0, 1], found no such key"},
        BadRecording{"ScoreNaNString",
                     R"({"quality_score": "NaN", "collision_count": 0, "duration_seconds": 1})",
                     "quality_score: expected a number in [0, 1], found the string \"NaN\""},
        BadRecording{"ScoreInfinity",
                     R"({"quality_score": 1e999, "collision_count": 0, "duration_seconds": 1})",
                     "recording"},
        BadRecording{"ScoreBareNaN",
                     R"({"quality_score": NaN, "collision_count": 0, "duration_seconds": 1})",
                     "recording"},
        BadRecording{"ScoreAboveOne",
                     R"({"quality_score": 1.5, "collision_count": 0, "duration_seconds": 1})",
                     "found 1.5"},
        BadRecording{"ScoreNegative",
                     R"({"quality_score": -0.1, "collision_count": 0, "duration_seconds": 1})",
                     "found -0.1"},
        BadRecording{"ScoreBoolean",
                     R"({"quality_score": true, "collision_count": 0, "duration_seconds": 1})",
                     "found the boolean true"},
        BadRecording{"ScoreNull",
                     R"({"quality_score": null, "collision_count": 0, "duration_seconds": 1})",
                     "found null"},
        BadRecording{"CollisionsMissing", R"({"quality_score": 0.5, "duration_seconds": 1})",
                     "collision_count: expected a non-negative integer, found no such key"},
        BadRecording{"CollisionsNegative",
                     R"({"quality_score": 0.5, "collision_count": -1, "duration_seconds": 1})",
                     "collision_count"},
        BadRecording{"CollisionsFraction",
                     R"({"quality_score": 0.5, "collision_count": 0.5, "duration_seconds": 1})",
                     "collision_count"},
        BadRecording{"NoDuration", R"({"quality_score": 0.5, "collision_count": 0})",
                     "no duration"},
        BadRecording{"NegativeDuration",
                     R"({"quality_score": 0.5, "collision_count": 0, "duration_seconds": -2})",
                     "duration_seconds: expected a non-negative number, found -2"},
        BadRecording{
            "LastFrameWithoutTimestamp",
            R"({"quality_score": 0.5, "collision_count": 0, "frames": [{"timestamp": 0}, {}]})",
            "frames[1].timestamp"},
        BadRecording{"FramesNotArray",
                     R"({"quality_score": 0.5, "collision_count": 0, "frames": {}})", "frames"},
        BadRecording{"DuplicateKey",
                     R"({"quality_score": 0.5, "quality_score": 0.9, "collision_count": 0,
                         "duration_seconds": 1})",
                     "recording"}),
    [](const ::testing::TestParamInfo<BadRecording>& p) { return p.param.name; });

TEST(DatasetRegression, EveryBadRecordingIsListed) {
  Dataset d;
  d.recordings_["recordings/episode_000000.json"] = std::string("{");
  d.recordings_["recordings/episode_000001.json"] = std::string("[]");
  d.write();
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000000.json"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("episode_000001.json"), std::string::npos) << r.message;
}

TEST(DatasetRegression, DurationFallsBackToTheLastFrameThenFrameCount) {
  Dataset d;
  d.recordings_ = {
      {"recordings/a.json",
       json{{"quality_score", 0.5},
            {"collision_count", 0},
            {"frames", json::array({{{"timestamp", 0.0}}, {{"timestamp", 1.2}}})},
            {"frame_count", 300}}},
      {"recordings/b.json", json{{"quality_score", 0.5},
                                 {"collision_count", 0},
                                 {"frames", json::array()},
                                 {"frame_count", 45}}},
  };
  d.write();
  auto m = metrics_of(d.data());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->min_seconds, 1.2);  // the last frame wins over frame_count
  EXPECT_EQ(m->max_seconds, 1.5);  // 45 / 30
  EXPECT_EQ(m->average_seconds, (1.2 + 1.5) / 2);
}

TEST(DatasetRegression, NoRecordingsFails) {
  Dataset d;
  d.recordings_ = {{"recordings/readme.txt", std::string("not an episode")}};
  d.write();
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("expected at least one *.json recording"), std::string::npos)
      << r.message;
}

TEST(DatasetRegression, UnreadableRecordingIsNotAZeroScoreEpisode) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  Dataset d;
  d.write();
  fs::permissions(d.data() / "recordings/episode_000000.json", fs::perms::none);
  auto outcome = d.run();
  const CheckResult& r = result_of(outcome);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_NE(r.message.find("episode_000000.json"), std::string::npos) << r.message;
  EXPECT_EQ(outcome.exit_code, stagecheck::ExitCode::no_verdict);
}

TEST(DatasetRegression, RecordingLinkedOutOfTheStoreFails) {
  Dataset d;
  d.write();
  d.dir_.write("outside.json", episode(0.3, 0, 1.0).dump());
  fs::remove(d.data() / "recordings/episode_000000.json");
  fs::create_symlink("../../outside.json", d.data() / "recordings/episode_000000.json");
  auto outcome = d.run();
  const CheckResult& r = result_of(outcome);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("recordings/episode_000000.json"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("outside the root"), std::string::npos) << r.message;
}

TEST(DatasetRegression, MalformedChecksumManifestFails) {
  for (
      const char* body :
      {"{", "[]", R"({"nofiles": {}})", R"({"files": []})",
       R"({"files": {"recordings/a.json": {"sha256": "xyz"}}})",
       R"({"files": {"recordings/a.json": {"size_bytes": 1}}})",
       R"({"files": {"../a.json": {"sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}})",
       R"({"algorithm": "md5", "files": {}})"}) {
    Dataset d;
    d.write();
    d.dir_.write("data/checksums.json", body);
    const CheckResult& r = result_of(d.run());
    EXPECT_EQ(r.status, Status::fail) << body << ": " << r.message;
    EXPECT_EQ(r.code, "dataset_regression_metrics_invalid") << body;
    EXPECT_NE(r.message.find("checksums.json"), std::string::npos) << r.message;
  }
}

// ---- baseline and thresholds ----------------------------------------------------------------

TEST(DatasetRegression, MalformedThresholdsFailNamingTheKey) {
  struct Case {
    const char* key;
    json value;  ///< null: remove the key
    const char* needle;
  };
  const std::vector<Case> cases = {
      {"collision_rate_delta", nullptr,
       "collision_rate_delta: expected a number >= 0, found no such key"},
      {"episode_count_delta", -1, "episode_count_delta: expected a number >= 0, found -1"},
      {"duration_average_delta", "0.1",
       "duration_average_delta: expected a number >= 0, found the string"},
      {"quality_distribution_delta", true, "found the boolean true"},
      {"checksum_missing_allowed", 0.5,
       "checksum_missing_allowed: expected an integer >= 0, found 0.5"},
      {"checksum_mismatch_allowed", -2, "checksum_mismatch_allowed: expected an integer >= 0"},
      {"colision_rate_delta", 0, "unknown key \"colision_rate_delta\""},
  };
  for (const Case& c : cases) {
    Dataset d;
    if (c.value.is_null()) {
      d.thresholds_.erase(c.key);
    } else {
      d.thresholds_[c.key] = c.value;
    }
    d.write();
    const CheckResult& r = result_of(d.run());
    EXPECT_EQ(r.status, Status::fail) << c.key;
    EXPECT_EQ(r.code, "dataset_regression_inputs_invalid") << c.key;
    EXPECT_NE(r.message.find(c.needle), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("thresholds.json"), std::string::npos) << r.message;
  }
  for (const char* body : {"{", "[]", "{\"episode_count_delta\": 1e999}"}) {
    Dataset d;
    d.write();
    d.dir_.write("baseline/thresholds.json", body);
    const CheckResult& r = result_of(d.run());
    EXPECT_EQ(r.status, Status::fail) << body << ": " << r.message;
    EXPECT_NE(r.message.find("thresholds.json"), std::string::npos) << r.message;
  }
}

TEST(DatasetRegression, BaselineMissingOrUnknownKeysFail) {
  struct Case {
    std::function<void(json&)> edit;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {[](json& b) { b.erase("collision_rate"); },
       "collision_rate: expected a finite number, found no such key"},
      {[](json& b) { b.erase("episode_count"); }, "episode_count: expected a finite number"},
      {[](json& b) { b["quality_distribution"].erase("0.8-0.9"); },
       "quality_distribution[\"0.8-0.9\"]: expected a finite number, found no such key"},
      {[](json& b) { b["quality_distribution"]["0.9-1.00"] = 0; }, "unknown bucket \"0.9-1.00\""},
      {[](json& b) { b["duration_seconds"] = 1.6; }, "duration_seconds: expected an object"},
      {[](json& b) { b["episode_count"] = "3"; },
       "episode_count: expected a finite number, found the string"},
      {[](json& b) { b["collision_rate"] = false; }, "found the boolean false"},
  };
  for (const Case& c : cases) {
    Dataset d;
    c.edit(d.baseline_);
    d.write();
    const CheckResult& r = result_of(d.run());
    EXPECT_EQ(r.status, Status::fail) << c.needle;
    EXPECT_EQ(r.code, "dataset_regression_inputs_invalid");
    EXPECT_NE(r.message.find(c.needle), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("baseline_metrics.json"), std::string::npos) << r.message;
  }
}

TEST(DatasetRegression, BaselineFolderWithoutTheFilesFails) {
  Dataset d;
  d.write();
  fs::remove(d.dir_ / "baseline/thresholds.json");
  const CheckResult& r = result_of(d.run());
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.code, "dataset_regression_inputs_missing");
  EXPECT_NE(r.message.find("thresholds.json"), std::string::npos) << r.message;
}

TEST(DatasetRegression, SeparateBaselineAndThresholdsFiles) {
  Dataset d;
  d.write();
  const std::string s =
      "version: 1\n"
      "name: regression\n"
      "vars:\n"
      "  metrics_file: {type: local_path, required: true}\n"
      "  limits_file: {type: local_path}\n"
      "stages:\n"
      "  - id: dataset\n"
      "    checks:\n"
      "      - id: regression\n"
      "        type: dataset_regression\n"
      "        baseline_metrics: $metrics_file\n"
      "        thresholds: $limits_file\n";
  d.dir_.write("elsewhere/pinned.json", d.baseline_.dump());
  d.dir_.write("elsewhere/limits.json", d.thresholds_.dump());
  auto outcome = st::run_spec_text(s, d.data(),
                                   {{"metrics_file", (d.dir_ / "elsewhere/pinned.json").string()},
                                    {"limits_file", (d.dir_ / "elsewhere/limits.json").string()}});
  EXPECT_EQ(result_of(outcome).status, Status::pass) << result_of(outcome).message;

  // The thresholds variable left unset: nothing to compare with, so it fails.
  auto unset = st::run_spec_text(s, d.data(),
                                 {{"metrics_file", (d.dir_ / "elsewhere/pinned.json").string()}});
  const CheckResult& r = result_of(unset);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.code, "dataset_regression_inputs_missing");
  EXPECT_NE(r.message.find("limits_file"), std::string::npos) << r.message;
}

TEST(DatasetRegression, SpecErrorsAreFoundBeforeAnythingRuns) {
  const fs::path here = fs::current_path();
  struct Case {
    std::string body;
    const char* needle;
  };
  const std::string head =
      "version: 1\nname: r\nvars:\n  baseline: {type: local_path}\n  n: {type: number}\n"
      "stages:\n  - id: dataset\n    checks:\n      - id: regression\n"
      "        type: dataset_regression\n";
  const std::vector<Case> cases = {
      {head, "baseline: is required"},
      {head + "        baseline: /tmp\n", "local_path"},
      {head + "        baseline: $n\n", "must name a variable of type local_path"},
      {head + "        baseline: $baseline\n        recordings: ../up\n", "recordings"},
      {head + "        baseline: $baseline\n        checksums: /abs.json\n", "checksums"},
      {head + "        baseline: $baseline\n        thresholds: 0\n", "thresholds"},
  };
  for (const Case& c : cases) {
    auto outcome = st::run_spec_text(c.body, here);
    EXPECT_FALSE(outcome.report.has_value()) << c.body;
    EXPECT_EQ(outcome.exit_code, stagecheck::ExitCode::usage) << c.body;
    EXPECT_NE(outcome.error.find(c.needle), std::string::npos) << outcome.error;
  }
}

}  // namespace
