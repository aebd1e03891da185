#include "stage_actions.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <mutex>
#include <thread>

#include <curl/curl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "text_util.hpp"

extern char** environ;

namespace stagecheck {

namespace {

// Process groups of running command triggers, for kill_running_triggers() (async-signal-safe:
// fixed slots of lock-free atomics, no allocation).
constexpr std::size_t kMaxGroups = 64;
std::atomic<pid_t> g_groups[kMaxGroups];

std::size_t remember_group(pid_t pgid) {
  for (std::size_t i = 0; i < kMaxGroups; ++i) {
    pid_t expected = 0;
    if (g_groups[i].compare_exchange_strong(expected, pgid)) return i;
  }
  return kMaxGroups;  // not tracked: still killed at its timeout and on interruption
}

void forget_group(std::size_t slot) {
  if (slot < kMaxGroups) g_groups[slot].store(0);
}

}  // namespace

void kill_running_triggers() noexcept {
  for (auto& g : g_groups) {
    pid_t pgid = g.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
}

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string format_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

// Keeps the last `cap` bytes of a stream.
class Tail {
 public:
  explicit Tail(std::size_t cap) : cap_(cap) {}
  void append(const char* data, std::size_t n) {
    total_ += n;
    text_.append(data, n);
    if (text_.size() > 2 * cap_) text_.erase(0, text_.size() - cap_);
  }
  // The kept bytes, control characters escaped except line breaks and tabs.
  std::string text() const {
    std::string_view t = text_;
    if (t.size() > cap_) t.remove_prefix(t.size() - cap_);
    std::string out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= t.size(); ++i) {
      if (i == t.size() || t[i] == '\n' || t[i] == '\t') {
        out += detail::printable(t.substr(start, i - start));
        if (i < t.size()) out.push_back(t[i]);
        start = i + 1;
      }
    }
    return out;
  }
  // The last line that is not blank.
  std::string last_line() const {
    std::string t = text();
    std::size_t end = t.find_last_not_of(" \t\n");
    if (end == std::string::npos) return "";
    std::size_t begin = t.rfind('\n', end);
    return detail::printable(t.substr(begin == std::string::npos ? 0 : begin + 1,
                                      end + 1 - (begin == std::string::npos ? 0 : begin + 1)),
                             300);
  }
  std::uint64_t total() const { return total_; }

 private:
  std::size_t cap_;
  std::string text_;
  std::uint64_t total_ = 0;
};

constexpr std::size_t kOutputTail = 4096;

// A template as the report shows it: secret variables as ***.
std::string redacted(std::string_view text, const Spec& spec, std::string_view root) {
  auto v = interpolate(text, spec, root, true);
  return v ? std::move(*v) : std::string(text);
}

CheckResult row(const Stage& stage, std::string_view what, std::string_view type) {
  CheckResult r;
  r.id = fmt::format("{}.{}", stage.id, what);
  r.stage = stage.id;
  r.type = std::string(type);
  r.severity = Severity::error;
  return r;
}

// ---- command ------------------------------------------------------------------------------

struct Spawned {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout+stderr
};

Result<Spawned> spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      const std::string& cwd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return make_error(Errc::io_error, fmt::format("pipe: {}", std::strerror(errno)));
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  // Its own process group, so that the timeout kills its children too, and so that a Ctrl-C
  // reaches stagecheck, which stops it, rather than the command directly.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT}) sigaddset(&defaults, s);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return make_error(
        Errc::invalid_argument,
        fmt::format("cannot start '{}'{}: {}", detail::printable(argv[0], 200),
                    cwd.empty() ? "" : fmt::format(" in '{}'", cwd), std::strerror(rc)));
  }
  ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  return Spawned{pid, fds[0]};
}

// Reads what is available; returns false at EOF.
bool drain(int fd, Tail& tail) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      tail.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return fmt::format("killed by signal {}{}", WTERMSIG(status),
                       name != nullptr ? fmt::format(" (SIG{})", name) : "");
  }
  return fmt::format("wait status {}", status);
}

