// Tests for the `prometheus` plugin against a real Prometheus 2.x server on loopback, scraping
// an in-process metrics target (tests/support/prometheus_server.hpp). One server per suite:
// the first scrape lands ~6 s after start.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "prometheus_server.hpp"
#include "stagecheck_test_support.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;

/// The target's exposition, with `jobs` as the cluster job counter.
std::string metrics_body(int jobs, int batches = 0) {
  return "# HELP cluster_jobs_total Clustering jobs run.\n"
         "# TYPE cluster_jobs_total counter\n"
         "cluster_jobs_total{stage=\"cluster\"} " +
         std::to_string(jobs) +
         "\n"
         "cluster_jobs_total{stage=\"validate\"} 3\n"
         "# TYPE cluster_last_noise_count gauge\n"
         "cluster_last_noise_count 12\n"
         "# TYPE cluster_job_duration_seconds histogram\n"
         "cluster_job_duration_seconds_bucket{le=\"0.5\"} 10\n"
         "cluster_job_duration_seconds_bucket{le=\"1\"} 40\n"
         "cluster_job_duration_seconds_bucket{le=\"2.5\"} 97\n"
         "cluster_job_duration_seconds_bucket{le=\"5\"} 100\n"
         "cluster_job_duration_seconds_bucket{le=\"+Inf\"} 100\n"
         "cluster_job_duration_seconds_sum 150\n"
         "cluster_job_duration_seconds_count 100\n"
         "# TYPE idle_seconds histogram\n"
         "idle_seconds_bucket{le=\"1\"} 0\n"
         "idle_seconds_bucket{le=\"+Inf\"} 0\n"
         "idle_seconds_sum 0\n"
         "idle_seconds_count 0\n"
         "# TYPE batch_seconds histogram\n"
         "batch_seconds_bucket{le=\"0.5\"} " +
         std::to_string(batches) +
         "\n"
         "batch_seconds_bucket{le=\"1\"} " +
         std::to_string(batches) +
         "\n"
         "batch_seconds_bucket{le=\"+Inf\"} " +
         std::to_string(batches) +
         "\n"
         "batch_seconds_sum 0\n"
         "batch_seconds_count " +
         std::to_string(batches) + "\n";
}
// p95 of cluster_job_duration_seconds: rank 95 falls in (1, 2.5] holding 57 observations after
// 40: 1 + 1.5 * 55/57.
constexpr double kP95 = 1.0 + 1.5 * 55.0 / 57.0;

/// A spec with one check `s.c` of the given body (YAML lines indented by 8), and the variables
/// prometheus_url / target_url (strings) and token (secret).
std::string spec(const std::string& check) {
  return "version: 1\n"
         "name: prometheus-test\n"
         "vars:\n"
         "  prometheus_url: {type: string}\n"
         "  target_url: {type: string}\n"
         "  token: {type: string, secret: true}\n"
         "stages:\n"
         "  - id: s\n"
         "    checks:\n"
         "      - id: c\n" +
         check;
}

/// Runs one-check specs in-process. `target_` serves the metrics; `prometheus_url` is the
/// server under test (or a closed port when a suite has none).
class SpecRunner : public ::testing::Test {
 protected:
  virtual std::string prometheus_url() const = 0;
  virtual std::string target_url() const = 0;

  void SetUp() override { scratch_ = std::make_unique<ScratchDir>(); }

  /// Runs a one-check spec and returns its result (the run's exit code in `exit_code_`).
  CheckResult run(const std::string& check, RunOptions options = {}) {
    RunOutcome out = run_spec_text(spec(check), scratch_->path(),
                                   {{"prometheus_url", prometheus_url()},
                                    {"target_url", target_url()},
                                    {"token", "s3cr3t-token-value"}},
                                   options);
    exit_code_ = static_cast<int>(out.exit_code);
    EXPECT_TRUE(out.report.has_value()) << out.error;
    if (!out.report) return {};
    const CheckResult* r = find_result(*out.report, "s.c");
    EXPECT_NE(r, nullptr);
    return r != nullptr ? *r : CheckResult{};
  }

  /// Loads a spec that must be refused (exit 2); returns the error.
  std::string refused(const std::string& check) {
    RunOutcome out = run_spec_text(
        spec(check), scratch_->path(),
        {{"prometheus_url", prometheus_url()}, {"target_url", target_url()}, {"token", "t"}});
    EXPECT_EQ(out.exit_code, ExitCode::usage) << check;
    EXPECT_EQ(out.error_code, Errc::spec_error);
    return out.error;
  }

  std::unique_ptr<ScratchDir> scratch_;
  int exit_code_ = -1;
};

