// quality_gate: the runbook's "Quality Gate Preflight" on quality_gate_report.json.
//
// The pipeline's own preflight reads two summary fields. This check reads the whole report
// strictly, recounts results[] itself (a summary that says "can proceed" while an error-severity
// gate failed is caught), and lets a failed gate's block be lifted only by an approval record in
// the pipeline's file approval store that is backed by its audit log and meets the override
// policy. See info() below and the README section for the rules.

#include <stagecheck/local_store.hpp>
#include <stagecheck/plugin.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using namespace stagecheck;
using nlohmann::json;
namespace fs = std::filesystem;

// ---- constants ------------------------------------------------------------------------------

/// Failure codes (CheckOutcome::code), most fundamental first.
constexpr std::string_view kCodeMissing = "quality_artifacts_missing";
constexpr std::string_view kCodeUnreadable = "quality_gate_unreadable";
constexpr std::string_view kCodeBlocked = "quality_gate_blocked";
constexpr std::string_view kCodeSceneMismatch = "quality_gate_scene_mismatch";
constexpr std::string_view kCodeInconsistent = "quality_gate_inconsistent";
constexpr std::string_view kCodeEmpty = "quality_gate_empty";

/// An approval record is a few KiB; anything near this is not one.
constexpr std::uint64_t kMaxApprovalBytes = 1ull << 20;
/// The audit log is append-only and shared by every request, so it gets more room.
constexpr std::uint64_t kMaxAuditLogBytes = 16ull << 20;
/// Bounds the work one scene's approval folder can cause.
constexpr std::size_t kMaxApprovalFiles = 1000;
/// Report problems spelled out in the message (details keep them all).
constexpr std::size_t kMaxProblemsShown = 20;
/// A gate message quoted in the one-line message is cut here (details keep it whole).
constexpr std::size_t kMaxQuotedChars = 200;
/// The pipeline's override policy (quality_config.json gate_overrides.override_reason_schema).
constexpr std::size_t kMinJustificationChars = 50;
constexpr std::array<std::string_view, 5> kOverrideCategories = {
    "data_gap", "tooling_failure", "known_issue", "customer_exception", "other"};
constexpr std::array<std::string_view, 3> kSeverities = {"error", "warning", "info"};
constexpr std::array<std::string_view, 5> kApprovalStatuses = {"pending", "approved", "rejected",
                                                               "overridden", "expired"};

// ---- small text helpers ---------------------------------------------------------------------

/// Dumps JSON without ever throwing on bad UTF-8 (file names and the like can carry any bytes).
std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

/// `s` with invalid UTF-8 replaced, so it can go into a JSON report.
std::string printable(std::string_view s) {
  return json::parse(dump(json(std::string(s)))).get<std::string>();
}

/// Cuts `s` to at most `max` bytes on a UTF-8 boundary, marking the cut.
std::string shorten(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0u) == 0x80u) --n;
  return std::string(s.substr(0, n)) + "...";
}

/// Counts Unicode code points (the policy's "characters"), not bytes.
std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0u) != 0x80u; }));
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  std::size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  std::size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) out += sep;
    out += parts[i];
  }
  return out;
}

template <std::size_t N>
bool one_of(std::string_view v, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

template <std::size_t N>
std::string quoted_list(const std::array<std::string_view, N>& set) {
  std::vector<std::string> parts;
  for (auto s : set) parts.push_back(fmt::format("\"{}\"", s));
  return join(parts, ", ");
}

/// What a value is, for "expected X, found Y" messages.
std::string describe(const json* v) {
  if (v == nullptr) return "nothing (the field is missing)";
  switch (v->type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return fmt::format("boolean {}", v->get<bool>());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return fmt::format("integer {}", dump(*v));
    case json::value_t::number_float:
      return fmt::format("number {}", dump(*v));
    case json::value_t::string:
      return fmt::format("string {}", dump(json(shorten(v->get_ref<const std::string&>(), 80))));
    case json::value_t::array:
      return fmt::format("an array of {} element(s)", v->size());
    case json::value_t::object:
      return "an object";
    default:
      return v->type_name();
  }
}

/// A single path segment: it names a folder under the approvals root and nothing else.
bool is_segment(std::string_view s) {
  return !s.empty() && s != "." && s != ".." &&
         s.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

/// A ticket reference as the override policy means it: an id such as OPS-1234 (the policy's
/// `[A-Za-z][A-Za-z0-9._-]*-\d+`), or an http(s) URL. The policy's pattern,
/// `^(https?://|[A-Za-z][A-Za-z0-9._-]*-\d+)$`, is anchored at both ends, so read literally it
/// accepts only the bare "https://" as a URL, which names no ticket; the pipeline's own fallback
/// (`_validate_ticket_reference`) accepts any URL with that prefix. Here a URL needs a host and
/// no whitespace. Hand-written rather than std::regex, whose recursion a long string can overflow.
bool valid_ticket(std::string_view t) {
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (t.substr(0, scheme.size()) == scheme) {
      std::string_view rest = t.substr(scheme.size());
      if (rest.empty() || rest.front() == '/') return false;
      return std::none_of(rest.begin(), rest.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
      });
    }
  }
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t end = t.size();
  std::size_t digits_from = end;
  while (digits_from > 0 && digit(t[digits_from - 1])) --digits_from;
  // The trailing `-\d+` must be the maximal digit run: the character before it is '-'.
  if (digits_from == end || digits_from < 2 || t[digits_from - 1] != '-') return false;
  if (!alpha(t[0])) return false;
  return std::all_of(
      t.begin(), t.begin() + static_cast<std::ptrdiff_t>(digits_from - 1),
      [&](char c) { return alpha(c) || digit(c) || c == '.' || c == '_' || c == '-'; });
}

