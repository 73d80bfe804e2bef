// The scout explores a project (read-only) and files the work it finds as
// new tasks at ready-for-prep, each with a brief, leaving out what the fleet
// already has open.
//
// A brief to the scout names the project to explore. Its engine answers with
// a `tasks:` list in its ```agency block; finish() drops the ones that
// duplicate an open task of the project (or each other) and hands the rest
// to the runtime as Decision::new_tasks. Ids are derived from the project and
// the normalized title, so a later run proposing the same work names the
// same task (and the same Nats-Msg-Id) instead of filing it again.
//
// Thread: one call at a time, from the agent's work thread. The open tasks
// read in prepare() are kept for finish() (a fallback when the mesh cannot
// be read then).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/task.pb.h"
#include "runtime/role_logic.hpp"

namespace agency::roles {

// A title reduced to what tells two tasks apart: lowercase, punctuation
// turned to spaces, English stop-words dropped (unless nothing else is
// left), words joined by one space. Non-ASCII bytes are kept as letters.
std::string normalize_title(std::string_view title);

// How alike two titles are: the Jaccard index of their normalized word sets
// (0: nothing shared, 1: the same words).
double title_similarity(std::string_view a, std::string_view b);

// True when two titles name the same work: equal once normalized, or a
// similarity of at least 0.6.
bool is_duplicate_title(std::string_view a, std::string_view b);

// 12 hex digits of FNV-1a over "<project>\n<normalized title>": stable
// across builds and machines (std::hash is not), so ids survive restarts.
std::string scout_hash(std::string_view project, std::string_view title);
// "scout:<project>:<hash>", the filed brief's id and Nats-Msg-Id.
std::string scout_brief_id(std::string_view project, std::string_view title);
// "t-scout-<hash>", the filed task's id.
std::string scout_task_id(std::string_view project, std::string_view title);

// A proposal left out, and why.
struct SkippedTask {
  std::string title;           // as the engine proposed it
  std::string existing_id;     // the task (or earlier proposal) it duplicates
  std::string existing_title;  // that task's title
  std::string why;             // "duplicates an open task", ...
};

// What one exploration files and leaves out.
struct ScoutFiling {
  std::vector<NewTask> filed;
  std::vector<SkippedTask> skipped;
  // Proposals past max_tasks (new ones the limit kept out), by title.
  std::vector<std::string> over_limit;
};

// What the scout's brief says about the tasks it files.
struct ScoutSource {
  std::string project;
  std::string origin;    // the scout's agent id
  std::string priority;  // the filed briefs' (empty: batch)
  std::string own_task;  // the scout's own task id, never a duplicate target
};

// Pure: which of `proposed` become new tasks. `known` is every task record
// (any project, any stage); a proposal is left out when its title duplicates
// an open task of the same project (stage not done) or an earlier proposal,
// when its id is a task that exists already (done ones included: the runtime
// would not create it again), or when max_tasks new ones were filed already.
// Proposals without a title take the first line of their objective.
ScoutFiling plan_filings(const std::vector<ProposedTask>& proposed,
                         const std::vector<v1::Task>& known, const ScoutSource& source,
                         int max_tasks);

class Scout final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "scout"; }
  // Blocked when the brief names no known project: there is nothing to
  // explore.
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;
  // A scratch dir; the prompt names the repository and its default branch
  // (read-only), the project's open tasks and config scout.max_tasks.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // The task list from ctx.mesh (else what prepare saw), then decide().
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;

  // finish() with the task records given: pass -> done, filing the new
  // tasks (Decision::new_tasks, role planner, stage ready-for-prep) and
  // recording each skipped duplicate on agency.event.scout when ctx.mesh is
  // set; fail, blocked or no verdict -> blocked.
  Result<Decision> decide(const RoleContext& ctx, const Turn& turn, const Outcome& outcome,
                          const std::vector<v1::Task>& known) const;

 private:
  std::vector<v1::Task> known_;  // the task records prepare() read
};

}  // namespace agency::roles
