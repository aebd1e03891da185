// `checksums`: verifies the files of a folder against a checksum manifest. Formats
// (pipeline-artifacts.md section 7, RFC 8493): the import `checksums.json` ({"files": {path:
// {sha256, size_bytes}}}, optionally HMAC-SHA256 signed), LeRobot's flat `meta/checksums.json`
// ({path: sha256}), the `checksums` block of an import manifest, coreutils `sha256sum` text (and
// its BSD `--tag` form), and BagIt bags. The manifest is validated strictly first (and its
// signature, if configured); then every listed file is stat'ed (missing and wrong-sized files are
// found without hashing), the folders are listed for files the manifest does not name (and a
// bag's Payload-Oxum is checked), and finally every file is hashed once, with every algorithm
// the manifests name for it, in parallel with OpenSSL. Passes only when every listed file was
// hashed and matched and nothing unlisted was found.

#include <fnmatch.h>
#include <stagecheck/digest.hpp>
#include <stagecheck/local_store.hpp>
#include <stagecheck/parallel.hpp>
#include <stagecheck/plugin.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "checksums_internal.hpp"

namespace stagecheck::checksums {
namespace {

/// Findings of each kind kept for details (all are counted).
constexpr std::size_t kMaxKept = 1000;
/// Findings named in the message, over all kinds.
constexpr std::size_t kMaxInMessage = 20;
/// Streaming block: large enough that the per-call overhead vanishes next to SHA-256, small
/// enough to stay in L2 while every algorithm of a file reads it.
constexpr std::size_t kBlockSize = 1u << 20;
/// Most threads one check uses, whatever --jobs says.
constexpr unsigned kMaxJobs = 64;
/// Largest HMAC key file read.
constexpr std::uint64_t kMaxKeyBytes = 64 * 1024;
/// The one signature algorithm of the import checksums.json.
constexpr std::string_view kSignatureAlg = "HMAC-SHA256";

enum class ManifestFormat {
  automatic,
  checksums_json,
  flat_json,
  sha256sum,
  import_manifest,
  bagit
};
enum class UnlistedMode { folders, none, tree };
enum class SignaturePolicy { automatic, required, optional, ignore };

const char* to_string(UnlistedMode mode) {
  return mode == UnlistedMode::none ? "none" : mode == UnlistedMode::tree ? "tree" : "folders";
}

/// What became of one listed file.
enum class Verdict { pending, verified, missing, size_mismatch, mismatch, out_of_root, unreadable };

struct FileState {
  Verdict verdict = Verdict::pending;
  std::uint64_t actual_size = 0;
  std::string found;  ///< The error message, for missing/unreadable files.
  /// Digest found per Entry::digests index (filled when hashed).
  std::vector<std::string> digests;
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

/// Per worker thread: one block buffer and one hasher per algorithm, reused across files.
struct HashState {
  std::vector<char> buffer;
  std::array<std::optional<Hasher>, 4> hashers;
  Hasher& hasher(DigestAlgorithm a) {
    std::optional<Hasher>& h = hashers[static_cast<std::size_t>(a)];
    if (!h) {
      Result<Hasher> made = Hasher::create(a);
      if (!made) throw std::runtime_error(made.error().message);
      h.emplace(std::move(*made));
    }
    return *h;
  }
};

/// Streams one file once through a hasher per distinct algorithm of `e`; fills `digests`
/// (per Entry::digests index) and returns the bytes read.
Result<std::uint64_t> hash_file(const Store& store, const Entry& e, HashState& state,
                                std::vector<std::string>& digests, const std::atomic<bool>& stop) {
  std::vector<DigestAlgorithm> algs;
  for (const Expected& d : e.digests) {
    if (std::find(algs.begin(), algs.end(), d.algorithm) == algs.end()) algs.push_back(d.algorithm);
  }
  Result<std::unique_ptr<Reader>> reader = store.open(e.full);
  if (!reader) return reader.error();
  std::vector<Hasher*> hashers;
  for (DigestAlgorithm a : algs) {
    Hasher& h = state.hasher(a);
    if (Result<void> r = h.reset(); !r) return r.error();
    hashers.push_back(&h);
  }
  if (state.buffer.size() != kBlockSize) state.buffer.resize(kBlockSize);
  std::uint64_t total = 0;
  for (;;) {
    if (stop.load(std::memory_order_relaxed)) {
      return make_error(Errc::interrupted, "interrupted while hashing " + e.full);
    }
    Result<std::size_t> got = (*reader)->read(state.buffer.data(), state.buffer.size());
    if (!got) return got.error();
    if (*got == 0) break;
    total += *got;
    for (Hasher* h : hashers) {
      if (Result<void> r = h->update(state.buffer.data(), *got); !r) return r.error();
    }
  }
  std::vector<std::string> by_alg;
  for (Hasher* h : hashers) {
    Result<std::string> hex = h->finish_hex();
    if (!hex) return hex.error();
    by_alg.push_back(std::move(*hex));
  }
  digests.clear();
  for (const Expected& d : e.digests) {
    digests.push_back(by_alg[static_cast<std::size_t>(
        std::find(algs.begin(), algs.end(), d.algorithm) - algs.begin())]);
  }
  return total;
}

Verdict verdict_for(Errc c) {
  return c == Errc::not_found || c == Errc::not_a_file ? Verdict::missing
         : c == Errc::out_of_root                      ? Verdict::out_of_root
         : status_for(c) == Status::fail               ? Verdict::missing
                                                       : Verdict::unreadable;
}

/// What a BagIt bag adds to its Manifest: the payload manifests' names and the declared
/// Payload-Oxum.
struct BagFacts {
  std::vector<std::string> payload_manifests;  ///< "manifest-sha256.txt", ...
  std::vector<std::string> tag_manifests;
  std::string version;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> oxum;  ///< octets, count
};

struct Options {
  ArtifactRef manifest;
  ManifestFormat format = ManifestFormat::automatic;
  AlgorithmChoice algorithm;
  std::optional<PathTemplate> root;
  UnlistedMode unlisted = UnlistedMode::folders;
  bool unlisted_written = false;
  std::vector<std::string> exclude;
  bool optional = false;
  SignaturePolicy signature = SignaturePolicy::automatic;
  std::string hmac_key_env;  ///< Name of the environment variable ("" if none).
  std::string hmac_key_var;  ///< Name of the local_path spec variable ("" if none).
};

class ChecksumsCheck final : public Check {
 public:
  explicit ChecksumsCheck(Options o) : o_(std::move(o)) {}

