#include "roles/adversary/adversary.hpp"

#include "bus/vocabulary.hpp"
#include "runtime/catalog.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {

namespace voc = vocabulary;

std::optional<Decision> Adversary::precheck(const RoleContext& ctx, const v1::Brief& brief,
                                            const v1::Task& task) {
  if (auto why = missing_project(ctx, brief, task)) return blocked(*why);
  return std::nullopt;
}

Result<Turn> Adversary::prepare(const RoleContext& ctx, const v1::Brief& brief,
                                const v1::Task& task) {
  if (auto why = missing_project(ctx, brief, task)) return make_error(errc::config, *why);
  const std::string id = task_id_of(brief, task);
  auto dir = task_worktree(ctx, id);
  if (!dir) return dir.error();

  Turn turn = start_turn(ctx, name(), brief, task);
  turn.workdir = *dir;
  const config::Project& project = *ctx.project;
  std::string workspace = "# Workspace\n\n";
  workspace += "Your working directory " + dir->string() + " is a git worktree of " +
               project.repo.string() + " on branch " + git::branch_for(id) +
               ", holding the builder's work. `git diff " + project.default_branch +
               "...HEAD` shows all of it.\n\n";
  workspace +=
      "- You may write scratch tests and scripts there to prove a problem; they are "
      "discarded afterwards, so put each problem, with how to reproduce it, in your "
      "findings.\n";
  workspace += "- Do not commit and do not fix anything: the builder fixes what you find.\n";
  if (!project.test_command.empty()) {
    workspace += "- The agency runs `" + project.test_command +
                 "` after you finish; failing tests send the work back as well.\n";
  }
  workspace += "\n" + commits_note(*dir, project.default_branch);
  turn.prompt = compose_prompt(ctx.skill, brief, task, workspace);
  return turn;
}

Result<Decision> Adversary::finish(const RoleContext& ctx, const Turn& turn,
                                   const Outcome& outcome) {
  std::string reason = reason_of(outcome);
  if (outcome.verdict == "blocked") {
    return blocked("the adversary reports blocked: " + reason);
  }
  if (outcome.verdict != "pass" && outcome.verdict != "fail") {
    return blocked("the adversary gave no verdict (no ```agency block, docs/OUTCOME.md): " +
                   reason);
  }
  Decision d;
  std::optional<TestRun> tests;
  if (ctx.project != nullptr && !ctx.project->test_command.empty()) {
    tests = run_tests(ctx.project->test_command, turn.workdir);
    d.attachments["adversary-tests"] = tests->report;
  }
  const bool tests_fail = tests && !tests->passed;
  if (outcome.verdict == "pass" && !tests_fail) {
    d.verdict = Decision::Verdict::pass;
    d.reason = reason;
    d.context = "The adversary found nothing that breaks it: " + reason + "\n";
    if (!outcome.block.findings.empty()) {
      d.context += "\nMinor notes:\n" + findings_list(outcome.block);
    }
    if (tests) d.context += "\nTests pass: `" + ctx.project->test_command + "`.\n";
    return d;
  }

  std::string findings;
  if (outcome.verdict == "fail") {
    findings = findings_list(outcome.block);
    if (findings.empty()) findings = "- " + reason + "\n";
  }
  if (tests_fail) {
    findings += "- the tests fail (" +
                (tests->exit_code == -1 ? std::string("did not finish")
                                        : "exit " + std::to_string(tests->exit_code)) +
                "):\n\n```\n" + tests->report + "```\n";
  }
  d.verdict = Decision::Verdict::fail;
  d.reason = outcome.verdict == "fail" ? "the adversary found problems: " + reason
                                       : std::string("tests failed in qa");
  d.context = "The adversary sent the work back. Fix these:\n\n" + findings;
  d.attachments["findings"] = findings;
  return d;
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo adversary() { return RoleInfo("adversary"); }
}  // namespace agency::catalog::entries
