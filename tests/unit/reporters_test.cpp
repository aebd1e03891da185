// Tests of the exit-code rule and of the console, JSON and JUnit reporters. The reporters'
// output for a hand-built report is compared byte for byte with tests/golden/*; run with
// STAGECHECK_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change (and review
// the diff).

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdlib>  // setenv, unsetenv, posix_openpt, grantpt, unlockpt, ptsname
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stagecheck/check_result.hpp"
#include "stagecheck/console_reporter.hpp"
#include "stagecheck/json_reporter.hpp"
#include "stagecheck/junit_reporter.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/reporter.hpp"
#include "stagecheck/status.hpp"
#include "stagecheck/version.hpp"

#ifndef STAGECHECK_SOURCE_DIR
#error "STAGECHECK_SOURCE_DIR must be defined as a string literal naming the repository root"
#endif

namespace stagecheck {
namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// --- fixtures ----------------------------------------------------------------------------

CheckResult make_result(std::string stage, const std::string& check, std::string type,
                        Status status, std::string message, double duration_ms) {
  CheckResult result;
  result.id = stage + "." + check;
  result.stage = std::move(stage);
  result.type = std::move(type);
  result.status = status;
  result.severity = status == Status::warn ? Severity::warning : Severity::error;
  result.message = std::move(message);
  result.duration_ms = duration_ms;
  return result;
}

StageResult make_stage(std::string id, std::string name, Status status, std::string reason,
                       double duration_ms) {
  StageResult stage;
  stage.id = std::move(id);
  stage.name = std::move(name);
  stage.status = status;
  stage.reason = std::move(reason);
  stage.duration_ms = duration_ms;
  return stage;
}

/// A report with one passing stage, one failing stage (fail, warn and error results), one
/// skipped and one blocked stage; NaN and infinities in an observed value; and a message full
/// of XML-hostile characters, including a control character.
Report sample_report() {
  Report report;
  report.tool_version = "0.1.0";
  report.spec_name = "scene-e2e";
  report.spec_source = "examples/quickstart/spec.yaml";
  report.spec_hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  report.root = "/data/scene";
  report.vars = json{{"scene", "kitchen_001"}, {"api_token", "<redacted>"}};
  report.started_at = "2024-05-01T12:00:00Z";
  report.duration_ms = 12.345;

  report.stages = {
      make_stage("ingest", "Ingest", Status::pass, "", 1.25),
      make_stage("episodes", "Episodes", Status::fail, "", 5.8),
      make_stage("import", "Import", Status::skipped, "skip_if: vars.skip_import is true", 0),
      make_stage("publish", "Publish", Status::blocked, "depends on episodes, which failed", 0),
  };

  CheckResult marker = make_result("ingest", "marker", "marker", Status::pass,
                                   "scenes/kitchen_001/.ingest_complete exists (2 bytes)", 0.125);
  marker.description = "The ingest stage wrote its completion marker";
  marker.artifacts = {"scenes/kitchen_001/.ingest_complete"};
  marker.observed = json{{"size", 2}};

  CheckResult manifest = make_result("ingest", "manifest", "json", Status::pass,
                                     "manifest.scene_count = 1, expected == 1", 0.5);
  manifest.artifacts = {"scenes/kitchen_001/manifest.json"};
  manifest.expected = json{{"op", "=="}, {"value", 1}};
  manifest.observed = 1;

  CheckResult validation = make_result("episodes", "validation", "json", Status::fail,
                                       "summary.pass_rate = 0.85, expected >= 0.9", 1.25);
  validation.artifacts = {"scenes/kitchen_001/episodes/quality/validation_report.json"};
  validation.expected = json{{"op", ">="}, {"value", 0.9}};
  validation.observed = 0.85;
  validation.details = json{{"field", "summary.pass_rate"}};

  CheckResult timing = make_result("episodes", "timing", "json", Status::warn,
                                   "frame_dt statistics are not finite\n"
                                   "see frames <&> \"quoted\" and 'apostrophes'",
                                   0.75);
  timing.artifacts = {"scenes/kitchen_001/episodes/stats.json"};
  timing.expected = json{{"op", "finite"}};
  timing.observed = json{{"mean", kNaN}, {"max", kInf}, {"min", -kInf}, {"n", 3}};

  CheckResult labels = make_result("episodes", "labels", "file", Status::error,
                                   "cannot read labels <&>\"'\x01: permission denied", 2.0);
  labels.artifacts = {"scenes/kitchen_001/episodes/labels & tags.json"};

  CheckResult import_manifest = make_result("import", "manifest", "json", Status::skipped,
                                            "skip_if: vars.skip_import is true", 0);
  CheckResult upload = make_result("publish", "upload", "marker", Status::blocked,
                                   "depends on episodes, which failed", 0);

  report.results = {marker, manifest, validation, timing, labels, import_manifest, upload};
  report.summary = summarize(report.results);
  report.exit_code = compute_exit_code(report.summary, report.fail_on_warn, report.interrupted);
  return report;
}

RunInfo run_info(const Report& report) {
  RunInfo info;
  info.spec_name = report.spec_name;
  info.spec_source = report.spec_source;
  info.root = report.root;
  info.check_count = report.results.size();
  info.started_at = report.started_at;
  return info;
}

/// Drives a reporter through a run exactly as the runner does.
void drive(Reporter& reporter, const Report& report) {
  reporter.begin(run_info(report));
  for (const CheckResult& result : report.results) reporter.on_result(result);
  reporter.end(report);
}

std::string console_output(const Report& report, ConsoleOptions options) {
  std::ostringstream out;
  ConsoleReporter reporter(out, options);
  drive(reporter, report);
  return out.str();
}

ConsoleOptions golden_options() {
  ConsoleOptions options;
  options.color = false;
  options.quiet = false;
  options.timings = false;
  return options;
}

/// Replaces what legitimately changes between builds (the linked library's version).
std::string normalise(std::string text) {
  const std::string from = "stagecheck " + std::string(version()) + ":";
  const std::string to = "stagecheck @VERSION@:";
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
  return text;
}

void expect_golden(const std::string& name, const std::string& actual) {
  const std::filesystem::path path =
      std::filesystem::path(STAGECHECK_SOURCE_DIR) / "tests" / "golden" / name;
  const char* update = std::getenv("STAGECHECK_UPDATE_GOLDEN");
  if (update != nullptr && std::string_view(update) == "1") {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file " << path
                  << " (run with STAGECHECK_UPDATE_GOLDEN=1 to create it)";
  // Sized read rather than istreambuf_iterator, which trips GCC 12's -Wnull-dereference.
  std::string expected(std::filesystem::file_size(path), '\0');
  in.read(expected.data(), static_cast<std::streamsize>(expected.size()));
  EXPECT_EQ(expected, actual) << "output differs from " << path
                              << " (STAGECHECK_UPDATE_GOLDEN=1 rewrites it)";
}

/// Minimal XML well-formedness check for the subset the JUnit reporter writes: balanced
/// elements, quoted attributes without raw '<', entities only from the predefined set or
/// numeric, and no character XML 1.0 forbids. Returns an error description, or "" if fine.
std::string xml_problem(std::string_view xml) {
  const auto valid_entity = [](std::string_view rest) {
    for (std::string_view entity : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
      if (rest.substr(0, entity.size()) == entity) return true;
    }
    if (rest.substr(0, 2) != "&#") return false;
    std::size_t i = 2;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    return i > 2 && i < rest.size() && rest[i] == ';';
  };
  for (char c : xml) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      return "control character " + std::to_string(byte);
    }
  }
  const std::string_view declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  if (xml.substr(0, declaration.size()) != declaration) return "no XML declaration";
  std::vector<std::string> open;
  std::size_t i = declaration.size();
  while (i < xml.size()) {
    if (xml[i] == '&') {
      if (!valid_entity(xml.substr(i))) return "bad entity in text at " + std::to_string(i);
      ++i;
      continue;
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    const bool closing = i + 1 < xml.size() && xml[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    std::string name;
    while (j < xml.size() && xml[j] != ' ' && xml[j] != '>' && xml[j] != '/') name += xml[j++];
    if (name.empty()) return "empty tag name at " + std::to_string(i);
    bool self_closing = false;
    for (;;) {
      if (j >= xml.size()) return "unterminated tag " + name;
      const char c = xml[j];
      if (c == '>') break;
      if (c == '"' || c == '\'') {
        const std::size_t end = xml.find(c, j + 1);
        if (end == std::string_view::npos) return "unterminated attribute in " + name;
        const std::string_view value = xml.substr(j + 1, end - j - 1);
        if (value.find('<') != std::string_view::npos) return "raw '<' in attribute of " + name;
        for (std::size_t k = 0; k < value.size(); ++k) {
          if (value[k] == '&' && !valid_entity(value.substr(k))) {
            return "bad entity in attribute of " + name;
          }
        }
        j = end + 1;
        continue;
      }
      if (c == '<') return "raw '<' inside tag " + name;
      self_closing = c == '/';
      ++j;
    }
    if (closing) {
      if (open.empty() || open.back() != name) return "mismatched </" + name + ">";
      open.pop_back();
    } else if (!self_closing) {
      open.push_back(name);
    }
    i = j + 1;
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  return "";
}

/// The value of attribute `name` in the first start tag that begins with `tag_prefix`.
std::optional<std::string> attribute(std::string_view xml, std::string_view tag_prefix,
                                     std::string_view name) {
  const std::size_t tag = xml.find(tag_prefix);
  if (tag == std::string_view::npos) return std::nullopt;
  const std::string_view element = xml.substr(tag, xml.find('>', tag) - tag);
  const std::string key = " " + std::string(name) + "=\"";
  const std::size_t at = element.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const std::size_t begin = at + key.size();
  return std::string(element.substr(begin, element.find('"', begin) - begin));
}

/// Sets or unsets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// A file descriptor closed at the end of the scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// --- the exit-code rule ------------------------------------------------------------------

struct ExitCase {
  const char* name;
  std::vector<Status> statuses;
  bool fail_on_warn;
  bool interrupted;
  ExitCode expected;
};

class ExitCodeRule : public ::testing::TestWithParam<ExitCase> {};

TEST_P(ExitCodeRule, FollowsTheDocumentedTable) {
  const ExitCase& c = GetParam();
  std::vector<CheckResult> results;
  for (Status status : c.statuses) {
    CheckResult result;
    result.status = status;
    results.push_back(result);
  }
  const Summary summary = summarize(results);
  EXPECT_EQ(summary.total, c.statuses.size());
  EXPECT_EQ(static_cast<int>(compute_exit_code(summary, c.fail_on_warn, c.interrupted)),
            static_cast<int>(c.expected));
}

using S = Status;
INSTANTIATE_TEST_SUITE_P(
    Table, ExitCodeRule,
    ::testing::Values(
        ExitCase{"all_pass", {S::pass, S::pass, S::pass}, false, false, ExitCode::pass},
        ExitCase{"one_fail", {S::pass, S::fail, S::pass}, false, false, ExitCode::fail},
        ExitCase{"fail_and_error", {S::fail, S::error, S::pass}, false, false, ExitCode::fail},
        ExitCase{"error_only", {S::error}, false, false, ExitCode::no_verdict},
        ExitCase{"error_with_passes", {S::pass, S::error}, false, false, ExitCode::no_verdict},
        ExitCase{"all_skipped", {S::skipped, S::skipped}, false, false, ExitCode::no_verdict},
        ExitCase{"zero_checks", {}, false, false, ExitCode::no_verdict},
        ExitCase{"pass_and_skipped", {S::pass, S::skipped}, false, false, ExitCode::pass},
        ExitCase{"warn_only", {S::warn}, false, false, ExitCode::pass},
        ExitCase{"warn_with_fail_on_warn", {S::warn}, true, false, ExitCode::fail},
        ExitCase{"pass_with_fail_on_warn", {S::pass}, true, false, ExitCode::pass},
        ExitCase{"fail_and_blocked", {S::fail, S::blocked}, false, false, ExitCode::fail},
        ExitCase{"error_and_blocked", {S::error, S::blocked}, false, false, ExitCode::no_verdict},
        ExitCase{"interrupted_with_passes", {S::pass, S::pass}, false, true, ExitCode::no_verdict},
        ExitCase{"interrupted_with_a_fail", {S::pass, S::fail}, false, true, ExitCode::fail}),
    [](const ::testing::TestParamInfo<ExitCase>& param) { return std::string(param.param.name); });

TEST(Summarize, CountsEveryStatus) {
  const Summary s = sample_report().summary;
  EXPECT_EQ(s.total, 7u);
  EXPECT_EQ(s.pass, 2u);
  EXPECT_EQ(s.fail, 1u);
  EXPECT_EQ(s.warn, 1u);
  EXPECT_EQ(s.skipped, 1u);
  EXPECT_EQ(s.blocked, 1u);
  EXPECT_EQ(s.error, 1u);
  EXPECT_EQ(s.evaluated(), 4u);
}

TEST(Verdict, NamesTheExitCode) {
  Report report;
  report.exit_code = ExitCode::pass;
  EXPECT_EQ(report.verdict(), "pass");
  report.exit_code = ExitCode::fail;
  EXPECT_EQ(report.verdict(), "fail");
  report.exit_code = ExitCode::no_verdict;
  EXPECT_EQ(report.verdict(), "no_verdict");
  report.exit_code = ExitCode::usage;
  EXPECT_EQ(report.verdict(), "usage_error");
}

// --- golden files ------------------------------------------------------------------------

TEST(Golden, ConsolePlain) {
  expect_golden("console_plain.txt", normalise(console_output(sample_report(), golden_options())));
}

TEST(Golden, ConsoleQuiet) {
  ConsoleOptions options = golden_options();
  options.quiet = true;
  expect_golden("console_quiet.txt", normalise(console_output(sample_report(), options)));
}

TEST(Golden, ConsoleColor) {
  ConsoleOptions options = golden_options();
  options.color = true;
  expect_golden("console_color.txt", normalise(console_output(sample_report(), options)));
}

TEST(Golden, Json) {
  std::ostringstream out;
  JsonReporter reporter(out);
  drive(reporter, sample_report());
  expect_golden("report.json", out.str());
}

TEST(Golden, Junit) {
  std::ostringstream out;
  JunitReporter reporter(out);
  drive(reporter, sample_report());
  expect_golden("report.junit.xml", out.str());
}

// --- JSON --------------------------------------------------------------------------------

TEST(JsonReport, ParsesBackWithTheDocumentedShape) {
  std::ostringstream out;
  JsonReporter reporter(out);
  drive(reporter, sample_report());
  const std::string text = out.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');

  const json doc = json::parse(text);
  EXPECT_EQ(doc.at("report_version"), 1);
  EXPECT_EQ(doc.at("tool").at("name"), "stagecheck");
  EXPECT_EQ(doc.at("tool").at("version"), "0.1.0");
  EXPECT_EQ(doc.at("spec").at("name"), "scene-e2e");
  EXPECT_EQ(doc.at("spec").at("source"), "examples/quickstart/spec.yaml");
  EXPECT_TRUE(doc.at("spec").at("hash").is_string());
  EXPECT_EQ(doc.at("root"), "/data/scene");
  EXPECT_EQ(doc.at("vars").at("scene"), "kitchen_001");
  EXPECT_EQ(doc.at("started_at"), "2024-05-01T12:00:00Z");
  EXPECT_DOUBLE_EQ(doc.at("duration_ms").get<double>(), 12.345);
  EXPECT_EQ(doc.at("verdict"), "fail");
  EXPECT_EQ(doc.at("exit_code"), 1);
  EXPECT_EQ(doc.at("fail_on_warn"), false);
  EXPECT_EQ(doc.at("interrupted"), false);

  const json& summary = doc.at("summary");
  EXPECT_EQ(summary.at("total"), 7);
  EXPECT_EQ(summary.at("pass"), 2);
  EXPECT_EQ(summary.at("fail"), 1);
  EXPECT_EQ(summary.at("warn"), 1);
  EXPECT_EQ(summary.at("skipped"), 1);
  EXPECT_EQ(summary.at("blocked"), 1);
  EXPECT_EQ(summary.at("error"), 1);
  EXPECT_EQ(summary.at("evaluated"), 4);

  ASSERT_EQ(doc.at("stages").size(), 4u);
  EXPECT_EQ(doc.at("stages")[2].at("status"), "skipped");
  EXPECT_EQ(doc.at("stages")[2].at("reason"), "skip_if: vars.skip_import is true");
  for (const json& stage : doc.at("stages")) {
    for (const char* key : {"id", "name", "status", "reason", "duration_ms"}) {
      EXPECT_TRUE(stage.contains(key)) << key;
    }
  }

  ASSERT_EQ(doc.at("results").size(), 7u);
  for (const json& result : doc.at("results")) {
    for (const char* key : {"id", "stage", "type", "description", "status", "severity", "message",
                            "artifacts", "observed", "expected", "details", "duration_ms"}) {
      EXPECT_TRUE(result.contains(key)) << key << " in " << result.at("id");
    }
  }
  const json& validation = doc.at("results")[2];
  EXPECT_EQ(validation.at("id"), "episodes.validation");
  EXPECT_EQ(validation.at("status"), "fail");
  EXPECT_EQ(validation.at("severity"), "error");
  EXPECT_DOUBLE_EQ(validation.at("observed").get<double>(), 0.85);
  EXPECT_EQ(validation.at("expected").at("op"), ">=");
  // Nulls are written, not omitted, so consumers can index without checking.
  EXPECT_TRUE(doc.at("results")[5].at("observed").is_null());
  EXPECT_EQ(doc.at("results")[3].at("severity"), "warning");
}

TEST(JsonReport, KeepsNonFiniteNumbersAsStrings) {
  const json doc = report_to_json(sample_report());
  const json& observed = doc.at("results")[3].at("observed");
  EXPECT_EQ(observed.at("mean"), "NaN");
  EXPECT_EQ(observed.at("max"), "Infinity");
  EXPECT_EQ(observed.at("min"), "-Infinity");
  EXPECT_EQ(observed.at("n"), 3);

  Report report = sample_report();
  report.results[0].observed = json::array({kNaN, json{{"deep", json::array({-kInf})}}});
  report.results[0].expected = kInf;
  report.results[0].details = json{{"ratio", kNaN}};
  const json nested = report_to_json(report).at("results")[0];
  EXPECT_EQ(nested.at("observed")[0], "NaN");
  EXPECT_EQ(nested.at("observed")[1].at("deep")[0], "-Infinity");
  EXPECT_EQ(nested.at("expected"), "Infinity");
  EXPECT_EQ(nested.at("details").at("ratio"), "NaN");
}

TEST(JsonReport, SurvivesInvalidUtf8) {
  Report report = sample_report();
  report.results[2].message = "bad byte \xff here";
  report.results[2].observed = "\xc3\x28";
  std::ostringstream out;
  JsonReporter reporter(out);
  EXPECT_NO_THROW(reporter.end(report));
  const json doc = json::parse(out.str());
  EXPECT_EQ(doc.at("results")[2].at("message"), "bad byte \xEF\xBF\xBD here");
}

TEST(JsonReport, MissingVarsBecomeAnEmptyObject) {
  Report report;
  const json doc = report_to_json(report);
  EXPECT_TRUE(doc.at("vars").is_object());
  EXPECT_TRUE(doc.at("stages").is_array());
  EXPECT_TRUE(doc.at("results").is_array());
}

// --- JUnit -------------------------------------------------------------------------------

TEST(JunitReport, IsWellFormed) {
  const std::string xml = report_to_junit(sample_report());
  EXPECT_EQ(xml_problem(xml), "");
}

TEST(JunitReport, CountsMatchTheResults) {
  const std::string xml = report_to_junit(sample_report());
  EXPECT_EQ(attribute(xml, "<testsuites ", "name"), "stagecheck: scene-e2e");
  EXPECT_EQ(attribute(xml, "<testsuites ", "tests"), "7");
  EXPECT_EQ(attribute(xml, "<testsuites ", "failures"), "1");
  EXPECT_EQ(attribute(xml, "<testsuites ", "errors"), "1");
  EXPECT_EQ(attribute(xml, "<testsuites ", "skipped"), "2");
  EXPECT_EQ(attribute(xml, "<testsuites ", "time"), "0.012");

  const std::string episodes = "<testsuite name=\"episodes\"";
  EXPECT_EQ(attribute(xml, episodes, "tests"), "3");
  EXPECT_EQ(attribute(xml, episodes, "failures"), "1");
  EXPECT_EQ(attribute(xml, episodes, "errors"), "1");
  EXPECT_EQ(attribute(xml, episodes, "skipped"), "0");
  EXPECT_EQ(attribute(xml, episodes, "time"), "0.006");  // 5.8 ms

  EXPECT_EQ(attribute(xml, "<testsuite name=\"ingest\"", "tests"), "2");
  EXPECT_EQ(attribute(xml, "<testsuite name=\"import\"", "skipped"), "1");
  EXPECT_EQ(attribute(xml, "<testsuite name=\"publish\"", "skipped"), "1");

  EXPECT_EQ(
      attribute(xml, "<testcase classname=\"scene-e2e.episodes\" name=\"episodes.validation\"",
                "time"),
      "0.001");
  EXPECT_EQ(attribute(xml, "<failure ", "type"), "json");
  EXPECT_EQ(attribute(xml, "<error ", "type"), "file");
  EXPECT_NE(xml.find("<skipped message=\"blocked: depends on episodes, which failed\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<skipped message=\"skipped: skip_if: vars.skip_import is true\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<system-out>WARN: frame_dt statistics are not finite"), std::string::npos);
}

TEST(JunitReport, KeepsStageOrderAndResultOrder) {
  const std::string xml = report_to_junit(sample_report());
  const std::size_t ingest = xml.find("<testsuite name=\"ingest\"");
  const std::size_t episodes = xml.find("<testsuite name=\"episodes\"");
  const std::size_t import = xml.find("<testsuite name=\"import\"");
  const std::size_t publish = xml.find("<testsuite name=\"publish\"");
  EXPECT_LT(ingest, episodes);
  EXPECT_LT(episodes, import);
  EXPECT_LT(import, publish);
  EXPECT_LT(xml.find("name=\"episodes.validation\""), xml.find("name=\"episodes.timing\""));
  EXPECT_LT(xml.find("name=\"episodes.timing\""), xml.find("name=\"episodes.labels\""));
}

TEST(JunitReport, EscapesAttributesAndText) {
  const std::string xml = report_to_junit(sample_report());
  // The error message, as an attribute.
  EXPECT_NE(xml.find("message=\"cannot read labels &lt;&amp;&gt;&quot;&apos;\\x01: permission "
                     "denied\""),
            std::string::npos);
  // The warning, as text, with its newline kept.
  EXPECT_NE(xml.find("see frames &lt;&amp;&gt; &quot;quoted&quot; and &apos;apostrophes&apos;"),
            std::string::npos);
  EXPECT_NE(xml.find("labels &amp; tags.json"), std::string::npos);
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
  // Non-finite evidence stays readable.
  EXPECT_NE(xml.find(R"(observed: {&quot;max&quot;:&quot;Infinity&quot;)"), std::string::npos);
}

TEST(JunitReport, ReplacesWhatXmlCannotCarry) {
  Report report = sample_report();
  report.results[2].message = std::string("nul\0here", 8) + " bell\a esc\x1b bad\xff end\r\nx";
  report.results[2].type = "a\tb\nc";
  report.results[2].observed = "\xef\xbf\xbe";  // U+FFFE is not an XML character.
  const std::string xml = report_to_junit(report);
  EXPECT_EQ(xml_problem(xml), "");
  EXPECT_NE(xml.find("nul\\x00here bell\\x07 esc\\x1b bad\xEF\xBF\xBD end&#13;&#10;x"),
            std::string::npos);
  EXPECT_NE(xml.find("type=\"a&#9;b&#10;c\""), std::string::npos);
  EXPECT_EQ(xml.find("\xef\xbf\xbe"), std::string::npos);
}

TEST(JunitReport, ResultsOfUnlistedStagesGetTheirOwnSuite) {
  Report report = sample_report();
  report.stages.pop_back();  // "publish" is no longer listed, its result still is.
  const std::string xml = report_to_junit(report);
  EXPECT_EQ(xml_problem(xml), "");
  EXPECT_NE(xml.find("<testsuite name=\"publish\""), std::string::npos);
  EXPECT_EQ(attribute(xml, "<testsuites ", "tests"), "7");
}

TEST(JunitReport, EmptyReport) {
  Report report;
  report.spec_name = "empty";
  const std::string xml = report_to_junit(report);
  EXPECT_EQ(xml_problem(xml), "");
  EXPECT_EQ(attribute(xml, "<testsuites ", "tests"), "0");
}

// --- console -----------------------------------------------------------------------------

TEST(ConsoleReport, NoEscapesWithoutColor) {
  Report report = sample_report();
  report.results[2].message =
      "data tries to recolour \x1b[31mthis\x1b[0m and \xc2\x9b"
      "2J";
  const std::string text = console_output(report, golden_options());
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos);
  EXPECT_NE(text.find("recolour \\x1b[31mthis\\x1b[0m and \\u009b2J"), std::string::npos);
}

TEST(ConsoleReport, EscapesWithColor) {
  ConsoleOptions options = golden_options();
  options.color = true;
  const std::string text = console_output(sample_report(), options);
  EXPECT_NE(text.find("\x1b[32mPASS\x1b[0m"), std::string::npos);
  EXPECT_NE(text.find("\x1b[31mFAIL\x1b[0m"), std::string::npos);
  EXPECT_NE(text.find("\x1b[31mERROR\x1b[0m"), std::string::npos);
  EXPECT_NE(text.find("\x1b[33mWARN\x1b[0m"), std::string::npos);
  EXPECT_NE(text.find("\x1b[2mSKIPPED\x1b[0m"), std::string::npos);
  EXPECT_NE(text.find("\x1b[2mBLOCKED\x1b[0m"), std::string::npos);
}

TEST(ConsoleReport, QuietShowsOnlyProblems) {
  ConsoleOptions options = golden_options();
  options.quiet = true;
  const std::string text = console_output(sample_report(), options);
  EXPECT_EQ(text.find("PASS "), std::string::npos);
  EXPECT_EQ(text.find("SKIPPED"), std::string::npos);
  EXPECT_EQ(text.find("\ningest\n"), std::string::npos);
  EXPECT_EQ(text.find("stagecheck "), std::string::npos);
  EXPECT_EQ(text.rfind("episodes\n", 0), 0u);
  EXPECT_NE(text.find("FAIL     episodes.validation"), std::string::npos);
  EXPECT_NE(text.find("7 checks: 2 pass, 1 fail"), std::string::npos);
}

TEST(ConsoleReport, EvidenceUnderProblemsOnly) {
  const std::string text = console_output(sample_report(), golden_options());
  EXPECT_NE(text.find("           artifact: scenes/kitchen_001/episodes/quality/"
                      "validation_report.json\n"
                      "           expected: {\"op\":\">=\",\"value\":0.9}\n"
                      "           observed: 0.85\n"),
            std::string::npos);
  EXPECT_NE(text.find("observed: {\"max\":\"Infinity\",\"mean\":\"NaN\""), std::string::npos);
  EXPECT_EQ(text.find("artifact: scenes/kitchen_001/.ingest_complete"), std::string::npos);
}

TEST(ConsoleReport, MultiLineMessagesAreIndented) {
  const std::string text = console_output(sample_report(), golden_options());
  EXPECT_NE(text.find("frame_dt statistics are not finite\n"
                      "           see frames <&> \"quoted\" and 'apostrophes'\n"),
            std::string::npos);
}

TEST(ConsoleReport, NoTrailingSpaces) {
  Report report = sample_report();
  report.results[0].message.clear();
  report.results[3].message += "\n\nlast line\n";
  for (const bool timings : {false, true}) {
    ConsoleOptions options = golden_options();
    options.timings = timings;
    const std::string text = console_output(report, options);
    EXPECT_EQ(text.find(" \n"), std::string::npos) << text;
  }
}

TEST(ConsoleReport, LongEvidenceIsCut) {
  Report report = sample_report();
  report.results[2].observed = std::string(1000, 'x') + "\xc3\xa9";
  report.results[2].details = json{{"rows", std::string(1000, 'y')}};
  const std::string text = console_output(report, golden_options());
  const std::size_t observed = text.find("observed: ");
  ASSERT_NE(observed, std::string::npos);
  const std::string line = text.substr(observed, text.find('\n', observed) - observed);
  EXPECT_LT(line.size(), 320u);
  EXPECT_EQ(line.substr(line.size() - 3), "\u2026");
  EXPECT_EQ(text.find(std::string(400, 'y')), std::string::npos);
  EXPECT_NE(text.find("bytes, in the JSON report"), std::string::npos);
}

TEST(ConsoleReport, TimingsWhenAsked) {
  ConsoleOptions options = golden_options();
  options.timings = true;
  const std::string text = console_output(sample_report(), options);
  EXPECT_NE(text.find("summary.pass_rate = 0.85, expected >= 0.9  1.2 ms\n"), std::string::npos);
  EXPECT_NE(text.find("1 error (12.3 ms)\n"), std::string::npos);
  EXPECT_EQ(console_output(sample_report(), golden_options()).find(" ms"), std::string::npos);
}

struct VerdictCase {
  const char* name;
  std::vector<Status> statuses;
  bool fail_on_warn;
  bool interrupted;
  const char* last_line;
};

class ConsoleVerdict : public ::testing::TestWithParam<VerdictCase> {};

TEST_P(ConsoleVerdict, LastLineExplainsTheExitCode) {
  const VerdictCase& c = GetParam();
  Report report;
  report.spec_name = "s";
  report.fail_on_warn = c.fail_on_warn;
  report.interrupted = c.interrupted;
  int n = 0;
  for (Status status : c.statuses) {
    report.results.push_back(
        make_result("st", "c" + std::to_string(n++), "json", status, "message", 0));
  }
  report.summary = summarize(report.results);
  report.exit_code = compute_exit_code(report.summary, report.fail_on_warn, report.interrupted);
  std::string text = console_output(report, golden_options());
  ASSERT_FALSE(text.empty());
  text.pop_back();
  EXPECT_EQ(text.substr(text.rfind('\n') + 1), c.last_line);
}

INSTANTIATE_TEST_SUITE_P(
    Lines, ConsoleVerdict,
    ::testing::Values(
        VerdictCase{"pass", {S::pass}, false, false, "PASS (exit 0)"},
        VerdictCase{
            "pass_with_warning", {S::pass, S::warn}, false, false, "PASS with 1 warning (exit 0)"},
        VerdictCase{"fail", {S::pass, S::fail}, false, false, "FAIL: 1 check failed (exit 1)"},
        VerdictCase{"fails", {S::fail, S::fail}, false, false, "FAIL: 2 checks failed (exit 1)"},
        VerdictCase{"fail_on_warn",
                    {S::warn, S::warn},
                    true,
                    false,
                    "FAIL: 2 warnings with fail-on-warn (exit 1)"},
        VerdictCase{"fail_and_error",
                    {S::fail, S::error},
                    false,
                    false,
                    "FAIL: 1 check failed, 1 could not be evaluated (exit 1)"},
        VerdictCase{"interrupted_fail",
                    {S::fail},
                    false,
                    true,
                    "FAIL: 1 check failed, interrupted (exit 1)"},
        VerdictCase{"errors",
                    {S::pass, S::error, S::error},
                    false,
                    false,
                    "NO VERDICT: 2 checks could not be evaluated (exit 3)"},
        VerdictCase{
            "nothing", {S::skipped}, false, false, "NO VERDICT: nothing was evaluated (exit 3)"},
        VerdictCase{"no_checks", {}, false, false, "NO VERDICT: nothing was evaluated (exit 3)"},
        VerdictCase{"interrupted", {S::pass}, false, true, "NO VERDICT: interrupted (exit 3)"}),
    [](const ::testing::TestParamInfo<VerdictCase>& param) {
      return std::string(param.param.name);
    });

TEST(ConsoleReport, ReporterCanBeReused) {
  std::ostringstream first;
  std::ostringstream second;
  const Report report = sample_report();
  {
    ConsoleReporter reporter(first, golden_options());
    drive(reporter, report);
  }
  ConsoleReporter reporter(second, golden_options());
  drive(reporter, report);
  std::ostringstream third;
  ConsoleReporter again(third, golden_options());
  drive(again, report);
  drive(again, report);
  EXPECT_EQ(third.str(), first.str() + first.str());
  EXPECT_EQ(second.str(), first.str());
}

// --- want_color --------------------------------------------------------------------------

TEST(WantColor, FalseForAPipe) {
  std::array<int, 2> fds{};
  ASSERT_EQ(::pipe(fds.data()), 0);
  const Fd read_end(fds[0]);
  const Fd write_end(fds[1]);
  const ScopedEnv no_color("NO_COLOR", nullptr);
  EXPECT_FALSE(want_color(write_end.get()));
  EXPECT_FALSE(want_color(read_end.get()));
  const ScopedEnv set("NO_COLOR", "1");
  EXPECT_FALSE(want_color(write_end.get()));
}

TEST(WantColor, FalseForABadDescriptor) { EXPECT_FALSE(want_color(-1)); }

TEST(WantColor, TerminalUnlessNoColor) {
  const Fd master(::posix_openpt(O_RDWR | O_NOCTTY));
  if (master.get() < 0 || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0) {
    GTEST_SKIP() << "no pseudo-terminal available";
  }
  const char* name = ::ptsname(master.get());
  ASSERT_NE(name, nullptr);
  const Fd terminal(::open(name, O_RDWR | O_NOCTTY));
  ASSERT_GE(terminal.get(), 0);
  {
    const ScopedEnv env("NO_COLOR", nullptr);
    EXPECT_TRUE(want_color(terminal.get()));
  }
  {
    const ScopedEnv env("NO_COLOR", "1");
    EXPECT_FALSE(want_color(terminal.get()));
  }
  {
    const ScopedEnv env("NO_COLOR", "");
    EXPECT_TRUE(want_color(terminal.get()));
  }
}

}  // namespace
}  // namespace stagecheck
