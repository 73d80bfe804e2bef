// AgentStatus and the heartbeat (runtime_agent.hpp): the main thread sets
// the state, progress comes from engine threads, the heartbeat thread
// writes the status to agency-fleet every few seconds and at once when it
// changes; the status lives under status_mu_ and its writes are serialised
// by put_mu_. The same thread reads the stop signals. At start, the brief
// a previous process of this id died holding is handed back.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/ids.hpp"
#include "runtime/orphans.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

void Agent::set_state(std::string_view state, const std::string& task_id) {
  {
    std::lock_guard lock(status_mu_);
    if (status_.state() == state && status_.task_id() == task_id) return;
    status_.set_state(std::string(state));
    status_.set_task_id(task_id);
    if (task_id.empty()) {
      status_.clear_brief_ack_subject();
      status_.clear_brief_stage();
      status_.clear_brief_attempt();
      status_.clear_brief_progress_at();
    }
    *status_.mutable_since() = now_timestamp();
  }
  if (service_) {
    service_->set_metadata({{"role", options_.role},
                            {"state", std::string(state)},
                            {"task", task_id},
                            {"engine", engine().label()}});
  }
  status_dirty_.store(true);
  wake();
}

void Agent::set_progress(std::string_view progress) {
  {
    std::lock_guard lock(status_mu_);
    status_.set_last_progress(std::string(progress.substr(0, 200)));
    *status_.mutable_last_progress_at() = now_timestamp();
  }
  // No write of its own: the next heartbeat carries it, so a chatty engine
  // does not turn into a stream of KV writes.
}

std::string Agent::write_heartbeat() {
  std::lock_guard put_lock(put_mu_);
  v1::AgentStatus snapshot;
  {
    std::lock_guard lock(status_mu_);
    *status_.mutable_heartbeat_at() = now_timestamp();
    snapshot = status_;
  }
  if (auto r = fleet_->put(options_.agent_id, codec::encode(snapshot).data); !r) {
    log_->warn("heartbeat failed agent={} error={}", options_.agent_id, r.error().message);
  }
  return snapshot.state();
}

void Agent::release_brief() {
  {
    std::lock_guard lock(status_mu_);
    if (status_.brief_ack_subject().empty()) return;
    status_.clear_brief_ack_subject();
    status_.clear_brief_stage();
    status_.clear_brief_attempt();
    status_.clear_brief_progress_at();
  }
  write_heartbeat();
}

void Agent::note_brief_progress() {
  std::lock_guard lock(status_mu_);
  *status_.mutable_brief_progress_at() = now_timestamp();
}

namespace {
// An agent that goes from one brief straight to the next (work queued) says
// so at most once in this span: the status then names the brief in hand as
// of the write. Idle -> busy, and any other change, is written at once. The
// cost: an agent killed within this span of taking a brief may leave a
// status naming the one before (already acked), so the sweeper cannot hand
// the new one back and the server redelivers it after its ack wait.
constexpr std::chrono::milliseconds kBusyCoalesce{20};
}  // namespace

void Agent::open_heartbeat_fd() {
  heartbeat_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (heartbeat_fd_ < 0) {
    // Without it the heartbeat still writes, on its period only.
    log_->warn("eventfd failed: status changes wait for the next heartbeat errno={}", errno);
  }
}

void Agent::close_heartbeat_fd() {
  if (heartbeat_fd_ >= 0) ::close(heartbeat_fd_);
  heartbeat_fd_ = -1;
}

void Agent::wake_heartbeat() {
  if (heartbeat_fd_ < 0) return;
  const std::uint64_t one = 1;
  (void)!::write(heartbeat_fd_, &one, sizeof one);  // full (2^64 - 2) only if never read
}

