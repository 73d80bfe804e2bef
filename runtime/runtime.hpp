// The role loop every agent runs (one process = one agent of one role):
//
//   pull one brief from briefs-<role>  ->  load (or create) its task
//   -> a replay of a stage the task has left: ack, next
//   -> prepare the turn, run the engine (in-progress acks meanwhile)
//   -> apply the decision: next brief (Nats-Msg-Id task:stage:attempt),
//      task record by compare-and-set, event, then ack
//   -> idle
//
// A transient failure naks with backoff; past the delivery limit the brief
// is dead-lettered and the task blocked with the reason. A heartbeat writes
// AgentStatus to agency-fleet every few seconds; `$SRV` discovery answers
// for the agent; agency.control.<agent-id>|<role>|all pause, resume, drain
// and stop it. SIGTERM drains: the current brief is finished or handed back,
// never dropped.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "runtime/role_logic.hpp"

namespace agency {

struct RuntimeOptions {
  std::string role;
  std::string agent_id;  // empty: <role>-<host>-<pid>
  std::chrono::milliseconds heartbeat{5000};
  std::chrono::milliseconds in_progress_every{10000};
  std::chrono::milliseconds fetch_wait{1000};
  int bounce_limit = 3;
  int max_deliver = 5;
};

// Runs the loop until stopped; returns the process exit code. Reads the
// environment `agency up` sets (NATS_URL, AGENCY_AGENT_ID, AGENCY_CONFIG,
// AGENCY_STATE_DIR) and the command line (--config, --agent-id, --skill,
// --engine, --nats; --help).
int run_agent(std::unique_ptr<RoleLogic> logic, int argc, char** argv);

// What main.cpp of a role says: return agency::run_role<Planner>(argc, argv);
template <class Logic>
int run_role(int argc, char** argv) {
  return run_agent(std::make_unique<Logic>(), argc, argv);
}

}  // namespace agency
