// Writes the checksums benchmark's data set: two large files and many small ones, plus the
// same manifest in two forms (SHA256SUMS for `sha256sum -c` and the floor, checksums.json for
// stagecheck's other format). Pseudo-random content (never sparse, never compressible).
//
//   generate_checksums_data ROOT [LARGE_MIB=1024] [SMALL_COUNT=10000]
//
// Layout: ROOT/large/large_{0,1}.bin (LARGE_MIB MiB each), ROOT/small/NN/file_NNNNN.bin
// (100 files per folder, 1-64 KiB, deterministic sizes), ROOT/SHA256SUMS, ROOT/checksums.json.

#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace {

namespace fs = std::filesystem;

/// xorshift64*: fast deterministic filler.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  void fill(std::vector<char>& buf, std::size_t n) {
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      const std::uint64_t v = next();
      std::memcpy(buf.data() + i, &v, 8);
    }
    for (std::size_t i = n - n % 8; i < n; ++i) buf[i] = static_cast<char>(next());
  }
};

/// Writes `total` bytes of pseudo-random data to `path`; returns the SHA-256 hex.
std::string write_file(const fs::path& path, std::uint64_t total, Rng& rng) {
  fs::create_directories(path.parent_path());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::exit(1);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(4u << 20);
  for (std::uint64_t done = 0; done < total;) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - done));
    rng.fill(buf, n);
    if (std::fwrite(buf.data(), 1, n, f) != n) {
      std::perror(path.c_str());
      std::exit(1);
    }
    EVP_DigestUpdate(ctx, buf.data(), n);
    done += n;
  }
  std::fclose(f);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ROOT [LARGE_MIB=1024] [SMALL_COUNT=10000]\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  const std::uint64_t large_mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
  const std::uint64_t small_count = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 10000;
  Rng rng{0x9e3779b97f4a7c15ull};
  std::string sums;
  std::string json = "{\n  \"algorithm\": \"sha256\",\n  \"files\": {\n";
  bool first = true;
  std::uint64_t total = 0;
  auto add = [&](const std::string& rel, std::uint64_t size) {
    const std::string hex = write_file(root / rel, size, rng);
    sums += hex + "  " + rel + "\n";
    json += fmt::format("{}    \"{}\": {{\"sha256\": \"{}\", \"size_bytes\": {}}}",
                        first ? "" : ",\n", rel, hex, size);
    first = false;
    total += size;
  };
  for (int i = 0; i < 2; ++i) add(fmt::format("large/large_{}.bin", i), large_mib << 20);
  Rng sizes{42};
  for (std::uint64_t i = 0; i < small_count; ++i) {
    add(fmt::format("small/{:02d}/file_{:05d}.bin", i / 100 % 100, i),
        1024 + sizes.next() % (63 * 1024));
  }
  json += "\n  }\n}\n";
  std::ofstream(root / "SHA256SUMS", std::ios::binary) << sums;
  std::ofstream(root / "checksums.json", std::ios::binary) << json;
  std::printf("wrote %llu files, %llu bytes under %s\n",
              static_cast<unsigned long long>(2 + small_count),
              static_cast<unsigned long long>(total), root.c_str());
  return 0;
}
