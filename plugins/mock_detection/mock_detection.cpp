// `mock_detection`: indicators of mock or fallback data inside the scene pipeline's artifacts
// (validation report, per-episode quality certificates, LeRobot meta/episodes.jsonl and
// meta/info.json, dataset quality manifest).
//
// Fail closed: every certificate and every episode row is scanned, not a sample; a field a rule
// reads that is missing or of the wrong type is a finding just like a mock value, since "no
// indicator" must be positive evidence.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <stagecheck/plugin.hpp>

namespace {

using namespace stagecheck;
using Json = nlohmann::json;

/// Findings kept in details.findings; the total is always counted.
constexpr std::size_t kMaxFindingsKept = 1000;
/// Findings spelled out in the message.
constexpr std::size_t kMaxFindingsInMessage = 20;
/// Certificates read in parallel at a time: bounds memory however large the folder is.
constexpr std::size_t kCertificateBatch = 256;
/// Longest value shown in a message.
constexpr std::size_t kMaxShown = 80;
constexpr std::string_view kCertificateFile = "quality_certificate.json";

/// A default rule; `ignore` may switch it off by name.
struct RuleDef {
  std::string_view name;
  std::string_view source;
  std::string_view text;
};

constexpr RuleDef kRules[] = {
    {"report.physx_used", "validation_report", "physics_validation.physx_used is the boolean true"},
    {"report.non_physx_episodes", "validation_report",
     "physics_validation.non_physx_episode_count is 0"},
    {"report.physics_backend", "validation_report",
     "physics_validation.physics_backends (non-empty) and every episodes[i].physics_backend are "
     "in physics_backends"},
    {"report.dev_only_fallback", "validation_report",
     "every episodes[i].dev_only_fallback is the boolean false"},
    {"report.camera_data", "validation_report",
     "every episodes[i].metrics.camera_data_present is the boolean true"},
    {"report.summary_status", "validation_report",
     "summary.status, when present, is a string other than \"mock\""},
    {"certificate.sensor_source", "certificates",
     "sensor_source is a non-empty string not in mock_sensor_sources"},
    {"certificate.physics_backend", "certificates",
     "physics_backend is in certificate_physics_backends"},
    {"certificate.data_quality_level", "certificates",
     "data_quality_level is \"production\" (development and test mark fallback data)"},
    {"certificate.training_suitability", "certificates",
     "training_suitability is \"production\" (not development_only)"},
    {"certificate.recommended_use", "certificates",
     "recommended_use is production_training or fine_tuning (not testing)"},
    {"certificate.camera_count", "certificates", "camera_count is an integer > 0"},
    {"certificate.mock_warnings", "certificates",
     "validation_warnings is a list of strings, none mentioning \"placeholder noise\" or "
     "\"MockSensorCapture\""},
    {"episodes.is_mock", "lerobot_episodes", "every row's is_mock is the boolean false"},
    {"info.sensor_source", "lerobot_info",
     "data_quality.sensor_source is a non-empty string not in info_mock_sensor_sources"},
    {"info.validation_type", "lerobot_info",
     "data_quality.validation_type is a non-empty string not in info_mock_validation_types"},
    {"info.isaac_sim_used", "lerobot_info", "data_quality.isaac_sim_used is the boolean true"},
    {"info.bypass_enabled", "lerobot_info",
     "lineage.quality_gates.bypass_enabled is the boolean false"},
    {"manifest.suitability", "quality_manifest",
     "every episodes[i].suitability is production or fine_tuning (not dev_only)"},
    {"manifest.physics_backend", "quality_manifest",
     "every episodes[i].physics_backend is in certificate_physics_backends"},
};

// Findings about reading itself. They are what fail-closed reading rests on, so they cannot be
// ignored.
constexpr std::string_view kRuleMissing = "source_missing";
constexpr std::string_view kRuleUnreadable = "source_unreadable";
constexpr std::string_view kRuleMalformed = "malformed";
constexpr std::string_view kRuleSchema = "schema";

/// What a finding says about the value.
enum class Kind {
  mock_value,  ///< Present and well-typed, and a mock/fallback value (or outside an allow-list).
  missing,     ///< The field (or a source) is absent.
  wrong_type,  ///< The value has the wrong JSON type.
  schema,      ///< A container the rules need is absent, mistyped or empty.
  source,      ///< The artifact itself is missing, unreadable or malformed.
};

std::string_view to_string(Kind kind) {
  switch (kind) {
    case Kind::mock_value:
      return "mock_value";
    case Kind::missing:
      return "missing";
    case Kind::wrong_type:
      return "wrong_type";
    case Kind::schema:
      return "schema";
    case Kind::source:
      return "source";
  }
  return "?";
}

/// One thing found: the file, the full JSON path of the field, the value and the rule.
struct Finding {
  std::string rule;
  std::string file;
  std::optional<std::size_t> line;  ///< JSON Lines only: the 1-based line.
  std::string field;                ///< e.g. episodes[17].physics_backend; "" for the file.
  Json value;                       ///< null when missing.
  Kind kind = Kind::mock_value;
  std::string problem;   ///< e.g. `= true`, `is missing`.
  std::string expected;  ///< e.g. `the boolean false`.

  std::string text() const {
    std::string where = line ? fmt::format("{} line {}", file, *line) : file;
    std::string what = field.empty() ? problem : fmt::format("{} {}", field, problem);
    return fmt::format("{}: {}{} [{}]", where, what,
                       expected.empty() ? "" : ", expected " + expected, rule);
  }

