// The dispatcher's decisions as plain functions (no bus): which standing
// order an idle agent's role gets next, how a trigger's brief is filled from
// the message that fired it, and whether a role needs another agent or has
// one too many. dispatcher.cpp gathers the inputs and carries them out.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/fleet.pb.h"
#include "roles/dispatcher/settings.hpp"
#include "runtime/config.hpp"

namespace agency::dispatch {

using Time = std::chrono::system_clock::time_point;

// ---------------------------------------------------------------- standing orders

struct OrderPlan {
  const config::StandingOrder* order = nullptr;
  std::string project;    // empty: the order names none
  std::string objective;  // "{project}" filled in
};

// Where each role is in its rotation through (order, project) pairs.
using Rotation = std::map<std::string, std::size_t>;

// The next standing order for `role`, rotating across its orders and each
// order's projects (an order without projects runs once per round for every
// project in agency.yaml, or once without one when there are none).
// Advances the rotation; nullopt when the role has no standing order.
std::optional<OrderPlan> next_order(const std::vector<config::StandingOrder>& orders,
                                    std::string_view role,
                                    const std::vector<std::string>& all_projects,
                                    Rotation& rotation);

// ---------------------------------------------------------------- triggers

// What a template may name: {subject}, {subject.N} (the N-th token, from
// 0), {data} (the payload as text), {json.a.b} (a field of a JSON payload;
// numbers and booleans as written), {task.<field>} (fields of the task an
// agency task event is about: id, title, project, stage, branch, spec,
// objective, kind, reason, actor).
struct TemplateInput {
  std::string subject;
  std::string data;
  std::map<std::string, std::string> task;  // filled for agency.event.task.* messages
};

struct Filled {
  std::string text;
  std::vector<std::string> missing;  // placeholders that had no value (left empty)
};
Filled fill_template(std::string_view text, const TemplateInput& input);

// Whether a subject matches a NATS pattern (`*` one token, `>` the rest).
bool subject_matches(std::string_view pattern, std::string_view subject);

// ---------------------------------------------------------------- instances

struct ScaleState {
  std::optional<Time> backlog_high_since;  // when the backlog first stood above the threshold
  std::optional<Time> short_since;         // when the role first had fewer agents than min
};

// How long a role must stay below its min before another agent is asked
// for (at least; after_seconds when longer). Agents started beside the
// dispatcher, or restarted by their supervisor after a crash, take a few
// seconds to appear in agency-fleet: without this wait every start of
// `agency up` could ask for a spurious extra agent.
inline constexpr std::chrono::seconds kShortfallGrace{10};

struct ScaleDecision {
  enum class Action { none, start, stop };
  Action action = Action::none;
  std::string agent_id;  // stop: which one
  std::string reason;
};

// The agents of one role (from agency-fleet), its queued briefs, and the
// rules of config::Instances:
//   fewer running than min                          -> start;
//   pending > backlog x running for after_seconds,
//   and fewer than max                              -> start;
//   nothing pending, more than min, an agent idle
//   for idle_seconds (the longest idle, highest id) -> stop it.
// Updates `state` (when the backlog began standing high).
ScaleDecision judge_scale(std::string_view role, const config::Instances& rule,
                          const std::vector<v1::AgentStatus>& agents, std::uint64_t pending,
                          Time now, ScaleState& state);

}  // namespace agency::dispatch
