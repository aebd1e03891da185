// The run's metrics: report_to_metrics, --metrics-file, --pushgateway, and the Grafana
// dashboard's panel queries against a real Prometheus fed through a real Pushgateway.

#include "stagecheck/metrics_export.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "prometheus_server.hpp"
#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace stagecheck;

namespace {

const std::string kSource = STAGECHECK_SOURCE_DIR;
const std::string kSpec = kSource + "/examples/quickstart/spec.yaml";
const std::string kGood = kSource + "/examples/quickstart/scene";
const std::string kBroken = kSource + "/examples/quickstart/broken";

std::string q(const std::string& s) { return "'" + s + "'"; }

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Report sample_report() {
  Report r;
  r.spec_name = "scene \"e2e\"";
  r.duration_ms = 1500;
  r.exit_code = ExitCode::fail;
  StageResult s;
  s.id = "episodes";
  s.status = Status::fail;
  s.duration_ms = 1200;
  r.stages.push_back(s);
  CheckResult c;
  c.id = "episodes.thresholds";
  c.stage = "episodes";
  c.type = "json";
  c.status = Status::fail;
  c.duration_ms = 2.5;
  c.observed = {{"summary.pass_rate >= 0.9", 0.85}, {"note", "text is not a metric"}};
  r.results.push_back(c);
  r.summary = summarize(r.results);
  return r;
}

}  // namespace

TEST(Metrics, ExpositionHasEveryFamilyWithEscapedLabels) {
  auto text = report_to_metrics(sample_report(), {{"scene", "kitchen_001"}});
  ASSERT_TRUE(text.ok()) << text.error().message;
  const std::string base = "spec=\"scene \\\"e2e\\\"\",scene=\"kitchen_001\"";
  for (const std::string& line :
       {"stagecheck_run_success{" + base + "} 0", "stagecheck_run_exit_code{" + base + "} 1",
        "stagecheck_run_duration_seconds{" + base + "} 1.5",
        "stagecheck_checks{" + base + ",status=\"fail\"} 1",
        "stagecheck_checks{" + base + ",status=\"pass\"} 0",
        "stagecheck_stage_status{" + base + ",stage=\"episodes\",status=\"fail\"} 1",
        "stagecheck_stage_status{" + base + ",stage=\"episodes\",status=\"pass\"} 0",
        "stagecheck_check_status{" + base +
            ",stage=\"episodes\",check=\"episodes.thresholds\",type=\"json\",status=\"fail\"} 1",
        "stagecheck_check_observed{" + base +
            ",stage=\"episodes\",check=\"episodes.thresholds\",field=\"summary.pass_rate >= "
            "0.9\"} 0.85",
        std::string("# TYPE stagecheck_run_success gauge")}) {
    EXPECT_NE(text->find(line + "\n"), std::string::npos) << line << "\n" << *text;
  }
  EXPECT_EQ(text->find("note"), std::string::npos);  // strings are not metrics
}

TEST(Metrics, BadLabelNamesAreRefused) {
  for (const char* bad : {"__name", "1abc", "a-b", "spec", "status", ""}) {
    EXPECT_FALSE(report_to_metrics(sample_report(), {{bad, "x"}}).ok()) << bad;
  }
}

TEST(Metrics, DriverWritesTheTextfileAtomicallyAndRefusesBadOptions) {
  st::ScratchDir dir;
  const fs::path file = dir / "stagecheck.prom";
  st::DriverRun r = st::run_driver("run " + q(kSpec) + " --root " + q(kBroken) +
                                   " --var scene_id=kitchen_001 --quiet --metrics-file " +
                                   q(file.string()) + " --metrics-label scene=kitchen_001");
  EXPECT_EQ(r.code, 1) << r.err;
  const std::string text = st::slurp(file);
  EXPECT_NE(text.find("stagecheck_run_success{spec=\"scene-e2e\",scene=\"kitchen_001\"} 0\n"),
            std::string::npos)
      << text.substr(0, 400);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);  // no temporary left
  EXPECT_EQ(st::run_driver("run " + q(kSpec) + " --root " + q(kGood) +
                           " --var scene_id=kitchen_001 --metrics-label nolabel")
                .code,
            2);
  EXPECT_EQ(st::run_driver("run " + q(kSpec) + " --root " + q(kGood) +
                           " --var scene_id=kitchen_001 --metrics-label __x=1")
                .code,
            2);
  EXPECT_EQ(st::run_driver("run " + q(kSpec) + " --root " + q(kGood) +
                           " --var scene_id=kitchen_001 --pushgateway ftp://x")
                .code,
            2);
  // A passing run whose metrics cannot be pushed has no verdict to hand on: exit 3.
  const int port = st::free_port();
  st::DriverRun down = st::run_driver(
      "run " + q(kSpec) + " --root " + q(kGood) +
      " --var scene_id=kitchen_001 --quiet --pushgateway http://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(down.code, 3) << down.err;
  EXPECT_NE(down.err.find("cannot push the metrics"), std::string::npos) << down.err;
}

