#pragma once
// Test helper: what every bucket store must do, as a typed test suite run once per store
// against its server on loopback (s3rver for the S3 store, our GCS test server for the GCS
// store), directly and through the fault-injecting proxy. A Backend provides:
//   static bool start(std::string& why);  // starts its server (once per suite); false + why
//   static void stop();
//   static int port();                    // the server's port, for the proxy
//   static std::unique_ptr<Store> open(const BucketSettings&);  // fast retries
//   static std::string driver_env(const std::string& endpoint); // env -i settings for the
//                                                               // driver ("" = the server)
//   static std::string root(const std::string& prefix);        // "s3://testbucket/PREFIX"
//   static constexpr const char* kNoVersionPinning;  // nullptr, or why the server cannot
//                                                    // show that reads are pinned
// Instantiate with INSTANTIATE_TYPED_TEST_SUITE_P(Name, BucketStoreContract, Backend).

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <stagecheck/digest.hpp>
#include <stagecheck/store.hpp>

#include "fault_proxy.hpp"
#include "s3rver.hpp"  // free_port, in_ci
#include "stagecheck_test_support.hpp"

namespace stagecheck::testing {

/// How a contract test opens the store (chain the setters: BucketSettings().keys(3)).
struct BucketSettings {
  std::string prefix;         ///< Key prefix of the store; "" for the test's own.
  std::string endpoint;       ///< "" for the backend's server.
  std::string bucket;         ///< "" for the test bucket.
  unsigned page_keys = 1000;  ///< Keys per listing page.
  unsigned max_retries = 5;   ///< Retries per request.

  BucketSettings& at(std::string p) { return prefix = std::move(p), *this; }
  BucketSettings& via(std::string e) { return endpoint = std::move(e), *this; }
  BucketSettings& in(std::string b) { return bucket = std::move(b), *this; }
  BucketSettings& keys(unsigned n) { return page_keys = n, *this; }
  BucketSettings& retries(unsigned n) { return max_retries = n, *this; }
};

/// Writes `data` to `path`, failing the test if it cannot.
inline void put_object(Store& store, const std::string& path, const std::string& data) {
  Result<void> ok = store.write_atomic(path, data);
  ASSERT_TRUE(ok.ok()) << path << ": " << ok.error().message;
}

/// Every path list(prefix) reports, in its order (a failed listing fails the test).
inline std::vector<std::string> listed_paths(const Store& store, const std::string& prefix) {
  std::vector<std::string> out;
  Result<void> ok = store.list(prefix, [&](const ObjectInfo& info) {
    out.push_back(info.path);
    return true;
  });
  EXPECT_TRUE(ok.ok()) << ok.error().message;
  return out;
}

template <class Backend>
class BucketStoreContract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { started_ = Backend::start(why_); }
  static void TearDownTestSuite() { Backend::stop(); }
  void SetUp() override {
    if (!started_) {
      if (in_ci()) FAIL() << "the test server is required in CI: " << why_;
      GTEST_SKIP() << "test server unavailable: " << why_;
    }
  }

  /// A prefix of this test's own.
  static std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string("contract/") + info->name();
  }
  static std::unique_ptr<Store> open(BucketSettings s = {}) {
    if (s.prefix.empty()) s.prefix = test_prefix();
    return Backend::open(s);
  }
  static void put(Store& store, const std::string& path, const std::string& data) {
    put_object(store, path, data);
  }
  static std::vector<std::string> list_paths(const Store& store, const std::string& prefix) {
    return listed_paths(store, prefix);
  }
  /// The driver with only HOME and the backend's settings for `endpoint` in its environment.
  DriverRun run(const std::string& args, const std::string& endpoint = "") {
    return run_driver(
        args, "env -i HOME='" + home_.path().string() + "' " + Backend::driver_env(endpoint));
  }

  /// A store with doc.json, and a proxy in front of the server.
  void with_proxy() {
    put(*open(), "doc.json", kBody);
    proxy_ = std::make_unique<FaultProxy>(Backend::port());
  }
  std::unique_ptr<Store> via_proxy(BucketSettings s = {}) {
    s.endpoint = proxy_->endpoint();
    return open(s);
  }

  static constexpr const char* kBody = "{\"scene_id\": \"kitchen_001\", \"rows\": 1234567}\n";
  static bool started_;
  static std::string why_;
  ScratchDir home_;
  std::unique_ptr<FaultProxy> proxy_;
};