CheckResult run_command(RunState& run, const Stage& stage, const CommandTrigger& cmd,
                        CheckResult r) {
  const Spec& spec = run.spec();
  const std::string root = run.store().describe();
  std::vector<std::string> argv, shown;
  for (const auto& a : cmd.argv) {
    auto v = interpolate(a, spec, root, false);
    if (!v) {
      r.status = Status::error;
      r.message = fmt::format("trigger of stage '{}': {}", stage.id, v.error().message);
      return r;
    }
    argv.push_back(std::move(*v));
    shown.push_back(redacted(a, spec, root));
  }
  std::vector<std::string> env;
  nlohmann::json env_shown = nlohmann::json::object();
  for (const auto& name : cmd.env_allow) {
    if (cmd.env.count(name) != 0) continue;
    if (const char* v = std::getenv(name.c_str())) env.push_back(name + "=" + v);
  }
  for (const auto& [name, tmpl] : cmd.env) {
    auto v = interpolate(tmpl, spec, root, false);
    if (!v) {
      r.status = Status::error;
      r.message =
          fmt::format("trigger of stage '{}': env {}: {}", stage.id, name, v.error().message);
      return r;
    }
    env.push_back(name + "=" + *v);
    env_shown[name] = redacted(tmpl, spec, root);
  }
  std::string cwd;
  if (!cmd.cwd.empty()) {
    auto v = interpolate(cmd.cwd, spec, root, false);
    if (!v) {
      r.status = Status::error;
      r.message = fmt::format("trigger of stage '{}': cwd: {}", stage.id, v.error().message);
      return r;
    }
    cwd = *v;
  }
  r.details = {{"argv", shown},
               {"env", env_shown},
               {"env_allow", cmd.env_allow},
               {"timeout", format_duration(cmd.timeout)}};
  if (!cwd.empty()) r.details["cwd"] = cwd;
  const std::string label = detail::printable(fmt::format("{}", fmt::join(shown, " ")), 300);

  auto start = Clock::now();
  auto spawned = spawn(argv, env, cwd);
  if (!spawned) {
    r.status = Status::error;
    r.message = fmt::format("trigger of stage '{}': {}", stage.id, spawned.error().message);
    return r;
  }
  const pid_t pid = spawned->pid;
  const std::size_t slot = remember_group(pid);
  Tail tail(kOutputTail);
  bool open = true;
  int status = 0;
  bool exited = false;
  int lost = 0;  // errno of a waitpid that failed
  enum class Stop { none, timeout, interrupted } stop = Stop::none;
  Clock::time_point kill_at{};
  bool killed = false;
  const auto deadline = start + cmd.timeout;
  while (!exited) {
    if (open) {
      pollfd p{spawned->out, POLLIN, 0};
      ::poll(&p, 1, 50);
      open = drain(spawned->out, tail);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      exited = true;
      break;
    }
    if (w < 0 && errno != EINTR) {
      // Cannot be reaped (e.g. an embedding process ignores SIGCHLD): never spin.
      lost = errno;
      ::kill(-pid, SIGKILL);
      break;
    }
    const auto now = Clock::now();
    if (stop == Stop::none && (now >= deadline || run.cancelled())) {
      stop = now >= deadline ? Stop::timeout : Stop::interrupted;
      ::kill(-pid, SIGTERM);
      kill_at = now + cmd.kill_grace;
    } else if (stop != Stop::none && !killed && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      killed = true;
    }
  }
  // What it wrote before exiting; a background child that still holds the pipe is not waited
  // for. On a timeout or an interruption the whole group goes.
  if (open) drain(spawned->out, tail);
  ::close(spawned->out);
  if (stop != Stop::none) ::kill(-pid, SIGKILL);
  forget_group(slot);
  r.duration_ms = ms_since(start);
  r.details["output_tail"] = tail.text();
  r.details["output_bytes"] = tail.total();
  r.observed = {{"result", describe_wait_status(status)}};
  if (WIFEXITED(status)) r.observed["exit_code"] = WEXITSTATUS(status);
  r.expected = {{"exit_code", 0}};
  if (lost != 0) {
    r.status = Status::error;
    r.observed = {{"result", "unknown"}};
    r.message = fmt::format(
        "trigger of stage '{}': the exit status of command `{}` cannot be known (waitpid: {}); "
        "its process group was killed",
        stage.id, label, std::strerror(lost));
  } else if (stop == Stop::timeout) {
    r.status = Status::fail;
    r.code = "trigger_timeout";
    r.message = fmt::format(
        "trigger of stage '{}': command `{}` did not finish within {}; it and its process "
        "group were killed ({})",
        stage.id, label, format_duration(cmd.timeout), describe_wait_status(status));
  } else if (stop == Stop::interrupted) {
    r.status = Status::error;
    r.code = "interrupted";
    r.message = fmt::format(
        "trigger of stage '{}': interrupted; command `{}` and its process group were stopped",
        stage.id, label);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    r.status = Status::pass;
    r.message = fmt::format("command `{}` exited 0 in {:.1f} s", label, r.duration_ms / 1000.0);
  } else {
    r.status = Status::fail;
    r.code = "trigger_failed";
    const std::string last = tail.last_line();
    r.message = fmt::format(
        "trigger of stage '{}': command `{}` failed: expected exit code 0, "
        "found {}{}",
        stage.id, label, describe_wait_status(status),
        last.empty() ? "" : fmt::format("; last output line: \"{}\"", last));
  }
  return r;
}

