#pragma once
/// \file
/// PathTemplate: an artifact path built from variables and from fields of other artifacts.
///
///     scenes/${scene_id}/episodes/geniesim_${@job.job_id}/import_manifest.json
///
/// `${name}` is a spec variable; `${@artifact.field.path}` is a field of another artifact.
/// `$$` is a literal `$`. A substituted value must be a string or an integer; a string from a
/// variable of type `store_path` may contain '/', every other value must be one path segment
/// (no '/', not `.` or `..`, not empty, no NUL), so data can never steer a path elsewhere.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/export.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

/// What a template needs to expand.
struct TemplateEnv {
  /// The value of a variable and whether it may hold '/' (type store_path); nullptr if unknown.
  std::function<const nlohmann::json*(std::string_view name, bool& multi_segment)> var;
  /// The document of another artifact, or why it could not be loaded.
  std::function<Result<const nlohmann::json*>(std::string_view artifact)> artifact;
};

/// A parsed path template. Immutable after parse.
class STAGECHECK_API PathTemplate {
 public:
  /// One piece of a template.
  struct Part {
    enum class Kind { literal, var, artifact_field } kind = Kind::literal;
    std::string text;   ///< literal text, variable name, or artifact name
    std::string field;  ///< for artifact_field: the JSON path inside the artifact
  };

  PathTemplate() = default;
  /// Parses `text`; Errc::spec_error names the column on an unclosed `${` or a bad name.
  static Result<PathTemplate> parse(std::string_view text);

  /// Expands and validates the result as a store path. Errors name the template, the
  /// variable or artifact field, and what it held.
  Result<std::string> expand(const TemplateEnv& env) const;

  const std::string& text() const noexcept { return text_; }
  const std::vector<Part>& parts() const noexcept { return parts_; }
  /// True if the template has no substitutions.
  bool is_literal() const noexcept;

 private:
  std::string text_;
  std::vector<Part> parts_;
};

}  // namespace stagecheck
