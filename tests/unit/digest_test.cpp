// Digests and HMAC against published test vectors; digest_object streaming; parallel_for.
#include <gtest/gtest.h>
#include <stagecheck/digest.hpp>
#include <stagecheck/local_store.hpp>
#include <stagecheck/parallel.hpp>

#include <atomic>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "stagecheck_test_support.hpp"

namespace stagecheck {
namespace {

std::string hex_of(DigestAlgorithm a, std::string_view data) {
  Result<std::string> r = digest_hex(a, data);
  EXPECT_TRUE(r.ok());
  return r ? *r : std::string();
}

TEST(Digest, KnownVectorsForEveryAlgorithm) {
  // FIPS 180-2 / RFC 1321 "abc" vectors.
  EXPECT_EQ(hex_of(DigestAlgorithm::sha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_of(DigestAlgorithm::sha1, "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex_of(DigestAlgorithm::md5, "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(hex_of(DigestAlgorithm::sha512, "abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(hex_of(DigestAlgorithm::sha256, ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Digest, AlgorithmNamesParseAndRoundTrip) {
  EXPECT_EQ(parse_digest_algorithm("SHA-256"), DigestAlgorithm::sha256);
  EXPECT_EQ(parse_digest_algorithm("sha512"), DigestAlgorithm::sha512);
  EXPECT_EQ(parse_digest_algorithm("Sha1"), DigestAlgorithm::sha1);
  EXPECT_EQ(parse_digest_algorithm("md5"), DigestAlgorithm::md5);
  EXPECT_FALSE(parse_digest_algorithm("sha3-256").has_value());
  EXPECT_FALSE(parse_digest_algorithm("").has_value());
  for (auto a : {DigestAlgorithm::sha256, DigestAlgorithm::sha512, DigestAlgorithm::sha1,
                 DigestAlgorithm::md5}) {
    EXPECT_EQ(parse_digest_algorithm(to_string(a)), a);
    EXPECT_EQ(hex_of(a, "x").size(), digest_hex_length(a));
  }
}

TEST(Digest, HexDigestShapeIsChecked) {
  const std::string good(64, 'a');
  EXPECT_TRUE(is_hex_digest(good, DigestAlgorithm::sha256));
  EXPECT_TRUE(is_hex_digest(std::string(64, 'F'), DigestAlgorithm::sha256));
  EXPECT_FALSE(is_hex_digest(good, DigestAlgorithm::sha512));
  EXPECT_FALSE(is_hex_digest("", DigestAlgorithm::sha256));
  EXPECT_FALSE(is_hex_digest(std::string(63, 'a') + "g", DigestAlgorithm::sha256));
}

TEST(Digest, HmacSha256MatchesRfc4231) {
  // RFC 4231 test case 2.
  Result<std::string> mac = hmac_sha256_hex("Jefe", "what do ya want for nothing?");
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(*mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  Result<std::string> empty_key = hmac_sha256_hex("", "");
  ASSERT_TRUE(empty_key.ok());
  EXPECT_EQ(*empty_key, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Digest, ConstantTimeCompare) {
  EXPECT_TRUE(equal_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_constant_time("abc", "ab"));
  EXPECT_TRUE(equal_constant_time("", ""));
}

TEST(Digest, HasherIsIncrementalAndReusable) {
  Result<Hasher> h = Hasher::create(DigestAlgorithm::sha256);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->update("a", 1).ok());
  ASSERT_TRUE(h->update("bc", 2).ok());
  Result<std::string> first = h->finish_hex();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, hex_of(DigestAlgorithm::sha256, "abc"));
  ASSERT_TRUE(h->reset().ok());
  ASSERT_TRUE(h->update("abc", 3).ok());
  EXPECT_EQ(*h->finish_hex(), *first);
}

TEST(Digest, ObjectIsStreamedInSmallBlocks) {
  testing::ScratchDir dir;
  std::string content;
  for (int i = 0; i < 10000; ++i) content += std::to_string(i) + "\n";
  dir.write("data/file.txt", content);
  auto store = open_local_store(dir.path());
  ASSERT_TRUE(store.ok());
  Result<Hasher> h = Hasher::create(DigestAlgorithm::sha256);
  ASSERT_TRUE(h.ok());
  std::vector<char> buf(7);  // an odd block size exercises every boundary
  std::uint64_t bytes = 0;
  Result<std::string> d = digest_object(**store, "data/file.txt", *h, buf, &bytes);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(*d, hex_of(DigestAlgorithm::sha256, content));
  EXPECT_EQ(bytes, content.size());
}

TEST(Digest, ObjectErrorsAreTheStoresAndStopInterrupts) {
  testing::ScratchDir dir;
  dir.write("a.txt", "abc");
  auto store = open_local_store(dir.path());
  ASSERT_TRUE(store.ok());
  Result<Hasher> h = Hasher::create(DigestAlgorithm::sha256);
  ASSERT_TRUE(h.ok());
  std::vector<char> buf(64);
  Result<std::string> missing = digest_object(**store, "nope.txt", *h, buf);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  Result<std::string> escape = digest_object(**store, "../a.txt", *h, buf);
  ASSERT_FALSE(escape.ok());
  EXPECT_EQ(escape.error().code, Errc::out_of_root);
  std::atomic<bool> stop{true};
  Result<std::string> stopped = digest_object(**store, "a.txt", *h, buf, nullptr, &stop);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().code, Errc::interrupted);
  std::vector<char> none;
  EXPECT_FALSE(digest_object(**store, "a.txt", *h, std::span<char>(none)).ok());
}

TEST(ParallelFor, CoversEveryIndexOnce) {
  std::vector<std::atomic<int>> seen(1000);
  std::atomic<bool> stop{false};
  auto failure = parallel_for(
      seen.size(), 3, [&](std::size_t i) { ++seen[i]; }, [] { return false; }, stop);
  EXPECT_FALSE(failure.has_value());
  for (auto& s : seen) EXPECT_EQ(s.load(), 1);
  EXPECT_FALSE(parallel_for(
                   0, 2, [](std::size_t) { FAIL(); }, {}, stop)
                   .has_value());
}

TEST(ParallelFor, AnExceptionStopsThePoolAndIsReported) {
  std::atomic<bool> stop{false};
  auto failure = parallel_for(
      100, 2,
      [](std::size_t i) {
        if (i == 5) throw std::runtime_error("boom at 5");
      },
      [] { return false; }, stop);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(*failure, "boom at 5");
  EXPECT_TRUE(stop.load());
}

TEST(ParallelFor, CancellationRaisesStop) {
  std::atomic<bool> stop{false};
  std::atomic<int> ran{0};
  auto failure = parallel_for(
      1000000, 2,
      [&](std::size_t) {
        ++ran;
        while (!stop) std::this_thread::yield();
      },
      [] { return true; }, stop);
  EXPECT_FALSE(failure.has_value());
  EXPECT_TRUE(stop.load());
  EXPECT_LE(ran.load(), 2);
}

}  // namespace
}  // namespace stagecheck
