// Budget leases from the agent's side: before an engine call an agent asks
// the accountant (agency.budget.lease) with the brief's priority and an
// estimate; after it, it settles (agency.budget.settle) with what the call
// used. Only when agency.yaml has an `accountant:` section.
//
// The stated fallback when no accountant answers within lease_timeout_ms
// (none running, or the bus cut): the agent spends from an allowance of its
// own, accountant.fallback_tokens_per_hour per clock hour; once that is
// spent its briefs wait for the next hour. 0 means no spending at all
// without the accountant. So a fleet whose accountant is down never spends
// unboundedly (docs/ACCOUNTING.md).
//
// Thread: one LeaseClient per agent, used from the brief loop only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "agency/v1/brief.pb.h"
#include "bus/connection.hpp"
#include "runtime/config.hpp"
#include "runtime/engine.hpp"

namespace agency {

struct LeaseOutcome {
  enum class Kind {
    granted,   // the accountant granted it
    deferred,  // ask again at retry_at (a rule of the accountant, or the fallback spent)
    refused,   // for good: the task is past its token budget and blocked
    fallback,  // no accountant answered; spending from the fallback allowance
  };
  Kind kind = Kind::granted;
  std::string lease_id;
  std::chrono::system_clock::time_point retry_at;
  std::string reason;
  // granted: the account to spend, one of those asked for; empty when the
  // lease named none or the accountant did not route it (the agent picks).
  std::string account;
};

// What the agent asks for besides the brief: which accounts it may spend,
// in order, and which of them it saw refuse a call, until when.
struct LeaseAsk {
  std::string engine;
  std::string model;
  std::vector<std::string> accounts;
  std::vector<std::pair<std::string, std::chrono::system_clock::time_point>> limited;
};

class LeaseClient {
 public:
  LeaseClient(Connection& connection, const config::Leases& config, std::string agent_id,
              std::string role);

  // Asks before an engine call for `brief`'s task.
  LeaseOutcome take(const v1::Brief& brief, const LeaseAsk& ask);
  // After the call: tells the accountant what the lease cost, and counts it
  // against the fallback allowance when there was no accountant.
  void settle(const LeaseOutcome& lease, const v1::Brief& brief, const Usage& usage);

  // The next estimate: a running average of this agent's calls.
  [[nodiscard]] std::int64_t estimate() const { return estimate_; }

 private:
  Connection* connection_;
  const config::Leases* config_;
  std::string agent_id_;
  std::string role_;
  std::int64_t estimate_;
  // The fallback allowance's clock hour and what was spent in it.
  std::chrono::system_clock::time_point fallback_hour_{};
  std::int64_t fallback_spent_ = 0;
};

}  // namespace agency
