#include "stagecheck/console_reporter.hpp"
#include "text_util.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "stagecheck/status.hpp"
#include "stagecheck/version.hpp"

namespace stagecheck {
namespace {

using detail::preserve_non_finite;

using nlohmann::json;

constexpr std::string_view kReset = "\x1b[0m";
constexpr std::string_view kBold = "\x1b[1m";
constexpr std::string_view kDim = "\x1b[2m";
constexpr std::string_view kRed = "\x1b[31m";
constexpr std::string_view kGreen = "\x1b[32m";
constexpr std::string_view kYellow = "\x1b[33m";
constexpr std::string_view kBoldRed = "\x1b[1;31m";
constexpr std::string_view kBoldGreen = "\x1b[1;32m";
constexpr std::string_view kBoldYellow = "\x1b[1;33m";

/// Column widths. Results stream in, so columns cannot be sized to the longest id; a longer
/// id or type just pushes the rest of its line to the right.
constexpr std::size_t kStatusWidth = 9;  // "SKIPPED" and "BLOCKED" plus two spaces.
constexpr std::size_t kIdWidth = 30;
constexpr std::size_t kTypeWidth = 8;
/// Evidence and continuation lines start under the check id.
constexpr std::string_view kIndent = "           ";  // 2 + kStatusWidth
/// Observed and expected values are cut after this many bytes; details longer than this are
/// left to the JSON report.
constexpr std::size_t kEvidenceLimit = 300;

std::string_view status_word(Status status) noexcept {
  switch (status) {
    case Status::pass:
      return "PASS";
    case Status::fail:
      return "FAIL";
    case Status::warn:
      return "WARN";
    case Status::skipped:
      return "SKIPPED";
    case Status::blocked:
      return "BLOCKED";
    case Status::error:
      return "ERROR";
  }
  return "ERROR";
}

std::string_view status_color(Status status) noexcept {
  switch (status) {
    case Status::pass:
      return kGreen;
    case Status::fail:
    case Status::error:
      return kRed;
    case Status::warn:
      return kYellow;
    case Status::skipped:
    case Status::blocked:
      return kDim;
  }
  return kRed;
}

/// Number of characters (not bytes) in UTF-8 text, for padding.
std::size_t display_width(std::string_view text) noexcept {
  std::size_t width = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) ++width;
  }
  return width;
}

/// Makes text from artifacts and check messages safe to print on a terminal: C0 and C1
/// control characters (ESC, CSI, BEL, ...) become a visible "\xNN" / "\u00NN", so data can
/// neither recolour nor rewrite the report, and `color=false` really means no escapes.
/// Newlines are the caller's business (split_lines).
std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c == 0xC2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(text[i + 1]));
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

/// Cuts `text` to at most `limit` bytes on a UTF-8 character boundary, marking the cut.
std::string truncated(std::string text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0u) == 0x80u) --cut;
  text.resize(cut);
  text += "\u2026";
  return text;
}

/// Compact JSON for an evidence line; a bare non-finite number prints as NaN, not "NaN".
std::string compact(const json& value) {
  if (value.is_number_float() && !std::isfinite(value.get<double>())) {
    const double number = value.get<double>();
    return std::isnan(number) ? "NaN" : (number > 0 ? "Infinity" : "-Infinity");
  }
  json copy = value;
  preserve_non_finite(copy);
  return copy.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string format_duration(double milliseconds) {
  if (!std::isfinite(milliseconds) || milliseconds < 0) milliseconds = 0;
  if (milliseconds < 1000) return fmt::format("{:.1f} ms", milliseconds);
  return fmt::format("{:.2f} s", milliseconds / 1000);
}

std::string plural(std::size_t count, std::string_view singular, std::string_view many) {
  return fmt::format("{} {}", count, count == 1 ? singular : many);
}

/// Wraps text in a colour when colours are on.
class Painter {
 public:
  explicit Painter(bool enabled) : enabled_(enabled) {}
  std::string operator()(std::string_view color, std::string_view text) const {
    if (!enabled_ || text.empty()) return std::string(text);
    std::string out;
    out.reserve(color.size() + text.size() + kReset.size());
    out += color;
    out += text;
    out += kReset;
    return out;
  }

 private:
  bool enabled_;
};

void append_padded(std::string& out, std::string_view text, std::size_t width) {
  out += text;
  const std::size_t used = display_width(text);
  out.append(used < width ? width - used : 0, ' ');
}

bool shown_when_quiet(Status status) noexcept {
  return status == Status::fail || status == Status::warn || status == Status::error;
}

/// The last line: the verdict, the reason for it and the exit code.
std::string verdict_line(const Report& report, const Painter& paint) {
  const Summary& s = report.summary;
  const int code = static_cast<int>(report.exit_code);
  switch (report.exit_code) {
    case ExitCode::pass: {
      std::string text = "PASS";
      if (s.warn > 0) text += " with " + plural(s.warn, "warning", "warnings");
      return fmt::format("{} (exit {})", paint(kBoldGreen, text), code);
    }
    case ExitCode::fail: {
      std::string reasons;
      const auto add = [&](const std::string& reason) {
        reasons += reasons.empty() ? "" : ", ";
        reasons += reason;
      };
      if (s.fail > 0) add(plural(s.fail, "check failed", "checks failed"));
      if (report.fail_on_warn && s.warn > 0) {
        add(plural(s.warn, "warning", "warnings") + " with fail-on-warn");
      }
      if (s.error > 0) add(fmt::format("{} could not be evaluated", s.error));
      if (report.interrupted) add("interrupted");
      return fmt::format("{}: {} (exit {})", paint(kBoldRed, "FAIL"), reasons, code);
    }
    case ExitCode::no_verdict: {
      std::string reason;
      if (report.interrupted) {
        reason = "interrupted";
      } else if (s.error > 0) {
        reason = plural(s.error, "check", "checks") + " could not be evaluated";
      } else {
        reason = "nothing was evaluated";
      }
      return fmt::format("{}: {} (exit {})", paint(kBoldYellow, "NO VERDICT"), reason, code);
    }
    case ExitCode::usage:
      break;
  }
  return fmt::format("{} (exit {})", paint(kBoldRed, "USAGE ERROR"), code);
}

}  // namespace

