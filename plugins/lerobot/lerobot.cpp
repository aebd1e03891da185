// `lerobot_bundle`: validates a LeRobot v2-style bundle as the scene pipeline's exporter writes
// it (pipeline-artifacts.md sections 7, 8 and 12): meta/info.json, meta/episodes.jsonl,
// meta/tasks.jsonl, meta/stats.json, one Parquet file per episode and one video per episode
// and camera feature. Every problem is collected, file by file, so one run names every
// corruption; the check passes only when nothing was found and everything could be read.

#include <stagecheck/parallel.hpp>
#include <stagecheck/plugin.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "parquet_footer.hpp"

namespace stagecheck::lerobot {
namespace {

/// Problems kept in details (all are counted).
constexpr std::size_t kMaxKept = 1000;
/// Problems named in the message.
constexpr std::size_t kMaxInMessage = 20;
/// Longest text quoted from the data in a message.
constexpr std::size_t kMaxShown = 200;
/// Most threads one check uses, whatever --jobs says.
constexpr unsigned kMaxJobs = 64;
/// Streaming block for JSON Lines and video headers.
constexpr std::size_t kBlock = 1u << 16;
constexpr std::int64_t kDefaultMaxFooter = 64ll << 20;
constexpr std::int64_t kMaxMaxFooter = 1ll << 30;

/// What a problem is about. The order is the severity order used to pick the result's code.
enum class Kind : std::size_t {
  mock,
  data_quality,
  missing_file,
  parquet,
  row_count,
  non_finite,
  totals,
  frames,
  task,
  tier,
  lineage,
  meta,
  count_,
};
constexpr std::size_t kKinds = static_cast<std::size_t>(Kind::count_);
constexpr std::array<const char*, kKinds> kKindNames = {
    "mock",   "data_quality", "missing_file", "parquet", "row_count", "non_finite",
    "totals", "frames",       "task",         "tier",    "lineage",   "meta"};
constexpr std::array<const char*, kKinds> kKindCodes = {
    "lerobot_mock_data",       "lerobot_data_quality",       "lerobot_missing_files",
    "lerobot_parquet_invalid", "lerobot_row_count_mismatch", "lerobot_non_finite",
    "lerobot_totals_mismatch", "lerobot_frames_mismatch",    "lerobot_task_missing",
    "lerobot_tier_mismatch",   "lerobot_lineage_missing",    "lerobot_meta_invalid"};

/// Text from the data, safe for a message: control bytes, quotes, backslashes and non-ASCII
/// bytes escaped, long text cut.
std::string printable(std::string_view text) {
  std::string out;
  std::size_t n = 0;
  for (char c : text) {
    if (n++ == kMaxShown) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out;
}

/// "the string \"x\"", "the number 3", "null", ... for "found ..." in messages.
std::string describe(const nlohmann::json* v) {
  if (v == nullptr) return "nothing (missing)";
  if (v->is_string()) return fmt::format("the string \"{}\"", printable(v->get<std::string>()));
  if (v->is_null()) return "null";
  if (v->is_boolean()) return v->get<bool>() ? "true" : "false";
  if (v->is_number()) return fmt::format("the number {}", v->dump());
  std::string dump = v->dump();
  return fmt::format("{} {}", v->type_name(), printable(dump));
}

std::string join_path(const std::string& root, std::string_view rel) {
  return root.empty() ? std::string(rel) : root + "/" + std::string(rel);
}

/// An error message, safe for a report: control and non-ASCII bytes escaped (quotes kept: the
/// message is ours, any data inside it was quoted with printable() where it was written).
std::string sanitize(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

/// An error message without its leading "<path>: " or "<path> " (the problem names the path).
std::string without_path(const std::string& message, const std::string& path) {
  if (!path.empty() && message.size() > path.size() + 1 &&
      message.compare(0, path.size(), path) == 0) {
    if (message[path.size()] == ':' && message.size() > path.size() + 2) {
      return message.substr(path.size() + 2);
    }
    if (message[path.size()] == ' ') return message.substr(path.size() + 1);
  }
  return message;
}

/// One problem found.
struct Problem {
  Kind kind = Kind::meta;
  std::string path;     ///< Store path of the artifact.
  std::string message;  ///< Field, expected, found.
};

/// Every problem, counted by kind; the first kMaxKept kept.
struct Problems {
  std::array<std::uint64_t, kKinds> counts{};
  std::uint64_t total = 0;
  std::vector<Problem> kept;
  std::uint64_t unreadable = 0;  ///< Permission or I/O errors: no verdict.
  std::vector<Problem> unreadable_kept;

  void add(Kind kind, std::string path, std::string message) {
    ++counts[static_cast<std::size_t>(kind)];
    ++total;
    if (kept.size() < kMaxKept) kept.push_back({kind, std::move(path), std::move(message)});
  }
  void add_unreadable(std::string path, std::string message) {
    ++unreadable;
    if (unreadable_kept.size() < kMaxKept) {
      unreadable_kept.push_back({Kind::meta, std::move(path), std::move(message)});
    }
  }
  /// A store or parse error for `path`: a failure, or no verdict for permission/I/O errors.
  void add_error(Kind kind, const std::string& path, const Error& e) {
    if (status_for(e.code) == Status::fail) {
      add(kind, path, sanitize(without_path(e.message, path)));
    } else {
      add_unreadable(path, sanitize(without_path(e.message, path)));
    }
  }
};

/// An integer field: the value if it is a JSON integer (not a float, not a string).
std::optional<std::int64_t> as_int(const nlohmann::json* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (v->is_number_integer()) return v->get<std::int64_t>();
  return std::nullopt;
}

const nlohmann::json* member(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

/// A dotted path into nested objects ("lineage.sim_backend.build_id"); nullptr if absent.
const nlohmann::json* lookup(const nlohmann::json& doc, std::string_view dotted) {
  const nlohmann::json* cur = &doc;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = dotted.find('.', start);
    const std::string_view key =
        dotted.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    cur = member(*cur, key);
    if (cur == nullptr || dot == std::string_view::npos) return cur;
    start = dot + 1;
  }
}

/// Expands a Python format template such as
/// "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet": `{name}` or
/// `{name:0Nd}` / `{name:d}` for integers, `{name}` for strings, `{{` and `}}` literal.
Result<std::string> expand_template(std::string_view tmpl,
                                    const std::map<std::string, std::int64_t, std::less<>>& ints,
                                    const std::map<std::string, std::string, std::less<>>& strs) {
  std::string out;
  auto bad = [&](const std::string& why) {
    return make_error(Errc::malformed, fmt::format("template \"{}\": {}", printable(tmpl), why));
  };
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if (c == '}') {
      if (i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      return bad("unmatched '}'");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const std::size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos) return bad("unclosed '{'");
    const std::string_view field = tmpl.substr(i + 1, close - i - 1);
    const std::size_t colon = field.find(':');
    const std::string_view name = field.substr(0, colon);
    const std::string_view spec =
        colon == std::string_view::npos ? std::string_view() : field.substr(colon + 1);
    i = close;
    if (auto s = strs.find(name); s != strs.end()) {
      if (!spec.empty() && spec != "s") {
        return bad(fmt::format("format \"{}\" for string field {}", printable(spec), name));
      }
      out += s->second;
      continue;
    }
    auto n = ints.find(name);
    if (n == ints.end()) return bad(fmt::format("unknown field \"{}\"", printable(name)));
    std::size_t width = 0;
    bool zero = false;
    if (!spec.empty()) {
      std::string_view w = spec;
      if (w.back() != 'd') {
        return bad(fmt::format("format \"{}\" (expected d, 0Nd or Nd)", printable(spec)));
      }
      w.remove_suffix(1);
      if (!w.empty() && w.front() == '0') {
        zero = true;
        w.remove_prefix(1);
      }
      if (w.size() > 2 ||
          !std::all_of(w.begin(), w.end(), [](char d) { return d >= '0' && d <= '9'; })) {
        return bad(fmt::format("format \"{}\" (expected d, 0Nd or Nd)", printable(spec)));
      }
      for (char d : w) width = width * 10 + static_cast<std::size_t>(d - '0');
    }
    std::string digits = fmt::format("{}", n->second);
    if (digits.size() < width) digits.insert(0, width - digits.size(), zero ? '0' : ' ');
    out += digits;
  }
  if (Result<void> valid = validate_store_path(out); !valid) {
    return bad(fmt::format("expands to \"{}\", not a valid store path: {}", printable(out),
                           valid.error().message));
  }
  return out;
}

/// Streams a JSON Lines object line by line (never the whole object in memory): `fn(line_no,
/// doc)` for each non-blank line that parses, `on_bad(line_no, message)` for one that does not.
/// Returns the store's error, or Errc::too_large for a line longer than `max_line`.
Result<void> stream_jsonl(const Store& store, const std::string& path, const LoadLimits& limits,
                          const std::function<void(std::size_t, const nlohmann::json&)>& fn,
                          const std::function<void(std::size_t, const std::string&)>& on_bad) {
  Result<std::unique_ptr<Reader>> reader = store.open(path);
  if (!reader) return reader.error();
  std::string pending;
  std::size_t line_no = 0;
  auto handle = [&](std::string_view line) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;
    Result<nlohmann::json> doc = parse_json(line, fmt::format("{} line {}", path, line_no), limits);
    if (!doc) {
      on_bad(line_no, doc.error().message);
      return;
    }
    fn(line_no, *doc);
  };
  std::vector<char> block(kBlock);
  for (;;) {
    Result<std::size_t> got = (*reader)->read(block.data(), block.size());
    if (!got) return got.error();
    if (*got == 0) break;
    std::string_view chunk(block.data(), *got);
    for (;;) {
      const std::size_t nl = chunk.find('\n');
      if (nl == std::string_view::npos) {
        pending.append(chunk);
        break;
      }
      if (pending.empty()) {
        handle(chunk.substr(0, nl));
      } else {
        pending.append(chunk.substr(0, nl));
        handle(pending);
        pending.clear();
      }
      chunk.remove_prefix(nl + 1);
    }
    if (pending.size() > limits.max_bytes) {
      return make_error(Errc::too_large, fmt::format("{}: line {} is longer than {} bytes", path,
                                                     line_no + 1, limits.max_bytes));
    }
  }
  if (!pending.empty()) handle(pending);
  return {};
}

/// Scans JSON text outside strings for the tokens Python's json module writes for non-finite
/// floats (NaN, Infinity, -Infinity), which strict JSON refuses; returns the first's offset.
std::optional<std::pair<std::size_t, std::string>> find_non_finite_token(std::string_view text) {
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    for (std::string_view token : {"NaN", "-Infinity", "Infinity"}) {
      if (text.substr(i, token.size()) == token) return std::make_pair(i, std::string(token));
    }
  }
  return std::nullopt;
}

/// Every string leaf that spells a non-finite number ("nan", "inf", "-Infinity"...), and every
/// number that is not finite, with its JSON path.
void find_non_finite_values(const nlohmann::json& v, const std::string& where,
                            std::vector<std::string>& out, int depth = 0) {
  if (depth > 64 || out.size() >= 20) return;
  if (v.is_number_float()) {
    if (!std::isfinite(v.get<double>())) out.push_back(fmt::format("{} is {}", where, v.dump()));
  } else if (v.is_string()) {
    std::string s = v.get<std::string>();
    std::string lower;
    for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!lower.empty() && (lower.front() == '-' || lower.front() == '+')) lower.erase(0, 1);
    if (lower == "nan" || lower == "inf" || lower == "infinity") {
      out.push_back(fmt::format("{} is the string \"{}\"", where, printable(s)));
    }
  } else if (v.is_object()) {
    for (const auto& [k, child] : v.items()) {
      find_non_finite_values(child, where.empty() ? k : where + "." + k, out, depth + 1);
    }
  } else if (v.is_array()) {
    std::size_t i = 0;
    for (const auto& child : v) {
      find_non_finite_values(child, fmt::format("{}[{}]", where, i++), out, depth + 1);
    }
  }
}

/// A number, or a non-empty (nested) list of numbers only: what a stats entry must be.
bool all_numbers(const nlohmann::json& v, int depth = 0) {
  if (v.is_number()) return true;
  if (!v.is_array() || v.empty() || depth > 8) return false;
  return std::all_of(v.begin(), v.end(),
                     [&](const nlohmann::json& x) { return all_numbers(x, depth + 1); });
}

/// Every `is_mock` key anywhere in a document that is not exactly false.
void find_mock_flags(const nlohmann::json& v, const std::string& where,
                     std::vector<std::string>& out, int depth = 0) {
  if (depth > 64) return;
  if (v.is_object()) {
    for (const auto& [k, child] : v.items()) {
      const std::string path = where.empty() ? k : where + "." + k;
      if (k == "is_mock" && !(child.is_boolean() && !child.get<bool>())) {
        out.push_back(fmt::format("{} is {} (expected false)", path, describe(&child)));
      }
      find_mock_flags(child, path, out, depth + 1);
    }
  } else if (v.is_array()) {
    std::size_t i = 0;
    for (const auto& child : v)
      find_mock_flags(child, fmt::format("{}[{}]", where, i++), out, depth + 1);
  }
}

/// features.<key>.dtype of info.json (feature keys hold dots, so no dotted lookup).
const nlohmann::json* lookup_feature_dtype(const nlohmann::json& info, const std::string& key) {
  const nlohmann::json* features = member(info, "features");
  const nlohmann::json* f = features == nullptr ? nullptr : member(*features, key);
  return f == nullptr ? nullptr : member(*f, "dtype");
}

/// The min (or max) statistic of an INT32/INT64 column chunk, if it has one.
std::optional<std::int64_t> int_statistic(const ColumnChunk& chunk, bool max) {
  if (!chunk.statistics) return std::nullopt;
  const Statistics& s = *chunk.statistics;
  const std::optional<std::string>& v =
      max ? (s.max_value ? s.max_value : s.max) : (s.min_value ? s.min_value : s.min);
  if (!v) return std::nullopt;
  const bool i64 = chunk.type == static_cast<std::int32_t>(PhysicalType::int64);
  const bool i32 = chunk.type == static_cast<std::int32_t>(PhysicalType::int32);
  if (!(i64 && v->size() == 8) && !(i32 && v->size() == 4)) return std::nullopt;
  std::uint64_t bits = 0;
  for (std::size_t i = v->size(); i-- > 0;) {
    bits = (bits << 8) | static_cast<unsigned char>((*v)[i]);
  }
  if (i32)
    return static_cast<std::int64_t>(static_cast<std::int32_t>(static_cast<std::uint32_t>(bits)));
  return static_cast<std::int64_t>(bits);
}

/// One row of meta/episodes.jsonl, as far as it could be read.
struct Episode {
  std::size_t line = 0;
  std::optional<std::int64_t> index;
  std::optional<std::int64_t> length;
};

/// What the per-episode file checks found.
struct EpisodeResult {
  std::vector<Problem> problems;
  std::vector<Problem> unreadable;
  std::uint64_t rows = 0;
  bool parquet_ok = false;
  std::uint64_t videos_ok = 0;
  bool have_columns = false;
  std::set<std::string> columns;  ///< Top-level field names of the Parquet schema.
};

/// The typed configuration.
struct Config {
  std::optional<PathTemplate> root;
  std::vector<std::string> required_lineage;
  bool require_videos = true;
  std::uint64_t max_footer_bytes = static_cast<std::uint64_t>(kDefaultMaxFooter);
  std::string expected_tier;
  bool require_production_quality = true;
  std::vector<std::string> allowed_sensor_sources;
  std::vector<std::string> allowed_validation_types;
  bool require_frame_counts = true;
  std::vector<std::string> required_stats;
  std::int64_t min_episodes = 1;
  bool check_feature_columns = true;
  bool require_float_statistics = true;
};

/// The features each tier adds (section 12); a tier holds those of the tiers below it too.
struct TierFeatures {
  std::vector<std::string> fixed;       ///< Feature keys.
  std::vector<std::string> per_camera;  ///< Prefixes completed by ".<camera>".
};
const std::map<std::string, TierFeatures, std::less<>>& tier_table() {
  static const std::map<std::string, TierFeatures, std::less<>> table = {
      {"core",
       {{"observation.state", "observation.gripper_position", "observation.ee_position", "action"},
        {"observation.images"}}},
      {"plus",
       {{"ground_truth.bboxes_2d", "ground_truth.bboxes_3d"},
        {"observation.depth", "observation.segmentation"}}},
      {"full",
       {{"ground_truth.object_poses", "ground_truth.contacts", "ground_truth.privileged_state"},
        {}}},
  };
  return table;
}
const std::vector<std::string> kTierOrder = {"core", "plus", "full"};

class LerobotBundleCheck final : public Check {
 public:
  explicit LerobotBundleCheck(Config config) : c_(std::move(config)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    std::string root;
    if (c_.root) {
      Result<std::string> resolved = ctx.resolve(*c_.root);
      if (!resolved) return CheckOutcome::from(resolved.error());
      root = *resolved;
      while (!root.empty() && root.back() == '/') root.pop_back();
      if (root == ".") root.clear();
    }
    State s(ctx, root);
    s.run(c_);
    return s.conclude(c_);
  }

