#pragma once
/// \file
/// ChaosInjector: decides, reproducibly from a seed, which requests fault (`--chaos RATE
/// --seed S`), and records every fault it injects. Shared by the store layer (ChaosStore) and
/// the probe layer (CheckContext::probe_fault).

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stagecheck/error.hpp"
#include "stagecheck/export.hpp"

namespace stagecheck {

/// How much chaos.
struct ChaosOptions {
  double rate = 0.0;       ///< Probability that an attempt faults, 0 to 1.
  std::uint64_t seed = 1;  ///< The same seed, spec and data inject the same faults.
  /// Retries of a faulted request before its error is returned (what a real store's client
  /// does for transient errors). A fault in the middle of a stream or a listing that has
  /// already delivered data is never retried.
  unsigned retries = 2;
};

/// One injected fault and what became of it.
struct InjectedFault {
  std::uint64_t number = 0;  ///< 1-based, in the order injected.
  std::string op;            ///< stat, exists, read, open, stream, list, list_level, write.
  std::string path;
  std::string kind;      ///< reset, timeout, stall, http_503, http_429, truncated.
  unsigned attempt = 1;  ///< 1 for the first try.
  /// `retried` (another attempt followed), `exhausted` (the error was returned: the check
  /// could not be evaluated), or `not_retryable` (mid-stream or mid-listing: returned).
  std::string outcome;
  bool recovered = false;  ///< For `retried`: a later attempt of the same request succeeded.
};

/// All the faults of a run.
struct ChaosReport {
  ChaosOptions options;
  std::vector<InjectedFault> faults;  ///< At most kMaxRecorded; `injected` counts all.
  std::uint64_t injected = 0;
  std::uint64_t retried_clean = 0;  ///< Requests that faulted and then succeeded on a retry.
  std::uint64_t exhausted = 0;      ///< Faults whose error was returned to a check.
  static constexpr std::size_t kMaxRecorded = 10000;
};

/// Thread-safe. A fault is an Errc::unavailable (reset, timeout, stall, 5xx, 429) or
/// Errc::io_error (a body cut short) error: never not_found and never malformed data, so a
/// fault makes a check "could not be evaluated", never a failure blamed on the data.
class STAGECHECK_API ChaosInjector {
 public:
  explicit ChaosInjector(ChaosOptions options);

  /// One request (`op` on `target`) with the options' retries: nothing when an attempt got
  /// through (faults before it are recorded as retried), else the last fault's error.
  /// Stalls sleep briefly (under 10 ms).
  std::optional<Error> request(std::string_view op, std::string_view target) const;

  /// One attempt's decision (pure: the same arguments give the same answer).
  struct Draw {
    bool fault = false;
    std::string kind;
    std::uint64_t value = 0;  ///< More bits of the same draw (e.g. where to cut a stream).
  };
  Draw draw(std::string_view op, std::string_view target, std::uint64_t occurrence,
            unsigned attempt) const;
  /// How many times (op, target) was asked before.
  std::uint64_t occurrence(std::string_view op, std::string_view target) const;
  /// Records a fault that took effect.
  void record(const Draw& d, std::string_view op, std::string_view target, unsigned attempt,
              std::string_view outcome, bool recovered = false) const;
  /// The error a fault becomes.
  Error error(std::string_view op, std::string_view target, std::string_view kind,
              unsigned attempts) const;

  const ChaosOptions& options() const { return options_; }
  /// What was injected so far.
  ChaosReport report() const;

 private:
  ChaosOptions options_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::uint64_t, std::less<>> occurrences_;
  mutable ChaosReport report_;
};

}  // namespace stagecheck