/// A real Prometheus scraping `target_` every second; one per suite.
class PrometheusPlugin : public SpecRunner {
 protected:
  static void SetUpTestSuite() {
    target_ = new MetricsTarget();
    target_->set("/metrics", metrics_body(jobs_));
    server_ = new PrometheusServer({{"app", target_->address()}});
    if (!server_->start() || !server_->wait_up("app")) {
      problem_ = server_->problem();
      return;
    }
    // rate() over a window needs two scrapes.
    if (!server_->wait_for("count_over_time%28idle_seconds_count%5B1m%5D%29%3E%3D2",
                           std::chrono::seconds(20))) {
      problem_ = server_->problem();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete target_;
    target_ = nullptr;
  }
  void SetUp() override {
    if (!problem_.empty()) {
      if (servers_required()) FAIL() << "CI=true and Prometheus is unusable: " << problem_;
      GTEST_SKIP() << "Prometheus is unusable: " << problem_;
    }
    SpecRunner::SetUp();
  }
  std::string prometheus_url() const override { return server_->url(); }
  std::string target_url() const override { return target_->url(); }

  static inline MetricsTarget* target_ = nullptr;
  static inline PrometheusServer* server_ = nullptr;
  static inline std::string problem_;
  static inline int jobs_ = 5;
  static inline int batches_ = 0;
};

/// Only the in-process metrics target: metrics_scrape and spec validation need no server.
class MetricsScrape : public SpecRunner {
 protected:
  static void SetUpTestSuite() {
    target_ = new MetricsTarget();
    target_->set("/metrics", metrics_body(5));
    closed_port_ = free_port();
  }
  static void TearDownTestSuite() {
    delete target_;
    target_ = nullptr;
  }
  std::string prometheus_url() const override {
    return "http://127.0.0.1:" + std::to_string(closed_port_);
  }
  std::string target_url() const override { return target_->url(); }

  static inline MetricsTarget* target_ = nullptr;
  static inline int closed_port_ = 0;
};

// ---- prometheus_query --------------------------------------------------------------------

TEST_F(PrometheusPlugin, QueryPassesOnAValueMeetingTheCondition) {
  CheckResult r = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: cluster_last_noise_count
        conditions: ["value < 20"]
)");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(exit_code_, 0);
  EXPECT_EQ(r.observed["series_count"], 1);
  EXPECT_EQ(r.observed["series"][0]["value"], 12.0);
  EXPECT_EQ(r.observed["series"][0]["name"], "cluster_last_noise_count");
}

TEST_F(PrometheusPlugin, QueryFailsOnAValueViolatingTheCondition) {
  CheckResult r = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: cluster_last_noise_count
        conditions: ["value < 10"]
)");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(exit_code_, 1);
  EXPECT_NE(r.message.find("query 'cluster_last_noise_count'"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("= 12"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("value < 10"), std::string::npos) << r.message;
}

TEST_F(PrometheusPlugin, QueryJudgesEverySeriesAndItsLabels) {
  const std::string base = R"(        type: prometheus_query
        url: $prometheus_url
        query: cluster_jobs_total
)";
  CheckResult all = run(base + "        conditions: ['labels.stage == \"cluster\"']\n");
  EXPECT_EQ(all.status, Status::fail) << all.message;
  EXPECT_NE(all.message.find("1 of 2 series"), std::string::npos) << all.message;
  EXPECT_NE(all.message.find("stage=\"validate\""), std::string::npos) << all.message;

  CheckResult any = run(base + "        expect: any\n" +
                        "        conditions: ['labels.stage == \"cluster\"', 'value >= 1']\n");
  EXPECT_EQ(any.status, Status::pass) << any.message;

  CheckResult none = run(base + "        expect: none\n        conditions: ['value > 1000']\n");
  EXPECT_EQ(none.status, Status::pass) << none.message;
  CheckResult none_fails =
      run(base + "        expect: none\n        conditions: ['labels.stage == \"validate\"']\n");
  EXPECT_EQ(none_fails.status, Status::fail) << none_fails.message;

  CheckResult min = run(base + "        min_series: 3\n");
  EXPECT_EQ(min.status, Status::fail);
  EXPECT_NE(min.message.find("returned 2 series, expected at least 3"), std::string::npos)
      << min.message;
}

TEST_F(PrometheusPlugin, QueryWithLabelMatcherInPromQL) {
  CheckResult r = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: 'cluster_jobs_total{stage="validate"}'
        conditions: ["value == 3", 'labels.job == "app"']
)");
  EXPECT_EQ(r.status, Status::pass) << r.message;
}

