// Watching a run: --monitor (plain lines off a terminal, a redrawn status line on one) and the
// structured logs (--log-format/--log-level/--log-file), by running the built driver; and the
// ProgressMonitor's rendering with a fake clock.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stagecheck/progress_monitor.hpp"
#include "stagecheck_test_support.hpp"

namespace fs = std::filesystem;
using namespace stagecheck;

namespace st = stagecheck::testing;

namespace {

const std::string kDriver = STAGECHECK_DRIVER;
constexpr const char* kToken = "s3cr3t-T0KEN-7f2a9";

// Two stages: `load` has one failing check whose message quotes an artifact value that is
// also the secret variable's value; `render` depends on nothing and passes.
const char* const kSpec = R"(version: 1
name: observe-test
vars:
  api_token: {type: string, required: true, secret: true}
artifacts:
  creds: creds.json
  mesh: render/mesh.json
stages:
  - id: load
    checks:
      - id: token_matches
        type: json
        artifact: creds
        conditions: ['token == "expected-token"']
      - id: kind_is_api
        type: json
        artifact: creds
        conditions: ['kind == "api"']
  - id: render
    checks:
      - id: mesh_vertices
        type: json
        artifact: mesh
        conditions: ['vertices > 10']
      - id: mesh_name
        type: json
        artifact: mesh
        conditions: ['name == "kitchen"']
)";

using st::DriverRun;
using st::slurp;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// What changes from one run to the next (durations, times, the run id), made constant.
std::string normalise(const std::string& text) {
  std::string s = std::regex_replace(text, std::regex("[0-9a-f]{32}"), "RUNID");
  return std::regex_replace(s, std::regex("[0-9]+(\\.[0-9]+)?"), "N");
}

class ObserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stagecheck-observe-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    write("spec.yaml", kSpec);
    write("root/creds.json", fmt::format(R"({{"token": "{}", "kind": "api"}})", kToken));
    write("root/render/mesh.json", R"({"vertices": 120, "name": "kitchen"})");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string base_args() const {
    return fmt::format("run '{}' --root '{}' --var api_token={}", (dir_ / "spec.yaml").string(),
                       (dir_ / "root").string(), kToken);
  }

  DriverRun run(const std::string& args) { return st::run_driver(args); }

  // The batch fixture: a spec on scenes/ID/report.json (pass_rate >= 0.9), a passing scene
  // good_1 and a failing scene bad_2 under batch/.
  void write_batch() {
    write("batch.yaml", R"(version: 1
name: batch-demo
vars:
  scene_id: {type: segment, required: true}
artifacts:
  report: "scenes/${scene_id}/report.json"
stages:
  - id: quality
    checks:
      - id: pass_rate
        type: json
        artifact: report
        conditions: ["pass_rate >= 0.9"]
)");
    write("batch/scenes/good_1/report.json", R"({"pass_rate": 0.95})");
    write("batch/scenes/bad_2/report.json", R"({"pass_rate": 0.5})");
  }

  void write(const std::string& rel, const std::string& body) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << body;
  }

  fs::path dir_;
};

}  // namespace

// The fixture really fails on the artifact that holds the secret, and its message would quote
// the value: the runner puts *** in its place in the result itself, so that no report, console
// line, history record or alert shows it (the logs' own scrubbing is a second line of defence).
TEST_F(ObserveTest, FixtureFailsOnTheSecretAndEveryReportShowsStarsInstead) {
  const fs::path report = dir_ / "report.json";
  DriverRun r = run(base_args() + " --format json --report-json '" + report.string() + "'");
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  auto json = nlohmann::json::parse(r.out);
  bool starred = false;
  for (const auto& res : json["results"]) {
    if (res["id"] == "load.token_matches") {
      EXPECT_EQ(res["status"], "fail");
      starred = res["message"].get<std::string>().find("token = \"***\"") != std::string::npos;
    }
  }
  EXPECT_TRUE(starred) << r.out;
  EXPECT_EQ(r.out.find(kToken), std::string::npos) << r.out;
  EXPECT_EQ(slurp(report).find(kToken), std::string::npos);
  DriverRun text = run(base_args());
  EXPECT_EQ(text.code, 1);
  EXPECT_EQ(text.out.find(kToken), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("***"), std::string::npos) << text.out;
}

