#include "stagecheck/runner.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>
#include <thread>
#include <variant>

#include <fmt/format.h>

#include "run_context.hpp"
#include "stage_actions.hpp"
#include "stagecheck/history.hpp"
#include "stagecheck/run_observer.hpp"
#include "stagecheck/version.hpp"
#include "text_util.hpp"

namespace stagecheck {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

CheckResult base_result(const Stage& stage, const StageCheck& sc) {
  CheckResult r;
  r.id = sc.id;
  r.stage = stage.id;
  r.type = sc.type;
  r.description = sc.description;
  r.severity = sc.severity;
  return r;
}

// Evaluates one check, never letting an exception escape.
// `fresh`: read every artifact anew rather than from the run's cache (a snapshot's probe,
// which re-reads what the triggered work is changing).
CheckResult run_one(detail::RunState& run, const Stage& stage, const StageCheck& sc,
                    bool fresh = false) {
  CheckResult r = base_result(stage, sc);
  if (run.cancelled()) {
    r.status = Status::error;
    r.message = "interrupted before it ran";
    return r;
  }
  auto start = Clock::now();
  detail::CheckContextImpl ctx(run, fresh);
  ctx.observe_as(stage.id, sc.id);
  CheckOutcome out;
  try {
    out = sc.check->run(ctx);
  } catch (const std::exception& e) {
    out = CheckOutcome::error(
        fmt::format("check '{}' (type {}) threw an exception: {}", sc.id, sc.type, e.what()));
  } catch (...) {
    out = CheckOutcome::error(
        fmt::format("check '{}' (type {}) threw a non-standard exception", sc.id, sc.type));
  }
  r.duration_ms = ms_since(start);
  r.status = out.status;
  if (r.status == Status::fail && sc.severity == Severity::warning) r.status = Status::warn;
  r.message = std::move(out.message);
  r.observed = std::move(out.observed);
  r.expected = std::move(out.expected);
  r.details = std::move(out.details);
  if (r.status == Status::fail || r.status == Status::warn || r.status == Status::error) {
    r.code = !out.code.empty() ? std::move(out.code) : sc.failure_code;
  }
  std::vector<std::string> artifacts = ctx.artifacts();
  artifacts.insert(artifacts.end(), out.artifacts.begin(), out.artifacts.end());
  std::sort(artifacts.begin(), artifacts.end());
  artifacts.erase(std::unique(artifacts.begin(), artifacts.end()), artifacts.end());
  r.artifacts = std::move(artifacts);
  return r;
}

struct SnapState {
  bool ready = false;  // `before` was recorded and the trigger succeeded: compare after it
  nlohmann::json before;
};

struct StageRun {
  StageResult result;
  // In spec order: the skip_if failure if any, then trigger, wait, snapshots, checks.
  std::vector<CheckResult> checks;
  std::size_t trigger_slot = 0, wait_slot = 0, snap_base = 0, check_base = 0;
  std::vector<SnapState> snaps;
  // Drift checks (StageCheck::measures): indices into the stage's checks, run in the final phase.
  std::vector<std::size_t> deferred;
  bool finished = false;  // every row but the deferred ones is final; dependents may start
  bool done = false;      // every row is final; the stage may be emitted
  bool emitted = false;
};

CheckResult action_row(const Stage& stage, std::string id, std::string type,
                       std::string description) {
  CheckResult r;
  r.id = std::move(id);
  r.stage = stage.id;
  r.type = std::move(type);
  r.description = std::move(description);
  return r;
}

std::string snapshot_description(const Snapshot& snap) {
  if (!snap.probe->description.empty()) return snap.probe->description;
  return fmt::format("{} of {} across the trigger: {}", snap.value.text(), snap.probe->type,
                     snap.expect->text());
}

// Runs a snapshot's probe once and takes its value: the value, or the row that says why not.
std::variant<nlohmann::json, CheckResult> probe_value(detail::RunState& run, const Stage& stage,
                                                      const Snapshot& snap, const char* when) {
  CheckResult pr = run_one(run, stage, *snap.probe, /*fresh=*/true);
  CheckResult r = action_row(stage, snap.id, "snapshot", snapshot_description(snap));
  r.artifacts = pr.artifacts;
  r.duration_ms = pr.duration_ms;
  if (pr.status != Status::pass) {
    r.status = pr.status == Status::warn ? Status::fail : pr.status;
    r.code = pr.code;
    r.message =
        fmt::format("{}: the probe ({}) did not pass: {}", when, snap.probe->type, pr.message);
    r.observed = pr.observed;
    r.expected = pr.expected;
    return r;
  }
  auto found = snap.value.find(pr.observed);
  if (!found) {
    r.status = Status::fail;
    r.message = fmt::format("{}: the probe ({}) observed no value at '{}': {}", when,
                            snap.probe->type, snap.value.text(), found.error().message);
    r.observed = pr.observed;
    return r;
  }
  return **found;
}

// Before the trigger: the value every snapshot starts from.
void snapshot_before(detail::RunState& run, const Stage& stage, StageRun& sr) {
  for (std::size_t i = 0; i < stage.snapshots.size(); ++i) {
    auto v = probe_value(run, stage, stage.snapshots[i], "before the trigger");
    if (auto* failed = std::get_if<CheckResult>(&v)) {
      sr.checks[sr.snap_base + i] = std::move(*failed);
    } else {
      sr.snaps[i].ready = true;
      sr.snaps[i].before = std::move(std::get<nlohmann::json>(v));
    }
  }
}

// After the trigger and the wait: re-runs the probe until `expect` holds on {before, after,
// delta} or the snapshot's timeout passes.
CheckResult snapshot_after(detail::RunState& run, const Stage& stage, const Snapshot& snap,
                           const nlohmann::json& before) {
  const auto start = Clock::now();
  const auto deadline = start + snap.timeout;
  unsigned polls = 0;
  for (;;) {
    ++polls;
    auto v = probe_value(run, stage, snap, "after the trigger");
    CheckResult r = action_row(stage, snap.id, "snapshot", snapshot_description(snap));
    if (auto* failed = std::get_if<CheckResult>(&v)) {
      r = std::move(*failed);
    } else {
      const nlohmann::json& after = std::get<nlohmann::json>(v);
      nlohmann::json doc = {{"before", before}, {"after", after}};
      if (before.is_number_integer() && after.is_number_integer()) {
        doc["delta"] = after.get<std::int64_t>() - before.get<std::int64_t>();
      } else if (before.is_number() && after.is_number()) {
        doc["delta"] = after.get<double>() - before.get<double>();
      }
      detail::CheckContextImpl ctx(run);
      ConditionOutcome out = snap.expect->evaluate(doc, ctx.eval_env());
      r.observed = doc;
      r.expected = {{"condition", snap.expect->text()}};
      if (out.kind == ConditionOutcome::Kind::satisfied) {
        r.status = Status::pass;
        r.message =
            fmt::format("{} (before {}, after {})", out.message, before.dump(), after.dump());
      } else {
        r.status = out.kind == ConditionOutcome::Kind::unavailable ? Status::error : Status::fail;
        r.code = "snapshot_unchanged";
        r.message = fmt::format("{} did not hold: {} (before {}, after {})", snap.expect->text(),
                                out.message, before.dump(), after.dump());
      }
    }
    r.details = {{"polls", polls}, {"probe", snap.probe->type}, {"value", snap.value.text()}};
    const auto now = Clock::now();
    if (r.status == Status::pass || now >= deadline) {
      r.duration_ms = ms_since(start);
      if (r.status != Status::pass) {
        r.message = fmt::format("after {:.1f} s ({} poll{}): {}", r.duration_ms / 1000.0, polls,
                                polls == 1 ? "" : "s", r.message);
      }
      return r;
    }
    auto nap = std::min(snap.interval,
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                            std::chrono::milliseconds(1));
    if (!detail::sleep_unless_cancelled(run, nap)) {
      r.status = Status::error;
      r.code = "interrupted";
      r.message = "interrupted while comparing: " + r.message;
      r.duration_ms = ms_since(start);
      return r;
    }
  }
}

// Before the checks: snapshots' first values, the trigger, the wait, then the snapshots'
// comparison. Only with --execute.
void run_prelude(detail::RunState& run, const Stage& stage, StageRun& sr, Store* writable) {
  if (run.cancelled()) return;  // rows stay "interrupted before it ran"
  snapshot_before(run, stage, sr);
  bool trigger_ok = true;
  std::optional<std::int64_t> not_before_ns;
  if (stage.trigger) {
    // Markers must be newer than this (less 2 s: clock skew, stores that keep whole seconds).
    not_before_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::system_clock::now().time_since_epoch() - std::chrono::seconds(2))
            .count();
    sr.checks[sr.trigger_slot] = detail::run_trigger(run, stage, writable);
    trigger_ok = sr.checks[sr.trigger_slot].status == Status::pass;
    run.forget_cached();
  }
  if (stage.wait) {
    if (trigger_ok) {
      sr.checks[sr.wait_slot] = detail::run_wait(
          run, stage, stage.wait->newer_than_trigger ? not_before_ns : std::nullopt);
      run.forget_cached();
    } else {
      CheckResult& w = sr.checks[sr.wait_slot];
      w.status = Status::blocked;
      w.message = "not waited for: the stage's trigger did not succeed";
    }
  }
  for (std::size_t i = 0; i < stage.snapshots.size(); ++i) {
    if (!sr.snaps[i].ready) continue;
    CheckResult& r = sr.checks[sr.snap_base + i];
    if (!trigger_ok) {
      r.status = Status::blocked;
      r.message = fmt::format("not compared: the stage's trigger did not succeed (before: {})",
                              sr.snaps[i].before.dump());
      r.observed = {{"before", sr.snaps[i].before}};
    } else {
      // Here, before any other stage of the wave triggers (preludes with snapshots run one at
      // a time): another stage's work must never move this stage's value.
      r = snapshot_after(run, stage, stage.snapshots[i], sr.snaps[i].before);
    }
  }
}

