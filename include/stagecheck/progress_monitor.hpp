#pragma once
/// \file
/// ProgressMonitor: live progress of a run on a terminal or a log (`--monitor`).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "stagecheck/export.hpp"
#include "stagecheck/reporter.hpp"
#include "stagecheck/run_observer.hpp"

namespace stagecheck {

/// How a ProgressMonitor shows progress.
struct MonitorOptions {
  using Clock = std::chrono::steady_clock;
  /// True: one status line redrawn in place (`\r`, erase line) at most every `redraw`, cleared
  /// at the end, with failures printed as permanent lines above it. False: plain lines, no
  /// control characters: one every `interval`, one per finished stage, one per failure.
  bool tty = false;
  std::chrono::milliseconds interval{2000};  ///< Plain mode: time between periodic lines.
  std::chrono::milliseconds redraw{100};     ///< TTY mode: time between redraws.
  std::size_t width = 80;                    ///< TTY mode: columns the status line may use.
  /// The time source (tests pass a fake one). Null: steady_clock::now.
  std::function<Clock::time_point()> now;
  /// Starts a background thread that calls tick(). False: the caller calls tick() (tests).
  bool ticker = true;
};

/// A RunObserver that writes progress to a stream (stderr in the driver), never to stdout's
/// report. Thread-safe: every event and tick() may come from any thread. Across iterations of
/// a stress run, each run start begins a new display.
///
/// When the reporters write to the same terminal (the console reporter on stdout), add
/// hold_output() before them and release_output() after them to the reporters list: the status
/// line is then cleared and not redrawn while they write, so their lines never land on it.
class STAGECHECK_API ProgressMonitor final : public RunObserver {
 public:
  /// `out` must outlive the monitor. Starts the ticker thread if `options.ticker`.
  ProgressMonitor(std::ostream& out, MonitorOptions options);
  /// Stops and joins the ticker thread and clears a status line left on the terminal.
  ~ProgressMonitor() override;
  ProgressMonitor(const ProgressMonitor&) = delete;
  ProgressMonitor& operator=(const ProgressMonitor&) = delete;

  void on_run_start(const RunInfo& info, const std::vector<std::string>& secret_values) override;
  void on_stage_start(std::string_view stage_id) override;
  void on_stage_finish(const StageResult& stage) override;
  void on_check_start(std::string_view stage_id, std::string_view check_id,
                      std::string_view type) override;
  void on_artifact_read(std::string_view stage_id, std::string_view check_id,
                        std::string_view path) override;
  void on_check_finish(const CheckResult& result) override;
  void on_run_finish(const Report& report) override;

  /// Redraws the status line (TTY) or writes a periodic line (plain) if one is due.
  void tick();
  /// The status as one line of text, without control characters (what tick() shows).
  std::string status_line();

  /// Reporters that clear and hold the status line while the reporters between them write.
  Reporter& hold_output() { return *hold_; }
  Reporter& release_output() { return *release_; }

  /// True if `fd` is a terminal; its width in columns (80 if unknown).
  static bool is_terminal(int fd) noexcept;
  static std::size_t terminal_width(int fd) noexcept;

 private:
  class Guard;
  using Clock = MonitorOptions::Clock;
  struct Running {
    std::string stage, check, artifact;
    std::size_t seq = 0;
  };
  Clock::time_point now() const;
  std::string status_locked(Clock::time_point now) const;
  void clear_locked();
  void draw_locked(Clock::time_point now);
  void line_locked(const std::string& text);  // a permanent line
  void hold(bool on);
  void run_ticker();

  std::ostream& out_;
  MonitorOptions options_;
  std::mutex mutex_;
  bool started_ = false;
  bool drawn_ = false;  // a status line is on the terminal
  bool held_ = false;
  Clock::time_point start_{}, last_line_{};
  std::size_t total_ = 0, done_ = 0, failed_ = 0, errors_ = 0, seq_ = 0;
  std::vector<std::string> secrets_;
  std::vector<std::string> stages_running_;
  std::map<std::string, Running> running_;  // by check id
  std::unique_ptr<Reporter> hold_, release_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread ticker_;
};

}  // namespace stagecheck
