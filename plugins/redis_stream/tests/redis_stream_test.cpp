// Tests for the `redis_stream` check: the URL and duration parsers directly, spec errors, and
// live runs against real redis-server processes on loopback (one without a password with a
// unix socket, one with --requirepass), started once for the suite.

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "redis_server.hpp"
#include "redis_url.hpp"
#include "stagecheck_test_support.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;
using Json = nlohmann::json;

constexpr const char* kPassword = "hunter2-Secret";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// URL and duration parsing.

TEST(RedisUrlTest, ParsesTcpUrls) {
  auto u = redis::parse_redis_url("redis://127.0.0.1:6380/2");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->kind, redis::RedisUrl::Kind::tcp);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 2);
  EXPECT_FALSE(u->password.has_value());
  EXPECT_EQ(u->redacted(), "redis://127.0.0.1:6380/2");

  u = redis::parse_redis_url("redis://localhost");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);

  u = redis::parse_redis_url("redis://:p%40ss%2Fword@cache.internal:7000");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->user, "");
  EXPECT_EQ(*u->password, "p@ss/word");
  EXPECT_EQ(u->redacted(), "redis://:***@cache.internal:7000/0");

  u = redis::parse_redis_url("redis://reader:pw@[::1]:6379/1");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->user, "reader");
  EXPECT_EQ(*u->password, "pw");
  EXPECT_EQ(u->redacted(), "redis://reader:***@[::1]:6379/1");

  u = redis::parse_redis_url("redis://reader@host");  // the password may come from elsewhere
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->user, "reader");
  EXPECT_FALSE(u->password.has_value());
}

TEST(RedisUrlTest, ParsesUnixSocketUrls) {
  auto u = redis::parse_redis_url("unix:///run/redis/redis.sock?db=3");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->kind, redis::RedisUrl::Kind::unix_socket);
  EXPECT_EQ(u->path, "/run/redis/redis.sock");
  EXPECT_EQ(u->db, 3);
  EXPECT_EQ(u->redacted(), "unix:///run/redis/redis.sock?db=3");
  u = redis::parse_redis_url("unix://:pw@/tmp/r.sock");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(*u->password, "pw");
  EXPECT_EQ(u->redacted(), "unix://:***@/tmp/r.sock");
}

TEST(RedisUrlTest, RefusesBadUrlsWithoutShowingThePassword) {
  for (const std::string bad :
       {"", "http://:hunter2@host", "redis://:hunter2@", "redis://:hunter2@host:0",
        "redis://:hunter2@host:65536", "redis://:hunter2@host:abc", "redis://:hunter2@host/x",
        "redis://:hunter2@host/1?timeout=3", "redis://:hunter2@[::1", "redis://:hunter2@host:",
        "redis://:hunter2@ho st", "redis://:hunt%zz@host", "redis://:@host",
        "unix://:hunter2@relative.sock", "unix:///tmp/r.sock?x=1", "redis:/host"}) {
    auto u = redis::parse_redis_url(bad);
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_EQ(u.error().code, Errc::spec_error);
    EXPECT_FALSE(contains(u.error().message, "hunter2")) << u.error().message;
    EXPECT_TRUE(contains(u.error().message, "invalid Redis URL")) << u.error().message;
  }
}

TEST(RedisUrlTest, RefusesTlsBecauseHiredisHasNone) {
  auto u = redis::parse_redis_url("rediss://:hunter2@cache:6380");
  ASSERT_FALSE(u.ok());
  EXPECT_TRUE(contains(u.error().message, "TLS (rediss://) is not supported")) << u.error().message;
  EXPECT_TRUE(contains(u.error().message, "hiredis 0.14")) << u.error().message;
  EXPECT_FALSE(contains(u.error().message, "hunter2"));
}

TEST(RedisUrlTest, ParsesDurations) {
  EXPECT_EQ(*redis::parse_duration_ms(Json(250)), 250);
  EXPECT_EQ(*redis::parse_duration_ms(Json("250ms")), 250);
  EXPECT_EQ(*redis::parse_duration_ms(Json("30s")), 30000);
  EXPECT_EQ(*redis::parse_duration_ms(Json("5m")), 300000);
  EXPECT_EQ(*redis::parse_duration_ms(Json("1h")), 3600000);
  EXPECT_EQ(*redis::parse_duration_ms(Json("0s")), 0);
  for (const Json& bad : {Json("30"), Json("s"), Json("1.5s"), Json("-1s"), Json(" 5s"),
                          Json("5 s"), Json("5d"), Json(-1), Json(1.5), Json(true), Json(),
                          Json("99999999999h"), Json(std::int64_t{1} << 60)}) {
    EXPECT_FALSE(redis::parse_duration_ms(bad).ok()) << bad.dump();
  }
  EXPECT_EQ(redis::format_duration_ms(300000), "5m");
  EXPECT_EQ(redis::format_duration_ms(1500), "1500ms");
}

