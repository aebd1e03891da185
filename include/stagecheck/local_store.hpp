#pragma once
/// \file
/// The local filesystem store, the embedded default (`--root DIR`).

#include <filesystem>
#include <memory>

#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {

/// Opens a folder as a store. Every path is resolved beneath the root: `..`, absolute paths
/// and symbolic links that lead out of the root are refused with Errc::out_of_root (on Linux
/// through openat2(RESOLVE_BENEATH), so there is no check-then-open race). Errc::not_found if
/// the root does not exist or is not a folder.
STAGECHECK_API Result<std::unique_ptr<Store>> open_local_store(const std::filesystem::path& root);

/// Reads a whole local file of at most `max_bytes` (an operator-given file outside the store,
/// e.g. a local_path variable's env file or approvals): Errc::not_found, Errc::not_a_file (a
/// folder, a FIFO: never opened, so never blocks), Errc::too_large (checked before reading and
/// again while reading), Errc::permission_denied, Errc::io_error. Messages name the path.
STAGECHECK_API Result<std::string> read_local_file(const std::filesystem::path& path,
                                                   std::uint64_t max_bytes);

/// Writes `data` to `path` atomically: a temporary file in the same folder, fsync, rename,
/// fsync of the folder. Used for report files and markers.
STAGECHECK_API Result<void> write_file_atomic(const std::filesystem::path& path,
                                              std::string_view data);

}  // namespace stagecheck
