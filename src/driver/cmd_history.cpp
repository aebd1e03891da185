// `stagecheck history`: list, show, compare and prune the runs recorded with --history.

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "cli.hpp"
#include "stagecheck/history.hpp"

namespace stagecheck::driver {

namespace {

using nlohmann::json;

constexpr const char* kVerb = "history";
constexpr int kExitRuntime = static_cast<int>(ExitCode::no_verdict);

const char* const kHistoryHelp =
    R"(Usage: stagecheck history list [--spec NAME] [--limit N] [--format text|json]
       stagecheck history show RUN [--format text|json]
       stagecheck history compare RUN_A RUN_B [--format text|json]
       stagecheck history prune (--keep N | --max-age DURATION)

The runs recorded with 'stagecheck run --history URL'. Every form takes --history URL; the
default is the environment variable STAGECHECK_HISTORY. URL: a SQLite file (PATH,
sqlite:PATH or sqlite:///ABS/PATH) or postgresql://USER@HOST:PORT/DB (a libpq URI; the
password is best left to PGPASSWORD or ~/.pgpass).

  list      the recorded runs, newest first (--limit 20 by default, 0 for all; --spec NAME
            for one spec's)
  show      one run: verdict, counts, and each check's status, observed value and duration;
            with --format json, the stored JSON report. RUN is a run id or a prefix of one
            that names exactly one run
  compare   two runs check by check: status A -> B, observed A -> B, the difference where
            both are numbers, durations; checks only in one run; the verdict change. Exits 0
            whatever the differences
  prune     delete runs beyond --keep N (newest N per spec) and/or older than --max-age
            (e.g. 30d, 12h, 90m, 3600s)

Exit codes: 0 done; 2 usage error, unknown or ambiguous RUN, or the history cannot be opened
(a missing SQLite file is not created); 3 the history failed while reading or deleting.

Options)";

// Display width of UTF-8 text (code points; no East Asian width).
std::size_t width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::string cut(std::string s, std::size_t max) {
  if (width(s) <= max) return s;
  std::string out;
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80 && ++n > max - 3) break;
    out += s[i];
  }
  return out + "...";
}