 private:
  /// One evaluation: what was read and found so far.
  struct State {
    State(CheckContext& context, std::string bundle_root)
        : ctx(context), root(std::move(bundle_root)) {}

    CheckContext& ctx;
    std::string root;
    Problems problems;
    std::shared_ptr<const nlohmann::json> info;
    std::vector<Episode> episodes;
    std::size_t episode_lines = 0;
    std::map<std::int64_t, std::string> tasks;  ///< task_index -> task
    std::set<std::string> task_texts;
    std::size_t task_lines = 0;
    bool tasks_read = false;
    std::uint64_t frames = 0;
    std::uint64_t parquet_ok = 0, parquet_rows = 0, videos_ok = 0;
    std::string tier;

    std::string path(std::string_view rel) const { return join_path(root, rel); }

    void run(const Config& c) {
      read_info();
      read_tasks();
      read_episodes(c);
      read_stats(c);
      if (info) {
        check_info(c);
        check_totals();
      }
      check_files(c);
    }

    // ---- meta/info.json -------------------------------------------------------------------

    void read_info() {
      const std::string p = path("meta/info.json");
      Result<std::shared_ptr<const nlohmann::json>> doc = ctx.load_path(p, Format::json);
      if (!doc) {
        problems.add_error(doc.error().code == Errc::not_found ? Kind::missing_file : Kind::meta, p,
                           doc.error());
        return;
      }
      if (!(*doc)->is_object()) {
        problems.add(Kind::meta, p,
                     fmt::format("the document is {}, expected an object", (*doc)->type_name()));
        return;
      }
      info = *doc;
    }