// Decides whether a stage runs: blocked/skipped by dependencies, or by its skip_if rule.
// Returns true if its checks should run. May append a skip_if result row.
bool decide(detail::RunState& run, const Stage& stage, StageRun& sr,
            const std::map<std::string, const StageRun*>& by_id) {
  for (const auto& dep : stage.depends_on) {
    const StageRun* d = by_id.at(dep);
    Status ds = d->result.status;
    if (ds == Status::fail || ds == Status::error || ds == Status::blocked) {
      sr.result.status = Status::blocked;
      sr.result.reason =
          ds == Status::blocked
              ? fmt::format("depends on '{}', which is blocked ({})", dep, d->result.reason)
              : fmt::format("depends on '{}', which {}", dep,
                            ds == Status::fail ? "failed" : "could not be evaluated");
      return false;
    }
  }
  for (const auto& dep : stage.depends_on) {
    const StageRun* d = by_id.at(dep);
    if (d->result.status == Status::skipped) {
      sr.result.status = Status::skipped;
      sr.result.reason =
          fmt::format("depends on '{}', which was skipped: {}", dep, d->result.reason);
      return false;
    }
  }
  if (!stage.skip_if) return true;
  const SkipRule& rule = *stage.skip_if;
  detail::CheckContextImpl ctx(run);
  CheckResult row;
  row.id = stage.id + ".skip_if";
  row.stage = stage.id;
  row.type = "skip_if";
  row.description = fmt::format("skip_if {} on {}", rule.condition.text(), rule.artifact.label());
  auto start = Clock::now();
  if (!rule.has_artifact) {
    static const nlohmann::json kNoDocument;
    ConditionOutcome r = rule.condition.evaluate(kNoDocument, ctx.eval_env());
    if (r.kind == ConditionOutcome::Kind::satisfied) {
      sr.result.status = Status::skipped;
      sr.result.reason = fmt::format("skip_if holds: {}", r.message);
      return false;
    }
    if (r.kind == ConditionOutcome::Kind::violated) return true;
    row.status = Status::fail;
    row.message = fmt::format("skip_if cannot be decided: {}", r.message);
    row.duration_ms = ms_since(start);
    sr.checks.push_back(std::move(row));
    return true;
  }
  auto doc = ctx.load(rule.artifact);
  if (!doc) {
    // An absent config means "not skipped"; one that exists but cannot be read or parsed fails.
    if (doc.error().code == Errc::not_found) return true;
    row.status = status_for(doc.error().code);
    row.message = fmt::format("skip_if cannot be decided: {}", doc.error().message);
  } else {
    ConditionOutcome r = rule.condition.evaluate(**doc, ctx.eval_env());
    switch (r.kind) {
      case ConditionOutcome::Kind::satisfied:
        sr.result.status = Status::skipped;
        sr.result.reason = fmt::format(
            "skip_if holds on {}: {}",
            ctx.artifacts().empty() ? rule.artifact.label() : ctx.artifacts().front(), r.message);
        return false;
      case ConditionOutcome::Kind::violated:
      case ConditionOutcome::Kind::missing:
        return true;  // a field that is absent means "not skipped", as the pipeline does
      case ConditionOutcome::Kind::unavailable:
        row.status = Status::error;
        row.message = fmt::format("skip_if cannot be decided: {}", r.message);
        row.observed = r.observed;
        row.expected = r.expected;
        break;
      default:
        row.status = Status::fail;
        row.message = fmt::format("skip_if cannot be decided: {}", r.message);
        row.observed = r.observed;
        row.expected = r.expected;
        break;
    }
  }
  row.duration_ms = ms_since(start);
  row.artifacts = ctx.artifacts();
  sr.checks.push_back(std::move(row));
  return true;  // the stage's checks still run: evaluate everything, never stop early
}

