// The chaos invariant at the probe layer: metrics_scrape (the prometheus plugin's client),
// http_request, http_load, redis_stream and sql_query against real servers on loopback, with
// faults injected before their requests. The verdict is the clean run's or "could not be
// evaluated", never a failure the clean run does not have; at rate 1.0 it is always 3.

#include <gtest/gtest.h>

#include <set>

#include <fmt/format.h>

#include "http_target.hpp"
#include "redis_server.hpp"
#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
using namespace stagecheck;

namespace {

const char* kSpec = R"(version: 1
name: probes
vars:
  metrics_url: {type: string, required: true}
  api_url: {type: string, required: true}
  redis_url: {type: string, required: true, secret: true}
  db: {type: local_path, required: true}
  min_jobs: {type: number, default: 1}
stages:
  - id: live
    checks:
      - id: scrape
        type: metrics_scrape
        url: $metrics_url
        metric: jobs_total
        conditions: ["value >= $min_jobs"]
      - id: api
        type: http_request
        url: $api_url
        expected_status: 200
        json: ["status == 'ok'"]
      - id: load
        type: http_load
        url: $api_url
        requests: 20
        concurrency: 4
        thresholds: ["error_rate < 0.10", "max < 10000ms"]
      - id: stream
        type: redis_stream
        url: $redis_url
        stream: events
        min_length: 3
      - id: rows
        type: sql_query
        sqlite_file: $db
        query: SELECT count(*) FROM jobs
        conditions: ["value >= 3"]
)";

struct Verdict {
  ExitCode code = ExitCode::usage;
  std::set<std::string> failed;
  std::uint64_t injected = 0, exhausted = 0;
  std::string error;
};

class ProbeChaos : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = st::RedisServer::start();
    if (!r.ok()) {
      start_error_ = r.error();
      return;
    }
    redis_ = r.release();
    for (int i = 0; i < 3; ++i) redis_->command({"XADD", "events", "*", "k", "v"});
    target_ = std::make_unique<st::HttpTarget>();
    target_->route("/metrics", st::HttpReply{200,
                                             "# TYPE jobs_total counter\njobs_total 5\n",
                                             {{"Content-Type", "text/plain; version=0.0.4"}}});
    target_->json("/api", R"({"status": "ok"})");
    dir_ = std::make_unique<st::ScratchDir>();
    const std::string db = (dir_->path() / "jobs.db").string();
    ASSERT_EQ(std::system(fmt::format("python3 -c \"import sqlite3; c = sqlite3.connect('{}'); "
                                      "c.execute('create table jobs (id integer)'); "
                                      "c.executemany('insert into jobs values (?)', "
                                      "[(1,), (2,), (3,)]); c.commit()\"",
                                      db)
                              .c_str()),
              0);
  }
  static void TearDownTestSuite() {
    redis_.reset();
    target_.reset();
    dir_.reset();
  }
  void SetUp() override {
    if (redis_ == nullptr) {
      if (st::RedisServer::required_by_ci()) FAIL() << "CI=true but no redis: " << start_error_;
      GTEST_SKIP() << "redis-server not available: " << start_error_;
    }
  }

  static Verdict run(double min_jobs, std::optional<ChaosOptions> chaos) {
    RunRequest req;
    req.spec_text = kSpec;
    req.spec_name = "probes.yaml";
    req.vars = {{"metrics_url", target_->url("/metrics")},
                {"api_url", target_->url("/api")},
                {"redis_url", redis_->url()},
                {"db", (dir_->path() / "jobs.db").string()},
                {"min_jobs", fmt::format("{}", min_jobs)}};
    req.root = dir_->path();
    req.plugin_dirs = {STAGECHECK_PLUGIN_BUILD_DIR};
    req.load_default_plugins = false;
    req.options.jobs = 2;
    req.chaos = chaos;
    RunOutcome out = run_spec(req);
    Verdict v;
    v.code = out.exit_code;
    v.error = out.error;
    if (!out.report) return v;
    for (const auto& r : out.report->results) {
      if (r.status == Status::fail) v.failed.insert(r.id);
      if (r.status == Status::fail || r.status == Status::error) v.error += r.message + "\n";
    }
    if (out.report->chaos) {
      v.injected = out.report->chaos->injected;
      v.exhausted = out.report->chaos->exhausted;
    }
    return v;
  }

  void invariant(double min_jobs, unsigned seeds) {
    const Verdict clean = run(min_jobs, std::nullopt);
    ASSERT_TRUE(clean.code == ExitCode::pass || clean.code == ExitCode::fail) << clean.error;
    std::size_t same = 0, no_verdict = 0, faulted = 0;
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
      ChaosOptions o;
      o.rate = 0.4;
      o.seed = seed;
      o.retries = 1;
      const Verdict v = run(min_jobs, o);
      const std::string where =
          fmt::format("seed {}: clean exit {}, chaos exit {}: {}", seed,
                      static_cast<int>(clean.code), static_cast<int>(v.code), v.error);
      ASSERT_TRUE(v.code == clean.code || v.code == ExitCode::no_verdict) << where;
      for (const auto& id : v.failed) ASSERT_TRUE(clean.failed.count(id) != 0) << where << id;
      if (v.exhausted == 0) {
        ASSERT_EQ(v.code, clean.code) << where;
      }
      same += v.code == clean.code;
      no_verdict += v.code == ExitCode::no_verdict;
      faulted += v.injected > 0;
    }
    EXPECT_GT(faulted, seeds / 2);
    EXPECT_GT(same, 5u);
    EXPECT_GT(no_verdict, clean.code == ExitCode::pass ? 5u : 0u);
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      ChaosOptions o;
      o.rate = 1.0;
      o.seed = seed;
      const Verdict v = run(min_jobs, o);
      EXPECT_EQ(v.code, ExitCode::no_verdict) << v.error;
      EXPECT_TRUE(v.failed.empty());
    }
  }

  static inline std::unique_ptr<st::RedisServer> redis_;
  static inline std::unique_ptr<st::HttpTarget> target_;
  static inline std::unique_ptr<st::ScratchDir> dir_;
  static inline std::string start_error_;
};

}  // namespace

