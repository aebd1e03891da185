// The driver with --history and the `stagecheck history` verbs, run as a user would.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "stagecheck/history.hpp"
#include "stagecheck_test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using stagecheck::testing::DriverRun;
using stagecheck::testing::slurp;

// A spec with one json check on data/stats.json: rows must be at least `min_rows`.
constexpr const char* kSpec = R"(version: 1
name: history-demo
vars:
  min_rows: {type: number, default: 3}
artifacts:
  stats: data/stats.json
stages:
  - id: ingest
    name: Ingest
    checks:
      - id: rows
        type: json
        artifact: stats
        conditions: ["rows >= $min_rows"]
      - id: rows_known
        type: json
        artifact: stats
        conditions: ["rows >= 0"]
)";

class HistoryCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stagecheck-history-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    write("spec.yaml", kSpec);
    db_ = (dir_ / "history.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs the driver in the test's folder with `env` (STAGECHECK_HISTORY unset by default).
  DriverRun run(const std::string& args, const std::string& env = "STAGECHECK_HISTORY=") {
    return stagecheck::testing::run_driver(args,
                                           fmt::format("cd '{}' && env {}", dir_.string(), env));
  }

  void write(const std::string& rel, const std::string& body) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << body;
  }

  // Runs the spec with rows = `rows` and records it; returns the exit code.
  DriverRun record(int rows, const std::string& extra = "") {
    write("data/stats.json", fmt::format("{{\"rows\": {}}}", rows));
    return run(fmt::format("run spec.yaml --root . --history '{}' {}", db_, extra));
  }

  json list_json(const std::string& extra = "") {
    DriverRun r = run(fmt::format("history list --history '{}' --format json {}", db_, extra));
    EXPECT_EQ(r.code, 0) << r.err;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  fs::path dir_;
  std::string db_;
};

}  // namespace

