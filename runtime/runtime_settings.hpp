// What an agent's engines are set up with, from agency.yaml, SKILL.md and
// the command line, and what every engine process gets in its environment.
// Pure functions of their arguments (the file system aside:
// default_skill_path looks for files); any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "bus/connect.hpp"
#include "runtime/config.hpp"
#include "runtime/engine.hpp"
#include "runtime/role_logic.hpp"
#include "runtime/skill.hpp"

namespace agency {

// The engine settings of one role's agent.
struct EngineSettings {
  EngineConfig engine;
  // Past this many context tokens the engine session is rotated.
  std::int64_t session_max_tokens = 150000;
};

// The kind: --engine, else the role's `engine:`, else SKILL.md's, else
// scripted. The rest from the role's section of agency.yaml (role may be
// null: none), and permission_mode from SKILL.md when agency.yaml names none
// (the builder edits files; the others read).
EngineSettings engine_settings(const std::string& engine_flag, const config::Role* role,
                               const Skill& skill);

// Where SKILL.md of a role is when nobody says: beside the binary (the build
// copies every role's SKILL.md to bin/skills/<role>/), then
// $AGENCY_SKILLS_DIR, then the source tree.
std::filesystem::path default_skill_path(const std::string& role);

// The directory of this binary: `agency` is installed beside the role
// binaries, and engine processes get it first on PATH. Empty if unknown.
std::filesystem::path own_bin_dir();

// Who the engine process works for and where the bus is.
struct EngineSurroundings {
  std::string agent_id;
  std::string role;
  std::filesystem::path state_dir;
  std::filesystem::path config_source;  // empty: no agency.yaml was read
  ConnectSettings nats;
  std::filesystem::path bin_dir;  // put first on PATH when not empty
  std::string path;               // PATH when the turn sets none
};

// What every engine process gets besides the turn's own environment: who
// it is, where NATS is, and `agency` on PATH (so it can ask and mail).
std::map<std::string, std::string> engine_environment(const Turn& turn,
                                                      const EngineSurroundings& around);

}  // namespace agency
