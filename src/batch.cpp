#include "stagecheck/batch.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "stagecheck/embed.hpp"
#include "stagecheck/plugin_loader.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/spec.hpp"
#include "stagecheck/version.hpp"
#include "text_util.hpp"

namespace stagecheck {

namespace {

constexpr std::string_view kScenesFolder = "scenes";
// Bound to scene_id when the spec is validated once before any scene runs.
constexpr std::string_view kPlaceholderScene = "stagecheck-batch-validation";
// Up to this many listed ids are looked up one by one; more, and scenes/ is listed once.
constexpr std::size_t kLookupOneByOne = 64;

std::string_view verdict_of(ExitCode code) noexcept {
  switch (code) {
    case ExitCode::pass:
      return "pass";
    case ExitCode::fail:
      return "fail";
    default:
      return "no_verdict";
  }
}

// An order-independent digest of a set of scene ids: their count and the sum of their hashes.
struct SetDigest {
  std::size_t count = 0;
  std::uint64_t sum = 0;
  void add(std::string_view id) {
    ++count;
    sum += detail::fnv1a64(id);
  }
  std::string hex() const { return fmt::format("{:016x}", sum); }
};

Result<unsigned> parse_unsigned(std::string_view text, std::string_view what) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return make_error(Errc::invalid_argument,
                      fmt::format("{}: expected a whole number, found \"{}\"", what,
                                  detail::printable(text, 80)));
  }
  return value;
}

Result<void> check_scene_id(std::string_view id, std::string_view where) {
  if (id.empty() || id == "." || id == ".." || id.find('/') != std::string_view::npos ||
      !validate_store_path(id)) {
    return make_error(Errc::invalid_argument,
                      fmt::format("{}: \"{}\" is not a scene id (one path segment expected)", where,
                                  detail::printable(id, 120)));
  }
  return {};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// A bounded queue of scene ids: the producer (the listing) waits while it is full.
class SceneQueue {
 public:
  explicit SceneQueue(std::size_t capacity) : capacity_(capacity) {}
  void push(std::string id) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(std::move(id));
    not_empty_.notify_one();
  }
  std::optional<std::string> pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    std::string id = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return id;
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  std::size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::string> items_;
  bool closed_ = false;
};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

SceneVerdict verdict_from(const std::string& id, const RunOutcome& run) {
  SceneVerdict v;
  v.scene_id = id;
  if (!run.report) {
    v.exit_code = ExitCode::no_verdict;
    v.error = run.error;
    return v;
  }
  const Report& r = *run.report;
  v.exit_code = r.exit_code == ExitCode::usage ? ExitCode::no_verdict : r.exit_code;
  v.summary = r.summary;
  v.duration_ms = r.duration_ms;
  for (const auto& c : r.results) {
    if (c.status == Status::fail) v.failed.push_back(c.id);
    if (c.status == Status::error) v.unevaluated.push_back(c.id);
  }
  v.failure_marker = r.failure_marker;
  if (!r.failure_marker_error.empty()) {
    v.error = fmt::format("the failure marker '{}' could not be written: {}", r.failure_marker,
                          r.failure_marker_error);
  }
  if (!r.history_error.empty()) {
    if (!v.error.empty()) v.error += "; ";
    v.error +=
        fmt::format("cannot record the run in the history {}: {}", r.history, r.history_error);
  }
  return v;
}

}  // namespace

unsigned shard_of(std::string_view scene_id, unsigned count) noexcept {
  if (count == 0) return 0;
  return static_cast<unsigned>(detail::fnv1a64(scene_id) % count);
}

Result<Shard> parse_shard(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return make_error(
        Errc::invalid_argument,
        fmt::format("--shard: expected I/N (e.g. 0/4), found \"{}\"", detail::printable(text, 80)));
  }
  auto index = parse_unsigned(text.substr(0, slash), "--shard I");
  if (!index) return index.error();
  auto count = parse_unsigned(text.substr(slash + 1), "--shard N");
  if (!count) return count.error();
  if (*count == 0 || *index >= *count) {
    return make_error(Errc::invalid_argument,
                      fmt::format("--shard {}/{}: I counts from 0 and must be less than N, N at "
                                  "least 1",
                                  *index, *count));
  }
  return Shard{*index, *count, "--shard"};
}

