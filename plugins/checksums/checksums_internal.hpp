#pragma once
/// \file
/// Private to the checksums plugin: the parsed form of every manifest format, the parsers, and
/// Python-compatible canonical JSON (for HMAC signatures and the import manifest's self-entry).

#include <stagecheck/artifact.hpp>
#include <stagecheck/digest.hpp>
#include <stagecheck/result.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace stagecheck::checksums {

/// Longest path quoted in a message or details.
inline constexpr std::size_t kMaxShown = 200;

/// Text for a message or a JSON value: control bytes, quotes, backslashes and every non-ASCII
/// byte are escaped, so a hostile path can neither forge its surroundings nor make a report
/// invalid UTF-8.
std::string printable(std::string_view text);

/// The algorithm a manifest's digests use, as the spec's `algorithm` parameter gives it.
/// `automatic`: inferred from each digest's length (the four lengths are distinct).
struct AlgorithmChoice {
  std::optional<DigestAlgorithm> fixed;  ///< nullopt: infer from the digest's length.
  bool written = false;                  ///< The spec wrote `algorithm` explicitly.
};

/// One digest a file must have.
struct Expected {
  DigestAlgorithm algorithm = DigestAlgorithm::sha256;
  std::string hex;     ///< Lower-case.
  std::string source;  ///< The manifest file that states it (for messages).
};

/// One file a manifest lists.
struct Entry {
  std::string path;  ///< Relative to the root, as written (decoded), no leading "./".
  std::vector<Expected> digests;
  std::optional<std::uint64_t> size;
  std::string full;  ///< Store path.
};

/// A manifest entry that was refused (never read).
struct Invalid {
  std::string entry;  ///< The path as written, or "FILE line N".
  std::string reason;
};

/// The parsed manifest(s) of one check: entries, refused entries, or a reason the whole
/// manifest is unusable. Collects entries from several manifest files (BagIt) by path.
struct Manifest {
  std::string format;
  std::vector<Entry> entries;
  std::vector<Invalid> invalid;
  std::optional<std::string> fatal;
  /// Findings about the manifest as a whole that fail the check but leave the files to verify
  /// (a bad signature is fatal instead): e.g. a wrong Payload-Oxum.
  std::vector<std::string> problems;
  /// Store paths that are part of the manifest itself: never "unlisted".
  std::set<std::string> own_files;

  /// Adds `digest` for `path` from `source`: validates the path (relative, beneath the root,
  /// valid UTF-8, no duplicate within `source` after NFC normalisation) and the digest, and
  /// merges entries of the same path from several sources. `where` names it in messages.
  void add(std::string path, std::string_view digest, std::optional<DigestAlgorithm> algorithm,
           std::optional<std::uint64_t> size, const std::string& source, const std::string& where);

 private:
  /// Per source: NFC form of each path seen → the path as written (for duplicates).
  std::map<std::string, std::unordered_map<std::string, std::string>> nfc_first_;
  std::unordered_map<std::string, std::size_t> index_;  ///< path → entries index.
};

/// NFC normalisation of UTF-8 text; nullopt if the text is not valid UTF-8.
std::optional<std::string> nfc(std::string_view text);

/// Why a digest is not acceptable for `algorithm` (nullopt: unknown, by length), for a message.
std::string describe_digest(std::string_view digest, std::optional<DigestAlgorithm> algorithm);

/// `json.dumps(value, sort_keys=True, separators=(",", ":"))` of Python 3, byte for byte
/// (ensure_ascii escaping, float repr). Errc::malformed for NaN/Infinity.
Result<std::string> python_canonical_json(const nlohmann::json& value);

/// Parsers: each fills `m` from the manifest text. `label` names the manifest in messages.
void parse_checksums_json(const nlohmann::json& doc, const std::string& label,
                          const AlgorithmChoice& algorithm, Manifest& m);
void parse_flat_json(const nlohmann::json& doc, const std::string& label,
                     const AlgorithmChoice& algorithm, Manifest& m);
/// coreutils `sha256sum` (also sha512sum, sha1sum, md5sum) text, and the BSD `--tag` form
/// "SHA256 (path) = hex".
void parse_text_manifest(std::string_view text, const std::string& label,
                         const AlgorithmChoice& algorithm, Manifest& m);
/// The `checksums` block of an import manifest (reference section 7 B).
void parse_import_manifest(const nlohmann::json& doc, const std::string& label, Manifest& m);

/// One BagIt manifest or tag manifest: "<hex> <path>" lines, %0A %0D %25 decoded. `payload`:
/// every path must start with "data/"; otherwise none may.
void parse_bagit_manifest(std::string_view text, const std::string& label,
                          DigestAlgorithm algorithm, bool payload, Manifest& m);

/// Labels and values of a BagIt tag file (bagit.txt, bag-info.txt): "Label: value" lines,
/// continuation lines start with whitespace. Errors name `label` and the line.
Result<std::vector<std::pair<std::string, std::string>>> parse_bagit_tags(std::string_view text,
                                                                          const std::string& label);

}  // namespace stagecheck::checksums
