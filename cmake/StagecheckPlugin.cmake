# stagecheck_add_plugin(<name> SOURCES <file>... [LINK_LIBRARIES <lib>...]
#                       [OUTPUT_DIRECTORY <dir>] [ALLOW_UNDEFINED])
#
# Builds a stagecheck check plugin: a MODULE library named stagecheck_<name>.so, compiled as
# C++20 with hidden visibility, linked against stagecheck::core, exporting only the entry point
# `stagecheck_plugin_v1` (define it with the STAGECHECK_PLUGIN macro). Undefined symbols are
# link errors unless ALLOW_UNDEFINED is given.
#
#   find_package(stagecheck REQUIRED)
#   stagecheck_add_plugin(my_checks SOURCES my_checks.cpp)
#
# Load it with `stagecheck run spec.yaml --plugin-dir <folder holding the .so>`, or install it
# into stagecheck's plugin folder (STAGECHECK_PLUGIN_INSTALL_DIR) to have it loaded by default.
function(stagecheck_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "ALLOW_UNDEFINED" "OUTPUT_DIRECTORY" "SOURCES;LINK_LIBRARIES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "stagecheck_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE stagecheck::core ${ARG_LINK_LIBRARIES})
  target_compile_features(${name} PRIVATE cxx_std_20)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "stagecheck_${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  set(map "${CMAKE_CURRENT_BINARY_DIR}/stagecheck_${name}.map")
  file(WRITE "${map}" "{\n  global: stagecheck_plugin_v1;\n  local: *;\n};\n")
  target_link_options(${name} PRIVATE "LINKER:--version-script=${map}")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${map}")
  if(NOT ARG_ALLOW_UNDEFINED)
    target_link_options(${name} PRIVATE "LINKER:--no-undefined")
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
endfunction()
