#pragma once
/// \file
/// The golden dataset regression's metrics (pipeline-artifacts.md section 10), computed from a
/// dataset folder in a store: what the pipeline's `tools.dataset_regression.metrics` prints, but
/// fail-closed. Shared by the `dataset_regression` check plugin and the driver's `metrics` verb
/// (a static library linked into both).

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <stagecheck/artifact.hpp>
#include <stagecheck/result.hpp>
#include <stagecheck/store.hpp>

namespace stagecheck::dataset_regression {

/// Number of quality buckets.
inline constexpr std::size_t kBucketCount = 4;
/// The quality buckets' keys, as the pipeline writes them: [0, 0.5), [0.5, 0.8), [0.8, 0.9),
/// [0.9, 1.0] (a score of exactly 1.0 belongs to the top bucket).
inline constexpr std::array<std::string_view, kBucketCount> kBucketNames = {"0.0-0.5", "0.5-0.8",
                                                                            "0.8-0.9", "0.9-1.0"};
/// Frames per second assumed when a recording has only `frame_count` (the pipeline's 30).
inline constexpr double kAssumedFps = 30.0;

/// Where the dataset is and how to read it.
struct MetricsOptions {
  /// The dataset folder, a store path ("" for the store's root).
  std::string dataset_dir;
  /// The recordings folder relative to `dataset_dir`; every `*.json` beneath it (recursively)
  /// is one episode.
  std::string recordings = "recordings";
  /// The checksum manifest relative to `dataset_dir`. Empty: `import_manifest.json`'s
  /// `checksums_path` if that manifest exists, else `checksums.json`.
  std::string checksums;
  /// Read cap and nesting limit for every JSON file.
  LoadLimits limits;
  /// Worker threads for parsing recordings and hashing files (at least one is used).
  unsigned jobs = 1;
  /// Polled while workers run; returning true stops them (the result is Errc::interrupted).
  std::function<bool()> cancelled;
};

/// The checksum part of the metrics: the manifest's files, those absent, those whose content
/// differs (a size that differs from `size_bytes` counts as a mismatch without hashing).
struct ChecksumReport {
  std::uint64_t total_files = 0;
  std::vector<std::string> missing_files;     ///< Manifest-relative paths, sorted.
  std::vector<std::string> mismatched_files;  ///< Manifest-relative paths, sorted.
  bool success = false;                       ///< Nothing missing, nothing mismatched.
};

/// The metrics of one dataset. Every value is finite.
struct DatasetMetrics {
  std::uint64_t episode_count = 0;
  std::array<std::uint64_t, kBucketCount> quality_distribution{};
  double average_score = 0, min_score = 0, max_score = 0;
  /// Fraction of episodes with collision_count > 0.
  double collision_rate = 0;
  double average_seconds = 0, min_seconds = 0, max_seconds = 0;
  ChecksumReport checksums;
  /// The checksum manifest used, as a store path.
  std::string checksums_path;
  /// Where its name came from: "option", "import_manifest" or "default".
  std::string checksums_source;
};

/// Computes the metrics, reading through `store` only (never writing). Fails closed, naming the
/// file, the field, what was expected and what was found:
///   - Errc::malformed / type_mismatch / not_found / too_large ... (a `fail`): a recording that
///     cannot be parsed, is not an object, or whose quality_score is missing, not a number, or
///     outside [0, 1]; a collision_count that is not a non-negative integer; no usable duration;
///     no recordings at all; a missing or malformed checksum manifest or import manifest; a
///     manifest entry with a bad path or digest.
///   - Errc::permission_denied / io_error ... (an `error`): a file that could not be read.
///   - Errc::interrupted when `options.cancelled` returned true.
/// Every problem found is listed (the first 20 in the message, with the number left out); the
/// code is the first problem's that makes a check fail, else the first problem's.
/// Thread safety: the store must be safe for concurrent reads (every Store is).
Result<DatasetMetrics> compute_metrics(const Store& store, const MetricsOptions& options);

/// The metrics as the pipeline's `baseline_metrics.json` spells them (nlohmann objects keep keys
/// sorted): episode_count, quality_distribution, quality_summary, collision_rate,
/// duration_seconds, checksums, and checksums_path = `checksums_path_shown`.
nlohmann::json metrics_to_json(const DatasetMetrics& metrics,
                               std::string_view checksums_path_shown);

/// The quality bucket index of a score in [0, 1].
std::size_t bucket_of(double score) noexcept;

/// Sums like Python 3.12's `sum()` of floats (Neumaier compensation), so that averages agree
/// with the pipeline's tool to the last bit when it runs on Python 3.12 or later.
double python_sum(const std::vector<double>& values) noexcept;

}  // namespace stagecheck::dataset_regression
