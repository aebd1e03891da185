// Corpus: a plugin that registers the same new check type twice.

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
  stagecheck::CheckInfo info;
  info.type = "twice";
  info.category = "corpus";
  info.summary = "Always passes.";
  registrar.add(info, make_pass);
  registrar.add(info, make_pass);
}

}  // namespace

STAGECHECK_PLUGIN("duplicate_within", "1.0.0", register_checks)
