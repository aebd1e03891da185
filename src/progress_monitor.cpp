#include "stagecheck/progress_monitor.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "text_util.hpp"

namespace stagecheck {
namespace {

constexpr const char* kClearLine = "\r\x1b[K";
constexpr std::size_t kMessageChars = 300;

std::string elapsed_text(std::chrono::steady_clock::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  if (s < 60.0) return fmt::format("{:.1f}s", s);
  const auto whole = static_cast<long long>(s);
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{}h{:02}m{:02}s", whole / 3600, (whole / 60) % 60, whole % 60);
}

// Cuts `text` to `width` characters (UTF-8 code points), ending with "..." when cut.
std::string fit(const std::string& text, std::size_t width) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars + 3 >= width) {
      // Does the rest fit whole?
      std::size_t rest = 0;
      for (std::size_t j = i; j < text.size(); ++j) {
        rest += (static_cast<unsigned char>(text[j]) & 0xC0) != 0x80 ? 1 : 0;
      }
      if (chars + rest <= width) return text;
      return text.substr(0, i) + (width >= 3 ? "..." : "");
    }
    ++chars;
  }
  return text;
}

const char* row_label(Status s) {
  switch (s) {
    case Status::fail:
      return "FAIL";
    case Status::error:
      return "ERROR";
    default:
      return "";
  }
}

}  // namespace

class ProgressMonitor::Guard final : public Reporter {
 public:
  Guard(ProgressMonitor& m, bool on) : m_(m), on_(on) {}
  void begin(const RunInfo&) override { m_.hold(on_); }
  void on_result(const CheckResult&) override { m_.hold(on_); }
  void end(const Report&) override { m_.hold(on_); }

 private:
  ProgressMonitor& m_;
  bool on_;
};

ProgressMonitor::ProgressMonitor(std::ostream& out, MonitorOptions options)
    : out_(out),
      options_(std::move(options)),
      hold_(std::make_unique<Guard>(*this, true)),
      release_(std::make_unique<Guard>(*this, false)) {
  if (options_.width < 10) options_.width = 10;
  if (options_.ticker) ticker_ = std::thread([this] { run_ticker(); });
}

ProgressMonitor::~ProgressMonitor() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  std::lock_guard lock(mutex_);
  clear_locked();
}

bool ProgressMonitor::is_terminal(int fd) noexcept { return ::isatty(fd) == 1; }

std::size_t ProgressMonitor::terminal_width(int fd) noexcept {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

ProgressMonitor::Clock::time_point ProgressMonitor::now() const {
  return options_.now ? options_.now() : Clock::now();
}

void ProgressMonitor::run_ticker() {
  const auto period =
      options_.tty ? options_.redraw : std::min(options_.interval, std::chrono::milliseconds(100));
  std::unique_lock lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, period, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    tick();
    lock.lock();
  }
}

void ProgressMonitor::on_run_start(const RunInfo& info,
                                   const std::vector<std::string>& secret_values) {
  std::lock_guard lock(mutex_);
  started_ = true;
  start_ = last_line_ = now();
  total_ = info.check_count;
  done_ = failed_ = errors_ = 0;
  secrets_ = secret_values;
  stages_running_.clear();
  running_.clear();
  line_locked(detail::printable(
      redact_secrets(fmt::format("stagecheck: run {} of {} ({} checks) on {}", info.run_id,
                                 info.spec_name, info.check_count, info.root),
                     secrets_)));
}

void ProgressMonitor::on_stage_start(std::string_view stage_id) {
  std::lock_guard lock(mutex_);
  stages_running_.emplace_back(stage_id);
}

void ProgressMonitor::on_stage_finish(const StageResult& stage) {
  std::lock_guard lock(mutex_);
  auto it = std::find(stages_running_.begin(), stages_running_.end(), stage.id);
  if (it != stages_running_.end()) stages_running_.erase(it);
  if (!options_.tty) {
    const auto t = now();
    line_locked(detail::printable(
        redact_secrets(fmt::format("stagecheck: [{}] stage {}: {} ({:.1f}s) | {}/{} checks done",
                                   elapsed_text(t - start_), stage.id, to_string(stage.status),
                                   stage.duration_ms / 1000.0, std::min(done_, total_), total_),
                       secrets_)));
    last_line_ = t;
  }
}

