// The machine's limit for the checksums benchmark: a bare OpenSSL EVP SHA-256 loop over the
// files a SHA256SUMS manifest names, on N threads (default 2), largest files first, reading
// with read(2) into a 1 MiB buffer per thread. No path checks, no store, no report: a lower
// bound for any verifier of the same files, not a competitor. Verifies the digests, so a wrong
// set-up cannot look fast.
//
//   evp_floor ROOT/SHA256SUMS [THREADS=2] [BLOCK_KIB=1024]

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Item {
  std::string path;
  std::string hex;
  off_t size = 0;
};

std::string to_hex(const unsigned char* d, unsigned n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += k[d[i] >> 4];
    s += k[d[i] & 15];
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SHA256SUMS [THREADS=2] [BLOCK_KIB=1024]\n", argv[0]);
    return 2;
  }
  const std::string manifest = argv[1];
  const unsigned threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 2;
  const std::size_t block = (argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1024) * 1024;
  const std::string dir = manifest.substr(0, manifest.rfind('/') + 1);
  std::vector<Item> items;
  std::ifstream in(manifest);
  for (std::string line; std::getline(in, line);) {
    if (line.size() < 67) continue;
    Item it;
    it.hex = line.substr(0, 64);
    it.path = dir + line.substr(66);
    struct stat st {};
    if (::stat(it.path.c_str(), &st) != 0) {
      std::perror(it.path.c_str());
      return 1;
    }
    it.size = st.st_size;
    items.push_back(std::move(it));
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.size > b.size; });
  std::atomic<std::size_t> next{0};
  std::atomic<unsigned long long> bytes{0};
  std::atomic<int> bad{0};
  auto work = [&] {
    std::vector<char> buf(block);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    for (std::size_t i; (i = next++) < items.size();) {
      const int fd = ::open(items[i].path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        ++bad;
        continue;
      }
      EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
      for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) {
        EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(n));
        bytes += static_cast<unsigned long long>(n);
      }
      ::close(fd);
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      EVP_DigestFinal_ex(ctx, md, &len);
      if (to_hex(md, len) != items[i].hex) ++bad;
    }
    EVP_MD_CTX_free(ctx);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  std::printf("%zu files, %llu bytes, %d bad\n", items.size(), bytes.load(), bad.load());
  return bad.load() == 0 ? 0 : 1;
}