// ---------------------------------------------------------------------------------------------
// Specs.

/// A spec with one redis_stream check `s.backlog` with `params` (one "key: value" per entry).
std::string spec_with(const std::vector<std::string>& params, const std::string& vars = "") {
  std::string out = "version: 1\nname: redis-stream-test\n";
  if (!vars.empty()) out += "vars:\n" + vars;
  out += "stages:\n  - id: s\n    checks:\n      - id: backlog\n        type: redis_stream\n";
  for (const auto& p : params) out += "        " + p + "\n";
  return out;
}

class RedisStreamSpecTest : public ::testing::Test {
 protected:
  /// Runs `spec`, expecting a spec error (exit 2) whose message holds `needle`.
  void expect_spec_error(const std::string& spec, const std::string& needle) {
    auto out = run_spec_text(spec, scratch_.path());
    EXPECT_EQ(out.exit_code, ExitCode::usage) << spec;
    EXPECT_FALSE(out.report.has_value());
    EXPECT_TRUE(contains(out.error, needle)) << "missing '" << needle << "' in: " << out.error;
    EXPECT_FALSE(contains(out.error, "hunter2")) << out.error;
  }
  ScratchDir scratch_;
};

TEST_F(RedisStreamSpecTest, TlsUrlIsASpecError) {
  expect_spec_error(spec_with({"url: 'rediss://:hunter2@cache:6380'", "stream: s"}),
                    "TLS (rediss://) is not supported");
}

TEST_F(RedisStreamSpecTest, MalformedUrlIsASpecErrorWithoutThePassword) {
  expect_spec_error(spec_with({"url: 'redis://:hunter2@cache:notaport'", "stream: s"}),
                    "url: invalid Redis URL 'redis://***@cache:notaport'");
}

TEST_F(RedisStreamSpecTest, UrlFromAVariableIsValidatedAtLoad) {
  auto spec =
      spec_with({"url: $redis_url", "stream: s"}, "  redis_url: {type: string, secret: true}\n");
  auto out = run_spec_text(spec, scratch_.path(), {{"redis_url", "redis://:hunter2@h:99999"}});
  EXPECT_EQ(out.exit_code, ExitCode::usage);
  EXPECT_TRUE(contains(out.error, "port must be a number from 1 to 65535")) << out.error;
  EXPECT_FALSE(contains(out.error, "hunter2")) << out.error;
}

TEST_F(RedisStreamSpecTest, GroupThresholdsNeedAGroup) {
  for (const std::string p :
       {"max_pending: 0", "max_lag: 0", "max_oldest_idle: 5m", "min_consumers: 1"}) {
    expect_spec_error(spec_with({"url: redis://127.0.0.1:1", "stream: s", p}),
                      "is a consumer-group threshold: give `group`");
  }
}

TEST_F(RedisStreamSpecTest, ConsumerNeedsAGroup) {
  expect_spec_error(spec_with({"url: redis://127.0.0.1:1", "stream: s", "consumer: c"}),
                    "consumer: a consumer needs `group`");
}

TEST_F(RedisStreamSpecTest, BadValuesAreSpecErrors) {
  const std::string u = "url: redis://127.0.0.1:1";
  expect_spec_error(spec_with({u, "stream: s", "max_length: -1"}), "-1 is negative");
  expect_spec_error(spec_with({u, "stream: s", "min_length: 5", "max_length: 4"}),
                    "min_length 5 is greater than max_length 4");
  expect_spec_error(spec_with({u, "stream: s", "max_length: '4'"}), "max_length");
  expect_spec_error(spec_with({u, "stream: s", "group: g", "max_oldest_idle: 5 minutes"}),
                    "\"5 minutes\" is not a duration");
  expect_spec_error(spec_with({u, "stream: s", "timeout: 0ms"}), "timeout: 0ms is out of range");
  expect_spec_error(spec_with({u, "stream: s", "timeout: 11m"}), "out of range");
  expect_spec_error(spec_with({u, "stream: ''"}), "stream: empty");
  expect_spec_error(spec_with({u}), "stream");
  expect_spec_error(spec_with({u, "stream: s", "streams: t"}), "streams");
  expect_spec_error(spec_with({"url: 'redis://:hunter2@h'", "stream: s", "password_env: PW"}),
                    "give one password source, found a password in url and password_env");
  expect_spec_error(spec_with({u, "stream: s", "password_env: 'A-B'"}),
                    "'A-B' is not an environment variable name");
  expect_spec_error(spec_with({"url: redis://reader@h", "stream: s"}),
                    "user 'reader' needs a password");
}

// ---------------------------------------------------------------------------------------------
// Live servers.

