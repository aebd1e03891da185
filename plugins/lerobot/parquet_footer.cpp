// The Parquet footer reader. Parquet's FileMetaData is a Thrift struct in the compact
// protocol (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md):
// fields carry a delta-encoded id and a 4-bit wire type, integers are zigzag varints, binaries
// and lists are length-prefixed. The decoder below reads the handful of fields the lerobot
// check needs and skips every other field by its wire type, so files from newer writers
// (extra fields, new logical types) still decode.

#include "parquet_footer.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include <fmt/format.h>

namespace stagecheck::lerobot {
namespace {

/// Compact-protocol wire types.
enum Wire : std::uint8_t {
  kStop = 0,
  kBoolTrue = 1,
  kBoolFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

const char* wire_name(std::uint8_t type) {
  switch (type) {
    case kBoolTrue:
    case kBoolFalse:
      return "bool";
    case kByte:
      return "byte";
    case kI16:
      return "i16";
    case kI32:
      return "i32";
    case kI64:
      return "i64";
    case kDouble:
      return "double";
    case kBinary:
      return "binary";
    case kList:
      return "list";
    case kSet:
      return "set";
    case kMap:
      return "map";
    case kStruct:
      return "struct";
    default:
      return "unknown";
  }
}

/// A bounds-checked cursor over the footer bytes. Every read returns false once the input is
/// exhausted or invalid; the first failure's message (with the byte offset and the field path
/// being decoded) is kept.
class Decoder {
 public:
  Decoder(std::string_view bytes, std::string_view what, const FooterLimits& limits)
      : bytes_(bytes), what_(what), limits_(limits) {}

  bool fail(std::string_view reason) {
    if (error_.empty()) {
      error_ = fmt::format("{}: Parquet footer is malformed: {}{}{} (at byte {} of {})", what_,
                           context(), context_.empty() ? "" : ": ", reason, pos_, bytes_.size());
    }
    return false;
  }
  const std::string& error() const { return error_; }
  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }

  /// Names the field being decoded, for error messages (kept as a stack).
  void push(std::string name) { context_.push_back(std::move(name)); }
  void pop() { context_.pop_back(); }

  bool byte(std::uint8_t& out) {
    if (pos_ >= bytes_.size()) return fail("unexpected end of data");
    out = static_cast<std::uint8_t>(bytes_[pos_++]);
    return true;
  }

  bool varint(std::uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      std::uint8_t b = 0;
      if (!byte(b)) return false;
      if (shift == 63 && (b & 0x7e) != 0) return fail("varint overflows 64 bits");
      out |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return fail("varint longer than 10 bytes");
  }

  bool i64(std::int64_t& out) {
    std::uint64_t u = 0;
    if (!varint(u)) return false;
    out = static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }

  bool i32(std::int32_t& out) {
    std::int64_t v = 0;
    if (!i64(v)) return false;
    if (v < std::numeric_limits<std::int32_t>::min() ||
        v > std::numeric_limits<std::int32_t>::max()) {
      return fail(fmt::format("i32 value {} out of range", v));
    }
    out = static_cast<std::int32_t>(v);
    return true;
  }

  bool binary(std::string* out) {
    std::uint64_t n = 0;
    if (!varint(n)) return false;
    if (n > limits_.max_string_bytes) {
      return fail(
          fmt::format("binary of {} bytes exceeds the limit of {}", n, limits_.max_string_bytes));
    }
    if (n > remaining()) {
      return fail(fmt::format("binary of {} bytes but only {} bytes left", n, remaining()));
    }
    if (out != nullptr) out->assign(bytes_.substr(pos_, static_cast<std::size_t>(n)));
    pos_ += static_cast<std::size_t>(n);
    return true;
  }

  /// A list or set header: element wire type and count, the count bounded by the limit and by
  /// the bytes left (every element takes at least one byte).
  bool list_header(std::uint8_t& elem, std::uint64_t& size) {
    std::uint8_t h = 0;
    if (!byte(h)) return false;
    elem = h & 0x0f;
    size = h >> 4;
    if (size == 15 && !varint(size)) return false;
    return check_count(size, 1);
  }

