// The accountant's lease around an engine turn (runtime_agent.hpp), main
// thread: taken before the engine runs (refused: the task stays blocked;
// deferred: the brief waits for budget), settled with the turn's usage.
#include <algorithm>

#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

std::optional<Agent::Handled> Agent::take_lease(ReceivedBrief& received, const std::string& stage,
                                                std::optional<LeaseOutcome>& lease) {
  if (!lease_client_) return std::nullopt;
  const v1::Brief& brief = received.brief;
  set_progress("asking the accountant for a lease");
  lease = lease_client_->take(brief, engine_->kind(), engine_config_model_);
  if (lease->kind == LeaseOutcome::Kind::refused) {
    log_->warn("lease refused, task left blocked task={} reason=\"{}\"", brief.task_id(),
               lease->reason);
    (void)received.message.ack();
    return Handled::done;
  }
  if (lease->kind == LeaseOutcome::Kind::deferred) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        lease->retry_at - std::chrono::system_clock::now());
    wait = std::max<std::chrono::milliseconds>(wait, std::chrono::seconds(1));
    log_->info("lease deferred task={} stage={} retry_in_ms={} reason=\"{}\"", brief.task_id(),
               stage, wait.count(), lease->reason);
    set_progress("waiting for budget: " + lease->reason);
    defer(received, wait);
    return Handled::handed_back;
  }
  if (lease->kind == LeaseOutcome::Kind::fallback) {
    log_->warn("no lease from the accountant task={} reason=\"{}\"", brief.task_id(),
               lease->reason);
  }
  return std::nullopt;
}

void Agent::settle_lease(const std::optional<LeaseOutcome>& lease, const v1::Brief& brief,
                         const Result<Outcome>& outcome) {
  if (lease) lease_client_->settle(*lease, brief, outcome ? outcome->usage : Usage{});
}

}  // namespace agency::runtime
