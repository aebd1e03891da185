// Tests of the Parquet footer reader: on files written by an independent writer (the npm
// hyparquet-writer), on hand-encoded Thrift, and fuzz-ish: every truncation fails cleanly and
// random byte flips never crash (run under -DSTAGECHECK_SANITIZE=ON to make that meaningful).

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <stagecheck/local_store.hpp>

#include "../parquet_footer.hpp"
#include "lerobot_test_support.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::lerobot;
using namespace stagecheck::lerobot_testing;
using stagecheck::testing::ScratchDir;
using stagecheck::testing::slurp;

constexpr const char* kEpisode0 = "data/chunk-000/episode_000000.parquet";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// A minimal Thrift compact-protocol writer, written from the spec independently of the
/// reader, for hand-made footers.
class Compact {
 public:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void zigzag(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  /// A field header with a short delta (1..15) or, for larger jumps, the long form.
  void field(int delta_or_id, int type, bool long_form = false) {
    if (long_form) {
      out_ += static_cast<char>(type);
      zigzag(delta_or_id);
    } else {
      out_ += static_cast<char>((delta_or_id << 4) | type);
    }
  }
  void stop() { out_ += '\0'; }
  void binary(const std::string& s) {
    varint(s.size());
    out_ += s;
  }
  void list(int elem_type, std::uint64_t size) {
    if (size < 15) {
      out_ += static_cast<char>((size << 4) | static_cast<std::uint64_t>(elem_type));
    } else {
      out_ += static_cast<char>(0xf0 | elem_type);
      varint(size);
    }
  }
  void raw(const std::string& s) { out_ += s; }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

enum : int { kI32 = 5, kI64 = 6, kBinary = 8, kList = 9, kMap = 11, kStruct = 12 };

std::string le_double(double v) {
  std::uint64_t bits;
  std::memcpy(&bits, &v, 8);
  std::string s;
  for (int i = 0; i < 8; ++i) s += static_cast<char>((bits >> (8 * i)) & 0xff);
  return s;
}

/// A footer with one DOUBLE column "x" (optionally a FLOAT16 column "h"), one row group of
/// `rows` rows, and the given statistics bytes for x's max_value.
std::string make_footer(std::int64_t rows, const std::string& x_max, bool extras = false,
                        std::int64_t group_rows = -1) {
  if (group_rows < 0) group_rows = rows;
  Compact c;
  c.field(1, kI32);
  c.zigzag(2);  // version
  c.field(1, kList);
  c.list(kStruct, 2);
  {  // root
    c.field(4, kBinary);
    c.binary("schema");
    c.field(1, kI32);
    c.zigzag(1);  // num_children (id 5)
    c.stop();
  }
  {  // x: DOUBLE
    c.field(1, kI32);
    c.zigzag(5);
    c.field(3, kBinary);
    c.binary("x");
    c.stop();
  }
  c.field(1, kI64);
  c.zigzag(rows);  // num_rows (3)
  c.field(1, kList);
  c.list(kStruct, 1);  // row_groups (4)
  {
    c.field(1, kList);
    c.list(kStruct, 1);  // columns
    {
      c.field(2, kI64);
      c.zigzag(4);          // file_offset (2)
      c.field(1, kStruct);  // meta_data (3)
      c.field(1, kI32);
      c.zigzag(5);  // type DOUBLE
      c.field(1, kList);
      c.list(kI32, 1);
      c.zigzag(0);  // encodings (2)
      c.field(1, kList);
      c.list(kBinary, 1);
      c.binary("x");  // path_in_schema (3)
      c.field(1, kI32);
      c.zigzag(0);  // codec (4)
      c.field(1, kI64);
      c.zigzag(rows);       // num_values (5)
      c.field(7, kStruct);  // statistics (12)
      c.field(5, kBinary);
      c.binary(x_max);  // max_value (5)
      c.field(1, kBinary);
      c.binary(le_double(-1.0));  // min_value (6)
      c.stop();
      if (extras) {
        // Unknown fields of every shape: a map, a nested list, a double, a bool, a big id.
        c.field(100, kMap, true);
        c.varint(2);
        c.raw(std::string(1, static_cast<char>((kBinary << 4) | kI32)));
        c.binary("k1");
        c.zigzag(1);
        c.binary("k2");
        c.zigzag(2);
        c.field(1, kList);
        c.list(kList, 2);
        c.list(kI64, 1);
        c.zigzag(7);
        c.list(kStruct, 1);
        c.stop();
        c.field(1, 7);
        c.raw(le_double(3.5));
        c.field(1, 1);  // bool true in the header
      }
      c.stop();  // meta_data
      c.stop();  // column chunk
    }
    c.field(1, kI64);
    c.zigzag(100);  // total_byte_size (2)
    c.field(1, kI64);
    c.zigzag(group_rows);  // num_rows (3)
    c.stop();
  }
  c.field(2, kBinary);
  c.binary("hand-made");  // created_by (6)
  c.stop();
  return c.str();
}

/// A whole file: magic, a fake page, the footer, its length, magic.
std::string make_file(const std::string& footer) {
  std::string file = "PAR1";
  file += std::string(16, 'x');
  file += footer;
  const auto n = static_cast<std::uint32_t>(footer.size());
  for (int i = 0; i < 4; ++i) file += static_cast<char>((n >> (8 * i)) & 0xff);
  file += "PAR1";
  return file;
}

/// The footer bytes of a Parquet file's contents.
std::string footer_of(const std::string& file) {
  const std::size_t n = file.size();
  std::uint32_t len = 0;
  for (int i = 3; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(file[n - 8 + i]);
  return file.substr(n - 8 - len, len);
}

Result<ParquetTail> read_file(const ScratchDir& dir, const std::string& rel,
                              std::uint64_t max_footer = 64u << 20) {
  Result<std::unique_ptr<Store>> store = open_local_store(dir.path());
  EXPECT_TRUE(store.ok());
  return read_parquet(**store, rel, max_footer);
}

// ---- Hand-made footers ----------------------------------------------------------------------

TEST(ParquetFooter, HandMadeFooterDecodes) {
  const std::string footer = make_footer(7, le_double(2.5), true);
  Result<FileMetaData> meta = parse_file_metadata(footer, "f");
  ASSERT_TRUE(meta.ok()) << meta.error().message;
  EXPECT_EQ(meta->version, 2);
  EXPECT_EQ(meta->num_rows, 7);
  ASSERT_EQ(meta->schema.size(), 2u);
  EXPECT_EQ(meta->schema[1].name, "x");
  ASSERT_EQ(meta->row_groups.size(), 1u);
  EXPECT_EQ(meta->row_groups[0].num_rows, 7);
  ASSERT_EQ(meta->row_groups[0].columns.size(), 1u);
  const ColumnChunk& col = meta->row_groups[0].columns[0];
  EXPECT_EQ(col.type, 5);
  EXPECT_EQ(col.path_in_schema, std::vector<std::string>{"x"});
  ASSERT_TRUE(col.statistics.has_value());
  EXPECT_EQ(*col.statistics->max_value, le_double(2.5));
  EXPECT_EQ(meta->created_by, "hand-made");
  EXPECT_TRUE(validate_file_metadata(*meta, "f").ok());
  Result<std::vector<NonFinite>> nf = non_finite_statistics(*meta, "f");
  ASSERT_TRUE(nf.ok());
  EXPECT_TRUE(nf->empty());
}

TEST(ParquetFooter, NonFiniteDoubleStatistics) {
  for (const auto& [value, name] : std::vector<std::pair<double, std::string>>{
           {std::numeric_limits<double>::quiet_NaN(), "NaN"},
           {std::numeric_limits<double>::infinity(), "inf"},
           {-std::numeric_limits<double>::infinity(), "-inf"}}) {
    Result<FileMetaData> meta = parse_file_metadata(make_footer(3, le_double(value)), "f");
    ASSERT_TRUE(meta.ok()) << meta.error().message;
    Result<std::vector<NonFinite>> nf = non_finite_statistics(*meta, "f");
    ASSERT_TRUE(nf.ok());
    ASSERT_EQ(nf->size(), 1u) << name;
    EXPECT_EQ((*nf)[0].column, "x");
    EXPECT_EQ((*nf)[0].field, "max_value");
    EXPECT_EQ((*nf)[0].found, name);
  }
}

TEST(ParquetFooter, WrongStatisticWidthIsMalformed) {
  Result<FileMetaData> meta = parse_file_metadata(make_footer(3, "abc"), "f");
  ASSERT_TRUE(meta.ok());
  Result<std::vector<NonFinite>> nf = non_finite_statistics(*meta, "f");
  ASSERT_FALSE(nf.ok());
  EXPECT_TRUE(contains(nf.error().message, "3 bytes for a DOUBLE statistic (expected 8)"))
      << nf.error().message;
}

TEST(ParquetFooter, RowGroupsMustSumToNumRows) {
  Result<FileMetaData> meta = parse_file_metadata(make_footer(10, le_double(1), false, 9), "f");
  ASSERT_TRUE(meta.ok());
  Result<void> valid = validate_file_metadata(*meta, "f.parquet");
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.error().message,
            "f.parquet: Parquet footer is inconsistent: num_rows is 10 but the 1 row groups hold "
            "9 rows");
}

TEST(ParquetFooter, TrailingBytesAreRefused) {
  Result<FileMetaData> meta = parse_file_metadata(make_footer(1, le_double(1)) + "Z", "f");
  ASSERT_FALSE(meta.ok());
  EXPECT_TRUE(contains(meta.error().message, "1 bytes follow the FileMetaData struct"))
      << meta.error().message;
}

TEST(ParquetFooter, MissingRequiredFieldIsNamed) {
  Compact c;
  c.field(1, kI32);
  c.zigzag(1);
  c.stop();
  Result<FileMetaData> meta = parse_file_metadata(c.str(), "f.parquet");
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.error().code, Errc::malformed);
  EXPECT_TRUE(contains(meta.error().message, "required field schema (2) is missing"))
      << meta.error().message;
}

TEST(ParquetFooter, WrongWireTypeIsNamed) {
  Compact c;
  c.field(3, kBinary);  // num_rows as a binary
  c.binary("10");
  c.stop();
  Result<FileMetaData> meta = parse_file_metadata(c.str(), "f");
  ASSERT_FALSE(meta.ok());
  EXPECT_TRUE(
      contains(meta.error().message, "field num_rows has wire type 8 (binary), expected i64"))
      << meta.error().message;
}

TEST(ParquetFooter, HugeListCountIsRefusedWithoutAllocating) {
  Compact c;
  c.field(2, kList);
  c.list(kStruct, std::uint64_t{1} << 40);
  c.stop();
  Result<FileMetaData> meta = parse_file_metadata(c.str(), "f");
  ASSERT_FALSE(meta.ok());
  EXPECT_TRUE(contains(meta.error().message, "exceeds the limit")) << meta.error().message;
  Compact d;
  d.field(2, kList);
  d.list(kStruct, 1000);
  d.stop();
  meta = parse_file_metadata(d.str(), "f");
  ASSERT_FALSE(meta.ok());
  EXPECT_TRUE(contains(meta.error().message, "cannot fit in the 1 bytes left"))
      << meta.error().message;
}

TEST(ParquetFooter, HugeBinaryLengthIsRefused) {
  Compact c;
  c.field(6, kBinary);
  c.varint(std::uint64_t{1} << 62);
  Result<FileMetaData> meta = parse_file_metadata(c.str(), "f");
  ASSERT_FALSE(meta.ok());
  EXPECT_TRUE(contains(meta.error().message, "binary of 4611686018427387904 bytes exceeds"))
      << meta.error().message;
}

TEST(ParquetFooter, DeepNestingIsRefused) {
  Compact c;
  c.field(15, kList);  // unknown field 15: a list of lists of lists...
  for (int i = 0; i < 5000; ++i) c.list(kList, 1);
  c.list(kI32, 0);
  Result<FileMetaData> meta = parse_file_metadata(c.str(), "f");
  ASSERT_FALSE(meta.ok());
  EXPECT_TRUE(contains(meta.error().message, "nesting deeper than 32")) << meta.error().message;
}

TEST(ParquetFooter, OverlongVarintIsRefused) {
  Compact c;
  c.field(3, kI64);
  c.raw(std::string(11, static_cast<char>(0xff)));
  Result<FileMetaData> meta = parse_file_metadata(c.str(), "f");
  ASSERT_FALSE(meta.ok());
  EXPECT_TRUE(contains(meta.error().message, "varint")) << meta.error().message;
}

TEST(ParquetFooter, SchemaTreeMustBeConsistent) {
  FileMetaData meta;
  meta.schema = {{"root", std::nullopt, std::nullopt, 2, false},
                 {"a", 5, std::nullopt, std::nullopt, false}};
  Result<std::vector<LeafColumn>> leaves = schema_leaves(meta, "f");
  ASSERT_FALSE(leaves.ok());
  EXPECT_TRUE(contains(leaves.error().message, "the schema ends inside group \"root\""))
      << leaves.error().message;
  meta.schema.push_back({"g", std::nullopt, std::nullopt, 1, false});
  meta.schema.push_back({"b", 4, std::nullopt, std::nullopt, false});
  meta.schema[0].num_children = 2;
  leaves = schema_leaves(meta, "f");
  ASSERT_TRUE(leaves.ok()) << leaves.error().message;
  ASSERT_EQ(leaves->size(), 2u);
  EXPECT_EQ((*leaves)[1].path, (std::vector<std::string>{"g", "b"}));
  meta.schema.push_back({"extra", 4, std::nullopt, std::nullopt, false});
  leaves = schema_leaves(meta, "f");
  ASSERT_FALSE(leaves.ok());
  EXPECT_TRUE(contains(leaves.error().message, "1 schema elements follow the root's tree"));
}

TEST(ParquetFooter, Float16StatisticsAreDecoded) {
  FileMetaData meta;
  meta.schema = {{"root", std::nullopt, std::nullopt, 1, false}, {"h", 7, 2, std::nullopt, true}};
  meta.num_rows = 1;
  ColumnChunk col;
  col.type = 7;
  col.path_in_schema = {"h"};
  col.statistics.emplace();
  col.statistics->max_value = std::string("\x00\x7c", 2);  // +inf
  col.statistics->min_value = std::string("\x00\x3c", 2);  // 1.0
  meta.row_groups.push_back({1, {col}});
  Result<std::vector<NonFinite>> nf = non_finite_statistics(meta, "f");
  ASSERT_TRUE(nf.ok());
  ASSERT_EQ(nf->size(), 1u);
  EXPECT_EQ((*nf)[0].found, "inf");
}

// ---- Whole files through a store -----------------------------------------------------------

TEST(ParquetFile, TooSmallAndBadMagicAreNamed) {
  ScratchDir dir;
  dir.write("four.parquet", "mock");
  Result<ParquetTail> r = read_file(dir, "four.parquet");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::malformed);
  EXPECT_EQ(r.error().message,
            "four.parquet: is 4 bytes (\"6d 6f 63 6b\"), too small for a Parquet file (at least "
            "12: PAR1, footer length, PAR1)");

