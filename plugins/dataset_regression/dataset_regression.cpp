// `dataset_regression`: the pipeline's golden dataset regression (its
// tests/test_dataset_regression.py, pipeline-artifacts.md section 10), fail-closed. Computes a
// dataset's metrics (metrics.hpp) and compares them with a pinned baseline_metrics.json under
// thresholds.json: |actual - baseline| <= delta for episode_count, every quality bucket,
// collision_rate and the average duration; at most N missing and M mismatched checksummed
// files; at least one file checked. The baseline and thresholds are operator-given files
// (local_path variables), read strictly: a missing or unknown key, a negative or non-numeric
// threshold fails instead of defaulting.

#include <stagecheck/local_store.hpp>
#include <stagecheck/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dataset_regression/metrics.hpp"

namespace stagecheck::dataset_regression {
namespace {

using json = nlohmann::json;

constexpr const char* kBaselineFile = "baseline_metrics.json";
constexpr const char* kThresholdsFile = "thresholds.json";
/// Longest baseline or thresholds file read (they are a few hundred bytes).
constexpr std::uint64_t kMaxInputBytes = 1u << 20;

/// The delta thresholds, each a finite number >= 0.
constexpr std::string_view kDeltaKeys[] = {"episode_count_delta", "quality_distribution_delta",
                                           "collision_rate_delta", "duration_average_delta"};
/// The allowed counts, each an integer >= 0.
constexpr std::string_view kAllowedKeys[] = {"checksum_missing_allowed",
                                             "checksum_mismatch_allowed"};

/// A JSON value for "found ...".
std::string describe(const json& v) {
  std::string text = v.dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  if (v.is_string()) return "the string " + text;
  if (v.is_boolean()) return "the boolean " + text;
  if (v.is_null()) return "null";
  if (v.is_number()) return text;
  return fmt::format("{} {}", v.type_name(), text);
}

/// A key as a quoted JSON string, ASCII-only.
std::string quoted(const std::string& key) {
  return json(key).dump(-1, ' ', true, json::error_handler_t::replace);
}

/// A finite number (booleans are not numbers).
std::optional<double> finite_number(const json& v) {
  if (!v.is_number()) return std::nullopt;
  const double d = v.get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

/// The thresholds, validated.
struct Thresholds {
  double episode_count_delta = 0, quality_distribution_delta = 0, collision_rate_delta = 0,
         duration_average_delta = 0;
  std::uint64_t checksum_missing_allowed = 0, checksum_mismatch_allowed = 0;
};

/// The compared part of the baseline, validated.
struct Baseline {
  double episode_count = 0;
  std::array<double, kBucketCount> quality_distribution{};
  double collision_rate = 0;
  double average_seconds = 0;
};

/// Reads `what` strictly; every problem is appended to `problems` (each names the key).
std::optional<Thresholds> read_thresholds(const json& doc, const std::string& where,
                                          std::vector<std::string>& problems) {
  if (!doc.is_object()) {
    problems.push_back(fmt::format("{}: expected a JSON object, found {}", where, doc.type_name()));
    return std::nullopt;
  }
  Thresholds t;
  const std::size_t before = problems.size();
  auto known = [](const std::string& key) {
    return std::find(std::begin(kDeltaKeys), std::end(kDeltaKeys), key) != std::end(kDeltaKeys) ||
           std::find(std::begin(kAllowedKeys), std::end(kAllowedKeys), key) !=
               std::end(kAllowedKeys);
  };
  for (const auto& [key, value] : doc.items()) {
    if (!known(key)) {
      problems.push_back(fmt::format(
          "{}: unknown key {} (expected only {}, {}): a misspelt threshold would "
          "silently compare nothing",
          where, quoted(key), fmt::join(kDeltaKeys, ", "), fmt::join(kAllowedKeys, ", ")));
    }
  }
  for (std::string_view key : kDeltaKeys) {
    auto it = doc.find(key);
    if (it == doc.end()) {
      problems.push_back(
          fmt::format("{}: {}: expected a number >= 0, found no such key", where, key));
      continue;
    }
    std::optional<double> d = finite_number(*it);
    if (!d || *d < 0.0) {
      problems.push_back(
          fmt::format("{}: {}: expected a number >= 0, found {}", where, key, describe(*it)));
      continue;
    }
    if (key == "episode_count_delta") t.episode_count_delta = *d;
    if (key == "quality_distribution_delta") t.quality_distribution_delta = *d;
    if (key == "collision_rate_delta") t.collision_rate_delta = *d;
    if (key == "duration_average_delta") t.duration_average_delta = *d;
  }
  for (std::string_view key : kAllowedKeys) {
    auto it = doc.find(key);
    if (it == doc.end()) {
      problems.push_back(
          fmt::format("{}: {}: expected an integer >= 0, found no such key", where, key));
      continue;
    }
    std::uint64_t n = 0;
    if (it->is_number_unsigned()) {
      n = it->get<std::uint64_t>();
    } else {
      problems.push_back(
          fmt::format("{}: {}: expected an integer >= 0, found {}", where, key, describe(*it)));
      continue;
    }
    if (key == "checksum_missing_allowed") t.checksum_missing_allowed = n;
    if (key == "checksum_mismatch_allowed") t.checksum_mismatch_allowed = n;
  }
  if (problems.size() != before) return std::nullopt;
  return t;
}

std::optional<Baseline> read_baseline(const json& doc, const std::string& where,
                                      std::vector<std::string>& problems) {
  if (!doc.is_object()) {
    problems.push_back(fmt::format("{}: expected a JSON object, found {}", where, doc.type_name()));
    return std::nullopt;
  }
  Baseline b;
  const std::size_t before = problems.size();
  auto number = [&](const json& parent, std::string_view key, std::string_view field, double& out) {
    auto it = parent.find(key);
    if (it == parent.end()) {
      problems.push_back(
          fmt::format("{}: {}: expected a finite number, found no such key", where, field));
      return;
    }
    std::optional<double> d = finite_number(*it);
    if (!d) {
      problems.push_back(
          fmt::format("{}: {}: expected a finite number, found {}", where, field, describe(*it)));
      return;
    }
    out = *d;
  };
  auto object = [&](std::string_view key) -> const json* {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_object()) {
      problems.push_back(fmt::format("{}: {}: expected an object, found {}", where, key,
                                     it == doc.end() ? std::string("no such key") : describe(*it)));
      return nullptr;
    }
    return &*it;
  };
  number(doc, "episode_count", "episode_count", b.episode_count);
  if (const json* dist = object("quality_distribution")) {
    for (const auto& [key, value] : dist->items()) {
      if (std::find(kBucketNames.begin(), kBucketNames.end(), key) == kBucketNames.end()) {
        problems.push_back(
            fmt::format("{}: quality_distribution: unknown bucket {} (expected exactly {})", where,
                        quoted(key), fmt::join(kBucketNames, ", ")));
      }
    }
    for (std::size_t i = 0; i < kBucketCount; ++i) {
      const std::string key(kBucketNames[i]);
      number(*dist, key, fmt::format("quality_distribution[\"{}\"]", key),
             b.quality_distribution[i]);
    }
  }
  number(doc, "collision_rate", "collision_rate", b.collision_rate);
  if (const json* dur = object("duration_seconds")) {
    number(*dur, "average_seconds", "duration_seconds.average_seconds", b.average_seconds);
  }
  if (problems.size() != before) return std::nullopt;
  return b;
}

/// The shortest text of a double that reads back the same ("0.835", "2.0", "1e-05").
std::string num(double v) { return json(v).dump(); }

class DatasetRegressionCheck final : public Check {
 public:
  struct Settings {
    std::string baseline_var;          ///< local_path variable: folder with both files ("" none)
    std::string baseline_metrics_var;  ///< local_path variable: the baseline file ("" none)
    std::string thresholds_var;        ///< local_path variable: the thresholds file ("" none)
    std::optional<PathTemplate> dataset;
    std::string recordings;
    std::string checksums;
  };

