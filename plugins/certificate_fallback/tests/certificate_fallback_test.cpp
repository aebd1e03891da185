// Tests of the certificate_fallback check (through specs run in-process and through the driver)
// and of its strict JSON scanner (differentially, against stagecheck::parse_json).

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <stagecheck/artifact.hpp>
#include <stagecheck_test_support.hpp>

#include "../certificate_scan.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;
using stagecheck::certificate_fallback::CertificateScanner;
using stagecheck::certificate_fallback::JsonKind;

constexpr const char* kScene = "kitchen_001";
constexpr const char* kFolder = "scenes/kitchen_001/episodes/quality/episodes";
constexpr const char* kGate = "scenes/kitchen_001/episode-generation-job/quality_gate_report.json";
constexpr const char* kCheckId = "quality.certificates";

std::string episode_name(int i) { return fmt::format("episode_{:06d}", i); }

/// A certificate shaped like the pipeline's (about 750 bytes). `passed` and `use` are raw JSON
/// (so tests can write "\"true\""); an empty one leaves the key out.
std::string certificate(const std::string& episode, const std::string& passed = "true",
                        const std::string& use = "\"production_training\"",
                        const std::string& scene = "\"kitchen_001\"") {
  std::string out = fmt::format(R"({{"episode_id": "{}", )", episode);
  if (!scene.empty()) out += fmt::format(R"("scene_id": {}, )", scene);
  out +=
      R"("task_id": "pick_mug", "generated_at": "2025-03-02T09:58:01Z", "pipeline_version": "1.0.0", )"
      R"("sensor_source": "isaac_sim_replicator", "physics_backend": "physx", )"
      R"("isaac_sim_version": null, "gpu_type": null, "data_quality_level": "production", )"
      R"("training_suitability": "production", )";
  if (!use.empty()) out += fmt::format(R"("recommended_use": {}, )", use);
  out += R"("overall_quality_score": 0.93, "confidence_score": 1.0, )"
         R"("trajectory_metrics": {"smoothness_score": 0.91, "mean_jerk": 0.012, "max_jerk": 0.2, )"
         R"("joint_limit_violations": 0, "collision_count": 0, "min_clearance_meters": 0.031}, )"
         R"("task_metrics": {"goal_achievement_score": 1.0, "final_state_error_meters": 0.004, )"
         R"("skill_correctness_ratio": 1.0}, )";
  if (!passed.empty()) out += fmt::format(R"("validation_passed": {}, )", passed);
  out +=
      R"("validation_warnings": [], "validation_errors": [], "provenance_metrics": null, )"
      R"("frame_count": 240, "camera_count": 3, "partial_camera_coverage": false, )"
      R"("ee_coverage_ratio": 1.0, "data_hash": "9f2c6a01b5e4d3c2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8"})";
  return out;
}

std::string spec(const std::string& extra = "", const std::string& scene_var = "scene_id") {
  std::string text = R"(version: 1
name: certificate-fallback-test
vars:
  scene_id: {type: segment, required: true}
  other_scene: {type: segment}
artifacts:
  quality_gate_report:
    path: scenes/${scene_id}/episode-generation-job/quality_gate_report.json
    optional: true
stages:
  - id: quality
    checks:
      - id: certificates
        type: certificate_fallback
        gate_report: quality_gate_report
        episodes: scenes/${scene_id}/episodes/quality/episodes
)";
  if (!scene_var.empty()) text += "        expected_scene_id_var: " + scene_var + "\n";
  for (std::size_t start = 0; start < extra.size();) {
    std::size_t end = extra.find('\n', start);
    if (end == std::string::npos) end = extra.size();
    text += "        " + extra.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return text;
}

class CertificateFallbackTest : public ::testing::Test {
 protected:
  void put(const std::string& episode, const std::string& body) const {
    root_.write(fmt::format("{}/{}/quality_certificate.json", kFolder, episode), body);
  }

  /// Writes `count` good certificates episode_000001...; every tenth is fine_tuning.
  void put_good(int count) const {
    for (int i = 1; i <= count; ++i) {
      put(episode_name(i),
          certificate(episode_name(i), "true",
                      i % 10 == 0 ? "\"fine_tuning\"" : "\"production_training\""));
    }
  }

  RunOutcome run(const std::string& spec_text = spec(), unsigned jobs = 0,
                 LoadLimits limits = {}) const {
    RunOptions options;
    options.jobs = jobs;
    options.limits = limits;
    return run_spec_text(spec_text, root_.path(), {{"scene_id", kScene}}, options);
  }

