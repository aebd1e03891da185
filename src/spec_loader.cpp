// Loads a YAML spec into a validated, variable-bound Spec. Every problem is collected with its
// file:line:column so that one `stagecheck validate` shows them all.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "drift_check.hpp"
#include "stagecheck/spec.hpp"
#include "stagecheck/store.hpp"
#include "text_util.hpp"
#include "yaml_util.hpp"

namespace stagecheck {

std::string_view to_string(VarType type) noexcept {
  switch (type) {
    case VarType::string:
      return "string";
    case VarType::segment:
      return "segment";
    case VarType::store_path:
      return "store_path";
    case VarType::integer:
      return "integer";
    case VarType::number:
      return "number";
    case VarType::boolean:
      return "boolean";
    case VarType::local_path:
      return "local_path";
    case VarType::string_list:
      return "string_list";
  }
  return "string";
}

std::size_t Spec::check_count() const noexcept {
  std::size_t n = 0;
  for (const auto& s : stages) {
    n += s.checks.size() + s.snapshots.size() + (s.trigger ? 1 : 0) + (s.wait ? 1 : 0);
  }
  return n;
}

const VarDecl* Spec::find_var(std::string_view var_name) const noexcept {
  for (const auto& v : vars) {
    if (v.name == var_name) return &v;
  }
  return nullptr;
}

nlohmann::json Spec::redacted_values() const {
  nlohmann::json out = values;
  for (const auto& v : vars) {
    if (v.secret && out.contains(v.name) && !out[v.name].is_null()) out[v.name] = "***";
  }
  return out;
}

namespace {

using detail::mark_of;
using detail::scalar_to_json;

constexpr int kMaxSpecDepth = 64;

std::optional<VarType> parse_var_type(std::string_view s) {
  for (VarType t : {VarType::string, VarType::segment, VarType::store_path, VarType::integer,
                    VarType::number, VarType::boolean, VarType::local_path, VarType::string_list}) {
    if (to_string(t) == s) return t;
  }
  return std::nullopt;
}

bool valid_identifier(std::string_view s) {
  if (s.empty()) return false;
  auto start = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!start(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return start(c) || (c >= '0' && c <= '9'); });
}

bool valid_id(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ", ";
    out += i;
  }
  return out;
}

std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar: {
      nlohmann::json v = scalar_to_json(node);
      if (v.is_string()) return fmt::format("string \"{}\"", node.Scalar());
      if (v.is_null()) return "null";
      if (v.is_boolean()) return fmt::format("boolean {}", node.Scalar());
      if (v.is_number_integer()) return fmt::format("integer {}", node.Scalar());
      return fmt::format("number {}", node.Scalar());
    }
  }
  return "?";
}

class Loader {
 public:
  Loader(std::string file, const SpecOptions& options)
      : file_(std::move(file)), options_(options) {}

  Result<Spec> load(std::string_view text) {
    spec_.source = file_;
    spec_.hash = fmt::format("{:016x}", detail::fnv1a64(text));
    if (options_.registry == nullptr) {
      return make_error(Errc::invalid_argument, "load_spec: no registry given");
    }
    YAML::Node root;
    try {
      std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
      if (docs.size() != 1) {
        return make_error(
            Errc::spec_error,
            fmt::format("{}: expected exactly one YAML document, found {}", file_, docs.size()));
      }
      root = docs.front();
    } catch (const YAML::Exception& e) {
      // `${...}` opens a flow mapping inside [...] or {...}: the commonest spec typo.
      std::string hint =
          e.msg.find("flow") != std::string::npos && text.find("${") != std::string_view::npos
              ? " (inside [...] or {...}, quote values that contain ${...})"
              : "";
      return make_error(Errc::spec_error,
                        fmt::format("{}:{}:{}: YAML syntax error: {}{}", file_, e.mark.line + 1,
                                    e.mark.column + 1, e.msg, hint));
    }
    if (!root.IsMap()) {
      return make_error(Errc::spec_error,
                        fmt::format("{}: a spec is a mapping with version, name, vars, artifacts "
                                    "and stages; found {}",
                                    file_, describe_node(root)));
    }
    try {
      load_root(root);
    } catch (const YAML::Exception& e) {
      error_at(SourceMark{file_, e.mark.line + 1, e.mark.column + 1}, e.msg);
    }
    if (!errors_.empty()) {
      std::string msg;
      for (const auto& e : errors_) {
        if (!msg.empty()) msg += '\n';
        msg += e;
      }
      return make_error(Errc::spec_error, std::move(msg));
    }
    return std::move(spec_);
  }

 private:
  void error_at(const SourceMark& mark, std::string_view message) {
    errors_.push_back(fmt::format("{}: {}", mark.str(), message));
  }
  void error(const YAML::Node& node, std::string_view message) {
    error_at(mark_of(node, file_), message);
  }

  // Reports keys not in `allowed`; returns false if there were any.
  bool check_keys(const YAML::Node& map, const std::vector<std::string>& allowed,
                  std::string_view where) {
    bool ok = true;
    std::set<std::string> seen;
    for (const auto& kv : map) {
      const std::string key = kv.first.Scalar();
      if (!seen.insert(key).second) {
        error(kv.first, fmt::format("duplicate key '{}' in {}", key, where));
        ok = false;
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(kv.first, fmt::format("unknown key '{}' in {} (expected one of: {})", key, where,
                                    join(allowed)));
        ok = false;
      }
    }
    return ok;
  }

