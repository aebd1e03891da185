#include "stagecheck/condition.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace stagecheck;
using json = nlohmann::json;
using Kind = ConditionOutcome::Kind;

namespace {

/// Variables and other artifacts for `$name` and `@name` operands.
struct TestEnv {
  std::map<std::string, json, std::less<>> vars;
  std::map<std::string, json, std::less<>> artifacts;
  std::map<std::string, Error, std::less<>> artifact_errors;

  EvalEnv get() const {
    EvalEnv env;
    env.var = [this](std::string_view name) -> const json* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : &it->second;
    };
    env.artifact = [this](std::string_view name) -> Result<const json*> {
      if (auto e = artifact_errors.find(name); e != artifact_errors.end()) return e->second;
      auto it = artifacts.find(name);
      if (it == artifacts.end()) return make_error(Errc::not_found, "no such artifact");
      return &it->second;
    };
    return env;
  }
};

Condition parse_ok(std::string_view text) {
  auto c = Condition::parse(text);
  if (!c.ok()) {
    ADD_FAILURE() << "parse failed: " << c.error().message;
    return Condition::parse("0 == 1").value();
  }
  return *c;
}

ConditionOutcome eval(std::string_view text, const json& doc, const TestEnv& env = {}) {
  return parse_ok(text).evaluate(doc, env.get());
}

Kind kind_of(std::string_view text, const json& doc, const TestEnv& env = {}) {
  return eval(text, doc, env).kind;
}

/// The message of a parse that must fail with Errc::spec_error.
std::string parse_error(std::string_view text) {
  auto c = Condition::parse(text);
  if (c.ok()) {
    ADD_FAILURE() << "expected a parse error for: " << text;
    return {};
  }
  EXPECT_EQ(c.error().code, Errc::spec_error) << c.error().message;
  return c.error().message;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

/// A validation report shaped like the pipeline's.
json report(std::vector<std::string> backends) {
  json episodes = json::array();
  for (std::size_t i = 0; i < backends.size(); ++i) {
    episodes.push_back({{"id", "ep_" + std::to_string(i)},
                        {"physics_backend", backends[i]},
                        {"dev_only_fallback", false},
                        {"score", 0.9}});
  }
  return {{"summary", {{"pass_rate", 0.93}, {"total", backends.size()}}}, {"episodes", episodes}};
}

}  // namespace

// ---- Comparisons ----------------------------------------------------------------------------

TEST(ConditionCompare, EqualityAcrossIntegerAndFloat) {
  EXPECT_EQ(kind_of("x == 3", {{"x", 3}}), Kind::satisfied);
  EXPECT_EQ(kind_of("x == 3", {{"x", 3.0}}), Kind::satisfied);
  EXPECT_EQ(kind_of("x == 3.0", {{"x", 3}}), Kind::satisfied);
  EXPECT_EQ(kind_of("x == 3", {{"x", 4}}), Kind::violated);
  EXPECT_EQ(kind_of("x != 3", {{"x", 4}}), Kind::satisfied);
  EXPECT_EQ(kind_of("x != 3", {{"x", 3}}), Kind::violated);
}

