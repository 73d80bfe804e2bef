# Warnings as errors on our own code only; generated and third-party code
# gets the defaults.
function(agency_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
    -Werror)
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
