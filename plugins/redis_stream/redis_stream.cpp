// `redis_stream`: a Redis stream's backlog, read-only: XLEN, XINFO STREAM/GROUPS/CONSUMERS and
// XPENDING, with thresholds on the stream's length, a group's pending count, lag and
// consumers, and the idle time of pending entries (the seed runbook's
// `XPENDING streams:embedding.ingested cluster-workers`: the backlog must be zero).
//
// Fail closed: a missing stream, group or consumer, a key of another type, a reply of an
// unexpected shape and an unknown lag all fail with a message naming what was looked for; an
// unreachable server, a timeout or an authentication failure is `error` (could not be
// evaluated). Only read commands are sent (AUTH, SELECT, TYPE, XLEN, XINFO, XPENDING), so the
// check works with an ACL user limited to +@read and never acknowledges or claims entries.

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <stagecheck/local_store.hpp>
#include <stagecheck/plugin.hpp>

#include "redis_url.hpp"

namespace {

using namespace stagecheck;
using Json = nlohmann::json;
using redis::RedisUrl;

/// Groups and consumers listed in `observed` at most (all are counted).
constexpr std::size_t kMaxListed = 100;
/// Longest server text (error reply, bulk string) quoted in a message.
constexpr std::size_t kMaxQuoted = 160;
/// Largest password file read.
constexpr std::uint64_t kMaxPasswordFile = 64 * 1024;

std::string quoted(std::string_view s) {
  std::string out(s.substr(0, kMaxQuoted));
  if (s.size() > kMaxQuoted) out += "...";
  return out;
}

// ---------------------------------------------------------------------------------------------
// hiredis, wrapped: one synchronous connection with connect and command timeouts.

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const {
    if (c != nullptr) redisFree(c);
  }
};

timeval to_timeval(std::int64_t ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

/// What a reply is, for messages: "the integer 3", "an array of 2 elements", ...
std::string describe_reply(const redisReply* r) {
  if (r == nullptr) return "no reply";
  switch (r->type) {
    case REDIS_REPLY_STRING:
      return fmt::format("the string \"{}\"", quoted(std::string_view(r->str, r->len)));
    case REDIS_REPLY_ARRAY:
      return fmt::format("an array of {} element{}", r->elements, r->elements == 1 ? "" : "s");
    case REDIS_REPLY_INTEGER:
      return fmt::format("the integer {}", r->integer);
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STATUS:
      return fmt::format("the status \"{}\"", quoted(std::string_view(r->str, r->len)));
    case REDIS_REPLY_ERROR:
      return fmt::format("the error \"{}\"", quoted(std::string_view(r->str, r->len)));
    default:
      return fmt::format("a reply of unknown type {}", r->type);
  }
}

std::string text_of(const redisReply* r) { return std::string(r->str, r->len); }

/// An error reply turned into an error value. Authentication and permission problems and a
/// busy, loading or redirecting server mean "could not be evaluated"; anything else is an
/// answer to the query (a missing group, a wrong type, syntax an old server does not know)
/// and fails the check.
Error classify_error_reply(const std::string& command, const std::string& where,
                           const redisReply* r) {
  const std::string text = quoted(std::string_view(r->str, r->len));
  const std::string word = text.substr(0, text.find(' '));
  if (word == "NOAUTH") {
    return make_error(Errc::permission_denied,
                      fmt::format("{}: {}: the server requires a password ({}); give it in the "
                                  "URL, password_env or password_file",
                                  where, command, text));
  }
  if (word == "WRONGPASS" || word == "NOPERM") {
    return make_error(Errc::permission_denied, fmt::format("{}: {}: {}", where, command, text));
  }
  if (word == "LOADING" || word == "BUSY" || word == "MASTERDOWN" || word == "TRYAGAIN" ||
      word == "CLUSTERDOWN" || word == "MOVED" || word == "ASK") {
    return make_error(
        Errc::unavailable,
        fmt::format("{}: {}: the server cannot answer now ({}){}", where, command, text,
                    word == "MOVED" || word == "ASK"
                        ? "; cluster redirections are not followed: give the URL "
                          "of the node holding the stream"
                        : ""));
  }
  return make_error(Errc::malformed, fmt::format("{}: {}: the server answered with an error: {}",
                                                 where, command, text));
}

/// One connection. Movable; not thread-safe (a check run uses it from one thread).
class Session {
 public:
  /// Connects (TCP or unix socket) within `timeout_ms`, sets the same timeout on every
  /// command, authenticates and selects the database. Connection problems and timeouts are
  /// Errc::unavailable, a refused password Errc::permission_denied.
  static Result<Session> open(const RedisUrl& url, const std::optional<std::string>& password,
                              std::int64_t timeout_ms) {
    Session s;
    s.where_ = url.redacted();
    s.timeout_ms_ = timeout_ms;
    const timeval tv = to_timeval(timeout_ms);
    redisContext* c = url.kind == RedisUrl::Kind::unix_socket
                          ? redisConnectUnixWithTimeout(url.path.c_str(), tv)
                          : redisConnectWithTimeout(url.host.c_str(), url.port, tv);
    s.ctx_.reset(c);
    if (c == nullptr) {
      return make_error(Errc::unavailable,
                        fmt::format("{}: could not connect: out of memory", s.where_));
    }
    if (c->err != 0) {
      return make_error(Errc::unavailable,
                        fmt::format("{}: could not connect: {}", s.where_, s.transport_error()));
    }
    if (redisSetTimeout(c, tv) != 0) {
      return make_error(Errc::unavailable, fmt::format("{}: could not set the command timeout: {}",
                                                       s.where_, s.transport_error()));
    }
    if (password) {
      std::vector<std::string> args = {"AUTH"};
      if (!url.user.empty()) args.push_back(url.user);
      args.push_back(*password);
      // The command text shown never holds the password.
      const std::string shown = url.user.empty() ? "AUTH ***" : "AUTH " + url.user + " ***";
      auto reply = s.raw(args, shown);
      if (!reply) return std::move(reply).error();
      if ((*reply)->type == REDIS_REPLY_ERROR) {
        return make_error(Errc::permission_denied,
                          fmt::format("{}: authentication failed{}: {}", s.where_,
                                      url.user.empty() ? "" : " for user '" + url.user + "'",
                                      quoted(std::string_view((*reply)->str, (*reply)->len))));
      }
    }
    if (url.db != 0) {
      auto reply = s.query({"SELECT", std::to_string(url.db)});
      if (!reply) return std::move(reply).error();
    }
    return s;
  }

  /// Sends a command; an error reply becomes an error value (classify_error_reply).
  Result<Reply> query(const std::vector<std::string>& args) {
    const std::string shown = command_text(args);
    auto reply = raw(args, shown);
    if (!reply) return reply;
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      return classify_error_reply(shown, where_, reply->get());
    }
    return reply;
  }

  const std::string& where() const noexcept { return where_; }

  /// "XPENDING s g - + 1", arguments quoted when they hold spaces.
  static std::string command_text(const std::vector<std::string>& args) {
    std::string out;
    for (const auto& a : args) {
      if (!out.empty()) out += ' ';
      out += a.find(' ') == std::string::npos && !a.empty() ? a : "'" + a + "'";
    }
    return out;
  }

 private:
  Session() = default;

  /// Any reply, error replies included; transport failures are Errc::unavailable (the
  /// connection is unusable afterwards).
  Result<Reply> raw(const std::vector<std::string>& args, const std::string& shown) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.c_str());
      lens.push_back(a.size());
    }
    void* r = redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data());
    if (r == nullptr) {
      return make_error(Errc::unavailable,
                        fmt::format("{}: {}: {}", where_, shown, transport_error()));
    }
    return Reply(static_cast<redisReply*>(r));
  }

  std::string transport_error() const {
    const redisContext* c = ctx_.get();
    std::string text = c->errstr[0] != '\0' ? std::string(c->errstr) : "unknown error";
    if (c->err == REDIS_ERR_IO && (text.find("temporarily unavailable") != std::string::npos ||
                                   text.find("timed out") != std::string::npos ||
                                   text.find("in progress") != std::string::npos)) {
      return fmt::format("no answer within {} (timeout)", redis::format_duration_ms(timeout_ms_));
    }
    if (c->err == REDIS_ERR_EOF) return "the server closed the connection";
    return text;
  }

  std::unique_ptr<redisContext, ContextDeleter> ctx_;
  std::string where_;
  std::int64_t timeout_ms_ = 0;
};

