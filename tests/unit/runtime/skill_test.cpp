#include <doctest/doctest.h>

#include <filesystem>

#include "runtime/skill.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/roles/git_repo.hpp"

namespace {

using agency::errc;

constexpr std::string_view kPlanner = R"(---
name: planner
description: Turn a brief into a concrete spec
consumes: agency.brief.planner
produces: agency.brief.builder
engine: scripted
priority: scheduled
next: review
tags: [a, b]
---

Read the brief and the code.

Then write the spec.
)";

}  // namespace

TEST_CASE("skill: front matter fields and body") {
  auto skill = agency::parse_skill(kPlanner, "roles/planner/SKILL.md");
  REQUIRE(skill.ok());
  CHECK(skill->name == "planner");
  CHECK(skill->description == "Turn a brief into a concrete spec");
  CHECK(skill->consumes == "agency.brief.planner");
  CHECK(skill->produces == "agency.brief.builder");
  CHECK(skill->engine == "scripted");
  CHECK(skill->priority == "scheduled");
  CHECK(skill->body == "Read the brief and the code.\n\nThen write the spec.\n");
  CHECK(skill->source == "roles/planner/SKILL.md");
  REQUIRE(skill->extra.count("next") == 1);
  CHECK(skill->extra.at("next") == "review");
  // Non-scalar extras are kept as YAML text.
  REQUIRE(skill->extra.count("tags") == 1);
  CHECK(skill->extra.at("tags").find('a') != std::string::npos);
  CHECK(skill->extra.count("name") == 0);
}

TEST_CASE("skill: CRLF line ends and a BOM are accepted") {
  std::string text = "\xEF\xBB\xBF---\r\nname: scout\r\n---\r\nLook around.\r\n";
  auto skill = agency::parse_skill(text, "SKILL.md");
  REQUIRE(skill.ok());
  CHECK(skill->name == "scout");
  CHECK(skill->body.rfind("Look around.", 0) == 0);
  CHECK(skill->engine.empty());
}

TEST_CASE("skill: errors name the file and the problem") {
  struct Case {
    std::string text;
    std::string says;
  };
  std::vector<Case> cases = {
      {"name: x\n---\nbody\n", "no front matter"},
      {"---\nname: x\nbody without a closing fence\n", "not closed"},
      {"---\ndescription: no name\n---\nbody\n", "no 'name:'"},
      {"---\nname: two words\n---\n", "not a valid role name"},
      {"---\nname: a.b\n---\n", "not a valid role name"},
      {"---\nname: [x, y]\n---\n", "single value"},
      {"---\nname: x\npriority: urgent\n---\n", "priority 'urgent'"},
      {"---\nname: x\n  bad: : indent\n---\n", "bad YAML"},
      {"---\n- a list\n---\n", "must be a map"},
      {"---\n---\nbody\n", "empty"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto skill = agency::parse_skill(c.text, "dir/SKILL.md");
    REQUIRE_FALSE(skill.ok());
    CHECK(skill.error().code == errc::config);
    CHECK(skill.error().message.find("dir/SKILL.md") != std::string::npos);
    CHECK(skill.error().message.find(c.says) != std::string::npos);
  }
}

TEST_CASE("skill: load_skill reads a file and reports a missing one") {
  agency::test::TempDir dir;
  agency::test::write_file(dir.path() / "SKILL.md", std::string(kPlanner));
  auto skill = agency::load_skill(dir.path() / "SKILL.md");
  REQUIRE(skill.ok());
  CHECK(skill->name == "planner");
  CHECK(skill->source == dir.path() / "SKILL.md");

  auto missing = agency::load_skill(dir.path() / "nope" / "SKILL.md");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == errc::config);
  CHECK(missing.error().message.find("nope/SKILL.md") != std::string::npos);
}

TEST_CASE("skill: every shipped role SKILL.md parses and names its role") {
  // The sources sit three levels above this file: tests/unit/runtime/.
  auto roles =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path() /
      "roles";
  REQUIRE(std::filesystem::is_directory(roles));
  for (std::string name : {"planner", "builder", "adversary", "reviewer"}) {
    CAPTURE(name);
    auto skill = agency::load_skill(roles / name / "SKILL.md");
    REQUIRE(skill.ok());
    CHECK(skill->name == name);
    CHECK(skill->consumes == "agency.brief." + name);
    CHECK_FALSE(skill->produces.empty());
    CHECK(skill->engine == "scripted");
    CHECK(skill->priority == "scheduled");
    CHECK(skill->body.size() > 500);  // a real brief, not a placeholder
  }
}
