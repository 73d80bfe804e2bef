// The sweeper's decisions, as plain functions: what the fleet, the tasks,
// the waiting questions and the usage say, and what the sweeper did before,
// in; the actions to take and what to remember, out. No NATS here: the role
// (sweeper.cpp) gathers the input from the mesh and carries the actions out,
// so every rule is tested with hand-built statuses and times.
//
// Rules (roles/sweeper/SKILL.md says them for people):
// - stuck: busy without progress for stuck_after -> nudged; no progress
//   within the grace after that -> drained (drain + cancel); still busy on
//   the task a grace after the drain, or its heartbeat stale -> redelivered
//   (hand the brief back, stop the agent).
// - dead: a stale heartbeat, or gone from agency-fleet, while holding a
//   brief nobody else now works on and the task has not moved -> redelivered
//   once.
// - loop: a task that entered one stage loop_limit times -> loop-blocked.
// - question: waited on longer than answer_after -> ask-proxy.
// - burn: a (task, role) above burn_factor x the role's median -> flagged
//   once.
// - protocol: an agent whose status states another protocol version than
//   this mesh's (docs/PROTOCOL.md, "Versioning") -> protocol-refused: told
//   to stop, once. A status that states none (0) is left to the
//   conformance kit.
// - every walk: a snapshot.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agency/v1/ask.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/task.pb.h"
#include "roles/sweeper/settings.hpp"
#include "runtime/config.hpp"

namespace agency::roles::sweep {

using Clock = std::chrono::system_clock;
using Time = Clock::time_point;

// Action kinds; each is also the kind of the FleetEvent that records it.
inline constexpr std::string_view kSnapshot = "snapshot";
inline constexpr std::string_view kNudged = "nudged";
inline constexpr std::string_view kDrained = "drained";
inline constexpr std::string_view kRedelivered = "redelivered";
inline constexpr std::string_view kAskProxy = "ask-proxy";
inline constexpr std::string_view kLoopBlocked = "loop-blocked";
inline constexpr std::string_view kBurnFlagged = "burn-flagged";
inline constexpr std::string_view kProtocolRefused = "protocol-refused";
// What the role records after an ask-proxy action.
inline constexpr std::string_view kAnswered = "answered";
inline constexpr std::string_view kNotAnswered = "not-answered";

struct Settings {
  std::chrono::seconds stuck_after{900};
  std::chrono::seconds nudge_grace{300};
  std::chrono::seconds answer_after{60};
  // A heartbeat older than this is stale: the agent is taken for dead
  // (three missed 5 s heartbeats).
  std::chrono::seconds stale_after{15};
  int loop_limit = 4;
  double burn_factor = 5.0;
  // Tasks of a role besides the one judged before its median means anything.
  int burn_min_others = 3;
  // The role that answers questions for the fleet.
  std::string proxy_role = "proxy";
};

Settings settings_from(const config::Sweeper& config);

// A brief consumer as the snapshot reports it.
struct Queue {
  std::string role;
  std::uint64_t queued = 0;    // not yet delivered
  std::int64_t in_flight = 0;  // delivered, not yet acknowledged
};

// A question an agent waits on (agency-memory question.<agent>.<id>).
struct Waiting {
  std::string key;
  v1::Question question;
};

// Tokens per (task id, role).
using UsageTotals = std::map<std::pair<std::string, std::string>, std::int64_t>;

struct Input {
  std::string self_id;  // the sweeper's own agent id: never acted on
  Time now;
  Settings settings;
  std::vector<v1::AgentStatus> fleet;
  std::vector<v1::Task> tasks;
  std::vector<Waiting> questions;
  // Set when the waiting questions could not be read: the ones asked
  // before are then kept as asked.
  std::string questions_error;
  UsageTotals usage;
  std::vector<Queue> queues;
  // Set when the queues could not be read (said in the snapshot).
  std::string queues_error;
};

// An agent as the sweeper last saw it, kept after its entry expired so a
// dead agent's brief can still be found.
struct Seen {
  v1::AgentStatus status;
  Time seen_at;
  // The task's stage and history length while the agent held it, as a full
  // walk saw them ("" / -1: no walk saw it yet).
  std::string stage;
  int history_size = -1;
};

struct Nudge {
  std::string task_id;
  Time at;
  Time progress_at;  // the agent's last_progress_at when nudged
};

struct Drain {
  std::string task_id;
  Time at;
  std::string ack_subject;
};

// What the sweeper did before. Keys of the sets: "<agent>/<task>" for
// redelivered, "<task>/<role>" for burns, "<task>@<history index of its last
// unblocking, 0 if none>" for loops, question keys for asked.
struct Memory {
  std::map<std::string, Seen> seen;
  std::map<std::string, Nudge> nudged;
  std::map<std::string, Drain> drained;
  std::set<std::string> redelivered;
  std::set<std::string> burns;
  std::set<std::string> loops;
  std::set<std::string> asked;
  std::set<std::string> refused;  // agent ids told to stop for their protocol
};

struct Action {
  std::string kind;  // one of the k* kinds above
  std::string agent_id;
  std::string task_id;
  std::string reason;
  std::map<std::string, std::string> details;
  // redelivered: the brief to hand back ("" when the agent had none to
  // name) and whether the agent is told to stop (a wedged one is).
  std::string ack_subject;
  bool stop_agent = false;
  // redelivered: the holder's last status, which says whether a NAK can
  // still reach only its delivery (runtime/orphans.hpp).
  v1::AgentStatus holder;
  // ask-proxy: the question and its waiting key.
  Waiting question;
};

struct Plan {
  std::vector<Action> actions;  // the snapshot first
  Memory memory;
  // One line for a person: the snapshot's reason and what was done.
  std::string summary;
};

// The cheap part, every tick: remembers each agent's latest status, keeps
// the last status of agents that have gone.
Memory observe(Memory memory, const std::vector<v1::AgentStatus>& fleet, Time now);

// The full walk.
Plan sweep(const Input& in, Memory memory);

// Pieces of the walk, for the role and the tests.
std::string snapshot_reason(const std::vector<v1::AgentStatus>& fleet,
                            const std::vector<Queue>& queues, Time now,
                            std::chrono::seconds stale_after, std::string_view queues_error = {});
// "45 s", "16 min", "2 h 5 min".
std::string human_duration(std::chrono::seconds d);
Time to_time(const google::protobuf::Timestamp& t);
bool is_set(const google::protobuf::Timestamp& t);

// Memory as JSON text for agency-memory (sweeper.memory), and back;
// nullopt for text that is not such JSON.
std::string to_json(const Memory& memory);
std::optional<Memory> memory_from_json(const std::string& text);

}  // namespace agency::roles::sweep
