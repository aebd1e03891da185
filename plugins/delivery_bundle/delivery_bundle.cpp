// `delivery_bundle`: verifies a delivered bundle archive (`lerobot_bundle_<job>.tar.gz`) against
// the import manifest that describes it (pipeline-artifacts.md section 4: package{path, sha256,
// size_bytes, format, includes} and file_inventory[{path, size_bytes}]), the audits' delivery
// gap, and scans it for what must never reach a lab: member names that escape the extraction
// folder, links, device files, and unsafe serialised objects (pickles, NumPy object arrays,
// PyTorch/joblib files), which the audits flag as arbitrary code execution.
//
// The archive is read once, streaming, through the Store's Reader: libarchive pulls compressed
// bytes through a read callback that also feeds SHA-256, so the digest and size of the .tar.gz
// come from the same pass that lists and sniffs the members. Memory stays bounded whatever the
// archive's size: one block, the first `max_member_scan_bytes` of the current member, and one
// name per member. Nothing is ever extracted or written.

#include <archive.h>
#include <archive_entry.h>
#include <fnmatch.h>
#include <stagecheck/digest.hpp>
#include <stagecheck/plugin.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <clocale>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace stagecheck::delivery_bundle {
namespace {

/// Findings of each kind kept for details (all are counted).
constexpr std::size_t kMaxKept = 1000;
/// Findings named in the message, over all kinds.
constexpr std::size_t kMaxInMessage = 20;
/// Bytes pulled from the store per read callback, and per member data read.
constexpr std::size_t kBlockSize = std::size_t{256} * 1024;
/// Longest name quoted in a message or details.
constexpr std::size_t kMaxShown = 200;
/// Default manifest path and default scan size.
constexpr const char* kDefaultManifest = "import_manifest.json";
constexpr std::int64_t kDefaultScanBytes = std::int64_t{64} * 1024;
constexpr std::int64_t kDefaultMaxMembers = 1000000;

/// Text for a message or a JSON value: a hostile name must neither forge its surroundings nor
/// make the report invalid UTF-8 (control bytes, quotes, backslashes, non-ASCII are escaped).
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

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

/// The unsafe serialised-object families a spec can forbid.
enum class Family { pickle, numpy_object, torch, joblib };

constexpr std::array<std::pair<Family, std::string_view>, 4> kFamilies = {{
    {Family::pickle, "pickle"},
    {Family::numpy_object, "numpy_object"},
    {Family::torch, "torch"},
    {Family::joblib, "joblib"},
}};

std::string_view family_name(Family f) {
  for (const auto& [family, name] : kFamilies) {
    if (family == f) return name;
  }
  return "?";
}

/// Kinds of finding, in the order the message lists them and the code is chosen.
enum class Kind {
  unsafe_member,      ///< A name, link or file type that is unsafe to extract.
  unsafe_content,     ///< An unsafe serialised object.
  archive_mismatch,   ///< The archive's sha256 or size differs from the manifest's package.
  archive_malformed,  ///< Not readable as the expected archive (truncated, wrong format, ...).
  manifest_invalid,   ///< The manifest's package or file_inventory is missing or malformed.
  inventory,          ///< Members vs file_inventory: missing, unlisted, wrong size.
};
constexpr std::size_t kKinds = 6;

constexpr std::array<std::string_view, kKinds> kKindKey = {"unsafe_members",   "unsafe_content",
                                                           "archive_mismatch", "archive_malformed",
                                                           "manifest_invalid", "inventory"};
constexpr std::array<std::string_view, kKinds> kKindCode = {
    "delivery_unsafe_member",     "delivery_unsafe_content",   "delivery_archive_mismatch",
    "delivery_archive_malformed", "delivery_manifest_invalid", "delivery_inventory_mismatch"};

/// Every finding, counted per kind; the first kMaxKept of each kind kept for details and the
/// first kMaxInMessage over all kinds formatted for the message.
struct Findings {
  std::array<std::uint64_t, kKinds> total{};
  std::array<nlohmann::json, kKinds> kept;
  std::array<std::vector<std::string>, kKinds> named;
  std::size_t named_count = 0;

  Findings() {
    for (auto& k : kept) k = nlohmann::json::array();
  }
  /// `where` is a member name or a manifest field (raw; made printable here).
  void add(Kind kind, std::string_view where, std::string problem) {
    const auto i = static_cast<std::size_t>(kind);
    ++total[i];
    const std::string p = printable(where);
    if (named_count < kMaxInMessage) {
      named[i].push_back(fmt::format("{}: {}", p, problem));
      ++named_count;
    }
    if (kept[i].size() < kMaxKept)
      kept[i].push_back({{"path", p}, {"problem", std::move(problem)}});
  }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto t : total) n += t;
    return n;
  }
};

// ---------------------------------------------------------------------------------------------
// Content sniffing.

/// True for a Python identifier character run start / continuation (ASCII).
bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

/// Parses "<dotted ident>\n" at `i`; returns the index after the newline, or npos.
std::size_t parse_ident_line(std::string_view s, std::size_t i) {
  if (i >= s.size() || !ident_start(s[i])) return std::string_view::npos;
  while (i < s.size() && ident_char(s[i])) ++i;
  if (i >= s.size() || s[i] != '\n') return std::string_view::npos;
  return i + 1;
}

/// Why `head` (the member's first bytes; `last` its last byte) is a pickle, or nullopt.
/// Protocol 2+ starts with the PROTO opcode 0x80 and the version; protocols 0 and 1 have no
/// header, so only their usual openings are recognised, and only when the member also ends
/// with the STOP opcode '.': a GLOBAL/INST import ("cos\nsystem\n", the code-execution
/// vector), a protocol-0 dict or list with a memo ("(dp0\n", "(lp0\n"), or a protocol-1 empty
/// dict/list followed by BINPUT or MARK.
std::optional<std::string> sniff_pickle(std::string_view head, char last) {
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80) {
    const auto proto = static_cast<unsigned char>(head[1]);
    if (proto >= 2 && proto <= 5) {
      return fmt::format("starts with the pickle PROTO opcode (protocol {})", proto);
    }
  }
  if (last != '.' || head.empty()) return std::nullopt;
  std::size_t i = 0;
  while (i < head.size() && head[i] == '(') ++i;
  if (i < head.size() && (head[i] == 'c' || head[i] == 'i')) {
    const std::size_t module_end = parse_ident_line(head, i + 1);
    if (module_end != std::string_view::npos &&
        parse_ident_line(head, module_end) != std::string_view::npos) {
      const std::size_t nl = head.find('\n', i + 1);
      return fmt::format("is a protocol 0 pickle importing \"{}.{}\"",
                         printable(head.substr(i + 1, nl - i - 1)),
                         printable(head.substr(nl + 1, head.find('\n', nl + 1) - nl - 1)));
    }
  }
  if (head.size() >= 4 && head[0] == '(' && (head[1] == 'd' || head[1] == 'l') && head[2] == 'p' &&
      std::isdigit(static_cast<unsigned char>(head[3]))) {
    return std::string("is a protocol 0 pickle (starts with \"(") + head[1] +
           "p\", ends with STOP)";
  }
  if (head.size() >= 2 && (head[0] == '}' || head[0] == ']') &&
      (head[1] == 'q' || head[1] == '(' || head[1] == 'r')) {
    return std::string("is a protocol 1 pickle (starts with \"") + head[0] + head[1] +
           "\", ends with STOP)";
  }
  return std::nullopt;
}

constexpr std::string_view kNpyMagic = "\x93NUMPY";
constexpr std::string_view kZipMagic = "PK\x03\x04";
constexpr std::string_view kEmptyZipMagic = "PK\x05\x06";

