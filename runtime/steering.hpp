// What a person does to a task: cancel it, retry it, unblock it with a
// note, move it to a stage, change its priority, comment on it (`agency
// task ...`, the console's buttons; docs/STEERING.md).
//
// Each is written like an agent's stage change, with the person as the
// actor (human:<user>): the task record by compare-and-set, then the brief
// for the stage it now stands at (id <task>:<stage>:<attempt>, a new
// attempt, so a brief still queued for the old one is skipped as a replay
// when an agent takes it), then the event on agency.event.task.<id>. An
// engine turn still running on the task is ended by a `cancel` control
// naming the task; its brief goes back and is skipped the same way.
//
// An epic: cancel and priority apply to its sub-tasks too; retry and
// unblock take up its blocked sub-tasks; a sub-task taken up again reopens
// its blocked epic.
//
// Thread: one at a time per Steering (it uses the TaskStore's).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/task.pb.h"
#include "bus/connection.hpp"
#include "bus/result.hpp"
#include "runtime/config.hpp"
#include "runtime/tasks.hpp"

namespace agency::steering {

// The actor of what a person does: "human:<user>", the user name reduced to
// letters, digits, '-', '_', '.' and '@' (at most 64), "human:unknown" when
// nothing is left.
std::string human_actor(std::string_view user);
// The person at this terminal: $USER, else the login name, else "unknown".
std::string current_user();

// What a command did.
struct Steered {
  v1::Task task;                       // the record after the change
  std::string kind;                    // the event recorded (bus/vocabulary.hpp kEvent*)
  std::string from, to;                // the task's stage before and after
  std::string brief_id;                // the brief sent for the stage it is at now, if any
  std::vector<std::string> also;       // sub-tasks or the epic changed with it
  std::vector<std::string> cancelled;  // agents told to end their turn on it
};

// The stages `task` may be moved to (agency task move): the pipeline's (the
// landing one only when its project lands), done and blocked; none for an
// epic.
std::vector<std::string> move_targets(const v1::Task& task, const config::Config& config);
// What a person may do to `task` now: cancel, retry, unblock, move,
// priority, comment.
std::vector<std::string> allowed_actions(const v1::Task& task);
// What a command did as JSON (`agency task ... --json`, the console):
// {"task", "event", "from", "to", "actor", "brief", "also",
// "cancelled_turns", "record"}.
std::string to_json(const Steered& steered, const std::string& actor);

class Steering {
 public:
  Steering(Connection& connection, TaskStore& store, const config::Config& config,
           std::string actor)
      : connection_(&connection), store_(&store), config_(&config), actor_(std::move(actor)) {}

  // Stops a task that is not done or cancelled: stage cancelled, the reason
  // kept as its blocked_reason, a turn on it ended. An epic is cancelled
  // first, then its unfinished sub-tasks.
  Result<Steered> cancel(std::string_view task_id, std::string reason);
  // A blocked or cancelled task goes back to the stage it stopped at, with
  // its bounce count reset; an epic takes up its blocked and cancelled
  // sub-tasks and waits for them again.
  Result<Steered> retry(std::string_view task_id);
  // retry for a blocked task, with the person's note reaching the next
  // agent as findings (the brief's context, the record's "note").
  Result<Steered> unblock(std::string_view task_id, std::string note);
  // To a stage of the pipeline (its current one too: the stage's brief is
  // sent again), or to done or blocked. Not an epic (its sub-tasks move it).
  Result<Steered> move(std::string_view task_id, std::string_view stage, std::string reason);
  // The priority of every later brief of the task (human, interactive,
  // scheduled, batch); a brief queued and not yet taken is sent again on
  // the new priority's queue. An epic's unfinished sub-tasks change too.
  Result<Steered> priority(std::string_view task_id, std::string_view priority);
  // A note in the audit trail (and the record's "comments").
  Result<Steered> comment(std::string_view task_id, std::string text);

  [[nodiscard]] const std::string& actor() const { return actor_; }

 private:
  Result<StoredTask> load(std::string_view task_id) const;
  // Record (stage, history entry, `shape`), brief for `stage` when it is a
  // work stage, event `kind`.
  Result<Steered> hand_to(const StoredTask& current, std::string_view stage, std::string_view kind,
                          const std::string& reason, const std::string& context,
                          const std::function<void(v1::Task&)>& shape = nullptr);
  Result<Steered> take_up(const StoredTask& current, std::string_view kind,
                          const std::string& reason, const std::string& note);
  // Tells `agents` (holders() before the change) to end their turn on the
  // task.
  std::vector<std::string> cancel_turns(const std::string& task_id,
                                        const std::vector<std::string>& agents,
                                        const std::string& reason);
  // Agents whose heartbeat names the task.
  std::vector<std::string> holders(const std::string& task_id) const;
  // The epic of a sub-task taken up again goes back to split if it was
  // blocked; an epic whose sub-task ended is moved on (runtime/epics.hpp).
  void reopen_epic(const v1::Task& child, const std::string& reason, Steered& out);
  void advance_epic(const v1::Task& child, Steered& out);
  Result<void> record_event(const v1::Task& task, std::string_view kind, std::string_view from,
                            std::string_view to, const std::string& reason, std::uint64_t revision);

  Connection* connection_;
  TaskStore* store_;
  const config::Config* config_;
  std::string actor_;
};

}  // namespace agency::steering
