#pragma once
/// \file
/// Store: read-only access to where a pipeline leaves its artifacts (a local folder, a bucket).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

/// Facts about one object in a store.
struct ObjectInfo {
  std::string path;           ///< Store-relative, '/'-separated.
  std::uint64_t size = 0;     ///< Size in bytes.
  std::int64_t mtime_ns = 0;  ///< Modification time, ns since the epoch (0 if unknown).
  bool is_symlink = false;    ///< The entry itself is a symbolic link (local stores).
};

/// One direct child of a folder, as reported by Store::list_level().
struct ListEntry {
  std::string name;        ///< The child's name: no '/'.
  std::string path;        ///< Store-relative path of the child: the folder, '/', the name.
  bool is_folder = false;  ///< A sub-folder (never a symbolic link to one); else a regular object.
  /// For an object, its facts as list() would give them (path equal to `path`). For a folder,
  /// only `path` is set: folders are reported without being examined.
  ObjectInfo info;
};

/// A sequential reader over one object, for streaming large files (hashing, JSON Lines).
class STAGECHECK_API Reader {
 public:
  virtual ~Reader();
  /// Reads up to `size` bytes into `buffer`; returns the count, 0 at the end.
  virtual Result<std::size_t> read(char* buffer, std::size_t size) = 0;
  /// Size of the object at open time.
  virtual std::uint64_t size() const = 0;
};

/// Where artifacts live. Paths are store-relative and '/'-separated; a store refuses an
/// absolute path, a `..` segment, or anything that resolves outside its root (Errc::out_of_root).
///
/// Implementations must be safe to call from several threads at once.
class STAGECHECK_API Store {
 public:
  virtual ~Store();

  /// A human-readable location, e.g. "/data/run1" or "s3://bucket/prefix".
  virtual std::string describe() const = 0;

  /// Metadata for a regular object. Errc::not_found if absent, Errc::not_a_file for a folder,
  /// Errc::out_of_root, Errc::permission_denied, Errc::io_error otherwise.
  virtual Result<ObjectInfo> stat(std::string_view path) const = 0;

  /// True if a regular object exists; an error (not `false`) when that cannot be known.
  virtual Result<bool> exists(std::string_view path) const;

  /// Reads a whole object of at most `max_bytes`; a larger object is Errc::too_large and is
  /// never read into memory.
  virtual Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const = 0;

  /// Opens an object for streaming reads.
  virtual Result<std::unique_ptr<Reader>> open(std::string_view path) const = 0;

  /// Streams every regular object whose path starts with `prefix` (string prefix, as in S3),
  /// in lexicographic order of path, to `visit`; `visit` returns false to stop early.
  /// Never holds the whole listing in memory.
  virtual Result<void> list(std::string_view prefix,
                            const std::function<bool(const ObjectInfo&)>& visit) const = 0;

  /// Streams the direct children of `folder` (a store path, or "" for the root) to `visit`,
  /// without descending: what S3 and GCS return for a listing with delimiter '/'. Children come
  /// in the order list() reaches them: by name, a folder sorting as its name plus '/' (so
  /// "a-b/" < "a/" < "a0"), which is also S3's order. `visit` returns false to stop early.
  /// Never holds the whole listing in memory beyond one folder's names.
  ///
  /// Objects are what list() would report there, with the same facts and the same rules for
  /// symbolic links: a link to a folder is never reported (neither as a folder nor as an
  /// object); a link to a regular object beneath the root is an object with its target's
  /// facts; a link to an object outside the root, or a dangling one, is an error
  /// (Errc::out_of_root, Errc::not_found). Folders are reported without reading them, so a
  /// store that has real folders (LocalStore) reports empty ones too, where a store built on
  /// keys (and this default implementation) cannot see them.
  ///
  /// A missing `folder`, or one that is a file, is an empty listing, not an error (as in
  /// list()). The default implementation walks list(folder + "/") and groups its paths: correct
  /// for any store, but it reads the whole subtree; stores override it with a native listing.
  virtual Result<void> list_level(std::string_view folder,
                                  const std::function<bool(const ListEntry&)>& visit) const;

  /// Writes a small object atomically (temporary name, fsync, rename). Only for markers and
  /// reports the user asked for; stagecheck never modifies what it validates.
  virtual Result<void> write_atomic(std::string_view path, std::string_view data) = 0;
};

/// Checks that `path` is a valid store-relative path: not empty, not absolute, no empty,
/// `.` or `..` segments, no backslash or NUL. The error names the path and the reason.
STAGECHECK_API Result<void> validate_store_path(std::string_view path);

}  // namespace stagecheck
