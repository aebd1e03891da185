#include "stagecheck/condition_set.hpp"

#include <fmt/format.h>

namespace stagecheck {

CheckOutcome evaluate_conditions(const std::vector<Condition>& conditions,
                                 const nlohmann::json& doc, const EvalEnv& env,
                                 std::string_view artifact_path) {
  CheckOutcome out;
  out.observed = nlohmann::json::object();
  out.expected = nlohmann::json::array();
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::string> failed;
  std::vector<std::string> unevaluated;
  for (const auto& c : conditions) {
    ConditionOutcome r = c.evaluate(doc, env);
    out.observed[c.text()] = r.observed;
    out.expected.push_back(c.text());
    rows.push_back({{"condition", c.text()},
                    {"result", to_string(r.kind)},
                    {"message", r.message},
                    {"observed", r.observed},
                    {"expected", r.expected}});
    if (r.kind == ConditionOutcome::Kind::satisfied) continue;
    if (r.kind == ConditionOutcome::Kind::unavailable) {
      unevaluated.push_back(r.message);
    } else {
      failed.push_back(r.message);
    }
  }
  out.details = {{"conditions", std::move(rows)}};
  const std::size_t n = conditions.size();
  if (n == 0) {
    out.status = Status::error;
    out.message = fmt::format("{}: no conditions to evaluate", artifact_path);
  } else if (!failed.empty()) {
    out.status = Status::fail;
    out.message = failed.size() == 1
                      ? fmt::format("{}: {}", artifact_path, failed.front())
                      : fmt::format("{}: {} of {} conditions failed: {}", artifact_path,
                                    failed.size(), n, fmt::join(failed, "; "));
  } else if (!unevaluated.empty()) {
    out.status = Status::error;
    out.message =
        fmt::format("{}: could not evaluate: {}", artifact_path, fmt::join(unevaluated, "; "));
  } else {
    out.status = Status::pass;
    // Show what was observed on a passing check too, as long as it stays one readable line.
    std::vector<std::string> seen;
    for (const auto& row : out.details["conditions"])
      seen.push_back(row["message"].get<std::string>());
    std::string joined = fmt::format("{}", fmt::join(seen, "; "));
    out.message = joined.size() <= 240
                      ? fmt::format("{}: {}", artifact_path, joined)
                      : fmt::format("{}: all {} conditions hold", artifact_path, n);
  }
  return out;
}

}  // namespace stagecheck
