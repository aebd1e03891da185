// Corpus: a plugin that registers a new type and then `json`, which collides with the built-in.
// The loader must refuse the whole plugin, naming both owners, and register neither type.

#include <stagecheck/plugin.hpp>

namespace {

class PassCheck final : public stagecheck::Check {
 public:
  stagecheck::CheckOutcome run(stagecheck::CheckContext&) const override {
    return stagecheck::CheckOutcome::pass("ok");
  }
};

stagecheck::Result<std::unique_ptr<stagecheck::Check>> make_pass(const stagecheck::CheckConfig&) {
  return std::unique_ptr<stagecheck::Check>(std::make_unique<PassCheck>());
}

stagecheck::CheckInfo info_for(const char* type) {
  stagecheck::CheckInfo info;
  info.type = type;
  info.category = "corpus";
  info.summary = "Always passes.";
  return info;
}

void register_checks(stagecheck::PluginRegistrar& registrar) {
  // Queued first, so the collision is found only after a valid type was queued.
  registrar.add(info_for("duplicate_name_ok"), make_pass);
  registrar.add(info_for("json"), make_pass);
}

}  // namespace

STAGECHECK_PLUGIN("duplicate_name", "1.0.0", register_checks)
