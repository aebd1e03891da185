// Unit tests for the text exposition reader and the histogram quantile (compiled into the test
// executable from the plugin's sources; the plugin itself exports only its entry point).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "../exposition.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::prometheus;

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(HistogramQuantile, InterpolatesInsideTheBucket) {
  auto q = histogram_quantile(0.5, {{1, 1}, {2, 3}, {kInf, 4}});
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->value.has_value());
  EXPECT_DOUBLE_EQ(*q->value, 1.5);
  // Order of the input does not matter.
  auto shuffled = histogram_quantile(0.5, {{kInf, 4}, {2, 3}, {1, 1}});
  ASSERT_TRUE(shuffled.ok());
  EXPECT_DOUBLE_EQ(*shuffled->value, 1.5);
  // The first bucket starts at 0.
  auto low = histogram_quantile(0.25, {{4, 4}, {kInf, 4}});
  ASSERT_TRUE(low.ok());
  EXPECT_DOUBLE_EQ(*low->value, 1.0);
}

TEST(HistogramQuantile, RankInTheInfBucketGivesTheHighestFiniteBound) {
  auto q = histogram_quantile(0.99, {{1, 1}, {2, 3}, {kInf, 10}});
  ASSERT_TRUE(q.ok());
  EXPECT_DOUBLE_EQ(*q->value, 2.0);
}

TEST(HistogramQuantile, NegativeFirstBoundIsReturnedAsIs) {
  auto q = histogram_quantile(0.1, {{-1, 5}, {kInf, 10}});
  ASSERT_TRUE(q.ok());
  EXPECT_DOUBLE_EQ(*q->value, -1.0);
}

TEST(HistogramQuantile, NoDataCases) {
  auto zero = histogram_quantile(0.5, {{1, 0}, {kInf, 0}});
  ASSERT_TRUE(zero.ok());
  EXPECT_FALSE(zero->value.has_value());
  EXPECT_NE(zero->no_data.find("no observations"), std::string::npos);
  auto no_inf = histogram_quantile(0.5, {{1, 3}, {2, 5}});
  ASSERT_TRUE(no_inf.ok());
  EXPECT_FALSE(no_inf->value.has_value());
  EXPECT_NE(no_inf->no_data.find("+Inf"), std::string::npos);
  auto empty = histogram_quantile(0.5, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->value.has_value());
}

TEST(HistogramQuantile, MalformedBucketsAreErrors) {
  auto decreasing = histogram_quantile(0.5, {{1, 5}, {kInf, 3}});
  ASSERT_FALSE(decreasing.ok());
  EXPECT_EQ(decreasing.error().code, Errc::malformed);
  auto nan = histogram_quantile(0.5, {{1, std::nan("")}, {kInf, 3}});
  ASSERT_FALSE(nan.ok());
  auto twice = histogram_quantile(0.5, {{1, 1}, {1, 1}, {kInf, 3}});
  ASSERT_FALSE(twice.ok());
}

TEST(Exposition, ParsesHelpTypeLabelsValuesAndTimestamps) {
  auto e = parse_exposition(
      "# HELP a_total Counts \\\\ things\\nacross lines.\r\n"
      "# TYPE a_total counter\r\n"
      "a_total{x=\"1\", y = \"q\\\"\"} +1e3 -5\r\n"
      "# just a comment\n"
      "\n"
      "b -Inf\n"
      "c_info{}1\n");
  ASSERT_TRUE(e.ok()) << e.error().message;
  ASSERT_EQ(e->samples.size(), 3u);
  EXPECT_EQ(e->help["a_total"], "Counts \\ things\nacross lines.");
  EXPECT_EQ(e->types["a_total"], "counter");
  EXPECT_EQ(e->samples[0].labels.at("y"), "q\"");
  EXPECT_DOUBLE_EQ(e->samples[0].value, 1000.0);
  EXPECT_EQ(e->samples[0].timestamp_ms, -5);
  EXPECT_TRUE(std::isinf(e->samples[1].value) && e->samples[1].value < 0);
  EXPECT_TRUE(e->samples[2].labels.empty());
  EXPECT_EQ(e->samples[2].line, 7);
}

TEST(Exposition, RefusesBrokenLines) {
  for (const char* text : {"a1\n", "a 1 2 3\n", "a{x=1} 1\n", "a{x=\"1\" y=\"2\"} 1\n", "a +NaN\n",
                           "a 0x10\n", "a\n", "# TYPE a\n", "a{=\"1\"} 1\n"}) {
    auto e = parse_exposition(text);
    EXPECT_FALSE(e.ok()) << text;
    if (!e.ok()) {
      EXPECT_EQ(e.error().message.rfind("line 1: ", 0), 0u) << e.error().message;
    }
  }
}

TEST(Exposition, HistogramSuffixesBelongToTheFamily) {
  // A TYPE after the family's _bucket samples is refused like any TYPE after samples.
  auto late = parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# TYPE h gauge\n");
  EXPECT_FALSE(late.ok());
  auto fine = parse_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n");
  EXPECT_TRUE(fine.ok());
}

TEST(Exposition, SeriesTextEscapes) {
  EXPECT_EQ(series_text("m", {{"a", "x\"y\\z\n"}}), "m{a=\"x\\\"y\\\\z\\n\"}");
  EXPECT_EQ(series_text("", {}), "{}");
}

}  // namespace