  bool check_count(std::uint64_t size, std::uint64_t min_bytes_each) {
    if (size > limits_.max_elements) {
      return fail(fmt::format("container of {} elements exceeds the limit of {}", size,
                              limits_.max_elements));
    }
    if (size > remaining() / min_bytes_each) {
      return fail(fmt::format("container of {} elements cannot fit in the {} bytes left", size,
                              remaining()));
    }
    return true;
  }

  bool enter(int depth) {
    if (depth > limits_.max_depth) {
      return fail(fmt::format("nesting deeper than {}", limits_.max_depth));
    }
    return true;
  }

  /// Skips one value of wire type `type`; `in_container` for list/set/map elements, where a
  /// bool takes one byte (in a field header it takes none).
  bool skip(std::uint8_t type, int depth, bool in_container) {
    if (!enter(depth)) return false;
    std::uint8_t b = 0;
    std::uint64_t u = 0;
    switch (type) {
      case kBoolTrue:
      case kBoolFalse:
        return in_container ? byte(b) : true;
      case kByte:
        return byte(b);
      case kI16:
      case kI32:
      case kI64:
        return varint(u);
      case kDouble:
        if (remaining() < 8) return fail("unexpected end of data in a double");
        pos_ += 8;
        return true;
      case kBinary:
        return binary(nullptr);
      case kList:
      case kSet: {
        std::uint8_t elem = 0;
        std::uint64_t size = 0;
        if (!list_header(elem, size)) return false;
        for (std::uint64_t i = 0; i < size; ++i) {
          if (!skip(elem, depth + 1, true)) return false;
        }
        return true;
      }
      case kMap: {
        std::uint64_t size = 0;
        if (!varint(size)) return false;
        if (size == 0) return true;
        std::uint8_t kv = 0;
        if (!byte(kv)) return false;
        if (!check_count(size, 2)) return false;
        for (std::uint64_t i = 0; i < size; ++i) {
          if (!skip(static_cast<std::uint8_t>(kv >> 4), depth + 1, true)) return false;
          if (!skip(static_cast<std::uint8_t>(kv & 0x0f), depth + 1, true)) return false;
        }
        return true;
      }
      case kStruct:
        return fields(depth, [](std::int16_t, std::uint8_t, bool& handled) {
          handled = false;
          return true;
        });
      default:
        return fail(fmt::format("unknown Thrift compact type {}", type));
    }
  }

  /// Decodes a struct's fields up to its STOP. `on_field(id, wire_type, handled)` reads a field
  /// it knows and sets `handled`; any other field is skipped.
  template <class OnField>
  bool fields(int depth, OnField&& on_field) {
    if (!enter(depth)) return false;
    std::int16_t last = 0;
    for (;;) {
      std::uint8_t h = 0;
      if (!byte(h)) return false;
      if (h == kStop) return true;
      const std::uint8_t type = h & 0x0f;
      std::int16_t id = 0;
      if ((h >> 4) != 0) {
        const int next = last + (h >> 4);
        if (next > std::numeric_limits<std::int16_t>::max()) return fail("field id overflows");
        id = static_cast<std::int16_t>(next);
      } else {
        std::int32_t wide = 0;
        if (!i32(wide)) return false;
        if (wide < std::numeric_limits<std::int16_t>::min() ||
            wide > std::numeric_limits<std::int16_t>::max()) {
          return fail(fmt::format("field id {} out of range", wide));
        }
        id = static_cast<std::int16_t>(wide);
      }
      last = id;
      bool handled = false;
      if (!on_field(id, type, handled)) return false;
      if (!handled && !skip(type, depth + 1, false)) return false;
    }
  }

  /// Fails unless field `name` has wire type `want` (any bool type matches a bool).
  bool expect(std::uint8_t got, std::uint8_t want, std::string_view name) {
    if (got == want) return true;
    return fail(fmt::format("field {} has wire type {} ({}), expected {}", name, got,
                            wire_name(got), wire_name(want)));
  }