  /// Runs and returns the check's result (a copy; failing the test if it is not there).
  CheckResult result(const std::string& spec_text = spec(), unsigned jobs = 0,
                     LoadLimits limits = {}) const {
    RunOutcome out = run(spec_text, jobs, limits);
    EXPECT_TRUE(out.report.has_value()) << out.error;
    if (!out.report) return {};
    const CheckResult* r = find_result(*out.report, kCheckId);
    EXPECT_NE(r, nullptr);
    return r != nullptr ? *r : CheckResult{};
  }

  static bool has_artifact(const CheckResult& r, const std::string& path) {
    return std::find(r.artifacts.begin(), r.artifacts.end(), path) != r.artifacts.end();
  }

  ScratchDir root_;
};

TEST_F(CertificateFallbackTest, AllGoodCertificatesPassWithCounts) {
  put_good(1000);
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["certificates"], 1000);
  EXPECT_EQ(r.observed["passed"], 1000);
  EXPECT_EQ(r.observed["failed"], 0);
  EXPECT_EQ(r.observed["by_recommended_use"],
            (nlohmann::json{{"production_training", 900}, {"fine_tuning", 100}}));
  EXPECT_NE(r.message.find("all 1000 quality certificates"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(kGate), std::string::npos) << r.message;
  EXPECT_TRUE(r.code.empty());
  EXPECT_TRUE(has_artifact(r, std::string(kFolder) + "/"));
  EXPECT_TRUE(has_artifact(r, kGate));
  EXPECT_EQ(r.expected["scene_id"], kScene);
}

TEST_F(CertificateFallbackTest, GateReportPresentSkips) {
  put(episode_name(1), certificate(episode_name(1), "false", "\"testing\""));
  root_.write(kGate, R"({"summary": {"can_proceed": true, "blocking_failures": 0}})");
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::skipped) << r.message;
  EXPECT_EQ(r.message, fmt::format("gate report '{}' is present; the certificate fallback is "
                                   "not used",
                                   kGate));
}

TEST_F(CertificateFallbackTest, OneTestingCertificateAmongAThousandFailsNamingIt) {
  put_good(1000);
  put(episode_name(950), certificate(episode_name(950), "true", "\"testing\""));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.code, "certificates_failed");
  EXPECT_NE(r.message.find("episode_000950: recommended_use \"testing\" is not allowed"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("1 of 1000"), std::string::npos) << r.message;
  ASSERT_EQ(r.details["failing"].size(), 1u);
  const std::string path = fmt::format("{}/episode_000950/quality_certificate.json", kFolder);
  EXPECT_EQ(r.details["failing"][0]["path"], path);
  EXPECT_EQ(r.details["failing"][0]["episode"], "episode_000950");
  EXPECT_EQ(r.details["failing_total"], 1);
  EXPECT_EQ(r.observed["by_recommended_use"]["testing"], 1);
  EXPECT_EQ(r.observed["by_recommended_use"]["fine_tuning"], 99);
  EXPECT_EQ(r.observed["by_recommended_use"]["production_training"], 900);
  EXPECT_TRUE(has_artifact(r, path));
}

TEST_F(CertificateFallbackTest, ValidationPassedStringTrueFails) {
  put_good(3);
  put(episode_name(2), certificate(episode_name(2), "\"true\""));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000002: validation_passed is the string \"true\", expected "
                           "the boolean true"),
            std::string::npos)
      << r.message;
}

TEST_F(CertificateFallbackTest, ValidationPassedFalseFails) {
  put_good(3);
  put(episode_name(3), certificate(episode_name(3), "false"));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000003: validation_passed is false"), std::string::npos)
      << r.message;
}

TEST_F(CertificateFallbackTest, ValidationPassedMissingOrOtherTypeFails) {
  put_good(4);
  put(episode_name(1), certificate(episode_name(1), ""));
  put(episode_name(2), certificate(episode_name(2), "1"));
  put(episode_name(3), certificate(episode_name(3), "null"));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000001: validation_passed is missing"), std::string::npos);
  EXPECT_NE(r.message.find("episode_000002: validation_passed is the number 1, expected the "
                           "boolean true"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("episode_000003: validation_passed is null"), std::string::npos);
  EXPECT_EQ(r.observed["failed"], 3);
}

TEST_F(CertificateFallbackTest, MissingRecommendedUseFails) {
  put_good(3);
  put(episode_name(1), certificate(episode_name(1), "true", ""));
  put(episode_name(2), certificate(episode_name(2), "true", "[\"fine_tuning\"]"));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000001: recommended_use is missing"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("episode_000002: recommended_use is an array, expected a string"),
            std::string::npos)
      << r.message;
}

