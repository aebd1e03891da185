// `checksums`: verifies the files of a folder against a SHA-256 manifest. Three manifest forms
// are read (pipeline-artifacts.md section 7): the import `checksums.json` ({"files": {path:
// {sha256, size_bytes}}}, also the regression fixture's form), LeRobot's flat
// `meta/checksums.json` ({path: sha256}) and coreutils `sha256sum` text. The manifest is
// validated strictly first; then every listed file is stat'ed (missing and wrong-sized files
// are found without hashing), hashed in parallel with OpenSSL, and finally the folders are
// listed for files the manifest does not name. Passes only when every listed file was hashed
// and matched and nothing unlisted was found.

#include <fnmatch.h>
#include <stagecheck/digest.hpp>
#include <stagecheck/parallel.hpp>
#include <stagecheck/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace stagecheck::checksums {
namespace {

/// Findings of each kind kept for details (all are counted).
constexpr std::size_t kMaxKept = 1000;
/// Findings named in the message, over all kinds.
constexpr std::size_t kMaxInMessage = 20;
/// Streaming block: large enough that the per-call overhead vanishes next to SHA-256.
constexpr std::size_t kBlockSize = 1u << 20;
/// Most threads one check uses, whatever --jobs says.
constexpr unsigned kMaxJobs = 64;
/// Longest path quoted in a message or details.
constexpr std::size_t kMaxShown = 200;

enum class ManifestFormat { automatic, checksums_json, flat_json, sha256sum };
enum class UnlistedMode { folders, none, tree };

/// Text for a message or a JSON value: a hostile path must neither forge its surroundings nor
/// make the report invalid UTF-8, so control bytes, quotes, backslashes and every non-ASCII
/// byte are escaped (non-ASCII names become \xNN sequences: ugly, but always safe).
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

bool is_hex_digest(std::string_view s) {
  return stagecheck::is_hex_digest(s, DigestAlgorithm::sha256);
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

/// Why a digest is not acceptable, for a message.
std::string describe_digest(std::string_view s) {
  if (s.empty()) return "an empty digest";
  if (s.size() != 64) {
    return fmt::format("a digest of {} characters \"{}\" (expected 64 hex characters)", s.size(),
                       printable(s));
  }
  return fmt::format("a digest with non-hex characters \"{}\"", printable(s));
}

/// One file the manifest lists.
struct Entry {
  std::string path;    ///< Relative to the root, normalised (no leading "./").
  std::string sha256;  ///< Lower-case hex.
  std::optional<std::uint64_t> size;
  std::string full;  ///< Store path.
};

/// A manifest entry that was refused (never read).
struct Invalid {
  std::string entry;  ///< The path as written, or "line N".
  std::string reason;
};

/// The parsed manifest: entries, refused entries, or a reason the whole manifest is unusable.
struct Manifest {
  std::string format;
  std::vector<Entry> entries;
  std::vector<Invalid> invalid;
  std::optional<std::string> fatal;
};

/// Validates and adds one entry; `where` names it in messages.
void add_entry(Manifest& m, std::set<std::string>& seen, std::string path, std::string digest,
               std::optional<std::uint64_t> size, const std::string& where) {
  std::string norm = path;
  // "./a" and "a" name the same file: strip the prefix so that the duplicate check sees it.
  while (norm.size() > 2 && norm.compare(0, 2, "./") == 0) norm.erase(0, 2);
  if (Result<void> valid = validate_store_path(norm); !valid) {
    m.invalid.push_back({where, fmt::format("path \"{}\" is not a valid relative path: {}",
                                            printable(path), printable(valid.error().message))});
    return;
  }
  if (!is_hex_digest(digest)) {
    m.invalid.push_back({where, describe_digest(digest)});
    return;
  }
  if (!seen.insert(norm).second) {
    m.invalid.push_back({where, fmt::format("duplicate entry for \"{}\"", printable(norm))});
    return;
  }
  m.entries.push_back({std::move(norm), lower(std::move(digest)), size, {}});
}

void parse_checksums_json(const nlohmann::json& doc, Manifest& m) {
  m.format = "checksums_json";
  if (auto alg = doc.find("algorithm"); alg != doc.end()) {
    if (!alg->is_string()) {
      m.fatal =
          fmt::format("\"algorithm\" is {}, expected the string \"sha256\"", alg->type_name());
      return;
    }
    std::string a = alg->get<std::string>();
    std::string la;
    for (char c : a) la += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (la != "sha256" && la != "sha-256") {
      m.fatal = fmt::format("algorithm \"{}\" is not supported (only sha256)", printable(a));
      return;
    }
  }
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_object()) {
    m.fatal = files == doc.end()
                  ? std::string("no \"files\" object")
                  : fmt::format("\"files\" is {}, expected an object", files->type_name());
    return;
  }
  std::set<std::string> seen;
  for (const auto& [path, value] : files->items()) {
    const std::string where = fmt::format("files[\"{}\"]", printable(path));
    std::optional<std::uint64_t> size;
    std::string digest;
    if (value.is_string()) {
      // A bare digest string: what the delivery consumers accept too (form D).
      digest = value.get<std::string>();
    } else if (value.is_object()) {
      auto sha = value.find("sha256");
      if (sha == value.end() || !sha->is_string()) {
        m.invalid.push_back(
            {where, sha == value.end()
                        ? std::string("no \"sha256\" string")
                        : fmt::format("\"sha256\" is {}, expected a string", sha->type_name())});
        continue;
      }
      digest = sha->get<std::string>();
      if (auto sz = value.find("size_bytes"); sz != value.end()) {
        if (sz->is_number_unsigned()) {
          size = sz->get<std::uint64_t>();
        } else {
          m.invalid.push_back(
              {where, fmt::format("\"size_bytes\" is {} {}, expected a non-negative integer",
                                  sz->type_name(), printable(sz->dump()))});
          continue;
        }
      }
    } else {
      m.invalid.push_back({where, fmt::format("entry is {}, expected an object with \"sha256\"",
                                              value.type_name())});
      continue;
    }
    add_entry(m, seen, path, std::move(digest), size, where);
  }
}

void parse_flat_json(const nlohmann::json& doc, Manifest& m) {
  m.format = "flat_json";
  std::set<std::string> seen;
  for (const auto& [path, value] : doc.items()) {
    const std::string where = fmt::format("\"{}\"", printable(path));
    if (!value.is_string()) {
      m.invalid.push_back(
          {where, fmt::format("value is {}, expected a sha256 hex string", value.type_name())});
      continue;
    }
    add_entry(m, seen, path, value.get<std::string>(), std::nullopt, where);
  }
}

/// coreutils `sha256sum` output: "<hex>  <path>" or "<hex> *<path>"; a line starting with a
/// backslash has "\\", "\n" and "\r" escapes in its path (coreutils 9 escapes CR too).
void parse_sha256sum(std::string_view text, Manifest& m) {
  m.format = "sha256sum";
  std::set<std::string> seen;
  std::size_t line_no = 0;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const std::string where = fmt::format("line {}", line_no);
    bool escaped = false;
    if (line.front() == '\\') {
      escaped = true;
      line.remove_prefix(1);
    }
    const std::size_t space = line.find(' ');
    const std::string_view digest = line.substr(0, space);
    if (!is_hex_digest(digest)) {
      m.invalid.push_back({where, describe_digest(digest)});
      continue;
    }
    if (space == std::string_view::npos || line.size() < space + 3 ||
        (line[space + 1] != ' ' && line[space + 1] != '*')) {
      m.invalid.push_back(
          {where, fmt::format("malformed line \"{}\" (expected \"<64 hex>  <path>\" or "
                              "\"<64 hex> *<path>\")",
                              printable(line))});
      continue;
    }
    std::string path(line.substr(space + 2));
    if (escaped) {
      std::string out;
      bool bad = false;
      for (std::size_t i = 0; i < path.size(); ++i) {
        if (path[i] != '\\') {
          out += path[i];
        } else if (i + 1 < path.size() &&
                   (path[i + 1] == '\\' || path[i + 1] == 'n' || path[i + 1] == 'r')) {
          out += path[i + 1] == 'n' ? '\n' : path[i + 1] == 'r' ? '\r' : '\\';
          ++i;
        } else {
          bad = true;
        }
      }
      if (bad) {
        m.invalid.push_back({where, "malformed escape in path"});
        continue;
      }
      path = std::move(out);
    }
    add_entry(m, seen, std::move(path), std::string(digest), std::nullopt, where);
  }
}