template <class B>
bool BucketStoreContract<B>::started_ = false;
template <class B>
std::string BucketStoreContract<B>::why_;

TYPED_TEST_SUITE_P(BucketStoreContract);

TYPED_TEST_P(BucketStoreContract, WriteStatReadAndStream) {
  auto store = this->open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), TypeParam::root(this->test_prefix()));
  this->put(*store, "runs/r1/result.json", "{\"ok\": true}\n");
  Result<ObjectInfo> info = store->stat("runs/r1/result.json");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->path, "runs/r1/result.json");
  EXPECT_EQ(info->size, 13u);
  EXPECT_GT(info->mtime_ns, 1'600'000'000'000'000'000);
  Result<std::string> body = store->read("runs/r1/result.json", 1024);
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(*body, "{\"ok\": true}\n");
  EXPECT_EQ(*store->read("runs/r1/result.json", 13), "{\"ok\": true}\n");  // exactly the cap
  Result<std::string> capped = store->read("runs/r1/result.json", 12);
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.error().code, Errc::too_large);
  EXPECT_NE(capped.error().message.find("13 bytes"), std::string::npos) << capped.error().message;
  EXPECT_EQ(store->stat("runs/r1").error().code, Errc::not_found);  // a folder is no object

  // An object of several read chunks streams whole, and hashes like the original.
  std::string big(9 * 1024 * 1024 + 123, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 5);
  this->put(*store, "big.bin", big);
  Result<std::unique_ptr<Reader>> reader = store->open("big.bin");
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ((*reader)->size(), big.size());
  std::string streamed;
  std::vector<char> buffer(1 << 20);
  for (;;) {
    Result<std::size_t> n = (*reader)->read(buffer.data(), buffer.size());
    ASSERT_TRUE(n.ok()) << n.error().message;
    if (*n == 0) break;
    streamed.append(buffer.data(), *n);
  }
  EXPECT_TRUE(streamed == big);
  Result<Hasher> hasher = Hasher::create(DigestAlgorithm::sha256);
  ASSERT_TRUE(hasher.ok());
  std::vector<char> block(256 * 1024);
  Result<std::string> streamed_hash = digest_object(*store, "big.bin", *hasher, block);
  ASSERT_TRUE(streamed_hash.ok()) << streamed_hash.error().message;
  EXPECT_EQ(*streamed_hash, *digest_hex(DigestAlgorithm::sha256, big));
}

TYPED_TEST_P(BucketStoreContract, AnObjectReplacedWhileBeingReadIsAnErrorNeverAMix) {
  if (TypeParam::kNoVersionPinning != nullptr) GTEST_SKIP() << TypeParam::kNoVersionPinning;
  auto store = this->open();
  ASSERT_TRUE(store);
  this->put(*store, "big.bin", std::string(5 * 1024 * 1024, 'a'));
  Result<std::unique_ptr<Reader>> reader = store->open("big.bin");
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  std::vector<char> buffer(1024 * 1024);
  ASSERT_TRUE((*reader)->read(buffer.data(), buffer.size()).ok());  // the first 4 MiB range
  this->put(*store, "big.bin", std::string(5 * 1024 * 1024, 'b'));  // a new version
  Result<std::size_t> n(0);
  for (int i = 0; i < 5 && n.ok(); ++i) n = (*reader)->read(buffer.data(), buffer.size());
  ASSERT_FALSE(n.ok()) << "bytes of two versions were mixed";
  EXPECT_EQ(n.error().code, Errc::io_error);
  EXPECT_NE(n.error().message.find("changed or was removed"), std::string::npos)
      << n.error().message;
}

