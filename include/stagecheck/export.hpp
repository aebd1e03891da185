#pragma once
/// \file
/// Symbol visibility for the stagecheck shared library. The library is built with hidden
/// visibility; only declarations marked STAGECHECK_API are exported.

#if defined(STAGECHECK_STATIC)
#define STAGECHECK_API
#elif defined(STAGECHECK_BUILDING_LIBRARY)
#define STAGECHECK_API __attribute__((visibility("default")))
#else
#define STAGECHECK_API __attribute__((visibility("default")))
#endif
