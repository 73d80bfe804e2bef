// `agency new-role NAME [--stage STAGE] [--after STAGE] [--source DIR]`:
// writes a C++ role folder into agency's source tree (docs/ARCHITECTURE.md,
// "How to add a role"): the role's logic, its main, its SKILL.md, its
// CMakeLists.txt line and a unit test. It builds with the tree as written
// and passes `agency conformance` (the ctest "conformance: a role from agency
// new-role" builds one and runs the kit on it). Then it prints the
// agency.yaml lines that put the role in a pipeline.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "bus/vocabulary.hpp"
#include "cli/cli.hpp"
#include "runtime/catalog.hpp"
#include "runtime/pipeline.hpp"

namespace agency::cli {

namespace {

namespace fs = std::filesystem;

struct NewRoleOptions {
  std::string name;
  std::string stage;
  std::string after = std::string(pipeline::kReadyForDev);
  std::string source = ".";
  bool force = false;
};

// "api_checker" -> "ApiChecker".
std::string class_name(const std::string& name) {
  std::string out;
  bool up = true;
  for (char c : name) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

std::string fill(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    const std::string mark = "@" + key + "@";
    for (auto at = text.find(mark); at != std::string::npos;
         at = text.find(mark, at + value.size())) {
      text.replace(at, mark.size(), value);
    }
  }
  return text;
}

constexpr const char* kHeader =
    R"(// The @NAME@ role: it works the stage @STAGE@ of the pipelines that name it
// (agency.yaml, docs/PIPELINES.md). Its engine gets the SKILL.md's body, the
// brief and the task, in the task's worktree (a scratch folder for a task
// without a project), and answers with a verdict (docs/OUTCOME.md): the
// runtime sends a pass on and a fail back, as the task's pipeline says.
// Written by `agency new-role`; make it yours.
//
// Thread: one call at a time, from the agent's work thread.
#pragma once

#include <string>

#include "runtime/role_logic.hpp"

namespace agency::roles {

class @CLASS@ final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "@NAME@"; }
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // pass -> the pipeline's next stage; fail -> where @STAGE@ sends work
  // back; blocked, or no verdict -> blocked.
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;
};

}  // namespace agency::roles
)";

constexpr const char* kSource = R"(#include "roles/@NAME@/@NAME@.hpp"

#include "runtime/catalog.hpp"

namespace agency::roles {

Result<Turn> @CLASS@::prepare(const RoleContext& ctx, const v1::Brief& brief,
                              const v1::Task& task) {
  const std::string id = task_id_of(brief, task);
  Turn turn = start_turn(ctx, name(), brief, task);
  std::string workspace = "# Workspace\n\n";
  if (ctx.project != nullptr) {
    auto dir = task_worktree(ctx, id);
    if (!dir) return dir.error();
    turn.workdir = *dir;
    workspace += "Your working directory " + dir->string() + " is a git worktree of " +
                 ctx.project->repo.string() + " on the task's branch.\n";
  } else {
    auto dir = scratch_dir(ctx, id);
    if (!dir) return dir.error();
    turn.workdir = *dir;
    workspace += "Your working directory " + dir->string() + " is a scratch folder.\n";
  }
  turn.prompt = compose_prompt(ctx.skill, brief, task, workspace);
  return turn;
}

Result<Decision> @CLASS@::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                                 const Outcome& outcome) {
  const std::string reason = reason_of(outcome);
  std::string result = reason + "\n";
  if (!outcome.block.findings.empty()) result += "\n" + findings_list(outcome.block);
  Decision d;
  d.attachments[name()] = result;
  if (outcome.verdict == "pass") {
    d.verdict = Decision::Verdict::pass;
    d.reason = reason;
    d.context = name() + ": " + result;
    return d;
  }
  if (outcome.verdict == "fail") {
    d.verdict = Decision::Verdict::fail;
    d.reason = name() + " reports fail: " + reason;
    d.context = name() + " sent it back:\n\n" + result;
    return d;
  }
  Decision b = blocked(outcome.verdict == "blocked"
                           ? name() + " reports blocked: " + reason
                           : name() + " gave no verdict (docs/OUTCOME.md): " + reason);
  b.attachments = d.attachments;
  return b;
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo @NAME@() { return RoleInfo("@NAME@"); }
}  // namespace agency::catalog::entries
)";

