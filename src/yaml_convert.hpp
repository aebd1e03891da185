#pragma once
// Internal: the one YAML-to-JSON conversion, used for YAML artifacts and for spec parameters.
// Plain scalars follow the YAML 1.2 core schema; quoted scalars are always strings, so "false"
// stays a string and "0.95" is not a number. Implemented in json_parse.cpp.

#include <cstdint>
#include <string_view>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "stagecheck/artifact.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck::detail {

/// Converts a node and everything below it. Nesting past limits.max_depth, more than
/// `budget` values (alias bombs), unsupported tags and out-of-range numbers are
/// Errc::malformed, naming `what` and the line and column.
Result<nlohmann::json> yaml_node_to_json(const YAML::Node& node, std::string_view what,
                                         const LoadLimits& limits, std::uint64_t budget);

}  // namespace stagecheck::detail