// `pending`: slots whose rows are not final yet (drift checks before the final phase).
Status stage_status(const std::vector<CheckResult>& checks,
                    const std::vector<std::size_t>& pending = {}) {
  bool fail = false, error = false, warn = false, any = false;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    if (std::find(pending.begin(), pending.end(), i) != pending.end()) continue;
    const CheckResult& c = checks[i];
    fail |= c.status == Status::fail;
    error |= c.status == Status::error;
    warn |= c.status == Status::warn;
    any |= c.status == Status::pass || c.status == Status::warn || c.status == Status::fail;
  }
  if (fail) return Status::fail;
  if (error) return Status::error;
  if (warn) return Status::warn;
  if (!any) return Status::skipped;
  return Status::pass;
}

// `j` with every secret value replaced by *** in its strings and keys.
void redact_json(nlohmann::json& j, const std::vector<std::string>& secrets) {
  if (j.is_string()) {
    j = redact_secrets(j.get<std::string>(), secrets);
  } else if (j.is_array()) {
    for (auto& e : j) redact_json(e, secrets);
  } else if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto& [key, value] : j.items()) {
      redact_json(value, secrets);
      out[redact_secrets(key, secrets)] = std::move(value);
    }
    j = std::move(out);
  }
}

// Keeps the values of secret variables out of a result, whatever a check quoted from an artifact
// that holds one: its message, artifacts and every string of its evidence. Everything downstream
// (reporters, observers, the history, alerts) then only ever sees ***.
void redact_result(CheckResult& r, const std::vector<std::string>& secrets) {
  if (secrets.empty()) return;
  r.message = redact_secrets(std::move(r.message), secrets);
  for (auto& a : r.artifacts) a = redact_secrets(std::move(a), secrets);
  redact_json(r.observed, secrets);
  redact_json(r.expected, secrets);
  redact_json(r.details, secrets);
}

