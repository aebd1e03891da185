// The floor for the certificate_fallback benchmark: what any tool must at least do to read every
// certificate, and nothing else. Lists the episodes folder with readdir (file types from d_type,
// no stat), then two threads open, read and close every quality_certificate.json. No parsing, no
// checks, no path safety (no openat2/O_PATH probes): a lower bound, not a competitor.
//
//   read_floor FOLDER [THREADS]

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FOLDER [THREADS]\n", argv[0]);
    return 2;
  }
  const std::string folder = argv[1];
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2;
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) {
    std::fprintf(stderr, "cannot list %s: %s\n", folder.c_str(), std::strerror(errno));
    return 1;
  }
  std::vector<std::string> paths;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_type != DT_DIR || entry->d_name[0] == '.') continue;
    paths.push_back(folder + "/" + entry->d_name + "/quality_certificate.json");
  }
  ::closedir(dir);

  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> total_bytes{0};
  std::atomic<std::uint64_t> files{0};
  auto reader = [&] {
    char buffer[64 * 1024];
    std::uint64_t bytes = 0, count = 0;
    for (std::size_t i = next++; i < paths.size(); i = next++) {
      const int fd = ::open(paths[i].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;  // A folder without a certificate.
      for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        bytes += static_cast<std::uint64_t>(n);
      }
      ::close(fd);
      ++count;
    }
    total_bytes += bytes;
    files += count;
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(reader);
  for (std::thread& t : pool) t.join();
  std::printf("%llu files, %llu bytes\n", static_cast<unsigned long long>(files.load()),
              static_cast<unsigned long long>(total_bytes.load()));
  return files.load() == paths.size() ? 0 : 1;
}