/// Blocks SIGPIPE on this thread while alive, and swallows one raised meanwhile. hiredis 0.14
/// writes with write(2), not send(MSG_NOSIGNAL), so writing to a connection the server has
/// closed could kill the whole process with SIGPIPE instead of failing one command with EPIPE
/// (stagecheck does not ignore SIGPIPE, and a plugin must not change process-wide signal
/// dispositions). SIGPIPE from a write is delivered to the writing thread, so a thread mask is
/// enough.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &set_, &old_) == 0;
  }
  ~SigpipeGuard() {
    if (!blocked_) return;
    if (!was_pending_) {
      const timespec zero{};
      while (sigtimedwait(&set_, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t set_{};
  sigset_t old_{};
  bool was_pending_ = false;
  bool blocked_ = false;
};

// ---------------------------------------------------------------------------------------------
// Reply shapes. Every accessor checks the type and names the command and the field.

/// Reads an XINFO-style flat array of field/value pairs.
Result<std::map<std::string, const redisReply*>> field_map(const redisReply* r,
                                                           const std::string& what) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
    return make_error(Errc::type_mismatch,
                      fmt::format("{}: expected an array of field/value pairs, found {}", what,
                                  describe_reply(r)));
  }
  std::map<std::string, const redisReply*> out;
  for (std::size_t i = 0; i < r->elements; i += 2) {
    const redisReply* k = r->element[i];
    if (k->type != REDIS_REPLY_STRING && k->type != REDIS_REPLY_STATUS) {
      return make_error(Errc::type_mismatch, fmt::format("{}: expected a field name, found {}",
                                                         what, describe_reply(k)));
    }
    out[text_of(k)] = r->element[i + 1];
  }
  return out;
}

/// The reply of a field that must be present.
Result<const redisReply*> field(const std::map<std::string, const redisReply*>& fields,
                                const std::string& name, const std::string& what) {
  auto it = fields.find(name);
  if (it == fields.end()) {
    return make_error(Errc::type_mismatch,
                      fmt::format("{}: the reply has no field '{}'", what, name));
  }
  return it->second;
}

Result<std::int64_t> as_integer(const redisReply* r, const std::string& what) {
  if (r->type == REDIS_REPLY_INTEGER) return static_cast<std::int64_t>(r->integer);
  return make_error(Errc::type_mismatch,
                    fmt::format("{}: expected an integer, found {}", what, describe_reply(r)));
}

Result<std::string> as_string(const redisReply* r, const std::string& what) {
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) return text_of(r);
  return make_error(Errc::type_mismatch,
                    fmt::format("{}: expected a string, found {}", what, describe_reply(r)));
}