    /// An integer field of info.json that must be present; reports and returns nullopt if not.
    std::optional<std::int64_t> info_int(std::string_view key, Kind kind, std::int64_t min,
                                         std::string_view why) {
      const nlohmann::json* v = member(*info, key);
      std::optional<std::int64_t> n = as_int(v);
      if (!n || *n < min) {
        problems.add(kind, path("meta/info.json"),
                     fmt::format("{}: expected an integer >= {} ({}), found {}", key, min, why,
                                 describe(v)));
        return std::nullopt;
      }
      return n;
    }

    // ---- meta/tasks.jsonl -----------------------------------------------------------------

    void read_tasks() {
      const std::string p = path("meta/tasks.jsonl");
      ctx.record_artifact(p);
      std::set<std::int64_t> seen;
      Result<void> r = stream_jsonl(
          ctx.store(), p, ctx.limits(),
          [&](std::size_t line, const nlohmann::json& doc) {
            ++task_lines;
            const std::string where = fmt::format("line {}", line);
            const nlohmann::json* idx = member(doc, "task_index");
            const nlohmann::json* text = member(doc, "task");
            std::optional<std::int64_t> n = as_int(idx);
            bool ok = true;
            if (!doc.is_object()) {
              problems.add(Kind::task, p,
                           fmt::format("{}: expected an object, found {}", where, describe(&doc)));
              return;
            }
            if (!n || *n < 0) {
              problems.add(Kind::task, p,
                           fmt::format("{}: task_index: expected an integer >= 0, found {}", where,
                                       describe(idx)));
              ok = false;
            } else if (!seen.insert(*n).second) {
              problems.add(Kind::task, p,
                           fmt::format("{}: task_index {} appears twice", where, *n));
              ok = false;
            }
            if (text == nullptr || !text->is_string() ||
                text->get<std::string>().find_first_not_of(" \t\r\n") == std::string::npos) {
              problems.add(Kind::task, p,
                           fmt::format("{}: task: expected a non-empty string, found {}", where,
                                       describe(text)));
              ok = false;
            } else {
              task_texts.insert(text->get<std::string>());
            }
            if (ok) tasks[*n] = text->get<std::string>();
          },
          [&](std::size_t, const std::string& message) {
            ++task_lines;
            problems.add(Kind::meta, p, sanitize(without_path(message, p)));
          });
      if (!r) {
        problems.add_error(r.error().code == Errc::not_found ? Kind::missing_file : Kind::meta, p,
                           r.error());
        return;
      }
      tasks_read = true;
      if (task_lines == 0) {
        problems.add(Kind::task, p, "lists no tasks (expected at least one line)");
      }
    }

    // ---- meta/episodes.jsonl --------------------------------------------------------------

    void read_episodes(const Config& c) {
      const std::string p = path("meta/episodes.jsonl");
      ctx.record_artifact(p);
      std::map<std::int64_t, std::size_t> seen;  // index -> line
      Result<void> r = stream_jsonl(
          ctx.store(), p, ctx.limits(),
          [&](std::size_t line, const nlohmann::json& doc) {
            ++episode_lines;
            check_episode(c, p, line, doc, seen);
          },
          [&](std::size_t, const std::string& message) {
            ++episode_lines;
            problems.add(Kind::meta, p, sanitize(without_path(message, p)));
          });
      if (!r) {
        problems.add_error(r.error().code == Errc::not_found ? Kind::missing_file : Kind::meta, p,
                           r.error());
        return;
      }
      if (static_cast<std::int64_t>(episode_lines) < c.min_episodes) {
        problems.add(
            Kind::totals, p,
            fmt::format("lists {} episodes, expected at least {}", episode_lines, c.min_episodes));
      }
      // Indices must be 0..n-1: LeRobot addresses episodes by index.
      std::int64_t expect = 0;
      for (const auto& [index, line] : seen) {
        if (index != expect) {
          problems.add(
              Kind::totals, p,
              fmt::format("episode_index {} is missing (indices must run from 0 to {} "
                          "without gaps; line {} has {})",
                          expect, episode_lines == 0 ? 0 : episode_lines - 1, line, index));
          break;
        }
        ++expect;
      }
    }

