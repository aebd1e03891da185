// Corpus: a plugin whose ABI tag names another compiler, standard library and nlohmann_json.
// The loader must refuse it before calling register_checks (which would register a type).

#include <stagecheck/plugin.hpp>

namespace {

int register_checks(StagecheckRegistrar* handle) {
  stagecheck::PluginRegistrar& registrar = stagecheck::PluginRegistrar::from(handle);
  stagecheck::CheckInfo info;
  info.type = "wrong_tag_check";
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
  static const StagecheckPluginInfo info = {STAGECHECK_PLUGIN_ABI_VERSION,
                                            "gcc-0|bogus-stdlib|c++20|nlohmann_json-0.0",
                                            "wrong_tag", "1.0.0", register_checks};
  return &info;
}
