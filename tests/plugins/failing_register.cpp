// Corpus: a hand-written register callback that queues a valid type, then fails the documented
// way (PluginRegistrar::fail, then a non-zero return). Nothing may be registered.

#include <stagecheck/plugin.hpp>

namespace {

class PassCheck final : public stagecheck::Check {
 public:
  stagecheck::CheckOutcome run(stagecheck::CheckContext&) const override {
    return stagecheck::CheckOutcome::pass("ok");
  }
};

int register_checks(StagecheckRegistrar* handle) {
  stagecheck::PluginRegistrar& registrar = stagecheck::PluginRegistrar::from(handle);
  stagecheck::CheckInfo info;
  info.type = "failing_register_ok";
  info.category = "corpus";
  info.summary = "Always passes.";
  registrar.add(
      std::move(info),
      [](const stagecheck::CheckConfig&) -> stagecheck::Result<std::unique_ptr<stagecheck::Check>> {
        return std::unique_ptr<stagecheck::Check>(std::make_unique<PassCheck>());
      });
  registrar.fail("licence file not found");
  return 1;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  static const StagecheckPluginInfo info = {STAGECHECK_PLUGIN_ABI_VERSION, STAGECHECK_ABI_TAG,
                                            "failing_register", "1.0.0", register_checks};
  return &info;
}