/// Parses an RFC 3339 / ISO-8601 timestamp with a zone ("2024-05-08T12:34:56.123456Z",
/// "...+02:00") into microseconds since the epoch. A timestamp without a zone is refused: which
/// instant it names is a guess.
std::optional<std::int64_t> parse_timestamp(std::string_view s) {
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!num(0, 4, year) || s.size() < 19 || s[4] != '-' || !num(5, 2, month) || s[7] != '-' ||
      !num(8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, hour) ||
      s[13] != ':' || !num(14, 2, minute) || s[16] != ':' || !num(17, 2, second)) {
    return std::nullopt;
  }
  static constexpr std::array<int, 12> kDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[static_cast<std::size_t>(month - 1)] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    std::int64_t scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        micros += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
  }
  std::int64_t offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!num(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !num(pos + 4, 2, om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  // Days from the civil date (H. Hinnant's algorithm).
  std::int64_t y = year - (month <= 2 ? 1 : 0);
  std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  std::int64_t yoe = y - era * 400;
  std::int64_t mp = (month + 9) % 12;
  std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
  std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t days = era * 146097 + doe - 719468;
  std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return secs * 1000000 + micros;
}

// ---- strict field reading -------------------------------------------------------------------

/// Reads typed fields of JSON objects, collecting one problem per wrong field, each naming the
/// field's path, what was expected and what was found.
class FieldReader {
 public:
  /// When true, an optional field written as null counts as absent (approval records write
  /// `"approved_by": null` while pending); in the gate report null is a wrong type.
  explicit FieldReader(bool null_is_absent) : null_is_absent_(null_is_absent) {}

  static std::string path(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
  }

  void problem(std::string message) { problems_.push_back(std::move(message)); }
  void wrong(const std::string& where, std::string_view expected, const json* found) {
    problem(fmt::format("{}: expected {}, found {}", where, expected, describe(found)));
  }
  const std::vector<std::string>& problems() const { return problems_; }

  /// The field, or nullptr when absent; a required absent field is a problem.
  const json* field(const json& obj, std::string_view prefix, std::string_view key, bool required,
                    std::string_view expected) {
    auto it = obj.find(std::string(key));
    const json* v = it == obj.end() ? nullptr : &*it;
    if (v != nullptr && v->is_null() && null_is_absent_) v = nullptr;
    if (v == nullptr && required) wrong(path(prefix, key), expected, nullptr);
    return v;
  }

  std::optional<std::string> string(const json& obj, std::string_view prefix, std::string_view key,
                                    bool required, bool non_empty = false) {
    std::string_view expected = non_empty ? "a non-empty string" : "a string";
    const json* v = field(obj, prefix, key, required, expected);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string() || (non_empty && v->get_ref<const std::string&>().empty())) {
      wrong(path(prefix, key), expected, v);
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<bool> boolean(const json& obj, std::string_view prefix, std::string_view key,
                              bool required) {
    const json* v = field(obj, prefix, key, required, "a boolean");
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      wrong(path(prefix, key), "a boolean", v);
      return std::nullopt;
    }
    return v->get<bool>();
  }

  /// A non-negative integer written as one: 0.0 and "0" are not counts.
  std::optional<std::int64_t> count(const json& obj, std::string_view prefix, std::string_view key,
                                    bool required) {
    constexpr std::string_view kExpected = "a non-negative integer";
    const json* v = field(obj, prefix, key, required, kExpected);
    if (v == nullptr) return std::nullopt;
    if (v->is_number_unsigned()) {
      auto u = v->get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<std::int64_t>(u);
      }
    } else if (v->is_number_integer() && v->get<std::int64_t>() >= 0) {
      return v->get<std::int64_t>();
    }
    wrong(path(prefix, key), kExpected, v);
    return std::nullopt;
  }

  std::optional<std::vector<std::string>> strings(const json& obj, std::string_view prefix,
                                                  std::string_view key, bool required) {
    const json* v = field(obj, prefix, key, required, "an array of strings");
    if (v == nullptr) return std::nullopt;
    if (!v->is_array()) {
      wrong(path(prefix, key), "an array of strings", v);
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (!e.is_string()) {
        wrong(fmt::format("{}[{}]", path(prefix, key), i), "a string", &e);
        ok = false;
        continue;
      }
      out.push_back(e.get<std::string>());
    }
    if (!ok) return std::nullopt;
    return out;
  }

  /// A string from a closed set.
  template <std::size_t N>
  std::optional<std::string> choice(const json& obj, std::string_view prefix, std::string_view key,
                                    bool required, const std::array<std::string_view, N>& set) {
    std::string expected = fmt::format("one of {}", quoted_list(set));
    const json* v = field(obj, prefix, key, required, expected);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string() || !one_of(v->get_ref<const std::string&>(), set)) {
      wrong(path(prefix, key), expected, v);
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  const json* object(const json& obj, std::string_view prefix, std::string_view key,
                     bool required) {
    const json* v = field(obj, prefix, key, required, "an object");
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
      wrong(path(prefix, key), "an object", v);
      return nullptr;
    }
    return v;
  }

 private:
  bool null_is_absent_;
  std::vector<std::string> problems_;
};

// ---- the gate report ------------------------------------------------------------------------

/// One entry of results[].
struct Gate {
  std::size_t index = 0;
  std::string gate_id;
  std::string checkpoint;
  bool passed = false;
  std::string severity;
  std::string message;
  std::vector<std::string> recommendations;
  json details = json::object();

  /// A failed error-severity gate blocks, whatever the summary says.
  bool blocking() const { return !passed && severity == "error"; }
};

/// A v2.0 checkpoint list and its summary count (each optional).
struct CheckpointList {
  std::string_view name;
  std::optional<std::vector<std::string>> list;
  std::optional<std::int64_t> count;
};

/// The report, every field type-checked.
struct GateReport {
  std::optional<std::string> report_version;
  std::optional<std::string> scene_id;
  std::optional<std::string> timestamp;
  json summary = json::object();
  std::int64_t total_gates = 0;
  std::int64_t passed = 0;
  std::int64_t failed = 0;
  std::int64_t blocking_failures = 0;
  bool can_proceed = false;
  std::array<CheckpointList, 3> checkpoints = {CheckpointList{"required_checkpoints", {}, {}},
                                               CheckpointList{"executed_checkpoints", {}, {}},
                                               CheckpointList{"skipped_checkpoints", {}, {}}};
  std::vector<Gate> gates;
};