TEST_F(HistoryCli, RunTwiceThenListShowCompare) {
  DriverRun first = record(5);
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  DriverRun second = record(1);
  ASSERT_EQ(second.code, 1) << second.out << second.err;

  json list = list_json();
  ASSERT_EQ(list["runs"].size(), 2u) << list.dump(2);
  const json& newest = list["runs"][0];
  const json& oldest = list["runs"][1];
  EXPECT_EQ(newest["verdict"], "fail");
  EXPECT_EQ(newest["exit_code"], 1);
  EXPECT_EQ(oldest["verdict"], "pass");
  EXPECT_EQ(newest["spec"]["name"], "history-demo");
  EXPECT_EQ(newest["counts"]["total"], 2);
  EXPECT_EQ(newest["counts"]["fail"], 1);
  EXPECT_EQ(newest["vars"]["min_rows"], 3);
  const std::string id_new = newest["run_id"], id_old = oldest["run_id"];
  EXPECT_EQ(id_new.size(), 32u);

  // Text list: a header and one aligned row per run, short ids.
  DriverRun text = run(fmt::format("history list --history '{}'", db_));
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("RUN"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(id_new.substr(0, 12)), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("FAIL"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("PASS"), std::string::npos) << text.out;
  {
    // Columns line up: "STARTED" starts where each row's time starts.
    std::istringstream lines(text.out);
    std::string line;
    std::size_t started_col = std::string::npos;
    int rows = 0;
    while (std::getline(lines, line)) {
      if (line.rfind("RUN", 0) == 0) started_col = line.find("STARTED");
      if (started_col != std::string::npos && line.find(id_old.substr(0, 12)) == 0) {
        EXPECT_EQ(line.find(oldest["started_at"].get<std::string>()), started_col) << text.out;
        ++rows;
      }
    }
    EXPECT_EQ(rows, 1) << text.out;
  }

  // show (json): the stored report.
  DriverRun show =
      run(fmt::format("history show {} --history '{}' --format json", id_new.substr(0, 10), db_));
  ASSERT_EQ(show.code, 0) << show.err;
  json report = json::parse(show.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << show.out;
  EXPECT_EQ(report["run_id"], id_new);
  EXPECT_EQ(report["verdict"], "fail");
  ASSERT_EQ(report["results"].size(), 2u);
  EXPECT_EQ(report["results"][0]["id"], "ingest.rows");
  EXPECT_EQ(report["results"][0]["status"], "fail");
  EXPECT_EQ(report["history"]["location"], db_);

  // show (text): verdict, counts, each check's status, observed value and duration.
  DriverRun show_text = run(fmt::format("history show {} --history '{}'", id_new, db_));
  ASSERT_EQ(show_text.code, 0) << show_text.err;
  EXPECT_NE(show_text.out.find("FAIL (exit 1)"), std::string::npos) << show_text.out;
  EXPECT_NE(show_text.out.find("2: 1 pass, 1 fail"), std::string::npos) << show_text.out;
  EXPECT_NE(show_text.out.find("ingest.rows"), std::string::npos) << show_text.out;
  EXPECT_NE(show_text.out.find("ms"), std::string::npos) << show_text.out;
  EXPECT_NE(show_text.out.find("{\"rows >= $min_rows\":1}"), std::string::npos) << show_text.out;

  // compare (json)
  DriverRun cmp =
      run(fmt::format("history compare {} {} --history '{}' --format json", id_old, id_new, db_));
  ASSERT_EQ(cmp.code, 0) << cmp.err;
  json c = json::parse(cmp.out, nullptr, false);
  ASSERT_FALSE(c.is_discarded()) << cmp.out;
  EXPECT_EQ(c["a"]["verdict"], "pass");
  EXPECT_EQ(c["b"]["verdict"], "fail");
  EXPECT_EQ(c["verdict_changed"], true);
  ASSERT_EQ(c["checks"].size(), 2u);
  EXPECT_EQ(c["checks"][0]["id"], "ingest.rows");
  EXPECT_EQ(c["checks"][0]["status_a"], "pass");
  EXPECT_EQ(c["checks"][0]["status_b"], "fail");
  EXPECT_EQ(c["checks"][0]["status_changed"], true);
  EXPECT_EQ(c["checks"][1]["status_changed"], false);
  EXPECT_TRUE(c["only_in_a"].empty());

  // compare (text), exit 0 whatever the differences
  DriverRun cmp_text =
      run(fmt::format("history compare {} {} --history '{}'", id_old, id_new, db_));
  ASSERT_EQ(cmp_text.code, 0) << cmp_text.err;
  EXPECT_NE(cmp_text.out.find("PASS -> FAIL"), std::string::npos) << cmp_text.out;
  EXPECT_NE(cmp_text.out.find("pass -> fail"), std::string::npos) << cmp_text.out;
}

TEST_F(HistoryCli, CompareShowsNumericDeltasAndChecksInOneRun) {
  // Runs planted through the library: observed values that are plain numbers.
  auto h = stagecheck::open_history(db_);
  ASSERT_TRUE(h) << h.error().message;
  auto make = [](const std::string& id, const std::string& at, double value, bool extra) {
    stagecheck::Report r;
    r.run_id = id;
    r.spec_name = "numbers";
    r.started_at = at;
    stagecheck::CheckResult c;
    c.id = "s.score";
    c.status = stagecheck::Status::pass;
    c.observed = value;
    c.duration_ms = 2.0;
    r.results.push_back(c);
    c.id = extra ? "s.only_b" : "s.only_a";
    c.observed = "x";
    r.results.push_back(c);
    r.summary = stagecheck::summarize(r.results);
    r.exit_code = stagecheck::ExitCode::pass;
    return r;
  };
  ASSERT_TRUE((*h)->record(make("aaaa1111", "2026-01-01T00:00:00.000Z", 0.8, false)));
  ASSERT_TRUE((*h)->record(make("bbbb2222", "2026-01-02T00:00:00.000Z", 0.6, true)));
  DriverRun cmp = run(fmt::format("history compare aaaa bbbb --history '{}' --format json", db_));
  ASSERT_EQ(cmp.code, 0) << cmp.err;
  json c = json::parse(cmp.out);
  ASSERT_EQ(c["checks"].size(), 1u);
  EXPECT_NEAR(c["checks"][0]["delta"].get<double>(), -0.2, 1e-9);
  EXPECT_NEAR(c["checks"][0]["relative_delta"].get<double>(), -0.25, 1e-9);
  EXPECT_EQ(c["only_in_a"][0]["id"], "s.only_a");
  EXPECT_EQ(c["only_in_b"][0]["id"], "s.only_b");
  EXPECT_EQ(c["verdict_changed"], false);
  DriverRun text = run(fmt::format("history compare aaaa bbbb --history '{}'", db_));
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("0.8 -> 0.6"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("-0.2 (-25.0%)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Only in A: s.only_a (pass)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Only in B: s.only_b (pass)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("PASS (unchanged)"), std::string::npos) << text.out;
}

TEST_F(HistoryCli, EnvironmentVariableIsTheDefault) {
  write("data/stats.json", "{\"rows\": 5}");
  DriverRun r = run("run spec.yaml --root .", fmt::format("STAGECHECK_HISTORY='{}'", db_));
  ASSERT_EQ(r.code, 0) << r.err;
  DriverRun l = run("history list --format json", fmt::format("STAGECHECK_HISTORY='{}'", db_));
  ASSERT_EQ(l.code, 0) << l.err;
  EXPECT_EQ(json::parse(l.out)["runs"].size(), 1u);
  // Without either: a usage error.
  DriverRun none = run("history list");
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("STAGECHECK_HISTORY"), std::string::npos) << none.err;
  EXPECT_NE(run("run --help").out.find("STAGECHECK_HISTORY"), std::string::npos);
}

TEST_F(HistoryCli, BadHistoryIsAUsageErrorBeforeAnythingRuns) {
  write("data/stats.json", "{\"rows\": 5}");
  write("marker_dir/keep", "");
  DriverRun scheme = run("run spec.yaml --root . --history mysql://db/x");
  EXPECT_EQ(scheme.code, 2) << scheme.out << scheme.err;
  EXPECT_NE(scheme.err.find("cannot open the history"), std::string::npos) << scheme.err;
  EXPECT_EQ(scheme.out.find("PASS"), std::string::npos) << "nothing ran: " << scheme.out;
  DriverRun folder = run(fmt::format("run spec.yaml --root . --history '{}'", dir_.string()));
  EXPECT_EQ(folder.code, 2) << folder.err;
  DriverRun garbage_file = [&] {
    write("garbage.db", std::string(4096, 'z'));
    return run("run spec.yaml --root . --history garbage.db");
  }();
  EXPECT_EQ(garbage_file.code, 2) << garbage_file.err;
  EXPECT_NE(garbage_file.err.find("garbage.db"), std::string::npos) << garbage_file.err;
  DriverRun pg =
      run("run spec.yaml --root . --history "
          "'postgresql://u:TopSecret9@127.0.0.1:1/db?connect_timeout=3'");
  EXPECT_EQ(pg.code, 2) << pg.err;
  EXPECT_EQ(pg.err.find("TopSecret9"), std::string::npos) << pg.err;
  DriverRun keep = run(fmt::format("run spec.yaml --root . --history-keep 3"));
  EXPECT_EQ(keep.code, 2) << keep.err;
  DriverRun age =
      run(fmt::format("run spec.yaml --root . --history '{}' --history-max-age 3x", db_));
  EXPECT_EQ(age.code, 2) << age.err;
  EXPECT_NE(age.err.find("30d"), std::string::npos) << age.err;
  // Readers never create a history.
  DriverRun missing = run("history list --history nothing-here.db");
  EXPECT_EQ(missing.code, 2) << missing.err;
  EXPECT_FALSE(fs::exists(dir_ / "nothing-here.db"));
}

TEST_F(HistoryCli, UnknownOrAmbiguousRunIsExit2) {
  ASSERT_EQ(record(5).code, 0);
  DriverRun unknown = run(fmt::format("history show ffffffff --history '{}'", db_));
  EXPECT_EQ(unknown.code, 2) << unknown.err;
  EXPECT_NE(unknown.err.find("no run 'ffffffff'"), std::string::npos) << unknown.err;
  DriverRun cmp = run(fmt::format("history compare ffff eeee --history '{}'", db_));
  EXPECT_EQ(cmp.code, 2) << cmp.err;
  DriverRun one = run(fmt::format("history compare ffff --history '{}'", db_));
  EXPECT_EQ(one.code, 2) << one.err;
  DriverRun verb = run(fmt::format("history frobnicate --history '{}'", db_));
  EXPECT_EQ(verb.code, 2) << verb.err;
}

TEST_F(HistoryCli, RetentionOnRunAndPrune) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(record(5).code, 0);
  EXPECT_EQ(list_json()["runs"].size(), 3u);
  ASSERT_EQ(record(5, "--history-keep 2").code, 0);
  json after = list_json();
  EXPECT_EQ(after["runs"].size(), 2u);
  const std::string newest = after["runs"][0]["run_id"];
  DriverRun prune = run(fmt::format("history prune --keep 1 --history '{}'", db_));
  ASSERT_EQ(prune.code, 0) << prune.err;
  EXPECT_NE(prune.out.find("Deleted 1 run(s)"), std::string::npos) << prune.out;
  json left = list_json();
  ASSERT_EQ(left["runs"].size(), 1u);
  EXPECT_EQ(left["runs"][0]["run_id"], newest);
  DriverRun age = run(fmt::format("history prune --max-age 1d --history '{}'", db_));
  ASSERT_EQ(age.code, 0) << age.err;
  EXPECT_NE(age.out.find("Deleted 0 run(s)"), std::string::npos) << age.out;
  EXPECT_EQ(run(fmt::format("history prune --history '{}'", db_)).code, 2);
  EXPECT_EQ(run(fmt::format("history prune --keep 0 --history '{}'", db_)).code, 2);
  // Negative counts are refused, not wrapped around into "keep everything".
  DriverRun neg = run(fmt::format("history prune --keep -1 --history '{}'", db_));
  EXPECT_EQ(neg.code, 2) << neg.out;
  EXPECT_NE(neg.err.find("--keep must be at least 1, found -1"), std::string::npos) << neg.err;
  EXPECT_EQ(run(fmt::format("history list --limit -1 --history '{}'", db_)).code, 2);
  EXPECT_EQ(run(fmt::format("run spec.yaml --root . --history '{}' --history-keep -1", db_)).code,
            2);
}

TEST_F(HistoryCli, UnrecordableRunIsExit3UnlessItFailed) {
  ASSERT_EQ(record(5).code, 0);
  // A trigger makes every later insert fail: the run still happens, but is not remembered.
  sqlite3* conn = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &conn), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(conn,
                         "CREATE TRIGGER no_more BEFORE INSERT ON runs BEGIN SELECT "
                         "RAISE(ABORT, 'history is frozen'); END;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(conn);
  DriverRun pass = record(5);
  EXPECT_EQ(pass.code, 3) << pass.out << pass.err;
  EXPECT_NE(pass.err.find("stagecheck: error: cannot record the run in the history " + db_),
            std::string::npos)
      << pass.err;
  EXPECT_NE(pass.err.find("history is frozen"), std::string::npos) << pass.err;
  DriverRun fail = record(1);
  EXPECT_EQ(fail.code, 1) << fail.err;
  EXPECT_NE(fail.err.find("cannot record the run"), std::string::npos) << fail.err;
}

TEST_F(HistoryCli, BatchRecordsEachScene) {
  const std::string spec = R"(version: 1
name: scenes-demo
vars:
  scene_id: {type: segment, required: true}
stages:
  - id: s
    name: S
    checks:
      - id: rows
        type: json
        artifact: scenes/${scene_id}/stats.json
        conditions: ["rows >= 3"]
)";
  write("scenes.yaml", spec);
  write("scenes/a/stats.json", "{\"rows\": 5}");
  write("scenes/b/stats.json", "{\"rows\": 1}");
  DriverRun r = run(fmt::format("run scenes.yaml --root . --scenes all --history '{}'", db_));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  json list = list_json();
  ASSERT_EQ(list["runs"].size(), 2u) << list.dump(2);
  std::set<std::string> scenes;
  for (const auto& run : list["runs"]) scenes.insert(run["vars"]["scene_id"].get<std::string>());
  EXPECT_EQ(scenes, (std::set<std::string>{"a", "b"}));
}
