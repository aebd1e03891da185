# Helpers for the plugins that live in this repository (plugins/<name>/).

# stagecheck_intree_plugin(<name> SOURCES ... [LINK_LIBRARIES ...])
# Builds into the plugin folder next to libstagecheck, so the built driver loads it by default,
# installs it into the installed plugin folder, and makes the driver target depend on it.
function(stagecheck_intree_plugin name)
  stagecheck_add_plugin(${name} ${ARGN} OUTPUT_DIRECTORY ${STAGECHECK_PLUGIN_BUILD_DIR})
  stagecheck_warnings(${name})
  install(TARGETS ${name} LIBRARY DESTINATION ${STAGECHECK_PLUGIN_DIR})
  add_dependencies(stagecheck_driver ${name})
endfunction()

# stagecheck_plugin_test(<test target> SOURCES ... [PLUGINS <plugin target>...])
# A GoogleTest executable for a plugin, with tests/support on its include path and
# STAGECHECK_SOURCE_DIR, STAGECHECK_PLUGIN_BUILD_DIR and STAGECHECK_DRIVER defined.
function(stagecheck_plugin_test name)
  if(NOT STAGECHECK_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;PLUGINS")
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE stagecheck::core GTest::gtest GTest::gtest_main fmt::fmt
    Threads::Threads)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  target_compile_definitions(${name} PRIVATE
    STAGECHECK_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    STAGECHECK_PLUGIN_BUILD_DIR="${STAGECHECK_PLUGIN_BUILD_DIR}"
    STAGECHECK_DRIVER="$<TARGET_FILE:stagecheck_driver>")
  add_dependencies(${name} stagecheck_driver ${ARG_PLUGINS})
  stagecheck_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 300)
endfunction()
