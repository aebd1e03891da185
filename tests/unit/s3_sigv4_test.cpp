// SigV4: the steps stagecheck does itself (encoding, canonical query) and the reference signer,
// against the published AWS test-suite vectors (tests/fixtures/sigv4/vectors.json); then
// curl 7.88's own signing, captured on loopback, against the same vectors and against the
// reference signer for an S3 request as the store sends it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "s3/config.hpp"
#include "s3/s3_client.hpp"
#include "s3/sigv4.hpp"
#include "stagecheck/digest.hpp"
#include "stagecheck_test_support.hpp"

namespace stagecheck::s3 {
namespace {

using nlohmann::json;

json vectors() {
  std::ifstream in(std::string(STAGECHECK_SOURCE_DIR) + "/tests/fixtures/sigv4/vectors.json");
  return json::parse(in);
}

constexpr const char* kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A loopback HTTP server that answers every request 200 and keeps each request's head.
class CaptureServer {
 public:
  CaptureServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 8);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int c = ::accept(fd_, nullptr, nullptr);
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos) {
          const ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          head.append(buf, static_cast<std::size_t>(n));
        }
        {
          std::lock_guard lock(mutex_);
          heads_.push_back(head);
        }
        const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        ::send(c, ok.data(), ok.size(), MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~CaptureServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  /// The value of `name` in the last request ("" if absent).
  std::string last_header(const std::string& name) {
    std::lock_guard lock(mutex_);
    if (heads_.empty()) return "";
    const std::string& head = heads_.back();
    std::size_t at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    at += name.size() + 4;
    return head.substr(at, head.find("\r\n", at) - at);
  }
  std::string last_head() {
    std::lock_guard lock(mutex_);
    return heads_.empty() ? "" : heads_.back();
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> heads_;
};

TEST(SigV4, UriEncodeKeepsUnreservedAndSlashesOnlyInPaths) {
  EXPECT_EQ(uri_encode("a-b_c.d~e/F 9", true), "a-b_c.d~e/F%209");
  EXPECT_EQ(uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(uri_encode("k=v&x+y%", true), "k%3Dv%26x%2By%25");
  EXPECT_EQ(uri_encode("\xC3\xA9", true), "%C3%A9");  // é, upper-case hex
}

TEST(SigV4, CanonicalQuerySortsEncodesAndKeepsEmptyValues) {
  EXPECT_EQ(canonical_query({{"Param2", "value2"}, {"Param1", "value1"}}),
            "Param1=value1&Param2=value2");
  EXPECT_EQ(canonical_query({{"prefix", "runs/r 1/"}, {"list-type", "2"}, {"location", ""}}),
            "list-type=2&location=&prefix=runs%2Fr%201%2F");
  EXPECT_EQ(canonical_query({{"continuation-token", "a+b/c="}}), "continuation-token=a%2Bb%2Fc%3D");
}

TEST(SigV4, ReferenceSignerReproducesThePublishedVectors) {
  const json v = vectors();
  const std::string date = v["amz_date"], region = v["region"], service = v["service"];
  const std::string key = v["credentials"]["access_key_id"];
  const std::string secret = v["credentials"]["secret_access_key"];
  for (const json& c : v["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    SigningInput input;
    input.method = "GET";
    input.canonical_uri = "/";
    input.canonical_query = c["name"] == "get-vanilla-query-order-key-case"
                                ? canonical_query({{"Param2", "value2"}, {"Param1", "value1"}})
                                : "";
    if (c.contains("canonical_query")) {
      EXPECT_EQ(input.canonical_query, c["canonical_query"]);
    }
    input.headers = {{"host", "example.amazonaws.com"}, {"x-amz-date", date}};
    input.payload_hash = kEmptyHash;
    if (c.contains("canonical_request")) {
      EXPECT_EQ(canonical_request(input), c["canonical_request"]);
    }
    Result<std::string> to_sign = string_to_sign(date, region, service, canonical_request(input));
    ASSERT_TRUE(to_sign.ok());
    if (c.contains("string_to_sign")) {
      EXPECT_EQ(*to_sign, c["string_to_sign"]);
    }
    Result<std::string> sig = signature(secret, date, region, service, *to_sign);
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(*sig, c["signature"]);
    if (c.contains("authorization")) {
      Result<std::string> auth = authorization(input, key, secret, date, region, service);
      ASSERT_TRUE(auth.ok());
      EXPECT_EQ(*auth, c["authorization"]);
    }
  }
}

// curl 7.88 takes the date from a caller-supplied X-Amz-Date header instead of the clock, and
// signs a caller-supplied Host header, so the vectors can be replayed through curl itself.
TEST(SigV4, Curl788SignsThePublishedVectorsIdentically) {
  const json v = vectors();
  const std::string date = v["amz_date"];
  const std::string userpwd = v["credentials"]["access_key_id"].get<std::string>() + ":" +
                              v["credentials"]["secret_access_key"].get<std::string>();
  const std::string sigv4 =
      "aws:amz:" + v["region"].get<std::string>() + ":" + v["service"].get<std::string>();
  CaptureServer server;
  for (const json& c : v["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    // The query goes out in canonical form: curl 7.88 signs it verbatim.
    const std::string query =
        c["name"] == "get-vanilla-query-order-key-case"
            ? "?" + canonical_query({{"Param2", "value2"}, {"Param1", "value1"}})
            : "";
    const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/" + query;
    CURL* curl = curl_easy_init();
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, ("X-Amz-Date: " + date).c_str());
    headers = curl_slist_append(headers, "Host: example.amazonaws.com");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    const std::string auth = server.last_header("Authorization");
    EXPECT_NE(auth.find("Signature=" + c["signature"].get<std::string>()), std::string::npos)
        << auth;
    if (c.contains("authorization")) {
      EXPECT_EQ(auth, c["authorization"]);
    }
  }
}

// The store's own request path (make_client(): x-amz-content-sha256, encoded key, canonical query)
// produces exactly the Authorization header the reference signer computes for it.
TEST(SigV4, StoreRequestsAreSignedAsTheReferenceSignerSays) {
  CaptureServer server;
  ResolvedConfig config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.region = "eu-west-3";
  config.access_key_id = "AKIDEXAMPLE";
  config.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  S3Options options;
  options.retry.max_retries = 0;
  std::unique_ptr<http::HttpClient> client = make_client(config, options);
  const std::string key = uri_encode("runs/r 1/\xE2\x9C\x93 a+b=c.json", true);
  const std::string query = canonical_query({{"list-type", "2"}, {"prefix", "runs/r 1/"}});
  http::HttpRequest request;
  request.url = config.endpoint + "/bucket/" + key + "?" + query;
  request.headers.push_back("X-Amz-Date: 20261122T101500Z");
  Result<http::HttpResponse> response = client->perform(request, "capture");
  ASSERT_TRUE(response.ok()) << response.error().message;

  SigningInput input;
  input.method = "GET";
  input.canonical_uri = "/bucket/" + key;
  input.canonical_query = query;
  input.payload_hash = kEmptyHash;
  input.headers = {{"host", "127.0.0.1:" + std::to_string(server.port())},
                   {"x-amz-content-sha256", kEmptyHash},
                   {"x-amz-date", "20261122T101500Z"}};
  Result<std::string> expected =
      authorization(input, config.access_key_id, config.secret_access_key, "20261122T101500Z",
                    config.region, "s3");
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(server.last_header("Authorization"), *expected) << server.last_head();
  EXPECT_EQ(server.last_header("x-amz-content-sha256"), kEmptyHash);
  EXPECT_EQ(server.last_head().find(config.secret_access_key), std::string::npos);

  // A PUT hashes its body.
  http::HttpRequest put;
  put.method = http::HttpRequest::Method::put;
  put.url = config.endpoint + "/bucket/" + key;
  put.body = "{\"status\": \"failed\"}\n";
  put.headers.push_back("X-Amz-Date: 20261122T101500Z");
  ASSERT_TRUE(client->perform(put, "capture").ok());
  Result<std::string> body_hash = digest_hex(DigestAlgorithm::sha256, put.body);
  ASSERT_TRUE(body_hash.ok());
  EXPECT_EQ(server.last_header("x-amz-content-sha256"), *body_hash);
  input.method = "PUT";
  input.canonical_query = "";
  input.payload_hash = *body_hash;
  input.headers = {{"content-type", "application/octet-stream"},
                   {"host", "127.0.0.1:" + std::to_string(server.port())},
                   {"x-amz-content-sha256", *body_hash},
                   {"x-amz-date", "20261122T101500Z"}};
  expected = authorization(input, config.access_key_id, config.secret_access_key,
                           "20261122T101500Z", config.region, "s3");
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(server.last_header("Authorization"), *expected) << server.last_head();
}

TEST(SigV4, SessionTokensAreSentAndSigned) {
  CaptureServer server;
  ResolvedConfig config;
  config.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  config.region = "us-east-1";
  config.access_key_id = "ASIAEXAMPLE";
  config.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  config.session_token = "FwoGZXIvYXdzEXAMPLE//token+with/specials=";
  S3Options options;
  std::unique_ptr<http::HttpClient> client = make_client(config, options);
  http::HttpRequest request;
  request.url = config.endpoint + "/bucket/key";
  request.headers.push_back("X-Amz-Date: 20261122T101500Z");
  ASSERT_TRUE(client->perform(request, "capture").ok());
  EXPECT_EQ(server.last_header("x-amz-security-token"), config.session_token);
  SigningInput input;
  input.method = "GET";
  input.canonical_uri = "/bucket/key";
  input.payload_hash = kEmptyHash;
  input.headers = {{"host", "127.0.0.1:" + std::to_string(server.port())},
                   {"x-amz-content-sha256", kEmptyHash},
                   {"x-amz-date", "20261122T101500Z"},
                   {"x-amz-security-token", config.session_token}};
  Result<std::string> expected =
      authorization(input, config.access_key_id, config.secret_access_key, "20261122T101500Z",
                    config.region, "s3");
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(server.last_header("Authorization"), *expected) << server.last_head();
}

}  // namespace
}  // namespace stagecheck::s3
