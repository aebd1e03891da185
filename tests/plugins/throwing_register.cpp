// Corpus: a STAGECHECK_PLUGIN whose register function queues a valid type and then throws.
// The macro's catch must turn the exception into a failure (nothing crosses the extern "C"
// line), and the queued type must not be registered.

#include <stdexcept>

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
  info.type = "throwing_register_ok";
  info.category = "corpus";
  info.summary = "Always passes.";
  registrar.add(
      std::move(info),
      [](const stagecheck::CheckConfig&) -> stagecheck::Result<std::unique_ptr<stagecheck::Check>> {
        return std::unique_ptr<stagecheck::Check>(std::make_unique<PassCheck>());
      });
  throw std::runtime_error("boom");
}

}  // namespace

STAGECHECK_PLUGIN("throwing_register", "1.0.0", register_checks)
