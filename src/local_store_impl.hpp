#pragma once
/// \file
/// Internals of the local filesystem store that tests need to reach (not installed).

#include <filesystem>
#include <memory>

#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck::detail {

/// How a local store keeps path resolution beneath its root.
enum class Confinement {
  /// openat2(RESOLVE_BENEATH) when the kernel offers it (Linux >= 5.6 and not blocked by a
  /// seccomp filter), else `path_check`. What open_local_store() uses.
  automatic,
  /// Canonicalise `root/path` and require the result to stay under the root, then open the
  /// canonical path with O_NOFOLLOW. There is a window between the check and the open in
  /// which a concurrent rename of an intermediate folder could redirect it; this is the
  /// fallback for old kernels, and forced by tests so that it is exercised too.
  path_check,
};

/// open_local_store() with an explicit confinement strategy.
STAGECHECK_API Result<std::unique_ptr<Store>> open_local_store(const std::filesystem::path& root,
                                                               Confinement confinement);

}  // namespace stagecheck::detail