TEST_F(PrometheusPlugin, EmptyResultFails) {
  CheckResult r = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: no_such_metric_total
        conditions: ["value < 20"]
)");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(exit_code_, 1);
  EXPECT_NE(r.message.find("no series"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("no_such_metric_total"), std::string::npos) << r.message;
}

TEST_F(PrometheusPlugin, WrongPromQLFailsWithPrometheusError) {
  CheckResult r = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: 'sum(cluster_jobs_total'
)");
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(exit_code_, 1);
  EXPECT_NE(r.message.find("sum(cluster_jobs_total"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("bad_data"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("parse error"), std::string::npos) << r.message;
}

TEST_F(PrometheusPlugin, NaNAndInfinityFail) {
  CheckResult nan = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: 'scalar(cluster_last_noise_count) / 0 * 0'
        conditions: ["value < 20"]
)");
  EXPECT_EQ(nan.status, Status::fail) << nan.message;
  EXPECT_NE(nan.message.find("NaN"), std::string::npos) << nan.message;

  CheckResult inf = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: 'cluster_last_noise_count / 0'
        expect: none
        conditions: ["value < 0"]
)");
  EXPECT_EQ(inf.status, Status::fail) << inf.message;
  EXPECT_NE(inf.message.find("+Inf"), std::string::npos) << inf.message;
  EXPECT_NE(inf.message.find("not a finite number"), std::string::npos) << inf.message;
}

TEST_F(PrometheusPlugin, ScalarAndMatrixResults) {
  CheckResult scalar = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: 'scalar(cluster_last_noise_count) + 1'
        conditions: ["value == 13"]
)");
  EXPECT_EQ(scalar.status, Status::pass) << scalar.message;
  EXPECT_EQ(scalar.details["result_type"], "scalar");

  CheckResult matrix = run(R"Y(        type: prometheus_query
        url: $prometheus_url
        query: 'cluster_last_noise_count[30s]'
        conditions: ["value == 12", "all(values[*] == 12)"]
)Y");
  EXPECT_EQ(matrix.status, Status::pass) << matrix.message;
  EXPECT_EQ(matrix.details["result_type"], "matrix");
}

TEST_F(PrometheusPlugin, StringValueInConditionIsAFailureNotAPass) {
  CheckResult r = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: cluster_last_noise_count
        conditions: ['labels.instance < 3']
)");
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("type_mismatch"), std::string::npos) << r.message;
}

TEST_F(PrometheusPlugin, EvalTimeInThePastHasNoData) {
  CheckResult r = run(R"(        type: prometheus_query
        url: $prometheus_url
        query: cluster_last_noise_count
        eval_time: "2001-01-01T00:00:00Z"
)");
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("no series"), std::string::npos) << r.message;
}