Manifest parse_manifest(const std::string& text, const std::string& label, ManifestFormat format,
                        const LoadLimits& limits) {
  Manifest m;
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (format == ManifestFormat::automatic && (first == std::string::npos || text[first] != '{')) {
    format = ManifestFormat::sha256sum;
  }
  if (format == ManifestFormat::sha256sum) {
    parse_sha256sum(text, m);
    return m;
  }
  Result<nlohmann::json> doc = parse_json(text, label, limits);
  if (!doc) {
    m.format = format == ManifestFormat::flat_json ? "flat_json" : "checksums_json";
    m.fatal = doc.error().message;
    return m;
  }
  if (!doc->is_object()) {
    m.format = format == ManifestFormat::flat_json ? "flat_json" : "checksums_json";
    m.fatal = fmt::format("the document is {}, expected an object", doc->type_name());
    return m;
  }
  // auto: a "files" object means the import form; anything else is read as the flat form
  // (which refuses non-string values, so a misdetected document still fails).
  const bool flat = format == ManifestFormat::flat_json ||
                    (format == ManifestFormat::automatic && !doc->contains("files"));
  if (flat) {
    parse_flat_json(*doc, m);
  } else {
    parse_checksums_json(*doc, m);
  }
  return m;
}

/// What became of one listed file.
enum class Verdict { pending, verified, missing, size_mismatch, mismatch, out_of_root, unreadable };

