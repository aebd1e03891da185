// Corpus: plugin info with a null name (the right ABI version and tag otherwise). The loader
// must refuse it instead of dereferencing the name, and must not call register_checks.

#include <stagecheck/plugin.hpp>

namespace {

int register_checks(StagecheckRegistrar* handle) {
  stagecheck::PluginRegistrar::from(handle).fail("register_checks must not be called");
  return 1;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  static const StagecheckPluginInfo info = {STAGECHECK_PLUGIN_ABI_VERSION, STAGECHECK_ABI_TAG,
                                            nullptr, "1.0.0", register_checks};
  return &info;
}
