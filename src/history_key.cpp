// The parts of the History interface the core itself needs (the drift check reads a history;
// SQLite and PostgreSQL histories live with `open_history`).

#include "stagecheck/history.hpp"

namespace stagecheck {

History::~History() = default;

std::string history_key(std::string_view spec_name, const nlohmann::json& vars) {
  // nlohmann::json keeps object keys sorted, so dump() is canonical for equal vars.
  std::string key(spec_name);
  key += '\n';
  key += vars.is_null() ? std::string("{}") : vars.dump();
  return key;
}

}  // namespace stagecheck
