// The dataset regression metrics (pipeline-artifacts.md section 10), fail-closed: where the
// pipeline's tool counts an unreadable recording as a zero-score episode, or reports an absent
// checksum manifest as zero files, this refuses to produce numbers at all.

#include "dataset_regression/metrics.hpp"

#include <stagecheck/digest.hpp>
#include <stagecheck/parallel.hpp>
#include <stagecheck/status.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace stagecheck::dataset_regression {
namespace {

using json = nlohmann::json;

/// Problems named in an error message; the rest are counted.
constexpr std::size_t kMaxInMessage = 20;
/// Streaming block for hashing.
constexpr std::size_t kBlockSize = 1u << 20;
/// Most threads used, whatever the caller asks for.
constexpr unsigned kMaxJobs = 64;
/// Longest quoted text in a message.
constexpr std::size_t kMaxShown = 200;

/// Text for a message: control bytes, quotes, backslashes and non-ASCII bytes escaped, so a
/// hostile file name can neither forge its surroundings nor make a report invalid UTF-8.
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

/// A JSON value for "found ...": its type and (shortened) text, ASCII-only (the dump escapes
/// control and non-ASCII characters).
std::string describe(const json& v) {
  std::string text = v.dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  if (v.is_string()) return fmt::format("the string {}", text);
  if (v.is_boolean()) return fmt::format("the boolean {}", text);
  if (v.is_null()) return "null";
  if (v.is_number()) return text;
  return fmt::format("{} {}", v.type_name(), text);
}

std::string join(const std::string& dir, std::string_view rel) {
  return dir.empty() ? std::string(rel) : dir + "/" + std::string(rel);
}

/// A problem found while computing; any one makes the whole computation fail.
struct Problem {
  Errc code = Errc::malformed;
  std::string message;
};

/// What one recording contributes.
struct Episode {
  double score = 0;
  bool collided = false;
  double seconds = 0;
};

/// A finite number (booleans are not numbers), or nothing.
std::optional<double> finite_number(const json& v) {
  if (!v.is_number()) return std::nullopt;
  const double d = v.get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

/// A JSON integer >= 0 (2.0 is not one), or nothing.
std::optional<std::uint64_t> count_value(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  }
  return std::nullopt;
}

Result<Episode> parse_episode(const json& doc, const std::string& path) {
  const std::string where = fmt::format("recording '{}'", printable(path));
  auto bad = [&](Errc code, std::string_view field, std::string_view expected,
                 std::string found) -> Error {
    return make_error(code, fmt::format("{}: {}: expected {}, found {}", where, field, expected,
                                        std::move(found)));
  };
  if (!doc.is_object()) {
    return make_error(Errc::type_mismatch,
                      fmt::format("{}: expected a JSON object, found {}", where, doc.type_name()));
  }
  Episode e;
  auto score = doc.find("quality_score");
  if (score == doc.end()) {
    return bad(Errc::malformed, "quality_score", "a number in [0, 1]", "no such key");
  }
  std::optional<double> s = finite_number(*score);
  if (!s) {
    return bad(score->is_number() ? Errc::malformed : Errc::type_mismatch, "quality_score",
               "a number in [0, 1]", describe(*score));
  }
  if (*s < 0.0 || *s > 1.0) {
    return bad(Errc::malformed, "quality_score", "a number in [0, 1]", describe(*score));
  }
  e.score = *s;

  auto collisions = doc.find("collision_count");
  if (collisions == doc.end()) {
    return bad(Errc::malformed, "collision_count", "a non-negative integer", "no such key");
  }
  std::optional<std::uint64_t> c = count_value(*collisions);
  if (!c) {
    return bad(collisions->is_number() ? Errc::malformed : Errc::type_mismatch, "collision_count",
               "a non-negative integer", describe(*collisions));
  }
  e.collided = *c > 0;

  // Duration: duration_seconds, else the last frame's timestamp, else frame_count / 30.
  auto nonneg = [](const json& v) -> std::optional<double> {
    std::optional<double> d = finite_number(v);
    if (!d || *d < 0.0) return std::nullopt;
    return d;
  };
  if (auto d = doc.find("duration_seconds"); d != doc.end()) {
    std::optional<double> v = nonneg(*d);
    if (!v) {
      return bad(d->is_number() ? Errc::malformed : Errc::type_mismatch, "duration_seconds",
                 "a non-negative number", describe(*d));
    }
    e.seconds = *v;
    return e;
  }
  if (auto frames = doc.find("frames"); frames != doc.end()) {
    if (!frames->is_array()) {
      return bad(Errc::type_mismatch, "frames", "an array of frames", describe(*frames));
    }
    if (!frames->empty()) {
      const json& last = frames->back();
      const std::string field = fmt::format("frames[{}].timestamp", frames->size() - 1);
      if (!last.is_object()) {
        return bad(Errc::type_mismatch, fmt::format("frames[{}]", frames->size() - 1),
                   "an object with a timestamp", describe(last));
      }
      auto ts = last.find("timestamp");
      if (ts == last.end())
        return bad(Errc::malformed, field, "a non-negative number", "no such key");
      std::optional<double> v = nonneg(*ts);
      if (!v) {
        return bad(ts->is_number() ? Errc::malformed : Errc::type_mismatch, field,
                   "a non-negative number", describe(*ts));
      }
      e.seconds = *v;
      return e;
    }
  }
  if (auto fc = doc.find("frame_count"); fc != doc.end()) {
    std::optional<std::uint64_t> n = count_value(*fc);
    if (!n) {
      return bad(fc->is_number() ? Errc::malformed : Errc::type_mismatch, "frame_count",
                 "a non-negative integer", describe(*fc));
    }
    e.seconds = static_cast<double>(*n) / kAssumedFps;
    return e;
  }
  return make_error(Errc::malformed,
                    fmt::format("{}: no duration: expected duration_seconds, a non-empty frames[] "
                                "with a timestamp, or frame_count; found none of them",
                                where));
}

/// One file a checksum manifest lists.
struct ManifestEntry {
  std::string rel;  ///< As listed, without a leading "./".
  std::string sha256;
  std::optional<std::uint64_t> size;
};

/// Parses a format E (or A) manifest: {"files": {relpath: {"sha256", "size_bytes"?}}}; a bare
/// digest string is accepted as an entry (format D). Problems are appended.
std::vector<ManifestEntry> parse_manifest(const json& doc, const std::string& path,
                                          std::vector<Problem>& problems) {
  std::vector<ManifestEntry> entries;
  const std::string where = fmt::format("checksum manifest '{}'", printable(path));
  if (!doc.is_object()) {
    problems.push_back({Errc::type_mismatch, fmt::format("{}: expected a JSON object, found {}",
                                                         where, doc.type_name())});
    return entries;
  }
  if (auto alg = doc.find("algorithm"); alg != doc.end()) {
    const bool sha256 = alg->is_string() &&
                        parse_digest_algorithm(alg->get<std::string>()) == DigestAlgorithm::sha256;
    if (!sha256) {
      problems.push_back(
          {Errc::malformed,
           fmt::format("{}: algorithm: expected \"sha256\", found {}", where, describe(*alg))});
      return entries;
    }
  }
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_object()) {
    problems.push_back(
        {files == doc.end() ? Errc::malformed : Errc::type_mismatch,
         fmt::format("{}: files: expected an object of path: {{sha256, size_bytes}}, found {}",
                     where, files == doc.end() ? std::string("no such key") : describe(*files))});
    return entries;
  }
  std::set<std::string> seen;
  for (const auto& [rel, value] : files->items()) {
    const std::string field = fmt::format("files[\"{}\"]", printable(rel));
    auto bad = [&](Errc code, std::string what) {
      problems.push_back({code, fmt::format("{}: {}: {}", where, field, std::move(what))});
    };
    ManifestEntry e;
    const json* sha = nullptr;
    if (value.is_string()) {
      sha = &value;
    } else if (value.is_object()) {
      auto s = value.find("sha256");
      if (s == value.end()) {
        bad(Errc::malformed, "sha256: expected 64 hex characters, found no such key");
        continue;
      }
      sha = &*s;
      if (auto sz = value.find("size_bytes"); sz != value.end()) {
        e.size = count_value(*sz);
        if (!e.size) {
          bad(sz->is_number() ? Errc::malformed : Errc::type_mismatch,
              fmt::format("size_bytes: expected a non-negative integer, found {}", describe(*sz)));
          continue;
        }
      }
    } else {
      bad(Errc::type_mismatch,
          fmt::format("expected an object {{sha256, size_bytes}}, found {}", describe(value)));
      continue;
    }
    if (!sha->is_string() ||
        !is_hex_digest(sha->get_ref<const std::string&>(), DigestAlgorithm::sha256)) {
      bad(sha->is_string() ? Errc::malformed : Errc::type_mismatch,
          fmt::format("sha256: expected 64 hex characters, found {}", describe(*sha)));
      continue;
    }
    e.sha256 = sha->get<std::string>();
    std::transform(e.sha256.begin(), e.sha256.end(), e.sha256.begin(), [](char ch) {
      return ch >= 'A' && ch <= 'F' ? static_cast<char>(ch + 32) : ch;
    });
    e.rel = rel;
    while (e.rel.size() > 2 && e.rel.compare(0, 2, "./") == 0) e.rel.erase(0, 2);
    if (Result<void> valid = validate_store_path(e.rel); !valid) {
      bad(Errc::malformed,
          fmt::format("expected a path relative to the dataset folder, found \"{}\" ({})",
                      printable(rel), printable(valid.error().message)));
      continue;
    }
    if (!seen.insert(e.rel).second) {
      bad(Errc::malformed, fmt::format("duplicate entry for \"{}\"", printable(e.rel)));
      continue;
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

/// Reads and parses a small JSON file of the store.
Result<json> load_json(const Store& store, const std::string& path, const LoadLimits& limits) {
  Result<std::string> text = store.read(path, limits.max_bytes);
  if (!text) return std::move(text).error();
  return parse_json(*text, path, limits);
}

/// Where the checksum manifest is, relative to the dataset folder; problems are appended.
std::optional<std::pair<std::string, std::string>> locate_manifest(const Store& store,
                                                                   const MetricsOptions& o,
                                                                   std::vector<Problem>& problems) {
  if (!o.checksums.empty()) return std::make_pair(o.checksums, std::string("option"));
  const std::string manifest = join(o.dataset_dir, "import_manifest.json");
  Result<ObjectInfo> info = store.stat(manifest);
  if (!info) {
    if (info.error().code == Errc::not_found) {
      return std::make_pair(std::string("checksums.json"), std::string("default"));
    }
    problems.push_back({info.error().code, "import manifest " + info.error().message});
    return std::nullopt;
  }
  Result<json> doc = load_json(store, manifest, o.limits);
  if (!doc) {
    problems.push_back({doc.error().code, "import manifest " + doc.error().message});
    return std::nullopt;
  }
  if (!doc->is_object()) {
    problems.push_back(
        {Errc::type_mismatch, fmt::format("import manifest '{}': expected a JSON object, found {}",
                                          printable(manifest), doc->type_name())});
    return std::nullopt;
  }
  auto cp = doc->find("checksums_path");
  if (cp == doc->end()) {
    return std::make_pair(std::string("checksums.json"), std::string("default"));
  }
  if (!cp->is_string() || cp->get_ref<const std::string&>().empty()) {
    problems.push_back(
        {Errc::type_mismatch,
         fmt::format("import manifest '{}': checksums_path: expected a path relative to the "
                     "dataset folder, found {}",
                     printable(manifest), describe(*cp))});
    return std::nullopt;
  }
  return std::make_pair(cp->get<std::string>(), std::string("import_manifest"));
}

/// What became of one manifest entry.
enum class FileVerdict { pending, verified, missing, mismatched };

}  // namespace

std::size_t bucket_of(double score) noexcept {
  if (score < 0.5) return 0;
  if (score < 0.8) return 1;
  if (score < 0.9) return 2;
  return 3;
}

double python_sum(const std::vector<double>& values) noexcept {
  double sum = 0.0;
  double c = 0.0;
  for (double x : values) {
    const double t = sum + x;
    if (std::fabs(sum) >= std::fabs(x)) {
      c += (sum - t) + x;
    } else {
      c += (x - t) + sum;
    }
    sum = t;
  }
  if (c != 0.0 && std::isfinite(c)) sum += c;
  return sum;
}

Result<DatasetMetrics> compute_metrics(const Store& store, const MetricsOptions& o) {
  std::vector<Problem> problems;
  const unsigned jobs = std::clamp(o.jobs, 1u, kMaxJobs);
  std::atomic<bool> stop{false};
  auto interrupted = [&](std::string_view during) {
    return make_error(Errc::interrupted,
                      fmt::format("dataset '{}': interrupted while {}",
                                  printable(o.dataset_dir.empty() ? "." : o.dataset_dir), during));
  };

  // 1. Recordings: every *.json beneath the recordings folder, parsed on the workers.
  const std::string rec_dir = join(o.dataset_dir, o.recordings);
  std::vector<std::string> paths;
  Result<void> listed = store.list(rec_dir + "/", [&](const ObjectInfo& info) {
    if (info.path.size() > 5 && info.path.compare(info.path.size() - 5, 5, ".json") == 0) {
      paths.push_back(info.path);
    }
    return true;
  });
  if (!listed) {
    problems.push_back(
        {listed.error().code,
         fmt::format("recordings folder '{}': {}", printable(rec_dir), listed.error().message)});
  } else if (paths.empty()) {
    problems.push_back(
        {Errc::not_found, fmt::format("recordings folder '{}': expected at least one *.json "
                                      "recording beneath it, found none",
                                      printable(rec_dir))});
  }
  std::vector<std::optional<Episode>> episodes(paths.size());
  std::vector<std::optional<Problem>> episode_problems(paths.size());
  std::optional<std::string> crash = parallel_for(
      paths.size(), jobs,
      [&](std::size_t i) {
        Result<json> doc = load_json(store, paths[i], o.limits);
        if (!doc) {
          // Store and parser errors name the file.
          episode_problems[i] = Problem{doc.error().code, "recording " + doc.error().message};
          return;
        }
        Result<Episode> e = parse_episode(*doc, paths[i]);
        if (!e) {
          episode_problems[i] = Problem{e.error().code, e.error().message};
          return;
        }
        episodes[i] = *e;
      },
      o.cancelled, stop);
  if (crash) return make_error(Errc::internal, fmt::format("reading recordings: {}", *crash));
  if (stop) return interrupted("reading recordings");
  for (auto& p : episode_problems) {
    if (p) problems.push_back(std::move(*p));
  }

  // 2. Checksums: the manifest, then every listed file stat'ed and hashed on the workers.
  DatasetMetrics m;
  std::optional<std::pair<std::string, std::string>> located = locate_manifest(store, o, problems);
  std::vector<ManifestEntry> entries;
  if (located) {
    std::string rel = located->first;
    while (rel.size() > 2 && rel.compare(0, 2, "./") == 0) rel.erase(0, 2);
    m.checksums_source = located->second;
    if (Result<void> valid = validate_store_path(rel); !valid) {
      problems.push_back(
          {Errc::malformed, fmt::format("checksums path \"{}\" (from {}): expected a path relative "
                                        "to the dataset folder: {}",
                                        printable(located->first), m.checksums_source,
                                        printable(valid.error().message))});
    } else {
      m.checksums_path = join(o.dataset_dir, rel);
      Result<json> doc = load_json(store, m.checksums_path, o.limits);
      if (!doc) {
        problems.push_back({doc.error().code,
                            fmt::format("checksum manifest {} (named by {})", doc.error().message,
                                        m.checksums_source == "import_manifest"
                                            ? "import_manifest.json's checksums_path"
                                        : m.checksums_source == "option" ? "the checksums option"
                                                                         : "the default")});
      } else {
        entries = parse_manifest(*doc, m.checksums_path, problems);
      }
    }
  }
  std::vector<FileVerdict> verdicts(entries.size(), FileVerdict::pending);
  std::vector<std::optional<Problem>> file_problems(entries.size());
  crash = parallel_for(
      entries.size(), jobs,
      [&](std::size_t i) {
        const std::string full = join(o.dataset_dir, entries[i].rel);
        auto problem = [&](const Error& e) {
          if (e.code == Errc::not_found) {
            verdicts[i] = FileVerdict::missing;
          } else {
            file_problems[i] = Problem{e.code, "checksummed file " + e.message};
          }
        };
        Result<ObjectInfo> info = store.stat(full);
        if (!info) return problem(info.error());
        if (entries[i].size && *entries[i].size != info->size) {
          verdicts[i] = FileVerdict::mismatched;
          return;
        }
        Result<Hasher> hasher = Hasher::create(DigestAlgorithm::sha256);
        if (!hasher) return problem(hasher.error());
        std::vector<char> buffer(kBlockSize);
        Result<std::string> digest = digest_object(store, full, *hasher, buffer, nullptr, &stop);
        if (!digest) {
          if (digest.error().code == Errc::interrupted) return;
          return problem(digest.error());
        }
        verdicts[i] =
            *digest == entries[i].sha256 ? FileVerdict::verified : FileVerdict::mismatched;
      },
      o.cancelled, stop);
  if (crash) return make_error(Errc::internal, fmt::format("hashing files: {}", *crash));
  if (stop) return interrupted("hashing checksummed files");
  for (auto& p : file_problems) {
    if (p) problems.push_back(std::move(*p));
  }

  if (!problems.empty()) {
    // The code of the first problem that fails a check, else the first's.
    Errc code = problems.front().code;
    for (const Problem& p : problems) {
      if (status_for(p.code) == Status::fail) {
        code = p.code;
        break;
      }
    }
    std::vector<std::string> shown;
    for (std::size_t i = 0; i < problems.size() && i < kMaxInMessage; ++i) {
      shown.push_back(problems[i].message);
    }
    std::string message = fmt::format("{}", fmt::join(shown, "; "));
    if (problems.size() > shown.size()) {
      message += fmt::format("; ... and {} more problems", problems.size() - shown.size());
    }
    return make_error(code, std::move(message));
  }

  m.checksums.total_files = entries.size();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (verdicts[i] == FileVerdict::missing) m.checksums.missing_files.push_back(entries[i].rel);
    if (verdicts[i] == FileVerdict::mismatched) {
      m.checksums.mismatched_files.push_back(entries[i].rel);
    }
  }
  std::sort(m.checksums.missing_files.begin(), m.checksums.missing_files.end());
  std::sort(m.checksums.mismatched_files.begin(), m.checksums.mismatched_files.end());
  // Zero files checked is not a success, whatever the pipeline's tool says.
  m.checksums.success = m.checksums.total_files > 0 && m.checksums.missing_files.empty() &&
                        m.checksums.mismatched_files.empty();

  // 3. Aggregates over the episodes, in path order (as the pipeline's sorted glob).
  std::vector<double> scores, seconds;
  std::uint64_t collided = 0;
  for (const auto& e : episodes) {
    scores.push_back(e->score);
    seconds.push_back(e->seconds);
    ++m.quality_distribution[bucket_of(e->score)];
    if (e->collided) ++collided;
  }
  const auto n = static_cast<double>(episodes.size());
  m.episode_count = episodes.size();
  m.average_score = python_sum(scores) / n;
  m.min_score = *std::min_element(scores.begin(), scores.end());
  m.max_score = *std::max_element(scores.begin(), scores.end());
  m.collision_rate = static_cast<double>(collided) / n;
  m.average_seconds = python_sum(seconds) / n;
  m.min_seconds = *std::min_element(seconds.begin(), seconds.end());
  m.max_seconds = *std::max_element(seconds.begin(), seconds.end());
  if (!std::isfinite(m.average_seconds)) {
    return make_error(
        Errc::malformed,
        fmt::format("recordings folder '{}': the average duration overflows", printable(rec_dir)));
  }
  return m;
}

json metrics_to_json(const DatasetMetrics& m, std::string_view checksums_path_shown) {
  json distribution = json::object();
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    distribution[std::string(kBucketNames[i])] = m.quality_distribution[i];
  }
  return json{
      {"episode_count", m.episode_count},
      {"quality_distribution", std::move(distribution)},
      {"quality_summary",
       {{"average_score", m.average_score},
        {"min_score", m.min_score},
        {"max_score", m.max_score}}},
      {"collision_rate", m.collision_rate},
      {"duration_seconds",
       {{"average_seconds", m.average_seconds},
        {"min_seconds", m.min_seconds},
        {"max_seconds", m.max_seconds}}},
      {"checksums",
       {{"total_files", m.checksums.total_files},
        {"missing_files", m.checksums.missing_files},
        {"mismatched_files", m.checksums.mismatched_files},
        {"success", m.checksums.success}}},
      {"checksums_path", std::string(checksums_path_shown)},
  };
}

}  // namespace stagecheck::dataset_regression
