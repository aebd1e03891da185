#pragma once
/// \file
/// RetryPolicy: when and how often an object store retries a request.

#include <chrono>

namespace stagecheck {

/// When and how often a request is retried: on HTTP 429, 5xx and transport errors (reset,
/// refused, timed out, a body shorter than its Content-Length), never on another 4xx. The delay
/// before retry n is uniformly random in [0, min(max_backoff, initial_backoff * 2^(n-1))]
/// ("full jitter"), or what a Retry-After header asks if that is longer, and no retry starts
/// after `max_total` from the first attempt.
struct RetryPolicy {
  unsigned max_retries = 5;                        ///< Retries after the first attempt.
  std::chrono::milliseconds initial_backoff{200};  ///< Cap of the first delay.
  std::chrono::milliseconds max_backoff{5000};     ///< Cap of every delay.
  std::chrono::milliseconds max_total{60000};      ///< No retry starts later than this.
};

}  // namespace stagecheck