/// Reads the report; returns the problems (empty: `out` is complete and typed).
std::vector<std::string> read_report(const json& doc, GateReport& out) {
  FieldReader r(false);
  if (!doc.is_object()) {
    r.wrong("(document)", "a JSON object", &doc);
    return r.problems();
  }
  out.report_version = r.string(doc, "", "report_version", false);
  if (out.report_version && *out.report_version != "2" && out.report_version->rfind("2.", 0) != 0) {
    r.problem(fmt::format("report_version: expected \"2.0\" (a 2.x version), found {}",
                          describe(&doc.at("report_version"))));
  }
  out.scene_id = r.string(doc, "", "scene_id", false);
  out.timestamp = r.string(doc, "", "timestamp", false);
  for (auto& cp : out.checkpoints) cp.list = r.strings(doc, "", cp.name, false);
  if (const json* reasons = r.object(doc, "", "skip_reasons", false)) {
    for (const auto& [key, value] : reasons->items()) {
      if (!value.is_string()) r.wrong(fmt::format("skip_reasons[\"{}\"]", key), "a string", &value);
    }
  }

  if (const json* summary = r.object(doc, "", "summary", true)) {
    out.summary = *summary;
    auto total = r.count(*summary, "summary", "total_gates", true);
    auto passed = r.count(*summary, "summary", "passed", true);
    auto failed = r.count(*summary, "summary", "failed", true);
    auto blocking = r.count(*summary, "summary", "blocking_failures", true);
    auto can_proceed = r.boolean(*summary, "summary", "can_proceed", true);
    out.total_gates = total.value_or(0);
    out.passed = passed.value_or(0);
    out.failed = failed.value_or(0);
    out.blocking_failures = blocking.value_or(0);
    out.can_proceed = can_proceed.value_or(false);
    for (auto& cp : out.checkpoints) cp.count = r.count(*summary, "summary", cp.name, false);
  }

  const json* results = r.field(doc, "", "results", true, "an array of gate results");
  if (results != nullptr && !results->is_array()) {
    r.wrong("results", "an array of gate results", results);
    results = nullptr;
  }
  if (results != nullptr) {
    for (std::size_t i = 0; i < results->size(); ++i) {
      const json& e = (*results)[i];
      std::string at = fmt::format("results[{}]", i);
      if (!e.is_object()) {
        r.wrong(at, "an object", &e);
        continue;
      }
      Gate g;
      g.index = i;
      g.gate_id = r.string(e, at, "gate_id", true, true).value_or("");
      g.checkpoint = r.string(e, at, "checkpoint", true).value_or("");
      g.passed = r.boolean(e, at, "passed", true).value_or(false);
      g.message = r.string(e, at, "message", true).value_or("");
      g.severity = r.choice(e, at, "severity", true, kSeverities).value_or("");
      g.recommendations =
          r.strings(e, at, "recommendations", false).value_or(std::vector<std::string>{});
      r.boolean(e, at, "requires_human_approval", false);
      r.string(e, at, "timestamp", false);
      if (const json* details = r.object(e, at, "details", false)) g.details = *details;
      out.gates.push_back(std::move(g));
    }
  }
  return r.problems();
}

// ---- local files ----------------------------------------------------------------------------

/// Reads a local (operator-given, outside the store) file of at most `cap` bytes.
Result<std::string> read_local(const fs::path& p, std::uint64_t cap) {
  return read_local_file(p, cap);
}

// ---- the approval store ---------------------------------------------------------------------

/// One line of an audit log, type-checked.
struct AuditEntry {
  std::string action;
  std::string request_id;
  std::string gate_id;
  std::optional<std::string> scene_id;
  std::optional<std::string> actor;
  json metadata;       ///< null when absent
  std::string source;  ///< "<log> entry N", for messages
};

/// Every audit entry found, or why none can be trusted.
struct AuditTrail {
  std::vector<AuditEntry> entries;
  std::vector<std::string> looked_at;
  std::string unusable;  ///< non-empty: an audit log exists but cannot be read or parsed
  json logs = json::array();
};

/// Reads both places the audit log may live. The reference puts it at `audit/audit.log.jsonl`
/// relative to the approvals folder; the pipeline's FilesystemApprovalStore writes it under the
/// scene's folder (`<scene>/audit/audit.log.jsonl`). Both are read and their entries pooled. If
/// either exists but cannot be read or parsed, no audit evidence is trusted at all: a log we
/// cannot read may hold the REJECTED or AUTO_APPROVED_TIMEOUT entry that voids an approval.
AuditTrail read_audit(const fs::path& root, const std::string& scene) {
  AuditTrail trail;
  for (const fs::path& p :
       {root / "audit" / "audit.log.jsonl", root / scene / "audit" / "audit.log.jsonl"}) {
    std::string shown = printable(p.string());
    trail.looked_at.push_back(shown);
    auto text = read_local(p, kMaxAuditLogBytes);
    if (!text) {
      if (text.error().code == Errc::not_found) {
        trail.logs.push_back({{"path", shown}, {"status", "absent"}});
        continue;
      }
      trail.logs.push_back(
          {{"path", shown}, {"status", "unusable"}, {"error", text.error().message}});
      trail.unusable = fmt::format("audit log '{}' is unusable: {}", shown, text.error().message);
      continue;
    }
    auto lines = parse_json_lines(*text, shown);
    if (!lines) {
      trail.logs.push_back(
          {{"path", shown}, {"status", "unusable"}, {"error", lines.error().message}});
      trail.unusable = fmt::format("audit log '{}' is unusable: {}", shown, lines.error().message);
      continue;
    }
    std::string problem;
    std::vector<AuditEntry> entries;
    for (std::size_t i = 0; i < lines->size() && problem.empty(); ++i) {
      const json& e = (*lines)[i];
      std::string at = fmt::format("entry {}", i + 1);
      FieldReader r(true);
      if (!e.is_object()) {
        r.wrong(at, "an object", &e);
      } else {
        AuditEntry a;
        a.action = r.string(e, at, "action", true).value_or("");
        a.request_id = r.string(e, at, "request_id", true).value_or("");
        a.gate_id = r.string(e, at, "gate_id", true).value_or("");
        a.scene_id = r.string(e, at, "scene_id", false);
        a.actor = r.string(e, at, "actor", false);
        if (const json* m = r.object(e, at, "metadata", false)) a.metadata = *m;
        a.source = fmt::format("{} entry {}", shown, i + 1);
        entries.push_back(std::move(a));
      }
      if (!r.problems().empty()) problem = r.problems().front();
    }
    if (!problem.empty()) {
      trail.logs.push_back({{"path", shown}, {"status", "unusable"}, {"error", problem}});
      trail.unusable = fmt::format("audit log '{}' is unusable: {}", shown, problem);
      continue;
    }
    trail.logs.push_back({{"path", shown}, {"status", "read"}, {"entries", entries.size()}});
    for (auto& a : entries) trail.entries.push_back(std::move(a));
  }
  return trail;
}

/// An approval that lifts a gate's block.
struct ApprovalUse {
  std::string request_id;
  std::string gate_id;
  std::string checkpoint;
  std::string approver;
  std::string kind;  ///< "approval" or "override"
  std::optional<std::string> ticket;
  std::string file;
  std::string audit;               ///< the backing audit entry
  std::vector<std::size_t> gates;  ///< indexes of the gates it lifts
};

/// A record that lifts nothing, and why.
struct ApprovalRejection {
  std::string file;
  std::optional<std::string> request_id;
  std::optional<std::string> gate_id;
  std::string reason;
};

