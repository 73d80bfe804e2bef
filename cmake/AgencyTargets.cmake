# Warnings as errors on our own code only; generated and third-party code
# gets the defaults.
function(agency_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
    # Not -Wnull-dereference: at -O2 GCC 12 reports libstdc++ internals with it.
    -Werror)
endfunction()

# GCC 12 at -O2 reports yaml-cpp's own node handling, inlined from its
# headers, as dangling or maybe-uninitialised: known false positives in
# yaml-cpp 0.7, not our code. Only the files that parse YAML get this, and
# only from GCC: clang (the asan preset) has neither warning.
function(agency_yaml_sources)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    set_source_files_properties(${ARGN} PROPERTIES
      COMPILE_OPTIONS "-Wno-dangling-pointer;-Wno-maybe-uninitialized")
  endif()
endfunction()

# agency_add_role(name [SOURCES ...]): one line per role folder. The folder
# roles/<name>/ holds <name>.cpp (logic), main.cpp and SKILL.md; the binary is
# agency-<name>.
function(agency_add_role name)
  cmake_parse_arguments(ROLE "" "" "SOURCES" ${ARGN})
  set(lib agency_role_${name})
  add_library(${lib} STATIC ${name}.cpp ${ROLE_SOURCES})
  add_library(agency::role_${name} ALIAS ${lib})
  target_link_libraries(${lib} PUBLIC agency::agents)
  agency_warnings(${lib})
  add_executable(agency-${name} main.cpp)
  target_link_libraries(agency-${name} PRIVATE ${lib})
  agency_warnings(agency-${name})
  set_target_properties(agency-${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  # The runtime finds a role's SKILL.md beside its binary: bin/skills/<name>/.
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/SKILL.md)
    configure_file(SKILL.md ${CMAKE_BINARY_DIR}/bin/skills/${name}/SKILL.md COPYONLY)
  endif()
endfunction()
