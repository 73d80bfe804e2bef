// The Agent behind run_agent (runtime.hpp): one process, one agent of one
// role. Internal to runtime/: its member functions are spread over one file
// per concern, each named after the thread or step it serves:
//
//   runtime.cpp           run_agent: command line, signals; Agent::run
//   runtime_start.cpp     start(): configuration, engines, NATS, subscriptions
//   runtime_agent.cpp     the brief loop (main thread) and handle(): one brief's steps
//   runtime_intake.cpp    taking a brief in: its task record, replays, claiming it
//   runtime_lease.cpp     the accountant's lease around an engine turn, and its account
//   runtime_turn.cpp      an engine turn: run, cancel, usage, limits, session
//   runtime_apply.cpp     writing a stage change (stage_change.hpp), new tasks, work logs
//   runtime_settle.cpp    a failed brief: NAK with backoff, deferrals, dead letters
//   runtime_status.cpp    AgentStatus, the heartbeat thread, the orphan of a previous run
//   runtime_control.cpp   agency.control.* commands
//   runtime_lateral.cpp   the lateral thread: questions and the role's tick
//   runtime_mail.cpp      mail between briefs (main thread)
//
// Threads:
//   - main thread: pulls briefs, runs the engine, applies stage changes,
//     reads mail; owns the Agent and everything in it;
//   - heartbeat thread: writes AgentStatus to agency-fleet every few seconds
//     and at once on a state change (reads the status under status_mu_),
//     and turns SIGTERM/SIGINT into a stop request (from the start of
//     start(), so a stop during a patient connect is heard);
//   - in-progress thread (only while an engine runs): extends the brief's
//     ack deadline (InProgress, runtime_agent.cpp);
//   - lateral thread: answers questions (agency.ask.<role>) with an engine
//     of its own, so a question never waits for a brief, and runs the
//     role's periodic tick;
//   - nats.c threads: control messages, $SRV requests, questions and the
//     mail doorbell; they only set flags, queue a message or read the
//     status under its mutex.
// Calls into the role (logic_) never overlap: logic_mu_ serialises them,
// so a role is written as single-threaded code. Engine turns for a brief and
// for a question may run at the same time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agency/v1/control.pb.h"
#include "agency/v1/fleet.pb.h"
#include "bus/kv.hpp"
#include "bus/service.hpp"
#include "bus/signals.hpp"
#include "runtime/accounts.hpp"
#include "runtime/inbox.hpp"
#include "runtime/lease.hpp"
#include "runtime/logging.hpp"
#include "runtime/mesh.hpp"
#include "runtime/role_logic.hpp"
#include "runtime/runtime.hpp"
#include "runtime/stage_change.hpp"
#include "runtime/tasks.hpp"

namespace agency::runtime {

// The command line and environment of one agent process (run_agent). A
// value, main thread.
struct Options {
  std::string config_path;
  std::string agent_id;
  std::string skill_path;
  std::string engine;
  std::string nats_url;
  std::string state_dir;
  // SIGTERM and SIGINT, read by the heartbeat thread, which turns them into
  // a stop request; none in tests that run an Agent in-process.
  SignalFd* stop_signals = nullptr;
};

// agency-memory key counting the deferrals of one brief (by its stream
// sequence, which stays the same across redeliveries).
std::string deferral_key(const ReceivedBrief& received);

// Owned by run_agent's frame; lives on the main thread (see the top of this
// file for what the other threads touch).
class Agent {
 public:
  Agent(std::unique_ptr<RoleLogic> logic, RuntimeOptions options)
      : logic_(std::move(logic)), options_(std::move(options)), log_(make_logger(options_.role)) {
    open_heartbeat_fd();
  }

  ~Agent() {
    stop_threads();
    close_heartbeat_fd();
  }
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Main thread: start, the brief loop, the drain. The exit code.
  int run(const Options& opts);

  // Any thread (the signal thread, control messages).
  void request_stop(std::string_view why) {
    if (!stop_.exchange(true)) log_->info("stopping agent={} why={}", options_.agent_id, why);
    cancel_.store(true);
    wake();
  }

 private:
  enum class Handled { done, handed_back, failed };

  // A brief taken in (runtime_intake.cpp): its stage and attempt, and its
  // task record as read (task_revision_ is that record's revision).
  struct Intake {
    std::string stage;
    std::uint32_t attempt = 1;
    v1::Task task;
  };