TYPED_TEST_P(BucketStoreContract, EmptyObjects) {
  auto store = this->open();
  ASSERT_TRUE(store);
  this->put(*store, "empty", "");
  EXPECT_EQ(store->stat("empty")->size, 0u);
  Result<std::string> body = store->read("empty", 100);
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(*body, "");
  Result<std::unique_ptr<Reader>> reader = store->open("empty");
  ASSERT_TRUE(reader.ok());
  char c = 0;
  EXPECT_EQ(*(*reader)->read(&c, 1), 0u);
}

TYPED_TEST_P(BucketStoreContract, MissingObjectIsAbsent) {
  auto store = this->open();
  ASSERT_TRUE(store);
  for (const char* path : {"nothing/here.json", "x"}) {
    Result<ObjectInfo> info = store->stat(path);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code, Errc::not_found) << info.error().message;
    EXPECT_NE(info.error().message.find("does not exist"), std::string::npos);
    Result<std::string> body = store->read(path, 10);
    ASSERT_FALSE(body.ok());
    EXPECT_EQ(body.error().code, Errc::not_found) << body.error().message;
    Result<bool> exists = store->exists(path);
    ASSERT_TRUE(exists.ok());
    EXPECT_FALSE(*exists);
  }
  EXPECT_TRUE(this->list_paths(*store, "").empty());
}

TYPED_TEST_P(BucketStoreContract, MissingBucketIsNeverAbsent) {
  auto store = this->open(BucketSettings().in("no-such-bucket"));
  ASSERT_TRUE(store);
  Result<ObjectInfo> info = store->stat("a.json");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::unavailable) << info.error().message;
  EXPECT_NE(info.error().message.find("does not exist"), std::string::npos);
  EXPECT_FALSE(store->exists("a.json").ok());
  Result<std::string> body = store->read("a.json", 10);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().code, Errc::unavailable) << body.error().message;
  Result<void> listed = store->list("", [](const ObjectInfo&) { return true; });
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, Errc::unavailable) << listed.error().message;
}

TYPED_TEST_P(BucketStoreContract, ListingStreamsPageByPage) {
  auto store = this->open();
  ASSERT_TRUE(store);
  const std::vector<std::string> keys = {"a/1", "a/2", "a/b/3", "a0", "b", "c/d/e/f", "c/z", "d"};
  for (const std::string& k : keys) this->put(*store, k, k);
  // Count the requests through a proxy: 8 keys at 3 per page are 3 pages.
  FaultProxy proxy(TypeParam::port());
  auto proxied = this->open(BucketSettings().via(proxy.endpoint()).keys(3));
  EXPECT_EQ(this->list_paths(*proxied, ""), keys);
  EXPECT_EQ(proxy.requests(), 3);
  EXPECT_EQ(this->list_paths(*proxied, "a/"), (std::vector<std::string>{"a/1", "a/2", "a/b/3"}));
  EXPECT_EQ(this->list_paths(*proxied, "a"),
            (std::vector<std::string>{"a/1", "a/2", "a/b/3", "a0"}));
  // Stopping early stops fetching pages.
  const int before = proxy.requests();
  int seen = 0;
  ASSERT_TRUE(proxied->list("", [&](const ObjectInfo&) { return ++seen < 2; }).ok());
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(proxy.requests(), before + 1);
  ObjectInfo first;
  ASSERT_TRUE(store
                  ->list("c/",
                         [&](const ObjectInfo& i) {
                           first = i;
                           return false;
                         })
                  .ok());
  EXPECT_EQ(first.path, "c/d/e/f");
  EXPECT_EQ(first.size, 7u);
  EXPECT_GT(first.mtime_ns, 0);
}

