# coraft-sanitized-tests: every program the fast labels (CORAFT_FAST_LABELS)
# run, the planted builds excepted. The ASan+UBSan stage of .ci/run builds
# only this target and runs `-L <fast labels> -LE planted`: no app, e2e,
# chaos, bench or planted library is compiled there. Programs outside
# coraft_add_test join with add_dependencies(coraft-sanitized-tests ...).
set(CORAFT_FAST_LABELS unit scenario sim node storage net)
add_custom_target(coraft-sanitized-tests)

# coraft_add_test(NAME name SOURCES ... LABELS ... [LIBS ...])
# One Boost.Test executable registered with CTest under its labels.
function(coraft_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LABELS;LIBS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE coraft_test_support ${T_LIBS}
    Boost::unit_test_framework coraft::warnings coraft::sanitizers)
  target_compile_definitions(${T_NAME} PRIVATE BOOST_TEST_DYN_LINK)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
  foreach(_label IN LISTS T_LABELS)
    if(_label IN_LIST CORAFT_FAST_LABELS)
      add_dependencies(coraft-sanitized-tests ${T_NAME})
      break()
    endif()
  endforeach()
endfunction()