  // An exception escaping evaluate() becomes an `error` result naming this check: the runner
  // catches it for every check, plugins included.
  CheckOutcome run(CheckContext& ctx) const override { return evaluate(ctx); }

 private:
  bool excluded(const std::string& rel) const {
    return std::any_of(o_.exclude.begin(), o_.exclude.end(), [&](const std::string& pattern) {
      return fnmatch(pattern.c_str(), rel.c_str(), 0) == 0;
    });
  }

  bool key_configured() const { return !o_.hmac_key_env.empty() || !o_.hmac_key_var.empty(); }

  static CheckOutcome manifest_fail(const std::string& manifest_path, const std::string& format,
                                    std::string message, const char* code) {
    CheckOutcome out = CheckOutcome::fail(std::move(message));
    out.code = code;
    out.observed = {{"manifest", manifest_path}, {"format", format}};
    return out;
  }

  CheckOutcome absent(const std::string& manifest_path, const Error& e, bool bag) const {
    const char* what = bag ? "BagIt bag" : "checksum manifest";
    if (e.code == Errc::not_found && (o_.optional || o_.manifest.optional)) {
      CheckOutcome out = CheckOutcome::make(
          Status::skipped,
          fmt::format("{} '{}' is absent (optional)", what, printable(manifest_path)));
      out.observed = {{"manifest", manifest_path}, {"exists", false}};
      return out;
    }
    CheckOutcome out = CheckOutcome::from(e);
    out.message = fmt::format("{} '{}': {}", what, printable(manifest_path), e.message);
    if (out.status == Status::fail) {
      out.code =
          e.code == Errc::not_found ? "checksums_manifest_missing" : "checksums_manifest_invalid";
    }
    return out;
  }

  /// The HMAC key, or an outcome saying why there is none. The key never enters a message.
  Result<std::string> load_key(CheckContext& ctx) const {
    if (!o_.hmac_key_env.empty()) {
      if (!ctx.process_env_allowed()) {
        return make_error(
            Errc::permission_denied,
            fmt::format("hmac_key_env: reading the process environment (variable {}) is only "
                        "allowed when embedded (an embedding job sets "
                        "RunOptions::allow_process_env); from the driver, use hmac_key_file",
                        o_.hmac_key_env));
      }
      const char* v = std::getenv(o_.hmac_key_env.c_str());
      if (v == nullptr || *v == '\0') {
        return make_error(Errc::not_found,
                          fmt::format("hmac_key_env: environment variable {} is {}",
                                      o_.hmac_key_env, v == nullptr ? "not set" : "empty"));
      }
      return std::string(v);
    }
    const nlohmann::json* var = ctx.var(o_.hmac_key_var);
    if (var == nullptr || !var->is_string() || var->get_ref<const std::string&>().empty()) {
      return make_error(Errc::not_found,
                        fmt::format("hmac_key_file: variable '{}' is not set", o_.hmac_key_var));
    }
    Result<std::string> key = read_local_file(var->get<std::string>(), kMaxKeyBytes);
    if (!key) {
      return make_error(key.error().code, fmt::format("hmac_key_file: {}", key.error().message));
    }
    // One trailing line end is the file's, not the key's (`echo KEY > file`).
    if (!key->empty() && key->back() == '\n') key->pop_back();
    if (!key->empty() && key->back() == '\r') key->pop_back();
    if (key->empty()) {
      return make_error(Errc::malformed, fmt::format("hmac_key_file: '{}' holds an empty key",
                                                     printable(var->get<std::string>())));
    }
    return key;
  }

  /// Verifies format A's signature; nullopt when the check may go on. Fills `observed`.
  std::optional<CheckOutcome> verify_signature(CheckContext& ctx, const nlohmann::json* doc,
                                               const std::string& manifest_path,
                                               const std::string& format,
                                               nlohmann::json& observed) const {
    if (o_.signature == SignaturePolicy::ignore) {
      observed = "not checked (signature: ignore)";
      return std::nullopt;
    }
    const bool has_key = key_configured();
    const nlohmann::json* sig = nullptr;
    if (doc != nullptr && format == "checksums_json") {
      if (auto it = doc->find("signature"); it != doc->end()) sig = &*it;
    }
    auto fail = [&](std::string why) {
      CheckOutcome out = manifest_fail(
          manifest_path, format,
          fmt::format("checksum manifest '{}': signature: {}", printable(manifest_path), why),
          "checksums_signature_invalid");
      out.expected = {{"signature", "HMAC-SHA256 over the canonical JSON without \"signature\""}};
      return out;
    };
    if (!has_key) {
      observed = sig != nullptr ? "present, not verified (no key configured)" : "absent";
      return std::nullopt;
    }
    if (sig == nullptr) {
      if (o_.signature == SignaturePolicy::optional) {
        observed = "absent (optional)";
        return std::nullopt;
      }
      return fail(
          format == "checksums_json"
              ? std::string("no \"signature\"; a key is configured, so the manifest must "
                            "be signed")
              : fmt::format("the {} format carries no signature, but a key is configured", format));
    }
    if (!sig->is_object()) {
      return fail(fmt::format("\"signature\" is {}, expected an object", sig->type_name()));
    }
    auto alg = sig->find("alg");
    if (alg == sig->end() || !alg->is_string() || alg->get<std::string>() != kSignatureAlg) {
      return fail(fmt::format("\"signature.alg\" is {}, expected \"{}\"",
                              alg == sig->end()  ? std::string("absent")
                              : alg->is_string() ? "\"" + printable(alg->get<std::string>()) + "\""
                                                 : std::string(alg->type_name()),
                              kSignatureAlg));
    }
    auto value = sig->find("value");
    if (value == sig->end() || !value->is_string() ||
        !is_hex_digest(value->get<std::string>(), DigestAlgorithm::sha256)) {
      return fail(fmt::format(
          "\"signature.value\" is {}, expected 64 hex characters",
          value == sig->end()  ? std::string("absent")
          : value->is_string() ? describe_digest(value->get<std::string>(), DigestAlgorithm::sha256)
                               : std::string(value->type_name())));
    }
    std::string key_id;
    if (auto kid = sig->find("key_id"); kid != sig->end()) {
      if (!kid->is_string() && !kid->is_null()) {
        return fail(fmt::format("\"signature.key_id\" is {}, expected a string", kid->type_name()));
      }
      if (kid->is_string()) key_id = kid->get<std::string>();
    }
    Result<std::string> key = load_key(ctx);
    if (!key) {
      CheckOutcome out = CheckOutcome::from(key.error());
      // A key that cannot be had means the signature could not be verified: never a pass.
      if (out.status != Status::error) out.status = Status::error;
      out.message = fmt::format("checksum manifest '{}': signature not verified: {}",
                                printable(manifest_path), key.error().message);
      out.observed = {{"manifest", manifest_path}, {"format", format}};
      return out;
    }
    nlohmann::json unsigned_doc = *doc;
    unsigned_doc.erase("signature");
    Result<std::string> canonical = python_canonical_json(unsigned_doc);
    if (!canonical) return fail(canonical.error().message);
    Result<std::string> mac = hmac_sha256_hex(*key, *canonical);
    if (!mac) return CheckOutcome::error(fmt::format("checksums: {}", mac.error().message));
    std::string given = value->get<std::string>();
    for (char& c : given) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!equal_constant_time(*mac, given)) {
      return fail(fmt::format(
          "\"signature.value\" does not match the HMAC-SHA256 of the manifest{} (the manifest "
          "was changed after signing, or signed with another key)",
          key_id.empty() ? "" : fmt::format(" (key_id \"{}\")", printable(key_id))));
    }
    observed = key_id.empty()
                   ? nlohmann::json("verified")
                   : nlohmann::json(fmt::format("verified (key_id \"{}\")", printable(key_id)));
    return std::nullopt;
  }