  std::string good = make_file(make_footer(3, le_double(1)));
  dir.write("head.parquet", "XAR1" + good.substr(4));
  r = read_file(dir, "head.parquet");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message,
                       "does not start with the Parquet magic PAR1 (found "
                       "bytes 58 41 52 31)"))
      << r.error().message;

  dir.write("tail.parquet", good.substr(0, good.size() - 1) + "X");
  r = read_file(dir, "tail.parquet");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "does not end with the Parquet magic PAR1"));

  dir.write("enc.parquet", good.substr(0, good.size() - 4) + "PARE");
  r = read_file(dir, "enc.parquet");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "encrypted footer"));

  std::string longer = good;
  longer[longer.size() - 5] = '\x7f';  // footer length's high byte
  dir.write("len.parquet", longer);
  r = read_file(dir, "len.parquet");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "more than the")) << r.error().message;

  dir.write("good.parquet", good);
  r = read_file(dir, "good.parquet");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->metadata.num_rows, 3);
  r = read_file(dir, "good.parquet", 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_TRUE(contains(r.error().message, "exceeds max_footer_bytes 10")) << r.error().message;
}

TEST(ParquetFile, LargeFileUsesTheSecondPassForALargeFooter) {
  // A footer larger than the 1 MiB window (a long created_by would do; pad with an unknown
  // binary field instead) after 3 MiB of data.
  Compact pad;
  pad.raw(make_footer(2, le_double(1)));
  std::string footer = pad.str();
  footer.pop_back();  // reopen the FileMetaData struct: drop its STOP
  Compact extra;
  extra.field(20, kBinary, true);
  extra.binary(std::string(1536 * 1024, 'p'));
  extra.stop();
  footer += extra.str();
  std::string file = "PAR1" + std::string(3u << 20, 'd');
  const auto n = static_cast<std::uint32_t>(footer.size());
  file += footer;
  for (int i = 0; i < 4; ++i) file += static_cast<char>((n >> (8 * i)) & 0xff);
  file += "PAR1";
  ScratchDir dir;
  dir.write("big.parquet", file);
  Result<ParquetTail> r = read_file(dir, "big.parquet");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->metadata.num_rows, 2);
  EXPECT_EQ(r->footer_bytes, n);
  EXPECT_EQ(r->size, file.size());
}

