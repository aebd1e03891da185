#include "stagecheck/local_store.hpp"
#include "text_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "local_store_impl.hpp"

namespace stagecheck {

namespace {

using detail::printable;

namespace fs = std::filesystem;

/// Deepest folder nesting list() walks. Relative openat() has no PATH_MAX limit, so a
/// hostile tree could otherwise be deep enough to exhaust the stack or file descriptors.
constexpr int kMaxListDepth = 256;

/// How often an openat2() that reports EAGAIN (a concurrent rename while resolving "..") is
/// retried before giving up.
constexpr int kOpenRetries = 8;

/// Largest single read(2)/write(2) request; Linux transfers at most ~2 GiB per call anyway.
constexpr std::size_t kMaxIoChunk = std::size_t{1} << 30;

/// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  /// Gives up ownership (to fdopendir, which closes it with the stream).
  int release() noexcept { return std::exchange(fd_, -1); }
  bool valid() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  /// Closes and reports close()'s error (which for a written file can be a deferred write
  /// error that must not be ignored).
  int close_checked() noexcept {
    const int fd = std::exchange(fd_, -1);
    return fd >= 0 ? ::close(fd) : 0;
  }

 private:
  int fd_ = -1;
};

/// strerror() is not thread-safe; the GNU strerror_r is.
std::string errno_text(int err) {
  char buffer[256];
  const char* text = ::strerror_r(err, buffer, sizeof buffer);
  return text != nullptr ? std::string(text) : fmt::format("errno {}", err);
}

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
         static_cast<std::int64_t>(st.st_mtim.tv_nsec);
}

std::uint64_t size_of(const struct stat& st) {
  return st.st_size > 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

/// Joins a canonical folder and a validated relative path.
std::string join(const std::string& root, std::string_view relative) {
  std::string out = root;
  if (out.empty() || out.back() != '/') out += '/';
  out += relative;
  return out;
}

/// True if canonical path `path` is `root` or lies beneath it (compared by whole components).
bool is_under(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

/// Writes all of `data` to `fd`.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), std::min(data.size(), kMaxIoChunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

/// Random suffix for temporary names; collisions are also handled by O_EXCL and a retry.
std::string random_suffix() {
  std::uint64_t value = 0;
  if (::getrandom(&value, sizeof value, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof value)) {
    static std::atomic<std::uint64_t> counter{0};
    value =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        (counter.fetch_add(1) * 0x9e3779b97f4a7c15ull);
  }
  return fmt::format("{:016x}", value);
}

/// Maps errno from a write-side call to an Error naming `shown` (what the user asked for).
Error write_errno_error(int err, const std::string& shown, std::string_view action) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return make_error(
          Errc::not_found,
          fmt::format("cannot write '{}': {}: a folder on the way does not exist", shown, action));
    case EACCES:
    case EPERM:
    case EROFS:
      return make_error(Errc::permission_denied,
                        fmt::format("cannot write '{}': {}: {}", shown, action, errno_text(err)));
    case EISDIR:
    case ENOTEMPTY:
    case EEXIST:
      return make_error(
          Errc::not_a_file,
          fmt::format("cannot write '{}': {}: a folder is in the way", shown, action));
    default:
      return make_error(Errc::io_error,
                        fmt::format("cannot write '{}': {}: {}", shown, action, errno_text(err)));
  }
}

/// The atomic write protocol inside folder `dir_fd` (opened for reading, so that it can be
/// fsynced): write a temporary file next to the target, fsync it, rename it over the target,
/// fsync the folder so that the rename itself is durable. `shown` names the target in errors.
Result<void> write_atomic_at(int dir_fd, const std::string& name, std::string_view data,
                             const std::string& shown) {
  // Keep the temporary name within NAME_MAX (255) whatever the length of the target name.
  const std::string stem = name.substr(0, 200);
  std::string temp;
  UniqueFd file;
  for (int attempt = 0; attempt < kOpenRetries && !file.valid(); ++attempt) {
    temp = fmt::format(".{}.tmp.{}.{}", stem, ::getpid(), random_suffix());
    const int fd = ::openat(dir_fd, temp.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd >= 0) {
      file = UniqueFd(fd);
    } else if (errno != EEXIST) {
      return write_errno_error(errno, shown, "creating a temporary file");
    }
  }
  if (!file.valid()) {
    return make_error(Errc::io_error,
                      fmt::format("cannot write '{}': no free temporary name next to it", shown));
  }
  // From here on, any failure removes the temporary file: a failed write leaves nothing behind.
  auto fail = [&](int err, std::string_view action) {
    file.reset();
    ::unlinkat(dir_fd, temp.c_str(), 0);
    return write_errno_error(err, shown, action);
  };
  if (const int err = write_all(file.get(), data); err != 0) return fail(err, "writing");
  if (::fsync(file.get()) != 0) return fail(errno, "fsync");
  if (file.close_checked() != 0) return fail(errno, "closing");
  if (::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) return fail(errno, "renaming");
  if (::fsync(dir_fd) != 0) {
    return write_errno_error(errno, shown, "fsync of the folder after the rename");
  }
  return {};
}