TEST_F(ObserveTest, MonitorOffATerminalWritesPlainLinesAndLeavesStdoutAlone) {
  DriverRun plain = run(base_args());
  DriverRun watched = run(base_args() + " --monitor");
  EXPECT_EQ(watched.code, 1) << watched.err;
  EXPECT_EQ(plain.code, watched.code);
  // stdout is the same run for run, times aside.
  EXPECT_EQ(normalise(watched.out), normalise(plain.out));
  EXPECT_EQ(plain.err, "");
  // stderr: plain lines, no carriage return, no escape sequence.
  EXPECT_EQ(watched.err.find('\r'), std::string::npos) << watched.err;
  EXPECT_EQ(watched.err.find('\x1b'), std::string::npos) << watched.err;
  EXPECT_NE(watched.err.find("stagecheck: FAIL load.token_matches: "), std::string::npos)
      << watched.err;
  EXPECT_NE(watched.err.find("stage load: fail"), std::string::npos) << watched.err;
  EXPECT_NE(watched.err.find("stage render: pass"), std::string::npos) << watched.err;
  EXPECT_NE(watched.err.find("4 checks: 3 pass, 1 fail"), std::string::npos) << watched.err;
  // The secret's value, quoted by the failure message, is not shown.
  EXPECT_EQ(watched.err.find(kToken), std::string::npos) << watched.err;
  EXPECT_NE(watched.err.find("***"), std::string::npos) << watched.err;
}

TEST_F(ObserveTest, MonitorNeverWritesToStdoutWithFormatJson) {
  DriverRun plain = run(base_args() + " --format json");
  DriverRun watched = run(base_args() + " --format json --monitor --monitor-interval 0.5");
  EXPECT_EQ(watched.code, 1) << watched.err;
  auto a = nlohmann::json::parse(plain.out);
  auto b = nlohmann::json::parse(watched.out);  // throws (fails) if anything else is there
  EXPECT_EQ(b["results"].size(), a["results"].size());
  EXPECT_EQ(normalise(watched.out), normalise(plain.out));
  EXPECT_NE(watched.err.find("done in"), std::string::npos) << watched.err;
}

TEST_F(ObserveTest, MonitorOnATerminalRedrawsInPlace) {
  const fs::path out = dir_ / "pty_stdout";
  std::vector<std::string> argv_s = {kDriver,
                                     "run",
                                     (dir_ / "spec.yaml").string(),
                                     "--root",
                                     (dir_ / "root").string(),
                                     "--var",
                                     std::string("api_token=") + kToken,
                                     "--monitor"};
  int master = -1;
  winsize ws{};
  ws.ws_col = 100;
  ws.ws_row = 30;
  pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
  ASSERT_GE(pid, 0) << "forkpty: " << std::strerror(errno);
  if (pid == 0) {
    // stdout to a file, stderr stays on the terminal.
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) _exit(120);
    ::dup2(fd, STDOUT_FILENO);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(kDriver.c_str(), argv.data());
    _exit(121);
  }
  std::string term;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n > 0) {
      term.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EIO once the child has closed the terminal
    }
  }
  ::close(master);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << term;
  EXPECT_NE(term.find("\r\x1b[K"), std::string::npos) << "no redraw in:\n" << term;
  EXPECT_NE(term.find("checks ("), std::string::npos) << "no status line in:\n" << term;
  EXPECT_NE(term.find("stagecheck: FAIL load.token_matches: "), std::string::npos) << term;
  EXPECT_NE(term.find("4 checks: 3 pass, 1 fail"), std::string::npos) << term;
  EXPECT_EQ(term.find(kToken), std::string::npos) << term;
  // The status line is gone at the end: the last thing on the terminal is the summary line.
  const std::size_t last = term.rfind("stagecheck: done in");
  ASSERT_NE(last, std::string::npos);
  EXPECT_EQ(term.find("checks (", last), std::string::npos) << term.substr(last);
  // stdout, a file, holds the console report and no control characters.
  const std::string o = slurp(out);
  EXPECT_NE(o.find("token_matches"), std::string::npos) << o;
  EXPECT_EQ(o.find('\r'), std::string::npos);
}