  // --- start (runtime_start.cpp), main thread, before any other thread.
  Result<void> start(const Options& opts);
  Result<void> load_settings(const Options& opts);  // agency.yaml, SKILL.md, engines
  Result<void> connect(const Options& opts);
  Result<void> open_bus_patiently();  // open_bus, again while the server answers late
  Result<void> open_bus();            // streams, buckets, consumers, mesh, lease client
  void init_status();
  Result<void> subscribe();  // control, questions, the mail doorbell
  Result<void> start_service();

  // --- the brief loop (runtime_agent.cpp), main thread.
  void loop();
  // fetched_at: taken before the fetch that delivered it, so no later than
  // the server's delivery (AgentStatus.brief_progress_at).
  Handled handle(ReceivedBrief received, std::chrono::system_clock::time_point fetched_at);
  // The engine's turn on a claimed brief, and the decision it leads to.
  Handled work(ReceivedBrief& received, Intake& in);
  // A rate-limited turn, with no other account to go to: the brief goes
  // back until `until`.
  Handled wait_out_rate_limit(ReceivedBrief& received, std::chrono::system_clock::time_point until,
                              const std::string& detail);

  // --- intake and claiming (runtime_intake.cpp), main thread.
  // The brief's task record, created for a first attempt; nullopt when the
  // brief is to be worked, else how it was settled (failed, a replay, or
  // waiting aside for its record).
  std::optional<Handled> take_in(ReceivedBrief& received, Intake& in);
  std::optional<Handled> load_task(ReceivedBrief& received, Intake& in);
  // Why `stage` is no stage of this role in `walk`; nothing when it is (or
  // is empty: a lateral role's brief).
  [[nodiscard]] std::optional<std::string> stage_problem(const pipeline::Pipeline& walk,
                                                         const std::string& stage) const;
  std::optional<Handled> catch_up_with_record(ReceivedBrief& received, Intake& in,
                                              std::uint32_t entered);
  bool wait_for_record(ReceivedBrief& received, const std::string& stage, std::uint32_t attempt,
                       v1::Task& task);
  // Taken up again after its agent stopped mid-turn: the engine is told.
  // A replayed brief's move whose event may not have been stored (main thread).
  void restore_move_event(const Intake& in);
  void note_interruption(ReceivedBrief& received, const std::string& stage);
  // The status names the brief, then says busy; a NAK drops it again.
  void claim(ReceivedBrief& received, std::chrono::system_clock::time_point fetched_at);

  // --- leases (runtime_lease.cpp), main thread.
  // nullopt: go on to the engine (with *lease when one was taken); else how
  // the brief was settled (refused, or deferred until there is budget).
  // `route`: the account to spend (the lease's, else the agent's pick).
  std::optional<Handled> take_lease(ReceivedBrief& received, const std::string& stage,
                                    std::optional<LeaseOutcome>& lease,
                                    const AccountRoutes::Route*& route);
  // The turn on `route`: its identity, its session, and when the task's
  // work comes from another account, a new session with the hand-over
  // (and a "switched" event; `why`: what moved it, if the agent knows).
  void enter_account(Turn& turn, const v1::Task& task, const AccountRoutes::Route& route,
                     const std::string& why);
  void settle_lease(const std::optional<LeaseOutcome>& lease, const v1::Brief& brief,
                    const Result<Outcome>& outcome);

  // --- engine turns (runtime_turn.cpp), main thread (the lateral thread
  // has its own engine and calls only engine_env and the publishers).
  // Runs the route's engine on the turn, cancelled by a stop or a `cancel`
  // control; the status names the account meanwhile.
  Result<Outcome> run_engine(const Turn& turn, const AccountRoutes::Route& route,
                             std::chrono::system_clock::time_point& started);
  // After run_engine: a stop, or a `cancel` (consumed), ended the turn.
  bool interrupted() { return stop_.load() || control_cancel_.exchange(false); }
  // Usage, limit readings and the session of a turn that ran.
  void report_turn(const Turn& turn, const AccountRoutes::Route& route, const Outcome& outcome,
                   std::chrono::system_clock::time_point started);
  // A call that failed (`failed` set: what the engine said) is a sample
  // too, with the tokens it reported (none) and the error, so the auditor
  // counts a session's errors (usage.proto).
  void publish_usage(const Turn& turn, const AccountRoutes::Route& route, const Outcome& outcome,
                     std::chrono::system_clock::time_point started, std::string_view failed = {});
  void publish_limits(const AccountRoutes::Route& route, const Outcome& outcome);
  void keep_session(const std::string& account, const Outcome& outcome);
  // The engine session to resume on `account` (a session belongs to one):
  // read from agency-memory once.
  const std::string& session(const std::string& account = {});
  std::map<std::string, std::string> engine_env(const Turn& turn) const;