constexpr const char* kMain = R"(#include "roles/@NAME@/@NAME@.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::@CLASS@>(argc, argv); }
)";

constexpr const char* kSkill = R"(---
name: @NAME@
description: Works the stage @STAGE@ (written by agency new-role; say what it checks)
consumes: agency.brief.@NAME@
produces: agency.event.task
engine: scripted
priority: scheduled
---

# You are the @NAME@

You work the stage @STAGE@ of a task: the brief below says what the task is
for, and your working directory holds the work so far. Say here what you
check, what passes and what sends the work back.

Answer with a ```agency block (docs/OUTCOME.md):

- `verdict: pass` when the work is fine for this stage;
- `verdict: fail` with `findings:` when it must be changed (it goes back to
  the stage your pipeline names);
- `verdict: blocked` when a person must decide.

(`engine: scripted` answers without a model, for a first run; set the
role's engine in agency.yaml, or here.)
)";

constexpr const char* kTest = R"(// The @NAME@ role's decisions (written by `agency new-role`).
#include <doctest/doctest.h>

#include "roles/@NAME@/@NAME@.hpp"
#include "runtime/pipeline.hpp"
#include "tests/unit/roles/role_fixture.hpp"

TEST_CASE("roles: @NAME@ works in the task's worktree and gives its verdict") {
  agency::test::Bench bench("@NAME@");
  agency::roles::@CLASS@ role;
  auto task = agency::test::make_task("t-@NAME@1", {agency::pipeline::kReadyForDev});
  auto turn = role.prepare(bench.ctx, agency::test::brief_for(task), task);
  REQUIRE(turn.ok());
  CHECK(turn->role == "@NAME@");
  CHECK(turn->prompt.find("You are the @NAME@") != std::string::npos);

  auto pass = role.finish(bench.ctx, *turn, agency::test::outcome("pass", "fine"));
  REQUIRE(pass.ok());
  CHECK(pass->verdict == agency::Decision::Verdict::pass);
  auto fail = role.finish(bench.ctx, *turn, agency::test::outcome("fail", "not fine", {"a"}));
  REQUIRE(fail.ok());
  CHECK(fail->verdict == agency::Decision::Verdict::fail);
  CHECK(fail->context.find("- a") != std::string::npos);
  auto none = role.finish(bench.ctx, *turn, agency::test::outcome("maybe", "unsure"));
  REQUIRE(none.ok());
  CHECK(none->next_stage == "blocked");
}
)";

void write_new(const fs::path& path, const std::string& text, bool force) {
  std::error_code ec;
  if (fs::exists(path, ec) && !force) {
    fail(make_error(errc::config, path.string() + " exists; --force writes over it"));
  }
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path);
  out << text;
  if (!out) fail(make_error(errc::io, "cannot write " + path.string()));
  std::cout << "wrote " << path.string() << "\n";
}

void run_new_role(const GlobalOptions& global, const NewRoleOptions& o) {
  if (!std::regex_match(o.name, std::regex("[a-z][a-z0-9_]{0,39}"))) {
    report(make_error(errc::config, "role name '" + o.name +
                                        "': use lowercase letters, digits and '_', starting with "
                                        "a letter (it names a C++ function and a NATS subject)"));
    throw CLI::RuntimeError(kExitUsage);
  }
  if (catalog::find(o.name) != nullptr || o.name == "role") {
    report(make_error(errc::config, "'" + o.name + "' is a role agency has; pick another name"));
    throw CLI::RuntimeError(kExitUsage);
  }
  std::string stage = o.stage.empty() ? o.name : o.stage;
  std::replace(stage.begin(), stage.end(), '_', '-');
  if (!vocabulary::is_stage_name(stage) || pipeline::is_reserved(stage) ||
      pipeline::is_work_stage(stage)) {
    report(make_error(errc::config, "stage '" + stage +
                                        "': use lowercase letters, digits and '-', and none of "
                                        "agency's stages (" +
                                        vocabulary::join(pipeline::all_stages()) + ")"));
    throw CLI::RuntimeError(kExitUsage);
  }
  if (!pipeline::is_work_stage(o.after) || pipeline::is_landing(o.after)) {
    report(make_error(errc::config, "--after '" + o.after + "': one of " +
                                        "ready-for-prep, ready-for-dev, qa, review"));
    throw CLI::RuntimeError(kExitUsage);
  }
  const fs::path source = fs::absolute(o.source);
  std::error_code ec;
  std::ifstream roles_list(source / "roles" / "CMakeLists.txt");
  std::stringstream listed;
  listed << roles_list.rdbuf();
  if (!roles_list || listed.str().find("add_subdirectory(planner)") == std::string::npos) {
    report(make_error(errc::config, source.string() +
                                        " is not agency's source tree (its roles/CMakeLists.txt "
                                        "adds no planner): run it there, or give --source DIR"));
    throw CLI::RuntimeError(kExitUsage);
  }
  const std::map<std::string, std::string> values = {
      {"NAME", o.name}, {"CLASS", class_name(o.name)}, {"STAGE", stage}};
  const fs::path folder = source / "roles" / o.name;
  write_new(folder / "CMakeLists.txt", "agency_add_role(" + o.name + ")\n", o.force);
  write_new(folder / (o.name + ".hpp"), fill(kHeader, values), o.force);
  write_new(folder / (o.name + ".cpp"), fill(kSource, values), o.force);
  write_new(folder / "main.cpp", fill(kMain, values), o.force);
  write_new(folder / "SKILL.md", fill(kSkill, values), o.force);
  write_new(source / "tests" / "unit" / "roles" / (o.name + "_test.cpp"), fill(kTest, values),
            o.force);
  // The one line in roles/CMakeLists.txt.
  const fs::path list = source / "roles" / "CMakeLists.txt";
  std::ifstream in(list);
  std::stringstream text;
  text << in.rdbuf();
  const std::string line = "add_subdirectory(" + o.name + ")";
  if (text.str().find(line) == std::string::npos) {
    std::ofstream(list, std::ios::app) << line << "\n";
    std::cout << "added " << line << " to " << list.string() << "\n";
  }

  // Where it goes in a pipeline: after --after, in the built-in order.
  std::string stages;
  for (auto s : pipeline::work_stages()) {
    stages += (stages.empty() ? "" : ", ") + std::string(pipeline::role_for_stage(s));
    if (s == o.after) {
      stages += ", {stage: " + stage + ", role: " + o.name + "}";
    }
  }
  if (global.json) return;
  std::cout << "\nBuild it with the tree (cmake --build --preset release), then check it:\n"
            << "  agency conformance --role " << o.name << " --stage " << stage
            << " -- build/release/bin/agency-" << o.name << "\n"
            << "\nPut it in a pipeline in agency.yaml:\n"
            << "  pipelines:\n    with-" << stage << ":\n      stages: [" << stages << "]\n"
            << "  projects:\n    - name: PROJECT\n      repo: PATH\n      pipeline: with-" << stage
            << "\n  roles:\n    " << o.name << ":\n      count: 1\n";
}

}  // namespace

void add_new_role_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<NewRoleOptions>();
  auto* cmd = app.add_subcommand(
      "new-role",
      "Write a C++ role folder into agency's source tree: code, SKILL.md, CMake line, a test");
  cmd->footer(R"(
Writes roles/NAME/ (NAME.hpp, NAME.cpp: a RoleLogic; main.cpp; SKILL.md on
the scripted engine; CMakeLists.txt), tests/unit/roles/NAME_test.cpp, and
adds add_subdirectory(NAME) to roles/CMakeLists.txt. It builds as written and
passes `agency conformance`. Then it prints the agency.yaml lines that put
the role's stage in a pipeline (docs/PIPELINES.md).

Examples:
  agency new-role security --after ready-for-dev
  agency new-role docs_writer --stage docs --after review --source ~/src/agency
)");
  cmd->add_option("name", opts->name, "the role's name (lowercase letters, digits, '_')")
      ->required()
      ->type_name("NAME");
  cmd->add_option("--stage", opts->stage, "its stage (default: the name, '_' as '-')")
      ->type_name("STAGE");
  cmd->add_option("--after", opts->after,
                  "the built-in stage it follows in the printed pipeline (default ready-for-dev)")
      ->type_name("STAGE");
  cmd->add_option("--source", opts->source, "agency's source tree (default: here)")
      ->type_name("DIR");
  cmd->add_flag("--force", opts->force, "write over files that exist");
  cmd->callback([&global, opts] { run_new_role(global, *opts); });
}

}  // namespace agency::cli