/// An integer or nil (Redis 7's entries-read and lag are nil when unknown).
Result<std::optional<std::int64_t>> as_optional_integer(const redisReply* r,
                                                        const std::string& what) {
  if (r->type == REDIS_REPLY_NIL) return std::optional<std::int64_t>();
  auto v = as_integer(r, what);
  if (!v) return std::move(v).error();
  return std::optional<std::int64_t>(*v);
}

Json optional_json(const std::optional<std::int64_t>& v) { return v ? Json(*v) : Json(); }

// ---------------------------------------------------------------------------------------------
// What the server reports, parsed.

struct GroupInfo {
  std::string name;
  std::int64_t consumers = 0;
  std::int64_t pending = 0;
  std::string last_delivered_id;
  bool has_entries_read = false;  ///< Redis >= 7.0 reports it.
  std::optional<std::int64_t> entries_read;
  bool has_lag = false;  ///< Redis >= 7.0 reports it (nil when it cannot be computed).
  std::optional<std::int64_t> lag;

  Json to_json() const {
    Json j = {
        {"consumers", consumers}, {"pending", pending}, {"last_delivered_id", last_delivered_id}};
    if (has_entries_read) j["entries_read"] = optional_json(entries_read);
    if (has_lag) j["lag"] = optional_json(lag);
    return j;
  }
};

struct ConsumerInfo {
  std::string name;
  std::int64_t pending = 0;
  std::int64_t idle_ms = 0;
};

/// One entry of XPENDING's extended form.
struct PendingEntry {
  std::string id;
  std::string consumer;
  std::int64_t idle_ms = 0;
  std::int64_t deliveries = 0;

  Json to_json() const {
    return {{"id", id}, {"consumer", consumer}, {"idle_ms", idle_ms}, {"deliveries", deliveries}};
  }
};

Result<GroupInfo> parse_group(const redisReply* r, const std::string& what) {
  auto fields = field_map(r, what);
  if (!fields) return std::move(fields).error();
  GroupInfo g;
  auto name = field(*fields, "name", what);
  if (!name) return std::move(name).error();
  auto n = as_string(*name, what + ": name");
  if (!n) return std::move(n).error();
  g.name = *n;
  const std::string w = fmt::format("{}: group '{}'", what, g.name);
  for (auto [key, out] : {std::pair<const char*, std::int64_t*>{"consumers", &g.consumers},
                          std::pair<const char*, std::int64_t*>{"pending", &g.pending}}) {
    auto f = field(*fields, key, w);
    if (!f) return std::move(f).error();
    auto v = as_integer(*f, fmt::format("{}: {}", w, key));
    if (!v) return std::move(v).error();
    *out = *v;
  }
  auto last = field(*fields, "last-delivered-id", w);
  if (!last) return std::move(last).error();
  auto last_text = as_string(*last, w + ": last-delivered-id");
  if (!last_text) return std::move(last_text).error();
  g.last_delivered_id = *last_text;
  if (auto it = fields->find("entries-read"); it != fields->end()) {
    auto v = as_optional_integer(it->second, w + ": entries-read");
    if (!v) return std::move(v).error();
    g.has_entries_read = true;
    g.entries_read = *v;
  }
  if (auto it = fields->find("lag"); it != fields->end()) {
    auto v = as_optional_integer(it->second, w + ": lag");
    if (!v) return std::move(v).error();
    g.has_lag = true;
    g.lag = *v;
  }
  return g;
}

Result<ConsumerInfo> parse_consumer(const redisReply* r, const std::string& what) {
  auto fields = field_map(r, what);
  if (!fields) return std::move(fields).error();
  ConsumerInfo c;
  auto name = field(*fields, "name", what);
  if (!name) return std::move(name).error();
  auto n = as_string(*name, what + ": name");
  if (!n) return std::move(n).error();
  c.name = *n;
  const std::string w = fmt::format("{}: consumer '{}'", what, c.name);
  for (auto [key, out] : {std::pair<const char*, std::int64_t*>{"pending", &c.pending},
                          std::pair<const char*, std::int64_t*>{"idle", &c.idle_ms}}) {
    auto f = field(*fields, key, w);
    if (!f) return std::move(f).error();
    auto v = as_integer(*f, fmt::format("{}: {}", w, key));
    if (!v) return std::move(v).error();
    *out = *v;
  }
  return c;
}

/// XPENDING's extended form: at most one entry is asked for.
Result<std::optional<PendingEntry>> parse_first_pending(const redisReply* r,
                                                        const std::string& what) {
  if (r->type != REDIS_REPLY_ARRAY) {
    return make_error(Errc::type_mismatch,
                      fmt::format("{}: expected an array, found {}", what, describe_reply(r)));
  }
  if (r->elements == 0) return std::optional<PendingEntry>();
  const redisReply* e = r->element[0];
  if (e->type != REDIS_REPLY_ARRAY || e->elements != 4) {
    return make_error(Errc::type_mismatch,
                      fmt::format("{}: expected [id, consumer, idle, deliveries], found {}", what,
                                  describe_reply(e)));
  }
  PendingEntry p;
  auto id = as_string(e->element[0], what + ": id");
  if (!id) return std::move(id).error();
  auto consumer = as_string(e->element[1], what + ": consumer");
  if (!consumer) return std::move(consumer).error();
  auto idle = as_integer(e->element[2], what + ": idle");
  if (!idle) return std::move(idle).error();
  auto deliveries = as_integer(e->element[3], what + ": deliveries");
  if (!deliveries) return std::move(deliveries).error();
  p.id = *id;
  p.consumer = *consumer;
  p.idle_ms = *idle;
  p.deliveries = *deliveries;
  return std::optional<PendingEntry>(std::move(p));
}

