// The bus as the roles that act on the fleet itself see it: the sweeper
// walks agents, consumers and tasks and acts on them, the scout files tasks,
// the synthesizer reads work logs, any role asks another or writes mail.
// Pipeline roles need none of it; their logic stays free of NATS.
//
// The runtime owns one Mesh per agent and hands it to the role through
// RoleContext::mesh.
//
// Thread: the agent's main thread (briefs and ticks). The question thread
// does not use it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/ask.pb.h"
#include "agency/v1/brief.pb.h"
#include "agency/v1/event.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/usage.pb.h"
#include "agency/v1/worklog.pb.h"
#include "bus/connection.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/result.hpp"
#include "runtime/epics.hpp"
#include "runtime/tasks.hpp"

namespace agency {

// A question an agent is waiting on (agency-memory question.<agent>.<id>).
struct WaitingQuestion {
  std::string key;  // its agency-memory key
  v1::Question question;
};

// Messages read from a stream after a sequence, with the last sequence
// read (to start after next time).
template <class M>
struct StreamBatch {
  std::vector<M> messages;
  std::vector<std::uint64_t> sequences;  // one per message
  std::uint64_t last_sequence = 0;       // unchanged when nothing was read
};

class Mesh {
 public:
  Mesh(Connection& connection, TaskStore& tasks, KeyValue& fleet, KeyValue& memory,
       std::string agent_id, std::string role)
      : connection_(&connection),
        tasks_(&tasks),
        fleet_(&fleet),
        memory_(&memory),
        agent_id_(std::move(agent_id)),
        role_(std::move(role)) {}

  [[nodiscard]] const std::string& agent_id() const { return agent_id_; }
  [[nodiscard]] const std::string& role() const { return role_; }
  // The agent's connection, for roles that serve subjects of their own.
  [[nodiscard]] Connection& connection() const { return *connection_; }
  // One task's record.
  Result<v1::Task> task(std::string_view task_id) const;

  // Every agent's last heartbeat (agency-fleet); unreadable entries are
  // skipped.
  Result<std::vector<v1::AgentStatus>> fleet() const;
  // Every task record.
  Result<std::vector<v1::Task>> tasks() const;
  // The brief consumers (briefs-<role>): queued and in-flight briefs.
  Result<std::vector<ConsumerState>> brief_consumers() const;

  // Asks a role (agency.ask.<role>) and waits up to `timeout` for its
  // answer. Fills the question's id, asker and time when empty.
  // errc::not_found when no agent of the role is running, errc::timeout.
  Result<v1::Answer> ask(std::string_view role, v1::Question question,
                         std::chrono::milliseconds timeout) const;
  // Sends an answer to where an asker waits (WaitingQuestion's reply_to).
  Result<void> reply(std::string_view reply_to, const v1::Answer& answer) const;
  // Writes mail to an agent's durable mailbox (agency.mail.<to>).
  Result<void> send_mail(v1::Mail mail) const;
  // Control to an agent, a role or all (agency.control.<target>). A
  // cancel with a task id ends only a turn on that task.
  Result<void> control(std::string_view target, std::string_view command, std::string_view reason,
                       std::string_view task_id = {}) const;
  // Hands a brief another agent holds back to its consumer for redelivery
  // now: a NAK on its ack subject (AgentStatus.brief_ack_subject).
  Result<void> hand_back(std::string_view ack_subject) const;

  // Files a brief on agency.brief.<role> with Nats-Msg-Id = brief.id; true
  // when it was stored, false when the server dropped it as a duplicate.
  Result<bool> file_brief(std::string_view role, const v1::Brief& brief) const;
  // Moves an epic on from its sub-tasks' records (runtime/epics.hpp):
  // starts those whose dependencies are done, closes it when it can.
  Result<epics::EpicStep> advance_epic(std::string_view epic_id, std::size_t brief_bytes) const;
  // Blocks a task with the reason (record and event); false when it was
  // done or blocked already.
  Result<bool> block_task(std::string_view task_id, const std::string& reason) const;
  // Records what this agent did and why on agency.event.<family>; fills the
  // actor and the time when empty.
  // A non-empty msg_id makes a repeat (a restarted role deciding again) a no-op.
  Result<void> record(std::string_view family, v1::FleetEvent event,
                      std::string_view msg_id = {}) const;

  // Work logs (agency.log.*) and usage samples (agency.usage.*, without the
  // limit readings) stored after stream sequence `after`.
  Result<StreamBatch<v1::WorkLog>> work_logs_after(std::uint64_t after) const;
  Result<StreamBatch<v1::UsageSample>> usage_after(std::uint64_t after) const;

  // Questions agents are waiting on.
  Result<std::vector<WaitingQuestion>> waiting_questions() const;

  // agency-memory, for a role's own state (the sweeper's last nudges, the
  // synthesizer's last digest). Keys are <role>.<what>.
  Result<std::optional<std::string>> recall(std::string_view key) const;
  Result<void> remember(std::string_view key, std::string_view value) const;
  Result<void> forget(std::string_view key) const;

  // A lock in agency-memory (the integrator's, one per project): its value
  // is "<agent id> <unix seconds taken>". Taken when the key is free, or by
  // compare-and-set when `gone` says its holder is gone (that holder's
  // value is passed). true: this agent holds it now (also when it held it
  // already).
  Result<bool> take_lock(std::string_view key,
                         const std::function<bool(std::string_view value)>& gone) const;
  // Drops the lock if this agent holds it.
  Result<void> release_lock(std::string_view key) const;

 private:
  Connection* connection_;
  TaskStore* tasks_;
  KeyValue* fleet_;
  KeyValue* memory_;
  std::string agent_id_;
  std::string role_;
};

// The agency-memory key an asking agent keeps while it waits.
std::string waiting_question_key(std::string_view agent_id, std::string_view question_id);

// Asks `role` on agency.ask.<role> and waits up to `timeout` for the first
// answer, whoever sends it (the role, or the sweeper with the proxy's). Sets
// the question's id, time, role and reply_to. With `waiting_memory` and a
// from_agent, the question is kept in agency-memory while it waits
// (waiting_question_key), so the sweeper can find it.
// errc::no_responders when no agent of the role runs; errc::timeout.
Result<v1::Answer> ask_role(Connection& connection, std::string_view role, v1::Question question,
                            std::chrono::milliseconds timeout, KeyValue* waiting_memory);

}  // namespace agency
