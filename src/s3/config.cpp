#include "s3/config.hpp"

#include <optional>

#include <fmt/format.h>

#include "stagecheck/local_store.hpp"
#include "text_util.hpp"

namespace stagecheck::s3 {

namespace {

using detail::printable;

/// Largest credentials or config file read.
constexpr std::uint64_t kMaxIniBytes = 1 << 20;

std::string_view trim(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

std::optional<std::string> env_value(const S3Options& options, const std::string& name) {
  if (!options.env) return std::nullopt;
  std::optional<std::string> value = options.env(name);
  if (value && value->empty())
    return std::nullopt;  // Set but empty counts as unset, as in the CLI.
  return value;
}

/// A file named by the options, else by `env_name`, else `~/.aws/<name>` (nullopt if HOME is
/// unknown too). `source` says which, for messages.
std::optional<std::filesystem::path> aws_file(const S3Options& options,
                                              const std::filesystem::path& explicit_path,
                                              const std::string& env_name, const char* name,
                                              std::string& source) {
  if (!explicit_path.empty()) {
    source = "option";
    return explicit_path;
  }
  if (std::optional<std::string> value = env_value(options, env_name)) {
    source = env_name;
    return std::filesystem::path(*value);
  }
  if (std::optional<std::string> home = env_value(options, "HOME")) {
    source = "default";
    return std::filesystem::path(*home) / ".aws" / name;
  }
  return std::nullopt;
}

/// Reads and parses an INI file; nullopt if it does not exist and was not named explicitly.
Result<std::optional<IniFile>> load_ini(const std::filesystem::path& path, bool must_exist,
                                        const char* what) {
  const std::string shown = fmt::format("{} '{}'", what, printable(path.string()));
  Result<std::string> text = read_local_file(path, kMaxIniBytes);
  if (!text) {
    if (text.error().code == Errc::not_found && !must_exist) return std::optional<IniFile>();
    Error error = std::move(text).error();
    error.message = fmt::format("cannot read the {}: {}", shown, error.message);
    return error;
  }
  Result<IniFile> parsed = parse_ini(*text, shown);
  if (!parsed) return std::move(parsed).error();
  return std::optional<IniFile>(std::move(*parsed));
}

Result<std::string> resolve_endpoint(const S3Options& options) {
  std::string endpoint = options.endpoint;
  std::string source = "the endpoint option";
  for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
    if (!endpoint.empty()) break;
    if (std::optional<std::string> value = env_value(options, name)) {
      endpoint = *value;
      source = name;
    }
  }
  if (endpoint.empty()) return std::string();
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const bool http = endpoint.rfind("http://", 0) == 0;
  const bool https = endpoint.rfind("https://", 0) == 0;
  const std::size_t host_start = http ? 7 : 8;
  if ((!http && !https) || endpoint.size() <= host_start ||
      endpoint.find_first_of("?# \t\r\n") != std::string::npos ||
      endpoint.find('@') != std::string::npos) {
    return make_error(Errc::invalid_argument,
                      fmt::format("S3 endpoint '{}' (from {}): expected http://HOST[:PORT] or "
                                  "https://HOST[:PORT], without credentials, query or spaces",
                                  printable(endpoint, 200), source));
  }
  return endpoint;
}

}  // namespace

Result<IniFile> parse_ini(std::string_view text, std::string_view shown) {
  IniFile ini;
  std::string section;
  bool in_section = false;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string_view line = trim(
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    ++line_number;
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3) {
        return make_error(
            Errc::malformed,
            fmt::format("{} line {}: a section header must be [name]", shown, line_number));
      }
      section = std::string(trim(line.substr(1, line.size() - 2)));
      ini[section];
      in_section = true;
      continue;
    }
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos || !in_section) {
      // The line is not quoted: it may be a secret that lost its key.
      return make_error(
          Errc::malformed,
          fmt::format("{} line {}: expected 'key = value' inside a [section]", shown, line_number));
    }
    // Indented lines continue a nested block (e.g. `s3 =` sub-settings in the config file);
    // they are kept as keys of their own, which the lookups below never ask for.
    ini[section][std::string(trim(line.substr(0, eq)))] = std::string(trim(line.substr(eq + 1)));
  }
  return ini;
}

