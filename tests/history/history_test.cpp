// The History contract, run over SQLite and a real PostgreSQL (a typed suite), plus what only
// one backend has: SQLite's file (corrupt, newer schema, concurrent processes) and PostgreSQL's
// password. A writer SIGKILLed mid-run must leave every listed run whole.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "postgres_server.hpp"
#include "stagecheck/history.hpp"
#include "stagecheck/report.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using stagecheck::History;
using stagecheck::HistoryQuery;
using stagecheck::Report;
using stagecheck::Status;
using stagecheck::testing::PostgresServer;

namespace {

// A report of `spec` with vars, a start time and one check per observed value ("s.c0", ...).
Report make_report(const std::string& spec, const json& vars, const std::string& started_at,
                   const std::vector<json>& observed, Status status = Status::pass,
                   std::string run_id = "") {
  Report r;
  r.tool_version = "test";
  r.run_id = run_id.empty() ? stagecheck::new_run_id() : std::move(run_id);
  r.spec_name = spec;
  r.spec_source = spec + ".yaml";
  r.spec_hash = "hash";
  r.root = "/data";
  r.vars = vars;
  r.started_at = started_at;
  r.duration_ms = 12.5;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    stagecheck::CheckResult c;
    c.id = fmt::format("s.c{}", i);
    c.stage = "s";
    c.type = "json";
    c.status = status;
    c.observed = observed[i];
    c.expected = json{{"max", 10}};
    c.message = status == Status::pass ? "" : "did not hold";
    c.duration_ms = 1.0 + static_cast<double>(i);
    r.results.push_back(std::move(c));
  }
  r.summary = stagecheck::summarize(r.results);
  r.exit_code = stagecheck::compute_exit_code(r.summary, false, false);
  return r;
}

// An RFC 3339 time `seconds_ago` before now (UTC, milliseconds).
std::string ago(std::int64_t seconds_ago, int ms = 0) {
  const auto t = std::chrono::system_clock::now() - std::chrono::seconds(seconds_ago);
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

fs::path make_temp_dir() {
  char tmpl[] = "/tmp/stagecheck-history-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return {};
  return tmpl;
}

// --- Backends ------------------------------------------------------------------------------

struct SqliteBackend {
  static constexpr const char* kName = "sqlite";
  // A fresh history URL; "" with `why` set if the backend is not available.
  static std::string fresh_url(const fs::path& dir, std::string* /*why*/) {
    return "sqlite://" + (dir / "history.db").string();
  }
};

struct PostgresBackend {
  static constexpr const char* kName = "postgresql";
  static std::string fresh_url(const fs::path& /*dir*/, std::string* why) {
    static std::unique_ptr<PostgresServer> server;
    static std::string start_error;
    static int databases = 0;
    if (!server && start_error.empty()) {
      server = PostgresServer::start({}, &start_error);
      if (!server && start_error.empty()) start_error = "PostgreSQL did not start";
    }
    if (!server) {
      *why = start_error;
      return "";
    }
    const std::string db = fmt::format("history_{}_{}", ::getpid(), ++databases);
    if (!server->run_sql("CREATE DATABASE " + db)) {
      *why = "CREATE DATABASE failed: " + server->last_output();
      return "";
    }
    return server->url("postgres", db);
  }
};

template <typename Backend>
class HistoryContract : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    ASSERT_FALSE(dir_.empty());
    std::string why;
    url_ = Backend::fresh_url(dir_, &why);
    if (url_.empty()) {
      if (stagecheck::testing::ci_requires_services()) FAIL() << why;
      GTEST_SKIP() << Backend::kName << " not available: " << why;
    }
    auto h = stagecheck::open_history(url_);
    ASSERT_TRUE(h) << h.error().message;
    history_ = std::move(*h);
  }
  void TearDown() override {
    history_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::vector<stagecheck::HistoryRun> list(const HistoryQuery& q = {}) {
    auto runs = history_->list(q);
    EXPECT_TRUE(runs) << runs.error().message;
    return runs ? *runs : std::vector<stagecheck::HistoryRun>{};
  }

  void record(const Report& r) {
    auto ok = history_->record(r);
    ASSERT_TRUE(ok) << ok.error().message;
  }

  fs::path dir_;
  std::string url_;
  std::unique_ptr<History> history_;
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;
class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};
TYPED_TEST_SUITE(HistoryContract, Backends, BackendNames);