struct FileState {
  Verdict verdict = Verdict::pending;
  std::uint64_t actual_size = 0;
  std::string found;  ///< Digest found, or the error message.
};

std::string join(const std::string& root, const std::string& rel) {
  return root.empty() ? rel : root + "/" + rel;
}

/// A list of named findings: the first kMaxKept kept, all counted.
struct Findings {
  std::uint64_t total = 0;
  nlohmann::json kept = nlohmann::json::array();
  void add(nlohmann::json item) {
    ++total;
    if (kept.size() < kMaxKept) kept.push_back(std::move(item));
  }
};

class ChecksumsCheck final : public Check {
 public:
  ChecksumsCheck(ArtifactRef manifest, ManifestFormat format, std::optional<PathTemplate> root,
                 UnlistedMode unlisted, std::vector<std::string> exclude, bool optional)
      : manifest_(std::move(manifest)),
        format_(format),
        root_(std::move(root)),
        unlisted_(unlisted),
        exclude_(std::move(exclude)),
        optional_(optional) {}

  // An exception escaping evaluate() becomes an `error` result naming this check: the runner
  // catches it for every check, plugins included.
  CheckOutcome run(CheckContext& ctx) const override { return evaluate(ctx); }

 private:
  bool excluded(const std::string& rel) const {
    return std::any_of(exclude_.begin(), exclude_.end(), [&](const std::string& pattern) {
      return fnmatch(pattern.c_str(), rel.c_str(), 0) == 0;
    });
  }

