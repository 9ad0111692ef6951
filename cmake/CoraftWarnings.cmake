# Warnings as an INTERFACE target, linked PRIVATE by every coraft target
# (never through global CMAKE_CXX_FLAGS).
add_library(coraft_warnings INTERFACE)
target_compile_options(coraft_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wcast-align
  -Wunused -Woverloaded-virtual -Wimplicit-fallthrough
  # g++ 12 misreports Asio's coroutine frame allocator (operator new/delete pairs).
  -Wno-mismatched-new-delete
  $<$<BOOL:${CORAFT_WERROR}>:-Werror>)
option(CORAFT_WERROR "Treat warnings as errors" OFF)
add_library(coraft::warnings ALIAS coraft_warnings)