/// The outcome of reading the approval store for one report.
struct ApprovalReview {
  bool consulted = false;
  std::string reason;  ///< why not consulted, or what was found when nothing was
  std::string folder;
  std::vector<ApprovalUse> used;
  std::vector<ApprovalRejection> rejected;
  std::set<std::size_t> lifted;  ///< indexes into GateReport::gates
  json info = json::object();    ///< details.approvals
};

/// Checks the override policy; appends one reason per violation.
void check_override_policy(const json& metadata, const std::optional<std::string>& approved_by,
                           std::vector<std::string>& reasons, std::optional<std::string>& ticket) {
  FieldReader r(false);
  auto approver = r.string(metadata, "override_metadata", "approver_id", true, true);
  auto category = r.string(metadata, "override_metadata", "category", true);
  ticket = r.string(metadata, "override_metadata", "ticket", true);
  auto justification = r.string(metadata, "override_metadata", "justification", true);
  r.string(metadata, "override_metadata", "timestamp", true, true);
  for (const auto& p : r.problems()) reasons.push_back(p);
  if (category && !one_of(*category, kOverrideCategories)) {
    reasons.push_back(fmt::format("override category \"{}\" is not one of {}",
                                  shorten(*category, 60), quoted_list(kOverrideCategories)));
  }
  if (ticket && !valid_ticket(*ticket)) {
    reasons.push_back(
        fmt::format("override ticket \"{}\" is not a ticket id (e.g. OPS-1234) or an http(s) URL",
                    shorten(*ticket, 80)));
  }
  if (justification) {
    std::size_t n = code_points(trim(*justification));
    if (n < kMinJustificationChars) {
      reasons.push_back(fmt::format("override justification has {} characters, fewer than {}", n,
                                    kMinJustificationChars));
    }
  }
  if (approver && approved_by && *approver != *approved_by) {
    reasons.push_back(
        fmt::format("override_metadata.approver_id \"{}\" differs from approved_by "
                    "\"{}\"",
                    shorten(*approver, 60), shorten(*approved_by, 60)));
  }
}

/// Reviews one approval record against the report's gates and the audit trail. Returns the
/// reasons it is rejected (empty: it lifts every failed blocking gate in `use.gates`).
std::vector<std::string> review_record(const json& doc, const std::string& file_stem,
                                       const std::string& scene, const std::vector<Gate>& gates,
                                       const AuditTrail& audit, bool production,
                                       ApprovalRejection& rejection, ApprovalUse& use) {
  std::vector<std::string> reasons;
  FieldReader r(true);
  if (!doc.is_object()) {
    reasons.push_back(fmt::format("malformed: expected a JSON object, found {}", describe(&doc)));
    return reasons;
  }
  auto request_id = r.string(doc, "", "request_id", true, true);
  auto gate_id = r.string(doc, "", "gate_id", true, true);
  auto scene_id = r.string(doc, "", "scene_id", true);
  auto checkpoint = r.string(doc, "", "checkpoint", false);
  auto approved_by = r.string(doc, "", "approved_by", false);
  auto approved_at = r.string(doc, "", "approved_at", false);
  auto expires_at = r.string(doc, "", "expires_at", false);
  const json* metadata = r.object(doc, "", "override_metadata", false);
  std::string status = r.choice(doc, "", "status", true, kApprovalStatuses).value_or("");
  rejection.request_id = request_id;
  rejection.gate_id = gate_id;
  if (!r.problems().empty()) {
    for (const auto& p : r.problems()) reasons.push_back("malformed: " + p);
    return reasons;
  }

  if (*request_id != file_stem) {
    reasons.push_back(
        fmt::format("request_id \"{}\" does not match the file name", shorten(*request_id, 60)));
  }
  if (*scene_id != scene) {
    reasons.push_back(fmt::format("scene_id \"{}\" is not the report's scene \"{}\"",
                                  shorten(*scene_id, 60), scene));
  }

  // Which gates it could lift: same gate_id, and the same checkpoint when it names one.
  std::vector<const Gate*> same_id, same_gate;
  for (const Gate& g : gates) {
    if (g.gate_id != *gate_id) continue;
    same_id.push_back(&g);
    if (!checkpoint || *checkpoint == g.checkpoint) same_gate.push_back(&g);
  }
  std::vector<const Gate*> failed, blocking;
  for (const Gate* g : same_gate) {
    if (!g->passed) failed.push_back(g);
    if (g->blocking()) blocking.push_back(g);
  }
  if (same_id.empty()) {
    reasons.push_back(fmt::format("gate \"{}\" is not in the report", shorten(*gate_id, 60)));
  } else if (same_gate.empty()) {
    reasons.push_back(
        fmt::format("checkpoint \"{}\" does not match gate \"{}\" (checkpoint \"{}\")",
                    shorten(*checkpoint, 60), *gate_id, same_id.front()->checkpoint));
  } else if (failed.empty()) {
    reasons.push_back(fmt::format(
        "gate \"{}\" passed in the report; an approval only lifts a failed gate", *gate_id));
  } else if (blocking.empty()) {
    reasons.push_back(
        fmt::format("gate \"{}\" failed with severity {}, which does not block: nothing to lift",
                    *gate_id, failed.front()->severity));
  }

  bool is_override = status == "overridden";
  if (status != "approved" && status != "overridden") {
    reasons.push_back(fmt::format("status is \"{}\": not an approval", status));
    return reasons;
  }
  use.kind = is_override ? "override" : "approval";
  if (!approved_by || approved_by->empty()) {
    reasons.push_back("approved_by is missing: an approval names its approver");
  } else if (approved_by->rfind("SYSTEM:", 0) == 0) {
    reasons.push_back(fmt::format("approved by \"{}\": automatic approvals are never accepted",
                                  shorten(*approved_by, 60)));
  }

  // The audit log must back the record, and nothing in it may void the record.
  const std::string_view backing_action = is_override ? "OVERRIDDEN" : "APPROVED";
  const AuditEntry* backing = nullptr;
  bool timeout = false, rejected = false, expired = false;
  for (const AuditEntry& a : audit.entries) {
    if (a.request_id != *request_id) continue;
    if (a.action == "AUTO_APPROVED_TIMEOUT") timeout = true;
    if (a.action == "REJECTED") rejected = true;
    if (a.action == "EXPIRED") expired = true;
    if (a.action == backing_action && a.gate_id == *gate_id && backing == nullptr) backing = &a;
  }
  if (!audit.unusable.empty()) {
    reasons.push_back(audit.unusable);
  } else {
    if (timeout) {
      reasons.push_back(
          "the audit log records AUTO_APPROVED_TIMEOUT for this request: auto-approval on "
          "timeout is never accepted");
    }
    if (rejected) reasons.push_back("the audit log records this request as REJECTED");
    // The pipeline may override a request that expired, but never approve one.
    if (expired && !is_override) {
      reasons.push_back("the audit log records this request as EXPIRED");
    }
    if (backing == nullptr) {
      if (!timeout) {
        reasons.push_back(
            fmt::format("no {} audit entry for request_id \"{}\" and gate \"{}\" "
                        "(looked in {})",
                        backing_action, *request_id, *gate_id, join(audit.looked_at, " and ")));
      }
    } else {
      use.audit = backing->source;
      if (backing->scene_id && *backing->scene_id != scene) {
        reasons.push_back(fmt::format("{}: audit scene_id \"{}\" is not \"{}\"", backing->source,
                                      shorten(*backing->scene_id, 60), scene));
      }
      if (backing->actor && approved_by && *backing->actor != *approved_by) {
        reasons.push_back(fmt::format("{}: audit actor \"{}\" differs from approved_by \"{}\"",
                                      backing->source, shorten(*backing->actor, 60),
                                      shorten(*approved_by, 60)));
      }
      if (is_override && !backing->metadata.is_null() &&
          (metadata == nullptr || backing->metadata != *metadata)) {
        reasons.push_back(fmt::format(
            "{}: the audit entry's override metadata differs from the record's", backing->source));
      }
    }
  }

  if (is_override) {
    if (production) reasons.push_back("the production profile forbids overrides");
    if (metadata == nullptr) {
      reasons.push_back("an override needs override_metadata (category, ticket, justification)");
    } else {
      check_override_policy(*metadata, approved_by, reasons, use.ticket);
    }
  } else {
    // An approval counts if it was given before the request expired. Judged from the record's
    // own timestamps rather than the clock, so the verdict does not change with the day it runs.
    auto at = approved_at ? parse_timestamp(*approved_at) : std::nullopt;
    auto until = expires_at ? parse_timestamp(*expires_at) : std::nullopt;
    if (!at) {
      reasons.push_back(
          fmt::format("approved_at: expected an RFC 3339 timestamp with a zone, "
                      "found {}",
                      approved_at ? describe(&doc.at("approved_at")) : "nothing"));
    }
    if (!until) {
      reasons.push_back(
          fmt::format("expires_at: expected an RFC 3339 timestamp with a zone, "
                      "found {}",
                      expires_at ? describe(&doc.at("expires_at")) : "nothing"));
    }
    if (at && until && *at >= *until) {
      reasons.push_back(
          fmt::format("approved at {}, not before it expired at {}", *approved_at, *expires_at));
    }
  }

  if (reasons.empty()) {
    use.request_id = *request_id;
    use.gate_id = *gate_id;
    use.checkpoint = blocking.front()->checkpoint;
    use.approver = *approved_by;
    for (const Gate* g : blocking) use.gates.push_back(g->index);
  }
  return reasons;
}

