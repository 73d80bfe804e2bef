// The brief loop (runtime_agent.hpp), main thread: pull one brief, take it
// in, claim it, run the turn, apply the decision. handle() reads as the list
// of those steps; each lives with its concern (intake, lease, turn, apply,
// settle).
#include <functional>
#include <random>

#include <google/protobuf/util/time_util.h>

#include "bus/clock.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {
namespace {

using namespace std::chrono_literals;
using google::protobuf::util::TimeUtil;
namespace voc = vocabulary;

// Tells the server, every `every`, that a brief is still being worked on, so
// it is not redelivered to another agent meanwhile. Owned by handle()'s
// frame on the main thread; its own thread sends the signals. The Incoming's
// ack, nak and term stop it first (Incoming::on_settle): nothing is sent
// after the brief is settled.
// `signalling` runs before each signal (the agent notes the time, see
// AgentStatus.brief_progress_at); `settling` is the message's settle hook
// before this one, kept and run after this one stops.
class InProgress {
 public:
  InProgress(Incoming& message, std::chrono::milliseconds every,
             std::function<void()> signalling = nullptr, Incoming::SettleHook settling = nullptr)
      : message_(message), settling_(std::move(settling)) {
    message_.on_settle([this](Incoming::Settlement how) {
      stop();
      if (settling_) settling_(how);
    });
    thread_ = std::thread([this, every, signalling = std::move(signalling)] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, every, [&] { return done_; })) {
        if (signalling) signalling();
        (void)message_.in_progress();
      }
    });
  }
  ~InProgress() {
    stop();
    message_.on_settle(settling_);
  }
  InProgress(const InProgress&) = delete;
  InProgress& operator=(const InProgress&) = delete;

  void stop() {
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  Incoming& message_;
  Incoming::SettleHook settling_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

void Agent::loop() {
  std::chrono::milliseconds backoff = 500ms;
  while (!stop_.load()) {
    if (drain_.load()) {
      log_->info("drained agent={}", options_.agent_id);
      break;
    }
    if (paused_.load()) {
      set_state(voc::kPaused);
      pause_for(1000ms);
      continue;
    }
    if (mail_waiting_.exchange(false)) {
      control_cancel_.store(false);
      handle_mail();
      continue;
    }
    const auto fetched_at = std::chrono::system_clock::now();
    // Idle is said only when no brief is there to take at once: an agent
    // with work queued goes from one brief to the next in one status write.
    auto got = inbox_->next(options_.fetch_wait, [this] { set_state(voc::kIdle); });
    if (!got) {
      set_state(voc::kIdle);
      log_->warn("fetching briefs failed agent={} error={} retry_in_ms={}", options_.agent_id,
                 got.error().message, backoff.count());
      pause_for(backoff);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, 10s);
      continue;
    }
    backoff = 500ms;
    if (!got->has_value()) continue;
    const auto began = std::chrono::steady_clock::now();
    failure_.clear();
    // A cancel from before this brief (while idle) is not for it; one that
    // comes from now on, before its engine starts, is (run_engine).
    control_cancel_.store(false);
    if (handle(std::move(**got), fetched_at) == Handled::failed) {
      count("brief", began, failure_);
    } else {
      count("brief", began);
    }
  }
}

Agent::Handled Agent::handle(ReceivedBrief received,
                             std::chrono::system_clock::time_point fetched_at) {
  Intake in;
  if (auto settled = take_in(received, in)) return *settled;
  note_interruption(received, in.stage);
  claim(received, fetched_at);

  // In-progress acks from here until the brief is settled: a precheck (the
  // integrator lands there), preparing a worktree, the engine and the
  // project's tests can each take long.
  InProgress keep_alive(
      received.message, options_.in_progress_every, [this] { note_brief_progress(); },
      [this](Incoming::Settlement how) { releasing(how); });
  set_progress("preparing " + in.stage);
  std::optional<Decision> early;
  {
    std::lock_guard logic_lock(logic_mu_);
    ctx_.project =
        received.brief.project().empty() ? nullptr : config_.project(received.brief.project());
    early = logic_->precheck(ctx_, received.brief, in.task);
  }
  if (early && early->retry_after) {
    log_->info("handing back brief task={} stage={} retry_in_ms={} reason=\"{}\"",
               received.brief.task_id(), in.stage, early->retry_after->count(), early->reason);
    set_progress("waiting: " + early->reason);
    defer(received, *early->retry_after);
    return Handled::handed_back;
  }
  if (early) {
    if (auto r = apply(received, in.task, in.stage, std::move(*early)); !r) {
      return fail(received, &in.task, "applying the stage change: " + r.error().message);
    }
    return Handled::done;
  }
  return work(received, in);
}

