// Tests of the driver for the dataset regression: the `metrics` verb (output, keys, exit codes)
// and examples/dataset/regression.yaml run as the README shows, on the pipeline's golden
// fixture (skipped when absent) and on a dataset pinned with `metrics` itself.

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stagecheck_test_support.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
namespace st = stagecheck::testing;

const fs::path kFixture = fs::path(STAGECHECK_SOURCE_DIR) / ".." / "shared" / "fixtures" /
                          "pipeline-golden" / "dataset_regression";
const std::string kSpec = std::string(STAGECHECK_SOURCE_DIR) + "/examples/dataset/regression.yaml";

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

/// A small dataset with a checksums.json written by hand (digests of the bodies below).
void write_dataset(const st::ScratchDir& dir, double last_score = 0.95) {
  dir.write("data/recordings/a.json",
            R"({"quality_score": 0.7, "collision_count": 1, "duration_seconds": 2.0})");
  dir.write(
      "data/recordings/b.json",
      json{{"quality_score", last_score}, {"collision_count", 0}, {"frame_count", 90}}.dump());
  // Hashing is the metrics' own business: the manifest lists a file whose digest is fixed.
  dir.write("data/notes.txt", "hello\n");
  dir.write(
      "data/checksums.json",
      R"({"files": {"notes.txt": {"sha256": )"
      R"("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "size_bytes": 6}}})");
}

const char* kThresholds = R"({"episode_count_delta": 0, "quality_distribution_delta": 0,
  "collision_rate_delta": 0.0, "duration_average_delta": 0.0,
  "checksum_missing_allowed": 0, "checksum_mismatch_allowed": 0})";

TEST(MetricsCli, FixtureOutputEqualsTheBaseline) {
  if (!fs::exists(kFixture / "baseline_metrics.json")) {
    GTEST_SKIP() << "the pipeline's golden fixture is absent: " << kFixture;
  }
  const fs::path dataset = kFixture / "baseline_dataset";
  auto r = st::run_driver("metrics --dataset-dir " + q(dataset));
  ASSERT_EQ(r.code, 0) << r.err;
  json out = json::parse(r.out);
  // Sorted keys, as the pipeline writes baseline_metrics.json.
  EXPECT_EQ(r.out, out.dump(2) + "\n");
  EXPECT_EQ(out["checksums_path"], (dataset / "checksums.json").string());
  json baseline = json::parse(st::slurp(kFixture / "baseline_metrics.json"));
  std::vector<std::string> keys, baseline_keys;
  for (const auto& [k, v] : out.items()) keys.push_back(k);
  for (const auto& [k, v] : baseline.items()) baseline_keys.push_back(k);
  EXPECT_EQ(keys, baseline_keys);
  out.erase("checksums_path");
  baseline.erase("checksums_path");
  EXPECT_EQ(out, baseline) << r.out;
  EXPECT_NE(r.out.find("\"average_score\": 0.835"), std::string::npos) << r.out;
}

TEST(MetricsCli, ExampleSpecPassesOnTheFixture) {
  if (!fs::exists(kFixture / "baseline_metrics.json")) {
    GTEST_SKIP() << "the pipeline's golden fixture is absent: " << kFixture;
  }
  auto r = st::run_driver("run " + q(kSpec) + " --root " + q(kFixture / "baseline_dataset") +
                          " --var baseline=" + q(kFixture));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
}

TEST(MetricsCli, PinnedWithMetricsThenRunPassesAndDriftFails) {
  st::ScratchDir dir;
  write_dataset(dir);
  // The README's workflow: pin the metrics, write thresholds, run the example spec.
  auto pinned = st::run_driver("metrics --dataset-dir " + q(dir / "data"));
  ASSERT_EQ(pinned.code, 0) << pinned.err;
  json m = json::parse(pinned.out);
  EXPECT_EQ(m["episode_count"], 2);
  EXPECT_EQ(m["quality_distribution"], json::parse(R"({"0.0-0.5": 0, "0.5-0.8": 1,
    "0.8-0.9": 0, "0.9-1.0": 1})"));
  EXPECT_EQ(m["collision_rate"], 0.5);
  EXPECT_EQ(m["duration_seconds"]["average_seconds"], 2.5);  // (2.0 + 90 / 30) / 2
  EXPECT_EQ(m["checksums"], json::parse(R"({"total_files": 1, "missing_files": [],
    "mismatched_files": [], "success": true})"));
  dir.write("baseline/baseline_metrics.json", pinned.out);
  dir.write("baseline/thresholds.json", kThresholds);
  const std::string run = "run " + q(kSpec) + " --root " + q(dir / "data") +
                          " --var baseline=" + q(dir / "baseline") + " --format json";
  auto ok = st::run_driver(run);
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;

  write_dataset(dir, 0.85);  // the second episode drops from the top bucket
  auto drifted = st::run_driver(run);
  EXPECT_EQ(drifted.code, 1) << drifted.out << drifted.err;
  json report = json::parse(drifted.out);
  EXPECT_NE(report.dump().find(R"(quality_distribution[\"0.9-1.0\"]: baseline 1, actual 0)"),
            std::string::npos)
      << drifted.out;
}