  explicit DatasetRegressionCheck(Settings s) : s_(std::move(s)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    // The operator's files first: no hashing when there is nothing to compare with.
    std::string baseline_path, thresholds_path;
    if (auto out = input_path(ctx, s_.baseline_metrics_var, kBaselineFile, baseline_path)) {
      return *out;
    }
    if (auto out = input_path(ctx, s_.thresholds_var, kThresholdsFile, thresholds_path)) {
      return *out;
    }
    json baseline_doc, thresholds_doc;
    if (auto out = read_input(ctx, baseline_path, "baseline", baseline_doc)) return *out;
    if (auto out = read_input(ctx, thresholds_path, "thresholds", thresholds_doc)) return *out;
    std::vector<std::string> problems;
    std::optional<Baseline> baseline =
        read_baseline(baseline_doc, fmt::format("baseline '{}'", baseline_path), problems);
    std::optional<Thresholds> thresholds =
        read_thresholds(thresholds_doc, fmt::format("thresholds '{}'", thresholds_path), problems);
    if (!baseline || !thresholds) {
      CheckOutcome out = CheckOutcome::fail(fmt::format("{}", fmt::join(problems, "; ")));
      out.code = "dataset_regression_inputs_invalid";
      out.details = {{"baseline", baseline_path}, {"thresholds", thresholds_path}};
      return out;
    }

    // The dataset's metrics.
    MetricsOptions mo;
    if (s_.dataset) {
      Result<std::string> dir = ctx.resolve(*s_.dataset);
      if (!dir) return CheckOutcome::from(dir.error());
      mo.dataset_dir = *dir;
      while (!mo.dataset_dir.empty() && mo.dataset_dir.back() == '/') mo.dataset_dir.pop_back();
      if (mo.dataset_dir == ".") mo.dataset_dir.clear();
      if (!mo.dataset_dir.empty()) {
        if (Result<void> valid = validate_store_path(mo.dataset_dir); !valid) {
          CheckOutcome out = CheckOutcome::fail(
              fmt::format("dataset: expected a folder in the store, found \"{}\": {}",
                          mo.dataset_dir, valid.error().message));
          out.code = "dataset_regression_metrics_invalid";
          return out;
        }
      }
    }
    const std::string shown_dir = mo.dataset_dir.empty() ? "." : mo.dataset_dir;
    mo.recordings = s_.recordings;
    mo.checksums = s_.checksums;
    mo.limits = ctx.limits();
    mo.jobs = ctx.jobs();
    mo.cancelled = [&ctx] { return ctx.cancelled(); };
    ctx.record_artifact(
        (mo.dataset_dir.empty() ? s_.recordings : mo.dataset_dir + "/" + s_.recordings) + "/");
    Result<DatasetMetrics> metrics = compute_metrics(ctx.store(), mo);
    if (!metrics) {
      CheckOutcome out = CheckOutcome::from(metrics.error());
      out.message = fmt::format("dataset '{}': {}", shown_dir, metrics.error().message);
      if (out.status == Status::fail) out.code = "dataset_regression_metrics_invalid";
      out.details = {{"dataset", shown_dir}, {"baseline", baseline_path}};
      return out;
    }
    ctx.record_artifact(metrics->checksums_path);
    return compare(shown_dir, *metrics, *baseline, *thresholds, baseline_path, thresholds_path,
                   baseline_doc, thresholds_doc);
  }

