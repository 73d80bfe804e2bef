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

# agency_add_role(name [GENERIC] [SOURCES ...]): one line per role folder.
# The folder roles/<name>/ holds <name>.cpp (logic, and the role's catalog
# entry agency::catalog::entries::<name>()), main.cpp and SKILL.md; the
# binary is agency-<name>. Every role but the GENERIC one (agency-role, the
# binary for roles without code) joins the catalog (runtime/catalog.hpp),
# which agency_role_catalog() writes once all roles are added.
function(agency_add_role name)
  cmake_parse_arguments(ROLE "GENERIC" "" "SOURCES" ${ARGN})
  set(lib agency_role_${name})
  add_library(${lib} STATIC ${name}.cpp ${ROLE_SOURCES})
  add_library(agency::role_${name} ALIAS ${lib})
  target_link_libraries(${lib} PUBLIC agency::runtime)
  agency_warnings(${lib})
  # A role's own section of agency.yaml (settings.cpp) is YAML reading too.
  if("settings.cpp" IN_LIST ROLE_SOURCES)
    agency_yaml_sources(settings.cpp)
  endif()
  add_executable(agency-${name} main.cpp)
  # Every agent reads the whole agency.yaml, so it knows every role.
  target_link_libraries(agency-${name} PRIVATE ${lib} agency::catalog)
  agency_warnings(agency-${name})
  set_target_properties(agency-${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  # The runtime finds a role's SKILL.md beside its binary: bin/skills/<name>/.
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/SKILL.md)
    configure_file(SKILL.md ${CMAKE_BINARY_DIR}/bin/skills/${name}/SKILL.md COPYONLY)
  endif()
  if(NOT ROLE_GENERIC)
    set_property(GLOBAL APPEND PROPERTY AGENCY_ROLES ${name})
  endif()
endfunction()

# agency::catalog: an object library whose one generated file adds every
# role's entry to the catalog before main() (so it is linked whole, never
# dropped like an unused archive member), and links every role's library.
function(agency_role_catalog)
  get_property(roles GLOBAL PROPERTY AGENCY_ROLES)
  set(declare "")
  set(add "")
  set(libs "")
  foreach(role IN LISTS roles)
    string(APPEND declare "RoleInfo ${role}();\n")
    string(APPEND add "  add(entries::${role}());\n")
    list(APPEND libs agency::role_${role})
  endforeach()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/catalog.cpp)
  file(GENERATE OUTPUT ${out} CONTENT "// Written by cmake/AgencyTargets.cmake from roles/CMakeLists.txt.\n\
#include \"runtime/catalog.hpp\"\n\
\n\
namespace agency::catalog {\n\
namespace entries {\n\
${declare}\
}  // namespace entries\n\
namespace {\n\
const bool kAdded = [] {\n\
${add}\
  return true;\n\
}();\n\
}  // namespace\n\
}  // namespace agency::catalog\n")
  add_library(agency_catalog OBJECT ${out})
  add_library(agency::catalog ALIAS agency_catalog)
  target_link_libraries(agency_catalog PUBLIC agency::runtime ${libs})
endfunction()
