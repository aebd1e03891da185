#pragma once
// Internal: what a stage does besides its checks when the run executes the pipeline
// (RunOptions::execute): its trigger (a command, an HTTP request or an input marker) and its
// bounded wait for the markers the triggered work leaves.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "run_context.hpp"
#include "stagecheck/check_result.hpp"
#include "stagecheck/stage.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck::detail {

/// Expands `${name}` references in a trigger template: spec variables and `root` (the store
/// being validated). Strings are inserted as they are, numbers and booleans as JSON, string
/// lists joined with ','. With `redact`, secret variables read `***`. A variable without a
/// value is Errc::invalid_argument naming it.
Result<std::string> interpolate(std::string_view text, const Spec& spec, std::string_view root,
                                bool redact);

/// Runs the stage's trigger and returns its result row `<stage>.trigger` (type "trigger"):
/// pass when the command exited 0 / the HTTP status was expected / the marker was written;
/// fail on another exit code, a timeout or an unexpected status; error when it could not be
/// started, the endpoint was unreachable, the run was interrupted, or (write_marker) the store
/// is not writable (`writable` null). Never throws.
CheckResult run_trigger(RunState& run, const Stage& stage, Store* writable);

/// Waits, bounded, for every marker of the stage's `wait` and returns the row `<stage>.wait`
/// (type "wait"): pass once all exist (and, with `not_before_ns`, were modified at or after
/// it: a marker an earlier run left is no evidence); at the deadline fail naming the missing
/// (and stale) markers, or error when the store could not be asked. Never an unbounded loop.
/// Never throws.
CheckResult run_wait(RunState& run, const Stage& stage,
                     std::optional<std::int64_t> not_before_ns = std::nullopt);

/// `text` with the value of every secret variable replaced by `***`.
std::string scrub_secrets(std::string text, const Spec& spec);

/// Sleeps `d`, waking early when the run is cancelled; returns false if it was.
bool sleep_unless_cancelled(const RunState& run, std::chrono::milliseconds d);

}  // namespace stagecheck::detail