TEST_F(PrometheusPlugin, UnreachableServerCouldNotBeEvaluated) {
  const int port = free_port();  // nothing listens there
  CheckResult r =
      run("        type: prometheus_query\n"
          "        url: http://127.0.0.1:" +
          std::to_string(port) +
          "\n"
          "        query: up\n"
          "        conditions: ['value == 1']\n");
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(exit_code_, 3);
  EXPECT_NE(r.message.find("could not be evaluated"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(std::to_string(port)), std::string::npos) << r.message;
}

TEST_F(PrometheusPlugin, SilentServerTimesOutAsError) {
  SilentPort silent;
  const auto start = std::chrono::steady_clock::now();
  CheckResult r =
      run("        type: prometheus_query\n"
          "        url: " +
          silent.url() +
          "\n"
          "        query: up\n"
          "        request_timeout: 0.5\n");
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(exit_code_, 3);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
  EXPECT_LT(took, 5.0);
}

TEST_F(PrometheusPlugin, ServerErrorIsErrorAndNotFoundIsFailure) {
  target_->set("/broken/api/v1/query", "upstream down", 502);
  CheckResult e = run("        type: prometheus_query\n        url: " + target_->url("/broken") +
                      "\n        query: up\n");
  EXPECT_EQ(e.status, Status::error) << e.message;
  EXPECT_NE(e.message.find("HTTP 502"), std::string::npos) << e.message;

  CheckResult f = run("        type: prometheus_query\n        url: " + target_->url("/nothing") +
                      "\n        query: up\n");
  EXPECT_EQ(f.status, Status::fail) << f.message;
  EXPECT_NE(f.message.find("HTTP 404"), std::string::npos) << f.message;

  target_->set("/json/api/v1/query", R"({"status":"success","data":{"resultType":"vector",)"
                                     R"("result":[{"metric":{},"value":[1,12]}]}})");
  CheckResult typed = run("        type: prometheus_query\n        url: " + target_->url("/json") +
                          "\n        query: up\n");
  EXPECT_EQ(typed.status, Status::fail) << typed.message;
  EXPECT_NE(typed.message.find("not a number string"), std::string::npos) << typed.message;

  target_->set("/denied/api/v1/query", "no", 401);
  CheckResult denied =
      run("        type: prometheus_query\n        url: " + target_->url("/denied") +
          "\n        query: up\n");
  EXPECT_EQ(denied.status, Status::error) << denied.message;
}

TEST_F(PrometheusPlugin, BearerTokenIsSentAndNeverReported) {
  target_->set("/auth/api/v1/query",
               R"({"status":"success","data":{"resultType":"scalar","result":[1,"7"]}})");
  CheckResult r = run("        type: prometheus_query\n        url: " + target_->url("/auth") +
                      "\n        query: up\n        bearer_token: $token\n"
                      "        conditions: ['value == 7']\n");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(target_->last_headers("/auth/api/v1/query")["authorization"],
            "Bearer s3cr3t-token-value");
  const std::string everything =
      r.message + r.observed.dump() + r.expected.dump() + r.details.dump();
  EXPECT_EQ(everything.find("s3cr3t"), std::string::npos);
}

TEST_F(PrometheusPlugin, TokenFromEnvironmentNeedsEmbeddedPermission) {
  ::setenv("STAGECHECK_TEST_PROM_TOKEN", "env-token-value", 1);
  target_->set("/envauth/api/v1/query",
               R"({"status":"success","data":{"resultType":"scalar","result":[1,"7"]}})");
  const std::string check =
      "        type: prometheus_query\n        url: " + target_->url("/envauth") +
      "\n        query: up\n"
      "        bearer_token_env: STAGECHECK_TEST_PROM_TOKEN\n";
  CheckResult refused = run(check);
  EXPECT_EQ(refused.status, Status::error) << refused.message;
  EXPECT_NE(refused.message.find("only allowed when embedded"), std::string::npos);
  RunOptions allow;
  allow.allow_process_env = true;
  CheckResult allowed = run(check, allow);
  EXPECT_EQ(allowed.status, Status::pass) << allowed.message;
  EXPECT_EQ(target_->last_headers("/envauth/api/v1/query")["authorization"],
            "Bearer env-token-value");
  EXPECT_EQ(allowed.message.find("env-token-value"), std::string::npos);
  ::unsetenv("STAGECHECK_TEST_PROM_TOKEN");
}

// ---- prometheus_quantile -----------------------------------------------------------------

TEST_F(PrometheusPlugin, QuantilePassesAndFails) {
  const std::string base = R"(        type: prometheus_quantile
        url: $prometheus_url
        metric: cluster_job_duration_seconds
        quantile: 0.95
)";
  CheckResult pass = run(base + "        conditions: ['value < 3']\n");
  EXPECT_EQ(pass.status, Status::pass) << pass.message;
  ASSERT_TRUE(pass.observed["series"][0]["value"].is_number());
  EXPECT_NEAR(pass.observed["series"][0]["value"].get<double>(), kP95, 1e-9);
  EXPECT_EQ(pass.details["query"],
            "histogram_quantile(0.95, sum by (le) (cluster_job_duration_seconds_bucket))");

  CheckResult fail = run(base + "        conditions: ['value < 2']\n");
  EXPECT_EQ(fail.status, Status::fail);
  EXPECT_NE(fail.message.find("value < 2"), std::string::npos) << fail.message;
}

TEST_F(PrometheusPlugin, QuantileWithLabelsAndBy) {
  CheckResult r = run(R"(        type: prometheus_quantile
        url: $prometheus_url
        metric: cluster_job_duration_seconds
        quantile: 0.5
        labels: {job: app}
        by: [instance]
        conditions: ['value < 3', 'exists(labels.instance)']
)");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_NE(r.details["query"].get<std::string>().find(
                "cluster_job_duration_seconds_bucket{job=\"app\"}"),
            std::string::npos);
}