TEST_F(CertificateFallbackTest, MalformedCertificateFails) {
  put_good(3);
  put(episode_name(2), R"({"episode_id": "episode_000002", "validation_passed": true,,})");
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000002: malformed JSON at byte 60: expected a string key"),
            std::string::npos)
      << r.message;
}

TEST_F(CertificateFallbackTest, TruncatedCertificateFails) {
  put_good(3);
  const std::string full = certificate(episode_name(3));
  put(episode_name(3), full.substr(0, full.size() / 2));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000003: malformed JSON"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("unexpected end of input"), std::string::npos) << r.message;
}

TEST_F(CertificateFallbackTest, EmptyAndNonObjectCertificatesFail) {
  put_good(3);
  put(episode_name(1), "");
  put(episode_name(2), R"(["episode_000002"])");
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000001: malformed JSON at byte 1: empty file"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("episode_000002: expected a JSON object, found an array"),
            std::string::npos)
      << r.message;
}

TEST_F(CertificateFallbackTest, OversizedCertificateFails) {
  put_good(3);
  put(episode_name(2), certificate(episode_name(2)) + std::string(4096, ' '));
  LoadLimits limits;
  limits.max_bytes = 2048;
  const CheckResult r = result(spec(), 0, limits);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("episode_000002: too large"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["failed"], 1);
}

TEST_F(CertificateFallbackTest, DuplicateEpisodeIdsFail) {
  put_good(3);
  put(episode_name(2), certificate(episode_name(1)));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000002: episode_id \"episode_000001\" does not match its "
                           "folder \"episode_000002\" (duplicate episode id: folder "
                           "\"episode_000001\" holds a certificate too)"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.details["duplicate_episode_ids"], 1);
}

TEST_F(CertificateFallbackTest, EpisodeIdFolderMismatchFails) {
  put_good(3);
  put(episode_name(3), certificate("episode_999999"));
  put("episode_000004", certificate(""));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000003: episode_id \"episode_999999\" does not match its "
                           "folder \"episode_000003\""),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.message.find("duplicate"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("episode_000004: episode_id is empty"), std::string::npos) << r.message;
  EXPECT_EQ(r.details["duplicate_episode_ids"], 0);
}

TEST_F(CertificateFallbackTest, ZeroCertificatesFailWithCode) {
  const CheckResult missing = result();
  EXPECT_EQ(missing.status, Status::fail);
  EXPECT_EQ(missing.code, "quality_artifacts_missing");
  EXPECT_EQ(missing.message,
            fmt::format("no quality certificates under '{}/' and no gate report at '{}'", kFolder,
                        kGate));
  // A folder holding only other files is no better.
  root_.write(std::string(kFolder) + "/index.json", "{}");
  const CheckResult empty = result();
  EXPECT_EQ(empty.status, Status::fail);
  EXPECT_EQ(empty.code, "quality_artifacts_missing");
  EXPECT_EQ(empty.observed["ignored_objects"], 1);
}

TEST_F(CertificateFallbackTest, MinCertificates) {
  put_good(3);
  const CheckResult few = result(spec("min_certificates: 5"));
  EXPECT_EQ(few.status, Status::fail);
  EXPECT_EQ(few.code, "too_few_certificates");
  EXPECT_NE(few.message.find("only 3 quality certificates"), std::string::npos) << few.message;
  EXPECT_NE(few.message.find("expected at least 5"), std::string::npos) << few.message;
  put_good(5);
  EXPECT_EQ(result(spec("min_certificates: 5")).status, Status::pass);
}

TEST_F(CertificateFallbackTest, SceneIdMismatchFails) {
  put_good(3);
  put(episode_name(2), certificate(episode_name(2), "true", "\"fine_tuning\"", "\"kitchen_002\""));
  put(episode_name(3), certificate(episode_name(3), "true", "\"fine_tuning\"", ""));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000002: scene_id \"kitchen_002\" does not match the expected "
                           "\"kitchen_001\" (variable scene_id)"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("episode_000003: scene_id is missing"), std::string::npos) << r.message;
  // Without expected_scene_id_var, scene_id is not checked.
  EXPECT_EQ(result(spec("", "")).status, Status::pass);
}

