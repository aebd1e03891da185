#include "stagecheck/chaos_store.hpp"

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

Error injected_error(const ChaosOptions& o, std::string_view op, std::string_view path,
                     std::string_view kind, unsigned attempts) {
  return Error{kind == "truncated" ? Errc::io_error : Errc::unavailable,
               fmt::format("'{}': {} failed: {} (fault injected by --chaos {} --seed {}, "
                           "{} attempt{})",
                           path, op, describe_kind(kind), o.rate, o.seed, attempts,
                           attempts == 1 ? "" : "s")};
}

// A stream that may be cut at a byte offset chosen by the draw.
class ChaosReader final : public Reader {
 public:
  ChaosReader(const ChaosStore& store, std::unique_ptr<Reader> inner, std::string path,
              std::uint64_t occurrence)
      : store_(store), inner_(std::move(inner)), path_(std::move(path)) {
    draw_ = store_.draw("stream", path_, occurrence, 1);
    if (draw_.fault) {
      draw_.kind = "truncated";
      const std::uint64_t size = inner_->size();
      cut_ = size == 0 ? 0 : draw_.value % size;
    }
  }
  Result<std::size_t> read(char* buffer, std::size_t size) override {
    if (draw_.fault && done_ + size > cut_) {
      if (done_ < cut_) size = static_cast<std::size_t>(cut_ - done_);
      if (done_ >= cut_) {
        if (!settled_) {
          store_.record(draw_, "stream", path_, 1, "not_retryable");
          settled_ = true;
        }
        return injected_error(store_.options(), "stream", path_, "truncated", 1);
      }
    }
    auto n = inner_->read(buffer, size);
    if (n) done_ += *n;
    return n;
  }
  std::uint64_t size() const override { return inner_->size(); }

 private:
  const ChaosStore& store_;
  std::unique_ptr<Reader> inner_;
  std::string path_;
  ChaosStore::Draw draw_;
  std::uint64_t cut_ = 0;
  std::uint64_t done_ = 0;
  bool settled_ = false;
};

}  // namespace

ChaosStore::ChaosStore(Store& inner, ChaosOptions options) : inner_(inner), options_(options) {
  options_.rate = std::clamp(options_.rate, 0.0, 1.0);
  report_.options = options_;
}

ChaosStore::~ChaosStore() = default;

std::string ChaosStore::describe() const { return inner_.describe(); }

std::uint64_t ChaosStore::occurrence(std::string_view op, std::string_view path) const {
  std::string key = fmt::format("{}\n{}", op, path);
  std::lock_guard lock(mutex_);
  return occurrences_[key]++;
}

ChaosStore::Draw ChaosStore::draw(std::string_view op, std::string_view path,
                                  std::uint64_t occurrence, unsigned attempt) const {
  Draw d;
  std::uint64_t h = splitmix64(options_.seed ^ fnv1a(op, path));
  h = splitmix64(h ^ (occurrence * 0x9e3779b97f4a7c15ULL) ^ attempt);
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  d.fault = options_.rate >= 1.0 || u < options_.rate;
  if (!d.fault) return d;
  d.value = splitmix64(h);
  d.kind = kKinds[d.value % std::size(kKinds)];
  return d;
}

void ChaosStore::record(const Draw& d, std::string_view op, std::string_view path, unsigned attempt,
                        std::string_view outcome, bool recovered) const {
  std::lock_guard lock(mutex_);
  ++report_.injected;
  if (outcome != "retried") ++report_.exhausted;
  if (report_.faults.size() < ChaosReport::kMaxRecorded) {
    InjectedFault f;
    f.number = report_.injected;
    f.op = std::string(op);
    f.path = std::string(path);
    f.kind = d.kind;
    f.attempt = attempt;
    f.outcome = std::string(outcome);
    f.recovered = recovered;
    report_.faults.push_back(std::move(f));
  }
}

ChaosReport ChaosStore::report() const {
  std::lock_guard lock(mutex_);
  return report_;
}