TEST_F(PrometheusPlugin, QuantileOverNoObservationsIsNoData) {
  CheckResult raw = run(R"(        type: prometheus_quantile
        url: $prometheus_url
        metric: idle_seconds
        quantile: 0.95
        conditions: ['value < 3']
)");
  EXPECT_EQ(raw.status, Status::fail) << raw.message;
  EXPECT_NE(raw.message.find("NaN"), std::string::npos) << raw.message;
  EXPECT_NE(raw.message.find("no data"), std::string::npos) << raw.message;

  CheckResult windowed = run(R"(        type: prometheus_quantile
        url: $prometheus_url
        metric: cluster_job_duration_seconds
        quantile: 0.95
        window: 1m
        conditions: ['value < 3']
)");
  EXPECT_EQ(windowed.status, Status::fail) << windowed.message;
  EXPECT_NE(windowed.message.find("no data"), std::string::npos) << windowed.message;

  CheckResult missing = run(R"(        type: prometheus_quantile
        url: $prometheus_url
        metric: no_such_histogram_seconds
        quantile: 0.95
        conditions: ['value < 3']
)");
  EXPECT_EQ(missing.status, Status::fail) << missing.message;
  EXPECT_NE(missing.message.find("no series"), std::string::npos) << missing.message;
}

TEST_F(PrometheusPlugin, LocalQuantileAgreesWithPrometheus) {
  for (const char* q : {"0.1", "0.5", "0.9", "0.95", "0.99"}) {
    CheckResult server = run(std::string("        type: prometheus_quantile\n"
                                         "        url: $prometheus_url\n"
                                         "        metric: cluster_job_duration_seconds\n"
                                         "        quantile: ") +
                             q + "\n        conditions: ['value >= 0']\n");
    CheckResult local = run(std::string("        type: metrics_scrape\n"
                                        "        url: $target_url\n"
                                        "        metric: cluster_job_duration_seconds\n"
                                        "        quantile: ") +
                            q + "\n        conditions: ['value >= 0']\n");
    ASSERT_EQ(server.status, Status::pass) << server.message;
    ASSERT_EQ(local.status, Status::pass) << local.message;
    EXPECT_NEAR(server.observed["series"][0]["value"].get<double>(),
                local.observed["series"][0]["value"].get<double>(), 1e-9)
        << "quantile " << q;
  }
}

TEST_F(PrometheusPlugin, WindowedQuantileOverNewObservations) {
  // batch_seconds had no observations for the first scrapes; now 10 arrive, all in (0, 0.5]:
  // the rate of every bucket is the same, so p90 over the window is 0.9 * 0.5.
  batches_ += 10;
  target_->set("/metrics", metrics_body(jobs_, batches_));
  ASSERT_TRUE(server_->wait_for("batch_seconds_count%3E%3D10", std::chrono::seconds(10)));
  CheckResult windowed = run(R"(        type: prometheus_quantile
        url: $prometheus_url
        metric: batch_seconds
        quantile: 0.9
        window: 1m
        conditions: ['value <= 0.5']
)");
  EXPECT_EQ(windowed.status, Status::pass) << windowed.message;
  EXPECT_EQ(windowed.details["query"],
            "histogram_quantile(0.9, sum by (le) (rate(batch_seconds_bucket[1m])))");
  ASSERT_TRUE(windowed.observed["series"][0]["value"].is_number()) << windowed.message;
  EXPECT_NEAR(windowed.observed["series"][0]["value"].get<double>(), 0.45, 1e-9);
  CheckResult strict = run(R"(        type: prometheus_quantile
        url: $prometheus_url
        metric: batch_seconds
        quantile: 0.9
        window: 1m
        conditions: ['value < 0.4']
)");
  EXPECT_EQ(strict.status, Status::fail) << strict.message;
}

// ---- prometheus_increase -----------------------------------------------------------------

TEST_F(PrometheusPlugin, IncreasePassesWhenTheCounterRisesAfterTheTrigger) {
  std::thread trigger([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    jobs_ += 2;
    target_->set("/metrics", metrics_body(jobs_, batches_));
  });
  CheckResult r = run(R"(        type: prometheus_increase
        url: $prometheus_url
        query: 'sum(cluster_jobs_total{stage="cluster"})'
        min_increase: 2
        timeout: 20
        poll_interval: 0.2
)");
  trigger.join();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(exit_code_, 0);
  EXPECT_EQ(r.observed["after"].get<double>() - r.observed["before"].get<double>(), 2.0);
}

TEST_F(PrometheusPlugin, IncreaseFailsWhenNothingHappensWithinTheTimeout) {
  const auto start = std::chrono::steady_clock::now();
  CheckResult r = run(R"(        type: prometheus_increase
        url: $prometheus_url
        query: 'sum(cluster_jobs_total)'
        min_increase: 1
        timeout: 1.5
        poll_interval: 0.25
)");
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(exit_code_, 1);
  EXPECT_NE(r.message.find("within 1.5 s, expected at least 1"), std::string::npos) << r.message;
  EXPECT_GE(took, 1.4);
  EXPECT_LT(took, 6.0);
}