// ---- Files written by hyparquet-writer ------------------------------------------------------

class HyparquetFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!generator_unavailable().empty()) return;
    good_ = new ScratchDir;
    nan_ = new ScratchDir;
    inf_ = new ScratchDir;
    generated_ = generate_bundle(good_->path()) &&
                 generate_bundle(nan_->path(), "--bad-value nan --episodes 1") &&
                 generate_bundle(inf_->path(), "--bad-value inf --episodes 1");
  }
  static void TearDownTestSuite() {
    delete good_;
    delete nan_;
    delete inf_;
    good_ = nan_ = inf_ = nullptr;
  }
  void SetUp() override {
    LEROBOT_REQUIRE_GENERATOR();
    ASSERT_TRUE(generated_) << "the generator failed";
  }

  static ScratchDir* good_;
  static ScratchDir* nan_;
  static ScratchDir* inf_;
  static bool generated_;
};
ScratchDir* HyparquetFiles::good_ = nullptr;
ScratchDir* HyparquetFiles::nan_ = nullptr;
ScratchDir* HyparquetFiles::inf_ = nullptr;
bool HyparquetFiles::generated_ = false;

TEST_F(HyparquetFiles, FooterDecodes) {
  Result<ParquetTail> r = read_file(*good_, kEpisode0);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const FileMetaData& meta = r->metadata;
  EXPECT_EQ(meta.num_rows, 5);
  EXPECT_EQ(r->size, std::filesystem::file_size(good_->path() / kEpisode0));
  EXPECT_TRUE(contains(meta.created_by, "make_lerobot_bundle.mjs")) << meta.created_by;
  Result<std::vector<LeafColumn>> leaves = schema_leaves(meta, kEpisode0);
  ASSERT_TRUE(leaves.ok());
  ASSERT_EQ(leaves->size(), 9u);
  EXPECT_EQ((*leaves)[0].path, (std::vector<std::string>{"observation.state", "list", "element"}));
  EXPECT_EQ((*leaves)[2].path,
            (std::vector<std::string>{"observation.ee_position", "list", "element"}));
  EXPECT_EQ(*(*leaves)[2].element->type, static_cast<std::int32_t>(PhysicalType::float64));
  EXPECT_EQ((*leaves)[8].path, std::vector<std::string>{"task_index"});
  ASSERT_EQ(meta.row_groups.size(), 1u);
  // hyparquet-writer writes min_value/max_value statistics for every column.
  for (const ColumnChunk& col : meta.row_groups[0].columns) {
    ASSERT_TRUE(col.statistics.has_value());
    EXPECT_TRUE(col.statistics->min_value.has_value());
    EXPECT_TRUE(col.statistics->max_value.has_value());
  }
  Result<std::vector<NonFinite>> nf = non_finite_statistics(meta, kEpisode0);
  ASSERT_TRUE(nf.ok());
  EXPECT_TRUE(nf->empty());
  // Episode 2 has 7 rows.
  r = read_file(*good_, "data/chunk-000/episode_000002.parquet");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->metadata.num_rows, 7);
}

