#include "stagecheck/junit_reporter.hpp"
#include "text_util.hpp"

#include <cmath>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "stagecheck/status.hpp"

namespace stagecheck {
namespace {

using detail::preserve_non_finite;

using nlohmann::json;

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

/// Length of the well-formed UTF-8 sequence at the start of `text` that encodes a character
/// XML 1.0 allows (excluding ASCII, handled by the caller), or 0 if there is none.
std::size_t valid_xml_utf8_length(std::string_view text) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07u;
  } else {
    return 0;  // A stray continuation byte, an overlong lead (C0, C1) or beyond U+10FFFF.
  }
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0u) != 0x80u) return 0;
    code = (code << 6) | (byte(i) & 0x3Fu);
  }
  const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xD800 && code <= 0xDFFF;
  const bool non_character = code == 0xFFFE || code == 0xFFFF;  // Not allowed by XML 1.0.
  if (overlong || surrogate || non_character || code > 0x10FFFF) return 0;
  return length;
}

/// Appends `text` escaped for XML 1.0 character data or (when `attribute`) a double- or
/// single-quoted attribute value. Characters XML 1.0 cannot carry at all (control characters
/// other than tab, newline and carriage return) become a visible "\xNN", as in the console
/// report; invalid UTF-8 becomes U+FFFD. Either would otherwise make the whole file unparsable
/// and lose every result in it.
void append_escaped(std::string& out, std::string_view text, bool attribute) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t length = valid_xml_utf8_length(text.substr(i));
      if (length == 0) {
        out += kReplacementChar;
        ++i;
      } else {
        out += text.substr(i, length);
        i += length;
      }
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      // Parsers normalise raw tabs and newlines in attributes to spaces and "\r\n" to "\n"
      // everywhere; character references survive both.
      case '\t':
        out += attribute ? "&#9;" : "\t";
        break;
      case '\n':
        out += attribute ? "&#10;" : "\n";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
        break;
    }
    ++i;
  }
}

std::string escaped(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text, attribute);
  return out;
}

std::string seconds(double milliseconds) {
  if (!std::isfinite(milliseconds) || milliseconds < 0) milliseconds = 0;
  return fmt::format("{:.3f}", milliseconds / 1000.0);
}

/// Compact JSON for evidence lines; a bare non-finite number prints as NaN, not "NaN".
std::string compact(const json& value) {
  if (value.is_number_float() && !std::isfinite(value.get<double>())) {
    const double number = value.get<double>();
    return std::isnan(number) ? "NaN" : (number > 0 ? "Infinity" : "-Infinity");
  }
  json copy = value;
  preserve_non_finite(copy);
  return copy.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// The message followed by the evidence, one item per line, as the body of a <failure>,
/// <error> or <system-out>.
std::string evidence_text(const CheckResult& result, std::string_view prefix) {
  std::string text{prefix};
  text += result.message;
  for (const std::string& artifact : result.artifacts) text += "\nartifact: " + artifact;
  if (!result.expected.is_null()) text += "\nexpected: " + compact(result.expected);
  if (!result.observed.is_null()) text += "\nobserved: " + compact(result.observed);
  if (!result.details.is_null()) text += "\ndetails: " + compact(result.details);
  return text;
}

struct Counts {
  std::size_t tests = 0, failures = 0, errors = 0, skipped = 0;
  void add(Status status) noexcept {
    ++tests;
    if (status == Status::fail) ++failures;
    if (status == Status::error) ++errors;
    if (status == Status::skipped || status == Status::blocked) ++skipped;
  }
};

void append_counts(std::string& out, const Counts& counts, double duration_ms) {
  out +=
      fmt::format(R"( tests="{}" failures="{}" errors="{}" skipped="{}" time="{}")", counts.tests,
                  counts.failures, counts.errors, counts.skipped, seconds(duration_ms));
}

void append_testcase(std::string& out, const CheckResult& result, std::string_view classname) {
  out += R"(    <testcase classname=")";
  out += classname;
  out += R"(" name=")";
  append_escaped(out, result.id, true);
  out += R"(" time=")";
  out += seconds(result.duration_ms);
  out += '"';
  switch (result.status) {
    case Status::pass:
      out += "/>\n";
      return;
    case Status::fail:
    case Status::error: {
      const std::string_view element = result.status == Status::fail ? "failure" : "error";
      out += fmt::format(">\n      <{} message=\"{}\" type=\"{}\">", element,
                         escaped(result.message, true), escaped(result.type, true));
      append_escaped(out, evidence_text(result, ""), false);
      out += fmt::format("</{}>\n    </testcase>\n", element);
      return;
    }
    case Status::skipped:
    case Status::blocked: {
      std::string message{to_string(result.status)};
      if (!result.message.empty()) message += ": " + result.message;
      out += ">\n      <skipped message=\"";
      append_escaped(out, message, true);
      out += "\"/>\n    </testcase>\n";
      return;
    }
    case Status::warn:
      // A warning does not fail the suite, but CI pages should still show it.
      out += ">\n      <system-out>";
      append_escaped(out, evidence_text(result, "WARN: "), false);
      out += "</system-out>\n    </testcase>\n";
      return;
  }
}

