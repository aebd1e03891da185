// Corpus: a STAGECHECK_PLUGIN that queues a valid type, then one with an empty name. The loader
// checks collisions before committing, but Registry::add also refuses empty names and missing
// factories; the plugin must still be all-or-nothing.

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

void register_checks(stagecheck::PluginRegistrar& registrar) {
  stagecheck::CheckInfo ok;
  ok.type = "partial_commit_ok";
  ok.category = "corpus";
  ok.summary = "Always passes.";
  registrar.add(std::move(ok), make_pass);
  registrar.add(stagecheck::CheckInfo{}, make_pass);
}

}  // namespace

STAGECHECK_PLUGIN("partial_commit", "1.0.0", register_checks)
