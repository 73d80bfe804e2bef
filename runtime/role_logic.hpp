// What a role is to the runtime: given a brief and its task, prepare the
// engine's turn; given the engine's outcome, decide the task's next stage.
// The runtime (runtime.hpp) does everything else: pulling, acks, the stage
// change on the bus, heartbeats, control.
//
// Role logic is plain code with no NATS in it, so it is tested without a
// server (CONVENTIONS: "the folder is the room").
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <chrono>
#include <variant>
#include <vector>

#include "agency/v1/ask.pb.h"
#include "agency/v1/brief.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/result.hpp"
#include "runtime/config.hpp"
#include "runtime/engine.hpp"
#include "runtime/epics.hpp"
#include "runtime/git.hpp"
#include "runtime/skill.hpp"

namespace agency {

class Mesh;

// What the runtime hands a role.
struct RoleContext {
  const config::Config* config = nullptr;
  const config::Project* project = nullptr;  // the brief's project, if any
  std::string agent_id;
  Skill skill;
  std::filesystem::path work_dir;  // <state_dir>/work: worktrees and scratch dirs
  // The bus as roles that act on the fleet itself see it (runtime/mesh.hpp);
  // null in unit tests of roles that need none.
  Mesh* mesh = nullptr;
};

// A task a role files besides its own stage change (the scout's findings).
// The runtime publishes the brief with Nats-Msg-Id = brief.id, so a replay
// files nothing twice.
struct NewTask {
  std::string role;  // the role the brief goes to (planner: ready-for-prep)
  v1::Brief brief;
};

// What a role decided after its engine ran.
struct Decision {
  // The role's verdict on its stage, for a role that leaves the next stage
  // to the task's pipeline (runtime/stage_change.hpp, route()): pass goes to
  // the stage after this one, fail to where this stage sends a task back
  // (on, for an optional stage; blocked for one that sends none back).
  // none: next_stage says where the task goes.
  enum class Verdict { none, pass, fail };
  Verdict verdict = Verdict::none;
  // The stage the task moves to: a stage of the task's pipeline, done,
  // blocked or split. Set from the verdict when there is one.
  std::string next_stage;
  // Why, in words (the verdict, the findings, the review's reasons).
  std::string reason;
  // True when the task goes back to an earlier stage (counts toward the
  // bounce limit).
  bool bounce = false;
  // Context carried to the next stage's brief (findings for the builder,
  // the commit for the adversary...).
  std::string context;
  // Task fields to set (empty: unchanged).
  std::string spec;
  std::string branch;
  std::map<std::string, std::string> attachments;
  // New tasks to file (the scout's), already deduplicated by the role.
  std::vector<NewTask> new_tasks;
  // The planner's sub-tasks (next_stage split): the task becomes their
  // epic (runtime/epics.hpp).
  std::vector<epics::SubTask> subtasks;
  // Set by a precheck: the task does not move now; the brief is handed back
  // and delivered again after this long (a deferral, not a failure), with
  // `reason` in the agent's log (the integrator while another agent lands
  // the same project).
  std::optional<std::chrono::milliseconds> retry_after;
};

// What a role does with a question: a turn for its engine, or an answer it
// has without one (the proxy when its corpus has nothing on the question).
using AnswerPlan = std::variant<Turn, v1::Answer>;

class RoleLogic {
 public:
  virtual ~RoleLogic() = default;
  [[nodiscard]] virtual std::string name() const = 0;
  // A decision taken before any engine runs, for briefs that can never be
  // worked (a builder's brief without a known project): the runtime applies
  // it as is and runs no engine. nullopt: go on with prepare().
  virtual std::optional<Decision> precheck(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                                           const v1::Task& /*task*/) {
    return std::nullopt;
  }
  // Builds the turn: prompt from the skill body and the brief, the working
  // directory (the builder's worktree), the environment.
  virtual Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                               const v1::Task& task) = 0;
  // Decides the next stage from the engine's outcome (the builder commits and
  // runs the tests here). An error is a transient failure: the brief is
  // handed back and retried.
  virtual Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                                  const Outcome& outcome) = 0;

  // Lateral questions (agency.ask.<role>, queue group per role): every role
  // answers them with its engine, on a thread of their own, so a question
  // never waits for a brief to finish. The default asks the engine with the
  // skill and the question and reads `confidence:` from its block.
  virtual Result<AnswerPlan> prepare_answer(const RoleContext& ctx, const v1::Question& question);
  virtual Result<v1::Answer> finish_answer(const RoleContext& ctx, const v1::Question& question,
                                           const Turn& turn, const Outcome& outcome);

  // Mail (agency.mail.<agent-id>): handed to the engine in a turn of its
  // own between two briefs, never during one. The default shows the engine
  // the letters and lets it act (answer with `agency mail`, remember).
  virtual Result<Turn> prepare_mail(const RoleContext& ctx, const std::vector<v1::Mail>& letters);

  // Periodic work without a brief (the sweeper's walk, the synthesizer's
  // digest, the proxy's re-index): how often (nullopt: never), and the work,
  // run on the agent's main thread between briefs. An error is logged.
  [[nodiscard]] virtual std::optional<std::chrono::milliseconds> tick_every(
      const RoleContext& /*ctx*/) const {
    return std::nullopt;
  }
  virtual Result<void> tick(const RoleContext& /*ctx*/) { return {}; }
  // Called once after the runtime connected, before the first brief: a role
  // checks its settings here (a config error stops the agent at start).
  virtual Result<void> start(const RoleContext& /*ctx*/) { return {}; }
  // Called once when the agent stops, before it disconnects: a role that
  // subscribed to subjects of its own (the accountant's leases) drops them
  // here.
  virtual void stop(const RoleContext& /*ctx*/) {}
};

