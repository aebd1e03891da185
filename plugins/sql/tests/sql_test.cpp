// Tests for the `sql` plugin against real databases: SQLite files built here, and a real
// PostgreSQL 15 started once for the suite on a free loopback port (skipped when PostgreSQL is
// not installed, unless CI=true, where that is a failure).
//
// The fixture holds two missions: m1 is clean (every check passes on it), m2 is broken in
// every way the checks look for (an orphaned event, a sequence gap and duplicate, a time going
// back, an action without its log entry), so each check's pass and fail run the same SQL.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <stagecheck/json_reporter.hpp>

#include "postgres_server.hpp"
#include "stagecheck_test_support.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;
using Json = nlohmann::json;

/// The schema and data, in SQL both engines accept.
constexpr const char* kFixture = R"sql(
CREATE TABLE missions (id TEXT PRIMARY KEY, rollbacks INTEGER NOT NULL);
CREATE TABLE actions (id INTEGER PRIMARY KEY, mission_id TEXT NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY, action_id INTEGER, mission_id TEXT NOT NULL,
                     kind TEXT NOT NULL);
CREATE TABLE immutable_log (seq INTEGER, action_id INTEGER, event TEXT, created_at TEXT,
                            mission_id TEXT NOT NULL);
CREATE TABLE photo_insights (photo_id TEXT PRIMARY KEY, embedding TEXT, cluster_id INTEGER);
INSERT INTO missions VALUES ('m1', 1), ('m2', 0);
INSERT INTO actions VALUES (1, 'm1'), (2, 'm1'), (3, 'm2'), (4, 'm2');
INSERT INTO events VALUES
  (10, 1, 'm1', 'agentic.action_started'), (11, 1, 'm1', 'agentic.action_completed'),
  (12, 2, 'm1', 'agentic.action_started'), (13, 2, 'm1', 'agentic.action_completed'),
  (20, 3, 'm2', 'agentic.action_started'), (21, 99, 'm2', 'agentic.action_started'),
  (22, NULL, 'm2', 'note');
INSERT INTO immutable_log VALUES
  (1, 1, 'action_started',  '2026-11-22T10:00:00Z', 'm1'),
  (2, 1, 'action_finished', '2026-11-22T10:00:01Z', 'm1'),
  (3, 2, 'action_started',  '2026-11-22T10:00:02Z', 'm1'),
  (4, 2, 'action_finished', '2026-11-22T10:00:03Z', 'm1'),
  (5, NULL, 'rollback',     '2026-11-22T10:00:04Z', 'm1'),
  (1, 3, 'action_started',  '2026-11-22T11:00:00Z', 'm2'),
  (2, 3, 'action_finished', '2026-11-22T11:00:01Z', 'm2'),
  (2, 4, 'action_started',  '2026-11-22T11:00:02Z', 'm2'),
  (5, 4, 'rollback',        '2026-11-22T10:59:00Z', 'm2');
INSERT INTO photo_insights VALUES ('p1', '[0.1, 0.2]', 3), ('p2', NULL, 4);
CREATE TABLE chained_log (seq INTEGER, hash TEXT, prev_hash TEXT, mission_id TEXT NOT NULL);
INSERT INTO chained_log VALUES
  (1, 'h1', NULL, 'm1'), (2, 'h2', 'h1', 'm1'), (3, 'h3', 'h2', 'm1'),
  (1, 'x1', NULL, 'm2'), (2, 'x2', 'x1', 'm2'), (3, 'x3', 'tampered', 'm2'), (4, 'x4', NULL, 'm2');
)sql";

constexpr const char* kAuditorPassword = "Aud1tor-s3cret";

/// Creates a SQLite database file from SQL.
void make_sqlite(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

std::int64_t sqlite_count(const std::string& path, const std::string& table) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, ("SELECT count(*) FROM " + table).c_str(), -1, &st, nullptr);
  std::int64_t n = -1;
  if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

/// Spec header: the database URL (secret) and the mission as variables.
std::string spec(const std::string& checks, const std::string& extra_vars = "") {
  return "version: 1\nname: sql-test\nvars:\n  db_url: {type: string, secret: true}\n"
         "  mission: {type: string, default: m1}\n" +
         extra_vars + "stages:\n  - id: s\n    checks:\n" + checks;
}