TEST_F(CertificateFallbackTest, UnsetSceneIdVariableIsAnError) {
  put_good(2);
  const CheckResult r = result(spec("", "other_scene"));
  EXPECT_EQ(r.status, Status::error);
  EXPECT_NE(r.message.find("variable 'other_scene' is not declared or has no value"),
            std::string::npos)
      << r.message;
}

TEST_F(CertificateFallbackTest, NonCertificateFilesAreIgnored) {
  put_good(3);
  root_.write(std::string(kFolder) + "/index.json", "not json");
  root_.write(std::string(kFolder) + "/episode_000001/notes.txt", "hello");
  root_.write(std::string(kFolder) + "/episode_000002/sub/quality_certificate.json", "[broken");
  root_.write(std::string(kFolder) + "/episode_000003/quality_certificate.json.bak", "[broken");
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["certificates"], 3);
  // Only files directly in the episodes folder are counted: the check lists the episode
  // folders one level deep and reads their certificates by name, so it never sees the other
  // files inside them (it used to count those too, 4 here).
  EXPECT_EQ(r.observed["ignored_objects"], 1);
}

TEST_F(CertificateFallbackTest, EpisodeFolderWithoutCertificateFails) {
  put_good(3);
  root_.write(std::string(kFolder) + "/episode_000002a/notes.txt", "no certificate here");
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000002a: no quality_certificate.json in the episode folder"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.observed["folders_without_certificate"], 1);
  EXPECT_EQ(r.observed["certificates"], 3);
}

TEST_F(CertificateFallbackTest, EmptyEpisodeFolderIsNoEpisode) {
  put_good(3);
  std::filesystem::create_directories(root_ / (std::string(kFolder) + "/episode_000002a"));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["folders_without_certificate"], 0);
  EXPECT_EQ(r.observed["certificates"], 3);
}

TEST_F(CertificateFallbackTest, CertificateSymlinkedOutOfTheRootFails) {
  put_good(3);
  ScratchDir outside;
  outside.write("quality_certificate.json", certificate(episode_name(4)));
  std::filesystem::create_directories(root_ / (std::string(kFolder) + "/episode_000004"));
  std::filesystem::create_symlink(
      outside / "quality_certificate.json",
      root_ / (std::string(kFolder) + "/episode_000004/quality_certificate.json"));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.code, "certificates_failed");
  EXPECT_NE(r.message.find("episode_000004/quality_certificate.json"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("outside the root"), std::string::npos) << r.message;
  // The certificate is read by name, not met in a recursive listing: the read is refused and
  // that episode fails (it used to stop the listing, with details.listing_error out_of_root).
  EXPECT_EQ(r.observed["failed"], 1);
  EXPECT_EQ(r.observed["certificates"], 4);
  EXPECT_FALSE(r.details.contains("listing_error"));
}

TEST_F(CertificateFallbackTest, CertificateSymlinkedInsideTheRootIsRead) {
  put_good(2);
  root_.write("shared/quality_certificate.json", certificate(episode_name(3)));
  std::filesystem::create_directories(root_ / (std::string(kFolder) + "/episode_000003"));
  // Relative: an absolute link counts as leaving the root, wherever it points.
  std::filesystem::create_symlink(
      "../../../../../../shared/quality_certificate.json",
      root_ / (std::string(kFolder) + "/episode_000003/quality_certificate.json"));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["certificates"], 3);
}

TEST_F(CertificateFallbackTest, ManyFailuresAreCappedButCounted) {
  for (int i = 1; i <= 1100; ++i) {
    put(episode_name(i),
        certificate(episode_name(i), "true", i <= 1050 ? "\"testing\"" : "\"fine_tuning\""));
  }
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.details["failing"].size(), 1000u);
  EXPECT_EQ(r.details["failing_total"], 1050);
  EXPECT_EQ(r.details["failing_truncated"], true);
  EXPECT_EQ(r.details["failing"][999]["episode"], episode_name(1000));
  EXPECT_NE(r.message.find("and 1040 more (details.failing)"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["by_recommended_use"]["testing"], 1050);
  EXPECT_EQ(r.observed["certificates"], 1100);
}

