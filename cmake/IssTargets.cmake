# Small helpers so each folder's CMakeLists.txt stays a few lines long.

# Warnings for our own code only (generated code and third-party headers excluded).
function(iss_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(ISS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# iss_library(NAME SOURCES ... DEPS ...): a static library of ours.
function(iss_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  iss_warnings(${name})
endfunction()

# iss_executable(NAME SOURCES ... DEPS ...): a program of ours, installed to bin/.
function(iss_executable name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  iss_warnings(${name})
  install(TARGETS ${name} RUNTIME DESTINATION bin)
endfunction()

# iss_test(NAME SOURCES ... DEPS ... LABELS unit|integration|e2e [TIMEOUT s]):
# one GoogleTest binary registered with CTest under the given labels.
function(iss_test name)
  if(NOT ISS_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  iss_warnings(${name})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT})
endfunction()
