// The manifest formats the checksums check reads, and Python-compatible canonical JSON.

#include <utf8proc.h>

#include <stagecheck/store.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "checksums_internal.hpp"

namespace stagecheck::checksums {

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

std::optional<std::string> nfc(std::string_view text) {
  // ASCII is valid UTF-8 and its own NFC form: the common case costs one scan.
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(text);
  }
  // Validate first: utf8proc_NFC also refuses invalid UTF-8, but says nothing about why.
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n =
        utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0 || cp < 0) return std::nullopt;
    i += static_cast<std::size_t>(n);
  }
  const std::string copy(text);  // NUL-terminated; paths with NUL never get here
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> out(
      utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(copy.c_str())), &std::free);
  if (!out) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(out.get()));
}

namespace {

std::string lower_hex(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

/// The algorithm whose digest has this many hex characters (the four lengths are distinct).
std::optional<DigestAlgorithm> algorithm_by_length(std::string_view digest) {
  for (DigestAlgorithm a : {DigestAlgorithm::sha256, DigestAlgorithm::sha512, DigestAlgorithm::sha1,
                            DigestAlgorithm::md5}) {
    if (is_hex_digest(digest, a)) return a;
  }
  return std::nullopt;
}

}  // namespace

std::string describe_digest(std::string_view s, std::optional<DigestAlgorithm> algorithm) {
  if (s.empty()) return "an empty digest";
  if (!algorithm) {
    return fmt::format(
        "a digest of {} characters \"{}\" (expected 64, 128, 40 or 32 hex characters: sha256, "
        "sha512, sha1 or md5)",
        s.size(), printable(s));
  }
  const std::size_t want = digest_hex_length(*algorithm);
  if (s.size() != want) {
    return fmt::format("a digest of {} characters \"{}\" (expected {} hex characters for {})",
                       s.size(), printable(s), want, to_string(*algorithm));
  }
  return fmt::format("a digest with non-hex characters \"{}\"", printable(s));
}

void Manifest::add(std::string path, std::string_view digest,
                   std::optional<DigestAlgorithm> algorithm, std::optional<std::uint64_t> size,
                   const std::string& source, const std::string& where) {
  std::string norm = std::move(path);
  const std::string written = norm;
  // "./a" and "a" name the same file: strip the prefix so that the duplicate check sees it.
  while (norm.size() > 2 && norm.compare(0, 2, "./") == 0) norm.erase(0, 2);
  std::optional<std::string> key = nfc(norm);
  if (!key) {
    invalid.push_back({where, fmt::format("path \"{}\" is not valid UTF-8", printable(written))});
    return;
  }
  if (Result<void> valid = validate_store_path(norm); !valid) {
    invalid.push_back({where, fmt::format("path \"{}\" is not a valid relative path: {}",
                                          printable(written), printable(valid.error().message))});
    return;
  }
  std::optional<DigestAlgorithm> alg = algorithm ? algorithm : algorithm_by_length(digest);
  if (!alg || !is_hex_digest(digest, *alg)) {
    invalid.push_back({where, describe_digest(digest, alg)});
    return;
  }
  std::unordered_map<std::string, std::string>& first = nfc_first_[source];
  if (auto it = first.find(*key); it != first.end()) {
    invalid.push_back(
        {where, it->second == norm
                    ? fmt::format("duplicate entry for \"{}\"", printable(norm))
                    : fmt::format("duplicate entry for \"{}\": the same name as \"{}\" after "
                                  "Unicode NFC normalisation",
                                  printable(norm), printable(it->second))});
    return;
  }
  first.emplace(*key, norm);
  Expected expected{*alg, lower_hex(digest), source};
  auto found = index_.find(norm);
  if (found == index_.end()) {
    index_.emplace(norm, entries.size());
    entries.push_back({norm, {std::move(expected)}, size, {}});
    return;
  }
  Entry& e = entries[found->second];
  bool same = false;
  for (const Expected& d : e.digests) {
    same = same || (d.algorithm == expected.algorithm && d.hex == expected.hex);
  }
  if (!same) e.digests.push_back(std::move(expected));
  if (size) {
    if (e.size && *e.size != *size) {
      invalid.push_back({where, fmt::format("size_bytes {} disagrees with {} stated for \"{}\" "
                                            "elsewhere in the manifest",
                                            *size, *e.size, printable(norm))});
      return;
    }
    e.size = size;
  }
}

// --- Python-compatible canonical JSON ---------------------------------------------------------

namespace {

void append_python_string(std::string& out, const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto u4 = [&](unsigned v) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(v >> shift) & 0xf];
  };
  out += '"';
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n =
        utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    // The JSON parser only hands over valid UTF-8; be safe anyway.
    if (n <= 0 || cp < 0) cp = 0xfffd;
    i += n <= 0 ? 1 : static_cast<std::size_t>(n);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp >= 0x20 && cp <= 0x7e) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      u4(static_cast<unsigned>(cp));
    } else {
      const unsigned v = static_cast<unsigned>(cp) - 0x10000;
      u4(0xd800 + (v >> 10));
      u4(0xdc00 + (v & 0x3ff));
    }
  }
  out += '"';
}

