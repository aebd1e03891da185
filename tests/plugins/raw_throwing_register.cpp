// Corpus: a plugin that defines its entry point by hand (no STAGECHECK_PLUGIN) with a
// register callback that throws straight at the loader. Only the loader's own catch stands
// between this exception and std::terminate.

#include <stdexcept>

#include <stagecheck/plugin.hpp>

namespace {

int register_checks(StagecheckRegistrar*) { throw std::runtime_error("raw boom"); }

}  // namespace

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  static const StagecheckPluginInfo info = {STAGECHECK_PLUGIN_ABI_VERSION, STAGECHECK_ABI_TAG,
                                            "raw_throwing_register", "1.0.0", register_checks};
  return &info;
}
