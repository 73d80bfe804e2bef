// Hand-built tasks, briefs and outcomes for the role tests: no engine, no
// NATS, just the role's logic.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "bus/vocabulary.hpp"
#include "runtime/role_logic.hpp"
#include "runtime/stage_change.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/roles/git_repo.hpp"

namespace agency::test {

// Where a role's decision takes a task of the built-in pipeline from
// `stage` (the runtime routes a verdict by the task's pipeline).
inline Decision routed(Decision d, std::string_view stage) {
  return route(pipeline::Pipeline::builtin(), stage, true, std::move(d));
}

// A task whose history entered `stages` in order (the last is current).
inline v1::Task make_task(const std::string& id, std::initializer_list<std::string_view> stages,
                          const std::string& title = "Add a greeting") {
  v1::Task task;
  task.set_id(id);
  task.set_title(title);
  task.set_project("demo");
  task.mutable_brief()->set_objective(title);
  std::string from;
  for (auto stage : stages) {
    auto* change = task.add_history();
    change->set_from(from);
    change->set_to(std::string(stage));
    from = std::string(stage);
  }
  task.set_stage(from);
  return task;
}

inline v1::Brief brief_for(const v1::Task& task, const std::string& context = {}) {
  v1::Brief brief;
  brief.set_task_id(task.id());
  brief.set_project(task.project());
  brief.set_objective(task.brief().objective());
  brief.set_stage(task.stage());
  brief.set_context(context);
  std::uint32_t n = 0;
  for (const auto& c : task.history()) {
    if (c.to() == task.stage()) ++n;
  }
  brief.set_attempt(n);
  return brief;
}

inline Outcome outcome(const std::string& verdict, const std::string& summary,
                       std::vector<std::string> findings = {}, const std::string& spec = {}) {
  Outcome o;
  o.verdict = verdict;
  o.has_block = true;
  o.block.verdict = verdict;
  o.block.summary = summary;
  o.block.findings = std::move(findings);
  o.block.spec = spec;
  o.text = "Some words.\n\n```agency\nverdict: " + verdict + "\nsummary: " + summary + "\n```\n";
  return o;
}

inline Skill skill_named(const std::string& name) {
  Skill s;
  s.name = name;
  s.body = "You are the " + name + ". Do the " + name + "'s work.\n";
  return s;
}

// A temp dir holding a repository (repo/ with README.md on main) and the
// agent's work dir (state/work), with a project and a context for `role`.
struct Bench {
  TempDir tmp;
  config::Config config;
  config::Project project;
  RoleContext ctx;

  explicit Bench(const std::string& role, const std::string& test_command = {}) {
    make_repo(tmp.path() / "repo");
    project.name = "demo";
    project.repo = tmp.path() / "repo";
    project.default_branch = "main";
    project.test_command = test_command;
    config.projects = {project};
    ctx.config = &config;
    ctx.project = &config.projects.front();
    ctx.agent_id = role + "-1";
    ctx.skill = skill_named(role);
    ctx.work_dir = tmp.path() / "state" / "work";
  }
  [[nodiscard]] std::filesystem::path repo() const { return tmp.path() / "repo"; }
  void set_test_command(const std::string& command) {
    config.projects.front().test_command = command;
  }
};

}  // namespace agency::test
