// Corpus: a STAGECHECK_PLUGIN whose register function reports a failure through
// PluginRegistrar::fail and returns normally (the macro offers no other non-throwing way).
// A recorded failure must refuse the plugin, not be dropped.

#include <stagecheck/plugin.hpp>

namespace {

class PassCheck final : public stagecheck::Check {
 public:
  stagecheck::CheckOutcome run(stagecheck::CheckContext&) const override {
    return stagecheck::CheckOutcome::pass("ok");
  }
};

void register_checks(stagecheck::PluginRegistrar& registrar) {
  stagecheck::CheckInfo info;
  info.type = "fail_then_return_ok";
  info.category = "corpus";
  info.summary = "Always passes.";
  registrar.add(
      std::move(info),
      [](const stagecheck::CheckConfig&) -> stagecheck::Result<std::unique_ptr<stagecheck::Check>> {
        return std::unique_ptr<stagecheck::Check>(std::make_unique<PassCheck>());
      });
  registrar.fail("licence file not found");
}

}  // namespace

STAGECHECK_PLUGIN("fail_then_return", "1.0.0", register_checks)
