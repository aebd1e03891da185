// Corpus: a hand-written register callback that returns an error without saying why.

#include <stagecheck/plugin.hpp>

namespace {

int register_checks(StagecheckRegistrar*) { return 7; }

}  // namespace

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  static const StagecheckPluginInfo info = {STAGECHECK_PLUGIN_ABI_VERSION, STAGECHECK_ABI_TAG,
                                            "returns_error", "1.0.0", register_checks};
  return &info;
}