// ---------------------------------------------------------------------------------------------
// The check.

/// The thresholds a spec may set; each is optional.
struct Thresholds {
  std::optional<std::int64_t> min_length;
  std::optional<std::int64_t> max_length;
  std::optional<std::int64_t> min_entries_added;
  std::optional<std::int64_t> max_pending;
  std::optional<std::int64_t> max_oldest_idle_ms;
  std::optional<std::int64_t> max_lag;
  std::optional<std::int64_t> min_consumers;
};

/// Where the password comes from (at most one source).
struct PasswordSource {
  std::string env;       ///< password_env: a process environment variable name.
  std::string file_var;  ///< password_file: a local_path variable name.
};

class RedisStream final : public Check {
 public:
  RedisStream(RedisUrl url, PasswordSource password, std::string stream, std::string group,
              std::string consumer, Thresholds thresholds, std::int64_t timeout_ms)
      : url_(std::move(url)),
        password_(std::move(password)),
        stream_(std::move(stream)),
        group_(std::move(group)),
        consumer_(std::move(consumer)),
        t_(thresholds),
        timeout_ms_(timeout_ms) {}

  CheckOutcome run(CheckContext& ctx) const override {
    Json observed = {{"server", url_.redacted()}, {"stream", stream_}};
    CheckOutcome out;
    try {
      SigpipeGuard no_sigpipe;  // for the connection's whole life, redisFree included
      if (auto fault = ctx.probe_fault("redis", url_.redacted())) {
        out = CheckOutcome::error(
            fmt::format("{}: stream '{}': {}", url_.redacted(), stream_, fault->message));
      } else {
        out = evaluate(ctx, observed);
      }
    } catch (const std::exception& e) {
      out = CheckOutcome::error(
          fmt::format("{}: stream '{}': internal error: {}", url_.redacted(), stream_, e.what()));
    }
    out.observed = std::move(observed);
    out.expected = expected_json();
    return out;
  }

 private:
  Json expected_json() const {
    Json e = {{"stream_exists", true}};
    if (!group_.empty()) e["group"] = group_;
    if (!consumer_.empty()) e["consumer"] = consumer_;
    auto put = [&](const char* key, const std::optional<std::int64_t>& v) {
      if (v) e[key] = *v;
    };
    put("min_length", t_.min_length);
    put("max_length", t_.max_length);
    put("min_entries_added", t_.min_entries_added);
    put("max_pending", t_.max_pending);
    put("max_oldest_idle_ms", t_.max_oldest_idle_ms);
    put("max_lag", t_.max_lag);
    put("min_consumers", t_.min_consumers);
    return e;
  }

  /// The password to authenticate with, or nullopt for none; an error outcome if a named
  /// source cannot be read. Never puts the password into a message.
  Result<std::optional<std::string>> password(CheckContext& ctx) const {
    if (url_.password) return url_.password;
    if (!password_.env.empty()) {
      if (!ctx.process_env_allowed()) {
        return make_error(
            Errc::permission_denied,
            fmt::format("password_env {}: reading the process environment is only allowed when "
                        "embedded (RunOptions::allow_process_env); from the driver, use "
                        "password_file or a password in the URL (a secret variable)",
                        password_.env));
      }
      const char* v = std::getenv(password_.env.c_str());
      if (v == nullptr || *v == '\0') {
        return make_error(Errc::unavailable,
                          fmt::format("password_env {}: the variable is not set", password_.env));
      }
      return std::optional<std::string>(std::string(v));
    }
    if (!password_.file_var.empty()) {
      const Json* var = ctx.var(password_.file_var);
      if (var == nullptr || !var->is_string() || var->get_ref<const std::string&>().empty()) {
        return make_error(Errc::unavailable, fmt::format("password_file: variable '{}' is not set",
                                                         password_.file_var));
      }
      const std::string path = var->get<std::string>();
      auto data = read_local_file(path, kMaxPasswordFile);
      if (!data) {
        return make_error(Errc::unavailable,
                          fmt::format("password_file: {}", data.error().message));
      }
      std::string pw = std::move(*data);
      while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
      if (pw.empty()) {
        return make_error(Errc::unavailable, fmt::format("password_file: '{}' is empty", path));
      }
      if (pw.find('\n') != std::string::npos) {
        return make_error(Errc::unavailable,
                          fmt::format("password_file: '{}' holds more than one line", path));
      }
      return std::optional<std::string>(std::move(pw));
    }
    return std::optional<std::string>();
  }

  /// "stream 's'", "stream 's' group 'g'", "stream 's' group 'g' consumer 'c'".
  std::string scope(bool with_group, bool with_consumer) const {
    std::string s = fmt::format("stream '{}'", stream_);
    if (with_group) s += fmt::format(" group '{}'", group_);
    if (with_consumer) s += fmt::format(" consumer '{}'", consumer_);
    return s;
  }

  CheckOutcome interrupted() const {
    return CheckOutcome::error(fmt::format("{}: {}: interrupted before the check finished",
                                           url_.redacted(), scope(false, false)));
  }

