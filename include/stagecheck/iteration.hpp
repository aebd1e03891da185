#pragma once
/// \file
/// Iteration: one run of a stress run (`--iterations N`, RunRequest::iterations), with
/// stagecheck's own resource use sampled after it.

#include <cstdint>
#include <string>
#include <vector>

namespace stagecheck {

/// The outcome of one iteration. The Report's results are those of the first iteration that
/// failed (else the last); every iteration's verdict and timings are here.
struct Iteration {
  unsigned index = 0;  ///< 1-based.
  int exit_code = 3;   ///< This iteration's own exit code (0, 1 or 3).
  std::string started_at;
  double duration_ms = 0.0;
  std::size_t pass = 0, fail = 0, warn = 0, error = 0;
  std::vector<std::string> failed;       ///< Ids of the checks that failed.
  std::vector<std::string> unevaluated;  ///< Ids of the checks that could not be evaluated.
  /// stagecheck's resident memory and open descriptors after the iteration (-1 if unknown).
  std::int64_t rss_kib = -1;
  int open_fds = -1;
};

}  // namespace stagecheck