  std::optional<std::string> get_string(const YAML::Node& map, const char* key,
                                        std::string_view where, bool required) {
    YAML::Node n = map[key];
    if (!n) {
      if (required) error(map, fmt::format("{}: missing required key '{}'", where, key));
      return std::nullopt;
    }
    if (!n.IsScalar() || scalar_to_json(n).is_null()) {
      error(n, fmt::format("{}: '{}' must be a string, found {}", where, key, describe_node(n)));
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<bool> get_bool(const YAML::Node& map, const char* key, std::string_view where) {
    YAML::Node n = map[key];
    if (!n) return std::nullopt;
    nlohmann::json v = n.IsScalar() ? scalar_to_json(n) : nlohmann::json();
    if (!v.is_boolean()) {
      error(n,
            fmt::format("{}: '{}' must be true or false, found {}", where, key, describe_node(n)));
      return std::nullopt;
    }
    return v.get<bool>();
  }

  void load_root(const YAML::Node& root) {
    check_keys(root,
               {"version", "name", "description", "vars", "artifacts", "stages", "on_failure"},
               "the spec");
    YAML::Node version = root["version"];
    if (!version) {
      error(root, "missing required key 'version' (write 'version: 1')");
    } else {
      nlohmann::json v = version.IsScalar() ? scalar_to_json(version) : nlohmann::json();
      if (!v.is_number_integer() || v.get<std::int64_t>() != 1) {
        error(version, fmt::format("unsupported spec version: expected 1, found {}",
                                   describe_node(version)));
      }
    }
    if (auto name = get_string(root, "name", "the spec", true)) spec_.name = *name;
    if (auto d = get_string(root, "description", "the spec", false)) spec_.description = *d;

    load_vars(root["vars"]);
    bind_vars();
    load_artifacts(root["artifacts"]);
    load_stages(root["stages"]);
    if (YAML::Node f = root["on_failure"]) load_on_failure(f);
    if (errors_.empty() && spec_.check_count() == 0) {
      error(root, "the spec has no checks: a spec must check something");
    }
  }

  // ---- vars -------------------------------------------------------------------------------

  void load_vars(const YAML::Node& vars) {
    if (!vars) return;
    if (!vars.IsMap()) {
      error(vars, fmt::format("'vars' must be a mapping of name to declaration, found {}",
                              describe_node(vars)));
      return;
    }
    for (const auto& kv : vars) {
      VarDecl decl;
      decl.name = kv.first.Scalar();
      decl.mark = mark_of(kv.first, file_);
      std::string where = fmt::format("variable '{}'", decl.name);
      if (!valid_identifier(decl.name)) {
        error(kv.first, fmt::format("'{}' is not a valid variable name (letters, digits, '_'; "
                                    "not starting with a digit)",
                                    decl.name));
        continue;
      }
      const YAML::Node& body = kv.second;
      if (!body.IsMap()) {
        error(body, fmt::format("{}: expected a mapping like {{type: segment, required: true}}, "
                                "found {}",
                                where, describe_node(body)));
        continue;
      }
      check_keys(body, {"type", "required", "default", "description", "secret", "not_in"}, where);
      if (auto t = get_string(body, "type", where, false)) {
        auto vt = parse_var_type(*t);
        if (!vt) {
          error(body["type"],
                fmt::format("{}: unknown type '{}' (expected one of: string, segment, "
                            "store_path, integer, number, boolean, local_path)",
                            where, *t));
          continue;
        }
        decl.type = *vt;
      }
      decl.required = get_bool(body, "required", where).value_or(false);
      decl.secret = get_bool(body, "secret", where).value_or(false);
      if (auto d = get_string(body, "description", where, false)) decl.description = *d;
      if (YAML::Node refused = body["not_in"]) {
        if (!refused.IsSequence()) {
          error(refused, fmt::format("{}: not_in must be a list of values, found {}", where,
                                     describe_node(refused)));
        } else {
          for (const auto& item : refused) {
            if (item.IsScalar()) decl.not_in.push_back(item.Scalar());
          }
        }
      }
      if (YAML::Node list_default = body["default"];
          list_default && decl.type == VarType::string_list) {
        if (!list_default.IsSequence()) {
          error(list_default, fmt::format("{}: default must be a list of strings, found {}", where,
                                          describe_node(list_default)));
        } else {
          nlohmann::json list = nlohmann::json::array();
          for (const auto& item : list_default) {
            if (!item.IsScalar() || item.Scalar().empty()) {
              error(item, fmt::format("{}: default must be a list of non-empty strings", where));
            } else {
              list.push_back(item.Scalar());
            }
          }
          decl.default_value = std::move(list);
        }
      } else if (YAML::Node scalar_default = body["default"]) {
        const YAML::Node& def = scalar_default;
        if (!def.IsScalar()) {
          error(def,
                fmt::format("{}: default must be a scalar, found {}", where, describe_node(def)));
        } else if (auto v = typed_value(decl, def.Scalar(), detail::is_plain_scalar(def), where)) {
          decl.default_value = *v;
        } else {
          error(def, last_conversion_error_);
        }
      }
      if (spec_.find_var(decl.name) != nullptr) {
        error(kv.first, fmt::format("variable '{}' is declared twice", decl.name));
        continue;
      }
      spec_.vars.push_back(std::move(decl));
    }
  }

  // Converts text to the variable's type; sets last_conversion_error_ on failure.
  std::optional<nlohmann::json> typed_value(const VarDecl& decl, const std::string& text,
                                            bool plain, std::string_view where) {
    auto fail = [&](std::string_view why) -> std::optional<nlohmann::json> {
      last_conversion_error_ =
          fmt::format("{}: expected {}, found \"{}\"{}", where, to_string(decl.type), text,
                      why.empty() ? std::string() : fmt::format(" ({})", why));
      return std::nullopt;
    };
    (void)plain;
    if (std::find(decl.not_in.begin(), decl.not_in.end(), text) != decl.not_in.end()) {
      return fail(fmt::format("the value \"{}\" is refused (not_in)", text));
    }
    switch (decl.type) {
      case VarType::string_list: {
        nlohmann::json list = nlohmann::json::array();
        std::size_t start = 0;
        while (start <= text.size()) {
          std::size_t comma = text.find(',', start);
          if (comma == std::string::npos) comma = text.size();
          std::string item = text.substr(start, comma - start);
          item.erase(0, item.find_first_not_of(" \t"));
          item.erase(item.find_last_not_of(" \t") + 1);
          if (item.empty()) return fail("write a,b,c with no empty items");
          list.push_back(item);
          start = comma + 1;
        }
        return list;
      }
      case VarType::string:
        return nlohmann::json(text);
      case VarType::segment:
        if (text.empty() || text == "." || text == ".." ||
            text.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
          return fail("a path segment has no '/', '\\', NUL and is not '.' or '..'");
        }
        return nlohmann::json(text);
      case VarType::store_path:
        if (auto ok = validate_store_path(text); !ok) return fail(ok.error().message);
        return nlohmann::json(text);
      case VarType::integer: {
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
          return fail("");
        }
        return nlohmann::json(v);
      }
      case VarType::number: {
        double v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc() || p != text.data() + text.size()) return fail("");
        if (!std::isfinite(v)) return fail("NaN and infinity are not accepted");
        return nlohmann::json(v);
      }
      case VarType::boolean:
        if (text == "true") return nlohmann::json(true);
        if (text == "false") return nlohmann::json(false);
        return fail("write true or false");
      case VarType::local_path: {
        if (text.empty()) return fail("empty");
        std::error_code ec;
        std::filesystem::path p = std::filesystem::absolute(text, ec);
        if (ec) return fail(ec.message());
        if (!std::filesystem::exists(p, ec)) return fail("no such file or folder");
        return nlohmann::json(p.lexically_normal().string());
      }
    }
    return fail("");
  }

  void bind_vars() {
    spec_.values = nlohmann::json::object();
    std::set<std::string> given;
    for (const auto& [name, value] : options_.vars) {
      const VarDecl* decl = spec_.find_var(name);
      if (decl == nullptr) {
        std::vector<std::string> names;
        for (const auto& v : spec_.vars) names.push_back(v.name);
        errors_.push_back(fmt::format("--var {}: the spec declares no variable '{}' (declared: {})",
                                      name, name, names.empty() ? "none" : join(names)));
        continue;
      }
      given.insert(name);
      if (value.empty() && decl->required) continue;  // reported below as missing
      if (auto v = typed_value(*decl, value, true, fmt::format("--var {}", name))) {
        spec_.values[name] = *v;
      } else {
        errors_.push_back(last_conversion_error_);
      }
    }
    for (const auto& decl : spec_.vars) {
      if (spec_.values.contains(decl.name)) continue;
      if (decl.required) {
        bool empty_given = given.count(decl.name) != 0;
        error_at(decl.mark, fmt::format("required variable '{}' is {}: pass --var {}=VALUE",
                                        decl.name, empty_given ? "empty" : "missing", decl.name));
        continue;
      }
      spec_.values[decl.name] = decl.default_value;
    }
  }

  // ---- templates and references -----------------------------------------------------------

  // Validates a template's references; `artifact_owner` is the artifact being declared (its own
  // name cannot appear) or empty.
  bool check_template(const PathTemplate& t, const YAML::Node& node, std::string_view where) {
    bool ok = true;
    for (const auto& part : t.parts()) {
      if (part.kind == PathTemplate::Part::Kind::var) {
        const VarDecl* decl = spec_.find_var(part.text);
        if (decl == nullptr) {
          error(node, fmt::format("{}: path '{}' uses undeclared variable '{}'", where, t.text(),
                                  part.text));
          ok = false;
        } else if (decl->type != VarType::segment && decl->type != VarType::store_path &&
                   decl->type != VarType::integer) {
          error(node, fmt::format("{}: path '{}' uses variable '{}' of type {}; only segment, "
                                  "store_path and integer variables may build store paths",
                                  where, t.text(), part.text, to_string(decl->type)));
          ok = false;
        }
      } else if (part.kind == PathTemplate::Part::Kind::artifact_field) {
        auto it = spec_.artifacts.find(part.text);
        if (it == spec_.artifacts.end()) {
          error(node, fmt::format("{}: path '{}' uses undeclared artifact '{}'", where, t.text(),
                                  part.text));
          ok = false;
        } else if (it->second.ref.format == Format::bytes) {
          error(node, fmt::format("{}: path '{}' reads a field of artifact '{}', whose format is "
                                  "bytes; declare its format json, jsonl or yaml",
                                  where, t.text(), part.text));
          ok = false;
        }
      }
    }
    return ok;
  }

  std::optional<PathTemplate> parse_template(const YAML::Node& node, std::string_view where) {
    if (!node.IsScalar() || scalar_to_json(node).is_null()) {
      error(node, fmt::format("{}: expected a path, found {}", where, describe_node(node)));
      return std::nullopt;
    }
    auto t = PathTemplate::parse(node.Scalar());
    if (!t) {
      error(node, fmt::format("{}: {}", where, t.error().message));
      return std::nullopt;
    }
    return std::move(*t);
  }

