#pragma once
/// \file
/// A strict JSON scanner for quality certificates: it validates a whole document with the same
/// acceptance rules as stagecheck::parse_json (RFC 8259 grammar, UTF-8, no duplicate keys at any
/// level, no number outside the double range, a nesting limit, no byte order mark, nothing after
/// the document) and extracts a few top-level fields, without building a DOM.
///
/// Why not parse_json: the certificate fallback reads every certificate of a scene (100,000 and
/// more), and a full DOM parse costs several times the I/O of reading the file; this scanner
/// runs close to the speed of reading the bytes. Its acceptance is tested against parse_json
/// differentially (tests/certificate_fallback_test.cpp).

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace stagecheck::certificate_fallback {

/// The JSON type of a value, as found.
enum class JsonKind : unsigned char { absent, null, boolean, number, string, array, object };

/// "absent", "null", "a boolean", "a number", "a string", "an array", "an object".
const char* describe(JsonKind kind) noexcept;

/// One extracted top-level field of the root object.
struct ScannedField {
  JsonKind kind = JsonKind::absent;
  bool boolean = false;  ///< The value, for JsonKind::boolean.
  /// The decoded value for a string; the literal text for a number (at most kMaxNumberText).
  std::string text;
};

/// Why a document was refused.
struct ScanFailure {
  std::size_t byte = 0;    ///< 1-based offset of the offending byte; size + 1 at the end.
  std::string reason;      ///< What is wrong, e.g. "duplicate key 'episode_id'".
  bool truncated = false;  ///< The input ended inside the document.
};

/// Validates JSON documents and extracts named top-level fields. Keeps its buffers between
/// documents, so one scanner per thread reads many certificates without reallocating; not
/// thread-safe.
class CertificateScanner {
 public:
  /// Longest number literal kept in ScannedField::text (enough for any message).
  static constexpr std::size_t kMaxNumberText = 64;

  /// `names`: the top-level keys to extract; `max_depth`: the deepest nesting of arrays and
  /// objects accepted (LoadLimits::max_depth).
  CertificateScanner(std::vector<std::string> names, int max_depth);

  /// Scans one document. On success, root_kind() is its type and fields() holds one entry per
  /// name, in the order given (JsonKind::absent when the root is not an object or lacks it).
  std::optional<ScanFailure> scan(std::string_view text);

  JsonKind root_kind() const noexcept { return root_kind_; }
  const std::vector<ScannedField>& fields() const noexcept { return fields_; }

 private:
  /// An array or object being scanned.
  struct Frame {
    bool object = false;
    std::size_t keys_begin = 0;  ///< This object's keys are keys_[keys_begin...].
    /// Built once an object has many keys, so that duplicate detection stays linear in time.
    std::unique_ptr<std::unordered_set<std::string_view>> key_set;
  };

  bool run();
  bool value_start(int& capture);
  bool open(bool object, int capture);
  void close();
  bool member_key(int& capture);
  bool add_key(std::string_view key, const char* at);
  bool string(std::string* out, std::string_view* raw, bool& escaped);
  bool escape(std::string* out);
  bool hex4(unsigned& value);
  bool utf8_sequence();
  bool number(int capture);
  bool literal(std::string_view word, int capture);
  bool number_in_range(std::string_view token) const;
  void skip_space() noexcept;

  bool fail(const char* at, std::string reason);
  bool fail_truncated(std::string what);

  std::vector<std::string> names_;
  int max_depth_;
  const char* begin_ = nullptr;
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  std::vector<Frame> frames_;
  std::vector<std::string_view> keys_;    ///< Decoded keys of the open objects.
  std::deque<std::string> decoded_keys_;  ///< Keys that held escapes, decoded (stable storage).
  std::vector<ScannedField> fields_;
  JsonKind root_kind_ = JsonKind::absent;
  std::optional<ScanFailure> failure_;
};

}  // namespace stagecheck::certificate_fallback
