// Corpus: a hand-written entry point that returns no plugin info at all.

#include <stagecheck/plugin.hpp>

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  return nullptr;
}