// A role that runs no engine (the accountant, the dispatcher): its
// precheck() decides every brief, so prepare() and finish() are never
// reached and say so if they are.
class EnginelessRole : public RoleLogic {
 public:
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief, const v1::Task& task) final;
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn, const Outcome& outcome) final;
};

// The prompt every role starts from: the skill body, then the brief's
// fields as a readable document, then the task's spec and context.
std::string compose_prompt(const Skill& skill, const v1::Brief& brief, const v1::Task& task);
// The same with a role's own section (`workspace`: where to work, the branch,
// the test command) placed before the closing instructions on the answer.
std::string compose_prompt(const Skill& skill, const v1::Brief& brief, const v1::Task& task,
                           std::string_view workspace);

// What the pipeline roles (roles/*) share. Plain functions, no NATS.
namespace roles {

// The task's id: the brief's, else the record's.
std::string task_id_of(const v1::Brief& brief, const v1::Task& task);

// A turn with the agent, role, brief and task filled in; the role adds the
// prompt and the working directory.
Turn start_turn(const RoleContext& ctx, const std::string& role, const v1::Brief& brief,
                const v1::Task& task);

// Why a role that works in the project's repository cannot take this brief
// ("no project: ..."), nullopt when ctx.project is set.
std::optional<std::string> missing_project(const RoleContext& ctx, const v1::Brief& brief,
                                           const v1::Task& task);

// The task's worktree in ctx.project's repository (git::prepare_worktree
// under <work_dir>/worktrees). ctx.project must be set.
Result<std::filesystem::path> task_worktree(const RoleContext& ctx, std::string_view task_id);

// "## Commits on this branch" with the subjects since the base branch, for
// prompts; "" when there are none or git cannot tell.
std::string commits_note(const std::filesystem::path& worktree, const std::string& base_branch);

// How many times the task entered `stage` (its attempt there), at least 1.
std::uint32_t attempt_in(const v1::Task& task, std::string_view stage);

// <work_dir>/scratch/<task-id>, created, absolute: the working directory of
// roles that change no repository.
Result<std::filesystem::path> scratch_dir(const RoleContext& ctx, std::string_view task_id);

// Writes `text` to <dir>/<date>.md, or <date>-2.md ... when one of that date
// exists (a second report the same day keeps the first), through a
// temporary file and a rename, creating `dir`. The path written.
Result<std::filesystem::path> write_dated_file(const std::filesystem::path& dir,
                                               const std::string& date, const std::string& text);

// The last `max_bytes` of `text`, cut on a UTF-8 character boundary, with a
// note when something was cut.
std::string tail(std::string_view text, std::size_t max_bytes);

// One line saying why: the block's summary, else its first finding, else the
// first line of the answer.
std::string reason_of(const Outcome& outcome);

// The findings as a markdown list ("- ...\n"), "" when there are none.
std::string findings_list(const OutcomeBlock& block);

// The engine's answer without its ```agency block.
std::string answer_without_block(std::string_view text);

// Blocked, with the reason.
Decision blocked(std::string reason);

// A confidence from an engine's block (`confidence: 0.8`, or 80%), clamped
// to 0..1; nullopt when it gives none or nothing readable.
std::optional<double> stated_confidence(const OutcomeBlock& block);

// The project's test command run in `dir`, as an attachment: the command,
// the last 4000 bytes of its output and its exit code.
struct TestRun {
  bool passed = false;
  int exit_code = -1;
  std::string report;
};
TestRun run_tests(const std::string& command, const std::filesystem::path& dir);

}  // namespace roles

}  // namespace agency