  Json to_json() const {
    Json j = {{"rule", rule},
              {"file", file},
              {"field", field},
              {"value", value},
              {"kind", to_string(kind)},
              {"problem", problem},
              {"expected", expected}};
    if (line) j["line"] = *line;
    return j;
  }
};

std::string shown(const Json& v) {
  std::string text = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

std::string list_text(const std::vector<std::string>& items) {
  return fmt::format("[{}]", fmt::join(items, ", "));
}

bool contains(const std::vector<std::string>& items, std::string_view v) {
  return std::find(items.begin(), items.end(), v) != items.end();
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

/// Case-insensitive substring search (ASCII).
bool icontains(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return ascii_lower(a) == ascii_lower(b); });
  return it != haystack.end();
}

/// The check's configuration after load-time validation.
struct Settings {
  std::set<std::string, std::less<>> ignored;
  std::vector<std::string> report_backends;
  std::vector<std::string> certificate_backends;
  std::vector<std::string> certificate_mock_sensors;
  std::vector<std::string> info_mock_sensors;
  std::vector<std::string> info_mock_validation_types;

  bool on(std::string_view rule) const { return ignored.find(rule) == ignored.end(); }
};

// ---------------------------------------------------------------------------------------------
// Scanning one document. FileScan appends findings for one file; it touches no shared state,
// so certificates can be scanned on several threads.

class FileScan {
 public:
  FileScan(const Settings& settings, std::string file, std::vector<Finding>& out)
      : settings_(settings), file_(std::move(file)), out_(out) {}

  const Settings& settings() const { return settings_; }
  void set_line(std::optional<std::size_t> line) { line_ = line; }

  void add(std::string_view rule, std::string field, Json value, Kind kind, std::string problem,
           std::string expected) {
    out_.push_back(Finding{std::string(rule), file_, line_, std::move(field), std::move(value),
                           kind, std::move(problem), std::move(expected)});
  }

  static std::string join(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
  }

  /// Finds `keys` below `obj` (reached at `prefix`). A missing key or a parent that is not an
  /// object is a finding under `rule`, named by the full path of the field the rule reads (and
  /// saying where the path broke off); returns the value and its full path, or nullptr.
  std::pair<const Json*, std::string> field(const Json& obj, std::string_view prefix,
                                            std::initializer_list<std::string_view> keys,
                                            std::string_view rule, const std::string& expected) {
    std::string full(prefix);
    for (std::string_view key : keys) full = join(full, key);
    const Json* cur = &obj;
    std::string path(prefix);
    for (std::string_view key : keys) {
      if (!cur->is_object()) {
        add(rule, full, *cur, Kind::wrong_type,
            fmt::format("cannot be read: {} is {}, not an object",
                        path.empty() ? "the document" : path, cur->type_name()),
            expected);
        return {nullptr, full};
      }
      path = join(path, key);
      auto it = cur->find(key);
      if (it == cur->end()) {
        add(rule, full, nullptr, Kind::missing,
            path == full ? "is missing" : fmt::format("is missing ({} is absent)", path), expected);
        return {nullptr, full};
      }
      cur = &*it;
    }
    return {cur, full};
  }

  void wrong_type(std::string_view rule, const std::string& path, const Json& v,
                  const std::string& expected) {
    add(rule, path, v, Kind::wrong_type, fmt::format("= {} ({})", shown(v), v.type_name()),
        expected);
  }

  /// The field must be the boolean `want`.
  void want_bool(const Json& obj, std::string_view prefix,
                 std::initializer_list<std::string_view> keys, bool want, std::string_view rule) {
    if (!settings_.on(rule)) return;
    std::string expected = fmt::format("the boolean {}", want);
    auto [v, path] = field(obj, prefix, keys, rule, expected);
    if (v == nullptr) return;
    if (!v->is_boolean()) return wrong_type(rule, path, *v, expected);
    if (v->get<bool>() != want) {
      add(rule, path, *v, Kind::mock_value, fmt::format("= {}", v->get<bool>()), expected);
    }
  }

  /// The field must be a string in `allowed`.
  void want_in(const Json& obj, std::string_view prefix,
               std::initializer_list<std::string_view> keys,
               const std::vector<std::string>& allowed, std::string_view rule) {
    if (!settings_.on(rule)) return;
    std::string expected = fmt::format("one of {}", list_text(allowed));
    auto [v, path] = field(obj, prefix, keys, rule, expected);
    if (v != nullptr) want_in_value(*v, path, allowed, rule, expected);
  }

  void want_in_value(const Json& v, const std::string& path,
                     const std::vector<std::string>& allowed, std::string_view rule,
                     const std::string& expected) {
    if (!v.is_string()) return wrong_type(rule, path, v, expected);
    if (!contains(allowed, v.get_ref<const std::string&>())) {
      add(rule, path, v, Kind::mock_value, fmt::format("= {}", shown(v)), expected);
    }
  }

  /// The field must be a non-empty string outside `denied`.
  void want_not_in(const Json& obj, std::string_view prefix,
                   std::initializer_list<std::string_view> keys,
                   const std::vector<std::string>& denied, std::string_view rule) {
    if (!settings_.on(rule)) return;
    std::string expected = fmt::format("a non-empty string other than {}", list_text(denied));
    auto [v, path] = field(obj, prefix, keys, rule, expected);
    if (v == nullptr) return;
    if (!v->is_string()) return wrong_type(rule, path, *v, expected);
    const std::string& s = v->get_ref<const std::string&>();
    if (s.empty() || contains(denied, s)) {
      add(rule, path, *v, Kind::mock_value, fmt::format("= {}", shown(*v)), expected);
    }
  }

