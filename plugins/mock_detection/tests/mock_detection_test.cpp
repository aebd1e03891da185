// Tests for the `mock_detection` check: small specs run in-process against a scratch scene.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "stagecheck_test_support.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;
using Json = nlohmann::json;

const std::string kScene = "scenes/kitchen_001/episodes";
const std::string kReport = kScene + "/quality/validation_report.json";
const std::string kCertificates = kScene + "/quality/episodes";
const std::string kEpisodes = kScene + "/lerobot/meta/episodes.jsonl";
const std::string kInfo = kScene + "/lerobot/meta/info.json";
const std::string kManifest = kScene + "/dataset_quality_manifest.json";

std::string episode_id(std::size_t i) { return fmt::format("episode_{:06}", i); }

/// A validation report of a clean production run.
Json clean_report(std::size_t episodes = 3) {
  Json rows = Json::array();
  for (std::size_t i = 0; i < episodes; ++i) {
    rows.push_back({{"episode_id", episode_id(i)},
                    {"status", "passed"},
                    {"metrics", {{"task_success", true}, {"camera_data_present", true}}},
                    {"physics_backend", i % 2 ? "isaac_lab" : "isaac_sim"},
                    {"dev_only_fallback", false}});
  }
  return {{"scene_id", "kitchen_001"},
          {"summary", {{"total_episodes", episodes}, {"pass_rate", 1.0}, {"average_score", 0.93}}},
          {"physics_validation",
           {{"physx_used", true},
            {"physx_episode_count", episodes},
            {"non_physx_episode_count", 0},
            {"physics_backends", {"isaac_sim", "isaac_lab"}}}},
          {"episodes", rows}};
}

Json clean_certificate(std::size_t i) {
  return {{"episode_id", episode_id(i)},
          {"scene_id", "kitchen_001"},
          {"sensor_source", "isaac_sim_replicator"},
          {"physics_backend", "physx"},
          {"data_quality_level", "production"},
          {"training_suitability", "production"},
          {"recommended_use", "production_training"},
          {"overall_quality_score", 0.93},
          {"validation_passed", true},
          {"validation_warnings", Json::array({"minor jitter at frame 12"})},
          {"camera_count", 3}};
}

Json clean_info() {
  return {{"codebase_version", "v2.0"},
          {"data_quality",
           {{"physics_validated", true},
            {"sensor_source", "isaac_sim_replicator"},
            {"validation_type", "physx"},
            {"isaac_sim_used", true},
            {"warnings", Json::array()}}},
          {"lineage", {{"quality_gates", {{"bypass_enabled", false}}}}}};
}

Json clean_episode_row(std::size_t i) {
  return {{"episode_index", i}, {"task_index", 0}, {"task", "pick_mug"}, {"is_mock", false}};
}

std::string clean_episodes_jsonl(std::size_t rows) {
  std::string out;
  for (std::size_t i = 0; i < rows; ++i) out += clean_episode_row(i).dump() + "\n";
  return out;
}

Json clean_manifest(std::size_t episodes = 3) {
  Json rows = Json::array();
  for (std::size_t i = 0; i < episodes; ++i) {
    rows.push_back({{"episode_id", episode_id(i)},
                    {"suitability", i % 2 ? "fine_tuning" : "production"},
                    {"physics_backend", "physx"}});
  }
  return {{"scene_id", "kitchen_001"}, {"episodes", rows}};
}

/// A spec with one mock_detection check `s.mock` taking `params` (YAML lines, 8-space indent).
std::string spec(const std::string& params) {
  return R"(version: 1
name: mock-detection-test
vars:
  scene_id: {type: segment, default: kitchen_001}
stages:
  - id: s
    checks:
      - id: mock
        type: mock_detection
)" + params;
}

const std::string kReportParam =
    "        validation_report: scenes/${scene_id}/episodes/quality/validation_report.json\n";
const std::string kCertificatesParam =
    "        certificates: scenes/${scene_id}/episodes/quality/episodes\n";
const std::string kEpisodesParam =
    "        lerobot_episodes: scenes/${scene_id}/episodes/lerobot/meta/episodes.jsonl\n";
const std::string kInfoParam =
    "        lerobot_info: scenes/${scene_id}/episodes/lerobot/meta/info.json\n";
const std::string kManifestParam =
    "        quality_manifest: scenes/${scene_id}/episodes/dataset_quality_manifest.json\n";
const std::string kAllParams =
    kReportParam + kCertificatesParam + kEpisodesParam + kInfoParam + kManifestParam;