TYPED_TEST(HistoryContract, RecordsAndListsNewestFirst) {
  const json vars = {{"scene_id", "a"}};
  Report old = make_report("spec-a", vars, ago(300), {1, 2});
  Report mid = make_report("spec-a", vars, ago(200), {3, 4}, Status::fail);
  Report other = make_report("spec-b", json::object(), ago(150), {5});
  Report newest = make_report("spec-a", {{"scene_id", "b"}}, ago(100), {6});
  for (const Report* r : {&mid, &old, &newest, &other}) this->record(*r);

  auto all = this->list();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].run_id, newest.run_id);
  EXPECT_EQ(all[1].run_id, other.run_id);
  EXPECT_EQ(all[2].run_id, mid.run_id);
  EXPECT_EQ(all[3].run_id, old.run_id);
  EXPECT_EQ(all[2].verdict, "fail");
  EXPECT_EQ(all[2].exit_code, 1);
  EXPECT_EQ(all[2].summary.total, 2u);
  EXPECT_EQ(all[2].summary.fail, 2u);
  EXPECT_EQ(all[2].vars, vars);
  EXPECT_EQ(all[2].spec_source, "spec-a.yaml");
  EXPECT_EQ(all[2].started_at, mid.started_at);
  EXPECT_DOUBLE_EQ(all[2].duration_ms, 12.5);
  EXPECT_EQ(all[2].key, stagecheck::history_key("spec-a", vars));

  HistoryQuery by_spec;
  by_spec.spec_name = "spec-a";
  by_spec.limit = 2;
  auto a = this->list(by_spec);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].run_id, newest.run_id);
  EXPECT_EQ(a[1].run_id, mid.run_id);

  HistoryQuery by_key;
  by_key.key = stagecheck::history_key("spec-a", vars);
  by_key.limit = 0;
  auto k = this->list(by_key);
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0].run_id, mid.run_id);
  EXPECT_EQ(k[1].run_id, old.run_id);
}

TYPED_TEST(HistoryContract, ReportByIdOrUniquePrefix) {
  Report a = make_report("spec", json::object(), ago(20), {1}, Status::pass,
                         "abc10000000000000000000000000000");
  Report b = make_report("spec", json::object(), ago(10), {2}, Status::pass,
                         "abc20000000000000000000000000000");
  this->record(a);
  this->record(b);
  auto full = this->history_->report(a.run_id);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ((*full)["run_id"], a.run_id);
  EXPECT_EQ((*full)["results"][0]["observed"], 1);
  auto prefix = this->history_->report("abc2");
  ASSERT_TRUE(prefix) << prefix.error().message;
  EXPECT_EQ((*prefix)["run_id"], b.run_id);

  auto ambiguous = this->history_->report("abc");
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, stagecheck::Errc::invalid_argument);
  EXPECT_NE(ambiguous.error().message.find("ambiguous"), std::string::npos);
  auto unknown = this->history_->report("ffff");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, stagecheck::Errc::not_found);
  // LIKE wildcards in a prefix are literal.
  auto wildcard = this->history_->report("%");
  ASSERT_FALSE(wildcard);
  EXPECT_EQ(wildcard.error().code, stagecheck::Errc::not_found);
  EXPECT_FALSE(this->history_->report(""));
}

TYPED_TEST(HistoryContract, ObservationsNewestFirstWithLimitAndKey) {
  const json vars = {{"scene_id", "a"}};
  std::vector<std::string> ids;
  for (int i = 1; i <= 5; ++i) {
    Report r = make_report("spec", vars, ago(100 - i), {i * 10, "text"});
    ids.push_back(r.run_id);
    this->record(r);
  }
  this->record(make_report("spec", {{"scene_id", "other"}}, ago(1), {999, "x"}));
  const std::string key = stagecheck::history_key("spec", vars);
  auto obs = this->history_->observations(key, "s.c0", 3);
  ASSERT_TRUE(obs) << obs.error().message;
  ASSERT_EQ(obs->size(), 3u);
  EXPECT_EQ((*obs)[0].observed, 50);
  EXPECT_EQ((*obs)[0].run_id, ids[4]);
  EXPECT_EQ((*obs)[1].observed, 40);
  EXPECT_EQ((*obs)[2].observed, 30);
  EXPECT_EQ((*obs)[0].status, Status::pass);
  auto all = this->history_->observations(key, "s.c0", 0);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 5u);
  auto none = this->history_->observations(key, "s.nope", 10);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto strings = this->history_->observations(key, "s.c1", 1);
  ASSERT_TRUE(strings);
  ASSERT_EQ(strings->size(), 1u);
  EXPECT_EQ((*strings)[0].observed, "text");
}