/// Reads `<approvals>/<scene>/*.json` and decides which failed gates the records lift.
ApprovalReview review_approvals(const std::string& root_text, const std::string& scene,
                                const std::vector<Gate>& gates, bool production,
                                const CheckContext& ctx) {
  ApprovalReview review;
  fs::path root(root_text);
  fs::path folder = root / scene;
  review.consulted = true;
  review.folder = printable(folder.string());
  review.info["consulted"] = true;
  review.info["folder"] = review.folder;
  review.info["scene_id"] = scene;

  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    review.reason = fmt::format("approvals folder '{}' is not a folder", printable(root_text));
    review.info["reason"] = review.reason;
    return review;
  }
  AuditTrail audit = read_audit(root, scene);
  review.info["audit_logs"] = audit.logs;

  std::vector<fs::path> files;
  fs::file_status st = fs::status(folder, ec);
  if (st.type() == fs::file_type::not_found) {
    review.reason = fmt::format("no approval records: '{}' does not exist", review.folder);
  } else if (ec) {
    review.reason =
        fmt::format("approval records cannot be listed: '{}': {}", review.folder, ec.message());
  } else if (!fs::is_directory(st)) {
    review.reason = fmt::format("no approval records: '{}' is not a folder", review.folder);
  } else {
    fs::directory_iterator it(folder, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.extension() != ".json") continue;
      std::error_code ec2;
      // Regular files only (following links: the folder is the operator's own); the audit
      // folder and anything else is not a record.
      if (!fs::is_regular_file(it->status(ec2))) continue;
      files.push_back(p);
    }
    if (ec) {
      review.reason =
          fmt::format("approval records cannot be listed: '{}': {}", review.folder, ec.message());
    }
  }
  std::sort(files.begin(), files.end());
  if (files.size() > kMaxApprovalFiles) {
    review.info["truncated"] = fmt::format("{} records; only the first {} in name order were read",
                                           files.size(), kMaxApprovalFiles);
    files.resize(kMaxApprovalFiles);
  }
  review.info["records_read"] = files.size();

  for (const fs::path& p : files) {
    if (ctx.cancelled()) break;
    ApprovalRejection rejection;
    rejection.file = printable(p.string());
    ApprovalUse use;
    use.file = rejection.file;
    std::vector<std::string> reasons;
    auto text = read_local(p, kMaxApprovalBytes);
    if (!text) {
      reasons.push_back(fmt::format("unreadable: {}", text.error().message));
    } else if (auto doc = parse_json(*text, rejection.file); !doc) {
      reasons.push_back(fmt::format("malformed: {}", doc.error().message));
    } else {
      reasons = review_record(*doc, printable(p.stem().string()), scene, gates, audit, production,
                              rejection, use);
    }
    if (reasons.empty()) {
      for (std::size_t i : use.gates) review.lifted.insert(i);
      review.used.push_back(std::move(use));
    } else {
      rejection.reason = join(reasons, "; ");
      review.rejected.push_back(std::move(rejection));
    }
  }
  if (files.empty() && review.reason.empty()) {
    review.reason = fmt::format("no approval records in '{}'", review.folder);
  }
  if (!review.reason.empty()) review.info["reason"] = review.reason;
  return review;
}

// ---- the check ------------------------------------------------------------------------------

struct Settings {
  ArtifactRef report;
  std::string approvals_var;  ///< empty: no approvals parameter
  bool production = true;
  /// The expected scene id. Written `scene_id: $scene_id`, the spec loader substitutes the
  /// variable's value, so a literal and a variable arrive here alike.
  std::optional<std::string> scene_id;
};