TEST_F(PrometheusPlugin, IncreaseAgainstARecordedBeforeValue) {
  CheckResult pass = run(R"(        type: prometheus_increase
        url: $prometheus_url
        query: 'cluster_jobs_total{stage="validate"}'
        before: 1
        min_increase: 2
        timeout: 1
)");
  EXPECT_EQ(pass.status, Status::pass) << pass.message;
  CheckResult fell = run(R"(        type: prometheus_increase
        url: $prometheus_url
        query: 'cluster_jobs_total{stage="validate"}'
        before: 10
        min_increase: 1
        timeout: 1
)");
  EXPECT_EQ(fell.status, Status::fail) << fell.message;
  EXPECT_NE(fell.message.find("fell from 10 to 3"), std::string::npos) << fell.message;
}

TEST_F(PrometheusPlugin, IncreaseNeedsExactlyOneSeries) {
  CheckResult many = run(R"(        type: prometheus_increase
        url: $prometheus_url
        query: cluster_jobs_total
        min_increase: 1
        timeout: 1
)");
  EXPECT_EQ(many.status, Status::fail) << many.message;
  EXPECT_NE(many.message.find("returned 2 series"), std::string::npos) << many.message;
  CheckResult none = run(R"(        type: prometheus_increase
        url: $prometheus_url
        query: no_such_metric_total
        min_increase: 1
        timeout: 1
)");
  EXPECT_EQ(none.status, Status::fail) << none.message;
  EXPECT_NE(none.message.find("no series"), std::string::npos) << none.message;
}

TEST_F(PrometheusPlugin, IncreaseAgainstAnUnreachableServerIsError) {
  CheckResult r = run("        type: prometheus_increase\n        url: http://127.0.0.1:" +
                      std::to_string(free_port()) +
                      "\n        query: up\n        min_increase: 1\n        timeout: 1\n");
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(exit_code_, 3);
}

// ---- metrics_scrape ----------------------------------------------------------------------

TEST_F(MetricsScrape, PassesAndFails) {
  CheckResult pass = run(R"(        type: metrics_scrape
        url: $target_url
        metric: cluster_last_noise_count
        conditions: ['value < 20']
)");
  EXPECT_EQ(pass.status, Status::pass) << pass.message;
  EXPECT_EQ(pass.details["type"], "gauge");
  CheckResult fail = run(R"(        type: metrics_scrape
        url: $target_url
        metric: cluster_jobs_total
        labels: {stage: validate}
        conditions: ['value > 3']
)");
  EXPECT_EQ(fail.status, Status::fail) << fail.message;
  EXPECT_NE(fail.message.find("cluster_jobs_total{stage=\"validate\"} = 3"), std::string::npos)
      << fail.message;
  CheckResult absent = run(R"(        type: metrics_scrape
        url: $target_url
        metric: cluster_jobs_total
        labels: {stage: nope}
)");
  EXPECT_EQ(absent.status, Status::fail) << absent.message;
  EXPECT_NE(absent.message.find("no series"), std::string::npos) << absent.message;
}

TEST_F(MetricsScrape, HistogramQuantileMatchesPrometheus) {
  CheckResult r = run(R"(        type: metrics_scrape
        url: $target_url
        metric: cluster_job_duration_seconds
        quantile: 0.95
        conditions: ['value < 3']
)");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  ASSERT_TRUE(r.observed["series"][0]["value"].is_number()) << r.observed.dump();
  EXPECT_NEAR(r.observed["series"][0]["value"].get<double>(), kP95, 1e-12);

  CheckResult idle = run(R"(        type: metrics_scrape
        url: $target_url
        metric: idle_seconds
        quantile: 0.95
        conditions: ['value < 3']
)");
  EXPECT_EQ(idle.status, Status::fail) << idle.message;
  EXPECT_NE(idle.message.find("no data: no observations"), std::string::npos) << idle.message;
}