    void check_episode(const Config& c, const std::string& p, std::size_t line,
                       const nlohmann::json& doc, std::map<std::int64_t, std::size_t>& seen) {
      const std::string where = fmt::format("line {}", line);
      Episode e;
      e.line = line;
      if (!doc.is_object()) {
        problems.add(Kind::meta, p,
                     fmt::format("{}: expected an object, found {}", where, describe(&doc)));
        episodes.push_back(e);
        return;
      }
      const nlohmann::json* idx = member(doc, "episode_index");
      if (std::optional<std::int64_t> n = as_int(idx); n && *n >= 0) {
        if (auto [it, fresh] = seen.emplace(*n, line); !fresh) {
          problems.add(
              Kind::totals, p,
              fmt::format("{}: episode_index {} also appears on line {}", where, *n, it->second));
        } else {
          e.index = n;
        }
      } else {
        problems.add(Kind::meta, p,
                     fmt::format("{}: episode_index: expected an integer >= 0, found {}", where,
                                 describe(idx)));
      }
      const std::string ep = e.index ? fmt::format("{} (episode {})", where, *e.index) : where;
      const nlohmann::json* len = member(doc, "length");
      if (std::optional<std::int64_t> n = as_int(len); n && *n >= 1) {
        e.length = n;
        frames += static_cast<std::uint64_t>(*n);
      } else {
        problems.add(
            Kind::meta, p,
            fmt::format("{}: length: expected an integer >= 1, found {}", ep, describe(len)));
      }
      // is_mock must be present and exactly false (section 8).
      const nlohmann::json* mock = member(doc, "is_mock");
      if (mock == nullptr) {
        problems.add(Kind::mock, p, fmt::format("{}: is_mock is missing (expected false)", ep));
      } else if (!(mock->is_boolean() && !mock->get<bool>())) {
        problems.add(Kind::mock, p,
                     fmt::format("{}: is_mock is {} (expected false)", ep, describe(mock)));
      }
      check_episode_task(p, ep, doc);
      check_episode_frames(c, p, ep, doc);
      episodes.push_back(e);
    }

    /// Every episode has a task: a task_index known to tasks.jsonl and/or a task text (or a
    /// `tasks` list) that tasks.jsonl holds; when both are given they must agree.
    void check_episode_task(const std::string& p, const std::string& ep,
                            const nlohmann::json& doc) {
      const nlohmann::json* idx = member(doc, "task_index");
      const nlohmann::json* text = member(doc, "task");
      const nlohmann::json* list = member(doc, "tasks");
      if (idx == nullptr && text == nullptr && list == nullptr) {
        problems.add(Kind::task, p,
                     fmt::format("{}: has no task (expected task_index, task or tasks)", ep));
        return;
      }
      std::optional<std::string> by_index;
      if (idx != nullptr) {
        std::optional<std::int64_t> n = as_int(idx);
        if (!n || *n < 0) {
          problems.add(
              Kind::task, p,
              fmt::format("{}: task_index: expected an integer >= 0, found {}", ep, describe(idx)));
        } else if (auto it = tasks.find(*n); it != tasks.end()) {
          by_index = it->second;
        } else if (tasks_read) {
          problems.add(Kind::task, p,
                       fmt::format("{}: task_index {} is not in meta/tasks.jsonl", ep, *n));
        }
      }
      auto check_text = [&](const nlohmann::json* t, const std::string& field) {
        if (t == nullptr || !t->is_string() ||
            t->get<std::string>().find_first_not_of(" \t\r\n") == std::string::npos) {
          problems.add(
              Kind::task, p,
              fmt::format("{}: {}: expected a non-empty string, found {}", ep, field, describe(t)));
          return;
        }
        const std::string s = t->get<std::string>();
        if (tasks_read && task_texts.count(s) == 0) {
          problems.add(
              Kind::task, p,
              fmt::format("{}: {} \"{}\" is not in meta/tasks.jsonl", ep, field, printable(s)));
        } else if (by_index && field == "task" && *by_index != s) {
          problems.add(Kind::task, p,
                       fmt::format("{}: task \"{}\" differs from task_index's \"{}\"", ep,
                                   printable(s), printable(*by_index)));
        }
      };
      if (text != nullptr) check_text(text, "task");
      if (list != nullptr) {
        if (!list->is_array() || list->empty()) {
          problems.add(Kind::task, p,
                       fmt::format("{}: tasks: expected a non-empty list of strings, found {}", ep,
                                   describe(list)));
        } else {
          std::size_t i = 0;
          for (const auto& t : *list) check_text(&t, fmt::format("tasks[{}]", i++));
        }
      }
    }

    void check_episode_frames(const Config& c, const std::string& p, const std::string& ep,
                              const nlohmann::json& doc) {
      const nlohmann::json* exp = member(doc, "rgb_frames_expected_total");
      const nlohmann::json* got = member(doc, "rgb_frames_written_total");
      if (exp == nullptr && got == nullptr && !c.require_frame_counts) return;
      std::optional<std::int64_t> e = as_int(exp), w = as_int(got);
      bool ok = true;
      if (!e || *e < 0) {
        problems.add(Kind::frames, p,
                     fmt::format("{}: rgb_frames_expected_total: expected an integer >= 0, "
                                 "found {}",
                                 ep, describe(exp)));
        ok = false;
      }
      if (!w || *w < 0) {
        problems.add(Kind::frames, p,
                     fmt::format("{}: rgb_frames_written_total: expected an integer >= 0, "
                                 "found {}",
                                 ep, describe(got)));
        ok = false;
      }
      if (ok && *e != *w) {
        problems.add(Kind::frames, p,
                     fmt::format("{}: rgb_frames_written_total is {}, expected "
                                 "rgb_frames_expected_total {}",
                                 ep, *w, *e));
      }
      if (const nlohmann::json* dropped = member(doc, "dropped_frames_total")) {
        std::optional<std::int64_t> d = as_int(dropped);
        if (!d || *d != 0) {
          problems.add(
              Kind::frames, p,
              fmt::format("{}: dropped_frames_total is {}, expected 0", ep, describe(dropped)));
        }
      }
    }

    // ---- meta/stats.json ------------------------------------------------------------------

    void read_stats(const Config& c) {
      const std::string p = path("meta/stats.json");
      ctx.record_artifact(p);
      Result<std::string> text = ctx.store().read(p, ctx.limits().max_bytes);
      if (!text) {
        problems.add_error(text.error().code == Errc::not_found ? Kind::missing_file : Kind::meta,
                           p, text.error());
        return;
      }
      Result<nlohmann::json> doc = parse_json(*text, p, ctx.limits());
      if (!doc) {
        // Python's json writes NaN and Infinity bare, which strict JSON refuses: name them.
        if (auto token = find_non_finite_token(*text)) {
          problems.add(Kind::non_finite, p,
                       fmt::format("holds {} at byte {} (expected only finite numbers)",
                                   token->second, token->first));
        } else {
          problems.add(Kind::meta, p, sanitize(without_path(doc.error().message, p)));
        }
        return;
      }
      if (!doc->is_object() || doc->empty()) {
        problems.add(Kind::meta, p,
                     fmt::format("expected a non-empty object, found {}", describe(&*doc)));
        return;
      }
      std::vector<std::string> bad;
      find_non_finite_values(*doc, "", bad);
      for (const std::string& b : bad) {
        problems.add(Kind::non_finite, p, fmt::format("{} (expected a finite number)", b));
      }
      for (const std::string& key : c.required_stats) {
        const nlohmann::json* entry = member(*doc, key);
        if (entry == nullptr || !entry->is_object()) {
          problems.add(Kind::meta, p,
                       fmt::format("\"{}\": expected an object with min, max, mean and std, "
                                   "found {}",
                                   printable(key), describe(entry)));
          continue;
        }
        for (const char* stat : {"min", "max", "mean", "std"}) {
          const nlohmann::json* v = member(*entry, stat);
          if (v == nullptr || !all_numbers(*v)) {
            problems.add(Kind::meta, p,
                         fmt::format("\"{}\".{}: expected a number or a non-empty list of "
                                     "numbers, found {}",
                                     printable(key), stat, describe(v)));
          }
        }
      }
    }

    // ---- info.json contents ---------------------------------------------------------------

    std::set<std::string> feature_keys;
    std::vector<std::string> video_keys;
    std::optional<std::int64_t> chunks_size;
    std::optional<std::string> data_path, video_path;