  CheckOutcome evaluate(CheckContext& ctx) const {
    Result<Artifact> artifact = ctx.artifact(manifest_);
    if (!artifact) return CheckOutcome::from(artifact.error());
    const std::string manifest_path = artifact->path();
    Result<ObjectInfo> info = artifact->stat();
    if (!info) {
      if (info.error().code == Errc::not_found && (optional_ || manifest_.optional)) {
        CheckOutcome out = CheckOutcome::make(
            Status::skipped,
            fmt::format("checksum manifest '{}' is absent (optional)", printable(manifest_path)));
        out.observed = {{"manifest", manifest_path}, {"exists", false}};
        return out;
      }
      CheckOutcome out = CheckOutcome::from(info.error());
      out.message =
          fmt::format("checksum manifest '{}': {}", printable(manifest_path), info.error().message);
      if (out.status == Status::fail) {
        out.code = info.error().code == Errc::not_found ? "checksums_manifest_missing"
                                                        : "checksums_manifest_invalid";
      }
      return out;
    }
    Result<std::string> text = artifact->bytes();
    if (!text) {
      CheckOutcome out = CheckOutcome::from(text.error());
      out.message = fmt::format("checksum manifest '{}' could not be read: {}",
                                printable(manifest_path), text.error().message);
      if (out.status == Status::fail) out.code = "checksums_manifest_invalid";
      return out;
    }

    std::string root;
    if (root_) {
      Result<std::string> resolved = ctx.resolve(*root_);
      if (!resolved) return CheckOutcome::from(resolved.error());
      root = *resolved;
      while (!root.empty() && root.back() == '/') root.pop_back();
      if (root == ".") root.clear();
    } else {
      const std::size_t slash = manifest_path.rfind('/');
      root = slash == std::string::npos ? "" : manifest_path.substr(0, slash);
    }

    Manifest m = parse_manifest(*text, manifest_path, format_, ctx.limits());
    if (m.fatal) {
      CheckOutcome out =
          CheckOutcome::fail(fmt::format("checksum manifest '{}' ({}) is invalid: {}",
                                         printable(manifest_path), m.format, *m.fatal));
      out.code = "checksums_manifest_invalid";
      out.observed = {{"manifest", manifest_path}, {"format", m.format}};
      return out;
    }
    if (m.entries.empty() && m.invalid.empty()) {
      CheckOutcome out = CheckOutcome::fail(
          fmt::format("checksum manifest '{}' ({}) lists no files; expected at least one entry",
                      printable(manifest_path), m.format));
      out.code = "checksums_manifest_invalid";
      out.observed = {{"manifest", manifest_path}, {"format", m.format}, {"files", 0}};
      return out;
    }
    for (Entry& e : m.entries) e.full = join(root, e.path);

    const Store& store = ctx.store();
    const unsigned jobs = std::min(std::max(ctx.jobs(), 1u), kMaxJobs);
    std::vector<FileState> states(m.entries.size());
    std::atomic<bool> stop{false};
    const std::function<bool()> cancelled = [&ctx] { return ctx.cancelled(); };
    auto interrupted = [&](const char* phase) {
      CheckOutcome out = CheckOutcome::error(
          fmt::format("checksums: interrupted while {} the {} files listed in {}", phase,
                      m.entries.size(), printable(manifest_path)));
      out.observed = {{"manifest", manifest_path}, {"format", m.format}};
      return out;
    };

    // Cheap pass: a missing or wrong-sized file is found without reading anything.
    std::optional<std::string> crash = parallel_for(
        m.entries.size(), jobs,
        [&](std::size_t i) {
          const Entry& e = m.entries[i];
          FileState& s = states[i];
          Result<ObjectInfo> st = store.stat(e.full);
          if (!st) {
            const Errc c = st.error().code;
            s.verdict = c == Errc::not_found || c == Errc::not_a_file ? Verdict::missing
                        : c == Errc::out_of_root                      ? Verdict::out_of_root
                        : status_for(c) == Status::fail               ? Verdict::missing
                                                                      : Verdict::unreadable;
            s.found = st.error().message;
            return;
          }
          s.actual_size = st->size;
          if (e.size && *e.size != st->size) s.verdict = Verdict::size_mismatch;
        },
        cancelled, stop);
    if (crash) return CheckOutcome::error(fmt::format("checksums: {}", *crash));
    if (stop || ctx.cancelled()) return interrupted("examining");

    // Hash the largest files first, so that one big file does not start last and run alone.
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < states.size(); ++i) {
      if (states[i].verdict == Verdict::pending) order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return states[a].actual_size > states[b].actual_size;
    });
    std::atomic<std::uint64_t> hashed_bytes{0};
    crash = parallel_for(
        order.size(), jobs,
        [&](std::size_t k) {
          thread_local std::vector<char> buf;
          thread_local std::optional<Hasher> hasher;
          if (buf.size() != kBlockSize) buf.resize(kBlockSize);
          if (!hasher) {
            Result<Hasher> made = Hasher::create(DigestAlgorithm::sha256);
            if (!made) throw std::runtime_error(made.error().message);
            hasher.emplace(std::move(*made));
          }
          const Entry& e = m.entries[order[k]];
          FileState& s = states[order[k]];
          std::uint64_t bytes = 0;
          Result<std::string> digest = digest_object(store, e.full, *hasher, buf, &bytes, &stop);
          if (!digest) {
            const Errc c = digest.error().code;
            s.verdict = c == Errc::not_found            ? Verdict::missing
                        : c == Errc::out_of_root        ? Verdict::out_of_root
                        : status_for(c) == Status::fail ? Verdict::missing
                                                        : Verdict::unreadable;
            s.found = digest.error().message;
            return;
          }
          s.actual_size = bytes;
          hashed_bytes += bytes;
          s.found = std::move(*digest);
          s.verdict = s.found == e.sha256 ? Verdict::verified : Verdict::mismatch;
        },
        cancelled, stop);
    if (crash) return CheckOutcome::error(fmt::format("checksums: {}", *crash));
    if (stop) return interrupted("hashing");

    // Unlisted files, per mode; the manifest itself is never unlisted.
    std::unordered_set<std::string> listed;
    for (const Entry& e : m.entries) listed.insert(e.full);
    Findings unlisted;
    std::optional<Error> listing_error;
    auto consider = [&](const std::string& full) {
      if (full == manifest_path || listed.count(full) != 0) return;
      const std::string rel = root.empty() ? full : full.substr(root.size() + 1);
      if (excluded(rel)) return;
      unlisted.add({{"path", printable(rel)}});
    };
    if (unlisted_ == UnlistedMode::tree) {
      ctx.record_artifact(root.empty() ? std::string() : root + "/");
      Result<void> r = store.list(root.empty() ? "" : root + "/", [&](const ObjectInfo& o) {
        consider(o.path);
        return true;
      });
      if (!r) listing_error = r.error();
    } else if (unlisted_ == UnlistedMode::folders) {
      std::set<std::string> folders;
      for (const Entry& e : m.entries) {
        const std::size_t slash = e.full.rfind('/');
        folders.insert(slash == std::string::npos ? "" : e.full.substr(0, slash));
      }
      for (const std::string& folder : folders) {
        Result<void> r = store.list_level(folder, [&](const ListEntry& le) {
          if (!le.is_folder) consider(le.path);
          return true;
        });
        if (!r && !listing_error) listing_error = r.error();
      }
    }

    return conclude(ctx, manifest_path, root, m, states, unlisted, listing_error,
                    hashed_bytes.load());
  }

  CheckOutcome conclude(CheckContext& ctx, const std::string& manifest_path,
                        const std::string& root, const Manifest& m,
                        const std::vector<FileState>& states, const Findings& unlisted,
                        const std::optional<Error>& listing_error, std::uint64_t bytes) const {
    Findings missing, size_mismatch, mismatch, out_of_root, unreadable, invalid;
    std::uint64_t verified = 0;
    std::vector<std::string> named;  // "kind: path (...)" in the order shown in the message
    std::vector<std::string> named_invalid, named_unlisted;
    for (const Invalid& inv : m.invalid) {
      invalid.add({{"entry", inv.entry}, {"reason", inv.reason}});
      if (named_invalid.size() < kMaxInMessage) {
        named_invalid.push_back(fmt::format("invalid entry {}: {}", inv.entry, inv.reason));
      }
    }
    for (std::size_t i = 0; i < states.size(); ++i) {
      const Entry& e = m.entries[i];
      const FileState& s = states[i];
      const std::string p = printable(e.path);
      // Only the first kMaxInMessage file findings are formatted for the message: a manifest
      // of a million wrong files must not build a million strings.
      const bool name = named.size() < kMaxInMessage;
      switch (s.verdict) {
        case Verdict::verified:
          ++verified;
          break;
        case Verdict::missing:
          missing.add({{"path", p}, {"reason", printable(s.found)}});
          if (name) named.push_back(fmt::format("missing: {}", p));
          break;
        case Verdict::size_mismatch:
          size_mismatch.add({{"path", p}, {"expected", *e.size}, {"found", s.actual_size}});
          if (name)
            named.push_back(fmt::format("size mismatch: {} (expected {} bytes, found {})", p,
                                        *e.size, s.actual_size));
          break;
        case Verdict::mismatch:
          if (mismatch.total < kMaxKept) ctx.record_artifact(e.full);
          mismatch.add({{"path", p}, {"expected", e.sha256}, {"found", s.found}});
          if (name)
            named.push_back(
                fmt::format("mismatch: {} (expected sha256 {}, found {})", p, e.sha256, s.found));
          break;
        case Verdict::out_of_root:
          out_of_root.add({{"path", p}, {"reason", printable(s.found)}});
          if (name)
            named.push_back(fmt::format("outside the root: {} ({})", p, printable(s.found)));
          break;
        case Verdict::unreadable:
          if (unreadable.total < kMaxKept) ctx.record_artifact(e.full);
          unreadable.add({{"path", p}, {"reason", printable(s.found)}});
          if (name) named.push_back(fmt::format("unreadable: {} ({})", p, printable(s.found)));
          break;
        case Verdict::pending:
          unreadable.add({{"path", p}, {"reason", "not evaluated"}});
          break;
      }
    }
    for (const auto& u : unlisted.kept) {
      if (named_unlisted.size() < kMaxInMessage) {
        named_unlisted.push_back(fmt::format("unlisted: {}", u["path"].get<std::string>()));
      }
    }

    nlohmann::json observed = {
        {"manifest", manifest_path},
        {"format", m.format},
        {"files", verified},
        {"bytes", bytes},
        {"missing", missing.total + out_of_root.total},
        {"size_mismatches", size_mismatch.total},
        {"mismatches", mismatch.total},
        {"unlisted", unlisted.total},
        {"invalid_entries", invalid.total},
        {"unreadable", unreadable.total},
        {"listed", m.entries.size() + m.invalid.size()},
    };
    nlohmann::json details = {{"root", root}};
    auto put = [&](const char* key, const Findings& f) {
      if (f.total == 0) return;
      details[key] = f.kept;
      details[std::string(key) + "_total"] = f.total;
      if (f.total > f.kept.size()) details[std::string(key) + "_truncated"] = true;
    };
    put("missing", missing);
    put("out_of_root", out_of_root);
    put("size_mismatch", size_mismatch);
    put("mismatched", mismatch);
    put("unlisted", unlisted);
    put("invalid_entries", invalid);
    put("unreadable", unreadable);
    if (listing_error) {
      details["listing_error"] = {{"code", std::string(to_string(listing_error->code))},
                                  {"message", printable(listing_error->message)}};
    }

    const bool listing_failed = listing_error && status_for(listing_error->code) == Status::fail;
    const bool failed = missing.total + size_mismatch.total + mismatch.total + out_of_root.total +
                                unlisted.total + invalid.total >
                            0 ||
                        listing_failed;
    CheckOutcome out;
    out.observed = std::move(observed);
    out.expected = {{"algorithm", "sha256"},
                    {"unlisted", unlisted_ == UnlistedMode::none   ? "none"
                                 : unlisted_ == UnlistedMode::tree ? "tree"
                                                                   : "folders"}};
    out.details = std::move(details);
    if (!failed && unreadable.total == 0 && !listing_error) {
      out.status = Status::pass;
      out.message = fmt::format("{} files verified ({} bytes) against {}", verified, bytes,
                                printable(manifest_path));
      return out;
    }

    // Findings in the message: the files' (in manifest order), then unlisted files, then
    // invalid entries; at most kMaxInMessage, with the number left out.
    std::vector<std::string> shown = named;
    shown.insert(shown.end(), named_unlisted.begin(), named_unlisted.end());
    shown.insert(shown.end(), named_invalid.begin(), named_invalid.end());
    if (shown.size() > kMaxInMessage) shown.resize(kMaxInMessage);
    const std::uint64_t findings = missing.total + size_mismatch.total + mismatch.total +
                                   out_of_root.total + unreadable.total + unlisted.total +
                                   invalid.total;
    std::string list = fmt::format("{}", fmt::join(shown, "; "));
    if (findings > shown.size()) list += fmt::format("; ... and {} more", findings - shown.size());
    if (listing_error) {
      list += fmt::format("{}listing failed: {}", list.empty() ? "" : "; ",
                          printable(listing_error->message));
    }

    if (!failed) {
      out.status = Status::error;
      out.code = "checksums_unreadable";
      out.message =
          fmt::format("{} of {} files listed in {} could not be evaluated ({} verified): {}",
                      unreadable.total, m.entries.size(), printable(manifest_path), verified, list);
      return out;
    }
    out.status = Status::fail;
    if (mismatch.total + size_mismatch.total > 0) {
      out.code = "checksum_mismatch";
    } else if (missing.total + out_of_root.total > 0 || listing_failed) {
      out.code = "checksums_missing_files";
    } else if (unlisted.total > 0) {
      out.code = "checksums_unlisted_files";
    } else {
      out.code = "checksums_manifest_invalid";
    }
    out.message = fmt::format(
        "{} against {}: {} verified, {} missing, {} size mismatches, {} mismatched, {} unlisted, "
        "{} invalid entries{}: {}",
        m.format, printable(manifest_path), verified, missing.total + out_of_root.total,
        size_mismatch.total, mismatch.total, unlisted.total, invalid.total,
        unreadable.total > 0 ? fmt::format(", {} unreadable", unreadable.total) : "", list);
    return out;
  }

  ArtifactRef manifest_;
  ManifestFormat format_;
  std::optional<PathTemplate> root_;
  UnlistedMode unlisted_;
  std::vector<std::string> exclude_;
  bool optional_;
};

