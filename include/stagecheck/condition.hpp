#pragma once
/// \file
/// The condition language: small, strict predicates over JSON documents.
///
/// Grammar (whitespace between tokens is free):
///
///     expr       := or
///     or         := and ("or" and)*
///     and        := not ("and" not)*
///     not        := "not" not | primary
///     primary    := "(" expr ")"
///                 | ("all" | "any" | "none") "(" comparison ")"   -- over a path with [*]
///                 | "count" "(" path [ "where" expr-on-element ] ")" cmpop operand
///                 | "exists" "(" path ")"
///                 | comparison
///     comparison := operand cmpop operand
///                 | operand ["not"] "in" list
///                 | operand "between" operand "and" operand        -- inclusive
///                 | operand "matches" string                       -- ECMAScript regex, whole
///                 value
///     cmpop      := "==" | "!=" | "<" | "<=" | ">" | ">="
///     operand    := path | "$"var | "${"var"}" | "@"artifact["."path] | literal
///     path       := (ident | "[" index "]" | "[*]" | "[" string "]") ("." ident | "[" ... "]")*
///     literal    := number | "string" | 'string' | true | false | null | list
///
/// Semantics (fail closed):
///  * `==`/`!=` need both sides of the same JSON type (integers and floats are both numbers);
///    `<`..`>=` and `between` need numbers; the string "false" is not a boolean and "0.95" is
///    not a number: a type mismatch is a failure, never a silent `false`.
///  * A missing field, an index out of range, NaN or ±Inf on either side is a failure.
///  * `all`/`none` over an empty array fail ("no elements"); `any` over empty is false.
///  * Inside `all/any/none(...)` and `count(... where ...)`, paths of the element are written
///    relative to the element after `[*]`.
///
/// Thread safety: a parsed Condition is immutable and may be evaluated from many threads.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

namespace detail {
struct ConditionNode;
}

/// What a condition needs from its surroundings at evaluation time.
struct EvalEnv {
  /// Value of a spec variable, or nullptr if there is no such variable.
  std::function<const nlohmann::json*(std::string_view name)> var;
  /// The loaded document of another artifact (for `@name.path` operands), or the error that
  /// prevented loading it. May be empty, in which case `@` operands are an error.
  std::function<Result<const nlohmann::json*>(std::string_view artifact)> artifact;
};

/// The outcome of evaluating a condition.
struct ConditionOutcome {
  enum class Kind {
    satisfied,      ///< The condition holds.
    violated,       ///< Evaluated cleanly and does not hold.
    missing,        ///< A field, index, variable or artifact it needs is absent.
    type_mismatch,  ///< A value had the wrong JSON type.
    not_finite,     ///< NaN or ±Inf.
    empty,          ///< all/none over an array with no elements.
    unavailable,    ///< Another artifact could not be read (permission, I/O): not evaluated.
  };
  Kind kind = Kind::violated;
  std::string message;                ///< Human explanation: field, expected and found.
  nlohmann::json observed;            ///< The value(s) found (null when there was none).
  nlohmann::json expected;            ///< What was required, e.g. {"op": ">=", "value": 0.9}.
  Errc error_code = Errc::malformed;  ///< For Kind::unavailable/missing artifacts: why.

  bool satisfied() const noexcept { return kind == Kind::satisfied; }
};

STAGECHECK_API std::string_view to_string(ConditionOutcome::Kind kind) noexcept;

/// A parsed condition. Cheap to copy (shares its immutable syntax tree).
class STAGECHECK_API Condition {
 public:
  /// Parses `text`; an error (Errc::spec_error) names the column and what was expected.
  static Result<Condition> parse(std::string_view text);

  /// Evaluates against `doc` (the check's artifact). Never throws.
  ConditionOutcome evaluate(const nlohmann::json& doc, const EvalEnv& env) const;

  /// The source text.
  const std::string& text() const noexcept { return text_; }
  /// Variable names referenced ($name), for load-time validation.
  const std::vector<std::string>& var_refs() const noexcept { return vars_; }
  /// Artifact names referenced (@name), for load-time validation.
  const std::vector<std::string>& artifact_refs() const noexcept { return artifacts_; }

 private:
  Condition() = default;
  std::string text_;
  std::shared_ptr<const detail::ConditionNode> root_;
  std::vector<std::string> vars_;
  std::vector<std::string> artifacts_;
};

/// A parsed JSON path (the `path` production above), usable by checks on their own.
class STAGECHECK_API JsonPath {
 public:
  /// Parses e.g. `summary.pass_rate`, `results[0].gate_id`, `q["excellent_0.9_1.0"]`.
  /// `[*]` is rejected here (use Condition for quantifiers).
  static Result<JsonPath> parse(std::string_view text);
  /// Finds the value; Errc::not_found names the first missing segment, Errc::type_mismatch
  /// names the segment whose parent has the wrong type.
  Result<const nlohmann::json*> find(const nlohmann::json& doc) const;
  const std::string& text() const noexcept { return text_; }

  /// One step of a path: an object key or an array index.
  struct Segment {
    bool is_index = false;
    std::string key;
    std::size_t index = 0;
  };
  const std::vector<Segment>& segments() const noexcept { return segments_; }

 private:
  std::string text_;
  std::vector<Segment> segments_;
};

}  // namespace stagecheck