 private:
  /// Sets `path` from the variable `file_var` if set, else from the `baseline` folder variable
  /// plus `file`; returns an outcome when neither gives a path.
  std::optional<CheckOutcome> input_path(CheckContext& ctx, const std::string& file_var,
                                         const char* file, std::string& path) const {
    const std::string& var = file_var.empty() ? s_.baseline_var : file_var;
    const json* value = ctx.var(var);
    if (value == nullptr || value->is_null() ||
        (value->is_string() && value->get_ref<const std::string&>().empty())) {
      CheckOutcome out = CheckOutcome::fail(fmt::format(
          "variable '{}' is not set: no {} to compare the dataset with (pass --var {}=PATH)", var,
          file_var.empty() ? fmt::format("folder holding {}", file) : std::string(file), var));
      out.code = "dataset_regression_inputs_missing";
      return out;
    }
    if (!value->is_string()) {
      return CheckOutcome::error(
          fmt::format("variable '{}' holds {}, expected a local path", var, value->type_name()));
    }
    path = value->get<std::string>();
    if (file_var.empty()) path = (std::filesystem::path(path) / file).string();
    return std::nullopt;
  }

  /// Reads and parses a local JSON file; returns an outcome on failure.
  static std::optional<CheckOutcome> read_input(CheckContext& ctx, const std::string& path,
                                                const char* what, json& doc) {
    Result<std::string> text = read_local_file(path, kMaxInputBytes);
    // Both errors name the file already.
    Result<json> parsed =
        text ? parse_json(*text, path, ctx.limits()) : Result<json>(std::move(text).error());
    if (!parsed) {
      CheckOutcome out = CheckOutcome::from(parsed.error());
      out.message = fmt::format("{} file {}", what, parsed.error().message);
      if (out.status == Status::fail) {
        out.code = parsed.error().code == Errc::not_found ? "dataset_regression_inputs_missing"
                                                          : "dataset_regression_inputs_invalid";
      }
      return out;
    }
    doc = std::move(*parsed);
    return std::nullopt;
  }

