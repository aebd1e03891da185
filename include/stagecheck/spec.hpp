#pragma once
/// \file
/// Spec: a loaded, validated and variable-bound YAML spec.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/artifact_ref.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/registry.hpp"
#include "stagecheck/result.hpp"
#include "stagecheck/source_mark.hpp"
#include "stagecheck/stage.hpp"

namespace stagecheck {

/// Types a spec variable can have.
enum class VarType {
  string,      ///< Any text (not usable in paths).
  segment,     ///< One path segment: no '/', not `.`/`..`, not empty.
  store_path,  ///< A relative path inside the store (may contain '/', never `..`).
  integer,
  number,       ///< Finite; NaN/Inf refused.
  boolean,      ///< true/false only.
  string_list,  ///< A list of strings: a YAML list as default, "a,b,c" on the command line.
  local_path,   ///< An operator-given local file or folder outside the store; read-only;
                ///< only from --var or a default, never from data.
};

STAGECHECK_API std::string_view to_string(VarType type) noexcept;

/// A declared variable.
struct VarDecl {
  std::string name;
  VarType type = VarType::string;
  bool required = false;
  bool secret = false;              ///< Redacted in reports.
  nlohmann::json default_value;     ///< null if none
  std::vector<std::string> not_in;  ///< Values refused (e.g. "unknown" for a scene id).
  std::string description;
  SourceMark mark;
};

/// A declared artifact.
struct ArtifactDecl {
  ArtifactRef ref;
  std::string description;
  SourceMark mark;
};

/// `on_failure: {write_marker: {path, fields}}`: when the run fails (exit code 1), write a JSON
/// marker into the store (atomically) saying why, e.g. the preflight's `.failed` marker.
struct FailureMarker {
  PathTemplate path;      ///< Built from variables only.
  nlohmann::json fields;  ///< Top-level fields, `$var` values already bound.
  SourceMark mark;
};

/// A loaded spec. Immutable; share it read-only between runs and threads.
struct STAGECHECK_API Spec {
  std::string name;
  std::string description;
  std::string source;  ///< The file path, or the name given to load_spec_string.
  std::string hash;    ///< Hex digest of the spec text (identifies it in reports).
  std::vector<VarDecl> vars;
  nlohmann::json values;  ///< Bound variable values, an object name -> typed value.
  std::map<std::string, ArtifactDecl, std::less<>> artifacts;
  std::vector<Stage> stages;
  std::optional<FailureMarker> on_failure;

  /// Number of checks in all stages.
  std::size_t check_count() const noexcept;
  /// The declaration of `name`, or nullptr.
  const VarDecl* find_var(std::string_view name) const noexcept;
  /// Bound values with secret variables replaced by "***".
  nlohmann::json redacted_values() const;
};

/// How to load a spec.
struct SpecOptions {
  const Registry* registry = nullptr;       ///< Check types; required.
  std::map<std::string, std::string> vars;  ///< --var NAME=VALUE overrides.
};

/// Loads, validates and binds a spec file. Every error (unknown key, wrong type, unknown
/// check type, missing required variable, no checks, ...) is reported with file:line:column,
/// all of them at once, as one Errc::spec_error.
STAGECHECK_API Result<Spec> load_spec_file(const std::filesystem::path& path,
                                           const SpecOptions& options);
/// The same from text; `source_name` stands in for the file name in messages.
STAGECHECK_API Result<Spec> load_spec_string(std::string_view text, std::string_view source_name,
                                             const SpecOptions& options);

}  // namespace stagecheck