// Prints rows as aligned columns; `right[i]` right-aligns column i. The last column is not
// padded.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                 const std::vector<bool>& right, const std::string& indent = "") {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
  }
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t i = 0; i < row.size(); ++i) {
      const std::size_t pad = widths[i] - width(row[i]);
      const bool last = i + 1 == row.size();
      if (i < right.size() && right[i]) {
        line += std::string(pad, ' ') + row[i];
      } else {
        line += row[i];
        if (!last) line += std::string(pad, ' ');
      }
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

std::string duration_text(double ms) {
  if (!std::isfinite(ms)) return "-";
  if (ms < 1.0) return fmt::format("{:.2f} ms", ms);
  if (ms < 1000.0) return fmt::format("{:.1f} ms", ms);
  return fmt::format("{:.2f} s", ms / 1000.0);
}

std::string verdict_word(std::string_view verdict) {
  if (verdict == "pass") return "PASS";
  if (verdict == "fail") return "FAIL";
  if (verdict == "no_verdict") return "NO VERDICT";
  return std::string(verdict);
}

std::string compact(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string observed_text(const json& value, std::size_t max = 40) {
  if (value.is_null()) return "-";
  return cut(compact(value), max);
}

// What changed between two observed values: for two objects, only the keys that differ
// ("summary.pass_rate >= 0.9: 0.93 -> 0.71"); otherwise both values.
std::string observed_change(const json& a, const json& b) {
  if (a.is_object() && b.is_object()) {
    std::string out;
    for (const auto& [key, va] : a.items()) {
      auto it = b.find(key);
      const std::string vb = it == b.end() ? "-" : compact(*it);
      if (it != b.end() && *it == va) continue;
      if (!out.empty()) out += "; ";
      out += fmt::format("{}: {} -> {}", key, compact(va), vb);
    }
    for (const auto& [key, vb] : b.items()) {
      if (!a.contains(key))
        out += fmt::format("{}{}: - -> {}", out.empty() ? "" : "; ", key, compact(vb));
    }
    return cut(out, 90);
  }
  return fmt::format("{} -> {}", observed_text(a, 40), observed_text(b, 40));
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

double num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : std::nan("");
}

// A number, or the one number in a one-entry object (a json check's observed value is
// {"CONDITION": VALUE}).
std::optional<double> finite_number(const json& value) {
  if (value.is_object() && value.size() == 1) return finite_number(value.begin().value());
  if (!value.is_number()) return std::nullopt;
  const double d = value.get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::string number_text(double d) { return fmt::format("{:g}", d); }

const json& results_of(const json& report) {
  static const json empty = json::array();
  auto it = report.find("results");
  return it != report.end() && it->is_array() ? *it : empty;
}

// Parses `args` (the sub-verb removed) with `opts` and any number of positionals.
std::optional<int> parse(const std::vector<std::string>& args, const po::options_description& opts,
                         std::vector<std::string>& positionals, po::variables_map& vm) {
  po::options_description all;
  all.add(opts);
  po::options_description hidden;
  hidden.add_options()("positional", po::value(&positionals));
  all.add(hidden);
  po::positional_options_description pos;
  pos.add("positional", -1);
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return usage_error(e.what(), kVerb);
  }
  if (vm.count("help") != 0) {
    std::cout << kHistoryHelp << "\n" << opts << "\n";
    return 0;
  }
  return std::nullopt;
}

// Opens the history (never creating one); prints why not.
std::unique_ptr<History> open_for_reading(const std::string& option, const po::variables_map& vm,
                                          int& code) {
  const std::string url = history_url(option, vm);
  if (url.empty()) {
    code = usage_error("no history: give --history URL or set STAGECHECK_HISTORY", kVerb);
    return nullptr;
  }
  HistoryOpenOptions options;
  options.create = false;
  auto opened = open_history(url, options);
  if (!opened) {
    code = usage_error(fmt::format("cannot open the history: {}", opened.error().message), kVerb);
    return nullptr;
  }
  return std::move(*opened);
}

// An error reading a run: an unknown or ambiguous id is a usage error (2), anything else 3.
int run_error(const Error& e) {
  std::cerr << "stagecheck: error: " << e.message << "\n";
  return e.code == Errc::not_found || e.code == Errc::invalid_argument ? kExitUsage : kExitRuntime;
}

json run_to_json(const HistoryRun& r) {
  json counts = {{"total", r.summary.total},     {"pass", r.summary.pass},
                 {"fail", r.summary.fail},       {"warn", r.summary.warn},
                 {"skipped", r.summary.skipped}, {"blocked", r.summary.blocked},
                 {"error", r.summary.error}};
  return {{"run_id", r.run_id},
          {"spec", {{"name", r.spec_name}, {"source", r.spec_source}, {"hash", r.spec_hash}}},
          {"key", r.key},
          {"vars", r.vars},
          {"root", r.root},
          {"started_at", r.started_at},
          {"duration_ms", r.duration_ms},
          {"verdict", r.verdict},
          {"exit_code", r.exit_code},
          {"counts", counts}};
}

int history_list(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  std::string url, spec, format = "text";
  long long limit = 20;
  opts.add_options()("help,h", "show this help")("history", po::value(&url),
                                                 "the history (default: STAGECHECK_HISTORY)")(
      "spec", po::value(&spec), "only the runs of this spec (its name)")(
      "limit", po::value(&limit), "at most N runs, newest first (default 20; 0: all)")(
      "format", po::value(&format), "text (default) or json");
  po::variables_map vm;
  std::vector<std::string> positionals;
  if (auto stop = parse(args, opts, positionals, vm)) return *stop;
  if (!positionals.empty()) {
    return usage_error(fmt::format("history list takes no RUN, found '{}'", positionals.front()),
                       kVerb);
  }
  if (format != "text" && format != "json") {
    return usage_error(fmt::format("--format must be text or json, found \"{}\"", format), kVerb);
  }
  if (limit < 0)
    return usage_error(fmt::format("--limit must be 0 or more, found {}", limit), kVerb);
  int code = 0;
  auto history = open_for_reading(url, vm, code);
  if (!history) return code;
  HistoryQuery query;
  query.spec_name = spec;
  query.limit = static_cast<std::size_t>(limit);
  auto runs = history->list(query);
  if (!runs) {
    std::cerr << "stagecheck: error: " << runs.error().message << "\n";
    return kExitRuntime;
  }
  if (format == "json") {
    json out = {{"history", history->describe()}, {"runs", json::array()}};
    for (const auto& r : *runs) out["runs"].push_back(run_to_json(r));
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (runs->empty()) {
    std::cout << fmt::format("No runs{} in the history {}\n",
                             spec.empty() ? "" : fmt::format(" of spec '{}'", spec),
                             history->describe());
    return 0;
  }
  std::cout << fmt::format("History {}: {} run(s) shown{}, newest first\n\n", history->describe(),
                           runs->size(), spec.empty() ? "" : fmt::format(" of spec '{}'", spec));
  std::vector<std::vector<std::string>> rows{{"RUN", "STARTED", "VERDICT", "CHECKS", "PASS", "FAIL",
                                              "WARN", "ERROR", "DURATION", "SPEC", "VARS"}};
  for (const auto& r : *runs) {
    const Summary& s = r.summary;
    rows.push_back({r.run_id.substr(0, 12), r.started_at, verdict_word(r.verdict),
                    std::to_string(s.total), std::to_string(s.pass), std::to_string(s.fail),
                    std::to_string(s.warn), std::to_string(s.error), duration_text(r.duration_ms),
                    r.spec_name, r.vars.empty() ? "" : cut(compact(r.vars), 60)});
  }
  print_table(std::cout, rows,
              {false, false, false, true, true, true, true, true, true, false, false});
  std::cout << "\n'stagecheck history show RUN' for a run's checks (RUN: an id or a prefix)\n";
  return 0;
}

int history_show(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  std::string url, format = "text";
  opts.add_options()("help,h", "show this help")("history", po::value(&url),
                                                 "the history (default: STAGECHECK_HISTORY)")(
      "format", po::value(&format), "text (default) or json (the stored JSON report)");
  po::variables_map vm;
  std::vector<std::string> positionals;
  if (auto stop = parse(args, opts, positionals, vm)) return *stop;
  if (positionals.size() != 1) return usage_error("history show needs one RUN", kVerb);
  if (format != "text" && format != "json") {
    return usage_error(fmt::format("--format must be text or json, found \"{}\"", format), kVerb);
  }
  int code = 0;
  auto history = open_for_reading(url, vm, code);
  if (!history) return code;
  auto report = history->report(positionals.front());
  if (!report) return run_error(report.error());
  const json& r = *report;
  if (format == "json") {
    std::cout << r.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  }
  const json spec = r.value("spec", json::object());
  const json counts = r.value("summary", json::object());
  std::vector<std::vector<std::string>> head{
      {"Run", str(r, "run_id")},
      {"Spec", fmt::format("{} ({}{})", str(spec, "name"), str(spec, "source"),
                           str(spec, "hash").empty() ? "" : ", hash " + str(spec, "hash"))},
      {"Vars", compact(r.value("vars", json::object()))},
      {"Root", str(r, "root")},
      {"Started", str(r, "started_at")},
      {"Duration", duration_text(num(r, "duration_ms"))},
      {"Verdict",
       fmt::format("{} (exit {})", verdict_word(str(r, "verdict")), r.value("exit_code", -1))},
  };
  // The counts: from the report's summary, else from its results.
  std::map<std::string, std::size_t> by_status;
  for (const auto& c : results_of(r)) by_status[str(c, "status")]++;
  head.push_back({"Checks", fmt::format("{}: {} pass, {} fail, {} warn, {} skipped, {} blocked, "
                                        "{} error",
                                        results_of(r).size(), by_status["pass"], by_status["fail"],
                                        by_status["warn"], by_status["skipped"],
                                        by_status["blocked"], by_status["error"])});
  (void)counts;
  print_table(std::cout, head, {false, false});
  if (results_of(r).empty()) {
    std::cout << "\n(no checks)\n";
    return 0;
  }
  std::cout << "\n";
  std::vector<std::vector<std::string>> rows{{"STATUS", "CHECK", "OBSERVED", "DURATION"}};
  std::vector<std::pair<std::string, std::string>> messages;
  for (const auto& c : results_of(r)) {
    const std::string status = str(c, "status");
    rows.push_back({status, str(c, "id"), observed_text(c.value("observed", json())),
                    duration_text(num(c, "duration_ms"))});
    if (status != "pass" && !str(c, "message").empty()) {
      messages.emplace_back(str(c, "id"), str(c, "message"));
    }
  }
  print_table(std::cout, rows, {false, false, false, true}, "  ");
  if (!messages.empty()) {
    std::cout << "\nNot passed:\n";
    for (const auto& [id, message] : messages) {
      std::cout << fmt::format("  {}: {}\n", id, cut(message, 300));
    }
  }
  return 0;
}

int history_compare(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  std::string url, format = "text";
  opts.add_options()("help,h", "show this help")("history", po::value(&url),
                                                 "the history (default: STAGECHECK_HISTORY)")(
      "format", po::value(&format), "text (default) or json");
  po::variables_map vm;
  std::vector<std::string> positionals;
  if (auto stop = parse(args, opts, positionals, vm)) return *stop;
  if (positionals.size() != 2) return usage_error("history compare needs RUN_A and RUN_B", kVerb);
  if (format != "text" && format != "json") {
    return usage_error(fmt::format("--format must be text or json, found \"{}\"", format), kVerb);
  }
  int code = 0;
  auto history = open_for_reading(url, vm, code);
  if (!history) return code;
  auto a = history->report(positionals[0]);
  if (!a) return run_error(a.error());
  auto b = history->report(positionals[1]);
  if (!b) return run_error(b.error());

  std::map<std::string, const json*> in_b;
  for (const auto& c : results_of(*b)) in_b[str(c, "id")] = &c;
  std::set<std::string> in_a;
  json checks = json::array();
  json only_a = json::array(), only_b = json::array();
  for (const auto& ca : results_of(*a)) {
    const std::string id = str(ca, "id");
    in_a.insert(id);
    auto it = in_b.find(id);
    if (it == in_b.end()) {
      only_a.push_back({{"id", id}, {"status", str(ca, "status")}});
      continue;
    }
    const json& cb = *it->second;
    const json oa = ca.value("observed", json()), ob = cb.value("observed", json());
    json row = {{"id", id},
                {"status_a", str(ca, "status")},
                {"status_b", str(cb, "status")},
                {"observed_a", oa},
                {"observed_b", ob},
                {"duration_ms_a", ca.value("duration_ms", json())},
                {"duration_ms_b", cb.value("duration_ms", json())},
                {"status_changed", str(ca, "status") != str(cb, "status")},
                {"observed_changed", oa != ob},
                {"delta", nullptr},
                {"relative_delta", nullptr}};
    const auto na = finite_number(oa), nb = finite_number(ob);
    const bool same_shape = oa.is_object() == ob.is_object() &&
                            (!oa.is_object() || oa.begin().key() == ob.begin().key());
    if (na && nb && same_shape) {
      row["delta"] = *nb - *na;
      if (*na != 0.0) row["relative_delta"] = (*nb - *na) / std::fabs(*na);
    }
    checks.push_back(std::move(row));
  }
  for (const auto& cb : results_of(*b)) {
    if (in_a.count(str(cb, "id")) == 0) {
      only_b.push_back({{"id", str(cb, "id")}, {"status", str(cb, "status")}});
    }
  }
  auto run_json = [](const json& r) {
    return json{{"run_id", str(r, "run_id")},
                {"spec", r.value("spec", json::object()).value("name", "")},
                {"started_at", str(r, "started_at")},
                {"verdict", str(r, "verdict")},
                {"exit_code", r.value("exit_code", -1)}};
  };
  json out = {{"a", run_json(*a)},
              {"b", run_json(*b)},
              {"verdict_changed", str(*a, "verdict") != str(*b, "verdict")},
              {"checks", checks},
              {"only_in_a", only_a},
              {"only_in_b", only_b}};
  if (format == "json") {
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  }
  auto run_line = [](const char* label, const json& r) {
    return std::vector<std::string>{
        label, str(r, "run_id"), str(r, "started_at"),
        fmt::format("{} (exit {})", verdict_word(str(r, "verdict")), r.value("exit_code", -1)),
        str(r.value("spec", json::object()), "name")};
  };
  print_table(std::cout, {run_line("A", *a), run_line("B", *b)}, {});
  const std::string va = verdict_word(str(*a, "verdict")), vb = verdict_word(str(*b, "verdict"));
  std::cout << fmt::format("\nVerdict: {}\n\n",
                           va == vb ? va + " (unchanged)" : va + " -> " + vb + " (changed)");
  std::vector<std::vector<std::string>> rows{
      {"", "CHECK", "STATUS", "OBSERVED", "DELTA", "DURATION"}};
  std::size_t status_changed = 0, observed_changed = 0;
  for (const auto& row : checks) {
    const bool sc = row["status_changed"].get<bool>(), oc = row["observed_changed"].get<bool>();
    status_changed += sc ? 1 : 0;
    observed_changed += oc ? 1 : 0;
    const std::string status = sc ? fmt::format("{} -> {}", row["status_a"].get<std::string>(),
                                                row["status_b"].get<std::string>())
                                  : row["status_a"].get<std::string>();
    const std::string observed = oc ? observed_change(row["observed_a"], row["observed_b"])
                                    : observed_text(row["observed_a"]);
    std::string delta;
    if (row["delta"].is_number()) {
      const double d = row["delta"].get<double>();
      delta = d > 0 ? "+" + number_text(d) : number_text(d);
      if (row["relative_delta"].is_number()) {
        delta += fmt::format(" ({:+.1f}%)", 100.0 * row["relative_delta"].get<double>());
      }
    }
    auto ms = [](const json& v) {
      return v.is_number() ? duration_text(v.get<double>()) : std::string("-");
    };
    rows.push_back({sc || oc ? "*" : "", row["id"].get<std::string>(), status, observed, delta,
                    ms(row["duration_ms_a"]) + " -> " + ms(row["duration_ms_b"])});
  }
  if (checks.empty()) {
    std::cout << "No check is in both runs.\n";
  } else {
    print_table(std::cout, rows, {false, false, false, false, true, false});
  }
  auto only = [](const json& list) {
    std::string text;
    for (const auto& c : list) {
      text += fmt::format("{}{} ({})", text.empty() ? "" : ", ", c["id"].get<std::string>(),
                          c["status"].get<std::string>());
    }
    return text;
  };
  if (!only_a.empty()) std::cout << fmt::format("\nOnly in A: {}\n", only(only_a));
  if (!only_b.empty()) std::cout << fmt::format("\nOnly in B: {}\n", only(only_b));
  std::cout << fmt::format(
      "\n{} check(s) in both runs: {} changed status, {} changed observed value (marked *); {} "
      "only in A, {} only in B\n",
      checks.size(), status_changed, observed_changed, only_a.size(), only_b.size());
  return 0;
}

int history_prune(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  std::string url, max_age, format = "text";
  long long keep = 0;
  opts.add_options()("help,h", "show this help")("history", po::value(&url),
                                                 "the history (default: STAGECHECK_HISTORY)")(
      "keep", po::value(&keep), "keep the newest N runs of each spec")(
      "max-age", po::value(&max_age), "delete runs that started longer ago, e.g. 30d, 12h, 90m")(
      "format", po::value(&format), "text (default) or json");
  po::variables_map vm;
  std::vector<std::string> positionals;
  if (auto stop = parse(args, opts, positionals, vm)) return *stop;
  if (!positionals.empty()) {
    return usage_error(fmt::format("history prune takes no RUN, found '{}'", positionals.front()),
                       kVerb);
  }
  if (format != "text" && format != "json") {
    return usage_error(fmt::format("--format must be text or json, found \"{}\"", format), kVerb);
  }
  Retention retention;
  if (vm.count("keep") != 0) {
    if (keep < 1)
      return usage_error(fmt::format("--keep must be at least 1, found {}", keep), kVerb);
    retention.keep_last = static_cast<std::size_t>(keep);
  }
  if (vm.count("max-age") != 0) {
    auto age = parse_duration(max_age);
    if (!age) return usage_error("--max-age: " + age.error().message, kVerb);
    retention.max_age = *age;
  }
  if (retention.keep_last == 0 && retention.max_age.count() == 0) {
    return usage_error("history prune needs --keep N and/or --max-age DURATION", kVerb);
  }
  int code = 0;
  auto history = open_for_reading(url, vm, code);
  if (!history) return code;
  auto deleted = history->prune(retention);
  if (!deleted) {
    std::cerr << "stagecheck: error: " << deleted.error().message << "\n";
    return kExitRuntime;
  }
  if (format == "json") {
    std::cout << json{{"history", history->describe()}, {"deleted", *deleted}}.dump(2) << "\n";
  } else {
    std::cout << fmt::format("Deleted {} run(s) from the history {}\n", *deleted,
                             history->describe());
  }
  return 0;
}

}  // namespace

int cmd_history(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << kHistoryHelp << "\n";
    return kExitUsage;
  }
  const std::string& sub = args.front();
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::cout << kHistoryHelp << "\n  --history URL  the history (default: STAGECHECK_HISTORY)\n"
              << "  --format FMT   text (default) or json\n";
    return 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "list") return history_list(rest);
  if (sub == "show") return history_show(rest);
  if (sub == "compare") return history_compare(rest);
  if (sub == "prune") return history_prune(rest);
  return usage_error(
      fmt::format("unknown history command '{}' (expected list, show, compare or prune)", sub),
      kVerb);
}

}  // namespace stagecheck::driver
