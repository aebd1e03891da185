// Corpus: a STAGECHECK_PLUGIN that queues a valid type, then a type without a factory. Nothing
// may be committed: the loader validates every entry before adding any.

#include <stagecheck/plugin.hpp>

namespace {

class PassCheck final : public stagecheck::Check {
 public:
  stagecheck::CheckOutcome run(stagecheck::CheckContext&) const override {
    return stagecheck::CheckOutcome::pass("ok");
  }
};

stagecheck::CheckInfo info_for(const char* type) {
  stagecheck::CheckInfo info;
  info.type = type;
  info.category = "corpus";
  info.summary = "Always passes.";
  return info;
}

void register_checks(stagecheck::PluginRegistrar& registrar) {
  registrar.add(
      info_for("no_factory_ok"),
      [](const stagecheck::CheckConfig&) -> stagecheck::Result<std::unique_ptr<stagecheck::Check>> {
        return std::unique_ptr<stagecheck::Check>(std::make_unique<PassCheck>());
      });
  registrar.add(info_for("no_factory_check"), stagecheck::CheckFactory{});
}

}  // namespace

STAGECHECK_PLUGIN("no_factory", "1.0.0", register_checks)
