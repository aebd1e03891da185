#pragma once
/// \file
/// parallel_for: a check's own bounded worker pool, cancellable, with the calling thread free
/// to poll the CheckContext (which only one thread may use).

#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "stagecheck/export.hpp"

namespace stagecheck {

/// Runs `fn(i)` for every i < count on up to `jobs` worker threads (at least one), handing
/// out indices through a shared counter so that large and small items mix without a static
/// split. The calling thread does no work: it polls `cancelled` every 50 ms and raises `stop`
/// when it returns true; workers stop taking indices once `stop` is set, and long `fn`s should
/// watch it too. An exception thrown by `fn` stops the pool; its text is returned (the first
/// one). Returns std::nullopt when every call returned normally (or the pool was stopped).
STAGECHECK_API std::optional<std::string> parallel_for(std::size_t count, unsigned jobs,
                                                       const std::function<void(std::size_t)>& fn,
                                                       const std::function<bool()>& cancelled,
                                                       std::atomic<bool>& stop);

}  // namespace stagecheck