    void check_info(const Config& c) {
      const std::string p = path("meta/info.json");
      const nlohmann::json& doc = *info;
      // Features.
      const nlohmann::json* features = member(doc, "features");
      if (features == nullptr || !features->is_object() || features->empty()) {
        problems.add(
            Kind::meta, p,
            fmt::format("features: expected a non-empty object, found {}", describe(features)));
      } else {
        for (const auto& [key, f] : features->items()) {
          feature_keys.insert(key);
          const nlohmann::json* dtype = member(f, "dtype");
          if (dtype == nullptr || !dtype->is_string()) {
            problems.add(Kind::meta, p,
                         fmt::format("features.\"{}\".dtype: expected a string, found {}",
                                     printable(key), describe(dtype)));
          } else if (dtype->get<std::string>() == "video") {
            video_keys.push_back(key);
          }
        }
      }
      // Layout.
      chunks_size = info_int("chunks_size", Kind::meta, 1, "episodes per chunk");
      auto template_field = [&](const char* key, std::optional<std::string>& out) {
        const nlohmann::json* v = member(doc, key);
        if (v == nullptr || !v->is_string() || v->get<std::string>().empty()) {
          problems.add(
              Kind::meta, p,
              fmt::format("{}: expected a path template string, found {}", key, describe(v)));
          return;
        }
        out = v->get<std::string>();
      };
      template_field("data_path", data_path);
      if (!video_keys.empty() && c.require_videos) template_field("video_path", video_path);

      check_tier(c, p, doc);
      if (c.require_production_quality) check_data_quality(c, p, doc);
      for (const std::string& field : c.required_lineage) {
        const nlohmann::json* v = lookup(doc, field);
        bool empty = v == nullptr || v->is_null();
        if (v != nullptr && v->is_string()) {
          empty = v->get<std::string>().find_first_not_of(" \t\r\n") == std::string::npos;
        } else if (v != nullptr && (v->is_object() || v->is_array())) {
          empty = v->empty();
        }
        if (empty) {
          problems.add(Kind::lineage, p,
                       fmt::format("{}: expected a non-empty value, found {}", field, describe(v)));
        }
      }
      std::vector<std::string> flags;
      find_mock_flags(doc, "", flags);
      for (const std::string& f : flags) problems.add(Kind::mock, p, f);
    }

    void check_tier(const Config& c, const std::string& p, const nlohmann::json& doc) {
      const nlohmann::json* pack = member(doc, "data_pack");
      const nlohmann::json* t = pack == nullptr ? nullptr : member(*pack, "tier");
      if (t == nullptr || !t->is_string() || tier_table().count(t->get<std::string>()) == 0) {
        problems.add(
            Kind::tier, p,
            fmt::format("data_pack.tier: expected one of core, plus, full, found {}", describe(t)));
        return;
      }
      tier = t->get<std::string>();
      if (!c.expected_tier.empty() && tier != c.expected_tier) {
        problems.add(
            Kind::tier, p,
            fmt::format("data_pack.tier is \"{}\", expected \"{}\"", tier, c.expected_tier));
      }
      // Cameras: data_pack.cameras if given, else the image features present.
      std::vector<std::string> cameras;
      const nlohmann::json* cams = member(*pack, "cameras");
      if (cams != nullptr) {
        if (!cams->is_array() || cams->empty() ||
            !std::all_of(cams->begin(), cams->end(), [](const nlohmann::json& x) {
              return x.is_string() && !x.get<std::string>().empty();
            })) {
          problems.add(Kind::tier, p,
                       fmt::format("data_pack.cameras: expected a non-empty list of camera "
                                   "names, found {}",
                                   describe(cams)));
        } else {
          for (const auto& x : *cams) cameras.push_back(x.get<std::string>());
        }
      } else {
        const std::string prefix = "observation.images.";
        for (const std::string& k : feature_keys) {
          if (k.compare(0, prefix.size(), prefix) == 0) cameras.push_back(k.substr(prefix.size()));
        }
        if (cameras.empty()) {
          problems.add(Kind::tier, p,
                       fmt::format("tier \"{}\" needs RGB video per camera, but there is no "
                                   "observation.images.<camera> feature and no data_pack.cameras",
                                   tier));
        }
      }
      std::vector<std::string> missing;
      for (const std::string& level : kTierOrder) {
        const TierFeatures& need = tier_table().find(level)->second;
        for (const std::string& k : need.fixed) {
          if (feature_keys.count(k) == 0) missing.push_back(k);
        }
        for (const std::string& prefix : need.per_camera) {
          for (const std::string& cam : cameras) {
            const std::string k = prefix + "." + cam;
            if (feature_keys.count(k) == 0) {
              missing.push_back(k);
            } else if (prefix == "observation.images") {
              const nlohmann::json* d = lookup_feature_dtype(doc, k);
              if (d == nullptr || !d->is_string() || d->get<std::string>() != "video") {
                problems.add(Kind::tier, p,
                             fmt::format("features.\"{}\".dtype is {}, expected \"video\"",
                                         printable(k), describe(d)));
              }
            }
          }
        }
        if (level == tier) break;
      }
      for (const std::string& k : missing) {
        problems.add(Kind::tier, p,
                     fmt::format("data_pack.tier \"{}\" requires feature \"{}\", which "
                                 "features lacks",
                                 tier, printable(k)));
      }
    }

    void check_data_quality(const Config& c, const std::string& p, const nlohmann::json& doc) {
      const nlohmann::json* dq = member(doc, "data_quality");
      if (dq == nullptr || !dq->is_object()) {
        problems.add(Kind::data_quality, p,
                     fmt::format("data_quality: expected an object, found {}", describe(dq)));
      } else {
        auto one_of = [&](const char* key, const std::vector<std::string>& allowed) {
          const nlohmann::json* v = member(*dq, key);
          if (v == nullptr || !v->is_string() ||
              std::find(allowed.begin(), allowed.end(), v->get<std::string>()) == allowed.end()) {
            problems.add(Kind::data_quality, p,
                         fmt::format("data_quality.{}: expected one of [{}], found {}", key,
                                     fmt::join(allowed, ", "), describe(v)));
          }
        };
        one_of("sensor_source", c.allowed_sensor_sources);
        one_of("validation_type", c.allowed_validation_types);
        for (const char* key : {"physics_validated", "isaac_sim_used"}) {
          const nlohmann::json* v = member(*dq, key);
          if (v == nullptr || !v->is_boolean() || !v->get<bool>()) {
            problems.add(Kind::data_quality, p,
                         fmt::format("data_quality.{}: expected true, found {}", key, describe(v)));
          }
        }
      }
      if (const nlohmann::json* bypass = lookup(doc, "lineage.quality_gates.bypass_enabled")) {
        if (!(bypass->is_boolean() && !bypass->get<bool>())) {
          problems.add(Kind::data_quality, p,
                       fmt::format("lineage.quality_gates.bypass_enabled is {}, expected false",
                                   describe(bypass)));
        }
      }
    }