namespace {

// A real Pushgateway on a free loopback port.
class Pushgateway {
 public:
  bool start() {
    const char* candidates[] = {"/usr/bin/prometheus-pushgateway", "/usr/local/bin/pushgateway"};
    std::string binary;
    for (const char* c : candidates) {
      if (::access(c, X_OK) == 0) binary = c;
    }
    if (binary.empty()) {
      problem_ = "prometheus-pushgateway not found (scripts/install-deps.sh --test installs it)";
      return false;
    }
    port_ = st::free_port();
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open("/dev/null", O_WRONLY);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(binary.c_str(), binary.c_str(), listen.c_str(), "--log.level=warn",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (st::loopback_get(port_, "/-/ready", 500).first == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    problem_ = "the Pushgateway did not become ready";
    return false;
  }
  ~Pushgateway() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& problem() const { return problem_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string problem_;
};

}  // namespace

TEST(Metrics, EveryDashboardPanelReturnsDataFromPushgatewayThroughPrometheus) {
  Pushgateway gateway;
  if (!gateway.start()) {
    if (st::servers_required()) FAIL() << gateway.problem();
    GTEST_SKIP() << gateway.problem();
  }
  // One passing and one failing run, grouped apart by a label.
  for (const auto& [scene, root, code] :
       {std::tuple{"good", kGood, 0}, std::tuple{"broken", kBroken, 1}}) {
    st::DriverRun r = st::run_driver("run " + q(kSpec) + " --root " + q(root) +
                                     " --var scene_id=kitchen_001 --quiet --pushgateway " +
                                     gateway.url() + " --metrics-label scene=" + scene);
    ASSERT_EQ(r.code, code) << r.err;
  }
  st::PrometheusServer prom({{"pushgateway", "127.0.0.1:" + std::to_string(gateway.port())}});
  if (!prom.start()) {
    if (st::servers_required()) FAIL() << prom.problem();
    GTEST_SKIP() << prom.problem();
  }
  ASSERT_TRUE(
      prom.wait_for(url_encode("count(stagecheck_run_success) == 2"), std::chrono::seconds(40)))
      << prom.problem();
  const json dash = json::parse(st::slurp(kSource + "/examples/grafana/stagecheck-dashboard.json"));
  std::size_t panels = 0;
  for (const auto& panel : dash["panels"]) {
    for (const auto& target : panel["targets"]) {
      std::string expr = target["expr"];
      for (std::size_t at; (at = expr.find("$spec")) != std::string::npos;) {
        expr.replace(at, 5, ".+");
      }
      auto [status, body] =
          st::loopback_get(prom.port(), "/api/v1/query?query=" + url_encode(expr), 2000);
      ASSERT_EQ(status, 200) << expr << ": " << body;
      const json answer = json::parse(body);
      EXPECT_EQ(answer["status"], "success") << expr;
      EXPECT_FALSE(answer["data"]["result"].empty())
          << "panel '" << panel["title"] << "' (" << expr << ") returns no data";
      ++panels;
    }
  }
  EXPECT_GE(panels, 10u);
  // The failing run's failing check is on the dashboard.
  auto [status, body] = st::loopback_get(
      prom.port(),
      "/api/v1/query?query=" +
          url_encode("stagecheck_check_status{scene=\"broken\",status=\"fail\"} == 1"),
      2000);
  ASSERT_EQ(status, 200);
  EXPECT_FALSE(json::parse(body)["data"]["result"].empty()) << body;
}
