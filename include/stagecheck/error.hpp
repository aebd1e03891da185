#pragma once
/// \file
/// Error values: expected failures travel as values, never as exceptions across public APIs.

#include <string>
#include <string_view>

#include "stagecheck/export.hpp"

namespace stagecheck {

/// What went wrong, in categories that decide a check's status (see status_for()).
enum class Errc {
  invalid_argument,   ///< A caller or spec supplied a bad value (a usage or spec error).
  not_found,          ///< The artifact or object does not exist.
  permission_denied,  ///< Exists but may not be read: "could not be evaluated", never "absent".
  out_of_root,        ///< The path escapes the store root (`..`, absolute, or a symlink out).
  not_a_file,         ///< The path names a directory or special file where a file was expected.
  too_large,          ///< Larger than the configured read cap.
  malformed,          ///< Could be read but does not parse, is truncated, nested too deep, ...
  type_mismatch,      ///< Parsed, but a value has the wrong JSON type.
  io_error,           ///< The read failed for another reason (EIO, short read, ...).
  unavailable,        ///< A store or service could not be reached.
  interrupted,        ///< The run was cancelled before this could be evaluated.
  spec_error,         ///< The spec is invalid (found before anything runs).
  plugin_error,       ///< A plugin could not be loaded or registered.
  internal,           ///< A bug or an unexpected exception, rewrapped as a value.
};

/// Stable lower-case name of an error code, e.g. "not_found".
STAGECHECK_API std::string_view to_string(Errc code) noexcept;

/// An error value: a category and a message that names the artifact, the field, what was
/// expected and what was found.
struct Error {
  Errc code = Errc::internal;
  std::string message;
};

}  // namespace stagecheck