// The values of the spec's secret variables, as text, for observers to keep out of what they
// write.
std::vector<std::string> secret_values(const Spec& spec) {
  std::vector<std::string> out;
  for (const auto& v : spec.vars) {
    auto it = spec.values.find(v.name);
    if (!v.secret || it == spec.values.end() || it->is_null()) continue;
    if (it->is_string()) {
      out.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& e : *it) out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    } else {
      out.push_back(it->dump());
    }
  }
  return out;
}

}  // namespace

Runner::Runner(const Spec& spec, const Store& store, RunOptions options)
    : spec_(spec), store_(store), options_(options) {}

Runner::Runner(const Spec& spec, Store& store, RunOptions options)
    : spec_(spec), store_(store), writable_(&store), options_(options) {}

Report Runner::run(const std::vector<Reporter*>& reporters) {
  auto run_start = Clock::now();
  Report report;
  report.tool_version = std::string(version());
  report.run_id = options_.run_id.empty() ? new_run_id() : options_.run_id;
  report.spec_name = spec_.name;
  report.spec_source = spec_.source;
  report.spec_hash = spec_.hash;
  report.root = store_.describe();
  report.vars = spec_.redacted_values();
  report.started_at = detail::utc_now_rfc3339();
  report.fail_on_warn = options_.fail_on_warn;

  RunInfo info{spec_.name,          spec_.source,      report.root,
               spec_.check_count(), report.started_at, report.run_id};

  unsigned jobs =
      options_.jobs != 0 ? options_.jobs : std::max(1u, std::thread::hardware_concurrency());
  detail::RunState run(spec_, store_, options_.limits, options_.cancel, jobs,
                       options_.allow_process_env, options_.chaos);
  run.set_observers(options_.observers);
  const std::vector<std::string> secrets = secret_values(spec_);
  run.notify([&](RunObserver& o) { o.on_run_start(info, secrets); });
  if (options_.history != nullptr) {
    run.set_history(options_.history, history_key(report.spec_name, report.vars));
  }
  for (auto* r : reporters) r->begin(info);

  std::vector<StageRun> runs(spec_.stages.size());
  std::map<std::string, const StageRun*> by_id;
  for (std::size_t i = 0; i < spec_.stages.size(); ++i) {
    runs[i].result.id = spec_.stages[i].id;
    runs[i].result.name = spec_.stages[i].name;
    by_id[spec_.stages[i].id] = &runs[i];
  }

  std::size_t next_emit = 0;
  auto emit_ready = [&] {
    while (next_emit < runs.size() && runs[next_emit].done) {
      for (const auto& c : runs[next_emit].checks) {
        for (auto* r : reporters) r->on_result(c);
      }
      ++next_emit;
    }
  };

  // Runs `tasks` on `jobs` threads; each writes only its own slot.
  struct Task {
    std::size_t stage;
    std::size_t check;
    std::size_t slot;
  };
  auto run_tasks = [&](const std::vector<Task>& tasks) {
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t k = next++; k < tasks.size(); k = next++) {
        const Task& t = tasks[k];
        const Stage& st = spec_.stages[t.stage];
        const StageCheck& sc = st.checks[t.check];
        run.notify([&](RunObserver& o) { o.on_check_start(st.id, sc.id, sc.type); });
        CheckResult& r = runs[t.stage].checks[t.slot];
        r = run_one(run, st, sc);
        redact_result(r, secrets);
        run.notify([&](RunObserver& o) { o.on_check_finish(r); });
      }
    };
    std::size_t nthreads = std::min<std::size_t>(jobs, tasks.size());
    if (nthreads <= 1) {
      worker();
    } else {
      std::vector<std::jthread> threads;
      threads.reserve(nthreads);
      for (std::size_t t = 0; t < nthreads; ++t) threads.emplace_back(worker);
    }
  };
  auto stage_duration = [](const StageRun& sr, double decided_ms) {
    double total = decided_ms;
    for (const auto& c : sr.checks) total += c.duration_ms;
    return total;
  };

  // Waves: every stage whose dependencies are finished runs in this wave, its checks in
  // parallel. Drift checks wait for the final phase, after every other check of the run: they
  // measure other checks' results. Their stage is finished for its dependents (which are decided
  // on its other rows) but done, and emitted, only after them.
  std::size_t finished_count = 0;
  std::vector<double> decided_ms(runs.size(), 0.0);
  while (finished_count < runs.size()) {
    std::vector<Task> tasks;
    std::vector<std::size_t> preludes;
    std::vector<std::size_t> wave;
    for (std::size_t i = 0; i < spec_.stages.size(); ++i) {
      if (runs[i].finished) continue;
      const Stage& st = spec_.stages[i];
      bool ready = std::all_of(st.depends_on.begin(), st.depends_on.end(),
                               [&](const std::string& d) { return by_id.at(d)->finished; });
      if (ready) wave.push_back(i);
    }
    if (wave.empty()) break;  // impossible: cycles are rejected at load
    for (std::size_t i : wave) {
      const Stage& st = spec_.stages[i];
      StageRun& sr = runs[i];
      run.notify([&](RunObserver& o) { o.on_stage_start(st.id); });
      auto stage_start = Clock::now();
      bool go = !run.cancelled() ? decide(run, st, sr, by_id) : true;
      sr.result.duration_ms = ms_since(stage_start);
      auto not_run = [&](CheckResult& r) {
        r.status = sr.result.status;
        r.message = fmt::format("stage '{}' {}: {}", st.id,
                                sr.result.status == Status::blocked ? "blocked" : "skipped",
                                sr.result.reason);
      };
      // Trigger, wait and snapshot rows: filled in by the prelude with --execute.
      auto add_action = [&](CheckResult r) {
        if (!go) {
          not_run(r);
        } else if (!options_.execute) {
          r.status = Status::skipped;
          r.message = "not run: validation only (triggers, waits and snapshots run with --execute)";
        } else {
          r.status = Status::error;
          r.message = "interrupted before it ran";
        }
        sr.checks.push_back(std::move(r));
        return sr.checks.size() - 1;
      };
      if (st.trigger) {
        sr.trigger_slot = add_action(action_row(st, st.id + ".trigger", "trigger", "trigger"));
      }
      if (st.wait) sr.wait_slot = add_action(action_row(st, st.id + ".wait", "wait", "wait"));
      sr.snap_base = sr.checks.size();
      sr.snaps.resize(st.snapshots.size());
      for (const auto& snap : st.snapshots) {
        add_action(action_row(st, snap.id, "snapshot", snapshot_description(snap)));
      }
      sr.check_base = sr.checks.size();
      for (std::size_t c = 0; c < st.checks.size(); ++c) {
        CheckResult r = base_result(st, st.checks[c]);
        if (!go) {
          not_run(r);
        } else if (!st.checks[c].measures.empty()) {
          sr.deferred.push_back(sr.check_base + c);
        } else {
          tasks.push_back({i, c, sr.check_base + c});
        }
        sr.checks.push_back(std::move(r));
      }
      if (go && options_.execute && (st.trigger || st.wait || !st.snapshots.empty())) {
        preludes.push_back(i);
      }
    }
    // Preludes (triggers, waits, snapshots) of this wave's stages: at once, unless one has
    // snapshots, whose before/after values another stage's work must not move.
    const bool one_at_a_time = std::any_of(preludes.begin(), preludes.end(), [&](std::size_t i) {
      return !spec_.stages[i].snapshots.empty();
    });
    for (std::size_t i : preludes) {
      for (std::size_t k = 0; k < runs[i].check_base; ++k) {
        const CheckResult& r = runs[i].checks[k];
        if (r.type == "skip_if") continue;
        run.notify([&](RunObserver& o) { o.on_check_start(r.stage, r.id, r.type); });
      }
    }
    if (preludes.size() == 1 || one_at_a_time) {
      for (std::size_t i : preludes) run_prelude(run, spec_.stages[i], runs[i], writable_);
    } else if (!preludes.empty()) {
      std::vector<std::jthread> threads;
      for (std::size_t i : preludes) {
        threads.emplace_back([&, i] { run_prelude(run, spec_.stages[i], runs[i], writable_); });
      }
    }
    run_tasks(tasks);
    for (std::size_t i : wave) {
      StageRun& sr = runs[i];
      // Observers: the rows no worker reported (skip_if, trigger, wait, snapshots; all of a
      // stage that did not run).
      const bool ran = sr.result.status != Status::blocked && sr.result.status != Status::skipped;
      for (std::size_t k = 0; k < (ran ? sr.check_base : sr.checks.size()); ++k) {
        run.notify([&](RunObserver& o) { o.on_check_finish(sr.checks[k]); });
      }
      if (sr.result.status != Status::blocked && sr.result.status != Status::skipped) {
        sr.result.status = stage_status(sr.checks, sr.deferred);
        if (sr.result.status == Status::skipped) {
          if (sr.deferred.empty()) {
            sr.result.reason = "every check was skipped";
          } else {
            // Its dependents see pass (drift never blocks them, see the README); the stage's
            // own status is decided in the final phase, once its drift checks have run.
            sr.result.status = Status::pass;
          }
        }
      }
      decided_ms[i] = sr.result.duration_ms;
      sr.result.duration_ms = stage_duration(sr, decided_ms[i]);
      for (std::size_t k = 0; k < sr.checks.size(); ++k) {
        if (std::find(sr.deferred.begin(), sr.deferred.end(), k) == sr.deferred.end()) {
          run.publish(sr.checks[k]);
        }
      }
      sr.finished = true;
      sr.done = sr.deferred.empty();
      ++finished_count;
      if (sr.done) run.notify([&](RunObserver& o) { o.on_stage_finish(sr.result); });
    }
    emit_ready();
  }

  // The final phase: drift checks, now that every other row of the run is final.
  std::vector<Task> final_tasks;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    for (std::size_t slot : runs[i].deferred) {
      final_tasks.push_back({i, slot - runs[i].check_base, slot});
    }
  }
  run_tasks(final_tasks);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    StageRun& sr = runs[i];
    if (sr.done) continue;
    sr.result.status = stage_status(sr.checks);
    sr.result.reason = sr.result.status == Status::skipped ? "every check was skipped" : "";
    sr.result.duration_ms = stage_duration(sr, decided_ms[i]);
    for (std::size_t slot : sr.deferred) run.publish(sr.checks[slot]);
    sr.done = true;
    run.notify([&](RunObserver& o) { o.on_stage_finish(sr.result); });
  }
  emit_ready();

  for (auto& sr : runs) {
    report.stages.push_back(sr.result);
    for (auto& c : sr.checks) report.results.push_back(std::move(c));
  }
  report.interrupted = run.cancelled();
  report.summary = summarize(report.results);
  report.exit_code = compute_exit_code(report.summary, options_.fail_on_warn, report.interrupted);
  report.duration_ms = ms_since(run_start);
  run.notify([&](RunObserver& o) { o.on_run_finish(report); });
  for (auto* r : reporters) r->end(report);
  return report;
}

}  // namespace stagecheck
