#pragma once
/// \file
/// The library's version.

#include <string_view>

#include "stagecheck/export.hpp"

namespace stagecheck {

/// "MAJOR.MINOR.PATCH" of the library actually linked (not of the headers).
STAGECHECK_API std::string_view version() noexcept;

}  // namespace stagecheck