CheckInfo checksums_info() {
  CheckInfo info;
  info.type = "checksums";
  info.category = "integrity";
  info.summary = "Verifies files against a SHA-256 checksum manifest (hashing every listed file).";
  info.description =
      "Reads a checksum manifest and verifies every file it lists: first a cheap pass that stats\n"
      "each file (missing files and size mismatches are reported without hashing), then a full\n"
      "SHA-256 of every remaining file, streamed in 1 MiB blocks on --jobs threads (OpenSSL EVP,\n"
      "SHA-NI where available). Then the folders are listed for files the manifest does not name.\n"
      "Manifest formats: checksums_json {\"files\": {path: {sha256, size_bytes}}} (the import\n"
      "checksums.json; algorithm must be sha256 if given; a bare digest string is accepted as an\n"
      "entry), flat_json {path: sha256} (LeRobot meta/checksums.json), sha256sum text lines\n"
      "\"<hex>  <path>\" / \"<hex> *<path>\". auto picks checksums_json for a JSON object with\n"
      "\"files\", flat_json for another JSON object, sha256sum otherwise.\n"
      "Fails closed: an absolute path, a `..` segment, a digest that is not 64 hex characters, a\n"
      "negative or non-integer size_bytes, a duplicate path (also \"./a\" vs \"a\"; no Unicode\n"
      "normalisation), a malformed line (named by number) or an empty manifest fails; such\n"
      "entries are never read. Codes, most severe first: checksum_mismatch (digest or size),\n"
      "checksums_missing_files (missing, not a file, or a symlink out of the root),\n"
      "checksums_unlisted_files, checksums_manifest_invalid; an absent manifest is\n"
      "checksums_manifest_missing (or skipped with optional_manifest). Files that could not be\n"
      "read "
      "(permission, I/O) make the result `error` (code checksums_unreadable) unless something\n"
      "failed.";
  info.params = {
      {"manifest", ParamType::artifact, true, nullptr, "The checksum manifest.", {}},
      {"format",
       ParamType::string,
       false,
       "auto",
       "Manifest format.",
       {"auto", "checksums_json", "flat_json", "sha256sum"}},
      {"root",
       ParamType::path,
       false,
       nullptr,
       "Folder the manifest's paths are relative to (default: the manifest's own folder).",
       {}},
      {"unlisted",
       ParamType::string,
       false,
       "folders",
       "Where files the manifest does not list fail the check: folders (those holding listed "
       "files, not recursive), tree (the whole root, recursively) or none.",
       {"folders", "none", "tree"}},
      {"exclude",
       ParamType::string_list,
       false,
       nlohmann::json::array(),
       "fnmatch patterns, matched against the root-relative path ('*' also matches '/'), of "
       "files never reported as unlisted.",
       {}},
      {"optional_manifest",
       ParamType::boolean,
       false,
       false,
       "If true, a missing manifest skips the check instead of failing it.",
       {}},
  };
  info.example =
      "- id: dataset_checksums\n"
      "  type: checksums\n"
      "  manifest: datasets/${run_id}/checksums.json\n"
      "  unlisted: tree\n"
      "  exclude: [\"*.tmp\"]\n";
  return info;
}