json gate_json(const Gate& g, const std::vector<std::string>& lifted_by) {
  json j = {
      {"gate_id", g.gate_id}, {"checkpoint", g.checkpoint},           {"severity", g.severity},
      {"message", g.message}, {"recommendations", g.recommendations}, {"blocking", g.blocking()},
      {"index", g.index}};
  if (!g.details.empty()) j["details"] = g.details;
  if (!lifted_by.empty()) j["lifted_by"] = lifted_by;
  return j;
}

std::string gate_text(const Gate& g, bool with_recommendations) {
  std::string s = fmt::format("{} [{}, {}]: {}", g.gate_id, g.checkpoint, g.severity,
                              shorten(g.message, kMaxQuotedChars));
  if (with_recommendations && !g.recommendations.empty()) {
    std::vector<std::string> recs;
    for (const auto& rec : g.recommendations) recs.push_back(shorten(rec, 120));
    s += fmt::format(" (recommendations: {})", join(recs, "; "));
  }
  return s;
}

class QualityGateCheck final : public Check {
 public:
  explicit QualityGateCheck(Settings settings) : s_(std::move(settings)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    try {
      return evaluate(ctx);
    } catch (const std::exception& e) {
      CheckOutcome out =
          CheckOutcome::error(fmt::format("quality_gate: internal error: {}", e.what()));
      return out;
    }
  }

 private:
  CheckOutcome evaluate(CheckContext& ctx) const {
    auto art = ctx.artifact(s_.report);
    if (!art) {
      CheckOutcome out = CheckOutcome::from(art.error());
      out.code = art.error().code == Errc::not_found ? kCodeMissing : kCodeUnreadable;
      return out;
    }
    const std::string path = art->path();
    auto loaded = ctx.load(s_.report);
    if (!loaded) {
      const Error& e = loaded.error();
      if (e.code == Errc::not_found) {
        if (s_.report.optional) {
          CheckOutcome out = CheckOutcome::make(
              Status::skipped,
              fmt::format("gate report '{}' is absent; the certificate fallback decides", path));
          out.observed = {{"path", path}, {"exists", false}};
          return out;
        }
        CheckOutcome out = CheckOutcome::fail(fmt::format(
            "gate report '{}' is missing (expected the quality gate report; it is not optional)",
            path));
        out.code = kCodeMissing;
        out.observed = {{"path", path}, {"exists", false}};
        out.expected = {{"exists", true}};
        return out;
      }
      CheckOutcome out = CheckOutcome::make(
          status_for(e.code), fmt::format("gate report '{}' is unreadable: {}", path, e.message));
      out.code = kCodeUnreadable;
      out.observed = {{"path", path}, {"error", std::string(to_string(e.code))}};
      return out;
    }
    const json& doc = **loaded;

    const std::optional<std::string>& expected_scene = s_.scene_id;

    GateReport report;
    std::vector<std::string> problems = read_report(doc, report);
    if (!problems.empty()) {
      std::vector<std::string> shown(
          problems.begin(), problems.begin() + static_cast<std::ptrdiff_t>(
                                                   std::min(problems.size(), kMaxProblemsShown)));
      std::string more = problems.size() > shown.size()
                             ? fmt::format(" (and {} more)", problems.size() - shown.size())
                             : "";
      CheckOutcome out = CheckOutcome::fail(
          fmt::format("gate report '{}' is malformed: {}{}", path, join(shown, "; "), more));
      out.code = kCodeUnreadable;
      out.observed = {{"path", path}};
      out.expected = {{"schema", "quality_gate_report.json (summary + results[])"}};
      out.details = {{"problems", problems}};
      return out;
    }
    return judge(ctx, path, report, expected_scene);
  }

