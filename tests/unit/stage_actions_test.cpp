// Stage triggers, bounded waits and before/after snapshots (RunOptions::execute).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "http_target.hpp"
#include "stagecheck/local_store.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/runner.hpp"

using namespace stagecheck;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

class StageActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stagecheck-actions-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ / "store";
    fs::create_directories(root_);
    ASSERT_TRUE(register_builtin_checks(registry_).ok());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void write(const fs::path& p, const std::string& body) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << body;
  }
  std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // An executable shell script in the test folder.
  std::string script(const std::string& name, const std::string& body) {
    fs::path p = dir_ / name;
    write(p, "#!/bin/sh\n" + body);
    fs::permissions(p, fs::perms::owner_all);
    return p.string();
  }

  Report run(const std::string& spec_text, std::map<std::string, std::string> vars = {},
             bool execute = true, const std::atomic<bool>* cancel = nullptr) {
    SpecOptions opts;
    opts.registry = &registry_;
    opts.vars = std::move(vars);
    auto spec = load_spec_string(spec_text, "spec.yaml", opts);
    EXPECT_TRUE(spec.ok()) << (spec ? "" : spec.error().message);
    if (!spec) return {};
    spec_ = std::make_unique<Spec>(std::move(*spec));
    auto store = open_local_store(root_);
    EXPECT_TRUE(store.ok());
    store_ = std::move(*store);
    RunOptions options;
    options.execute = execute;
    options.cancel = cancel;
    Runner runner(*spec_, *store_, options);
    return runner.run();
  }

  Result<Spec> load(const std::string& spec_text) {
    SpecOptions opts;
    opts.registry = &registry_;
    return load_spec_string(spec_text, "spec.yaml", opts);
  }

  static const CheckResult& result(const Report& r, const std::string& id) {
    for (const auto& c : r.results) {
      if (c.id == id) return c;
    }
    static CheckResult none;
    ADD_FAILURE() << "no result " << id;
    return none;
  }

  fs::path dir_, root_;
  Registry registry_;
  std::unique_ptr<Spec> spec_;
  std::unique_ptr<Store> store_;
};

// A stage whose command writes `.done` (after `delay`) and exits with `code`.
std::string command_spec(const std::string& program, const std::string& extra = "") {
  return "version: 1\nname: t\nvars:\n  code: {type: string, default: '0'}\n"
         "  token: {type: string, default: hunter2, secret: true}\n"
         "  scene: {type: segment, default: kitchen}\n"
         "stages:\n  - id: s\n    trigger:\n      command:\n        argv: [" +
         program +
         ", '${root}', '${code}']\n        env: {TOKEN: '${token}'}\n        timeout: 5s\n" +
         extra + "    checks:\n      - {id: done, type: marker, path: .done}\n";
}

}  // namespace