/// True if `type` is a NumPy object type code: "O", "|O", "<O8", ...
bool is_object_type(std::string_view type) {
  if (!type.empty() && (type[0] == '|' || type[0] == '<' || type[0] == '>' || type[0] == '=')) {
    type.remove_prefix(1);
  }
  if (type.empty() || type[0] != 'O') return false;
  return std::all_of(type.begin() + 1, type.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

/// The verdict on a `.npy` header: nullopt if it is a plain array, else why it is unsafe or
/// could not be inspected (which fails closed too).
std::optional<std::string> inspect_npy(std::string_view head, bool complete,
                                       std::uint64_t scan_limit) {
  if (!starts_with(head, kNpyMagic)) {
    return std::string(
        "does not start with the NumPy magic \"\\x93NUMPY\": np.load(allow_pickle=True) would "
        "unpickle it");
  }
  if (head.size() < 10) return std::string("NumPy header is truncated");
  const auto major = static_cast<unsigned char>(head[6]);
  std::uint64_t length = 0;
  std::size_t start = 0;
  auto byte = [&](std::size_t i) {
    return static_cast<std::uint64_t>(static_cast<unsigned char>(head[i]));
  };
  if (major == 1) {
    length = byte(8) | (byte(9) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (head.size() < 12) return std::string("NumPy header is truncated");
    length = byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24);
    start = 12;
  } else {
    return fmt::format("NumPy format version {} is not understood", major);
  }
  if (start + length > head.size()) {
    if (complete) return std::string("NumPy header is truncated");
    return fmt::format(
        "NumPy header of {} bytes is longer than max_member_scan_bytes ({}) and was not inspected",
        length, scan_limit);
  }
  const std::string_view header = head.substr(start, length);
  std::size_t key = header.find("'descr'");
  if (key == std::string_view::npos) key = header.find("\"descr\"");
  if (key == std::string_view::npos) return std::string("NumPy header has no 'descr'");
  std::size_t i = header.find(':', key + 7);
  if (i == std::string_view::npos) return std::string("NumPy header 'descr' has no value");
  ++i;
  while (i < header.size() && header[i] == ' ') ++i;
  if (i >= header.size()) return std::string("NumPy header 'descr' has no value");
  // The value is a quoted type string, or a list describing a structured type: every quoted
  // string in it is examined (a field named "O" is refused too: failing closed).
  std::vector<std::string_view> strings;
  int depth = 0;
  std::size_t j = i;
  do {
    const char c = header[j];
    if (c == '\'' || c == '"') {
      const std::size_t close = header.find(c, j + 1);
      if (close == std::string_view::npos)
        return std::string("NumPy header 'descr' is unterminated");
      strings.push_back(header.substr(j + 1, close - j - 1));
      j = close + 1;
    } else {
      if (c == '[' || c == '(') ++depth;
      if (c == ']' || c == ')') --depth;
      if (depth == 0 && j == i) return fmt::format("NumPy header 'descr' is not understood");
      ++j;
    }
  } while (depth > 0 && j < header.size());
  if (depth != 0) return std::string("NumPy header 'descr' is unterminated");
  for (std::string_view s : strings) {
    if (is_object_type(s)) {
      return fmt::format("is a NumPy array of object dtype (descr '{}'): loading it unpickles",
                         printable(s));
    }
  }
  return std::nullopt;
}

/// The name with compression suffixes removed, lower-cased ("x.PKL.gz" -> "x.pkl").
std::string base_name_for_type(std::string_view name) {
  std::string n = lower(name);
  for (bool again = true; again;) {
    again = false;
    for (std::string_view suffix : {".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip"}) {
      if (ends_with(n, suffix) && n.size() > suffix.size()) {
        n.resize(n.size() - suffix.size());
        again = true;
      }
    }
  }
  return n;
}

/// The family a name alone places a member in, with the reason; nullopt for other names.
std::optional<std::pair<Family, std::string>> family_by_name(std::string_view name) {
  const std::string n = base_name_for_type(name);
  for (std::string_view s : {".pkl", ".pickle"}) {
    if (ends_with(n, s))
      return std::make_pair(Family::pickle, fmt::format("a {} file (pickle)", s));
  }
  if (ends_with(n, ".joblib")) {
    return std::make_pair(Family::joblib, std::string("a .joblib file (pickle-based)"));
  }
  for (std::string_view s : {".pt", ".pth", ".ckpt"}) {
    if (ends_with(n, s)) {
      return std::make_pair(Family::torch,
                            fmt::format("a {} file (PyTorch checkpoints embed pickles)", s));
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Member names and links.

/// Problems with a raw member name, or an empty list; sets `canonical` to the name without
/// "./" and empty segments.
std::vector<std::string> check_name(std::string_view raw, std::string& canonical) {
  std::vector<std::string> problems;
  canonical.clear();
  if (raw.empty()) {
    problems.emplace_back("empty member name");
    return problems;
  }
  if (raw.front() == '/') problems.emplace_back("absolute member name");
  if (raw.size() >= 2 && std::isalpha(static_cast<unsigned char>(raw[0])) && raw[1] == ':') {
    problems.emplace_back("member name starts with a drive letter");
  }
  if (raw.find('\\') != std::string_view::npos) {
    problems.emplace_back("member name contains a backslash (a separator on Windows)");
  }
  if (std::any_of(raw.begin(), raw.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
      })) {
    problems.emplace_back("member name contains a control character");
  }
  bool parent = false;
  for (std::size_t start = 0; start <= raw.size();) {
    std::size_t end = raw.find('/', start);
    if (end == std::string_view::npos) end = raw.size();
    const std::string_view seg = raw.substr(start, end - start);
    if (seg == "..") parent = true;
    if (!seg.empty() && seg != ".") {
      if (!canonical.empty()) canonical += '/';
      canonical.append(seg);
    }
    start = end + 1;
  }
  if (parent) problems.emplace_back("member name contains a '..' component");
  return problems;
}

/// Why a symbolic link `target` in folder `link` (canonical member name) is unsafe, or nullopt.
std::optional<std::string> unsafe_link_target(std::string_view link, std::string_view target) {
  if (target.empty()) return std::string("has an empty target");
  if (target.front() == '/') return std::string("points to an absolute path");
  if (target.find('\\') != std::string_view::npos) return std::string("target has a backslash");
  long depth = static_cast<long>(std::count(link.begin(), link.end(), '/'));
  for (std::size_t start = 0; start <= target.size();) {
    std::size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    const std::string_view seg = target.substr(start, end - start);
    if (seg == "..") {
      if (--depth < 0) return std::string("points outside the archive");
    } else if (!seg.empty() && seg != ".") {
      ++depth;
    }
    start = end + 1;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Streaming the archive.

/// The outer read callback's state: pulls blocks from the store's Reader and hashes them.
struct Source {
  Reader* reader = nullptr;
  Hasher* hasher = nullptr;
  CheckContext* ctx = nullptr;
  std::vector<char> buffer;
  std::uint64_t bytes = 0;
  std::optional<Error> error;  ///< The store's (or the hasher's) error, if reading failed.
  bool cancelled = false;
  bool at_end = false;

  /// Reads the next block (hashing it); 0 at the end, -1 on error.
  la_ssize_t pull() {
    if (at_end) return 0;
    if (ctx->cancelled()) {
      cancelled = true;
      return -1;
    }
    Result<std::size_t> n = reader->read(buffer.data(), buffer.size());
    if (!n) {
      error = n.error();
      return -1;
    }
    if (*n == 0) {
      at_end = true;
      return 0;
    }
    if (Result<void> u = hasher->update(buffer.data(), *n); !u) {
      error = u.error();
      return -1;
    }
    bytes += *n;
    return static_cast<la_ssize_t>(*n);
  }
};

la_ssize_t outer_read(struct archive* a, void* data, const void** out) {
  auto* s = static_cast<Source*>(data);
  const la_ssize_t n = s->pull();
  if (n < 0) {
    archive_set_error(a, s->cancelled ? EINTR : EIO, "%s",
                      s->cancelled ? "interrupted" : s->error->message.c_str());
  }
  *out = s->buffer.data();
  return n;
}

/// libarchive converts pax names (always UTF-8) to the current locale's charset, and a process
/// left in the "C" locale (as the driver is) turns every non-ASCII name into a warning. Reading
/// under C.UTF-8, for this thread only and only while reading, keeps names as they are.
class Utf8LocaleScope {
 public:
  Utf8LocaleScope() : locale_(newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr)) {
    if (locale_ != nullptr) previous_ = uselocale(locale_);
  }
  ~Utf8LocaleScope() {
    if (locale_ != nullptr) {
      uselocale(previous_);
      freelocale(locale_);
    }
  }
  Utf8LocaleScope(const Utf8LocaleScope&) = delete;
  Utf8LocaleScope& operator=(const Utf8LocaleScope&) = delete;

 private:
  locale_t locale_;
  locale_t previous_ = nullptr;
};

/// Frees a libarchive reader.
struct ArchiveFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveFree>;

/// A nested reader's state: first replays the bytes already read from the outer member, then
/// reads the rest of the member's data from the outer archive.
struct NestedSource {
  struct archive* outer = nullptr;
  std::string_view replay;
  bool replayed = false;
  std::vector<char> buffer;
  std::uint64_t* bytes = nullptr;
  char* last = nullptr;
  bool outer_failed = false;
};

la_ssize_t nested_read(struct archive* a, void* data, const void** out) {
  auto* s = static_cast<NestedSource*>(data);
  if (!s->replayed) {
    s->replayed = true;
    if (!s->replay.empty()) {
      *out = s->replay.data();
      return static_cast<la_ssize_t>(s->replay.size());
    }
  }
  const la_ssize_t n = archive_read_data(s->outer, s->buffer.data(), s->buffer.size());
  if (n < 0) {
    s->outer_failed = true;
    archive_set_error(a, EIO, "outer archive: %s",
                      archive_error_string(s->outer) ? archive_error_string(s->outer) : "error");
    return -1;
  }
  if (n > 0) {
    *s->bytes += static_cast<std::uint64_t>(n);
    *s->last = s->buffer[static_cast<std::size_t>(n) - 1];
  }
  *out = s->buffer.data();
  return n;
}

std::string archive_message(struct archive* a) {
  const char* e = archive_error_string(a);
  return e != nullptr ? std::string(e) : std::string("unknown libarchive error");
}

/// The member name libarchive reports (UTF-8 when it can convert), or nullopt.
std::optional<std::string> entry_name(struct archive_entry* e) {
  if (const char* n = archive_entry_pathname_utf8(e)) return std::string(n);
  if (const char* n = archive_entry_pathname(e)) return std::string(n);
  return std::nullopt;
}

/// One regular-file member, for the inventory comparison.
struct MemberFact {
  std::uint64_t size = 0;
  bool regular = true;  ///< false for links and special files (never satisfy an entry).
  std::string type;     ///< "file", "directory", "symbolic link", ...
};

/// One file_inventory entry.
struct InventoryEntry {
  std::string path;  ///< As written (normalised: no "./").
  std::uint64_t size = 0;
};

struct Options {
  ArtifactRef manifest;
  std::optional<PathTemplate> archive;
  std::string inventory_prefix;
  std::vector<std::string> inventory_optional;  ///< fnmatch patterns
  bool allow_unlisted = false;
  bool allow_links = false;
  bool require_name_match = true;
  std::uint64_t scan_bytes = kDefaultScanBytes;
  std::uint64_t max_members = kDefaultMaxMembers;
  std::set<Family> forbid;
  std::set<std::string> formats;      ///< "tar", "zip"
  std::set<std::string> compression;  ///< "gzip", "bzip2", "xz", "zstd", "none"
};

/// What one pass over the archive found.
struct Scan {
  std::uint64_t members = 0;
  std::uint64_t files = 0;
  std::uint64_t directories = 0;
  std::uint64_t data_bytes = 0;
  std::string format;
  std::string compression;
  std::unordered_map<std::string, MemberFact> facts;  ///< canonical name -> fact
  bool complete = false;  ///< every member was read to the end of the archive
};

class DeliveryBundleCheck final : public Check {
 public:
  explicit DeliveryBundleCheck(Options options) : opt_(std::move(options)) {}

  CheckOutcome run(CheckContext& ctx) const override { return evaluate(ctx); }

 private:
  bool forbids(Family f) const { return opt_.forbid.count(f) != 0; }

  /// Adds an unsafe-content finding if the family is forbidden.
  void unsafe(Findings& f, Family family, std::string_view where, const std::string& why) const {
    if (!forbids(family)) return;
    f.add(Kind::unsafe_content, where, fmt::format("{} [{}]", why, family_name(family)));
  }

  CheckOutcome evaluate(CheckContext& ctx) const {
    Findings f;
    // 1. The manifest.
    Result<Artifact> artifact = ctx.artifact(opt_.manifest);
    if (!artifact) return CheckOutcome::from(artifact.error());
    const std::string manifest_path = artifact->path();
    Result<std::shared_ptr<const nlohmann::json>> loaded = ctx.load(opt_.manifest);
    if (!loaded) {
      CheckOutcome out = CheckOutcome::from(loaded.error());
      out.message =
          fmt::format("import manifest '{}': {}", printable(manifest_path), loaded.error().message);
      if (out.status == Status::fail) {
        out.code = loaded.error().code == Errc::not_found ? "delivery_manifest_missing"
                                                          : "delivery_manifest_invalid";
      }
      return out;
    }
    const nlohmann::json& doc = **loaded;
    if (!doc.is_object()) {
      CheckOutcome out = CheckOutcome::fail(
          fmt::format("import manifest '{}': the document is {}, expected an object",
                      printable(manifest_path), doc.type_name()));
      out.code = "delivery_manifest_invalid";
      return out;
    }

    std::optional<std::string> package_path;
    std::optional<std::string> expected_sha;
    std::optional<std::uint64_t> expected_size;
    nlohmann::json package_observed = nlohmann::json::object();
    auto pkg = doc.find("package");
    if (pkg == doc.end() || !pkg->is_object()) {
      f.add(Kind::manifest_invalid, "package",
            pkg == doc.end() ? std::string("is absent; expected an object with path, sha256 and "
                                           "size_bytes")
                             : fmt::format("is {}, expected an object", pkg->type_name()));
    } else {
      auto field = [&](const char* name) -> const nlohmann::json* {
        auto it = pkg->find(name);
        if (it == pkg->end()) {
          f.add(Kind::manifest_invalid, std::string("package.") + name, "is absent");
          return nullptr;
        }
        return &*it;
      };
      if (const nlohmann::json* p = field("path")) {
        if (p->is_string() && !p->get<std::string>().empty()) {
          package_path = p->get<std::string>();
          package_observed["path"] = printable(*package_path);
        } else {
          f.add(Kind::manifest_invalid, "package.path",
                fmt::format("is {} {}, expected a non-empty string", p->type_name(),
                            printable(p->dump())));
        }
      }
      if (const nlohmann::json* s = field("sha256")) {
        if (s->is_string() && is_hex_digest(s->get<std::string>(), DigestAlgorithm::sha256)) {
          expected_sha = lower(s->get<std::string>());
          package_observed["sha256"] = *expected_sha;
        } else {
          f.add(Kind::manifest_invalid, "package.sha256",
                fmt::format("is {} {}, expected 64 hex characters", s->type_name(),
                            printable(s->dump())));
        }
      }
      if (const nlohmann::json* z = field("size_bytes")) {
        if (z->is_number_unsigned() || (z->is_number_integer() && z->get<std::int64_t>() >= 0)) {
          expected_size = z->get<std::uint64_t>();
          package_observed["size_bytes"] = *expected_size;
        } else {
          f.add(Kind::manifest_invalid, "package.size_bytes",
                fmt::format("is {} {}, expected a non-negative integer", z->type_name(),
                            printable(z->dump())));
        }
      }
      if (auto fm = pkg->find("format"); fm != pkg->end()) {
        if (fm->is_string()) {
          package_observed["format"] = printable(fm->get<std::string>());
        } else {
          f.add(Kind::manifest_invalid, "package.format",
                fmt::format("is {}, expected a string", fm->type_name()));
        }
      }
      if (auto inc = pkg->find("includes"); inc != pkg->end()) {
        const bool strings =
            inc->is_array() && std::all_of(inc->begin(), inc->end(),
                                           [](const nlohmann::json& v) { return v.is_string(); });
        if (!strings) {
          f.add(Kind::manifest_invalid, "package.includes",
                fmt::format("is {}, expected a list of strings", inc->type_name()));
        }
      }
    }

    // 2. file_inventory.
    std::vector<InventoryEntry> inventory;
    {
      auto inv = doc.find("file_inventory");
      if (inv == doc.end() || !inv->is_array()) {
        f.add(Kind::manifest_invalid, "file_inventory",
              inv == doc.end() ? std::string("is absent; expected a list of {path, size_bytes}")
                               : fmt::format("is {}, expected a list", inv->type_name()));
      } else if (inv->empty()) {
        f.add(Kind::manifest_invalid, "file_inventory",
              "is empty; expected at least one {path, size_bytes}");
      } else {
        std::set<std::string> seen;
        std::size_t index = 0;
        for (const nlohmann::json& e : *inv) {
          const std::string where = fmt::format("file_inventory[{}]", index++);
          if (!e.is_object()) {
            f.add(Kind::manifest_invalid, where,
                  fmt::format("is {}, expected an object {{path, size_bytes}}", e.type_name()));
            continue;
          }
          auto p = e.find("path");
          auto z = e.find("size_bytes");
          if (p == e.end() || !p->is_string()) {
            f.add(Kind::manifest_invalid, where + ".path",
                  p == e.end() ? std::string("is absent")
                               : fmt::format("is {}, expected a string", p->type_name()));
            continue;
          }
          std::string path = p->get<std::string>();
          while (starts_with(path, "./")) path.erase(0, 2);
          if (Result<void> valid = validate_store_path(path); !valid) {
            f.add(Kind::manifest_invalid, where + ".path",
                  fmt::format("\"{}\" is not a relative path inside the archive",
                              printable(p->get<std::string>())));
            continue;
          }
          if (z == e.end() || !(z->is_number_unsigned() ||
                                (z->is_number_integer() && z->get<std::int64_t>() >= 0))) {
            f.add(Kind::manifest_invalid, where + ".size_bytes",
                  z == e.end() ? fmt::format("is absent (path \"{}\")", printable(path))
                               : fmt::format("is {} {}, expected a non-negative integer",
                                             z->type_name(), printable(z->dump())));
            continue;
          }
          if (!seen.insert(path).second) {
            f.add(Kind::manifest_invalid, where + ".path",
                  fmt::format("\"{}\" is listed twice", printable(path)));
            continue;
          }
          inventory.push_back({std::move(path), z->get<std::uint64_t>()});
        }
      }
    }

    // 3. Where the archive is. A manifest value is data: it may name a file in the manifest's
    // own folder or below it, never anything else.
    const std::size_t slash = manifest_path.rfind('/');
    const std::string manifest_dir =
        slash == std::string::npos ? std::string() : manifest_path.substr(0, slash);
    std::string archive_path;
    if (opt_.archive) {
      Result<std::string> resolved = ctx.resolve(*opt_.archive);
      if (!resolved) return CheckOutcome::from(resolved.error());
      archive_path = *resolved;
      if (opt_.require_name_match && package_path) {
        const std::string_view want = std::string_view(*package_path)
                                          .substr(package_path->rfind('/') == std::string::npos
                                                      ? 0
                                                      : package_path->rfind('/') + 1);
        const std::string_view have =
            std::string_view(archive_path)
                .substr(archive_path.rfind('/') == std::string::npos ? 0
                                                                     : archive_path.rfind('/') + 1);
        if (want != have) {
          f.add(Kind::manifest_invalid, "package.path",
                fmt::format("names \"{}\" but the archive checked is \"{}\" "
                            "(require_name_match: true)",
                            printable(want), printable(have)));
        }
      }
    } else if (package_path) {
      std::string rel = *package_path;
      while (starts_with(rel, "./")) rel.erase(0, 2);
      if (Result<void> valid = validate_store_path(rel); !valid) {
        f.add(Kind::manifest_invalid, "package.path",
              fmt::format("\"{}\" is not a relative path below the manifest's folder (absolute, "
                          "'..', a URI?); set the check's `archive` parameter",
                          printable(*package_path)));
      } else {
        archive_path = manifest_dir.empty() ? rel : manifest_dir + "/" + rel;
      }
    }
    if (archive_path.empty()) {
      return conclude(f, manifest_path, "", nullptr, {}, package_observed, std::nullopt);
    }
    ctx.record_artifact(archive_path);

    // 4. One streaming pass over the archive.
    Result<std::unique_ptr<Reader>> reader = ctx.store().open(archive_path);
    if (!reader) {
      CheckOutcome out = CheckOutcome::from(reader.error());
      out.message =
          fmt::format("bundle archive '{}' (package.path of {}): {}", printable(archive_path),
                      printable(manifest_path), reader.error().message);
      if (out.status == Status::fail) {
        const Errc c = reader.error().code;
        out.code = c == Errc::not_found || c == Errc::not_a_file || c == Errc::out_of_root
                       ? "delivery_archive_missing"
                       : "delivery_archive_malformed";
      }
      if (f.count() > 0 && out.status == Status::fail) {
        // Report the manifest's problems too.
        CheckOutcome all =
            conclude(f, manifest_path, archive_path, nullptr, {}, package_observed, std::nullopt);
        all.message = out.message + "; " + all.message;
        all.code = out.code;
        return all;
      }
      return out;
    }
    Result<Hasher> hasher = Hasher::create(DigestAlgorithm::sha256);
    if (!hasher) return CheckOutcome::from(hasher.error());
    Source source;
    source.reader = reader->get();
    source.hasher = &*hasher;
    source.ctx = &ctx;
    source.buffer.resize(kBlockSize);

    Scan scan = read_archive(source, archive_path, f);
    if (source.cancelled) {
      return CheckOutcome::error(
          fmt::format("delivery_bundle: interrupted while reading '{}'", printable(archive_path)));
    }
    // The digest covers the whole file, also what libarchive did not need (trailing bytes).
    while (!source.error && source.pull() > 0) {
    }
    if (source.cancelled) {
      return CheckOutcome::error(
          fmt::format("delivery_bundle: interrupted while reading '{}'", printable(archive_path)));
    }
    std::optional<Error> read_error = source.error;
    std::optional<std::string> sha;
    if (!read_error) {
      Result<std::string> digest = hasher->finish_hex();
      if (!digest) return CheckOutcome::from(digest.error());
      sha = *digest;
      if (expected_sha && *sha != *expected_sha) {
        f.add(Kind::archive_mismatch, archive_path,
              fmt::format("sha256 is {}, package.sha256 in {} says {}", *sha,
                          printable(manifest_path), *expected_sha));
      }
      if (expected_size && source.bytes != *expected_size) {
        f.add(Kind::archive_mismatch, archive_path,
              fmt::format("size is {} bytes, package.size_bytes in {} says {}", source.bytes,
                          printable(manifest_path), *expected_size));
      }
    }

    // 5. Members against file_inventory (only when the whole archive was listed: a truncated
    // archive already failed, and half a listing would only add noise).
    std::uint64_t matched = 0;
    std::uint64_t absent_optional = 0;
    if (scan.complete) matched = compare_inventory(f, scan, inventory, absent_optional);

    nlohmann::json observed = {
        {"manifest", manifest_path},     {"archive", archive_path},
        {"archive_bytes", source.bytes}, {"members", scan.members},
        {"files", scan.files},           {"directories", scan.directories},
        {"data_bytes", scan.data_bytes}, {"inventory_entries", inventory.size()},
        {"inventory_matched", matched},  {"inventory_optional_absent", absent_optional},
        {"format", scan.format},         {"compression", scan.compression},
    };
    if (sha) observed["sha256"] = *sha;
    return conclude(f, manifest_path, archive_path, &observed, inventory, package_observed,
                    read_error);
  }

  /// Reads every member once. Findings go to `f`; the returned Scan says what was seen.
  Scan read_archive(Source& source, const std::string& archive_path, Findings& f) const {
    Scan scan;
    const Utf8LocaleScope utf8;  // outlives the reader below
    ArchivePtr a(archive_read_new());
    if (!a) {
      f.add(Kind::archive_malformed, archive_path, "libarchive could not allocate a reader");
      return scan;
    }
    if (opt_.formats.count("tar") != 0) archive_read_support_format_tar(a.get());
    if (opt_.formats.count("zip") != 0) archive_read_support_format_zip_streamable(a.get());
    // Only in-process decompressors: never an external program.
    if (opt_.compression.count("gzip") != 0) archive_read_support_filter_gzip(a.get());
    if (opt_.compression.count("bzip2") != 0) archive_read_support_filter_bzip2(a.get());
    if (opt_.compression.count("xz") != 0) archive_read_support_filter_xz(a.get());
    if (opt_.compression.count("zstd") != 0) archive_read_support_filter_zstd(a.get());
    if (archive_read_open(a.get(), &source, nullptr, outer_read, nullptr) != ARCHIVE_OK) {
      if (!source.error && !source.cancelled) {
        f.add(Kind::archive_malformed, archive_path,
              fmt::format("is not a readable {} archive compressed with {}: {}",
                          fmt::join(opt_.formats, "/"), fmt::join(opt_.compression, "/"),
                          archive_message(a.get())));
      }
      return scan;
    }
    std::set<std::string> dir_names;  // canonical names of directories (may repeat)
    std::vector<char> block(kBlockSize);
    bool described = false;
    auto describe = [&] {
      if (described) return;
      described = true;
      scan.format = archive_format_name(a.get()) ? archive_format_name(a.get()) : "";
      std::vector<std::string> filters;
      for (int i = 0; i < archive_filter_count(a.get()); ++i) {
        if (archive_filter_code(a.get(), i) != ARCHIVE_FILTER_NONE) {
          filters.emplace_back(archive_filter_name(a.get(), i));
        }
      }
      scan.compression = filters.empty() ? "none" : fmt::format("{}", fmt::join(filters, "+"));
      if (filters.empty() && opt_.compression.count("none") == 0) {
        f.add(Kind::archive_malformed, archive_path,
              fmt::format("is not compressed; expected {}", fmt::join(opt_.compression, " or ")));
      } else if (filters.size() > 1) {
        f.add(Kind::archive_malformed, archive_path,
              fmt::format("is compressed {} times ({}); expected once", filters.size(),
                          scan.compression));
      }
    };
    for (;;) {
      struct archive_entry* entry = nullptr;
      const int r = archive_read_next_header(a.get(), &entry);
      if (r == ARCHIVE_EOF) {
        describe();
        scan.complete = true;
        break;
      }
      if (r == ARCHIVE_FATAL || r == ARCHIVE_FAILED || r == ARCHIVE_RETRY) {
        if (!source.error && !source.cancelled) {
          f.add(Kind::archive_malformed, archive_path,
                fmt::format("could not be read after {} members ({} compressed bytes read): {}",
                            scan.members, source.bytes, archive_message(a.get())));
        }
        return scan;
      }
      describe();
      ++scan.members;
      std::optional<std::string> raw = entry_name(entry);
      const std::string shown = raw ? *raw : fmt::format("member #{}", scan.members);
      if (r == ARCHIVE_WARN) {
        f.add(Kind::archive_malformed, shown,
              fmt::format("libarchive warning: {}", archive_message(a.get())));
      }
      if (scan.members > opt_.max_members) {
        f.add(Kind::archive_malformed, archive_path,
              fmt::format("has more than max_members ({}) members; reading stopped",
                          opt_.max_members));
        return scan;
      }
      if (!raw) {
        f.add(Kind::unsafe_member, shown, "has no readable name");
        if (archive_read_data_skip(a.get()) != ARCHIVE_OK) break;
        continue;
      }
      std::string canonical;
      std::vector<std::string> problems = check_name(*raw, canonical);
      // A member with an unsafe name fails as such, and is kept out of the inventory comparison.
      const bool unsafe_name = !problems.empty();
      const mode_t type = archive_entry_filetype(entry);
      const char* hardlink = archive_entry_hardlink_utf8(entry);
      if (hardlink == nullptr) hardlink = archive_entry_hardlink(entry);
      const char* symlink = archive_entry_symlink_utf8(entry);
      if (symlink == nullptr) symlink = archive_entry_symlink(entry);
      MemberFact fact;
      fact.size =
          archive_entry_size_is_set(entry) != 0
              ? static_cast<std::uint64_t>(std::max<la_int64_t>(archive_entry_size(entry), 0))
              : 0;
      bool is_dir = false;
      if (hardlink != nullptr) {
        fact.regular = false;
        fact.type = "hard link";
        std::string target;
        const std::vector<std::string> target_problems = check_name(hardlink, target);
        if (!opt_.allow_links) {
          problems.push_back(
              fmt::format("is a hard link to \"{}\" (links are not allowed)", printable(hardlink)));
        } else if (!target_problems.empty() || target.empty()) {
          problems.push_back(
              fmt::format("is a hard link to an unsafe name \"{}\"", printable(hardlink)));
        } else if (auto it = scan.facts.find(target);
                   it == scan.facts.end() || !it->second.regular) {
          problems.push_back(fmt::format(
              "is a hard link to \"{}\", which is not an earlier regular file of the archive",
              printable(hardlink)));
        }
      } else if (type == AE_IFLNK) {
        fact.regular = false;
        fact.type = "symbolic link";
        const std::string target = symlink != nullptr ? symlink : "";
        std::optional<std::string> why = unsafe_link_target(canonical, target);
        if (!opt_.allow_links) {
          problems.push_back(fmt::format("is a symbolic link to \"{}\"{} (links are not allowed)",
                                         printable(target), why ? ", which " + *why : ""));
        } else if (why) {
          problems.push_back(
              fmt::format("is a symbolic link to \"{}\", which {}", printable(target), *why));
        }
      } else if (type == AE_IFDIR) {
        is_dir = true;
        fact.regular = false;
        fact.type = "directory";
      } else if (type == AE_IFREG) {
        fact.type = "file";
      } else {
        fact.regular = false;
        fact.type = type == AE_IFCHR    ? "character device"
                    : type == AE_IFBLK  ? "block device"
                    : type == AE_IFIFO  ? "FIFO"
                    : type == AE_IFSOCK ? "socket"
                                        : "member of unknown type";
        problems.push_back(
            fmt::format("is a {}; only files and directories may be delivered", fact.type));
      }
      if (canonical.empty() && problems.empty() && !is_dir) {
        problems.emplace_back("names no file (only '.' and '/')");
      }
      if (!canonical.empty()) {
        if (is_dir) {
          if (scan.facts.count(canonical) != 0) {
            problems.emplace_back("duplicate member: a directory with the name of an earlier file");
          }
          dir_names.insert(canonical);
        } else if (scan.facts.count(canonical) != 0 || dir_names.count(canonical) != 0) {
          problems.push_back(fmt::format(
              "duplicate member: \"{}\" appears more than once (extraction keeps the last)",
              printable(canonical)));
        }
      }
      for (std::string& p : problems) f.add(Kind::unsafe_member, *raw, std::move(p));
      if (is_dir) {
        ++scan.directories;
      } else if (!canonical.empty() && !unsafe_name) {
        // The first member of a name decides what the inventory sees; duplicates already fail.
        scan.facts.emplace(canonical, fact);
      }

      if (type != AE_IFREG || hardlink != nullptr) {
        if (archive_read_data_skip(a.get()) != ARCHIVE_OK) {
          if (!source.error && !source.cancelled) {
            f.add(Kind::archive_malformed, archive_path,
                  fmt::format("could not be read at member \"{}\": {}", printable(*raw),
                              archive_message(a.get())));
          }
          return scan;
        }
        continue;
      }
      ++scan.files;
      std::uint64_t read = 0;
      if (!scan_member(a.get(), *raw, canonical, block, read, f)) {
        if (!source.error && !source.cancelled) {
          f.add(Kind::archive_malformed, archive_path,
                fmt::format("could not be read at member \"{}\" after {} of its {} bytes: {}",
                            printable(*raw), read, fact.size, archive_message(a.get())));
        }
        return scan;
      }
      scan.data_bytes += read;
      if (archive_entry_size_is_set(entry) != 0 && read != fact.size) {
        f.add(Kind::archive_malformed, *raw,
              fmt::format("holds {} bytes but its header says {}", read, fact.size));
      }
      auto it = scan.facts.find(canonical);
      if (it != scan.facts.end() && archive_entry_size_is_set(entry) == 0) it->second.size = read;
    }
    return scan;
  }

  /// Reads one regular member's data to its end, sniffing its first bytes (and, for a zip,
  /// its members). Returns false if the outer archive could not be read.
  bool scan_member(struct archive* a, const std::string& raw, const std::string& name,
                   std::vector<char>& block, std::uint64_t& read, Findings& f) const {
    const bool scanning = !opt_.forbid.empty();
    const std::uint64_t limit = scanning ? opt_.scan_bytes : 0;
    std::string head;
    char last = 0;
    bool ended = false;
    // The head: up to `limit` bytes, for sniffing.
    while (head.size() < limit) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), limit - head.size()));
      const la_ssize_t n = archive_read_data(a, block.data(), want);
      if (n < 0) return false;
      if (n == 0) {
        ended = true;
        break;
      }
      head.append(block.data(), static_cast<std::size_t>(n));
      read += static_cast<std::uint64_t>(n);
      last = block[static_cast<std::size_t>(n) - 1];
    }
    const std::string where = name.empty() ? raw : name;
    if (scanning) {
      if (auto by_name = family_by_name(name))
        unsafe(f, by_name->first, where, "is " + by_name->second);
      const std::string lname = lower(name);
      const bool zip = starts_with(head, kZipMagic) || starts_with(head, kEmptyZipMagic);
      if (ends_with(lname, ".npz") && !zip) {
        unsafe(f, Family::numpy_object, where,
               "is a .npz that is not a zip archive: np.load(allow_pickle=True) would unpickle it");
      }
      // A zip (a PyTorch checkpoint, a .npz, ...): list it from the stream.
      if (zip && !scan_nested_zip(a, where, head, block, read, last, f)) return false;
      // The rest of the member (none left if the nested reader consumed it).
      if (!ended) {
        for (;;) {
          const la_ssize_t n = archive_read_data(a, block.data(), block.size());
          if (n < 0) return false;
          if (n == 0) break;
          read += static_cast<std::uint64_t>(n);
          last = block[static_cast<std::size_t>(n) - 1];
        }
      }
      if (auto why = sniff_pickle(head, last)) unsafe(f, Family::pickle, where, *why);
      if (ends_with(lname, ".npy") || starts_with(head, kNpyMagic)) {
        if (auto why = inspect_npy(head, head.size() == read, opt_.scan_bytes)) {
          unsafe(f, Family::numpy_object, where, *why);
        }
      }
      return true;
    }
    for (;;) {
      const la_ssize_t n = archive_read_data(a, block.data(), block.size());
      if (n < 0) return false;
      if (n == 0) break;
      read += static_cast<std::uint64_t>(n);
    }
    return true;
  }

  /// Lists a zip member of the outer archive from the stream (replaying `head`), flagging
  /// pickles (e.g. PyTorch's `archive/data.pkl`) and object-dtype .npy arrays inside it.
  /// Returns false if the outer archive failed underneath.
  bool scan_nested_zip(struct archive* outer, const std::string& where, const std::string& head,
                       std::vector<char>& block, std::uint64_t& read, char& last,
                       Findings& f) const {
    NestedSource ns;
    ns.outer = outer;
    ns.replay = head;
    ns.buffer.resize(block.size());
    ns.bytes = &read;
    ns.last = &last;
    ArchivePtr inner(archive_read_new());
    if (!inner) return true;
    archive_read_support_format_zip_streamable(inner.get());
    if (archive_read_open(inner.get(), &ns, nullptr, nested_read, nullptr) != ARCHIVE_OK) {
      if (ns.outer_failed) return false;
      unsafe(f, Family::pickle, where,
             fmt::format("starts like a zip archive but could not be inspected: {}",
                         archive_message(inner.get())));
      return true;
    }
    std::uint64_t count = 0;
    std::string inner_head;
    for (;;) {
      struct archive_entry* e = nullptr;
      const int r = archive_read_next_header(inner.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        if (ns.outer_failed) return false;
        unsafe(f, Family::pickle, where,
               fmt::format("is a zip archive that could not be fully inspected after {} "
                           "entries: {}",
                           count, archive_message(inner.get())));
        return true;
      }
      if (++count > opt_.max_members) {
        unsafe(f, Family::pickle, where,
               fmt::format("is a zip archive with more than max_members ({}) entries; not "
                           "inspected further",
                           opt_.max_members));
        return true;
      }
      const std::optional<std::string> n = entry_name(e);
      const std::string inner_name = n ? *n : fmt::format("entry #{}", count);
      const std::string inner_where = fmt::format("{}!{}", where, inner_name);
      const std::string ln = lower(inner_name);
      if (ends_with(ln, "data.pkl")) {
        unsafe(f, Family::torch, where,
               fmt::format("is a zip holding \"{}\" (a PyTorch checkpoint: its objects are "
                           "pickled)",
                           printable(inner_name)));
      } else if (auto by_name = family_by_name(inner_name)) {
        unsafe(f, by_name->first, inner_where, "is " + by_name->second);
      }
      // The entry's first bytes.
      inner_head.clear();
      char inner_last = 0;
      bool inner_ended = false;
      while (inner_head.size() < opt_.scan_bytes) {
        const std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(block.size(), opt_.scan_bytes - inner_head.size()));
        const la_ssize_t got = archive_read_data(inner.get(), block.data(), want);
        if (got < 0) {
          if (ns.outer_failed) return false;
          unsafe(f, Family::pickle, inner_where,
                 fmt::format("could not be read: {}", archive_message(inner.get())));
          return true;
        }
        if (got == 0) {
          inner_ended = true;
          break;
        }
        inner_head.append(block.data(), static_cast<std::size_t>(got));
        inner_last = block[static_cast<std::size_t>(got) - 1];
      }
      // The rest of the entry is skipped, not read: libarchive skips stored data without
      // decompressing it, and an entry's last byte only matters to a small pickle, which the
      // head then holds whole.
      if (!inner_ended && archive_read_data_skip(inner.get()) != ARCHIVE_OK) {
        if (ns.outer_failed) return false;
        unsafe(f, Family::pickle, inner_where,
               fmt::format("could not be read: {}", archive_message(inner.get())));
        return true;
      }
      if (!ends_with(ln, "data.pkl")) {
        if (auto why = sniff_pickle(inner_head, inner_ended ? inner_last : '\0')) {
          unsafe(f, Family::pickle, inner_where, *why);
        }
      }
      if (ends_with(ln, ".npy") || starts_with(inner_head, kNpyMagic)) {
        if (auto why = inspect_npy(inner_head, inner_ended, opt_.scan_bytes)) {
          unsafe(f, Family::numpy_object, inner_where, *why);
        }
      }
    }
    return !ns.outer_failed;
  }

  /// True if a file_inventory path matches an inventory_optional pattern.
  bool optional_entry(const std::string& path) const {
    return std::any_of(
        opt_.inventory_optional.begin(), opt_.inventory_optional.end(),
        [&](const std::string& pattern) { return fnmatch(pattern.c_str(), path.c_str(), 0) == 0; });
  }

  /// Compares the archive's files with file_inventory; returns how many entries matched.
  std::uint64_t compare_inventory(Findings& f, const Scan& scan,
                                  const std::vector<InventoryEntry>& inventory,
                                  std::uint64_t& absent_optional) const {
    std::uint64_t matched = 0;
    std::set<std::string> expected;
    const std::string prefix = opt_.inventory_prefix;
    for (const InventoryEntry& e : inventory) {
      const std::string member = prefix.empty() ? e.path : prefix + "/" + e.path;
      expected.insert(member);
      auto it = scan.facts.find(member);
      if (it == scan.facts.end() && optional_entry(e.path)) {
        ++absent_optional;
      } else if (it == scan.facts.end()) {
        f.add(Kind::inventory, member,
              fmt::format("listed in file_inventory ({} bytes) but not in the archive", e.size));
      } else if (!it->second.regular) {
        f.add(Kind::inventory, member,
              fmt::format("listed in file_inventory but the archive holds a {}", it->second.type));
      } else if (it->second.size != e.size) {
        f.add(Kind::inventory, member,
              fmt::format("is {} bytes in the archive, file_inventory says {}", it->second.size,
                          e.size));
      } else {
        ++matched;
      }
    }
    if (!opt_.allow_unlisted) {
      // In name order, so that the message does not depend on hashing.
      std::vector<const std::string*> unlisted;
      // Only regular files: a link or a special file either failed already or is an allowed
      // link.
      for (const auto& [name, fact] : scan.facts) {
        if (fact.regular && expected.count(name) == 0) unlisted.push_back(&name);
      }
      std::sort(unlisted.begin(), unlisted.end(),
                [](const std::string* x, const std::string* y) { return *x < *y; });
      for (const std::string* name : unlisted) {
        f.add(Kind::inventory, *name,
              prefix.empty() || starts_with(*name, prefix + "/")
                  ? std::string("is in the archive but not in file_inventory")
                  : fmt::format("is in the archive outside inventory_prefix \"{}\"",
                                printable(prefix)));
      }
    }
    return matched;
  }

  /// The outcome from every finding: pass only with none and a complete read.
  CheckOutcome conclude(const Findings& f, const std::string& manifest_path,
                        const std::string& archive_path, const nlohmann::json* observed,
                        const std::vector<InventoryEntry>& inventory,
                        const nlohmann::json& package_observed,
                        const std::optional<Error>& read_error) const {
    CheckOutcome out;
    out.observed = observed != nullptr
                       ? *observed
                       : nlohmann::json{{"manifest", manifest_path}, {"archive", archive_path}};
    out.observed["package"] = package_observed;
    std::vector<std::string> forbid;
    for (Family fam : opt_.forbid) forbid.emplace_back(family_name(fam));
    out.expected = {{"sha256", package_observed.value("sha256", nlohmann::json())},
                    {"size_bytes", package_observed.value("size_bytes", nlohmann::json())},
                    {"inventory_entries", inventory.size()},
                    {"inventory_prefix", opt_.inventory_prefix},
                    {"inventory_optional", opt_.inventory_optional},
                    {"allow_unlisted_members", opt_.allow_unlisted},
                    {"allow_links", opt_.allow_links},
                    {"forbid", forbid}};
    nlohmann::json details = nlohmann::json::object();
    for (std::size_t i = 0; i < kKinds; ++i) {
      if (f.total[i] == 0) continue;
      const std::string key(kKindKey[i]);
      details[key] = f.kept[i];
      details[key + "_total"] = f.total[i];
      if (f.total[i] > f.kept[i].size()) details[key + "_truncated"] = true;
    }
    if (read_error) {
      details["read_error"] = {{"code", std::string(to_string(read_error->code))},
                               {"message", printable(read_error->message)}};
    }
    out.details = std::move(details);

    const std::uint64_t findings = f.count();
    if (findings == 0 && !read_error) {
      out.status = Status::pass;
      out.message = fmt::format(
          "{} ({} bytes, sha256 {}) matches package in {}: {} members, {} of {} file_inventory "
          "entries present with their sizes{}, no unsafe names, links or serialised objects",
          printable(archive_path), out.observed.value("archive_bytes", 0),
          out.observed.value("sha256", std::string()), printable(manifest_path),
          out.observed.value("members", 0), out.observed.value("inventory_matched", 0),
          inventory.size(),
          out.observed.value("inventory_optional_absent", 0) > 0
              ? fmt::format(" ({} inventory_optional entries absent)",
                            out.observed.value("inventory_optional_absent", 0))
              : std::string());
      return out;
    }
    std::vector<std::string> shown;
    std::string code;
    std::vector<std::string> counts;
    for (std::size_t i = 0; i < kKinds; ++i) {
      if (f.total[i] == 0) continue;
      if (code.empty()) code = kKindCode[i];
      counts.push_back(fmt::format("{} {}", f.total[i], kKindKey[i]));
      shown.insert(shown.end(), f.named[i].begin(), f.named[i].end());
    }
    std::string list = fmt::format("{}", fmt::join(shown, "; "));
    if (findings > shown.size()) list += fmt::format("; ... and {} more", findings - shown.size());
    const std::string subject =
        archive_path.empty() ? fmt::format("delivery described by {}", printable(manifest_path))
                             : fmt::format("{} (described by {})", printable(archive_path),
                                           printable(manifest_path));
    if (findings == 0) {
      out.status = status_for(read_error->code);
      out.code = "delivery_archive_unreadable";
      out.message =
          fmt::format("{} could not be read: {}", subject, printable(read_error->message));
      return out;
    }
    out.status = Status::fail;
    out.code = code;
    out.message = fmt::format(
        "{}: {} ({}){}: {}", subject,
        findings == 1 ? "1 problem" : fmt::format("{} problems", findings), fmt::join(counts, ", "),
        read_error ? fmt::format("; reading failed: {}", printable(read_error->message))
                   : std::string(),
        list);
    return out;
  }

  Options opt_;
};