TYPED_TEST_P(BucketStoreContract, ListLevelMergesFoldersAndObjectsInOrderAcrossPages) {
  auto store = this->open(BucketSettings().keys(2));
  ASSERT_TRUE(store);
  for (const std::string k : {"a-b", "a/x", "a/y/z", "a0", "b/c", "b/d", "e"}) {
    this->put(*store, k, k);
  }
  auto level = [&](const std::string& folder) {
    std::vector<std::string> seen;
    Result<void> ok = store->list_level(folder, [&](const ListEntry& e) {
      seen.push_back(e.name + (e.is_folder ? "/" : "") + "=" + e.path);
      if (!e.is_folder) {
        EXPECT_EQ(e.info.size, e.path.size());
      }
      return true;
    });
    EXPECT_TRUE(ok.ok()) << ok.error().message;
    return seen;
  };
  EXPECT_EQ(level(""), (std::vector<std::string>{"a-b=a-b", "a/=a", "a0=a0", "b/=b", "e=e"}));
  EXPECT_EQ(level("a"), (std::vector<std::string>{"x=a/x", "y/=a/y"}));
  EXPECT_TRUE(level("missing").empty());
}

TYPED_TEST_P(BucketStoreContract, KeysWithSpacesUnicodeAndReservedCharacters) {
  auto store = this->open(BucketSettings().at(this->test_prefix() + "/caf\xC3\xA9 root"));
  ASSERT_TRUE(store);
  const std::vector<std::string> keys = {
      "a+b=c&d.txt",
      "per%20cent.txt",
      "quote'\"<>.txt",
      "sp ace/x y.json",
      "tilde~semi;colon:.json",
      "\xC3\xBC"
      "n\xC3\xAF"
      "code \xE2\x9C\x93.json",
  };
  for (const std::string& k : keys) this->put(*store, k, "body of " + k);
  for (const std::string& k : keys) {
    Result<std::string> body = store->read(k, 1000);
    ASSERT_TRUE(body.ok()) << k << ": " << body.error().message;
    EXPECT_EQ(*body, "body of " + k);
    EXPECT_EQ(store->stat(k)->size, k.size() + 8);
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(this->list_paths(*store, ""), sorted);
}

TYPED_TEST_P(BucketStoreContract, ARootPrefixIsAFolderNotAStringPrefix) {
  auto p1 = this->open(BucketSettings().at(this->test_prefix() + "/p1"));
  auto p10 = this->open(BucketSettings().at(this->test_prefix() + "/p10"));
  ASSERT_TRUE(p1 && p10);
  this->put(*p1, "x", "1");
  this->put(*p10, "y", "2");
  EXPECT_EQ(this->list_paths(*p1, ""), std::vector<std::string>{"x"});
  EXPECT_FALSE(*p1->exists("y"));
}

// ---- faults, through the proxy ----------------------------------------------------------------

TYPED_TEST_P(BucketStoreContract, TransientErrorsAreRetried) {
  this->with_proxy();
  auto store = this->via_proxy();
  const std::string body_text = this->kBody;
  for (int status : {503, 500, 429}) {
    this->proxy_->inject(FaultProxy::Fault::status, 3, status);
    const int before = this->proxy_->requests();
    Result<std::string> body = store->read("doc.json", 1000);
    ASSERT_TRUE(body.ok()) << status << ": " << body.error().message;
    EXPECT_EQ(*body, body_text);
    EXPECT_EQ(this->proxy_->requests() - before, 4) << status;
  }
  this->proxy_->inject(FaultProxy::Fault::reset, 2);
  EXPECT_EQ(*store->read("doc.json", 1000), body_text);
  this->proxy_->inject(FaultProxy::Fault::truncate, 2);
  EXPECT_EQ(*store->read("doc.json", 1000), body_text);
  this->proxy_->inject(FaultProxy::Fault::status, 2, 503);
  EXPECT_TRUE(store->stat("doc.json").ok());
  this->proxy_->inject(FaultProxy::Fault::status, 2, 503);
  EXPECT_TRUE(store->write_atomic("again.json", "x").ok());
  this->proxy_->inject(FaultProxy::Fault::status, 2, 503);
  EXPECT_EQ(this->list_paths(*store, "").size(), 2u);
}

TYPED_TEST_P(BucketStoreContract, A503StormIsCouldNotBeEvaluatedNeverAbsent) {
  this->with_proxy();
  auto store = this->via_proxy();
  this->proxy_->inject(FaultProxy::Fault::status, -1, 503);
  Result<ObjectInfo> info = store->stat("doc.json");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::unavailable) << info.error().message;
  EXPECT_NE(info.error().message.find("after 6 attempts"), std::string::npos)
      << info.error().message;
  EXPECT_EQ(this->proxy_->requests(), 6);  // 1 + 5 retries
  // A missing object behind the storm is not "absent" either.
  Result<bool> exists = store->exists("missing.json");
  ASSERT_FALSE(exists.ok());
  EXPECT_EQ(exists.error().code, Errc::unavailable);
  Result<void> listed = store->list("", [](const ObjectInfo&) { return true; });
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, Errc::unavailable);
  Result<void> written = store->write_atomic("m/.failed", "{}");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().code, Errc::unavailable);
}