  bool check_condition(const Condition& c, const YAML::Node& node, std::string_view where) {
    bool ok = true;
    for (const auto& v : c.var_refs()) {
      if (spec_.find_var(v) == nullptr) {
        error(node, fmt::format("{}: condition \"{}\" uses undeclared variable '{}'", where,
                                c.text(), v));
        ok = false;
      }
    }
    for (const auto& a : c.artifact_refs()) {
      auto it = spec_.artifacts.find(a);
      if (it == spec_.artifacts.end()) {
        error(node, fmt::format("{}: condition \"{}\" uses undeclared artifact '{}'", where,
                                c.text(), a));
        ok = false;
      } else if (it->second.ref.format == Format::bytes) {
        error(node, fmt::format("{}: condition \"{}\" reads artifact '{}', whose format is bytes",
                                where, c.text(), a));
        ok = false;
      }
    }
    return ok;
  }

  std::optional<Condition> parse_condition(const YAML::Node& node, std::string_view where) {
    if (!node.IsScalar() || scalar_to_json(node).is_null()) {
      error(node,
            fmt::format("{}: expected a condition string, found {}", where, describe_node(node)));
      return std::nullopt;
    }
    auto c = Condition::parse(node.Scalar());
    if (!c) {
      error(node, fmt::format("{}: {}", where, c.error().message));
      return std::nullopt;
    }
    if (!check_condition(*c, node, where)) return std::nullopt;
    return std::move(*c);
  }

  // An artifact parameter: a declared name (identifier) or an inline path template.
  std::optional<ArtifactRef> parse_artifact_ref(const YAML::Node& node, std::string_view where) {
    if (!node.IsScalar() || scalar_to_json(node).is_null()) {
      error(node, fmt::format("{}: expected an artifact name or a path, found {}", where,
                              describe_node(node)));
      return std::nullopt;
    }
    const std::string& text = node.Scalar();
    if (valid_identifier(text)) {
      auto it = spec_.artifacts.find(text);
      if (it == spec_.artifacts.end()) {
        std::vector<std::string> names;
        for (const auto& [n, d] : spec_.artifacts) names.push_back(n);
        error(node, fmt::format("{}: unknown artifact '{}' (declared: {}); write a path with a '/' "
                                "or an extension for an undeclared file",
                                where, text, names.empty() ? "none" : join(names)));
        return std::nullopt;
      }
      return it->second.ref;
    }
    auto t = parse_template(node, where);
    if (!t || !check_template(*t, node, where)) return std::nullopt;
    ArtifactRef ref;
    ref.format = format_from_path(text);
    ref.path = std::move(*t);
    return ref;
  }

  // ---- artifacts --------------------------------------------------------------------------

  void load_artifacts(const YAML::Node& arts) {
    if (!arts) return;
    if (!arts.IsMap()) {
      error(arts, fmt::format("'artifacts' must be a mapping of name to path or declaration, "
                              "found {}",
                              describe_node(arts)));
      return;
    }
    // Two passes: names first, so that templates may refer to artifacts declared later.
    std::vector<std::pair<std::string, YAML::Node>> bodies;
    for (const auto& kv : arts) {
      std::string name = kv.first.Scalar();
      if (!valid_identifier(name)) {
        error(kv.first,
              fmt::format("'{}' is not a valid artifact name (letters, digits, '_')", name));
        continue;
      }
      if (spec_.find_var(name) != nullptr) {
        error(kv.first,
              fmt::format("artifact '{}' has the name of a variable; names must differ", name));
      }
      ArtifactDecl decl;
      decl.ref.name = name;
      decl.mark = mark_of(kv.first, file_);
      const YAML::Node& body = kv.second;
      YAML::Node path_node = body.IsMap() ? body["path"] : body;
      if (body.IsMap()) {
        check_keys(body, {"path", "format", "optional", "max_bytes", "description"},
                   fmt::format("artifact '{}'", name));
      }
      if (!path_node) {
        error(body, fmt::format("artifact '{}': missing required key 'path'", name));
        continue;
      }
      if (path_node.IsScalar()) decl.ref.format = format_from_path(path_node.Scalar());
      if (body.IsMap()) {
        if (auto f = get_string(body, "format", fmt::format("artifact '{}'", name), false)) {
          if (auto pf = parse_format(*f)) {
            decl.ref.format = *pf;
          } else {
            error(body["format"], fmt::format("artifact '{}': unknown format '{}' (expected json, "
                                              "jsonl, yaml or bytes)",
                                              name, *f));
          }
        }
        decl.ref.optional =
            get_bool(body, "optional", fmt::format("artifact '{}'", name)).value_or(false);
        if (YAML::Node mb = body["max_bytes"]) {
          nlohmann::json v = mb.IsScalar() ? scalar_to_json(mb) : nlohmann::json();
          if (!v.is_number_integer() || v.get<std::int64_t>() <= 0) {
            error(mb, fmt::format("artifact '{}': max_bytes must be a positive integer, found {}",
                                  name, describe_node(mb)));
          } else {
            decl.ref.max_bytes = v.get<std::uint64_t>();
          }
        }
        if (auto d = get_string(body, "description", "artifact", false)) decl.description = *d;
      }
      spec_.artifacts[name] = std::move(decl);
      bodies.emplace_back(name, path_node);
    }
    for (auto& [name, node] : bodies) {
      std::string where = fmt::format("artifact '{}'", name);
      auto t = parse_template(node, where);
      if (!t) continue;
      check_template(*t, node, where);
      spec_.artifacts[name].ref.path = std::move(*t);
    }
    // Cycles through ${@a.field} would never resolve.
    std::map<std::string, int> state;
    std::function<bool(const std::string&, std::vector<std::string>&)> visit =
        [&](const std::string& n, std::vector<std::string>& chain) {
          int& s = state[n];
          if (s == 2) return true;
          chain.push_back(n);
          if (s == 1) {
            error_at(spec_.artifacts[n].mark,
                     fmt::format("artifact paths refer to each other in a cycle: {}",
                                 fmt::join(chain, " -> ")));
            return false;
          }
          s = 1;
          for (const auto& part : spec_.artifacts[n].ref.path.parts()) {
            if (part.kind == PathTemplate::Part::Kind::artifact_field &&
                spec_.artifacts.count(part.text) != 0) {
              if (!visit(part.text, chain)) return false;
            }
          }
          chain.pop_back();
          s = 2;
          return true;
        };
    for (const auto& [name, decl] : spec_.artifacts) {
      std::vector<std::string> chain;
      if (!visit(name, chain)) break;
    }
  }

  // ---- stages and checks ------------------------------------------------------------------

