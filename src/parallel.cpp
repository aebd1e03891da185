// A check's own bounded, cancellable worker pool.
#include "stagecheck/parallel.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace stagecheck {

std::optional<std::string> parallel_for(std::size_t count, unsigned jobs,
                                        const std::function<void(std::size_t)>& fn,
                                        const std::function<bool()>& cancelled,
                                        std::atomic<bool>& stop) {
  if (count == 0) return std::nullopt;
  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  std::condition_variable finished_cv;
  unsigned finished = 0;
  std::optional<std::string> failure;
  auto fail = [&](const char* what) noexcept {
    std::lock_guard lock(mutex);
    try {
      if (!failure) failure = what;
    } catch (...) {
    }
    stop = true;
  };
  auto work = [&]() noexcept {
    try {
      for (std::size_t i = next++; i < count && !stop; i = next++) fn(i);
    } catch (const std::exception& e) {
      fail(e.what());
    } catch (...) {
      fail("non-standard exception");
    }
    std::lock_guard lock(mutex);
    ++finished;
    finished_cv.notify_all();
  };
  const auto n = static_cast<unsigned>(std::min<std::size_t>(std::max(jobs, 1u), count));
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (unsigned t = 0; t < n; ++t) {
    try {
      threads.emplace_back(work);
    } catch (...) {
      break;  // fewer threads than asked for: the ones running still cover every index
    }
  }
  if (threads.empty()) {
    work();
    return failure;
  }
  const auto started = static_cast<unsigned>(threads.size());
  for (;;) {
    std::unique_lock lock(mutex);
    if (finished_cv.wait_for(lock, std::chrono::milliseconds(50),
                             [&] { return finished == started; })) {
      break;
    }
    lock.unlock();
    if (!stop && cancelled && cancelled()) stop = true;
  }
  for (auto& t : threads) t.join();
  return failure;
}

}  // namespace stagecheck