Agent::Handled Agent::work(ReceivedBrief& received, Intake& in) {
  const v1::Brief& brief = received.brief;
  const std::string& stage = in.stage;
  std::unique_lock logic_lock(logic_mu_);
  auto turn = logic_->prepare(ctx_, brief, in.task);
  logic_lock.unlock();
  if (!turn) return fail(received, &in.task, "preparing the work: " + turn.error().message);
  turn->env = engine_env(*turn);

  // One call per account until one answers: a rate limit on one account
  // sends the same brief to the next the role allows at once; it waits only
  // when every one has refused (take_lease), until the first reset.
  std::string why_moved;
  const AccountRoutes::Route* route = nullptr;
  std::optional<LeaseOutcome> lease;
  Turn call;
  std::chrono::system_clock::time_point engine_started;
  Result<Outcome> outcome = make_error(errc::internal, "no engine call");
  for (std::size_t tries = 0; tries <= routes_->routes().size(); ++tries) {
    lease.reset();
    if (auto settled = take_lease(received, stage, lease, route)) return *settled;
    call = *turn;
    enter_account(call, in.task, *route, why_moved);
    log_->info("engine start task={} stage={} attempt={} engine=\"{}\"{}", brief.task_id(), stage,
               in.attempt, route->engine->label(),
               route->account.empty() ? "" : " account=" + route->account);
    outcome = run_engine(call, *route, engine_started);

    if (interrupted()) {
      settle_lease(lease, brief, outcome);
      log_->info("handing back brief on {} task={} stage={}", stop_.load() ? "stop" : "cancel",
                 brief.task_id(), stage);
      defer(received, 0ms);
      return Handled::handed_back;
    }
    settle_lease(lease, brief, outcome);
    if (!outcome) {
      Outcome none;
      none.session_id = call.session_id;
      publish_usage(call, *route, none, engine_started, outcome.error().message);
      return fail(received, &in.task, "engine: " + outcome.error().message);
    }
    report_turn(call, *route, *outcome, engine_started);
    if (!outcome->rate_limit) break;
    const auto& limit = *outcome->rate_limit;
    if (route->account.empty()) return wait_out_rate_limit(received, limit.resets_at, limit.detail);
    routes_->refused(route->account, limit.resets_at);
    why_moved =
        route->account + " rate-limited until " + TimeUtil::ToString(to_timestamp(limit.resets_at));
    log_->warn(
        "rate limited task={} account={} resets_at={} detail=\"{}\"; trying the next account",
        brief.task_id(), route->account, TimeUtil::ToString(to_timestamp(limit.resets_at)),
        limit.detail);
    // The refused account is where the task's work was last: the next one
    // takes it over with the hand-over, and says why.
    in.task.set_account(route->account);
  }
  if (!outcome || outcome->rate_limit) {
    // Every account refused in this delivery: wait for the first reset.
    auto earliest = std::chrono::system_clock::now() + 1s;
    (void)routes_->pick(std::chrono::system_clock::now(), &earliest);
    return wait_out_rate_limit(received, earliest, "every account of the role refused");
  }
  for (const auto& denial : outcome->denials) {
    log_->warn(
        "engine was refused a tool task={} tool=\"{}\" (the role's permission_mode or "
        "allowed_tools do not allow it)",
        brief.task_id(), denial);
  }
  set_progress("deciding next stage");
  logic_lock.lock();
  auto decision = logic_->finish(ctx_, call, *outcome);
  logic_lock.unlock();
  if (!decision) return fail(received, &in.task, decision.error().message);
  const std::int64_t tokens = outcome->usage.input_tokens + outcome->usage.output_tokens +
                              outcome->usage.cache_creation_tokens;
  if (auto r = apply(received, in.task, stage, std::move(*decision), tokens, route->account); !r) {
    return fail(received, &in.task, "applying the stage change: " + r.error().message);
  }
  return Handled::done;
}

Agent::Handled Agent::wait_out_rate_limit(ReceivedBrief& received,
                                          std::chrono::system_clock::time_point until,
                                          const std::string& detail) {
  const std::string& task_id = received.brief.task_id();
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::system_clock::now());
  // Stagger wake-ups so a rate-limited fleet does not return in step:
  // up to a tenth of the wait, at least a second's spread.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto jitter = std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(
      0, std::max<std::int64_t>(1000, wait.count() / 10))(rng));
  wait = std::max(wait, 0ms) + jitter;
  {
    std::lock_guard lock(status_mu_);
    *status_.mutable_resumes_at() = to_timestamp(std::chrono::system_clock::now() + wait);
  }
  set_state(voc::kRateLimited, task_id);
  log_->warn("rate limited task={} resume_in_ms={} detail=\"{}\"", task_id, wait.count(), detail);
  defer(received, wait);
  pause_for(wait);
  {
    std::lock_guard lock(status_mu_);
    status_.clear_resumes_at();
  }
  return Handled::handed_back;
}

}  // namespace agency::runtime
