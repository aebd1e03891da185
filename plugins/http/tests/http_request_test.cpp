// Tests for `http_request`: real HTTP targets on loopback (nginx and a small server of our
// own from tests/support/http_target.hpp), specs run in-process and through the driver.

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

/// Skips without nginx, but fails when CI=true (CI must not silently lose these tests).
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

constexpr const char* kHealth = R"({"status": "ok", "version": "1.4.2",
  "checks": {"db": {"ok": true, "latency_ms": 3}}, "items": [1, 2, 3]})";

/// A spec with one http_request check `s.req` whose parameters are `params` (YAML lines
/// indented by 8 spaces).
std::string spec(const std::string& params, const std::string& vars = "") {
  return "version: 1\nname: http-test\n" + (vars.empty() ? "" : "vars:\n" + vars) +
         "stages:\n  - id: s\n    checks:\n      - id: req\n        type: http_request\n" + params;
}

class HttpRequestTest : public ::testing::Test {
 protected:
  RunOutcome run(const std::string& text, std::map<std::string, std::string> vars = {}) {
    return run_spec_text(text, scratch_.path(), std::move(vars));
  }
  static const CheckResult& result(RunOutcome&&) = delete;
  static const CheckResult& result(const RunOutcome& out, const std::string& id = "s.req") {
    if (!out.report) throw std::runtime_error("no report: " + out.error);
    const CheckResult* r = find_result(*out.report, id);
    if (r == nullptr) throw std::runtime_error("no result " + id);
    return *r;
  }
  ScratchDir scratch_;
  HttpTarget target_;
};

