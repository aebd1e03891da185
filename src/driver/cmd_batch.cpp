// `stagecheck run --scenes` (a batch over many scenes, optionally one shard of it) and
// `stagecheck merge` (shard reports into one verdict).

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli.hpp"
#include "event_log.hpp"

#include "stagecheck/batch.hpp"
#include "stagecheck/local_store.hpp"
#include "stagecheck/open_store.hpp"

namespace stagecheck::driver {

namespace {

std::string_view verdict_word(ExitCode code) {
  return code == ExitCode::pass ? "PASS" : code == ExitCode::fail ? "FAIL" : "NO VERDICT";
}

std::string scene_line(const SceneVerdict& v) {
  const Summary& s = v.summary;
  std::string line = fmt::format(
      "  {:<10}  {}  {} checks: {} pass, {} fail, {} warn, {} skipped, {} error  {:.2f} s",
      verdict_word(v.exit_code), v.scene_id, s.total, s.pass, s.fail, s.warn, s.skipped, s.error,
      v.duration_ms / 1000.0);
  if (!v.failed.empty()) line += fmt::format("  failed: {}", fmt::join(v.failed, ", "));
  if (!v.unevaluated.empty()) {
    line += fmt::format("  unevaluated: {}", fmt::join(v.unevaluated, ", "));
  }
  if (!v.error.empty()) line += "  error: " + v.error;
  return line + "\n";
}

void print_summary(std::ostream& out, const BatchReport& r) {
  const auto failing = r.scenes_with(ExitCode::fail);
  const auto unevaluated = r.scenes_with(ExitCode::no_verdict);
  out << fmt::format(
      "\nScenes: {} validated ({} in the set{}): {} pass, {} fail, {} no verdict  "
      "{:.2f} s\n",
      r.scenes.size(), r.set_count,
      r.shard ? fmt::format(", shard {}/{}", r.shard->index, r.shard->count) : "",
      r.scenes.size() - failing.size() - unevaluated.size(), failing.size(), unevaluated.size(),
      r.duration_ms / 1000.0);
  if (!failing.empty()) {
    out << fmt::format("Failing scenes ({}): {}\n", failing.size(), fmt::join(failing, ", "));
  }
  if (!unevaluated.empty()) {
    out << fmt::format("Unevaluated scenes ({}): {}\n", unevaluated.size(),
                       fmt::join(unevaluated, ", "));
  }
  if (!r.message.empty()) out << r.message << "\n";
  if (r.interrupted) out << "Interrupted: scenes not started were not validated\n";
  for (const auto& p : r.problems) out << "Problem: " << p << "\n";
  out << fmt::format("VERDICT: {} (exit {})\n", verdict_word(r.exit_code),
                     static_cast<int>(r.exit_code));
}

// Prints (text or JSON) and writes the report; returns the exit code.
int finish(const BatchReport& report, const std::string& format, const std::string& report_json,
           const StoreOptions& store) {
  int code = static_cast<int>(report.exit_code);
  const std::string json_text =
      batch_report_to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
      "\n";
  if (format == "json") {
    std::cout << json_text;
  } else {
    print_summary(std::cout, report);
  }
  std::cout.flush();
  if (!report_json.empty()) {
    if (auto ok = write_output(report_json, json_text, store); !ok) {
      std::cerr << fmt::format("stagecheck: error: cannot write the JSON report: {}\n",
                               ok.error().message);
      if (code == 0) code = static_cast<int>(ExitCode::no_verdict);
    }
  }
  return code;
}

}  // namespace

int run_batch_cli(const RunCli& o, const po::variables_map& vm, const RunRequest& single) {
  constexpr const char* kVerb = "run";
  if (single.options.execute)
    return usage_error("--scenes cannot be combined with --execute", kVerb);
  if (single.iterations > 1 || single.chaos) {
    return usage_error("--scenes cannot be combined with --iterations or --chaos (yet)", kVerb);
  }
  if (!o.junit.empty())
    return usage_error("--scenes writes no JUnit report (yet): use --report-json", kVerb);
  auto selection = parse_scene_selection(vm["scenes"].as<std::string>());
  if (!selection) return usage_error(selection.error().message, kVerb);
  BatchRequest req;
  if (vm.count("shard") != 0) {
    auto shard = parse_shard(vm["shard"].as<std::string>());
    if (!shard) return usage_error(shard.error().message, kVerb);
    req.shard = *shard;
  } else {
    auto shard = shard_from_environment(process_environment());
    if (!shard) return usage_error(shard.error().message, kVerb);
    req.shard = *shard;
  }
  req.spec_file = single.spec_file;
  req.vars = single.vars;
  req.root = single.root;
  req.store_options = single.store_options;
  req.plugin_dirs = single.plugin_dirs;
  req.load_default_plugins = single.load_default_plugins;
  req.options = single.options;
  req.history = single.history;  // each scene's run is recorded (scene_id in its vars)
  // --jobs counts scenes at once; each scene's checks then run one at a time.
  req.scene_jobs = single.options.jobs;
  req.options.jobs = 1;
  req.scenes = std::move(*selection);
  const bool text = o.format == "text";
  const bool quiet = vm.count("quiet") != 0;
  if (text) {
    std::cout << fmt::format("stagecheck: {} over {}, scenes: {}{}\n", req.spec_file.string(),
                             o.root, req.scenes.text,
                             req.shard ? fmt::format(", shard {}/{} (from {})", req.shard->index,
                                                     req.shard->count, req.shard->source)
                                       : "");
  }
  // Logs: the batch's own events under the batch's id; each scene's under its run id, with the
  // batch's as batch_id.
  std::unique_ptr<EventLog> log;
  if (logging_wanted(vm)) {
    auto opened = EventLog::open({o.log_format, o.log_level, o.log_file}, new_run_id());
    if (!opened) return usage_error(opened.error().message, kVerb);
    log = std::move(*opened);
    log->set_batch(true);
    req.options.observers.push_back(log.get());
    log->event(LogLevel::info, "batch_start",
               {{"spec", req.spec_file.string()},
                {"root", o.root},
                {"scenes", req.scenes.text},
                {"shard", req.shard ? fmt::format("{}/{}", req.shard->index, req.shard->count)
                                    : std::string()}});
  }
  // --monitor: a line per finished scene on stderr (scenes finish one call at a time).
  const auto started = std::chrono::steady_clock::now();
  std::size_t scenes_done = 0;
  req.on_scene = [&](const SceneVerdict& v) {
    if (log) {
      log->event(v.exit_code == ExitCode::pass ? LogLevel::info : LogLevel::error, "scene_end",
                 {{"scene", v.scene_id},
                  {"status", std::string(v.verdict())},
                  {"exit_code", static_cast<int>(v.exit_code)},
                  {"total", v.summary.total},
                  {"fail", v.summary.fail},
                  {"error", v.summary.error},
                  {"message", v.error}});
    }
    if (o.monitor) {
      ++scenes_done;
      std::cerr << fmt::format(
          "stagecheck: [{:.1f}s] scene {}: {} ({} checks, {} fail, {} error; {} scene{} done)\n",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
          v.scene_id, verdict_word(v.exit_code), v.summary.total, v.summary.fail, v.summary.error,
          scenes_done, scenes_done == 1 ? "" : "s");
      std::cerr.flush();
    }
    if (!text || (quiet && v.exit_code == ExitCode::pass)) return;
    std::cout << scene_line(v) << std::flush;
  };
  // Alerts: one per failing scene (and resolutions for passing ones), as a single run sends.
  bool alert_undelivered = false;
  if (o.alerting()) {
    req.on_scene_report = [&](const Report& r) {
      std::ostream& notes = text ? std::cout : std::cerr;
      if (send_alerts(o, r, 0, notes) != 0) alert_undelivered = true;
    };
  }
  install_signal_handlers();
  BatchOutcome outcome = run_batch(req);
  restore_signal_handlers();
  if (!outcome.report) {
    if (log) log->event(LogLevel::error, "error", {{"message", outcome.error}});
    return nothing_ran(outcome.error, outcome.error_code, outcome.exit_code);
  }
  int code = finish(*outcome.report, o.format, o.report_json, store_options(o));
  if (!apply_history_retention(o) && code == 0) code = static_cast<int>(ExitCode::no_verdict);
  if (alert_undelivered && code == 0) code = static_cast<int>(ExitCode::no_verdict);
  if (log) {
    log->event(code == 0 ? LogLevel::info : LogLevel::error, "batch_end",
               {{"status", std::string(outcome.report->verdict())},
                {"exit_code", code},
                {"scenes", outcome.report->scenes.size()}});
  }
  return code;
}

int cmd_merge(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck merge REPORT... [options]

Merges the JSON reports of a sharded batch (stagecheck run --scenes ... --shard I/N, or one per
Slurm array task or Kubernetes Indexed Job pod) into one report and verdict: any scene failed:
1; else any scene without a verdict: 3; else 0. REPORT is a report file, a folder whose
*.json files are all reports, an object s3://BUCKET/KEY.json (or gs://), or a bucket prefix
s3://BUCKET/PREFIX whose *.json objects are all reports (read with the environment's
credentials and endpoints, as run --root does). A missing, duplicated, unreadable or foreign shard (another spec
hash, shard count, scene selection, variables or scene set), or a scene in two shards, makes
the merge exit 3 and names it, even when a scene failed: the merged report would not be the
batch's verdict.

Options)");
  std::vector<std::string> inputs;
  std::string report_json, format = "text";
  opts.add_options()("help,h", "show this help")("report-json", po::value(&report_json),
                                                 "write the merged JSON report to this file or "
                                                 "s3://BUCKET/KEY / gs://BUCKET/KEY (atomically)")(
      "format", po::value(&format),
      "stdout format: text (default) or json (the merged report only)")(
      "quiet,q", "text format: print only the scenes that did not pass, and the summary");
  po::options_description all;
  all.add(opts);
  all.add_options()("report", po::value(&inputs)->composing());
  po::positional_options_description pos;
  pos.add("report", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return usage_error(e.what(), "merge");
  }
  if (vm.count("help") != 0) {
    std::cout << opts << "\n";
    return 0;
  }
  if (format != "text" && format != "json") {
    return usage_error(fmt::format("--format must be text or json, found \"{}\"", format), "merge");
  }
  if (inputs.empty()) return usage_error("merge needs at least one REPORT", "merge");
  // Buckets are reached with the credentials and endpoints the environment gives, as for
  // `run --root s3://...` without store options.
  const StoreOptions store = store_options(RunCli{});
  std::vector<MergeInput> reports;
  auto add_report = [&](std::string source, Result<std::string> body) {
    MergeInput m;
    m.source = std::move(source);
    if (!body) {
      m.error = fmt::format("{}: cannot read the report: {}", m.source, body.error().message);
    } else {
      auto j = nlohmann::json::parse(*body, nullptr, false);
      if (j.is_discarded()) {
        m.error = fmt::format("{}: not a stagecheck batch report: not JSON", m.source);
      } else if (auto r = batch_report_from_json(j, m.source); !r) {
        m.error = r.error().message;
      } else {
        m.report = std::move(*r);
      }
    }
    reports.push_back(std::move(m));
  };
  constexpr std::uint64_t kMaxReport = 1ull << 30;
  std::vector<std::filesystem::path> files;
  for (const auto& in : inputs) {
    if (is_store_uri(in)) {
      // An object (…/shard-0.json), or a prefix whose *.json objects are the shard reports.
      const bool object = in.size() > 5 && in.substr(in.size() - 5) == ".json";
      if (object) {
        auto parts = split_object_uri(in);
        if (!parts) return usage_error(parts.error().message, "merge");
        auto opened = open_store(parts->first, store);
        if (!opened) return usage_error(opened.error().message, "merge");
        add_report(in, (*opened)->read(parts->second, kMaxReport));
        continue;
      }
      auto opened = open_store(in, store);
      if (!opened) return usage_error(opened.error().message, "merge");
      std::vector<std::string> keys;
      auto listed = (*opened)->list_level("", [&](const ListEntry& e) {
        if (!e.is_folder && e.name.size() > 5 && e.name.substr(e.name.size() - 5) == ".json") {
          keys.push_back(e.path);
        }
        return true;
      });
      if (!listed) {
        // The prefix could not be listed: which shards exist cannot be known.
        add_report(in, std::move(listed).error());
        continue;
      }
      std::sort(keys.begin(), keys.end());
      const std::string base = in.back() == '/' ? in : in + "/";
      for (const auto& k : keys) add_report(base + k, (*opened)->read(k, kMaxReport));
      continue;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(in, ec)) {
      std::vector<std::filesystem::path> found;
      for (const auto& e : std::filesystem::directory_iterator(in, ec)) {
        if (e.path().extension() == ".json" && e.is_regular_file()) found.push_back(e.path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.emplace_back(in);
    }
  }
  for (const auto& f : files) add_report(f.string(), read_local_file(f, kMaxReport));
  BatchReport merged = merge_batch_reports(reports);
  if (format == "text") {
    std::cout << fmt::format("stagecheck: merged {} report(s)\n", reports.size());
    for (const auto& s : merged.scenes) {
      if (vm.count("quiet") == 0 || s.exit_code != ExitCode::pass) std::cout << scene_line(s);
    }
  }
  return finish(merged, format, report_json, store);
}

}  // namespace stagecheck::driver