CheckInfo delivery_bundle_info() {
  CheckInfo info;
  info.type = "delivery_bundle";
  info.category = "integrity";
  info.summary =
      "Verifies a delivered bundle archive against its import manifest and scans it for unsafe "
      "members and pickles.";
  info.description =
      "Reads the import manifest (package{path, sha256, size_bytes}, file_inventory[{path,\n"
      "size_bytes}]) and then the bundle archive it names (package.path, relative to the\n"
      "manifest's folder; a manifest value can never name anything outside that folder), once,\n"
      "streaming, with libarchive: the SHA-256 and size of the compressed file are computed in "
      "the\n"
      "same pass that lists and sniffs the members, and nothing is extracted or written.\n"
      "Fails on: a sha256 or size differing from package; a truncated or corrupt archive, another\n"
      "format or compression than allowed; a member name that is absolute, has a '..' component,\n"
      "a backslash, a control character or a drive letter; a duplicate member; any hard or\n"
      "symbolic link (with allow_links: one that points outside the archive); a device, FIFO or\n"
      "socket; a file_inventory entry missing from the archive or of another size; a member not "
      "in\n"
      "file_inventory; and unsafe serialised objects (forbid): pickle (*.pkl, *.pickle, and any\n"
      "member whose first bytes are a pickle, whatever its name), numpy_object (.npy of object\n"
      "dtype, or a .npy/.npz that np.load would unpickle), torch (*.pt, *.pth, *.ckpt, and any "
      "zip\n"
      "holding data.pkl), joblib (*.joblib). Zip members (torch checkpoints, .npz) are listed "
      "from\n"
      "the stream and their entries inspected. A missing, malformed or incomplete manifest\n"
      "(package.sha256 absent, file_inventory empty, ...) fails. Every finding names the member "
      "or\n"
      "the manifest field. Codes: delivery_unsafe_member, delivery_unsafe_content,\n"
      "delivery_archive_mismatch, delivery_archive_malformed, delivery_manifest_invalid,\n"
      "delivery_inventory_mismatch, delivery_manifest_missing, delivery_archive_missing.";
  info.params = {
      {"manifest",
       ParamType::artifact,
       false,
       kDefaultManifest,
       "The import manifest (import_manifest.json) describing the bundle.",
       {}},
      {"archive",
       ParamType::path,
       false,
       nullptr,
       "The bundle archive (default: the manifest's package.path, in the manifest's folder).",
       {}},
      {"require_name_match",
       ParamType::boolean,
       false,
       true,
       "With `archive` set: package.path's file name must equal the archive's.",
       {}},
      {"inventory_prefix",
       ParamType::string,
       false,
       "",
       "Folder inside the archive that file_inventory paths are relative to (\"\" : the "
       "archive's root). Members outside it are unlisted.",
       {}},
      {"inventory_optional",
       ParamType::string_list,
       false,
       nlohmann::json::array(),
       "fnmatch patterns ('*' also matches '/') of file_inventory paths that may be absent from "
       "the archive (e.g. the bundle itself, if the pipeline lists it); present, they are still "
       "compared.",
       {}},
      {"allow_unlisted_members",
       ParamType::boolean,
       false,
       false,
       "If true, archive files not in file_inventory do not fail the check.",
       {}},
      {"allow_links",
       ParamType::boolean,
       false,
       false,
       "If true, symbolic links that stay inside the archive and hard links to earlier files "
       "are accepted; links never satisfy a file_inventory entry.",
       {}},
      {"forbid",
       ParamType::string_list,
       false,
       nlohmann::json::array({"pickle", "numpy_object", "torch", "joblib"}),
       "Unsafe serialised-object families that fail the check (empty: no content scan).",
       {}},
      {"max_member_scan_bytes",
       ParamType::integer,
       false,
       kDefaultScanBytes,
       "Bytes read from the start of each member (and each zip entry) for sniffing, 16 to 16 MiB; "
       "a NumPy header longer than this fails.",
       {}},
      {"max_members",
       ParamType::integer,
       false,
       kDefaultMaxMembers,
       "Most members read (and zip entries per zip member); more fails the check.",
       {}},
      {"formats",
       ParamType::string_list,
       false,
       nlohmann::json::array({"tar"}),
       "Archive formats accepted: tar (ustar, pax, GNU), zip.",
       {}},
      {"compression",
       ParamType::string_list,
       false,
       nlohmann::json::array({"gzip"}),
       "Compressions accepted: gzip, bzip2, xz, zstd, none.",
       {}},
  };
  info.example =
      "- id: bundle\n"
      "  type: delivery_bundle\n"
      "  manifest: scenes/${scene_id}/geniesim/import_manifest.json\n";
  return info;
}