ConsoleReporter::ConsoleReporter(std::ostream& out, ConsoleOptions options)
    : out_(out), options_(options) {}

void ConsoleReporter::begin(const RunInfo& info) {
  current_stage_.clear();
  if (options_.quiet) return;
  std::string line = fmt::format("stagecheck {}: spec \"{}\"", version(), info.spec_name);
  if (!info.spec_source.empty()) line += fmt::format(" ({})", info.spec_source);
  if (!info.root.empty()) line += fmt::format(", root {}", info.root);
  line += ", " + plural(info.check_count, "check", "checks");
  out_ << terminal_safe(line) << '\n';
}

void ConsoleReporter::on_result(const CheckResult& result) {
  if (options_.quiet && !shown_when_quiet(result.status)) return;
  const Painter paint(options_.color);
  std::string text;

  if (result.stage != current_stage_) {
    // In quiet mode there is no banner, so nothing to separate the first stage from.
    if (!options_.quiet || !current_stage_.empty()) text += '\n';
    text += paint(kBold, terminal_safe(result.stage));
    text += '\n';
    current_stage_ = result.stage;
  }

  text += "  ";
  const std::string_view word = status_word(result.status);
  text += paint(status_color(result.status), word);
  text.append(kStatusWidth - word.size(), ' ');
  append_padded(text, terminal_safe(result.id), kIdWidth);
  text += "  ";
  append_padded(text, terminal_safe(result.type), kTypeWidth);
  text += "  ";

  // Multi-line messages continue under the check id so they stay attached to their check.
  std::string_view message = result.message;
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  std::size_t line_end = message.find('\n');
  text += terminal_safe(message.substr(0, line_end));
  if (options_.timings) {
    text += "  ";
    text += paint(kDim, format_duration(result.duration_ms));
  }
  while (text.back() == ' ') text.pop_back();  // An empty message leaves only padding.
  text += '\n';
  while (line_end != std::string_view::npos) {
    message.remove_prefix(line_end + 1);
    line_end = message.find('\n');
    const std::string_view line = message.substr(0, line_end);
    if (!line.empty()) {
      text += kIndent;
      text += terminal_safe(line);
    }
    text += '\n';
  }

  if (result.status == Status::fail || result.status == Status::error ||
      result.status == Status::warn) {
    const auto evidence = [&](std::string_view label, std::string_view value) {
      text += kIndent;
      text += fmt::format("{:<10}", label);
      text += terminal_safe(value);
      text += '\n';
    };
    for (const std::string& artifact : result.artifacts) evidence("artifact:", artifact);
    if (!result.expected.is_null()) {
      evidence("expected:", truncated(compact(result.expected), kEvidenceLimit));
    }
    if (!result.observed.is_null()) {
      evidence("observed:", truncated(compact(result.observed), kEvidenceLimit));
    }
    if (!result.details.is_null()) {
      std::string details = compact(result.details);
      // Large details (row dumps, histograms) would bury the next results; the JSON report
      // has them in full.
      if (details.size() < kEvidenceLimit) {
        evidence("details:", details);
      } else {
        evidence("details:", fmt::format("{} bytes, in the JSON report", details.size()));
      }
    }
  }
  out_ << text;
}

void ConsoleReporter::end(const Report& report) {
  const Painter paint(options_.color);
  const Summary& s = report.summary;
  std::string text;
  if (!options_.quiet || !current_stage_.empty()) text += '\n';
  text += fmt::format("{}: {} pass, {} fail, {} warn, {} skipped, {} blocked, {} error",
                      plural(s.total, "check", "checks"), s.pass, s.fail, s.warn, s.skipped,
                      s.blocked, s.error);
  if (options_.timings) text += fmt::format(" ({})", format_duration(report.duration_ms));
  text += '\n';
  text += verdict_line(report, paint);
  text += '\n';
  out_ << text;
  out_.flush();
  current_stage_.clear();
}

bool want_color(int fd) noexcept {
  if (isatty(fd) == 0) return false;
  const char* no_color = std::getenv("NO_COLOR");  // https://no-color.org
  return no_color == nullptr || no_color[0] == '\0';
}

}  // namespace stagecheck