  CheckOutcome evaluate(CheckContext& ctx, Json& observed) const {
    auto pw = password(ctx);
    if (!pw) return CheckOutcome::error(fmt::format("{}: {}", url_.redacted(), pw.error().message));
    if (ctx.cancelled()) return interrupted();
    auto session = Session::open(url_, *pw, timeout_ms_);
    if (!session) return CheckOutcome::from(session.error());
    Session& s = *session;
    const std::string where = s.where();
    if (url_.db != 0) observed["db"] = url_.db;

    // Does the stream exist, and is it a stream? (XLEN answers 0 for a missing key.)
    auto type = s.query({"TYPE", stream_});
    if (!type) return CheckOutcome::from(type.error());
    auto type_text = as_string(type->get(), fmt::format("{}: TYPE {}", where, stream_));
    if (!type_text) return CheckOutcome::from(type_text.error());
    observed["type"] = *type_text;
    if (*type_text == "none") {
      CheckOutcome o = CheckOutcome::fail(
          fmt::format("{}: stream '{}' does not exist (db {}): expected an existing stream", where,
                      stream_, url_.db));
      o.code = "redis_stream_missing";
      return o;
    }
    if (*type_text != "stream") {
      CheckOutcome o = CheckOutcome::fail(fmt::format(
          "{}: key '{}' (db {}) is a {}, expected a stream", where, stream_, url_.db, *type_text));
      o.code = "redis_stream_wrong_type";
      return o;
    }

    if (ctx.cancelled()) return interrupted();
    auto xlen = s.query({"XLEN", stream_});
    if (!xlen) return CheckOutcome::from(xlen.error());
    auto length = as_integer(xlen->get(), fmt::format("{}: XLEN {}", where, stream_));
    if (!length) return CheckOutcome::from(length.error());
    observed["length"] = *length;

    auto info = s.query({"XINFO", "STREAM", stream_});
    if (!info) return CheckOutcome::from(info.error());
    const std::string info_what = fmt::format("{}: XINFO STREAM {}", where, stream_);
    auto info_fields = field_map(info->get(), info_what);
    if (!info_fields) return CheckOutcome::from(info_fields.error());
    std::optional<std::int64_t> entries_added;
    if (auto it = info_fields->find("entries-added"); it != info_fields->end()) {
      auto v = as_integer(it->second, info_what + ": entries-added");
      if (!v) return CheckOutcome::from(v.error());
      entries_added = *v;
      observed["entries_added"] = *v;
    }
    if (auto it = info_fields->find("last-generated-id"); it != info_fields->end()) {
      auto v = as_string(it->second, info_what + ": last-generated-id");
      if (!v) return CheckOutcome::from(v.error());
      observed["last_generated_id"] = *v;
    }

    if (ctx.cancelled()) return interrupted();
    auto groups_reply = s.query({"XINFO", "GROUPS", stream_});
    if (!groups_reply) return CheckOutcome::from(groups_reply.error());
    const std::string groups_what = fmt::format("{}: XINFO GROUPS {}", where, stream_);
    if ((*groups_reply)->type != REDIS_REPLY_ARRAY) {
      return CheckOutcome::from(make_error(
          Errc::type_mismatch, fmt::format("{}: expected an array of groups, found {}", groups_what,
                                           describe_reply(groups_reply->get()))));
    }
    std::vector<GroupInfo> groups;
    for (std::size_t i = 0; i < (*groups_reply)->elements; ++i) {
      auto g = parse_group((*groups_reply)->element[i], groups_what);
      if (!g) return CheckOutcome::from(g.error());
      groups.push_back(std::move(*g));
    }
    Json groups_json = Json::object();
    for (std::size_t i = 0; i < groups.size() && i < kMaxListed; ++i) {
      groups_json[groups[i].name] = groups[i].to_json();
    }
    observed["group_count"] = groups.size();
    observed["groups"] = std::move(groups_json);
    if (groups.size() > kMaxListed) observed["groups_truncated"] = true;

    std::vector<std::string> violations;
    std::vector<std::string> held;
    auto at_most = [&](const std::string& what_scope, const char* field_name, const char* param,
                       std::int64_t found, const std::optional<std::int64_t>& limit) {
      if (!limit) return;
      if (found > *limit) {
        violations.push_back(fmt::format("{}: {} is {}, expected at most {} ({})", what_scope,
                                         field_name, found, *limit, param));
      } else {
        held.push_back(fmt::format("{} {} <= {}", field_name, found, *limit));
      }
    };
    auto at_least = [&](const std::string& what_scope, const char* field_name, const char* param,
                        std::int64_t found, const std::optional<std::int64_t>& limit) {
      if (!limit) return;
      if (found < *limit) {
        violations.push_back(fmt::format("{}: {} is {}, expected at least {} ({})", what_scope,
                                         field_name, found, *limit, param));
      } else {
        held.push_back(fmt::format("{} {} >= {}", field_name, found, *limit));
      }
    };

    const std::string stream_scope = scope(false, false);
    at_least(stream_scope, "length (XLEN)", "min_length", *length, t_.min_length);
    at_most(stream_scope, "length (XLEN)", "max_length", *length, t_.max_length);
    if (t_.min_entries_added) {
      if (!entries_added) {
        violations.push_back(fmt::format(
            "{}: XINFO STREAM reports no entries-added (the server is older than Redis 7.0), "
            "expected at least {} (min_entries_added)",
            stream_scope, *t_.min_entries_added));
      } else {
        at_least(stream_scope, "entries-added", "min_entries_added", *entries_added,
                 t_.min_entries_added);
      }
    }

    if (!group_.empty()) {
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const GroupInfo& g) { return g.name == group_; });
      if (it == groups.end()) {
        std::vector<std::string> names;
        for (const auto& g : groups) names.push_back("'" + g.name + "'");
        CheckOutcome o = CheckOutcome::fail(fmt::format(
            "{}: consumer group '{}' does not exist on stream '{}' (found {}): expected an "
            "existing group",
            where, group_, stream_,
            names.empty()
                ? std::string("no groups")
                : fmt::format("group{} {}", names.size() == 1 ? "" : "s", fmt::join(names, ", "))));
        o.code = "redis_group_missing";
        return o;
      }
      auto r = evaluate_group(ctx, s, *it, observed, violations, held, at_most, at_least);
      if (r) return std::move(*r);
    }

    std::string subject = scope(!group_.empty(), !consumer_.empty());
    if (!violations.empty()) {
      CheckOutcome o = CheckOutcome::fail(
          fmt::format("{}: {} threshold{} exceeded: {}", where, violations.size(),
                      violations.size() == 1 ? "" : "s", fmt::join(violations, "; ")));
      o.code = "redis_stream_threshold";
      o.details = {{"violations", violations}};
      return o;
    }
    return CheckOutcome::pass(fmt::format("{}: {} exists{}", where, subject,
                                          held.empty()
                                              ? std::string(" (no thresholds set)")
                                              : ": " + fmt::format("{}", fmt::join(held, ", "))));
  }

  /// Group-level (and consumer-level) observations and thresholds. Returns an outcome when
  /// the evaluation ends early (an error, a missing consumer).
  template <class AtMost, class AtLeast>
  std::optional<CheckOutcome> evaluate_group(CheckContext& ctx, Session& s, const GroupInfo& g,
                                             Json& observed, std::vector<std::string>& violations,
                                             std::vector<std::string>& held, AtMost& at_most,
                                             AtLeast& at_least) const {
    const std::string where = s.where();
    Json group_json = g.to_json();
    group_json["name"] = g.name;

    if (ctx.cancelled()) return interrupted();
    // The summary form: the pending count and the per-consumer counts as XPENDING shows them.
    auto summary = s.query({"XPENDING", stream_, group_});
    if (!summary) return CheckOutcome::from(summary.error());
    const std::string summary_what = fmt::format("{}: XPENDING {} {}", where, stream_, group_);
    const redisReply* sr = summary->get();
    if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 4) {
      return CheckOutcome::from(make_error(
          Errc::type_mismatch,
          fmt::format("{}: expected [count, smallest id, greatest id, consumers], found {}",
                      summary_what, describe_reply(sr))));
    }
    auto pending = as_integer(sr->element[0], summary_what + ": count");
    if (!pending) return CheckOutcome::from(pending.error());
    group_json["pending"] = *pending;
    for (std::size_t i : {std::size_t{1}, std::size_t{2}}) {
      const char* key = i == 1 ? "min_pending_id" : "max_pending_id";
      if (sr->element[i]->type == REDIS_REPLY_NIL) {
        group_json[key] = nullptr;
      } else {
        auto id = as_string(sr->element[i], summary_what + ": " + key);
        if (!id) return CheckOutcome::from(id.error());
        group_json[key] = *id;
      }
    }

    // Every consumer with its pending count and idle time.
    auto consumers_reply = s.query({"XINFO", "CONSUMERS", stream_, group_});
    if (!consumers_reply) return CheckOutcome::from(consumers_reply.error());
    const std::string consumers_what =
        fmt::format("{}: XINFO CONSUMERS {} {}", where, stream_, group_);
    if ((*consumers_reply)->type != REDIS_REPLY_ARRAY) {
      return CheckOutcome::from(
          make_error(Errc::type_mismatch,
                     fmt::format("{}: expected an array of consumers, found {}", consumers_what,
                                 describe_reply(consumers_reply->get()))));
    }
    std::vector<ConsumerInfo> consumers;
    for (std::size_t i = 0; i < (*consumers_reply)->elements; ++i) {
      auto c = parse_consumer((*consumers_reply)->element[i], consumers_what);
      if (!c) return CheckOutcome::from(c.error());
      consumers.push_back(std::move(*c));
    }
    Json consumers_json = Json::object();
    for (std::size_t i = 0; i < consumers.size() && i < kMaxListed; ++i) {
      consumers_json[consumers[i].name] = {{"pending", consumers[i].pending},
                                           {"idle_ms", consumers[i].idle_ms}};
    }
    group_json["consumers"] = std::move(consumers_json);
    group_json["consumer_count"] = consumers.size();
    if (consumers.size() > kMaxListed) group_json["consumers_truncated"] = true;

    // The oldest pending entry of the group (or of the consumer): evidence for the report.
    std::vector<std::string> oldest_args = {"XPENDING", stream_, group_, "-", "+", "1"};
    if (!consumer_.empty()) oldest_args.push_back(consumer_);
    auto oldest_reply = s.query(oldest_args);
    if (!oldest_reply) return CheckOutcome::from(oldest_reply.error());
    auto oldest = parse_first_pending(
        oldest_reply->get(), fmt::format("{}: {}", where, Session::command_text(oldest_args)));
    if (!oldest) return CheckOutcome::from(oldest.error());
    Json oldest_json = *oldest ? (*oldest)->to_json() : Json();

    const std::string group_scope = scope(true, false);
    const ConsumerInfo* consumer = nullptr;
    if (!consumer_.empty()) {
      auto it = std::find_if(consumers.begin(), consumers.end(),
                             [&](const ConsumerInfo& c) { return c.name == consumer_; });
      if (it == consumers.end()) {
        std::vector<std::string> names;
        for (const auto& c : consumers) names.push_back("'" + c.name + "'");
        observed["group"] = std::move(group_json);
        CheckOutcome o = CheckOutcome::fail(fmt::format(
            "{}: consumer '{}' does not exist in group '{}' of stream '{}' (found {}): expected "
            "an existing consumer",
            where, consumer_, group_, stream_,
            names.empty() ? std::string("no consumers")
                          : fmt::format("consumer{} {}", names.size() == 1 ? "" : "s",
                                        fmt::join(names, ", "))));
        o.code = "redis_consumer_missing";
        return o;
      }
      consumer = &*it;
      observed["consumer"] = {{"name", it->name},
                              {"pending", it->pending},
                              {"idle_ms", it->idle_ms},
                              {"oldest_pending", oldest_json}};
    } else {
      group_json["oldest_pending"] = oldest_json;
    }

    // Thresholds on the pending entries apply to the consumer when one is named.
    const std::string pending_scope = consumer ? scope(true, true) : group_scope;
    at_most(pending_scope, "pending (XPENDING)", "max_pending",
            consumer ? consumer->pending : *pending, t_.max_pending);

    if (t_.max_oldest_idle_ms) {
      // Entries idle longer than the limit, lowest ID first: exact, and bounded to one entry
      // whatever the backlog (XPENDING IDLE needs Redis >= 6.2).
      const std::int64_t limit = *t_.max_oldest_idle_ms;
      std::vector<std::string> args = {
          "XPENDING", stream_, group_, "IDLE", std::to_string(limit + 1), "-", "+", "1"};
      if (!consumer_.empty()) args.push_back(consumer_);
      auto reply = s.query(args);
      if (!reply) {
        Error e = std::move(reply).error();
        if (e.code == Errc::malformed) e.message += " (XPENDING ... IDLE needs Redis >= 6.2)";
        observed["group"] = std::move(group_json);
        return CheckOutcome::from(e);
      }
      auto over = parse_first_pending(reply->get(),
                                      fmt::format("{}: {}", where, Session::command_text(args)));
      if (!over) return CheckOutcome::from(over.error());
      Json& target = consumer ? observed["consumer"] : group_json;
      target["idle_over_limit"] = *over ? (*over)->to_json() : Json();
      if (*over) {
        violations.push_back(fmt::format(
            "{}: pending entry {} (consumer '{}', delivered {} time{}) has been idle {} ms, "
            "expected at most {} ms (max_oldest_idle {})",
            pending_scope, (*over)->id, (*over)->consumer, (*over)->deliveries,
            (*over)->deliveries == 1 ? "" : "s", (*over)->idle_ms, limit,
            redis::format_duration_ms(limit)));
      } else {
        held.push_back(
            fmt::format("no pending entry idle over {}", redis::format_duration_ms(limit)));
      }
    }

    if (t_.max_lag) {
      if (!g.has_lag) {
        violations.push_back(fmt::format(
            "{}: XINFO GROUPS reports no lag (the server is older than Redis 7.0), expected at "
            "most {} (max_lag)",
            group_scope, *t_.max_lag));
      } else if (!g.lag) {
        violations.push_back(fmt::format(
            "{}: lag is nil: the server cannot compute it (entries were deleted after the "
            "group's last-delivered-id {}, or the group was created at an arbitrary ID), "
            "expected at most {} (max_lag)",
            group_scope, g.last_delivered_id, *t_.max_lag));
      } else {
        at_most(group_scope, "lag", "max_lag", *g.lag, t_.max_lag);
      }
    }
    at_least(group_scope, "consumers", "min_consumers", static_cast<std::int64_t>(consumers.size()),
             t_.min_consumers);
    observed["group"] = std::move(group_json);
    return std::nullopt;
  }

  RedisUrl url_;
  PasswordSource password_;
  std::string stream_;
  std::string group_;
  std::string consumer_;
  Thresholds t_;
  std::int64_t timeout_ms_;
};