  // --- the stage change (runtime_apply.cpp), main thread.
  // `account`: the account the turn spent, kept on the record.
  Result<void> apply(ReceivedBrief& received, const v1::Task& task, const std::string& stage,
                     Decision decision, std::int64_t tokens = 0, const std::string& account = {});
  // Who writes an epic's sub-tasks and moves it on: this agent.
  [[nodiscard]] epics::Writer epic_writer();
  void write_work_log(const v1::Task& task, const std::string& outcome, const std::string& summary,
                      std::int64_t tokens, const std::string& msg_id);
  void file_new_tasks(const std::vector<NewTask>& tasks);

  // --- settlement of a brief (runtime_settle.cpp), main thread.
  // A failed brief: handed back with backoff, or dead-lettered (and its task
  // blocked) when it is past the delivery limit or can never succeed.
  Handled fail(ReceivedBrief& received, const v1::Task* task, const std::string& reason,
               bool permanent = false);
  // Hands a brief back with a delay that is not the brief's fault (a rate
  // limit, a stop): counted in agency-memory, so it is not taken for a
  // failed delivery.
  void defer(ReceivedBrief& received, std::chrono::milliseconds delay);
  // The deferrals of a redelivered brief, from agency-memory.
  void read_deferrals(const ReceivedBrief& received);
  // Deliveries of the brief that failed: all of them minus the deferrals.
  std::uint64_t failed_deliveries(const ReceivedBrief& received);
  void forget_deferrals(const ReceivedBrief& received);

  // --- status and heartbeat (runtime_status.cpp).
  // Main thread.
  void set_state(std::string_view state, const std::string& task_id = {});
  // Main and engine threads (progress callbacks).
  void set_progress(std::string_view progress);
  // Heartbeat and main threads (under put_mu_); returns the state written.
  std::string write_heartbeat();
  void heartbeat_loop();
  // The heartbeat thread's wait: until `until`, or until done() holds,
  // looked at whenever wake() is called; a stop signal meanwhile becomes a
  // stop request.
  void heartbeat_wait(std::chrono::steady_clock::time_point until,
                      const std::function<bool()>& done);
  void wake_heartbeat();  // any thread
  void open_heartbeat_fd();
  void close_heartbeat_fd();
  // Before the brief in hand is handed back (NAK): the status stops naming
  // it, written at once, so a status that still names it proves it was
  // never handed back (runtime/orphans.hpp). After an ack or a term the
  // message is no longer pending and a NAK on its subject does nothing, so
  // those settle without the extra write. Main and in-progress threads.
  void release_brief();
  void releasing(Incoming::Settlement how) {
    if (how == Incoming::Settlement::nak) release_brief();
  }
  // The time an in-progress signal is about to be sent (in-progress thread).
  void note_brief_progress();
  // At start, before the first heartbeat: the brief this id's previous
  // process died holding is handed back (runtime/orphans.hpp).
  void hand_back_orphan();

  // --- control (runtime_control.cpp), nats.c threads.
  void on_control(const v1::Control& control);
  // One request an endpoint of the $SRV description handled (ADR-32 stats);
  // a non-empty error counts it as failed. Any thread: control messages
  // arrive before service_ is set, hence the flag.
  void count(std::string_view endpoint, std::chrono::steady_clock::time_point began,
             std::string_view error = {}) {
    if (!serving_.load(std::memory_order_acquire)) return;
    service_->record(endpoint, std::chrono::steady_clock::now() - began, error);
  }

  // --- lateral work (runtime_lateral.cpp): questions and ticks on the
  // lateral thread; mail (runtime_mail.cpp) between briefs on the main one.
  void lateral_loop();
  void answer(Incoming message);
  void handle_mail();
  // The letters among fetched mail messages; the unreadable ones are
  // dead-lettered (and settled) here. messages keeps the readable ones.
  std::vector<v1::Mail> read_letters(std::vector<Incoming>& messages,
                                     std::chrono::steady_clock::time_point began);