  void load_stages(const YAML::Node& stages) {
    if (!stages) {
      errors_.push_back(fmt::format("{}: missing required key 'stages'", file_));
      return;
    }
    if (!stages.IsSequence()) {
      error(stages, fmt::format("'stages' must be a list, found {}", describe_node(stages)));
      return;
    }
    std::map<std::string, YAML::Node> dep_nodes;
    for (const auto& node : stages) {
      if (!node.IsMap()) {
        error(node, fmt::format("a stage must be a mapping, found {}", describe_node(node)));
        continue;
      }
      Stage stage;
      stage.mark = mark_of(node, file_);
      auto id = get_string(node, "id", "stage", true);
      if (!id) continue;
      stage.id = *id;
      std::string where = fmt::format("stage '{}'", stage.id);
      if (!valid_id(stage.id)) {
        error(node["id"],
              fmt::format("stage id '{}' may only hold letters, digits, '_' and '-'", stage.id));
      }
      for (const auto& s : spec_.stages) {
        if (s.id == stage.id)
          error(node["id"], fmt::format("stage id '{}' is used twice", stage.id));
      }
      check_keys(node,
                 {"id", "name", "description", "depends_on", "skip_if", "inputs", "expects",
                  "trigger", "wait", "snapshots", "checks"},
                 where);
      stage.name = get_string(node, "name", where, false).value_or(stage.id);
      stage.description = get_string(node, "description", where, false).value_or("");
      if (YAML::Node deps = node["depends_on"]) {
        if (deps.IsScalar()) {
          stage.depends_on.push_back(deps.Scalar());
        } else if (deps.IsSequence()) {
          for (const auto& d : deps) {
            if (!d.IsScalar()) {
              error(d, fmt::format("{}: depends_on entries are stage ids, found {}", where,
                                   describe_node(d)));
            } else {
              stage.depends_on.push_back(d.Scalar());
            }
          }
        } else {
          error(deps, fmt::format("{}: depends_on must be a stage id or a list of them, found {}",
                                  where, describe_node(deps)));
        }
        dep_nodes[stage.id] = deps;
      }
      if (YAML::Node skip = node["skip_if"]) load_skip_if(stage, skip, where);
      load_marker_list(stage, node["inputs"], "inputs", "input marker", where);
      load_marker_list(stage, node["expects"], "expects", "expected artifact", where);
      if (YAML::Node trigger = node["trigger"]) load_trigger(stage, trigger, where);
      if (YAML::Node wait = node["wait"]) load_wait(stage, wait, where);
      if (YAML::Node snaps = node["snapshots"]) load_snapshots(stage, snaps, where);
      if (YAML::Node checks = node["checks"]) {
        if (!checks.IsSequence()) {
          error(checks,
                fmt::format("{}: 'checks' must be a list, found {}", where, describe_node(checks)));
        } else {
          for (const auto& c : checks) load_check(stage, c);
        }
      }
      for (const auto& snap : stage.snapshots) {
        for (const auto& c : stage.checks) {
          if (c.id == snap.id) {
            error_at(snap.mark,
                     fmt::format("{}: a snapshot and a check share the id '{}'", where, snap.id));
          }
        }
      }
      for (const auto& c : stage.checks) {
        if ((stage.trigger && c.id == stage.id + ".trigger") ||
            (stage.wait && c.id == stage.id + ".wait")) {
          error_at(c.mark, fmt::format("{}: check id '{}' is the id of the stage's {} row", where,
                                       c.id, c.id.substr(stage.id.size() + 1)));
        }
      }
      spec_.stages.push_back(std::move(stage));
    }
    // Dependencies exist and form no cycle.
    std::map<std::string, const Stage*> by_id;
    for (const auto& s : spec_.stages) by_id[s.id] = &s;
    for (const auto& s : spec_.stages) {
      for (const auto& d : s.depends_on) {
        if (d == s.id) {
          error(dep_nodes[s.id], fmt::format("stage '{}' depends on itself", s.id));
        } else if (by_id.count(d) == 0) {
          error(dep_nodes[s.id], fmt::format("stage '{}' depends on unknown stage '{}'", s.id, d));
        }
      }
    }
    std::map<std::string, int> state;
    std::function<bool(const Stage&, std::vector<std::string>&)> visit =
        [&](const Stage& s, std::vector<std::string>& chain) {
          int& st = state[s.id];
          if (st == 2) return true;
          chain.push_back(s.id);
          if (st == 1) {
            error_at(s.mark,
                     fmt::format("stage dependencies form a cycle: {}", fmt::join(chain, " -> ")));
            return false;
          }
          st = 1;
          for (const auto& d : s.depends_on) {
            auto it = by_id.find(d);
            if (it != by_id.end() && d != s.id && !visit(*it->second, chain)) return false;
          }
          chain.pop_back();
          st = 2;
          return true;
        };
    for (const auto& s : spec_.stages) {
      std::vector<std::string> chain;
      if (!visit(s, chain)) break;
    }
    check_drift_refs();
  }

  void load_skip_if(Stage& stage, const YAML::Node& node, const std::string& where) {
    std::string w = where + ": skip_if";
    if (!node.IsMap()) {
      error(node, fmt::format("{}: expected {{artifact: NAME, condition: \"...\"}}, found {}", w,
                              describe_node(node)));
      return;
    }
    check_keys(node, {"artifact", "condition"}, w);
    YAML::Node a = node["artifact"];
    YAML::Node c = node["condition"];
    if (!c) {
      error(node, w + ": missing required key 'condition'");
      return;
    }
    auto cond = parse_condition(c, w);
    if (!cond) return;
    if (!a) {
      // Without an artifact the condition may only use variables.
      stage.skip_if = SkipRule{false, ArtifactRef{}, std::move(*cond), mark_of(node, file_)};
      return;
    }
    auto ref = parse_artifact_ref(a, w);
    if (!ref) return;
    if (ref->format == Format::bytes) ref->format = Format::json;
    stage.skip_if = SkipRule{true, std::move(*ref), std::move(*cond), mark_of(node, file_)};
  }

  void load_marker_list(Stage& stage, const YAML::Node& list, const char* key, const char* what,
                        const std::string& where) {
    if (!list) return;
    if (!list.IsSequence()) {
      error(list, fmt::format("{}: '{}' must be a list of paths or artifact names, found {}", where,
                              key, describe_node(list)));
      return;
    }
    const Registry::Entry* marker = options_.registry->find("marker");
    if (marker == nullptr) {
      error(list, fmt::format("{}: '{}' needs the built-in 'marker' check, which is not registered",
                              where, key));
      return;
    }
    std::size_t index = 0;
    for (const auto& item : list) {
      std::string id = fmt::format("{}.{}[{}]", stage.id, key, index++);
      auto ref = parse_artifact_ref(item, fmt::format("{}: {}", where, key));
      if (!ref) continue;
      CheckConfig config(id, "marker", Severity::error, mark_of(item, file_));
      config.set_value("path", ref->label(), mark_of(item, file_), true);
      config.set_artifact("path", *ref);
      config.set_value("expect", "present", mark_of(item, file_), false);
      add_check(stage, *marker, config, fmt::format("{}: {}", what, ref->path.text()));
    }
  }

  void add_check(Stage& stage, const Registry::Entry& entry, const CheckConfig& config,
                 std::string description) {
    Result<std::unique_ptr<Check>> made = make_error(Errc::internal, "factory not called");
    try {
      made = entry.factory(config);
    } catch (const std::exception& e) {
      made = make_error(Errc::plugin_error, fmt::format("{}: check '{}': the factory of '{}' ({}) "
                                                        "threw: {}",
                                                        config.mark().str(), config.id(),
                                                        entry.info.type, entry.source, e.what()));
    } catch (...) {
      made =
          make_error(Errc::plugin_error,
                     fmt::format("{}: check '{}': the factory of '{}' ({}) threw",
                                 config.mark().str(), config.id(), entry.info.type, entry.source));
    }
    if (!made) {
      errors_.push_back(made.error().message);
      return;
    }
    if (!*made) {
      error_at(config.mark(), fmt::format("check '{}': the factory of '{}' returned no check",
                                          config.id(), entry.info.type));
      return;
    }
    StageCheck sc;
    sc.id = config.id();
    sc.type = config.type();
    sc.severity = config.severity();
    sc.description = std::move(description);
    sc.mark = config.mark();
    sc.check = std::shared_ptr<const Check>(std::move(*made));
    stage.checks.push_back(std::move(sc));
  }