TEST_F(MetricsScrape, ParsesTheFormatStrictly) {
  target_->set("/edge", R"(# a comment
# HELP odd_total Help with \\ and \n escapes.
# TYPE odd_total counter
odd_total{path="C:\\dir",quote="say \"hi\"",nl="a\nb",} 1.5e3 1700000000000
   
plain_value -2
nan_value NaN
inf_value +Inf
)");
  CheckResult escaped = run("        type: metrics_scrape\n        url: " + target_->url("/edge") +
                            R"(
        metric: odd_total
        labels: {path: 'C:\dir', quote: 'say "hi"'}
        conditions: ['value == 1500', 'labels.nl == "a\nb"', 'timestamp_ms == 1700000000000']
)");
  EXPECT_EQ(escaped.status, Status::pass) << escaped.message;

  CheckResult nan = run("        type: metrics_scrape\n        url: " + target_->url("/edge") +
                        "\n        metric: nan_value\n");
  EXPECT_EQ(nan.status, Status::fail) << nan.message;
  EXPECT_NE(nan.message.find("nan_value = NaN"), std::string::npos) << nan.message;
  CheckResult inf = run("        type: metrics_scrape\n        url: " + target_->url("/edge") +
                        "\n        metric: inf_value\n");
  EXPECT_EQ(inf.status, Status::fail) << inf.message;
  CheckResult neg = run("        type: metrics_scrape\n        url: " + target_->url("/edge") +
                        "\n        metric: plain_value\n        conditions: ['value == -2']\n");
  EXPECT_EQ(neg.status, Status::pass) << neg.message;
}

TEST_F(MetricsScrape, MalformedExpositionFailsNamingTheLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ok 1\nbad{label=\"x} 2\n", "line 2: bad: label label: unterminated value"},
      {"x{a=\"1\",a=\"2\"} 1\n", "label a appears twice"},
      {"x one\n", "value 'one' is not a float"},
      {"x 1 12.5\n", "timestamp '12.5' is not an integer"},
      {"x{a=\"\\t\"} 1\n", "invalid escape"},
      {"# TYPE x counter\n# TYPE x gauge\nx 1\n", "second TYPE for x"},
      {"x 1\n# TYPE x counter\n", "TYPE for x after its samples"},
      {"# TYPE x countr\nx 1\n", "unknown type 'countr'"},
      {"x 1\nx 2\n", "series x appears twice"},
      {"1x 1\n", "expected a metric name"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\n", "decrease"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string path = "/bad" + std::to_string(i);
    target_->set(path, cases[i].first);
    const bool histogram = cases[i].second == "decrease";
    CheckResult r =
        run("        type: metrics_scrape\n        url: " + target_->url(path) +
            (histogram ? "\n        metric: h\n        quantile: 0.5\n" : "\n        metric: x\n"));
    EXPECT_EQ(r.status, Status::fail) << cases[i].first << " -> " << r.message;
    EXPECT_NE(r.message.find(cases[i].second), std::string::npos)
        << cases[i].first << " -> " << r.message;
  }
}

TEST_F(MetricsScrape, UnreachableAndHttpErrors) {
  CheckResult refused = run("        type: metrics_scrape\n        url: http://127.0.0.1:" +
                            std::to_string(free_port()) + "/metrics\n        metric: up\n");
  EXPECT_EQ(refused.status, Status::error) << refused.message;
  EXPECT_EQ(exit_code_, 3);
  target_->set("/unhealthy", "oops", 503);
  CheckResult unhealthy =
      run("        type: metrics_scrape\n        url: " + target_->url("/unhealthy") +
          "\n        metric: up\n");
  EXPECT_EQ(unhealthy.status, Status::error) << unhealthy.message;
  CheckResult missing =
      run("        type: metrics_scrape\n        url: " + target_->url("/no-metrics-here") +
          "\n        metric: up\n");
  EXPECT_EQ(missing.status, Status::fail) << missing.message;
  EXPECT_NE(missing.message.find("HTTP 404"), std::string::npos) << missing.message;
  target_->set("/huge", std::string(4096, '#'));
  CheckResult huge = run("        type: metrics_scrape\n        url: " + target_->url("/huge") +
                         "\n        metric: up\n        max_bytes: 1024\n");
  EXPECT_NE(huge.status, Status::pass) << huge.message;
  EXPECT_NE(huge.message.find("larger than 1024 bytes"), std::string::npos) << huge.message;
}

TEST_F(MetricsScrape, OfASilentEndpointTimesOutAsError) {
  SilentPort silent;
  CheckResult r = run("        type: metrics_scrape\n        url: " + silent.url("/metrics") +
                      "\n        metric: up\n        request_timeout: 0.3\n");
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(exit_code_, 3);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
}

TEST_F(MetricsScrape, SendsBasicAuthWithoutReportingIt) {
  CheckResult r = run(R"(        type: metrics_scrape
        url: $target_url
        metric: cluster_last_noise_count
        username: scraper
        password: $token
)");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  const std::string auth = target_->last_headers("/metrics")["authorization"];
  EXPECT_EQ(auth.rfind("Basic ", 0), 0u) << auth;
  EXPECT_EQ((r.message + r.details.dump()).find("s3cr3t"), std::string::npos);
}

// ---- spec errors (exit 2, file:line:column) ----------------------------------------------