class SqlEnv {
 public:
  /// The suite's PostgreSQL (nullptr when unavailable; `why` says why).
  static PostgresServer* pg() {
    // Started on first use only: SQLite-only tests never pay for it.
    if (!attempted_) {
      attempted_ = true;
      start();
    }
    return pg_.get();
  }
  static const std::string& why() { return why_; }
  static void start() {
    PostgresServer::Options o;
    o.hba_lines = {"host all auditor 127.0.0.1/32 scram-sha-256"};
    pg_ = PostgresServer::start(o, &why_);
    if (!pg_) return;
    std::string sql = std::string(kFixture) +
                      "SET password_encryption = 'scram-sha-256';\n"
                      "CREATE ROLE auditor LOGIN PASSWORD '" +
                      kAuditorPassword +
                      "';\n"
                      "GRANT SELECT ON ALL TABLES IN SCHEMA public TO auditor;\n"
                      "CREATE TABLE secret_stuff (x int);\n";
    if (!pg_->run_sql(sql)) {
      why_ = "fixture SQL failed: " + pg_->last_output();
      pg_.reset();
    }
  }
  static void stop() { pg_.reset(); }

 private:
  static inline bool attempted_ = false;
  static inline std::unique_ptr<PostgresServer> pg_;
  static inline std::string why_;
};

/// Skips (or, with CI=true, fails) a test that needs PostgreSQL when it is not there.
#define REQUIRE_POSTGRES()                                                   \
  do {                                                                       \
    if (SqlEnv::pg() == nullptr) {                                           \
      if (ci_requires_services()) FAIL() << "PostgreSQL: " << SqlEnv::why(); \
      GTEST_SKIP() << "PostgreSQL not available: " << SqlEnv::why();         \
    }                                                                        \
  } while (0)

class SqlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(scratch_ / "store");
    db_path_ = (scratch_ / "pipeline.db").string();
    make_sqlite(db_path_, kFixture);
  }

  std::string sqlite_url() const { return "sqlite://" + db_path_; }

  RunOutcome run(const std::string& text, std::map<std::string, std::string> vars,
                 RunOptions options = {}) {
    return run_spec_text(text, scratch_ / "store", std::move(vars), options);
  }

  /// The result `id` of `out`, which must outlive it.
  static const CheckResult& result(RunOutcome&&, const std::string& = "") = delete;
  static const CheckResult& result(const RunOutcome& out, const std::string& id = "s.c") {
    EXPECT_TRUE(out.report.has_value()) << out.error;
    const CheckResult* r = out.report ? find_result(*out.report, id) : nullptr;
    if (r == nullptr) throw std::runtime_error("no result " + id + ": " + out.error);
    return *r;
  }

  static std::string report_text(const RunOutcome& out) {
    return out.report ? report_to_json(*out.report).dump() : out.error;
  }

  ScratchDir scratch_;
  std::string db_path_;
};

/// Runs the same checks on SQLite and on PostgreSQL.
class SqlBackendTest : public SqlTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    SqlTest::SetUp();
    if (GetParam() == "postgresql" && SqlEnv::pg() == nullptr) {
      if (ci_requires_services()) FAIL() << "PostgreSQL: " << SqlEnv::why();
      GTEST_SKIP() << "PostgreSQL not available: " << SqlEnv::why();
    }
  }
  std::string url() const { return GetParam() == "sqlite" ? sqlite_url() : SqlEnv::pg()->url(); }
  RunOutcome run_checks(const std::string& checks, const std::string& mission = "m1",
                        std::map<std::string, std::string> vars = {},
                        const std::string& extra_vars = "") {
    vars["db_url"] = url();
    vars["mission"] = mission;
    return run(spec(checks, extra_vars), std::move(vars));
  }
};

INSTANTIATE_TEST_SUITE_P(Engines, SqlBackendTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

// ---- sql_query ------------------------------------------------------------------------------

constexpr const char* kEventsQuery = R"(      - id: c
        type: sql_query
        url: $db_url
        query: >
          SELECT count(*) AS events,
                 sum(CASE WHEN kind LIKE 'agentic.action_%' THEN 1 ELSE 0 END) AS actions
          FROM events WHERE mission_id = $1
        params: [$mission]
        conditions:
          - rows[0].events == 4
          - value >= 4
          - rows[0].actions == 4
)";

TEST_P(SqlBackendTest, QueryConditionsHoldWithBoundParams) {
  auto out = run_checks(kEventsQuery);
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::pass);
  EXPECT_EQ(r.observed["row_count"], 1);
  EXPECT_EQ(r.observed["value"], 4);
  EXPECT_EQ(r.observed["value_column"], "events");
  EXPECT_EQ(r.observed["params"], Json::array({"$mission"}));
}

TEST_P(SqlBackendTest, QueryConditionFailsNamingQueryColumnExpectedAndFound) {
  auto out = run_checks(kEventsQuery, "m2");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_NE(r.message.find("query 'SELECT count(*) AS events"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("rows[0].events"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("3"), std::string::npos) << r.message;
}

TEST_P(SqlBackendTest, ValuesFromVariablesAreBoundNeverPasted) {
  // Pasted into the SQL, this would match every mission; bound, it matches none.
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT count(*) AS n FROM missions WHERE id = $1
        params: [$mission]
        conditions: ["value == 0"]
)",
                        "m1' OR '1'='1");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
}

