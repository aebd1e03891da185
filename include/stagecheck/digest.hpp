#pragma once
/// \file
/// Digests and HMACs through OpenSSL's EVP (SHA-NI where the CPU has it): one-shot over bytes,
/// streamed over a store object, and incremental. Shared by every check that verifies content.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

class Store;

/// The digest algorithms manifests name. SHA-256 is the default everywhere.
enum class DigestAlgorithm { sha256, sha512, sha1, md5 };

/// Lower-case name as manifests spell it: "sha256", "sha512", "sha1", "md5".
STAGECHECK_API std::string_view to_string(DigestAlgorithm algorithm) noexcept;

/// Parses "sha256", "SHA-256", "sha512", "sha1", "md5" (case-insensitive, '-' optional).
STAGECHECK_API std::optional<DigestAlgorithm> parse_digest_algorithm(
    std::string_view name) noexcept;

/// Length of the algorithm's digest in lower-case hex characters (64 for SHA-256).
STAGECHECK_API std::size_t digest_hex_length(DigestAlgorithm algorithm) noexcept;

/// True if `text` is exactly `digest_hex_length(algorithm)` hex digits (either case).
STAGECHECK_API bool is_hex_digest(std::string_view text, DigestAlgorithm algorithm) noexcept;

/// An incremental digest. Movable, not copyable; one thread at a time.
class STAGECHECK_API Hasher {
 public:
  /// A hasher for `algorithm`; Errc::internal if OpenSSL cannot provide it.
  static Result<Hasher> create(DigestAlgorithm algorithm);

  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();

  /// Adds bytes. Errc::internal if OpenSSL fails.
  Result<void> update(const void* data, std::size_t size);
  /// Ends the digest and returns it as lower-case hex; the hasher can then be reset().
  Result<std::string> finish_hex();
  /// Starts over with the same algorithm.
  Result<void> reset();

 private:
  struct Impl;
  explicit Hasher(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// The lower-case hex digest of `data`.
STAGECHECK_API Result<std::string> digest_hex(DigestAlgorithm algorithm, std::string_view data);

/// Streams one store object through `hasher` (which is reset first) in blocks of
/// `buffer.size()` bytes, so memory stays independent of the file size. On success returns
/// the hex digest and sets `*bytes` (if given) to the bytes read. Fails with the store's error,
/// or Errc::interrupted as soon as `*stop` (if given) becomes true.
STAGECHECK_API Result<std::string> digest_object(const Store& store, const std::string& path,
                                                 Hasher& hasher, std::span<char> buffer,
                                                 std::uint64_t* bytes = nullptr,
                                                 const std::atomic<bool>* stop = nullptr);

/// HMAC-SHA256 of `data` under `key`, as lower-case hex. The key is never logged or copied
/// into an error message.
STAGECHECK_API Result<std::string> hmac_sha256_hex(std::string_view key, std::string_view data);

/// Compares two strings in time independent of where they differ (for MACs).
STAGECHECK_API bool equal_constant_time(std::string_view a, std::string_view b) noexcept;

}  // namespace stagecheck