  CheckOutcome judge(CheckContext& ctx, const std::string& path, const GateReport& report,
                     const std::optional<std::string>& expected_scene) const {
    // Count results[] ourselves: the summary is a claim, results[] the evidence.
    std::int64_t n = static_cast<std::int64_t>(report.gates.size());
    std::int64_t passed = 0, failed = 0, blocking = 0;
    for (const Gate& g : report.gates) {
      if (g.passed) ++passed;
      if (!g.passed) ++failed;
      if (g.blocking()) ++blocking;
    }
    std::vector<std::string> disagreements;
    auto disagree = [&](std::int64_t claimed, std::int64_t counted, std::string text) {
      if (claimed != counted) disagreements.push_back(std::move(text));
    };
    disagree(report.total_gates, n,
             fmt::format("summary.total_gates is {} but results[] holds {} gate(s)",
                         report.total_gates, n));
    disagree(report.passed, passed,
             fmt::format("summary.passed is {} but {} gate(s) in results[] passed", report.passed,
                         passed));
    disagree(report.failed, failed,
             fmt::format("summary.failed is {} but {} gate(s) in results[] failed", report.failed,
                         failed));
    disagree(report.blocking_failures, blocking,
             fmt::format("summary.blocking_failures is {} but {} gate(s) in results[] failed "
                         "with severity error",
                         report.blocking_failures, blocking));
    if (report.can_proceed != (report.blocking_failures == 0)) {
      disagreements.push_back(
          fmt::format("summary.can_proceed is {} but summary.blocking_failures "
                      "is {}",
                      report.can_proceed, report.blocking_failures));
    }
    for (const auto& cp : report.checkpoints) {
      if (cp.list && cp.count && static_cast<std::int64_t>(cp.list->size()) != *cp.count) {
        disagreements.push_back(fmt::format("summary.{} is {} but {}[] lists {}", cp.name,
                                            *cp.count, cp.name, cp.list->size()));
      }
    }

    std::string scene_problem;
    if (expected_scene) {
      if (!report.scene_id) {
        scene_problem = fmt::format(
            "scene_id: expected \"{}\", found nothing (the report does not say its scene)",
            *expected_scene);
      } else if (*report.scene_id != *expected_scene) {
        scene_problem = fmt::format("scene_id: expected \"{}\", found \"{}\"", *expected_scene,
                                    shorten(*report.scene_id, 80));
      }
    }

    // Approvals: only ever lift failed error-severity gates.
    ApprovalReview approvals;
    if (s_.approvals_var.empty()) {
      approvals.reason = "no approvals parameter: approvals are not consulted";
      approvals.info = {{"consulted", false}, {"reason", approvals.reason}};
    } else {
      const json* dir = ctx.var(s_.approvals_var);
      std::optional<std::string> scene = expected_scene ? expected_scene : report.scene_id;
      if (dir == nullptr || dir->is_null()) {
        approvals.reason =
            fmt::format("variable '{}' is unset: approvals are not consulted", s_.approvals_var);
      } else if (!dir->is_string() || dir->get_ref<const std::string&>().empty()) {
        approvals.reason = fmt::format(
            "variable '{}' holds {}, expected a folder: approvals are "
            "not consulted",
            s_.approvals_var, describe(dir));
      } else if (!scene) {
        approvals.reason =
            "the report has no scene_id and none is expected: the approvals folder of the scene "
            "is unknown, approvals are not consulted";
      } else if (!is_segment(*scene)) {
        approvals.reason =
            fmt::format("scene id \"{}\" is not a single path segment: approvals are not consulted",
                        shorten(*scene, 80));
      } else {
        approvals =
            review_approvals(dir->get<std::string>(), *scene, report.gates, s_.production, ctx);
      }
      if (!approvals.consulted) {
        approvals.info = {{"consulted", false}, {"reason", approvals.reason}};
      }
      approvals.info["variable"] = s_.approvals_var;
      // Records left unread may have lifted a gate: no verdict rather than a false "blocked".
      if (ctx.cancelled()) {
        return CheckOutcome::error(
            fmt::format("gate report '{}': interrupted while reading approvals", path));
      }
    }
    approvals.info["profile"] = s_.production ? "production" : "staging";

    // Gate lists.
    std::vector<const Gate*> blocked, lifted, non_blocking;
    json failing_gates = json::array(), non_blocking_json = json::array();
    for (const Gate& g : report.gates) {
      if (g.passed) continue;
      std::vector<std::string> by;
      for (const auto& u : approvals.used) {
        if (std::find(u.gates.begin(), u.gates.end(), g.index) != u.gates.end()) {
          by.push_back(u.request_id);
        }
      }
      json gj = gate_json(g, by);
      failing_gates.push_back(gj);
      if (!g.blocking()) {
        non_blocking.push_back(&g);
        non_blocking_json.push_back(gj);
      } else if (approvals.lifted.count(g.index) != 0) {
        lifted.push_back(&g);
      } else {
        blocked.push_back(&g);
      }
    }

    json used = json::array(), rejected = json::array();
    for (const auto& u : approvals.used) {
      used.push_back({{"request_id", u.request_id},
                      {"gate_id", u.gate_id},
                      {"checkpoint", u.checkpoint},
                      {"approver", u.approver},
                      {"kind", u.kind},
                      {"ticket", u.ticket ? json(*u.ticket) : json(nullptr)},
                      {"file", u.file},
                      {"audit", u.audit}});
    }
    for (const auto& rj : approvals.rejected) {
      rejected.push_back({{"file", rj.file},
                          {"request_id", rj.request_id ? json(*rj.request_id) : json(nullptr)},
                          {"gate_id", rj.gate_id ? json(*rj.gate_id) : json(nullptr)},
                          {"reason", rj.reason}});
    }

    json observed = {{"path", path},
                     {"summary", report.summary},
                     {"counts",
                      {{"total", n},
                       {"passed", passed},
                       {"failed", failed},
                       {"blocking", blocking},
                       {"non_blocking", static_cast<std::int64_t>(non_blocking.size())},
                       {"lifted_by_approval", static_cast<std::int64_t>(lifted.size())},
                       {"blocking_after_approvals", static_cast<std::int64_t>(blocked.size())}}}};
    if (report.scene_id) observed["scene_id"] = *report.scene_id;
    if (report.report_version) observed["report_version"] = *report.report_version;
    if (report.timestamp) observed["timestamp"] = *report.timestamp;

    json details = {{"report", path},
                    {"failing_gates", failing_gates},
                    {"non_blocking", non_blocking_json},
                    {"approvals", approvals.info},
                    {"approvals_used", used},
                    {"approvals_rejected", rejected},
                    {"disagreements", disagreements}};
    if (expected_scene) details["expected_scene_id"] = *expected_scene;

    // Sentences shared by the pass and fail messages.
    std::string lifted_text;
    if (!lifted.empty()) {
      std::vector<std::string> parts;
      for (const Gate* g : lifted) {
        std::vector<std::string> how;
        for (const auto& u : approvals.used) {
          if (std::find(u.gates.begin(), u.gates.end(), g->index) != u.gates.end()) {
            how.push_back(fmt::format("{} {} by {}{}", u.kind, u.request_id, u.approver,
                                      u.ticket ? ", ticket " + *u.ticket : ""));
          }
        }
        parts.push_back(fmt::format("{} ({})", g->gate_id, join(how, "; ")));
      }
      lifted_text = fmt::format("{} blocking gate(s) lifted by audited approval: {}", lifted.size(),
                                join(parts, ", "));
    }
    std::string non_blocking_text;
    if (!non_blocking.empty()) {
      std::vector<std::string> parts;
      for (const Gate* g : non_blocking) parts.push_back(gate_text(*g, false));
      non_blocking_text =
          fmt::format("{} non-blocking failure(s): {}", non_blocking.size(), join(parts, "; "));
    }
    std::string rejected_text;
    if (!approvals.rejected.empty()) {
      std::vector<std::string> parts;
      for (const auto& rj : approvals.rejected) {
        parts.push_back(fmt::format(
            "{} ({}): {}", rj.request_id ? *rj.request_id : fs::path(rj.file).filename().string(),
            rj.gate_id ? *rj.gate_id : "?", shorten(rj.reason, 300)));
      }
      rejected_text = fmt::format("{} approval record(s) rejected: {}", approvals.rejected.size(),
                                  join(parts, "; "));
    }

    bool empty = report.gates.empty();
    bool ok = blocked.empty() && scene_problem.empty() && disagreements.empty() && !empty;
    CheckOutcome out;
    out.observed = std::move(observed);
    out.expected = {{"can_proceed", true}, {"blocking_failures", 0}};
    if (expected_scene) out.expected["scene_id"] = *expected_scene;

    if (ok) {
      std::vector<std::string> parts = {
          fmt::format("gate report '{}' allows proceeding: {}/{} gates passed, {} blocking "
                      "failure(s) in results[]",
                      path, passed, n, blocking)};
      if (!lifted_text.empty()) parts.push_back(lifted_text);
      if (!non_blocking_text.empty()) parts.push_back(non_blocking_text);
      out.status = Status::pass;
      out.message = join(parts, "; ");
      details["verdict"] = lifted.empty() ? "pass" : "pass_with_approvals";
      out.details = std::move(details);
      return out;
    }

    std::vector<std::string> parts;
    if (!blocked.empty()) {
      std::vector<std::string> gates;
      for (const Gate* g : blocked) gates.push_back(gate_text(*g, true));
      parts.push_back(
          fmt::format("{} blocking gate(s) failed: {}", blocked.size(), join(gates, "; ")));
      out.code = kCodeBlocked;
    }
    if (!scene_problem.empty()) {
      parts.push_back(scene_problem);
      // The preflight's marker codes are a closed list: an untrustworthy report blocks too.
      if (out.code.empty()) out.code = kCodeBlocked;
      details["reasons"].push_back(kCodeSceneMismatch);
    }
    if (!disagreements.empty()) {
      parts.push_back(
          fmt::format("the summary disagrees with results[]: {}", join(disagreements, "; ")));
      // The preflight's marker codes are a closed list: an untrustworthy report blocks too.
      if (out.code.empty()) out.code = kCodeBlocked;
      details["reasons"].push_back(kCodeInconsistent);
    }
    if (empty) {
      parts.push_back(fmt::format(
          "no gates were evaluated (results[] is empty, summary.total_gates {}): an empty report "
          "is not evidence",
          report.total_gates));
      // The preflight's marker codes are a closed list: an untrustworthy report blocks too.
      if (out.code.empty()) out.code = kCodeBlocked;
      details["reasons"].push_back(kCodeEmpty);
    }
    if (!lifted_text.empty()) parts.push_back(lifted_text);
    if (!non_blocking_text.empty()) parts.push_back(non_blocking_text);
    if (!blocked.empty() && !s_.approvals_var.empty() && !approvals.reason.empty()) {
      parts.push_back(fmt::format("approvals: {}", approvals.reason));
    }
    if (!rejected_text.empty()) parts.push_back(rejected_text);
    out.status = Status::fail;
    out.message =
        fmt::format("gate report '{}' does not allow proceeding: {}", path, join(parts, "; "));
    details["verdict"] = "fail";
    out.details = std::move(details);
    return out;
  }

