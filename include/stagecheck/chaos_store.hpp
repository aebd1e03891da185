#pragma once
/// \file
/// ChaosStore: a Store that injects transport-level faults into another (`--chaos`), as the
/// ChaosInjector decides, to prove that verdicts survive them.

#include <memory>
#include <string>

#include "stagecheck/chaos_injector.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// Wraps `inner`; both `inner` and `injector` must outlive it. Thread-safe. Every operation
/// may fault: stat, exists, read, open, list, list_level and write are retried as the
/// injector's options say; a stream cut mid-body and a listing broken after it delivered
/// entries are never retried (the data would be seen twice).
class STAGECHECK_API ChaosStore final : public Store {
 public:
  ChaosStore(Store& inner, const ChaosInjector& injector);
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

 private:
  Store& inner_;
  const ChaosInjector& injector_;
};

}  // namespace stagecheck