TEST_P(SqlBackendTest, ZeroRowsWhereAValueIsExpectedFails) {
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT rollbacks FROM missions WHERE id = $1
        params: [$mission]
        min_rows: 1
        conditions: ["value >= 0"]
)",
                        "no-such-mission");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("returned 0 rows, expected at least 1"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("value"), std::string::npos) << r.message;
}

TEST_P(SqlBackendTest, NullWhereAValueIsExpectedFails) {
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT embedding FROM photo_insights WHERE photo_id = 'p2'
        conditions: ["value == '[0.1, 0.2]'"]
)");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_TRUE(r.observed["value"].is_null());
}

TEST_P(SqlBackendTest, SyntaxErrorFailsNamingTheQuery) {
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELEC count(*) FROM events
        conditions: ["value >= 0"]
)");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::fail);
  EXPECT_NE(r.message.find("query 'SELEC count(*) FROM events' failed"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("syntax error"), std::string::npos) << r.message;
}

TEST_P(SqlBackendTest, MissingTableAndColumnFail) {
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT count(*) FROM no_such_table
        conditions: ["value >= 0"]
      - id: d
        type: sql_query
        url: $db_url
        query: SELECT no_such_column FROM events
        min_rows: 0
)");
  const auto& c = result(out, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.message.find("no_such_table"), std::string::npos) << c.message;
  const auto& d = result(out, "s.d");
  EXPECT_EQ(d.status, Status::fail);
  EXPECT_NE(d.message.find("no_such_column"), std::string::npos) << d.message;
}

TEST_P(SqlBackendTest, AWriteIsRefusedAndChangesNothing) {
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: DELETE FROM missions
        min_rows: 0
)");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("read-only"), std::string::npos) << r.message;
  // Still there.
  auto again = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT count(*) FROM missions
        conditions: ["value == 2"]
)");
  EXPECT_EQ(result(again).status, Status::pass) << result(again).message;
}

TEST_P(SqlBackendTest, ReadWriteModeStillRollsBack) {
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        read_only: false
        query: DELETE FROM missions
        min_rows: 0
)");
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;
  auto again = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT count(*) FROM missions
        conditions: ["value == 2"]
)");
  EXPECT_EQ(result(again).status, Status::pass) << result(again).message;
}

TEST_P(SqlBackendTest, MoreRowsThanTheCapFail) {
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT id FROM events ORDER BY id
        row_cap: 3
        conditions: ["row_count >= 1"]
)");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_NE(r.message.find("more than 3 rows"), std::string::npos) << r.message;
}

TEST_P(SqlBackendTest, RowCountBoundsAndConditionsOverAllRows) {
  auto out = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT id, kind FROM events WHERE mission_id = $1 ORDER BY id
        params: [$mission]
        min_rows: 2
        max_rows: 10
        conditions:
          - all(rows[*].kind matches "agentic[.]action_.*")
)");
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;
  auto bad = run_checks(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT id, kind FROM events WHERE mission_id = $1 ORDER BY id
        params: [$mission]
        max_rows: 2
)",
                        "m2");
  const auto& r = result(bad);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("returned 3 rows, expected at most 2"), std::string::npos) << r.message;
}

// ---- sql_rows_present -----------------------------------------------------------------------

TEST_P(SqlBackendTest, RowsPresentPassesAndNamesMissingAndNullRows) {
  auto out = run_checks(R"(      - id: c
        type: sql_rows_present
        url: $db_url
        table: photo_insights
        key_columns: [photo_id]
        rows: [$photo]
        not_null: [embedding, cluster_id]
)",
                        "m1", {{"photo", "p1"}}, "  photo: {type: string}\n");
  EXPECT_EQ(result(out).status, Status::pass) << result(out).message;

  auto bad = run_checks(R"(      - id: c
        type: sql_rows_present
        url: $db_url
        table: photo_insights
        key_columns: [photo_id]
        rows: [p1, p2, p3]
        not_null: [embedding]
)");
  const auto& r = result(bad);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("1 of 3 expected rows missing: \"p3\""), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("\"p2\" (embedding NULL)"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["missing"], Json::array({"p3"}));
}

TEST_P(SqlBackendTest, RowsPresentWithCompositeKeys) {
  auto out = run_checks(R"(      - id: c
        type: sql_rows_present
        url: $db_url
        table: events
        key_columns: [mission_id, id]
        rows: [[$mission, 10], [m1, 13], [m1, 20]]
)");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("[\"m1\",20]"), std::string::npos) << r.message;
  EXPECT_EQ(r.observed["present"], 2);
}

// ---- sql_orphans ----------------------------------------------------------------------------

constexpr const char* kOrphans = R"(      - id: c
        type: sql_orphans
        url: $db_url
        child_table: events
        child_columns: [action_id]
        parent_table: actions
        parent_columns: [id]
        child_key: [id]
        where: c.mission_id = $1
        params: [$mission]
)";