// ---------------------------------------------------------------------------------------------
// Registration.

CheckInfo info() {
  CheckInfo i;
  i.type = "redis_stream";
  i.category = "services";
  i.summary = "A Redis stream's backlog: length, pending entries, idle time and lag of a group.";
  i.description =
      "Reads a Redis stream (read-only: TYPE, XLEN, XINFO STREAM/GROUPS/CONSUMERS, XPENDING; "
      "never XREADGROUP, XACK or XCLAIM) and checks thresholds. The stream must exist and be a "
      "stream; with `group`, the consumer group must exist; with `consumer`, the consumer must "
      "exist in the group. Missing ones fail, naming them.\n"
      "Thresholds (all optional, inclusive): min_length/max_length (XLEN), min_entries_added "
      "(XINFO STREAM entries-added, Redis >= 7), and with a group: max_pending (XPENDING count; "
      "the consumer's count when `consumer` is given), max_oldest_idle (no pending entry, of "
      "the consumer when given, idle longer than this), max_lag (XINFO GROUPS lag, Redis >= 7; "
      "a nil lag fails), min_consumers. Without thresholds the check asserts existence only.\n"
      "An unreachable server, a timeout, a refused password or missing permissions is `error` "
      "(could not be evaluated). The password comes from the URL, `password_env` (embedded runs "
      "only) or `password_file`; it never appears in messages or reports. TLS (rediss://) is "
      "not supported by the hiredis version used (0.14) and is refused at load time.";
  auto integer = [](const char* name, const char* description) {
    return ParamSpec{name, ParamType::integer, false, nullptr, description, {}};
  };
  i.params = {
      {"url",
       ParamType::string,
       true,
       nullptr,
       "redis://[[user]:password@]host[:port][/db] or unix:///path/to/redis.sock[?db=N] "
       "(percent-encode special characters in user and password). Often `$redis_url`, a "
       "`secret: true` variable.",
       {}},
      {"stream", ParamType::string, true, nullptr, "The stream's key.", {}},
      {"group", ParamType::string, false, nullptr, "A consumer group that must exist.", {}},
      {"consumer",
       ParamType::string,
       false,
       nullptr,
       "A consumer that must exist in `group`; max_pending and max_oldest_idle then apply to it.",
       {}},
      integer("min_length", "Smallest allowed XLEN."),
      integer("max_length", "Largest allowed XLEN."),
      integer("min_entries_added",
              "Smallest allowed entries-added (every entry ever added, Redis >= 7)."),
      integer("max_pending", "Largest allowed pending count (needs group)."),
      {"max_oldest_idle",
       ParamType::any,
       false,
       nullptr,
       "Longest a pending entry may stay unacknowledged since its last delivery: \"30s\", "
       "\"5m\", \"250ms\", \"1h\" or an integer of milliseconds (needs group).",
       {}},
      integer("max_lag", "Largest allowed group lag (XINFO GROUPS, Redis >= 7; needs group)."),
      integer("min_consumers", "Fewest consumers the group must have (needs group)."),
      {"password_env",
       ParamType::string,
       false,
       nullptr,
       "Name of an environment variable holding the password; read only in embedded runs that "
       "allow the process environment (otherwise `error`).",
       {}},
      {"password_file",
       ParamType::local_path,
       false,
       nullptr,
       "A local_path variable ($var) naming a file whose first line is the password.",
       {}},
      {"timeout",
       ParamType::any,
       false,
       "5s",
       "Connect timeout and per-command timeout (a duration, at most 10m).",
       {}},
  };
  i.example =
      "- id: embedding_backlog\n"
      "  type: redis_stream\n"
      "  url: $redis_url                  # vars: {redis_url: {type: string, secret: true}}\n"
      "  stream: streams:embedding.ingested\n"
      "  group: cluster-workers\n"
      "  max_pending: 0\n"
      "  max_oldest_idle: 5m\n"
      "  max_lag: 0";
  return i;
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::unique_ptr<Check>> make(const CheckConfig& config) {
  auto url = redis::parse_redis_url(config.get_string("url"));
  if (!url) return config.error("url", url.error().message);

  const std::string stream = config.get_string("stream");
  if (stream.empty()) return config.error("stream", "empty: name the stream's key");
  std::string group = config.has("group") ? config.get_string("group") : std::string();
  if (config.has("group") && group.empty()) return config.error("group", "empty: name the group");
  std::string consumer = config.has("consumer") ? config.get_string("consumer") : std::string();
  if (config.has("consumer")) {
    if (consumer.empty()) return config.error("consumer", "empty: name the consumer");
    if (group.empty()) return config.error("consumer", "a consumer needs `group`");
  }

  Thresholds t;
  for (auto [name, slot] :
       {std::pair<const char*, std::optional<std::int64_t>*>{"min_length", &t.min_length},
        {"max_length", &t.max_length},
        {"min_entries_added", &t.min_entries_added},
        {"max_pending", &t.max_pending},
        {"max_lag", &t.max_lag},
        {"min_consumers", &t.min_consumers}}) {
    if (!config.has(name)) continue;
    std::int64_t v = config.get_int(name);
    if (v < 0) return config.error(name, fmt::format("{} is negative: expected a count >= 0", v));
    *slot = v;
  }
  if (config.has("max_oldest_idle")) {
    auto ms = redis::parse_duration_ms(config.get_json("max_oldest_idle"));
    if (!ms) return config.error("max_oldest_idle", ms.error().message);
    t.max_oldest_idle_ms = *ms;
  }
  if (t.min_length && t.max_length && *t.min_length > *t.max_length) {
    return config.error("min_length", fmt::format("min_length {} is greater than max_length {}",
                                                  *t.min_length, *t.max_length));
  }
  if (group.empty()) {
    for (const char* name : {"max_pending", "max_oldest_idle", "max_lag", "min_consumers"}) {
      if (config.has(name)) {
        return config.error(name,
                            fmt::format("{} is a consumer-group threshold: give `group`", name));
      }
    }
  }

  auto timeout = redis::parse_duration_ms(config.get_json("timeout"));
  if (!timeout) return config.error("timeout", timeout.error().message);
  if (*timeout < 1 || *timeout > 10 * 60 * 1000) {
    return config.error("timeout", fmt::format("{} is out of range: expected 1ms to 10m",
                                               redis::format_duration_ms(*timeout)));
  }

  PasswordSource password;
  std::vector<std::string> sources;
  if (url->password) sources.push_back("a password in url");
  if (config.has("password_env")) {
    password.env = config.get_string("password_env");
    if (!valid_env_name(password.env)) {
      return config.error("password_env",
                          fmt::format("'{}' is not an environment variable name", password.env));
    }
    sources.push_back("password_env");
  }
  if (config.has("password_file")) {
    password.file_var = config.get_string("password_file");
    sources.push_back("password_file");
  }
  if (sources.size() > 1) {
    return config.error(
        config.has("password_file") ? "password_file" : "password_env",
        fmt::format("give one password source, found {}", fmt::join(sources, " and ")));
  }
  if (!url->user.empty() && sources.empty()) {
    return config.error("url", fmt::format("user '{}' needs a password (in the URL, "
                                           "password_env or password_file)",
                                           url->user));
  }

  return std::unique_ptr<Check>(std::make_unique<RedisStream>(std::move(*url), std::move(password),
                                                              stream, std::move(group),
                                                              std::move(consumer), t, *timeout));
}

void register_checks(PluginRegistrar& registrar) { registrar.add(info(), make); }

}  // namespace

STAGECHECK_PLUGIN("redis_stream", "1.0.0", register_checks)
