// Epics (docs/EPICS.md): a planner may answer with sub-tasks instead of one
// spec. The brief's task becomes an epic at stage `split`; each sub-task is
// a task of its own (`parent` set, id <epic>-<n>) that starts at
// ready-for-dev with the planner's spec, or waits at `pending` until every
// sub-task it depends on is done. The epic is done when all its sub-tasks
// are, and blocked (naming the sub-task and why) when one is blocked and
// nothing else can move.
//
// The checks and the assessment are pure; file_subtasks and advance_epic
// write to the bus. Every write is idempotent (create-if-absent, briefs with
// a msg id, records by compare-and-set, events with a msg id), so whoever
// runs them again after a crash converges on the same state: the agent
// whose stage change closed a sub-task, or the sweeper's walk.
//
// Thread: any; one TaskStore per thread.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/task.pb.h"
#include "bus/result.hpp"
#include "runtime/engine.hpp"
#include "runtime/pipeline.hpp"

namespace agency {
class Connection;
class TaskStore;
}  // namespace agency

namespace agency::epics {

// The stages of an epic waiting for its sub-tasks and of a sub-task waiting
// for its dependencies. Nobody is briefed for them.
inline constexpr std::string_view kSplit = pipeline::kSplit;
inline constexpr std::string_view kPending = pipeline::kPending;

// Most sub-tasks one epic may have.
inline constexpr std::size_t kMostSubTasks = 50;

// A sub-task as the planner wrote it, checked: dependencies are indices
// into the plan.
struct SubTask {
  std::string title;
  std::string objective;
  std::string done_when;
  std::string spec;
  std::vector<std::size_t> depends_on;
};

// Checks the planner's `tasks:` and resolves each depends_on entry (a
// sub-task's number, 1-based, or its title, case and spaces aside).
// errc::bad_payload naming the problem: too many sub-tasks, a title used
// twice, a dependency that names no sub-task, a cycle.
Result<std::vector<SubTask>> plan_subtasks(const std::vector<ProposedTask>& proposed);

// The id of an epic's n-th sub-task (1-based): <epic>-<n>.
std::string child_id(std::string_view epic_id, std::size_t n);

// What an epic's sub-tasks say happens next.
struct EpicStep {
  std::vector<std::string> start;  // pending sub-tasks whose dependencies are all done
  std::string close;               // "", done or blocked: the epic's next stage
  std::string reason;              // why it closes
};

// Pure: `children` holds the sub-task records that exist, by id.
EpicStep assess_epic(const v1::Task& epic, const std::map<std::string, v1::Task>& children);

// Who writes, and how large a brief may be (limits.brief_bytes).
struct Writer {
  TaskStore* store = nullptr;
  Connection* connection = nullptr;
  std::string actor;
  std::size_t brief_bytes = 1024 * 1024;
};

// Creates the sub-tasks of `epic` (records, "created" events, and the
// briefs of those without dependencies), before the epic's record moves to
// split. `epic_brief` gives the priority and the budget they inherit.
Result<void> file_subtasks(const Writer& writer, const v1::Task& epic, const v1::Brief& epic_brief,
                           const std::vector<SubTask>& subtasks);

// Reads the epic and its sub-tasks and does what assess_epic says: starts
// the pending sub-tasks whose dependencies are done, closes the epic. A
// no-op for a task that is not at split.
Result<EpicStep> advance_epic(const Writer& writer, std::string_view epic_id);

}  // namespace agency::epics