  // `forced_id`: a snapshot's probe, which takes the snapshot's id and has none of its own.
  void load_check(Stage& stage, const YAML::Node& node,
                  std::optional<std::string> forced_id = std::nullopt) {
    if (!node.IsMap()) {
      error(node, fmt::format("stage '{}': a check must be a mapping with id and type, found {}",
                              stage.id, describe_node(node)));
      return;
    }
    auto id = forced_id ? forced_id
                        : get_string(node, "id", fmt::format("stage '{}': check", stage.id), true);
    auto type = get_string(node, "type", fmt::format("stage '{}': check", stage.id), true);
    if (!id || !type) return;
    std::string full_id = fmt::format("{}.{}", stage.id, *id);
    std::string where = fmt::format("check '{}'", full_id);
    if (!valid_id(*id)) {
      error(node["id"],
            fmt::format("check id '{}' may only hold letters, digits, '_' and '-'", *id));
    }
    for (const auto& c : stage.checks) {
      if (c.id == full_id) error(node["id"], fmt::format("check id '{}' is used twice", full_id));
    }
    const Registry::Entry* entry = options_.registry->find(*type);
    if (entry == nullptr) {
      std::vector<std::string> names;
      for (const auto* e : options_.registry->entries()) names.push_back(e->info.type);
      error(node["type"],
            fmt::format("{}: unknown check type '{}' (known: {}); is its plugin loaded?", where,
                        *type, join(names)));
      return;
    }
    Severity severity = Severity::error;
    if (auto sev = get_string(node, "severity", where, false)) {
      if (auto s = parse_severity(*sev)) {
        severity = *s;
      } else {
        error(node["severity"],
              fmt::format("{}: severity must be error or warning, found \"{}\"", where, *sev));
      }
    }
    std::string description = get_string(node, "description", where, false).value_or("");
    std::string failure_code = get_string(node, "failure_code", where, false).value_or("");
    CheckConfig config(full_id, *type, severity, mark_of(node, file_));
    std::vector<std::string> allowed = {"id", "type", "severity", "description", "failure_code"};
    for (const auto& p : entry->info.params) allowed.push_back(p.name);
    std::size_t errors_before = errors_.size();
    check_keys(node, allowed, fmt::format("{} (type {})", where, *type));
    for (const auto& ps : entry->info.params) {
      YAML::Node value = node[ps.name];
      if (!value) {
        if (ps.required) {
          error(node, fmt::format("{}: missing required parameter '{}' ({})", where, ps.name,
                                  to_string(ps.type)));
        } else if (!ps.default_value.is_null()) {
          load_default(ps, node, config, where);
        }
        continue;
      }
      convert_param(ps, value, config, where);
    }
    if (errors_.size() != errors_before) return;
    if (*type == kDriftCheckType && forced_id) {
      error(node["type"], fmt::format("{}: a drift check cannot be a snapshot's probe (it runs "
                                      "after every other check); put it in 'checks:'",
                                      where));
      return;
    }
    add_check(stage, *entry, config, description);
    if (!stage.checks.empty() && stage.checks.back().id == full_id) {
      stage.checks.back().failure_code = failure_code;
      if (*type == kDriftCheckType) {
        stage.checks.back().measures = config.get_string("metric");
        drift_refs_.push_back({full_id, config.get_string("metric"), config.mark("metric")});
      }
    }
  }

  // Every drift check's `metric` names a check of the spec that is not itself a drift check.
  void check_drift_refs() {
    std::map<std::string, std::string, std::less<>> types;  // id -> type
    for (const auto& st : spec_.stages) {
      for (const auto& c : st.checks) types[c.id] = c.type;
      for (const auto& snap : st.snapshots) types[snap.id] = "snapshot";
    }
    for (const auto& ref : drift_refs_) {
      auto it = types.find(ref.metric);
      if (it == types.end()) {
        std::vector<std::string> ids;
        for (const auto& [id, type] : types) {
          if (type != kDriftCheckType) ids.push_back(id);
        }
        error_at(ref.mark, fmt::format("check '{}': metric: names no check of this spec: \"{}\" "
                                       "(expected \"<stage>.<check>\", one of: {})",
                                       ref.check, ref.metric, join(ids)));
      } else if (it->second == kDriftCheckType) {
        error_at(ref.mark, fmt::format("check '{}': metric: \"{}\" is a drift check; a drift "
                                       "check measures a check that is not a drift check",
                                       ref.check, ref.metric));
      }
    }
  }

  /// A default that is not written in the spec. Parameters with a parsed form (artifacts,
  /// paths, conditions) get it from their default exactly as from a written value, so a
  /// factory sees the same thing either way; the value is then marked as not written.
  void load_default(const ParamSpec& ps, const YAML::Node& check_node, CheckConfig& config,
                    const std::string& check_where) {
    const SourceMark mark = mark_of(check_node, file_);
    switch (ps.type) {
      case ParamType::artifact:
      case ParamType::path:
      case ParamType::path_list:
      case ParamType::condition:
      case ParamType::condition_list: {
        YAML::Node node;
        if (ps.default_value.is_string()) {
          node = YAML::Node(ps.default_value.get<std::string>());
        } else if (ps.default_value.is_array()) {
          node = YAML::Node(YAML::NodeType::Sequence);
          for (const auto& item : ps.default_value) {
            if (!item.is_string()) break;
            node.push_back(item.get<std::string>());
          }
        }
        if (!node.IsDefined() || node.IsNull() ||
            (ps.default_value.is_array() && node.size() != ps.default_value.size())) {
          error(check_node,
                fmt::format("{}: the check type's default for '{}' is not a {} "
                            "(a plugin defect): {}",
                            check_where, ps.name, to_string(ps.type), ps.default_value.dump()));
          return;
        }
        convert_param(ps, node, config, fmt::format("{} (default of '{}')", check_where, ps.name));
        if (const nlohmann::json& v = config.get_json(ps.name); !v.is_null()) {
          config.set_value(ps.name, v, mark, false);
        }
        return;
      }
      default:
        config.set_value(ps.name, ps.default_value, mark, false);
        return;
    }
  }

