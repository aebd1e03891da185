#pragma once
/// \file
/// SourceMark: where in a spec file something was written.

#include <string>

#include "stagecheck/export.hpp"

namespace stagecheck {

/// A file, line and column (both 1-based; 0 when unknown).
struct SourceMark {
  std::string file;
  int line = 0;
  int column = 0;
  /// "file:line:column", or just "file" when the position is unknown.
  STAGECHECK_API std::string str() const;
};

}  // namespace stagecheck
