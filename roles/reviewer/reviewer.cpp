#include "roles/reviewer/reviewer.hpp"

#include "bus/vocabulary.hpp"
#include "runtime/catalog.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {

namespace voc = vocabulary;

Result<Turn> Reviewer::prepare(const RoleContext& ctx, const v1::Brief& brief,
                               const v1::Task& task) {
  const std::string id = task_id_of(brief, task);
  Turn turn = start_turn(ctx, name(), brief, task);
  std::string workspace = "# Workspace\n\n";
  if (ctx.project != nullptr) {
    auto dir = task_worktree(ctx, id);
    if (!dir) return dir.error();
    turn.workdir = *dir;
    workspace += "Your working directory " + dir->string() + " is a git worktree of " +
                 ctx.project->repo.string() + " on branch " + git::branch_for(id) + ". `git diff " +
                 ctx.project->default_branch +
                 "...HEAD` shows the change under review. Read; do not change or commit.\n";
    if (!ctx.project->test_command.empty()) {
      workspace += "The tests run with `" + ctx.project->test_command + "`.\n";
    }
    workspace += "\n" + commits_note(*dir, ctx.project->default_branch);
  } else {
    auto dir = scratch_dir(ctx, id);
    if (!dir) return dir.error();
    turn.workdir = *dir;
    workspace +=
        "No repository is configured for this task: review what the brief, the spec "
        "and the context say was done. Your working directory " +
        dir->string() + " is a scratch folder.\n";
  }
  workspace +=
      "\nWhen the spec itself is wrong (not the work), answer `verdict: blocked` and "
      "add the line `back_to: ready-for-prep` to the block: the task goes back to the "
      "planner.\n";
  turn.prompt = compose_prompt(ctx.skill, brief, task, workspace);
  return turn;
}

Result<Decision> Reviewer::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                                  const Outcome& outcome) {
  std::string reason = reason_of(outcome);
  std::string review = reason + "\n";
  if (!outcome.block.findings.empty()) review += "\n" + findings_list(outcome.block);
  Decision d;
  if (outcome.verdict == "pass") {
    d.verdict = Decision::Verdict::pass;
    d.reason = reason;
    d.attachments["review"] = review;
    return d;
  }
  if (outcome.verdict == "fail") {
    d.verdict = Decision::Verdict::fail;
    d.reason = "the reviewer sent it back: " + reason;
    d.context = "The reviewer sent the work back:\n\n" + review;
    d.attachments["review"] = review;
    return d;
  }
  if (outcome.verdict == "blocked") {
    auto back = outcome.block.fields.find("back_to");
    if (back != outcome.block.fields.end() && back->second == pipeline::kReadyForPrep) {
      d.next_stage = std::string(pipeline::kReadyForPrep);
      d.bounce = true;
      d.reason = "the reviewer says the spec is wrong: " + reason;
      d.context =
          "The reviewer sent the task back to planning; the spec needs to change:\n\n" + review;
      d.attachments["review"] = review;
      return d;
    }
    Decision b = blocked("the reviewer reports blocked: " + reason);
    b.attachments["review"] = review;
    return b;
  }
  return blocked("the reviewer gave no verdict (no ```agency block, docs/OUTCOME.md): " + reason);
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo reviewer() { return RoleInfo("reviewer"); }
}  // namespace agency::catalog::entries