TYPED_TEST(HistoryContract, NonFiniteObservedValuesAreKeptAsStrings) {
  const double inf = std::numeric_limits<double>::infinity();
  Report r = make_report("spec", json::object(), ago(5),
                         {std::nan(""), inf, -inf, json{{"nested", std::nan("")}}}, Status::fail);
  this->record(r);
  const std::string key = stagecheck::history_key("spec", json::object());
  auto expect = [&](const char* check, const json& want) {
    auto obs = this->history_->observations(key, check, 1);
    ASSERT_TRUE(obs) << obs.error().message;
    ASSERT_EQ(obs->size(), 1u);
    EXPECT_EQ((*obs)[0].observed, want) << check;
    EXPECT_EQ((*obs)[0].status, Status::fail);
  };
  expect("s.c0", "NaN");
  expect("s.c1", "Infinity");
  expect("s.c2", "-Infinity");
  expect("s.c3", json({{"nested", "NaN"}}));
  auto report = this->history_->report(r.run_id);
  ASSERT_TRUE(report);
  EXPECT_EQ((*report)["results"][0]["observed"], "NaN");
}

TYPED_TEST(HistoryContract, DuplicateRunIdIsRefused) {
  Report r = make_report("spec", json::object(), ago(5), {1});
  this->record(r);
  Report again = make_report("spec", json::object(), ago(1), {2}, Status::pass, r.run_id);
  auto ok = this->history_->record(again);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("already"), std::string::npos) << ok.error().message;
  auto runs = this->list();
  ASSERT_EQ(runs.size(), 1u);
  auto obs =
      this->history_->observations(stagecheck::history_key("spec", json::object()), "s.c0", 0);
  ASSERT_TRUE(obs);
  ASSERT_EQ(obs->size(), 1u);
  EXPECT_EQ((*obs)[0].observed, 1) << "the first run's checks are untouched";
  Report no_id = make_report("spec", json::object(), ago(1), {2});
  no_id.run_id.clear();
  EXPECT_FALSE(this->history_->record(no_id));
}

TYPED_TEST(HistoryContract, PruneKeepsTheNewestPerSpec) {
  std::vector<std::string> a_ids;
  for (int i = 0; i < 5; ++i) {
    Report r = make_report("spec-a", json::object(), ago(100 - i), {i});
    a_ids.push_back(r.run_id);
    this->record(r);
  }
  for (int i = 0; i < 2; ++i) this->record(make_report("spec-b", json::object(), ago(50 - i), {i}));
  stagecheck::Retention keep;
  keep.keep_last = 3;
  auto deleted = this->history_->prune(keep);
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(*deleted, 2u);
  HistoryQuery qa;
  qa.spec_name = "spec-a";
  auto a = this->list(qa);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].run_id, a_ids[4]);
  EXPECT_EQ(a[2].run_id, a_ids[2]);
  HistoryQuery qb;
  qb.spec_name = "spec-b";
  EXPECT_EQ(this->list(qb).size(), 2u);
  // The deleted runs' checks went with them.
  auto obs =
      this->history_->observations(stagecheck::history_key("spec-a", json::object()), "s.c0", 0);
  ASSERT_TRUE(obs);
  EXPECT_EQ(obs->size(), 3u);
  EXPECT_FALSE(this->history_->report(a_ids[0]));
  auto again = this->history_->prune(keep);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u);
}

TYPED_TEST(HistoryContract, PruneByAge) {
  Report old1 = make_report("spec", json::object(), ago(10 * 86400), {1});
  Report old2 = make_report("spec-b", json::object(), ago(6 * 86400), {1});
  Report fresh = make_report("spec", json::object(), ago(60), {2});
  for (const Report* r : {&old1, &old2, &fresh}) this->record(*r);
  stagecheck::Retention age;
  age.max_age = std::chrono::hours(24 * 5);
  auto deleted = this->history_->prune(age);
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(*deleted, 2u);
  auto runs = this->list();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].run_id, fresh.run_id);
  // No bound: nothing is deleted.
  auto none = this->history_->prune(stagecheck::Retention{});
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
}

