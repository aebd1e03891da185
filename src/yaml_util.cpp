#include "yaml_util.hpp"

#include "yaml_convert.hpp"

namespace stagecheck::detail {

bool is_plain_scalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

nlohmann::json scalar_to_json(const YAML::Node& node) {
  // A scalar the core schema cannot type (a number beyond the double range, an unknown tag)
  // stays its text, so that a typed parameter reports "expected a number, found string ...".
  auto value = yaml_node_to_json(node, "spec", LoadLimits{}, 1);
  return value ? std::move(*value) : nlohmann::json(node.Scalar());
}

Result<nlohmann::json> yaml_to_json(const YAML::Node& node, int max_depth, std::string_view what) {
  LoadLimits limits;
  limits.max_depth = max_depth;
  return yaml_node_to_json(node, what, limits, 1'000'000);
}

SourceMark mark_of(const YAML::Node& node, const std::string& file) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return SourceMark{file, 0, 0};
  return SourceMark{file, m.line + 1, m.column + 1};
}

}  // namespace stagecheck::detail
