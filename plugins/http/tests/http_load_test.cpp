// Tests for `http_load`: real targets on loopback. Latency thresholds are exercised with a
// deliberately slow endpoint and wide margins; no test asserts that something was fast.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "http_target.hpp"
#include "stagecheck_test_support.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;
using nlohmann::json;

#define REQUIRE_NGINX(target)                                         \
  do {                                                                \
    if (!(target).ok()) {                                             \
      const char* ci = std::getenv("CI");                             \
      if (ci != nullptr && std::string(ci) == "true") {               \
        FAIL() << "nginx is required on CI: " << (target).error();    \
      }                                                               \
      GTEST_SKIP() << "nginx is not available: " << (target).error(); \
    }                                                                 \
  } while (0)

/// A spec with one http_load check `s.load` whose parameters are `params` (8-space indent).
std::string spec(const std::string& params) {
  return "version: 1\nname: http-load-test\nstages:\n  - id: s\n    checks:\n      - id: load\n"
         "        type: http_load\n" +
         params;
}

class HttpLoadTest : public ::testing::Test {
 protected:
  RunOutcome run(const std::string& text) { return run_spec_text(text, scratch_.path()); }
  static const CheckResult& result(RunOutcome&&) = delete;
  static const CheckResult& result(const RunOutcome& out) {
    if (!out.report) throw std::runtime_error("no report: " + out.error);
    const CheckResult* r = find_result(*out.report, "s.load");
    if (r == nullptr) throw std::runtime_error("no result s.load");
    return *r;
  }
  ScratchDir scratch_;
  HttpTarget target_;
};

