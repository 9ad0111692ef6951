# Run as a build step of coraft::core: fails the build when a core source
# includes Asio, a clock, threads or file I/O (STYLE.md: purity is a build error).
file(GLOB_RECURSE _files
  ${CORE_ROOT}/src/core/*
  ${CORE_ROOT}/include/coraft/core/*
  ${CORE_ROOT}/include/coraft/types.hpp
  ${CORE_ROOT}/include/coraft/messages.hpp
  ${CORE_ROOT}/include/coraft/payload.hpp
  ${CORE_ROOT}/include/coraft/detail/splitmix.hpp
  ${CORE_ROOT}/include/coraft/detail/panic.hpp
  ${CORE_ROOT}/include/coraft/detail/bytes.hpp
  ${CORE_ROOT}/include/coraft/detail/endian.hpp)
foreach(_f IN LISTS _files)
  file(STRINGS "${_f}" _bad REGEX "#[ \t]*include[ \t]*<(boost/asio|boost/beast|thread|mutex|chrono|fstream|future|condition_variable)")
  if(_bad)
    message(FATAL_ERROR "${_f}: the protocol core must stay pure (no Asio, clock, threads or I/O): ${_bad}")
  endif()
endforeach()