  /// The field must be the number 0.
  void want_zero(const Json& obj, std::string_view prefix,
                 std::initializer_list<std::string_view> keys, std::string_view rule) {
    if (!settings_.on(rule)) return;
    const std::string expected = "0";
    auto [v, path] = field(obj, prefix, keys, rule, expected);
    if (v == nullptr) return;
    if (!v->is_number()) return wrong_type(rule, path, *v, expected);
    if (v->get<double>() != 0.0) {
      add(rule, path, *v, Kind::mock_value, fmt::format("= {}", shown(*v)), expected);
    }
  }

  /// The field must be an integer > 0.
  void want_positive_int(const Json& obj, std::string_view prefix,
                         std::initializer_list<std::string_view> keys, std::string_view rule) {
    if (!settings_.on(rule)) return;
    const std::string expected = "an integer > 0";
    auto [v, path] = field(obj, prefix, keys, rule, expected);
    if (v == nullptr) return;
    if (!v->is_number_integer()) return wrong_type(rule, path, *v, expected);
    if (!(v->is_number_unsigned() ? v->get<std::uint64_t>() > 0 : v->get<std::int64_t>() > 0)) {
      add(rule, path, *v, Kind::mock_value, fmt::format("= {}", shown(*v)), expected);
    }
  }

  /// `doc` must be an object; a schema finding otherwise.
  bool want_object_document(const Json& doc) {
    if (doc.is_object()) return true;
    add(kRuleSchema, "", nullptr, Kind::schema,
        fmt::format("is {}, not a JSON object", doc.type_name()), "a JSON object");
    return false;
  }

  /// `key` must hold a non-empty array; a schema finding otherwise.
  const Json* want_rows(const Json& doc, std::string_view key) {
    auto it = doc.find(key);
    std::string expected = "a non-empty list of episodes";
    if (it == doc.end()) {
      add(kRuleSchema, std::string(key), nullptr, Kind::schema, "is missing", expected);
      return nullptr;
    }
    if (!it->is_array()) {
      add(kRuleSchema, std::string(key), *it, Kind::schema,
          fmt::format("is {}, not a list", it->type_name()), expected);
      return nullptr;
    }
    if (it->empty()) {
      add(kRuleSchema, std::string(key), *it, Kind::schema, "is empty", expected);
      return nullptr;
    }
    return &*it;
  }

  /// Row `i` of `key` must be an object.
  bool want_row_object(const Json& row, const std::string& path) {
    if (row.is_object()) return true;
    add(kRuleSchema, path, row, Kind::schema, fmt::format("is {}, not an object", row.type_name()),
        "an object");
    return false;
  }

 private:
  const Settings& settings_;
  std::string file_;
  std::vector<Finding>& out_;
  std::optional<std::size_t> line_;
};

bool any_on(const Settings& s, std::initializer_list<std::string_view> rules) {
  return std::any_of(rules.begin(), rules.end(), [&](std::string_view r) { return s.on(r); });
}

/// validation_report.json; returns the number of episode rows scanned.
std::size_t scan_report(FileScan& f, const Json& doc) {
  const Settings& s = f.settings();
  if (!f.want_object_document(doc)) return 0;
  f.want_bool(doc, "", {"physics_validation", "physx_used"}, true, "report.physx_used");
  f.want_zero(doc, "", {"physics_validation", "non_physx_episode_count"},
              "report.non_physx_episodes");
  if (s.on("report.physics_backend")) {
    const std::string expected =
        fmt::format("a non-empty list, each one of {}", list_text(s.report_backends));
    auto [list, path] = f.field(doc, "", {"physics_validation", "physics_backends"},
                                "report.physics_backend", expected);
    if (list != nullptr) {
      if (!list->is_array()) {
        f.wrong_type("report.physics_backend", path, *list, expected);
      } else if (list->empty()) {
        f.add("report.physics_backend", path, *list, Kind::mock_value, "is empty", expected);
      } else {
        for (std::size_t i = 0; i < list->size(); ++i) {
          f.want_in_value((*list)[i], fmt::format("{}[{}]", path, i), s.report_backends,
                          "report.physics_backend",
                          fmt::format("one of {}", list_text(s.report_backends)));
        }
      }
    }
  }
  if (s.on("report.summary_status")) {
    if (auto summary = doc.find("summary"); summary != doc.end()) {
      if (!summary->is_object()) {
        f.wrong_type("report.summary_status", "summary", *summary, "an object");
      } else if (auto status = summary->find("status"); status != summary->end()) {
        if (!status->is_string()) {
          f.wrong_type("report.summary_status", "summary.status", *status,
                       "a string other than \"mock\"");
        } else if (*status == "mock") {
          f.add("report.summary_status", "summary.status", *status, Kind::mock_value,
                fmt::format("= {}", shown(*status)), "a string other than \"mock\"");
        }
      }
    }
  }
  if (!any_on(s, {"report.physics_backend", "report.dev_only_fallback", "report.camera_data"})) {
    return 0;
  }
  const Json* rows = f.want_rows(doc, "episodes");
  if (rows == nullptr) return 0;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const Json& row = (*rows)[i];
    std::string prefix = fmt::format("episodes[{}]", i);
    if (!f.want_row_object(row, prefix)) continue;
    f.want_in(row, prefix, {"physics_backend"}, s.report_backends, "report.physics_backend");
    f.want_bool(row, prefix, {"dev_only_fallback"}, false, "report.dev_only_fallback");
    f.want_bool(row, prefix, {"metrics", "camera_data_present"}, true, "report.camera_data");
  }
  return rows->size();
}

