#pragma once
// Internal: resolving an S3 store's endpoint, region and credentials from S3Options and the
// environment (see S3Options for the order), and the INI files of the AWS CLI.

#include <map>
#include <string>
#include <string_view>

#include "stagecheck/result.hpp"
#include "stagecheck/s3_store.hpp"

namespace stagecheck::s3 {

/// What a store connects with. Holds secrets: never format this into a message.
struct ResolvedConfig {
  std::string endpoint;  ///< "http(s)://host[:port][/path]" without a trailing '/'; empty: AWS.
  std::string region;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string credential_source;  ///< Where the credentials came from, for messages.
};

/// Sections of an INI file, each a map of keys to values (both trimmed).
using IniFile = std::map<std::string, std::map<std::string, std::string>>;

/// Parses the AWS CLI's INI format ('#'/';' comments, [section], key = value). Errc::malformed
/// names `shown` and the line number, never the line (it may hold a secret).
Result<IniFile> parse_ini(std::string_view text, std::string_view shown);

/// Resolves `options` (S3Options documents the sources and their order).
Result<ResolvedConfig> resolve_config(const S3Options& options);

}  // namespace stagecheck::s3