    void check_totals() {
      const std::string p = path("meta/info.json");
      if (auto n = info_int("total_episodes", Kind::totals, 0, "the episodes in episodes.jsonl");
          n && *n != static_cast<std::int64_t>(episode_lines)) {
        problems.add(Kind::totals, p,
                     fmt::format("total_episodes is {}, but meta/episodes.jsonl lists {}", *n,
                                 episode_lines));
      }
      const bool lengths_ok = std::all_of(episodes.begin(), episodes.end(),
                                          [](const Episode& e) { return e.length.has_value(); });
      if (auto n = info_int("total_frames", Kind::totals, 0, "the sum of the episodes' length");
          n && lengths_ok && static_cast<std::uint64_t>(*n) != frames) {
        problems.add(
            Kind::totals, p,
            fmt::format("total_frames is {}, but the episodes' lengths sum to {}", *n, frames));
      }
      if (auto n = info_int("total_tasks", Kind::totals, 0, "the tasks in tasks.jsonl");
          n && tasks_read && *n != static_cast<std::int64_t>(task_lines)) {
        problems.add(
            Kind::totals, p,
            fmt::format("total_tasks is {}, but meta/tasks.jsonl lists {}", *n, task_lines));
      }
      const bool indices_ok = std::all_of(episodes.begin(), episodes.end(),
                                          [](const Episode& e) { return e.index.has_value(); });
      if (auto n = info_int("total_chunks", Kind::totals, 0, "chunks holding the episodes");
          n && chunks_size && indices_ok) {
        std::int64_t max_chunk = -1;
        for (const Episode& e : episodes) max_chunk = std::max(max_chunk, *e.index / *chunks_size);
        if (*n != max_chunk + 1) {
          problems.add(Kind::totals, p,
                       fmt::format("total_chunks is {}, but the episodes fill {} chunks of {}", *n,
                                   max_chunk + 1, *chunks_size));
        }
      }
      if (const nlohmann::json* v = member(*info, "total_videos")) {
        const std::optional<std::int64_t> n = as_int(v);
        const auto want = static_cast<std::int64_t>(episode_lines * video_keys.size());
        if (!n || *n != want) {
          problems.add(Kind::totals, p,
                       fmt::format("total_videos is {}, expected {} ({} episodes x {} video "
                                   "features)",
                                   describe(v), want, episode_lines, video_keys.size()));
        }
      }
    }

    // ---- Parquet files and videos ---------------------------------------------------------

    void check_files(const Config& c) {
      std::vector<const Episode*> work;
      for (const Episode& e : episodes) {
        if (e.index) work.push_back(&e);
      }
      std::set<std::string> expected_parquet;
      const bool can_locate = data_path && chunks_size;
      std::vector<std::string> parquet_paths(work.size());
      std::vector<std::vector<std::pair<std::string, std::string>>> video_paths(work.size());
      for (std::size_t i = 0; i < work.size() && can_locate; ++i) {
        const Episode& e = *work[i];
        const std::int64_t chunk = *e.index / *chunks_size;
        Result<std::string> rel = expand_template(
            *data_path, {{"episode_chunk", chunk}, {"episode_index", *e.index}}, {});
        if (!rel) {
          problems.add(Kind::meta, path("meta/info.json"),
                       fmt::format("data_path: {}", rel.error().message));
          return;
        }
        parquet_paths[i] = path(*rel);
        expected_parquet.insert(parquet_paths[i]);
        if (!c.require_videos || !video_path) continue;
        for (const std::string& key : video_keys) {
          Result<std::string> v =
              expand_template(*video_path, {{"episode_chunk", chunk}, {"episode_index", *e.index}},
                              {{"video_key", key}});
          if (!v) {
            problems.add(Kind::meta, path("meta/info.json"),
                         fmt::format("video_path: {}", v.error().message));
            video_paths.assign(work.size(), {});
            video_path.reset();
            break;
          }
          video_paths[i].emplace_back(key, path(*v));
        }
      }
      if (can_locate) {
        std::vector<EpisodeResult> results(work.size());
        std::atomic<bool> stop{false};
        const unsigned jobs = std::min(std::max(ctx.jobs(), 1u), kMaxJobs);
        const Store& store = ctx.store();
        const std::optional<std::string> crash = parallel_for(
            work.size(), jobs,
            [&](std::size_t i) {
              check_episode_files(c, store, *work[i], parquet_paths[i], video_paths[i], stop,
                                  results[i]);
            },
            [this] { return ctx.cancelled(); }, stop);
        if (crash) {
          problems.add_unreadable(path(""), fmt::format("internal error: {}", *crash));
        }
        if (stop || ctx.cancelled()) {
          problems.add_unreadable(path(""), "interrupted while reading the episode files");
          return;
        }
        for (std::size_t i = 0; i < results.size(); ++i) {
          EpisodeResult& r = results[i];
          if (c.check_feature_columns && r.have_columns) {
            for (const std::string& key : feature_keys) {
              if (r.columns.count(key) != 0 ||
                  std::find(video_keys.begin(), video_keys.end(), key) != video_keys.end()) {
                continue;
              }
              r.problems.push_back({Kind::parquet, parquet_paths[i],
                                    fmt::format("has no column for feature \"{}\" of "
                                                "meta/info.json",
                                                printable(key))});
            }
          }
          for (Problem& pr : r.problems) {
            if (problems.kept.size() < kMaxKept) ctx.record_artifact(pr.path);
            problems.add(pr.kind, std::move(pr.path), std::move(pr.message));
          }
          for (Problem& pr : r.unreadable) {
            ctx.record_artifact(pr.path);
            problems.add_unreadable(std::move(pr.path), std::move(pr.message));
          }
          parquet_ok += r.parquet_ok ? 1 : 0;
          parquet_rows += r.rows;
          videos_ok += r.videos_ok;
        }
      }
      // Parquet files under data/ that no episode names. When the episodes' files cannot be
      // located (info.json unusable), every Parquet file found is still checked as Parquet.
      const std::string data_prefix = path("data/");
      std::vector<std::string> unlocated;
      Result<void> listed = ctx.store().list(data_prefix, [&](const ObjectInfo& o) {
        const std::string_view name = o.path;
        if (name.size() >= 8 && name.substr(name.size() - 8) == ".parquet" &&
            expected_parquet.count(o.path) == 0) {
          if (can_locate) {
            problems.add(Kind::totals, o.path,
                         "is not the Parquet file of any episode in meta/episodes.jsonl");
          } else if (unlocated.size() < kMaxKept) {
            unlocated.push_back(o.path);
          }
        }
        return !ctx.cancelled();
      });
      if (!listed) problems.add_error(Kind::meta, data_prefix, listed.error());
      for (const std::string& file : unlocated) {
        ctx.record_artifact(file);
        Result<ParquetTail> pq = read_parquet(ctx.store(), file, c.max_footer_bytes);
        if (!pq) {
          problems.add_error(Kind::parquet, file, pq.error());
          continue;
        }
        Result<std::vector<NonFinite>> nf = non_finite_statistics(pq->metadata, file);
        if (!nf) {
          problems.add_error(Kind::parquet, file, nf.error());
          continue;
        }
        for (const NonFinite& n : *nf) {
          problems.add(Kind::non_finite, file,
                       fmt::format("column \"{}\" row group {}: statistics {} is {} (expected "
                                   "finite)",
                                   printable(n.column), n.row_group, n.field, n.found));
        }
      }
    }

