// Corpus: a shared object that is not a stagecheck plugin. It defines no `stagecheck_plugin_v1`,
// and the plugin version script hides everything else, so it exports nothing at all: the loader
// must refuse it for the missing entry point, not crash looking for one.

extern "C" int stagecheck_corpus_no_entry_answer(void) { return 42; }