Result<std::unique_ptr<Check>> make_delivery_bundle(const CheckConfig& config) {
  Options opt;
  if (const ArtifactRef* manifest = config.get_artifact("manifest")) {
    opt.manifest = *manifest;
  } else {
    Result<PathTemplate> path = PathTemplate::parse(kDefaultManifest);
    if (!path) return config.error("manifest", path.error().message);
    opt.manifest.path = std::move(*path);
    opt.manifest.format = Format::json;
  }
  if (config.has("archive")) {
    const auto& paths = config.get_paths("archive");
    if (paths.size() != 1) return config.error("archive", "expected one path");
    opt.archive = paths.front();
  }
  opt.require_name_match = config.get_bool("require_name_match");
  std::string prefix = config.get_string("inventory_prefix");
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (starts_with(prefix, "./")) prefix.erase(0, 2);
  if (prefix == ".") prefix.clear();
  if (!prefix.empty()) {
    if (Result<void> valid = validate_store_path(prefix); !valid) {
      return config.error(
          "inventory_prefix",
          fmt::format("\"{}\" is not a relative folder inside the archive: {}",
                      config.get_string("inventory_prefix"), valid.error().message));
    }
  }
  opt.inventory_prefix = prefix;
  opt.inventory_optional = config.get_string_list("inventory_optional");
  for (const std::string& pattern : opt.inventory_optional) {
    if (pattern.empty())
      return config.error("inventory_optional", "an empty pattern matches nothing");
  }
  opt.allow_unlisted = config.get_bool("allow_unlisted_members");
  opt.allow_links = config.get_bool("allow_links");
  for (const std::string& name : config.get_string_list("forbid")) {
    auto it = std::find_if(kFamilies.begin(), kFamilies.end(),
                           [&](const auto& fam) { return fam.second == name; });
    if (it == kFamilies.end()) {
      return config.error("forbid",
                          fmt::format("unknown family \"{}\"; expected pickle, numpy_object, "
                                      "torch or joblib",
                                      name));
    }
    opt.forbid.insert(it->first);
  }
  const std::int64_t scan = config.get_int("max_member_scan_bytes");
  if (scan < 16 || scan > (16 << 20)) {
    return config.error("max_member_scan_bytes",
                        fmt::format("must be between 16 and 16777216, found {}", scan));
  }
  opt.scan_bytes = static_cast<std::uint64_t>(scan);
  const std::int64_t members = config.get_int("max_members");
  if (members < 1) {
    return config.error("max_members", fmt::format("must be at least 1, found {}", members));
  }
  opt.max_members = static_cast<std::uint64_t>(members);
  for (const std::string& name : config.get_string_list("formats")) {
    if (name != "tar" && name != "zip") {
      return config.error("formats",
                          fmt::format("unknown format \"{}\"; expected tar or zip", name));
    }
    opt.formats.insert(name);
  }
  if (opt.formats.empty()) return config.error("formats", "must name at least one format");
  for (const std::string& name : config.get_string_list("compression")) {
    if (name != "gzip" && name != "bzip2" && name != "xz" && name != "zstd" && name != "none") {
      return config.error(
          "compression",
          fmt::format("unknown compression \"{}\"; expected gzip, bzip2, xz, zstd or none", name));
    }
    opt.compression.insert(name);
  }
  if (opt.compression.empty()) {
    return config.error("compression", "must name at least one compression (or none)");
  }
  return std::unique_ptr<Check>(std::make_unique<DeliveryBundleCheck>(std::move(opt)));
}

void register_checks(PluginRegistrar& registrar) {
  registrar.add(delivery_bundle_info(), make_delivery_bundle);
}

}  // namespace
}  // namespace stagecheck::delivery_bundle

STAGECHECK_PLUGIN("delivery_bundle", "0.1.0", stagecheck::delivery_bundle::register_checks)
