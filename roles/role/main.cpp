// agency-role --skill PATH: runs a role that has no code of its own. The
// role's name and where its tasks go next come from the SKILL.md.
#include <cstdio>
#include <string_view>

#include "roles/role/role.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) {
  std::string path = agency::roles::skill_argument(argc, argv);
  if (path.empty()) {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        std::puts(
            "agency-role --skill PATH [options]: one agent of the role that SKILL.md at PATH\n"
            "describes (normally started by `agency up`). With --skill, --help lists the "
            "options.");
        return 0;
      }
    }
    std::fputs("agency-role: --skill PATH is required: the SKILL.md of the role to run\n", stderr);
    return 2;
  }
  auto skill = agency::load_skill(path);
  if (!skill) {
    std::fprintf(stderr, "agency-role: %s\n", skill.error().message.c_str());
    return 2;
  }
  auto role = agency::roles::GenericRole::from_skill(std::move(*skill));
  if (!role) {
    std::fprintf(stderr, "agency-role: %s\n", role.error().message.c_str());
    return 2;
  }
  return agency::run_agent(std::move(*role), argc, argv);
}
