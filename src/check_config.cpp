#include "stagecheck/check_config.hpp"

#include <fmt/format.h>

namespace stagecheck {

CheckConfig::CheckConfig(std::string id, std::string type, Severity severity, SourceMark mark)
    : id_(std::move(id)), type_(std::move(type)), severity_(severity), mark_(std::move(mark)) {}

const CheckConfig::Param* CheckConfig::find(std::string_view name) const {
  auto it = params_.find(name);
  return it == params_.end() ? nullptr : &it->second;
}

SourceMark CheckConfig::mark(std::string_view param) const {
  const Param* p = find(param);
  return p != nullptr && p->written ? p->mark : mark_;
}

bool CheckConfig::has(std::string_view param) const {
  const Param* p = find(param);
  return p != nullptr && p->written;
}

std::string CheckConfig::get_string(std::string_view param) const {
  const Param* p = find(param);
  return p != nullptr && p->value.is_string() ? p->value.get<std::string>() : std::string();
}

std::int64_t CheckConfig::get_int(std::string_view param) const {
  const Param* p = find(param);
  return p != nullptr && p->value.is_number_integer() ? p->value.get<std::int64_t>() : 0;
}

double CheckConfig::get_number(std::string_view param) const {
  const Param* p = find(param);
  return p != nullptr && p->value.is_number() ? p->value.get<double>() : 0.0;
}

bool CheckConfig::get_bool(std::string_view param) const {
  const Param* p = find(param);
  return p != nullptr && p->value.is_boolean() && p->value.get<bool>();
}

std::vector<std::string> CheckConfig::get_string_list(std::string_view param) const {
  std::vector<std::string> out;
  const Param* p = find(param);
  if (p == nullptr || !p->value.is_array()) return out;
  for (const auto& v : p->value) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

const nlohmann::json& CheckConfig::get_json(std::string_view param) const {
  static const nlohmann::json kNull;
  const Param* p = find(param);
  return p == nullptr ? kNull : p->value;
}

const std::vector<Condition>& CheckConfig::get_conditions(std::string_view param) const {
  static const std::vector<Condition> kEmpty;
  auto it = conditions_.find(param);
  return it == conditions_.end() ? kEmpty : it->second;
}

const std::vector<PathTemplate>& CheckConfig::get_paths(std::string_view param) const {
  static const std::vector<PathTemplate> kEmpty;
  auto it = paths_.find(param);
  return it == paths_.end() ? kEmpty : it->second;
}

const ArtifactRef* CheckConfig::get_artifact(std::string_view param) const {
  auto it = artifacts_.find(param);
  return it == artifacts_.end() ? nullptr : &it->second;
}

Error CheckConfig::error(std::string_view param, std::string_view message) const {
  return make_error(Errc::spec_error,
                    fmt::format("{}: check '{}': {}: {}", mark(param).str(), id_, param, message));
}

void CheckConfig::set_value(std::string name, nlohmann::json value, SourceMark mark, bool written) {
  params_[std::move(name)] = Param{std::move(value), std::move(mark), written};
}

void CheckConfig::set_conditions(std::string name, std::vector<Condition> conditions) {
  conditions_[std::move(name)] = std::move(conditions);
}

void CheckConfig::set_paths(std::string name, std::vector<PathTemplate> paths) {
  paths_[std::move(name)] = std::move(paths);
}

void CheckConfig::set_artifact(std::string name, ArtifactRef ref) {
  artifacts_[std::move(name)] = std::move(ref);
}

}  // namespace stagecheck