  static CheckOutcome compare(const std::string& dataset, const DatasetMetrics& m,
                              const Baseline& b, const Thresholds& t,
                              const std::string& baseline_path, const std::string& thresholds_path,
                              const json& baseline_doc, const json& thresholds_doc) {
    json rows = json::array();
    std::vector<std::string> failures;
    auto delta_row = [&](std::string metric, double baseline, double actual, json actual_json,
                         json baseline_json, std::string_view threshold, double allowed) {
      const double diff = std::fabs(actual - baseline);
      const bool ok = diff <= allowed;
      rows.push_back({{"metric", metric},
                      {"baseline", std::move(baseline_json)},
                      {"actual", std::move(actual_json)},
                      {"difference", diff},
                      {"threshold", threshold},
                      {"allowed", allowed},
                      {"ok", ok}});
      if (!ok) {
        failures.push_back(fmt::format("{}: baseline {}, actual {}, |difference| {} > {} {}",
                                       metric, rows.back()["baseline"].dump(),
                                       rows.back()["actual"].dump(), num(diff), threshold,
                                       num(allowed)));
      }
    };
    delta_row("episode_count", b.episode_count, static_cast<double>(m.episode_count),
              m.episode_count, baseline_doc["episode_count"], "episode_count_delta",
              t.episode_count_delta);
    for (std::size_t i = 0; i < kBucketCount; ++i) {
      const std::string key(kBucketNames[i]);
      delta_row(fmt::format("quality_distribution[\"{}\"]", key), b.quality_distribution[i],
                static_cast<double>(m.quality_distribution[i]), m.quality_distribution[i],
                baseline_doc["quality_distribution"][key], "quality_distribution_delta",
                t.quality_distribution_delta);
    }
    delta_row("collision_rate", b.collision_rate, m.collision_rate, m.collision_rate,
              baseline_doc["collision_rate"], "collision_rate_delta", t.collision_rate_delta);
    delta_row("duration_seconds.average_seconds", b.average_seconds, m.average_seconds,
              m.average_seconds, baseline_doc["duration_seconds"]["average_seconds"],
              "duration_average_delta", t.duration_average_delta);

    auto count_row = [&](std::string metric, const std::vector<std::string>& files,
                         std::string_view threshold, std::uint64_t allowed) {
      const bool ok = files.size() <= allowed;
      rows.push_back({{"metric", metric},
                      {"actual", files.size()},
                      {"files", files},
                      {"threshold", threshold},
                      {"allowed", allowed},
                      {"ok", ok}});
      if (!ok) {
        std::vector<std::string> named(files.begin(),
                                       files.begin() + std::min<std::size_t>(files.size(), 10));
        failures.push_back(fmt::format("{}: {} files ({}{}) > {} {}", metric, files.size(),
                                       fmt::join(named, ", "), files.size() > 10 ? ", ..." : "",
                                       threshold, allowed));
      }
    };
    count_row("checksums.missing_files", m.checksums.missing_files, "checksum_missing_allowed",
              t.checksum_missing_allowed);
    count_row("checksums.mismatched_files", m.checksums.mismatched_files,
              "checksum_mismatch_allowed", t.checksum_mismatch_allowed);
    const bool any_checked = m.checksums.total_files >= 1;
    rows.push_back({{"metric", "checksums.total_files"},
                    {"actual", m.checksums.total_files},
                    {"minimum", 1},
                    {"ok", any_checked}});
    if (!any_checked) {
      failures.push_back(
          fmt::format("checksums.total_files: expected at least 1 file in '{}', "
                      "found 0",
                      m.checksums_path));
    }

    CheckOutcome out;
    out.observed = metrics_to_json(m, m.checksums_path);
    out.expected = {{"baseline", baseline_doc}, {"thresholds", thresholds_doc}};
    out.details = {{"dataset", dataset},
                   {"baseline", baseline_path},
                   {"thresholds", thresholds_path},
                   {"checksums_source", m.checksums_source},
                   {"comparisons", std::move(rows)}};
    if (failures.empty()) {
      out.status = Status::pass;
      out.message = fmt::format(
          "dataset '{}': {} episodes, {} checksummed files; every metric within thresholds '{}' "
          "of baseline '{}'",
          dataset, m.episode_count, m.checksums.total_files, thresholds_path, baseline_path);
      return out;
    }
    out.status = Status::fail;
    out.code = "dataset_regression_drift";
    out.message = fmt::format("dataset '{}' drifted from baseline '{}' (thresholds '{}'): {}",
                              dataset, baseline_path, thresholds_path, fmt::join(failures, "; "));
    return out;
  }