void ProgressMonitor::on_check_start(std::string_view stage_id, std::string_view check_id,
                                     std::string_view) {
  std::lock_guard lock(mutex_);
  Running& r = running_[std::string(check_id)];
  r.stage = std::string(stage_id);
  r.check = std::string(check_id);
  r.artifact.clear();
  r.seq = ++seq_;
}

void ProgressMonitor::on_artifact_read(std::string_view stage_id, std::string_view check_id,
                                       std::string_view path) {
  std::lock_guard lock(mutex_);
  Running& r = running_[std::string(check_id)];
  r.stage = std::string(stage_id);
  r.check = std::string(check_id);
  r.artifact = std::string(path);
  r.seq = ++seq_;
}

void ProgressMonitor::on_check_finish(const CheckResult& result) {
  std::lock_guard lock(mutex_);
  running_.erase(result.id);
  if (result.type != "skip_if") ++done_;  // skip_if rows are not among the spec's checks
  if (result.status != Status::fail && result.status != Status::error) return;
  ++(result.status == Status::fail ? failed_ : errors_);
  std::string message = result.message;
  std::replace(message.begin(), message.end(), '\n', ' ');
  line_locked(detail::printable(
      redact_secrets(
          fmt::format("stagecheck: {} {}: {}", row_label(result.status), result.id, message),
          secrets_),
      kMessageChars));
}

void ProgressMonitor::on_run_finish(const Report& report) {
  std::lock_guard lock(mutex_);
  const auto& s = report.summary;
  started_ = false;  // the status line goes for good: the summary takes its place
  line_locked(fmt::format(
      "stagecheck: done in {}: {} checks: {} pass, {} fail, {} warn, {} error, {} skipped, {} "
      "blocked: {} (exit {})",
      elapsed_text(now() - start_), s.total, s.pass, s.fail, s.warn, s.error, s.skipped, s.blocked,
      report.verdict(), static_cast<int>(report.exit_code)));
}

std::string ProgressMonitor::status_locked(Clock::time_point t) const {
  std::string stages;
  for (const auto& s : stages_running_) stages += (stages.empty() ? "" : ",") + s;
  const std::size_t done = std::min(done_, total_);
  const unsigned pct = total_ == 0 ? 100u : static_cast<unsigned>(done * 100 / total_);
  std::string text = fmt::format("[{}] stage {} | {}/{} checks ({}%) | {} failed, {} error{}",
                                 elapsed_text(t - start_), stages.empty() ? "-" : stages, done,
                                 total_, pct, failed_, errors_, errors_ == 1 ? "" : "s");
  // The most recent activity: the check (and what it is reading) that last moved.
  const Running* last = nullptr;
  for (const auto& [id, r] : running_) {
    if (last == nullptr || r.seq > last->seq) last = &r;
  }
  if (last != nullptr) {
    text += fmt::format(" | {}", last->check);
    if (!last->artifact.empty()) text += fmt::format(" reading {}", last->artifact);
  }
  return detail::printable(redact_secrets(std::move(text), secrets_));
}

std::string ProgressMonitor::status_line() {
  std::lock_guard lock(mutex_);
  return status_locked(now());
}

void ProgressMonitor::tick() {
  std::lock_guard lock(mutex_);
  if (!started_ || held_) return;
  const auto t = now();
  if (options_.tty) {
    draw_locked(t);
  } else if (t - last_line_ >= options_.interval) {
    line_locked("stagecheck: " + status_locked(t));
    last_line_ = t;
  }
}

void ProgressMonitor::clear_locked() {
  if (!drawn_) return;
  out_ << kClearLine << std::flush;
  drawn_ = false;
}

void ProgressMonitor::draw_locked(Clock::time_point t) {
  out_ << kClearLine << fit(status_locked(t), options_.width - 1) << std::flush;
  drawn_ = true;
}

void ProgressMonitor::line_locked(const std::string& text) {
  clear_locked();
  out_ << text << '\n';
  if (options_.tty && started_ && !held_) {
    draw_locked(now());
  } else {
    out_.flush();
  }
}

void ProgressMonitor::hold(bool on) {
  std::lock_guard lock(mutex_);
  held_ = on;
  if (on) clear_locked();
}

}  // namespace stagecheck