 private:
  std::string context() const {
    std::string out;
    for (const std::string& c : context_) {
      if (!out.empty() && c.front() != '[') out += '.';
      out += c;
    }
    return out;
  }

  std::string_view bytes_;
  std::string_view what_;
  const FooterLimits& limits_;
  std::size_t pos_ = 0;
  std::string error_;
  std::vector<std::string> context_;
};

/// Reads a list whose elements are structs, calling `element(i)` for each.
template <class Element>
bool struct_list(Decoder& d, int depth, std::string_view name, Element&& element) {
  std::uint8_t elem = 0;
  std::uint64_t size = 0;
  if (!d.list_header(elem, size)) return false;
  if (size > 0 && elem != kStruct) {
    return d.fail(fmt::format("list {} has elements of wire type {} ({}), expected struct", name,
                              elem, wire_name(elem)));
  }
  for (std::uint64_t i = 0; i < size; ++i) {
    d.push(fmt::format("[{}]", i));
    if (!element(static_cast<std::size_t>(i))) return false;
    d.pop();
  }
  (void)depth;
  return true;
}

bool parse_statistics(Decoder& d, int depth, Statistics& s) {
  return d.fields(depth, [&](std::int16_t id, std::uint8_t type, bool& handled) {
    handled = true;
    switch (id) {
      case 1:
        s.max.emplace();
        return d.expect(type, kBinary, "max") && d.binary(&*s.max);
      case 2:
        s.min.emplace();
        return d.expect(type, kBinary, "min") && d.binary(&*s.min);
      case 3:
        s.null_count.emplace();
        return d.expect(type, kI64, "null_count") && d.i64(*s.null_count);
      case 5:
        s.max_value.emplace();
        return d.expect(type, kBinary, "max_value") && d.binary(&*s.max_value);
      case 6:
        s.min_value.emplace();
        return d.expect(type, kBinary, "min_value") && d.binary(&*s.min_value);
      case 9:
        // nan_count, as hyparquet-writer and newer parquet-format writers emit it; a field 9
        // of another type is some other extension and is skipped.
        if (type != kI64) {
          handled = false;
          return true;
        }
        s.nan_count.emplace();
        return d.i64(*s.nan_count);
      default:
        handled = false;
        return true;
    }
  });
}

bool parse_column_metadata(Decoder& d, int depth, ColumnChunk& c) {
  bool has_type = false, has_path = false, has_values = false;
  const bool ok = d.fields(depth, [&](std::int16_t id, std::uint8_t type, bool& handled) {
    handled = true;
    switch (id) {
      case 1:
        has_type = true;
        return d.expect(type, kI32, "type") && d.i32(c.type);
      case 3: {
        has_path = true;
        if (!d.expect(type, kList, "path_in_schema")) return false;
        std::uint8_t elem = 0;
        std::uint64_t size = 0;
        if (!d.list_header(elem, size)) return false;
        if (size > 0 && elem != kBinary) {
          return d.fail(
              fmt::format("path_in_schema has elements of wire type {}, expected binary", elem));
        }
        for (std::uint64_t i = 0; i < size; ++i) {
          c.path_in_schema.emplace_back();
          if (!d.binary(&c.path_in_schema.back())) return false;
        }
        return true;
      }
      case 5:
        has_values = true;
        return d.expect(type, kI64, "num_values") && d.i64(c.num_values);
      case 12: {
        if (!d.expect(type, kStruct, "statistics")) return false;
        c.statistics.emplace();
        d.push("statistics");
        if (!parse_statistics(d, depth + 1, *c.statistics)) return false;
        d.pop();
        return true;
      }
      default:
        handled = false;
        return true;
    }
  });
  if (!ok) return false;
  if (!has_type) return d.fail("required field type (1) is missing");
  if (!has_path) return d.fail("required field path_in_schema (3) is missing");
  if (!has_values) return d.fail("required field num_values (5) is missing");
  return true;
}

bool parse_column_chunk(Decoder& d, int depth, ColumnChunk& c) {
  bool has_meta = false;
  const bool ok = d.fields(depth, [&](std::int16_t id, std::uint8_t type, bool& handled) {
    handled = id == 3;
    if (!handled) return true;
    has_meta = true;
    if (!d.expect(type, kStruct, "meta_data")) return false;
    d.push("meta_data");
    if (!parse_column_metadata(d, depth + 1, c)) return false;
    d.pop();
    return true;
  });
  if (!ok) return false;
  if (!has_meta) {
    return d.fail("column chunk has no meta_data (3); encrypted columns are not supported");
  }
  return true;
}

bool parse_row_group(Decoder& d, int depth, RowGroup& rg) {
  bool has_columns = false, has_rows = false;
  const bool ok = d.fields(depth, [&](std::int16_t id, std::uint8_t type, bool& handled) {
    handled = true;
    switch (id) {
      case 1:
        has_columns = true;
        if (!d.expect(type, kList, "columns")) return false;
        d.push("columns");
        if (!struct_list(d, depth + 1, "columns", [&](std::size_t) {
              rg.columns.emplace_back();
              return parse_column_chunk(d, depth + 2, rg.columns.back());
            })) {
          return false;
        }
        d.pop();
        return true;
      case 3:
        has_rows = true;
        return d.expect(type, kI64, "num_rows") && d.i64(rg.num_rows);
      default:
        handled = false;
        return true;
    }
  });
  if (!ok) return false;
  if (!has_columns) return d.fail("required field columns (1) is missing");
  if (!has_rows) return d.fail("required field num_rows (3) is missing");
  return true;
}

bool parse_logical_type(Decoder& d, int depth, SchemaElement& e) {
  return d.fields(depth, [&](std::int16_t id, std::uint8_t, bool& handled) {
    // A union: FLOAT16 is member 15 (an empty struct, skipped like any other member).
    if (id == 15) e.float16 = true;
    handled = false;
    return true;
  });
}

bool parse_schema_element(Decoder& d, int depth, SchemaElement& e) {
  bool has_name = false;
  const bool ok = d.fields(depth, [&](std::int16_t id, std::uint8_t type, bool& handled) {
    handled = true;
    switch (id) {
      case 1:
        e.type.emplace();
        return d.expect(type, kI32, "type") && d.i32(*e.type);
      case 2:
        e.type_length.emplace();
        return d.expect(type, kI32, "type_length") && d.i32(*e.type_length);
      case 4:
        has_name = true;
        return d.expect(type, kBinary, "name") && d.binary(&e.name);
      case 5:
        e.num_children.emplace();
        return d.expect(type, kI32, "num_children") && d.i32(*e.num_children);
      case 10:
        if (!d.expect(type, kStruct, "logicalType")) return false;
        return parse_logical_type(d, depth + 1, e);
      default:
        handled = false;
        return true;
    }
  });
  if (!ok) return false;
  if (!has_name) return d.fail("required field name (4) is missing");
  return true;
}

std::string join_path(const std::vector<std::string>& path) {
  std::string out;
  for (const std::string& p : path) {
    if (!out.empty()) out += '.';
    out += p;
  }
  return out;
}

std::string hex_bytes(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    if (!out.empty()) out += ' ';
    out += fmt::format("{:02x}", static_cast<unsigned char>(c));
  }
  return out;
}

std::uint32_t le32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

/// The non-finite value of a plain-encoded float statistic ("" if finite), or an error reason.
std::optional<std::string> classify(std::int32_t type, bool float16, std::string_view raw,
                                    std::string& bad) {
  auto name = [](double v) -> std::string {
    if (std::isnan(v)) return "NaN";
    return v > 0 ? "inf" : "-inf";
  };
  if (type == static_cast<std::int32_t>(PhysicalType::float32)) {
    if (raw.size() != 4) {
      bad = fmt::format("{} bytes for a FLOAT statistic (expected 4)", raw.size());
      return std::nullopt;
    }
    const std::uint32_t bits = le32(raw.data());
    const float v = std::bit_cast<float>(bits);
    if (std::isfinite(v)) return std::string();
    return name(static_cast<double>(v));
  }
  if (type == static_cast<std::int32_t>(PhysicalType::float64)) {
    if (raw.size() != 8) {
      bad = fmt::format("{} bytes for a DOUBLE statistic (expected 8)", raw.size());
      return std::nullopt;
    }
    const std::uint64_t bits = static_cast<std::uint64_t>(le32(raw.data())) |
                               (static_cast<std::uint64_t>(le32(raw.data() + 4)) << 32);
    const double v = std::bit_cast<double>(bits);
    if (std::isfinite(v)) return std::string();
    return name(v);
  }
  if (float16) {
    if (raw.size() != 2) {
      bad = fmt::format("{} bytes for a FLOAT16 statistic (expected 2)", raw.size());
      return std::nullopt;
    }
    const unsigned h = static_cast<unsigned char>(raw[0]) |
                       (static_cast<unsigned>(static_cast<unsigned char>(raw[1])) << 8);
    if ((h & 0x7c00u) != 0x7c00u) return std::string();
    if ((h & 0x03ffu) != 0) return std::string("NaN");
    return std::string((h & 0x8000u) != 0 ? "-inf" : "inf");
  }
  return std::string();
}

}  // namespace