TEST_P(SqlBackendTest, OrphansPassOnACleanMission) {
  auto out = run_checks(kOrphans);
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["child_rows"], 4);
  EXPECT_EQ(r.observed["orphans"], 0);
}

TEST_P(SqlBackendTest, OrphansFailListingTheOrphanedRows) {
  auto out = run_checks(kOrphans, "m2");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.observed["orphans"], 1);
  EXPECT_EQ(r.observed["null_foreign_keys"], 1);
  EXPECT_NE(r.message.find("1 of 3 child rows has no parent"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("{\"action_id\":99,\"id\":21}"), std::string::npos) << r.message;
}

TEST_P(SqlBackendTest, NullForeignKeysCountWhenAsked) {
  std::string checks = std::string(kOrphans) + "        null_is_orphan: true\n";
  auto out = run_checks(checks, "m2");
  EXPECT_EQ(result(out).observed["orphans"], 2) << result(out).message;
}

TEST_P(SqlBackendTest, OrphansWithNoChildRowsAreNoEvidence) {
  auto out = run_checks(kOrphans, "m3");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("0 child rows checked, expected at least 1"), std::string::npos)
      << r.message;
}

// ---- sql_append_only_log --------------------------------------------------------------------

constexpr const char* kLog = R"(      - id: c
        type: sql_append_only_log
        url: $db_url
        table: immutable_log
        sequence_column: seq
        time_column: created_at
        where: l.mission_id = $1
        params: [$mission]
        first_sequence: 1
        actions:
          table: actions
          key: id
          log_key: action_id
          where: a.mission_id = $1
          params: [$mission]
          kind_column: event
          required_kinds: [action_started, action_finished]
)";

TEST_P(SqlBackendTest, AppendOnlyLogPassesOnACleanMission) {
  auto out = run_checks(kLog);
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["entries"], 5);
  EXPECT_EQ(r.observed["sequence"]["max"], 5);
  EXPECT_EQ(r.observed["actions"]["actions"], 2);
}

TEST_P(SqlBackendTest, AppendOnlyLogNamesGapsDuplicatesTimeAndMissingEntries) {
  auto out = run_checks(kLog, "m2");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  const std::string& m = r.message;
  EXPECT_NE(m.find("the sequence 1..5 has 2 missing and 1 duplicated: 2 twice, 3..4 missing"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("created_at goes back 1 time"), std::string::npos) << m;
  EXPECT_NE(m.find("1 action in actions without a event = \"action_finished\" log entry: 4"),
            std::string::npos)
      << m;
  EXPECT_EQ(r.observed["sequence"]["duplicates"], 1);
  EXPECT_EQ(r.observed["sequence"]["missing"], 2);
  EXPECT_EQ(r.observed["actions"]["without_entries"]["action_finished"], Json::array({4}));
}

TEST_P(SqlBackendTest, AppendOnlyLogWithoutEntriesFails) {
  auto out = run_checks(kLog, "m3");
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("0 entries, expected at least 1"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("0 actions in actions, expected at least 1"), std::string::npos)
      << r.message;
}

TEST_P(SqlBackendTest, HashChainHoldsOrNamesEveryBreak) {
  const std::string chain = R"(      - id: c
        type: sql_append_only_log
        url: $db_url
        table: chained_log
        sequence_column: seq
        hash_column: hash
        prev_hash_column: prev_hash
        where: l.mission_id = $1
        params: [$mission]
)";
  auto good = run_checks(chain);
  EXPECT_EQ(result(good).status, Status::pass) << result(good).message;
  EXPECT_EQ(result(good).observed["chain_breaks"], 0);
  auto bad = run_checks(chain, "m2");
  const auto& r = result(bad);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_NE(r.message.find("the hash chain breaks 2 times: seq 3 has prev_hash \"tampered\", the "
                           "previous entry's hash is \"x2\"; seq 4 has prev_hash null"),
            std::string::npos)
      << r.message;
}

// ---- SQLite specifics -----------------------------------------------------------------------

TEST_F(SqlTest, SqliteFileFromALocalPathVariable) {
  auto out = run(R"(version: 1
name: t
vars:
  db: {type: local_path}
stages:
  - id: s
    checks:
      - id: c
        type: sql_query
        sqlite_file: $db
        query: SELECT rollbacks FROM missions WHERE id = 'm1'
        conditions: ["value == 1"]
)",
                 {{"db", db_path_}});
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_NE(r.message.find("sqlite://" + db_path_), std::string::npos) << r.message;
}

