// The built-in checks, registered through the same Registry as plugin checks.

#include <fmt/format.h>

#include "drift_check.hpp"
#include "stagecheck/condition_set.hpp"
#include "stagecheck/registry.hpp"

namespace stagecheck {
namespace {

// `marker`: an object exists (or must be absent), optionally with conditions on its JSON payload.
class MarkerCheck final : public Check {
 public:
  MarkerCheck(ArtifactRef ref, bool absent, std::vector<Condition> conditions)
      : ref_(std::move(ref)), absent_(absent), conditions_(std::move(conditions)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    auto art = ctx.artifact(ref_);
    if (!art) return CheckOutcome::from(art.error());
    const std::string& path = art->path();
    auto info = art->stat();
    if (absent_) {
      if (info) {
        CheckOutcome out = CheckOutcome::fail(
            fmt::format("'{}' exists ({} bytes) but must be absent", path, info->size));
        out.observed = {{"path", path}, {"exists", true}, {"size_bytes", info->size}};
        out.expected = {{"exists", false}};
        if (auto payload = art->bytes(); payload && payload->size() <= 4096) {
          out.details = {{"content", *payload}};
        }
        return out;
      }
      if (info.error().code == Errc::not_found) {
        CheckOutcome out = CheckOutcome::pass(fmt::format("'{}' is absent, as required", path));
        out.observed = {{"path", path}, {"exists", false}};
        out.expected = {{"exists", false}};
        return out;
      }
      return CheckOutcome::from(info.error());
    }
    if (!info) {
      CheckOutcome out = CheckOutcome::from(info.error());
      if (info.error().code == Errc::not_found) {
        out.message = fmt::format("'{}' is missing", path);
      }
      out.observed = {{"path", path}, {"exists", false}};
      out.expected = {{"exists", true}};
      return out;
    }
    nlohmann::json observed = {{"path", path}, {"exists", true}, {"size_bytes", info->size}};
    if (conditions_.empty()) {
      CheckOutcome out =
          CheckOutcome::pass(fmt::format("'{}' exists ({} bytes)", path, info->size));
      out.observed = std::move(observed);
      out.expected = {{"exists", true}};
      return out;
    }
    auto doc = ctx.load_path(path, ref_.format == Format::bytes ? Format::json : ref_.format);
    if (!doc) return CheckOutcome::from(doc.error());
    if (!(*doc)->is_object()) {
      CheckOutcome out = CheckOutcome::fail(
          fmt::format("'{}': expected the marker's payload to be a JSON object, found {}", path,
                      (*doc)->type_name()));
      out.observed = std::move(observed);
      return out;
    }
    CheckOutcome out = evaluate_conditions(conditions_, **doc, ctx.eval_env(), path);
    out.details["marker"] = std::move(observed);
    return out;
  }

 private:
  ArtifactRef ref_;
  bool absent_;
  std::vector<Condition> conditions_;
};

// `json`: a list of conditions on one document.
class JsonCheck final : public Check {
 public:
  JsonCheck(ArtifactRef ref, std::vector<Condition> conditions)
      : ref_(std::move(ref)), conditions_(std::move(conditions)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    auto art = ctx.artifact(ref_);
    if (!art) return CheckOutcome::from(art.error());
    auto doc =
        ctx.load_path(art->path(), ref_.format == Format::bytes ? Format::json : ref_.format);
    if (!doc) {
      if (doc.error().code == Errc::not_found && ref_.optional) {
        CheckOutcome out;
        out.status = Status::skipped;
        out.message =
            fmt::format("optional artifact '{}' ({}) is absent", ref_.label(), art->path());
        return out;
      }
      CheckOutcome out = CheckOutcome::from(doc.error());
      if (doc.error().code == Errc::not_found) {
        out.message = fmt::format("'{}' is missing", art->path());
      }
      return out;
    }
    return evaluate_conditions(conditions_, **doc, ctx.eval_env(), art->path());
  }

 private:
  ArtifactRef ref_;
  std::vector<Condition> conditions_;
};

CheckInfo marker_info() {
  CheckInfo info;
  info.type = "marker";
  info.category = "artifacts";
  info.summary =
      "An object exists (or must be absent), optionally with conditions on its JSON payload.";
  info.description =
      "Passes when the object is a regular file inside the root. With `expect: absent` it passes "
      "only when the object does not exist (e.g. no `.failed` marker). With `conditions`, the "
      "payload must be a JSON object satisfying every condition. A missing object fails; a "
      "symbolic link out of the root fails; permission denied cannot be evaluated (error). "
      "Stage `inputs:` and `expects:` entries are marker checks.";
  info.params = {
      {"path",
       ParamType::artifact,
       true,
       nullptr,
       "The marker: a declared artifact or a path.",
       {}},
      {"expect", ParamType::string, false, "present", "present or absent.", {"present", "absent"}},
      {"conditions",
       ParamType::condition_list,
       false,
       nullptr,
       "Conditions on the marker's JSON payload (all must hold).",
       {}},
  };
  info.example =
      "- id: complete\n  type: marker\n  path: scenes/${scene_id}/geniesim/.geniesim_complete\n"
      "  conditions: ['status == \"completed\"']";
  return info;
}

CheckInfo json_info() {
  CheckInfo info;
  info.type = "json";
  info.category = "artifacts";
  info.summary = "Conditions on one JSON, JSON Lines or YAML document.";
  info.description =
      "Loads the artifact (size- and depth-limited, strict parsing) and evaluates every "
      "condition; passes only if all hold. Missing, malformed, truncated, oversized or "
      "out-of-root artifacts fail; an optional declared artifact that is absent is skipped.";
  info.params = {
      {"artifact", ParamType::artifact, true, nullptr, "A declared artifact or a path.", {}},
      {"conditions",
       ParamType::condition_list,
       true,
       nullptr,
       "Conditions that must all hold (see the condition language).",
       {}},
      {"format",
       ParamType::string,
       false,
       nullptr,
       "Override the artifact's format: json, jsonl or yaml.",
       {"json", "jsonl", "yaml"}},
  };
  info.example =
      "- id: thresholds\n  type: json\n  artifact: validation_report\n  conditions:\n"
      "    - summary.pass_rate >= $min_pass_rate\n    - physics_validation.physx_used == true";
  return info;
}

}  // namespace

Result<void> register_builtin_checks(Registry& registry) {
  auto marker = registry.add(
      marker_info(),
      [](const CheckConfig& config) -> Result<std::unique_ptr<Check>> {
        const ArtifactRef* ref = config.get_artifact("path");
        if (ref == nullptr) return config.error("path", "missing");
        bool absent = config.get_string("expect") == "absent";
        if (absent && !config.get_conditions("conditions").empty()) {
          return config.error("conditions",
                              "cannot check the payload of a marker that must be absent");
        }
        return std::unique_ptr<Check>(
            std::make_unique<MarkerCheck>(*ref, absent, config.get_conditions("conditions")));
      },
      "built-in");
  if (!marker) return marker;
  if (auto drift = register_drift_check(registry); !drift) return drift;
  return registry.add(
      json_info(),
      [](const CheckConfig& config) -> Result<std::unique_ptr<Check>> {
        const ArtifactRef* ref = config.get_artifact("artifact");
        if (ref == nullptr) return config.error("artifact", "missing");
        ArtifactRef r = *ref;
        if (config.has("format")) r.format = *parse_format(config.get_string("format"));
        return std::unique_ptr<Check>(
            std::make_unique<JsonCheck>(r, config.get_conditions("conditions")));
      },
      "built-in");
}

}  // namespace stagecheck
