// `env_flags`: required values for a job's environment flags (e.g. the runbook's "Required
// Production Flags": no mock capture, no gate bypass, MIN_QUALITY_SCORE >= 0.85).
//
// The values come from exactly one source: an operator-given env file (KEY=VALUE, YAML or JSON),
// an environment recorded inside an artifact (e.g. an import manifest's
// provenance.config_snapshot.env), or the current process environment when an embedding job
// opted in. With no source the check warns "not verified"; it never passes without evidence.

// GCC 12 with -fsanitize=address reports -Wmaybe-uninitialized false positives inside
// libstdc++'s <regex>/<functional>, which would break the -Werror sanitizer build (as in the
// core's condition.cpp). Diagnostic state is looked up by source location, so ignoring the
// warning while the headers are read silences it for header code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <stagecheck/local_store.hpp>
#include <stagecheck/plugin.hpp>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace {

using namespace stagecheck;
using Json = nlohmann::json;

constexpr std::string_view kNoSourceMessage =
    "flags not verified: no env_file, artifact or process environment given";
/// Longest value shown in a message; the observed JSON carries the whole value.
constexpr std::size_t kMaxShown = 80;
/// Longest value a `matches` requirement is evaluated on: bounds matching time (environment
/// values are short; a longer one fails rather than stalls the run).
constexpr std::size_t kMaxRegexInput = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Value parsing: one strict parser for booleans and one for numbers, shared by every source.

/// ASCII case-insensitive equality (environment values are ASCII in practice; anything else
/// simply does not match).
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

/// The strict boolean reading of a flag value: a JSON boolean; the strings "true"/"false"
/// (any case, since Python writes "True") and "1"/"0"; the JSON integers 1 and 0 (what a YAML
/// env file holds for `FLAG: 1`). Everything else ("yes", "on", "", "2", 1.0, null) is not a
/// boolean, so a boolean requirement fails on it rather than guessing.
std::optional<bool> parse_bool(const Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) {
    if (v == Json(1)) return true;
    if (v == Json(0)) return false;
    return std::nullopt;
  }
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (iequals(s, "true") || s == "1") return true;
  if (iequals(s, "false") || s == "0") return false;
  return std::nullopt;
}

/// The strict numeric reading of a flag value: a finite JSON number, or a string that is
/// entirely one decimal number (std::from_chars: no spaces, no '+', no hex, no "inf"/"nan").
std::optional<double> parse_number(const Json& v) {
  if (v.is_number()) {
    double d = v.get<double>();
    return std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
  }
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) {
    return std::nullopt;
  }
  return d;
}

/// A flag whose value must never appear in a report (SECRET, TOKEN, KEY or PASSWORD in its
/// name, any case).
bool is_secret_name(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  for (std::string_view word : {"SECRET", "TOKEN", "KEY", "PASSWORD"}) {
    if (upper.find(word) != std::string::npos) return true;
  }
  return false;
}