/// Streams one object's bytes.
class LocalReader final : public Reader {
 public:
  LocalReader(UniqueFd fd, std::uint64_t size, std::string shown)
      : fd_(std::move(fd)), size_(size), shown_(std::move(shown)) {}

  Result<std::size_t> read(char* buffer, std::size_t size) override {
    std::size_t total = 0;
    // Fill the buffer unless the end comes first, so callers see 0 only at the end.
    while (total < size) {
      const ssize_t n = ::read(fd_.get(), buffer + total, std::min(size - total, kMaxIoChunk));
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        return make_error(Errc::io_error, fmt::format("{}: read failed after {} bytes: {}", shown_,
                                                      offset_ + total, errno_text(err)));
      }
      if (n == 0) break;
      total += static_cast<std::size_t>(n);
    }
    offset_ += total;
    return total;
  }

  std::uint64_t size() const override { return size_; }

 private:
  UniqueFd fd_;
  std::uint64_t size_;
  std::uint64_t offset_ = 0;
  std::string shown_;
};

/// A folder on the local filesystem. Immutable after construction, so every const method may
/// run on several threads at once.
class LocalStore final : public Store {
 public:
  LocalStore(std::string root, UniqueFd root_fd, bool use_openat2)
      : root_(std::move(root)), root_fd_(std::move(root_fd)), use_openat2_(use_openat2) {}

  std::string describe() const override { return root_; }

  Result<ObjectInfo> stat(std::string_view path) const override {
    try {
      if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
      return stat_beneath(std::string(path));
    } catch (const std::exception& e) {
      return internal_error(path, e);
    }
  }

  Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const override {
    try {
      if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
      const std::string rel(path);
      Result<Opened> opened = open_for_reading(rel);
      if (!opened) return std::move(opened).error();
      const std::uint64_t size = size_of(opened->st);
      if (size > max_bytes) {
        return make_error(Errc::too_large,
                          fmt::format("'{}' is {} bytes, over the read cap of {} bytes",
                                      printable(rel), size, max_bytes));
      }
      // Read at most max_bytes + 1: the extra byte tells a file that grew past the cap since
      // fstat from one that is exactly at it, without ever holding more than the cap + 1.
      const std::uint64_t limit =
          max_bytes == std::numeric_limits<std::uint64_t>::max() ? max_bytes : max_bytes + 1;
      std::string out;
      out.resize(static_cast<std::size_t>(
          std::min<std::uint64_t>(limit, std::max<std::uint64_t>(size + 1, std::uint64_t{4096}))));
      std::uint64_t total = 0;
      while (total < limit) {
        if (total == out.size()) {
          out.resize(static_cast<std::size_t>(std::min<std::uint64_t>(limit, total * 2)));
        }
        const std::size_t want =
            std::min(out.size() - static_cast<std::size_t>(total), kMaxIoChunk);
        const ssize_t n = ::read(opened->fd.get(), out.data() + total, want);
        if (n < 0) {
          if (errno == EINTR) continue;
          const int err = errno;
          return make_error(Errc::io_error,
                            fmt::format("'{}' under {}: read failed after {} bytes: {}",
                                        printable(rel), printable(root_), total, errno_text(err)));
        }
        if (n == 0) break;
        total += static_cast<std::uint64_t>(n);
        // A regular file returns fewer bytes than asked only at its end: the buffer holds one
        // byte more than fstat's size, so a file that has not grown ends here without a
        // further read for the 0 (a file that grew fills the buffer and is read on).
        if (static_cast<std::size_t>(n) < want && total <= size) break;
      }
      if (total > max_bytes) {
        return make_error(Errc::too_large,
                          fmt::format("'{}' grew past the read cap of {} bytes while being read",
                                      printable(rel), max_bytes));
      }
      out.resize(static_cast<std::size_t>(total));
      return out;
    } catch (const std::exception& e) {
      return internal_error(path, e);
    }
  }

  Result<std::unique_ptr<Reader>> open(std::string_view path) const override {
    try {
      if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
      const std::string rel(path);
      Result<Opened> opened = open_for_reading(rel);
      if (!opened) return std::move(opened).error();
      const std::uint64_t size = size_of(opened->st);
      return std::unique_ptr<Reader>(std::make_unique<LocalReader>(
          std::move(opened->fd), size,
          fmt::format("'{}' under {}", printable(rel), printable(root_))));
    } catch (const std::exception& e) {
      return internal_error(path, e);
    }
  }