TEST_F(SqlTest, ValueColumnHintOnlyForConditionsOnValue) {
  auto on_rows = run(spec(R"(      - id: c
        type: sql_query
        sqlite_file: $db
        query: SELECT id, rollbacks FROM missions WHERE id = 'm1'
        conditions: ["rows[0].rollbacks == 99"]
)",
                          "  db: {type: local_path}\n"),
                     {{"db", db_path_}});
  EXPECT_EQ(result(on_rows).status, Status::fail);
  EXPECT_EQ(result(on_rows).message.find("value is column"), std::string::npos)
      << result(on_rows).message;
  auto on_value = run(spec(R"(      - id: c
        type: sql_query
        sqlite_file: $db
        query: SELECT rollbacks FROM missions WHERE id = 'm1'
        conditions: ["value == 99"]
)",
                           "  db: {type: local_path}\n"),
                      {{"db", db_path_}});
  EXPECT_EQ(result(on_value).status, Status::fail);
  EXPECT_NE(result(on_value).message.find("(value is column 'rollbacks' of row 1)"),
            std::string::npos)
      << result(on_value).message;
}

TEST_F(SqlTest, SqliteMissingFileFailsAndGarbageFileFails) {
  scratch_.write("garbage.db", "this is not a database, just text that is long enough...........");
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT 1
        conditions: ["value == 1"]
)"),
                 {{"db_url", "sqlite://" + (scratch_ / "absent.db").string()}});
  EXPECT_EQ(result(out).status, Status::fail) << result(out).message;
  EXPECT_NE(result(out).message.find("does not exist"), std::string::npos) << result(out).message;
  auto garbage = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT 1
        conditions: ["value == 1"]
)"),
                     {{"db_url", "sqlite://" + (scratch_ / "garbage.db").string()}});
  EXPECT_EQ(result(garbage).status, Status::fail) << result(garbage).message;
  EXPECT_NE(result(garbage).message.find("not a database"), std::string::npos)
      << result(garbage).message;
  EXPECT_FALSE(std::filesystem::exists(scratch_ / "absent.db"));  // never created
}

TEST_F(SqlTest, SqliteIsOpenedReadOnlyEvenWhenTheQueryTriesToWrite) {
  struct stat before {};
  ASSERT_EQ(::stat(db_path_.c_str(), &before), 0);
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        query: INSERT INTO missions VALUES ('m9', 0)
        min_rows: 0
      - id: d
        type: sql_query
        url: $db_url
        query: SELECT 1; DELETE FROM missions
        min_rows: 0
)"),
                 {{"db_url", sqlite_url()}});
  EXPECT_EQ(result(out, "s.c").status, Status::fail);
  EXPECT_EQ(result(out, "s.d").status, Status::fail);
  EXPECT_NE(result(out, "s.d").message.find("more than one statement"), std::string::npos)
      << result(out, "s.d").message;
  EXPECT_EQ(sqlite_count(db_path_, "missions"), 2);
  struct stat after {};
  ASSERT_EQ(::stat(db_path_.c_str(), &after), 0);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

TEST_F(SqlTest, SqliteParameterMismatchesFail) {
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT count(*) FROM missions WHERE id = $2
        params: [m1]
        conditions: ["value == 1"]
      - id: d
        type: sql_query
        url: $db_url
        query: SELECT count(*) FROM missions WHERE id = :name
        params: [m1]
        conditions: ["value == 1"]
)"),
                 {{"db_url", sqlite_url()}});
  EXPECT_EQ(result(out, "s.c").status, Status::fail);
  EXPECT_NE(result(out, "s.c").message.find("uses parameter $2"), std::string::npos)
      << result(out, "s.c").message;
  EXPECT_EQ(result(out, "s.d").status, Status::fail);
  EXPECT_NE(result(out, "s.d").message.find("named parameter :name"), std::string::npos)
      << result(out, "s.d").message;
}

TEST_F(SqlTest, SqliteStatementTimeoutIsError) {
  auto t0 = std::chrono::steady_clock::now();
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        statement_timeout_ms: 200
        query: WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r
        conditions: ["value > 0"]
)"),
                 {{"db_url", sqlite_url()}});
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

// ---- PostgreSQL specifics -------------------------------------------------------------------

TEST_F(SqlTest, PostgresTypesBecomeJsonValues) {
  REQUIRE_POSTGRES();
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        query: >
          SELECT 7::int2 AS small, 9000000000::int8 AS big, 1.5::float8 AS f, 0.1::numeric AS n,
                 42::numeric AS whole, true AS b, '{"a": [1, 2]}'::jsonb AS j, NULL::text AS nothing,
                 '2026-11-22 10:00:00+02'::timestamptz AS t, current_setting('transaction_read_only') AS ro
        conditions:
          - rows[0].small == 7
          - rows[0].big == 9000000000
          - rows[0].f == 1.5
          - rows[0].n == 0.1
          - rows[0].whole == 42
          - rows[0].b == true
          - rows[0].j.a[1] == 2
          - rows[0].nothing == null
          - rows[0].t == "2026-11-22 08:00:00+00"
          - rows[0].ro == "on"
)"),
                 {{"db_url", SqlEnv::pg()->url()}});
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::pass) << r.message << "\n" << r.details.dump();
  // The URL is a secret variable's value: the runner shows it as *** in every result, even
  // though the plugin itself would show a URL without a password as written.
  EXPECT_EQ(r.observed["database"], "***");
  EXPECT_EQ(r.details.dump().find(SqlEnv::pg()->url()), std::string::npos) << r.details.dump();
}