TYPED_TEST_P(BucketStoreContract, RetryAfterIsWaitedForWithinTheRetryBudget) {
  using namespace std::chrono_literals;
  this->with_proxy();
  auto store = this->via_proxy();  // backoff of 5 to 40 ms: a 1 s wait is Retry-After's
  this->proxy_->set_retry_after(1);
  this->proxy_->inject(FaultProxy::Fault::status, 1, 503);
  auto start = std::chrono::steady_clock::now();
  Result<std::string> body = store->read("doc.json", 1000);
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1s);
  // Asked to wait past the budget (60 s): no verdict now, after one request, not in 2 minutes.
  this->proxy_->set_retry_after(120);
  this->proxy_->inject(FaultProxy::Fault::status, -1, 429);
  const int before = this->proxy_->requests();
  start = std::chrono::steady_clock::now();
  Result<ObjectInfo> info = store->stat("doc.json");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::unavailable);
  EXPECT_NE(info.error().message.find("Retry-After 120 s, past the retry budget"),
            std::string::npos)
      << info.error().message;
  EXPECT_EQ(this->proxy_->requests() - before, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TYPED_TEST_P(BucketStoreContract, OtherClientErrorsAreNotRetried) {
  this->with_proxy();
  auto store = this->via_proxy();
  this->proxy_->inject(FaultProxy::Fault::status, -1, 400);
  Result<std::string> body = store->read("doc.json", 1000);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().code, Errc::io_error) << body.error().message;
  EXPECT_EQ(this->proxy_->requests(), 1);
  this->proxy_->inject(FaultProxy::Fault::status, -1, 403);
  Result<ObjectInfo> info = store->stat("doc.json");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::permission_denied);
  EXPECT_EQ(this->proxy_->requests(), 2);
}

TYPED_TEST_P(BucketStoreContract, TruncatedBodiesAreTransportErrorsNeverShortFiles) {
  this->with_proxy();
  auto store = this->via_proxy();
  this->proxy_->inject(FaultProxy::Fault::truncate, -1);
  Result<std::string> body = store->read("doc.json", 1000);
  ASSERT_FALSE(body.ok()) << "a short file was returned: " << *body;
  EXPECT_EQ(body.error().code, Errc::unavailable) << body.error().message;
  EXPECT_NE(body.error().message.find("transport error"), std::string::npos)
      << body.error().message;
  this->proxy_->inject(FaultProxy::Fault::none, 0);
  Result<std::unique_ptr<Reader>> reader = store->open("doc.json");
  ASSERT_TRUE(reader.ok());
  this->proxy_->inject(FaultProxy::Fault::truncate, -1);
  char buffer[4096];
  Result<std::size_t> n = (*reader)->read(buffer, sizeof buffer);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, Errc::unavailable);
}

