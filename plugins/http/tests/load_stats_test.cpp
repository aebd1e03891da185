// Unit tests for the http_load arithmetic: durations, percentiles and threshold parsing, on
// fixed numbers (no network, no clock).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "load_stats.hpp"

namespace {

using namespace stagecheck;
using namespace stagecheck::http;

TEST(HttpDuration, ParsesUnits) {
  EXPECT_EQ(*parse_duration_us("250ms"), 250'000);
  EXPECT_EQ(*parse_duration_us("3s"), 3'000'000);
  EXPECT_EQ(*parse_duration_us("1.5s"), 1'500'000);
  EXPECT_EQ(*parse_duration_us(" 800us "), 800);
  EXPECT_EQ(*parse_duration_us("2m"), 120'000'000);
  EXPECT_EQ(*parse_duration_us("2 s"), 2'000'000);
}

TEST(HttpDuration, RefusesBareNumbersAndUnknownUnits) {
  for (const char* bad : {"3", "", "s", "3h", "3 parsecs", "-1s", "ms", "1e400s", "nan s"}) {
    auto r = parse_duration_us(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::spec_error);
  }
}

TEST(HttpStats, PercentilesInterpolateLinearlyBetweenClosestRanks) {
  // 1..10 ms: rank p/100 * 9.
  std::vector<double> v;
  for (int i = 10; i >= 1; --i) v.push_back(i * 1000.0);  // unsorted on purpose
  LoadStats s = make_stats(v, 10, 0, 2.0);
  EXPECT_DOUBLE_EQ(s.min_us, 1000);
  EXPECT_DOUBLE_EQ(s.max_us, 10000);
  EXPECT_DOUBLE_EQ(s.avg_us, 5500);
  EXPECT_DOUBLE_EQ(s.percentile(50), 5500);    // rank 4.5
  EXPECT_DOUBLE_EQ(s.percentile(95), 9550);    // rank 8.55
  EXPECT_DOUBLE_EQ(s.percentile(90), 9100);    // rank 8.1
  EXPECT_DOUBLE_EQ(s.percentile(100), 10000);  // rank 9
  EXPECT_NEAR(s.percentile(0.001), 1000.09, 1e-6);
  EXPECT_DOUBLE_EQ(s.rps(), 5.0);
  EXPECT_DOUBLE_EQ(s.error_rate(), 0.0);
}

TEST(HttpStats, OneValueAndNoValue) {
  LoadStats one = make_stats({42.0}, 1, 0, 1.0);
  EXPECT_DOUBLE_EQ(one.percentile(99), 42.0);
  LoadStats none = make_stats({}, 3, 3, 1.0);
  EXPECT_DOUBLE_EQ(none.percentile(95), 0.0);
  EXPECT_DOUBLE_EQ(none.error_rate(), 1.0);
  EXPECT_DOUBLE_EQ(none.rps(), 0.0);
}

TEST(HttpStats, ErrorRateCountsTransportErrorsAndBadStatuses) {
  // 8 responses, 2 transport errors, 1 of the responses had a bad status.
  LoadStats s = make_stats(std::vector<double>(8, 1000.0), 10, 3, 1.0);
  EXPECT_DOUBLE_EQ(s.error_rate(), 0.3);
  EXPECT_DOUBLE_EQ(s.rps(), 8.0);
}

TEST(HttpThreshold, ParsesTheK6Forms) {
  auto t = parse_threshold("p(95) < 3s");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->metric, Threshold::Metric::percentile);
  EXPECT_DOUBLE_EQ(t->pct, 95);
  EXPECT_EQ(t->op, Threshold::Op::lt);
  EXPECT_DOUBLE_EQ(t->value, 3e6);
  EXPECT_EQ(t->metric_name(), "p(95)");

  EXPECT_DOUBLE_EQ(parse_threshold("avg < 500ms")->value, 500e3);
  EXPECT_DOUBLE_EQ(parse_threshold("max<2000ms")->value, 2000e3);
  EXPECT_DOUBLE_EQ(parse_threshold("p(99.9)<=250")->value, 250e3);  // bare: ms, as in k6
  EXPECT_DOUBLE_EQ(parse_threshold("p(99.9)<=250")->pct, 99.9);
  EXPECT_DOUBLE_EQ(parse_threshold("med >= 800us")->value, 800);
  EXPECT_EQ(parse_threshold("med >= 800us")->op, Threshold::Op::ge);
  EXPECT_DOUBLE_EQ(parse_threshold("error_rate < 0.10")->value, 0.10);
  EXPECT_DOUBLE_EQ(parse_threshold("error_rate < 5%")->value, 0.05);
  EXPECT_EQ(parse_threshold("error_rate == 0")->op, Threshold::Op::eq);
  EXPECT_DOUBLE_EQ(parse_threshold("rps >= 100")->value, 100);
  EXPECT_EQ(parse_threshold("min != 0")->op, Threshold::Op::ne);
  EXPECT_EQ(parse_threshold("min > 1ms")->op, Threshold::Op::gt);
  EXPECT_DOUBLE_EQ(parse_threshold("p(100) < 1m")->value, 60e6);
}

TEST(HttpThreshold, RefusesMalformedExpressions) {
  for (const char* bad :
       {"",           "p95 < 3s",  "p(0) < 1s",       "p(101) < 1s",      "p(-5) < 1s",
        "p() < 1s",   "p(95 < 1s", "avg < 3 parsecs", "avg 3s",           "avg <",
        "avg < -1s",  "foo < 1",   "error_rate < 5s", "error_rate < 1.5", "error_rate < 150%",
        "rps > 10ms", "avg => 3s", "avg < 3s extra",  "AVG < 3s",         "avg =< 3s"}) {
    auto t = parse_threshold(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.error().code, Errc::spec_error);
    EXPECT_NE(t.error().message.find("threshold \""), std::string::npos) << t.error().message;
  }
}

TEST(HttpThreshold, EvaluatesAgainstStats) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i * 10'000.0);  // 10 ms .. 1 s
  LoadStats s = make_stats(v, 100, 5, 10.0);
  auto check = [&](const char* text) {
    auto t = parse_threshold(text);
    EXPECT_TRUE(t.ok()) << text;
    return holds(*t, metric_value(*t, s));
  };
  EXPECT_TRUE(check("p(95) < 1s"));
  EXPECT_FALSE(check("p(95) < 900ms"));  // p(95) = 950.5 ms
  EXPECT_TRUE(check("avg <= 505ms"));
  EXPECT_FALSE(check("avg < 505ms"));  // avg = 505 ms exactly
  EXPECT_TRUE(check("max == 1s"));
  EXPECT_TRUE(check("min >= 10ms"));
  EXPECT_TRUE(check("error_rate < 0.10"));
  EXPECT_FALSE(check("error_rate < 0.05"));  // 5 of 100
  EXPECT_TRUE(check("error_rate <= 5%"));
  EXPECT_TRUE(check("rps >= 10"));
  EXPECT_FALSE(check("rps > 10"));
  auto t = parse_threshold("p(95) < 1s");
  EXPECT_EQ(format_metric(*t, metric_value(*t, s)), "950.5 ms");
}

}  // namespace
