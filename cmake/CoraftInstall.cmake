# `cmake --install <build> --prefix P`: the headers, the static libraries
# and a CMake package, so that another project does
#   find_package(coraft 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE coraft::net)   # or coraft::raft
# (apps/example-counter), and coraft-kv in bin. Test-only libraries and the
# other programs are not installed.
#
# The package exports usage requirements only: the include directory,
# C++20, Boost (Asio, JSON, URL), OpenSSL and Threads. coraft's warnings and
# sanitizers are linked $<BUILD_INTERFACE:...> (never exported), tcmalloc
# only into coraft's own programs, and Asio and Beast are header-only unless
# this build asked otherwise (CoraftDependencies.cmake says why).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CORAFT_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/coraft)
set(_coraft_installed coraft_core coraft_raft coraft_net coraft_asio)
if(TARGET coraft_asio_impl)
  list(APPEND _coraft_installed coraft_asio_impl)
endif()

install(TARGETS ${_coraft_installed} EXPORT coraftTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/lib/include/coraft ${PROJECT_SOURCE_DIR}/net/include/coraft
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp"
  # The test-only switches of the planted bugs (lib/CMakeLists.txt): no
  # public header includes it.
  PATTERN "planted.hpp" EXCLUDE)
install(TARGETS coraft-kv RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT coraftTargets NAMESPACE coraft:: DESTINATION ${CORAFT_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/coraftConfig.cmake.in
  ${PROJECT_BINARY_DIR}/coraftConfig.cmake
  INSTALL_DESTINATION ${CORAFT_INSTALL_CMAKEDIR})
# 0.x: a minor version may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/coraftConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/coraftConfig.cmake ${PROJECT_BINARY_DIR}/coraftConfigVersion.cmake
  DESTINATION ${CORAFT_INSTALL_CMAKEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/coraft)

# A sanitized build's libraries need the sanitizer runtime in every program
# that links them: not a package to hand to anyone.
if(NOT CORAFT_SANITIZE STREQUAL "")
  install(CODE "message(WARNING \"coraft: installing a CORAFT_SANITIZE=${CORAFT_SANITIZE} build: \
programs that link these libraries need -fsanitize=${CORAFT_SANITIZE} too\")")
endif()
