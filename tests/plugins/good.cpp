// Corpus: a minimal valid plugin with one real check type, `nonempty_file`: passes if the
// artifact exists and has at least one byte, fails if it is empty or missing.

#include <string>

#include <stagecheck/plugin.hpp>

namespace {

class NonemptyFileCheck final : public stagecheck::Check {
 public:
  explicit NonemptyFileCheck(stagecheck::ArtifactRef ref) : ref_(std::move(ref)) {}

  stagecheck::CheckOutcome run(stagecheck::CheckContext& ctx) const override {
    auto art = ctx.artifact(ref_);
    if (!art) return stagecheck::CheckOutcome::from(art.error());
    auto info = art->stat();
    if (!info) {
      // Missing is a verdict (fail); anything else (permission denied, ...) is not.
      if (info.error().code == stagecheck::Errc::not_found) {
        return stagecheck::CheckOutcome::fail("'" + art->path() + "' is missing");
      }
      return stagecheck::CheckOutcome::from(info.error());
    }
    if (info->size == 0) return stagecheck::CheckOutcome::fail("'" + art->path() + "' is empty");
    return stagecheck::CheckOutcome::pass("'" + art->path() + "' has " +
                                          std::to_string(info->size) + " bytes");
  }

 private:
  stagecheck::ArtifactRef ref_;
};

stagecheck::CheckInfo nonempty_file_info() {
  stagecheck::CheckInfo info;
  info.type = "nonempty_file";
  info.category = "files";
  info.summary = "A file exists and is not empty.";
  info.params = {
      {"path",
       stagecheck::ParamType::artifact,
       true,
       nullptr,
       "A declared artifact or a path.",
       {}},
  };
  info.example = "- id: data\n  type: nonempty_file\n  path: data.txt";
  return info;
}

void register_checks(stagecheck::PluginRegistrar& registrar) {
  registrar.add(
      nonempty_file_info(),
      [](const stagecheck::CheckConfig& config)
          -> stagecheck::Result<std::unique_ptr<stagecheck::Check>> {
        const stagecheck::ArtifactRef* ref = config.get_artifact("path");
        if (ref == nullptr) return config.error("path", "missing");
        return std::unique_ptr<stagecheck::Check>(std::make_unique<NonemptyFileCheck>(*ref));
      });
}

}  // namespace

STAGECHECK_PLUGIN("good", "1.0.0", register_checks)