/// Python's float repr: the shortest round-trip digits, fixed notation for decimal exponents
/// -4..15, else "d.ddde+XX" (at least two exponent digits); integral values end in ".0".
bool append_python_float(std::string& out, double v) {
  if (!std::isfinite(v)) return false;
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  if (ec != std::errc()) return false;
  std::string_view sci(buf, static_cast<std::size_t>(end - buf));  // "-d.ddde+XX"
  std::string sign;
  if (!sci.empty() && sci.front() == '-') {
    sign = "-";
    sci.remove_prefix(1);
  }
  const std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  const int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  out += sign;
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const std::size_t int_len = static_cast<std::size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  }
  return true;
}

bool append_canonical(std::string& out, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      out += "null";
      return true;
    case nlohmann::json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return true;
    case nlohmann::json::value_t::number_integer:
      out += std::to_string(v.get<std::int64_t>());
      return true;
    case nlohmann::json::value_t::number_unsigned:
      out += std::to_string(v.get<std::uint64_t>());
      return true;
    case nlohmann::json::value_t::number_float:
      return append_python_float(out, v.get<double>());
    case nlohmann::json::value_t::string:
      append_python_string(out, v.get_ref<const std::string&>());
      return true;
    case nlohmann::json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ',';
        first = false;
        if (!append_canonical(out, item)) return false;
      }
      out += ']';
      return true;
    }
    case nlohmann::json::value_t::object: {
      // nlohmann's object is a std::map: keys in byte order, which for UTF-8 is code point
      // order, Python's sort_keys order.
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        if (!first) out += ',';
        first = false;
        append_python_string(out, key);
        out += ':';
        if (!append_canonical(out, item)) return false;
      }
      out += '}';
      return true;
    }
    default:
      return false;  // binary, discarded: never produced by the parser
  }
}

}  // namespace

Result<std::string> python_canonical_json(const nlohmann::json& value) {
  std::string out;
  if (!append_canonical(out, value)) {
    return make_error(Errc::malformed,
                      "the document holds a value canonical JSON cannot represent (NaN or "
                      "Infinity)");
  }
  return out;
}

// --- JSON manifests ------------------------------------------------------------------------------

namespace {

/// Reads one entry: {<key>: hex, size_bytes?: int} or a bare digest string. False (with an
/// Invalid added) if the shape is wrong.
bool read_json_entry(const nlohmann::json& value, const std::string& key, const std::string& where,
                     std::string& digest, std::optional<std::uint64_t>& size, Manifest& m) {
  if (value.is_string()) {
    digest = value.get<std::string>();
    return true;
  }
  if (!value.is_object()) {
    m.invalid.push_back({where, fmt::format("entry is {}, expected an object with \"{}\" or a "
                                            "digest string",
                                            value.type_name(), key)});
    return false;
  }
  auto sha = value.find(key);
  if (sha == value.end() || !sha->is_string()) {
    m.invalid.push_back({where, sha == value.end() ? fmt::format("no \"{}\" string", key)
                                                   : fmt::format("\"{}\" is {}, expected a string",
                                                                 key, sha->type_name())});
    return false;
  }
  digest = sha->get<std::string>();
  if (auto sz = value.find("size_bytes"); sz != value.end()) {
    if (!sz->is_number_unsigned()) {
      m.invalid.push_back(
          {where, fmt::format("\"size_bytes\" is {} {}, expected a non-negative integer",
                              sz->type_name(), printable(sz->dump()))});
      return false;
    }
    size = sz->get<std::uint64_t>();
  }
  return true;
}

}  // namespace