TEST_F(SqlTest, PostgresNaNAndWrongTypesFail) {
  REQUIRE_POSTGRES();
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT 'NaN'::float8 AS score, '0.9'::text AS text_score
        conditions:
          - rows[0].score >= 0.5
      - id: d
        type: sql_query
        url: $db_url
        query: SELECT 'NaN'::float8 AS score, '0.9'::text AS text_score
        conditions:
          - rows[0].text_score >= 0.5
)"),
                 {{"db_url", SqlEnv::pg()->url()}});
  const auto& c = result(out, "s.c");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_EQ(c.observed["value"], "NaN");  // shown, not null
  const auto& d = result(out, "s.d");
  EXPECT_EQ(d.status, Status::fail) << d.message;
}

TEST_F(SqlTest, PostgresWrongPasswordIsErrorAndNeverShown) {
  REQUIRE_POSTGRES();
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT 1
        conditions: ["value == 1"]
)"),
                 {{"db_url", SqlEnv::pg()->url("auditor", "postgres", "Wr0ng-passw0rd")}});
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_NE(r.message.find("password authentication failed"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("auditor:***@"), std::string::npos) << r.message;
  EXPECT_EQ(report_text(out).find("Wr0ng-passw0rd"), std::string::npos) << report_text(out);
}

TEST_F(SqlTest, PostgresPasswordFromASecretVariableOrAFile) {
  REQUIRE_POSTGRES();
  scratch_.write("pw.txt", std::string(kAuditorPassword) + "\n");
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        password: $pw
        query: SELECT count(*) FROM missions
        conditions: ["value == 2"]
      - id: d
        type: sql_query
        url: $db_url
        password_file: $pw_file
        query: SELECT count(*) FROM secret_stuff
        conditions: ["value == 0"]
)",
                      "  pw: {type: string, secret: true}\n  pw_file: {type: local_path}\n"),
                 {{"db_url", SqlEnv::pg()->url("auditor")},
                  {"pw", kAuditorPassword},
                  {"pw_file", (scratch_ / "pw.txt").string()}});
  EXPECT_EQ(result(out, "s.c").status, Status::pass) << result(out, "s.c").message;
  // The auditor may not read secret_stuff: permission denied is "could not be evaluated".
  const auto& d = result(out, "s.d");
  EXPECT_EQ(d.status, Status::error) << d.message;
  EXPECT_NE(d.message.find("permission denied"), std::string::npos) << d.message;
  EXPECT_EQ(report_text(out).find(kAuditorPassword), std::string::npos);
}

TEST_F(SqlTest, PostgresPasswordEnvOnlyWhenTheProcessEnvironmentIsAllowed) {
  REQUIRE_POSTGRES();
  ::setenv("STAGECHECK_SQL_TEST_PW", kAuditorPassword, 1);
  const std::string text = spec(R"(      - id: c
        type: sql_query
        url: $db_url
        password_env: STAGECHECK_SQL_TEST_PW
        query: SELECT count(*) FROM missions
        conditions: ["value == 2"]
)");
  auto refused = run(text, {{"db_url", SqlEnv::pg()->url("auditor")}});
  EXPECT_EQ(result(refused).status, Status::error);
  EXPECT_NE(result(refused).message.find("only allowed when embedded"), std::string::npos);
  RunOptions allow;
  allow.allow_process_env = true;
  auto allowed = run(text, {{"db_url", SqlEnv::pg()->url("auditor")}}, allow);
  EXPECT_EQ(result(allowed).status, Status::pass) << result(allowed).message;
  ::unsetenv("STAGECHECK_SQL_TEST_PW");
}