/// The finding with this file suffix, field and rule, or nullptr.
const Json* find_finding(const CheckResult& r, const std::string& field, const std::string& rule,
                         const std::string& file_suffix = "") {
  if (!r.details.contains("findings")) return nullptr;
  for (const Json& f : r.details["findings"]) {
    const std::string file = f["file"].get<std::string>();
    if (f["field"] == field && f["rule"] == rule &&
        (file_suffix.empty() ||
         (file.size() >= file_suffix.size() &&
          file.compare(file.size() - file_suffix.size(), file_suffix.size(), file_suffix) == 0))) {
      return &f;
    }
  }
  return nullptr;
}

class MockDetectionTest : public ::testing::Test {
 public:
  // Public so that the rule cases' planting functions can write into the scene.
  void SetUp() override { std::filesystem::create_directories(scratch_ / "store"); }

  void put(const std::string& path, const std::string& body) const {
    scratch_.write("store/" + path, body);
  }
  void put(const std::string& path, const Json& doc) const { put(path, doc.dump(1)); }
  void put(const std::string& path, const char* body) const { put(path, std::string(body)); }
  void put_certificates(std::size_t n, const std::function<void(std::size_t, Json&)>& edit = {}) {
    for (std::size_t i = 0; i < n; ++i) {
      Json c = clean_certificate(i);
      if (edit) edit(i, c);
      put(kCertificates + "/" + episode_id(i) + "/quality_certificate.json", c);
    }
  }
  /// Every source, clean.
  void put_clean_scene() {
    put(kReport, clean_report());
    put_certificates(4);
    put(kEpisodes, clean_episodes_jsonl(3));
    put(kInfo, clean_info());
    put(kManifest, clean_manifest());
  }

  RunOutcome run(const std::string& params, RunOptions options = {}) {
    return run_spec_text(spec(params), scratch_ / "store", {}, options);
  }
  /// The result of `out`, which must outlive it (hence no temporaries).
  static const CheckResult& result(RunOutcome&&) = delete;
  static const CheckResult& result(const RunOutcome& out) {
    if (!out.report) throw std::runtime_error("nothing ran: " + out.error);
    const CheckResult* r = find_result(*out.report, "s.mock");
    if (r == nullptr) throw std::runtime_error("no result s.mock");
    return *r;
  }

  ScratchDir scratch_;
};

TEST_F(MockDetectionTest, CleanValidationReportPasses) {
  put(kReport, clean_report(3));
  auto out = run(kReportParam);
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::pass);
  EXPECT_EQ(r.message, "no mock indicators in 1 artifact (3 episode rows, 0 certificates scanned)");
  EXPECT_EQ(r.observed["report_episodes"], 3);
  EXPECT_EQ(r.details["total_findings"], 0);
}

TEST_F(MockDetectionTest, CleanSceneWithEverySourcePasses) {
  put_clean_scene();
  auto out = run(kAllParams);
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.message,
            "no mock indicators in 8 artifacts (9 episode rows, 4 certificates scanned)");
  EXPECT_EQ(r.observed["certificates"], 4);
  EXPECT_EQ(r.observed["lerobot_episode_rows"], 3);
  EXPECT_EQ(r.observed["manifest_episodes"], 3);
  EXPECT_EQ(r.expected["rules"].size(), 20u);
}

// ---------------------------------------------------------------------------------------------
// One case per default rule: a clean scene with one crafted indicator. The check must fail with
// exactly that finding (file, field, rule), and pass once the rule is ignored.

struct RuleCase {
  std::string name;   ///< Test name suffix.
  std::string rule;   ///< Expected rule.
  std::string file;   ///< Store path the finding names.
  std::string field;  ///< Full JSON path the finding names.
  std::string text;   ///< In the message.
  std::function<void(MockDetectionTest&)> plant;
};

Json edit_report(const std::function<void(Json&)>& edit) {
  Json r = clean_report(3);
  edit(r);
  return r;
}

std::string cert_path(std::size_t i) {
  return kCertificates + "/" + episode_id(i) + "/quality_certificate.json";
}