TEST(MetricsCli, ShippedExampleThresholdsAreValid) {
  st::ScratchDir dir;
  write_dataset(dir);
  auto pinned = st::run_driver("metrics --dataset-dir " + q(dir / "data"));
  ASSERT_EQ(pinned.code, 0) << pinned.err;
  dir.write("baseline/baseline_metrics.json", pinned.out);
  dir.write("baseline/thresholds.json", st::slurp(fs::path(STAGECHECK_SOURCE_DIR) /
                                                  "examples/dataset/baseline/thresholds.json"));
  auto r = st::run_driver("run " + q(kSpec) + " --root " + q(dir / "data") +
                          " --var baseline=" + q(dir / "baseline"));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST(MetricsCli, ExampleSpecNeedsTheBaselineVariable) {
  st::ScratchDir dir;
  write_dataset(dir);
  auto r = st::run_driver("run " + q(kSpec) + " --root " + q(dir / "data"));
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("baseline"), std::string::npos) << r.err;
  auto v = st::run_driver("validate " + q(kSpec) + " --var baseline=" + q(dir.path()));
  EXPECT_EQ(v.code, 0) << v.out << v.err;
}

TEST(MetricsCli, MalformedDatasetExitsOneWithoutOutput) {
  st::ScratchDir dir;
  write_dataset(dir);
  dir.write("data/recordings/c.json", R"({"quality_score": "NaN", "collision_count": 0})");
  auto r = st::run_driver("metrics --dataset-dir " + q(dir / "data"));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("recordings/c.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("quality_score"), std::string::npos) << r.err;
}

TEST(MetricsCli, MismatchesAreMetricsNotErrors) {
  st::ScratchDir dir;
  write_dataset(dir);
  dir.write("data/notes.txt", "HELLO\n");  // same size, other bytes
  fs::rename(dir / "data/checksums.json", dir / "data/sums.json");
  auto r = st::run_driver("metrics --checksums sums.json --dataset-dir " + q(dir / "data"));
  ASSERT_EQ(r.code, 0) << r.err;
  json m = json::parse(r.out);
  EXPECT_EQ(m["checksums"]["mismatched_files"], json::array({"notes.txt"}));
  EXPECT_EQ(m["checksums"]["success"], false);
  EXPECT_EQ(m["checksums_path"], (dir / "data" / "sums.json").string());
}

TEST(MetricsCli, MissingChecksumsFileExitsOne) {
  st::ScratchDir dir;
  write_dataset(dir);
  fs::remove(dir / "data/checksums.json");
  auto r = st::run_driver("metrics --dataset-dir " + q(dir / "data"));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("checksums.json"), std::string::npos) << r.err;
}

TEST(MetricsCli, UnreadableRecordingIsNoVerdictNotAZeroScore) {
  // Root reads any file: run the driver as nobody (setpriv) when the tests run as root.
  std::string prefix;
  if (geteuid() == 0) {
    if (!fs::exists("/usr/bin/setpriv")) GTEST_SKIP() << "root, and no setpriv to drop it";
    prefix = "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups";
  }
  st::ScratchDir dir;
  write_dataset(dir);
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(dir / "data/recordings/a.json", fs::perms::owner_read | fs::perms::owner_write);
  auto r = st::run_driver("metrics --dataset-dir " + q(dir / "data"), prefix);
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("recordings/a.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;

  // The check: `error` (exit 3), never a pass.
  dir.write("baseline/baseline_metrics.json", "{}");
  dir.write("baseline/thresholds.json", kThresholds);
  json metrics = json::parse(st::run_driver("metrics --dataset-dir " + q(dir / "data")).out);
  dir.write("baseline/baseline_metrics.json", metrics.dump());
  auto run = st::run_driver("run " + q(kSpec) + " --root " + q(dir / "data") +
                                " --var baseline=" + q(dir / "baseline") + " --format json",
                            prefix);
  EXPECT_EQ(run.code, 3) << run.out << run.err;
  EXPECT_NE(run.out.find("permission denied"), std::string::npos) << run.out;
}

TEST(MetricsCli, MissingDirectoryIsAUsageError) {
  st::ScratchDir dir;
  auto r = st::run_driver("metrics --dataset-dir " + q(dir / "nope"));
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--dataset-dir"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(MetricsCli, UsageErrors) {
  EXPECT_EQ(st::run_driver("metrics").code, 2);
  EXPECT_EQ(st::run_driver("metrics --dataset-dir . --jobs 0").code, 2);
  EXPECT_EQ(st::run_driver("metrics --dataset-dir . --bogus").code, 2);
  EXPECT_EQ(st::run_driver("metrics --dataset-dir . --max-bytes 12Q").code, 2);
  EXPECT_EQ(st::run_driver("metrics --dataset-dir . --recordings ../up").code, 2);
  EXPECT_EQ(st::run_driver("metrics --dataset-dir . --checksums /etc/passwd").code, 2);
}

TEST(MetricsCli, HelpDocumentsTheVerb) {
  auto help = st::run_driver("metrics --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--dataset-dir"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("baseline_metrics.json"), std::string::npos) << help.out;
  auto main_help = st::run_driver("--help");
  EXPECT_NE(main_help.out.find("stagecheck metrics --dataset-dir DIR"), std::string::npos)
      << main_help.out;
}

TEST(MetricsCli, ListChecksDocumentsTheCheck) {
  auto r = st::run_driver("list-checks --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json all = json::parse(r.out);
  const json* found = nullptr;
  for (const auto& c : all) {
    if (c["type"] == "dataset_regression") found = &c;
  }
  ASSERT_NE(found, nullptr);
  EXPECT_EQ((*found)["source"].get<std::string>().find("dataset_regression") != std::string::npos,
            true);
  std::vector<std::string> params;
  for (const auto& p : (*found)["params"]) params.push_back(p["name"]);
  EXPECT_EQ(params, (std::vector<std::string>{"baseline", "baseline_metrics", "thresholds",
                                              "dataset", "recordings", "checksums"}));
}

}  // namespace
