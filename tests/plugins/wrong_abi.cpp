// Corpus: a plugin built for a future plugin ABI (version 999). The loader must read only
// `abi_version` and refuse; its register callback registers a type so that a test can tell it
// was never called.

#include <stagecheck/plugin.hpp>

namespace {

int register_checks(StagecheckRegistrar* handle) {
  stagecheck::PluginRegistrar& registrar = stagecheck::PluginRegistrar::from(handle);
  stagecheck::CheckInfo info;
  info.type = "wrong_abi_check";
  registrar.add(
      std::move(info),
      [](const stagecheck::CheckConfig&) -> stagecheck::Result<std::unique_ptr<stagecheck::Check>> {
        return stagecheck::make_error(stagecheck::Errc::internal, "never called");
      });
  return 0;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  static const StagecheckPluginInfo info = {999u, STAGECHECK_ABI_TAG, "wrong_abi", "1.0.0",
                                            register_checks};
  return &info;
}