TEST_F(HyparquetFiles, NaNIsCountedNotInMinMax) {
  Result<ParquetTail> r = read_file(*nan_, kEpisode0);
  ASSERT_TRUE(r.ok()) << r.error().message;
  Result<std::vector<NonFinite>> nf = non_finite_statistics(r->metadata, kEpisode0);
  ASSERT_TRUE(nf.ok());
  ASSERT_EQ(nf->size(), 1u);
  EXPECT_EQ((*nf)[0].column, "observation.ee_position.list.element");
  EXPECT_EQ((*nf)[0].field, "nan_count");
  EXPECT_EQ((*nf)[0].found, "1");
}

TEST_F(HyparquetFiles, InfinityIsTheMaxValue) {
  Result<ParquetTail> r = read_file(*inf_, kEpisode0);
  ASSERT_TRUE(r.ok()) << r.error().message;
  Result<std::vector<NonFinite>> nf = non_finite_statistics(r->metadata, kEpisode0);
  ASSERT_TRUE(nf.ok());
  ASSERT_EQ(nf->size(), 1u);
  EXPECT_EQ((*nf)[0].column, "observation.ee_position.list.element");
  EXPECT_EQ((*nf)[0].field, "max_value");
  EXPECT_EQ((*nf)[0].found, "inf");
}

