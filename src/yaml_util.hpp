#pragma once
// Internal: YAML nodes to JSON values with YAML 1.2 core-schema typing of plain scalars.
// Quoted scalars are always strings, so "false" stays a string and "0.95" is not a number.

#include <string>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "stagecheck/result.hpp"
#include "stagecheck/source_mark.hpp"

namespace stagecheck::detail {

/// True if the scalar was written without quotes (yaml-cpp tags plain scalars "?").
bool is_plain_scalar(const YAML::Node& node);

/// Types one scalar with the core schema (see yaml_convert.hpp); quoted scalars are strings.
nlohmann::json scalar_to_json(const YAML::Node& node);

/// Converts a node recursively; Errc::malformed past `max_depth` or for a non-scalar key.
Result<nlohmann::json> yaml_to_json(const YAML::Node& node, int max_depth, std::string_view what);

/// The node's position as a 1-based mark in `file`.
SourceMark mark_of(const YAML::Node& node, const std::string& file);

}  // namespace stagecheck::detail