/// One quality_certificate.json.
void scan_certificate(FileScan& f, const Json& doc) {
  const Settings& s = f.settings();
  if (!f.want_object_document(doc)) return;
  f.want_not_in(doc, "", {"sensor_source"}, s.certificate_mock_sensors,
                "certificate.sensor_source");
  f.want_in(doc, "", {"physics_backend"}, s.certificate_backends, "certificate.physics_backend");
  static const std::vector<std::string> kLevels = {"production"};
  static const std::vector<std::string> kSuitability = {"production"};
  static const std::vector<std::string> kUses = {"production_training", "fine_tuning"};
  f.want_in(doc, "", {"data_quality_level"}, kLevels, "certificate.data_quality_level");
  f.want_in(doc, "", {"training_suitability"}, kSuitability, "certificate.training_suitability");
  f.want_in(doc, "", {"recommended_use"}, kUses, "certificate.recommended_use");
  f.want_positive_int(doc, "", {"camera_count"}, "certificate.camera_count");
  if (s.on("certificate.mock_warnings")) {
    const std::string rule = "certificate.mock_warnings";
    const std::string expected =
        "a list of strings, none mentioning \"placeholder noise\" or \"MockSensorCapture\"";
    auto [list, path] = f.field(doc, "", {"validation_warnings"}, rule, expected);
    if (list == nullptr) return;
    if (!list->is_array()) return f.wrong_type(rule, path, *list, expected);
    for (std::size_t i = 0; i < list->size(); ++i) {
      const Json& w = (*list)[i];
      std::string item = fmt::format("{}[{}]", path, i);
      if (!w.is_string()) {
        f.wrong_type(rule, item, w, "a string");
      } else if (icontains(w.get_ref<const std::string&>(), "placeholder noise") ||
                 icontains(w.get_ref<const std::string&>(), "MockSensorCapture")) {
        f.add(rule, item, w, Kind::mock_value, fmt::format("= {}", shown(w)),
              "no mention of \"placeholder noise\" or \"MockSensorCapture\"");
      }
    }
  }
}

/// LeRobot meta/info.json.
void scan_info(FileScan& f, const Json& doc) {
  const Settings& s = f.settings();
  if (!f.want_object_document(doc)) return;
  f.want_not_in(doc, "", {"data_quality", "sensor_source"}, s.info_mock_sensors,
                "info.sensor_source");
  f.want_not_in(doc, "", {"data_quality", "validation_type"}, s.info_mock_validation_types,
                "info.validation_type");
  f.want_bool(doc, "", {"data_quality", "isaac_sim_used"}, true, "info.isaac_sim_used");
  f.want_bool(doc, "", {"lineage", "quality_gates", "bypass_enabled"}, false,
              "info.bypass_enabled");
}

/// dataset_quality_manifest.json; returns the number of episode rows scanned.
std::size_t scan_manifest(FileScan& f, const Json& doc) {
  const Settings& s = f.settings();
  if (!f.want_object_document(doc)) return 0;
  if (!any_on(s, {"manifest.suitability", "manifest.physics_backend"})) return 0;
  const Json* rows = f.want_rows(doc, "episodes");
  if (rows == nullptr) return 0;
  static const std::vector<std::string> kSuitability = {"production", "fine_tuning"};
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const Json& row = (*rows)[i];
    std::string prefix = fmt::format("episodes[{}]", i);
    if (!f.want_row_object(row, prefix)) continue;
    f.want_in(row, prefix, {"suitability"}, kSuitability, "manifest.suitability");
    f.want_in(row, prefix, {"physics_backend"}, s.certificate_backends, "manifest.physics_backend");
  }
  return rows->size();
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

/// LeRobot meta/episodes.jsonl, line by line so that every finding names its line. Returns the
/// number of rows (non-blank lines).
std::size_t scan_episode_lines(FileScan& f, std::string_view text, const std::string& path,
                               const LoadLimits& limits) {
  std::size_t rows = 0;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (is_blank(line)) continue;
    std::size_t index = rows++;
    f.set_line(line_no);
    auto row = parse_json(line, fmt::format("{} line {}", path, line_no), limits);
    if (!row) {
      f.add(kRuleMalformed, fmt::format("[{}]", index), nullptr, Kind::source, row.error().message,
            "one JSON object per line");
      continue;
    }
    std::string prefix = fmt::format("[{}]", index);
    if (!f.want_row_object(*row, prefix)) continue;
    f.want_bool(*row, prefix, {"is_mock"}, false, "episodes.is_mock");
  }
  f.set_line(std::nullopt);
  if (rows == 0) {
    f.add(kRuleSchema, "", nullptr, Kind::schema, "holds no episode rows",
          "one JSON object per episode");
  }
  return rows;
}

/// What reading one certificate produced.
struct CertificateResult {
  std::vector<Finding> findings;
  std::optional<Error> error;  ///< Could not be evaluated (permission, I/O).
  bool scanned = false;
};

