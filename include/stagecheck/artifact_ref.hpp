#pragma once
/// \file
/// ArtifactRef: how a check names the artifact it reads (declared, or inline by path).

#include <optional>
#include <string>

#include "stagecheck/artifact.hpp"
#include "stagecheck/path_template.hpp"

namespace stagecheck {

/// A reference resolved at load time: either a declared artifact (`name` set) or an inline
/// path template. Expanded to a store path at run time by CheckContext.
struct ArtifactRef {
  std::string name;   ///< Declared artifact name; empty for an inline path.
  PathTemplate path;  ///< Path template (copied from the declaration when declared).
  Format format = Format::json;
  bool optional = false;  ///< Declared `optional: true`: absence is not by itself a failure.
  std::optional<std::uint64_t> max_bytes;  ///< Per-artifact read cap, overriding the run's.

  /// The declared name, or the template text for an inline artifact.
  const std::string& label() const noexcept { return name.empty() ? path.text() : name; }
};

}  // namespace stagecheck
