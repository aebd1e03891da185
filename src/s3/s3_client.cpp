#include "s3/s3_client.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "s3/list_xml.hpp"
#include "stagecheck/digest.hpp"

namespace stagecheck::s3 {

namespace {

/// hex SHA-256 of the empty string: the payload hash of GET, HEAD and list requests.
constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

class SigV4Authenticator final : public http::Authenticator {
 public:
  explicit SigV4Authenticator(const ResolvedConfig& config)
      : sigv4_(fmt::format("aws:amz:{}:s3", config.region)), session_token_(config.session_token) {
    if (!config.access_key_id.empty()) {
      userpwd_ = config.access_key_id + ":" + config.secret_access_key;
    }
  }
  ~SigV4Authenticator() override {
    // Scrub the copy of the secret that curl was given.
    std::fill(userpwd_.begin(), userpwd_.end(), '\0');
  }

  Result<void> prepare(CURL* handle, const http::HttpRequest& request,
                       std::vector<std::string>& headers) const override {
    std::string payload_hash = kEmptySha256;
    if (request.method == http::HttpRequest::Method::put ||
        request.method == http::HttpRequest::Method::post) {
      Result<std::string> hash = digest_hex(DigestAlgorithm::sha256, request.body);
      if (!hash) return std::move(hash).error();
      payload_hash = *hash;
    }
    // curl 7.88 signs this header and uses its value as the payload hash, but never adds it.
    headers.push_back("x-amz-content-sha256: " + payload_hash);
    if (!session_token_.empty()) headers.push_back("x-amz-security-token: " + session_token_);
    // No "Expect:" line to suppress 100-continue: curl 7.88 would sign the empty header it
    // never sends, and S3 would refuse the signature
    // (SigV4.StoreRequestsAreSignedAsTheReferenceSignerSays).
    if (!userpwd_.empty()) {
      curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, sigv4_.c_str());
      curl_easy_setopt(handle, CURLOPT_USERPWD, userpwd_.c_str());
    }
    return {};
  }

 private:
  std::string sigv4_;  ///< "aws:amz:REGION:s3".
  std::string session_token_;
  std::string userpwd_;  ///< "KEY:SECRET" for curl; empty for unsigned requests.
};

}  // namespace

std::unique_ptr<http::HttpClient> make_client(const ResolvedConfig& config,
                                              const S3Options& options) {
  http::ClientSettings settings;
  settings.endpoint_shown =
      config.endpoint.empty() ? std::string("the AWS S3 endpoint") : config.endpoint;
  settings.io_concurrency = options.io_concurrency;
  settings.connect_timeout = options.connect_timeout;
  settings.idle_timeout = options.idle_timeout;
  settings.retry = options.retry;
  settings.error_code = [](std::string_view body) { return parse_error_document(body).code; };
  return std::make_unique<http::HttpClient>(std::move(settings),
                                            std::make_unique<SigV4Authenticator>(config));
}

}  // namespace stagecheck::s3
