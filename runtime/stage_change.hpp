// The stage change a role's decision makes, worked out without the bus: the
// next brief, the task record's new state and the task event. Pure (every
// input is a value, the time too) and callable from any thread; the runtime
// (Agent::apply) writes what these return, in the order
// docs/ARCHITECTURE.md ("Tasks and stages") gives: brief, record by compare-and-set, event, ack.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agency/v1/brief.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/result.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/role_logic.hpp"

namespace agency {

// Texts agency writes into events, records and logs are cut to these
// (streams and buckets have a max_msg_size: docs/STREAMS.md).
constexpr std::size_t kMostReasonBytes = 8 * 1024;
constexpr std::size_t kMostSummaryBytes = 64 * 1024;

// How many times the task entered `stage` (its attempt number there).
std::uint32_t entries_into(const v1::Task& task, std::string_view stage);

// Whether the record has moved past a brief for `stage` at `attempt`: it
// entered the stage again since, or left it after that attempt. A record
// still behind the brief (the stage before has not written it yet) has not.
bool moved_past(const v1::Task& task, std::string_view stage, std::uint32_t attempt);

// A brief agency publishes fits its stream (limits.brief_bytes): the
// engine's context for the next stage is cut first, then the objective.
void fit_brief(v1::Brief& brief, std::size_t max_bytes);

// One decision on one brief, settled before anything is written. A value:
// whoever holds it owns it.
struct StageChange {
  std::string task_id;
  std::string stage;               // the stage the brief was for
  std::uint32_t attempt = 1;       // the brief's attempt at that stage
  std::string next;                // where the task goes (blocked past the bounce limit)
  std::string reason;              // cut to kMostReasonBytes
  std::uint32_t bounces = 0;       // the task's bounces after the change
  std::uint32_t next_attempt = 1;  // the attempt the next brief is for
  std::int64_t tokens = 0;         // the turn's tokens, added to the record
  std::string actor;               // the agent id
  Decision decision;               // context, spec, branch, attachments, new tasks

  // Done or blocked: the task leaves its work log.
  [[nodiscard]] bool closes() const;
  // Idempotency keys: a replay of this step is dropped by them.
  [[nodiscard]] std::string event_msg_id() const;     // event:<task>:<stage>:<attempt>
  [[nodiscard]] std::string work_log_msg_id() const;  // log:<task>:<stage>:<attempt>
  // The reason, and the context for the next stage after a blank line.
  [[nodiscard]] std::string work_log_summary() const;
};

// Where a decision takes a task of pipeline `p` from `stage`: a verdict
// becomes the next stage (pass: the stage after; fail: the stage's bounce
// target, or on for an optional stage, or blocked for a stage that sends
// nothing back); a stage the pipeline does not have becomes the bounce
// target (a decision sending the task back) or the stage after; a landing
// stage is passed over when `lands` is false.
Decision route(const pipeline::Pipeline& p, std::string_view stage, bool lands, Decision decision);

// Works out the change: the next stage (route() on the task's pipeline;
// blocked once the task is sent back more than bounce_limit times), the reason, the bounce count
// and the next attempt. An unknown stage is an error (errc::internal): nothing is written.
Result<StageChange> plan_stage_change(const v1::Task& task, const v1::Brief& brief,
                                      const std::string& stage, Decision decision,
                                      std::int64_t tokens, const std::string& actor,
                                      int bounce_limit, bool lands = true);

// The brief for the next stage (Brief.id task:stage:attempt is its msg id),
// cut to max_bytes; nullopt when the task goes to done or blocked.
std::optional<v1::Brief> next_brief(const StageChange& change, const v1::Task& task,
                                    const v1::Brief& brief, std::size_t max_bytes,
                                    const google::protobuf::Timestamp& now);

// The compare-and-set step on the task record: false, and the record
// untouched, when the change is in it already (the record left the stage,
// or entered it again).
bool record_stage_change(v1::Task& record, const StageChange& change,
                         const google::protobuf::Timestamp& now);

// A person's stage change (actor human:..., runtime/steering.hpp) that
// `record` has and `seen`, the same record as an agent read it earlier, had
// not: the newest, or nullptr.
const v1::StageChange* moved_by_person(const v1::Task& record, const v1::Task& seen);
// A brief ahead of its task record whose sender's change can no longer be
// written: the record has left the stage and attempt the brief follows
// (Brief.follows), so it will never catch up with the brief (a person moved
// the task while that stage worked on it). False for a brief that names
// none.
bool overtaken(const v1::Task& record, const v1::Brief& brief);

// The task event of the change (done, blocked, bounced or stage_changed).
v1::TaskEvent stage_event(const StageChange& change, const v1::Task& task,
                          const google::protobuf::Timestamp& now);

// The same event again, from the history entry the change left in the
// record (a bounce is a move to any stage but the next), for a replay that
// finds the record moved but cannot tell whether the event was stored.
v1::TaskEvent stage_event(const v1::StageChange& entry, const v1::Task& task);

// The event's idempotency key: event:<task>:<stage>:<attempt>.
std::string event_msg_id(std::string_view task_id, std::string_view stage, std::uint32_t attempt);

}  // namespace agency
