#pragma once
/// \file
/// CheckInfo: what a check type is, which parameters it takes, and who provides it.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/export.hpp"

namespace stagecheck {

/// The type of one check parameter. The spec loader validates every parameter against its
/// type (with file:line:column in errors) before any factory sees it.
enum class ParamType {
  string,          ///< A YAML string scalar.
  integer,         ///< A whole number (YAML int); "12" quoted is not an integer.
  number,          ///< A finite number; NaN/Inf refused.
  boolean,         ///< true/false only; "false" quoted is not a boolean.
  string_list,     ///< A sequence of strings.
  condition_list,  ///< A sequence of condition expressions (parsed at load).
  condition,       ///< One condition expression (parsed at load).
  path,            ///< A path template (parsed at load, expanded at run time).
  path_list,       ///< A sequence of path templates.
  artifact,        ///< A declared artifact name, or a path template for an inline artifact.
  local_path,      ///< `$var` naming a declared variable of type local_path (an operator-given
                   ///< file or folder outside the store). get_string() returns the variable's
                   ///< name; CheckContext::var() gives its value at run time (null if unset).
  object,          ///< A mapping, passed through as JSON.
  any,             ///< Any YAML value, passed through as JSON.
};

STAGECHECK_API const char* to_string(ParamType type) noexcept;

/// One parameter of a check type.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::string;
  bool required = false;
  nlohmann::json default_value;  ///< null when there is no default
  std::string description;
  std::vector<std::string> choices;  ///< allowed values for a string parameter (empty: any)
};

/// Everything the registry knows about one check type; `stagecheck list-checks` prints it.
struct CheckInfo {
  std::string type;         ///< Unique name used as `type:` in specs, e.g. "marker".
  std::string category;     ///< Grouping for listings, e.g. "artifacts", "quality".
  std::string summary;      ///< One line.
  std::string description;  ///< Longer documentation (may span lines).
  std::vector<ParamSpec> params;
  std::string example;  ///< A YAML snippet showing typical use.
};

}  // namespace stagecheck