/// Reads, parses and scans one certificate. Uses only the store (thread-safe) and its arguments.
CertificateResult scan_certificate_file(const Store& store, const std::string& path,
                                        const LoadLimits& limits, const Settings& settings) {
  CertificateResult r;
  FileScan f(settings, path, r.findings);
  auto data = store.read(path, limits.max_bytes);
  if (!data) {
    const Error& e = data.error();
    if (status_for(e.code) == Status::error) {
      r.error = e;
    } else {
      f.add(e.code == Errc::not_found ? kRuleMissing : kRuleUnreadable, "", nullptr, Kind::source,
            e.message, "a readable JSON certificate");
    }
    return r;
  }
  auto doc = parse_json(*data, path, limits);
  if (!doc) {
    f.add(kRuleMalformed, "", nullptr, Kind::source, doc.error().message, "a JSON certificate");
    return r;
  }
  r.scanned = true;
  scan_certificate(f, *doc);
  return r;
}

// ---------------------------------------------------------------------------------------------
// The check.

/// Everything one run collected.
struct Tally {
  /// Kept findings: mock values and other findings apart, so that a flood of missing fields
  /// never pushes a mock value out of the report.
  std::vector<Finding> kept_mock;
  std::vector<Finding> kept_other;
  std::size_t total = 0;
  std::size_t mock_values = 0;
  std::vector<std::string> errors;  ///< Could not be evaluated.
  Json skipped = Json::array();     ///< Absent optional sources.
  std::size_t artifacts = 0;
  std::size_t certificates = 0;
  std::size_t report_episodes = 0;
  std::size_t lerobot_rows = 0;
  std::size_t manifest_episodes = 0;

  void add(std::vector<Finding>&& findings) {
    for (Finding& f : findings) {
      ++total;
      bool mock = f.kind == Kind::mock_value;
      if (mock) ++mock_values;
      std::vector<Finding>& kept = mock ? kept_mock : kept_other;
      if (kept.size() < kMaxFindingsKept) kept.push_back(std::move(f));
    }
    findings.clear();
  }

  /// At most kMaxFindingsKept findings: mock values first, then the rest, each in scan order.
  std::vector<const Finding*> kept() const {
    std::vector<const Finding*> out;
    for (const auto* list : {&kept_mock, &kept_other}) {
      for (const Finding& f : *list) {
        if (out.size() == kMaxFindingsKept) return out;
        out.push_back(&f);
      }
    }
    return out;
  }
};

class MockDetection final : public Check {
 public:
  MockDetection(Settings settings, std::optional<ArtifactRef> report,
                std::optional<PathTemplate> certificates, std::optional<ArtifactRef> episodes,
                std::optional<ArtifactRef> info, std::optional<ArtifactRef> manifest)
      : settings_(std::move(settings)),
        report_(std::move(report)),
        certificates_(std::move(certificates)),
        episodes_(std::move(episodes)),
        info_(std::move(info)),
        manifest_(std::move(manifest)) {}

  // An exception escaping evaluate() becomes an `error` result naming this check: the runner
  // catches it for every check, plugins included.
  CheckOutcome run(CheckContext& ctx) const override { return evaluate(ctx); }

 private:
  /// A source-level problem (missing, unreadable): a finding, or an error when the source could
  /// not be evaluated at all.
  static void source_problem(Tally& t, const Settings& s, const std::string& file, const Error& e,
                             bool missing) {
    if (!missing && status_for(e.code) == Status::error) {
      t.errors.push_back(e.message);
      return;
    }
    std::vector<Finding> one;
    FileScan f(s, file, one);
    std::string_view rule = missing ? kRuleMissing
                            : e.code == Errc::malformed || e.code == Errc::type_mismatch
                                ? kRuleMalformed
                                : kRuleUnreadable;
    f.add(rule, "", nullptr, Kind::source, missing ? "is missing" : e.message,
          missing ? "the artifact to exist" : "a readable, well-formed artifact");
    t.add(std::move(one));
  }

  /// Resolves and loads a JSON source; nullptr when it is absent, unreadable or malformed (the
  /// tally says which).
  std::shared_ptr<const Json> load_source(CheckContext& ctx, Tally& t, const ArtifactRef& ref,
                                          std::string_view source, std::string& path) const {
    auto art = ctx.artifact(ref);
    if (!art) {
      source_problem(t, settings_, ref.label(), art.error(), false);
      return nullptr;
    }
    path = art->path();
    auto doc = ctx.load(ref);
    if (!doc) {
      if (doc.error().code == Errc::not_found) {
        if (ref.optional) {
          t.skipped.push_back({{"source", source}, {"artifact", ref.label()}, {"path", path}});
        } else {
          source_problem(t, settings_, path, doc.error(), true);
        }
      } else {
        source_problem(t, settings_, path, doc.error(), false);
      }
      return nullptr;
    }
    ++t.artifacts;
    return *doc;
  }

  void scan_episodes(CheckContext& ctx, Tally& t) const {
    auto art = ctx.artifact(*episodes_);
    if (!art) return source_problem(t, settings_, episodes_->label(), art.error(), false);
    const std::string path = art->path();
    // Read as bytes and split here, not through the JSON Lines loader, so that every finding
    // names its line (blank lines make line numbers and row indexes differ).
    auto data = art->bytes();
    if (!data) {
      if (data.error().code == Errc::not_found) {
        if (episodes_->optional) {
          t.skipped.push_back(
              {{"source", "lerobot_episodes"}, {"artifact", episodes_->label()}, {"path", path}});
          return;
        }
        return source_problem(t, settings_, path, data.error(), true);
      }
      return source_problem(t, settings_, path, data.error(), false);
    }
    ++t.artifacts;
    std::vector<Finding> found;
    FileScan f(settings_, path, found);
    t.lerobot_rows += scan_episode_lines(f, *data, path, art->limits());
    t.add(std::move(found));
  }