// ---- http ---------------------------------------------------------------------------------

struct HttpCall {
  const RunState* run = nullptr;
  Tail body{kOutputTail};
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<HttpCall*>(user)->body.append(data, size * n);
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<HttpCall*>(user)->run->cancelled() ? 1 : 0;
}

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CheckResult run_http(RunState& run, const Stage& stage, const HttpTrigger& h, CheckResult r) {
  const Spec& spec = run.spec();
  const std::string root = run.store().describe();
  auto fail_template = [&](std::string_view what, const Error& e) {
    r.status = Status::error;
    r.message = fmt::format("trigger of stage '{}': {}: {}", stage.id, what, e.message);
    return r;
  };
  auto url = interpolate(h.url, spec, root, false);
  if (!url) return fail_template("url", url.error());
  if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
    r.status = Status::error;
    r.message = fmt::format(
        "trigger of stage '{}': url must start with http:// or https://, "
        "found \"{}\"",
        stage.id, detail::printable(*url, 200));
    return r;
  }
  const std::string shown_url = redacted(h.url, spec, root);
  auto body = interpolate(h.body, spec, root, false);
  if (!body) return fail_template("body", body.error());
  curl_slist* headers = nullptr;
  nlohmann::json headers_shown = nlohmann::json::object();
  for (const auto& [name, tmpl] : h.headers) {
    auto v = interpolate(tmpl, spec, root, false);
    if (!v) {
      curl_slist_free_all(headers);
      return fail_template(fmt::format("header {}", name), v.error());
    }
    headers = curl_slist_append(headers, fmt::format("{}: {}", name, *v).c_str());
    headers_shown[name] = redacted(tmpl, spec, root);
  }
  r.details = {{"method", h.method},
               {"url", shown_url},
               {"headers", headers_shown},
               {"timeout", format_duration(h.timeout)}};
  curl_init_once();
  CURL* c = curl_easy_init();
  if (c == nullptr) {
    curl_slist_free_all(headers);
    r.status = Status::error;
    r.message = "trigger: curl_easy_init failed";
    return r;
  }
  HttpCall call;
  call.run = &run;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url->c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, h.method.c_str());
  if (h.method != "GET" || !body->empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  if (h.method == "GET" && body->empty()) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(h.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<std::int64_t>(h.timeout.count(), 30000)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &call);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &call);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  auto start = Clock::now();
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  curl_slist_free_all(headers);
  r.duration_ms = ms_since(start);
  r.details["response_tail"] = call.body.text();
  r.expected = {{"status", h.expect_status}};
  const std::string what = fmt::format("{} {}", h.method, shown_url);
  if (rc != CURLE_OK) {
    r.status = Status::error;
    r.code = rc == CURLE_ABORTED_BY_CALLBACK ? "interrupted" : "trigger_unreachable";
    r.message = rc == CURLE_ABORTED_BY_CALLBACK
                    ? fmt::format("trigger of stage '{}': interrupted during {}", stage.id, what)
                    : fmt::format("trigger of stage '{}': {} could not be made: {}", stage.id, what,
                                  errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc));
    return r;
  }
  r.observed = {{"status", code}};
  if (std::find(h.expect_status.begin(), h.expect_status.end(), code) == h.expect_status.end()) {
    r.status = Status::fail;
    r.code = "trigger_failed";
    r.message = fmt::format("trigger of stage '{}': {}: expected status {}, found {}", stage.id,
                            what, fmt::join(h.expect_status, " or "), code);
    return r;
  }
  r.status = Status::pass;
  r.message = fmt::format("{} answered {}", what, code);
  return r;
}

// ---- write_marker -------------------------------------------------------------------------