TYPED_TEST(HistoryContract, ConcurrentWritersFromThreads) {
  // Threads share one History, and two more write through connections of their own.
  auto second = stagecheck::open_history(this->url_);
  ASSERT_TRUE(second) << second.error().message;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    History* h = t % 2 == 0 ? this->history_.get() : second->get();
    threads.emplace_back([h, t, &failures] {
      for (int i = 0; i < 10; ++i) {
        Report r = make_report(fmt::format("spec-{}", t), json::object(), ago(i), {i, t});
        if (!h->record(r)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  HistoryQuery q;
  q.limit = 0;
  auto runs = this->list(q);
  EXPECT_EQ(runs.size(), 40u);
}

TYPED_TEST(HistoryContract, ConcurrentWritersFromProcesses) {
  const std::string url = this->url_;
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto h = stagecheck::open_history(url);
      if (!h) ::_exit(10);
      for (int i = 0; i < 15; ++i) {
        if (!(*h)->record(make_report(fmt::format("proc-{}", p), json::object(), ago(i), {i}))) {
          ::_exit(11);
        }
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "a writer process failed";
  }
  HistoryQuery q;
  q.limit = 0;
  EXPECT_EQ(this->list(q).size(), 30u);
}

// A writer killed at an arbitrary point leaves the history readable, and every run it lists
// whole: each has its first and its last check (a run is one transaction).
TYPED_TEST(HistoryContract, KilledWriterLeavesEveryListedRunWhole) {
  constexpr int kChecks = 200;
  std::vector<json> observed;
  for (int i = 0; i < kChecks; ++i) observed.push_back(i);
  const std::string url = this->url_;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto h = stagecheck::open_history(url);
    if (!h) ::_exit(10);
    for (int i = 0;; ++i) {
      (void)(*h)->record(make_report("crash", json::object(), ago(0, i % 1000), observed));
    }
  }
  // Wait (without a deadline that could flake) for some runs, then kill mid-stream.
  std::size_t seen = 0;
  for (int spins = 0; spins < 6000 && seen < 5; ++spins) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    HistoryQuery q;
    q.limit = 0;
    auto runs = this->history_->list(q);
    if (runs) seen = runs->size();
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status))
      << "the writer stopped by itself (exit " << WEXITSTATUS(status) << ")";
  ASSERT_GE(seen, 5u) << "the writer recorded too little before it was killed";

  auto reopened = stagecheck::open_history(url);
  ASSERT_TRUE(reopened) << reopened.error().message;
  HistoryQuery q;
  q.limit = 0;
  auto runs = (*reopened)->list(q);
  ASSERT_TRUE(runs) << runs.error().message;
  ASSERT_GE(runs->size(), seen);
  const std::string key = stagecheck::history_key("crash", json::object());
  auto first = (*reopened)->observations(key, "s.c0", 0);
  auto last = (*reopened)->observations(key, fmt::format("s.c{}", kChecks - 1), 0);
  ASSERT_TRUE(first && last);
  EXPECT_EQ(first->size(), runs->size());
  EXPECT_EQ(last->size(), runs->size());
  std::set<std::string> with_last;
  for (const auto& o : *last) with_last.insert(o.run_id);
  for (const auto& r : *runs) EXPECT_EQ(with_last.count(r.run_id), 1u) << r.run_id;
  // And it still takes new runs.
  auto ok = (*reopened)->record(make_report("crash", json::object(), ago(0), observed));
  EXPECT_TRUE(ok) << ok.error().message;
}

// --- SQLite only ---------------------------------------------------------------------------

class SqliteHistory : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool sql(const fs::path& db, const std::string& statement) {
    sqlite3* conn = nullptr;
    if (sqlite3_open(db.c_str(), &conn) != SQLITE_OK) return false;
    char* err = nullptr;
    const bool ok = sqlite3_exec(conn, statement.c_str(), nullptr, nullptr, &err) == SQLITE_OK;
    if (err != nullptr) ADD_FAILURE() << err;
    sqlite3_free(err);
    sqlite3_close(conn);
    return ok;
  }
  fs::path dir_;
};

