#include "roles/planner/planner.hpp"

#include "bus/vocabulary.hpp"
#include "runtime/catalog.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {

namespace voc = vocabulary;

Result<Turn> Planner::prepare(const RoleContext& ctx, const v1::Brief& brief,
                              const v1::Task& task) {
  Turn turn = start_turn(ctx, name(), brief, task);
  auto dir = scratch_dir(ctx, task_id_of(brief, task));
  if (!dir) return dir.error();
  turn.workdir = *dir;

  std::string workspace = "# Workspace\n\n";
  workspace += "Your working directory " + dir->string() +
               " is a scratch folder for notes; nothing in it is kept.\n";
  if (ctx.project != nullptr) {
    workspace += "The project's code is the git repository " + ctx.project->repo.string() +
                 " (branch " + ctx.project->default_branch +
                 "). Read it to ground the spec; do not change anything in it.\n";
    if (!ctx.project->test_command.empty()) {
      workspace += "Its tests run with `" + ctx.project->test_command + "`.\n";
    }
  } else {
    workspace += "No repository is configured for this task: plan from the brief alone.\n";
  }
  workspace += "Put the whole spec in the `spec:` field of your answer's block.\n";
  turn.prompt = compose_prompt(ctx.skill, brief, task, workspace);
  return turn;
}

Result<Decision> Planner::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                                 const Outcome& outcome) {
  std::string reason = reason_of(outcome);
  if (outcome.verdict == "pass" && !outcome.block.tasks.empty()) {
    // Sub-tasks: the task becomes their epic.
    auto subtasks = epics::plan_subtasks(outcome.block.tasks);
    if (!subtasks) {
      return blocked("the planner's sub-tasks cannot be worked: " + subtasks.error().message);
    }
    Decision d;
    d.next_stage = std::string(pipeline::kSplit);
    std::string list;
    for (std::size_t i = 0; i < subtasks->size(); ++i) {
      const auto& s = (*subtasks)[i];
      list += std::to_string(i + 1) + ". " + s.title;
      if (!s.depends_on.empty()) {
        list += " (after ";
        for (std::size_t k = 0; k < s.depends_on.size(); ++k) {
          list += (k == 0 ? "" : ", ") + std::to_string(s.depends_on[k] + 1);
        }
        list += ")";
      }
      list += "\n";
    }
    d.reason = "split into " + std::to_string(subtasks->size()) + " sub-tasks: " + reason;
    d.spec = outcome.block.spec.empty() ? "Split into sub-tasks:\n\n" + list : outcome.block.spec;
    d.context = outcome.block.summary;
    d.subtasks = std::move(*subtasks);
    return d;
  }
  if (outcome.verdict == "pass") {
    Decision d;
    d.spec = outcome.block.spec;
    if (d.spec.empty()) d.spec = answer_without_block(outcome.text);
    if (d.spec.find_first_not_of(" \n\t\r") == std::string::npos) {
      return blocked("the planner passed but wrote no spec");
    }
    d.verdict = Decision::Verdict::pass;
    d.reason = reason;
    d.context = outcome.block.summary;
    return d;
  }
  if (outcome.verdict == "fail" || outcome.verdict == "blocked") {
    return blocked("the planner reports " + outcome.verdict + ": " + reason);
  }
  return blocked("the planner gave no verdict (no ```agency block, docs/OUTCOME.md): " + reason);
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo planner() { return RoleInfo("planner"); }
}  // namespace agency::catalog::entries