CheckResult run_marker(RunState& run, const Stage& stage, const MarkerTrigger& m, Store* writable,
                       CheckResult r) {
  CheckContextImpl ctx(run);
  auto path = ctx.resolve(m.path);
  if (!path) {
    r.status = status_for(path.error().code);
    r.message =
        fmt::format("trigger of stage '{}': marker path: {}", stage.id, path.error().message);
    return r;
  }
  r.artifacts = {*path};
  if (writable == nullptr) {
    r.status = Status::error;
    r.message = fmt::format(
        "trigger of stage '{}': cannot write '{}': the store was opened "
        "read-only",
        stage.id, *path);
    return r;
  }
  nlohmann::json body = m.fields;
  if (!body.contains("timestamp")) body["timestamp"] = detail::utc_now_seconds();
  auto start = Clock::now();
  auto ok = writable->write_atomic(
      *path, body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  r.duration_ms = ms_since(start);
  if (!ok) {
    r.status = Status::error;
    r.message = fmt::format("trigger of stage '{}': cannot write marker '{}': {}", stage.id, *path,
                            ok.error().message);
    return r;
  }
  r.status = Status::pass;
  r.message = fmt::format("wrote marker {}", *path);
  return r;
}

}  // namespace

Result<std::string> interpolate(std::string_view text, const Spec& spec, std::string_view root,
                                bool redact) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t pos = text.find("${", i);
    if (pos == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, pos - i));
    std::size_t end = text.find('}', pos);
    if (end == std::string_view::npos) {
      return make_error(Errc::invalid_argument,
                        fmt::format("\"{}\": unterminated ${{", detail::printable(text, 200)));
    }
    const std::string name(text.substr(pos + 2, end - pos - 2));
    i = end + 1;
    if (name == "root") {
      out.append(root);
      continue;
    }
    const VarDecl* decl = spec.find_var(name);
    auto it = spec.values.find(name);
    if (decl == nullptr || it == spec.values.end() || it->is_null()) {
      return make_error(
          Errc::invalid_argument,
          fmt::format("variable '{}' has no value (set it with --var {}=...)", name, name));
    }
    if (redact && decl->secret) {
      out.append("***");
    } else if (it->is_string()) {
      out.append(it->get_ref<const std::string&>());
    } else if (it->is_array()) {
      bool first = true;
      for (const auto& e : *it) {
        if (!first) out.push_back(',');
        first = false;
        out.append(e.is_string() ? e.get<std::string>() : e.dump());
      }
    } else if (it->is_number_float() && std::nearbyint(it->get<double>()) == it->get<double>() &&
               std::fabs(it->get<double>()) < 9007199254740992.0) {
      // Number variables are doubles: 2 is passed as "2", not "2.0".
      out.append(fmt::format("{}", static_cast<std::int64_t>(it->get<double>())));
    } else {
      out.append(it->dump());
    }
  }
  return out;
}

bool sleep_unless_cancelled(const RunState& run, std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    if (run.cancelled()) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(20)));
  }
  return !run.cancelled();
}