  Result<void> list(std::string_view prefix,
                    const std::function<bool(const ObjectInfo&)>& visit) const override {
    try {
      return list_impl(prefix, visit);
    } catch (const std::exception& e) {
      return make_error(Errc::internal,
                        fmt::format("listing '{}' under {}: unexpected exception: {}",
                                    printable(prefix), printable(root_), e.what()));
    } catch (...) {
      // `visit` is caller code and may throw anything; it must not cross this API.
      return make_error(Errc::internal, fmt::format("listing '{}' under {}: unexpected exception",
                                                    printable(prefix), printable(root_)));
    }
  }

  Result<void> list_level(
      std::string_view folder,
      const std::function<bool(const stagecheck::ListEntry&)>& visit) const override {
    try {
      return list_level_impl(folder, visit);
    } catch (const std::exception& e) {
      return make_error(Errc::internal,
                        fmt::format("listing folder '{}' under {}: unexpected exception: {}",
                                    printable(folder), printable(root_), e.what()));
    } catch (...) {
      // `visit` is caller code and may throw anything; it must not cross this API.
      return make_error(Errc::internal,
                        fmt::format("listing folder '{}' under {}: unexpected exception",
                                    printable(folder), printable(root_)));
    }
  }

  Result<void> write_atomic(std::string_view path, std::string_view data) override {
    try {
      return write_atomic_impl(path, data);
    } catch (const std::exception& e) {
      return internal_error(path, e);
    }
  }