  /// Reads a bag's tag files and manifests into `m`. Returns an outcome if the bag cannot be
  /// verified at all.
  std::optional<CheckOutcome> load_bag(CheckContext& ctx, const std::string& bag, Manifest& m,
                                       BagFacts& facts) const {
    m.format = "bagit";
    const Store& store = ctx.store();
    const std::uint64_t cap = o_.manifest.max_bytes.value_or(ctx.limits().max_bytes);
    auto read = [&](const std::string& name) -> Result<std::string> {
      const std::string path = join(bag, name);
      ctx.record_artifact(path);
      return store.read(path, cap);
    };
    auto bag_fail = [&](std::string why) {
      return manifest_fail(bag, "bagit",
                           fmt::format("BagIt bag '{}' is invalid: {}", printable(bag), why),
                           "checksums_manifest_invalid");
    };
    auto read_error = [&](const std::string& name, const Error& e) {
      CheckOutcome out = CheckOutcome::from(e);
      out.message = fmt::format("BagIt bag '{}': {}: {}", printable(bag), name, e.message);
      if (out.status == Status::fail) out.code = "checksums_manifest_invalid";
      out.observed = {{"manifest", bag}, {"format", "bagit"}};
      return out;
    };

    // bagit.txt: exactly BagIt-Version then Tag-File-Character-Encoding (RFC 8493 2.1.1).
    Result<std::string> bagit_txt = read("bagit.txt");
    if (!bagit_txt) {
      // `optional` skips an absent bag, never a folder that has content but is no bag.
      bool has_content = false;
      if (bagit_txt.error().code == Errc::not_found) {
        Result<void> r = store.list_level(bag, [&](const ListEntry&) {
          has_content = true;
          return false;
        });
        if (!r && !has_content) {
          // Whether the folder is empty (an absent optional bag) cannot be known.
          CheckOutcome out = CheckOutcome::from(r.error());
          if (out.status != Status::error) out.status = Status::error;
          out.message = fmt::format(
              "BagIt bag '{}': bagit.txt is absent and the folder could not "
              "be listed: {}",
              printable(bag), r.error().message);
          return out;
        }
      }
      if (has_content) {
        return bag_fail(
            fmt::format("bagit.txt: {} (a folder with content but no bagit.txt is "
                        "not a bag)",
                        bagit_txt.error().message));
      }
      return absent(bag, bagit_txt.error(), true);
    }
    m.own_files.insert(join(bag, "bagit.txt"));
    auto tags = parse_bagit_tags(*bagit_txt, "bagit.txt");
    if (!tags) return bag_fail(tags.error().message);
    if (tags->size() != 2 || (*tags)[0].first != "BagIt-Version" ||
        (*tags)[1].first != "Tag-File-Character-Encoding") {
      std::vector<std::string> names;
      for (const auto& t : *tags) names.push_back("\"" + printable(t.first) + "\"");
      return bag_fail(fmt::format(
          "bagit.txt: expected exactly \"BagIt-Version\" then \"Tag-File-Character-Encoding\", "
          "found [{}]",
          fmt::join(names, ", ")));
    }
    facts.version = (*tags)[0].second;
    const std::string& v = facts.version;
    const std::size_t dot = v.find('.');
    const bool version_ok = dot != std::string::npos && dot > 0 && dot + 1 < v.size() &&
                            v.find_first_not_of("0123456789.") == std::string::npos &&
                            v.find('.', dot + 1) == std::string::npos &&
                            (v.compare(0, dot, "0") == 0 || v.compare(0, dot, "1") == 0);
    if (!version_ok) {
      return bag_fail(
          fmt::format("bagit.txt: BagIt-Version \"{}\" is not supported (expected "
                      "0.9x or 1.x)",
                      printable(v)));
    }
    std::string encoding = (*tags)[1].second;
    for (char& c : encoding) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (encoding != "UTF-8") {
      return bag_fail(fmt::format(
          "bagit.txt: Tag-File-Character-Encoding is \"{}\", expected \"UTF-8\" (the only "
          "encoding this check reads)",
          printable((*tags)[1].second)));
    }

    // The bag's top level: manifests, tag manifests, bag-info.txt, fetch.txt.
    bool has_info = false;
    bool has_fetch = false;
    std::vector<std::pair<std::string, DigestAlgorithm>> payload, tag;
    std::vector<std::string> unsupported;
    Result<void> listed = store.list_level(bag, [&](const ListEntry& le) {
      if (le.is_folder) return true;
      const std::string& n = le.name;
      if (n == "bag-info.txt") has_info = true;
      if (n == "fetch.txt") has_fetch = true;
      const bool is_manifest = n.rfind("manifest-", 0) == 0;
      const bool is_tag = n.rfind("tagmanifest-", 0) == 0;
      if ((is_manifest || is_tag) && n.size() > 4 && n.compare(n.size() - 4, 4, ".txt") == 0) {
        const std::size_t from = is_tag ? 12 : 9;
        const std::string alg = n.substr(from, n.size() - 4 - from);
        std::optional<DigestAlgorithm> a;
        for (DigestAlgorithm x : {DigestAlgorithm::sha256, DigestAlgorithm::sha512,
                                  DigestAlgorithm::sha1, DigestAlgorithm::md5}) {
          if (alg == stagecheck::to_string(x)) a = x;
        }
        m.own_files.insert(le.path);
        if (!a) {
          unsupported.push_back(n);
        } else {
          (is_tag ? tag : payload).emplace_back(n, *a);
        }
      }
      return true;
    });
    if (!listed) return read_error("listing the bag's top level", listed.error());
    if (!unsupported.empty()) {
      return bag_fail(fmt::format(
          "{}: algorithm not supported (sha256, sha512, sha1, md5); the bag cannot be fully "
          "verified",
          fmt::join(unsupported, ", ")));
    }
    if (payload.empty()) {
      return bag_fail("no payload manifest (manifest-<algorithm>.txt); RFC 8493 requires one");
    }
    if (has_fetch) {
      m.own_files.insert(join(bag, "fetch.txt"));
      return bag_fail(
          "fetch.txt is present: this check verifies complete bags only (fetch the "
          "listed files and remove fetch.txt first)");
    }

    // bag-info.txt: Payload-Oxum, checked against the payload before hashing.
    if (has_info) {
      m.own_files.insert(join(bag, "bag-info.txt"));
      Result<std::string> info = read("bag-info.txt");
      if (!info) return read_error("bag-info.txt", info.error());
      auto info_tags = parse_bagit_tags(*info, "bag-info.txt");
      if (!info_tags) return bag_fail(info_tags.error().message);
      for (const auto& [name, value] : *info_tags) {
        if (name != "Payload-Oxum") continue;
        if (facts.oxum) return bag_fail("bag-info.txt: Payload-Oxum appears more than once");
        const std::size_t d = value.find('.');
        const std::string octets = value.substr(0, d);
        const std::string count = d == std::string::npos ? "" : value.substr(d + 1);
        auto digits = [](const std::string& s) {
          return !s.empty() && s.size() <= 19 &&
                 s.find_first_not_of("0123456789") == std::string::npos;
        };
        if (!digits(octets) || !digits(count)) {
          return bag_fail(fmt::format(
              "bag-info.txt: Payload-Oxum \"{}\" is malformed (expected <octets>.<file count>)",
              printable(value)));
        }
        facts.oxum = std::make_pair(std::stoull(octets), std::stoull(count));
      }
    }

    std::sort(payload.begin(), payload.end());
    std::sort(tag.begin(), tag.end());
    for (const auto& [name, alg] : payload) {
      Result<std::string> text = read(name);
      if (!text) return read_error(name, text.error());
      parse_bagit_manifest(*text, name, alg, true, m);
      facts.payload_manifests.push_back(name);
    }
    for (const auto& [name, alg] : tag) {
      Result<std::string> text = read(name);
      if (!text) return read_error(name, text.error());
      parse_bagit_manifest(*text, name, alg, false, m);
      facts.tag_manifests.push_back(name);
    }
    return std::nullopt;
  }