  Settings s_;
};

CheckInfo info() {
  CheckInfo i;
  i.type = "quality_gate";
  i.category = "quality";
  i.summary =
      "The quality gate preflight: quality_gate_report.json allows proceeding, its summary agrees "
      "with results[], and every blocking gate passed or was lifted by an audited approval.";
  i.description =
      "Reads quality_gate_report.json strictly (summary counts are non-negative integers, "
      "can_proceed and passed are booleans, severity is error|warning|info, v2.0 fields are "
      "type-checked when present) and recounts results[]. Passes only if summary.can_proceed is "
      "true and summary.blocking_failures is 0 (or every blocking gate is lifted by an approval), "
      "the summary agrees with results[] (total_gates, passed, failed, blocking_failures, "
      "can_proceed == (blocking_failures == 0), v2.0 checkpoint counts), results[] is not empty, "
      "and, with scene_id, the report's scene_id is the expected one. A failed "
      "error-severity gate blocks whatever the summary says; failed warning/info gates do not "
      "block and are listed. Codes: quality_gate_blocked (a blocking gate failed), "
      "quality_gate_scene_mismatch, quality_gate_inconsistent (summary vs results[]), "
      "quality_gate_empty (no gates), quality_gate_unreadable (malformed, truncated, wrong type, "
      "too large, out of root: fail; permission or I/O: error), quality_artifacts_missing (absent "
      "and not optional). An absent optional report is skipped: the certificate fallback decides.\n"
      "Approvals (with `approvals`): records <approvals>/<scene_id>/*.json with status approved "
      "or overridden lift the block of the failed error-severity gate they name (gate_id, and "
      "checkpoint when given). Each must match its file name and scene, be backed by an APPROVED "
      "or OVERRIDDEN entry (same request_id and gate_id) in audit/audit.log.jsonl under the "
      "approvals folder or the scene's folder, and have no AUTO_APPROVED_TIMEOUT or REJECTED "
      "entry; approved_by 'SYSTEM:...' is refused. An approval must be given before it expired "
      "(approved_at < expires_at). An override must meet the policy (category data_gap, "
      "tooling_failure, known_issue, customer_exception or other; ticket id like OPS-1234 or an "
      "http(s) URL; justification of at least 50 characters) and is refused by the production "
      "profile. Approvals never fix a malformed or inconsistent report.";
  i.params = {
      {"report",
       ParamType::artifact,
       true,
       nullptr,
       "The quality_gate_report.json (declare it `optional: true` to let the certificate fallback "
       "decide when it is absent).",
       {}},
      {"approvals",
       ParamType::local_path,
       false,
       nullptr,
       "$variable (type local_path) holding the approvals folder (<dir>/<scene_id>/<request_id>"
       ".json); unset: approvals are not consulted.",
       {}},
      {"profile",
       ParamType::string,
       false,
       "production",
       "production (overrides refused) or staging (overrides allowed under the policy).",
       {"production", "staging"}},
      {"scene_id",
       ParamType::string,
       false,
       nullptr,
       "The expected scene id, usually `$scene_id`; the report's scene_id must equal it (and it "
       "names the scene's approvals folder).",
       {}},
  };
  i.example =
      "# vars: approvals_dir: {type: local_path}\n"
      "# artifacts: quality_gate_report: {path: "
      "scenes/${scene_id}/episode-generation-job/quality_gate_report.json, optional: true}\n"
      "- id: quality_gate\n  type: quality_gate\n  report: quality_gate_report\n"
      "  scene_id: $scene_id\n  approvals: $approvals_dir\n  profile: production";
  return i;
}

Result<std::unique_ptr<Check>> make(const CheckConfig& config) {
  const ArtifactRef* ref = config.get_artifact("report");
  if (ref == nullptr) return config.error("report", "missing");
  Settings s;
  s.report = *ref;
  // The gate report is JSON whatever its name says (an inline path without .json is bytes).
  s.report.format = Format::json;
  if (config.has("approvals")) s.approvals_var = config.get_string("approvals");
  s.production = config.get_string("profile") != "staging";
  if (config.has("scene_id")) {
    std::string v = config.get_string("scene_id");
    if (!is_segment(v)) {
      return config.error("scene_id", "expected a scene id (one non-empty path segment)");
    }
    s.scene_id = v;
  }
  return std::unique_ptr<Check>(std::make_unique<QualityGateCheck>(std::move(s)));
}

void register_checks(PluginRegistrar& registrar) { registrar.add(info(), make); }

}  // namespace

STAGECHECK_PLUGIN("quality_gate", "1.0.0", register_checks)