TEST_F(SqlTest, PostgresStatementTimeoutIsError) {
  REQUIRE_POSTGRES();
  auto t0 = std::chrono::steady_clock::now();
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        statement_timeout_ms: 200
        query: SELECT pg_sleep(10)
        min_rows: 1
)"),
                 {{"db_url", SqlEnv::pg()->url()}});
  auto took = std::chrono::steady_clock::now() - t0;
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(SqlTest, PostgresUnreachableServerIsErrorNeverPass) {
  const std::string port = std::to_string(free_loopback_port());  // nothing listens there
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        connect_timeout: 2
        query: SELECT 1
        conditions: ["value == 1"]
      - id: d
        type: sql_orphans
        url: $db_url
        child_table: events
        child_columns: [action_id]
        parent_table: actions
        parent_columns: [id]
      - id: e
        type: sql_query
        url: postgresql://u@127.0.0.1:)" +
                      port + R"(/db?password=Qu3ryPass&sslmode=disable
        query: SELECT 1
        min_rows: 1
)"),
                 {{"db_url", "postgresql://u:S3cretPass@127.0.0.1:" + port + "/db"}});
  for (const char* id : {"s.c", "s.d", "s.e"}) {
    const auto& r = result(out, id);
    EXPECT_EQ(r.status, Status::error) << r.message;
    EXPECT_NE(r.message.find("could not be evaluated"), std::string::npos) << r.message;
  }
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_NE(result(out, "s.c").message.find("postgresql://u:***@127.0.0.1:"), std::string::npos)
      << result(out, "s.c").message;
  EXPECT_NE(result(out, "s.e").message.find("?password=***&sslmode=disable"), std::string::npos)
      << result(out, "s.e").message;
  EXPECT_EQ(report_text(out).find("S3cretPass"), std::string::npos) << report_text(out);
  EXPECT_EQ(report_text(out).find("Qu3ryPass"), std::string::npos) << report_text(out);
}

TEST_F(SqlTest, PostgresServerThatNeverAnswersTimesOutAsError) {
  // A socket that accepts connections (the kernel completes the handshake) but never speaks.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  auto t0 = std::chrono::steady_clock::now();
  auto out = run(spec(R"(      - id: c
        type: sql_query
        url: $db_url
        connect_timeout: 1
        query: SELECT 1
        conditions: ["value == 1"]
)"),
                 {{"db_url", "postgresql://u@127.0.0.1:" + std::to_string(port) + "/db"}});
  auto took = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_NE(r.message.find("no answer within connect_timeout 1 s"), std::string::npos) << r.message;
  EXPECT_LT(took, std::chrono::seconds(4));
}