std::string scrub_secrets(std::string text, const Spec& spec) {
  for (const auto& v : spec.vars) {
    if (!v.secret) continue;
    auto it = spec.values.find(v.name);
    if (it == spec.values.end() || !it->is_string()) continue;
    const std::string& secret = it->get_ref<const std::string&>();
    if (secret.empty()) continue;
    for (std::size_t at; (at = text.find(secret)) != std::string::npos;) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

namespace {

// Every string in a report row, with secret variables' values replaced: a command's output,
// a URL in an error, a folder name may carry them.
void scrub_row(CheckResult& r, const Spec& spec) {
  std::function<void(nlohmann::json&)> walk = [&](nlohmann::json& j) {
    if (j.is_string()) {
      j = scrub_secrets(j.get<std::string>(), spec);
    } else if (j.is_structured()) {
      for (auto& e : j) walk(e);
    }
  };
  r.message = scrub_secrets(std::move(r.message), spec);
  walk(r.details);
  walk(r.observed);
  walk(r.expected);
}

}  // namespace

CheckResult run_trigger(RunState& run, const Stage& stage, Store* writable) {
  CheckResult r = row(stage, "trigger", "trigger");
  const Trigger& t = *stage.trigger;
  try {
    switch (t.kind) {
      case Trigger::Kind::command:
        r.description = "trigger: run a command";
        r = run_command(run, stage, t.command, std::move(r));
        break;
      case Trigger::Kind::http:
        r.description = "trigger: HTTP request";
        r = run_http(run, stage, t.http, std::move(r));
        break;
      case Trigger::Kind::write_marker:
        r.description = "trigger: write an input marker";
        r = run_marker(run, stage, t.marker, writable, std::move(r));
        break;
    }
  } catch (const std::exception& e) {
    r.status = Status::error;
    r.message = fmt::format("trigger of stage '{}': internal error: {}", stage.id, e.what());
  }
  scrub_row(r, run.spec());
  return r;
}

CheckResult run_wait(RunState& run, const Stage& stage, std::optional<std::int64_t> not_before_ns) {
  CheckResult r = row(stage, "wait", "wait");
  const StageWait& w = *stage.wait;
  r.description =
      fmt::format("wait up to {} for {} marker(s)", format_duration(w.timeout), w.markers.size());
  r.expected = {{"all_exist", true}, {"within", format_duration(w.timeout)}};
  if (not_before_ns) r.expected["written_after_trigger"] = true;
  const auto start = Clock::now();
  const auto deadline = start + w.timeout;
  auto interval = w.interval;
  unsigned polls = 0;
  std::vector<std::string> missing, stale;
  std::string last_error;
  Errc last_code = Errc::not_found;
  try {
    for (;;) {
      ++polls;
      missing.clear();
      stale.clear();
      last_error.clear();
      std::vector<std::string> paths;
      // Fresh reads: a marker path may use a field of an artifact the work is still writing.
      CheckContextImpl ctx(run, /*fresh=*/true);
      for (const auto& ref : w.markers) {
        auto art = ctx.artifact(ref);
        if (!art) {
          if (art.error().code == Errc::not_found) {  // not written yet: poll again
            missing.push_back(ref.label());
            continue;
          }
          r.status = status_for(art.error().code);
          r.message = fmt::format("wait of stage '{}': {}", stage.id, art.error().message);
          r.duration_ms = ms_since(start);
          scrub_row(r, run.spec());
          return r;
        }
        paths.push_back(art->path());
        auto info = run.store().stat(art->path());
        if (!info) {
          missing.push_back(art->path());
          if (info.error().code != Errc::not_found) {
            last_error = info.error().message;
            last_code = info.error().code;
          }
        } else if (not_before_ns && info->mtime_ns < *not_before_ns) {
          // An earlier run's marker is no evidence that this run's work is done.
          missing.push_back(art->path());
          stale.push_back(art->path());
        }
      }
      r.artifacts = paths;
      if (missing.empty()) {
        r.status = Status::pass;
        r.duration_ms = ms_since(start);
        r.observed = {{"polls", polls}, {"waited_ms", static_cast<std::int64_t>(r.duration_ms)}};
        r.message = fmt::format("all {} marker(s) present{} after {:.1f} s ({} poll{})",
                                paths.size(), not_before_ns ? ", written after the trigger," : "",
                                r.duration_ms / 1000.0, polls, polls == 1 ? "" : "s");
        return r;
      }
      const auto now = Clock::now();
      if (now >= deadline) break;
      auto nap =
          std::min(interval, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                 std::chrono::milliseconds(1));
      if (!sleep_unless_cancelled(run, nap)) {
        r.status = Status::error;
        r.code = "interrupted";
        r.duration_ms = ms_since(start);
        r.message = fmt::format("wait of stage '{}': interrupted while waiting for {}", stage.id,
                                fmt::join(missing, ", "));
        return r;
      }
      interval = std::min(interval * 2, w.max_interval);
    }
  } catch (const std::exception& e) {
    r.status = Status::error;
    r.message = fmt::format("wait of stage '{}': internal error: {}", stage.id, e.what());
    return r;
  }
  r.duration_ms = ms_since(start);
  r.observed = {{"polls", polls}, {"missing", missing}};
  if (!stale.empty()) r.observed["older_than_trigger"] = stale;
  if (!last_error.empty()) {
    // The store could not tell whether a marker exists: not a verdict on the pipeline.
    r.status = status_for(last_code) == Status::error ? Status::error : Status::fail;
    r.message = fmt::format(
        "wait of stage '{}': after {} ({} polls) the store could not be "
        "asked about {}: {}",
        stage.id, format_duration(w.timeout), polls, fmt::join(missing, ", "), last_error);
    scrub_row(r, run.spec());
    return r;
  }
  r.status = Status::fail;
  r.code = "wait_timeout";
  r.message = fmt::format("wait of stage '{}': after {} ({} polls) still missing: {}{}", stage.id,
                          format_duration(w.timeout), polls, fmt::join(missing, ", "),
                          stale.empty() ? ""
                                        : fmt::format(" ({} present but older than the trigger: "
                                                      "an earlier run's)",
                                                      fmt::join(stale, ", ")));
  return r;
}

}  // namespace detail
}  // namespace stagecheck