  CheckOutcome evaluate(CheckContext& ctx) const {
    Result<Artifact> artifact = ctx.artifact(o_.manifest);
    if (!artifact) return CheckOutcome::from(artifact.error());
    std::string manifest_path = artifact->path();
    while (manifest_path.size() > 1 && manifest_path.back() == '/') manifest_path.pop_back();

    Manifest m;
    BagFacts bag;
    std::optional<nlohmann::json> doc;
    nlohmann::json signature_observed;
    ManifestFormat format = o_.format;
    if (format != ManifestFormat::bagit) {
      Result<ObjectInfo> info = artifact->stat();
      if (!info && info.error().code == Errc::not_a_file && format == ManifestFormat::automatic) {
        format = ManifestFormat::bagit;  // a folder: read it as a bag
      } else if (!info) {
        return absent(manifest_path, info.error(), false);
      }
    }
    if (format == ManifestFormat::bagit) {
      if (auto stop = load_bag(ctx, manifest_path, m, bag)) return *stop;
    } else {
      m.own_files.insert(manifest_path);
      Result<std::string> text = artifact->bytes();
      if (!text) {
        CheckOutcome out = CheckOutcome::from(text.error());
        out.message = fmt::format("checksum manifest '{}' could not be read: {}",
                                  printable(manifest_path), text.error().message);
        if (out.status == Status::fail) out.code = "checksums_manifest_invalid";
        return out;
      }
      const std::size_t first = text->find_first_not_of(" \t\r\n");
      const bool json_like = first != std::string::npos && (*text)[first] == '{';
      if (format == ManifestFormat::sha256sum ||
          (format == ManifestFormat::automatic && !json_like)) {
        parse_text_manifest(*text, manifest_path, o_.algorithm, m);
      } else {
        const char* name = format == ManifestFormat::flat_json         ? "flat_json"
                           : format == ManifestFormat::import_manifest ? "import_manifest"
                                                                       : "checksums_json";
        Result<nlohmann::json> parsed = parse_json(*text, manifest_path, ctx.limits());
        if (!parsed) {
          return manifest_fail(manifest_path, name,
                               fmt::format("checksum manifest '{}' ({}) is invalid: {}",
                                           printable(manifest_path), name, parsed.error().message),
                               "checksums_manifest_invalid");
        }
        if (!parsed->is_object()) {
          return manifest_fail(
              manifest_path, name,
              fmt::format("checksum manifest '{}' ({}) is invalid: the document is {}, "
                          "expected an object",
                          printable(manifest_path), name, parsed->type_name()),
              "checksums_manifest_invalid");
        }
        doc = std::move(*parsed);
        // auto: "files" means the import checksums.json, "checksums" an import manifest,
        // anything else the flat form (which refuses non-string values, so a misdetected
        // document still fails).
        if (format == ManifestFormat::automatic) {
          format = doc->contains("files")       ? ManifestFormat::checksums_json
                   : doc->contains("checksums") ? ManifestFormat::import_manifest
                                                : ManifestFormat::flat_json;
        }
        if (format == ManifestFormat::flat_json) {
          parse_flat_json(*doc, manifest_path, o_.algorithm, m);
        } else if (format == ManifestFormat::import_manifest) {
          parse_import_manifest(*doc, manifest_path, m);
        } else {
          parse_checksums_json(*doc, manifest_path, o_.algorithm, m);
        }
      }
    }
    if (m.fatal) {
      return manifest_fail(manifest_path, m.format,
                           fmt::format("checksum manifest '{}' ({}) is invalid: {}",
                                       printable(manifest_path), m.format, *m.fatal),
                           "checksums_manifest_invalid");
    }
    if (auto stop = verify_signature(ctx, doc ? &*doc : nullptr, manifest_path, m.format,
                                     signature_observed)) {
      return *stop;
    }
    if (m.entries.empty() && m.invalid.empty()) {
      CheckOutcome out = manifest_fail(
          manifest_path, m.format,
          fmt::format("checksum manifest '{}' ({}) lists no files; expected at least one entry",
                      printable(manifest_path), m.format),
          "checksums_manifest_invalid");
      out.observed["files"] = 0;
      return out;
    }

    std::string root;
    if (m.format == "bagit") {
      root = manifest_path;
    } else if (o_.root && (o_.root->text() == "." || o_.root->text() == "./")) {
      root.clear();  // the store's root (a path template cannot name it)
    } else if (o_.root) {
      Result<std::string> resolved = ctx.resolve(*o_.root);
      if (!resolved) return CheckOutcome::from(resolved.error());
      root = *resolved;
      while (!root.empty() && root.back() == '/') root.pop_back();
      if (root == ".") root.clear();
    } else {
      const std::size_t slash = manifest_path.rfind('/');
      root = slash == std::string::npos ? "" : manifest_path.substr(0, slash);
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

    std::unordered_map<std::string, std::size_t> by_full;
    for (std::size_t i = 0; i < m.entries.size(); ++i) by_full.emplace(m.entries[i].full, i);
    // Unlisted files, filtered here so that workers can do it: store path -> root-relative path
    // to report, or nullopt if it is listed, part of the manifest, or excluded.
    auto unlisted_rel = [&](const std::string& full) -> std::optional<std::string> {
      if (m.own_files.count(full) != 0 || by_full.count(full) != 0) return std::nullopt;
      std::string rel = root.empty() ? full : full.substr(root.size() + 1);
      if (m.format != "bagit" && excluded(rel)) return std::nullopt;
      return rel;
    };

    // Cheap pass: a missing or wrong-sized file is found without reading anything. In
    // `folders` mode the folders holding listed files are listed in the same parallel pass
    // (one task per folder, merged in folder order so the result does not depend on timing).
    std::vector<std::string> folders;
    if (m.format != "bagit" && o_.unlisted == UnlistedMode::folders) {
      std::set<std::string> unique;
      for (const Entry& e : m.entries) {
        const std::size_t slash = e.full.rfind('/');
        unique.insert(slash == std::string::npos ? "" : e.full.substr(0, slash));
      }
      folders.assign(unique.begin(), unique.end());
    }
    std::vector<std::vector<std::string>> folder_unlisted(folders.size());
    std::vector<std::optional<Error>> folder_errors(folders.size());
    std::optional<std::string> crash = parallel_for(
        folders.size() + m.entries.size(), jobs,
        [&](std::size_t i) {
          if (i < folders.size()) {
            Result<void> r = store.list_level(folders[i], [&](const ListEntry& le) {
              if (!le.is_folder) {
                if (auto rel = unlisted_rel(le.path)) folder_unlisted[i].push_back(std::move(*rel));
              }
              return !stop.load(std::memory_order_relaxed);
            });
            if (!r) folder_errors[i] = r.error();
            return;
          }
          const Entry& e = m.entries[i - folders.size()];
          FileState& s = states[i - folders.size()];
          Result<ObjectInfo> st = store.stat(e.full);
          if (!st) {
            s.verdict = verdict_for(st.error().code);
            s.found = st.error().message;
            return;
          }
          s.actual_size = st->size;
          if (e.size && *e.size != st->size) s.verdict = Verdict::size_mismatch;
        },
        cancelled, stop);
    if (crash) return CheckOutcome::error(fmt::format("checksums: {}", *crash));
    if (stop || ctx.cancelled()) return interrupted("examining");

    // Listing pass, still before hashing: unlisted files; for a bag, the payload's coverage by
    // every payload manifest and its Payload-Oxum.
    Findings unlisted;
    Findings incomplete;  // bag payload files missing from some payload manifests
    std::optional<Error> listing_error;
    nlohmann::json payload_observed;
    auto consider = [&](const std::string& full) {
      if (auto rel = unlisted_rel(full)) unlisted.add({{"path", printable(*rel)}});
    };
    if (m.format == "bagit") {
      std::uint64_t octets = 0, count = 0;
      const std::string data = join(root, "data/");
      ctx.record_artifact(data);
      Result<void> r = store.list(data, [&](const ObjectInfo& o) {
        octets += o.size;
        ++count;
        auto it = by_full.find(o.path);
        if (it == by_full.end()) {
          consider(o.path);
          return !ctx.cancelled();
        }
        const Entry& e = m.entries[it->second];
        std::vector<std::string> absent_from;
        for (const std::string& manifest : bag.payload_manifests) {
          const bool in = std::any_of(e.digests.begin(), e.digests.end(),
                                      [&](const Expected& d) { return d.source == manifest; });
          if (!in) absent_from.push_back(manifest);
        }
        if (!absent_from.empty()) {
          incomplete.add({{"path", printable(e.path)}, {"not_in", absent_from}});
        }
        return !ctx.cancelled();
      });
      if (!r) listing_error = r.error();
      payload_observed = {{"octets", octets}, {"files", count}};
      if (bag.oxum && !listing_error && (bag.oxum->first != octets || bag.oxum->second != count)) {
        m.problems.push_back(fmt::format(
            "Payload-Oxum in bag-info.txt is {}.{}, but the payload holds {} bytes in {} files",
            bag.oxum->first, bag.oxum->second, octets, count));
      }
    } else if (o_.unlisted == UnlistedMode::tree) {
      ctx.record_artifact(root.empty() ? std::string() : root + "/");
      Result<void> r = store.list(root.empty() ? "" : root + "/", [&](const ObjectInfo& o) {
        consider(o.path);
        return !ctx.cancelled();
      });
      if (!r) listing_error = r.error();
    } else if (o_.unlisted == UnlistedMode::folders) {
      for (std::size_t k = 0; k < folders.size(); ++k) {
        for (const std::string& rel : folder_unlisted[k]) unlisted.add({{"path", printable(rel)}});
        if (folder_errors[k] && !listing_error) listing_error = folder_errors[k];
      }
    }
    if (ctx.cancelled()) return interrupted("listing the folders of");

    // Hash the largest files first, so that one big file does not start last and run alone;
    // the small ones then fill in behind the large ones on every thread.
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
          thread_local HashState state;
          const Entry& e = m.entries[order[k]];
          FileState& s = states[order[k]];
          Result<std::uint64_t> bytes = hash_file(store, e, state, s.digests, stop);
          if (!bytes) {
            s.verdict = verdict_for(bytes.error().code);
            s.found = bytes.error().message;
            return;
          }
          s.actual_size = *bytes;
          hashed_bytes += *bytes;
          bool all = true;
          for (std::size_t d = 0; d < e.digests.size(); ++d) {
            all = all && s.digests[d] == e.digests[d].hex;
          }
          s.verdict = all ? Verdict::verified : Verdict::mismatch;
        },
        cancelled, stop);
    if (crash) return CheckOutcome::error(fmt::format("checksums: {}", *crash));
    if (stop) return interrupted("hashing");