Result<std::optional<Shard>> shard_from_environment(const EnvLookup& env) {
  auto get = [&](const char* name) { return env ? env(name) : std::nullopt; };
  if (auto task = get("SLURM_ARRAY_TASK_ID")) {
    auto min = get("SLURM_ARRAY_TASK_MIN");
    auto count = get("SLURM_ARRAY_TASK_COUNT");
    if (!min || !count) {
      return make_error(Errc::invalid_argument,
                        "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN or "
                        "SLURM_ARRAY_TASK_COUNT is not; pass --shard I/N");
    }
    auto t = parse_unsigned(*task, "SLURM_ARRAY_TASK_ID");
    if (!t) return t.error();
    auto m = parse_unsigned(*min, "SLURM_ARRAY_TASK_MIN");
    if (!m) return m.error();
    auto n = parse_unsigned(*count, "SLURM_ARRAY_TASK_COUNT");
    if (!n) return n.error();
    if (*t < *m || *n == 0 || *t - *m >= *n) {
      return make_error(
          Errc::invalid_argument,
          fmt::format("Slurm array task {} (min {}, count {}) gives no shard below the count: "
                      "the array must be contiguous (e.g. --array=0-3), or pass --shard I/N",
                      *t, *m, *n));
    }
    return std::optional<Shard>(Shard{*t - *m, *n, "slurm"});
  }
  if (auto index = get("JOB_COMPLETION_INDEX")) {
    auto count = get("STAGECHECK_SHARD_COUNT");
    if (!count) {
      return make_error(Errc::invalid_argument,
                        "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but "
                        "STAGECHECK_SHARD_COUNT is not: set it to the Job's completions");
    }
    auto i = parse_unsigned(*index, "JOB_COMPLETION_INDEX");
    if (!i) return i.error();
    auto n = parse_unsigned(*count, "STAGECHECK_SHARD_COUNT");
    if (!n) return n.error();
    if (*n == 0 || *i >= *n) {
      return make_error(
          Errc::invalid_argument,
          fmt::format("JOB_COMPLETION_INDEX {} is not below STAGECHECK_SHARD_COUNT {}", *i, *n));
    }
    return std::optional<Shard>(Shard{*i, *n, "kubernetes"});
  }
  return std::optional<Shard>();
}