TEST_F(CertificateFallbackTest, OneJobAndFourJobsGiveIdenticalResults) {
  put_good(400);
  for (int i = 7; i <= 400; i += 23) {
    put(episode_name(i), certificate(episode_name(i), i % 2 == 0 ? "false" : "\"true\"",
                                     i % 3 == 0 ? "\"testing\"" : "\"fine_tuning\""));
  }
  put(episode_name(333), "{\"episode_id\": ");
  for (int i = 0; i < 80; ++i) {  // More distinct uses than are counted by name.
    put(fmt::format("use_{:03d}", i),
        certificate(fmt::format("use_{:03d}", i), "true", fmt::format("\"use_{:03d}\"", 79 - i)));
  }
  const CheckResult one = result(spec(), 1);
  const CheckResult four = result(spec(), 4);
  EXPECT_EQ(one.status, Status::fail);
  EXPECT_EQ(one.status, four.status);
  EXPECT_EQ(one.message, four.message);
  EXPECT_EQ(one.observed, four.observed);
  EXPECT_EQ(one.expected, four.expected);
  EXPECT_EQ(one.details, four.details);
  EXPECT_EQ(one.code, four.code);
  EXPECT_EQ(one.artifacts, four.artifacts);
  EXPECT_EQ(one.observed["by_recommended_use"].size(), 64u);
  EXPECT_EQ(one.observed["other_recommended_use"], 80 + 3 - 64);
  // Failures come in listing order whatever the timing.
  const auto& failing = four.details["failing"];
  for (std::size_t i = 1; i < failing.size(); ++i) {
    EXPECT_LT(failing[i - 1]["path"].get<std::string>(), failing[i]["path"].get<std::string>());
  }
}

/// Runs `fn` as uid 65534 when running as root (root ignores file modes), as
/// tests/unit/runner_test.cpp does; the scratch folder is made traversable for it.
template <class Fn>
void as_nobody(const ScratchDir& dir, Fn fn) {
  namespace fs = std::filesystem;
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::group_read |
                                  fs::perms::others_exec | fs::perms::others_read);
  const bool dropped = geteuid() == 0;
  if (dropped) {
    ASSERT_EQ(seteuid(65534), 0);
  }
  fn();
  if (dropped) {
    ASSERT_EQ(seteuid(0), 0);
  }
}

TEST_F(CertificateFallbackTest, GateReportUnreadableByPermissionIsAnError) {
  namespace fs = std::filesystem;
  put_good(3);
  root_.write(kGate, R"({"summary": {"can_proceed": true}})");
  const fs::path gate_folder = (root_ / kGate).parent_path();
  fs::permissions(gate_folder, fs::perms::none);
  CheckResult r;
  as_nobody(root_, [&] { r = result(spec(), 1); });
  fs::permissions(gate_folder, fs::perms::owner_all);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_NE(r.message.find(fmt::format("gate report '{}' could not be examined", kGate)),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("permission denied"), std::string::npos) << r.message;
}

