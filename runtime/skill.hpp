// SKILL.md: a role's own brief (docs/ARCHITECTURE.md, "skills are briefs").
// YAML front matter between --- lines, then a markdown body:
//
//   ---
//   name: planner
//   description: Turn a brief into a concrete spec
//   consumes: agency.brief.planner
//   produces: agency.brief.builder
//   engine: scripted
//   priority: scheduled
//   ---
//   Read the brief and the code ...
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "bus/result.hpp"

namespace agency {

struct Skill {
  std::string name;
  std::string description;
  std::string consumes;
  std::string produces;
  std::string engine;                        // default engine kind for the role
  std::string priority;                      // default lease priority
  std::string body;                          // the markdown after the front matter
  std::map<std::string, std::string> extra;  // other front-matter keys, kept
  std::filesystem::path source;
};

// Errors (errc::config) name the file and the problem: no front matter, no
// name, a name that is not a subject token, bad YAML.
Result<Skill> parse_skill(std::string_view text, const std::filesystem::path& source);
Result<Skill> load_skill(const std::filesystem::path& path);

}  // namespace agency