  void convert_param(const ParamSpec& ps, const YAML::Node& node, CheckConfig& config,
                     const std::string& check_where) {
    std::string where = fmt::format("{}: parameter '{}'", check_where, ps.name);
    SourceMark mark = mark_of(node, file_);
    auto expect = [&](std::string_view what) {
      error(node, fmt::format("{}: expected {}, found {}", where, what, describe_node(node)));
    };
    nlohmann::json scalar = node.IsScalar() ? scalar_to_json(node) : nlohmann::json();
    if (auto name = whole_var_reference(node); name && takes_var_value(ps.type)) {
      convert_var_param(ps, *name, node, config, where);
      return;
    }
    switch (ps.type) {
      case ParamType::string:
        if (!node.IsScalar() || scalar.is_null()) return expect("a string");
        if (!ps.choices.empty() &&
            std::find(ps.choices.begin(), ps.choices.end(), node.Scalar()) == ps.choices.end()) {
          error(node, fmt::format("{}: expected one of {}, found \"{}\"", where, join(ps.choices),
                                  node.Scalar()));
          return;
        }
        config.set_value(ps.name, node.Scalar(), mark, true);
        return;
      case ParamType::integer:
        if (!scalar.is_number_integer() || !detail::is_plain_scalar(node))
          return expect("an integer");
        config.set_value(ps.name, scalar, mark, true);
        return;
      case ParamType::number:
        if (!scalar.is_number() || !detail::is_plain_scalar(node)) return expect("a number");
        if (!std::isfinite(scalar.get<double>())) return expect("a finite number");
        config.set_value(ps.name, scalar, mark, true);
        return;
      case ParamType::boolean:
        if (!scalar.is_boolean()) return expect("true or false");
        config.set_value(ps.name, scalar, mark, true);
        return;
      case ParamType::string_list: {
        if (!node.IsSequence()) return expect("a list of strings");
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& item : node) {
          if (!item.IsScalar() || scalar_to_json(item).is_null()) {
            error(item, fmt::format("{}: expected a string, found {}", where, describe_node(item)));
            return;
          }
          arr.push_back(item.Scalar());
        }
        config.set_value(ps.name, std::move(arr), mark, true);
        return;
      }
      case ParamType::condition:
      case ParamType::condition_list: {
        std::vector<Condition> conds;
        nlohmann::json texts = nlohmann::json::array();
        if (ps.type == ParamType::condition) {
          auto c = parse_condition(node, where);
          if (!c) return;
          texts.push_back(c->text());
          conds.push_back(std::move(*c));
        } else {
          if (!node.IsSequence()) return expect("a list of conditions");
          if (node.size() == 0) return expect("at least one condition");
          for (const auto& item : node) {
            auto c = parse_condition(item, where);
            if (!c) continue;
            texts.push_back(c->text());
            conds.push_back(std::move(*c));
          }
        }
        config.set_value(ps.name, std::move(texts), mark, true);
        config.set_conditions(ps.name, std::move(conds));
        return;
      }
      case ParamType::path:
      case ParamType::path_list: {
        std::vector<PathTemplate> paths;
        nlohmann::json texts = nlohmann::json::array();
        auto one = [&](const YAML::Node& item) {
          auto t = parse_template(item, where);
          if (t && check_template(*t, item, where)) {
            texts.push_back(t->text());
            paths.push_back(std::move(*t));
          }
        };
        if (ps.type == ParamType::path) {
          one(node);
        } else {
          if (!node.IsSequence()) return expect("a list of paths");
          for (const auto& item : node) one(item);
        }
        config.set_value(ps.name, ps.type == ParamType::path && !texts.empty() ? texts[0] : texts,
                         mark, true);
        config.set_paths(ps.name, std::move(paths));
        return;
      }
      case ParamType::artifact: {
        auto ref = parse_artifact_ref(node, where);
        if (!ref) return;
        config.set_value(ps.name, node.Scalar(), mark, true);
        config.set_artifact(ps.name, std::move(*ref));
        return;
      }
      case ParamType::local_path: {
        std::string name = node.IsScalar() ? node.Scalar() : std::string();
        if (name.size() > 3 && name.rfind("${", 0) == 0 && name.back() == '}') {
          name = name.substr(2, name.size() - 3);
        } else if (name.size() > 1 && name.front() == '$') {
          name = name.substr(1);
        } else {
          return expect("a $variable of type local_path (e.g. $env_file)");
        }
        const VarDecl* decl = spec_.find_var(name);
        if (decl == nullptr || decl->type != VarType::local_path) {
          error(node,
                fmt::format("{}: '{}' must name a variable of type local_path{}", where, name,
                            decl == nullptr ? " (no such variable is declared)"
                                            : fmt::format(" (it is {})", to_string(decl->type))));
          return;
        }
        config.set_value(ps.name, name, mark, true);
        return;
      }
      case ParamType::object:
      case ParamType::any: {
        if (ps.type == ParamType::object && !node.IsMap()) return expect("a mapping");
        auto v = detail::yaml_to_json(node, kMaxSpecDepth, where);
        if (!v) {
          error(node, v.error().message);
          return;
        }
        config.set_value(ps.name, std::move(*v), mark, true);
        return;
      }
    }
  }

  // ---- triggers, waits, snapshots ---------------------------------------------------------

  // A duration: seconds as a number, or a string with a unit (500ms, 30s, 5m, 1h); or a whole
  // `$var` holding either (a number or string variable).
  std::optional<std::chrono::milliseconds> parse_duration(const YAML::Node& node,
                                                          std::string_view where) {
    auto bad = [&](const std::string& found) {
      error(node, fmt::format("{}: expected a duration (seconds, or e.g. 500ms, 30s, 5m, 1h) "
                              "between 1ms and 24h, found {}",
                              where, found));
      return std::nullopt;
    };
    if (!node.IsScalar()) return bad(describe_node(node));
    nlohmann::json v = scalar_to_json(node);
    std::string shown = describe_node(node);
    if (auto name = whole_var_reference(node)) {
      if (spec_.find_var(*name) == nullptr) {
        error(node, fmt::format("{}: undeclared variable '{}'", where, *name));
        return std::nullopt;
      }
      v = spec_.values.contains(*name) ? spec_.values[*name] : nlohmann::json();
      shown = spec_.find_var(*name)->secret ? fmt::format("${} (secret)", *name)
                                            : fmt::format("${} = {}", *name, v.dump());
    } else if (v.is_number() && !detail::is_plain_scalar(node)) {
      v = node.Scalar();  // a quoted number is text: "30" has no unit
    }
    double ms = 0;
    if (v.is_number()) {
      ms = v.get<double>() * 1000.0;
    } else if (v.is_string()) {
      const std::string t = v.get<std::string>();
      std::size_t i = 0;
      while (i < t.size() && ((t[i] >= '0' && t[i] <= '9') || t[i] == '.')) ++i;
      if (i == 0) return bad(shown);
      double n = 0;
      try {
        std::size_t used = 0;
        n = std::stod(t.substr(0, i), &used);
        if (used != i) return bad(shown);  // "1.2.3s"
      } catch (const std::exception&) {
        return bad(shown);
      }
      const std::string unit = t.substr(i);
      if (unit == "ms")
        ms = n;
      else if (unit == "s")
        ms = n * 1000.0;
      else if (unit == "m")
        ms = n * 60000.0;
      else if (unit == "h")
        ms = n * 3600000.0;
      else
        return bad(shown);
    } else {
      return bad(shown);
    }
    if (!std::isfinite(ms) || ms < 1.0 || ms > 86400000.0) return bad(shown);
    return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
  }

  // Checks the `${name}` references of a trigger template: spec variables or `root`.
  bool check_interpolation(const std::string& text, const YAML::Node& node,
                           std::string_view where) {
    bool ok = true;
    for (std::size_t pos = text.find("${"); pos != std::string::npos;
         pos = text.find("${", pos + 2)) {
      std::size_t end = text.find('}', pos);
      std::string name = end == std::string::npos ? "" : text.substr(pos + 2, end - pos - 2);
      if (!valid_identifier(name)) {
        error(node, fmt::format("{}: \"{}\": '${{' must start a ${{name}} reference", where, text));
        return false;
      }
      if (name != "root" && spec_.find_var(name) == nullptr) {
        error(node, fmt::format("{}: \"{}\" uses undeclared variable '{}'", where, text, name));
        ok = false;
      }
    }
    return ok;
  }

  std::optional<std::string> get_template(const YAML::Node& node, std::string_view where) {
    if (!node.IsScalar() || scalar_to_json(node).is_null()) {
      error(node, fmt::format("{}: expected a string, found {}", where, describe_node(node)));
      return std::nullopt;
    }
    std::string text = node.Scalar();
    // A whole `$name` item is the same as `${name}`.
    if (auto name = whole_var_reference(node); name && text.rfind("${", 0) != 0) {
      text = "${" + *name + "}";
    }
    if (!check_interpolation(text, node, where)) return std::nullopt;
    return text;
  }

  std::optional<std::map<std::string, std::string>> get_template_map(const YAML::Node& node,
                                                                     std::string_view where) {
    if (!node.IsMap()) {
      error(node, fmt::format("{}: expected a mapping, found {}", where, describe_node(node)));
      return std::nullopt;
    }
    std::map<std::string, std::string> out;
    for (const auto& kv : node) {
      auto v = get_template(kv.second, fmt::format("{}: '{}'", where, kv.first.Scalar()));
      if (!v) return std::nullopt;
      out[kv.first.Scalar()] = *v;
    }
    return out;
  }

  void load_trigger(Stage& stage, const YAML::Node& node, const std::string& stage_where) {
    const std::string where = stage_where + ": trigger";
    if (!node.IsMap() || node.size() != 1) {
      error(node, fmt::format("{}: expected exactly one of {{command: [...]}}, {{http: {{...}}}} "
                              "or {{write_marker: {{...}}}}, found {}",
                              where, describe_node(node)));
      return;
    }
    check_keys(node, {"command", "http", "write_marker"}, where);
    Trigger t;
    t.mark = mark_of(node, file_);
    if (YAML::Node c = node["command"]) {
      t.kind = Trigger::Kind::command;
      YAML::Node argv = c.IsMap() ? c["argv"] : c;
      const std::string w = where + ".command";
      if (c.IsMap()) check_keys(c, {"argv", "env", "env_allow", "cwd", "timeout", "kill_grace"}, w);
      if (!argv || !argv.IsSequence() || argv.size() == 0) {
        error(c, fmt::format("{}: expected a non-empty argument list (no shell), e.g. [script.sh, "
                             "--scene, $scene_id], or {{argv: [...], env, env_allow, cwd, "
                             "timeout}}, found {}",
                             w, describe_node(argv ? argv : c)));
        return;
      }
      for (const auto& a : argv) {
        auto v = get_template(a, w);
        if (!v) return;
        t.command.argv.push_back(*v);
      }
      if (t.command.argv.front().empty()) {
        error(argv, w + ": the program name is empty");
        return;
      }
      if (c.IsMap()) {
        if (YAML::Node env = c["env"]) {
          auto m = get_template_map(env, w + ": env");
          if (!m) return;
          t.command.env = *m;
        }
        if (YAML::Node allow = c["env_allow"]) {
          if (!allow.IsSequence()) {
            error(allow, fmt::format("{}: env_allow must be a list of variable names, found {}", w,
                                     describe_node(allow)));
            return;
          }
          t.command.env_allow.clear();
          for (const auto& n : allow) {
            if (!n.IsScalar() || n.Scalar().empty() || n.Scalar().find('=') != std::string::npos) {
              error(n, fmt::format("{}: env_allow: expected a variable name, found {}", w,
                                   describe_node(n)));
              return;
            }
            t.command.env_allow.push_back(n.Scalar());
          }
        }
        if (YAML::Node cwd = c["cwd"]) {
          auto v = get_template(cwd, w + ": cwd");
          if (!v) return;
          t.command.cwd = *v;
        }
        if (YAML::Node d = c["timeout"]) {
          auto v = parse_duration(d, w + ": timeout");
          if (!v) return;
          t.command.timeout = *v;
        }
        if (YAML::Node d = c["kill_grace"]) {
          auto v = parse_duration(d, w + ": kill_grace");
          if (!v) return;
          t.command.kill_grace = *v;
        }
      }
    } else if (YAML::Node h = node["http"]) {
      t.kind = Trigger::Kind::http;
      const std::string w = where + ".http";
      if (!h.IsMap()) {
        error(h, fmt::format("{}: expected {{url, method, headers, body, expect_status, timeout}}, "
                             "found {}",
                             w, describe_node(h)));
        return;
      }
      check_keys(h, {"url", "method", "headers", "body", "expect_status", "timeout"}, w);
      YAML::Node url = h["url"];
      if (!url) {
        error(h, w + ": missing required key 'url'");
        return;
      }
      auto u = get_template(url, w + ": url");
      if (!u) return;
      t.http.url = *u;
      if (u->rfind("${", 0) != 0 && u->rfind("http://", 0) != 0 && u->rfind("https://", 0) != 0) {
        error(url, fmt::format("{}: url must start with http:// or https://, found \"{}\"", w, *u));
        return;
      }
      if (auto m = get_string(h, "method", w, false)) {
        static const std::vector<std::string> kMethods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
        if (std::find(kMethods.begin(), kMethods.end(), *m) == kMethods.end()) {
          error(h["method"],
                fmt::format("{}: method must be one of {}, found \"{}\"", w, join(kMethods), *m));
          return;
        }
        t.http.method = *m;
      }
      if (YAML::Node hd = h["headers"]) {
        auto m = get_template_map(hd, w + ": headers");
        if (!m) return;
        t.http.headers = *m;
      }
      if (YAML::Node b = h["body"]) {
        auto v = get_template(b, w + ": body");
        if (!v) return;
        t.http.body = *v;
      }
      if (YAML::Node es = h["expect_status"]) {
        t.http.expect_status.clear();
        auto add = [&](const YAML::Node& n) {
          nlohmann::json v = n.IsScalar() ? scalar_to_json(n) : nlohmann::json();
          if (!v.is_number_integer() || v.get<long>() < 100 || v.get<long>() > 599) {
            error(n, fmt::format("{}: expect_status: expected HTTP status codes (100-599), "
                                 "found {}",
                                 w, describe_node(n)));
            return false;
          }
          t.http.expect_status.push_back(v.get<long>());
          return true;
        };
        if (es.IsSequence()) {
          for (const auto& n : es)
            if (!add(n)) return;
        } else if (!add(es)) {
          return;
        }
        if (t.http.expect_status.empty()) {
          error(es, w + ": expect_status is empty");
          return;
        }
      }
      if (YAML::Node d = h["timeout"]) {
        auto v = parse_duration(d, w + ": timeout");
        if (!v) return;
        t.http.timeout = *v;
      }
    } else if (YAML::Node wm = node["write_marker"]) {
      t.kind = Trigger::Kind::write_marker;
      const std::string w = where + ".write_marker";
      if (!wm.IsMap()) {
        error(wm, fmt::format("{}: expected {{path, fields}}, found {}", w, describe_node(wm)));
        return;
      }
      check_keys(wm, {"path", "fields"}, w);
      YAML::Node path = wm["path"];
      if (!path) {
        error(wm, w + ": missing required key 'path'");
        return;
      }
      auto pt = parse_template(path, w);
      if (!pt || !check_template(*pt, path, w)) return;
      for (const auto& part : pt->parts()) {
        if (part.kind == PathTemplate::Part::Kind::artifact_field) {
          error(path, w + ": the marker path may use variables only, not artifact fields");
          return;
        }
      }
      t.marker.path = std::move(*pt);
      if (YAML::Node fields = wm["fields"]) {
        if (!fields.IsMap()) {
          error(fields,
                fmt::format("{}: fields must be a mapping, found {}", w, describe_node(fields)));
          return;
        }
        for (const auto& kv : fields) {
          const std::string key = kv.first.Scalar();
          if (auto name = whole_var_reference(kv.second)) {
            if (spec_.find_var(*name) == nullptr) {
              error(kv.second,
                    fmt::format("{}: field '{}' uses undeclared variable '{}'", w, key, *name));
              return;
            }
            t.marker.fields[key] = spec_.values.contains(*name) ? spec_.values[*name] : nullptr;
          } else if (kv.second.IsScalar()) {
            t.marker.fields[key] = scalar_to_json(kv.second);
          } else {
            error(kv.second, fmt::format("{}: field '{}' must be a scalar or a $variable", w, key));
            return;
          }
        }
      }
    }
    stage.trigger = std::move(t);
  }

  void load_wait(Stage& stage, const YAML::Node& node, const std::string& stage_where) {
    const std::string where = stage_where + ": wait";
    if (!node.IsMap()) {
      error(node, fmt::format("{}: expected {{for: [markers], timeout, interval, max_interval}}, "
                              "found {}",
                              where, describe_node(node)));
      return;
    }
    check_keys(node, {"for", "timeout", "interval", "max_interval", "newer_than_trigger"}, where);
    StageWait w;
    w.mark = mark_of(node, file_);
    YAML::Node list = node["for"];
    if (!list || !list.IsSequence() || list.size() == 0) {
      error(list ? list : node,
            fmt::format("{}: 'for' must be a non-empty list of marker paths or artifact names",
                        where));
      return;
    }
    for (const auto& item : list) {
      auto ref = parse_artifact_ref(item, where + ": for");
      if (!ref) return;
      w.markers.push_back(std::move(*ref));
    }
    for (auto [key, dest] : {std::pair{"timeout", &w.timeout}, std::pair{"interval", &w.interval},
                             std::pair{"max_interval", &w.max_interval}}) {
      if (YAML::Node d = node[key]) {
        auto v = parse_duration(d, fmt::format("{}: {}", where, key));
        if (!v) return;
        *dest = *v;
      }
    }
    if (w.max_interval < w.interval) w.max_interval = w.interval;
    if (YAML::Node n = node["newer_than_trigger"]) {
      nlohmann::json v = n.IsScalar() ? scalar_to_json(n) : nlohmann::json();
      if (!v.is_boolean() || !detail::is_plain_scalar(n)) {
        error(n, fmt::format("{}: newer_than_trigger must be true or false, found {}", where,
                             describe_node(n)));
        return;
      }
      w.newer_than_trigger = v.get<bool>();
    }
    stage.wait = std::move(w);
  }

  void load_snapshots(Stage& stage, const YAML::Node& node, const std::string& stage_where) {
    const std::string where = stage_where + ": snapshots";
    if (!node.IsSequence()) {
      error(node, fmt::format("{}: expected a list of {{id, probe, value, expect}}, found {}",
                              where, describe_node(node)));
      return;
    }
    for (const auto& item : node) {
      if (!item.IsMap()) {
        error(item, fmt::format("{}: a snapshot must be a mapping, found {}", where,
                                describe_node(item)));
        continue;
      }
      auto id = get_string(item, "id", where, true);
      if (!id) continue;
      const std::string w = fmt::format("snapshot '{}.{}'", stage.id, *id);
      if (!valid_id(*id)) {
        error(item["id"],
              fmt::format("snapshot id '{}' may only hold letters, digits, '_' and '-'", *id));
        continue;
      }
      if (*id == "trigger" || *id == "wait" || *id == "skip_if") {
        error(item["id"],
              fmt::format("snapshot id '{}' is the id of a stage row; choose another", *id));
        continue;
      }
      check_keys(item, {"id", "probe", "value", "expect", "timeout", "interval", "description"}, w);
      YAML::Node probe = item["probe"];
      if (!probe || !probe.IsMap()) {
        error(probe ? probe : YAML::Node(item),
              fmt::format("{}: 'probe' must be a check as a mapping {{type: ..., params...}}", w));
        continue;
      }
      if (probe["id"]) {
        error(probe["id"], fmt::format("{}: the probe takes the snapshot's id; remove 'id'", w));
        continue;
      }
      Snapshot snap;
      snap.id = fmt::format("{}.{}", stage.id, *id);
      snap.mark = mark_of(item, file_);
      Stage tmp;
      tmp.id = stage.id;
      std::size_t errors_before = errors_.size();
      load_check(tmp, probe, *id);
      if (errors_.size() != errors_before || tmp.checks.size() != 1) continue;
      tmp.checks.front().description = get_string(item, "description", w, false).value_or("");
      snap.probe = std::make_shared<const StageCheck>(std::move(tmp.checks.front()));
      auto value = get_string(item, "value", w, true);
      if (!value) continue;
      auto path = JsonPath::parse(*value);
      if (!path) {
        error(item["value"], fmt::format("{}: value: {}", w, path.error().message));
        continue;
      }
      snap.value = std::move(*path);
      YAML::Node expect = item["expect"];
      if (!expect) {
        error(item, fmt::format("{}: missing required key 'expect' (a condition on before, after "
                                "and delta, e.g. \"delta >= 1\")",
                                w));
        continue;
      }
      auto cond = parse_condition(expect, w + ": expect");
      if (!cond) continue;
      snap.expect = std::move(*cond);
      if (YAML::Node d = item["timeout"]) {
        auto v = parse_duration(d, w + ": timeout");
        if (!v) continue;
        snap.timeout = *v;
      }
      if (YAML::Node d = item["interval"]) {
        auto v = parse_duration(d, w + ": interval");
        if (!v) continue;
        snap.interval = *v;
      }
      for (const auto& s : stage.snapshots) {
        if (s.id == snap.id) error(item["id"], fmt::format("snapshot id '{}' is used twice", *id));
      }
      stage.snapshots.push_back(std::move(snap));
    }
  }

  void load_on_failure(const YAML::Node& node) {
    const char* where = "on_failure";
    if (!node.IsMap()) {
      error(node, fmt::format("{}: expected {{write_marker: {{path, fields}}}}, found {}", where,
                              describe_node(node)));
      return;
    }
    check_keys(node, {"write_marker"}, where);
    YAML::Node wm = node["write_marker"];
    if (!wm) return;
    if (!wm.IsMap()) {
      error(wm, fmt::format("on_failure.write_marker: expected a mapping with path and fields, "
                            "found {}",
                            describe_node(wm)));
      return;
    }
    check_keys(wm, {"path", "fields"}, "on_failure.write_marker");
    YAML::Node path = wm["path"];
    if (!path) {
      error(wm, "on_failure.write_marker: missing required key 'path'");
      return;
    }
    auto t = parse_template(path, "on_failure.write_marker");
    if (!t || !check_template(*t, path, "on_failure.write_marker")) return;
    for (const auto& part : t->parts()) {
      if (part.kind == PathTemplate::Part::Kind::artifact_field) {
        error(path,
              "on_failure.write_marker: the marker path may use variables only, not "
              "artifact fields");
        return;
      }
    }
    FailureMarker marker;
    marker.path = std::move(*t);
    marker.mark = mark_of(wm, file_);
    marker.fields = nlohmann::json::object();
    if (YAML::Node fields = wm["fields"]) {
      if (!fields.IsMap()) {
        error(fields, fmt::format("on_failure.write_marker: fields must be a mapping, found {}",
                                  describe_node(fields)));
        return;
      }
      for (const auto& kv : fields) {
        const std::string key = kv.first.Scalar();
        if (key == "status" || key == "timestamp" || key == "error" || key == "spec" ||
            key == "failed_checks") {
          error(kv.first, fmt::format("on_failure.write_marker: field '{}' is written by "
                                      "stagecheck itself",
                                      key));
          continue;
        }
        if (auto name = whole_var_reference(kv.second)) {
          if (spec_.find_var(*name) == nullptr) {
            error(kv.second, fmt::format("on_failure.write_marker: field '{}' uses undeclared "
                                         "variable '{}'",
                                         key, *name));
            continue;
          }
          marker.fields[key] = spec_.values.contains(*name) ? spec_.values[*name] : nullptr;
        } else if (kv.second.IsScalar()) {
          marker.fields[key] = scalar_to_json(kv.second);
        } else {
          error(kv.second, fmt::format("on_failure.write_marker: field '{}' must be a scalar or "
                                       "a $variable",
                                       key));
        }
      }
    }
    spec_.on_failure = std::move(marker);
  }

  // `$name` or `${name}` as the whole (plain) value of a parameter.
  static std::optional<std::string> whole_var_reference(const YAML::Node& node) {
    if (!detail::is_plain_scalar(node)) return std::nullopt;
    const std::string& t = node.Scalar();
    std::string name;
    if (t.size() > 3 && t.rfind("${", 0) == 0 && t.back() == '}') {
      name = t.substr(2, t.size() - 3);
    } else if (t.size() > 1 && t.front() == '$' && t[1] != '{') {
      name = t.substr(1);
    } else {
      return std::nullopt;
    }
    if (!valid_identifier(name)) return std::nullopt;
    return name;
  }

  // Parameters whose value may come whole from a variable (paths and artifacts are templates,
  // conditions are expressions, local_path names the variable itself).
  static bool takes_var_value(ParamType t) {
    return t == ParamType::string || t == ParamType::integer || t == ParamType::number ||
           t == ParamType::boolean || t == ParamType::string_list || t == ParamType::any;
  }

  void convert_var_param(const ParamSpec& ps, const std::string& name, const YAML::Node& node,
                         CheckConfig& config, const std::string& where) {
    const VarDecl* decl = spec_.find_var(name);
    if (decl == nullptr) {
      error(node, fmt::format("{}: uses undeclared variable '{}'", where, name));
      return;
    }
    const nlohmann::json& value =
        spec_.values.contains(name) ? spec_.values[name] : nlohmann::json();
    auto mismatch = [&](std::string_view what) {
      error(node, fmt::format("{}: variable '{}' (type {}) cannot give {}", where, name,
                              to_string(decl->type), what));
    };
    bool ok = false;
    switch (ps.type) {
      case ParamType::string:
        ok = value.is_string() && decl->type != VarType::local_path;
        if (ok && !ps.choices.empty() &&
            std::find(ps.choices.begin(), ps.choices.end(), value.get<std::string>()) ==
                ps.choices.end()) {
          error(node, fmt::format("{}: variable '{}' = \"{}\" is not one of {}", where, name,
                                  value.get<std::string>(), join(ps.choices)));
          return;
        }
        if (!ok) return mismatch("a string");
        break;
      case ParamType::integer:
        ok = value.is_number_integer();
        if (!ok) return mismatch("an integer");
        break;
      case ParamType::number:
        ok = value.is_number();
        if (!ok) return mismatch("a number");
        break;
      case ParamType::boolean:
        ok = value.is_boolean();
        if (!ok) return mismatch("true or false");
        break;
      case ParamType::string_list:
        ok = value.is_array();
        if (!ok) return mismatch("a list of strings");
        break;
      default:
        ok = !value.is_null();
        if (!ok) return mismatch("a value (it has none)");
        break;
    }
    if (value.is_null()) return mismatch("a value (it has none)");
    config.set_value(ps.name, value, mark_of(node, file_), true);
  }

  std::string file_;
  const SpecOptions& options_;
  Spec spec_;
  std::vector<std::string> errors_;
  struct DriftRef {
    std::string check;   // the drift check's id
    std::string metric;  // the id it measures
    SourceMark mark;     // where `metric` was written
  };
  std::vector<DriftRef> drift_refs_;
  std::string last_conversion_error_;
};

}  // namespace

Result<Spec> load_spec_string(std::string_view text, std::string_view source_name,
                              const SpecOptions& options) {
  try {
    Loader loader(std::string(source_name), options);
    return loader.load(text);
  } catch (const std::exception& e) {
    return make_error(Errc::spec_error, fmt::format("{}: {}", source_name, e.what()));
  }
}

Result<Spec> load_spec_file(const std::filesystem::path& path, const SpecOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(Errc::spec_error, fmt::format("{}: cannot read the spec: {}", path.string(),
                                                    std::strerror(errno)));
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return make_error(Errc::spec_error,
                      fmt::format("{}: is a folder, not a spec file", path.string()));
  }
  constexpr std::uint64_t kMaxSpecBytes = 16ull << 20;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxSpecBytes) {
    return make_error(Errc::spec_error, fmt::format("{}: {} bytes is too large for a spec (max {})",
                                                    path.string(), size, kMaxSpecBytes));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return load_spec_string(buf.str(), path.string(), options);
}

}  // namespace stagecheck
