// Corpus: a hand-written entry point whose register callback throws something that is not a
// std::exception; the loader's catch-all must still turn it into a refusal.

#include <stagecheck/plugin.hpp>

namespace {

int register_checks(StagecheckRegistrar*) { throw 42; }

}  // namespace

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  static const StagecheckPluginInfo info = {STAGECHECK_PLUGIN_ABI_VERSION, STAGECHECK_ABI_TAG,
                                            "raw_throwing_nonstd", "1.0.0", register_checks};
  return &info;
}
