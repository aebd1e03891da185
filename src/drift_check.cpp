// The built-in `drift` check: one observed value of this run against the same value in the last
// N recorded runs of the same spec and vars (`--history URL`).

#include "drift_check.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "stagecheck/history.hpp"

namespace stagecheck {
namespace {

enum class Baseline { mean, median, last };
enum class Direction { both, decrease, increase };

constexpr std::int64_t kMaxWindow = 10000;

struct DriftConfig {
  std::string metric;   // "<stage>.<check>"
  std::string pointer;  // JSON pointer into its observed ("" = observed itself)
  std::size_t window = 10;
  std::size_t min_history = 3;
  Baseline baseline = Baseline::mean;
  Direction direction = Direction::both;
  std::optional<double> max_abs, max_rel, max_z;
  std::string self;              // this drift check's own id
  bool include_drifted = false;  // also compare with runs where this drift check failed
};

const char* to_string(Baseline b) {
  switch (b) {
    case Baseline::median:
      return "median";
    case Baseline::last:
      return "last";
    default:
      return "mean";
  }
}

const char* to_string(Direction d) {
  switch (d) {
    case Direction::decrease:
      return "decrease";
    case Direction::increase:
      return "increase";
    default:
      return "both";
  }
}

std::string show(double v) { return fmt::format("{:.4g}", v); }

// What the value is called in messages: the pointer's last token, or the check's id.
std::string value_name(const DriftConfig& c) {
  if (c.pointer.empty()) return c.metric;
  if (c.pointer.front() != '/') return c.pointer;
  std::string last = c.pointer.substr(c.pointer.rfind('/') + 1);
  return last.empty() ? c.pointer : last;
}

// The finite number at `pointer` in `doc`, or why not ("missing", "string \"x\"", ...).
struct Lookup {
  std::optional<double> value;
  std::string found;  // what was there, when it was not a finite number
};

Lookup number_at(const nlohmann::json& doc, const std::string& pointer) {
  const nlohmann::json* v = &doc;
  if (!pointer.empty() && pointer.front() != '/') {
    // A field name: the observed key that is exactly it, or the one condition of a `json`
    // check on it (observed under the condition's text, "FIELD OP OPERAND").
    if (!doc.is_object()) return {std::nullopt, fmt::format("{} (not an object)", doc.type_name())};
    const nlohmann::json* hit = nullptr;
    std::size_t hits = 0;
    for (const auto& [key, val] : doc.items()) {
      if (key == pointer) {
        hit = &val;
        hits = 1;
        break;
      }
      if (key.size() > pointer.size() && key.compare(0, pointer.size(), pointer) == 0 &&
          key[pointer.size()] == ' ') {
        hit = &val;
        ++hits;
      }
    }
    if (hits == 0) return {std::nullopt, "nothing (no such field)"};
    if (hits > 1) {
      return {std::nullopt,
              fmt::format("{} conditions on this field (name one with a JSON pointer)", hits)};
    }
    v = hit;
  } else if (!pointer.empty()) {
    nlohmann::json::json_pointer ptr(pointer);  // validated by the factory
    if (!doc.contains(ptr)) return {std::nullopt, "nothing (no such field)"};
    v = &doc.at(ptr);
  }
  if (!v->is_number()) {
    std::string dumped = v->dump();
    if (dumped.size() > 80) dumped = dumped.substr(0, 77) + "...";
    return {std::nullopt, fmt::format("{} {}", v->type_name(), dumped)};
  }
  const double d = v->get<double>();
  if (!std::isfinite(d)) return {std::nullopt, fmt::format("the non-finite number {}", d)};
  return {d, {}};
}

// A double as JSON; null for a non-finite value (JSON has no Infinity).
nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// `value > bound`, allowing for the rounding of decimal inputs (0.93 - 0.88 is 0.0500...04).
bool exceeds(double value, double bound) { return value > bound * (1.0 + 1e-9) + 1e-12; }

class DriftCheck final : public Check {
 public:
  explicit DriftCheck(DriftConfig c) : c_(std::move(c)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    CheckOutcome out;
    out.expected = expected();
    const History* history = ctx.history();
    if (history == nullptr) {
      out.status = Status::error;
      out.message = fmt::format(
          "no run history to compare '{}' with: drift needs the earlier runs of this spec; pass "
          "--history URL (e.g. --history sqlite:runs.db)",
          c_.metric);
      out.code = "drift_no_history";
      return out;
    }
    const CheckResult* measured = ctx.result_of(c_.metric);
    if (measured == nullptr) {
      out.status = Status::error;
      out.message = fmt::format(
          "the measured check '{}' has no result in this run (drift runs after every "
          "other check; is it a check of this spec?)",
          c_.metric);
      return out;
    }
    if (measured->status == Status::error || measured->status == Status::skipped ||
        measured->status == Status::blocked) {
      out.status = Status::error;
      out.message = fmt::format(
          "cannot measure '{}': it was {} ({})", c_.metric,
          measured->status == Status::error ? "not evaluated (error)" : to_string(measured->status),
          measured->message);
      out.details = {{"metric", c_.metric}, {"metric_status", to_string(measured->status)}};
      return out;
    }
    const std::string name = value_name(c_);
    Lookup now = number_at(measured->observed, c_.pointer);
    if (!now.value) {
      out.status = Status::fail;
      out.code = "drift_value_missing";
      out.message =
          fmt::format("check '{}': observed{}: expected a finite number, found {}", c_.metric,
                      c_.pointer.empty() ? "" : fmt::format(" at '{}'", c_.pointer), now.found);
      out.observed = {{"value", nullptr}, {"found", now.found}};
      out.details = {{"metric", c_.metric},
                     {"value_pointer", c_.pointer},
                     {"metric_observed", measured->observed}};
      return out;
    }
    const double x = *now.value;

    // The runs where this drift check failed are not a baseline: a degraded value must never
    // become the norm by being run again (a retry would otherwise pass it after a few runs).
    std::set<std::string> drifted;
    if (!c_.include_drifted) {
      auto own = history->observations(
          ctx.history_key(), c_.self,
          std::min<std::size_t>(10 * c_.window, static_cast<std::size_t>(kMaxWindow)));
      if (!own) {
        out.status = Status::error;
        out.message = fmt::format("cannot read the history ({}) of '{}': {}", history->describe(),
                                  c_.self, own.error().message);
        out.observed = {{"value", x}};
        return out;
      }
      for (const auto& o : *own) {
        if (o.status == Status::fail) drifted.insert(o.run_id);
      }
    }
    auto past = history->observations(ctx.history_key(), c_.metric, c_.window + drifted.size());
    if (!past) {
      out.status = Status::error;
      out.message = fmt::format("cannot read the history ({}) of '{}': {}", history->describe(),
                                c_.metric, past.error().message);
      out.observed = {{"value", x}};
      return out;
    }
    nlohmann::json used = nlohmann::json::array();
    nlohmann::json skipped = nlohmann::json::array();
    std::vector<double> values;  // newest first
    std::size_t read = 0;
    for (const auto& o : *past) {
      if (drifted.count(o.run_id) != 0) {
        skipped.push_back({{"run_id", o.run_id},
                           {"started_at", o.started_at},
                           {"reason", "this drift check failed in that run"}});
        continue;
      }
      if (++read > c_.window) break;
      if (o.status == Status::error || o.status == Status::skipped || o.status == Status::blocked) {
        skipped.push_back({{"run_id", o.run_id},
                           {"started_at", o.started_at},
                           {"reason", fmt::format("status {}", to_string(o.status))}});
        continue;
      }
      Lookup v = number_at(o.observed, c_.pointer);
      if (!v.value) {
        skipped.push_back({{"run_id", o.run_id},
                           {"started_at", o.started_at},
                           {"reason", fmt::format("not a finite number: {}", v.found)}});
        continue;
      }
      values.push_back(*v.value);
      used.push_back({{"run_id", o.run_id}, {"started_at", o.started_at}, {"value", *v.value}});
    }
    out.details = {{"metric", c_.metric},
                   {"value_pointer", c_.pointer},
                   {"history", history->describe()},
                   {"runs_read", std::min(read, c_.window)},
                   {"runs", used},
                   {"skipped_count", skipped.size()},
                   {"skipped", skipped}};
    const std::size_t n = values.size();
    // A z-score needs a sample standard deviation: at least two values.
    const std::size_t needed = std::max<std::size_t>(c_.min_history, c_.max_z ? 2 : 1);
    if (n < needed) {
      out.status = Status::warn;
      out.code = "drift_too_little_history";
      out.message = fmt::format(
          "too little history ({} of {} runs): {} {} not compared; {} earlier run{} read "
          "(window {}), {} skipped",
          n, needed, name, show(x), std::min(read, c_.window),
          std::min(read, c_.window) == 1 ? "" : "s", c_.window, skipped.size());
      out.observed = {{"value", x}, {"history_count", n}};
      return out;
    }

    double mean = 0.0;
    for (double v : values) mean += v;
    mean /= static_cast<double>(n);
    double stddev = std::numeric_limits<double>::quiet_NaN();
    if (n >= 2) {
      double ss = 0.0;
      for (double v : values) ss += (v - mean) * (v - mean);
      stddev = std::sqrt(ss / static_cast<double>(n - 1));
    }
    double base = mean;
    if (c_.baseline == Baseline::last) {
      base = values.front();
    } else if (c_.baseline == Baseline::median) {
      std::vector<double> sorted = values;
      std::sort(sorted.begin(), sorted.end());
      base = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
    const double delta = x - base;
    const double abs_change = std::fabs(delta);
    const double rel_change = base != 0.0         ? abs_change / std::fabs(base)
                              : abs_change == 0.0 ? 0.0
                                                  : std::numeric_limits<double>::infinity();
    std::optional<double> z;
    if (n >= 2) {
      const double d = std::fabs(x - mean);
      z = stddev > 0.0 ? d / stddev : d == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
    }
    auto bad = [&](double signed_change) {
      switch (c_.direction) {
        case Direction::decrease:
          return signed_change < 0.0;
        case Direction::increase:
          return signed_change > 0.0;
        default:
          return signed_change != 0.0;
      }
    };

    out.observed = {{"value", x},
                    {"baseline", base},
                    {"abs_change", abs_change},
                    {"rel_change", finite_or_null(rel_change)},
                    {"zscore", z ? finite_or_null(*z) : nlohmann::json(nullptr)},
                    {"mean", mean},
                    {"stddev", finite_or_null(stddev)},
                    {"history_count", n}};

    std::vector<std::string> broken;
    if (c_.max_abs && bad(delta) && exceeds(abs_change, *c_.max_abs)) {
      broken.push_back(fmt::format("max_abs_change {}", show(*c_.max_abs)));
    }
    if (c_.max_rel && bad(delta) && exceeds(rel_change, *c_.max_rel)) {
      broken.push_back(std::isfinite(rel_change)
                           ? fmt::format("max_rel_change {:g} %", *c_.max_rel * 100.0)
                           : fmt::format("max_rel_change {:g} %: the baseline is 0, so any "
                                         "change is an infinite relative change",
                                         *c_.max_rel * 100.0));
    }
    if (c_.max_z && z && bad(x - mean) && exceeds(*z, *c_.max_z)) {
      broken.push_back(
          std::isfinite(*z)
              ? fmt::format("z-score {:.2f} > max_zscore {}", *z, show(*c_.max_z))
              : fmt::format("max_zscore {}: the last {} values are all {}, so any change is an "
                            "infinite z-score",
                            show(*c_.max_z), n, show(mean)));
    }
    const std::string of_runs =
        c_.baseline == Baseline::last
            ? fmt::format("the last run's value {}", show(base))
            : fmt::format("the {} {} of the last {} run{}", to_string(c_.baseline), show(base), n,
                          n == 1 ? "" : "s");
    const std::string rel_text =
        std::isfinite(rel_change) ? fmt::format("{:.1f} %", rel_change * 100.0) : "infinite %";
    if (!broken.empty()) {
      out.status = Status::fail;
      out.code = "drift";
      out.message = fmt::format("{} {} {} {} ({}) {} {} ({})", name, show(x),
                                delta < 0 ? "dropped" : "rose", show(abs_change), rel_text,
                                delta < 0 ? "below" : "above", of_runs, fmt::join(broken, "; "));
      return out;
    }
    out.status = Status::pass;
    out.message = fmt::format("{} {} is within bounds of {} (change {}{}, {}{})", name, show(x),
                              of_runs, delta < 0 ? "-" : "+", show(abs_change), rel_text,
                              z && std::isfinite(*z) ? fmt::format(", z-score {:.2f}", *z) : "");
    return out;
  }

 private:
  nlohmann::json expected() const {
    nlohmann::json e = {{"baseline", to_string(c_.baseline)},
                        {"direction", to_string(c_.direction)},
                        {"window", c_.window},
                        {"min_history", c_.min_history}};
    if (c_.max_abs) e["max_abs_change"] = *c_.max_abs;
    if (c_.max_rel) e["max_rel_change"] = *c_.max_rel;
    if (c_.max_z) e["max_zscore"] = *c_.max_z;
    if (c_.include_drifted) e["include_drifted_runs"] = true;
    return e;
  }

  DriftConfig c_;
};

CheckInfo drift_info() {
  CheckInfo info;
  info.type = "drift";
  info.category = "history";
  info.summary =
      "A value another check observed, compared with the same value in the last N recorded runs.";
  info.description =
      "Needs a run history (`--history URL`); without one it cannot be evaluated (error). Runs "
      "after every other check of the run. Reads the number at `value` (a JSON pointer) in the "
      "`observed` of check `metric` in this run and in the last `window` recorded runs of the "
      "same spec and vars, skipping earlier runs whose check errored, was skipped or blocked, or "
      "whose value is not a finite number. Fewer than `min_history` usable runs (at least 2 with "
      "max_zscore) is a warning, not a pass. Otherwise it fails when a bound is exceeded in the "
      "watched `direction`: |x - baseline| > max_abs_change, |x - baseline| / |baseline| > "
      "max_rel_change (a baseline of 0 makes any change infinite), or |x - mean| / stddev > "
      "max_zscore (sample stddev; a stddev of 0 makes any change infinite). The measured check "
      "erroring, skipped or blocked is an error; its value missing, not a number, NaN or "
      "infinite fails. A drift check never blocks a dependent stage, since it runs last.";
  info.params = {
      {"metric",
       ParamType::string,
       true,
       nullptr,
       "The id \"<stage>.<check>\" of the check whose observed value is watched (not a drift "
       "check).",
       {}},
      {"value",
       ParamType::string,
       false,
       "",
       "Where the number is in that check's `observed`: a JSON pointer, e.g. \"/pass_rate\"; or "
       "a field name, e.g. \"summary.pass_rate\": the observed key of that name, or the one "
       "condition of a `json` check on that field (observed under the condition's text); \"\" "
       "(the default): observed itself.",
       {}},
      {"window", ParamType::integer, false, 10, "Compare with the last N recorded runs.", {}},
      {"min_history",
       ParamType::integer,
       false,
       3,
       "Fewer usable earlier runs than this is a warning (1..window).",
       {}},
      {"baseline",
       ParamType::string,
       false,
       "mean",
       "What the value is compared with: the mean, the median or the last run's value.",
       {"mean", "median", "last"}},
      {"max_abs_change",
       ParamType::number,
       false,
       nullptr,
       "Largest allowed |x - baseline| (>= 0).",
       {}},
      {"max_rel_change",
       ParamType::number,
       false,
       nullptr,
       "Largest allowed |x - baseline| / |baseline|, e.g. 0.1 for 10 % (>= 0).",
       {}},
      {"max_zscore",
       ParamType::number,
       false,
       nullptr,
       "Largest allowed |x - mean| / stddev of the window (>= 0).",
       {}},
      {"direction",
       ParamType::string,
       false,
       "both",
       "Which change fails: both, decrease (only a drop, e.g. a pass rate) or increase (only a "
       "rise, e.g. a latency).",
       {"both", "decrease", "increase"}},
      {"include_drifted_runs",
       ParamType::boolean,
       false,
       false,
       "Also compare with earlier runs where this drift check failed (default false: a "
       "degraded value never becomes the baseline by being run again; accept a new level by "
       "setting this, or with a history that starts anew).",
       {}},
  };
  info.example =
      "- id: pass_rate_drift\n  type: drift\n  metric: quality.report\n"
      "  value: \"/summary.pass_rate >= 0.9\"\n  window: 10\n  min_history: 3\n"
      "  max_rel_change: 0.10\n  direction: decrease";
  return info;
}

Result<std::unique_ptr<Check>> make_drift(const CheckConfig& config) {
  DriftConfig c;
  c.self = config.id();
  c.include_drifted = config.get_bool("include_drifted_runs");
  c.metric = config.get_string("metric");
  const std::size_t dot = c.metric.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == c.metric.size()) {
    return config.error(
        "metric", fmt::format("expected a check id \"<stage>.<check>\", found \"{}\"", c.metric));
  }
  c.pointer = config.get_string("value");
  // A JSON pointer is parsed here; a field name (see number_at) needs nothing.
  if (!c.pointer.empty() && c.pointer.front() == '/') {
    try {
      nlohmann::json::json_pointer ptr(c.pointer);
      (void)ptr;
    } catch (const std::exception& e) {
      return config.error(
          "value", fmt::format("expected a JSON pointer (\"/field/0\") or a field name, found "
                               "\"{}\": {}",
                               c.pointer, e.what()));
    }
  }
  const std::int64_t window = config.get_int("window");
  if (window < 1 || window > kMaxWindow) {
    return config.error("window", fmt::format("expected 1..{} runs, found {}", kMaxWindow, window));
  }
  c.window = static_cast<std::size_t>(window);
  const std::int64_t min_history = config.get_int("min_history");
  if (min_history < 1 || min_history > window) {
    return config.error("min_history",
                        fmt::format("expected 1..window ({}), found {}", window, min_history));
  }
  c.min_history = static_cast<std::size_t>(min_history);
  const std::string baseline = config.get_string("baseline");
  c.baseline = baseline == "median" ? Baseline::median
               : baseline == "last" ? Baseline::last
                                    : Baseline::mean;
  const std::string direction = config.get_string("direction");
  c.direction = direction == "decrease"   ? Direction::decrease
                : direction == "increase" ? Direction::increase
                                          : Direction::both;
  for (const char* p : {"max_abs_change", "max_rel_change", "max_zscore"}) {
    if (!config.has(p)) continue;
    const double v = config.get_number(p);
    if (!std::isfinite(v) || v < 0.0) {
      return config.error(p, fmt::format("expected a finite number >= 0, found {}", v));
    }
    std::optional<double>& slot = std::string_view(p) == "max_abs_change"   ? c.max_abs
                                  : std::string_view(p) == "max_rel_change" ? c.max_rel
                                                                            : c.max_z;
    slot = v;
  }
  if (!c.max_abs && !c.max_rel && !c.max_z) {
    return config.error("max_abs_change",
                        "a drift check needs at least one bound: max_abs_change, max_rel_change "
                        "or max_zscore");
  }
  return std::unique_ptr<Check>(std::make_unique<DriftCheck>(std::move(c)));
}

}  // namespace

Result<void> register_drift_check(Registry& registry) {
  return registry.add(drift_info(), make_drift, "built-in");
}

}  // namespace stagecheck
