#pragma once
/// \file
/// The plugin seam: one versioned `extern "C"` entry point per shared object.
///
/// A plugin is a shared object that exports exactly one symbol, `stagecheck_plugin_v1`, which
/// returns a pointer to a static StagecheckPluginInfo. The loader reads `abi_version` before
/// anything else, then compares `abi_tag`, then calls `register_checks` with a registrar that
/// is valid only during the call. Registrations are committed together, and only if the
/// callback succeeds and no check type name collides with one already registered.
///
/// Write a plugin with the STAGECHECK_PLUGIN macro:
///
///     #include <stagecheck/plugin.hpp>
///     static void register_checks(stagecheck::PluginRegistrar& r) {
///       r.add(my_check_info(), my_check_factory);
///     }
///     STAGECHECK_PLUGIN("my_checks", "1.0.0", register_checks)
///
/// and build it with `stagecheck_add_plugin(my_checks SOURCES my_checks.cpp)` in CMake.

#include <cstdint>
#include <string>

#include "stagecheck/abi_tag.hpp"
#include "stagecheck/check.hpp"
#include "stagecheck/check_info.hpp"
#include "stagecheck/export.hpp"

/// Bumped whenever StagecheckPluginInfo or the meaning of its fields changes, or a class a
/// plugin calls into gains a virtual (2: CheckContext::probe_fault; 3: CheckContext::result_of,
/// history and history_key): a plugin built against the newer header would otherwise call past
/// the end of an older library's vtable.
#define STAGECHECK_PLUGIN_ABI_VERSION 3u
/// The entry point's name carries the ABI version too.
#define STAGECHECK_PLUGIN_ENTRY_NAME "stagecheck_plugin_v1"

extern "C" {

/// Opaque to C; a stagecheck::PluginRegistrar on the C++ side.
typedef struct StagecheckRegistrar StagecheckRegistrar;

/// What a plugin's entry point returns: a static object, never freed.
typedef struct StagecheckPluginInfo {
  std::uint32_t abi_version;  ///< STAGECHECK_PLUGIN_ABI_VERSION; always the first field.
  const char* abi_tag;        ///< STAGECHECK_ABI_TAG of the plugin's build.
  const char* name;           ///< Plugin name, e.g. "quality_gate".
  const char* version;        ///< Plugin version, e.g. "1.2.0".
  /// Registers the plugin's checks. Returns 0 on success; on failure, calls
  /// PluginRegistrar::fail first. Must not throw (the macro guarantees it).
  int (*register_checks)(StagecheckRegistrar* registrar);
} StagecheckPluginInfo;

/// The entry point's type.
typedef const StagecheckPluginInfo* (*StagecheckPluginEntry)(void);

}  // extern "C"

namespace stagecheck {

/// Receives a plugin's check types. Valid only during `register_checks`; nothing is
/// registered unless the whole callback succeeds.
class STAGECHECK_API PluginRegistrar {
 public:
  virtual ~PluginRegistrar();
  /// Queues a check type.
  virtual void add(CheckInfo info, CheckFactory factory) = 0;
  /// Records why registration failed (the loader adds the plugin's path and name).
  virtual void fail(std::string message) = 0;

  /// The C handle for this registrar, and back.
  StagecheckRegistrar* handle() noexcept { return reinterpret_cast<StagecheckRegistrar*>(this); }
  static PluginRegistrar& from(StagecheckRegistrar* handle) noexcept {
    return *reinterpret_cast<PluginRegistrar*>(handle);
  }
};

namespace detail {
/// Calls `fn(registrar)`, turning any exception into a failure: exceptions never cross the
/// extern "C" line.
template <class Fn>
int call_register(StagecheckRegistrar* handle, Fn fn) noexcept {
  PluginRegistrar& registrar = PluginRegistrar::from(handle);
  try {
    fn(registrar);
    return 0;
  } catch (const std::exception& e) {
    try {
      registrar.fail(std::string("register threw: ") + e.what());
    } catch (...) {
    }
  } catch (...) {
    try {
      registrar.fail("register threw a non-standard exception");
    } catch (...) {
    }
  }
  return 1;
}
}  // namespace detail

}  // namespace stagecheck

/// Defines the plugin's entry point. `REGISTER` is a function `void(stagecheck::PluginRegistrar&)`.
#define STAGECHECK_PLUGIN(NAME, VERSION, REGISTER)                                               \
  extern "C" __attribute__((visibility("default"))) const StagecheckPluginInfo*                  \
  stagecheck_plugin_v1(void) {                                                                   \
    static const StagecheckPluginInfo info = {STAGECHECK_PLUGIN_ABI_VERSION, STAGECHECK_ABI_TAG, \
                                              NAME, VERSION, [](StagecheckRegistrar* r) -> int { \
                                                return ::stagecheck::detail::call_register(      \
                                                    r, REGISTER);                                \
                                              }};                                                \
    return &info;                                                                                \
  }