Result<ResolvedConfig> resolve_config(const S3Options& options) {
  ResolvedConfig out;
  Result<std::string> endpoint = resolve_endpoint(options);
  if (!endpoint) return std::move(endpoint).error();
  out.endpoint = std::move(*endpoint);

  std::string profile = options.profile;
  if (profile.empty()) profile = env_value(options, "AWS_PROFILE").value_or("default");

  // Region: option, environment, the profile's config section, us-east-1.
  out.region = options.region;
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (!out.region.empty()) break;
    out.region = env_value(options, name).value_or("");
  }
  if (out.region.empty()) {
    std::string source;
    if (std::optional<std::filesystem::path> path =
            aws_file(options, options.config_file, "AWS_CONFIG_FILE", "config", source)) {
      Result<std::optional<IniFile>> ini = load_ini(*path, source != "default", "AWS config file");
      if (!ini) return std::move(ini).error();
      if (*ini) {
        const std::string section = profile == "default" ? profile : "profile " + profile;
        if (auto it = (**ini).find(section); it != (**ini).end()) {
          if (auto value = it->second.find("region"); value != it->second.end()) {
            out.region = value->second;
          }
        }
      }
    }
  }
  if (out.region.empty()) out.region = "us-east-1";
  if (out.region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
    return make_error(
        Errc::invalid_argument,
        fmt::format("S3 region '{}': expected letters, digits and '-'", printable(out.region, 64)));
  }

  // Credentials: options, environment, shared credentials file.
  if (!options.access_key_id.empty() || !options.secret_access_key.empty()) {
    if (options.access_key_id.empty() || options.secret_access_key.empty()) {
      return make_error(Errc::invalid_argument,
                        "S3 credentials from the options: an access key id needs its secret "
                        "access key and the other way round");
    }
    out.access_key_id = options.access_key_id;
    out.secret_access_key = options.secret_access_key;
    out.session_token = options.session_token;
    out.credential_source = "credentials from the options";
    return out;
  }
  const std::optional<std::string> env_key = env_value(options, "AWS_ACCESS_KEY_ID");
  const std::optional<std::string> env_secret = env_value(options, "AWS_SECRET_ACCESS_KEY");
  if (env_key || env_secret) {
    if (!env_key || !env_secret) {
      return make_error(Errc::invalid_argument,
                        fmt::format("S3 credentials from the environment: {} is set but {} is not",
                                    env_key ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                                    env_key ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID"));
    }
    out.access_key_id = *env_key;
    out.secret_access_key = *env_secret;
    out.session_token = env_value(options, "AWS_SESSION_TOKEN").value_or("");
    out.credential_source = "credentials from the environment (AWS_ACCESS_KEY_ID)";
    return out;
  }
  std::string source;
  const std::optional<std::filesystem::path> path = aws_file(
      options, options.credentials_file, "AWS_SHARED_CREDENTIALS_FILE", "credentials", source);
  const std::string tried_env =
      options.env ? "the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set)"
                  : "no environment (not enabled)";
  if (!path) {
    return make_error(Errc::permission_denied,
                      fmt::format("no S3 credentials: tried the options (none given), {}, and no "
                                  "shared credentials file (none named, HOME unknown)",
                                  tried_env));
  }
  const std::string shown_file = fmt::format("'{}'", printable(path->string()));
  Result<std::optional<IniFile>> ini =
      load_ini(*path, source != "default", "shared credentials file");
  if (!ini) return std::move(ini).error();
  if (!*ini) {
    return make_error(Errc::permission_denied,
                      fmt::format("no S3 credentials: tried the options (none given), {}, and the "
                                  "shared credentials file {} (does not exist)",
                                  tried_env, shown_file));
  }
  const auto section = (**ini).find(profile);
  if (section == (**ini).end()) {
    return make_error(Errc::invalid_argument,
                      fmt::format("no S3 credentials: the shared credentials file {} has no "
                                  "profile [{}]",
                                  shown_file, printable(profile, 100)));
  }
  const auto& keys = section->second;
  const auto key = keys.find("aws_access_key_id");
  const auto secret = keys.find("aws_secret_access_key");
  if (key == keys.end() || secret == keys.end() || key->second.empty() || secret->second.empty()) {
    return make_error(Errc::malformed,
                      fmt::format("S3 credentials: profile [{}] of the shared credentials file {} "
                                  "needs aws_access_key_id and aws_secret_access_key",
                                  printable(profile, 100), shown_file));
  }
  out.access_key_id = key->second;
  out.secret_access_key = secret->second;
  if (const auto token = keys.find("aws_session_token"); token != keys.end()) {
    out.session_token = token->second;
  }
  out.credential_source = fmt::format(
      "credentials from profile [{}] of the shared credentials "
      "file {}",
      printable(profile, 100), shown_file);
  return out;
}

}  // namespace stagecheck::s3