  /// Lists `<folder>/<episode_id>/quality_certificate.json` (streaming) and scans each, in
  /// parallel batches of bounded size. Returns false if the run was interrupted.
  bool scan_certificates(CheckContext& ctx, Tally& t) const {
    auto folder = ctx.resolve(*certificates_);
    if (!folder) {
      source_problem(t, settings_, certificates_->text(), folder.error(), false);
      return true;
    }
    std::string prefix = *folder;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    prefix += '/';
    ctx.record_artifact(prefix);
    const Store& store = ctx.store();
    const LoadLimits limits = ctx.limits();
    const unsigned jobs = std::max(1u, ctx.jobs());
    std::vector<std::string> batch;
    batch.reserve(kCertificateBatch);

    auto flush = [&] {
      if (batch.empty()) return;
      std::vector<CertificateResult> results(batch.size());
      std::atomic<std::size_t> next{0};
      auto work = [&] {
        for (;;) {
          std::size_t i = next.fetch_add(1);
          if (i >= batch.size()) return;
          try {
            results[i] = scan_certificate_file(store, batch[i], limits, settings_);
          } catch (const std::exception& e) {
            results[i].error =
                make_error(Errc::internal, fmt::format("'{}': {}", batch[i], e.what()));
          }
        }
      };
      std::vector<std::thread> threads;
      const std::size_t want = std::min<std::size_t>(jobs, batch.size());
      for (std::size_t k = 1; k < want; ++k) {
        try {
          threads.emplace_back(work);
        } catch (const std::system_error&) {
          break;  // fewer threads: this thread does the rest
        }
      }
      work();
      for (std::thread& th : threads) th.join();
      // Merged in listing order, so the report is the same whatever the timing.
      for (CertificateResult& r : results) {
        if (r.scanned) {
          ++t.certificates;
          ++t.artifacts;
        }
        if (r.error) t.errors.push_back(r.error->message);
        t.add(std::move(r.findings));
      }
      batch.clear();
    };

    auto listed = store.list(prefix, [&](const ObjectInfo& o) {
      std::string_view rest = std::string_view(o.path).substr(prefix.size());
      std::size_t slash = rest.find('/');
      if (slash != std::string_view::npos && slash > 0 &&
          rest.substr(slash + 1) == kCertificateFile) {
        batch.push_back(o.path);
        if (batch.size() >= kCertificateBatch) flush();
      }
      return !ctx.cancelled();
    });
    if (ctx.cancelled()) return false;
    flush();
    if (!listed) {
      source_problem(t, settings_, prefix, listed.error(), false);
      return true;
    }
    if (t.certificates == 0) {
      std::vector<Finding> one;
      FileScan f(settings_, prefix, one);
      f.add(kRuleSchema, "", nullptr, Kind::schema,
            fmt::format("holds no <episode_id>/{} that could be scanned", kCertificateFile),
            "at least one quality certificate");
      t.add(std::move(one));
    }
    return true;
  }

  Json expected_json() const {
    Json rules = Json::array();
    for (const RuleDef& r : kRules) {
      if (settings_.on(r.name)) rules.push_back(r.name);
    }
    return {{"rules", rules},
            {"physics_backends", settings_.report_backends},
            {"certificate_physics_backends", settings_.certificate_backends},
            {"mock_sensor_sources", settings_.certificate_mock_sensors},
            {"info_mock_sensor_sources", settings_.info_mock_sensors},
            {"info_mock_validation_types", settings_.info_mock_validation_types}};
  }

