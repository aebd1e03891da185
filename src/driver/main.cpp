// The `stagecheck` driver: loads check types, runs a spec, writes reports and gates on the
// result through its exit code (see the README's table). Each verb lives in cmd_*.cpp.

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"
#include "stagecheck/version.hpp"

using namespace stagecheck;
using namespace stagecheck::driver;

namespace {

const char* const kMainHelp = R"(stagecheck - end-to-end validation of data pipelines

Usage:
  stagecheck run SPEC [options]        run a spec's checks and gate on the result
  stagecheck run SPEC --scenes all|ID,...|@FILE [--shard I/N] [options]
                                       run it once per scene under ROOT/scenes/, one report
  stagecheck merge REPORT... [--report-json FILE]
                                       merge the shard reports of a batch into one verdict
  stagecheck preflight --root ROOT --scene-id ID --consumer NAME
                                       the downstream quality-gate preflight; writes
                                       scenes/ID/NAME/.failed when it blocks
  stagecheck validate SPEC [--var K=V]  load and validate a spec; run nothing
  stagecheck metrics --dataset-dir DIR print a dataset's regression metrics as JSON (the
                                       keys of the pipeline's baseline_metrics.json)
  stagecheck list-checks [--json]      list every check type, its parameters and docs
  stagecheck history list|show RUN|compare RUN RUN|prune [--history URL]
                                       the runs recorded with 'run --history URL'
                                       (default URL: STAGECHECK_HISTORY)
  stagecheck --version                 print the version
  stagecheck VERB --help               help for one verb

ROOT (--root) is a folder, an S3 bucket s3://BUCKET[/PREFIX] (AWS S3, MinIO, ...) or a GCS
bucket gs://BUCKET[/PREFIX]. Endpoint, region and credentials come from the options or, as for
the AWS CLI and gcloud, from AWS_ENDPOINT_URL(_S3), AWS_REGION, AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, ~/.aws/credentials (AWS_PROFILE) and
GOOGLE_OAUTH_ACCESS_TOKEN(_FILE); see 'run --help'.

Watching, remembering, alerting (run, preflight; see 'run --help'): --monitor (live progress
on stderr), --log-format json (structured logs, the run id on every line), --history URL
(record the run; the drift check compares with it), --metrics-file / --pushgateway
(Prometheus metrics), --alertmanager URL / --alert-webhook URL (alert on failure).

Environment: STAGECHECK_HISTORY is the default of --history (run, preflight, history): every
run is then recorded there.

Exit codes (every verb):
  0  at least one check was evaluated; none failed; none could not be evaluated
     (warnings allowed unless --fail-on-warn)
  1  at least one check failed (missing, malformed, truncated, wrongly typed, oversized or
     out-of-root artifacts included); takes precedence over 3
  2  usage, spec or plugin error, found before anything ran
  3  no verdict: nothing failed, but something could not be evaluated (permission denied,
     store unreachable), nothing was evaluated at all, or the run was interrupted;
     also when a passing run's report, metrics, history record or alert could not be
     delivered
A report is written for 0, 1 and 3.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kMainHelp;
    return kExitUsage;
  }
  const std::string verb = args.front();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (verb == "--help" || verb == "-h" || verb == "help") {
      std::cout << kMainHelp;
      return 0;
    }
    if (verb == "--version" || verb == "-V") {
      std::cout << "stagecheck " << version() << "\n";
      return 0;
    }
    if (verb == "run") return cmd_run(rest);
    if (verb == "preflight") return cmd_preflight(rest);
    if (verb == "validate") return cmd_validate(rest);
    if (verb == "list-checks") return cmd_list_checks(rest);
    if (verb == "metrics") return cmd_metrics(rest);
    if (verb == "merge") return cmd_merge(rest);
    if (verb == "history") return cmd_history(rest);
  } catch (const std::exception& e) {
    std::cerr << "stagecheck: internal error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::no_verdict);
  }
  return usage_error(
      fmt::format(
          "unknown verb '{}' (expected run, merge, preflight, validate, list-checks, metrics or "
          "history)",
          verb),
      nullptr);
}
