#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "stagecheck/local_store.hpp"
#include "text_util.hpp"

namespace stagecheck {
namespace {

Errc errno_code(int e) {
  if (e == ENOENT || e == ENOTDIR) return Errc::not_found;
  if (e == EACCES || e == EPERM) return Errc::permission_denied;
  return Errc::io_error;
}

}  // namespace

Result<std::string> read_local_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  const std::string shown = detail::printable(path.string());
  // Type first, by path: a FIFO or a device is refused without being opened.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    return make_error(errno_code(e), fmt::format("'{}': {}", shown, std::strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(Errc::not_a_file, fmt::format("'{}' is not a regular file", shown));
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return make_error(Errc::too_large,
                      fmt::format("'{}' is {} bytes, over the read cap of {} bytes", shown,
                                  st.st_size, max_bytes));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    return make_error(errno_code(e), fmt::format("'{}': cannot open: {}", shown, std::strerror(e)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error(Errc::not_a_file, fmt::format("'{}' is not a regular file", shown));
  }
  std::string data;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(Errc::io_error,
                        fmt::format("'{}': read failed: {}", shown, std::strerror(errno)));
    }
    if (n == 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
    // Re-checked while reading: the file may have grown since it was sized.
    if (data.size() > max_bytes) {
      return make_error(Errc::too_large,
                        fmt::format("'{}' grew over the read cap of {} bytes while being read",
                                    shown, max_bytes));
    }
  }
  return data;
}

}  // namespace stagecheck
