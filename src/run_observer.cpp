#include "stagecheck/run_observer.hpp"

#include <algorithm>

namespace stagecheck {

RunObserver::~RunObserver() = default;
void RunObserver::on_run_start(const RunInfo&, const std::vector<std::string>&) {}
void RunObserver::on_stage_start(std::string_view) {}
void RunObserver::on_stage_finish(const StageResult&) {}
void RunObserver::on_check_start(std::string_view, std::string_view, std::string_view) {}
void RunObserver::on_artifact_read(std::string_view, std::string_view, std::string_view) {}
void RunObserver::on_check_finish(const CheckResult&) {}
void RunObserver::on_run_finish(const Report&) {}

std::string redact_secrets(std::string text, const std::vector<std::string>& secret_values) {
  // Longest first: a secret that contains another must go whole.
  std::vector<const std::string*> order;
  for (const auto& s : secret_values) {
    if (!s.empty()) order.push_back(&s);
  }
  std::sort(order.begin(), order.end(),
            [](const std::string* a, const std::string* b) { return a->size() > b->size(); });
  for (const std::string* secret : order) {
    for (std::size_t at = 0; (at = text.find(*secret, at)) != std::string::npos; at += 3) {
      text.replace(at, secret->size(), "***");
    }
  }
  return text;
}

}  // namespace stagecheck