TEST_F(HyparquetFiles, EveryTruncatedFooterFailsCleanly) {
  const std::string file = slurp(good_->path() / kEpisode0);
  const std::string footer = footer_of(file);
  ASSERT_GT(footer.size(), 100u);
  ASSERT_TRUE(parse_file_metadata(footer, "f").ok());
  for (std::size_t k = 0; k < footer.size(); ++k) {
    Result<FileMetaData> meta = parse_file_metadata(footer.substr(0, k), "f");
    ASSERT_FALSE(meta.ok()) << "a footer cut to " << k << " bytes decoded";
    EXPECT_EQ(meta.error().code, Errc::malformed);
  }
}

TEST_F(HyparquetFiles, TruncatedFilesFailCleanly) {
  const std::string file = slurp(good_->path() / kEpisode0);
  ScratchDir dir;
  // Every cut near both ends (magic, footer length, the footer's last fields), every 5th in
  // between: file I/O is the cost, and the decoder sees every truncation in the test above.
  for (std::size_t k = 0; k < file.size(); ++k) {
    if (k > 16 && k + 64 < file.size() && k % 5 != 0) continue;
    dir.write("t.parquet", file.substr(0, k));
    Result<ParquetTail> r = read_file(dir, "t.parquet");
    ASSERT_FALSE(r.ok()) << "a file cut to " << k << " bytes was accepted";
    EXPECT_EQ(r.error().code, Errc::malformed) << r.error().message;
  }
}

