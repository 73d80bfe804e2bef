#include "roles/role/role.hpp"

#include <string_view>

#include "bus/vocabulary.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {

namespace voc = vocabulary;

Result<std::unique_ptr<GenericRole>> GenericRole::from_skill(Skill skill) {
  // `next` and `on_fail` in the SKILL.md's front matter fix where a pass and
  // a fail go; without them the task's pipeline decides (a pass goes on, a
  // fail goes where the stage sends work back).
  auto stage_of = [&](const std::string& key) -> Result<std::string> {
    auto it = skill.extra.find(key);
    if (it == skill.extra.end() || it->second.empty()) return std::string();
    if (!voc::is_stage_name(it->second) || it->second == pipeline::kSplit ||
        it->second == pipeline::kPending) {
      return make_error(errc::config, skill.source.string() + ": " + key + ": '" + it->second +
                                          "' is not a stage; use a stage of the pipeline (" +
                                          voc::join(pipeline::work_stages()) +
                                          ", ...), done or blocked");
    }
    return it->second;
  };
  auto next = stage_of("next");
  if (!next) return next.error();
  auto on_fail = stage_of("on_fail");
  if (!on_fail) return on_fail.error();
  return std::unique_ptr<GenericRole>(
      new GenericRole(std::move(skill), std::move(*next), std::move(*on_fail)));
}

Result<Turn> GenericRole::prepare(const RoleContext& ctx, const v1::Brief& brief,
                                  const v1::Task& task) {
  Turn turn = start_turn(ctx, name(), brief, task);
  auto dir = scratch_dir(ctx, task_id_of(brief, task));
  if (!dir) return dir.error();
  turn.workdir = *dir;
  std::string workspace = "# Workspace\n\n";
  workspace += "Your working directory " + dir->string() + " is a scratch folder.\n";
  if (ctx.project != nullptr) {
    workspace += "The project's code is the git repository " + ctx.project->repo.string() +
                 " (branch " + ctx.project->default_branch + ").\n";
  }
  // The role's own skill when the runtime has none (tests), else the one it
  // loaded from the same --skill.
  const Skill& skill = ctx.skill.name.empty() ? skill_ : ctx.skill;
  turn.prompt = compose_prompt(skill, brief, task, workspace);
  return turn;
}

Result<Decision> GenericRole::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                                     const Outcome& outcome) {
  std::string reason = reason_of(outcome);
  std::string result = reason + "\n";
  if (!outcome.block.findings.empty()) result += "\n" + findings_list(outcome.block);
  Decision d;
  d.attachments[name()] = result;
  if (outcome.verdict == "pass") {
    d.next_stage = next_;
    if (next_.empty()) d.verdict = Decision::Verdict::pass;
    d.reason = reason;
    d.context = name() + ": " + result;
    return d;
  }
  if (outcome.verdict == "fail") {
    d.next_stage = on_fail_;
    if (on_fail_.empty()) d.verdict = Decision::Verdict::fail;
    // Back to a stage someone works on again: counts toward the bounce limit
    // so two roles cannot pass a task back and forth for ever.
    d.bounce = !on_fail_.empty() && !voc::is_end(on_fail_);
    d.reason = name() + " reports fail: " + reason;
    d.context = name() + " sent it back:\n\n" + result;
    return d;
  }
  Decision b =
      blocked(outcome.verdict == "blocked"
                  ? name() + " reports blocked: " + reason
                  : name() + " gave no verdict (no ```agency block, docs/OUTCOME.md): " + reason);
  b.attachments = d.attachments;
  return b;
}

std::string skill_argument(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--skill" && i + 1 < argc) return argv[i + 1];
    if (arg.rfind("--skill=", 0) == 0) return std::string(arg.substr(8));
  }
  return {};
}

}  // namespace agency::roles
