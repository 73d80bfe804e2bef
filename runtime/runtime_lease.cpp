// The accountant's lease around an engine turn (runtime_agent.hpp), main
// thread: taken before the engine runs (refused: the task stays blocked;
// deferred: the brief waits for budget), settled with the turn's usage. The
// lease also says which account to spend (runtime/accounts.hpp); without
// an accountant the agent takes the first account that has not refused it.
#include <algorithm>

#include "bus/clock.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

std::optional<Agent::Handled> Agent::take_lease(ReceivedBrief& received, const std::string& stage,
                                                std::optional<LeaseOutcome>& lease,
                                                const AccountRoutes::Route*& route) {
  const v1::Brief& brief = received.brief;
  const auto now = std::chrono::system_clock::now();
  // Every account refused: the brief waits for the first reset.
  auto all_refused = [&]() -> std::optional<Handled> {
    std::chrono::system_clock::time_point earliest = now;
    route = routes_->pick(now, &earliest);
    if (route != nullptr) return std::nullopt;
    return wait_out_rate_limit(received, earliest,
                               "every account of the role is rate-limited (" +
                                   std::to_string(routes_->routes().size()) + ")");
  };
  if (!lease_client_) return all_refused();

  set_progress("asking the accountant for a lease");
  const auto& first = routes_->first();
  LeaseAsk ask{first.engine->kind(), first.model, routes_->accounts(), routes_->limited(now)};
  lease = lease_client_->take(brief, ask);
  if (lease->kind == LeaseOutcome::Kind::refused) {
    log_->warn("lease refused, task left blocked task={} reason=\"{}\"", brief.task_id(),
               lease->reason);
    (void)received.message.ack();
    return Handled::done;
  }
  if (lease->kind == LeaseOutcome::Kind::deferred) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(lease->retry_at - now);
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
  if (!lease->account.empty()) {
    route = routes_->find(lease->account);
    if (route != nullptr) return std::nullopt;
  }
  // Granted without an account (a lease that named none), or no accountant
  // answered: the agent's own pick.
  if (auto waiting = all_refused()) {
    settle_lease(lease, brief, Outcome{});
    return waiting;
  }
  return std::nullopt;
}

void Agent::settle_lease(const std::optional<LeaseOutcome>& lease, const v1::Brief& brief,
                         const Result<Outcome>& outcome) {
  if (lease) lease_client_->settle(*lease, brief, outcome ? outcome->usage : Usage{});
}

void Agent::enter_account(Turn& turn, const v1::Task& task, const AccountRoutes::Route& route,
                          const std::string& why) {
  for (const auto& [name, value] : route.env) turn.env[name] = value;
  turn.session_id = session(route.account);
  const std::string& before = task.account();
  if (route.account.empty() || before.empty() || before == route.account) return;
  // A session belongs to one account: the work moves to a new one there,
  // told what the record says.
  const config::Project* project = config_.project(task.project());
  const std::string log = project == nullptr
                              ? std::string()
                              : branch_log(project->repo, task.branch(), project->default_branch);
  turn.session_id.clear();
  turn.prompt = hand_over_prompt(task, before, route.account, why, log) + turn.prompt;
  const std::string reason = "from " + before + " to " + route.account +
                             (why.empty() ? "" : ": " + why) + "; a new session with a hand-over";
  log_->info("switched accounts task={} {}", task.id(), reason);
  v1::TaskEvent event;
  event.set_task_id(task.id());
  event.set_kind(std::string(vocabulary::kEventSwitched));
  event.set_from_stage(task.stage());
  event.set_to_stage(task.stage());
  event.set_actor(options_.agent_id);
  event.set_reason(reason);
  event.set_project(task.project());
  *event.mutable_at() = now_timestamp();
  if (auto r = store_->append_event(event); !r) {
    log_->warn("switched event not stored task={} error={}", task.id(), r.error().message);
  }
}

}  // namespace agency::runtime