std::string command_text(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += (out.empty() ? "" : " ") + a;
  return out;
}

class RedisStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RedisServerOptions plain;
    plain.unix_socket = true;
    auto p = RedisServer::start(plain);
    if (!p.ok()) {
      start_error_ = p.error();
      return;
    }
    plain_ = p.release();
    RedisServerOptions secured;
    secured.password = kPassword;
    auto s = RedisServer::start(secured);
    if (!s.ok()) {
      start_error_ = s.error();
      return;
    }
    secured_ = s.release();
  }
  static void TearDownTestSuite() {
    plain_.reset();
    secured_.reset();
  }
  void SetUp() override {
    if (plain_ == nullptr || secured_ == nullptr) {
      if (RedisServer::required_by_ci()) {
        FAIL() << "CI=true but redis-server could not be started: " << start_error_;
      }
      GTEST_SKIP() << "redis-server not available: " << start_error_;
    }
    // Each test uses its own keys on the shared servers.
    stream_ = std::string("it:") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  /// Sends a command to `server`, failing the test on an error reply.
  static RedisReply must(const RedisServer& server, const std::vector<std::string>& args,
                         int db = 0) {
    RedisReply r = server.command(args, db);
    EXPECT_FALSE(r.is_error()) << command_text(args) << ": " << r.to_string();
    return r;
  }
  RedisReply must(const std::vector<std::string>& args) { return must(*plain_, args); }

  /// Adds `n` entries to the stream.
  void add(int n, const std::string& stream = "") {
    for (int i = 0; i < n; ++i) {
      must({"XADD", stream.empty() ? stream_ : stream, "*", "n", std::to_string(i)});
    }
  }
  /// Delivers up to `count` new entries to `consumer` (creating it): they become pending.
  void deliver(const std::string& group, const std::string& consumer, int count) {
    must({"XREADGROUP", "GROUP", group, consumer, "COUNT", std::to_string(count), "STREAMS",
          stream_, ">"});
  }
  /// The ids of the entries pending for `group`, oldest first.
  std::vector<std::string> pending_ids(const std::string& group) {
    RedisReply r = must({"XPENDING", stream_, group, "-", "+", "100"});
    std::vector<std::string> ids;
    for (const auto& e : r.elements) ids.push_back(e.elements.at(0).str);
    return ids;
  }

  /// Runs the spec with `params` against the plain server's stream.
  RunOutcome run(const std::vector<std::string>& params, const std::string& vars = "",
                 std::map<std::string, std::string> var_values = {}, RunOptions options = {}) {
    return run_spec_text(spec_with(params, vars), scratch_.path(), std::move(var_values), options);
  }
  static const CheckResult& result(RunOutcome&&) = delete;
  static const CheckResult& result(const RunOutcome& out) {
    EXPECT_TRUE(out.report.has_value()) << out.error;
    const CheckResult* r = out.report ? find_result(*out.report, "s.backlog") : nullptr;
    if (r == nullptr) throw std::runtime_error("no result s.backlog: " + out.error);
    return *r;
  }
  std::string url() const { return "url: " + plain_->url(); }
  std::string stream_param() const { return "stream: '" + stream_ + "'"; }

  static inline std::unique_ptr<RedisServer> plain_;
  static inline std::unique_ptr<RedisServer> secured_;
  static inline std::string start_error_;
  std::string stream_;
  ScratchDir scratch_;
};

