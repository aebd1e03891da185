// `stagecheck metrics`: a dataset's regression metrics as JSON.

#include "cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/program_options.hpp>

#include "dataset_regression/metrics.hpp"
#include "stagecheck/local_store.hpp"

namespace stagecheck::driver {

int cmd_metrics(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck metrics --dataset-dir DIR [options]

Prints the golden dataset regression metrics of DIR as JSON on stdout, with sorted keys, as
the pipeline's baseline_metrics.json spells them: episode_count, quality_distribution,
quality_summary, collision_rate, duration_seconds, checksums and checksums_path (DIR joined
with the manifest used). Reads DIR/recordings/**/*.json and the checksum manifest named by
DIR/import_manifest.json's checksums_path, else DIR/checksums.json; hashes every file it
lists. Save the output as baseline_metrics.json to pin a baseline for the dataset_regression
check (examples/dataset/regression.yaml). Fails closed: exit 1 and no JSON when a recording
is unreadable or malformed, a quality_score is missing or outside [0, 1], there are no
recordings, or the checksum manifest is missing or malformed; exit 2 for a missing DIR or a
usage error; exit 3 when a file cannot be read (permission, I/O) or on interruption.

Options)");
  std::string dataset_dir, recordings = "recordings", checksums, max_bytes_text = "64M";
  unsigned jobs = 0;
  // clang-format off
  opts.add_options()
    ("help,h", "show this help")
    ("dataset-dir", po::value(&dataset_dir), "the dataset folder (required)")
    ("recordings", po::value(&recordings), "recordings folder relative to DIR (default: recordings)")
    ("checksums", po::value(&checksums), "checksum manifest relative to DIR (default: from import_manifest.json, else checksums.json)")
    ("jobs,j", po::value(&jobs), "threads reading and hashing (default: number of cores)")
    ("max-bytes", po::value(&max_bytes_text), "largest JSON file read, e.g. 64M (default 64M)");
  // clang-format on
  po::variables_map vm;
  if (auto stop = parse_args(args, opts, nullptr, nullptr, vm, "metrics")) return *stop;
  if (dataset_dir.empty()) return usage_error("metrics needs --dataset-dir", "metrics");
  if (vm.count("jobs") != 0 && jobs == 0)
    return usage_error("--jobs must be at least 1", "metrics");
  auto max_bytes = parse_size(max_bytes_text);
  if (!max_bytes) return usage_error("--max-bytes: " + max_bytes.error().message, "metrics");
  for (const auto* rel : {&recordings, &checksums}) {
    if (rel->empty() && rel == &checksums) continue;
    if (auto valid = validate_store_path(*rel); !valid) {
      return usage_error(fmt::format("--{}: {}", rel == &recordings ? "recordings" : "checksums",
                                     valid.error().message),
                         "metrics");
    }
  }
  auto store = open_local_store(dataset_dir);
  if (!store) return usage_error("--dataset-dir: " + store.error().message, "metrics");
  dataset_regression::MetricsOptions mo;
  mo.recordings = recordings;
  mo.checksums = checksums;
  mo.limits.max_bytes = *max_bytes;
  mo.jobs = jobs != 0 ? jobs : std::max(1u, std::thread::hardware_concurrency());
  mo.cancelled = [] { return g_interrupted.load(); };
  install_signal_handlers();
  auto metrics = dataset_regression::compute_metrics(**store, mo);
  restore_signal_handlers();
  if (!metrics) {
    std::cerr << "stagecheck: error: " << metrics.error().message << "\n";
    return status_for(metrics.error().code) == Status::fail
               ? static_cast<int>(ExitCode::fail)
               : static_cast<int>(ExitCode::no_verdict);
  }
  const std::string shown = (std::filesystem::path(dataset_dir) / metrics->checksums_path).string();
  std::cout << dataset_regression::metrics_to_json(*metrics, shown)
                   .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  return 0;
}

}  // namespace stagecheck::driver
