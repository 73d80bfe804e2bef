// The names of agency's concepts, in one place: stages, agent states, lease
// priorities, control commands and task event kinds. The codec validates
// messages against these lists, the CLI offers them, the runtime compares
// with the named constants; nobody else spells them out (DESIGN sections
// 6 and 8).
#pragma once

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <string_view>

namespace agency::vocabulary {

using Names = std::span<const std::string_view>;

// Stages of a task, in the order work moves through them.
inline constexpr std::string_view kReadyForPrep = "ready-for-prep";
inline constexpr std::string_view kReadyForDev = "ready-for-dev";
inline constexpr std::string_view kQa = "qa";
inline constexpr std::string_view kReview = "review";
inline constexpr std::string_view kDone = "done";
inline constexpr std::string_view kBlocked = "blocked";
inline constexpr std::array<std::string_view, 6> kStages = {kReadyForPrep, kReadyForDev, kQa,
                                                            kReview,       kDone,        kBlocked};
// The stages a brief can start: a role acts on each of them. done and
// blocked are ends nobody is briefed for.
inline constexpr std::array<std::string_view, 4> kBriefStages = {kReadyForPrep, kReadyForDev, kQa,
                                                                 kReview};

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
// (agents/orphans.hpp). Does not move the task.
inline constexpr std::string_view kEventInterrupted = "interrupted";
inline constexpr std::array<std::string_view, 6> kTaskEventKinds = {
    kEventCreated, kEventStageChanged, kEventBounced, kEventBlocked, kEventDone, kEventInterrupted};

constexpr bool contains(Names names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

constexpr bool is_stage(std::string_view name) { return contains(kStages, name); }
constexpr bool is_brief_stage(std::string_view name) { return contains(kBriefStages, name); }
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
