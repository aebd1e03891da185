// Corpus: a valid plugin whose check throws from run(). Loading succeeds; the runner must turn
// the exception into an `error` result for that check, not crash.

#include <stdexcept>

#include <stagecheck/plugin.hpp>

namespace {

class ThrowingCheck final : public stagecheck::Check {
 public:
  stagecheck::CheckOutcome run(stagecheck::CheckContext&) const override {
    throw std::runtime_error("kaboom");
  }
};

void register_checks(stagecheck::PluginRegistrar& registrar) {
  stagecheck::CheckInfo info;
  info.type = "throws_on_run";
  info.category = "corpus";
  info.summary = "Throws from run().";
  registrar.add(
      std::move(info),
      [](const stagecheck::CheckConfig&) -> stagecheck::Result<std::unique_ptr<stagecheck::Check>> {
        return std::unique_ptr<stagecheck::Check>(std::make_unique<ThrowingCheck>());
      });
}

}  // namespace

STAGECHECK_PLUGIN("throwing_run", "1.0.0", register_checks)
