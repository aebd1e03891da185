// Corpus: plugin info without a register callback; calling it would jump to address zero.

#include <stagecheck/plugin.hpp>

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  static const StagecheckPluginInfo info = {STAGECHECK_PLUGIN_ABI_VERSION, STAGECHECK_ABI_TAG,
                                            "no_register", "1.0.0", nullptr};
  return &info;
}