TEST_F(CertificateFallbackTest, UnreadableCertificateIsAnErrorNotAPass) {
  namespace fs = std::filesystem;
  put_good(3);
  const fs::path cert = root_ / (std::string(kFolder) + "/episode_000002/quality_certificate.json");
  fs::permissions(cert, fs::perms::none);
  CheckResult r;
  as_nobody(root_, [&] { r = result(spec(), 2); });
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_NE(r.message.find("1 of 3 quality certificates could not be read under"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("episode_000002: could not be read"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["unreadable"], 1);
}

TEST_F(CertificateFallbackTest, UnreadableEpisodeFolderIsAnError) {
  namespace fs = std::filesystem;
  put_good(3);
  const fs::path folder = root_ / (std::string(kFolder) + "/episode_000002");
  fs::permissions(folder, fs::perms::none);
  CheckResult r;
  as_nobody(root_, [&] { r = result(spec(), 2); });
  fs::permissions(folder, fs::perms::owner_all);
  EXPECT_EQ(r.status, Status::error) << r.message;
  // The episode folders are not walked any more: the certificate inside the closed folder
  // cannot be read, which leaves the verdict open just as the stopped listing did.
  EXPECT_NE(r.message.find("1 of 3 quality certificates could not be read under"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("episode_000002: could not be read"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["unreadable"], 1);
}

TEST_F(CertificateFallbackTest, UnreadableEpisodesFolderIsAnError) {
  namespace fs = std::filesystem;
  put_good(3);
  const fs::path folder = root_ / kFolder;
  fs::permissions(folder, fs::perms::none);
  CheckResult r;
  as_nobody(root_, [&] { r = result(spec(), 2); });
  fs::permissions(folder, fs::perms::owner_all);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_NE(r.message.find(fmt::format("listing '{}/' stopped", kFolder)), std::string::npos)
      << r.message;
  EXPECT_EQ(r.details["listing_error"]["code"], "permission_denied");
}

TEST_F(CertificateFallbackTest, GateReportPathThatIsAFolderFails) {
  put_good(3);
  std::filesystem::create_directories(root_ / kGate);
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("could not be examined"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["gate_report"]["error"], "not_a_file");
}

TEST_F(CertificateFallbackTest, MessagesStayValidUtf8) {
  put_good(2);
  put("episode_\xff", certificate("episode_\xff"));  // Not UTF-8: a malformed certificate.
  std::string long_use = "x";  // Then 100 x U+00E9: a byte count of 80 would cut one in two.
  for (int i = 0; i < 100; ++i) long_use += "\xc3\xa9";
  put(episode_name(2), certificate(episode_name(2), "true", "\"" + long_use + "\""));
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NO_THROW((void)nlohmann::json(r.message).dump()) << r.message;
  EXPECT_NO_THROW((void)r.observed.dump())
      << r.observed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  EXPECT_NE(r.message.find("episode_\\xff: malformed JSON"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("\xc3\xa9...\" is not allowed"), std::string::npos) << r.message;
}

TEST_F(CertificateFallbackTest, SpecErrorsAreRefusedBeforeRunning) {
  for (const std::string& extra :
       {std::string("allowed_uses: [production_training, testing]"),
        std::string("allowed_uses: []"), std::string("min_certificates: 0")}) {
    RunOutcome out = run(spec(extra));
    EXPECT_EQ(out.exit_code, ExitCode::usage) << extra;
    EXPECT_EQ(out.error_code, Errc::spec_error) << extra << ": " << out.error;
  }
  // Quoted, so the loader does not replace it by the variable's value.
  RunOutcome bad_var = run(spec("", "'$scene_id'"));
  EXPECT_EQ(bad_var.exit_code, ExitCode::usage);
  EXPECT_NE(bad_var.error.find("expected_scene_id_var"), std::string::npos) << bad_var.error;
}

TEST_F(CertificateFallbackTest, CustomAllowedUses) {
  put_good(20);
  const CheckResult r = result(spec("allowed_uses: [production_training]"));
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("episode_000010: recommended_use \"fine_tuning\" is not allowed"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.observed["failed"], 2);
}

TEST_F(CertificateFallbackTest, DriverPassesAndFails) {
  put_good(50);
  root_.write("spec.yaml", spec());
  const std::string args =
      fmt::format("run '{}' --root '{}' --var scene_id={} -j 2", (root_ / "spec.yaml").string(),
                  root_.path().string(), kScene);
  DriverRun ok = run_driver(args);
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  put(episode_name(17), certificate(episode_name(17), "true", "\"testing\""));
  DriverRun bad = run_driver(args + " --format json");
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  nlohmann::json report = nlohmann::json::parse(bad.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << bad.out;
  bool found = false;
  for (const auto& r : report["results"]) {
    if (r["id"] == kCheckId) {
      found = true;
      EXPECT_EQ(r["status"], "fail");
      EXPECT_EQ(r["code"], "certificates_failed");
      EXPECT_NE(r["message"].get<std::string>().find("episode_000017: recommended_use"),
                std::string::npos);
    }
  }
  EXPECT_TRUE(found) << bad.out;
}

TEST_F(CertificateFallbackTest, DriverListsTheCheck) {
  DriverRun list = run_driver("list-checks");
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("certificate_fallback  [quality]"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("expected_scene_id_var"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The scanner, against parse_json.

const std::vector<std::string> kNames = {"episode_id", "scene_id", "validation_passed",
                                         "recommended_use"};

/// Scans `text` and parses it with parse_json; both must accept or both refuse, and accepted
/// documents must yield the same fields.
void expect_same_verdict(const std::string& text, int max_depth = 32) {
  LoadLimits limits;
  limits.max_depth = max_depth;
  Result<nlohmann::json> dom = parse_json(text, "t", limits);
  CertificateScanner scanner(kNames, max_depth);
  auto failure = scanner.scan(text);
  if (dom.ok() && failure && failure->reason == "unexpected 0x00 after the document") {
    // parse_json (nlohmann's lexer) takes a NUL byte where a token starts for the end of the
    // input, so it accepts `{...}\0anything`; the scanner refuses it, as it should.
    EXPECT_NE(text.find('\0'), std::string::npos);
    return;
  }
  ASSERT_EQ(dom.ok(), !failure.has_value())
      << "text: " << text << "\nparse_json: " << (dom ? "accepted" : dom.error().message)
      << "\nscanner: " << (failure ? failure->reason : "accepted");
  if (!dom) return;
  if (!dom->is_object()) {
    EXPECT_NE(scanner.root_kind(), JsonKind::object) << text;
    return;
  }
  EXPECT_EQ(scanner.root_kind(), JsonKind::object) << text;
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    const auto& field = scanner.fields()[i];
    auto it = dom->find(kNames[i]);
    if (it == dom->end()) {
      EXPECT_EQ(field.kind, JsonKind::absent) << kNames[i] << " in " << text;
    } else if (it->is_string()) {
      EXPECT_EQ(field.kind, JsonKind::string) << text;
      EXPECT_EQ(field.text, it->get<std::string>()) << text;
    } else if (it->is_boolean()) {
      EXPECT_EQ(field.kind, JsonKind::boolean) << text;
      EXPECT_EQ(field.boolean, it->get<bool>()) << text;
    } else if (it->is_null()) {
      EXPECT_EQ(field.kind, JsonKind::null) << text;
    } else if (it->is_number()) {
      EXPECT_EQ(field.kind, JsonKind::number) << text;
    } else if (it->is_array()) {
      EXPECT_EQ(field.kind, JsonKind::array) << text;
    } else {
      EXPECT_EQ(field.kind, JsonKind::object) << text;
    }
  }
}

TEST(CertificateScannerTest, AgreesWithParseJsonOnEdgeCases) {
  const std::vector<std::string> cases = {
      "",
      " ",
      "\n\t\r ",
      "{}",
      "[]",
      "null",
      "true",
      "1",
      "\"x\"",
      "{} ",
      " {}\n",
      "{}x",
      "{}{}",
      "\xEF\xBB\xBF{}",
      "{\"a\":1,}",
      "[1,]",
      "[,1]",
      "{,}",
      "{\"a\"}",
      "{\"a\":}",
      "{\"a\" 1}",
      "{a:1}",
      "{'a':1}",
      "{\"a\":1 \"b\":2}",
      "{\"a\":1}}",
      "[[]",
      "[]]",
      "[1 2]",
      R"({"a":1,"a":2})",
      R"({"a":{"b":1,"b":2}})",
      R"({"a":[{"b":1},{"b":2}]})",
      R"({"a":{"b":1},"b":{"a":1}})",
      R"({"\u0061":1,"a":2})",
      R"({"a\u0000":1,"a":2})",
      R"({"episode_id":"x","episode_id":"y"})",
      R"({"episode\u005fid":"x","episode_id":"y"})",
      R"({"episode\u005fid":"episode\u005f000001"})",
      "01",
      "-",
      "-0",
      "-01",
      "1.",
      ".5",
      "1e",
      "1e+",
      "1E5",
      "1e-5",
      "+1",
      "0x10",
      "1e308",
      "1e309",
      "-1e309",
      "1e400",
      "1e-400",
      "0.0000000001e-400",
      "0e99999999999999999999",
      "123456789012345678901234567890",
      std::string(308, '9'),
      std::string(309, '9'),
      std::string(400, '9'),
      "1.5e3000",
      "0.000000000000000000001e330",
      "NaN",
      "Infinity",
      "-Infinity",
      "tru",
      "truee",
      "nul",
      "nulL",
      "fals",
      "True",
      "\"abc",
      "\"a\\\"",
      "\"\\x\"",
      "\"\\u12\"",
      "\"\\u12G4\"",
      "\"\\uD800\"",
      "\"\\uD800\\u0041\"",
      "\"\\uDC00\"",
      "\"\\uD83D\\uDE00\"",
      "\"\\uD83D\\\"",
      "\"\\uD83D",
      "\"\\u00e9\"",
      "\"\t\"",
      "\"\x01\"",
      "\"\x7f\"",
      "\"\xC3\xA9\"",
      "\"\xC3\"",
      "\"\xC3x\"",
      "\"\xC0\x80\"",
      "\"\xC1\xBF\"",
      "\"\xE0\x80\x80\"",
      "\"\xE0\xA0\x80\"",
      "\"\xED\xA0\x80\"",
      "\"\xED\x9F\xBF\"",
      "\"\xF0\x8F\xBF\xBF\"",
      "\"\xF0\x90\x80\x80\"",
      "\"\xF4\x8F\xBF\xBF\"",
      "\"\xF4\x90\x80\x80\"",
      "\"\xF5\x80\x80\x80\"",
      "\"\xFF\"",
      "\"\x80\"",
      "\"\xE2\x82\"",
      "\"\\/\\b\\f\\n\\r\\t\\\\\"",
      "[1,2,[3,[4,[5]]]]",
      "{\"a\":[1,{\"b\":null}]}",
      "/* c */ {}",
      "{} // c",
      "[\"a\"\x00]",
      std::string("{\"a\":1}\0", 8),
      "{\"validation_passed\":\"true\"}",
      "{\"validation_passed\":true,\"recommended_use\":\"testing\"}",
      "{\"validation_passed\":1.5e2,\"recommended_use\":[1,2],\"scene_id\":{}}",
      "{\"recommended_use\":\"fine\\u005ftuning\"}"};
  for (const std::string& text : cases) expect_same_verdict(text);
  // Nesting at and beyond the limit.
  expect_same_verdict(std::string(32, '[') + std::string(32, ']'));
  expect_same_verdict(std::string(33, '[') + std::string(33, ']'));
  expect_same_verdict("{\"a\":" + std::string(31, '[') + std::string(31, ']') + "}");
  expect_same_verdict("{\"a\":" + std::string(32, '[') + std::string(32, ']') + "}");
  expect_same_verdict(std::string(100000, '['), 256);
  // An object with many keys (the hash set path), with and without a late duplicate.
  std::string many = "{";
  for (int i = 0; i < 500; ++i) many += fmt::format("\"k{}\":{},", i, i);
  expect_same_verdict(many + "\"k499x\":0}");
  expect_same_verdict(many + "\"k7\":0}");
  expect_same_verdict(many + "\"k\\u0037\":0}");
  // A good certificate.
  expect_same_verdict(certificate(episode_name(1)));
}

TEST(CertificateScannerTest, AgreesWithParseJsonOnRandomMutations) {
  const std::vector<std::string> seeds = {
      certificate(episode_name(1)),
      certificate(episode_name(2), "\"true\"", "\"fine_tuning\""),
      R"({"episode_id":"ep\u00e9\uD83D\uDE00","a":[1,-2.5e-3,true,false,null,{"b":"\"\\\/"}],)"
      R"("validation_passed":false,"recommended_use":"x\ty","n":{"n":{"n":[[[]]]}}})",
  };
  const std::string alphabet = std::string("{}[]\",:\\ \t\n0123456789eE+-.tfnrulsaxu") + '\0' +
                               "\x01\x1f\x7f\x80\xBF\xC2\xC3\xE0\xED\xEF\xF0\xF4\xF5\xFF";
  std::mt19937 rng(20250302);
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  int accepted = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string text = seeds[pick(seeds.size())];
    const std::size_t edits = 1 + pick(3);
    for (std::size_t e = 0; e < edits && !text.empty(); ++e) {
      const std::size_t at = pick(text.size());
      switch (pick(6)) {
        case 0:
          text.erase(at, 1);
          break;
        case 1:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at),
                      alphabet[pick(alphabet.size())]);
          break;
        case 2:
          text[at] = alphabet[pick(alphabet.size())];
          break;
        case 3:
          text.resize(at);
          break;
        case 4: {  // Repeat a slice: makes duplicate keys and odd nesting.
          const std::size_t len = std::min<std::size_t>(1 + pick(40), text.size() - at);
          text.insert(at + len, text.substr(at, len));
          break;
        }
        default: {  // Swap two bytes.
          std::swap(text[at], text[pick(text.size())]);
          break;
        }
      }
    }
    expect_same_verdict(text);
    if (::testing::Test::HasFailure()) {
      FAIL() << "iteration " << iteration;
    }
    accepted += parse_json(text, "t").ok() ? 1 : 0;
  }
  // The mutations must exercise both verdicts, or the comparison proves little.
  EXPECT_GT(accepted, 1000);
  EXPECT_LT(accepted, 19000);
}

}  // namespace