std::vector<RuleCase> rule_cases() {
  std::vector<RuleCase> cases;
  auto report = [&](std::string name, std::string rule, std::string field, std::string text,
                    std::function<void(Json&)> edit) {
    cases.push_back({std::move(name), std::move(rule), kReport, std::move(field), std::move(text),
                     [edit](MockDetectionTest& t) { t.put(kReport, edit_report(edit)); }});
  };
  report("ReportPhysxUsedFalse", "report.physx_used", "physics_validation.physx_used",
         "physics_validation.physx_used = false, expected the boolean true",
         [](Json& r) { r["physics_validation"]["physx_used"] = false; });
  report("ReportNonPhysxEpisodes", "report.non_physx_episodes",
         "physics_validation.non_physx_episode_count",
         "physics_validation.non_physx_episode_count = 2, expected 0",
         [](Json& r) { r["physics_validation"]["non_physx_episode_count"] = 2; });
  report("ReportEpisodeBackendHeuristic", "report.physics_backend", "episodes[1].physics_backend",
         "episodes[1].physics_backend = \"heuristic\", expected one of [isaac_sim, isaac_lab]",
         [](Json& r) { r["episodes"][1]["physics_backend"] = "heuristic"; });
  report("ReportEpisodeBackendUnknown", "report.physics_backend", "episodes[2].physics_backend",
         "episodes[2].physics_backend = \"unknown\"",
         [](Json& r) { r["episodes"][2]["physics_backend"] = "unknown"; });
  report("ReportBackendListHeuristic", "report.physics_backend",
         "physics_validation.physics_backends[1]",
         "physics_validation.physics_backends[1] = \"heuristic\"",
         [](Json& r) { r["physics_validation"]["physics_backends"][1] = "heuristic"; });
  report("ReportDevOnlyFallback", "report.dev_only_fallback", "episodes[2].dev_only_fallback",
         "episodes[2].dev_only_fallback = true, expected the boolean false",
         [](Json& r) { r["episodes"][2]["dev_only_fallback"] = true; });
  report("ReportSummaryStatusMock", "report.summary_status", "summary.status",
         "summary.status = \"mock\"", [](Json& r) { r["summary"]["status"] = "mock"; });
  report("ReportNoCameraData", "report.camera_data", "episodes[0].metrics.camera_data_present",
         "episodes[0].metrics.camera_data_present = false, expected the boolean true",
         [](Json& r) { r["episodes"][0]["metrics"]["camera_data_present"] = false; });

  auto cert = [&](std::string name, std::string rule, std::string field, std::string text,
                  std::function<void(Json&)> edit) {
    cases.push_back({std::move(name), std::move(rule), cert_path(2), std::move(field),
                     std::move(text), [edit](MockDetectionTest& t) {
                       t.put_certificates(4, [&](std::size_t i, Json& c) {
                         if (i == 2) edit(c);
                       });
                     }});
  };
  cert("CertificateSensorMock", "certificate.sensor_source", "sensor_source",
       "sensor_source = \"mock\"", [](Json& c) { c["sensor_source"] = "mock"; });
  cert("CertificateSensorDisabled", "certificate.sensor_source", "sensor_source",
       "sensor_source = \"disabled\"", [](Json& c) { c["sensor_source"] = "disabled"; });
  cert("CertificatePhysicsHeuristic", "certificate.physics_backend", "physics_backend",
       "physics_backend = \"heuristic\", expected one of [physx]",
       [](Json& c) { c["physics_backend"] = "heuristic"; });
  cert("CertificateLevelDevelopment", "certificate.data_quality_level", "data_quality_level",
       "data_quality_level = \"development\"",
       [](Json& c) { c["data_quality_level"] = "development"; });
  cert("CertificateLevelTest", "certificate.data_quality_level", "data_quality_level",
       "data_quality_level = \"test\"", [](Json& c) { c["data_quality_level"] = "test"; });
  cert("CertificateDevelopmentOnly", "certificate.training_suitability", "training_suitability",
       "training_suitability = \"development_only\"",
       [](Json& c) { c["training_suitability"] = "development_only"; });
  cert("CertificateTestingUse", "certificate.recommended_use", "recommended_use",
       "recommended_use = \"testing\"", [](Json& c) { c["recommended_use"] = "testing"; });
  cert("CertificateNoCameras", "certificate.camera_count", "camera_count",
       "camera_count = 0, expected an integer > 0", [](Json& c) { c["camera_count"] = 0; });
  cert("CertificatePlaceholderNoise", "certificate.mock_warnings", "validation_warnings[1]",
       "validation_warnings[1] = \"RGB frames are placeholder noise\"",
       [](Json& c) { c["validation_warnings"].push_back("RGB frames are placeholder noise"); });
  cert("CertificateMockSensorCapture", "certificate.mock_warnings", "validation_warnings[0]",
       "validation_warnings[0] = \"captured by MockSensorCapture\"",
       [](Json& c) { c["validation_warnings"][0] = "captured by MockSensorCapture"; });

  cases.push_back({"EpisodesIsMock", "episodes.is_mock", kEpisodes, "[1].is_mock",
                   "line 2: [1].is_mock = true, expected the boolean false",
                   [](MockDetectionTest& t) {
                     Json row = clean_episode_row(1);
                     row["is_mock"] = true;
                     t.put(kEpisodes, clean_episode_row(0).dump() + "\n" + row.dump() + "\n" +
                                          clean_episode_row(2).dump() + "\n");
                   }});

  auto info = [&](std::string name, std::string rule, std::string field, std::string text,
                  std::function<void(Json&)> edit) {
    cases.push_back({std::move(name), std::move(rule), kInfo, std::move(field), std::move(text),
                     [edit](MockDetectionTest& t) {
                       Json i = clean_info();
                       edit(i);
                       t.put(kInfo, i);
                     }});
  };
  info("InfoSensorMockRandom", "info.sensor_source", "data_quality.sensor_source",
       "data_quality.sensor_source = \"mock_random\"",
       [](Json& i) { i["data_quality"]["sensor_source"] = "mock_random"; });
  info("InfoSensorNone", "info.sensor_source", "data_quality.sensor_source",
       "data_quality.sensor_source = \"none\"",
       [](Json& i) { i["data_quality"]["sensor_source"] = "none"; });
  info("InfoValidationHeuristic", "info.validation_type", "data_quality.validation_type",
       "data_quality.validation_type = \"heuristic\"",
       [](Json& i) { i["data_quality"]["validation_type"] = "heuristic"; });
  info("InfoValidationNone", "info.validation_type", "data_quality.validation_type",
       "data_quality.validation_type = \"none\"",
       [](Json& i) { i["data_quality"]["validation_type"] = "none"; });
  info("InfoIsaacSimNotUsed", "info.isaac_sim_used", "data_quality.isaac_sim_used",
       "data_quality.isaac_sim_used = false",
       [](Json& i) { i["data_quality"]["isaac_sim_used"] = false; });
  info("InfoGateBypass", "info.bypass_enabled", "lineage.quality_gates.bypass_enabled",
       "lineage.quality_gates.bypass_enabled = true, expected the boolean false",
       [](Json& i) { i["lineage"]["quality_gates"]["bypass_enabled"] = true; });

  auto manifest = [&](std::string name, std::string rule, std::string field, std::string text,
                      std::function<void(Json&)> edit) {
    cases.push_back({std::move(name), std::move(rule), kManifest, std::move(field), std::move(text),
                     [edit](MockDetectionTest& t) {
                       Json m = clean_manifest();
                       edit(m);
                       t.put(kManifest, m);
                     }});
  };
  manifest("ManifestDevOnly", "manifest.suitability", "episodes[2].suitability",
           "episodes[2].suitability = \"dev_only\"",
           [](Json& m) { m["episodes"][2]["suitability"] = "dev_only"; });
  manifest("ManifestHeuristicBackend", "manifest.physics_backend", "episodes[0].physics_backend",
           "episodes[0].physics_backend = \"heuristic\"",
           [](Json& m) { m["episodes"][0]["physics_backend"] = "heuristic"; });
  return cases;
}