  // --- waking and stopping: any thread.
  void wake() {
    {
      std::lock_guard lock(wake_mu_);
      wake_cv_.notify_all();
    }
    wake_heartbeat();
  }
  // Waits up to d or until woken; true if a stop was requested.
  bool pause_for(std::chrono::milliseconds d) {
    std::unique_lock lock(wake_mu_);
    wake_cv_.wait_for(lock, d, [&] { return stop_.load() || kick_.exchange(false); });
    return stop_.load();
  }
  void stop_threads() {
    stop_.store(true);
    heartbeat_stop_.store(true);
    wake();
    stop_lateral();
    if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  }
  // The lateral thread runs for a role with periodic work from the start,
  // and for any other from its first question: an agent of the pipeline
  // that is never asked has no thread waiting for questions.
  void ensure_lateral() {
    std::lock_guard lock(lateral_mu_);
    if (lateral_started_ || lateral_stop_) return;
    lateral_started_ = true;
    lateral_thread_ = std::thread([this] { lateral_loop(); });
  }
  void stop_lateral() {
    {
      std::lock_guard lock(lateral_mu_);
      lateral_stop_ = true;
    }
    question_cancel_.store(true);
    lateral_cv_.notify_all();
    if (lateral_thread_.joinable()) lateral_thread_.join();
  }

  std::unique_ptr<RoleLogic> logic_;
  RuntimeOptions options_;
  std::shared_ptr<spdlog::logger> log_;

  // Set in start(), read by every thread after.
  config::Config config_;
  RoleContext ctx_;
  // The engines, one per account the role may spend (runtime/accounts.hpp);
  // engine() is the first, whose label the status shows.
  std::optional<AccountRoutes> routes_;
  Engine& engine() const { return *routes_->first().engine; }
  std::unique_ptr<Connection> connection_;
  std::optional<TaskStore> store_;
  std::optional<KeyValue> fleet_;
  std::optional<KeyValue> memory_;
  std::optional<BriefInbox> inbox_;
  std::optional<Mesh> mesh_;
  std::optional<PullConsumer> mail_;
  EngineConfig engine_config_;
  // The lateral thread's engines (second instances, the same accounts).
  std::optional<AccountRoutes> question_routes_;
  // Leases before engine calls, when agency.yaml has an accountant section.
  std::optional<LeaseClient> lease_client_;
  // Serialises every call into logic_ (see the top of this file).
  std::mutex logic_mu_;
  std::mutex lateral_mu_;
  std::condition_variable lateral_cv_;
  std::deque<Incoming> questions_;  // guarded by lateral_mu_
  bool lateral_stop_ = false;       // guarded by lateral_mu_
  bool lateral_started_ = false;    // guarded by lateral_mu_
  std::atomic<bool> question_cancel_{false};
  std::thread lateral_thread_;
  // Set by the mail doorbell (and at start): look for mail between briefs.
  std::atomic<bool> mail_waiting_{true};
  // A `cancel` control: the engine turn in hand ends and its brief goes back.
  std::atomic<bool> control_cancel_{false};

  std::atomic<bool> stop_{false};
  std::atomic<bool> drain_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> cancel_{false};
  std::atomic<bool> kick_{false};
  std::atomic<bool> heartbeat_stop_{false};
  // Set once the status is first written: the heartbeat thread runs from
  // the start of start() (for the stop signals) and writes from then on.
  std::atomic<bool> beating_{false};
  // An eventfd the heartbeat thread polls beside the stop signals; wake()
  // adds to it. Made by the constructor, closed by the destructor.
  int heartbeat_fd_ = -1;
  SignalFd* stop_signals_ = nullptr;
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;

  // Serialises heartbeat writes, so an older snapshot never lands after a
  // newer one (release_brief relies on it).
  std::mutex put_mu_;
  std::mutex status_mu_;
  v1::AgentStatus status_;  // guarded by status_mu_
  std::atomic<bool> status_dirty_{false};
  // Main thread only: the revision of the task record as last read, and the
  // engine session (read from agency-memory once, written when it changes).
  std::uint64_t task_revision_ = 0;
  // Deferrals of the brief being handled, as read from agency-memory (0 for
  // a first delivery, which is not looked up).
  std::uint64_t deferrals_ = 0;
  // Why fail() gave up on the brief in hand, for the brief endpoint's stats.
  std::string failure_;
  // Engine sessions by account ("" for an agent without accounts), as
  // loaded from agency-memory.
  std::map<std::string, std::string, std::less<>> sessions_;
  std::int64_t session_max_tokens_ = 150000;
  std::thread heartbeat_thread_;

  // Last: destroyed first, so no callback runs into a half-destroyed Agent.
  std::atomic<bool> serving_{false};  // service_ is set
  std::unique_ptr<ServiceResponder> service_;
  std::vector<Subscription> control_subs_;
  std::optional<Subscription> ask_sub_;
  std::optional<Subscription> mail_bell_sub_;
};

}  // namespace agency::runtime
