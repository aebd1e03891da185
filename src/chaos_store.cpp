#include "stagecheck/chaos_store.hpp"

#include <fmt/format.h>

namespace stagecheck {

namespace {

// A stream that may be cut at a byte offset chosen by the draw.
class ChaosReader final : public Reader {
 public:
  ChaosReader(const ChaosInjector& chaos, std::unique_ptr<Reader> inner, std::string path)
      : chaos_(chaos), inner_(std::move(inner)), path_(std::move(path)) {
    draw_ = chaos_.draw("stream", path_, chaos_.occurrence("stream", path_), 1);
    if (draw_.fault) {
      draw_.kind = "truncated";
      const std::uint64_t size = inner_->size();
      cut_ = size == 0 ? 0 : draw_.value % size;
    }
  }
  Result<std::size_t> read(char* buffer, std::size_t size) override {
    if (draw_.fault && done_ + size > cut_) {
      if (done_ >= cut_) {
        if (!recorded_) {
          chaos_.record(draw_, "stream", path_, 1, "not_retryable");
          recorded_ = true;
        }
        return chaos_.error("stream", path_, "truncated", 1);
      }
      size = static_cast<std::size_t>(cut_ - done_);
    }
    auto n = inner_->read(buffer, size);
    if (n) done_ += *n;
    return n;
  }
  std::uint64_t size() const override { return inner_->size(); }

 private:
  const ChaosInjector& chaos_;
  std::unique_ptr<Reader> inner_;
  std::string path_;
  ChaosInjector::Draw draw_;
  std::uint64_t cut_ = 0;
  std::uint64_t done_ = 0;
  bool recorded_ = false;
};

// A listing that may break after some entries were delivered: never retried (they would be
// delivered twice).
template <typename Entry, typename List>
Result<void> list_with_break(const ChaosInjector& chaos, std::string_view op,
                             std::string_view where, const std::function<bool(const Entry&)>& visit,
                             List&& list) {
  if (auto e = chaos.request(op, where)) return *e;
  const std::string page_op = fmt::format("{}_page", op);
  auto mid = chaos.draw(page_op, where, chaos.occurrence(page_op, where), 1);
  const std::uint64_t cut = mid.fault ? mid.value % 64 : 0;
  std::uint64_t seen = 0;
  bool broke = false;
  auto r = list([&](const Entry& entry) {
    if (mid.fault && seen == cut) {
      broke = true;
      return false;
    }
    ++seen;
    return visit(entry);
  });
  if (broke) {
    chaos.record(mid, op, where, 1, "not_retryable");
    return chaos.error(op, where, mid.kind, 1);
  }
  return r;
}

}  // namespace

ChaosStore::ChaosStore(Store& inner, const ChaosInjector& injector)
    : inner_(inner), injector_(injector) {}

ChaosStore::~ChaosStore() = default;

std::string ChaosStore::describe() const { return inner_.describe(); }

Result<ObjectInfo> ChaosStore::stat(std::string_view path) const {
  if (auto e = injector_.request("stat", path)) return *e;
  return inner_.stat(path);
}

Result<bool> ChaosStore::exists(std::string_view path) const {
  if (auto e = injector_.request("exists", path)) return *e;
  return inner_.exists(path);
}

Result<std::string> ChaosStore::read(std::string_view path, std::uint64_t max_bytes) const {
  if (auto e = injector_.request("read", path)) return *e;
  return inner_.read(path, max_bytes);
}

Result<std::unique_ptr<Reader>> ChaosStore::open(std::string_view path) const {
  if (auto e = injector_.request("open", path)) return *e;
  auto r = inner_.open(path);
  if (!r) return r;
  return std::unique_ptr<Reader>(
      std::make_unique<ChaosReader>(injector_, std::move(*r), std::string(path)));
}

Result<void> ChaosStore::list(std::string_view prefix,
                              const std::function<bool(const ObjectInfo&)>& visit) const {
  return list_with_break<ObjectInfo>(injector_, "list", prefix, visit,
                                     [&](auto&& v) { return inner_.list(prefix, v); });
}

Result<void> ChaosStore::list_level(std::string_view folder,
                                    const std::function<bool(const ListEntry&)>& visit) const {
  return list_with_break<ListEntry>(injector_, "list_level", folder, visit,
                                    [&](auto&& v) { return inner_.list_level(folder, v); });
}

Result<void> ChaosStore::write_atomic(std::string_view path, std::string_view data) {
  if (auto e = injector_.request("write", path)) return *e;
  return inner_.write_atomic(path, data);
}

}  // namespace stagecheck