void parse_checksums_json(const nlohmann::json& doc, const std::string& label,
                          const AlgorithmChoice& choice, Manifest& m) {
  m.format = "checksums_json";
  std::optional<DigestAlgorithm> algorithm = choice.fixed;
  if (auto alg = doc.find("algorithm"); alg != doc.end()) {
    if (!alg->is_string()) {
      m.fatal = fmt::format("\"algorithm\" is {}, expected a string (sha256, sha512, sha1, md5)",
                            alg->type_name());
      return;
    }
    const std::string a = alg->get<std::string>();
    std::optional<DigestAlgorithm> named = parse_digest_algorithm(a);
    if (!named) {
      m.fatal = fmt::format("algorithm \"{}\" is not supported (sha256, sha512, sha1, md5)",
                            printable(a));
      return;
    }
    if (choice.written && choice.fixed && *choice.fixed != *named) {
      m.fatal = fmt::format("\"algorithm\" is \"{}\", but the spec expects {}", printable(a),
                            to_string(*choice.fixed));
      return;
    }
    algorithm = named;
  }
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_object()) {
    m.fatal = files == doc.end()
                  ? std::string("no \"files\" object")
                  : fmt::format("\"files\" is {}, expected an object", files->type_name());
    return;
  }
  const std::string key = algorithm ? std::string(to_string(*algorithm)) : "sha256";
  for (const auto& [path, value] : files->items()) {
    const std::string where = fmt::format("files[\"{}\"]", printable(path));
    std::optional<std::uint64_t> size;
    std::string digest;
    if (!read_json_entry(value, key, where, digest, size, m)) continue;
    m.add(path, digest, algorithm, size, label, where);
  }
}

void parse_flat_json(const nlohmann::json& doc, const std::string& label,
                     const AlgorithmChoice& choice, Manifest& m) {
  m.format = "flat_json";
  for (const auto& [path, value] : doc.items()) {
    const std::string where = fmt::format("\"{}\"", printable(path));
    if (!value.is_string()) {
      m.invalid.push_back(
          {where, fmt::format("value is {}, expected a hex digest string", value.type_name())});
      continue;
    }
    m.add(path, value.get<std::string>(), choice.fixed, std::nullopt, label, where);
  }
}

