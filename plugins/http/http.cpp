// The http plugin: `http_request` and `http_load` (see README.md in this folder).

#include <stagecheck/plugin.hpp>

#include "http_checks.hpp"

namespace {

void register_checks(stagecheck::PluginRegistrar& registrar) {
  registrar.add(stagecheck::http::http_request_info(), stagecheck::http::make_http_request);
  registrar.add(stagecheck::http::http_load_info(), stagecheck::http::make_http_load);
}

}  // namespace

STAGECHECK_PLUGIN("http", "1.0.0", register_checks)