    CheckOutcome out = conclude(ctx, manifest_path, root, m, states, unlisted, incomplete,
                                listing_error, hashed_bytes.load());
    if (!signature_observed.is_null()) out.observed["signature"] = signature_observed;
    if (m.format == "bagit") {
      out.observed["bagit_version"] = bag.version;
      out.observed["payload"] = payload_observed;
      if (bag.oxum) {
        out.observed["payload_oxum"] = fmt::format("{}.{}", bag.oxum->first, bag.oxum->second);
      }
      out.observed["manifests"] = bag.payload_manifests;
      out.observed["tag_manifests"] = bag.tag_manifests;
      if (o_.unlisted_written || !o_.exclude.empty()) {
        out.details["note"] =
            "unlisted and exclude do not apply to a BagIt bag: every payload file must be "
            "listed (RFC 8493)";
      }
    }
    return out;
  }

  CheckOutcome conclude(CheckContext& ctx, const std::string& manifest_path,
                        const std::string& root, const Manifest& m,
                        const std::vector<FileState>& states, const Findings& unlisted,
                        const Findings& incomplete, const std::optional<Error>& listing_error,
                        std::uint64_t bytes) const {
    Findings missing, size_mismatch, mismatch, out_of_root, unreadable, invalid;
    std::uint64_t verified = 0;
    std::set<std::string> algorithms;
    std::vector<std::string> named;  // "kind: path (...)" in the order shown in the message
    std::vector<std::string> named_other;
    const bool bagit = m.format == "bagit";
    for (const std::string& p : m.problems) {
      if (named_other.size() < kMaxInMessage) named_other.push_back(p);
    }
    for (const Invalid& inv : m.invalid) {
      invalid.add({{"entry", inv.entry}, {"reason", inv.reason}});
      if (named_other.size() < kMaxInMessage) {
        named_other.push_back(fmt::format("invalid entry {}: {}", inv.entry, inv.reason));
      }
    }
    for (std::size_t i = 0; i < states.size(); ++i) {
      const Entry& e = m.entries[i];
      const FileState& s = states[i];
      for (const Expected& d : e.digests) algorithms.insert(std::string(to_string(d.algorithm)));
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
        case Verdict::mismatch: {
          if (mismatch.total < kMaxKept) ctx.record_artifact(e.full);
          std::size_t d = 0;
          while (d + 1 < e.digests.size() && s.digests[d] == e.digests[d].hex) ++d;
          const Expected& x = e.digests[d];
          mismatch.add({{"path", p},
                        {"algorithm", std::string(to_string(x.algorithm))},
                        {"expected", x.hex},
                        {"found", s.digests[d]},
                        {"source", printable(x.source)}});
          if (name) {
            named.push_back(fmt::format("mismatch: {} ({}expected {} {}, found {})", p,
                                        bagit ? printable(x.source) + ": " : "",
                                        to_string(x.algorithm), x.hex, s.digests[d]));
          }
          break;
        }
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
    std::vector<std::string> named_unlisted;
    for (const auto& u : unlisted.kept) {
      if (named_unlisted.size() < kMaxInMessage) {
        named_unlisted.push_back(fmt::format("unlisted: {}", u["path"].get<std::string>()));
      }
    }
    for (const auto& u : incomplete.kept) {
      if (named_unlisted.size() < kMaxInMessage) {
        named_unlisted.push_back(fmt::format("not in every payload manifest: {} (absent from {})",
                                             u["path"].get<std::string>(),
                                             fmt::join(u["not_in"], ", ")));
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
        {"algorithms", algorithms},
    };
    if (bagit) observed["not_in_every_manifest"] = incomplete.total;
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
    put("not_in_every_manifest", incomplete);
    put("invalid_entries", invalid);
    put("unreadable", unreadable);
    if (!m.problems.empty()) details["problems"] = m.problems;
    if (listing_error) {
      details["listing_error"] = {{"code", std::string(stagecheck::to_string(listing_error->code))},
                                  {"message", printable(listing_error->message)}};
    }

    const bool listing_failed = listing_error && status_for(listing_error->code) == Status::fail;
    const bool failed = missing.total + size_mismatch.total + mismatch.total + out_of_root.total +
                                unlisted.total + incomplete.total + invalid.total +
                                m.problems.size() >
                            0 ||
                        listing_failed;
    CheckOutcome out;
    out.observed = std::move(observed);
    out.expected = {{"algorithms", algorithms},
                    {"unlisted", bagit ? "tree (data/)" : to_string(o_.unlisted)}};
    out.details = std::move(details);
    if (!failed && unreadable.total == 0 && !listing_error) {
      out.status = Status::pass;
      out.message = fmt::format("{} files verified ({} bytes) against {}", verified, bytes,
                                printable(manifest_path));
      return out;
    }

    // Findings in the message: the manifest's own problems, the files' (in manifest order),
    // unlisted files, then invalid entries; at most kMaxInMessage, with the number left out.
    std::vector<std::string> shown;
    std::size_t problems_shown = std::min(m.problems.size(), kMaxInMessage);
    shown.insert(shown.end(), named_other.begin(),
                 named_other.begin() + static_cast<std::ptrdiff_t>(problems_shown));
    shown.insert(shown.end(), named.begin(), named.end());
    shown.insert(shown.end(), named_unlisted.begin(), named_unlisted.end());
    shown.insert(shown.end(), named_other.begin() + static_cast<std::ptrdiff_t>(problems_shown),
                 named_other.end());
    if (shown.size() > kMaxInMessage) shown.resize(kMaxInMessage);
    const std::uint64_t findings = m.problems.size() + missing.total + size_mismatch.total +
                                   mismatch.total + out_of_root.total + unreadable.total +
                                   unlisted.total + incomplete.total + invalid.total;
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
    } else if (unlisted.total + incomplete.total > 0) {
      out.code = "checksums_unlisted_files";
    } else {
      out.code = "checksums_manifest_invalid";
    }
    out.message = fmt::format(
        "{} against {}: {} verified, {} missing, {} size mismatches, {} mismatched, {} unlisted, "
        "{} invalid entries{}{}: {}",
        m.format, printable(manifest_path), verified, missing.total + out_of_root.total,
        size_mismatch.total, mismatch.total, unlisted.total + incomplete.total, invalid.total,
        m.problems.empty() ? "" : fmt::format(", {} manifest problems", m.problems.size()),
        unreadable.total > 0 ? fmt::format(", {} unreadable", unreadable.total) : "", list);
    return out;
  }

  Options o_;
};

CheckInfo checksums_info() {
  CheckInfo info;
  info.type = "checksums";
  info.category = "integrity";
  info.summary =
      "Verifies files against a checksum manifest or a BagIt bag (hashing every listed file).";
  info.description =
      "Reads a checksum manifest and verifies every file it lists. First the manifest is\n"
      "validated (and its HMAC-SHA256 signature, when a key is configured); then a cheap pass\n"
      "stats each file (missing files and size mismatches are reported without hashing) and\n"
      "lists the folders for unlisted files (and checks a bag's Payload-Oxum); then every file\n"
      "is hashed once, with every algorithm the manifests name for it, streamed in 1 MiB\n"
      "blocks on --jobs threads (OpenSSL EVP, SHA-NI where available), largest files first.\n"
      "Formats: checksums_json {\"files\": {path: {sha256, size_bytes}}} (the import\n"
      "checksums.json; its \"algorithm\" may name sha256/sha512/sha1/md5, the entry key then\n"
      "being that name; a bare digest string is accepted as an entry; optional \"signature\"\n"
      "{alg \"HMAC-SHA256\", value, key_id?} over Python's json.dumps(sort_keys=True,\n"
      "separators=(\",\",\":\")) of the document without \"signature\"), flat_json {path: hex}\n"
      "(LeRobot meta/checksums.json), import_manifest (the \"checksums\" block of\n"
      "import_manifest.json: metadata, then bundle_files or else files; the\n"
      "\"import_manifest.json\" self-entry is checked against the canonical JSON of the manifest\n"
      "without it), sha256sum text (\"<hex>  <path>\", \"<hex> *<path>\", or the BSD --tag form\n"
      "\"SHA256 (<path>) = <hex>\"), and bagit (the manifest is the bag folder: bagit.txt,\n"
      "every manifest-<alg>.txt, tagmanifest-<alg>.txt, bag-info.txt Payload-Oxum; every\n"
      "payload file under data/ must be in every payload manifest; %0A %0D %25 decoded).\n"
      "auto picks bagit for a folder, checksums_json for a JSON object with \"files\",\n"
      "import_manifest for one with \"checksums\", flat_json for another object, sha256sum\n"
      "otherwise. Fails closed: an absolute path, a `..` segment, invalid UTF-8, a digest of\n"
      "the wrong length or with non-hex characters (an empty one too), a negative or\n"
      "non-integer size_bytes, a duplicate path (\"./a\" vs \"a\", and names equal after Unicode\n"
      "NFC normalisation), a malformed line (named by number) or an empty manifest fails;\n"
      "such entries are never read. Codes, most severe first: checksum_mismatch (digest or\n"
      "size), checksums_missing_files (missing, not a file, or a symlink out of the root),\n"
      "checksums_unlisted_files, checksums_manifest_invalid (also a wrong Payload-Oxum or\n"
      "self-checksum); checksums_signature_invalid; an absent manifest is\n"
      "checksums_manifest_missing (or skipped with optional). Files that could not be read\n"
      "(permission, I/O) make the result `error` (code checksums_unreadable) unless something\n"
      "failed. The HMAC key never appears in a message or report.";
  info.params = {
      {"manifest",
       ParamType::artifact,
       true,
       nullptr,
       "The checksum manifest (a file), or the BagIt bag's folder.",
       {}},
      {"format",
       ParamType::string,
       false,
       "auto",
       "Manifest format.",
       {"auto", "checksums_json", "flat_json", "import_manifest", "sha256sum", "bagit"}},
      {"algorithm",
       ParamType::string,
       false,
       "sha256",
       "Digest algorithm of sha256sum and flat_json manifests (auto: by each digest's length: "
       "64 sha256, 128 sha512, 40 sha1, 32 md5). For checksums_json, the manifest's own "
       "\"algorithm\" wins, and must agree if this is written. Not allowed for bagit (the "
       "manifest names say it) or import_manifest (sha256).",
       {"auto", "sha256", "sha512", "sha1", "md5"}},
      {"root",
       ParamType::path,
       false,
       nullptr,
       "Folder the manifest's paths are relative to (default: the manifest's own folder; "
       "\".\" is the store's root; a bag's paths are relative to the bag).",
       {}},
      {"unlisted",
       ParamType::string,
       false,
       "folders",
       "Where files the manifest does not list fail the check: folders (those holding listed "
       "files, not recursive), tree (the whole root, recursively) or none. A bag always checks "
       "its whole data/ tree.",
       {"folders", "none", "tree"}},
      {"exclude",
       ParamType::string_list,
       false,
       nlohmann::json::array(),
       "fnmatch patterns, matched against the root-relative path ('*' also matches '/'), of "
       "files never reported as unlisted. Not allowed for bagit.",
       {}},
      {"optional",
       ParamType::boolean,
       false,
       false,
       "If true, a missing manifest (or bag) skips the check instead of failing it. Never a "
       "pass.",
       {}},
      {"optional_manifest", ParamType::boolean, false, false, "Older name of `optional`.", {}},
      {"signature",
       ParamType::string,
       false,
       "auto",
       "HMAC-SHA256 signature of a checksums_json manifest. auto: required when a key is "
       "configured, else not verified (reported as such); required / optional (a present "
       "signature must verify; both need a key); ignore.",
       {"auto", "required", "optional", "ignore"}},
      {"hmac_key_env",
       ParamType::string,
       false,
       nullptr,
       "Name of the environment variable holding the HMAC key (e.g. CHECKSUMS_HMAC_KEY). Read "
       "only when embedded with RunOptions::allow_process_env; the driver refuses it (error).",
       {}},
      {"hmac_key_file",
       ParamType::local_path,
       false,
       nullptr,
       "$variable (type local_path) naming a file holding the HMAC key (one trailing newline "
       "is dropped).",
       {}},
  };
  info.example =
      "- id: dataset_checksums\n"
      "  type: checksums\n"
      "  manifest: datasets/${run_id}/checksums.json\n"
      "  unlisted: tree\n"
      "  exclude: [\"*.tmp\"]\n"
      "- id: bag\n"
      "  type: checksums\n"
      "  manifest: deliveries/${run_id}/bag   # a BagIt bag's folder\n"
      "  format: bagit\n";
  return info;
}

Result<std::unique_ptr<Check>> make_checksums(const CheckConfig& config) {
  Options o;
  const ArtifactRef* manifest = config.get_artifact("manifest");
  if (manifest == nullptr) return config.error("manifest", "is required");
  o.manifest = *manifest;
  const std::string f = config.get_string("format");
  if (f == "checksums_json") {
    o.format = ManifestFormat::checksums_json;
  } else if (f == "flat_json") {
    o.format = ManifestFormat::flat_json;
  } else if (f == "sha256sum") {
    o.format = ManifestFormat::sha256sum;
  } else if (f == "import_manifest") {
    o.format = ManifestFormat::import_manifest;
  } else if (f == "bagit") {
    o.format = ManifestFormat::bagit;
  } else if (f != "auto") {
    return config.error("format", fmt::format("unknown format \"{}\"", f));
  }
  const std::string a = config.get_string("algorithm");
  o.algorithm.written = config.has("algorithm");
  if (a != "auto") {
    o.algorithm.fixed = parse_digest_algorithm(a);
    if (!o.algorithm.fixed) return config.error("algorithm", fmt::format("unknown \"{}\"", a));
  }
  if (o.algorithm.written && o.format == ManifestFormat::bagit) {
    return config.error("algorithm", "not allowed for bagit: the manifest file names say it");
  }
  if (o.algorithm.written && o.format == ManifestFormat::import_manifest &&
      o.algorithm.fixed != DigestAlgorithm::sha256) {
    return config.error("algorithm", "an import manifest's checksums are sha256");
  }
  const std::string u = config.get_string("unlisted");
  o.unlisted_written = config.has("unlisted");
  if (u == "none") {
    o.unlisted = UnlistedMode::none;
  } else if (u == "tree") {
    o.unlisted = UnlistedMode::tree;
  } else if (u != "folders") {
    return config.error("unlisted", fmt::format("unknown mode \"{}\"", u));
  }
  if (config.has("root")) {
    const auto& paths = config.get_paths("root");
    if (paths.size() != 1) return config.error("root", "expected one path");
    o.root = paths.front();
  }
  o.exclude = config.get_string_list("exclude");
  for (const std::string& pattern : o.exclude) {
    if (pattern.empty()) return config.error("exclude", "an empty pattern matches nothing");
  }
  if (o.format == ManifestFormat::bagit) {
    if (o.unlisted_written) {
      return config.error("unlisted",
                          "not allowed for bagit: every payload file under data/ "
                          "must be listed (RFC 8493)");
    }
    if (!o.exclude.empty()) {
      return config.error("exclude",
                          "not allowed for bagit: every payload file under data/ "
                          "must be listed (RFC 8493)");
    }
    if (config.has("root")) {
      return config.error("root", "not allowed for bagit: a bag's paths are relative to the bag");
    }
  }
  o.optional = config.get_bool("optional") || config.get_bool("optional_manifest");
  const std::string s = config.get_string("signature");
  o.signature = s == "required"   ? SignaturePolicy::required
                : s == "optional" ? SignaturePolicy::optional
                : s == "ignore"   ? SignaturePolicy::ignore
                                  : SignaturePolicy::automatic;
  if (config.has("hmac_key_env")) {
    o.hmac_key_env = config.get_string("hmac_key_env");
    if (o.hmac_key_env.empty() || o.hmac_key_env.find('=') != std::string::npos) {
      return config.error("hmac_key_env", "expected an environment variable name");
    }
  }
  if (config.has("hmac_key_file")) o.hmac_key_var = config.get_string("hmac_key_file");
  if (!o.hmac_key_env.empty() && !o.hmac_key_var.empty()) {
    return config.error("hmac_key_file", "give hmac_key_env or hmac_key_file, not both");
  }
  const bool has_key = !o.hmac_key_env.empty() || !o.hmac_key_var.empty();
  if ((o.signature == SignaturePolicy::required || o.signature == SignaturePolicy::optional) &&
      !has_key) {
    return config.error("signature",
                        fmt::format("'{}' needs a key: set hmac_key_env or hmac_key_file", s));
  }
  if (has_key && o.signature == SignaturePolicy::ignore) {
    return config.error("signature",
                        "'ignore' with a key configured: drop the key or the "
                        "'ignore'");
  }
  if (has_key &&
      (o.format == ManifestFormat::flat_json || o.format == ManifestFormat::sha256sum ||
       o.format == ManifestFormat::bagit || o.format == ManifestFormat::import_manifest)) {
    return config.error(config.has("hmac_key_env") ? "hmac_key_env" : "hmac_key_file",
                        "signatures are verified for checksums_json manifests only");
  }
  return std::unique_ptr<Check>(std::make_unique<ChecksumsCheck>(std::move(o)));
}

void register_checks(PluginRegistrar& registrar) {
  registrar.add(checksums_info(), make_checksums);
}

}  // namespace
}  // namespace stagecheck::checksums

STAGECHECK_PLUGIN("checksums", "0.2.0", stagecheck::checksums::register_checks)