TYPED_TEST_P(BucketStoreContract, ResetStormsStallsAndUnreachableEndpointsAreUnavailable) {
  using namespace std::chrono_literals;
  this->with_proxy();
  auto store = this->via_proxy();
  this->proxy_->inject(FaultProxy::Fault::reset, -1);
  Result<ObjectInfo> info = store->stat("doc.json");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::unavailable) << info.error().message;

  auto stalling = this->via_proxy(BucketSettings().retries(1));
  this->proxy_->inject(FaultProxy::Fault::stall, -1);
  const auto start = std::chrono::steady_clock::now();
  Result<std::string> body = stalling->read("doc.json", 1000);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().code, Errc::unavailable) << body.error().message;
  EXPECT_LT(took, 10s);  // two attempts, each cut by the 1 s idle timeout
  EXPECT_GE(took, 1s);

  auto unreachable = this->open(
      BucketSettings().via("http://127.0.0.1:" + std::to_string(free_port())).retries(1));
  Result<bool> exists = unreachable->exists("doc.json");
  ASSERT_FALSE(exists.ok());
  EXPECT_EQ(exists.error().code, Errc::unavailable) << exists.error().message;
  EXPECT_NE(exists.error().message.find("transport error"), std::string::npos);
}

// ---- the driver -------------------------------------------------------------------------------

TYPED_TEST_P(BucketStoreContract, UnreachableEndpointIsExit3WithAClearMessage) {
  using namespace std::chrono_literals;
  const int closed = free_port();
  const auto start = std::chrono::steady_clock::now();
  DriverRun r = this->run("preflight --root " + TypeParam::root("x") +
                              " --scene-id kitchen_001 --consumer training --io-retries 2",
                          "http://127.0.0.1:" + std::to_string(closed));
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("transport error"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(closed)), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("PASS (exit 0)"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
}

// The same empty prefix blocks the preflight (exit 1: nothing to decide on, marker written into
// the bucket) when the bucket answers, and is no verdict (exit 3), with no marker, while it
// answers only 503.
TYPED_TEST_P(BucketStoreContract, A503StormIsExit3NeverMissing) {
  FaultProxy proxy(TypeParam::port());
  proxy.inject(FaultProxy::Fault::status, -1, 503);
  const std::string args = "preflight --root " + TypeParam::root(this->test_prefix()) +
                           " --scene-id kitchen_001 --consumer training --io-retries 1";
  DriverRun r = this->run(args, proxy.endpoint());
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("HTTP 503"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Wrote failure marker"), std::string::npos) << r.out;
  proxy.inject(FaultProxy::Fault::none, 0);
  r = this->run(args, proxy.endpoint());
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("Wrote failure marker scenes/kitchen_001/training/.failed"),
            std::string::npos)
      << r.out;
  Result<std::string> marker = this->open()->read("scenes/kitchen_001/training/.failed", 100000);
  ASSERT_TRUE(marker.ok()) << marker.error().message;
  EXPECT_NE(marker->find("quality_artifacts_missing"), std::string::npos) << *marker;
}

REGISTER_TYPED_TEST_SUITE_P(
    BucketStoreContract, WriteStatReadAndStream, AnObjectReplacedWhileBeingReadIsAnErrorNeverAMix,
    EmptyObjects, MissingObjectIsAbsent, MissingBucketIsNeverAbsent, ListingStreamsPageByPage,
    ListLevelMergesFoldersAndObjectsInOrderAcrossPages, KeysWithSpacesUnicodeAndReservedCharacters,
    ARootPrefixIsAFolderNotAStringPrefix, TransientErrorsAreRetried,
    RetryAfterIsWaitedForWithinTheRetryBudget, A503StormIsCouldNotBeEvaluatedNeverAbsent,
    OtherClientErrorsAreNotRetried, TruncatedBodiesAreTransportErrorsNeverShortFiles,
    ResetStormsStallsAndUnreachableEndpointsAreUnavailable,
    UnreachableEndpointIsExit3WithAClearMessage, A503StormIsExit3NeverMissing);

}  // namespace stagecheck::testing
