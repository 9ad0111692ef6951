# Finds the Debian packages coraft builds on. A machine without them gets a
# message naming the apt command instead of CMake's generic search failure.
set(CORAFT_APT_PACKAGES
  "libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-test1.81-dev libboost-program-options1.81-dev")

find_package(Boost 1.81 CONFIG QUIET COMPONENTS json url unit_test_framework program_options)
if(NOT Boost_FOUND)
  message(FATAL_ERROR
    "coraft needs Boost 1.81 (Asio, Beast, JSON, URL, Test, Program_options).\n"
    "Install it with:\n"
    "  sudo apt-get install -y ${CORAFT_APT_PACKAGES}\n"
    "or run .ci/setup, which installs every build dependency.")
endif()
find_package(Threads REQUIRED)

# Asio is compiled once, in lib/src/node/asio_impl.cpp, instead of in every
# translation unit that includes it: that keeps compile times down on 2 cores.
add_library(coraft_asio INTERFACE)
target_link_libraries(coraft_asio INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(coraft_asio INTERFACE
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED)

# tcmalloc (Debian's libtcmalloc-minimal4) for the programs, not the library:
# coraft's hot path allocates per batch, and glibc's malloc spends much of
# its time consolidating bins there (see README "Measured"). Off under
# sanitizers, which bring their own allocator.
option(CORAFT_USE_TCMALLOC "Link coraft-kv and coraft-bench with tcmalloc when found" ON)
add_library(coraft_malloc INTERFACE)
if(CORAFT_USE_TCMALLOC AND CORAFT_SANITIZE STREQUAL "")
  find_library(CORAFT_TCMALLOC_LIB NAMES tcmalloc_minimal libtcmalloc_minimal.so.4)
  if(CORAFT_TCMALLOC_LIB)
    message(STATUS "coraft: programs use tcmalloc (${CORAFT_TCMALLOC_LIB})")
    # --no-as-needed: nothing names a tcmalloc symbol, yet it must replace malloc.
    target_link_libraries(coraft_malloc INTERFACE "-Wl,--push-state,--no-as-needed" ${CORAFT_TCMALLOC_LIB} "-Wl,--pop-state")
  else()
    message(STATUS "coraft: tcmalloc not found (apt-get install libtcmalloc-minimal4); programs use glibc malloc")
  endif()
endif()