TEST_F(HyparquetFiles, RandomByteFlipsNeverCrash) {
  const std::string footer = footer_of(slurp(good_->path() / kEpisode0));
  std::mt19937 rng(20260101);
  std::uniform_int_distribution<std::size_t> pos(0, footer.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), flips(1, 4);
  int failed = 0;
  constexpr int kRounds = 20000;
  for (int round = 0; round < kRounds; ++round) {
    std::string f = footer;
    for (int i = flips(rng); i > 0; --i) f[pos(rng)] = static_cast<char>(byte(rng));
    Result<FileMetaData> meta = parse_file_metadata(f, "f");
    if (!meta.ok()) {
      EXPECT_EQ(meta.error().code, Errc::malformed);
      ++failed;
      continue;
    }
    // Whatever decodes must survive the later steps too.
    Result<void> valid = validate_file_metadata(*meta, "f");
    Result<std::vector<NonFinite>> nf = non_finite_statistics(*meta, "f");
    if (!valid.ok() || !nf.ok()) ++failed;
  }
  // Most corruptions are caught; a flip inside a statistic's bytes legitimately decodes.
  EXPECT_GT(failed, kRounds / 4);
  EXPECT_LT(failed, kRounds);
}

TEST_F(HyparquetFiles, RandomFlipsInTheFileTailNeverCrash) {
  // Flips in the last 64 bytes hit the footer's end, its length field and the magic.
  const std::string file = slurp(good_->path() / kEpisode0);
  ScratchDir dir;
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pos(file.size() - 64, file.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), flips(1, 3);
  int failed = 0;
  constexpr int kRounds = 400;
  for (int round = 0; round < kRounds; ++round) {
    std::string f = file;
    for (int i = flips(rng); i > 0; --i) f[pos(rng)] = static_cast<char>(byte(rng));
    dir.write("f.parquet", f);
    Result<ParquetTail> r = read_file(dir, "f.parquet");
    if (!r.ok()) {
      EXPECT_TRUE(r.error().code == Errc::malformed || r.error().code == Errc::too_large)
          << r.error().message;
      ++failed;
    } else if (!non_finite_statistics(r->metadata, "f").ok()) {
      ++failed;
    }
  }
  EXPECT_GT(failed, kRounds / 2);
}

}  // namespace