void parse_import_manifest(const nlohmann::json& doc, const std::string& label, Manifest& m) {
  m.format = "import_manifest";
  auto checksums = doc.find("checksums");
  if (checksums == doc.end() || !checksums->is_object()) {
    m.fatal = checksums == doc.end()
                  ? std::string("no \"checksums\" object")
                  : fmt::format("\"checksums\" is {}, expected an object", checksums->type_name());
    return;
  }
  bool any = false;
  auto section = [&](const char* name) {
    auto it = checksums->find(name);
    if (it == checksums->end()) return;
    any = true;
    if (!it->is_object()) {
      m.invalid.push_back({fmt::format("checksums.{}", name),
                           fmt::format("is {}, expected an object", it->type_name())});
      return;
    }
    for (const auto& [path, value] : it->items()) {
      if (std::string_view(name) == "metadata" && path == "import_manifest.json") continue;
      const std::string where = fmt::format("checksums.{}[\"{}\"]", name, printable(path));
      std::optional<std::uint64_t> size;
      std::string digest;
      if (!read_json_entry(value, "sha256", where, digest, size, m)) continue;
      m.add(path, digest, DigestAlgorithm::sha256, size, fmt::format("checksums.{}", name), where);
    }
  };
  section("metadata");
  // Consumers (reference section 7 D) read bundle_files, and only without it, files.
  section(checksums->contains("bundle_files") ? "bundle_files" : "files");
  if (!any) {
    m.fatal = "\"checksums\" has no \"metadata\", \"bundle_files\" or \"files\" object";
    return;
  }

  // The self-entry: sha256 of the canonical JSON of the manifest without that entry.
  auto metadata = checksums->find("metadata");
  if (metadata == checksums->end() || !metadata->is_object()) return;
  auto self = metadata->find("import_manifest.json");
  if (self == metadata->end()) return;
  const std::string where = "checksums.metadata[\"import_manifest.json\"]";
  std::optional<std::uint64_t> ignored_size;
  std::string expected;
  if (!read_json_entry(*self, "sha256", where, expected, ignored_size, m)) return;
  if (!is_hex_digest(expected, DigestAlgorithm::sha256)) {
    m.invalid.push_back({where, describe_digest(expected, DigestAlgorithm::sha256)});
    return;
  }
  nlohmann::json copy = doc;
  copy["checksums"]["metadata"].erase("import_manifest.json");
  Result<std::string> canonical = python_canonical_json(copy);
  if (!canonical) {
    m.problems.push_back(fmt::format("{}: {}", where, canonical.error().message));
    return;
  }
  Result<std::string> actual = digest_hex(DigestAlgorithm::sha256, *canonical);
  if (!actual) {
    m.problems.push_back(fmt::format("{}: {}", where, actual.error().message));
    return;
  }
  if (*actual != lower_hex(expected)) {
    m.problems.push_back(fmt::format(
        "{}: self-checksum mismatch in {} (expected sha256 {}, computed {} over the canonical "
        "JSON without that entry)",
        where, printable(label), lower_hex(expected), *actual));
  }
}

// --- Text manifests --------------------------------------------------------------------------

