// Tests for the JSON, JSON Lines and YAML loaders and their limits, and for Format names.

#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stagecheck/artifact.hpp"

namespace stagecheck {
namespace {

using Json = nlohmann::json;

/// The error of a result that must have failed, or a stand-in that fails the assertions.
template <class T>
Error error_of(const Result<T>& r) {
  if (r.ok()) return Error{Errc::internal, "<unexpectedly succeeded>"};
  return r.error();
}

#define EXPECT_MALFORMED(result, fragment)                                     \
  do {                                                                         \
    const Error err_ = error_of(result);                                       \
    EXPECT_EQ(err_.code, Errc::malformed) << err_.message;                     \
    EXPECT_NE(err_.message.find(fragment), std::string::npos) << err_.message; \
  } while (false)

// --- JSON ----------------------------------------------------------------------------------

TEST(ParseJson, ParsesAValidDocument) {
  const Result<Json> r = parse_json(
      R"({"a": [1, -2, 3.5, true, null, "x"], "b": {"c": 18446744073709551615}})", "doc.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Json& j = *r;
  EXPECT_EQ(j["a"][0].get<int>(), 1);
  EXPECT_TRUE(j["a"][0].is_number_integer());
  EXPECT_EQ(j["a"][1].get<int>(), -2);
  EXPECT_DOUBLE_EQ(j["a"][2].get<double>(), 3.5);
  EXPECT_TRUE(j["a"][3].get<bool>());
  EXPECT_TRUE(j["a"][4].is_null());
  EXPECT_EQ(j["a"][5], "x");
  EXPECT_TRUE(j["b"]["c"].is_number_unsigned());
  EXPECT_EQ(j["b"]["c"].get<std::uint64_t>(), 18446744073709551615ull);
}

TEST(ParseJson, ParsesScalarDocuments) {
  EXPECT_EQ(*parse_json("42", "x"), Json(42));
  EXPECT_EQ(*parse_json(" \"s\" \n", "x"), Json("s"));
  EXPECT_TRUE(parse_json("null", "x")->is_null());
}

TEST(ParseJson, TruncatedIsMalformed) {
  const Result<Json> r = parse_json(R"({"a": [1, 2)", "scenes/meta.json");
  EXPECT_MALFORMED(r, "'scenes/meta.json': malformed JSON at byte ");
  EXPECT_MALFORMED(parse_json(R"({"a": "unterminated)", "x"), "malformed JSON at byte");
  EXPECT_MALFORMED(parse_json("[1, x]", "x"), "malformed JSON at byte 5: ");
}

TEST(ParseJson, TrailingGarbageIsMalformed) {
  EXPECT_MALFORMED(parse_json(R"({"a": 1} x)", "x.json"), "malformed JSON at byte");
  EXPECT_MALFORMED(parse_json(R"({"a": 1}{"b": 2})", "x.json"), "malformed JSON at byte");
}

TEST(ParseJson, DuplicateKeyIsMalformed) {
  const Result<Json> r = parse_json(R"({"a": 1, "b": {"x": 1, "x": 2}})", "dup.json");
  EXPECT_MALFORMED(r, "'dup.json': malformed JSON: duplicate key 'x' at byte 26");
  EXPECT_MALFORMED(parse_json(R"({"a": 1, "a": 1})", "x"), "duplicate key 'a'");
}

TEST(ParseJson, SameKeyInDifferentObjectsIsFine) {
  const Result<Json> r = parse_json(R"([{"a": 1}, {"a": 2}, {"a": {"a": 3}}])", "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)[2]["a"]["a"], 3);
}

TEST(ParseJson, DeepArrayNestingIsMalformedNotACrash) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  const Result<Json> r = parse_json(deep, "deep.json");
  EXPECT_MALFORMED(r, "'deep.json': malformed JSON: nested deeper than 256 levels at byte 257");
}

TEST(ParseJson, DeepObjectNestingIsMalformedNotACrash) {
  std::string deep;
  for (int i = 0; i < 100'000; ++i) deep += "{\"a\":";
  deep += "1";
  deep += std::string(100'000, '}');
  EXPECT_MALFORMED(parse_json(deep, "deep.json"), "nested deeper than 256 levels");
  // Unclosed too: the depth limit trips before the truncation is seen.
  EXPECT_MALFORMED(parse_json(deep.substr(0, 500'000), "deep.json"),
                   "nested deeper than 256 levels");
}

TEST(ParseJson, DepthLimitIsExact) {
  const auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_TRUE(parse_json(nested(256), "x").ok());
  EXPECT_MALFORMED(parse_json(nested(257), "x"), "nested deeper than 256 levels");
  LoadLimits small;
  small.max_depth = 2;
  EXPECT_TRUE(parse_json(R"({"a": [1]})", "x", small).ok());
  EXPECT_MALFORMED(parse_json(R"({"a": [[1]]})", "x", small), "nested deeper than 2 levels");
}

TEST(ParseJson, NumberOverflowIsMalformed) {
  EXPECT_MALFORMED(parse_json("1e400", "n.json"), "number out of range '1e400'");
  EXPECT_MALFORMED(parse_json(R"({"v": -1e400})", "n.json"), "number out of range");
}

TEST(ParseJson, UnderflowAndHugeIntegersAreNumbers) {
  const Result<Json> tiny = parse_json("1e-400", "x");
  ASSERT_TRUE(tiny.ok()) << tiny.error().message;
  EXPECT_EQ(tiny->get<double>(), 0.0);
  const Result<Json> big = parse_json("123456789012345678901234567890", "x");
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_TRUE(big->is_number_float());
}

TEST(ParseJson, EmptyIsMalformed) {
  EXPECT_MALFORMED(parse_json("", "e.json"), "'e.json': empty file, expected a JSON document");
  EXPECT_MALFORMED(parse_json(" \n\t ", "e.json"), "only whitespace, expected a JSON document");
}

TEST(ParseJson, NonStandardLiteralsAreMalformed) {
  EXPECT_MALFORMED(parse_json("NaN", "x"), "malformed JSON at byte");
  EXPECT_MALFORMED(parse_json(R"({"a": NaN})", "x"), "malformed JSON at byte");
  EXPECT_MALFORMED(parse_json("Infinity", "x"), "malformed JSON at byte");
  EXPECT_MALFORMED(parse_json("[1, 2,]", "x"), "malformed JSON at byte");
  EXPECT_MALFORMED(parse_json("// c\n{}", "x"), "malformed JSON at byte");
  EXPECT_MALFORMED(parse_json("{'a': 1}", "x"), "malformed JSON at byte");
}

TEST(ParseJson, ByteOrderMarkIsMalformed) {
  EXPECT_MALFORMED(parse_json("\xEF\xBB\xBF{}", "bom.json"), "byte order mark");
}

TEST(ParseJson, InvalidUtf8IsMalformed) {
  EXPECT_MALFORMED(parse_json("\"\xff\xfe\"", "x"), "malformed JSON at byte");
}

TEST(ParseJson, ParserMessageHasNoExceptionId) {
  const Error e = error_of(parse_json("{", "x"));
  EXPECT_EQ(e.message.find("[json.exception"), std::string::npos) << e.message;
}

// --- JSON Lines ----------------------------------------------------------------------------

TEST(ParseJsonLines, ParsesEachLineIntoAnArray) {
  const Result<Json> r = parse_json_lines("{\"a\": 1}\n[2]\n\"three\"\n", "x.jsonl");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->is_array());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0]["a"], 1);
  EXPECT_EQ((*r)[2], "three");
}

TEST(ParseJsonLines, ErrorNamesTheLine) {
  const Result<Json> r =
      parse_json_lines("{\"a\": 1}\n{\"a\": 2}\n{\"a\": \n{\"a\": 4}\n", "ep.jsonl");
  EXPECT_MALFORMED(r, "'ep.jsonl': malformed JSON at line 3, byte");
  // The per-line parser's own "line 1" would mislead.
  EXPECT_EQ(error_of(r).message.find("line 1,"), std::string::npos) << error_of(r).message;
}

TEST(ParseJsonLines, BlankLinesAreSkippedButCounted) {
  const Result<Json> ok = parse_json_lines("\n1\n\n  \n2\n\n", "x");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, Json::array({1, 2}));
  EXPECT_MALFORMED(parse_json_lines("1\n\n\nnope\n", "x"), "at line 4,");
}

TEST(ParseJsonLines, CrlfAndMissingFinalNewlineAreFine) {
  const Result<Json> r = parse_json_lines("{\"a\": 1}\r\n{\"a\": 2}\r\n{\"a\": 3}", "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[2]["a"], 3);
}

TEST(ParseJsonLines, EmptyInputIsAnEmptyArray) {
  for (const char* text : {"", "\n", "\r\n\n  \n"}) {
    const Result<Json> r = parse_json_lines(text, "x");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->is_array());
    EXPECT_TRUE(r->empty());
  }
}

TEST(ParseJsonLines, LimitsApplyPerLine) {
  EXPECT_MALFORMED(parse_json_lines("{}\n{\"k\": 1, \"k\": 2}\n", "x"),
                   "at line 2: duplicate key 'k'");
  EXPECT_MALFORMED(parse_json_lines("1\n" + std::string(1000, '[') + "\n", "x"),
                   "at line 2: nested deeper than 256 levels");
  EXPECT_MALFORMED(parse_json_lines("1\n2\n1e999\n", "x"), "at line 3: number out of range");
}

TEST(ParseJsonLines, TwoDocumentsOnOneLineAreMalformed) {
  EXPECT_MALFORMED(parse_json_lines("{\"a\": 1} {\"a\": 2}\n", "x"), "at line 1, byte");
}

// --- YAML ----------------------------------------------------------------------------------

TEST(ParseYaml, PlainScalarsFollowTheCoreSchema) {
  const Result<Json> r = parse_yaml(R"(
quoted_false: "false"
plain_false: false
upper_true: TRUE
ratio: 0.95
quoted_ratio: "0.95"
count: 42
negative: -7
plus: +3
leading_zero: 0777
hex: 0x1F
octal: 0o17
exp: 1e3
dot: .5
inf: -.inf
nan: .NaN
tilde: ~
null_word: null
empty:
yes_word: yes
version: 1.2.3
single: 'x'
)",
                                    "cfg.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Json& j = *r;
  EXPECT_EQ(j["quoted_false"], Json("false"));
  EXPECT_EQ(j["plain_false"], Json(false));
  EXPECT_EQ(j["upper_true"], Json(true));
  EXPECT_TRUE(j["ratio"].is_number_float());
  EXPECT_DOUBLE_EQ(j["ratio"].get<double>(), 0.95);
  EXPECT_EQ(j["quoted_ratio"], Json("0.95"));
  EXPECT_TRUE(j["count"].is_number_integer());
  EXPECT_EQ(j["count"].get<std::int64_t>(), 42);
  EXPECT_EQ(j["negative"].get<std::int64_t>(), -7);
  EXPECT_EQ(j["plus"].get<std::int64_t>(), 3);
  EXPECT_EQ(j["leading_zero"].get<std::int64_t>(), 777);  // YAML 1.2: not octal.
  EXPECT_EQ(j["hex"].get<std::int64_t>(), 31);
  EXPECT_EQ(j["octal"].get<std::int64_t>(), 15);
  EXPECT_DOUBLE_EQ(j["exp"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(j["dot"].get<double>(), 0.5);
  EXPECT_TRUE(std::isinf(j["inf"].get<double>()));
  EXPECT_LT(j["inf"].get<double>(), 0);
  EXPECT_TRUE(std::isnan(j["nan"].get<double>()));
  EXPECT_TRUE(j["tilde"].is_null());
  EXPECT_TRUE(j["null_word"].is_null());
  EXPECT_TRUE(j["empty"].is_null());
  EXPECT_EQ(j["yes_word"], Json("yes"));  // YAML 1.1's booleans are strings in 1.2.
  EXPECT_EQ(j["version"], Json("1.2.3"));
  EXPECT_EQ(j["single"], Json("x"));
}

TEST(ParseYaml, BlockScalarsAndQuotedNullsStayStrings) {
  const Result<Json> r = parse_yaml("a: |\n  true\nb: 'null'\nc: \"42\"\n", "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["a"], Json("true\n"));
  EXPECT_EQ((*r)["b"], Json("null"));
  EXPECT_EQ((*r)["c"], Json("42"));
}

TEST(ParseYaml, IntegersBeyondInt64BecomeDoubles) {
  const Result<Json> r =
      parse_yaml("big: 123456789012345678901234567890\nmin: -9223372036854775808\n", "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE((*r)["big"].is_number_float());
  EXPECT_DOUBLE_EQ((*r)["big"].get<double>(), 1.2345678901234568e29);
  EXPECT_TRUE((*r)["min"].is_number_integer());
  EXPECT_EQ((*r)["min"].get<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
}

TEST(ParseYaml, NumberBeyondDoubleRangeIsMalformed) {
  EXPECT_MALFORMED(parse_yaml("v: 1e400\n", "x"), "number out of range '1e400'");
}

TEST(ParseYaml, SequencesAndNestedMaps) {
  const Result<Json> r = parse_yaml("items:\n  - {name: a, n: 1}\n  - [x, 2]\n", "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["items"][0]["name"], "a");
  EXPECT_EQ((*r)["items"][0]["n"], 1);
  EXPECT_EQ((*r)["items"][1][1], 2);
}

TEST(ParseYaml, ExplicitTags) {
  const Result<Json> r = parse_yaml("a: !!str 12\nb: !!float 3\nc: !!int 7\n", "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["a"], Json("12"));
  EXPECT_TRUE((*r)["b"].is_number_float());
  EXPECT_EQ((*r)["c"], 7);
  EXPECT_MALFORMED(parse_yaml("a: !!int abc\n", "x"), "not a valid !!int");
  EXPECT_MALFORMED(parse_yaml("a: !custom thing\n", "x"), "unsupported tag '!custom'");
}

TEST(ParseYaml, DeepFlowNestingIsMalformedNotACrash) {
  const std::string deep = "a: " + std::string(100'000, '[') + std::string(100'000, ']') + "\n";
  EXPECT_MALFORMED(parse_yaml(deep, "deep.yaml"), "'deep.yaml': malformed YAML");
  EXPECT_MALFORMED(parse_yaml(deep, "deep.yaml"), "nested too deeply");
}

TEST(ParseYaml, NestingBeyondMaxDepthIsMalformed) {
  // Deeper than our limit but within yaml-cpp's own guard, so ours is the one that trips.
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += std::string(static_cast<std::size_t>(i), ' ') + "k:\n";
  deep += std::string(300, ' ') + "v\n";
  EXPECT_MALFORMED(parse_yaml(deep, "d.yaml"), "nested deeper than 256 levels");
  EXPECT_TRUE(parse_yaml("[[[[1]]]]", "x").ok());
  LoadLimits small;
  small.max_depth = 3;
  EXPECT_MALFORMED(parse_yaml("[[[[1]]]]", "x", small), "nested deeper than 3 levels");
}

TEST(ParseYaml, SyntaxErrorNamesLineAndColumn) {
  const Result<Json> r = parse_yaml("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml");
  EXPECT_MALFORMED(r, "'bad.yaml': malformed YAML at line ");
  EXPECT_MALFORMED(r, ", column ");
  EXPECT_MALFORMED(parse_yaml("a: 1\n  b: 2\n", "bad.yaml"), "at line 2, column");
}

TEST(ParseYaml, MultipleDocumentsAreMalformed) {
  EXPECT_MALFORMED(parse_yaml("a: 1\n---\nb: 2\n", "x"), "expected one YAML document, found 2");
}

TEST(ParseYaml, EmptyIsMalformed) {
  EXPECT_MALFORMED(parse_yaml("", "e.yaml"), "'e.yaml': no YAML document");
  EXPECT_MALFORMED(parse_yaml("# only a comment\n", "e.yaml"), "no YAML document");
}

TEST(ParseYaml, DuplicateKeyIsMalformed) {
  const Result<Json> r = parse_yaml("a: 1\nb: 2\na: 3\n", "dup.yaml");
  EXPECT_MALFORMED(r, "'dup.yaml': malformed YAML at line 3, column 1: duplicate key 'a'");
}

TEST(ParseYaml, NonScalarOrNullKeysAreMalformed) {
  EXPECT_MALFORMED(parse_yaml("? [1, 2]\n: x\n", "x"), "keys must be scalars");
  EXPECT_MALFORMED(parse_yaml("~: x\n", "x"), "key is null");
}

TEST(ParseYaml, AliasesAreExpanded) {
  const Result<Json> r = parse_yaml("base: &b [1, 2]\ncopy: *b\n", "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["copy"], Json::array({1, 2}));
}

TEST(ParseYaml, MergeKeysMerge) {
  const Result<Json> r = parse_yaml(
      "defaults: &d {lr: 0.1, epochs: 3}\n"
      "run:\n  <<: *d\n  epochs: 10\n"
      "both:\n  <<: [*d, {extra: 1, lr: 9}]\n"
      "quoted:\n  \"<<\": literal\n",
      "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["run"]["epochs"], 10);  // Explicit keys win over merged ones.
  EXPECT_DOUBLE_EQ((*r)["run"]["lr"].get<double>(), 0.1);
  EXPECT_FALSE((*r)["run"].contains("<<"));
  EXPECT_DOUBLE_EQ((*r)["both"]["lr"].get<double>(), 0.1);  // Earlier sources win.
  EXPECT_EQ((*r)["both"]["extra"], 1);
  EXPECT_EQ((*r)["quoted"]["<<"], "literal");
  EXPECT_MALFORMED(parse_yaml("a:\n  <<: 3\n", "x"), "merge key '<<' needs a mapping");
}

TEST(ParseYaml, SelfReferentialAliasIsMalformedNotACrash) {
  EXPECT_MALFORMED(parse_yaml("a: &a [*a]\n", "loop.yaml"), "'loop.yaml': malformed YAML");
}

TEST(ParseYaml, AliasExpansionBombIsMalformed) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    const char prev = static_cast<char>(c - 1);
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + "]\n";
  }
  EXPECT_MALFORMED(parse_yaml(bomb, "bomb.yaml"), "expands to more than");
}

TEST(ParseYaml, ByteOrderMarkIsAccepted) {
  const Result<Json> r = parse_yaml(
      "\xEF\xBB\xBF"
      "a: 1\n",
      "x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["a"], 1);
}

// --- Format --------------------------------------------------------------------------------

TEST(Format, NamesRoundTrip) {
  for (const Format f : {Format::json, Format::jsonl, Format::yaml, Format::bytes}) {
    const std::optional<Format> parsed = parse_format(to_string(f));
    ASSERT_TRUE(parsed.has_value()) << to_string(f);
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_FALSE(parse_format("ndjson").has_value());  // Extensions are not format names.
  EXPECT_FALSE(parse_format("yml").has_value());
  EXPECT_FALSE(parse_format("JSON").has_value());
  EXPECT_FALSE(parse_format("csv").has_value());
  EXPECT_FALSE(parse_format("").has_value());
}

TEST(Format, FromPathUsesTheExtension) {
  EXPECT_EQ(format_from_path("a/b.json"), Format::json);
  EXPECT_EQ(format_from_path("a/B.JSON"), Format::json);
  EXPECT_EQ(format_from_path("x.jsonl"), Format::jsonl);
  EXPECT_EQ(format_from_path("x.ndjson"), Format::jsonl);
  EXPECT_EQ(format_from_path("x.yaml"), Format::yaml);
  EXPECT_EQ(format_from_path("dir.yml/x.yml"), Format::yaml);
  EXPECT_EQ(format_from_path("x.json.gz"), Format::bytes);
  EXPECT_EQ(format_from_path("x.parquet"), Format::bytes);
  EXPECT_EQ(format_from_path("dir.json/README"), Format::bytes);
  EXPECT_EQ(format_from_path(".json"), Format::bytes);
  EXPECT_EQ(format_from_path(""), Format::bytes);
}

}  // namespace
}  // namespace stagecheck

TEST(ParseJsonNul, NulByteIsMalformedNotTheEnd) {
  const std::string text("{\"a\":1}\0anything", 16);
  auto r = stagecheck::parse_json(text, "x.json");
  ASSERT_FALSE(r.ok()) << "a NUL byte must not end the document early";
  EXPECT_EQ(r.error().code, stagecheck::Errc::malformed);
  EXPECT_NE(r.error().message.find("NUL byte"), std::string::npos) << r.error().message;
}
