# Warning and sanitizer flags for stagecheck's own targets.
function(stagecheck_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wimplicit-fallthrough)
  # -Wnull-dereference is left out: at -O2 GCC 12 reports false positives inside libstdc++.
  if(STAGECHECK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(STAGECHECK_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
      -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