TEST_F(ProbeChaos, PassingProbesPassOrCannotBeEvaluated) { invariant(1, 200); }

TEST_F(ProbeChaos, FailingProbesFailOnTheirOwnCheckOrCannotBeEvaluated) { invariant(100, 100); }

TEST_F(ProbeChaos, FaultsNameTheServiceAndNeverTheSecret) {
  ChaosOptions o;
  o.rate = 1.0;
  o.seed = 1;
  RunRequest req;
  req.spec_text = kSpec;
  req.vars = {{"metrics_url", target_->url("/metrics")},
              {"api_url", target_->url("/api")},
              {"redis_url", "redis://:hunter2@127.0.0.1:1/0"},
              {"db", (dir_->path() / "jobs.db").string()}};
  req.root = dir_->path();
  req.plugin_dirs = {STAGECHECK_PLUGIN_BUILD_DIR};
  req.load_default_plugins = false;
  req.chaos = o;
  RunOutcome out = run_spec(req);
  ASSERT_TRUE(out.report.has_value()) << out.error;
  std::set<std::string> ops;
  for (const auto& f : out.report->chaos->faults) {
    ops.insert(f.op);
    EXPECT_EQ(f.path.find("hunter2"), std::string::npos) << f.path;
  }
  for (const char* op :
       {"probe:prometheus", "probe:http", "probe:http_load", "probe:redis", "probe:sql"}) {
    EXPECT_TRUE(ops.count(op) != 0) << op;
  }
  for (const auto& r : out.report->results) {
    EXPECT_EQ(r.status, Status::error) << r.id << ": " << r.message;
    EXPECT_EQ(r.message.find("hunter2"), std::string::npos) << r.message;
  }
}
