# Warnings as an INTERFACE target, linked PRIVATE by every coraft target
# (never through global CMAKE_CXX_FLAGS).
add_library(coraft_warnings INTERFACE)
target_compile_options(coraft_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wcast-align
  -Wunused -Woverloaded-virtual -Wimplicit-fallthrough
  $<$<BOOL:${CORAFT_WERROR}>:-Werror>)
option(CORAFT_WERROR "Treat warnings as errors" OFF)
add_library(coraft::warnings ALIAS coraft_warnings)