TEST_F(ObserveTest, JsonLogsOneObjectPerLineWithTheRunId) {
  const fs::path log = dir_ / "run.log";
  DriverRun r = run(base_args() + fmt::format(" --format json --log-format json --log-level debug "
                                              "--log-file '{}'",
                                              log.string()));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.err, "");
  const auto report = nlohmann::json::parse(r.out);
  const std::string run_id = report["run_id"];
  ASSERT_EQ(run_id.size(), 32u);
  const auto lines = lines_of(slurp(log));
  ASSERT_GT(lines.size(), 10u);
  std::set<std::string> ended, events;
  const std::regex ts("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$");
  for (const auto& line : lines) {
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["run_id"], run_id) << line;
    EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), ts)) << line;
    const std::string level = j["level"];
    EXPECT_TRUE(level == "debug" || level == "info" || level == "warn" || level == "error") << line;
    events.insert(j["event"].get<std::string>());
    if (j["event"] == "check_end") ended.insert(j["check"].get<std::string>());
    EXPECT_EQ(line.find(kToken), std::string::npos) << line;
  }
  EXPECT_EQ(nlohmann::json::parse(lines.front())["event"], "run_start");
  EXPECT_EQ(nlohmann::json::parse(lines.back())["event"], "run_end");
  for (const char* e : {"stage_start", "stage_end", "check_start", "check_end", "artifact_read"}) {
    EXPECT_TRUE(events.count(e)) << "no " << e << " event";
  }
  std::set<std::string> ids;
  for (const auto& res : report["results"]) ids.insert(res["id"].get<std::string>());
  EXPECT_EQ(ended, ids);
}

TEST_F(ObserveTest, NoSecretInAnyLogLineAtAnyFormat) {
  for (const char* format : {"json", "text"}) {
    const fs::path log = dir_ / fmt::format("{}.log", format);
    DriverRun r =
        run(base_args() + fmt::format(" --log-format {} --log-level debug --log-file '{}'", format,
                                      log.string()));
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(r.out.find(kToken), std::string::npos) << r.out;
    const std::string text = slurp(log);
    ASSERT_NE(text.find("token_matches"), std::string::npos) << text;
    EXPECT_EQ(text.find(kToken), std::string::npos) << text;
    EXPECT_NE(text.find("***"), std::string::npos) << text;
  }
}

TEST_F(ObserveTest, InfoLevelLogsTheRunStagesAndFailuresOnly) {
  DriverRun r = run(base_args() + " --log-format json");  // to stderr, level info
  EXPECT_EQ(r.code, 1);
  std::multiset<std::string> events;
  for (const auto& line : lines_of(r.err)) {
    auto j = nlohmann::json::parse(line);
    events.insert(j["event"].get<std::string>());
    if (j["event"] == "check_end") {
      EXPECT_EQ(j["check"], "load.token_matches");
      EXPECT_EQ(j["level"], "error");
      EXPECT_EQ(j["status"], "fail");
    }
  }
  EXPECT_EQ(events.count("run_start"), 1u);
  EXPECT_EQ(events.count("run_end"), 1u);
  EXPECT_EQ(events.count("stage_end"), 2u);
  EXPECT_EQ(events.count("check_end"), 1u);
  EXPECT_EQ(events.count("check_start"), 0u);
  EXPECT_EQ(events.count("artifact_read"), 0u);
}

TEST_F(ObserveTest, TextLogsAreKeyValueLines) {
  const fs::path log = dir_ / "text.log";
  DriverRun r = run(base_args() + fmt::format(" --log-file '{}'", log.string()));
  EXPECT_EQ(r.code, 1);
  const auto lines = lines_of(slurp(log));
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    EXPECT_TRUE(std::regex_search(
        line, std::regex("^\\S+Z (info|warn|error|debug) +run_id=[0-9a-f]{32} event=")))
        << line;
  }
}