TEST_F(SqliteHistory, UrlForms) {
  const fs::path db = dir_ / "h.db";
  for (const std::string& url : {db.string(), "sqlite:" + db.string(), "sqlite://" + db.string()}) {
    auto h = stagecheck::open_history(url);
    ASSERT_TRUE(h) << url << ": " << h.error().message;
    EXPECT_EQ((*h)->describe(), db.string());
  }
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  auto relative = stagecheck::open_history("sqlite:rel.db");
  fs::current_path(cwd);
  ASSERT_TRUE(relative) << relative.error().message;
  EXPECT_TRUE(fs::exists(dir_ / "rel.db"));
  EXPECT_FALSE(stagecheck::open_history(""));
  auto scheme = stagecheck::open_history("mysql://host/db");
  ASSERT_FALSE(scheme);
  EXPECT_NE(scheme.error().message.find("unsupported scheme"), std::string::npos);
  EXPECT_FALSE(stagecheck::open_history("sqlite://relative/path.db"));
  EXPECT_FALSE(stagecheck::open_history("sqlite:"));
  auto folder = stagecheck::open_history(dir_.string());
  ASSERT_FALSE(folder);
  EXPECT_NE(folder.error().message.find("folder"), std::string::npos);
  auto no_parent = stagecheck::open_history((dir_ / "missing" / "h.db").string());
  ASSERT_FALSE(no_parent);
  EXPECT_NE(no_parent.error().message.find("missing"), std::string::npos);
}

TEST_F(SqliteHistory, ReadersDoNotCreateAFile) {
  stagecheck::HistoryOpenOptions options;
  options.create = false;
  auto h = stagecheck::open_history((dir_ / "typo.db").string(), options);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, stagecheck::Errc::not_found);
  EXPECT_NE(h.error().message.find("typo.db"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "typo.db"));
}

TEST_F(SqliteHistory, NewerSchemaIsRefused) {
  const fs::path db = dir_ / "h.db";
  ASSERT_TRUE(stagecheck::open_history(db.string()));
  ASSERT_TRUE(sql(db, "UPDATE stagecheck_schema SET version = 7"));
  auto h = stagecheck::open_history(db.string());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("schema version 7"), std::string::npos) << h.error().message;
  EXPECT_NE(h.error().message.find("upgrade stagecheck"), std::string::npos);
  // The same through SQLite's user_version alone.
  ASSERT_TRUE(sql(db, "UPDATE stagecheck_schema SET version = 1; PRAGMA user_version = 9"));
  auto h2 = stagecheck::open_history(db.string());
  ASSERT_FALSE(h2);
  EXPECT_NE(h2.error().message.find("schema version 9"), std::string::npos) << h2.error().message;
}

TEST_F(SqliteHistory, SomeoneElsesTablesAreRefused) {
  const fs::path db = dir_ / "app.db";
  ASSERT_TRUE(sql(db, "CREATE TABLE runs (id INTEGER)"));
  auto h = stagecheck::open_history(db.string());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("'runs'"), std::string::npos) << h.error().message;
}

TEST_F(SqliteHistory, CorruptFileIsAnErrorNotACrash) {
  const fs::path garbage = dir_ / "garbage.db";
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>((i * 131 + 7) & 0xff));
  }
  auto h = stagecheck::open_history(garbage.string());
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, stagecheck::Errc::malformed) << h.error().message;
  EXPECT_NE(h.error().message.find("garbage.db"), std::string::npos) << h.error().message;

  // A real history with its pages overwritten past the header.
  const fs::path damaged = dir_ / "damaged.db";
  {
    auto good = stagecheck::open_history(damaged.string());
    ASSERT_TRUE(good);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE((*good)->record(make_report("spec", json::object(), ago(i), {i, i, i})));
    }
  }
  fs::remove(dir_ / "damaged.db-wal");
  fs::remove(dir_ / "damaged.db-shm");
  {
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    for (int i = 0; i < 16384; ++i) f.put(static_cast<char>(0xA5));
  }
  auto d = stagecheck::open_history(damaged.string());
  if (d) {
    // It may open; reading must then fail cleanly.
    HistoryQuery q;
    q.limit = 0;
    auto runs = (*d)->list(q);
    EXPECT_FALSE(runs && runs->size() == 20u) << "a damaged file read as if whole";
  } else {
    EXPECT_NE(d.error().message.find("damaged.db"), std::string::npos) << d.error().message;
  }
}

