#include "runtime/lease.hpp"

#include <algorithm>

#include "agency/v1/usage.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "runtime/ids.hpp"

namespace agency {

using Clock = std::chrono::system_clock;

namespace {

std::int64_t counted(const Usage& u) {
  return u.input_tokens + u.output_tokens + u.cache_creation_tokens;
}

}  // namespace

LeaseClient::LeaseClient(Connection& connection, const config::Leases& config, std::string agent_id,
                         std::string role)
    : connection_(&connection),
      config_(&config),
      agent_id_(std::move(agent_id)),
      role_(std::move(role)),
      estimate_(config.first_estimate) {}

LeaseOutcome LeaseClient::take(const v1::Brief& brief, const LeaseAsk& ask) {
  LeaseOutcome out;
  v1::Lease lease;
  lease.set_id(ids::make("lease"));
  lease.set_agent_id(agent_id_);
  lease.set_role(role_);
  lease.set_task_id(brief.task_id());
  lease.set_priority(brief.priority().empty() ? "scheduled" : brief.priority());
  lease.set_estimate_tokens(estimate_);
  lease.set_engine(ask.engine);
  lease.set_model(ask.model);
  for (const auto& account : ask.accounts) lease.add_accounts(account);
  for (const auto& [account, until] : ask.limited) {
    auto* limited = lease.add_limited();
    limited->set_account(account);
    *limited->mutable_resets_at() = to_timestamp(until);
  }
  auto answer = connection_->request(subjects::kBudgetLease, codec::encode(lease),
                                     std::chrono::milliseconds(config_->timeout_ms));
  if (answer) {
    auto reply = codec::decode<v1::LeaseReply>(answer->data(), answer->headers());
    if (reply) {
      out.lease_id = lease.id();
      out.reason = reply->reason();
      if (reply->granted()) {
        out.kind = LeaseOutcome::Kind::granted;
        // Only an account asked for is ever spent: an answer naming
        // another is not followed (the agent picks, as without a route).
        if (std::find(ask.accounts.begin(), ask.accounts.end(), reply->account()) !=
            ask.accounts.end()) {
          out.account = reply->account();
        }
      } else if (reply->has_retry_at()) {
        out.kind = LeaseOutcome::Kind::deferred;
        out.retry_at = to_time_point(reply->retry_at());
      } else {
        out.kind = LeaseOutcome::Kind::refused;
      }
      return out;
    }
    out.reason = "unreadable lease answer (" + reply.error().message + ")";
  } else {
    out.reason = "no accountant answered (" + answer.error().message + ")";
  }
  // The fallback: an allowance per clock hour.
  const auto now = Clock::now();
  const auto hour = std::chrono::floor<std::chrono::hours>(now);
  if (hour != fallback_hour_) {
    fallback_hour_ = hour;
    fallback_spent_ = 0;
  }
  if (fallback_spent_ < config_->fallback_tokens_per_hour) {
    out.kind = LeaseOutcome::Kind::fallback;
    out.reason += "; spending from the fallback allowance, " +
                  std::to_string(config_->fallback_tokens_per_hour - fallback_spent_) + " of " +
                  std::to_string(config_->fallback_tokens_per_hour) + " tokens left this hour";
    return out;
  }
  out.kind = LeaseOutcome::Kind::deferred;
  out.retry_at = hour + std::chrono::hours(1);
  out.reason += "; the fallback allowance of " + std::to_string(config_->fallback_tokens_per_hour) +
                " tokens this hour is spent: waiting for the next hour";
  return out;
}

void LeaseClient::settle(const LeaseOutcome& lease, const v1::Brief& brief, const Usage& usage) {
  const std::int64_t used = counted(usage);
  // A running average, so a role's big calls raise its estimate.
  estimate_ = used > 0 ? (estimate_ * 3 + used) / 4 : estimate_;
  if (lease.kind == LeaseOutcome::Kind::fallback) {
    fallback_spent_ += used;
    return;
  }
  if (lease.kind != LeaseOutcome::Kind::granted) return;
  v1::Settle settle;
  settle.set_lease_id(lease.lease_id);
  settle.set_agent_id(agent_id_);
  settle.set_task_id(brief.task_id());
  settle.set_input_tokens(usage.input_tokens);
  settle.set_output_tokens(usage.output_tokens);
  settle.set_cache_creation_tokens(usage.cache_creation_tokens);
  settle.set_cache_read_tokens(usage.cache_read_tokens);
  settle.set_cost_usd(usage.cost_usd);
  // Fire and forget: an unsettled lease expires on its own (lease_ttl_seconds).
  (void)connection_->publish(subjects::kBudgetSettle, codec::encode(settle));
}

}  // namespace agency