TEST_F(StageActionsTest, WithoutExecuteNothingRunsAndRowsAreSkipped) {
  std::string prog = script("t.sh", "touch \"$1/.done\"\n");
  Report r = run(command_spec(prog, "    wait: {for: [.done], timeout: 1s}\n"), {}, false);
  EXPECT_EQ(result(r, "s.trigger").status, Status::skipped);
  EXPECT_NE(result(r, "s.trigger").message.find("--execute"), std::string::npos);
  EXPECT_EQ(result(r, "s.wait").status, Status::skipped);
  EXPECT_FALSE(fs::exists(root_ / ".done"));  // the command never ran
  EXPECT_EQ(result(r, "s.done").status, Status::fail);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(StageActionsTest, CommandTriggerRunsThenChecksSeeItsWork) {
  std::string prog = script("t.sh", "echo \"token=$TOKEN home=$HOME\"\ntouch \"$1/.done\"\n");
  Report r = run(command_spec(prog));
  const CheckResult& t = result(r, "s.trigger");
  EXPECT_EQ(t.status, Status::pass) << t.message;
  EXPECT_EQ(t.observed["exit_code"], 0);
  // Only PATH is inherited; explicit env is set; the secret never shows in the report, not
  // even where the command printed it.
  EXPECT_NE(t.details["output_tail"].get<std::string>().find("token=*** home=\n"),
            std::string::npos)
      << t.details.dump();
  EXPECT_EQ(t.details.dump().find("hunter2"), std::string::npos) << t.details.dump();
  EXPECT_EQ(t.details["env"]["TOKEN"], "***");
  EXPECT_EQ(t.details["argv"][1], root_.string());
  EXPECT_EQ(t.message.find("hunter2"), std::string::npos);
  EXPECT_EQ(result(r, "s.done").status, Status::pass);
  EXPECT_EQ(r.exit_code, ExitCode::pass);
}

TEST_F(StageActionsTest, CommandFailureFailsWithItsExitCodeAndLastLine) {
  std::string prog = script("t.sh", "echo starting\necho 'bucket not found' >&2\nexit \"$2\"\n");
  Report r = run(command_spec(prog, "    wait: {for: [.done], timeout: 10s}\n"), {{"code", "7"}});
  const CheckResult& t = result(r, "s.trigger");
  EXPECT_EQ(t.status, Status::fail);
  EXPECT_EQ(t.observed["exit_code"], 7);
  EXPECT_NE(t.message.find("found exit code 7"), std::string::npos) << t.message;
  EXPECT_NE(t.message.find("bucket not found"), std::string::npos) << t.message;
  // The wait is not attempted (it would only burn its timeout).
  EXPECT_EQ(result(r, "s.wait").status, Status::blocked);
  EXPECT_LT(r.duration_ms, 5000);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(StageActionsTest, HangingCommandIsKilledWithItsChildrenAtTheTimeout) {
  fs::path pidfile = dir_ / "child.pid";
  std::string prog = script("t.sh", "sleep 60 &\necho $! > '" + pidfile.string() + "'\nwait\n");
  std::string spec =
      "version: 1\nname: t\nstages:\n  - id: s\n    trigger:\n      command: {argv: [" + prog +
      "], timeout: 500ms, kill_grace: 200ms}\n    checks:\n      - {id: m, type: marker, path: "
      "x.json, expect: absent}\n";
  auto start = Clock::now();
  Report r = run(spec);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  const CheckResult& t = result(r, "s.trigger");
  EXPECT_EQ(t.status, Status::fail);
  EXPECT_EQ(t.code, "trigger_timeout");
  EXPECT_NE(t.message.find("did not finish within 500ms"), std::string::npos) << t.message;
  EXPECT_LT(took.count(), 3000);
  // The backgrounded grandchild went with the group.
  // (Gone, or a zombie waiting for an init that may not reap here.)
  for (int i = 0; i < 100 && read(pidfile).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(read(pidfile).empty()) << "the script never started its child";
  const std::string stat = "/proc/" + std::to_string(std::stoi(read(pidfile))) + "/stat";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string state = read(stat);
  const std::size_t paren = state.rfind(')');
  EXPECT_TRUE(state.empty() || (paren != std::string::npos && state.substr(paren + 2, 1) == "Z"))
      << "the backgrounded child survived the timeout: " << state;
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(StageActionsTest, MissingProgramCannotBeEvaluated) {
  Report r = run(command_spec((dir_ / "no-such-program").string()));
  const CheckResult& t = result(r, "s.trigger");
  EXPECT_EQ(t.status, Status::error);
  EXPECT_NE(t.message.find("cannot start"), std::string::npos) << t.message;
  // The marker check still ran and failed: the run's verdict is a failure.
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(StageActionsTest, WaitSeesMarkerWrittenLaterByBackgroundWork) {
  std::string prog = script("t.sh", "(sleep 0.4; touch \"$1/.done\") >/dev/null 2>&1 &\n");
  Report r = run(command_spec(prog, "    wait: {for: [.done], timeout: 5s, interval: 50ms}\n"));
  const CheckResult& w = result(r, "s.wait");
  EXPECT_EQ(w.status, Status::pass) << w.message;
  EXPECT_GE(w.observed["polls"].get<int>(), 2);
  EXPECT_EQ(result(r, "s.done").status, Status::pass);
  EXPECT_EQ(r.exit_code, ExitCode::pass);
}

TEST_F(StageActionsTest, WaitFailsAtItsDeadlineNamingTheMissingMarker) {
  std::string prog = script("t.sh", "true\n");
  std::string extra =
      "    wait:\n      for: [.done, 'out/${scene}/.complete']\n"
      "      timeout: 600ms\n      interval: 100ms\n      max_interval: 200ms\n";
  write(root_ / ".done", "");
  auto start = Clock::now();
  Report r = run(command_spec(prog, extra));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  const CheckResult& w = result(r, "s.wait");
  EXPECT_EQ(w.status, Status::fail);
  EXPECT_EQ(w.code, "wait_timeout");
  EXPECT_NE(w.message.find("still missing: out/kitchen/.complete"), std::string::npos) << w.message;
  EXPECT_EQ(w.message.find(".done,"), std::string::npos) << w.message;
  EXPECT_GE(took.count(), 550);
  EXPECT_LT(took.count(), 2500);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(StageActionsTest, AMarkerOlderThanTheTriggerIsNotThisRunsMarker) {
  // Yesterday's marker is still there; the workflow does nothing today.
  write(root_ / ".done", "{}");
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(24);
  fs::last_write_time(root_ / ".done", old);
  std::string prog = script("t.sh", "true\n");
  Report r = run(command_spec(prog, "    wait: {for: [.done], timeout: 500ms, interval: 100ms}\n"));
  const CheckResult& w = result(r, "s.wait");
  EXPECT_EQ(w.status, Status::fail);
  EXPECT_NE(w.message.find(".done present but older than the trigger"), std::string::npos)
      << w.message;
  // Opting out: existence is enough.
  Report lax = run(
      command_spec(prog, "    wait: {for: [.done], timeout: 500ms, newer_than_trigger: false}\n"));
  EXPECT_EQ(result(lax, "s.wait").status, Status::pass) << result(lax, "s.wait").message;
  // A marker the trigger writes is new.
  std::string writes = script("w.sh", "touch \"$1/.done\"\n");
  Report fresh = run(command_spec(writes, "    wait: {for: [.done], timeout: 2s}\n"));
  EXPECT_EQ(result(fresh, "s.wait").status, Status::pass) << result(fresh, "s.wait").message;
}

TEST_F(StageActionsTest, WriteMarkerTriggerWritesAtomicallyIntoTheStore) {
  std::string spec = R"(version: 1
name: t
vars:
  scene_id: {type: segment, default: kitchen_001}
stages:
  - id: s
    trigger:
      write_marker:
        path: scenes/${scene_id}/.ready
        fields: {scene_id: $scene_id, requested_by: stagecheck}
    checks:
      - id: ready
        type: marker
        path: scenes/${scene_id}/.ready
        conditions: ['scene_id == "kitchen_001"', 'exists(timestamp)']
)";
  Report r = run(spec);
  EXPECT_EQ(result(r, "s.trigger").status, Status::pass) << result(r, "s.trigger").message;
  EXPECT_EQ(result(r, "s.ready").status, Status::pass) << result(r, "s.ready").message;
  EXPECT_EQ(r.exit_code, ExitCode::pass);
  // Nothing but the marker was left behind (no temporary file).
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST_F(StageActionsTest, WriteMarkerOutOfTheStoreIsRefused) {
  Report r = run(R"(version: 1
name: t
stages:
  - id: s
    trigger: {write_marker: {path: ../escaped.json}}
    checks: [{id: m, type: marker, path: x.json, expect: absent}]
)");
  EXPECT_NE(result(r, "s.trigger").status, Status::pass);
  EXPECT_FALSE(fs::exists(dir_ / "escaped.json"));
  EXPECT_NE(r.exit_code, ExitCode::pass);
}

TEST_F(StageActionsTest, WriteMarkerOnAReadOnlyStoreCannotBeEvaluated) {
  auto spec = load(R"(version: 1
name: t
stages:
  - id: s
    trigger: {write_marker: {path: .ready}}
    checks: [{id: m, type: marker, path: .ready}]
)");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  auto store = open_local_store(root_);
  ASSERT_TRUE(store.ok());
  const Store& read_only = **store;
  RunOptions options;
  options.execute = true;
  Report r = Runner(*spec, read_only, options).run();
  EXPECT_EQ(result(r, "s.trigger").status, Status::error);
  EXPECT_NE(result(r, "s.trigger").message.find("read-only"), std::string::npos);
  EXPECT_FALSE(fs::exists(root_ / ".ready"));
}

TEST_F(StageActionsTest, HttpTriggerChecksTheStatusAndSendsTheBody) {
  stagecheck::testing::HttpTarget target;
  target.json("/jobs", R"({"accepted": true})", 202);
  target.json("/broken", R"({"error": "boom"})", 500);
  std::string spec = R"(version: 1
name: t
vars:
  url: {type: string, required: true}
  scene_id: {type: segment, default: kitchen_001}
  key: {type: string, default: k-123, secret: true}
stages:
  - id: s
    trigger:
      http:
        url: ${url}
        method: POST
        headers: {Authorization: 'Bearer ${key}', Content-Type: application/json}
        body: '{"scene": "${scene_id}"}'
        timeout: 5s
    checks: [{id: m, type: marker, path: x.json, expect: absent}]
)";
  Report ok = run(spec, {{"url", target.url("/jobs")}});
  const CheckResult& t = result(ok, "s.trigger");
  EXPECT_EQ(t.status, Status::pass) << t.message;
  EXPECT_EQ(t.observed["status"], 202);
  EXPECT_EQ(t.details["headers"]["Authorization"], "Bearer ***");
  auto seen = target.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].body, R"({"scene": "kitchen_001"})");
  EXPECT_EQ(seen[0].headers["authorization"], "Bearer k-123");
  EXPECT_EQ(ok.exit_code, ExitCode::pass);

  Report bad = run(spec, {{"url", target.url("/broken")}});
  EXPECT_EQ(result(bad, "s.trigger").status, Status::fail);
  EXPECT_NE(result(bad, "s.trigger")
                .message.find("expected status 200 or 201 or 202 or 204, "
                              "found 500"),
            std::string::npos)
      << result(bad, "s.trigger").message;
  EXPECT_EQ(bad.exit_code, ExitCode::fail);

  // Nothing listens: could not be evaluated, never a pass.
  int port = stagecheck::testing::free_loopback_port();
  Report down = run(spec, {{"url", "http://127.0.0.1:" + std::to_string(port) + "/jobs"}});
  EXPECT_EQ(result(down, "s.trigger").status, Status::error);
  EXPECT_EQ(down.exit_code, ExitCode::no_verdict);
}

namespace {
// A stage whose command raises a counter in counter.json from 1 to $to, and a snapshot on it.
std::string snapshot_spec(const std::string& program, const std::string& expect,
                          const std::string& timeout = "1s") {
  return "version: 1\nname: t\nvars:\n  to: {type: number, default: 2}\nstages:\n  - id: s\n"
         "    trigger:\n      command: [" +
         program +
         ", '${root}', '${to}']\n    snapshots:\n      - id: counter\n        probe: {type: "
         "json, artifact: counter.json, conditions: ['n >= 0']}\n        value: '[\"n >= 0\"]'\n"
         "        expect: '" +
         expect + "'\n        timeout: " + timeout +
         "\n        interval: 100ms\n    checks:\n      - {id: c, type: "
         "json, artifact: counter.json, conditions: ['n >= 1']}\n";
}
}  // namespace

TEST_F(StageActionsTest, SnapshotComparesBeforeAndAfterTheTrigger) {
  write(root_ / "counter.json", R"({"n": 1})");
  std::string prog = script("t.sh", "printf '{\"n\": %s}' \"$2\" > \"$1/counter.json\"\n");
  Report r = run(snapshot_spec(prog, "delta >= 1"));
  const CheckResult& s = result(r, "s.counter");
  EXPECT_EQ(s.status, Status::pass) << s.message;
  EXPECT_EQ(s.observed["before"], 1);
  EXPECT_EQ(s.observed["after"], 2);
  EXPECT_EQ(s.observed["delta"], 1);
  EXPECT_EQ(r.exit_code, ExitCode::pass);
}

TEST_F(StageActionsTest, SnapshotThatDoesNotMoveFailsAtItsTimeoutWithTheValues) {
  write(root_ / "counter.json", R"({"n": 1})");
  std::string prog = script("t.sh", "printf '{\"n\": %s}' \"$2\" > \"$1/counter.json\"\n");
  Report r = run(snapshot_spec(prog, "delta >= 1"), {{"to", "1"}});
  const CheckResult& s = result(r, "s.counter");
  EXPECT_EQ(s.status, Status::fail);
  EXPECT_EQ(s.code, "snapshot_unchanged");
  EXPECT_NE(s.message.find("before 1, after 1"), std::string::npos) << s.message;
  EXPECT_EQ(s.observed["delta"], 0);
  EXPECT_GE(s.details["polls"].get<int>(), 3);
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(StageActionsTest, SnapshotSeesAValueThatMovesLater) {
  write(root_ / "counter.json", R"({"n": 1})");
  std::string prog =
      script("t.sh",
             "(sleep 0.3; printf '{\"n\": 5}' > \"$1/c.tmp\"; mv \"$1/c.tmp\" \"$1/counter.json\")"
             " >/dev/null 2>&1 &\n");
  Report r = run(snapshot_spec(prog, "delta between 2 and 10", "10s"));
  EXPECT_EQ(result(r, "s.counter").status, Status::pass) << result(r, "s.counter").message;
  EXPECT_GE(result(r, "s.counter").details["polls"].get<int>(), 2);
}

TEST_F(StageActionsTest, SnapshotProbeFailingBeforeTheTriggerFailsNamingIt) {
  // No counter before the trigger: fail closed, never "before = 0".
  std::string prog = script("t.sh", "printf '{\"n\": 3}' > \"$1/counter.json\"\n");
  Report r = run(snapshot_spec(prog, "delta >= 1"));
  const CheckResult& s = result(r, "s.counter");
  EXPECT_EQ(s.status, Status::fail);
  EXPECT_NE(s.message.find("before the trigger"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("counter.json"), std::string::npos) << s.message;
}

TEST_F(StageActionsTest, SnapshotWhoseProbeFailsAfterTheTriggerFails) {
  write(root_ / "counter.json", R"({"n": 1})");
  std::string prog = script("t.sh", "printf '{\"n\": \"2\"}' > \"$1/counter.json\"\n");
  Report r = run(snapshot_spec(prog, "delta >= 1"));
  // The probe's own condition fails on the string: the comparison never passes.
  EXPECT_EQ(result(r, "s.counter").status, Status::fail);
  EXPECT_NE(result(r, "s.counter").message.find("after the trigger: the probe (json) did not pass"),
            std::string::npos)
      << result(r, "s.counter").message;
  EXPECT_EQ(r.exit_code, ExitCode::fail);
}

TEST_F(StageActionsTest, ChecksAfterATriggerReadFreshData) {
  // An earlier stage reads counter.json; the later stage's trigger rewrites it; the later
  // stage's check must see the new value, not the cached one.
  write(root_ / "counter.json", R"({"n": 1})");
  std::string prog = script("t.sh", "printf '{\"n\": 9}' > \"$1/counter.json\"\n");
  std::string spec =
      "version: 1\nname: t\nstages:\n  - id: a\n    checks:\n      - {id: c, type: "
      "json, artifact: counter.json, conditions: ['n == 1']}\n  - id: b\n"
      "    depends_on: [a]\n    trigger: {command: [" +
      prog +
      ", '${root}']}\n    checks:\n      - {id: c, type: json, artifact: "
      "counter.json, conditions: ['n == 9']}\n";
  Report r = run(spec);
  EXPECT_EQ(result(r, "a.c").status, Status::pass);
  EXPECT_EQ(result(r, "b.c").status, Status::pass) << result(r, "b.c").message;
}

TEST_F(StageActionsTest, CancellationStopsARunningTriggerAndReportsInterrupted) {
  std::string prog = script("t.sh", "sleep 30\n");
  std::atomic<bool> cancel{false};
  std::jthread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  auto start = Clock::now();
  Report r = run(command_spec(prog), {}, true, &cancel);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  EXPECT_LT(took.count(), 5000);
  EXPECT_EQ(result(r, "s.trigger").status, Status::error);
  EXPECT_EQ(result(r, "s.trigger").code, "interrupted");
  EXPECT_TRUE(r.interrupted);
  EXPECT_EQ(r.exit_code, ExitCode::no_verdict);
}

TEST_F(StageActionsTest, LoaderRejectsBadTriggersWaitsAndSnapshots) {
  struct Case {
    std::string stage_body;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"    trigger: {command: []}\n", "non-empty argument list"},
      {"    trigger: {command: [a], http: {url: 'http://x'}}\n", "exactly one of"},
      {"    trigger: {command: ['${nope}']}\n", "undeclared variable 'nope'"},
      {"    trigger: {command: {argv: [a], timeout: forever}}\n", "expected a duration"},
      {"    trigger: {command: {argv: [a], timeout: -1}}\n", "expected a duration"},
      {"    trigger: {http: {url: 'ftp://x'}}\n", "must start with http://"},
      {"    trigger: {http: {url: 'http://x', expect_status: [99]}}\n", "HTTP status codes"},
      {"    wait: {for: []}\n", "non-empty list"},
      {"    wait: {for: [x.json], timeout: 0}\n", "expected a duration"},
      {"    wait: {for: [x.json], timeout: 1.2.3s}\n", "expected a duration"},
      {"    wait: {for: [x.json], newer_than_trigger: 'yes'}\n", "true or false"},
      {"    snapshots: [{id: trigger, probe: {type: marker, path: x.json}, value: v, expect: "
       "'delta > 0'}]\n",
       "id of a stage row"},
      {"    snapshots: [{id: a, probe: {type: nope}, value: v, expect: 'delta > 0'}]\n", "nope"},
      {"    snapshots: [{id: a, probe: {type: marker, path: x.json}, value: v}]\n",
       "missing required key 'expect'"},
      {"    snapshots: [{id: c, probe: {type: marker, path: x.json}, value: v, expect: 'delta "
       ">'}]\n",
       "expect"},
  };
  for (const auto& c : cases) {
    auto spec = load("version: 1\nname: t\nstages:\n  - id: s\n" + c.stage_body +
                     "    checks: [{id: c, type: marker, path: x.json}]\n");
    ASSERT_FALSE(spec.ok()) << c.stage_body;
    EXPECT_NE(spec.error().message.find(c.expect), std::string::npos)
        << c.stage_body << " -> " << spec.error().message;
  }
  // A snapshot and a check may not share an id.
  auto dup = load(
      "version: 1\nname: t\nstages:\n  - id: s\n    snapshots: [{id: c, probe: {type: marker, "
      "path: x.json}, value: v, expect: 'delta > 0'}]\n    checks: [{id: c, type: marker, path: "
      "x.json}]\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("share the id"), std::string::npos) << dup.error().message;
}