// The seed runbook's drill: `XPENDING streams:embedding.ingested cluster-workers` must be zero.
TEST_F(RedisStreamTest, ZeroBacklogPassesWithEvidence) {
  add(3);
  must({"XGROUP", "CREATE", stream_, "cluster-workers", "0"});
  deliver("cluster-workers", "w1", 3);
  for (const auto& id : pending_ids("cluster-workers")) {
    must({"XACK", stream_, "cluster-workers", id});
  }
  auto out = run({url(), stream_param(), "group: cluster-workers", "max_pending: 0", "max_lag: 0",
                  "max_oldest_idle: 5m", "min_consumers: 1", "min_length: 3"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::pass);
  EXPECT_TRUE(contains(r.message, "stream '" + stream_ + "' group 'cluster-workers' exists"))
      << r.message;
  EXPECT_TRUE(contains(r.message, "pending (XPENDING) 0 <= 0")) << r.message;
  EXPECT_TRUE(contains(r.message, "lag 0 <= 0")) << r.message;
  EXPECT_EQ(r.observed["length"], 3);
  EXPECT_EQ(r.observed["entries_added"], 3);
  EXPECT_EQ(r.observed["group"]["name"], "cluster-workers");
  EXPECT_EQ(r.observed["group"]["pending"], 0);
  EXPECT_EQ(r.observed["group"]["lag"], 0);
  EXPECT_EQ(r.observed["group"]["entries_read"], 3);
  EXPECT_TRUE(r.observed["group"]["oldest_pending"].is_null());
  EXPECT_TRUE(r.observed["group"]["idle_over_limit"].is_null());
  EXPECT_EQ(r.observed["group"]["consumers"]["w1"]["pending"], 0);
  EXPECT_EQ(r.observed["groups"]["cluster-workers"]["consumers"], 1);
  EXPECT_EQ(r.observed["server"], plain_->url());
  EXPECT_EQ(r.expected["max_pending"], 0);
  EXPECT_EQ(r.expected["max_oldest_idle_ms"], 300000);
}

TEST_F(RedisStreamTest, PendingAboveMaxFailsNamingGroupFieldAndCounts) {
  add(5);
  must({"XGROUP", "CREATE", stream_, "cluster-workers", "0"});
  deliver("cluster-workers", "w1", 2);
  auto out = run({url(), stream_param(), "group: cluster-workers", "max_pending: 0"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_TRUE(contains(r.message, "stream '" + stream_ +
                                      "' group 'cluster-workers': pending (XPENDING) is 2, "
                                      "expected at most 0 (max_pending)"))
      << r.message;
  EXPECT_EQ(r.code, "redis_stream_threshold");
  EXPECT_EQ(r.observed["group"]["pending"], 2);
  EXPECT_EQ(r.observed["group"]["oldest_pending"]["consumer"], "w1");
  EXPECT_EQ(r.observed["group"]["oldest_pending"]["deliveries"], 1);
  EXPECT_EQ(r.observed["group"]["lag"], 3);
  // Below a threshold passes.
  auto ok = run({url(), stream_param(), "group: cluster-workers", "max_pending: 2"});
  EXPECT_EQ(result(ok).status, Status::pass) << result(ok).message;
}

TEST_F(RedisStreamTest, MissingStreamFailsInsteadOfPassingWithZeroBacklog) {
  auto out = run({url(), "stream: 'no:such:stream'", "max_length: 0"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_TRUE(contains(r.message, "stream 'no:such:stream' does not exist (db 0)")) << r.message;
  EXPECT_EQ(r.code, "redis_stream_missing");
  EXPECT_EQ(r.observed["type"], "none");
  // Also without any threshold, and with a group.
  auto out2 = run({url(), "stream: 'no:such:stream'", "group: g", "max_pending: 100"});
  EXPECT_EQ(result(out2).status, Status::fail);
}

TEST_F(RedisStreamTest, KeyOfAnotherTypeFails) {
  must({"SET", stream_, "not a stream"});
  auto out = run({url(), stream_param()});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "key '" + stream_ + "' (db 0) is a string, expected a stream"))
      << r.message;
}

TEST_F(RedisStreamTest, MissingGroupFailsNamingItAndTheGroupsFound) {
  add(1);
  must({"XGROUP", "CREATE", stream_, "other-workers", "$"});
  auto out = run({url(), stream_param(), "group: cluster-workers", "max_pending: 0"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "consumer group 'cluster-workers' does not exist on stream '" +
                                      stream_ + "' (found group 'other-workers')"))
      << r.message;
  EXPECT_EQ(r.code, "redis_group_missing");
  EXPECT_TRUE(r.observed["groups"].contains("other-workers"));
  // A stream without any group.
  add(1, stream_ + ":bare");
  auto out2 = run({url(), "stream: '" + stream_ + ":bare'", "group: g"});
  EXPECT_EQ(result(out2).status, Status::fail);
  EXPECT_TRUE(contains(result(out2).message, "(found no groups)")) << result(out2).message;
}

TEST_F(RedisStreamTest, MissingConsumerFailsNamingIt) {
  add(2);
  must({"XGROUP", "CREATE", stream_, "g", "0"});
  deliver("g", "w1", 1);
  auto out = run({url(), stream_param(), "group: g", "consumer: w9", "max_pending: 0"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "consumer 'w9' does not exist in group 'g' of stream '" +
                                      stream_ + "' (found consumer 'w1')"))
      << r.message;
  EXPECT_EQ(r.code, "redis_consumer_missing");
}

TEST_F(RedisStreamTest, ConsumerThresholdsApplyToThatConsumer) {
  add(4);
  must({"XGROUP", "CREATE", stream_, "g", "0"});
  deliver("g", "busy", 3);
  deliver("g", "idle", 0);  // COUNT 0 reads everything left: 1 entry
  auto busy = run({url(), stream_param(), "group: g", "consumer: busy", "max_pending: 1"});
  EXPECT_EQ(result(busy).status, Status::fail);
  EXPECT_TRUE(contains(result(busy).message,
                       "group 'g' consumer 'busy': pending (XPENDING) is 3, expected at most 1"))
      << result(busy).message;
  EXPECT_EQ(result(busy).observed["consumer"]["pending"], 3);
  auto idle = run({url(), stream_param(), "group: g", "consumer: idle", "max_pending: 1"});
  EXPECT_EQ(result(idle).status, Status::pass) << result(idle).message;
  EXPECT_EQ(result(idle).observed["consumer"]["pending"], 1);
  EXPECT_EQ(result(idle).observed["group"]["pending"], 4);
}

TEST_F(RedisStreamTest, PendingEntryIdleTooLongFails) {
  add(3);
  must({"XGROUP", "CREATE", stream_, "g", "0"});
  deliver("g", "w1", 3);
  auto ids = pending_ids("g");
  ASSERT_EQ(ids.size(), 3u);
  // Make the second entry look 10 minutes old (test set-up only; the check never claims).
  must({"XCLAIM", stream_, "g", "w2", "0", ids[1], "IDLE", "600000", "JUSTID"});
  auto out = run({url(), stream_param(), "group: g", "max_oldest_idle: 5m"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_TRUE(contains(r.message, "group 'g': pending entry " + ids[1] + " (consumer 'w2'"))
      << r.message;
  EXPECT_TRUE(contains(r.message, "expected at most 300000 ms (max_oldest_idle 5m)")) << r.message;
  EXPECT_EQ(r.observed["group"]["idle_over_limit"]["id"], ids[1]);
  EXPECT_GE(r.observed["group"]["idle_over_limit"]["idle_ms"].get<std::int64_t>(), 600000);
  // Within a longer limit it passes; for the consumer that holds only fresh entries too.
  auto ok = run({url(), stream_param(), "group: g", "max_oldest_idle: 1h"});
  EXPECT_EQ(result(ok).status, Status::pass) << result(ok).message;
  auto fresh = run({url(), stream_param(), "group: g", "consumer: w1", "max_oldest_idle: 5m"});
  EXPECT_EQ(result(fresh).status, Status::pass) << result(fresh).message;
  auto stale = run({url(), stream_param(), "group: g", "consumer: w2", "max_oldest_idle: 300000"});
  EXPECT_EQ(result(stale).status, Status::fail) << result(stale).message;
}

TEST_F(RedisStreamTest, LagAboveMaxFails) {
  add(10);
  must({"XGROUP", "CREATE", stream_, "g", "0"});
  deliver("g", "w1", 4);
  auto out = run({url(), stream_param(), "group: g", "max_lag: 5"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "group 'g': lag is 6, expected at most 5 (max_lag)"))
      << r.message;
  auto ok = run({url(), stream_param(), "group: g", "max_lag: 6"});
  EXPECT_EQ(result(ok).status, Status::pass) << result(ok).message;
}

TEST_F(RedisStreamTest, NilLagFailsClosed) {
  add(3);
  must({"XGROUP", "CREATE", stream_, "g", "0"});
  deliver("g", "w1", 1);
  auto ids = pending_ids("g");
  RedisReply all = must({"XRANGE", stream_, "-", "+"});
  must({"XDEL", stream_, all.elements.at(1).elements.at(0).str});  // a tombstone after it
  auto out = run({url(), stream_param(), "group: g", "max_lag: 1000"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_TRUE(contains(r.message, "group 'g': lag is nil: the server cannot compute it"))
      << r.message;
  EXPECT_TRUE(r.observed["group"]["lag"].is_null());
}

TEST_F(RedisStreamTest, LengthAndEntriesAddedBounds) {
  add(4);
  auto too_long = run({url(), stream_param(), "max_length: 3"});
  EXPECT_EQ(result(too_long).status, Status::fail);
  EXPECT_TRUE(contains(result(too_long).message,
                       "stream '" + stream_ + "': length (XLEN) is 4, expected at most 3"))
      << result(too_long).message;
  auto too_short = run({url(), stream_param(), "min_length: 5", "min_entries_added: 10"});
  EXPECT_EQ(result(too_short).status, Status::fail);
  EXPECT_TRUE(contains(result(too_short).message, "2 thresholds exceeded"))
      << result(too_short).message;
  EXPECT_TRUE(contains(result(too_short).message, "entries-added is 4, expected at least 10"))
      << result(too_short).message;
  EXPECT_EQ(result(too_short).details["violations"].size(), 2u);
  auto ok = run({url(), stream_param(), "min_length: 4", "max_length: 4", "min_entries_added: 4"});
  EXPECT_EQ(result(ok).status, Status::pass) << result(ok).message;
  // Existence only: no thresholds.
  auto exists = run({url(), stream_param()});
  EXPECT_EQ(result(exists).status, Status::pass);
  EXPECT_TRUE(contains(result(exists).message, "(no thresholds set)")) << result(exists).message;
}

TEST_F(RedisStreamTest, GroupWithoutConsumersFailsMinConsumers) {
  add(1);
  must({"XGROUP", "CREATE", stream_, "g", "$"});
  auto out = run({url(), stream_param(), "group: g", "min_consumers: 1"});
  EXPECT_EQ(result(out).status, Status::fail);
  EXPECT_TRUE(contains(result(out).message, "group 'g': consumers is 0, expected at least 1"))
      << result(out).message;
}

TEST_F(RedisStreamTest, DatabaseFromTheUrl) {
  must(*plain_, {"XADD", stream_, "*", "k", "v"}, 3);
  auto in3 = run({"url: " + plain_->url(3), stream_param(), "min_length: 1"});
  EXPECT_EQ(result(in3).status, Status::pass) << result(in3).message;
  EXPECT_EQ(result(in3).observed["db"], 3);
  auto in0 = run({"url: " + plain_->url(0), stream_param()});
  EXPECT_EQ(result(in0).status, Status::fail);  // not in db 0
  auto bad_db = run({"url: " + plain_->url(999), stream_param()});
  EXPECT_EQ(result(bad_db).status, Status::fail) << result(bad_db).message;
  EXPECT_TRUE(contains(result(bad_db).message, "SELECT 999")) << result(bad_db).message;
}

TEST_F(RedisStreamTest, UnixSocketUrl) {
  add(2);
  auto out =
      run({"url: 'unix://" + plain_->unix_socket_path() + "'", stream_param(), "min_length: 2"});
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;
  auto missing = run({"url: 'unix://" + plain_->dir().string() + "/nope.sock'", stream_param()});
  EXPECT_EQ(result(missing).status, Status::error) << result(missing).message;
  EXPECT_EQ(missing.exit_code, ExitCode::no_verdict);
}

// Read-only: a user limited to +@read (no XREADGROUP, XACK, XCLAIM) can run every form of the
// check, and the group's state is unchanged afterwards.
TEST_F(RedisStreamTest, WorksWithAReadOnlyAclUserAndChangesNothing) {
  add(3);
  must({"XGROUP", "CREATE", stream_, "g", "0"});
  deliver("g", "w1", 2);
  must({"ACL", "SETUSER", "reader", "on", ">reader-pw", "~*", "-@all", "+@read", "+@connection",
        "+select"});
  RedisReply before = must({"XINFO", "GROUPS", stream_});
  RedisReply pending_before = must({"XPENDING", stream_, "g", "-", "+", "10"});
  auto out =
      run({"url: redis://reader:reader-pw@127.0.0.1:" + std::to_string(plain_->port()),
           stream_param(), "group: g", "consumer: w1", "max_pending: 5", "max_oldest_idle: 1h",
           "max_lag: 5", "min_length: 1", "min_entries_added: 1", "min_consumers: 1"});
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;
  RedisReply after = must({"XINFO", "GROUPS", stream_});
  RedisReply pending_after = must({"XPENDING", stream_, "g", "-", "+", "10"});
  EXPECT_EQ(before.to_string(), after.to_string());
  ASSERT_EQ(pending_before.elements.size(), pending_after.elements.size());
  for (std::size_t i = 0; i < pending_before.elements.size(); ++i) {
    // Same ids, owners and delivery counts (idle times grow).
    EXPECT_EQ(pending_before.elements[i].elements[0].str,
              pending_after.elements[i].elements[0].str);
    EXPECT_EQ(pending_before.elements[i].elements[1].str,
              pending_after.elements[i].elements[1].str);
    EXPECT_EQ(pending_before.elements[i].elements[3].integer,
              pending_after.elements[i].elements[3].integer);
  }
  // A user without the read commands is refused: could not be evaluated, not a pass.
  must({"ACL", "SETUSER", "nobody", "on", ">nobody-pw", "~*", "-@all", "+@connection"});
  auto denied = run({"url: redis://nobody:nobody-pw@127.0.0.1:" + std::to_string(plain_->port()),
                     stream_param()});
  EXPECT_EQ(result(denied).status, Status::error) << result(denied).message;
  EXPECT_TRUE(contains(result(denied).message, "NOPERM")) << result(denied).message;
  EXPECT_EQ(denied.exit_code, ExitCode::no_verdict);
}

TEST_F(RedisStreamTest, PasswordInTheUrl) {
  must(*secured_, {"XADD", stream_, "*", "k", "v"});
  auto out = run({"url: " + secured_->url(), stream_param(), "min_length: 1"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_FALSE(contains(r.message, kPassword));
  EXPECT_FALSE(contains(r.observed.dump(), kPassword));
  EXPECT_EQ(r.observed["server"],
            "redis://:***@127.0.0.1:" + std::to_string(secured_->port()) + "/0");
}

TEST_F(RedisStreamTest, WrongPasswordIsAnErrorAndNeverShown) {
  const std::string wrong = "not-the-Password-42";
  auto out =
      run({"url: 'redis://:" + wrong + "@127.0.0.1:" + std::to_string(secured_->port()) + "'",
           stream_param()});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_TRUE(contains(r.message, "authentication failed")) << r.message;
  EXPECT_FALSE(contains(r.message, wrong)) << r.message;
  EXPECT_FALSE(contains(r.observed.dump() + r.expected.dump() + r.details.dump(), wrong));
}

TEST_F(RedisStreamTest, MissingPasswordIsAnError) {
  auto out = run({"url: redis://127.0.0.1:" + std::to_string(secured_->port()), stream_param()});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_TRUE(contains(r.message, "the server requires a password (NOAUTH")) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
}

TEST_F(RedisStreamTest, PasswordFromAFile) {
  must(*secured_, {"XADD", stream_, "*", "k", "v"});
  scratch_.write("etc/redis.pw", std::string(kPassword) + "\n");
  const std::string vars = "  pw_file: {type: local_path}\n";
  const std::vector<std::string> params = {
      "url: redis://127.0.0.1:" + std::to_string(secured_->port()), stream_param(),
      "password_file: $pw_file", "min_length: 1"};
  auto out = run(params, vars, {{"pw_file", (scratch_ / "etc/redis.pw").string()}});
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;
  scratch_.write("etc/wrong.pw", "nope\n");
  auto wrong = run(params, vars, {{"pw_file", (scratch_ / "etc/wrong.pw").string()}});
  EXPECT_EQ(result(wrong).status, Status::error) << result(wrong).message;
  auto unset = run(params, vars);
  EXPECT_EQ(result(unset).status, Status::error) << result(unset).message;
  EXPECT_TRUE(contains(result(unset).message, "variable 'pw_file' is not set"))
      << result(unset).message;
}

TEST_F(RedisStreamTest, PasswordFromTheEnvironmentOnlyWhenEmbedded) {
  must(*secured_, {"XADD", stream_, "*", "k", "v"});
  ::setenv("STAGECHECK_TEST_REDIS_PW", kPassword, 1);
  const std::vector<std::string> params = {
      "url: redis://127.0.0.1:" + std::to_string(secured_->port()), stream_param(),
      "password_env: STAGECHECK_TEST_REDIS_PW"};
  auto driver_like = run(params);
  EXPECT_EQ(result(driver_like).status, Status::error) << result(driver_like).message;
  EXPECT_TRUE(contains(result(driver_like).message, "only allowed when embedded"))
      << result(driver_like).message;
  RunOptions embedded;
  embedded.allow_process_env = true;
  auto out = run(params, "", {}, embedded);
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;
  ::unsetenv("STAGECHECK_TEST_REDIS_PW");
  auto unset = run(params, "", {}, embedded);
  EXPECT_EQ(result(unset).status, Status::error) << result(unset).message;
}

TEST_F(RedisStreamTest, UnreachableServerCouldNotBeEvaluated) {
  const int port = RedisServer::free_port();  // nothing listens there
  auto out = run({"url: redis://127.0.0.1:" + std::to_string(port), stream_param(), "group: g",
                  "max_pending: 0", "timeout: 2s"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_TRUE(contains(r.message, "could not connect")) << r.message;
  EXPECT_TRUE(contains(r.message, "127.0.0.1:" + std::to_string(port))) << r.message;
}

// A server that accepts connections but never answers: bounded by the command timeout.
TEST_F(RedisStreamTest, SilentServerTimesOut) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);  // the kernel completes handshakes; nobody reads
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  auto start = std::chrono::steady_clock::now();
  auto out =
      run({"url: redis://127.0.0.1:" + std::to_string(port), stream_param(), "timeout: 300ms"});
  auto elapsed = std::chrono::steady_clock::now() - start;
  ::close(fd);
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_TRUE(contains(r.message, "no answer within 300ms (timeout)")) << r.message;
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

/// A fake server on loopback that answers every command with the same raw RESP `reply`.
class FakeServer {
 public:
  /// With `replies_before_reset` >= 0, the connection is reset (RST) after that many replies.
  explicit FakeServer(std::string reply, int replies_before_reset = -1)
      : reply_(std::move(reply)), replies_before_reset_(replies_before_reset) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("fake server: cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      int replies = 0;
      while (replies != replies_before_reset_ && ::recv(c, buf, sizeof buf, 0) > 0) {
        if (::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL) < 0) break;
        ++replies;
      }
      if (replies == replies_before_reset_) {
        linger hard{1, 0};  // close with RST: the peer's next write gets EPIPE (SIGPIPE)
        ::setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      }
      ::close(c);
    }
  }
  std::string reply_;
  int replies_before_reset_ = -1;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A reply of an unexpected type is a failure naming the command, never a pass.
TEST_F(RedisStreamTest, WrongReplyTypeFails) {
  FakeServer fake(":1\r\n");
  auto out =
      run({"url: redis://127.0.0.1:" + std::to_string(fake.port()), stream_param(), "timeout: 2s"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_TRUE(contains(r.message, "TYPE " + stream_ + ": expected a string, found the integer 1"))
      << r.message;
}

// A server that is still loading its data set could not evaluate anything: error, exit 3.
TEST_F(RedisStreamTest, LoadingServerCouldNotBeEvaluated) {
  FakeServer fake("-LOADING Redis is loading the dataset in memory\r\n");
  auto out =
      run({"url: redis://127.0.0.1:" + std::to_string(fake.port()), stream_param(), "timeout: 2s"});
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_TRUE(contains(r.message, "the server cannot answer now (LOADING")) << r.message;
}

// A server that resets the connection, at once or mid-check: could not be evaluated.
TEST_F(RedisStreamTest, ConnectionResetIsAnError) {
  for (int replies : {0, 1}) {
    FakeServer fake("+stream\r\n", replies);
    auto out = run(
        {"url: redis://127.0.0.1:" + std::to_string(fake.port()), stream_param(), "timeout: 2s"});
    const CheckResult& r = result(out);
    EXPECT_EQ(r.status, Status::error) << replies << ": " << r.message;
    EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
    // At once, the reset may be seen while connecting or at the first command.
    if (replies == 1) {
      EXPECT_TRUE(contains(r.message, ": XLEN ")) << r.message;
    }
  }
  FakeServer fake("+stream\r\n", 1);
  scratch_.write("reset.yaml", spec_with({"url: redis://127.0.0.1:" + std::to_string(fake.port()),
                                          stream_param(), "timeout: 2s"}));
  auto d = run_driver("run '" + (scratch_ / "reset.yaml").string() + "' --root '" +
                      scratch_.path().string() + "'");
  EXPECT_EQ(d.code, 3) << d.out << d.err;
}

// The driver: exit codes 0, 1, 2 and 3, and a report file without the password.
TEST_F(RedisStreamTest, DriverExitCodes) {
  must(*secured_, {"XADD", stream_, "*", "k", "v"});
  must(*secured_, {"XGROUP", "CREATE", stream_, "g", "0"});
  scratch_.write("spec.yaml",
                 spec_with({"url: $redis_url", stream_param(), "group: g", "max_lag: $max_lag"},
                           "  redis_url: {type: string, required: true, secret: true}\n"
                           "  max_lag: {type: integer, default: 0}\n"));
  fs::create_directories(scratch_ / "root");
  auto driver = [&](const std::string& url, const std::string& extra = "") {
    return run_driver("run '" + (scratch_ / "spec.yaml").string() + "' --root '" +
                      (scratch_ / "root").string() + "' --var 'redis_url=" + url + "' " + extra);
  };
  const std::string report = (scratch_ / "report.json").string();
  auto pass = driver(secured_->url(), "--var max_lag=1 --report-json '" + report + "'");
  EXPECT_EQ(pass.code, 0) << pass.out << pass.err;
  const std::string report_text = slurp(report);
  EXPECT_TRUE(contains(report_text, "redis://:***@127.0.0.1")) << report_text;
  EXPECT_FALSE(contains(report_text + pass.out + pass.err, kPassword));

  auto fail = driver(secured_->url());  // lag 1 > 0
  EXPECT_EQ(fail.code, 1) << fail.out << fail.err;
  EXPECT_TRUE(contains(fail.out, "lag is 1, expected at most 0 (max_lag)")) << fail.out;
  EXPECT_FALSE(contains(fail.out + fail.err, kPassword));

  auto spec_error = driver("rediss://:" + std::string(kPassword) + "@127.0.0.1:1");
  EXPECT_EQ(spec_error.code, 2) << spec_error.out << spec_error.err;
  EXPECT_TRUE(contains(spec_error.err, "TLS (rediss://) is not supported")) << spec_error.err;
  EXPECT_FALSE(contains(spec_error.out + spec_error.err, kPassword));

  auto unreachable = driver("redis://:" + std::string(kPassword) +
                            "@127.0.0.1:" + std::to_string(RedisServer::free_port()));
  EXPECT_EQ(unreachable.code, 3) << unreachable.out << unreachable.err;
  EXPECT_FALSE(contains(unreachable.out + unreachable.err, kPassword));
}

TEST_F(RedisStreamTest, ListedByListChecks) {
  auto r = run_driver("list-checks --no-default-plugins --plugin-dir '" +
                      std::string(STAGECHECK_PLUGIN_BUILD_DIR) + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "redis_stream")) << r.out;
  EXPECT_TRUE(contains(r.out, "max_oldest_idle")) << r.out;
}

}  // namespace