Result<std::unique_ptr<Check>> make_checksums(const CheckConfig& config) {
  const ArtifactRef* manifest = config.get_artifact("manifest");
  if (manifest == nullptr) return config.error("manifest", "is required");
  const std::string f = config.get_string("format");
  ManifestFormat format = ManifestFormat::automatic;
  if (f == "checksums_json") {
    format = ManifestFormat::checksums_json;
  } else if (f == "flat_json") {
    format = ManifestFormat::flat_json;
  } else if (f == "sha256sum") {
    format = ManifestFormat::sha256sum;
  } else if (f != "auto") {
    return config.error("format", fmt::format("unknown format \"{}\"", f));
  }
  const std::string u = config.get_string("unlisted");
  UnlistedMode unlisted = UnlistedMode::folders;
  if (u == "none") {
    unlisted = UnlistedMode::none;
  } else if (u == "tree") {
    unlisted = UnlistedMode::tree;
  } else if (u != "folders") {
    return config.error("unlisted", fmt::format("unknown mode \"{}\"", u));
  }
  std::optional<PathTemplate> root;
  if (config.has("root")) {
    const auto& paths = config.get_paths("root");
    if (paths.size() != 1) return config.error("root", "expected one path");
    root = paths.front();
  }
  std::vector<std::string> exclude = config.get_string_list("exclude");
  for (const std::string& pattern : exclude) {
    if (pattern.empty()) return config.error("exclude", "an empty pattern matches nothing");
  }
  return std::unique_ptr<Check>(
      std::make_unique<ChecksumsCheck>(*manifest, format, std::move(root), unlisted,
                                       std::move(exclude), config.get_bool("optional_manifest")));
}

void register_checks(PluginRegistrar& registrar) {
  registrar.add(checksums_info(), make_checksums);
}

}  // namespace
}  // namespace stagecheck::checksums

STAGECHECK_PLUGIN("checksums", "0.1.0", stagecheck::checksums::register_checks)
