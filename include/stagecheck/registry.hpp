#pragma once
/// \file
/// Registry: the check types a run can use, keyed by name. An object, never a singleton.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "stagecheck/check.hpp"
#include "stagecheck/check_info.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

/// Maps check type names to their documentation and factory. Not thread-safe for writes;
/// fill it before loading specs, then share it read-only.
class STAGECHECK_API Registry {
 public:
  /// One registered check type.
  struct Entry {
    CheckInfo info;
    CheckFactory factory;
    std::string source;  ///< "built-in", or "plugin <name> <version> (<file>)".
  };

  /// Adds a check type. A duplicate name is an Errc::plugin_error naming both owners.
  Result<void> add(CheckInfo info, CheckFactory factory, std::string source);
  /// The entry for `type`, or nullptr.
  const Entry* find(std::string_view type) const;
  /// All entries, sorted by type name.
  std::vector<const Entry*> entries() const;
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

/// Registers the built-in checks (`marker`, `json`) into `registry`.
STAGECHECK_API Result<void> register_builtin_checks(Registry& registry);

}  // namespace stagecheck