TEST_F(HttpLoadTest, NginxProbePassesAndReportsEveryFigure) {
  NginxTarget nginx(NginxFiles{{"items.json", R"({"items": [1, 2, 3]})"}});
  REQUIRE_NGINX(nginx);
  auto out = run(spec("        url: " + nginx.url("/items.json") + R"(
        requests: 300
        concurrency: 10
        thresholds: ["p(95) < 3s", "avg < 500ms", "max < 2000ms", "error_rate < 0.10"]
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::pass);
  EXPECT_EQ(r.observed["requests"], 300);
  EXPECT_EQ(r.observed["responses"], 300);
  EXPECT_EQ(r.observed["errors"], 0);
  EXPECT_EQ(r.observed["statuses"]["200"], 300);
  for (const char* k : {"min", "avg", "med", "p90", "p95", "p99", "max"}) {
    ASSERT_TRUE(r.observed["latency_ms"].contains(k)) << k;
    EXPECT_GT(r.observed["latency_ms"][k].get<double>(), 0.0) << k;
  }
  EXPECT_LE(r.observed["latency_ms"]["min"].get<double>(),
            r.observed["latency_ms"]["p95"].get<double>());
  EXPECT_LE(r.observed["latency_ms"]["p95"].get<double>(),
            r.observed["latency_ms"]["max"].get<double>());
  EXPECT_GT(r.observed["rps"].get<double>(), 0.0);
  EXPECT_NE(r.message.find("all 4 threshold(s) hold; 300 requests at concurrency 10"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(r.details["thresholds"].size(), 4u);
}

TEST_F(HttpLoadTest, SlowEndpointFailsLatencyThresholdsNamingThem) {
  target_.json("/slow", R"({"ok": true})", 200, 300);  // every answer takes >= 300 ms
  auto out = run(spec("        url: " + target_.url("/slow") + R"(
        requests: 8
        concurrency: 4
        thresholds: ["p(95) < 100ms", "avg < 100ms", "max < 60s", "error_rate < 0.10"]
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_EQ(r.code, "http_thresholds_failed");
  EXPECT_NE(r.message.find("2 of 4 threshold(s) failed: p(95) < 100ms (found p(95) = "),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("avg < 100ms (found avg = "), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("max < 60s (found"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("GET " + target_.url("/slow")), std::string::npos) << r.message;
  EXPECT_GE(r.observed["latency_ms"]["min"].get<double>(), 300.0);
  EXPECT_EQ(r.observed["requests"], 8);
}

TEST_F(HttpLoadTest, ErrorRateCountsUnexpectedStatuses) {
  std::atomic<int> n{0};
  target_.route("/flaky", [&](const HttpSeen&) {
    bool bad = ++n % 4 == 0;  // exactly every 4th request fails
    return HttpReply{bad ? 500 : 200, "{}", {}, 0};
  });
  auto fail = run(spec("        url: " + target_.url("/flaky") + R"(
        requests: 100
        concurrency: 5
        thresholds: ["error_rate < 0.10", "p(99) < 60s"]
)"));
  const CheckResult& r = result(fail);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.observed["errors"], 25);
  EXPECT_EQ(r.observed["unexpected_status"], 25);
  EXPECT_EQ(r.observed["statuses"]["500"], 25);
  EXPECT_DOUBLE_EQ(r.observed["error_rate"].get<double>(), 0.25);
  EXPECT_NE(r.message.find("error_rate < 0.10 (found error_rate = 0.25)"), std::string::npos)
      << r.message;

  auto pass = run(spec("        url: " + target_.url("/flaky") + R"(
        requests: 100
        concurrency: 5
        thresholds: ["error_rate < 30%"]
)"));
  EXPECT_EQ(result(pass).status, Status::pass) << result(pass).message;
  // 500 counted as success when the spec says so.
  auto lenient = run(spec("        url: " + target_.url("/flaky") + R"(
        requests: 40
        expected_status: [200, 500]
        thresholds: ["error_rate == 0"]
)"));
  EXPECT_EQ(result(lenient).status, Status::pass) << result(lenient).message;
}

TEST_F(HttpLoadTest, WithoutAnErrorRateThresholdErrorsStillFail) {
  target_.json("/down", R"({"status": "down"})", 503);
  auto out = run(spec("        url: " + target_.url("/down") + R"(
        requests: 20
        thresholds: ["p(95) < 60s"]
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("error_rate == 0 (found error_rate = 1)"), std::string::npos)
      << r.message;
  EXPECT_EQ(r.expected["implicit"], "error_rate == 0 (no error_rate threshold given)");
}

TEST_F(HttpLoadTest, TimeoutsCountAsTransportErrors) {
  std::atomic<int> n{0};
  target_.route("/half", [&](const HttpSeen&) {
    bool slow = ++n % 2 == 0;  // every other request hangs well past the timeout
    return HttpReply{200, "{}", {}, slow ? 3000 : 0};
  });
  auto out = run(spec("        url: " + target_.url("/half") + R"(
        requests: 20
        concurrency: 2
        timeout: 300ms
        thresholds: ["error_rate < 0.10"]
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(r.observed["requests"], 20);
  EXPECT_EQ(r.observed["transport_errors"], 10);
  EXPECT_EQ(r.observed["responses"], 10);
  EXPECT_DOUBLE_EQ(r.observed["error_rate"].get<double>(), 0.5);
  EXPECT_NE(r.message.find("transport errors: 10 x Timeout was reached"), std::string::npos)
      << r.message;
}

TEST_F(HttpLoadTest, NothingCompletedIsErrorNotFail) {
  int port = free_loopback_port();
  auto out = run(spec("        url: http://127.0.0.1:" + std::to_string(port) + R"(/
        requests: 10
        concurrency: 2
        thresholds: ["error_rate < 0.10"]
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_EQ(r.code, "http_unreachable");
  EXPECT_NE(r.message.find("could not be evaluated: no request completed (10 transport error(s)"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("Couldn't connect to server"), std::string::npos) << r.message;
}

TEST_F(HttpLoadTest, DurationModeRunsForTheDuration) {
  target_.json("/ok", "{}");
  auto out = run(spec("        url: " + target_.url("/ok") + R"(
        duration: 300ms
        concurrency: 4
        thresholds: ["error_rate == 0"]
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_GT(r.observed["requests"].get<std::int64_t>(), 0);
  EXPECT_GE(r.observed["elapsed_s"].get<double>(), 0.3);
  EXPECT_EQ(r.expected["duration_s"], 0.3);
}

TEST_F(HttpLoadTest, MaxDurationBoundsACountProbe) {
  target_.json("/slow", "{}", 200, 200);
  auto out = run(spec("        url: " + target_.url("/slow") + R"(
        requests: 1000000
        concurrency: 2
        max_duration: 1s
        thresholds: ["error_rate == 0"]
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("of 1000000 requests finished within max_duration 1 s"),
            std::string::npos)
      << r.message;
  EXPECT_LT(r.observed["requests"].get<std::int64_t>(), 1000000);
  EXPECT_LE(r.observed["aborted_in_flight"].get<std::int64_t>(), 2);
}

TEST_F(HttpLoadTest, ConnectionsAreReusedAndThreadsShareTheCount) {
  target_.json("/ok", "{}");
  auto out = run(spec("        url: " + target_.url("/ok") + R"(
        requests: 200
        concurrency: 4
        threads: 2
        thresholds: ["error_rate == 0"]
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["requests"], 200);
  EXPECT_EQ(target_.count("/ok"), 200u);
  EXPECT_LE(target_.connections(), 4u);
}

TEST_F(HttpLoadTest, InterruptionStopsTheProbe) {
  target_.json("/slow", "{}", 200, 200);
  std::atomic<bool> cancel{false};
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  RunOptions options;
  options.cancel = &cancel;
  auto out = run_spec_text(spec("        url: " + target_.url("/slow") + R"(
        duration: 60s
        concurrency: 2
        thresholds: ["error_rate == 0"]
)"),
                           scratch_.path(), {}, options);
  interrupter.join();
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(r.code, "http_interrupted");
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  // Stopped long before the 60 s it asked for (the only bound asserted, with a wide margin).
  EXPECT_LT(r.observed["elapsed_s"].get<double>(), 30.0);
}

TEST_F(HttpLoadTest, MalformedSpecsAreRefusedAtLoad) {
  struct Case {
    std::string params;
    std::string error;
  };
  const std::string u = "        url: http://127.0.0.1:1/x\n";
  const std::string n = "        requests: 10\n";
  for (const Case& c : {
           Case{u + n + "        thresholds: [\"p(101) < 1s\"]\n", "percentile 101 is outside"},
           Case{u + n + "        thresholds: [\"avg < 3 parsecs\"]\n", "unknown unit \"parsecs\""},
           Case{u + n + "        thresholds: [\"latency < 3s\"]\n", "unknown metric \"latency\""},
           Case{u + n + "        thresholds: [\"error_rate < 2s\"]\n",
                "error_rate takes a fraction"},
           Case{u + n + "        thresholds: []\n", "give at least one threshold"},
           Case{u + n, "thresholds"},
           Case{u + "        thresholds: [\"avg < 1s\"]\n", "give requests (a count), duration"},
           Case{u + "        requests: 0\n        thresholds: [\"avg < 1s\"]\n",
                "expected 1..5000000"},
           Case{u + n + "        concurrency: 0\n        thresholds: [\"avg < 1s\"]\n",
                "concurrency"},
           Case{u + n + "        concurrency: 1001\n        thresholds: [\"avg < 1s\"]\n",
                "concurrency"},
           Case{u + "        duration: 11m\n        thresholds: [\"avg < 1s\"]\n",
                "between 1ms and 10m"},
           Case{u + "        duration: 10s\n        max_duration: 5s\n        thresholds: [\"avg < "
                    "1s\"]\n",
                "shorter than duration"},
           Case{u + "        duration: 10\n        thresholds: [\"avg < 1s\"]\n", "duration"},
           Case{"        url: http://192.168.1.1/x\n" + n + "        thresholds: [\"avg < 1s\"]\n",
                "not loopback"},
       }) {
    auto out = run(spec(c.params));
    EXPECT_EQ(out.exit_code, ExitCode::usage) << c.params;
    EXPECT_NE(out.error.find(c.error), std::string::npos) << c.params << "\n" << out.error;
  }
}

TEST_F(HttpLoadTest, DriverExitCodes) {
  target_.json("/ok", "{}");
  target_.json("/slow", "{}", 200, 300);
  auto drive = [&](const std::string& params) {
    scratch_.write("spec.yaml", spec(params));
    return run_driver("run '" + (scratch_ / "spec.yaml").string() + "' --root '" +
                      scratch_.path().string() + "' --no-default-plugins --plugin-dir '" +
                      STAGECHECK_PLUGIN_BUILD_DIR + "'");
  };
  const std::string t = "        requests: 4\n        concurrency: 2\n";
  DriverRun pass = drive("        url: " + target_.url("/ok") + "\n" + t +
                         "        thresholds: [\"p(95) < 60s\"]\n");
  EXPECT_EQ(pass.code, 0) << pass.out << pass.err;
  DriverRun fail = drive("        url: " + target_.url("/slow") + "\n" + t +
                         "        thresholds: [\"p(95) < 100ms\"]\n");
  EXPECT_EQ(fail.code, 1) << fail.out << fail.err;
  DriverRun bad = drive("        url: " + target_.url("/ok") + "\n" + t +
                        "        thresholds: [\"p(95) ~ 100ms\"]\n");
  EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("expected an operator"), std::string::npos) << bad.err;
  DriverRun down = drive("        url: http://127.0.0.1:" + std::to_string(free_loopback_port()) +
                         "/\n" + t + "        thresholds: [\"p(95) < 60s\"]\n");
  EXPECT_EQ(down.code, 3) << down.out << down.err;
}

}  // namespace

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;

TEST(HttpExampleSpec, PassesAgainstAConformingServiceAndFailsASlowOne) {
  const std::string text =
      slurp(std::string(STAGECHECK_SOURCE_DIR) + "/plugins/http/examples/service.yaml");
  ASSERT_FALSE(text.empty());
  HttpTarget good;
  good.json("/health", R"({"status": "ok", "checks": [{"name": "db", "ok": true}]})");
  good.route("/api/items", [](const HttpSeen& req) {
    bool authorized = req.headers.count("authorization") != 0 &&
                      req.headers.at("authorization") == "Bearer example";
    return HttpReply{authorized ? 200 : 401,
                     R"({"items": [{"id": 1, "price": 3.5}], "next_page": null})",
                     {{"Content-Type", "application/json"}},
                     0};
  });
  ScratchDir scratch;
  auto vars = [](const HttpTarget& t) {
    return std::map<std::string, std::string>{{"health_url", t.url("/health")},
                                              {"items_url", t.url("/api/items")},
                                              {"api_token", "Bearer example"}};
  };
  auto out = run_spec_text(text, scratch.path(), vars(good));
  ASSERT_TRUE(out.report.has_value()) << out.error;
  EXPECT_EQ(out.exit_code, ExitCode::pass) << out.summary();
  for (const auto& r : out.report->results) EXPECT_EQ(r.status, Status::pass) << r.id << r.message;
  EXPECT_EQ(good.count("/api/items"), 2001u);

  // Every answer of the slow service takes 600 ms: avg < 500ms cannot hold.
  HttpTarget slow;
  slow.json("/health", R"({"status": "ok", "checks": [{"name": "db", "ok": true}]})");
  slow.json("/api/items", R"({"items": [{"id": 1, "price": 3.5}], "next_page": null})", 200, 600);
  std::string quick = text;
  quick.replace(quick.find("requests: 2000"), 14, "requests: 50  ");
  auto bad = run_spec_text(quick, scratch.path(), vars(slow));
  ASSERT_TRUE(bad.report.has_value()) << bad.error;
  EXPECT_EQ(bad.exit_code, ExitCode::fail);
  const CheckResult* r = find_result(*bad.report, "under_load.items_under_load");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, Status::fail);
  EXPECT_NE(r->message.find("avg < 500ms (found avg = "), std::string::npos) << r->message;
}

}  // namespace