std::string physical_type_name(std::int32_t type) {
  static constexpr const char* kNames[] = {
      "BOOLEAN", "INT32",  "INT64",      "INT96",
      "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
  if (type >= 0 && type < 8) return kNames[type];
  return fmt::format("type {}", type);
}

Result<FileMetaData> parse_file_metadata(std::string_view bytes, std::string_view what,
                                         const FooterLimits& limits) {
  Decoder d(bytes, what, limits);
  FileMetaData meta;
  bool has_version = false, has_schema = false, has_rows = false, has_groups = false;
  const bool ok = d.fields(0, [&](std::int16_t id, std::uint8_t type, bool& handled) {
    handled = true;
    switch (id) {
      case 1:
        has_version = true;
        return d.expect(type, kI32, "version") && d.i32(meta.version);
      case 2:
        has_schema = true;
        if (!d.expect(type, kList, "schema")) return false;
        d.push("schema");
        if (!struct_list(d, 1, "schema", [&](std::size_t) {
              meta.schema.emplace_back();
              return parse_schema_element(d, 2, meta.schema.back());
            })) {
          return false;
        }
        d.pop();
        return true;
      case 3:
        has_rows = true;
        return d.expect(type, kI64, "num_rows") && d.i64(meta.num_rows);
      case 4:
        has_groups = true;
        if (!d.expect(type, kList, "row_groups")) return false;
        d.push("row_groups");
        if (!struct_list(d, 1, "row_groups", [&](std::size_t) {
              meta.row_groups.emplace_back();
              return parse_row_group(d, 2, meta.row_groups.back());
            })) {
          return false;
        }
        d.pop();
        return true;
      case 6:
        return d.expect(type, kBinary, "created_by") && d.binary(&meta.created_by);
      default:
        handled = false;
        return true;
    }
  });
  if (!ok) return make_error(Errc::malformed, d.error());
  if (!has_version) d.fail("required field version (1) is missing");
  if (!has_schema) d.fail("required field schema (2) is missing");
  if (!has_rows) d.fail("required field num_rows (3) is missing");
  if (!has_groups) d.fail("required field row_groups (4) is missing");
  if (d.remaining() != 0) {
    d.fail(fmt::format("{} bytes follow the FileMetaData struct", d.remaining()));
  }
  if (!d.error().empty()) return make_error(Errc::malformed, d.error());
  return meta;
}

Result<std::vector<LeafColumn>> schema_leaves(const FileMetaData& meta, std::string_view what) {
  auto bad = [&](const std::string& reason) {
    return make_error(Errc::malformed,
                      fmt::format("{}: Parquet schema is malformed: {}", what, reason));
  };
  if (meta.schema.empty()) return bad("the schema list is empty (expected a root element)");
  const SchemaElement& root = meta.schema.front();
  if (!root.num_children) return bad("the root element has no num_children");
  if (*root.num_children < 0) return bad(fmt::format("root num_children {}", *root.num_children));
  std::vector<LeafColumn> leaves;
  std::vector<std::int64_t> remaining = {*root.num_children};
  std::vector<std::string> names;
  std::size_t i = 1;
  while (!remaining.empty()) {
    if (remaining.back() == 0) {
      remaining.pop_back();
      if (!names.empty()) names.pop_back();
      continue;
    }
    if (i >= meta.schema.size()) {
      return bad(fmt::format("the schema ends inside group \"{}\" ({} children missing)",
                             names.empty() ? root.name : names.back(), remaining.back()));
    }
    --remaining.back();
    const SchemaElement& e = meta.schema[i];
    if (e.num_children && *e.num_children < 0) {
      return bad(fmt::format("element {} \"{}\" has num_children {}", i, e.name, *e.num_children));
    }
    ++i;
    if (e.num_children && *e.num_children > 0) {
      names.push_back(e.name);
      remaining.push_back(*e.num_children);
      continue;
    }
    if (!e.type) {
      return bad(fmt::format("element {} \"{}\" has neither a type nor children", i - 1, e.name));
    }
    LeafColumn leaf;
    leaf.path = names;
    leaf.path.push_back(e.name);
    leaf.element = &e;
    leaves.push_back(std::move(leaf));
  }
  if (i != meta.schema.size()) {
    return bad(fmt::format("{} schema elements follow the root's tree", meta.schema.size() - i));
  }
  return leaves;
}

Result<void> validate_file_metadata(const FileMetaData& meta, std::string_view what) {
  Result<std::vector<LeafColumn>> leaves = schema_leaves(meta, what);
  if (!leaves) return leaves.error();
  auto bad = [&](const std::string& reason) {
    return make_error(Errc::malformed,
                      fmt::format("{}: Parquet footer is inconsistent: {}", what, reason));
  };
  if (meta.num_rows < 0) return bad(fmt::format("num_rows is {}", meta.num_rows));
  std::int64_t sum = 0;
  for (std::size_t g = 0; g < meta.row_groups.size(); ++g) {
    const RowGroup& rg = meta.row_groups[g];
    if (rg.num_rows < 0) return bad(fmt::format("row_groups[{}].num_rows is {}", g, rg.num_rows));
    if (rg.num_rows > std::numeric_limits<std::int64_t>::max() - sum) {
      return bad("the row groups' num_rows overflow 64 bits");
    }
    sum += rg.num_rows;
    if (rg.columns.size() != leaves->size()) {
      return bad(fmt::format("row_groups[{}] has {} column chunks, the schema {} leaf columns", g,
                             rg.columns.size(), leaves->size()));
    }
    for (std::size_t c = 0; c < rg.columns.size(); ++c) {
      const ColumnChunk& chunk = rg.columns[c];
      const LeafColumn& leaf = (*leaves)[c];
      if (chunk.path_in_schema != leaf.path) {
        return bad(
            fmt::format("row_groups[{}].columns[{}] has path_in_schema \"{}\", expected "
                        "\"{}\" (schema order)",
                        g, c, join_path(chunk.path_in_schema), join_path(leaf.path)));
      }
      if (chunk.type != *leaf.element->type) {
        return bad(fmt::format("row_groups[{}].columns[{}] (\"{}\") has type {}, the schema {}", g,
                               c, join_path(leaf.path), physical_type_name(chunk.type),
                               physical_type_name(*leaf.element->type)));
      }
      if (chunk.num_values < 0) {
        return bad(fmt::format("row_groups[{}].columns[{}] (\"{}\") has num_values {}", g, c,
                               join_path(leaf.path), chunk.num_values));
      }
    }
  }
  if (sum != meta.num_rows) {
    return bad(fmt::format("num_rows is {} but the {} row groups hold {} rows", meta.num_rows,
                           meta.row_groups.size(), sum));
  }
  return {};
}

Result<std::vector<NonFinite>> non_finite_statistics(const FileMetaData& meta,
                                                     std::string_view what) {
  Result<std::vector<LeafColumn>> leaves = schema_leaves(meta, what);
  if (!leaves) return leaves.error();
  std::vector<NonFinite> out;
  for (std::size_t g = 0; g < meta.row_groups.size(); ++g) {
    const RowGroup& rg = meta.row_groups[g];
    for (std::size_t c = 0; c < rg.columns.size(); ++c) {
      const ColumnChunk& chunk = rg.columns[c];
      if (!chunk.statistics) continue;
      const bool float16 =
          c < leaves->size() && (*leaves)[c].element->float16 &&
          chunk.type == static_cast<std::int32_t>(PhysicalType::fixed_len_byte_array);
      const bool is_float = float16 ||
                            chunk.type == static_cast<std::int32_t>(PhysicalType::float32) ||
                            chunk.type == static_cast<std::int32_t>(PhysicalType::float64);
      if (!is_float) continue;
      const Statistics& s = *chunk.statistics;
      const std::string column = join_path(chunk.path_in_schema);
      const std::pair<const char*, const std::optional<std::string>*> fields[] = {
          {"min_value", &s.min_value},
          {"max_value", &s.max_value},
          {"min", &s.min},
          {"max", &s.max}};
      for (const auto& [field, value] : fields) {
        if (!value->has_value()) continue;
        std::string bad;
        std::optional<std::string> found = classify(chunk.type, float16, **value, bad);
        if (!found) {
          return make_error(Errc::malformed,
                            fmt::format("{}: Parquet statistics of column \"{}\" in row group {}: "
                                        "{} has {}",
                                        what, column, g, field, bad));
        }
        if (!found->empty()) out.push_back({column, g, field, *found});
      }
      if (s.nan_count && *s.nan_count != 0) {
        out.push_back({column, g, "nan_count", fmt::format("{}", *s.nan_count)});
      }
    }
  }
  return out;
}

std::vector<ChunkRef> float_chunks_without_bounds(const FileMetaData& meta) {
  std::vector<ChunkRef> out;
  std::vector<bool> float16;
  if (Result<std::vector<LeafColumn>> leaves = schema_leaves(meta, "")) {
    for (const LeafColumn& l : *leaves) float16.push_back(l.element->float16);
  }
  for (std::size_t g = 0; g < meta.row_groups.size(); ++g) {
    const RowGroup& rg = meta.row_groups[g];
    for (std::size_t c = 0; c < rg.columns.size(); ++c) {
      const ColumnChunk& chunk = rg.columns[c];
      const bool is_float =
          chunk.type == static_cast<std::int32_t>(PhysicalType::float32) ||
          chunk.type == static_cast<std::int32_t>(PhysicalType::float64) ||
          (chunk.type == static_cast<std::int32_t>(PhysicalType::fixed_len_byte_array) &&
           c < float16.size() && float16[c]);
      if (!is_float || chunk.num_values == 0) continue;
      const std::optional<Statistics>& s = chunk.statistics;
      if (s && s->null_count && *s->null_count == chunk.num_values) continue;
      if (s && s->nan_count && *s->nan_count > 0) continue;  // reported as non-finite
      const bool bounded = s && (s->min_value || s->min) && (s->max_value || s->max);
      if (!bounded) out.push_back({join_path(chunk.path_in_schema), g});
    }
  }
  return out;
}

Result<ParquetTail> read_parquet(const Store& store, const std::string& path,
                                 std::uint64_t max_footer_bytes, const FooterLimits& limits,
                                 const std::atomic<bool>* stop) {
  auto stopped = [&] { return stop != nullptr && stop->load(std::memory_order_relaxed); };
  auto interrupted = [&] {
    return make_error(Errc::interrupted, fmt::format("{}: interrupted while reading", path));
  };
  // The window kept while streaming: footers are usually a few KiB, rarely above 1 MiB.
  constexpr std::size_t kWindow = 1u << 20;
  constexpr std::size_t kBlock = 1u << 18;
  constexpr std::string_view kMagic = "PAR1";

  Result<std::unique_ptr<Reader>> reader = store.open(path);
  if (!reader) return reader.error();
  std::string head, tail;
  std::uint64_t size = 0;
  {
    auto block = std::make_unique<char[]>(kBlock);
    for (;;) {
      if (stopped()) return interrupted();
      Result<std::size_t> got = (*reader)->read(block.get(), kBlock);
      if (!got) return got.error();
      if (*got == 0) break;
      if (head.size() < 4) {
        head.append(block.get(), std::min<std::size_t>(*got, 4 - head.size()));
      }
      size += *got;
      tail.append(block.get(), *got);
      if (tail.size() > 2 * kWindow) tail.erase(0, tail.size() - kWindow);
    }
  }
  auto bad = [&](const std::string& reason) {
    return make_error(Errc::malformed, fmt::format("{}: {}", path, reason));
  };
  if (size < 12) {
    return bad(
        fmt::format("is {} bytes (\"{}\"), too small for a Parquet file (at least 12: "
                    "PAR1, footer length, PAR1)",
                    size, hex_bytes(tail)));
  }
  if (head != kMagic) {
    return bad(fmt::format("does not start with the Parquet magic PAR1 (found bytes {})",
                           hex_bytes(head)));
  }
  const std::string_view last4 = std::string_view(tail).substr(tail.size() - 4);
  if (last4 == "PARE") return bad("has an encrypted footer (PARE), which is not supported");
  if (last4 != kMagic) {
    return bad(fmt::format(
        "does not end with the Parquet magic PAR1 (found bytes {}): truncated or not Parquet",
        hex_bytes(last4)));
  }
  const std::uint32_t length = le32(tail.data() + tail.size() - 8);
  if (length == 0) return bad("has a footer length of 0");
  if (length > size - 12) {
    return bad(
        fmt::format("has a footer length of {} bytes, more than the {} bytes between the "
                    "magics",
                    length, size - 12));
  }
  if (length > max_footer_bytes) {
    return make_error(Errc::too_large,
                      fmt::format("{}: footer of {} bytes exceeds max_footer_bytes {}", path,
                                  length, max_footer_bytes));
  }
  std::string footer;
  if (static_cast<std::uint64_t>(length) + 8 <= tail.size()) {
    footer = tail.substr(tail.size() - 8 - length, length);
  } else {
    // A footer larger than the window: stream again, keeping exactly the footer.
    tail.clear();
    tail.shrink_to_fit();
    Result<std::unique_ptr<Reader>> again = store.open(path);
    if (!again) return again.error();
    const std::uint64_t start = size - 8 - length;
    auto block = std::make_unique<char[]>(kBlock);
    std::uint64_t offset = 0;
    footer.reserve(length);
    for (;;) {
      if (stopped()) return interrupted();
      Result<std::size_t> got = (*again)->read(block.get(), kBlock);
      if (!got) return got.error();
      if (*got == 0) break;
      const std::uint64_t end = offset + *got;
      if (end > start && offset < start + length) {
        const std::uint64_t from = std::max(offset, start);
        const std::uint64_t to = std::min(end, start + length);
        footer.append(block.get() + (from - offset), static_cast<std::size_t>(to - from));
      }
      offset = end;
    }
    if (offset != size || footer.size() != length) {
      return make_error(
          Errc::io_error,
          fmt::format("{}: changed while being read ({} bytes, then {})", path, size, offset));
    }
  }
  Result<FileMetaData> meta = parse_file_metadata(footer, path, limits);
  if (!meta) return meta.error();
  if (Result<void> valid = validate_file_metadata(*meta, path); !valid) return valid.error();
  ParquetTail out;
  out.size = size;
  out.footer_bytes = length;
  out.metadata = std::move(*meta);
  return out;
}

}  // namespace stagecheck::lerobot
