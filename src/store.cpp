#include "stagecheck/store.hpp"

#include "text_util.hpp"

#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace stagecheck {

namespace {

using detail::printable;

Error path_error(Errc code, std::string_view path, std::string_view reason) {
  return make_error(code, fmt::format("invalid store path '{}': {}", printable(path), reason));
}

}  // namespace

Result<bool> Store::exists(std::string_view path) const {
  Result<ObjectInfo> info = stat(path);
  if (info.ok()) return true;
  // Only a definite "absent" is false. Anything else (a folder, a link out of the root, a
  // permission problem) means we could not establish what is there, so it stays an error.
  if (info.error().code == Errc::not_found) return false;
  return std::move(info).error();
}

Result<void> Store::list_level(std::string_view folder,
                               const std::function<bool(const ListEntry&)>& visit) const {
  std::string base;
  if (!folder.empty()) {
    if (Result<void> valid = validate_store_path(folder); !valid) return std::move(valid).error();
    base = std::string(folder) + "/";
  }
  // list() emits full paths in order, so a sub-folder's paths are contiguous: report the
  // folder at its first path and skip the rest of them.
  std::string current_folder;
  bool in_folder = false;
  ListEntry entry;
  return list(base, [&](const ObjectInfo& object) {
    const std::string_view rest = std::string_view(object.path).substr(base.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      entry.name.assign(rest);
      entry.path = object.path;
      entry.is_folder = false;
      entry.info = object;
    } else {
      const std::string_view name = rest.substr(0, slash);
      if (in_folder && name == current_folder) return true;
      current_folder.assign(name);
      in_folder = true;
      entry.name.assign(name);
      entry.path = base + entry.name;
      entry.is_folder = true;
      entry.info = ObjectInfo{};
      entry.info.path = entry.path;
    }
    return visit(entry);
  });
}

Result<void> validate_store_path(std::string_view path) {
  if (path.empty()) return path_error(Errc::invalid_argument, path, "the path is empty");
  // NUL first: nothing after it would reach the operating system anyway.
  if (path.find('\0') != std::string_view::npos) {
    return path_error(Errc::invalid_argument, path, "contains a NUL byte");
  }
  if (path.front() == '/') {
    return path_error(Errc::out_of_root, path,
                      "absolute paths are not allowed; paths are relative to the store root");
  }
  if (path.find('\\') != std::string_view::npos) {
    return path_error(Errc::invalid_argument, path,
                      "contains a backslash; store paths are '/'-separated");
  }
  // Escapes are checked over the whole path before the cosmetic problems, so that "a//../b"
  // reports the more serious out_of_root.
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment == "..") {
      return path_error(Errc::out_of_root, path, "'..' segments are not allowed");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) {
      return path_error(
          Errc::invalid_argument, path,
          slash == std::string_view::npos ? "ends with '/'" : "contains an empty segment ('//')");
    }
    if (segment == ".") {
      return path_error(Errc::invalid_argument, path, "'.' segments are not allowed");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

}  // namespace stagecheck
