#include "stagecheck/artifact.hpp"

#include <exception>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace stagecheck {

Artifact::Artifact(std::string name, std::string path, Format format, const Store& store,
                   LoadLimits limits)
    : name_(std::move(name)),
      path_(std::move(path)),
      format_(format),
      store_(&store),
      limits_(limits) {}

Result<ObjectInfo> Artifact::stat() const { return store_->stat(path_); }

Result<bool> Artifact::exists() const { return store_->exists(path_); }

Result<std::string> Artifact::bytes() const { return store_->read(path_, limits_.max_bytes); }

Result<nlohmann::json> Artifact::load() const { return load_as(format_); }

Result<nlohmann::json> Artifact::load_as(Format format) const {
  if (format == Format::bytes) {
    // Checked before reading: raw bytes have no JSON form, whatever the file holds.
    return make_error(Errc::invalid_argument,
                      fmt::format("artifact '{}' ('{}'): format 'bytes' cannot be loaded as JSON; "
                                  "use format json, jsonl or yaml",
                                  name_, path_));
  }
  Result<std::string> data = bytes();
  if (!data) return std::move(data).error();
  switch (format) {
    case Format::json:
      return parse_json(*data, path_, limits_);
    case Format::jsonl:
      return parse_json_lines(*data, path_, limits_);
    case Format::yaml:
      return parse_yaml(*data, path_, limits_);
    case Format::bytes:
      break;
  }
  return make_error(Errc::internal, fmt::format("artifact '{}': unknown format {}", name_,
                                                static_cast<int>(format)));
}

}  // namespace stagecheck
