// Digests and HMACs through OpenSSL EVP.
#include "stagecheck/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <climits>

#include "stagecheck/store.hpp"

namespace stagecheck {
namespace {

const EVP_MD* evp_md(DigestAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case DigestAlgorithm::sha256:
      return EVP_sha256();
    case DigestAlgorithm::sha512:
      return EVP_sha512();
    case DigestAlgorithm::sha1:
      return EVP_sha1();
    case DigestAlgorithm::md5:
      return EVP_md5();
  }
  return nullptr;
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    hex[2 * i] = kDigits[data[i] >> 4];
    hex[2 * i + 1] = kDigits[data[i] & 0x0f];
  }
  return hex;
}

Error openssl_error(DigestAlgorithm algorithm, std::string_view step) {
  return make_error(Errc::internal, std::string("OpenSSL ") + std::string(to_string(algorithm)) +
                                        " " + std::string(step) + " failed");
}

}  // namespace

std::string_view to_string(DigestAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case DigestAlgorithm::sha256:
      return "sha256";
    case DigestAlgorithm::sha512:
      return "sha512";
    case DigestAlgorithm::sha1:
      return "sha1";
    case DigestAlgorithm::md5:
      return "md5";
  }
  return "unknown";
}

std::optional<DigestAlgorithm> parse_digest_algorithm(std::string_view name) noexcept {
  std::string key;
  for (char c : name) {
    if (c == '-' || c == '_') continue;
    key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (key == "sha256") return DigestAlgorithm::sha256;
  if (key == "sha512") return DigestAlgorithm::sha512;
  if (key == "sha1") return DigestAlgorithm::sha1;
  if (key == "md5") return DigestAlgorithm::md5;
  return std::nullopt;
}

std::size_t digest_hex_length(DigestAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case DigestAlgorithm::sha256:
      return 64;
    case DigestAlgorithm::sha512:
      return 128;
    case DigestAlgorithm::sha1:
      return 40;
    case DigestAlgorithm::md5:
      return 32;
  }
  return 0;
}

bool is_hex_digest(std::string_view text, DigestAlgorithm algorithm) noexcept {
  if (text.size() != digest_hex_length(algorithm)) return false;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

struct Hasher::Impl {
  DigestAlgorithm algorithm;
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

Result<Hasher> Hasher::create(DigestAlgorithm algorithm) {
  auto impl = std::make_unique<Impl>();
  impl->algorithm = algorithm;
  impl->ctx = EVP_MD_CTX_new();
  if (impl->ctx == nullptr) return openssl_error(algorithm, "context allocation");
  Hasher hasher(std::move(impl));
  if (Result<void> r = hasher.reset(); !r) return r.error();
  return hasher;
}

Result<void> Hasher::reset() {
  if (EVP_DigestInit_ex(impl_->ctx, evp_md(impl_->algorithm), nullptr) != 1) {
    return openssl_error(impl_->algorithm, "initialisation");
  }
  return {};
}

Result<void> Hasher::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(impl_->ctx, data, size) != 1) {
    return openssl_error(impl_->algorithm, "update");
  }
  return {};
}

Result<std::string> Hasher::finish_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, digest, &length) != 1 ||
      length * 2 != digest_hex_length(impl_->algorithm)) {
    return openssl_error(impl_->algorithm, "finalisation");
  }
  return to_hex(digest, length);
}

Result<std::string> digest_hex(DigestAlgorithm algorithm, std::string_view data) {
  Result<Hasher> hasher = Hasher::create(algorithm);
  if (!hasher) return hasher.error();
  if (Result<void> r = hasher->update(data.data(), data.size()); !r) return r.error();
  return hasher->finish_hex();
}

Result<std::string> digest_object(const Store& store, const std::string& path, Hasher& hasher,
                                  std::span<char> buffer, std::uint64_t* bytes,
                                  const std::atomic<bool>* stop) {
  if (buffer.empty()) return make_error(Errc::invalid_argument, "digest_object: empty buffer");
  Result<std::unique_ptr<Reader>> reader = store.open(path);
  if (!reader) return reader.error();
  if (Result<void> r = hasher.reset(); !r) return r.error();
  std::uint64_t total = 0;
  for (;;) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      return make_error(Errc::interrupted, "interrupted while hashing " + path);
    }
    Result<std::size_t> got = (*reader)->read(buffer.data(), buffer.size());
    if (!got) return got.error();
    if (*got == 0) break;
    total += *got;
    if (Result<void> r = hasher.update(buffer.data(), *got); !r) return r.error();
  }
  if (bytes != nullptr) *bytes = total;
  return hasher.finish_hex();
}

Result<std::string> hmac_sha256_hex(std::string_view key, std::string_view data) {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) {
    return make_error(Errc::invalid_argument, "HMAC key too long");
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // An empty key is valid HMAC input; OpenSSL wants a non-null pointer for it.
  static const unsigned char kEmpty = 0;
  const void* key_data = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  if (HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
           &length) == nullptr ||
      length != 32) {
    return make_error(Errc::internal, "OpenSSL HMAC-SHA256 failed");
  }
  return to_hex(mac, length);
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace stagecheck
