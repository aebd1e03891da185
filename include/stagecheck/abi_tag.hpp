#pragma once
/// \file
/// The ABI tag: what must match between the library and a plugin for C++ objects (CheckInfo,
/// std::function factories, nlohmann::json values) to cross the plugin boundary safely.

#include <nlohmann/json.hpp>

#define STAGECHECK_STR2_(x) #x
#define STAGECHECK_STR_(x) STAGECHECK_STR2_(x)

#if defined(__clang__)
#define STAGECHECK_ABI_COMPILER_ "clang-" STAGECHECK_STR_(__clang_major__)
#elif defined(__GNUC__)
#define STAGECHECK_ABI_COMPILER_ "gcc-" STAGECHECK_STR_(__GNUC__)
#else
#define STAGECHECK_ABI_COMPILER_ "unknown-compiler"
#endif

#if defined(_GLIBCXX_RELEASE)
#define STAGECHECK_ABI_STDLIB_ \
  "libstdc++-" STAGECHECK_STR_(_GLIBCXX_RELEASE) "-cxx11abi" STAGECHECK_STR_(_GLIBCXX_USE_CXX11_ABI)
#elif defined(_LIBCPP_VERSION)
#define STAGECHECK_ABI_STDLIB_ "libc++-" STAGECHECK_STR_(_LIBCPP_VERSION)
#else
#define STAGECHECK_ABI_STDLIB_ "unknown-stdlib"
#endif

/// Compiler family and major version, standard library and its string ABI, the C++ standard
/// the plugin interface needs (C++20), and the nlohmann_json version whose types cross the
/// boundary. A plugin records the tag it was built with; the loader refuses a different one.
#define STAGECHECK_ABI_TAG                                                                     \
  STAGECHECK_ABI_COMPILER_ "|" STAGECHECK_ABI_STDLIB_ "|c++20|nlohmann_json-" STAGECHECK_STR_( \
      NLOHMANN_JSON_VERSION_MAJOR) "." STAGECHECK_STR_(NLOHMANN_JSON_VERSION_MINOR)
