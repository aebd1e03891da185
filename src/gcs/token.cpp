#include "gcs/token.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stagecheck/local_store.hpp"
#include "text_util.hpp"

extern char** environ;

namespace stagecheck::gcs {

namespace {

using Clock = std::chrono::steady_clock;
using detail::printable;

constexpr const char* kGoogle = "https://storage.googleapis.com";
/// Largest token file read, and longest token accepted.
constexpr std::uint64_t kMaxTokenBytes = 16 * 1024;
/// A token is asked for again this long before it expires.
constexpr std::chrono::seconds kRefreshMargin{300};
/// gcloud prints no lifetime; its tokens live an hour.
constexpr std::chrono::seconds kGcloudLifetime{1800};

std::optional<std::string> env_value(const GcsOptions& options, const std::string& name) {
  if (!options.env) return std::nullopt;
  std::optional<std::string> value = options.env(name);
  if (value && value->empty()) return std::nullopt;  // Set but empty counts as unset.
  return value;
}

std::string trim(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

/// A token goes into a header line: printable ASCII without spaces, and not too long. The
/// message never quotes it.
Result<std::string> checked_token(std::string token, std::string_view from) {
  token = trim(token);
  if (token.empty()) {
    return make_error(Errc::permission_denied, fmt::format("{} gave an empty token", from));
  }
  if (token.size() > kMaxTokenBytes ||
      std::any_of(token.begin(), token.end(), [](char c) { return c <= 0x20 || c >= 0x7f; })) {
    return make_error(Errc::malformed,
                      fmt::format("{} gave a token that is not one line of printable characters "
                                  "({} bytes; not shown)",
                                  from, token.size()));
  }
  return token;
}

/// The absolute path of `name` on `path_list` (PATH), or "" when it is on none.
std::string find_on_path(const std::string& path_list, const std::string& name) {
  std::size_t start = 0;
  while (start <= path_list.size()) {
    std::size_t end = path_list.find(':', start);
    if (end == std::string::npos) end = path_list.size();
    const std::string dir = path_list.substr(start, end - start);
    start = end + 1;
    if (dir.empty() || dir[0] != '/') continue;  // Only absolute folders: never the cwd.
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

}  // namespace

Result<Endpoint> resolve_endpoint(const GcsOptions& options) {
  Endpoint out;
  std::string source = "the endpoint option";
  out.url = options.endpoint;
  if (out.url.empty()) {
    if (std::optional<std::string> host = env_value(options, "STORAGE_EMULATOR_HOST")) {
      out.url = *host;
      out.emulator = true;
      source = "STORAGE_EMULATOR_HOST";
      // The Go and Python clients accept "host:port" as well as a URL.
      if (out.url.find("://") == std::string::npos) out.url = "http://" + out.url;
    }
  }
  if (out.url.empty()) {
    out.url = kGoogle;
    return out;
  }
  while (!out.url.empty() && out.url.back() == '/') out.url.pop_back();
  const bool http = out.url.rfind("http://", 0) == 0;
  const bool https = out.url.rfind("https://", 0) == 0;
  const std::size_t host_start = http ? 7 : 8;
  if ((!http && !https) || out.url.size() <= host_start ||
      out.url.find_first_of("?# \t\r\n@") != std::string::npos) {
    return make_error(Errc::invalid_argument,
                      fmt::format("GCS endpoint '{}' (from {}): expected http://HOST[:PORT] or "
                                  "https://HOST[:PORT], without credentials, query or spaces",
                                  printable(out.url, 200), source));
  }
  return out;
}

Result<std::string> run_gcloud(const std::string& gcloud, std::chrono::seconds timeout) {
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return make_error(Errc::io_error,
                      fmt::format("cannot run gcloud: pipe: {}", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::string arg0 = "gcloud", arg1 = "auth", arg2 = "print-access-token";
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
  // A process group of its own: gcloud is a script that starts Python, and a timeout must end
  // both, not leave the interpreter behind.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, gcloud.c_str(), &actions, &attributes, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawned != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return make_error(Errc::permission_denied,
                      fmt::format("gcloud ('{}') could not be started: {}", printable(gcloud, 300),
                                  std::strerror(spawned)));
  }
  std::string out, err;
  bool out_open = true, err_open = true, timed_out = false;
  const Clock::time_point deadline = Clock::now() + timeout;
  while (out_open || err_open) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    char buffer[4096];
    for (int i = 0; i < 2; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      std::string& into = i == 0 ? out : err;
      if (n > 0 && into.size() < kMaxTokenBytes * 2)
        into.append(buffer, static_cast<std::size_t>(n));
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        (i == 0 ? out_open : err_open) = false;
    }
  }
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  if (timed_out) ::kill(-pid, SIGKILL);  // The group of our own child, by its pid.
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return make_error(Errc::unavailable,
                      fmt::format("gcloud auth print-access-token did not finish within {} s "
                                  "(killed)",
                                  timeout.count()));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // The last line of stderr says why ("You do not currently have an active account").
    const std::string text = trim(err);
    const std::size_t newline = text.rfind('\n');
    const std::string last = newline == std::string::npos ? text : text.substr(newline + 1);
    return make_error(
        Errc::permission_denied,
        fmt::format("gcloud auth print-access-token {}{}",
                    WIFEXITED(status) ? fmt::format("exited with {}", WEXITSTATUS(status))
                                      : std::string("was killed by a signal"),
                    last.empty() ? std::string() : ": " + printable(last, 300)));
  }
  Result<std::string> token = checked_token(out, "gcloud auth print-access-token");
  std::fill(out.begin(), out.end(), '\0');
  return token;
}

Result<std::unique_ptr<TokenProvider>> TokenProvider::create(const GcsOptions& options,
                                                             bool emulator) {
  auto provider = std::unique_ptr<TokenProvider>(new TokenProvider());
  provider->options_ = options;
  provider->options_.access_token.clear();
  TokenProvider& p = *provider;
  auto fixed = [&](Result<std::string> token, std::string source) -> Result<void> {
    if (!token) return std::move(token).error();
    p.token_ = std::move(*token);
    p.source_ = std::move(source);
    p.fixed_ = true;
    return {};
  };
  // 1. The option, else the environment variable.
  if (!options.access_token.empty()) {
    if (Result<void> ok = fixed(checked_token(options.access_token, "the access token option"),
                                "the access token option");
        !ok) {
      return std::move(ok).error();
    }
    return provider;
  }
  if (std::optional<std::string> value = env_value(options, "GOOGLE_OAUTH_ACCESS_TOKEN")) {
    if (Result<void> ok = fixed(checked_token(*value, "GOOGLE_OAUTH_ACCESS_TOKEN"),
                                "the token in GOOGLE_OAUTH_ACCESS_TOKEN");
        !ok) {
      return std::move(ok).error();
    }
    return provider;
  }
  // 2. A token file, from the option or the environment: named, so it must be readable.
  std::filesystem::path file = options.token_file;
  std::string file_from = "the token file option";
  if (file.empty()) {
    if (std::optional<std::string> value = env_value(options, "GOOGLE_OAUTH_ACCESS_TOKEN_FILE")) {
      file = *value;
      file_from = "GOOGLE_OAUTH_ACCESS_TOKEN_FILE";
    }
  }
  if (!file.empty()) {
    const std::string shown =
        fmt::format("the token file '{}' (from {})", printable(file.string(), 300), file_from);
    Result<std::string> text = read_local_file(file, kMaxTokenBytes);
    if (!text) {
      Error error = std::move(text).error();
      error.message = fmt::format("cannot read {}: {}", shown, error.message);
      return error;
    }
    Result<void> ok = fixed(checked_token(std::move(*text), shown), shown);
    if (!ok) return std::move(ok).error();
    return provider;
  }
  p.tried_ = fmt::format(
      "the access token option (none given), GOOGLE_OAUTH_ACCESS_TOKEN ({}), a token file "
      "(none named by the option or GOOGLE_OAUTH_ACCESS_TOKEN_FILE)",
      options.env ? "not set" : "the environment is not read");
  if (emulator || options.anonymous) {
    p.source_ =
        emulator ? "no token (STORAGE_EMULATOR_HOST names a test server)" : "no token (anonymous)";
    p.fixed_ = true;
    return provider;
  }
  // 3. gcloud, if it is on PATH.
  if (std::optional<std::string> path = env_value(options, "PATH")) {
    p.gcloud_ = find_on_path(*path, "gcloud");
  }
  // 4. The metadata server: named, or this is GCE; never probed otherwise.
  if (std::optional<std::string> host = env_value(options, "GCE_METADATA_HOST")) {
    p.metadata_host_ = *host;
    if (p.metadata_host_.rfind("http://", 0) == 0) p.metadata_host_.erase(0, 7);
    while (!p.metadata_host_.empty() && p.metadata_host_.back() == '/') p.metadata_host_.pop_back();
    p.metadata_why_ = fmt::format("the metadata server at {} (GCE_METADATA_HOST)",
                                  printable(p.metadata_host_, 200));
    if (p.metadata_host_.empty() ||
        p.metadata_host_.find_first_of("/?#@ \t\r\n") != std::string::npos) {
      return make_error(
          Errc::invalid_argument,
          fmt::format("GCE_METADATA_HOST '{}': expected HOST[:PORT]", printable(*host, 200)));
    }
  } else {
    Result<std::string> product = read_local_file(options.dmi_product_name, 4096);
    if (product && product->find("Google") != std::string::npos) {
      p.metadata_host_ = options.metadata_host;
      p.metadata_why_ =
          fmt::format("the metadata server at {} (this machine is {})",
                      printable(p.metadata_host_, 200), printable(trim(*product), 100));
    } else {
      p.metadata_why_ =
          "the metadata server (not asked: GCE_METADATA_HOST is not set and this machine does "
          "not say it is Google Compute Engine)";
    }
  }
  if (p.gcloud_.empty() && p.metadata_host_.empty()) {
    return make_error(Errc::permission_denied,
                      fmt::format("no GCS access token: tried {}, gcloud (not on PATH), and {}",
                                  p.tried_, p.metadata_why_));
  }
  p.source_ =
      p.gcloud_.empty() ? p.metadata_why_ : fmt::format("gcloud ('{}')", printable(p.gcloud_, 300));
  return provider;
}

TokenProvider::~TokenProvider() { std::fill(token_.begin(), token_.end(), '\0'); }

std::string TokenProvider::source() const {
  std::lock_guard lock(mutex_);
  return source_;
}

unsigned TokenProvider::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

bool TokenProvider::invalidate(unsigned generation) const {
  std::lock_guard lock(mutex_);
  if (fixed_ || failure_) return false;
  if (generation == generation_) {
    std::fill(token_.begin(), token_.end(), '\0');
    token_.clear();
  }
  return true;
}

Result<std::string> TokenProvider::token() const {
  std::lock_guard lock(mutex_);
  if (fixed_) return token_;
  if (failure_) return *failure_;
  if (!token_.empty() && Clock::now() + kRefreshMargin < expires_) return token_;
  std::string failures;
  Errc code = Errc::permission_denied;
  if (!gcloud_.empty()) {
    Result<std::string> token = run_gcloud(gcloud_, options_.gcloud_timeout);
    if (token) {
      token_ = std::move(*token);
      ++generation_;
      source_ = fmt::format("gcloud ('{}')", printable(gcloud_, 300));
      expires_ = Clock::now() + kGcloudLifetime;
      return token_;
    }
    failures = fmt::format("gcloud ('{}': {})", printable(gcloud_, 300), token.error().message);
    if (token.error().code == Errc::unavailable) code = Errc::unavailable;
  } else {
    failures = "gcloud (not on PATH)";
  }
  if (!metadata_host_.empty()) {
    std::chrono::seconds lifetime{0};
    Result<std::string> token = fetch_metadata(lifetime);
    if (token) {
      token_ = std::move(*token);
      ++generation_;
      source_ = metadata_why_;
      expires_ = Clock::now() + lifetime;
      return token_;
    }
    failures += fmt::format(", and {}: {}", metadata_why_, token.error().message);
    if (token.error().code == Errc::unavailable) code = Errc::unavailable;
  } else {
    failures += ", and " + metadata_why_;
  }
  token_.clear();
  failure_ = make_error(code, fmt::format("no GCS access token: tried {}, {}", tried_, failures));
  return *failure_;
}

Result<std::string> TokenProvider::fetch_metadata(std::chrono::seconds& lifetime) const {
  http::ClientSettings settings;
  settings.endpoint_shown = "http://" + metadata_host_;
  settings.io_concurrency = 1;
  settings.connect_timeout = std::min(options_.connect_timeout, std::chrono::milliseconds(5000));
  settings.idle_timeout = std::min(options_.idle_timeout, std::chrono::seconds(10));
  settings.retry = options_.retry;
  settings.retry.max_retries = std::min(settings.retry.max_retries, 3u);
  http::HttpClient client(std::move(settings), nullptr);
  http::HttpRequest request;
  request.url = fmt::format("http://{}/computeMetadata/v1/instance/service-accounts/default/token",
                            metadata_host_);
  request.headers.push_back("Metadata-Flavor: Google");
  request.max_body = kMaxTokenBytes * 4;
  Result<http::HttpResponse> response = client.perform(request, "the metadata server's token");
  if (!response) return std::move(response).error();
  if (response->status != 200) {
    return make_error(Errc::permission_denied,
                      fmt::format("HTTP {}", response->status));  // The body may echo secrets.
  }
  nlohmann::json doc = nlohmann::json::parse(response->body, nullptr, false);
  std::fill(response->body.begin(), response->body.end(), '\0');
  if (!doc.is_object() || !doc.contains("access_token") || !doc["access_token"].is_string()) {
    return make_error(Errc::malformed, "the answer has no access_token string");
  }
  const auto expires_in = doc.value("expires_in", nlohmann::json());
  lifetime =
      std::chrono::seconds(expires_in.is_number_integer() ? expires_in.get<std::int64_t>() : 300);
  Result<std::string> token =
      checked_token(doc["access_token"].get<std::string>(), "the metadata server");
  doc = nullptr;
  return token;
}

}  // namespace stagecheck::gcs