Result<SceneSelection> parse_scene_selection(std::string_view text) {
  SceneSelection sel;
  sel.text = std::string(text);
  if (text == "all") return sel;
  sel.all = false;
  std::vector<std::string_view> items;
  std::string file_text;
  std::string where = "--scenes";
  if (!text.empty() && text.front() == '@') {
    const std::string file(text.substr(1));
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return make_error(Errc::invalid_argument,
                        fmt::format("--scenes @{}: cannot read the file", file));
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    file_text = buf.str();
    where = "--scenes @" + file;
    std::string_view rest = file_text;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      line = trim(line);
      if (line.empty() || line.front() == '#') continue;
      items.push_back(line);
    }
  } else {
    std::string_view rest = text;
    while (true) {
      auto comma = rest.find(',');
      items.push_back(trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  std::set<std::string, std::less<>> seen;
  for (std::string_view id : items) {
    if (auto ok = check_scene_id(id, where); !ok) return ok.error();
    if (seen.insert(std::string(id)).second) sel.ids.emplace_back(id);
  }
  if (sel.ids.empty()) {
    return make_error(Errc::invalid_argument, fmt::format("{}: no scene id given", where));
  }
  return sel;
}

std::string_view SceneVerdict::verdict() const noexcept { return verdict_of(exit_code); }

std::string_view BatchReport::verdict() const noexcept { return verdict_of(exit_code); }

std::vector<std::string> BatchReport::scenes_with(ExitCode code) const {
  std::vector<std::string> ids;
  for (const auto& s : scenes) {
    if (s.exit_code == code) ids.push_back(s.scene_id);
  }
  return ids;
}

ExitCode batch_exit_code(const BatchReport& report) noexcept {
  if (!report.problems.empty()) return ExitCode::no_verdict;
  bool any_fail = false, all_pass = true;
  for (const auto& s : report.scenes) {
    any_fail |= s.exit_code == ExitCode::fail;
    all_pass &= s.exit_code == ExitCode::pass;
  }
  if (any_fail) return ExitCode::fail;
  if (!all_pass || report.scenes.empty() || report.interrupted) return ExitCode::no_verdict;
  return ExitCode::pass;
}

BatchOutcome run_batch(const BatchRequest& request) {
  BatchOutcome out;
  auto refuse = [&](Errc code, std::string message) {
    out.exit_code = ExitCode::usage;
    out.error_code = code;
    out.error = std::move(message);
    return out;
  };
  try {
    if (request.vars.count("scene_id") != 0) {
      return refuse(Errc::invalid_argument,
                    "scene_id is bound to each scene of the batch: do not set it with --var");
    }
    if (request.shard &&
        (request.shard->count == 0 || request.shard->index >= request.shard->count)) {
      return refuse(Errc::invalid_argument,
                    fmt::format("shard {}/{}: the index must be below the count",
                                request.shard->index, request.shard->count));
    }
    Registry registry;
    if (auto ok = register_builtin_checks(registry); !ok)
      return refuse(ok.error().code, ok.error().message);
    PluginLoader loader(registry);
    if (auto ok = loader.load_all(request.plugin_dirs, request.load_default_plugins); !ok) {
      return refuse(ok.error().code, ok.error().message);
    }
    // Validate the spec once, before any scene runs: a spec error (one that declares no
    // scene_id among them) is exit 2 for the batch, not a "no verdict" per scene.
    SpecOptions sopts;
    sopts.registry = &registry;
    sopts.vars = request.vars;
    sopts.vars["scene_id"] = std::string(kPlaceholderScene);
    auto checked = load_spec_file(request.spec_file, sopts);
    if (!checked) return refuse(checked.error().code, checked.error().message);
    const std::string spec_text = read_text(request.spec_file);
    if (fmt::format("{:016x}", detail::fnv1a64(spec_text)) != checked->hash) {
      return refuse(Errc::spec_error, fmt::format("{}: changed while it was being loaded",
                                                  request.spec_file.string()));
    }
    std::unique_ptr<Store> owned;
    Store* store = request.store;
    if (store == nullptr) {
      auto opened = open_store(request.root.string(), request.store_options);
      if (!opened)
        return refuse(opened.error().code, fmt::format("root: {}", opened.error().message));
      owned = std::move(*opened);
      store = owned.get();
    }
    const std::atomic<bool>* cancel = request.options.cancel;
    auto cancelled = [&] { return cancel != nullptr && cancel->load(); };

    BatchReport report;
    report.tool_version = std::string(version());
    report.spec_name = checked->name;
    report.spec_source = request.spec_file.string();
    report.spec_hash = checked->hash;
    report.root = store->describe();
    report.vars = checked->redacted_values();
    report.vars.erase("scene_id");
    report.selection = request.scenes.all ? "all" : request.scenes.text;
    report.shard = request.shard;
    report.started_at = detail::utc_now_rfc3339();
    const auto t0 = std::chrono::steady_clock::now();

    // An explicit list: every id must have a folder before anything runs.
    if (!request.scenes.all) {
      std::vector<std::string> unknown;
      if (request.scenes.ids.size() <= kLookupOneByOne) {
        for (const auto& id : request.scenes.ids) {
          bool found = false;
          auto listed =
              store->list_level(fmt::format("{}/{}", kScenesFolder, id), [&](const ListEntry&) {
                found = true;
                return false;
              });
          if (!listed) {
            out.exit_code = ExitCode::no_verdict;
            out.error_code = listed.error().code;
            out.error = fmt::format("cannot look up scene '{}': {}", id, listed.error().message);
            return out;
          }
          if (!found) unknown.push_back(id);
        }
      } else {
        std::unordered_set<std::string> present;
        std::unordered_set<std::string> wanted(request.scenes.ids.begin(),
                                               request.scenes.ids.end());
        auto listed = store->list_level(kScenesFolder, [&](const ListEntry& e) {
          if (e.is_folder && wanted.count(e.name) != 0) present.insert(e.name);
          return true;
        });
        if (!listed) {
          out.exit_code = ExitCode::no_verdict;
          out.error_code = listed.error().code;
          out.error = fmt::format("cannot list {}/: {}", kScenesFolder, listed.error().message);
          return out;
        }
        for (const auto& id : request.scenes.ids) {
          if (present.count(id) == 0) unknown.push_back(id);
        }
      }
      if (!unknown.empty()) {
        return refuse(Errc::invalid_argument,
                      fmt::format("unknown scene id(s), no folder {}/ID/ under {}: {}",
                                  kScenesFolder, report.root, fmt::join(unknown, ", ")));
      }
    }

    const unsigned jobs = request.scene_jobs != 0
                              ? request.scene_jobs
                              : std::max(1u, std::thread::hardware_concurrency());
    SceneQueue queue(2 * static_cast<std::size_t>(jobs));
    std::mutex results_mu;
    auto run_scene = [&](const std::string& id) {
      RunRequest req;
      req.spec_text = spec_text;
      req.spec_name = request.spec_file.string();
      req.vars = request.vars;
      req.vars["scene_id"] = id;
      req.store = store;
      req.registry = &registry;
      req.options = request.options;
      req.history = request.history;
      const auto start = std::chrono::steady_clock::now();
      const RunOutcome outcome = run_spec(req);
      SceneVerdict v = verdict_from(id, outcome);
      v.duration_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      std::lock_guard lock(results_mu);
      if (request.on_scene_report && outcome.report) request.on_scene_report(*outcome.report);
      if (request.on_scene) request.on_scene(v);
      report.scenes.push_back(std::move(v));
    };
    std::vector<std::thread> workers;
    workers.reserve(jobs);
    for (unsigned i = 0; i < jobs; ++i) {
      workers.emplace_back([&] {
        while (auto id = queue.pop()) {
          if (!cancelled()) run_scene(*id);  // drain without running once interrupted
        }
      });
    }
    SetDigest set;
    auto offer = [&](const std::string& id) {
      if (cancelled()) return false;
      set.add(id);
      if (!request.shard || shard_of(id, request.shard->count) == request.shard->index) {
        queue.push(id);
      }
      return true;
    };
    if (request.scenes.all) {
      auto listed = store->list_level(
          kScenesFolder, [&](const ListEntry& e) { return !e.is_folder || offer(e.name); });
      if (!listed) {
        report.problems.push_back(
            fmt::format("listing {}/ failed: {}", kScenesFolder, listed.error().message));
      }
    } else {
      for (const auto& id : request.scenes.ids) {
        if (!offer(id)) break;
      }
    }
    queue.close();
    for (auto& w : workers) w.join();

    report.interrupted = cancelled();
    report.set_count = set.count;
    report.set_digest = set.hex();
    std::sort(report.scenes.begin(), report.scenes.end(),
              [](const SceneVerdict& a, const SceneVerdict& b) { return a.scene_id < b.scene_id; });
    if (set.count == 0 && report.problems.empty()) {
      report.message =
          fmt::format("no scene found: {} holds no folder {}/ID/", report.root, kScenesFolder);
    } else if (report.scenes.empty() && request.shard && !report.interrupted) {
      report.message = fmt::format(
          "shard {}/{} holds none of the {} scene(s) found: nothing was validated here (the "
          "merged report decides)",
          request.shard->index, request.shard->count, set.count);
    }
    report.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    report.exit_code = batch_exit_code(report);
    out.exit_code = report.exit_code;
    out.report = std::move(report);
    return out;
  } catch (const std::exception& e) {
    out.exit_code = ExitCode::no_verdict;
    out.error_code = Errc::internal;
    out.error = fmt::format("internal error: {}", e.what());
    out.report.reset();
    return out;
  }
}

nlohmann::json batch_report_to_json(const BatchReport& report) {
  using nlohmann::json;
  json scenes = json::array();
  std::size_t counts[4] = {0, 0, 0, 0};
  Summary checks;
  for (const auto& s : report.scenes) {
    ++counts[static_cast<int>(s.exit_code) & 3];
    checks.total += s.summary.total;
    checks.pass += s.summary.pass;
    checks.fail += s.summary.fail;
    checks.warn += s.summary.warn;
    checks.skipped += s.summary.skipped;
    checks.blocked += s.summary.blocked;
    checks.error += s.summary.error;
    json e = {{"scene_id", s.scene_id},
              {"verdict", s.verdict()},
              {"exit_code", static_cast<int>(s.exit_code)},
              {"summary",
               {{"total", s.summary.total},
                {"pass", s.summary.pass},
                {"fail", s.summary.fail},
                {"warn", s.summary.warn},
                {"skipped", s.summary.skipped},
                {"blocked", s.summary.blocked},
                {"error", s.summary.error}}},
              {"failed", s.failed},
              {"unevaluated", s.unevaluated},
              {"duration_ms", s.duration_ms}};
    if (!s.error.empty()) e["error"] = s.error;
    if (!s.failure_marker.empty()) e["failure_marker"] = s.failure_marker;
    scenes.push_back(std::move(e));
  }
  json shard = nullptr;
  if (report.shard) {
    shard = {{"index", report.shard->index},
             {"count", report.shard->count},
             {"source", report.shard->source}};
  }
  json j = {
      {"report_version", Report::kReportVersion},
      {"kind", "batch"},
      {"tool", {{"name", "stagecheck"}, {"version", report.tool_version}}},
      {"spec",
       {{"name", report.spec_name}, {"source", report.spec_source}, {"hash", report.spec_hash}}},
      {"root", report.root},
      {"vars", report.vars},
      {"selection", report.selection},
      {"shard", shard},
      {"scene_set", {{"count", report.set_count}, {"digest", report.set_digest}}},
      {"started_at", report.started_at},
      {"duration_ms", report.duration_ms},
      {"verdict", report.verdict()},
      {"exit_code", static_cast<int>(report.exit_code)},
      {"interrupted", report.interrupted},
      {"message", report.message},
      {"summary",
       {{"scenes", report.scenes.size()},
        {"pass", counts[0]},
        {"fail", counts[1]},
        {"no_verdict", counts[3] + counts[2]},
        {"checks",
         {{"total", checks.total},
          {"pass", checks.pass},
          {"fail", checks.fail},
          {"warn", checks.warn},
          {"skipped", checks.skipped},
          {"blocked", checks.blocked},
          {"error", checks.error}}}}},
      {"failing_scenes", report.scenes_with(ExitCode::fail)},
      {"unevaluated_scenes", report.scenes_with(ExitCode::no_verdict)},
      {"problems", report.problems},
      {"scenes", std::move(scenes)}};
  if (!report.merged_from.empty()) {
    json from = json::array();
    for (const auto& m : report.merged_from) {
      json sh = nullptr;
      if (m.shard) sh = {{"index", m.shard->index}, {"count", m.shard->count}};
      from.push_back({{"source", m.source},
                      {"shard", sh},
                      {"exit_code", static_cast<int>(m.exit_code)},
                      {"scenes", m.scenes}});
    }
    j["merged_from"] = std::move(from);
  }
  return j;
}

namespace {

// Reads typed fields of a batch report; the first error names the source and the field.
class FieldReader {
 public:
  explicit FieldReader(std::string_view source) : source_(source) {}
  template <class T>
  T get(const nlohmann::json& obj, const char* key, const std::string& where) {
    if (!error_.empty()) return T{};
    auto it = obj.find(key);
    if (!obj.is_object() || it == obj.end()) {
      fail(fmt::format("{}{} is missing", where, key));
      return T{};
    }
    try {
      return it->get<T>();
    } catch (const std::exception&) {
      fail(fmt::format("{}{} has the wrong type ({})", where, key, it->type_name()));
      return T{};
    }
  }
  void fail(const std::string& what) {
    if (error_.empty())
      error_ = fmt::format("{}: not a stagecheck batch report: {}", source_, what);
  }
  const std::string& error() const { return error_; }

 private:
  std::string source_;
  std::string error_;
};

std::optional<Shard> shard_from_json(FieldReader& f, const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  Shard s;
  s.index = f.get<unsigned>(j, "index", "shard.");
  s.count = f.get<unsigned>(j, "count", "shard.");
  if (j.contains("source")) s.source = f.get<std::string>(j, "source", "shard.");
  if (f.error().empty() && (s.count == 0 || s.index >= s.count))
    f.fail("shard.index is not below shard.count");
  return s;
}

}  // namespace

Result<BatchReport> batch_report_from_json(const nlohmann::json& j, std::string_view source) {
  FieldReader f(source);
  BatchReport r;
  if (!j.is_object() || j.value("kind", "") != "batch") {
    f.fail("\"kind\": \"batch\" is missing (a single-scene report?)");
  }
  if (f.error().empty() && j.value("report_version", 0) != Report::kReportVersion) {
    f.fail(fmt::format("report_version {} (expected {})", j.value("report_version", 0),
                       Report::kReportVersion));
  }
  const auto spec = f.get<nlohmann::json>(j, "spec", "");
  r.spec_name = f.get<std::string>(spec, "name", "spec.");
  r.spec_source = f.get<std::string>(spec, "source", "spec.");
  r.spec_hash = f.get<std::string>(spec, "hash", "spec.");
  if (const auto tool = f.get<nlohmann::json>(j, "tool", ""); tool.is_object()) {
    r.tool_version = tool.value("version", "");
  }
  r.root = f.get<std::string>(j, "root", "");
  r.vars = f.get<nlohmann::json>(j, "vars", "");
  r.selection = f.get<std::string>(j, "selection", "");
  r.shard = shard_from_json(f, f.get<nlohmann::json>(j, "shard", ""));
  const auto set = f.get<nlohmann::json>(j, "scene_set", "");
  r.set_count = f.get<std::size_t>(set, "count", "scene_set.");
  r.set_digest = f.get<std::string>(set, "digest", "scene_set.");
  r.started_at = f.get<std::string>(j, "started_at", "");
  r.duration_ms = f.get<double>(j, "duration_ms", "");
  r.interrupted = f.get<bool>(j, "interrupted", "");
  r.message = f.get<std::string>(j, "message", "");
  r.problems = f.get<std::vector<std::string>>(j, "problems", "");
  const int code = f.get<int>(j, "exit_code", "");
  r.exit_code = code == 0 ? ExitCode::pass : code == 1 ? ExitCode::fail : ExitCode::no_verdict;
  const auto scenes = f.get<nlohmann::json>(j, "scenes", "");
  if (f.error().empty() && !scenes.is_array()) f.fail("scenes is not an array");
  for (std::size_t i = 0; f.error().empty() && i < scenes.size(); ++i) {
    const auto& e = scenes[i];
    const std::string at = fmt::format("scenes[{}].", i);
    SceneVerdict v;
    v.scene_id = f.get<std::string>(e, "scene_id", at);
    const int sc = f.get<int>(e, "exit_code", at);
    v.exit_code = sc == 0 ? ExitCode::pass : sc == 1 ? ExitCode::fail : ExitCode::no_verdict;
    const auto sum = f.get<nlohmann::json>(e, "summary", at);
    v.summary.total = f.get<std::size_t>(sum, "total", at + "summary.");
    v.summary.pass = f.get<std::size_t>(sum, "pass", at + "summary.");
    v.summary.fail = f.get<std::size_t>(sum, "fail", at + "summary.");
    v.summary.warn = f.get<std::size_t>(sum, "warn", at + "summary.");
    v.summary.skipped = f.get<std::size_t>(sum, "skipped", at + "summary.");
    v.summary.blocked = f.get<std::size_t>(sum, "blocked", at + "summary.");
    v.summary.error = f.get<std::size_t>(sum, "error", at + "summary.");
    v.failed = f.get<std::vector<std::string>>(e, "failed", at);
    v.unevaluated = f.get<std::vector<std::string>>(e, "unevaluated", at);
    v.duration_ms = f.get<double>(e, "duration_ms", at);
    if (e.is_object()) {
      v.error = e.value("error", "");
      v.failure_marker = e.value("failure_marker", "");
    }
    r.scenes.push_back(std::move(v));
  }
  if (!f.error().empty()) return make_error(Errc::malformed, f.error());
  return r;
}

BatchReport merge_batch_reports(const std::vector<MergeInput>& inputs) {
  BatchReport merged;
  merged.tool_version = std::string(version());
  merged.started_at = detail::utc_now_rfc3339();
  // The reference: the most common (spec hash, shard count, selection, vars, scene set) among
  // the readable reports; the others are foreign.
  auto key_of = [](const BatchReport& r) {
    return fmt::format("{}|{}|{}|{}|{}|{}", r.spec_hash, r.shard ? r.shard->count : 1, r.selection,
                       r.vars.dump(), r.set_count, r.set_digest);
  };
  std::map<std::string, std::size_t> votes;
  std::string best;
  for (const auto& in : inputs) {
    if (!in.report) continue;
    const std::string k = key_of(*in.report);
    if (++votes[k] > votes[best] || best.empty()) best = k;
  }
  const BatchReport* ref = nullptr;
  for (const auto& in : inputs) {
    if (in.report && key_of(*in.report) == best) {
      ref = &*in.report;
      break;
    }
  }
  if (ref == nullptr) {
    for (const auto& in : inputs) merged.problems.push_back(in.error);
    if (inputs.empty()) merged.problems.push_back("no shard report given");
    merged.exit_code = batch_exit_code(merged);
    return merged;
  }
  merged.spec_name = ref->spec_name;
  merged.spec_source = ref->spec_source;
  merged.spec_hash = ref->spec_hash;
  merged.root = ref->root;
  merged.vars = ref->vars;
  merged.selection = ref->selection;
  merged.set_count = ref->set_count;
  merged.set_digest = ref->set_digest;
  const unsigned count = ref->shard ? ref->shard->count : 1;

  auto describe_foreign = [&](const BatchReport& r) {
    std::vector<std::string> diffs;
    if (r.spec_hash != ref->spec_hash)
      diffs.push_back(fmt::format("spec hash {} (expected {})", r.spec_hash, ref->spec_hash));
    const unsigned n = r.shard ? r.shard->count : 1;
    if (n != count) diffs.push_back(fmt::format("shard count {} (expected {})", n, count));
    if (r.selection != ref->selection)
      diffs.push_back(fmt::format("scenes \"{}\" (expected \"{}\")", r.selection, ref->selection));
    if (r.vars != ref->vars) diffs.push_back("other variables");
    if (r.set_count != ref->set_count || r.set_digest != ref->set_digest) {
      diffs.push_back(fmt::format("another scene set ({} scenes, digest {}; expected {}, {})",
                                  r.set_count, r.set_digest, ref->set_count, ref->set_digest));
    }
    return fmt::format("{}", fmt::join(diffs, ", "));
  };

  std::map<unsigned, std::string> index_source;
  std::map<std::string, std::string> scene_source;
  SetDigest seen;
  for (const auto& in : inputs) {
    if (!in.report) {
      merged.problems.push_back(in.error);
      continue;
    }
    const BatchReport& r = *in.report;
    if (key_of(r) != best) {
      merged.problems.push_back(
          fmt::format("{}: foreign shard: {}", in.source, describe_foreign(r)));
      continue;
    }
    const unsigned index = r.shard ? r.shard->index : 0;
    if (auto [it, fresh] = index_source.emplace(index, in.source); !fresh) {
      merged.problems.push_back(fmt::format("{}: duplicated shard {}/{} (also in {})", in.source,
                                            index, count, it->second));
      continue;
    }
    merged.merged_from.push_back({in.source, r.shard, r.exit_code, r.scenes.size()});
    merged.interrupted |= r.interrupted;
    merged.duration_ms = std::max(merged.duration_ms, r.duration_ms);
    for (const auto& p : r.problems) merged.problems.push_back(fmt::format("{}: {}", in.source, p));
    for (const auto& s : r.scenes) {
      if (shard_of(s.scene_id, count) != index) {
        merged.problems.push_back(fmt::format("{}: scene '{}' belongs to shard {}/{}, not {}/{}",
                                              in.source, s.scene_id, shard_of(s.scene_id, count),
                                              count, index, count));
        continue;
      }
      if (auto [it, fresh] = scene_source.emplace(s.scene_id, in.source); !fresh) {
        merged.problems.push_back(
            fmt::format("{}: scene '{}' is also in {}", in.source, s.scene_id, it->second));
        continue;
      }
      seen.add(s.scene_id);
      merged.scenes.push_back(s);
    }
  }
  for (unsigned i = 0; i < count; ++i) {
    if (index_source.count(i) == 0) {
      merged.problems.push_back(fmt::format("shard {}/{} is missing", i, count));
    }
  }
  const bool complete_shards = merged.problems.empty() && !merged.interrupted;
  if (complete_shards && (seen.count != merged.set_count || seen.hex() != merged.set_digest)) {
    merged.problems.push_back(fmt::format(
        "the shards hold {} scene(s) but found {}: the scene set is not covered exactly",
        seen.count, merged.set_count));
  }
  std::sort(merged.scenes.begin(), merged.scenes.end(),
            [](const SceneVerdict& a, const SceneVerdict& b) { return a.scene_id < b.scene_id; });
  if (merged.set_count == 0 && merged.problems.empty()) {
    merged.message =
        fmt::format("no scene found: {} holds no folder {}/ID/", merged.root, kScenesFolder);
  }
  merged.exit_code = batch_exit_code(merged);
  return merged;
}

}  // namespace stagecheck