    /// Runs on a worker thread: touches only the store and `out`.
    static void check_episode_files(const Config& c, const Store& store, const Episode& e,
                                    const std::string& parquet,
                                    const std::vector<std::pair<std::string, std::string>>& videos,
                                    const std::atomic<bool>& stop, EpisodeResult& out) {
      auto add = [&](Kind kind, const std::string& p, std::string message) {
        out.problems.push_back({kind, p, std::move(message)});
      };
      auto add_error = [&](Kind kind, const std::string& p, const Error& err) {
        if (status_for(err.code) == Status::fail) {
          add(err.code == Errc::not_found ? Kind::missing_file : kind, p,
              err.code == Errc::not_found
                  ? fmt::format("episode {}: the Parquet file is missing", *e.index)
                  : sanitize(without_path(err.message, p)));
        } else {
          out.unreadable.push_back({kind, p, sanitize(without_path(err.message, p))});
        }
      };
      Result<ParquetTail> pq = read_parquet(store, parquet, c.max_footer_bytes, {}, &stop);
      if (!pq) {
        add_error(Kind::parquet, parquet, pq.error());
      } else {
        const FileMetaData& meta = pq->metadata;
        bool ok = true;
        if (e.length && meta.num_rows != *e.length) {
          add(Kind::row_count, parquet,
              fmt::format("num_rows is {}, but meta/episodes.jsonl line {} gives episode {} "
                          "length {}",
                          meta.num_rows, e.line, *e.index, *e.length));
          ok = false;
        }
        Result<std::vector<NonFinite>> nf = non_finite_statistics(meta, parquet);
        if (!nf) {
          add(Kind::parquet, parquet, sanitize(without_path(nf.error().message, parquet)));
          ok = false;
        } else {
          for (const NonFinite& n : *nf) {
            add(Kind::non_finite, parquet,
                fmt::format("column \"{}\" row group {}: statistics {} is {} (expected finite)",
                            printable(n.column), n.row_group, n.field, n.found));
            ok = false;
          }
        }
        // The episode_index column, when its statistics are there, must hold this episode only:
        // a file copied from another episode of the same length is caught here.
        for (std::size_t g = 0; g < meta.row_groups.size(); ++g) {
          for (const ColumnChunk& chunk : meta.row_groups[g].columns) {
            if (chunk.path_in_schema != std::vector<std::string>{"episode_index"}) continue;
            const std::optional<std::int64_t> lo = int_statistic(chunk, false);
            const std::optional<std::int64_t> hi = int_statistic(chunk, true);
            if (lo && hi && (*lo != *e.index || *hi != *e.index)) {
              add(Kind::parquet, parquet,
                  fmt::format("column \"episode_index\" row group {} holds {} .. {}, expected "
                              "only episode {} (meta/episodes.jsonl line {})",
                              g, *lo, *hi, *e.index, e.line));
              ok = false;
            }
          }
        }
        if (c.require_float_statistics) {
          for (const ChunkRef& ref : float_chunks_without_bounds(meta)) {
            add(Kind::parquet, parquet,
                fmt::format("column \"{}\" row group {}: no min/max statistics, so NaN/Inf "
                            "cannot be ruled out (expected statistics on every floating-point "
                            "column)",
                            printable(ref.column), ref.row_group));
            ok = false;
          }
        }
        if (Result<std::vector<LeafColumn>> leaves = schema_leaves(meta, parquet)) {
          for (const LeafColumn& l : *leaves) out.columns.insert(l.path.front());
          out.have_columns = true;
        }
        out.rows = static_cast<std::uint64_t>(meta.num_rows);
        out.parquet_ok = ok;
      }
      for (const auto& [key, video] : videos) {
        Result<std::unique_ptr<Reader>> r = store.open(video);
        if (!r) {
          if (r.error().code == Errc::not_found) {
            add(Kind::missing_file, video,
                fmt::format("episode {}: the video of \"{}\" is missing", *e.index,
                            printable(key)));
          } else {
            add_error(Kind::missing_file, video, r.error());
          }
          continue;
        }
        char head[12] = {};
        std::size_t have = 0;
        bool failed = false;
        while (have < sizeof head) {
          Result<std::size_t> got = (*r)->read(head + have, sizeof head - have);
          if (!got) {
            add_error(Kind::missing_file, video, got.error());
            failed = true;
            break;
          }
          if (*got == 0) break;
          have += *got;
        }
        if (failed) continue;
        if (have == 0) {
          add(Kind::missing_file, video,
              fmt::format("episode {}: the video of \"{}\" is empty", *e.index, printable(key)));
        } else if (have < 8 || std::string_view(head + 4, 4) != "ftyp") {
          add(Kind::missing_file, video,
              fmt::format("episode {}: the video of \"{}\" is not an MP4/ISO-BMFF file (no "
                          "'ftyp' box at byte 4)",
                          *e.index, printable(key)));
        } else {
          ++out.videos_ok;
        }
      }
    }

    // ---- Verdict ----------------------------------------------------------------------------

    CheckOutcome conclude(const Config& c) const;
  };

