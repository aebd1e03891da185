#pragma once
/// \file
/// CheckConfig: one check's validated, typed configuration, handed to its factory.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecheck/artifact_ref.hpp"
#include "stagecheck/condition.hpp"
#include "stagecheck/error.hpp"
#include "stagecheck/export.hpp"
#include "stagecheck/path_template.hpp"
#include "stagecheck/source_mark.hpp"
#include "stagecheck/status.hpp"

namespace stagecheck {

/// A check's configuration after the spec loader validated every parameter against the
/// check type's ParamSpec list: unknown keys, wrong types and missing required parameters
/// never reach a factory. Getters return the value or the declared default.
///
/// Built by the spec loader; a factory only reads it. Valid during the factory call.
class STAGECHECK_API CheckConfig {
 public:
  CheckConfig(std::string id, std::string type, Severity severity, SourceMark mark);

  const std::string& id() const noexcept { return id_; }
  const std::string& type() const noexcept { return type_; }
  Severity severity() const noexcept { return severity_; }
  const SourceMark& mark() const noexcept { return mark_; }
  /// Where `param` was written (the check's own mark if it was not written).
  SourceMark mark(std::string_view param) const;

  /// True if the spec wrote `param` (defaults do not count).
  bool has(std::string_view param) const;
  std::string get_string(std::string_view param) const;
  std::int64_t get_int(std::string_view param) const;
  double get_number(std::string_view param) const;
  bool get_bool(std::string_view param) const;
  std::vector<std::string> get_string_list(std::string_view param) const;
  /// The raw JSON of an object/any parameter (null if absent and no default).
  const nlohmann::json& get_json(std::string_view param) const;
  /// Parsed conditions of a condition_list (empty if absent) or a single condition.
  const std::vector<Condition>& get_conditions(std::string_view param) const;
  /// Parsed path templates of a path or path_list parameter (empty if absent).
  const std::vector<PathTemplate>& get_paths(std::string_view param) const;
  /// The artifact reference of an artifact parameter; nullptr if absent.
  const ArtifactRef* get_artifact(std::string_view param) const;

  /// An Errc::spec_error "FILE:LINE:COL: check 'ID': PARAM: MESSAGE" for a factory to return.
  Error error(std::string_view param, std::string_view message) const;

  // Loader side.
  void set_value(std::string name, nlohmann::json value, SourceMark mark, bool written);
  void set_conditions(std::string name, std::vector<Condition> conditions);
  void set_paths(std::string name, std::vector<PathTemplate> paths);
  void set_artifact(std::string name, ArtifactRef ref);

 private:
  struct Param {
    nlohmann::json value;
    SourceMark mark;
    bool written = false;
  };
  const Param* find(std::string_view name) const;

  std::string id_;
  std::string type_;
  Severity severity_;
  SourceMark mark_;
  std::map<std::string, Param, std::less<>> params_;
  std::map<std::string, std::vector<Condition>, std::less<>> conditions_;
  std::map<std::string, std::vector<PathTemplate>, std::less<>> paths_;
  std::map<std::string, ArtifactRef, std::less<>> artifacts_;
};

}  // namespace stagecheck