TEST_F(HttpRequestTest, NginxStaticJsonPassesStatusHeadersAndConditions) {
  NginxTarget nginx(NginxFiles{{"health.json", kHealth}});
  REQUIRE_NGINX(nginx);
  auto out = run(spec("        url: " + nginx.url("/health.json") + R"(
        expected_status: 200
        expected_headers:
          Content-Type: application/json
          server: {matches: "nginx.*"}
          ETag: {present: true}
          X-Debug: {absent: true}
        json:
          - status == 'ok'
          - checks.db.ok == true
          - checks.db.latency_ms < 50
          - count(items[*]) == 3
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::pass);
  EXPECT_NE(r.message.find("GET " + nginx.url("/health.json") + ": status 200"), std::string::npos)
      << r.message;
  EXPECT_EQ(r.observed["status"], 200);
  EXPECT_EQ(r.observed["headers"]["Content-Type"][0], "application/json");
  EXPECT_EQ(r.details["conditions"].size(), 4u);
}

TEST_F(HttpRequestTest, WrongStatusFailsNamingUrlExpectedAndFound) {
  target_.json("/health", R"({"status": "degraded"})", 503);
  auto out = run(spec("        url: " + target_.url("/health") + "\n"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_NE(r.message.find("GET " + target_.url("/health")), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("status: expected 2xx, found 503"), std::string::npos) << r.message;
  EXPECT_EQ(r.code, "http_response_unexpected");
}

TEST_F(HttpRequestTest, ExpectedStatusListAndRangeAccept404) {
  target_.json("/gone", R"({"error": "gone"})", 404);
  for (const std::string es : {"404", "[200, 404]", "\"4xx\"", "\"400-404\""}) {
    auto out =
        run(spec("        url: " + target_.url("/gone") + "\n        expected_status: " + es +
                 "\n        json: [\"error == 'gone'\"]\n"));
    EXPECT_EQ(result(out).status, Status::pass) << es << ": " << result(out).message;
  }
  auto out = run(spec("        url: " + target_.url("/gone") +
                      "\n        expected_status: "
                      "[200, \"5xx\"]\n"));
  EXPECT_NE(result(out).message.find("expected 200, 5xx, found 404"), std::string::npos)
      << result(out).message;
}

TEST_F(HttpRequestTest, MissingAndMismatchedHeadersFailEachNamed) {
  target_.route("/h", HttpReply{200, "{}", {{"Content-Type", "text/html"}, {"X-Ver", "2.0"}}, 0});
  auto out = run(spec("        url: " + target_.url("/h") + R"(
        expected_headers:
          Content-Type: {matches: "application/json(;.*)?"}
          X-Request-Id: {present: true}
          x-ver: "2.1"
          X-Ver: {contains: "2."}
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("3 problem(s)"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("header Content-Type: expected matching /application/json(;.*)?/, "
                           "found \"text/html\""),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("header X-Request-Id: expected present, found no such header"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("header x-ver: expected equal to \"2.1\", found \"2.0\""),
            std::string::npos)
      << r.message;
}

TEST_F(HttpRequestTest, BodyThatIsNotJsonFails) {
  target_.route("/html", HttpReply{200, "<html>oops</html>", {{"Content-Type", "text/html"}}, 0});
  auto out =
      run(spec("        url: " + target_.url("/html") + "\n        json: [\"status == 'ok'\"]\n"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("body: expected JSON for 1 condition(s)"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("<html>oops"), std::string::npos) << r.message;
}

TEST_F(HttpRequestTest, ConditionOnMissingFieldOrWrongValueFails) {
  target_.json("/health", kHealth);
  auto out = run(spec("        url: " + target_.url("/health") + R"(
        json:
          - status == 'ok'
          - checks.cache.ok == true
          - checks.db.latency_ms < 2
          - version == 1.4
)"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("3 problem(s)"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("json `checks.cache.ok == true`"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("cache"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("json `checks.db.latency_ms < 2`"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("json `version == 1.4`"), std::string::npos) << r.message;
  EXPECT_EQ(r.details["conditions"][1]["result"], "missing");
}

TEST_F(HttpRequestTest, BodyLargerThanMaxBodyBytesFails) {
  target_.json("/big", "[" + std::string(5000, ' ') + "1]");
  auto out = run(spec("        url: " + target_.url("/big") + "\n        max_body_bytes: 1000\n"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "http_body_too_large");
  EXPECT_NE(r.message.find("larger than max_body_bytes (1000 bytes)"), std::string::npos)
      << r.message;
}

TEST_F(HttpRequestTest, ConnectionRefusedIsErrorNotFail) {
  int port = free_loopback_port();
  auto out = run(spec("        url: http://127.0.0.1:" + std::to_string(port) + "/health\n"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_EQ(r.code, "http_unreachable");
  EXPECT_NE(r.message.find("could not be evaluated"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(std::to_string(port)), std::string::npos) << r.message;
}

TEST_F(HttpRequestTest, TimeoutIsError) {
  // The endpoint answers after 3 s; the request gives up after 200 ms (wide margin both ways).
  target_.json("/slow", R"({"status": "ok"})", 200, 3000);
  auto out = run(spec("        url: " + target_.url("/slow") + "\n        timeout: 200ms\n"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_NE(r.message.find("Timeout"), std::string::npos) << r.message;
}

TEST_F(HttpRequestTest, InterruptionAbortsTheRequest) {
  target_.json("/slow", R"({"status": "ok"})", 200, 20000);
  std::atomic<bool> cancel{false};
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  RunOptions options;
  options.cancel = &cancel;
  auto out =
      run_spec_text(spec("        url: " + target_.url("/slow") + "\n        timeout: 60s\n"),
                    scratch_.path(), {}, options);
  interrupter.join();
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(r.code, "http_interrupted");
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
}

TEST_F(HttpRequestTest, SecretHeaderIsSentButNeverReported) {
  const std::string token = "Bearer s3cr3t-t0ken-value";
  target_.route("/me", [&](const HttpSeen& req) {
    auto it = req.headers.find("authorization");
    bool ok = it != req.headers.end() && it->second == token;
    return HttpReply{ok ? 200 : 401,
                     ok ? R"({"user": "ops"})" : R"({"error": "unauthorized"})",
                     {{"Content-Type", "application/json"}, {"Set-Cookie", "sid=abc123secret"}},
                     0};
  });
  const std::string vars = "  token: {type: string, secret: true, required: true}\n";
  std::string text = spec("        url: " + target_.url("/me") + R"(
        headers: {Authorization: $token, X-Trace: "abc"}
        expected_headers: {Set-Cookie: "sid=other"}
        json: ["user == 'ops'"]
)",
                          vars);
  auto out = run(text, {{"token", token}});
  const CheckResult& r = result(out);
  // Authorized (the header was sent), but the cookie differs: the failure must not show it.
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("header Set-Cookie: expected equal to \"sid=other\", found a value "
                           "(not shown: credential)"),
            std::string::npos)
      << r.message;
  std::string report = json{
      {"m", r.message},
      {"o", r.observed},
      {"e", r.expected},
      {"d", r.details},
      {"v",
       out.report->vars}}.dump();
  EXPECT_EQ(report.find("s3cr3t"), std::string::npos) << report;
  EXPECT_EQ(report.find("abc123secret"), std::string::npos) << report;
  ASSERT_FALSE(target_.seen().empty());
  EXPECT_EQ(target_.seen().back().headers["x-trace"], "abc");
}

TEST_F(HttpRequestTest, PostSendsTheNamedBodyOnly) {
  target_.route("/echo", [](const HttpSeen& req) {
    return HttpReply{
        200,
        json{{"method", req.method},
             {"body", json::parse(req.body, nullptr, false)},
             {"type", req.headers.count("content-type") ? req.headers.at("content-type") : ""}}
            .dump(),
        {{"Content-Type", "application/json"}},
        0};
  });
  auto out = run(spec("        url: " + target_.url("/echo") + R"(
        method: POST
        json_body: {probe: true, n: 3}
        json: ["method == 'POST'", "body.probe == true", "body.n == 3", "type == 'application/json'"]
)"));
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;
  EXPECT_EQ(target_.count("/echo"), 1u);
}

TEST_F(HttpRequestTest, RedirectIsNotFollowed) {
  target_.route("/old", HttpReply{302, "", {{"Location", "http://example.com/"}}, 0});
  auto out = run(spec("        url: " + target_.url("/old") + "\n"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("found 302 (redirect to \"http://example.com/\", not followed)"),
            std::string::npos)
      << r.message;
}

TEST_F(HttpRequestTest, MalformedSpecsAreRefusedAtLoad) {
  struct Case {
    std::string params;
    std::string error;
  };
  const std::string u = "        url: http://127.0.0.1:1/x\n";
  for (const Case& c : {
           Case{"        url: http://example.com/health\n",
                "host \"example.com\" of \"http://example.com/health\" is not loopback"},
           Case{"        url: http://10.0.0.5/x\n        allowed_hosts: [example.com]\n",
                "host \"10.0.0.5\""},
           Case{"        url: ftp://127.0.0.1/x\n", "expected an http or https URL"},
           Case{"        url: http://user:pw@127.0.0.1/x\n", "carries credentials"},
           Case{"        url: \"not a url\"\n", "is not a URL"},
           Case{u + "        expected_status: 700\n", "expected_status"},
           Case{u + "        expected_status: \"2xy\"\n", "expected_status"},
           Case{u + "        expected_status: []\n", "at least one status"},
           Case{u + "        expected_headers: {X: {matches: \"(\"}}\n",
                "is not a valid regular expression"},
           Case{u + "        expected_headers: {X: {present: false}}\n", "expected_headers"},
           Case{u + "        json: [\"status ==\"]\n", "json"},
           Case{u + "        method: HEAD\n        json: [\"a == 1\"]\n",
                "HEAD response has no body"},
           Case{u + "        body: hi\n", "a GET request carries no body"},
           Case{u + "        method: FETCH\n", "method"},
           Case{u + "        timeout: 10\n", "timeout"},
           Case{u + "        timeout: 11m\n", "between 1ms and 10m"},
           Case{u + "        headers: {\"Bad Name\": x}\n", "is not a header name"},
           Case{u + "        headers: {X: $1bad}\n", "is not a $variable"},
           Case{u + "        max_body_bytes: 0\n", "max_body_bytes"},
       }) {
    auto out = run(spec(c.params));
    EXPECT_EQ(out.exit_code, ExitCode::usage) << c.params;
    EXPECT_NE(out.error.find(c.error), std::string::npos) << c.params << "\n" << out.error;
    EXPECT_NE(out.error.find("spec.yaml:"), std::string::npos) << out.error;
  }
}

TEST_F(HttpRequestTest, UrlFromAVariableIsVettedAtLoad) {
  const std::string vars = "  url: {type: string, default: \"http://example.com/health\"}\n";
  auto out = run(spec("        url: $url\n", vars));
  EXPECT_EQ(out.exit_code, ExitCode::usage);
  EXPECT_NE(out.error.find("host \"example.com\""), std::string::npos) << out.error;
  target_.json("/health", R"({"status": "ok"})");
  auto ok = run(spec("        url: $url\n", vars), {{"url", target_.url("/health")}});
  EXPECT_EQ(result(ok).status, Status::pass) << result(ok).message;
}

TEST_F(HttpRequestTest, AllowedHostsAdmitsANamedHost) {
  // A non-loopback name listed in allowed_hosts passes the load; this one (RFC 6761 .invalid)
  // then cannot resolve: no response, so `error` (exit 3), not a spec error.
  auto out =
      run(spec("        url: http://stagecheck-no-such-host.invalid/x\n"
               "        allowed_hosts: [stagecheck-no-such-host.invalid]\n        timeout: 2s\n"));
  ASSERT_TRUE(out.report.has_value()) << out.error;
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_EQ(r.code, "http_unreachable");
}

TEST_F(HttpRequestTest, UnsetHeaderVariableFailsWithoutSending) {
  target_.json("/x", "{}");
  auto out =
      run(spec("        url: " + target_.url("/x") + "\n        headers: {Authorization: $token}\n",
               "  token: {type: string, secret: true}\n"));
  const CheckResult& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("header Authorization: variable $token is not declared or has no value"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(target_.count("/x"), 0u);
}

// ---- the driver: exit codes 0, 1, 2, 3 -------------------------------------------------------

class HttpDriverTest : public HttpRequestTest {
 protected:
  DriverRun drive(const std::string& params) {
    scratch_.write("spec.yaml", spec(params));
    return run_driver("run '" + (scratch_ / "spec.yaml").string() + "' --root '" +
                      scratch_.path().string() + "' --no-default-plugins --plugin-dir '" +
                      STAGECHECK_PLUGIN_BUILD_DIR + "'");
  }
};

TEST_F(HttpDriverTest, ExitCodes) {
  target_.json("/ok", R"({"status": "ok"})");
  target_.json("/bad", R"({"status": "down"})", 500);
  DriverRun pass =
      drive("        url: " + target_.url("/ok") + "\n        json: [\"status == 'ok'\"]\n");
  EXPECT_EQ(pass.code, 0) << pass.out << pass.err;
  DriverRun fail = drive("        url: " + target_.url("/bad") + "\n");
  EXPECT_EQ(fail.code, 1) << fail.out << fail.err;
  EXPECT_NE(fail.out.find("status: expected 2xx, found 500"), std::string::npos) << fail.out;
  DriverRun bad = drive("        url: http://example.org/\n");
  EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("not loopback"), std::string::npos) << bad.err;
  DriverRun unreachable =
      drive("        url: http://127.0.0.1:" + std::to_string(free_loopback_port()) + "/\n");
  EXPECT_EQ(unreachable.code, 3) << unreachable.out << unreachable.err;
}

TEST_F(HttpDriverTest, ListChecksDocumentsBothTypes) {
  DriverRun r = run_driver(std::string("list-checks --no-default-plugins --plugin-dir '") +
                           STAGECHECK_PLUGIN_BUILD_DIR + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("http_request"), std::string::npos);
  EXPECT_NE(r.out.find("http_load"), std::string::npos);
  EXPECT_NE(r.out.find("thresholds"), std::string::npos);
}

}  // namespace
