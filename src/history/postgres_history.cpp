// The run history in PostgreSQL (libpq). The password never leaves this file: describe() and
// every message are built without it, and any message is scrubbed of it.

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "history/sql_history.hpp"
#include "text_util.hpp"

namespace stagecheck::detail {

namespace {

// Type OIDs of the parameters (pg_type.h).
constexpr Oid kText = 25, kInt8 = 20, kFloat8 = 701;
// Serialises concurrent schema creation (pg_advisory_xact_lock key: "stgchk" in hex-ish).
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(5354474348)";

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// The password of a libpq URI (userinfo "user:password@", or a password= query parameter),
// found by hand: it must be scrubbed even from the messages of a URI libpq cannot parse.
std::vector<std::string> passwords_in(const std::string& url) {
  std::vector<std::string> out;
  const std::size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    const std::size_t start = scheme + 3;
    const std::size_t at = url.rfind('@');
    const std::size_t end = url.find_first_of("/?", start);
    if (at != std::string::npos && at > start && (end == std::string::npos || at < end)) {
      const std::size_t colon = url.find(':', start);
      if (colon != std::string::npos && colon < at)
        out.push_back(url.substr(colon + 1, at - colon - 1));
    }
  }
  for (std::size_t pos = url.find("password="); pos != std::string::npos;
       pos = url.find("password=", pos + 1)) {
    const std::size_t begin = pos + 9;
    const std::size_t end = url.find('&', begin);
    out.push_back(url.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
  }
  std::vector<std::string> nonempty;
  for (auto& p : out) {
    if (!p.empty()) nonempty.push_back(std::move(p));
  }
  return nonempty;
}

std::string scrub_all(std::string message, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    for (std::size_t pos = message.find(secret); pos != std::string::npos;
         pos = message.find(secret, pos + 3)) {
      message.replace(pos, secret.size(), "***");
    }
  }
  return message;
}

// postgresql://USER@HOST:PORT/DB, from the parsed options, without the password.
std::string describe_options(PQconninfoOption* options) {
  std::string user, host, port, db;
  for (PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
    const std::string key = o->keyword;
    const std::string value = o->val != nullptr ? o->val : "";
    if (key == "user") user = value;
    if (key == "host" || (key == "hostaddr" && host.empty())) host = value;
    if (key == "port") port = value;
    if (key == "dbname") db = value;
  }
  return fmt::format("postgresql://{}{}{}{}/{}", user, user.empty() ? "" : "@", host,
                     port.empty() ? "" : ":" + port, db);
}

void ignore_notice(void* /*arg*/, const char* /*message*/) {}

class PostgresConnection final : public SqlConnection {
 public:
  PostgresConnection(PGconn* conn, std::vector<std::string> secrets)
      : conn_(conn), secrets_(std::move(secrets)) {}
  ~PostgresConnection() override { PQfinish(conn_); }
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  Result<SqlRows> run(std::string_view sql, const std::vector<SqlParam>& params) override {
    std::vector<std::string> texts(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    std::vector<Oid> types(params.size(), 0);
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (const auto* s = std::get_if<std::string>(&params[i])) {
        texts[i] = *s;
        types[i] = kText;
      } else if (const auto* n = std::get_if<std::int64_t>(&params[i])) {
        texts[i] = std::to_string(*n);
        types[i] = kInt8;
      } else if (const auto* d = std::get_if<double>(&params[i])) {
        texts[i] = fmt::format("{}", *d);
        types[i] = kFloat8;
      } else {
        continue;  // NULL
      }
      values[i] = texts[i].c_str();
    }
    const std::string text(sql);
    std::unique_ptr<PGresult, void (*)(PGresult*)> res(
        PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()),
                     params.empty() ? nullptr : types.data(),
                     params.empty() ? nullptr : values.data(), nullptr, nullptr, 0),
        PQclear);
    const ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string why = res ? PQresultErrorMessage(res.get()) : "";
      if (why.empty()) why = PQerrorMessage(conn_);
      const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
      Errc code = PQstatus(conn_) == CONNECTION_OK ? Errc::io_error : Errc::unavailable;
      if (state != nullptr && std::string_view(state).substr(0, 2) == "23") {
        code = Errc::invalid_argument;  // integrity constraint violation
      }
      return make_error(code, scrub(trim(why)));
    }
    SqlRows out;
    const int rows = PQntuples(res.get());
    const int columns = PQnfields(res.get());
    out.rows.reserve(static_cast<std::size_t>(rows));
    for (int r = 0; r < rows; ++r) {
      SqlRow row(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        if (PQgetisnull(res.get(), r, c) != 0) continue;
        row[static_cast<std::size_t>(c)] = std::string(
            PQgetvalue(res.get(), r, c), static_cast<std::size_t>(PQgetlength(res.get(), r, c)));
      }
      out.rows.push_back(std::move(row));
    }
    const char* affected = PQcmdTuples(res.get());
    out.changes = affected != nullptr && *affected != '\0' ? std::stoull(affected) : 0;
    return out;
  }

  Result<void> ensure_connected() override {
    if (PQstatus(conn_) == CONNECTION_OK) return {};
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      return make_error(Errc::unavailable, scrub(trim(PQerrorMessage(conn_))));
    }
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
    return {};
  }

  std::string_view begin_write() const override { return "BEGIN"; }
  std::string_view schema_lock() const override { return kSchemaLock; }
  std::string_view table_exists() const override {
    return "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
           "current_schema() AND table_name = $1";
  }
  std::string scrub(std::string message) const override {
    return scrub_all(std::move(message), secrets_);
  }

 private:
  PGconn* conn_;
  std::vector<std::string> secrets_;
};

}  // namespace

Result<std::unique_ptr<History>> open_postgres_history(const std::string& url) {
  const std::vector<std::string> secrets = passwords_in(url);
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &parse_error);
  if (options == nullptr) {
    std::string why = parse_error != nullptr ? trim(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return make_error(
        Errc::invalid_argument,
        scrub_all(fmt::format("history URL: not a PostgreSQL URI: {}", why), secrets));
  }
  std::string description = describe_options(options);
  PQconninfoFree(options);
  // The URL comes last so that its own settings win over these defaults.
  const char* keys[] = {"application_name", "connect_timeout", "dbname", nullptr};
  const char* values[] = {"stagecheck", "10", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) {
    return make_error(Errc::unavailable,
                      fmt::format("history {}: cannot connect: out of memory", description));
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = scrub_all(trim(PQerrorMessage(conn)), secrets);
    PQfinish(conn);
    return make_error(Errc::unavailable,
                      fmt::format("history {}: cannot connect: {}", description, why));
  }
  PQsetNoticeProcessor(conn, ignore_notice, nullptr);
  return SqlHistory::open(std::make_unique<PostgresConnection>(conn, secrets),
                          std::move(description));
}

}  // namespace stagecheck::detail