/// Names a case in gtest's output instead of dumping its bytes.
void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class MockDetectionRuleTest : public MockDetectionTest,
                              public ::testing::WithParamInterface<RuleCase> {};

TEST_P(MockDetectionRuleTest, IndicatorIsFoundAndIgnoreSwitchesItOff) {
  const RuleCase& c = GetParam();
  put_clean_scene();
  c.plant(*this);
  auto out = run(kAllParams);
  const CheckResult& r = result(out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_EQ(r.details["total_findings"], 1) << r.details.dump(1);
  const Json* f = find_finding(r, c.field, c.rule, c.file);
  ASSERT_NE(f, nullptr) << r.details.dump(1);
  EXPECT_EQ((*f)["file"], c.file);
  EXPECT_EQ((*f)["kind"], "mock_value");
  EXPECT_NE(r.message.find(c.file), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(c.text), std::string::npos) << c.text << "\n" << r.message;
  EXPECT_NE(r.message.find("[" + c.rule + "]"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["mock_indicators"], 1);

  auto ignored = run(kAllParams + "        ignore: [" + c.rule + "]\n");
  if (c.rule == "episodes.is_mock") {
    // The only rule of its source: ignoring it would leave episodes.jsonl checked for nothing.
    EXPECT_EQ(ignored.exit_code, ExitCode::usage);
    EXPECT_NE(ignored.error.find("every rule for lerobot_episodes is ignored"), std::string::npos)
        << ignored.error;
    return;
  }
  const CheckResult& i = result(ignored);
  EXPECT_EQ(i.status, Status::pass) << i.message;
  EXPECT_EQ(i.details["ignored_rules"], Json::array({c.rule}));
}

INSTANTIATE_TEST_SUITE_P(MockDetectionDefaultRules, MockDetectionRuleTest,
                         ::testing::ValuesIn(rule_cases()),
                         [](const ::testing::TestParamInfo<RuleCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(MockDetectionRules, EveryDefaultRuleHasACase) {
  // The check's expected.rules lists every default rule; each must be planted above.
  ScratchDir scratch;
  scratch.write("store/" + kReport, clean_report().dump());
  auto out = run_spec_text(spec(kReportParam), scratch / "store");
  ASSERT_TRUE(out.report);
  const CheckResult* r = find_result(*out.report, "s.mock");
  ASSERT_NE(r, nullptr);
  std::set<std::string> planted;
  for (const RuleCase& c : rule_cases()) planted.insert(c.rule);
  for (const Json& rule : r->expected["rules"]) {
    EXPECT_EQ(planted.count(rule.get<std::string>()), 1u) << "no test case for " << rule;
  }
  EXPECT_EQ(planted.size(), r->expected["rules"].size());
}

// ---------------------------------------------------------------------------------------------
// Every row, every certificate.

TEST_F(MockDetectionTest, IndicatorOnTheLastOf500CertificatesIsFound) {
  put_certificates(500, [](std::size_t i, Json& c) {
    if (i == 499) c["sensor_source"] = "mock";
  });
  RunOptions options;
  options.jobs = 4;  // the check may scan certificates in parallel; findings stay in order
  auto out = run(kCertificatesParam, options);
  const CheckResult& r = result(out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.observed["certificates"], 500);
  EXPECT_EQ(r.details["total_findings"], 1);
  const Json* f = find_finding(r, "sensor_source", "certificate.sensor_source", cert_path(499));
  ASSERT_NE(f, nullptr) << r.details.dump(1);
  EXPECT_EQ((*f)["value"], "mock");
  EXPECT_NE(r.message.find(cert_path(499) + ": sensor_source = \"mock\""), std::string::npos)
      << r.message;

  put_certificates(500);
  auto clean = run(kCertificatesParam, options);
  EXPECT_EQ(result(clean).status, Status::pass) << result(clean).message;
  EXPECT_EQ(result(clean).message,
            "no mock indicators in 500 artifacts (0 episode rows, 500 certificates scanned)");
}

TEST_F(MockDetectionTest, IsMockOnLine300OfEpisodesJsonlIsFound) {
  std::string body;
  for (std::size_t i = 0; i < 400; ++i) {
    Json row = clean_episode_row(i);
    if (i == 299) row["is_mock"] = true;
    body += row.dump() + "\n";
  }
  put(kEpisodes, body);
  auto out = run(kEpisodesParam);
  const CheckResult& r = result(out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.observed["lerobot_episode_rows"], 400);
  const Json* f = find_finding(r, "[299].is_mock", "episodes.is_mock", kEpisodes);
  ASSERT_NE(f, nullptr) << r.details.dump(1);
  EXPECT_EQ((*f)["line"], 300);
  EXPECT_NE(r.message.find(kEpisodes + " line 300: [299].is_mock = true"), std::string::npos)
      << r.message;

  // With a blank line before it, the row index stays 299 and the line becomes 301.
  put(kEpisodes, clean_episode_row(0).dump() + "\n\n" + body.substr(body.find('\n') + 1));
  auto r2_out = run(kEpisodesParam);
  const CheckResult& r2 = result(r2_out);
  ASSERT_EQ(r2.status, Status::fail);
  const Json* f2 = find_finding(r2, "[299].is_mock", "episodes.is_mock");
  ASSERT_NE(f2, nullptr) << r2.details.dump(1);
  EXPECT_EQ((*f2)["line"], 301);
}

TEST_F(MockDetectionTest, WrongTypesAreFindingsNotSilentPasses) {
  Json report = clean_report();
  report["physics_validation"]["physx_used"] = "true";  // a string, even a truthy one
  report["episodes"][1]["dev_only_fallback"] = "false";
  report["physics_validation"]["non_physx_episode_count"] = "0";
  report["episodes"][2]["metrics"] = "n/a";
  put(kReport, report);
  put_certificates(2, [](std::size_t i, Json& c) {
    if (i == 1) c["camera_count"] = "3";
  });
  put(kEpisodes, R"({"episode_index": 0, "is_mock": "false"})"
                 "\n");
  auto out = run(kReportParam + kCertificatesParam + kEpisodesParam);
  const CheckResult& r = result(out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.details["total_findings"], 6) << r.details.dump(1);
  EXPECT_EQ(r.observed["mock_indicators"], 0);
  for (const auto& [field, rule] : std::vector<std::pair<std::string, std::string>>{
           {"physics_validation.physx_used", "report.physx_used"},
           {"episodes[1].dev_only_fallback", "report.dev_only_fallback"},
           {"physics_validation.non_physx_episode_count", "report.non_physx_episodes"},
           {"episodes[2].metrics.camera_data_present", "report.camera_data"},
           {"camera_count", "certificate.camera_count"},
           {"[0].is_mock", "episodes.is_mock"}}) {
    const Json* f = find_finding(r, field, rule);
    ASSERT_NE(f, nullptr) << field << "\n" << r.details.dump(1);
    EXPECT_EQ((*f)["kind"], "wrong_type") << field;
  }
  EXPECT_NE(r.message.find("physics_validation.physx_used = \"true\" (string), expected the "
                           "boolean true"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("episodes[2].metrics.camera_data_present cannot be read: "
                           "episodes[2].metrics is string, not an object"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("[0].is_mock = \"false\" (string), expected the boolean false"),
            std::string::npos)
      << r.message;
}

TEST_F(MockDetectionTest, MissingFieldsAreFindings) {
  Json report = clean_report();
  report["episodes"][1].erase("dev_only_fallback");
  report["episodes"][2].erase("metrics");
  put(kReport, report);
  put(kEpisodes, R"({"episode_index": 0})"
                 "\n");
  auto r_out = run(kReportParam + kEpisodesParam);
  const CheckResult& r = result(r_out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  for (const auto& [field, rule] : std::vector<std::pair<std::string, std::string>>{
           {"episodes[1].dev_only_fallback", "report.dev_only_fallback"},
           {"episodes[2].metrics.camera_data_present", "report.camera_data"},
           {"[0].is_mock", "episodes.is_mock"}}) {
    const Json* f = find_finding(r, field, rule);
    ASSERT_NE(f, nullptr) << field << "\n" << r.details.dump(1);
    EXPECT_EQ((*f)["kind"], "missing");
  }
  EXPECT_NE(r.message.find("episodes[1].dev_only_fallback is missing, expected the boolean false"),
            std::string::npos)
      << r.message;
}

TEST_F(MockDetectionTest, EmptyOrShapelessDataFails) {
  Json report = clean_report();
  report["episodes"] = Json::array();
  put(kReport, report);
  put(kEpisodes, "\n\n");
  put(kManifest, Json::array());
  auto r_out = run(kReportParam + kEpisodesParam + kManifestParam);
  const CheckResult& r = result(r_out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(find_finding(r, "episodes", "schema", kReport), nullptr) << r.details.dump(1);
  EXPECT_NE(find_finding(r, "", "schema", kEpisodes), nullptr) << r.details.dump(1);
  EXPECT_NE(find_finding(r, "", "schema", kManifest), nullptr) << r.details.dump(1);
  EXPECT_NE(r.message.find(kEpisodes + ": holds no episode rows"), std::string::npos) << r.message;
}

TEST_F(MockDetectionTest, FolderWithoutCertificatesFails) {
  put(kCertificates + "/README.txt", "no certificates here");
  auto r_out = run(kCertificatesParam);
  const CheckResult& r = result(r_out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find(kCertificates + "/: holds no <episode_id>/quality_certificate.json"),
            std::string::npos)
      << r.message;
}

// ---------------------------------------------------------------------------------------------
// Sources: missing, optional, malformed.

TEST_F(MockDetectionTest, MissingNonOptionalSourceFails) {
  put(kReport, clean_report());
  auto out = run(kReportParam + kInfoParam);
  const CheckResult& r = result(out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  const Json* f = find_finding(r, "", "source_missing", kInfo);
  ASSERT_NE(f, nullptr) << r.details.dump(1);
  EXPECT_NE(r.message.find(kInfo + ": is missing"), std::string::npos) << r.message;
  // The report was still scanned.
  EXPECT_EQ(r.observed["report_episodes"], 3);
}

TEST_F(MockDetectionTest, AbsentOptionalSourcesAreSkippedAndSaidSo) {
  const std::string declared = R"(version: 1
name: t
artifacts:
  report: {path: scenes/kitchen_001/episodes/quality/validation_report.json, optional: true}
  info: {path: scenes/kitchen_001/episodes/lerobot/meta/info.json, optional: true}
stages:
  - id: s
    checks:
      - id: mock
        type: mock_detection
        validation_report: report
        lerobot_info: info
)";
  auto none = run_spec_text(declared, scratch_ / "store");
  const CheckResult& n = result(none);
  EXPECT_EQ(n.status, Status::skipped) << n.message;
  EXPECT_NE(n.message.find("every configured source is absent and optional"), std::string::npos)
      << n.message;
  EXPECT_EQ(n.details["skipped_sources"].size(), 2u);

  put(kReport, clean_report());
  auto some = run_spec_text(declared, scratch_ / "store");
  const CheckResult& s = result(some);
  EXPECT_EQ(s.status, Status::pass) << s.message;
  EXPECT_NE(s.message.find("absent optional source skipped: lerobot_info"), std::string::npos)
      << s.message;
  ASSERT_EQ(s.details["skipped_sources"].size(), 1u);
  EXPECT_EQ(s.details["skipped_sources"][0]["path"], kInfo);

  // Present but malformed: optional does not excuse it.
  put(kInfo, "{\"data_quality\": ");
  auto m_out = run_spec_text(declared, scratch_ / "store");
  const CheckResult& m = result(m_out);
  EXPECT_EQ(m.status, Status::fail) << m.message;
  EXPECT_NE(find_finding(m, "", "malformed", kInfo), nullptr) << m.details.dump(1);
}

TEST_F(MockDetectionTest, MalformedSourcesFailNamingThem) {
  put(kReport, "{\"summary\": {}");
  std::string body = clean_episodes_jsonl(4);
  std::size_t third = 0;
  for (int i = 0; i < 2; ++i) third = body.find('\n', third) + 1;
  body.insert(third, "{not json}\n");
  put(kEpisodes, body);
  put_certificates(3);
  put(cert_path(1), "[1, 2");
  auto r_out = run(kReportParam + kEpisodesParam + kCertificatesParam);
  const CheckResult& r = result(r_out);
  ASSERT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(find_finding(r, "", "malformed", kReport), nullptr) << r.details.dump(1);
  const Json* line = find_finding(r, "[2]", "malformed", kEpisodes);
  ASSERT_NE(line, nullptr) << r.details.dump(1);
  EXPECT_EQ((*line)["line"], 3);
  EXPECT_EQ((*line)["kind"], "source");
  EXPECT_NE(find_finding(r, "", "malformed", cert_path(1)), nullptr) << r.details.dump(1);
  EXPECT_NE(r.message.find(cert_path(1)), std::string::npos) << r.message;
  // The other certificates and rows were still scanned.
  EXPECT_EQ(r.observed["certificates"], 2);
  EXPECT_EQ(r.observed["lerobot_episode_rows"], 5);
}

TEST_F(MockDetectionTest, FindingsAreCappedButCounted) {
  std::string body;
  for (std::size_t i = 0; i < 1500; ++i) {
    Json row = clean_episode_row(i);
    row["is_mock"] = true;
    body += row.dump() + "\n";
  }
  put(kEpisodes, body);
  auto r_out = run(kEpisodesParam);
  const CheckResult& r = result(r_out);
  ASSERT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.details["total_findings"], 1500);
  EXPECT_EQ(r.details["findings"].size(), 1000u);
  EXPECT_EQ(r.details["findings_truncated"], true);
  EXPECT_NE(r.message.find("1500 findings (1500 mock indicators"), std::string::npos)
      << r.message.substr(0, 200);
  EXPECT_NE(r.message.find("... and 1480 more (details.findings)"), std::string::npos);
  EXPECT_EQ(r.details["findings"][999]["field"], "[999].is_mock");
}

TEST_F(MockDetectionTest, AMockValueIsKeptBehindAFloodOfMissingFields) {
  std::string body;
  for (std::size_t i = 0; i < 1200; ++i) body += Json{{"episode_index", i}}.dump() + "\n";
  Json row = clean_episode_row(1200);
  row["is_mock"] = true;
  body += row.dump() + "\n";
  put(kEpisodes, body);
  auto out = run(kEpisodesParam);
  const CheckResult& r = result(out);
  ASSERT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.details["total_findings"], 1201);
  EXPECT_EQ(r.details["findings"].size(), 1000u);
  EXPECT_EQ(r.details["findings"][0]["field"], "[1200].is_mock");
  EXPECT_EQ(r.details["findings"][0]["line"], 1201);
  EXPECT_NE(r.message.find("line 1201: [1200].is_mock = true"), std::string::npos)
      << r.message.substr(0, 300);
}

// ---------------------------------------------------------------------------------------------
// Load-time validation.

TEST_F(MockDetectionTest, FactoryRejectsBadConfigurations) {
  struct Case {
    std::string params;
    std::string message;
  };
  for (const Case& c : {
           Case{"        physics_backends: [isaac_sim]\n", "source: give at least one source"},
           Case{kReportParam + "        ignore: [report.nope]\n",
                "ignore: unknown rule 'report.nope' (rules: report.physx_used,"},
           Case{kReportParam + "        ignore: [schema]\n",
                "ignore: 'schema' guards reading the sources and cannot be ignored"},
           Case{kInfoParam + "        ignore: [info.sensor_source, info.validation_type, "
                             "info.isaac_sim_used, info.bypass_enabled]\n",
                "ignore: every rule for lerobot_info is ignored"},
           Case{kReportParam + "        physics_backends: []\n",
                "physics_backends: is empty; to stop this check, write `ignore: "
                "[report.physics_backend]` instead"},
           Case{kReportParam + "        mock_sensor_sources: [\"\"]\n",
                "mock_sensor_sources: holds an empty name"},
       }) {
    auto out = run(c.params);
    EXPECT_EQ(out.exit_code, ExitCode::usage) << c.params;
    EXPECT_NE(out.error.find("check 's.mock': " + c.message), std::string::npos) << c.params << "\n"
                                                                                 << out.error;
  }
}

TEST_F(MockDetectionTest, CustomAllowListsApply) {
  Json report = clean_report();
  report["episodes"][0]["physics_backend"] = "isaac_lab";
  report["episodes"][1]["physics_backend"] = "isaac_lab";
  report["episodes"][2]["physics_backend"] = "isaac_sim";
  put(kReport, report);
  auto r_out = run(kReportParam + "        physics_backends: [isaac_lab]\n");
  const CheckResult& r = result(r_out);
  ASSERT_EQ(r.status, Status::fail);
  EXPECT_NE(find_finding(r, "episodes[2].physics_backend", "report.physics_backend"), nullptr);
  EXPECT_NE(find_finding(r, "physics_validation.physics_backends[0]", "report.physics_backend"),
            nullptr);
  EXPECT_EQ(r.details["total_findings"], 2) << r.details.dump(1);
}

// ---------------------------------------------------------------------------------------------
// The pipeline's own golden mock scene, read in place and laid out as a scene in a scratch
// store: mock_detection must flag it by file and field.

TEST(MockDetectionGolden, PipelineMockSceneIsFlagged) {
  const std::filesystem::path golden = std::filesystem::path(STAGECHECK_SOURCE_DIR) /
                                       "../shared/fixtures/pipeline-golden/mock_scene/expected/"
                                       "episode_generation";
  if (!std::filesystem::exists(golden / "quality/validation_report.json")) {
    GTEST_SKIP() << "the pipeline's golden fixtures are not present at " << golden.string()
                 << "; this test needs /work/shared/fixtures/pipeline-golden/mock_scene";
  }
  ScratchDir scratch;
  const std::string base = "store/scenes/mock_scene/episodes";
  std::filesystem::create_directories(scratch / (base + "/quality"));
  std::filesystem::create_directories(scratch / (base + "/lerobot"));
  std::filesystem::copy_file(golden / "quality/validation_report.json",
                             scratch / (base + "/quality/validation_report.json"));
  scratch.copy_tree(golden / "lerobot/meta", base + "/lerobot/meta");

  auto out = run_spec_text(R"(version: 1
name: golden-mock-scene
vars:
  scene_id: {type: segment, required: true}
stages:
  - id: episodes
    checks:
      - id: no_mock_data
        type: mock_detection
        validation_report: scenes/${scene_id}/episodes/quality/validation_report.json
        lerobot_episodes: scenes/${scene_id}/episodes/lerobot/meta/episodes.jsonl
        lerobot_info: scenes/${scene_id}/episodes/lerobot/meta/info.json
)",
                           scratch / "store", {{"scene_id", "mock_scene"}});
  ASSERT_TRUE(out.report) << out.error;
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  const CheckResult* r = find_result(*out.report, "episodes.no_mock_data");
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->status, Status::fail) << r->message;
  const std::string report = "scenes/mock_scene/episodes/quality/validation_report.json";
  // The report says so itself...
  const Json* status = find_finding(*r, "summary.status", "report.summary_status", report);
  ASSERT_NE(status, nullptr) << r->details.dump(1);
  EXPECT_EQ((*status)["value"], "mock");
  EXPECT_EQ((*status)["kind"], "mock_value");
  EXPECT_NE(r->message.find(report + ": summary.status = \"mock\""), std::string::npos)
      << r->message;
  // ...and carries no evidence of physics validation or real capture.
  const Json* physx =
      find_finding(*r, "physics_validation.physx_used", "report.physx_used", report);
  ASSERT_NE(physx, nullptr) << r->details.dump(1);
  EXPECT_EQ((*physx)["kind"], "missing");
  EXPECT_EQ((*physx)["problem"], "is missing (physics_validation is absent)");
  // The mock value is listed first, ahead of the missing fields.
  EXPECT_EQ(r->details["findings"][0]["field"], "summary.status");
  EXPECT_NE(find_finding(*r, "episodes", "schema", report), nullptr);
  EXPECT_NE(find_finding(*r, "[0].is_mock", "episodes.is_mock",
                         "scenes/mock_scene/episodes/lerobot/meta/episodes.jsonl"),
            nullptr);
  EXPECT_NE(find_finding(*r, "data_quality.sensor_source", "info.sensor_source",
                         "scenes/mock_scene/episodes/lerobot/meta/info.json"),
            nullptr);
}

}  // namespace