namespace {

/// Undoes coreutils' escaping of a name ("\\", "\n", "\r"); nullopt if malformed.
std::optional<std::string> unescape_coreutils(std::string_view path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '\\') {
      out += path[i];
    } else if (i + 1 < path.size() &&
               (path[i + 1] == '\\' || path[i + 1] == 'n' || path[i + 1] == 'r')) {
      out += path[i + 1] == 'n' ? '\n' : path[i + 1] == 'r' ? '\r' : '\\';
      ++i;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

void parse_text_manifest(std::string_view text, const std::string& label,
                         const AlgorithmChoice& choice, Manifest& m) {
  m.format = "sha256sum";
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
    // The BSD form (`sha256sum --tag`): "SHA256 (path) = hex".
    const std::size_t paren = line.find(" (");
    const std::size_t equals = line.rfind(") = ");
    const bool tagged = paren != std::string_view::npos && equals != std::string_view::npos &&
                        equals > paren && paren > 0 &&
                        line.substr(0, paren).find_first_of(" \t") == std::string_view::npos &&
                        !is_hex_digest(line.substr(0, line.find(' ')), DigestAlgorithm::sha256);
    std::string_view digest;
    std::string_view raw_path;
    std::optional<DigestAlgorithm> algorithm = choice.fixed;
    if (tagged) {
      const std::string_view name = line.substr(0, paren);
      std::optional<DigestAlgorithm> named = parse_digest_algorithm(name);
      if (!named) {
        m.invalid.push_back({where, fmt::format("algorithm \"{}\" is not supported (SHA256, "
                                                "SHA512, SHA1, MD5)",
                                                printable(name))});
        continue;
      }
      if (choice.written && choice.fixed && *choice.fixed != *named) {
        m.invalid.push_back({where, fmt::format("the line names {}, but the spec expects {}",
                                                to_string(*named), to_string(*choice.fixed))});
        continue;
      }
      algorithm = named;
      raw_path = line.substr(paren + 2, equals - paren - 2);
      digest = line.substr(equals + 4);
    } else {
      const std::size_t space = line.find(' ');
      digest = line.substr(0, space);
      if (space == std::string_view::npos || line.size() < space + 3 ||
          (line[space + 1] != ' ' && line[space + 1] != '*')) {
        // A bad digest is the more useful message when the line starts with one.
        const bool digest_ok =
            algorithm ? is_hex_digest(digest, *algorithm) : algorithm_by_length(digest).has_value();
        m.invalid.push_back(
            {where, digest_ok ? fmt::format("malformed line \"{}\" (expected \"<hex>  <path>\", "
                                            "\"<hex> *<path>\" or \"ALG (<path>) = <hex>\")",
                                            printable(line))
                              : describe_digest(digest, algorithm)});
        continue;
      }
      raw_path = line.substr(space + 2);
    }
    std::string path(raw_path);
    if (escaped) {
      std::optional<std::string> un = unescape_coreutils(raw_path);
      if (!un) {
        m.invalid.push_back({where, "malformed escape in path"});
        continue;
      }
      path = std::move(*un);
    }
    m.add(std::move(path), digest, algorithm, std::nullopt, label, where);
  }
}

// --- BagIt -----------------------------------------------------------------------------------

void parse_bagit_manifest(std::string_view text, const std::string& label,
                          DigestAlgorithm algorithm, bool payload, Manifest& m) {
  std::size_t line_no = 0;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    // A CR inside a name is written %0D, so a trailing CR is a CRLF line end.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const std::string where = fmt::format("{} line {}", label, line_no);
    const std::size_t gap = line.find_first_of(" \t");
    const std::string_view digest = line.substr(0, gap);
    const std::size_t path_at =
        gap == std::string_view::npos ? gap : line.find_first_not_of(" \t", gap);
    if (path_at == std::string_view::npos) {
      m.invalid.push_back({where, fmt::format("malformed line \"{}\" (expected \"<hex> <path>\")",
                                              printable(line))});
      continue;
    }
    // RFC 8493 2.1.3: LF, CR and % (and only those) are percent-encoded in file paths.
    const std::string_view raw = line.substr(path_at);
    std::string path;
    bool bad = false;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '%') {
        path += raw[i];
        continue;
      }
      const std::string code = i + 2 < raw.size() ? lower_hex(raw.substr(i + 1, 2)) : "";
      if (code == "0a") {
        path += '\n';
      } else if (code == "0d") {
        path += '\r';
      } else if (code == "25") {
        path += '%';
      } else {
        bad = true;
        break;
      }
      i += 2;
    }
    if (bad) {
      m.invalid.push_back(
          {where, fmt::format("path \"{}\" has a '%' that is not %0A, %0D or %25 (RFC 8493 "
                              "2.1.3: a literal '%' is written %25)",
                              printable(raw))});
      continue;
    }
    const bool in_data = path.compare(0, 5, "data/") == 0;
    if (payload && !in_data) {
      m.invalid.push_back({where, fmt::format("payload path \"{}\" does not start with \"data/\"",
                                              printable(path))});
      continue;
    }
    if (!payload && in_data) {
      m.invalid.push_back({where, fmt::format("tag manifest lists payload file \"{}\" (tag "
                                              "manifests list tag files only)",
                                              printable(path))});
      continue;
    }
    m.add(std::move(path), digest, algorithm, std::nullopt, label, where);
  }
}

Result<std::vector<std::pair<std::string, std::string>>> parse_bagit_tags(
    std::string_view text, const std::string& label) {
  std::vector<std::pair<std::string, std::string>> tags;
  if (text.size() >= 3 && text.substr(0, 3) == "\xef\xbb\xbf") {
    return make_error(
        Errc::malformed,
        fmt::format("{}: starts with a byte-order mark (RFC 8493 forbids it)", label));
  }
  std::size_t line_no = 0;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (line.front() == ' ' || line.front() == '\t') {
      if (tags.empty()) {
        return make_error(
            Errc::malformed,
            fmt::format("{} line {}: a continuation line before any label", label, line_no));
      }
      const std::size_t from = line.find_first_not_of(" \t");
      tags.back().second += " " + std::string(line.substr(from));
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return make_error(Errc::malformed,
                        fmt::format("{} line {}: expected \"Label: value\", found \"{}\"", label,
                                    line_no, printable(line)));
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    std::string_view value = line.substr(colon + 1);
    const std::size_t from = value.find_first_not_of(" \t");
    value = from == std::string_view::npos ? std::string_view() : value.substr(from);
    tags.emplace_back(std::string(name), std::string(value));
  }
  return tags;
}

}  // namespace stagecheck::checksums
