#include "stagecheck/path_template.hpp"

#include <fmt/format.h>

#include "stagecheck/condition.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {
namespace {

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

bool valid_name(std::string_view s) {
  if (s.empty() || !is_name_start(s.front())) return false;
  for (char c : s) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

// A substituted value must stay one path segment unless the variable is a store_path.
Result<std::string> segment_value(const nlohmann::json& value, bool multi_segment,
                                  std::string_view what, std::string_view tmpl) {
  std::string text;
  if (value.is_string()) {
    text = value.get<std::string>();
  } else if (value.is_number_integer()) {
    text = value.dump();
  } else {
    return make_error(Errc::type_mismatch,
                      fmt::format("path '{}': {} must be a string or an integer, found {} {}", tmpl,
                                  what, value.type_name(), value.dump()));
  }
  if (text.empty()) {
    return make_error(Errc::invalid_argument, fmt::format("path '{}': {} is empty", tmpl, what));
  }
  if (multi_segment) {
    if (auto ok = validate_store_path(text); !ok) {
      return make_error(ok.error().code,
                        fmt::format("path '{}': {} = \"{}\" is not a safe relative path: {}", tmpl,
                                    what, text, ok.error().message));
    }
    return text;
  }
  if (text == "." || text == ".." || text.find('/') != std::string::npos ||
      text.find('\\') != std::string::npos || text.find('\0') != std::string::npos) {
    return make_error(Errc::out_of_root,
                      fmt::format("path '{}': {} = \"{}\" is not a single path segment "
                                  "(no '/', '\\', '.' or '..')",
                                  tmpl, what, text));
  }
  return text;
}

}  // namespace

Result<PathTemplate> PathTemplate::parse(std::string_view text) {
  PathTemplate t;
  t.text_ = std::string(text);
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) {
      t.parts_.push_back(Part{Part::Kind::literal, std::move(literal), {}});
      literal.clear();
    }
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$') {
      literal.push_back(c);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      literal.push_back('$');
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{') {
      return make_error(Errc::spec_error,
                        fmt::format("path '{}': column {}: '$' must start '${{name}}', "
                                    "'${{@artifact.field}}' or be doubled as '$$'",
                                    text, i + 1));
    }
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return make_error(Errc::spec_error,
                        fmt::format("path '{}': column {}: unclosed '${{'", text, i + 1));
    }
    std::string_view inner = text.substr(i + 2, close - i - 2);
    flush();
    if (!inner.empty() && inner.front() == '@') {
      inner.remove_prefix(1);
      auto dot = inner.find_first_of(".[");
      std::string_view name = inner.substr(0, dot);
      std::string_view field =
          dot == std::string_view::npos ? std::string_view{} : inner.substr(dot);
      if (!field.empty() && field.front() == '.') field.remove_prefix(1);
      if (!valid_name(name) || field.empty()) {
        return make_error(Errc::spec_error,
                          fmt::format("path '{}': column {}: expected '${{@artifact.field}}', "
                                      "found '${{@{}}}'",
                                      text, i + 1, inner));
      }
      if (auto p = JsonPath::parse(field); !p) {
        return make_error(Errc::spec_error,
                          fmt::format("path '{}': column {}: {}", text, i + 1, p.error().message));
      }
      t.parts_.push_back(Part{Part::Kind::artifact_field, std::string(name), std::string(field)});
    } else {
      if (!valid_name(inner)) {
        return make_error(Errc::spec_error,
                          fmt::format("path '{}': column {}: '{}' is not a variable name "
                                      "(letters, digits, '_')",
                                      text, i + 1, inner));
      }
      t.parts_.push_back(Part{Part::Kind::var, std::string(inner), {}});
    }
    i = close;
  }
  flush();
  return t;
}

bool PathTemplate::is_literal() const noexcept {
  for (const auto& p : parts_) {
    if (p.kind != Part::Kind::literal) return false;
  }
  return true;
}

Result<std::string> PathTemplate::expand(const TemplateEnv& env) const {
  std::string out;
  for (const auto& part : parts_) {
    switch (part.kind) {
      case Part::Kind::literal:
        out += part.text;
        break;
      case Part::Kind::var: {
        bool multi = false;
        const nlohmann::json* value = env.var ? env.var(part.text, multi) : nullptr;
        if (value == nullptr || value->is_null()) {
          return make_error(Errc::invalid_argument,
                            fmt::format("path '{}': variable '{}' has no value", text_, part.text));
        }
        auto seg = segment_value(*value, multi, fmt::format("variable '{}'", part.text), text_);
        if (!seg) return std::move(seg).error();
        out += *seg;
        break;
      }
      case Part::Kind::artifact_field: {
        if (!env.artifact) {
          return make_error(
              Errc::invalid_argument,
              fmt::format("path '{}': artifact fields are not available here", text_));
        }
        auto doc = env.artifact(part.text);
        if (!doc) {
          const Error& e = doc.error();
          return make_error(e.code, fmt::format("path '{}' cannot be built: artifact '{}': {}",
                                                text_, part.text, e.message));
        }
        auto path = JsonPath::parse(part.field);
        if (!path) return std::move(path).error();
        auto value = path->find(**doc);
        if (!value) {
          return make_error(value.error().code,
                            fmt::format("path '{}' cannot be built: artifact '{}': {}", text_,
                                        part.text, value.error().message));
        }
        auto seg = segment_value(
            **value, false, fmt::format("field {} of artifact '{}'", part.field, part.text), text_);
        if (!seg) return std::move(seg).error();
        out += *seg;
        break;
      }
    }
  }
  if (auto ok = validate_store_path(out); !ok) {
    return make_error(ok.error().code,
                      fmt::format("path '{}' expands to '{}': {}", text_, out, ok.error().message));
  }
  return out;
}

}  // namespace stagecheck