  /// Whether openat2() can be used on this root: probes it on the root itself, so that both an
  /// old kernel (ENOSYS) and a seccomp filter that blocks it (EPERM, as older container
  /// runtimes do) select the fallback instead of failing every later open.
  static bool openat2_usable(int root_fd) {
    struct open_how how {};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, root_fd, ".", &how, sizeof how);
    if (fd >= 0) {
      ::close(static_cast<int>(fd));
      return true;
    }
    // Only "this call is not available" selects the fallback; any other failure of so plain
    // an open will show up again, as an error, on the real opens.
    const int err = errno;
    return !(err == ENOSYS || err == EPERM || err == EINVAL || err == E2BIG);
  }

 private:
  struct Opened {
    UniqueFd fd;
    struct stat st {};
  };

  /// An entry of one folder during list(): files carry their facts, folders are walked later.
  struct ListEntry {
    std::string key;  ///< The name, plus '/' for a folder: the order of full paths.
    enum class Kind { file, folder, symlink } kind = Kind::file;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
  };

  Error internal_error(std::string_view path, const std::exception& e) const {
    return make_error(Errc::internal, fmt::format("'{}' under {}: unexpected exception: {}",
                                                  printable(path), printable(root_), e.what()));
  }

  /// Maps errno from resolving or opening `rel` to an Error naming the path and the root.
  Error errno_error(int err, const std::string& rel, std::string_view action) const {
    const std::string p = printable(rel);
    const std::string r = printable(root_);
    switch (err) {
      case ENOENT:
      case ENOTDIR:
        return make_error(Errc::not_found, fmt::format("'{}' does not exist under {}", p, r));
      case EACCES:
      case EPERM:
        return make_error(Errc::permission_denied,
                          fmt::format("'{}' under {}: permission denied ({})", p, r, action));
      case EXDEV:
        return make_error(
            Errc::out_of_root,
            fmt::format("'{}' resolves outside the root {} (symbolic link or '..')", p, r));
      case ELOOP:
        // A link loop, a link to a kernel object (/proc magic link), or a link swapped in
        // during a checked open: in every case it cannot be shown to stay beneath the root.
        return make_error(Errc::out_of_root,
                          fmt::format("'{}' cannot be resolved beneath the root {} (symbolic link "
                                      "loop or link to a kernel object)",
                                      p, r));
      case ENAMETOOLONG:
        return make_error(Errc::invalid_argument,
                          fmt::format("'{}' under {}: name too long", p, r));
      case EISDIR:
        return make_error(Errc::not_a_file,
                          fmt::format("'{}' under {} is a folder, expected a file", p, r));
      default:
        return make_error(Errc::io_error, fmt::format("'{}' under {}: {} failed: {}", p, r, action,
                                                      errno_text(err)));
    }
  }

  Result<void> require_regular(const struct stat& st, const std::string& rel) const {
    if (S_ISREG(st.st_mode)) return {};
    if (S_ISDIR(st.st_mode)) {
      return make_error(Errc::not_a_file, fmt::format("'{}' under {} is a folder, expected a file",
                                                      printable(rel), printable(root_)));
    }
    return make_error(Errc::not_a_file,
                      fmt::format("'{}' under {} is a special file (FIFO, socket or device), "
                                  "expected a regular file",
                                  printable(rel), printable(root_)));
  }

  /// stat() of a path known to be relative and free of "..": used directly by list(), whose
  /// names come from the filesystem and may hold bytes (a backslash) that paths may not.
  Result<ObjectInfo> stat_beneath(const std::string& rel) const {
    // First the entry itself (not following a final link) to learn whether it is a link.
    Result<UniqueFd> entry = open_beneath(rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (!entry) return std::move(entry).error();
    struct stat st {};
    if (::fstat(entry->get(), &st) != 0) return errno_error(errno, rel, "stat");
    const bool is_symlink = S_ISLNK(st.st_mode);
    if (is_symlink) {
      // Then its target, still beneath the root (a link out of it is refused here).
      Result<UniqueFd> target = open_beneath(rel, O_PATH | O_CLOEXEC);
      if (!target) return std::move(target).error();
      if (::fstat(target->get(), &st) != 0) return errno_error(errno, rel, "stat");
    }
    if (Result<void> regular = require_regular(st, rel); !regular) {
      return std::move(regular).error();
    }
    return ObjectInfo{rel, size_of(st), mtime_ns_of(st), is_symlink};
  }

  /// Opens validated store path `rel` with `flags`, never leaving the root. A final symbolic
  /// link is followed unless `flags` has O_NOFOLLOW; links that stay beneath the root are fine.
  Result<UniqueFd> open_beneath(const std::string& rel, int flags) const {
    return use_openat2_ ? open_with_openat2(rel, flags) : open_with_path_check(rel, flags);
  }

  Result<UniqueFd> open_with_openat2(const std::string& rel, int flags) const {
    struct open_how how {};
    how.flags = static_cast<std::uint64_t>(flags);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0;; ++attempt) {
      const long fd = ::syscall(SYS_openat2, root_fd_.get(), rel.c_str(), &how, sizeof how);
      if (fd >= 0) return UniqueFd(static_cast<int>(fd));
      const int err = errno;
      // EAGAIN: a concurrent rename meant the kernel could not prove that ".." stayed beneath.
      if ((err == EAGAIN || err == EINTR) && attempt < kOpenRetries) continue;
      return errno_error(err, rel, "open");
    }
  }

  /// Fallback for kernels without openat2: canonicalise, check containment, open the
  /// canonical path with O_NOFOLLOW so that a link swapped in for the last component fails.
  Result<UniqueFd> open_with_path_check(const std::string& rel, int flags) const {
    std::error_code ec;
    std::string target;
    if ((flags & O_NOFOLLOW) != 0) {
      // The entry itself: canonicalise only its folder.
      const fs::path full(join(root_, rel));
      const fs::path folder = fs::canonical(full.parent_path(), ec);
      if (ec) return errno_error(ec.value(), rel, "resolve");
      if (!is_under(folder.string(), root_)) {
        return errno_error(EXDEV, rel, "resolve");
      }
      target = (folder / full.filename()).string();
    } else {
      const fs::path canonical = fs::canonical(fs::path(join(root_, rel)), ec);
      if (ec) return errno_error(ec.value(), rel, "resolve");
      target = canonical.string();
      if (!is_under(target, root_)) return errno_error(EXDEV, rel, "resolve");
      flags |= O_NOFOLLOW;
    }
    for (;;) {
      const int fd = ::open(target.c_str(), flags);
      if (fd >= 0) return UniqueFd(fd);
      if (errno == EINTR) continue;
      return errno_error(errno, rel, "open");
    }
  }

  /// Opens `rel` for reading only once it is known to be a regular file, so that a FIFO never
  /// blocks and a device is never opened (opening some devices has side effects: a tape
  /// rewinds, a modem line hangs up). Hence the probe: an O_PATH open does not open the
  /// object itself, and it resolves under the same confinement as the real open. The probe
  /// costs an openat2, an fstat and a close per read; a pre-check with one fstatat would be
  /// cheaper but resolves unconfined (following links out of the root, e.g. into automounts),
  /// and opening directly with O_NONBLOCK and checking the type afterwards would open devices.
  Result<Opened> open_for_reading(const std::string& rel) const {
    // The common case costs one fstatat: a regular file (by type, never opened) goes straight
    // to the confined open below. Anything else (missing, a link out of the root, a FIFO, a
    // device, no permission) takes the probe, which resolves beneath the root with O_PATH
    // (opening nothing for reading) and so reports the precise error.
    struct stat pre {};
    if (::fstatat(root_fd_.get(), rel.c_str(), &pre, AT_NO_AUTOMOUNT) != 0 ||
        !S_ISREG(pre.st_mode)) {
      Result<UniqueFd> probe = open_beneath(rel, O_PATH | O_CLOEXEC);
      if (!probe) return std::move(probe).error();
      struct stat st {};
      if (::fstat(probe->get(), &st) != 0) return errno_error(errno, rel, "stat");
      if (Result<void> regular = require_regular(st, rel); !regular) {
        return std::move(regular).error();
      }
    }
    // The entry could be swapped for a FIFO between the probe and this open: O_NONBLOCK keeps
    // that from hanging, and the file type is checked again on what was actually opened.
    // O_NONBLOCK stays set: regular files ignore it (reads of a regular file block for the
    // disk whatever the flag says), and only regular files get past the check below, so
    // clearing it would be two fcntl calls per read for nothing.
    Result<UniqueFd> file = open_beneath(rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (!file) return std::move(file).error();
    Opened opened;
    opened.fd = std::move(*file);
    if (::fstat(opened.fd.get(), &opened.st) != 0) return errno_error(errno, rel, "stat");
    if (Result<void> regular = require_regular(opened.st, rel); !regular) {
      return std::move(regular).error();
    }
    return opened;
  }

  Result<void> list_impl(std::string_view prefix,
                         const std::function<bool(const ObjectInfo&)>& visit) const {
    const std::string shown = printable(prefix);
    if (prefix.find('\0') != std::string_view::npos ||
        prefix.find('\\') != std::string_view::npos) {
      return make_error(
          Errc::invalid_argument,
          fmt::format("invalid list prefix '{}': contains a NUL byte or a backslash", shown));
    }
    if (!prefix.empty() && prefix.front() == '/') {
      return make_error(Errc::out_of_root,
                        fmt::format("invalid list prefix '{}': absolute; prefixes are relative to "
                                    "the store root",
                                    shown));
    }
    // S3 semantics: the prefix is a string prefix of full paths. Only the folder part (up to
    // the last '/') is walked; the rest filters names in that folder.
    const std::size_t slash = prefix.rfind('/');
    const std::string folder(slash == std::string_view::npos ? std::string_view{}
                                                             : prefix.substr(0, slash));
    const std::string name_prefix(slash == std::string_view::npos ? prefix
                                                                  : prefix.substr(slash + 1));
    UniqueFd dir;
    if (folder.empty()) {
      const int fd = ::openat(root_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return errno_error(errno, ".", "open folder");
      dir = UniqueFd(fd);
    } else {
      if (Result<void> valid = validate_store_path(folder); !valid) {
        Error error = std::move(valid).error();
        error.message = fmt::format("invalid list prefix '{}': {}", shown, error.message);
        return error;
      }
      // The prefix folder resolves like any path: links inside the root are followed.
      Result<UniqueFd> opened = open_beneath(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (!opened) {
        // Nothing can have this prefix: an empty listing, not an error (S3 semantics).
        if (opened.error().code == Errc::not_found) return {};
        return std::move(opened).error();
      }
      dir = std::move(*opened);
    }
    bool stopped = false;
    return walk(dir.get(), folder.empty() ? std::string() : folder + "/", name_prefix, 0, visit,
                stopped);
  }

  /// One level of a folder: readdir's d_type tells folders, files and links apart without a
  /// stat per entry (only a filesystem that reports DT_UNKNOWN costs an fstatat), so listing
  /// 100,000 episode folders is a few getdents64 calls. Files are stat-ed as they are
  /// reported, so an early stop skips the rest.
  Result<void> list_level_impl(
      std::string_view folder,
      const std::function<bool(const stagecheck::ListEntry&)>& visit) const {
    std::string base;
    UniqueFd dir;
    if (folder.empty()) {
      const int fd = ::openat(root_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return errno_error(errno, ".", "open folder");
      dir = UniqueFd(fd);
    } else {
      if (Result<void> valid = validate_store_path(folder); !valid) {
        return std::move(valid).error();
      }
      base = std::string(folder) + "/";
      // The folder resolves like any path: links inside the root are followed.
      Result<UniqueFd> opened =
          open_beneath(std::string(folder), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (!opened) {
        // Nothing is in it: an empty listing, not an error (as list(), S3 semantics).
        if (opened.error().code == Errc::not_found) return {};
        return std::move(opened).error();
      }
      dir = std::move(*opened);
    }
    const std::string shown_base = base.empty() ? std::string(".") : base;
    // fdopendir takes the descriptor over; dirfd() gives it back for the fstatat calls.
    DIR* stream = ::fdopendir(dir.get());
    if (stream == nullptr) return errno_error(errno, shown_base, "opendir");
    static_cast<void>(dir.release());
    struct Closer {
      DIR* d;
      ~Closer() { ::closedir(d); }
    } closer{stream};
    const int dir_fd = ::dirfd(stream);
    std::vector<ListEntry> entries;
    for (;;) {
      errno = 0;
      const dirent* de = ::readdir(stream);
      if (de == nullptr) {
        if (errno != 0) return errno_error(errno, shown_base, "readdir");
        break;
      }
      const std::string_view name(de->d_name);
      if (name == "." || name == "..") continue;
      unsigned char type = de->d_type;
      if (type == DT_UNKNOWN) {
        // Some filesystems do not fill d_type: ask, without following the entry.
        struct stat st {};
        if (::fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          const int err = errno;
          if (err == ENOENT) continue;  // Removed since readdir.
          return errno_error(err, base + std::string(name), "stat");
        }
        type = S_ISREG(st.st_mode)   ? DT_REG
               : S_ISDIR(st.st_mode) ? DT_DIR
               : S_ISLNK(st.st_mode) ? DT_LNK
                                     : DT_UNKNOWN;
      }
      ListEntry entry;
      switch (type) {
        case DT_REG:
          entry.key = std::string(name);
          entry.kind = ListEntry::Kind::file;
          break;
        case DT_DIR:
          entry.key = std::string(name) + "/";
          entry.kind = ListEntry::Kind::folder;
          break;
        case DT_LNK:
          entry.key = std::string(name);
          entry.kind = ListEntry::Kind::symlink;
          break;
        default:
          continue;  // FIFOs, sockets, devices are not objects.
      }
      entries.push_back(std::move(entry));
    }
    // The order of list(): a folder sorts as its name plus '/'.
    std::sort(entries.begin(), entries.end(),
              [](const ListEntry& a, const ListEntry& b) { return a.key < b.key; });
    stagecheck::ListEntry out;
    for (const ListEntry& entry : entries) {
      switch (entry.kind) {
        case ListEntry::Kind::folder:
          out.name = entry.key.substr(0, entry.key.size() - 1);
          out.path = base + out.name;
          out.is_folder = true;
          out.info = ObjectInfo{};
          out.info.path = out.path;
          break;
        case ListEntry::Kind::file: {
          struct stat st {};
          if (::fstatat(dir_fd, entry.key.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            const int err = errno;
            if (err == ENOENT) continue;  // Removed since readdir.
            return errno_error(err, base + entry.key, "stat");
          }
          if (!S_ISREG(st.st_mode)) {
            return make_error(Errc::io_error,
                              fmt::format("'{}' under {} changed from a file while being listed",
                                          printable(base + entry.key), printable(root_)));
          }
          out.name = entry.key;
          out.path = base + entry.key;
          out.is_folder = false;
          out.info = ObjectInfo{out.path, size_of(st), mtime_ns_of(st), false};
          break;
        }
        case ListEntry::Kind::symlink: {
          Result<std::optional<ObjectInfo>> info =
              resolve_link(dir_fd, entry.key, base + entry.key);
          if (!info) return std::move(info).error();
          if (!*info) continue;
          out.name = entry.key;
          out.path = base + entry.key;
          out.is_folder = false;
          out.info = std::move(**info);
          break;
        }
      }
      if (!visit(out)) break;
    }
    return {};
  }

  /// Lists folder `dir_fd` (store path `base`, empty or ending in '/'), keeping names that start
  /// with `name_prefix`, recursing into sub-folders in order. Only this folder's entries are in
  /// memory at this level.
  Result<void> walk(int dir_fd, const std::string& base, const std::string& name_prefix, int depth,
                    const std::function<bool(const ObjectInfo&)>& visit, bool& stopped) const {
    Result<std::vector<ListEntry>> read_entries = read_folder(dir_fd, base, name_prefix);
    if (!read_entries) return std::move(read_entries).error();
    std::vector<ListEntry>& entries = *read_entries;
    // Sorting by name + '/' for folders makes the depth-first walk emit full paths in plain
    // byte order: a folder's paths all start with "name/", so "a-b" (0x2d) and "a.b" (0x2e)
    // come before the contents of folder "a" (0x2f) and "a0" after them.
    std::sort(entries.begin(), entries.end(),
              [](const ListEntry& a, const ListEntry& b) { return a.key < b.key; });
    for (const ListEntry& entry : entries) {
      if (stopped) break;
      switch (entry.kind) {
        case ListEntry::Kind::file: {
          const ObjectInfo info{base + entry.key, entry.size, entry.mtime_ns, false};
          if (!visit(info)) stopped = true;
          break;
        }
        case ListEntry::Kind::symlink: {
          Result<std::optional<ObjectInfo>> info =
              resolve_link(dir_fd, entry.key, base + entry.key);
          if (!info) return std::move(info).error();
          if (*info && !visit(**info)) stopped = true;
          break;
        }
        case ListEntry::Kind::folder: {
          const std::string name = entry.key.substr(0, entry.key.size() - 1);
          const std::string path = base + entry.key;
          if (depth + 1 >= kMaxListDepth) {
            return make_error(
                Errc::malformed,
                fmt::format("'{}' under {} is nested deeper than {} folders; refusing "
                            "to list further",
                            printable(path), printable(root_), kMaxListDepth));
          }
          // O_NOFOLLOW: a folder replaced by a link since readdir is not followed.
          const int fd =
              ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (fd < 0) {
            const int err = errno;
            if (err == ENOENT) break;  // Removed since readdir: it holds no objects now.
            if (err == ELOOP || err == ENOTDIR) {
              return make_error(
                  Errc::io_error,
                  fmt::format("'{}' under {} changed from a folder while being listed",
                              printable(path), printable(root_)));
            }
            return errno_error(err, path, "open folder");
          }
          const UniqueFd sub(fd);
          if (Result<void> walked = walk(sub.get(), path, std::string(), depth + 1, visit, stopped);
              !walked) {
            return walked;
          }
          break;
        }
      }
    }
    return {};
  }

  /// A symbolic link met while listing, named `name` in folder `dir_fd` (store path `path`).
  /// A link to a file beneath the root is an object with its target's facts, as stat() would
  /// give them. A link to a folder or special file is not an object (nullopt: skipped, and
  /// folders behind links are never walked), wherever it points. A link to a file that leaves
  /// the root, or that dangles, is an error rather than a silent gap in the listing.
  Result<std::optional<ObjectInfo>> resolve_link(int dir_fd, const std::string& name,
                                                 const std::string& path) const {
    Result<ObjectInfo> info = stat_beneath(path);
    if (info) return std::optional<ObjectInfo>(std::move(*info));
    if (info.error().code == Errc::not_a_file) return std::optional<ObjectInfo>();
    // Out of the root or unresolvable: follow the link for its type only (metadata, never
    // content), so that a linked-in folder such as `raw -> /mnt/raw` is skipped like any
    // other linked folder instead of failing the whole listing.
    struct stat target {};
    if (::fstatat(dir_fd, name.c_str(), &target, AT_NO_AUTOMOUNT) == 0 &&
        !S_ISREG(target.st_mode)) {
      return std::optional<ObjectInfo>();
    }
    Error error = std::move(info).error();
    if (error.code == Errc::not_found) {
      error.message = fmt::format("'{}' under {} is a symbolic link to nothing (dangling)",
                                  printable(path), printable(root_));
    }
    return error;
  }

  /// Reads the entries of one folder that match `name_prefix`.
  Result<std::vector<ListEntry>> read_folder(int dir_fd, const std::string& base,
                                             const std::string& name_prefix) const {
    // fdopendir takes ownership of its descriptor, and dir_fd is still needed for the
    // sub-folders, so hand it a duplicate.
    const int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    const std::string shown_base = base.empty() ? std::string(".") : base;
    if (dup_fd < 0) return errno_error(errno, shown_base, "dup");
    DIR* stream = ::fdopendir(dup_fd);
    if (stream == nullptr) {
      const int err = errno;
      ::close(dup_fd);
      return errno_error(err, shown_base, "opendir");
    }
    struct Closer {
      DIR* d;
      ~Closer() { ::closedir(d); }
    } closer{stream};
    std::vector<ListEntry> entries;
    for (;;) {
      errno = 0;
      const dirent* de = ::readdir(stream);
      if (de == nullptr) {
        if (errno != 0) return errno_error(errno, shown_base, "readdir");
        break;
      }
      const std::string_view name(de->d_name);
      if (name == "." || name == "..") continue;
      if (name.substr(0, name_prefix.size()) != name_prefix) continue;
      struct stat st {};
      // Relative to a folder opened with O_NOFOLLOW and not following the entry: nothing here
      // leaves the tree.
      if (::fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        const int err = errno;
        if (err == ENOENT) continue;  // Removed since readdir.
        return errno_error(err, base + std::string(name), "stat");
      }
      ListEntry entry;
      if (S_ISREG(st.st_mode)) {
        entry.key = std::string(name);
        entry.kind = ListEntry::Kind::file;
        entry.size = size_of(st);
        entry.mtime_ns = mtime_ns_of(st);
      } else if (S_ISDIR(st.st_mode)) {
        entry.key = std::string(name) + "/";
        entry.kind = ListEntry::Kind::folder;
      } else if (S_ISLNK(st.st_mode)) {
        entry.key = std::string(name);
        entry.kind = ListEntry::Kind::symlink;
      } else {
        continue;  // FIFOs, sockets, devices are not objects.
      }
      entries.push_back(std::move(entry));
    }
    return entries;
  }

  Result<void> write_atomic_impl(std::string_view path, std::string_view data) {
    if (Result<void> valid = validate_store_path(path); !valid) return std::move(valid).error();
    const std::string rel(path);
    const std::string shown = fmt::format("'{}' under {}", printable(rel), printable(root_));
    // Folders are opened readable (not O_PATH) so that they can be fsynced.
    int fd = ::openat(root_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return write_errno_error(errno, shown, "opening the root");
    UniqueFd dir(fd);
    std::size_t start = 0;
    for (std::size_t slash = rel.find('/'); slash != std::string::npos;
         start = slash + 1, slash = rel.find('/', start)) {
      const std::string part = rel.substr(start, slash - start);
      const std::string so_far = rel.substr(0, slash);
      bool created = false;
      if (::mkdirat(dir.get(), part.c_str(), 0777) == 0) {
        created = true;
      } else if (errno != EEXIST) {
        return write_errno_error(errno, shown,
                                 fmt::format("creating folder '{}'", printable(so_far)));
      }
      // Make a new folder's entry durable before anything is written into it.
      if (created && ::fsync(dir.get()) != 0) {
        return write_errno_error(errno, shown, "fsync of a folder");
      }
      // O_NOFOLLOW: writes never go through a symbolic link, even one inside the root.
      fd = ::openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        if (err == ELOOP) {
          return make_error(Errc::out_of_root,
                            fmt::format("cannot write {}: '{}' is a symbolic link; writes do not "
                                        "follow links",
                                        shown, printable(so_far)));
        }
        struct stat st {};
        // O_DIRECTORY is checked before O_NOFOLLOW, so a link shows up as ENOTDIR too.
        if (err == ENOTDIR && ::fstatat(dir.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode)) {
          return make_error(Errc::out_of_root,
                            fmt::format("cannot write {}: '{}' is a symbolic link; writes do not "
                                        "follow links",
                                        shown, printable(so_far)));
        }
        if (err == ENOTDIR) {
          return make_error(Errc::not_a_file, fmt::format("cannot write {}: '{}' is not a folder",
                                                          shown, printable(so_far)));
        }
        return write_errno_error(err, shown, fmt::format("opening folder '{}'", printable(so_far)));
      }
      dir = UniqueFd(fd);
    }
    return write_atomic_at(dir.get(), rel.substr(start), data, shown);
  }

  std::string root_;  ///< Canonical root folder.
  UniqueFd root_fd_;  ///< O_PATH descriptor of the root; every path resolves relative to it.
  bool use_openat2_;
};

Result<std::unique_ptr<Store>> open_store(const fs::path& root, detail::Confinement confinement) {
  try {
    const std::string shown = printable(root.string());
    if (root.empty()) {
      return make_error(Errc::invalid_argument, "store root is empty; expected a folder");
    }
    std::error_code ec;
    const fs::path canonical = fs::canonical(root, ec);
    if (ec) {
      const int err = ec.value();
      if (err == ENOENT || err == ENOTDIR) {
        return make_error(Errc::not_found, fmt::format("store root {} does not exist", shown));
      }
      if (err == EACCES || err == EPERM) {
        return make_error(Errc::permission_denied,
                          fmt::format("store root {}: permission denied", shown));
      }
      return make_error(Errc::io_error,
                        fmt::format("store root {}: cannot resolve: {}", shown, ec.message()));
    }
    const std::string canonical_root = canonical.string();
    // O_NOFOLLOW: the canonical path has no links, so one appearing now is a swap.
    const int fd = ::open(canonical_root.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == ENOTDIR || err == ENOENT) {
        return make_error(Errc::not_found,
                          fmt::format("store root {} is not a folder", printable(canonical_root)));
      }
      if (err == EACCES || err == EPERM) {
        return make_error(Errc::permission_denied, fmt::format("store root {}: permission denied",
                                                               printable(canonical_root)));
      }
      return make_error(Errc::io_error, fmt::format("store root {}: cannot open: {}",
                                                    printable(canonical_root), errno_text(err)));
    }
    UniqueFd root_fd(fd);
    const bool use_openat2 =
        confinement == detail::Confinement::automatic && LocalStore::openat2_usable(root_fd.get());
    return std::unique_ptr<Store>(
        std::make_unique<LocalStore>(canonical_root, std::move(root_fd), use_openat2));
  } catch (const std::exception& e) {
    return make_error(Errc::internal, fmt::format("opening store root {}: unexpected exception: {}",
                                                  printable(root.string()), e.what()));
  }
}

}  // namespace

Result<std::unique_ptr<Store>> open_local_store(const std::filesystem::path& root) {
  return open_store(root, detail::Confinement::automatic);
}

namespace detail {
Result<std::unique_ptr<Store>> open_local_store(const std::filesystem::path& root,
                                                Confinement confinement) {
  return open_store(root, confinement);
}
}  // namespace detail

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  try {
    const std::string shown = fmt::format("'{}'", printable(path.string()));
    const fs::path name = path.filename();
    if (path.empty() || name.empty() || name == "." || name == "..") {
      return make_error(Errc::invalid_argument,
                        fmt::format("cannot write {}: the path does not name a file", shown));
    }
    const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
    int fd = -1;
    do {
      fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) {
        return make_error(Errc::not_found,
                          fmt::format("cannot write {}: folder '{}' does not exist (it is not "
                                      "created)",
                                      shown, printable(parent.string())));
      }
      return write_errno_error(err, shown,
                               fmt::format("opening folder '{}'", printable(parent.string())));
    }
    const UniqueFd dir(fd);
    return write_atomic_at(dir.get(), name.string(), data, shown);
  } catch (const std::exception& e) {
    return make_error(Errc::internal, fmt::format("writing '{}': unexpected exception: {}",
                                                  printable(path.string()), e.what()));
  }
}

}  // namespace stagecheck