TEST(ConditionCompare, StringsAndBooleansAndNull) {
  const json doc = {{"s", "completed"}, {"b", true}, {"n", nullptr}};
  EXPECT_EQ(kind_of(R"(s == "completed")", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(s != "completed")", doc), Kind::violated);
  EXPECT_EQ(kind_of("b == true", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("b == false", doc), Kind::violated);
  EXPECT_EQ(kind_of("n == null", doc), Kind::satisfied);
}

TEST(ConditionCompare, OrderingOperatorsAtTheBoundary) {
  const json doc = {{"x", 5}};
  EXPECT_EQ(kind_of("x < 5", doc), Kind::violated);
  EXPECT_EQ(kind_of("x < 6", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("x <= 5", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("x <= 4.999", doc), Kind::violated);
  EXPECT_EQ(kind_of("x > 5", doc), Kind::violated);
  EXPECT_EQ(kind_of("x > 4.5", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("x >= 5", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("x >= 5.0001", doc), Kind::violated);
}

TEST(ConditionCompare, SatisfiedOutcomeDetails) {
  auto o = eval("summary.pass_rate >= 0.9", {{"summary", {{"pass_rate", 0.93}}}});
  EXPECT_EQ(o.kind, Kind::satisfied);
  EXPECT_TRUE(o.satisfied());
  EXPECT_EQ(o.message, "summary.pass_rate = 0.93 (>= 0.9)");
  EXPECT_EQ(o.observed, json(0.93));
  EXPECT_EQ(o.expected, (json{{"op", ">="}, {"value", 0.9}}));
}

TEST(ConditionCompare, ViolatedOutcomeDetails) {
  auto o = eval("summary.pass_rate >= 0.9", {{"summary", {{"pass_rate", 0.85}}}});
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_FALSE(o.satisfied());
  EXPECT_EQ(o.message, "summary.pass_rate = 0.85, expected >= 0.9");
  EXPECT_EQ(o.observed, json(0.85));
}

TEST(ConditionCompare, VariableThresholdIsNamedInMessage) {
  TestEnv env;
  env.vars["min_pass_rate"] = 0.9;
  auto o = eval("summary.pass_rate >= $min_pass_rate", {{"summary", {{"pass_rate", 0.8}}}}, env);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message, "summary.pass_rate = 0.8, expected >= $min_pass_rate = 0.9");
}

TEST(ConditionCompare, NumericStringIsNotANumber) {
  auto o = eval("summary.pass_rate >= 0.9", {{"summary", {{"pass_rate", "0.95"}}}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"(summary.pass_rate: expected a number, found string "0.95")");
  EXPECT_EQ(o.error_code, Errc::type_mismatch);
  EXPECT_EQ(o.observed, json("0.95"));
  // == is no escape hatch either.
  EXPECT_EQ(kind_of("x == 0.95", {{"x", "0.95"}}), Kind::type_mismatch);
}

TEST(ConditionCompare, StringFalseIsNotABoolean) {
  auto o = eval("use_geniesim == false", {{"use_geniesim", "false"}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"(use_geniesim: expected a boolean, found string "false")");
  EXPECT_EQ(kind_of("flag != true", {{"flag", "true"}}), Kind::type_mismatch);
  EXPECT_EQ(kind_of("flag == true", {{"flag", 1}}), Kind::type_mismatch);
}

TEST(ConditionCompare, NullIsItsOwnType) {
  EXPECT_EQ(kind_of("x == 0", {{"x", nullptr}}), Kind::type_mismatch);
  EXPECT_EQ(kind_of("x != null", {{"x", 3}}), Kind::type_mismatch);
  EXPECT_EQ(kind_of("x >= 0", {{"x", nullptr}}), Kind::type_mismatch);
}

TEST(ConditionCompare, OrderingNeedsNumbers) {
  auto o = eval(R"(name > "a")", {{"name", "b"}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"(name: expected a number, found string "b")");
  EXPECT_EQ(kind_of("flag < 1", {{"flag", true}}), Kind::type_mismatch);
}

TEST(ConditionCompare, IntegersCompareExactly) {
  // 2^53 + 1 and 2^53 are equal as doubles, not as integers.
  const json doc = {{"big", 9007199254740993LL}, {"u", 18446744073709551615ULL}};
  EXPECT_EQ(kind_of("big == 9007199254740992", doc), Kind::violated);
  EXPECT_EQ(kind_of("big > 9007199254740992", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("u > -1", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("u == 18446744073709551615", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("u > 9223372036854775807", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("x < 2.5", {{"x", 2}}), Kind::satisfied);
}

TEST(ConditionCompare, LiteralOnTheLeftIsReportedFromTheFieldsSide) {
  auto o = eval("0.9 <= x", {{"x", 0.85}});
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message, "x = 0.85, expected >= 0.9");
  EXPECT_EQ(o.observed, json(0.85));
  EXPECT_EQ(kind_of("1 < x", {{"x", 2}}), Kind::satisfied);
}

TEST(ConditionCompare, ArraysAndObjectsCompareStructurally) {
  const json doc = {
      {"tags", {"a", "b"}}, {"p", {{"k", 1}}}, {"q", {{"k", 1.0}}}, {"r", {{"k", 2}}}};
  EXPECT_EQ(kind_of(R"(tags == ["a", "b"])", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(tags == ["b", "a"])", doc), Kind::violated);
  EXPECT_EQ(kind_of(R"(tags != ["b", "a"])", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("p == q", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("p == r", doc), Kind::violated);
  EXPECT_EQ(kind_of("tags == 2", doc), Kind::type_mismatch);
  EXPECT_EQ(kind_of("tags < [1]", doc), Kind::type_mismatch);
}

TEST(ConditionCompare, MismatchBetweenTwoPathsNamesBoth) {
  auto o = eval("a == b", {{"a", "1"}, {"b", 1}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"(a: expected a number (to compare with b), found string "1")");
}

TEST(ConditionCompare, LiteralsOfEveryKind) {
  const json doc = {{"n", -150},         {"f", 0.00025},     {"s", "it's"},
                    {"e", "a\"b\\c\nd"}, {"l", {1, {2, 3}}}, {"z", 0}};
  EXPECT_EQ(kind_of("n == -1.5e2", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("n == -150", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("f == 2.5E-4", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(s == 'it\'s')", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(s == "it's")", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(e == "a\"b\\c\nd")", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("l == [1, [2, 3]]", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("z == -0", doc), Kind::satisfied);
}

// ---- Non-finite numbers ---------------------------------------------------------------------

TEST(ConditionNotFinite, NaNInTheDocument) {
  auto o = eval("x >= 0", {{"x", NAN}});
  EXPECT_EQ(o.kind, Kind::not_finite);
  EXPECT_EQ(o.message, "x: expected a finite number, found NaN");
  EXPECT_EQ(o.observed, json("NaN"));  // Not null: JSON would print NaN as null.
  EXPECT_EQ(kind_of("x == 1", {{"x", NAN}}), Kind::not_finite);
  EXPECT_EQ(kind_of("x != 1", {{"x", NAN}}), Kind::not_finite);
}

TEST(ConditionNotFinite, InfinityInTheDocument) {
  EXPECT_EQ(kind_of("x > 0", {{"x", INFINITY}}), Kind::not_finite);
  EXPECT_EQ(kind_of("x between 0 and 1", {{"x", -INFINITY}}), Kind::not_finite);
  EXPECT_EQ(kind_of("x in [1, 2]", {{"x", INFINITY}}), Kind::not_finite);
  EXPECT_EQ(kind_of("v == [1, 2]", {{"v", {1, NAN}}}), Kind::not_finite);
}

TEST(ConditionNotFinite, NaNAndInfinityThroughVariables) {
  TestEnv env;
  env.vars["inf"] = json(INFINITY);
  env.vars["nan"] = json(NAN);
  auto o = eval("x >= $inf", {{"x", 1}}, env);
  EXPECT_EQ(o.kind, Kind::not_finite);
  EXPECT_EQ(o.message, "$inf: expected a finite number, found Infinity");
  EXPECT_EQ(kind_of("x == $nan", {{"x", 1}}, env), Kind::not_finite);
  EXPECT_EQ(kind_of("x != $nan", {{"x", 1}}, env), Kind::not_finite);
  EXPECT_EQ(kind_of("x between $nan and 2", {{"x", 1}}, env), Kind::not_finite);
}

// ---- Missing data ---------------------------------------------------------------------------

TEST(ConditionMissing, MissingField) {
  auto o = eval("summary.pass_rate >= 0.9", {{"summary", {{"total", 3}}}});
  EXPECT_EQ(o.kind, Kind::missing);
  EXPECT_EQ(o.message, "summary.pass_rate is missing");
  EXPECT_EQ(o.error_code, Errc::not_found);
  EXPECT_TRUE(o.observed.is_null());
}

TEST(ConditionMissing, MissingIntermediateField) {
  auto o = eval("a.b.c == 1", {{"a", json::object()}});
  EXPECT_EQ(o.kind, Kind::missing);
  EXPECT_EQ(o.message, "a.b.c is missing (a.b is missing)");
}

TEST(ConditionMissing, IndexOutOfRange) {
  auto o =
      eval("results[5].score > 0", {{"results", {{{"score", 1}}, {{"score", 2}}, {{"score", 3}}}}});
  EXPECT_EQ(o.kind, Kind::missing);
  EXPECT_EQ(o.message,
            "results[5].score is missing (index 5 is out of range: results has 3 elements)");
  EXPECT_EQ(kind_of("results[2].score == 3",
                    {{"results", {{{"score", 1}}, {{"score", 2}}, {{"score", 3}}}}}),
            Kind::satisfied);
}

TEST(ConditionMissing, WrongTypeOnTheWayIsATypeMismatch) {
  auto o = eval("a.b.c == 1", {{"a", {{"b", "str"}}}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"(a.b: expected an object, found string "str")");
  auto p = eval("a[0] == 1", {{"a", {{"k", 1}}}});
  EXPECT_EQ(p.kind, Kind::type_mismatch);
  EXPECT_EQ(p.message, "a: expected an array, found object");
}

TEST(ConditionMissing, UnknownVariable) {
  auto o = eval("x >= $floor", {{"x", 1}});
  EXPECT_EQ(o.kind, Kind::missing);
  EXPECT_EQ(o.message, "variable $floor is not defined");
  // No variable lookup at all is the same failure, not a crash.
  auto c = parse_ok("x >= ${floor}");
  EXPECT_EQ(c.evaluate({{"x", 1}}, EvalEnv{}).kind, Kind::missing);
}

TEST(ConditionMissing, BracedVariable) {
  TestEnv env;
  env.vars["scene.id"] = "kitchen_001";
  env.vars["scene_id"] = "kitchen_001";
  EXPECT_EQ(kind_of("scene_id == ${scene.id}", {{"scene_id", "kitchen_001"}}, env),
            Kind::satisfied);
  EXPECT_EQ(kind_of("scene_id == $scene_id", {{"scene_id", "kitchen_002"}}, env), Kind::violated);
}

// ---- in / not in ----------------------------------------------------------------------------

TEST(ConditionIn, Membership) {
  auto o = eval(R"(backend in ["isaac_sim", "isaac_lab"])", {{"backend", "mujoco"}});
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message, R"(backend = "mujoco", expected in ["isaac_sim","isaac_lab"])");
  EXPECT_EQ(o.expected, (json{{"op", "in"}, {"values", {"isaac_sim", "isaac_lab"}}}));
  EXPECT_EQ(kind_of(R"(backend in ["isaac_sim", "isaac_lab"])", {{"backend", "isaac_lab"}}),
            Kind::satisfied);
}

TEST(ConditionIn, NotIn) {
  EXPECT_EQ(kind_of(R"(status not in ["failed", "error"])", {{"status", "ok"}}), Kind::satisfied);
  auto o = eval(R"(status not in ["failed", "error"])", {{"status", "error"}});
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message, R"(status = "error", expected not in ["failed","error"])");
}

TEST(ConditionIn, NumbersMatchAcrossIntegerAndFloat) {
  EXPECT_EQ(kind_of("x in [1, 2.5]", {{"x", 1.0}}), Kind::satisfied);
  EXPECT_EQ(kind_of("x in [1, 2.5]", {{"x", 2.5}}), Kind::satisfied);
  EXPECT_EQ(kind_of("x in [1, 2.5]", {{"x", 2}}), Kind::violated);
}

TEST(ConditionIn, TypeMismatchForInAndNotIn) {
  auto o = eval(R"(x in ["a", "b"])", {{"x", 1}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"(x: expected a string (to look up in ["a","b"]), found number 1)");
  // `not in` must not turn a wrongly typed value into a pass.
  EXPECT_EQ(kind_of(R"(x not in ["a", "b"])", {{"x", 1}}), Kind::type_mismatch);
  EXPECT_EQ(kind_of(R"(flag in ["true", "false"])", {{"flag", true}}), Kind::type_mismatch);
}

TEST(ConditionIn, MixedListNeedsOneSharedType) {
  EXPECT_EQ(kind_of(R"(x in ["a", 1])", {{"x", 1}}), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(x in ["a", 1])", {{"x", "b"}}), Kind::violated);
  auto o = eval(R"(x in ["a", 1])", {{"x", true}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_TRUE(contains(o.message, "expected a string or a number")) << o.message;
}

// ---- between --------------------------------------------------------------------------------

TEST(ConditionBetween, InclusiveBounds) {
  for (double x : {0.0, 0.5, 1.0}) {
    EXPECT_EQ(kind_of("x between 0 and 1", {{"x", x}}), Kind::satisfied) << x;
  }
  for (double x : {-0.1, 1.1}) {
    EXPECT_EQ(kind_of("x between 0 and 1", {{"x", x}}), Kind::violated) << x;
  }
  auto o = eval("x between 0 and 1", {{"x", 2}});
  EXPECT_EQ(o.message, "x = 2, expected between 0 and 1");
  EXPECT_EQ(o.expected, (json{{"op", "between"}, {"min", 0}, {"max", 1}}));
}

TEST(ConditionBetween, BoundsFromVariablesAndTypes) {
  TestEnv env;
  env.vars["lo"] = 10;
  env.vars["hi"] = "20";
  EXPECT_EQ(kind_of("x between $lo and 30", {{"x", 15}}, env), Kind::satisfied);
  auto o = eval("x between $lo and $hi", {{"x", 15}}, env);
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"($hi: expected a number, found string "20")");
  EXPECT_EQ(kind_of("x between 0 and 1", {{"x", "0.5"}}), Kind::type_mismatch);
}

TEST(ConditionBetween, AndAfterBetweenStillChains) {
  const json doc = {{"x", 0.5}, {"y", 3}};
  EXPECT_EQ(kind_of("x between 0 and 1 and y == 3", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("x between 0 and 1 and y == 4", doc), Kind::violated);
}

// ---- matches --------------------------------------------------------------------------------

TEST(ConditionMatches, WholeValueMatch) {
  const std::string cond = R"(job_id matches "^[A-Za-z0-9_-]+$")";
  EXPECT_EQ(kind_of(cond, {{"job_id", "job_42-a"}}), Kind::satisfied);
  EXPECT_EQ(kind_of(cond, {{"job_id", "job 42"}}), Kind::violated);
  // No anchors needed: the whole value must match, not a substring.
  EXPECT_EQ(kind_of(R"(id matches "ep_[0-9]+")", {{"id", "ep_12"}}), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(id matches "ep_[0-9]+")", {{"id", "xep_12"}}), Kind::violated);
  EXPECT_EQ(kind_of(R"(id matches "ep_[0-9]+")", {{"id", "ep_12x"}}), Kind::violated);
  auto o = eval(R"(id matches "ep_[0-9]+")", {{"id", "x"}});
  EXPECT_EQ(o.message, R"(id = "x", expected to match "ep_[0-9]+")");
}

TEST(ConditionMatches, NonStringIsATypeMismatch) {
  auto o = eval(R"(id matches "[0-9]+")", {{"id", 42}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, "id: expected a string, found number 42");
}

TEST(ConditionMatches, InvalidRegexIsAParseError) {
  const std::string m = parse_error(R"(id matches "([a-z")");
  EXPECT_EQ(
      m.rfind(R"(condition "id matches "([a-z"": column 12: expected a valid regular expression)",
              0),
      0u)
      << m;
}

TEST(ConditionMatches, LongInputAndPathologicalPatternAreSafe) {
  // A backtracking matcher would overflow the stack on the first and take ages on the second.
  const json doc = {{"s", std::string(200000, 'a')}, {"t", std::string(5000, 'a')}};
  EXPECT_EQ(kind_of(R"(s matches "(a|b)*")", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(t matches "(a+)+b")", doc), Kind::violated);
}

// ---- and / or / not -------------------------------------------------------------------------

TEST(ConditionLogic, And) {
  const json doc = {{"a", 1}, {"b", 2}};
  EXPECT_EQ(kind_of("a == 1 and b == 2", doc), Kind::satisfied);
  auto o = eval("a == 1 and b == 3", doc);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message, "b = 2, expected == 3");
}

TEST(ConditionLogic, AndDoesNotHideErrors) {
  const json doc = {{"a", 1}};
  EXPECT_EQ(kind_of("a == 1 and b == 2", doc), Kind::missing);
  // A violated side does not make the other side's error irrelevant: fail closed.
  EXPECT_EQ(kind_of("a == 5 and b == 2", doc), Kind::missing);
  EXPECT_EQ(kind_of(R"(a == 5 and a == "1")", doc), Kind::type_mismatch);
}

TEST(ConditionLogic, Or) {
  const json doc = {{"a", 1}, {"b", 2}};
  EXPECT_EQ(kind_of("a == 5 or b == 2", doc), Kind::satisfied);
  auto o = eval("a == 5 or b == 5", doc);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message, "no alternative holds: a = 1, expected == 5; b = 2, expected == 5");
}

TEST(ConditionLogic, OrDoesNotMaskErrors) {
  auto o = eval("a == 1 or b == 1", {{"a", 1}});
  EXPECT_EQ(o.kind, Kind::missing);
  EXPECT_EQ(o.message, "b is missing");
  EXPECT_EQ(kind_of(R"(a == 1 or a == "x")", {{"a", 1}}), Kind::type_mismatch);
}

TEST(ConditionLogic, Not) {
  EXPECT_EQ(kind_of("not a == 1", {{"a", 2}}), Kind::satisfied);
  EXPECT_EQ(kind_of("not a == 1", {{"a", 1}}), Kind::violated);
  EXPECT_EQ(kind_of("not not a == 1", {{"a", 1}}), Kind::satisfied);
  EXPECT_EQ(kind_of("not (a == 1 and a == 2)", {{"a", 1}}), Kind::satisfied);
  // Errors pass through `not` untouched: a missing field never becomes a pass.
  EXPECT_EQ(kind_of("not a == 1", json::object()), Kind::missing);
  EXPECT_EQ(kind_of("not a == 1", {{"a", "1"}}), Kind::type_mismatch);
}

TEST(ConditionLogic, PrecedenceAndParentheses) {
  const json doc = {{"a", 1}, {"b", 0}, {"c", 0}};
  // and binds tighter than or: a == 1 or (b == 1 and c == 1).
  EXPECT_EQ(kind_of("a == 1 or b == 1 and c == 1", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("(a == 1 or b == 1) and c == 1", doc), Kind::violated);
  // not binds tighter than and: (not a == 2) and b == 0.
  EXPECT_EQ(kind_of("not a == 2 and b == 0", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("not (a == 1 and b == 0)", doc), Kind::violated);
}

TEST(ConditionLogic, LongChainsEvaluateWithoutDeepRecursion) {
  std::string text = "x == 1";
  for (int i = 0; i < 20000; ++i) text += " and x == 1";
  EXPECT_EQ(kind_of(text, {{"x", 1}}), Kind::satisfied);
  EXPECT_EQ(kind_of(text + " and x == 2", {{"x", 1}}), Kind::violated);
}

// ---- all / any / none -----------------------------------------------------------------------

TEST(ConditionQuantifier, AllSatisfied) {
  auto o = eval(R"(all(episodes[*].physics_backend in ["isaac_sim", "isaac_lab"]))",
                report({"isaac_sim", "isaac_lab", "isaac_sim"}));
  EXPECT_EQ(o.kind, Kind::satisfied);
  EXPECT_EQ(
      o.message,
      R"(all 3 elements of episodes[*].physics_backend satisfy in ["isaac_sim","isaac_lab"])");
  EXPECT_EQ(o.observed, (json{"isaac_sim", "isaac_lab", "isaac_sim"}));
  EXPECT_EQ(o.expected.at("quantifier"), "all");
}

TEST(ConditionQuantifier, AllViolatedNamesOffenders) {
  auto o = eval(R"(all(episodes[*].physics_backend in ["isaac_sim", "isaac_lab"]))",
                report({"isaac_sim", "mujoco", "isaac_sim", "pybullet"}));
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(
      o.message,
      R"(2 of 4 elements of episodes[*].physics_backend do not satisfy in ["isaac_sim","isaac_lab"]: )"
      R"(episodes[1].physics_backend = "mujoco", episodes[3].physics_backend = "pybullet")");
}

TEST(ConditionQuantifier, OffendersAndObservedAreCapped) {
  std::vector<std::string> backends(30, "mujoco");
  auto o = eval(R"(all(episodes[*].physics_backend == "isaac_sim"))", report(backends));
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message.rfind("30 of 30 elements", 0), 0u) << o.message;
  EXPECT_TRUE(contains(o.message, "episodes[4].physics_backend")) << o.message;
  EXPECT_FALSE(contains(o.message, "episodes[5].physics_backend")) << o.message;
  EXPECT_TRUE(contains(o.message, ", ...")) << o.message;
  EXPECT_EQ(o.observed.size(), 20u);
}

TEST(ConditionQuantifier, AllAndNoneOverEmptyFail) {
  const json doc = report({});
  auto o = eval(R"(all(episodes[*].physics_backend == "isaac_sim"))", doc);
  EXPECT_EQ(o.kind, Kind::empty);
  EXPECT_EQ(o.message, "no elements at episodes[*]");
  EXPECT_EQ(kind_of("none(episodes[*].dev_only_fallback == true)", doc), Kind::empty);
  // any() over nothing is simply false.
  EXPECT_EQ(kind_of("any(episodes[*].dev_only_fallback == true)", doc), Kind::violated);
}

TEST(ConditionQuantifier, Any) {
  json doc = report({"isaac_sim", "mujoco"});
  auto s = eval(R"(any(episodes[*].physics_backend == "mujoco"))", doc);
  EXPECT_EQ(s.kind, Kind::satisfied);
  EXPECT_EQ(s.message, R"(1 of 2 elements of episodes[*].physics_backend satisfy == "mujoco": )"
                       R"(episodes[1].physics_backend = "mujoco")");
  auto o = eval(R"(any(episodes[*].physics_backend == "pybullet"))", doc);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message,
            R"(none of the 2 elements of episodes[*].physics_backend satisfies == "pybullet")");
}

TEST(ConditionQuantifier, None) {
  json doc = report({"isaac_sim", "isaac_sim", "isaac_sim"});
  EXPECT_EQ(kind_of("none(episodes[*].dev_only_fallback == true)", doc), Kind::satisfied);
  doc["episodes"][1]["dev_only_fallback"] = true;
  auto o = eval("none(episodes[*].dev_only_fallback == true)", doc);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message,
            "1 of 3 elements of episodes[*].dev_only_fallback satisfy == true (expected none): "
            "episodes[1].dev_only_fallback = true");
}

TEST(ConditionQuantifier, MissingFieldOnAnElementNamesIt) {
  json doc = report({"isaac_sim", "isaac_sim", "isaac_sim", "isaac_sim", "isaac_sim"});
  doc["episodes"][3].erase("physics_backend");
  auto o = eval(R"(all(episodes[*].physics_backend in ["isaac_sim", "isaac_lab"]))", doc);
  EXPECT_EQ(o.kind, Kind::missing);
  EXPECT_EQ(o.message, "episodes[3].physics_backend is missing");
  // any() does not mask it even though element 0 satisfies.
  EXPECT_EQ(kind_of(R"(any(episodes[*].physics_backend == "isaac_sim"))", doc), Kind::missing);
}

TEST(ConditionQuantifier, TypeMismatchOnAnElement) {
  const json doc = {{"results", {{{"score", 0.9}}, {{"score", 0.8}}, {{"score", "0.7"}}}}};
  auto o = eval("all(results[*].score >= 0.5)", doc);
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"(results[2].score: expected a number, found string "0.7")");
  EXPECT_EQ(kind_of("all(results[*].score >= 0.5)", {{"results", {{{"score", NAN}}}}}),
            Kind::not_finite);
}

TEST(ConditionQuantifier, IndexOutOfRangeOnAnElement) {
  const json doc = {{"a", {{{"b", {1, 2}}}, {{"b", {3}}}}}};
  auto o = eval("all(a[*].b[1] > 0)", doc);
  EXPECT_EQ(o.kind, Kind::missing);
  EXPECT_EQ(o.message, "a[1].b[1] is missing (index 1 is out of range: a[1].b has 1 element)");
  EXPECT_EQ(kind_of("all(a[*].b[0] > 0)", doc), Kind::satisfied);
}

TEST(ConditionQuantifier, StarOverANonArray) {
  auto o = eval("all(episodes[*].x == 1)", {{"episodes", {{"x", 1}}}});
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, "episodes: expected an array, found object");
  EXPECT_EQ(kind_of("all(episodes[*].x == 1)", json::object()), Kind::missing);
}

TEST(ConditionQuantifier, SeveralStarsFlatten) {
  const json doc = {{"a", {{{"b", {1, 2}}}, {{"b", {3}}}}}};
  auto o = eval("all(a[*].b[*] > 0)", doc);
  EXPECT_EQ(o.kind, Kind::satisfied);
  EXPECT_EQ(o.message, "all 3 elements of a[*].b[*] satisfy > 0");
  auto v = eval("all(a[*].b[*] > 1)", doc);
  EXPECT_EQ(v.kind, Kind::violated);
  EXPECT_TRUE(contains(v.message, "a[0].b[0] = 1")) << v.message;
  EXPECT_EQ(kind_of("all(a[*].b[*] > 0)", {{"a", {{{"b", json::array()}}}}}), Kind::empty);
}

TEST(ConditionQuantifier, RootArrayDocument) {
  // JSON Lines loaded as an array.
  const json lines = {{{"is_mock", false}}, {{"is_mock", false}}};
  EXPECT_EQ(kind_of("all([*].is_mock == false)", lines), Kind::satisfied);
  EXPECT_EQ(kind_of("[1].is_mock == false", lines), Kind::satisfied);
  EXPECT_EQ(kind_of("[2].is_mock == false", lines), Kind::missing);
  json mixed = lines;
  mixed[1]["is_mock"] = true;
  auto o = eval("all([*].is_mock == false)", mixed);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_TRUE(contains(o.message, "[1].is_mock = true")) << o.message;
}

TEST(ConditionQuantifier, StarredPathOnTheRight) {
  const json doc = {{"results", {{{"score", 0.9}}, {{"score", 0.4}}}}};
  auto o = eval("all(0.5 <= results[*].score)", doc);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_TRUE(contains(o.message, "do not satisfy >= 0.5: results[1].score = 0.4")) << o.message;
}

TEST(ConditionQuantifier, OtherOperandsAreDocumentPathsAndVars) {
  TestEnv env;
  env.vars["floor"] = 0.5;
  const json doc = {{"floor", 0.95}, {"results", {{{"score", 0.9}}, {{"score", 0.96}}}}};
  EXPECT_EQ(kind_of("all(results[*].score >= $floor)", doc, env), Kind::satisfied);
  EXPECT_EQ(kind_of("all(results[*].score >= floor)", doc, env), Kind::violated);
  EXPECT_EQ(kind_of("all(results[*].score >= $nope)", doc, env), Kind::missing);
  EXPECT_EQ(kind_of("all(results[*].score between 0 and 1)", doc, env), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(all(results[*].score matches "x"))", doc, env), Kind::type_mismatch);
}

// ---- count ----------------------------------------------------------------------------------

TEST(ConditionCount, CountsElements) {
  const json doc = {{"results", {1, 2, 3}}, {"empty", json::array()}};
  EXPECT_EQ(kind_of("count(results[*]) == 3", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("count(results[*]) > 3", doc), Kind::violated);
  // Counting is not a quantifier over elements: an empty array counts as 0.
  EXPECT_EQ(kind_of("count(empty[*]) == 0", doc), Kind::satisfied);
}

TEST(ConditionCount, CountsWhere) {
  const json doc = {{"results",
                     {{{"passed", true}, {"severity", "error"}},
                      {{"passed", false}, {"severity", "warning"}},
                      {{"passed", false}, {"severity", "error"}}}}};
  const std::string cond =
      R"(count(results[*] where passed == false and severity == "error") == 0)";
  auto o = eval(cond, doc);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(
      o.message,
      R"(count(results[*] where passed == false and severity == "error") = 1, expected == 0)");
  EXPECT_EQ(o.observed, json(1));
  EXPECT_EQ(kind_of("count(results[*] where passed == false) == 2", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(count(results[*] where passed == true or severity == "warning") == 2)", doc),
            Kind::satisfied);
  EXPECT_EQ(
      kind_of(R"(count(results[*] where not (passed == true or severity == "warning")) == 1)", doc),
      Kind::satisfied);
  // An `or` inside `where` must not mask a missing field either.
  EXPECT_EQ(kind_of("count(results[*] where passed == true or nope == 1) == 1", doc),
            Kind::missing);
}

TEST(ConditionCount, ErrorOnAnElementIsTheResult) {
  const json doc = {{"results", {{{"passed", true}, {"severity", "error"}}, {{"passed", false}}}}};
  auto o = eval(R"(count(results[*] where passed == false and severity == "error") == 0)", doc);
  EXPECT_EQ(o.kind, Kind::missing);
  EXPECT_EQ(o.message, "results[1].severity is missing");
  auto t = eval(R"(count(results[*] where passed == "no") == 0)", doc);
  EXPECT_EQ(t.kind, Kind::type_mismatch);
  EXPECT_EQ(t.message, R"(results[0].passed: expected a string, found boolean true)");
}

TEST(ConditionCount, RightSideMustBeANumber) {
  TestEnv env;
  env.vars["min"] = "2";
  auto o = eval("count(results[*]) >= $min", {{"results", {1, 2}}}, env);
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, R"($min: expected a number, found string "2")");
  env.vars["min"] = 2;
  EXPECT_EQ(kind_of("count(results[*]) >= $min", {{"results", {1, 2}}}, env), Kind::satisfied);
}

TEST(ConditionCount, NestedQuantifierInWhere) {
  const json doc = {{"a", {{{"b", {1, 2}}}, {{"b", {0, 3}}}, {{"b", {4}}}}}};
  EXPECT_EQ(kind_of("count(a[*] where all(b[*] > 0)) == 2", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("count(a[*] where any(b[*] == 0)) == 1", doc), Kind::satisfied);
  auto o = eval("count(a[*] where all(b[*].c > 0)) == 2", doc);
  EXPECT_EQ(o.kind, Kind::type_mismatch);
  EXPECT_EQ(o.message, "a[0].b[0]: expected an object, found number 1");
}

// ---- exists ---------------------------------------------------------------------------------

TEST(ConditionExists, PresentAbsentAndWrongType) {
  const json doc = {{"a", {{"b", nullptr}, {"s", "x"}, {"l", {1}}}}};
  EXPECT_EQ(kind_of("exists(a.b)", doc), Kind::satisfied);  // null is present
  EXPECT_EQ(kind_of("exists(a.l[0])", doc), Kind::satisfied);
  auto o = eval("exists(a.c)", doc);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message, "a.c is missing");
  EXPECT_EQ(kind_of("exists(a.l[1])", doc), Kind::violated);
  EXPECT_EQ(kind_of("exists(x.y.z)", doc), Kind::violated);
  EXPECT_EQ(kind_of("not exists(a.c)", doc), Kind::satisfied);
  auto t = eval("exists(a.s.t)", doc);
  EXPECT_EQ(t.kind, Kind::type_mismatch);
  EXPECT_EQ(t.message, R"(a.s: expected an object, found string "x")");
}

// ---- @artifact operands ---------------------------------------------------------------------

TEST(ConditionArtifact, FieldOfAnotherArtifact) {
  TestEnv env;
  env.artifacts["job"] = {{"job_id", "j-1"}};
  env.artifacts["n"] = 3;
  EXPECT_EQ(kind_of("job_id == @job.job_id", {{"job_id", "j-1"}}, env), Kind::satisfied);
  auto o = eval("job_id == @job.job_id", {{"job_id", "j-2"}}, env);
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_EQ(o.message, R"(job_id = "j-2", expected == @job.job_id = "j-1")");
  EXPECT_EQ(kind_of("x == @n", {{"x", 3}}, env), Kind::satisfied);
  auto m = eval("job_id == @job.id", {{"job_id", "j-1"}}, env);
  EXPECT_EQ(m.kind, Kind::missing);
  EXPECT_EQ(m.message, "@job.id is missing");
}

TEST(ConditionArtifact, UnreadableArtifactIsUnavailable) {
  for (Errc code : {Errc::permission_denied, Errc::io_error, Errc::unavailable, Errc::interrupted,
                    Errc::internal}) {
    TestEnv env;
    env.artifact_errors["job"] = Error{code, "'g/job.json' could not be read"};
    auto o = eval("job_id == @job.job_id", {{"job_id", "j-1"}}, env);
    EXPECT_EQ(o.kind, Kind::unavailable) << to_string(code);
    EXPECT_EQ(o.error_code, code);
    EXPECT_EQ(o.message, "@job: 'g/job.json' could not be read");
  }
}

TEST(ConditionArtifact, AbsentOrBrokenArtifactIsMissing) {
  for (Errc code : {Errc::not_found, Errc::malformed, Errc::too_large, Errc::out_of_root}) {
    TestEnv env;
    env.artifact_errors["job"] = Error{code, "bad"};
    auto o = eval("job_id == @job.job_id", {{"job_id", "j-1"}}, env);
    EXPECT_EQ(o.kind, Kind::missing) << to_string(code);
    EXPECT_EQ(o.error_code, code);
  }
}

TEST(ConditionArtifact, NoLoaderIsUnavailable) {
  auto c = parse_ok("job_id == @job.job_id");
  EvalEnv env;  // neither var nor artifact
  auto o = c.evaluate({{"job_id", "j-1"}}, env);
  EXPECT_EQ(o.kind, Kind::unavailable);
  EXPECT_EQ(o.error_code, Errc::unavailable);
}

TEST(ConditionArtifact, QuantifierOverAnotherArtifact) {
  TestEnv env;
  env.artifacts["runs"] = {{"items", {{{"ok", true}}, {{"ok", false}}}}};
  auto o = eval("any(@runs.items[*].ok == false)", json::object(), env);
  EXPECT_EQ(o.kind, Kind::satisfied);
  EXPECT_TRUE(contains(o.message, "@runs.items[1].ok = false")) << o.message;
  EXPECT_EQ(kind_of("count(@runs.items[*] where ok == true) == 1", json::object(), env),
            Kind::satisfied);
}

TEST(ConditionRefs, VarsAndArtifactsDeduplicatedInOrder) {
  auto c = parse_ok("$b > 0 and x == ${a} and y == $b and @job.id == @cfg.id and z == @job.x");
  EXPECT_EQ(c.var_refs(), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(c.artifact_refs(), (std::vector<std::string>{"job", "cfg"}));
  EXPECT_EQ(c.text(), "$b > 0 and x == ${a} and y == $b and @job.id == @cfg.id and z == @job.x");
  auto plain = parse_ok("x == 1");
  EXPECT_TRUE(plain.var_refs().empty());
  EXPECT_TRUE(plain.artifact_refs().empty());
}

// ---- Keywords and quoted keys ---------------------------------------------------------------

TEST(ConditionKeywords, QuotedKeysEscapeKeywords) {
  const json doc = {{"and", 1},
                    {"count", 2},
                    {"x", {{"or", 3}, {"all", 4}}},
                    {"q", {{"excellent_0.9_1.0", 5}}},
                    {"sp ace", 6}};
  EXPECT_EQ(kind_of(R"(["and"] == 1)", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(['count'] == 2)", doc), Kind::satisfied);
  EXPECT_EQ(kind_of("x.or == 3 and x.all == 4", doc), Kind::satisfied);  // fine after a dot
  EXPECT_EQ(kind_of(R"(q["excellent_0.9_1.0"] == 5)", doc), Kind::satisfied);
  EXPECT_EQ(kind_of(R"(["sp ace"] == 6)", doc), Kind::satisfied);
  auto o = eval(R"(["and"] == 2)", doc);
  EXPECT_EQ(o.message, R"(["and"] = 1, expected == 2)");
}

TEST(ConditionKeywords, BareKeywordIsAParseError) {
  EXPECT_EQ(parse_error("and == 1"),
            R"(condition "and == 1": column 1: expected an operand, found keyword "and" )"
            R"((write ["and"] for a field of that name))");
  EXPECT_FALSE(Condition::parse("count == 1").ok());
  EXPECT_FALSE(Condition::parse("x == where").ok());
}

TEST(ConditionKeywords, RightSideBracketIsAList) {
  const json doc = {{"tags", {"a"}}, {"a", "a"}};
  EXPECT_EQ(kind_of(R"(tags == ["a"])", doc), Kind::satisfied);
  EXPECT_TRUE(
      contains(parse_error("x == [0].y"), "to use a path such as [0].x, write it on the left"));
}

// ---- Parse errors ---------------------------------------------------------------------------

TEST(ConditionParse, MissingOperand) {
  EXPECT_EQ(
      parse_error("summary.pass_rate >="),
      R"(condition "summary.pass_rate >=": column 21: expected an operand, found end of condition)");
  EXPECT_EQ(parse_error(""),
            R"(condition "": column 1: expected an operand, found end of condition)");
}

TEST(ConditionParse, NoTruthinessWithoutAComparison) {
  EXPECT_EQ(parse_error("flag"),
            R"(condition "flag": column 5: expected a comparison operator, "in", "between" or )"
            R"("matches", found end of condition)");
}

TEST(ConditionParse, SingleEquals) {
  EXPECT_EQ(parse_error("x = 1"), R"(condition "x = 1": column 3: expected "==", found "=")");
}

TEST(ConditionParse, UnbalancedAndTrailingTokens) {
  EXPECT_EQ(parse_error("(x == 1"),
            R"~(condition "(x == 1": column 8: expected ")", found end of condition)~");
  EXPECT_EQ(parse_error("x == 1 y == 2"),
            R"(condition "x == 1 y == 2": column 8: expected "and", "or" or end of condition, )"
            R"(found identifier "y")");
  EXPECT_EQ(parse_error("x == 1 and"),
            R"(condition "x == 1 and": column 11: expected an operand, found end of condition)");
  EXPECT_EQ(
      parse_error("x == 1)"),
      R"~(condition "x == 1)": column 7: expected "and", "or" or end of condition, found ")")~");
}

TEST(ConditionParse, BadLiterals) {
  EXPECT_EQ(parse_error(R"(x == "abc)"),
            R"(condition "x == "abc": column 10: expected a closing ", found end of condition)");
  EXPECT_EQ(parse_error("x == 007"),
            R"(condition "x == 007": column 6: expected a number, found "007")");
  EXPECT_TRUE(contains(parse_error("x == 1e999"), "expected a finite number, found 1e999"));
  EXPECT_TRUE(contains(parse_error("x == 99999999999999999999"), "fits in 64 bits"));
  EXPECT_TRUE(contains(parse_error(R"(x == "a\qb")"), "expected one of the escapes"));
  EXPECT_TRUE(contains(parse_error("x in [1, 2,]"), "expected a literal"));
  EXPECT_TRUE(contains(parse_error("x in [y]"), "expected a literal"));
  EXPECT_TRUE(contains(parse_error("x == $"), "expected a variable name"));
}

TEST(ConditionParse, OperatorSpecificErrors) {
  EXPECT_EQ(
      parse_error("x in []"),
      R"(condition "x in []": column 6: expected at least one value in the list after "in", found [])");
  EXPECT_TRUE(contains(parse_error("x in 3"),
                       R"(expected a list [...] or a $variable after "in", found number 3)"));
  EXPECT_TRUE(contains(parse_error("x not == 3"), R"(expected "in" after "not")"));
  EXPECT_TRUE(contains(parse_error("x between 1 or 2"), R"(expected "and" between the bounds)"));
  EXPECT_TRUE(contains(parse_error("x between 2 and 1"), "lower bound <= the upper bound"));
  EXPECT_TRUE(contains(parse_error("x matches 3"), "expected a quoted regular expression"));
  EXPECT_TRUE(
      contains(parse_error("count(results[*])"), "expected a comparison operator after count"));
  EXPECT_TRUE(contains(parse_error("count(results) == 1"), "expected a path with [*] in count"));
  EXPECT_TRUE(contains(parse_error("exists(3)"), "expected a path inside exists"));
  EXPECT_TRUE(contains(parse_error("all x == 1"), R"(expected "(" after "all")"));
}

TEST(ConditionParse, StarsOnlyInsideQuantifiers) {
  const std::string m = parse_error("results[*].score > 0");
  EXPECT_EQ(
      m.rfind(R"(condition "results[*].score > 0": column 9: expected a path without [*])", 0), 0u)
      << m;
  EXPECT_TRUE(contains(parse_error("exists(a[*])"), "expected a path without [*]"));
  EXPECT_TRUE(contains(parse_error("all(a.b == 1)"), "expected a path with [*] in all(...)"));
  EXPECT_TRUE(contains(parse_error("all(a[*] == b[*])"), "found a second one"));
  EXPECT_TRUE(contains(parse_error("all(a[*] between b[*] and 1)"), "expected a path without [*]"));
  EXPECT_TRUE(
      contains(parse_error("count(a[*] where b[*] == 1) == 0"), "expected a path without [*]"));
  EXPECT_TRUE(parse_ok("count(a[*] where any(b[*] == 1)) == 0").text().size() > 0);
}

TEST(ConditionParse, DeepNestingIsRejected) {
  const auto nested = [](int depth) {
    return std::string(static_cast<std::size_t>(depth), '(') + "x == 1" +
           std::string(static_cast<std::size_t>(depth), ')');
  };
  EXPECT_EQ(kind_of(nested(64), {{"x", 1}}), Kind::satisfied);
  const std::string m = parse_error(nested(65));
  EXPECT_TRUE(contains(m, "column 65: expected at most 64 levels of nesting")) << m;
  // Hostile input far beyond the limit fails cleanly instead of exhausting the stack.
  EXPECT_TRUE(contains(parse_error(nested(200000)), "levels of nesting"));
  std::string nots;
  for (int i = 0; i < 100000; ++i) nots += "not ";
  EXPECT_TRUE(contains(parse_error(nots + "x == 1"), "levels of nesting"));
  std::string lists = "x == " + std::string(100000, '[');
  EXPECT_TRUE(contains(parse_error(lists), "levels of nesting"));
}

// ---- JsonPath -------------------------------------------------------------------------------

TEST(JsonPathTest, ParseAndFind) {
  const json doc = {{"summary", {{"pass_rate", 0.93}}},
                    {"results", {{{"gate_id", "g1"}}}},
                    {"q", {{"excellent_0.9_1.0", 7}}}};
  auto p = JsonPath::parse("results[0].gate_id");
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->segments().size(), 3u);
  EXPECT_FALSE(p->segments()[0].is_index);
  EXPECT_EQ(p->segments()[0].key, "results");
  EXPECT_TRUE(p->segments()[1].is_index);
  EXPECT_EQ(p->segments()[1].index, 0u);
  EXPECT_EQ(p->text(), "results[0].gate_id");
  auto v = p->find(doc);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(**v, json("g1"));
  auto q = JsonPath::parse(R"(q["excellent_0.9_1.0"])");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q->find(doc).value(), json(7));
  // A standalone path has no operators, so a keyword can head it.
  auto k = JsonPath::parse("count");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k->find({{"count", 3}}).value(), json(3));
}

TEST(JsonPathTest, FindErrors) {
  const json doc = {{"summary", {{"total", 3}}}, {"a", {{"b", {1, 2}}}}};
  auto missing = JsonPath::parse("summary.pass_rate")->find(doc);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "field 'pass_rate' is missing at summary");
  auto root = JsonPath::parse("x")->find(doc);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.error().message, "field 'x' is missing at the document root");
  auto oor = JsonPath::parse("a.b[2]")->find(doc);
  ASSERT_FALSE(oor.ok());
  EXPECT_EQ(oor.error().code, Errc::not_found);
  EXPECT_EQ(oor.error().message, "index 2 is out of range at a.b (array has 2 elements)");
  auto type = JsonPath::parse("a.b.c")->find(doc);
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.error().code, Errc::type_mismatch);
  EXPECT_EQ(type.error().message, "a.b: expected an object, found array");
}

TEST(JsonPathTest, RootArray) {
  const json lines = {{{"x", 1}}, {{"x", 2}}};
  auto p = JsonPath::parse("[1].x");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(*p->find(lines).value(), json(2));
  auto oor = JsonPath::parse("[5]")->find(lines);
  ASSERT_FALSE(oor.ok());
  EXPECT_EQ(oor.error().message,
            "index 5 is out of range at the document root (array has 2 elements)");
  auto obj = JsonPath::parse("[0]")->find({{"x", 1}});
  ASSERT_FALSE(obj.ok());
  EXPECT_EQ(obj.error().message, "the document root: expected an array, found object");
}

TEST(JsonPathTest, ParseErrors) {
  auto star = JsonPath::parse("results[*].x");
  ASSERT_FALSE(star.ok());
  EXPECT_EQ(star.error().code, Errc::spec_error);
  EXPECT_TRUE(contains(star.error().message, R"(path "results[*].x": column 9:)"))
      << star.error().message;
  EXPECT_FALSE(JsonPath::parse("").ok());
  EXPECT_FALSE(JsonPath::parse("a b").ok());
  EXPECT_FALSE(JsonPath::parse("a.").ok());
  EXPECT_FALSE(JsonPath::parse("a[-1]").ok());
  EXPECT_FALSE(JsonPath::parse("a == 1").ok());
}

// ---- Robustness -----------------------------------------------------------------------------

TEST(ConditionRobustness, KindNames) {
  EXPECT_EQ(to_string(Kind::satisfied), "satisfied");
  EXPECT_EQ(to_string(Kind::violated), "violated");
  EXPECT_EQ(to_string(Kind::missing), "missing");
  EXPECT_EQ(to_string(Kind::type_mismatch), "type_mismatch");
  EXPECT_EQ(to_string(Kind::not_finite), "not_finite");
  EXPECT_EQ(to_string(Kind::empty), "empty");
  EXPECT_EQ(to_string(Kind::unavailable), "unavailable");
}

TEST(ConditionRobustness, ThrowingEnvironmentIsCaught) {
  auto c = parse_ok("x == $v");
  EvalEnv env;
  env.var = [](std::string_view) -> const json* { throw std::runtime_error("boom"); };
  ConditionOutcome o;
  EXPECT_NO_THROW(o = c.evaluate({{"x", 1}}, env));
  EXPECT_EQ(o.kind, Kind::unavailable);
  EXPECT_EQ(o.error_code, Errc::internal);
  EXPECT_TRUE(contains(o.message, "boom")) << o.message;
}

TEST(ConditionRobustness, InvalidUtf8DoesNotThrow) {
  TestEnv env;
  env.vars["v"] = std::string("\xff\xfe");
  ConditionOutcome o;
  EXPECT_NO_THROW(o = eval(R"(x == $v)", {{"x", "a"}}, env));
  EXPECT_EQ(o.kind, Kind::violated);
  EXPECT_FALSE(o.message.empty());
}

TEST(ConditionRobustness, CopiesShareAndEvaluateConcurrently) {
  const Condition c = parse_ok(R"(all(episodes[*].physics_backend in ["isaac_sim", "isaac_lab"]))");
  const Condition copy = c;  // NOLINT: testing copies
  EXPECT_EQ(copy.text(), c.text());
  const json ok = report(std::vector<std::string>(200, "isaac_sim"));
  const json bad = report(std::vector<std::string>(200, "mujoco"));
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (copy.evaluate(ok, EvalEnv{}).kind != Kind::satisfied)
          ++failures[static_cast<std::size_t>(t)];
        if (c.evaluate(bad, EvalEnv{}).kind != Kind::violated)
          ++failures[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}
