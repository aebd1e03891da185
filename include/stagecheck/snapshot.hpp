#pragma once
/// \file
/// Snapshot: a value recorded before a stage's trigger and compared after it ("the counter
/// `cluster_jobs_total` increments").

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "stagecheck/condition.hpp"
#include "stagecheck/source_mark.hpp"

namespace stagecheck {

struct StageCheck;

/// `snapshots: [{id, probe: {type, ...}, value, expect, timeout, interval}]`. The probe is any
/// check type; `value` is a path into its `observed` (e.g. `series[0].value` for
/// prometheus_query, `length` for redis_stream). Before the trigger the probe runs once and
/// must pass with that value present; after it (and after the stage's wait) the probe is re-run
/// every `interval` until `expect` holds on `{before, after, delta}` (delta = after - before,
/// numbers only) or `timeout` passes. The result row is `<stage>.<id>`, type `snapshot`.
struct Snapshot {
  std::string id;  ///< Full id "<stage>.<id>".
  std::shared_ptr<const StageCheck> probe;
  JsonPath value;
  std::optional<Condition> expect;  ///< Over {before, after, delta}; always set once loaded.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  SourceMark mark;
};

}  // namespace stagecheck