  Config c_;
};

CheckOutcome LerobotBundleCheck::State::conclude(const Config& c) const {
  const std::string where = root.empty() ? std::string(".") : root;
  nlohmann::json counts = nlohmann::json::object();
  for (std::size_t k = 0; k < kKinds; ++k) {
    if (problems.counts[k] > 0) counts[kKindNames[k]] = problems.counts[k];
  }
  CheckOutcome out;
  out.observed = {
      {"root", where},
      {"episodes", episode_lines},
      {"frames", frames},
      {"tasks", task_lines},
      {"tier", tier.empty() ? nlohmann::json(nullptr) : nlohmann::json(tier)},
      {"parquet_files_verified", parquet_ok},
      {"parquet_rows", parquet_rows},
      {"videos_verified", videos_ok},
      {"video_features", video_keys.size()},
      {"problems", problems.total},
      {"problems_by_kind", counts},
      {"unreadable", problems.unreadable},
  };
  out.expected = {
      {"is_mock", false},
      {"required_lineage", c.required_lineage},
      {"require_videos", c.require_videos},
      {"require_production_quality", c.require_production_quality},
      {"min_episodes", c.min_episodes},
  };
  if (!c.expected_tier.empty()) out.expected["tier"] = c.expected_tier;
  auto to_json = [](const std::vector<Problem>& list) {
    nlohmann::json a = nlohmann::json::array();
    for (const Problem& p : list) {
      a.push_back({{"kind", kKindNames[static_cast<std::size_t>(p.kind)]},
                   {"path", printable(p.path)},
                   {"message", p.message}});
    }
    return a;
  };
  out.details = nlohmann::json::object();
  if (problems.total > 0) {
    out.details["problems"] = to_json(problems.kept);
    if (problems.total > problems.kept.size()) out.details["problems_truncated"] = true;
  }
  if (problems.unreadable > 0) out.details["unreadable"] = to_json(problems.unreadable_kept);

  if (problems.total == 0 && problems.unreadable == 0) {
    out.status = Status::pass;
    out.message = fmt::format(
        "LeRobot bundle '{}': {} episodes, {} frames, {} tasks; {} Parquet files ({} rows) and "
        "{} videos verified; tier {}",
        printable(where), episode_lines, frames, task_lines, parquet_ok, parquet_rows, videos_ok,
        tier);
    return out;
  }
  // The message leads with the most severe problems (details keep the order found).
  std::vector<Problem> shown_from = problems.total > 0 ? problems.kept : problems.unreadable_kept;
  std::stable_sort(shown_from.begin(), shown_from.end(),
                   [](const Problem& a, const Problem& b) { return a.kind < b.kind; });
  std::vector<std::string> shown;
  for (const Problem& p : shown_from) {
    if (shown.size() == kMaxInMessage) break;
    shown.push_back(fmt::format("{}: {}", printable(p.path), p.message));
  }
  const std::uint64_t total = problems.total > 0 ? problems.total : problems.unreadable;
  std::string list = fmt::format("{}", fmt::join(shown, "; "));
  if (total > shown.size()) list += fmt::format("; ... and {} more", total - shown.size());
  if (problems.total == 0) {
    out.status = Status::error;
    out.code = "lerobot_unreadable";
    out.message = fmt::format("LeRobot bundle '{}': {} files could not be read: {}",
                              printable(where), problems.unreadable, list);
    return out;
  }
  out.status = Status::fail;
  for (std::size_t k = 0; k < kKinds; ++k) {
    if (problems.counts[k] > 0) {
      out.code = kKindCodes[k];
      break;
    }
  }
  out.message = fmt::format(
      "LeRobot bundle '{}': {} problem{}{}: {}", printable(where), problems.total,
      problems.total == 1 ? "" : "s",
      problems.unreadable > 0 ? fmt::format(" ({} files unreadable)", problems.unreadable) : "",
      list);
  return out;
}

/// The reference's production-required lineage (section 7: "In production the exporter
/// requires build_id, container_digest, report_hash, config_hash and resolved_thresholds").
const std::vector<std::string> kDefaultLineage = {
    "lineage.sim_backend.build_id", "lineage.sim_backend.container_digest",
    "lineage.quality_gates.report_hash", "lineage.quality_gates.config_hash",
    "lineage.physics_parameters.resolved_thresholds"};

CheckInfo lerobot_info() {
  CheckInfo info;
  info.type = "lerobot_bundle";
  info.category = "dataset";
  info.summary =
      "Validates a LeRobot v2-style bundle: meta files, totals, tasks, Parquet footers, videos, "
      "tier, mock flags, lineage.";
  info.description =
      "Reads meta/info.json, meta/tasks.jsonl and meta/episodes.jsonl (streamed line by line),\n"
      "meta/stats.json, and for every episode its Parquet file and, for each feature of dtype\n"
      "video, its video, at the paths info.json's data_path/video_path templates give\n"
      "(episode_chunk = episode_index / chunks_size). Fails, naming each file, when: totals\n"
      "(total_episodes/frames/tasks/chunks, total_videos if present) disagree with the files;\n"
      "episode indices are not 0..n-1; an episode lacks a length >= 1, a task known to\n"
      "tasks.jsonl, is_mock exactly false, or equal rgb_frames_expected_total and\n"
      "rgb_frames_written_total; a Parquet file is missing, lacks the PAR1 magic at either end,\n"
      "has a footer that does not decode (own bounded Thrift compact reader), row groups that do\n"
      "not sum to num_rows, num_rows different from the episode's length, episode_index\n"
      "statistics naming another episode, a non-video feature without a column, a\n"
      "FLOAT/DOUBLE/FLOAT16 column statistic that is NaN/Inf (or a nan_count > 0), or such a\n"
      "column without min/max statistics (require_float_statistics); a video is missing, empty\n"
      "or has no 'ftyp' box; stats.json holds NaN/Inf or lacks a required entry;\n"
      "data_pack.tier is not core/plus/full or lacks a feature of its tier (section 12);\n"
      "data_quality is not production (sensor source, validation type,\n"
      "physics_validated, isaac_sim_used) or bypass_enabled is true; any is_mock in info.json is\n"
      "not false; a required lineage field is missing or empty; a .parquet file under data/ is\n"
      "no episode's. Parquet cell values are NOT scanned (Debian 12 has no Parquet decoder):\n"
      "only the footer's column statistics are. Codes, most severe first: lerobot_mock_data,\n"
      "lerobot_data_quality, lerobot_missing_files, lerobot_parquet_invalid,\n"
      "lerobot_row_count_mismatch, lerobot_non_finite, lerobot_totals_mismatch,\n"
      "lerobot_frames_mismatch, lerobot_task_missing, lerobot_tier_mismatch,\n"
      "lerobot_lineage_missing, lerobot_meta_invalid; lerobot_unreadable (error) when files\n"
      "could not be read and nothing failed.";
  info.params = {
      {"root",
       ParamType::path,
       false,
       nullptr,
       "The bundle's folder in the store (default: the store root).",
       {}},
      {"required_lineage",
       ParamType::string_list,
       false,
       kDefaultLineage,
       "Dotted info.json fields that must be present and non-empty (default: the exporter's "
       "production-required lineage).",
       {}},
      {"require_videos",
       ParamType::boolean,
       false,
       true,
       "Check one non-empty MP4 per episode and video feature.",
       {}},
      {"max_footer_bytes",
       ParamType::integer,
       false,
       kDefaultMaxFooter,
       "Largest Parquet footer decoded (1 .. 1 GiB).",
       {}},
      {"expected_tier",
       ParamType::string,
       false,
       nullptr,
       "If set, data_pack.tier must be this tier.",
       {"core", "plus", "full"}},
      {"require_production_quality",
       ParamType::boolean,
       false,
       true,
       "Require info.json data_quality to show production data (allowed sensor source and "
       "validation type, physics_validated and isaac_sim_used true).",
       {}},
      {"allowed_sensor_sources",
       ParamType::string_list,
       false,
       nlohmann::json::array({"isaac_sim_replicator"}),
       "Accepted data_quality.sensor_source values.",
       {}},
      {"allowed_validation_types",
       ParamType::string_list,
       false,
       nlohmann::json::array({"physx"}),
       "Accepted data_quality.validation_type values.",
       {}},
      {"require_frame_counts",
       ParamType::boolean,
       false,
       true,
       "Require rgb_frames_expected_total and rgb_frames_written_total on every episode (they "
       "must be equal whenever present).",
       {}},
      {"required_stats",
       ParamType::string_list,
       false,
       nlohmann::json::array({"observation.state", "action"}),
       "stats.json entries that must exist with min, max, mean and std.",
       {}},
      {"min_episodes", ParamType::integer, false, 1, "The fewest episodes accepted (>= 1).", {}},
      {"check_feature_columns",
       ParamType::boolean,
       false,
       true,
       "Require a top-level Parquet column for every non-video feature of info.json.",
       {}},
      {"require_float_statistics",
       ParamType::boolean,
       false,
       true,
       "Require min/max statistics on every FLOAT/DOUBLE/FLOAT16 column chunk holding values: "
       "without them NaN/Inf cannot be ruled out.",
       {}},
  };
  info.example =
      "- id: lerobot\n"
      "  type: lerobot_bundle\n"
      "  root: scenes/${scene_id}/episodes/lerobot\n"
      "  expected_tier: core\n";
  return info;
}

Result<std::unique_ptr<Check>> make_lerobot(const CheckConfig& config) {
  Config c;
  if (config.has("root")) {
    const auto& paths = config.get_paths("root");
    if (paths.size() != 1) return config.error("root", "expected one path");
    c.root = paths.front();
  }
  c.required_lineage = config.get_string_list("required_lineage");
  for (const std::string& f : c.required_lineage) {
    if (f.empty() || f.front() == '.' || f.back() == '.' || f.find("..") != std::string::npos) {
      return config.error("required_lineage",
                          fmt::format("\"{}\" is not a dotted field path such as "
                                      "lineage.sim_backend.build_id",
                                      f));
    }
  }
  c.require_videos = config.get_bool("require_videos");
  const std::int64_t footer = config.get_int("max_footer_bytes");
  if (footer < 1 || footer > kMaxMaxFooter) {
    return config.error("max_footer_bytes",
                        fmt::format("{} is outside 1 .. {}", footer, kMaxMaxFooter));
  }
  c.max_footer_bytes = static_cast<std::uint64_t>(footer);
  if (config.has("expected_tier")) {
    c.expected_tier = config.get_string("expected_tier");
    if (tier_table().count(c.expected_tier) == 0) {
      return config.error("expected_tier", "expected core, plus or full");
    }
  }
  c.require_production_quality = config.get_bool("require_production_quality");
  c.allowed_sensor_sources = config.get_string_list("allowed_sensor_sources");
  c.allowed_validation_types = config.get_string_list("allowed_validation_types");
  for (const char* key : {"allowed_sensor_sources", "allowed_validation_types"}) {
    const auto& list = std::string_view(key) == "allowed_sensor_sources"
                           ? c.allowed_sensor_sources
                           : c.allowed_validation_types;
    if (list.empty() ||
        std::any_of(list.begin(), list.end(), [](const std::string& s) { return s.empty(); })) {
      return config.error(key, "must list at least one non-empty value");
    }
  }
  c.require_frame_counts = config.get_bool("require_frame_counts");
  c.required_stats = config.get_string_list("required_stats");
  for (const std::string& s : c.required_stats) {
    if (s.empty()) return config.error("required_stats", "an entry is empty");
  }
  c.min_episodes = config.get_int("min_episodes");
  if (c.min_episodes < 1) {
    return config.error("min_episodes", "must be at least 1: an empty bundle is no evidence");
  }
  c.check_feature_columns = config.get_bool("check_feature_columns");
  c.require_float_statistics = config.get_bool("require_float_statistics");
  return std::unique_ptr<Check>(std::make_unique<LerobotBundleCheck>(std::move(c)));
}

void register_checks(PluginRegistrar& registrar) { registrar.add(lerobot_info(), make_lerobot); }

}  // namespace
}  // namespace stagecheck::lerobot

STAGECHECK_PLUGIN("lerobot", "0.1.0", stagecheck::lerobot::register_checks)