  Settings s_;
};

CheckInfo dataset_regression_info() {
  CheckInfo info;
  info.type = "dataset_regression";
  info.category = "quality";
  info.summary =
      "The golden dataset regression: a dataset's metrics against a pinned baseline and "
      "thresholds.";
  info.description =
      "Computes the pipeline's regression metrics of a dataset folder (what `stagecheck metrics\n"
      "--dataset-dir DIR` prints): episode_count, quality_distribution buckets [0,0.5) [0.5,0.8)\n"
      "[0.8,0.9) [0.9,1.0] (1.0 in the top one), quality_summary, collision_rate, "
      "duration_seconds\n"
      "and a checksum report, from <dataset>/recordings/**/*.json and the checksum manifest named\n"
      "by import_manifest.json's checksums_path (else checksums.json). Then compares them with\n"
      "baseline_metrics.json as the pipeline's test does: |actual - baseline| <= delta for\n"
      "episode_count, every quality bucket, collision_rate and duration average_seconds;\n"
      "missing and mismatched checksummed files within the allowed counts; at least one file.\n"
      "Fails closed where the pipeline's tool is open: an unreadable or malformed recording, a\n"
      "quality_score missing, not a number or outside [0, 1], a collision_count that is not an\n"
      "integer >= 0, a recording with no duration, no recordings at all, a missing checksum\n"
      "manifest, a missing or unknown key in the baseline or thresholds, a negative threshold.\n"
      "Codes: dataset_regression_drift, dataset_regression_metrics_invalid,\n"
      "dataset_regression_inputs_missing, dataset_regression_inputs_invalid.";
  info.params = {
      {"baseline",
       ParamType::local_path,
       false,
       nullptr,
       "The folder holding baseline_metrics.json and thresholds.json (required unless both "
       "files are named below).",
       {}},
      {"baseline_metrics",
       ParamType::local_path,
       false,
       nullptr,
       "The baseline metrics file, instead of <baseline>/baseline_metrics.json.",
       {}},
      {"thresholds",
       ParamType::local_path,
       false,
       nullptr,
       "The thresholds file, instead of <baseline>/thresholds.json.",
       {}},
      {"dataset",
       ParamType::path,
       false,
       nullptr,
       "The dataset folder in the store (default: the store's root).",
       {}},
      {"recordings",
       ParamType::string,
       false,
       "recordings",
       "The recordings folder, relative to the dataset folder; every *.json beneath it "
       "(recursively) is one episode.",
       {}},
      {"checksums",
       ParamType::string,
       false,
       "",
       "The checksum manifest relative to the dataset folder (default: import_manifest.json's "
       "checksums_path, else checksums.json).",
       {}},
  };
  info.example =
      "# vars: baseline: {type: local_path, required: true}\n"
      "- id: golden_regression\n"
      "  type: dataset_regression\n"
      "  baseline: $baseline\n";
  return info;
}

Result<std::unique_ptr<Check>> make_dataset_regression(const CheckConfig& config) {
  DatasetRegressionCheck::Settings s;
  if (config.has("baseline")) s.baseline_var = config.get_string("baseline");
  if (config.has("baseline_metrics"))
    s.baseline_metrics_var = config.get_string("baseline_metrics");
  if (config.has("thresholds")) s.thresholds_var = config.get_string("thresholds");
  if (s.baseline_var.empty() && s.baseline_metrics_var.empty()) {
    return config.error("baseline",
                        "is required (a folder holding baseline_metrics.json) unless "
                        "baseline_metrics names the file");
  }
  if (s.baseline_var.empty() && s.thresholds_var.empty()) {
    return config.error("baseline",
                        "is required (a folder holding thresholds.json) unless thresholds names "
                        "the file");
  }
  if (config.has("dataset")) {
    const auto& paths = config.get_paths("dataset");
    if (paths.size() != 1) return config.error("dataset", "expected one path");
    s.dataset = paths.front();
  }
  auto relative = [&](const char* param, std::string& out) -> std::optional<Error> {
    out = config.get_string(param);
    while (out.size() > 2 && out.compare(0, 2, "./") == 0) out.erase(0, 2);
    while (!out.empty() && out.back() == '/') out.pop_back();
    if (Result<void> valid = validate_store_path(out); !valid) {
      return config.error(param, fmt::format("expected a path relative to the dataset folder: {}",
                                             valid.error().message));
    }
    return std::nullopt;
  };
  if (auto e = relative("recordings", s.recordings)) return *e;
  if (config.has("checksums")) {
    if (auto e = relative("checksums", s.checksums)) return *e;
  }
  return std::unique_ptr<Check>(std::make_unique<DatasetRegressionCheck>(std::move(s)));
}

void register_checks(PluginRegistrar& registrar) {
  registrar.add(dataset_regression_info(), make_dataset_regression);
}

}  // namespace
}  // namespace stagecheck::dataset_regression

STAGECHECK_PLUGIN("dataset_regression", "0.1.0", stagecheck::dataset_regression::register_checks)