  CheckOutcome evaluate(CheckContext& ctx) const {
    Tally t;
    std::string path;
    if (report_) {
      if (auto doc = load_source(ctx, t, *report_, "validation_report", path)) {
        std::vector<Finding> found;
        FileScan f(settings_, path, found);
        t.report_episodes += scan_report(f, *doc);
        t.add(std::move(found));
      }
    }
    if (info_) {
      if (auto doc = load_source(ctx, t, *info_, "lerobot_info", path)) {
        std::vector<Finding> found;
        FileScan f(settings_, path, found);
        scan_info(f, *doc);
        t.add(std::move(found));
      }
    }
    if (manifest_) {
      if (auto doc = load_source(ctx, t, *manifest_, "quality_manifest", path)) {
        std::vector<Finding> found;
        FileScan f(settings_, path, found);
        t.manifest_episodes += scan_manifest(f, *doc);
        t.add(std::move(found));
      }
    }
    if (episodes_) scan_episodes(ctx, t);
    if (certificates_ && !scan_certificates(ctx, t)) {
      return CheckOutcome::from(make_error(
          Errc::interrupted, "mock_detection: interrupted while scanning quality certificates"));
    }

    const std::size_t episode_rows = t.report_episodes + t.lerobot_rows + t.manifest_episodes;
    const std::vector<const Finding*> kept = t.kept();
    CheckOutcome out;
    if (t.total > 0) {
      std::vector<std::string> lines;
      for (const Finding* f : kept) {
        if (lines.size() == kMaxFindingsInMessage) break;
        lines.push_back(f->text());
      }
      std::string more =
          t.total > lines.size()
              ? fmt::format("; ... and {} more (details.findings)", t.total - lines.size())
              : "";
      std::string errors = t.errors.empty()
                               ? ""
                               : fmt::format(" ({} source(s) could not be read: {})",
                                             t.errors.size(), fmt::join(t.errors, "; "));
      out = CheckOutcome::fail(fmt::format(
          "{} finding{} ({} mock indicator{}, {} missing, wrongly typed or unreadable) in {} "
          "artifact{} scanned{}: {}{}",
          t.total, t.total == 1 ? "" : "s", t.mock_values, t.mock_values == 1 ? "" : "s",
          t.total - t.mock_values, t.artifacts, t.artifacts == 1 ? "" : "s", errors,
          fmt::join(lines, "; "), more));
    } else if (!t.errors.empty()) {
      out = CheckOutcome::error(
          fmt::format("mock indicators could not be evaluated: {}", fmt::join(t.errors, "; ")));
    } else if (t.artifacts == 0 && !t.skipped.empty()) {
      std::vector<std::string> names;
      for (const Json& s : t.skipped) {
        names.push_back(
            fmt::format("{} ({})", s["source"].get<std::string>(), s["path"].get<std::string>()));
      }
      out = CheckOutcome::make(Status::skipped,
                               fmt::format("every configured source is absent and optional: {}",
                                           fmt::join(names, ", ")));
    } else {
      std::string skipped;
      if (!t.skipped.empty()) {
        std::vector<std::string> names;
        for (const Json& s : t.skipped) names.push_back(s["source"].get<std::string>());
        skipped = fmt::format("; absent optional source{} skipped: {}",
                              names.size() == 1 ? "" : "s", fmt::join(names, ", "));
      }
      out = CheckOutcome::pass(fmt::format(
          "no mock indicators in {} artifact{} ({} episode row{}, {} certificate{} scanned){}",
          t.artifacts, t.artifacts == 1 ? "" : "s", episode_rows, episode_rows == 1 ? "" : "s",
          t.certificates, t.certificates == 1 ? "" : "s", skipped));
    }
    out.observed = {{"artifacts_scanned", t.artifacts},
                    {"episode_rows", episode_rows},
                    {"report_episodes", t.report_episodes},
                    {"lerobot_episode_rows", t.lerobot_rows},
                    {"manifest_episodes", t.manifest_episodes},
                    {"certificates", t.certificates},
                    {"findings", t.total},
                    {"mock_indicators", t.mock_values}};
    out.expected = expected_json();
    Json findings = Json::array();
    for (const Finding* f : kept) findings.push_back(f->to_json());
    out.details = {{"findings", std::move(findings)},
                   {"total_findings", t.total},
                   {"findings_truncated", t.total > kept.size()},
                   {"ignored_rules", Json(std::vector<std::string>(settings_.ignored.begin(),
                                                                   settings_.ignored.end()))},
                   {"skipped_sources", t.skipped}};
    if (!t.errors.empty()) out.details["errors"] = t.errors;
    return out;
  }

  Settings settings_;
  std::optional<ArtifactRef> report_;
  std::optional<PathTemplate> certificates_;
  std::optional<ArtifactRef> episodes_;
  std::optional<ArtifactRef> info_;
  std::optional<ArtifactRef> manifest_;
};

std::string rules_doc() {
  std::string out;
  for (const RuleDef& r : kRules) out += fmt::format("  {} ({}): {}\n", r.name, r.source, r.text);
  return out;
}

CheckInfo info() {
  CheckInfo i;
  i.type = "mock_detection";
  i.category = "quality";
  i.summary = "No mock or fallback data in the episode artifacts (every row, every certificate).";
  i.description =
      "Scans the configured sources for the scene pipeline's mock/fallback indicators: "
      "validation_report.json, every <episode_id>/quality_certificate.json under "
      "`certificates` (listed streaming), every row of LeRobot meta/episodes.jsonl, "
      "meta/info.json and dataset_quality_manifest.json. At least one source is required.\n"
      "Fail closed: a field a rule reads that is missing or has the wrong type (\"false\" is "
      "not a boolean) is a finding like a mock value; a configured source that is missing, "
      "unreadable or malformed fails (an absent artifact declared optional is skipped and "
      "listed; if every source is absent-optional the check is skipped). Every finding names "
      "the file, the full field path (episodes[17].physics_backend; JSON Lines rows also "
      "their line), the value and the rule; the message lists the first 20, details.findings "
      "up to 1000, details.total_findings all.\n"
      "Rules (switch one off with `ignore: [name]`):\n" +
      rules_doc() +
      "Reading findings (source_missing, source_unreadable, malformed, schema) cannot be "
      "ignored.";
  i.params = {
      {"validation_report",
       ParamType::artifact,
       false,
       nullptr,
       "episodes/quality/validation_report.json.",
       {}},
      {"certificates",
       ParamType::path,
       false,
       nullptr,
       "Folder of <episode_id>/quality_certificate.json (episodes/quality/episodes).",
       {}},
      {"lerobot_episodes",
       ParamType::artifact,
       false,
       nullptr,
       "LeRobot meta/episodes.jsonl (read as JSON Lines).",
       {}},
      {"lerobot_info", ParamType::artifact, false, nullptr, "LeRobot meta/info.json.", {}},
      {"quality_manifest",
       ParamType::artifact,
       false,
       nullptr,
       "episodes/dataset_quality_manifest.json.",
       {}},
      {"physics_backends",
       ParamType::string_list,
       false,
       Json::array({"isaac_sim", "isaac_lab"}),
       "Physics backends allowed in the validation report.",
       {}},
      {"certificate_physics_backends",
       ParamType::string_list,
       false,
       Json::array({"physx"}),
       "Physics backends allowed in certificates and the quality manifest.",
       {}},
      {"mock_sensor_sources",
       ParamType::string_list,
       false,
       Json::array({"mock", "disabled"}),
       "Certificate sensor_source values that mean mock capture.",
       {}},
      {"info_mock_sensor_sources",
       ParamType::string_list,
       false,
       Json::array({"mock_random", "none"}),
       "info.json data_quality.sensor_source values that mean mock capture.",
       {}},
      {"info_mock_validation_types",
       ParamType::string_list,
       false,
       Json::array({"heuristic", "none"}),
       "info.json data_quality.validation_type values that mean no physics validation.",
       {}},
      {"ignore",
       ParamType::string_list,
       false,
       Json::array(),
       "Rule names to switch off (see the description).",
       {}},
  };
  i.example =
      "- id: no_mock_data\n"
      "  type: mock_detection\n"
      "  validation_report: scenes/${scene_id}/episodes/quality/validation_report.json\n"
      "  certificates: scenes/${scene_id}/episodes/quality/episodes\n"
      "  lerobot_episodes: scenes/${scene_id}/episodes/lerobot/meta/episodes.jsonl\n"
      "  lerobot_info: scenes/${scene_id}/episodes/lerobot/meta/info.json\n"
      "  quality_manifest: scenes/${scene_id}/episodes/dataset_quality_manifest.json\n"
      "  ignore: [certificate.recommended_use]";
  return i;
}