TEST_F(MetricsScrape, BadParametersAreSpecErrors) {
  EXPECT_NE(refused("        type: prometheus_query\n        url: localhost:9090\n"
                    "        query: up\n")
                .find("spec.yaml:12:"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_query\n        url: http://u:p@host:9090\n"
                    "        query: up\n")
                .find("credentials in the URL"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_query\n        url: http://${host}:9090\n"
                    "        query: up\n")
                .find("only a whole-value $var"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_query\n        url: $prometheus_url\n"
                    "        query: '  '\n")
                .find("query: is empty"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_query\n        url: $prometheus_url\n"
                    "        query: up\n        min_series: 0\n")
                .find("min_series"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_query\n        url: $prometheus_url\n"
                    "        query: up\n        conditions: ['value <']\n")
                .find("spec.yaml:"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_quantile\n        url: $prometheus_url\n"
                    "        metric: m\n        quantile: 95\n        conditions: ['value < 3']\n")
                .find("expected 0 to 1"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_quantile\n        url: $prometheus_url\n"
                    "        metric: m_bucket\n        quantile: 0.9\n"
                    "        conditions: ['value < 3']\n")
                .find("without _bucket"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_quantile\n        url: $prometheus_url\n"
                    "        metric: m\n        quantile: 0.9\n")
                .find("conditions"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_quantile\n        url: $prometheus_url\n"
                    "        metric: m\n        quantile: 0.9\n        window: 5 minutes\n"
                    "        conditions: ['value < 3']\n")
                .find("PromQL duration"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_increase\n        url: $prometheus_url\n"
                    "        query: up\n        min_increase: 0\n")
                .find("min_increase"),
            std::string::npos);
  EXPECT_NE(refused("        type: prometheus_increase\n        url: $prometheus_url\n"
                    "        query: up\n        min_increase: 1\n        timeout: 99999\n")
                .find("timeout"),
            std::string::npos);
  EXPECT_NE(refused("        type: metrics_scrape\n        url: $target_url\n"
                    "        metric: 'bad-name'\n")
                .find("not a metric name"),
            std::string::npos);
  EXPECT_NE(refused("        type: metrics_scrape\n        url: $target_url\n"
                    "        metric: x\n        labels: {stage: 3}\n")
                .find("expected a string value"),
            std::string::npos);
  EXPECT_NE(refused("        type: metrics_scrape\n        url: $target_url\n"
                    "        metric: x\n        bearer_token: a\n        bearer_token_env: B\n")
                .find("give one of"),
            std::string::npos);
  EXPECT_NE(refused("        type: metrics_scrape\n        url: $target_url\n"
                    "        metric: x\n        expect: none\n")
                .find("needs conditions"),
            std::string::npos);
}

// ---- the driver: exit codes 0/1/2/3 and the seed's runbook checks -------------------------

TEST_F(PrometheusPlugin, DriverExitCodes) {
  const std::string runbook = R"(version: 1
name: pipeline-health
vars:
  prometheus_url: {type: string, required: true}
stages:
  - id: e2e
    checks:
      - id: noise
        type: prometheus_query
        url: $prometheus_url
        query: cluster_last_noise_count
        conditions: ["value < LIMIT"]
      - id: duration_p95
        type: prometheus_quantile
        url: $prometheus_url
        metric: cluster_job_duration_seconds
        quantile: 0.95
        conditions: ["value < 3"]
)";
  auto write = [&](const std::string& name, const std::string& limit) {
    std::string text = runbook;
    text.replace(text.find("LIMIT"), 5, limit);
    scratch_->write(name, text);
    return (*scratch_ / name).string();
  };
  const std::string pass = write("pass.yaml", "20");
  const std::string fail = write("fail.yaml", "5");
  auto driver = [&](const std::string& spec_path, const std::string& url) {
    return run_driver("run '" + spec_path + "' --root '" + scratch_->path().string() +
                      "' --var prometheus_url=" + url + " --no-default-plugins --plugin-dir '" +
                      STAGECHECK_PLUGIN_BUILD_DIR + "'");
  };
  DriverRun ok = driver(pass, server_->url());
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  DriverRun failed = driver(fail, server_->url());
  EXPECT_EQ(failed.code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.out.find("cluster_last_noise_count"), std::string::npos) << failed.out;
  DriverRun unreachable = driver(pass, "http://127.0.0.1:" + std::to_string(free_port()));
  EXPECT_EQ(unreachable.code, 3) << unreachable.out << unreachable.err;
  DriverRun bad = driver(pass, "not-a-url");
  EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("pass.yaml:10:"), std::string::npos) << bad.err;
}

}  // namespace
