#include "s3/sigv4.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "stagecheck/digest.hpp"

namespace stagecheck::s3 {

namespace {

bool is_unreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The raw bytes of a hex string (from hmac_sha256_hex), to chain HMACs with binary keys.
std::string from_hex(std::string_view hex) {
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
  }
  return out;
}

Result<std::string> hmac_raw(std::string_view key, std::string_view data) {
  Result<std::string> hex = hmac_sha256_hex(key, data);
  if (!hex) return std::move(hex).error();
  return from_hex(*hex);
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 0x0f];
    }
  }
  return out;
}

std::string canonical_query(std::vector<std::pair<std::string, std::string>> params) {
  for (auto& [name, value] : params) {
    name = uri_encode(name, false);
    value = uri_encode(value, false);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string signed_headers(const SigningInput& input) {
  std::vector<std::string> names;
  for (const auto& header : input.headers) names.push_back(header.first);
  std::sort(names.begin(), names.end());
  return fmt::format("{}", fmt::join(names, ";"));
}

std::string canonical_request(const SigningInput& input) {
  auto headers = input.headers;
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers;
  for (const auto& [name, value] : headers) canonical_headers += name + ":" + value + "\n";
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", input.method, input.canonical_uri,
                     input.canonical_query, canonical_headers, signed_headers(input),
                     input.payload_hash);
}

Result<std::string> string_to_sign(std::string_view amz_date, std::string_view region,
                                   std::string_view service, std::string_view canonical_request) {
  if (amz_date.size() != 16) {
    return make_error(Errc::invalid_argument,
                      fmt::format("SigV4 date '{}': expected YYYYMMDDTHHMMSSZ", amz_date));
  }
  Result<std::string> hash = digest_hex(DigestAlgorithm::sha256, canonical_request);
  if (!hash) return std::move(hash).error();
  return fmt::format("AWS4-HMAC-SHA256\n{}\n{}/{}/{}/aws4_request\n{}", amz_date,
                     amz_date.substr(0, 8), region, service, *hash);
}

Result<std::string> signature(std::string_view secret_access_key, std::string_view amz_date,
                              std::string_view region, std::string_view service,
                              std::string_view string_to_sign) {
  Result<std::string> key =
      hmac_raw("AWS4" + std::string(secret_access_key), amz_date.substr(0, 8));
  for (const std::string_view part : {region, service, std::string_view("aws4_request")}) {
    if (!key) return std::move(key).error();
    key = hmac_raw(*key, part);
  }
  if (!key) return std::move(key).error();
  return hmac_sha256_hex(*key, string_to_sign);
}

Result<std::string> authorization(const SigningInput& input, std::string_view access_key_id,
                                  std::string_view secret_access_key, std::string_view amz_date,
                                  std::string_view region, std::string_view service) {
  Result<std::string> to_sign = string_to_sign(amz_date, region, service, canonical_request(input));
  if (!to_sign) return std::move(to_sign).error();
  Result<std::string> sig = signature(secret_access_key, amz_date, region, service, *to_sign);
  if (!sig) return std::move(sig).error();
  return fmt::format(
      "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, "
      "Signature={}",
      access_key_id, amz_date.substr(0, 8), region, service, signed_headers(input), *sig);
}

}  // namespace stagecheck::s3