TEST_F(ObserveTest, ASpecErrorIsALogEventWithTheRunId) {
  write("bad.yaml", "version: 1\nname: x\nstages: []\n");
  DriverRun r = run(fmt::format("run '{}' --log-format json", (dir_ / "bad.yaml").string()));
  EXPECT_EQ(r.code, 2);
  bool logged = false;
  for (const auto& line : lines_of(r.err)) {
    if (line.front() != '{') continue;  // the human lines stay as they were
    auto j = nlohmann::json::parse(line);
    if (j["event"] == "error" && j["level"] == "error" &&
        j["run_id"].get<std::string>().size() == 32) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged) << r.err;
}

TEST_F(ObserveTest, BadOptionsAreUsageErrors) {
  EXPECT_EQ(run(base_args() + " --log-format xml").code, 2);
  EXPECT_EQ(run(base_args() + " --log-level verbose").code, 2);
  EXPECT_EQ(run(base_args() + " --log-level").code, 2);
  EXPECT_EQ(run(base_args() + " --monitor --monitor-interval 0").code, 2);
  EXPECT_EQ(run(base_args() + " --monitor --monitor-interval nan").code, 2);
  EXPECT_EQ(run(base_args() + " --monitor-interval 1").code, 2);
  // The logs and the monitor would share stderr.
  EXPECT_EQ(run(base_args() + " --monitor --log-format json").code, 2);
  DriverRun r = run(base_args() + " --log-file /no/such/dir/run.log");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/no/such/dir/run.log"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists("/no/such/dir"));
  // A folder that is a file.
  EXPECT_EQ(
      run(base_args() + fmt::format(" --log-file '{}/run.log'", (dir_ / "spec.yaml").string()))
          .code,
      2);
  // A log file that cannot be opened (a folder).
  EXPECT_EQ(run(base_args() + fmt::format(" --log-file '{}'", (dir_ / "root").string())).code, 2);
}

TEST_F(ObserveTest, LogFileIsAppendedTo) {
  const fs::path log = dir_ / "append.log";
  run(base_args() + fmt::format(" --log-format json --log-file '{}'", log.string()));
  const auto first = lines_of(slurp(log)).size();
  ASSERT_GT(first, 0u);
  run(base_args() + fmt::format(" --log-format json --log-file '{}'", log.string()));
  const auto lines = lines_of(slurp(log));
  EXPECT_EQ(lines.size(), 2 * first);
  EXPECT_NE(nlohmann::json::parse(lines.front())["run_id"],
            nlohmann::json::parse(lines.back())["run_id"]);
}

// --- ProgressMonitor's rendering, with a fake clock and no ticker thread.

namespace {

struct FakeClock {
  MonitorOptions::Clock::time_point t{};
  void advance(double seconds) {
    t += std::chrono::duration_cast<MonitorOptions::Clock::duration>(
        std::chrono::duration<double>(seconds));
  }
};

RunInfo info(std::size_t checks) {
  RunInfo i;
  i.spec_name = "s";
  i.root = "/data";
  i.check_count = checks;
  i.run_id = std::string(32, 'a');
  return i;
}

CheckResult row(const std::string& stage, const std::string& id, Status status,
                const std::string& message = "") {
  CheckResult r;
  r.stage = stage;
  r.id = id;
  r.type = "json";
  r.status = status;
  r.message = message;
  return r;
}

}  // namespace

