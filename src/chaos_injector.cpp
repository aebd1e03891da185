#include "stagecheck/chaos_injector.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

namespace stagecheck {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a(std::string_view a, std::string_view b) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    h ^= 0xff;
    h *= 0x100000001b3ULL;
  };
  mix(a);
  mix(b);
  return h;
}

constexpr const char* kKinds[] = {"reset", "timeout", "stall", "http_503", "http_429"};

std::string describe_kind(std::string_view kind) {
  if (kind == "reset") return "connection reset by peer";
  if (kind == "timeout") return "timed out";
  if (kind == "stall") return "transfer stalled";
  if (kind == "http_503") return "HTTP 503 Service Unavailable";
  if (kind == "http_429") return "HTTP 429 Too Many Requests";
  if (kind == "truncated") return "body shorter than its Content-Length";
  return std::string(kind);
}

}  // namespace

ChaosInjector::ChaosInjector(ChaosOptions options) : options_(options) {
  options_.rate = std::clamp(options_.rate, 0.0, 1.0);
  report_.options = options_;
}

std::uint64_t ChaosInjector::occurrence(std::string_view op, std::string_view target) const {
  std::string key = fmt::format("{}\n{}", op, target);
  std::lock_guard lock(mutex_);
  return occurrences_[key]++;
}

ChaosInjector::Draw ChaosInjector::draw(std::string_view op, std::string_view target,
                                        std::uint64_t occurrence, unsigned attempt) const {
  Draw d;
  std::uint64_t h = splitmix64(options_.seed ^ fnv1a(op, target));
  h = splitmix64(h ^ (occurrence * 0x9e3779b97f4a7c15ULL) ^ attempt);
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  d.fault = options_.rate >= 1.0 || u < options_.rate;
  if (!d.fault) return d;
  d.value = splitmix64(h);
  d.kind = kKinds[d.value % std::size(kKinds)];
  return d;
}

void ChaosInjector::record(const Draw& d, std::string_view op, std::string_view target,
                           unsigned attempt, std::string_view outcome, bool recovered) const {
  std::lock_guard lock(mutex_);
  ++report_.injected;
  if (outcome != "retried") ++report_.exhausted;
  if (report_.faults.size() < ChaosReport::kMaxRecorded) {
    InjectedFault f;
    f.number = report_.injected;
    f.op = std::string(op);
    f.path = std::string(target);
    f.kind = d.kind;
    f.attempt = attempt;
    f.outcome = std::string(outcome);
    f.recovered = recovered;
    report_.faults.push_back(std::move(f));
  }
}

Error ChaosInjector::error(std::string_view op, std::string_view target, std::string_view kind,
                           unsigned attempts) const {
  return Error{kind == "truncated" ? Errc::io_error : Errc::unavailable,
               fmt::format("'{}': {} failed: {} (fault injected by --chaos {} --seed {}, "
                           "{} attempt{})",
                           target, op, describe_kind(kind), options_.rate, options_.seed, attempts,
                           attempts == 1 ? "" : "s")};
}

std::optional<Error> ChaosInjector::request(std::string_view op, std::string_view target) const {
  const std::uint64_t occ = occurrence(op, target);
  std::vector<Draw> retried;
  for (unsigned attempt = 1;; ++attempt) {
    Draw d = draw(op, target, occ, attempt);
    if (!d.fault) {
      for (std::size_t i = 0; i < retried.size(); ++i) {
        record(retried[i], op, target, static_cast<unsigned>(i + 1), "retried", true);
      }
      if (!retried.empty()) {
        std::lock_guard lock(mutex_);
        ++report_.retried_clean;
      }
      return std::nullopt;
    }
    if (d.kind == "stall") {
      std::this_thread::sleep_for(std::chrono::milliseconds(d.value % 10));
    }
    if (attempt > options_.retries) {
      for (std::size_t i = 0; i < retried.size(); ++i) {
        record(retried[i], op, target, static_cast<unsigned>(i + 1), "retried", false);
      }
      record(d, op, target, attempt, "exhausted");
      return error(op, target, d.kind, attempt);
    }
    retried.push_back(d);
  }
}

ChaosReport ChaosInjector::report() const {
  std::lock_guard lock(mutex_);
  return report_;
}

}  // namespace stagecheck