/// A value as messages show it: JSON text, so the string "false" (quoted) and the boolean
/// false (bare) look different; long values are cut.
std::string shown(const Json& v) {
  std::string text = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

bool valid_flag_name(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

bool is_literal(const Json& v) { return v.is_boolean() || v.is_string() || v.is_number(); }

// ---------------------------------------------------------------------------------------------
// Requirements.

/// What one flag must satisfy, parsed and validated at load time.
struct Requirement {
  enum class Kind { equals, one_of, unset, range, matches };
  Kind kind = Kind::equals;
  std::vector<Json> literals;  ///< equals: one; one_of: one or more (boolean, string, number).
  std::optional<double> min;
  std::optional<double> max;
  std::string pattern;
  std::regex regex;
  Json written;  ///< As the spec wrote it, for `expected`.
};

struct Flag {
  std::string name;
  Requirement requirement;
};

std::string describe_literal(const Json& literal) {
  if (literal.is_boolean()) return fmt::format("the boolean {}", literal.get<bool>());
  if (literal.is_string()) return fmt::format("the string {}", shown(literal));
  return fmt::format("the number {}", shown(literal));
}

std::string describe(const Requirement& r) {
  switch (r.kind) {
    case Requirement::Kind::equals:
      return describe_literal(r.literals.front());
    case Requirement::Kind::one_of: {
      std::string out = "one of [";
      for (std::size_t i = 0; i < r.literals.size(); ++i) {
        out += (i ? ", " : "") + shown(r.literals[i]);
      }
      return out + "]";
    }
    case Requirement::Kind::unset:
      return "not set";
    case Requirement::Kind::range:
      if (r.min && r.max) return fmt::format("a number between {} and {}", *r.min, *r.max);
      if (r.min) return fmt::format("a number >= {}", *r.min);
      return fmt::format("a number <= {}", *r.max);
    case Requirement::Kind::matches:
      return fmt::format("a string matching {}", Json(r.pattern).dump());
  }
  return "?";
}

/// Why `found` does not equal `literal` (nullopt: it does). `display` is how the value may be
/// shown (redacted for secret flags).
std::optional<std::string> literal_mismatch(const Json& literal, const Json& found,
                                            const std::string& display) {
  if (literal.is_boolean()) {
    auto b = parse_bool(found);
    if (!b) {
      return fmt::format("expected a boolean (true/false/1/0), found {}", display);
    }
    if (*b != literal.get<bool>()) {
      return fmt::format("expected {}, found {}", literal.get<bool>(), display);
    }
    return std::nullopt;
  }
  if (literal.is_string()) {
    if (!found.is_string()) {
      return fmt::format("expected the string {}, found {} ({})", shown(literal), display,
                         found.type_name());
    }
    if (found != literal) return fmt::format("expected {}, found {}", shown(literal), display);
    return std::nullopt;
  }
  auto d = parse_number(found);
  if (!d)
    return fmt::format("expected the number {}, found {} (not a number)", shown(literal), display);
  if (*d != literal.get<double>()) {
    return fmt::format("expected {}, found {}", shown(literal), display);
  }
  return std::nullopt;
}

/// Why `found` (nullptr: not set) violates `r`; nullopt if it holds.
std::optional<std::string> violation(const Requirement& r, const Json* found,
                                     const std::string& display) {
  if (r.kind == Requirement::Kind::unset) {
    if (found == nullptr) return std::nullopt;
    return fmt::format("must not be set, found {}", display);
  }
  if (found == nullptr) return fmt::format("not set, expected {}", describe(r));
  if (found->is_object() || found->is_array()) {
    return fmt::format("expected {}, found {} (a flag holds one value)", describe(r),
                       found->type_name());
  }
  switch (r.kind) {
    case Requirement::Kind::equals:
      return literal_mismatch(r.literals.front(), *found, display);
    case Requirement::Kind::one_of:
      for (const Json& literal : r.literals) {
        if (!literal_mismatch(literal, *found, display)) return std::nullopt;
      }
      return fmt::format("expected {}, found {}", describe(r), display);
    case Requirement::Kind::range: {
      auto d = parse_number(*found);
      if (!d)
        return fmt::format("expected {}, found {} (not a finite number)", describe(r), display);
      if ((r.min && *d < *r.min) || (r.max && *d > *r.max)) {
        return fmt::format("expected {}, found {}", describe(r), display);
      }
      return std::nullopt;
    }
    case Requirement::Kind::matches: {
      if (!found->is_string()) {
        return fmt::format("expected {}, found {} ({})", describe(r), display, found->type_name());
      }
      if (found->get_ref<const std::string&>().size() > kMaxRegexInput) {
        return fmt::format("a value of {} bytes is too long to match against {}",
                           found->get_ref<const std::string&>().size(), Json(r.pattern).dump());
      }
      bool ok = false;
      try {
        ok = std::regex_match(found->get_ref<const std::string&>(), r.regex);
      } catch (const std::regex_error& e) {
        // A pathological pattern on a long value: not evaluated is not a pass.
        return fmt::format("could not match {} against {}: {}", display, Json(r.pattern).dump(),
                           e.what());
      }
      if (!ok) return fmt::format("expected {}, found {}", describe(r), display);
      return std::nullopt;
    }
    case Requirement::Kind::unset:
      break;
  }
  return std::nullopt;
}

/// Parses one flag's requirement from the spec; errors name the flag.
Result<Requirement> parse_requirement(const CheckConfig& config, const std::string& name,
                                      const Json& spec) {
  auto err = [&](const std::string& message) {
    return config.error("flags", fmt::format("{}: {}", name, message));
  };
  Requirement r;
  r.written = spec;
  if (is_literal(spec)) {
    if (spec.is_number() && !std::isfinite(spec.get<double>()))
      return err("NaN and infinity are not values");
    r.kind = Requirement::Kind::equals;
    r.literals = {spec};
    return r;
  }
  if (spec.is_null()) {
    return err(
        "no requirement given (write a value, or a mapping with equals, one_of, unset, min, max "
        "or matches)");
  }
  if (spec.is_array()) return err("a list is not a requirement; write `one_of: [...]`");
  if (spec.empty()) {
    return err("an empty mapping; give one of equals, one_of, unset, min/max or matches");
  }
  std::vector<std::string> kinds;
  for (const auto& [key, value] : spec.items()) {
    if (key == "equals" || key == "one_of" || key == "unset" || key == "matches") {
      kinds.push_back(key);
    } else if (key == "min" || key == "max") {
      if (std::find(kinds.begin(), kinds.end(), "min/max") == kinds.end())
        kinds.push_back("min/max");
    } else {
      return err(fmt::format(
          "unknown requirement key '{}' (expected equals, one_of, unset, min, max or matches)",
          key));
    }
  }
  if (kinds.size() > 1) {
    return err(fmt::format("give one of equals, one_of, unset, min/max or matches, not {}",
                           fmt::join(kinds, " and ")));
  }
  const std::string& kind = kinds.front();
  if (kind == "equals") {
    const Json& v = spec.at("equals");
    if (!is_literal(v)) {
      return err(
          fmt::format("equals: expected a boolean, string or number, found {}", v.type_name()));
    }
    if (v.is_number() && !std::isfinite(v.get<double>()))
      return err("equals: NaN and infinity are not values");
    r.kind = Requirement::Kind::equals;
    r.literals = {v};
  } else if (kind == "one_of") {
    const Json& v = spec.at("one_of");
    if (!v.is_array() || v.empty()) {
      return err(fmt::format("one_of: expected a non-empty list, found {}", shown(v)));
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!is_literal(v[i])) {
        return err(fmt::format("one_of[{}]: expected a boolean, string or number, found {}", i,
                               v[i].type_name()));
      }
    }
    r.kind = Requirement::Kind::one_of;
    r.literals.assign(v.begin(), v.end());
  } else if (kind == "unset") {
    const Json& v = spec.at("unset");
    if (!v.is_boolean()) {
      return err(fmt::format("unset: expected the boolean true, found {}", shown(v)));
    }
    if (!v.get<bool>()) {
      return err("unset: false requires nothing; write unset: true, or another requirement");
    }
    r.kind = Requirement::Kind::unset;
  } else if (kind == "matches") {
    const Json& v = spec.at("matches");
    if (!v.is_string())
      return err(fmt::format("matches: expected a regex string, found {}", v.type_name()));
    r.kind = Requirement::Kind::matches;
    r.pattern = v.get<std::string>();
    try {
      auto flags = std::regex::ECMAScript;
#if defined(__GLIBCXX__)
      // Thompson-style matching, as the condition language's `matches`: linear stack and
      // polynomial time whatever the pattern and the value (back-references are refused).
      flags |= std::regex_constants::__polynomial;
#endif
      r.regex = std::regex(r.pattern, flags);
    } catch (const std::regex_error& e) {
      return err(fmt::format("matches: invalid regex {}: {}", v.dump(), e.what()));
    }
  } else {
    r.kind = Requirement::Kind::range;
    for (const char* bound : {"min", "max"}) {
      if (!spec.contains(bound)) continue;
      const Json& v = spec.at(bound);
      if (!v.is_number() || !std::isfinite(v.get<double>())) {
        // NaN would print as JSON null, so name it.
        return err(fmt::format("{}: expected a finite number, found {}", bound,
                               v.is_number() ? "NaN or infinity" : shown(v)));
      }
      (std::string_view(bound) == "min" ? r.min : r.max) = v.get<double>();
    }
    if (r.min && r.max && *r.min > *r.max) {
      return err(fmt::format("min {} is above max {}", *r.min, *r.max));
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Sources.

/// The environment a run found: an object NAME -> value, and where it came from.
struct Env {
  Json values = Json::object();
  const Json* object = nullptr;  ///< Points at `values`, or into a cached artifact document.
  std::string where;             ///< "env file '/etc/job.env'", ...
  Json source;                   ///< For `observed`.
};

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

/// Parses KEY=VALUE lines: `#` comments and blank lines are skipped, `export ` is allowed, and
/// a value may be wrapped in single or double quotes (taken literally, no escapes). An unquoted
/// value ends at a `#` that follows whitespace, as in a shell. A line that is none of these, a
/// quote inside an unquoted value, or a name set twice fails, naming the line number.
Result<Json> parse_env_lines(std::string_view text, const std::string& what) {
  Json out = Json::object();
  std::map<std::string, std::size_t, std::less<>> seen;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  auto bad = [&](const std::string& why) {
    return make_error(Errc::malformed, fmt::format("{} line {}: {}", what, line_no, why));
  };
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // editors' UTF-8 BOM
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    if (line.size() > 7 && line.substr(0, 6) == "export" && is_space(line[6])) {
      line = trim(line.substr(7));
    }
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return bad("expected NAME=VALUE (no '=' found)");
    std::string name(trim(line.substr(0, eq)));
    if (!valid_flag_name(name)) {
      return bad(
          fmt::format("'{}' is not a variable name (letters, digits, _; not starting "
                      "with a digit)",
                      name.size() > 40 ? name.substr(0, 40) + "..." : name));
    }
    std::string_view rest = line.substr(eq + 1);
    std::size_t lead = 0;
    while (lead < rest.size() && is_space(rest[lead])) ++lead;
    std::string value;
    if (lead < rest.size() && (rest[lead] == '"' || rest[lead] == '\'')) {
      char quote = rest[lead];
      std::size_t close = rest.find(quote, lead + 1);
      if (close == std::string_view::npos)
        return bad(fmt::format("{}: unterminated {} quote", name, quote));
      std::string_view after = trim(rest.substr(close + 1));
      if (!after.empty() && after.front() != '#') {
        return bad(fmt::format("{}: unexpected text after the closing quote", name));
      }
      value = std::string(rest.substr(lead + 1, close - lead - 1));
    } else {
      std::size_t cut = rest.size();
      for (std::size_t i = 1; i < rest.size(); ++i) {
        if (rest[i] == '#' && is_space(rest[i - 1])) {
          cut = i;
          break;
        }
      }
      std::string_view v = trim(rest.substr(0, cut));
      if (v.find_first_of("\"'") != std::string_view::npos) {
        return bad(fmt::format("{}: a quote inside an unquoted value", name));
      }
      value = std::string(v);
    }
    if (auto it = seen.find(name); it != seen.end()) {
      return bad(fmt::format("{} is set again (first set on line {})", name, it->second));
    }
    seen.emplace(name, line_no);
    out[name] = std::move(value);
  }
  return out;
}

std::string lower_extension(const std::string& path) {
  std::size_t slash = path.rfind('/');
  std::size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return ext;
}

// ---------------------------------------------------------------------------------------------
// The check.

class EnvFlags final : public Check {
 public:
  EnvFlags(std::vector<Flag> flags, std::string env_var, std::optional<ArtifactRef> artifact,
           std::optional<JsonPath> field, bool process)
      : flags_(std::move(flags)),
        env_var_(std::move(env_var)),
        artifact_(std::move(artifact)),
        field_(std::move(field)),
        process_(process) {}

  // An exception escaping evaluate() becomes an `error` result naming this check: the runner
  // catches it for every check, plugins included.
  CheckOutcome run(CheckContext& ctx) const override { return evaluate(ctx); }

 private:
  /// Either the environment found, or the outcome that ends the check before any flag is read.
  struct Loaded {
    std::optional<Env> env;
    CheckOutcome outcome;
  };

  Json expected_json() const {
    Json expected = Json::object();
    for (const Flag& f : flags_) expected[f.name] = f.requirement.written;
    return expected;
  }

  CheckOutcome not_verified(std::string message) const {
    CheckOutcome out = CheckOutcome::make(Status::warn, std::move(message));
    out.expected = expected_json();
    out.observed = {{"source", nullptr}};
    return out;
  }

  Loaded load(CheckContext& ctx) const {
    Loaded l;
    if (process_) {
      if (!ctx.process_env_allowed()) {
        l.outcome = CheckOutcome::error(
            "reading the process environment is only allowed when embedded (an embedding job sets "
            "RunOptions::allow_process_env; the driver's environment is not the pipeline's)");
        l.outcome.expected = expected_json();
        return l;
      }
      Env env;
      for (const Flag& f : flags_) {
        // getenv only: nothing in stagecheck calls setenv, and only flags named by the spec
        // are read, so the rest of the environment never reaches a report.
        if (const char* v = std::getenv(f.name.c_str())) env.values[f.name] = std::string(v);
      }
      env.where = "the process environment";
      env.source = {{"type", "process"}};
      l.env = std::move(env);
      return l;
    }
    if (artifact_) return load_artifact(ctx);
    if (env_var_.empty()) {
      l.outcome = not_verified(std::string(kNoSourceMessage));
      return l;
    }
    const Json* var = ctx.var(env_var_);
    if (var == nullptr || var->is_null() ||
        (var->is_string() && var->get_ref<const std::string&>().empty())) {
      l.outcome =
          not_verified(fmt::format("{} (variable '{}' is not set)", kNoSourceMessage, env_var_));
      return l;
    }
    if (!var->is_string()) {
      l.outcome = CheckOutcome::error(
          fmt::format("env_file: variable '{}' holds {}, expected a local path string", env_var_,
                      var->type_name()));
      return l;
    }
    const std::string path = var->get<std::string>();
    auto data = stagecheck::read_local_file(path, ctx.limits().max_bytes);
    if (!data) {
      l.outcome = CheckOutcome::from(data.error());
      l.outcome.observed = {{"source", {{"type", "env_file"}, {"path", path}}}};
      return l;
    }
    std::string ext = lower_extension(path);
    const std::string what = fmt::format("env file '{}'", path);
    Result<Json> parsed = ext == ".yaml" || ext == ".yml" ? parse_yaml(*data, what, ctx.limits())
                          : ext == ".json"                ? parse_json(*data, what, ctx.limits())
                                                          : parse_env_lines(*data, what);
    if (!parsed) {
      l.outcome = CheckOutcome::from(parsed.error());
      l.outcome.observed = {{"source", {{"type", "env_file"}, {"path", path}}}};
      return l;
    }
    if (!parsed->is_object()) {
      l.outcome = CheckOutcome::fail(fmt::format("{}: expected a mapping of NAME: value, found {}",
                                                 what, parsed->type_name()));
      l.outcome.observed = {{"source", {{"type", "env_file"}, {"path", path}}}};
      return l;
    }
    Env env;
    env.values = std::move(*parsed);
    env.where = what;
    env.source = {{"type", "env_file"},
                  {"path", path},
                  {"format", ext == ".yaml" || ext == ".yml" ? "yaml"
                             : ext == ".json"                ? "json"
                                                             : "env"}};
    l.env = std::move(env);
    return l;
  }

  Loaded load_artifact(CheckContext& ctx) const {
    Loaded l;
    auto art = ctx.artifact(*artifact_);
    if (!art) {
      l.outcome = CheckOutcome::from(art.error());
      return l;
    }
    const std::string path = art->path();
    auto doc = ctx.load(*artifact_);
    if (!doc) {
      if (doc.error().code == Errc::not_found) {
        if (artifact_->optional) {
          l.outcome =
              not_verified(fmt::format("flags not verified: optional artifact '{}' ({}) is absent",
                                       artifact_->label(), path));
          return l;
        }
        l.outcome = CheckOutcome::fail(fmt::format("'{}' is missing", path));
      } else {
        l.outcome = CheckOutcome::from(doc.error());
      }
      l.outcome.observed = {{"source", {{"type", "artifact"}, {"path", path}}}};
      l.outcome.expected = expected_json();
      return l;
    }
    const Json* target = doc->get();
    std::string field_text = field_ ? field_->text() : std::string("(the document)");
    if (field_) {
      auto found = field_->find(**doc);
      if (!found) {
        l.outcome = CheckOutcome::fail(
            fmt::format("'{}': {} (expected a mapping of environment variables at {})", path,
                        found.error().message, field_text));
        l.outcome.observed = {
            {"source", {{"type", "artifact"}, {"path", path}, {"field", field_text}}}};
        l.outcome.expected = expected_json();
        return l;
      }
      target = *found;
    }
    if (!target->is_object()) {
      l.outcome = CheckOutcome::fail(
          fmt::format("'{}': {}: expected a mapping of environment variables, found {}", path,
                      field_text, target->type_name()));
      l.outcome.observed = {
          {"source", {{"type", "artifact"}, {"path", path}, {"field", field_text}}}};
      l.outcome.expected = expected_json();
      return l;
    }
    Env env;
    env.object = target;
    env.where = field_ ? fmt::format("'{}' at {}", path, field_text) : fmt::format("'{}'", path);
    env.source = {{"type", "artifact"}, {"artifact", artifact_->label()}, {"path", path}};
    if (field_) env.source["field"] = field_text;
    l.env = std::move(env);
    return l;
  }

  CheckOutcome evaluate(CheckContext& ctx) const {
    Loaded loaded = load(ctx);
    if (!loaded.env) return std::move(loaded.outcome);
    Env& env = *loaded.env;
    const Json& values = env.object != nullptr ? *env.object : env.values;

    Json observed_flags = Json::object();
    Json not_set = Json::array();
    Json failures = Json::array();
    std::vector<std::string> lines;
    for (const Flag& f : flags_) {
      const bool secret = is_secret_name(f.name);
      auto it = values.find(f.name);
      const Json* found = it == values.end() ? nullptr : &*it;
      std::string display = found == nullptr ? "(not set)" : secret ? "***" : shown(*found);
      if (found == nullptr) {
        not_set.push_back(f.name);
      } else {
        observed_flags[f.name] = secret ? Json("***") : *found;
      }
      if (auto why = violation(f.requirement, found, display)) {
        lines.push_back(fmt::format("{}: {}", f.name, *why));
        failures.push_back({{"flag", f.name},
                            {"expected", describe(f.requirement)},
                            {"found", found == nullptr ? Json()
                                      : secret         ? Json("***")
                                                       : *found},
                            {"set", found != nullptr},
                            {"reason", *why}});
      }
    }
    CheckOutcome out;
    if (lines.empty()) {
      out = CheckOutcome::pass(fmt::format("all {} flag{} hold in {}", flags_.size(),
                                           flags_.size() == 1 ? "" : "s", env.where));
    } else {
      out = CheckOutcome::fail(fmt::format("{} of {} flag{} fail in {}: {}", lines.size(),
                                           flags_.size(), flags_.size() == 1 ? "" : "s", env.where,
                                           fmt::join(lines, "; ")));
    }
    out.observed = {{"source", env.source},
                    {"flags", std::move(observed_flags)},
                    {"not_set", std::move(not_set)}};
    out.expected = expected_json();
    if (!failures.empty()) out.details = {{"failures", std::move(failures)}};
    return out;
  }

  std::vector<Flag> flags_;
  std::string env_var_;  ///< The local_path variable naming the env file ("" if none).
  std::optional<ArtifactRef> artifact_;
  std::optional<JsonPath> field_;
  bool process_;
};

CheckInfo info() {
  CheckInfo i;
  i.type = "env_flags";
  i.category = "config";
  i.summary = "Environment flags have their required values (no mock modes, no gate bypass).";
  i.description =
      "Checks a job's environment flags against requirements, e.g. the runbook's required "
      "production flags. Exactly one source, or none: `env_file` (a local_path variable naming "
      "a KEY=VALUE file, or a .yaml/.yml/.json file holding a flat mapping), `artifact` (+ "
      "`field`, a JSON path to the recorded environment, e.g. provenance.config_snapshot.env), "
      "or `source: process` (only when an embedding job allowed it; otherwise `error`).\n"
      "Requirements per flag: a boolean (the flag must read as that boolean), a string (exact), "
      "a number (exact, numerically), or a mapping with one of `equals: V`, `one_of: [...]`, "
      "`unset: true`, `min`/`max` (inclusive), `matches: REGEX` (ECMAScript, whole value).\n"
      "Booleans are read strictly: true is \"true\" (any case) or \"1\", false is \"false\" (any "
      "case) or \"0\"; JSON/YAML booleans and the integers 1/0 also count; \"yes\", \"on\", \"\" "
      "and \"2\" do not. Numbers are the whole string as one finite decimal number. A string "
      "requirement needs a string value (a YAML env file's `FLAG: 1` is the number 1). A flag "
      "that is present at all, even empty, is set.\n"
      "Every flag is evaluated and every failure named. With no source the check is `warn` "
      "(\"flags not verified\"), never `pass`. Values of flags whose names contain SECRET, "
      "TOKEN, KEY or PASSWORD are shown as ***.";
  i.params = {
      {"flags",
       ParamType::object,
       true,
       nullptr,
       "NAME: requirement (a value, or {equals|one_of|unset|min/max|matches}).",
       {}},
      {"env_file",
       ParamType::local_path,
       false,
       nullptr,
       "A local_path variable ($var) naming an env file (KEY=VALUE, .yaml/.yml or .json); when "
       "the variable is unset the flags are not verified (warn).",
       {}},
      {"artifact",
       ParamType::artifact,
       false,
       nullptr,
       "An artifact holding the recorded environment (with `field`).",
       {}},
      {"field",
       ParamType::string,
       false,
       nullptr,
       "JSON path inside `artifact` to the environment mapping, e.g. "
       "provenance.config_snapshot.env (default: the whole document).",
       {}},
      {"source",
       ParamType::string,
       false,
       nullptr,
       "`process`: read this process's environment (embedded runs that allow it only).",
       {"process"}},
  };
  i.example =
      "- id: production_flags\n"
      "  type: env_flags\n"
      "  env_file: $job_env            # vars: {job_env: {type: local_path}}\n"
      "  flags:\n"
      "    DATA_QUALITY_LEVEL: production\n"
      "    REQUIRE_REAL_PHYSICS: true\n"
      "    ALLOW_MOCK_DATA: false\n"
      "    SENSOR_CAPTURE_MODE: isaac_sim\n"
      "    MIN_QUALITY_SCORE: {min: 0.85}\n"
      "    GENIESIM_VALIDATE_FRAMES: 1\n"
      "    BYPASS_QUALITY_GATES: {unset: true}\n"
      "    GENIESIM_MOCK_MODE: {unset: true}";
  return i;
}

Result<std::unique_ptr<Check>> make(const CheckConfig& config) {
  const Json& spec = config.get_json("flags");
  if (!spec.is_object()) return config.error("flags", "expected a mapping of NAME: requirement");
  if (spec.empty()) return config.error("flags", "no flags given; name at least one");
  std::vector<Flag> flags;
  for (const auto& [name, requirement] : spec.items()) {
    if (!valid_flag_name(name)) {
      return config.error("flags", fmt::format("'{}' is not an environment variable name "
                                               "(letters, digits, _; not starting with a digit)",
                                               name));
    }
    auto r = parse_requirement(config, name, requirement);
    if (!r) return std::move(r).error();
    flags.push_back({name, std::move(*r)});
  }

  std::vector<std::string> given;
  if (config.has("env_file")) given.push_back("env_file");
  if (config.get_artifact("artifact") != nullptr) given.push_back("artifact");
  if (config.has("source")) given.push_back("source");
  if (given.size() > 1) {
    return config.error(given[1], fmt::format("give one source (env_file, artifact or source: "
                                              "process), found {}",
                                              fmt::join(given, " and ")));
  }
  std::optional<ArtifactRef> artifact;
  if (const ArtifactRef* ref = config.get_artifact("artifact")) artifact = *ref;
  std::optional<JsonPath> field;
  if (config.has("field")) {
    if (!artifact)
      return config.error("field", "field needs `artifact` (the document it is read from)");
    auto parsed = JsonPath::parse(config.get_string("field"));
    if (!parsed) return config.error("field", parsed.error().message);
    field = std::move(*parsed);
  }
  bool process = config.has("source") && config.get_string("source") == "process";
  std::string env_var = config.has("env_file") ? config.get_string("env_file") : std::string();
  return std::unique_ptr<Check>(std::make_unique<EnvFlags>(
      std::move(flags), std::move(env_var), std::move(artifact), std::move(field), process));
}

void register_checks(PluginRegistrar& registrar) { registrar.add(info(), make); }

}  // namespace

STAGECHECK_PLUGIN("env_flags", "1.0.0", register_checks)
