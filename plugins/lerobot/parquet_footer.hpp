#pragma once
/// \file
/// A bounded reader of the Parquet footer: the trailing magic, the footer length, and the
/// Thrift compact-protocol FileMetaData, decoded only as far as the lerobot check needs
/// (schema names and types, row counts, column chunk statistics). Everything else is skipped
/// generically. Hostile input yields an Errc::malformed error naming the byte offset, never
/// undefined behaviour: recursion depth, list sizes and string lengths are bounded.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <stagecheck/result.hpp>
#include <stagecheck/store.hpp>

namespace stagecheck::lerobot {

/// Parquet's physical types (parquet.thrift `Type`).
enum class PhysicalType : std::int32_t {
  boolean = 0,
  int32 = 1,
  int64 = 2,
  int96 = 3,
  float32 = 4,
  float64 = 5,
  byte_array = 6,
  fixed_len_byte_array = 7,
};

/// The physical type's name in parquet.thrift, or "type N" for an unknown value.
std::string physical_type_name(std::int32_t type);

/// Bounds the decoder honours; exceeding one is a parse error, not a crash.
struct FooterLimits {
  int max_depth = 32;                         ///< Deepest nesting of structs, lists and maps.
  std::uint64_t max_elements = 1u << 22;      ///< Most elements of any one list, set or map.
  std::uint64_t max_string_bytes = 1u << 24;  ///< Longest binary/string field.
};

/// One SchemaElement (only the fields the check uses).
struct SchemaElement {
  std::string name;
  std::optional<std::int32_t> type;          ///< Physical type; absent for groups.
  std::optional<std::int32_t> type_length;   ///< For FIXED_LEN_BYTE_ARRAY.
  std::optional<std::int32_t> num_children;  ///< Present (possibly 0) for groups.
  bool float16 = false;                      ///< LogicalType FLOAT16.
};

/// A column chunk's Statistics (raw little-endian plain-encoded values).
struct Statistics {
  std::optional<std::string> max;  ///< Field 1 (deprecated, signed order).
  std::optional<std::string> min;  ///< Field 2 (deprecated).
  std::optional<std::int64_t> null_count;
  std::optional<std::string> max_value;   ///< Field 5.
  std::optional<std::string> min_value;   ///< Field 6.
  std::optional<std::int64_t> nan_count;  ///< Field 9 (written by newer writers for floats).
};

/// One ColumnChunk with the parts of its ColumnMetaData the check uses.
struct ColumnChunk {
  std::int32_t type = -1;  ///< ColumnMetaData.type.
  std::vector<std::string> path_in_schema;
  std::int64_t num_values = 0;
  std::optional<Statistics> statistics;
};

/// One RowGroup.
struct RowGroup {
  std::int64_t num_rows = 0;
  std::vector<ColumnChunk> columns;
};

/// The decoded FileMetaData.
struct FileMetaData {
  std::int32_t version = 0;
  std::vector<SchemaElement> schema;  ///< Depth-first, the root first.
  std::int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
  std::string created_by;  ///< Empty if absent.
};

/// A leaf column of the schema: its dotted path and its element.
struct LeafColumn {
  std::vector<std::string> path;
  const SchemaElement* element = nullptr;
};

/// Decodes a FileMetaData from exactly `bytes` (the footer without its length and magic).
/// Required fields (version, schema, num_rows, row_groups; RowGroup.columns and num_rows;
/// ColumnMetaData type, path_in_schema, num_values; SchemaElement name) must be present, every
/// known field must have its declared wire type, and nothing may follow the struct.
/// Errc::malformed, naming `what`, the byte offset and the reason.
Result<FileMetaData> parse_file_metadata(std::string_view bytes, std::string_view what,
                                         const FooterLimits& limits = {});

/// The schema's leaf columns in order, or Errc::malformed when num_children do not describe a
/// tree (a count running past the list, or elements left over).
Result<std::vector<LeafColumn>> schema_leaves(const FileMetaData& meta, std::string_view what);

/// Structural checks after decoding: every row group has one chunk per leaf column, in schema
/// order and with the leaf's path and physical type; num_rows and every row group's num_rows
/// are non-negative and the row groups' rows sum to num_rows. Errc::malformed naming `what`.
Result<void> validate_file_metadata(const FileMetaData& meta, std::string_view what);

/// A statistic of a floating-point column that is NaN or infinite, or a nan_count above 0.
struct NonFinite {
  std::string column;  ///< Dotted path_in_schema.
  std::size_t row_group = 0;
  std::string field;  ///< "min_value", "max_value", "min", "max" or "nan_count".
  std::string found;  ///< e.g. "NaN", "-inf", "3" (for nan_count).
};

/// Every non-finite statistic of the FLOAT, DOUBLE and FLOAT16 columns. A statistic whose byte
/// length does not fit its type is a malformed error (it cannot be judged).
Result<std::vector<NonFinite>> non_finite_statistics(const FileMetaData& meta,
                                                     std::string_view what);

/// A column chunk, by dotted column path and row group.
struct ChunkRef {
  std::string column;
  std::size_t row_group = 0;
};

/// The FLOAT, DOUBLE and FLOAT16 column chunks whose statistics bound neither end (no
/// min_value/min or no max_value/max) and report no nan_count above 0: NaN/Inf cannot be ruled
/// out there. Chunks without values (num_values 0, or null_count equal to num_values) are not
/// listed.
std::vector<ChunkRef> float_chunks_without_bounds(const FileMetaData& meta);

/// The tail of a Parquet file, as read through a Store.
struct ParquetTail {
  std::uint64_t size = 0;  ///< Bytes read in total: the file's size.
  FileMetaData metadata;   ///< The decoded and validated footer.
  std::uint32_t footer_bytes = 0;
};

/// Reads `path` as a Parquet file: checks the magic at both ends and the footer length, then
/// decodes and validates the footer. The Store offers no ranged read, so the object is
/// streamed once keeping only a bounded tail window in memory (a second pass only when the
/// footer is larger than that window); at most `max_footer_bytes` of footer are ever held.
/// Store errors are passed through with the path; format problems are Errc::malformed.
/// `stop`, if given, is polled between blocks: once set, the read ends with Errc::interrupted.
Result<ParquetTail> read_parquet(const Store& store, const std::string& path,
                                 std::uint64_t max_footer_bytes, const FooterLimits& limits = {},
                                 const std::atomic<bool>* stop = nullptr);

}  // namespace stagecheck::lerobot
