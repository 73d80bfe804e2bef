// The names of agency's concepts, in one place: the ends of a task, agent states, lease
// priorities, control commands and task event kinds. The codec validates
// messages against these lists, the CLI offers them, the runtime compares
// with the named constants; nobody else spells them out (docs/ARCHITECTURE.md).
#pragma once

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <string_view>

namespace agency::vocabulary {

using Names = std::span<const std::string_view>;

// Stages of a task. The stages work moves through, and the role of each,
// are the pipeline table's (runtime/pipeline.hpp); the bus knows only the two
// ends nobody is briefed for, and what a stage name looks like.
inline constexpr std::string_view kDone = "done";
inline constexpr std::string_view kBlocked = "blocked";
// Stopped by a person (`agency task cancel`); `agency task retry` takes it up
// again where it stopped.
inline constexpr std::string_view kCancelled = "cancelled";
// The stages where no role works a task: done, blocked and cancelled.
constexpr bool is_end(std::string_view stage) {
  return stage == kDone || stage == kBlocked || stage == kCancelled;
}
inline constexpr std::size_t kMaxStageName = 64;

// What an agent says it is doing (AgentStatus.state).
inline constexpr std::string_view kIdle = "idle";
inline constexpr std::string_view kBusy = "busy";
inline constexpr std::string_view kWaiting = "waiting";
inline constexpr std::string_view kRateLimited = "rate-limited";
inline constexpr std::string_view kPaused = "paused";
inline constexpr std::string_view kDraining = "draining";
inline constexpr std::array<std::string_view, 6> kAgentStates = {kIdle,        kBusy,   kWaiting,
                                                                 kRateLimited, kPaused, kDraining};

// Lease priorities, highest first.
inline constexpr std::string_view kHuman = "human";
inline constexpr std::string_view kInteractive = "interactive";
inline constexpr std::string_view kScheduled = "scheduled";
inline constexpr std::string_view kBatch = "batch";
inline constexpr std::array<std::string_view, 4> kPriorities = {kHuman, kInteractive, kScheduled,
                                                                kBatch};
// What an empty Brief.priority / Lease.priority means.
inline constexpr std::string_view kDefaultPriority = kScheduled;

// Orders on agency.control.* (Control.command).
inline constexpr std::string_view kPause = "pause";
inline constexpr std::string_view kResume = "resume";
inline constexpr std::string_view kDrain = "drain";
inline constexpr std::string_view kStop = "stop";
inline constexpr std::string_view kReload = "reload";
// The sweeper's: nudge asks a busy agent to report at once (a fresh
// heartbeat); cancel ends the engine turn in hand and hands its brief back
// for redelivery.
inline constexpr std::string_view kNudge = "nudge";
inline constexpr std::string_view kCancel = "cancel";
inline constexpr std::array<std::string_view, 7> kControlCommands = {
    kPause, kResume, kDrain, kStop, kReload, kNudge, kCancel};

// Kinds of TaskEvent on agency.event.task.*.
inline constexpr std::string_view kEventCreated = "created";
inline constexpr std::string_view kEventStageChanged = "stage-changed";
inline constexpr std::string_view kEventBounced = "bounced";
inline constexpr std::string_view kEventBlocked = "blocked";
inline constexpr std::string_view kEventDone = "done";
// An agent died holding the task's brief; the brief was handed back
// (runtime/orphans.hpp). Does not move the task.
inline constexpr std::string_view kEventInterrupted = "interrupted";
// What a person did through `agency task` or the console (runtime/steering.hpp);
// the actor is human:<user>.
inline constexpr std::string_view kEventCancelled = "cancelled";
inline constexpr std::string_view kEventRetried = "retried";
inline constexpr std::string_view kEventUnblocked = "unblocked";
inline constexpr std::string_view kEventMoved = "moved";
inline constexpr std::string_view kEventPriority = "priority-changed";
inline constexpr std::string_view kEventComment = "commented";
// The task's work moved to another account or provider (a rate limit, the
// accountant's routing): a new engine session there, handed the record.
inline constexpr std::string_view kEventSwitched = "switched";
inline constexpr std::array<std::string_view, 13> kTaskEventKinds = {
    kEventCreated,     kEventStageChanged, kEventBounced, kEventBlocked,   kEventDone,
    kEventInterrupted, kEventCancelled,    kEventRetried, kEventUnblocked, kEventMoved,
    kEventPriority,    kEventComment,      kEventSwitched};
// The actor of what a person did: "human:<user>".
inline constexpr std::string_view kHumanActorPrefix = "human:";

constexpr bool contains(Names names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A stage name: 1 to 64 lowercase letters, digits and '-', starting with a
// letter ("ready-for-dev"). Whether a pipeline has it is the runtime's
// question.
constexpr bool is_stage_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxStageName) return false;
  if (name.front() < 'a' || name.front() > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}
constexpr bool is_agent_state(std::string_view name) { return contains(kAgentStates, name); }
constexpr bool is_priority(std::string_view name) { return contains(kPriorities, name); }
constexpr bool is_control_command(std::string_view name) {
  return contains(kControlCommands, name);
}
constexpr bool is_task_event_kind(std::string_view name) { return contains(kTaskEventKinds, name); }

// "ready-for-prep, ready-for-dev, qa, review": for messages that list the
// allowed values.
inline std::string join(Names names, std::string_view separator = ", ") {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += separator;
    out += names[i];
  }
  return out;
}

}  // namespace agency::vocabulary
