#pragma once
/// \file
/// The run's metrics in the Prometheus text exposition format, for node_exporter's textfile
/// collector (`--metrics-file`) or a Pushgateway (`--pushgateway`), so that every run shows on
/// a dashboard (examples/grafana/stagecheck-dashboard.json).

#include <chrono>
#include <map>
#include <string>

#include "stagecheck/export.hpp"
#include "stagecheck/report.hpp"
#include "stagecheck/result.hpp"

namespace stagecheck {

/// The metrics of `report`, every series labelled `spec="<name>"` plus `labels`:
///
///     stagecheck_run_success            1 if the verdict is pass, else 0
///     stagecheck_run_exit_code          0, 1 or 3
///     stagecheck_run_duration_seconds
///     stagecheck_run_timestamp_seconds  when the run started (Unix time)
///     stagecheck_checks{status}         how many checks ended in each status
///     stagecheck_stage_status{stage,status}        1 for the stage's status, 0 for the others
///     stagecheck_stage_duration_seconds{stage}
///     stagecheck_check_status{stage,check,type,status}  1 for the check's status, else 0
///     stagecheck_check_duration_seconds{stage,check,type}
///     stagecheck_check_observed{stage,check,field}  numeric observed values (key evidence):
///                                        top-level numbers, at most 16 per check
///
/// Label values are escaped as the format requires; a label name that is not
/// `[a-zA-Z_][a-zA-Z0-9_]*` or starts with `__` is Errc::invalid_argument.
STAGECHECK_API Result<std::string> report_to_metrics(
    const Report& report, const std::map<std::string, std::string>& labels = {});

/// PUTs `text` to a Pushgateway at `url` (http:// or https://) under the grouping key
/// `job=stagecheck`, `spec=<name>` and `labels` (PUT replaces the group's previous run).
/// Errc::unavailable when it cannot be reached or does not answer 2xx.
STAGECHECK_API Result<void> push_metrics(const std::string& url, const std::string& spec_name,
                                         const std::map<std::string, std::string>& labels,
                                         const std::string& text,
                                         std::chrono::milliseconds timeout);

}  // namespace stagecheck