/// Appends one <testsuite> for `stage_id` holding `results` (already in report order).
void append_suite(std::string& out, const Report& report, std::string_view stage_id,
                  const std::vector<const CheckResult*>& results, const double* stage_duration_ms) {
  Counts counts;
  double summed_ms = 0;
  for (const CheckResult* result : results) {
    counts.add(result->status);
    summed_ms += result->duration_ms;
  }
  out += R"(  <testsuite name=")";
  append_escaped(out, stage_id, true);
  out += '"';
  append_counts(out, counts, stage_duration_ms != nullptr ? *stage_duration_ms : summed_ms);
  if (results.empty()) {
    out += "/>\n";
    return;
  }
  out += ">\n";
  std::string classname = report.spec_name;
  classname += '.';
  classname += stage_id;
  classname = escaped(classname, true);
  for (const CheckResult* result : results) append_testcase(out, *result, classname);
  out += "  </testsuite>\n";
}

}  // namespace

std::string report_to_junit(const Report& report) {
  Counts totals;
  for (const CheckResult& result : report.results) totals.add(result.status);

  std::string out;
  out.reserve(256 + report.results.size() * 160);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += R"(<testsuites name=")";
  append_escaped(out, "stagecheck: " + report.spec_name, true);
  out += '"';
  append_counts(out, totals, report.duration_ms);
  out += ">\n";

  // Group once, so the file is linear in the number of results however many stages there
  // are; the order of results inside a stage is the report's.
  std::unordered_map<std::string_view, std::vector<const CheckResult*>> by_stage;
  std::vector<std::string_view> unlisted;
  for (const StageResult& stage : report.stages) by_stage.try_emplace(stage.id);
  for (const CheckResult& result : report.results) {
    auto [it, inserted] = by_stage.try_emplace(result.stage);
    if (inserted) unlisted.push_back(result.stage);
    it->second.push_back(&result);
  }

  std::unordered_set<std::string_view> written;
  for (const StageResult& stage : report.stages) {
    // A stage listed twice would otherwise repeat all of its test cases.
    if (!written.insert(stage.id).second) continue;
    append_suite(out, report, stage.id, by_stage[stage.id], &stage.duration_ms);
  }
  // Results of a stage missing from report.stages still belong in the file: CI counts them.
  for (std::string_view stage_id : unlisted) {
    append_suite(out, report, stage_id, by_stage[stage_id], nullptr);
  }
  out += "</testsuites>\n";
  return out;
}

void JunitReporter::end(const Report& report) {
  out_ << report_to_junit(report);
  out_.flush();
}

}  // namespace stagecheck
