#pragma once
/// \file
/// ChaosStore: a Store that injects transport-level faults into another, reproducibly from a
/// seed (`--chaos RATE --seed S`), to prove that verdicts survive them.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stagecheck/export.hpp"
#include "stagecheck/store.hpp"

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

/// Wraps `inner` (which must outlive it). Thread-safe. Every operation may fault; errors are
/// Errc::unavailable (reset, timeout, 5xx, 429) or Errc::io_error (a body cut short), never
/// not_found or malformed data: a fault must make a check "could not be evaluated", never a
/// failure blamed on data. Stalls sleep briefly (under 10 ms) before answering.
class STAGECHECK_API ChaosStore final : public Store {
 public:
  ChaosStore(Store& inner, ChaosOptions options);
  ~ChaosStore() override;

  std::string describe() const override;
  Result<ObjectInfo> stat(std::string_view path) const override;
  Result<bool> exists(std::string_view path) const override;
  Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const override;
  Result<std::unique_ptr<Reader>> open(std::string_view path) const override;
  Result<void> list(std::string_view prefix,
                    const std::function<bool(const ObjectInfo&)>& visit) const override;
  Result<void> list_level(std::string_view folder,
                          const std::function<bool(const ListEntry&)>& visit) const override;
  Result<void> write_atomic(std::string_view path, std::string_view data) override;

  /// What was injected so far.
  ChaosReport report() const;

  /// Internal: decides one attempt (pure: the same arguments, the same answer).
  struct Draw {
    bool fault = false;
    std::string kind;
    std::uint64_t value = 0;  ///< More bits of the same draw (e.g. where to cut a stream).
  };
  Draw draw(std::string_view op, std::string_view path, std::uint64_t occurrence,
            unsigned attempt) const;
  /// Internal: records a fault that took effect.
  void record(const Draw& d, std::string_view op, std::string_view path, unsigned attempt,
              std::string_view outcome, bool recovered = false) const;
  /// Internal: how many times (op, path) was asked before.
  std::uint64_t occurrence(std::string_view op, std::string_view path) const;
  const ChaosOptions& options() const { return options_; }

 private:
  template <typename T, typename F>
  Result<T> with_retries(std::string_view op, std::string_view path, F&& call) const;

  Store& inner_;
  ChaosOptions options_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::uint64_t, std::less<>> occurrences_;
  mutable ChaosReport report_;
};

}  // namespace stagecheck
