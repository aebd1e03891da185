// Corpus: a plugin that calls a function no library defines. Built with ALLOW_UNDEFINED so the
// link succeeds; dlopen(RTLD_NOW) must then fail, and the loader must say which symbol.

#include <stagecheck/plugin.hpp>

extern "C" int stagecheck_corpus_missing_symbol(void);

namespace {

void register_checks(stagecheck::PluginRegistrar& registrar) {
  if (stagecheck_corpus_missing_symbol() != 0) registrar.fail("unreachable");
}

}  // namespace

STAGECHECK_PLUGIN("undefined_symbol", "1.0.0", register_checks)
