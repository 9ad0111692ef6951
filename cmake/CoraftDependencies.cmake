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
# OpenSSL (Debian's libssl-dev): mutual TLS on the raft port (issue 17).
find_package(OpenSSL QUIET)
if(NOT OpenSSL_FOUND)
  message(FATAL_ERROR
    "coraft needs OpenSSL for TLS. Install it with:\n  sudo apt-get install -y libssl-dev\n"
    "or run .ci/setup, which installs every build dependency.")
endif()

# coraft_asio (exported as coraft::asio): what every target that uses Asio
# or Beast links.
#
# Asio's and Beast's compile mode belongs to the whole program, not to one
# library: Asio's documentation asks for BOOST_ASIO_SEPARATE_COMPILATION "in
# the project/compiler settings" with <boost/asio/impl/src.hpp> in exactly
# one source file of the program (Beast's BOOST_BEAST_SEPARATE_COMPILATION
# and <boost/beast/src.hpp> likewise). Mixing is not just an ODR breach on
# paper: a separately compiled error category (asio::error::get_misc_
# category(), the category of `eof`) is a different object from the one
# that header-only code inlines, so `ec == asio::error::eof` can be false
# across the boundary. A program that embeds coraft includes Asio and Beast
# itself, header-only by default; so by default coraft compiles them
# header-only too, exactly as its users do, and exports no mode.
#
# Compile time stays low: header-only costs each Asio translation unit
# 1-2 s more (6 s for a Beast one; g++ 12, -O2 -g), but saves compiling the
# two implementation units, so the libraries and coraft-kv build in less
# CPU time than before (204 s against 222 s from clean, no ccache).
# CORAFT_ASIO_SEPARATE_COMPILATION=ON compiles each of them once instead
# (lib/src/node/asio_impl.cpp, net/src/beast_impl.cpp), for a developer who
# rebuilds many test programs. The mode is then exported with the libraries
# (the definitions and coraft::asio_impl), consistently, so a package
# installed from such a build forces it on its users: install from a
# default build.
option(CORAFT_ASIO_SEPARATE_COMPILATION
  "Compile Asio and Beast once (their *_SEPARATE_COMPILATION); the mode is exported with the package" OFF)
add_library(coraft_asio INTERFACE)
set_target_properties(coraft_asio PROPERTIES EXPORT_NAME asio)
target_link_libraries(coraft_asio INTERFACE Boost::headers Threads::Threads)
if(CORAFT_ASIO_SEPARATE_COMPILATION)
  target_compile_definitions(coraft_asio INTERFACE
    BOOST_ASIO_SEPARATE_COMPILATION
    BOOST_BEAST_SEPARATE_COMPILATION
    BOOST_ASIO_NO_DEPRECATED)  # the compiled Asio lacks the deprecated functions
else()
  # coraft's own code uses no deprecated Asio API (checked in-tree); a
  # user's code may, and coraft's public headers compile either way, so it
  # is not exported. (It changes no layout; two templates pick another path
  # to the same call.)
  target_compile_definitions(coraft_asio INTERFACE $<BUILD_INTERFACE:BOOST_ASIO_NO_DEPRECATED>)
endif()

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
