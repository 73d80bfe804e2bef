// Engine turns (runtime_agent.hpp): running the agent's engine on the main
// thread (briefs and mail), and what every turn reports: usage samples and
// limit readings (also from the lateral thread's turns), the engine session
// (main thread).
#include <algorithm>
#include <cstdlib>

#include "agency/v1/usage.pb.h"
#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "runtime/ids.hpp"
#include "runtime/runtime_agent.hpp"
#include "runtime/runtime_settings.hpp"

namespace agency::runtime {

namespace {

// What a failed call's sample keeps of the error: one line, this long at
// most, so a sample stays far under limits.usage_bytes.
constexpr std::size_t kSampleErrorBytes = 512;

std::string error_line(std::string_view text) {
  std::string out(bounds::utf8_prefix(text, kSampleErrorBytes));
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}

}  // namespace

Result<Outcome> Agent::run_engine(const Turn& turn, const AccountRoutes::Route& route,
                                  std::chrono::system_clock::time_point& started) {
  // A cancel that came while the brief was taken in ends the turn at once.
  cancel_.store(stop_.load() || control_cancel_.load());
  started = std::chrono::system_clock::now();
  {
    std::lock_guard lock(status_mu_);
    status_.set_account(route.account);
  }
  auto outcome = route.engine->run(
      turn, [this](std::string_view p) { set_progress(p); }, cancel_);
  {
    std::lock_guard lock(status_mu_);
    status_.clear_account();
  }
  return outcome;
}

void Agent::report_turn(const Turn& turn, const AccountRoutes::Route& route, const Outcome& outcome,
                        std::chrono::system_clock::time_point started) {
  publish_usage(turn, route, outcome, started);
  publish_limits(route, outcome);
  keep_session(route.account, outcome);
}

std::map<std::string, std::string> Agent::engine_env(const Turn& turn) const {
  EngineSurroundings around;
  around.agent_id = options_.agent_id;
  around.role = options_.role;
  around.state_dir = config_.state_dir;
  around.config_source = config_.source;
  around.nats = connection_->settings();
  around.bin_dir = own_bin_dir();
  const char* path = std::getenv("PATH");
  around.path = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  return engine_environment(turn, around);
}

namespace {

// agency-memory's key of an agent's session on an account: the agent's own
// for none, else one per account ("claude/max-1" -> ".claude.max-1").
std::string session_key(const std::string& agent_id, const std::string& account) {
  std::string key = "session." + agent_id;
  if (account.empty()) return key;
  std::string suffix = account;
  std::replace(suffix.begin(), suffix.end(), '/', '.');
  return key + "." + suffix;
}

}  // namespace

const std::string& Agent::session(const std::string& account) {
  auto it = sessions_.find(account);
  if (it == sessions_.end()) {
    std::string stored;
    if (auto got = memory_->get(session_key(options_.agent_id, account)); got) stored = got->value;
    it = sessions_.emplace(account, std::move(stored)).first;
  }
  return it->second;
}

void Agent::keep_session(const std::string& account, const Outcome& outcome) {
  if (outcome.session_id.empty()) return;
  std::string next = outcome.session_id;
  if (session_max_tokens_ > 0 && outcome.context_tokens > session_max_tokens_) {
    // Rotation: the context is full enough that every call pays for it;
    // the next assignment starts a new session.
    log_->info("session rotated agent={} session={} context_tokens={} limit={}", options_.agent_id,
               outcome.session_id, outcome.context_tokens, session_max_tokens_);
    next.clear();
  }
  std::string& current = sessions_[account];
  if (next == current) return;
  current = next;
  (void)memory_->put(session_key(options_.agent_id, account), next);
}

void Agent::publish_limits(const AccountRoutes::Route& route, const Outcome& outcome) {
  for (const auto& l : outcome.limits) {
    v1::LimitReading reading;
    reading.set_engine(route.engine->kind());
    reading.set_model(outcome.model);
    reading.set_account(route.account);
    reading.set_agent_id(options_.agent_id);
    reading.set_role(options_.role);
    reading.set_window(l.window);
    reading.set_utilization(l.utilization);
    reading.set_remaining(l.remaining);
    reading.set_limit(l.limit);
    if (l.resets_at) *reading.mutable_resets_at() = to_timestamp(*l.resets_at);
    reading.set_status(l.status);
    reading.set_source(l.source);
    *reading.mutable_at() = now_timestamp();
    auto r =
        connection_->js_publish(subjects::limits(route.engine->kind()), codec::encode(reading));
    if (!r) log_->warn("limit reading not stored error={}", r.error().message);
  }
}

void Agent::publish_usage(const Turn& turn, const AccountRoutes::Route& route,
                          const Outcome& outcome, std::chrono::system_clock::time_point started,
                          std::string_view failed) {
  v1::UsageSample sample;
  sample.set_id(ids::make("u"));
  sample.set_engine(route.engine->kind());
  sample.set_account(route.account);
  sample.set_model(outcome.model);
  sample.set_role(options_.role);
  sample.set_agent_id(options_.agent_id);
  sample.set_task_id(turn.brief.task_id());
  sample.set_project(turn.brief.project());
  sample.set_input_tokens(outcome.usage.input_tokens);
  sample.set_output_tokens(outcome.usage.output_tokens);
  sample.set_cache_creation_tokens(outcome.usage.cache_creation_tokens);
  sample.set_cache_read_tokens(outcome.usage.cache_read_tokens);
  sample.set_cost_usd(outcome.usage.cost_usd);
  sample.set_duration_ms(outcome.duration.count());
  sample.set_session_id(outcome.session_id);
  sample.set_started_by_agency(true);
  sample.set_source("engine");
  sample.set_context_tokens(outcome.context_tokens);
  sample.set_denials(static_cast<std::int32_t>(outcome.denials.size()));
  sample.set_retries(outcome.retries);
  if (!failed.empty()) {
    sample.set_error(error_line(failed));
  } else if (outcome.rate_limit) {
    sample.set_error(error_line("rate limited: " + outcome.rate_limit->detail));
  }
  *sample.mutable_at() = to_timestamp(started);  // when the call started (usage.proto)
  auto r = connection_->js_publish(subjects::usage(route.engine->kind(), options_.role),
                                   codec::encode(sample), sample.id());
  if (!r) log_->warn("usage sample not stored error={}", r.error().message);
  std::lock_guard lock(status_mu_);
  status_.set_window_tokens(status_.window_tokens() + outcome.usage.input_tokens +
                            outcome.usage.output_tokens);
}

}  // namespace agency::runtime