TEST_F(SqliteHistory, UsesWalMode) {
  const fs::path db = dir_ / "h.db";
  auto h = stagecheck::open_history(db.string());
  ASSERT_TRUE(h);
  ASSERT_TRUE((*h)->record(make_report("spec", json::object(), ago(1), {1})));
  sqlite3* conn = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &conn), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(conn, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(conn);
}

TEST(HistoryKey, CanonicalOverVarOrder) {
  json a = json::parse(R"({"b": 1, "a": "x"})");
  json b = json::parse(R"({"a": "x", "b": 1})");
  EXPECT_EQ(stagecheck::history_key("s", a), stagecheck::history_key("s", b));
  EXPECT_NE(stagecheck::history_key("s", a), stagecheck::history_key("t", a));
  EXPECT_NE(stagecheck::history_key("s", a), stagecheck::history_key("s", json{{"a", "y"}}));
  EXPECT_EQ(stagecheck::history_key("s", json()), stagecheck::history_key("s", json::object()));
}

// --- PostgreSQL only -----------------------------------------------------------------------

TEST(PostgresHistory, PasswordNeverInDescribeOrMessages) {
  std::string why;
  PostgresServer::Options options;
  options.hba_lines = {"host all auditor 127.0.0.1/32 scram-sha-256"};
  auto pg = PostgresServer::start(options, &why);
  if (!pg) {
    if (stagecheck::testing::ci_requires_services()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  ASSERT_TRUE(
      pg->run_sql("SET password_encryption = 'scram-sha-256';"
                  "CREATE ROLE auditor LOGIN PASSWORD 'S3cretPw-42';"
                  "CREATE DATABASE audit OWNER auditor;"))
      << pg->last_output();
  const std::string secret = "S3cretPw-42";
  auto h = stagecheck::open_history(pg->url("auditor", "audit", secret));
  ASSERT_TRUE(h) << h.error().message;
  const std::string described = (*h)->describe();
  EXPECT_EQ(described.find(secret), std::string::npos) << described;
  EXPECT_NE(described.find("auditor@127.0.0.1"), std::string::npos) << described;
  EXPECT_NE(described.find("/audit"), std::string::npos) << described;
  ASSERT_TRUE((*h)->record(make_report("spec", json::object(), ago(1), {1})));

  auto wrong = stagecheck::open_history(pg->url("auditor", "audit", "Wr0ngPw-99"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message.find("Wr0ngPw-99"), std::string::npos) << wrong.error().message;
  EXPECT_NE(wrong.error().message.find("auditor"), std::string::npos) << wrong.error().message;
  auto query_pw = stagecheck::open_history(
      fmt::format("postgresql://auditor@127.0.0.1:{}/audit?password=Wr0ngPw-77", pg->port()));
  ASSERT_FALSE(query_pw);
  EXPECT_EQ(query_pw.error().message.find("Wr0ngPw-77"), std::string::npos)
      << query_pw.error().message;
  auto malformed = stagecheck::open_history("postgresql://auditor:Pw-Bad%zz@127.0.0.1:1/x?bogus=1");
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().message.find("Pw-Bad"), std::string::npos)
      << malformed.error().message;
}

TEST(PostgresHistory, UnreachableServerIsAnError) {
  const int port = stagecheck::testing::free_loopback_port();
  auto h = stagecheck::open_history(
      fmt::format("postgresql://nobody:pw-unused@127.0.0.1:{}/nothing?connect_timeout=5", port));
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, stagecheck::Errc::unavailable);
  EXPECT_NE(h.error().message.find(std::to_string(port)), std::string::npos) << h.error().message;
  EXPECT_EQ(h.error().message.find("pw-unused"), std::string::npos) << h.error().message;
}

TEST(PostgresHistory, NewerSchemaIsRefused) {
  std::string why;
  auto pg = PostgresServer::start({}, &why);
  if (!pg) {
    if (stagecheck::testing::ci_requires_services()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  ASSERT_TRUE(stagecheck::open_history(pg->url()));
  ASSERT_TRUE(pg->run_sql("UPDATE stagecheck_schema SET version = 5")) << pg->last_output();
  auto h = stagecheck::open_history(pg->url());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("schema version 5"), std::string::npos) << h.error().message;
}

}  // namespace
