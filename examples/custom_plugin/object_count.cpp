// A check plugin written against the installed stagecheck package: `object_count` counts the
// objects under a folder of the store whose names end with a suffix, e.g. "every episode left
// its quality certificate", and passes only if the count is within [min, max].

#include <stagecheck/plugin.hpp>

#include <optional>
#include <string>
#include <vector>

namespace {

using namespace stagecheck;

class ObjectCount final : public Check {
 public:
  ObjectCount(PathTemplate folder, std::string suffix, std::int64_t min,
              std::optional<std::int64_t> max)
      : folder_(std::move(folder)), suffix_(std::move(suffix)), min_(min), max_(max) {}

  CheckOutcome run(CheckContext& ctx) const override {
    auto folder = ctx.resolve(folder_);
    if (!folder) return CheckOutcome::from(folder.error());
    const std::string prefix = *folder + "/";
    ctx.record_artifact(prefix);
    std::int64_t count = 0;
    std::vector<std::string> sample;
    // Streams the listing: a folder with a million objects is never held in memory.
    auto listed = ctx.store().list(prefix, [&](const ObjectInfo& o) {
      if (o.path.size() >= suffix_.size() &&
          o.path.compare(o.path.size() - suffix_.size(), suffix_.size(), suffix_) == 0) {
        ++count;
        if (sample.size() < 10) sample.push_back(o.path);
      }
      return !ctx.cancelled();
    });
    if (!listed) return CheckOutcome::from(listed.error());
    std::string range = max_ ? "between " + std::to_string(min_) + " and " + std::to_string(*max_)
                             : "at least " + std::to_string(min_);
    std::string what =
        std::to_string(count) + " objects ending in '" + suffix_ + "' under '" + prefix + "'";
    bool ok = count >= min_ && (!max_ || count <= *max_);
    CheckOutcome out = ok ? CheckOutcome::pass(what + " (" + range + ")")
                          : CheckOutcome::fail(what + ", expected " + range);
    out.observed = {{"count", count}, {"sample", sample}};
    out.expected = {{"min", min_}};
    if (max_) out.expected["max"] = *max_;
    return out;
  }

 private:
  PathTemplate folder_;
  std::string suffix_;
  std::int64_t min_;
  std::optional<std::int64_t> max_;
};

CheckInfo info() {
  CheckInfo i;
  i.type = "object_count";
  i.category = "artifacts";
  i.summary = "Counts objects under a folder whose names end with a suffix.";
  i.description =
      "Lists the folder (streaming) and counts the objects whose path ends with `suffix`; "
      "passes only if min <= count <= max. A folder that cannot be listed fails or errors "
      "with the store's reason.";
  i.params = {
      {"folder", ParamType::path, true, nullptr, "The folder to list (a path template).", {}},
      {"suffix", ParamType::string, false, "", "Only count paths ending with this.", {}},
      {"min", ParamType::integer, false, 1, "The fewest objects accepted.", {}},
      {"max", ParamType::integer, false, nullptr, "The most objects accepted.", {}},
  };
  i.example =
      "- id: certificates\n  type: object_count\n  folder: "
      "scenes/${scene_id}/episodes/quality/episodes\n"
      "  suffix: /quality_certificate.json\n  min: 3";
  return i;
}

Result<std::unique_ptr<Check>> make(const CheckConfig& config) {
  const auto& folders = config.get_paths("folder");
  if (folders.size() != 1) return config.error("folder", "expected one folder");
  std::int64_t min = config.get_int("min");
  if (min < 0) return config.error("min", "must not be negative");
  std::optional<std::int64_t> max;
  if (config.has("max")) {
    max = config.get_int("max");
    if (*max < min) return config.error("max", "must not be below min");
  }
  return std::unique_ptr<Check>(
      std::make_unique<ObjectCount>(folders.front(), config.get_string("suffix"), min, max));
}

void register_checks(PluginRegistrar& registrar) { registrar.add(info(), make); }

}  // namespace

STAGECHECK_PLUGIN("example_object_count", "1.0.0", register_checks)