Result<std::unique_ptr<Check>> make(const CheckConfig& config) {
  auto artifact = [&](std::string_view name) -> std::optional<ArtifactRef> {
    if (const ArtifactRef* ref = config.get_artifact(name)) return *ref;
    return std::nullopt;
  };
  std::optional<ArtifactRef> report = artifact("validation_report");
  std::optional<ArtifactRef> episodes = artifact("lerobot_episodes");
  std::optional<ArtifactRef> lerobot_info = artifact("lerobot_info");
  std::optional<ArtifactRef> manifest = artifact("quality_manifest");
  std::optional<PathTemplate> certificates;
  if (config.has("certificates")) {
    const auto& paths = config.get_paths("certificates");
    if (paths.size() != 1) return config.error("certificates", "expected one folder");
    certificates = paths.front();
  }
  if (!report && !episodes && !lerobot_info && !manifest && !certificates) {
    return config.error("source",
                        "give at least one source: validation_report, certificates, "
                        "lerobot_episodes, lerobot_info or quality_manifest");
  }

  Settings s;
  struct ListParam {
    const char* name;
    std::vector<std::string>* target;
    const char* rule;
  };
  for (const ListParam& p :
       {ListParam{"physics_backends", &s.report_backends, "report.physics_backend"},
        ListParam{"certificate_physics_backends", &s.certificate_backends,
                  "certificate.physics_backend"},
        ListParam{"mock_sensor_sources", &s.certificate_mock_sensors, "certificate.sensor_source"},
        ListParam{"info_mock_sensor_sources", &s.info_mock_sensors, "info.sensor_source"},
        ListParam{"info_mock_validation_types", &s.info_mock_validation_types,
                  "info.validation_type"}}) {
    *p.target = config.get_string_list(p.name);
    if (p.target->empty()) {
      return config.error(p.name, fmt::format("is empty; to stop this check, write "
                                              "`ignore: [{}]` instead",
                                              p.rule));
    }
    for (const std::string& v : *p.target) {
      if (v.empty()) return config.error(p.name, "holds an empty name");
    }
  }

  std::vector<std::string> known;
  for (const RuleDef& r : kRules) known.emplace_back(r.name);
  for (const std::string& name : config.get_string_list("ignore")) {
    if (name == kRuleMissing || name == kRuleUnreadable || name == kRuleMalformed ||
        name == kRuleSchema) {
      return config.error("ignore", fmt::format("'{}' guards reading the sources and cannot be "
                                                "ignored",
                                                name));
    }
    if (!contains(known, name)) {
      return config.error(
          "ignore", fmt::format("unknown rule '{}' (rules: {})", name, fmt::join(known, ", ")));
    }
    s.ignored.insert(name);
  }
  // A configured source whose every rule is ignored would be read for nothing: more likely a
  // mistake than a wish, and a check that checks nothing must not pass.
  struct SourceRules {
    bool configured;
    std::string_view source;
  };
  for (const SourceRules& sr : {SourceRules{report.has_value(), "validation_report"},
                                SourceRules{certificates.has_value(), "certificates"},
                                SourceRules{episodes.has_value(), "lerobot_episodes"},
                                SourceRules{lerobot_info.has_value(), "lerobot_info"},
                                SourceRules{manifest.has_value(), "quality_manifest"}}) {
    if (!sr.configured) continue;
    bool any = false;
    for (const RuleDef& r : kRules) any |= r.source == sr.source && s.on(r.name);
    if (!any) {
      return config.error("ignore", fmt::format("every rule for {} is ignored; remove the source "
                                                "or keep a rule",
                                                sr.source));
    }
  }
  return std::unique_ptr<Check>(std::make_unique<MockDetection>(
      std::move(s), std::move(report), std::move(certificates), std::move(episodes),
      std::move(lerobot_info), std::move(manifest)));
}

void register_checks(PluginRegistrar& registrar) { registrar.add(info(), make); }

}  // namespace

STAGECHECK_PLUGIN("mock_detection", "1.0.0", register_checks)