template <typename T, typename F>
Result<T> ChaosStore::with_retries(std::string_view op, std::string_view path, F&& call) const {
  const std::uint64_t occ = occurrence(op, path);
  std::vector<Draw> retried;
  for (unsigned attempt = 1;; ++attempt) {
    Draw d = draw(op, path, occ, attempt);
    if (!d.fault) {
      for (std::size_t i = 0; i < retried.size(); ++i) {
        record(retried[i], op, path, static_cast<unsigned>(i + 1), "retried", true);
      }
      if (!retried.empty()) {
        std::lock_guard lock(mutex_);
        ++report_.retried_clean;
      }
      return call();
    }
    if (d.kind == "stall") {
      std::this_thread::sleep_for(std::chrono::milliseconds(d.value % 10));
    }
    if (attempt > options_.retries) {
      for (std::size_t i = 0; i < retried.size(); ++i) {
        record(retried[i], op, path, static_cast<unsigned>(i + 1), "retried", false);
      }
      record(d, op, path, attempt, "exhausted");
      return injected_error(options_, op, path, d.kind, attempt);
    }
    retried.push_back(d);
  }
}

Result<ObjectInfo> ChaosStore::stat(std::string_view path) const {
  return with_retries<ObjectInfo>("stat", path, [&] { return inner_.stat(path); });
}

Result<bool> ChaosStore::exists(std::string_view path) const {
  return with_retries<bool>("exists", path, [&] { return inner_.exists(path); });
}

Result<std::string> ChaosStore::read(std::string_view path, std::uint64_t max_bytes) const {
  return with_retries<std::string>("read", path, [&] { return inner_.read(path, max_bytes); });
}

Result<std::unique_ptr<Reader>> ChaosStore::open(std::string_view path) const {
  auto r = with_retries<std::unique_ptr<Reader>>("open", path, [&] { return inner_.open(path); });
  if (!r) return r;
  return std::unique_ptr<Reader>(std::make_unique<ChaosReader>(
      *this, std::move(*r), std::string(path), occurrence("stream", path)));
}

Result<void> ChaosStore::list(std::string_view prefix,
                              const std::function<bool(const ObjectInfo&)>& visit) const {
  return with_retries<void>("list", prefix, [&]() -> Result<void> {
    // A listing may also break after some entries were delivered: never retried (they would
    // be delivered twice).
    Draw mid = draw("list_page", prefix, occurrence("list_page", prefix), 1);
    const std::uint64_t cut = mid.fault ? mid.value % 64 : 0;
    std::uint64_t seen = 0;
    bool broke = false;
    auto r = inner_.list(prefix, [&](const ObjectInfo& info) {
      if (mid.fault && seen == cut) {
        broke = true;
        return false;
      }
      ++seen;
      return visit(info);
    });
    if (broke) {
      record(mid, "list", prefix, 1, "not_retryable");
      return injected_error(options_, "list", prefix, mid.kind, 1);
    }
    return r;
  });
}

Result<void> ChaosStore::list_level(std::string_view folder,
                                    const std::function<bool(const ListEntry&)>& visit) const {
  return with_retries<void>("list_level", folder, [&]() -> Result<void> {
    Draw mid = draw("list_level_page", folder, occurrence("list_level_page", folder), 1);
    const std::uint64_t cut = mid.fault ? mid.value % 64 : 0;
    std::uint64_t seen = 0;
    bool broke = false;
    auto r = inner_.list_level(folder, [&](const ListEntry& e) {
      if (mid.fault && seen == cut) {
        broke = true;
        return false;
      }
      ++seen;
      return visit(e);
    });
    if (broke) {
      record(mid, "list_level", folder, 1, "not_retryable");
      return injected_error(options_, "list_level", folder, mid.kind, 1);
    }
    return r;
  });
}

Result<void> ChaosStore::write_atomic(std::string_view path, std::string_view data) {
  return with_retries<void>("write", path, [&] { return inner_.write_atomic(path, data); });
}

}  // namespace stagecheck
