// A brief whose agent died is handed back at once, not after the ack wait.
//
// Who calls it: an agent starting under an id whose last status says it held
// a brief (runtime.cpp), `agency up` when a child exits while busy
// (cli/up.cpp), and the sweeper for agents nobody restarts
// (roles/sweeper/sweeper.cpp).
//
// Why it is careful: nats-server 2.9 finds the pending entry of a NAK by
// stream sequence only, without checking that the ack subject's delivery is
// the current one, so a NAK on an old delivery's reply subject re-queues the
// message even when another agent holds a newer delivery of it. A NAK on the
// dead agent's subject is sent only when that delivery is provably still
// the current one:
//   - the dead agent had not handed it back: an agent writes its status
//     without brief_ack_subject before it naks a brief (runtime.cpp), so a
//     status still naming the subject was never followed by a NAK; after an
//     ack or a term the message is no longer pending, and the server ignores
//     a NAK for it (the task has moved on then too, which stops the
//     hand-back before it is sent);
//   - the server has not redelivered it: brief_progress_at is no later than
//     the delivery or the last in-progress signal, and the server redelivers
//     only an ack wait after those; judge() wants now + kMargin before
//     brief_progress_at + ack wait;
//   - nobody else handed it back: the "interrupted" task event is published
//     first with Nats-Msg-Id "interrupted:<ack subject>", and only the one
//     whose publish the server did not report as a duplicate sends the NAK.
//     The events stream drops duplicates for kClaimWindow, so the ack wait
//     judge() uses is capped at that.
// Otherwise nothing is sent: the server redelivers the brief when its ack
// wait ends, as it always did.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/fleet.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/connection.hpp"
#include "bus/result.hpp"

namespace agency::orphans {

using Clock = std::chrono::system_clock;

// Clock differences and the time a NAK takes to reach the server.
inline constexpr std::chrono::milliseconds kMargin{2000};
// The duplicate window of AGENCY_EVENTS (bus/provision.cpp).
inline constexpr std::chrono::seconds kClaimWindow{120};

struct Verdict {
  bool hand_back = false;
  std::string why;  // why it may be handed back, or why not
};

// Whether the brief `last` (an agent's last status, the agent known dead by
// the caller) may be handed back now. `fleet` is agency-fleet as read now
// (last's own entry in it, if any, is skipped); ack_wait is the brief
// consumer's.
Verdict judge(const v1::AgentStatus& last, const std::vector<v1::AgentStatus>& fleet,
              Clock::time_point now, std::chrono::seconds ack_wait);

// The task event that says so: who died, when, how far it got, and who
// handed the brief back (actor) on what grounds (cause).
v1::TaskEvent interrupted_event(const v1::AgentStatus& last, const v1::Task& task,
                                std::string_view actor, std::string_view cause,
                                Clock::time_point now);

// The msg id that makes the event the claim on the NAK.
std::string claim_id(std::string_view ack_subject);

// Why `task` (its record as read now) has moved on from the brief `last`
// held, or nothing when it has not: the record passed the brief's stage and
// attempt (AgentStatus.brief_stage). A status without them (an older agent)
// is judged by time: a change after last.since, which may also be the change
// that sent the brief, written just after it was taken up.
std::optional<std::string> moved_on(const v1::AgentStatus& last, const v1::Task& task);

struct HandBack {
  bool handed_back = false;
  std::string why;  // a person's sentence either way
};

// judge(), then the claim, then the NAK. `task` is the task's record as read
// now: a task that is done or blocked, or that moved on since the agent
// took it up (moved_on()), is left alone.
Result<HandBack> hand_back(Connection& connection, const v1::AgentStatus& last,
                           const std::vector<v1::AgentStatus>& fleet, const v1::Task& task,
                           std::chrono::seconds ack_wait, std::string_view actor,
                           std::string_view cause);

// For a process known dead (`pid`, reaped by its supervisor): reads the
// agent's last status from agency-fleet and, when it is that process's and
// held a brief, hands it back as above. Nothing to do is not an error.
Result<HandBack> hand_back_dead(Connection& connection, std::string_view agent_id, int pid,
                                std::chrono::seconds ack_wait, std::string_view actor,
                                std::string_view cause);

// The last "interrupted" event after the task's last stage change, if any:
// the brief in hand is being worked on again after its agent died.
const v1::TaskEvent* interruption_since_last_move(const std::vector<v1::TaskEvent>& events);

}  // namespace agency::orphans