void Agent::heartbeat_wait(std::chrono::steady_clock::time_point until,
                           const std::function<bool()>& done) {
  using Clock = std::chrono::steady_clock;
  while (!done()) {
    const auto now = Clock::now();
    if (now >= until) return;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    std::array<pollfd, 2> fds{{{heartbeat_fd_, POLLIN, 0},
                               {stop_signals_ != nullptr ? stop_signals_->fd() : -1, POLLIN, 0}}};
    const int n =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (n < 0 && errno != EINTR) {
      log_->warn("heartbeat wait failed errno={}", errno);
      return;  // the caller writes a heartbeat and waits again
    }
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      (void)!::read(heartbeat_fd_, &count, sizeof count);
    }
    if ((fds[1].revents & POLLIN) != 0) {
      const int sig = stop_signals_->take();
      if (sig == SIGTERM || sig == SIGINT) request_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
  }
}

void Agent::heartbeat_loop() {
  using Clock = std::chrono::steady_clock;
  // Until start() has written the first status, only the stop signals.
  heartbeat_wait(Clock::time_point::max(),
                 [&] { return heartbeat_stop_.load() || beating_.load(); });
  auto next = Clock::now() + options_.heartbeat;
  std::string written;  // the state of the last write
  Clock::time_point written_at;
  auto busy = [&] {
    std::lock_guard lock(status_mu_);
    return status_.state() == vocabulary::kBusy;
  };
  while (!heartbeat_stop_.load()) {
    heartbeat_wait(next, [&] { return heartbeat_stop_.load() || status_dirty_.load(); });
    if (!heartbeat_stop_.load() && written == vocabulary::kBusy &&
        Clock::now() < written_at + kBusyCoalesce && busy()) {
      heartbeat_wait(written_at + kBusyCoalesce, [&] { return heartbeat_stop_.load() || !busy(); });
    }
    if (heartbeat_stop_.load()) break;
    status_dirty_.store(false);
    written = write_heartbeat();
    written_at = Clock::now();
    if (written_at >= next) next += options_.heartbeat;
  }
}

void Agent::hand_back_orphan() {
  auto entry = fleet_->get(options_.agent_id);
  if (!entry) return;  // no status left: nothing held, or it expired
  auto last = codec::decode<v1::AgentStatus>(entry->value);
  if (!last || last->brief_ack_subject().empty() || last->task_id().empty()) return;
  if (last->pid() == ::getpid()) return;
  // Only a process known dead: on this host, its pid gone (or reused by
  // another program, which cannot be told apart; the checks in orphans.hpp
  // still hold then). Another host's agent is left to the sweeper.
  if (last->host() != ids::host_name()) {
    log_->info(
        "previous process of agent={} ran on host={}: its brief task={} is left to the "
        "sweeper or its ack wait",
        options_.agent_id, last->host(), last->task_id());
    return;
  }
  if (last->pid() > 0 && ::kill(last->pid(), 0) == 0) {
    log_->warn(
        "previous process of agent={} pid={} may still run: its brief task={} is not "
        "handed back",
        options_.agent_id, last->pid(), last->task_id());
    return;
  }
  auto task = store_->load(last->task_id());
  if (!task) {
    log_->warn("previous process of agent={} held task={} whose record cannot be read: {}",
               options_.agent_id, last->task_id(), task.error().message);
    return;
  }
  // Without the fleet, nobody can say whether another agent holds the
  // task's brief now.
  auto fleet = mesh_->fleet();
  if (!fleet) {
    log_->warn(
        "previous process of agent={} held task={}; agency-fleet cannot be read ({}), so "
        "its brief returns when its ack wait ends",
        options_.agent_id, last->task_id(), fleet.error().message);
    return;
  }
  auto done = orphans::hand_back(*connection_, *last, *fleet, task->task,
                                 std::chrono::seconds(config_.pipeline.ack_wait_seconds),
                                 options_.agent_id, "the agent started again under its id");
  if (!done) {
    log_->warn("cannot hand back the brief of the previous process agent={} task={} error={}",
               options_.agent_id, last->task_id(), done.error().message);
  } else if (done->handed_back) {
    log_->info(
        "handed back the brief the previous process died holding agent={} pid={} task={} "
        "({})",
        options_.agent_id, last->pid(), last->task_id(), done->why);
  } else {
    log_->info("brief of the previous process not handed back agent={} task={}: {}",
               options_.agent_id, last->task_id(), done->why);
  }
}

}  // namespace agency::runtime
