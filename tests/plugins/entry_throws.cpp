// Corpus: a hand-written entry point that throws instead of returning its info. Exceptions must
// not cross the extern "C" line; the loader catches it anyway rather than terminate.

#include <stdexcept>

#include <stagecheck/plugin.hpp>

extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo* stagecheck_plugin_v1(
    void) {
  throw std::runtime_error("entry boom");
}