TEST_P(SqlBackendTest, AnInterruptedRunCancelsTheRunningStatement) {
  const std::string slow = GetParam() == "sqlite"
                               ? "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
                                 "SELECT count(*) FROM r"
                               : "SELECT pg_sleep(20)";
  std::atomic<bool> cancel{false};
  RunOptions options;
  options.cancel = &cancel;
  std::thread stopper([&cancel] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  auto t0 = std::chrono::steady_clock::now();
  auto out = run(spec("      - id: c\n        type: sql_query\n        url: $db_url\n"
                      "        query: " +
                      slow + "\n        min_rows: 1\n"),
                 {{"db_url", url()}}, options);
  stopper.join();
  const auto& r = result(out);
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_NE(r.message.find("interrupted"), std::string::npos) << r.message;
  EXPECT_EQ(out.exit_code, ExitCode::no_verdict);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

// ---- malformed specs (exit 2, nothing runs) -------------------------------------------------

TEST_F(SqlTest, MalformedSpecsAreRefusedAtLoad) {
  struct Case {
    std::string check;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"url: sqlite:relative.db\n        query: SELECT 1\n        min_rows: 1",
       "a relative SQLite path is ambiguous"},
      {"url: mysql://x/y\n        query: SELECT 1\n        min_rows: 1",
       "expected sqlite:///absolute/path.db or postgresql://"},
      {"url: postgresql://127.0.0.1/db\n        query: SELECT 1\n        min_rows: 1",
       "name the user explicitly"},
      {"url: 'postgresql://u:Hidd3nPw@h/db'\n        password: x\n        query: SELECT 1\n"
       "        min_rows: 1",
       "give the password once"},
      {"url: sqlite:///x.db\n        query: SELECT 1", "a query alone proves nothing"},
      {"url: sqlite:///x.db\n        query: \"SELECT 1\\0; DROP TABLE t\"\n        min_rows: 1",
       "the query holds a NUL character"},
      {"url: sqlite:///x.db\n        query: SELECT 1\n        min_rows: 1\n        params: "
       "[{a: 1}]",
       "expected a string, number, boolean, null or $variable"},
      {"url: sqlite:///x.db\n        query: SELECT 1\n        min_rows: 1\n        "
       "statement_timeout_ms: 0",
       "statement_timeout_ms: expected 1 to"},
  };
  for (const auto& c : cases) {
    auto out = run(spec("      - id: c\n        type: sql_query\n        " + c.check + "\n"), {});
    EXPECT_EQ(out.exit_code, ExitCode::usage) << c.check;
    EXPECT_NE(out.error.find(c.error), std::string::npos) << c.check << "\n" << out.error;
    EXPECT_EQ(out.error.find("Hidd3nPw"), std::string::npos) << out.error;
  }
  const std::vector<Case> others = {
      {"type: sql_orphans\n        url: sqlite:///x.db\n        child_table: \"events; DROP TABLE "
       "x\"\n        child_columns: [a]\n        parent_table: p\n        parent_columns: [id]",
       "is not a table or column name"},
      {"type: sql_orphans\n        url: sqlite:///x.db\n        child_table: e\n        "
       "child_columns: [a, b]\n        parent_table: p\n        parent_columns: [id]",
       "1 parent column(s) for 2 child column(s)"},
      {"type: sql_rows_present\n        url: sqlite:///x.db\n        table: t\n        "
       "key_columns: [a, b]\n        rows: [x]",
       "expected a list of 2 values"},
      {"type: sql_append_only_log\n        url: sqlite:///x.db\n        table: t\n        "
       "sequence_column: seq\n        actions: {table: a, key: id, log_key: id, bogus: 1}",
       "unknown key 'bogus'"},
      {"type: sql_append_only_log\n        url: sqlite:///x.db\n        table: t\n        "
       "sequence_column: seq\n        hash_column: h",
       "give hash_column and prev_hash_column together"},
      {"type: sql_append_only_log\n        url: sqlite:///x.db\n        table: t\n        "
       "sequence_column: seq\n        params: [1]",
       "params are bound in `where`"},
  };
  for (const auto& c : others) {
    auto out = run(spec("      - id: c\n        " + c.check + "\n"), {});
    EXPECT_EQ(out.exit_code, ExitCode::usage) << c.check;
    EXPECT_NE(out.error.find(c.error), std::string::npos) << c.check << "\n" << out.error;
  }
}

// ---- the driver: exit codes 0, 1, 2, 3 ------------------------------------------------------

TEST_F(SqlTest, DriverExitCodes) {
  const std::string checks = R"(      - id: c
        type: sql_query
        url: $db_url
        query: SELECT rollbacks FROM missions WHERE id = $1
        params: [$mission]
        conditions: ["value >= 1"]
)";
  scratch_.write("spec.yaml", spec(checks));
  const std::string base = "run '" + (scratch_ / "spec.yaml").string() + "' --root '" +
                           (scratch_ / "store").string() + "' --plugin-dir '" +
                           STAGECHECK_PLUGIN_BUILD_DIR + "' --no-default-plugins";
  auto pass = run_driver(base + " --var 'db_url=" + sqlite_url() + "'");
  EXPECT_EQ(pass.code, 0) << pass.out << pass.err;
  auto fail = run_driver(base + " --var 'db_url=" + sqlite_url() + "' --var mission=m2");
  EXPECT_EQ(fail.code, 1) << fail.out << fail.err;
  auto bad = run_driver(base + " --var db_url=sqlite:relative.db");
  EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
  const int port = free_loopback_port();
  auto down =
      run_driver(base + " --var 'db_url=postgresql://u:Dr1verPw@127.0.0.1:" + std::to_string(port) +
                 "/db' --format json");
  EXPECT_EQ(down.code, 3) << down.out << down.err;
  EXPECT_EQ((down.out + down.err).find("Dr1verPw"), std::string::npos) << down.out << down.err;
  auto list = run_driver("list-checks --plugin-dir '" + std::string(STAGECHECK_PLUGIN_BUILD_DIR) +
                         "' --no-default-plugins");
  EXPECT_EQ(list.code, 0);
  for (const char* type : {"sql_query", "sql_rows_present", "sql_orphans", "sql_append_only_log"}) {
    EXPECT_NE(list.out.find(type), std::string::npos) << type;
  }
}

// ---- the example spec ------------------------------------------------------------------------

TEST_F(SqlTest, ExampleSpecPassesOnACleanMissionAndFailsOnABrokenOne) {
  const std::string example =
      std::string(STAGECHECK_SOURCE_DIR) + "/plugins/sql/examples/persistence.yaml";
  const std::string base = "run '" + example + "' --root '" + (scratch_ / "store").string() +
                           "' --plugin-dir '" + STAGECHECK_PLUGIN_BUILD_DIR +
                           "' --no-default-plugins --var 'db_url=" + sqlite_url() + "'";
  auto good = run_driver(base + " --var mission_id=m1 --var photo_id=p1");
  EXPECT_EQ(good.code, 0) << good.out << good.err;
  auto bad = run_driver(base + " --var mission_id=m2 --var photo_id=p2");
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  for (const char* failed : {"persistence.rollback_counted", "integrity.audit_log",
                             "integrity.no_orphaned_events", "embeddings.photo_insight_row"}) {
    EXPECT_NE(bad.out.find(failed), std::string::npos) << failed << "\n" << bad.out;
  }
}

}  // namespace

// One PostgreSQL for the whole binary, stopped after the last test.
class SqlEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SqlEnv::stop(); }
};
[[maybe_unused]] const auto* const kSqlEnvironment =
    ::testing::AddGlobalTestEnvironment(new SqlEnvironment);