TEST(ProgressMonitorTest, PlainModeWritesPeriodicStageAndFailureLines) {
  FakeClock clock;
  std::ostringstream out;
  MonitorOptions o;
  o.tty = false;
  o.ticker = false;
  o.interval = std::chrono::seconds(2);
  o.now = [&] { return clock.t; };
  ProgressMonitor m(out, o);
  m.on_run_start(info(4), {"hunter2"});
  m.on_stage_start("ingest");
  m.on_check_start("ingest", "ingest.a", "json");
  m.on_artifact_read("ingest", "ingest.a", "scenes/x/a.json");
  m.on_check_finish(row("ingest", "ingest.a", Status::pass));
  m.on_check_start("ingest", "ingest.b", "json");
  m.on_artifact_read("ingest", "ingest.b", "scenes/x/b.json");
  out.str("");
  clock.advance(1.0);
  m.tick();
  EXPECT_EQ(out.str(), "") << "not due before the interval";
  clock.advance(1.5);
  m.tick();
  EXPECT_EQ(out.str(),
            "stagecheck: [2.5s] stage ingest | 1/4 checks (25%) | 0 failed, 0 errors | ingest.b "
            "reading scenes/x/b.json\n");
  out.str("");
  m.on_check_finish(row("ingest", "ingest.b", Status::fail, "found \"hunter2\"\nline two"));
  EXPECT_EQ(out.str(), "stagecheck: FAIL ingest.b: found \"***\" line two\n");
  out.str("");
  StageResult st;
  st.id = "ingest";
  st.status = Status::fail;
  st.duration_ms = 1500;
  m.on_stage_finish(st);
  EXPECT_EQ(out.str(), "stagecheck: [2.5s] stage ingest: fail (1.5s) | 2/4 checks done\n");
  out.str("");
  clock.advance(1.0);
  m.tick();
  EXPECT_EQ(out.str(), "") << "the stage line restarted the interval";
  EXPECT_EQ(m.status_line(), "[3.5s] stage - | 2/4 checks (50%) | 1 failed, 0 errors");
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(ProgressMonitorTest, TerminalModeRedrawsFitsTheWidthAndClearsAtTheEnd) {
  FakeClock clock;
  std::ostringstream out;
  MonitorOptions o;
  o.tty = true;
  o.ticker = false;
  o.width = 40;
  o.now = [&] { return clock.t; };
  ProgressMonitor m(out, o);
  m.on_run_start(info(2), {});
  m.on_stage_start("render");
  m.on_check_start("render", "render.mesh", "json");
  m.on_artifact_read("render", "render.mesh", "scenes/kitchen/render/mesh_with_a_long_name.json");
  out.str("");
  clock.advance(0.2);
  m.tick();
  const std::string drawn = out.str();
  ASSERT_EQ(drawn.rfind("\r\x1b[K", 0), 0u) << drawn;
  const std::string line = drawn.substr(4);
  EXPECT_EQ(line.size(), 39u) << line;  // width - 1: the terminal never wraps it
  EXPECT_EQ(line.substr(line.size() - 3), "...");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  out.str("");
  // A failure: the status line is cleared, the failure printed, the status line redrawn.
  m.on_check_finish(row("render", "render.mesh", Status::error, "cannot read"));
  EXPECT_EQ(out.str().rfind("\r\x1b[Kstagecheck: ERROR render.mesh: cannot read\n\r\x1b[K", 0), 0u)
      << out.str();
  // While the reporters hold the output, nothing is drawn.
  m.hold_output().on_result(row("render", "render.mesh", Status::error));
  out.str("");
  m.tick();
  EXPECT_EQ(out.str(), "");
  m.release_output().on_result(row("render", "render.mesh", Status::error));
  m.tick();
  EXPECT_NE(out.str(), "");
  out.str("");
  Report report;
  report.summary.total = 2;
  report.summary.error = 1;
  report.exit_code = ExitCode::no_verdict;
  m.on_run_finish(report);
  EXPECT_EQ(out.str().rfind("\r\x1b[Kstagecheck: done in", 0), 0u) << out.str();
  EXPECT_EQ(out.str().back(), '\n') << "the status line is gone";
  out.str("");
  m.tick();
  EXPECT_EQ(out.str(), "") << "nothing drawn after the end";
}

TEST(ProgressMonitorTest, ControlCharactersInPathsAreEscaped) {
  FakeClock clock;
  std::ostringstream out;
  MonitorOptions o;
  o.ticker = false;
  o.now = [&] { return clock.t; };
  ProgressMonitor m(out, o);
  m.on_run_start(info(1), {});
  m.on_check_start("s", "s.c", "json");
  m.on_artifact_read("s", "s.c", "evil\r\x1b[2Jname.json");
  EXPECT_EQ(m.status_line().find('\x1b'), std::string::npos);
  EXPECT_EQ(m.status_line().find('\r'), std::string::npos);
}

TEST(RedactSecretsTest, ReplacesEveryOccurrenceLongestFirst) {
  EXPECT_EQ(redact_secrets("a hunter2 b hunter2", {"hunter2"}), "a *** b ***");
  EXPECT_EQ(redact_secrets("key=abc123", {"abc", "abc123"}), "key=***");
  EXPECT_EQ(redact_secrets("nothing", {""}), "nothing");
  EXPECT_EQ(redact_secrets("***", {"*"}), "*********");
}

// `run --scenes --monitor`: one plain line per finished scene on stderr; stdout stays the batch
// report alone.
TEST_F(ObserveTest, MonitorOfABatchPrintsALinePerScene) {
  write_batch();
  DriverRun r = run(fmt::format("run '{}' --root '{}' --scenes all --monitor --format json",
                                (dir_ / "batch.yaml").string(), (dir_ / "batch").string()));
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  auto report = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(report.is_discarded()) << r.out;
  EXPECT_NE(r.err.find("scene good_1: PASS (1 checks, 0 fail, 0 error;"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("scene bad_2: FAIL (1 checks, 1 fail, 0 error;"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("2 scenes done)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
}

// `run --scenes --log-format json`: each scene's events carry the scene's own run id and the
// batch's id as batch_id; the batch's own events (batch_start, scene_end, batch_end) carry the
// batch's id as run_id.
TEST_F(ObserveTest, BatchLogsGiveEachSceneItsRunIdAndTheBatchId) {
  write_batch();
  const fs::path log = dir_ / "batch.log";
  DriverRun r = run(
      fmt::format("run '{}' --root '{}' --scenes all --jobs 2 --log-format json --log-level debug "
                  "--log-file '{}' --report-json '{}'",
                  (dir_ / "batch.yaml").string(), (dir_ / "batch").string(), log.string(),
                  (dir_ / "batch.json").string()));
  ASSERT_EQ(r.code, 1) << r.out << r.err;
  std::istringstream lines(slurp(log));
  std::string line, batch_id;
  std::map<std::string, std::vector<std::string>> events_of;  // run id -> events
  std::map<std::string, std::string> scene_of_run;            // run id -> its check's scene
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    ++n;
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    ASSERT_TRUE(j.contains("batch_id")) << line;
    if (batch_id.empty()) batch_id = j["batch_id"];
    EXPECT_EQ(j["batch_id"], batch_id) << line;
    events_of[j["run_id"]].push_back(j["event"]);
    if (j["event"] == "artifact_read") {
      const std::string path = j["path"];  // scenes/ID/report.json
      scene_of_run[j["run_id"]] = path.substr(7, path.find('/', 7) - 7);
    }
  }
  ASSERT_GT(n, 0u);
  // The batch's own events, under its id.
  const auto& batch = events_of[batch_id];
  EXPECT_EQ(batch.front(), "batch_start");
  EXPECT_EQ(batch.back(), "batch_end");
  EXPECT_EQ(std::count(batch.begin(), batch.end(), "scene_end"), 2);
  // Two scene runs, each with its own id, start to end, each reading only its own scene.
  EXPECT_EQ(events_of.size(), 3u);
  std::set<std::string> scenes;
  for (const auto& [id, events] : events_of) {
    if (id == batch_id) continue;
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(events.front(), "run_start") << id;
    EXPECT_EQ(events.back(), "run_end") << id;
    EXPECT_EQ(std::count(events.begin(), events.end(), "check_end"), 1) << id;
    scenes.insert(scene_of_run[id]);
  }
  EXPECT_EQ(scenes, (std::set<std::string>{"good_1", "bad_2"}));
}
