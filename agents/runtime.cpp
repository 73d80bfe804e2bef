// The role loop (see runtime.hpp). Threads:
//   - main thread: pulls briefs, runs the engine, applies stage changes;
//     owns the Agent and everything in it;
//   - heartbeat thread: writes AgentStatus to agency-fleet every few seconds
//     and at once on a state change (reads the status under status_mu_);
//   - in-progress thread (only while an engine runs): extends the brief's
//     ack deadline;
//   - signal thread: turns SIGTERM/SIGINT into a stop request;
//   - lateral thread: answers questions (agency.ask.<role>) with an engine
//     of its own, so a question never waits for a brief, and runs the
//     role's periodic tick;
//   - nats.c threads: control messages, $SRV requests, questions and the
//     mail doorbell; they only set flags, queue a message or read the
//     status under its mutex.
// Calls into the role (logic_) never overlap: logic_mu_ serialises them,
// so a role is written as single-threaded code. Engine turns for a brief and
// for a question may run at the same time.
#include "agents/runtime.hpp"
#include "bus/clock.hpp"

#include <google/protobuf/util/time_util.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <variant>

#include "agency/v1/control.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/usage.pb.h"
#include "agency/v1/worklog.pb.h"
#include "agents/catalog.hpp"
#include "agents/ids.hpp"
#include "agents/inbox.hpp"
#include "agents/lease.hpp"
#include "agents/logging.hpp"
#include "agents/mesh.hpp"
#include "agents/orphans.hpp"
#include "agents/pipeline.hpp"
#include "agents/tasks.hpp"
#include "bus/bounds.hpp"
#include "bus/codec.hpp"
#include "bus/dead_letter.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/service.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"

namespace agency {
namespace {

using google::protobuf::util::TimeUtil;
using namespace std::chrono_literals;
namespace voc = vocabulary;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// How many times the task entered `stage` (its attempt number there).
std::uint32_t entries_into(const v1::Task& task, std::string_view stage) {
  std::uint32_t n = 0;
  for (const auto& change : task.history()) {
    if (change.to() == stage) ++n;
  }
  return n;
}

// Texts agency writes into events, records and logs are cut to these
// (streams and buckets have a max_msg_size: docs/STREAMS.md).
constexpr std::size_t kMostReasonBytes = 8 * 1024;
constexpr std::size_t kMostSummaryBytes = 64 * 1024;

// A brief agency publishes fits its stream (limits.brief_bytes): the
// engine's context for the next stage is cut first, then the objective.
void fit_brief(v1::Brief& brief, std::size_t max_bytes) {
  for (std::string* text :
       {brief.mutable_context(), brief.mutable_objective(), brief.mutable_done_when()}) {
    std::size_t size = brief.ByteSizeLong();
    if (size <= max_bytes) return;
    // A field's length prefix shrinks with it: 16 bytes cover any change.
    std::size_t over = size - max_bytes + 16;
    bounds::cut(*text, text->size() > over + 64 ? text->size() - over : 64);
  }
}

// agency-memory key counting the deferrals of one brief (by its stream
// sequence, which stays the same across redeliveries).
std::string deferral_key(const ReceivedBrief& received) {
  return "deferred." + received.delivery.consumer + "." +
         std::to_string(received.delivery.stream_sequence);
}

// The directory of this binary: `agency` is installed beside the role
// binaries, and engine processes get it first on PATH.
std::filesystem::path own_bin_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

// Where SKILL.md of a role is when nobody says: beside the binary (the build
// copies every role's SKILL.md to bin/skills/<role>/), then the source tree.
std::filesystem::path default_skill_path(const std::string& role) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = exe.parent_path() / "skills" / role / "SKILL.md";
    if (std::filesystem::exists(beside)) return beside;
  }
  if (const char* dir = std::getenv("AGENCY_SKILLS_DIR"); dir != nullptr && *dir != '\0') {
    return std::filesystem::path(dir) / role / "SKILL.md";
  }
  return std::filesystem::path("roles") / role / "SKILL.md";
}

// Tells the server, every `every`, that a brief is still being worked on, so
// it is not redelivered to another agent meanwhile. The Incoming's ack, nak
// and term stop it first (Incoming::on_settle): nothing is sent after
// the brief is settled.
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

struct Options {
  std::string config_path;
  std::string agent_id;
  std::string skill_path;
  std::string engine;
  std::string nats_url;
  std::string state_dir;
};

class Agent {
 public:
  Agent(std::unique_ptr<RoleLogic> logic, RuntimeOptions options)
      : logic_(std::move(logic)), options_(std::move(options)), log_(make_logger(options_.role)) {}

  ~Agent() { stop_threads(); }

  int run(const Options& opts);

  void request_stop(std::string_view why) {
    if (!stop_.exchange(true)) log_->info("stopping agent={} why={}", options_.agent_id, why);
    cancel_.store(true);
    wake();
  }

 private:
  enum class Handled { done, handed_back, failed };

  Result<void> start(const Options& opts);
  void loop();
  // fetched_at: taken before the fetch that delivered it, so no later than
  // the server's delivery (AgentStatus.brief_progress_at).
  Handled handle(ReceivedBrief received, std::chrono::system_clock::time_point fetched_at);
  // Before the brief in hand is handed back (NAK): the status stops naming
  // it, written at once, so a status that still names it proves it was
  // never handed back (agents/orphans.hpp). After an ack or a term the
  // message is no longer pending and a NAK on its subject does nothing, so
  // those settle without the extra write.
  void release_brief();
  void releasing(Incoming::Settlement how) {
    if (how == Incoming::Settlement::nak) release_brief();
  }
  // The time an in-progress signal is about to be sent.
  void note_brief_progress();
  // At start, before the first heartbeat: the brief this id's previous
  // process died holding is handed back (agents/orphans.hpp).
  void hand_back_orphan();
  // A failed brief: handed back with backoff, or dead-lettered (and its task
  // blocked) when it is past the delivery limit or can never succeed.
  Handled fail(ReceivedBrief& received, const v1::Task* task, const std::string& reason,
               bool permanent = false);
  Result<void> apply(ReceivedBrief& received, const v1::Task& task, const std::string& stage,
                     Decision decision, std::int64_t tokens = 0);
  bool wait_for_record(ReceivedBrief& received, const std::string& stage, std::uint32_t attempt,
                       v1::Task& task);
  void on_control(const v1::Control& control);
  // One request an endpoint of the $SRV description handled (ADR-32 stats);
  // a non-empty error counts it as failed. Any thread: control messages
  // arrive before service_ is set, hence the flag.
  void count(std::string_view endpoint, std::chrono::steady_clock::time_point began,
             std::string_view error = {}) {
    if (!serving_.load(std::memory_order_acquire)) return;
    service_->record(endpoint, std::chrono::steady_clock::now() - began, error);
  }
  void publish_usage(const Turn& turn, const Outcome& outcome,
                     std::chrono::system_clock::time_point started);
  void publish_limits(const Outcome& outcome);
  void keep_session(const Outcome& outcome);
  // The engine session to resume: read from agency-memory once.
  const std::string& session();
  // Hands a brief back with a delay that is not the brief's fault (a rate
  // limit, a stop): counted in agency-memory, so it is not taken for a
  // failed delivery.
  void defer(ReceivedBrief& received, std::chrono::milliseconds delay);
  // Deliveries of the brief that failed: all of them minus the deferrals.
  std::uint64_t failed_deliveries(const ReceivedBrief& received);
  void forget_deferrals(const ReceivedBrief& received);

  // Lateral work: questions and ticks on their own thread, mail between
  // briefs on the main thread.
  void lateral_loop();
  void answer(Incoming message);
  void handle_mail();
  // What every engine process gets besides the turn's own environment: who
  // it is, where NATS is, and `agency` on PATH (so it can ask and mail).
  std::map<std::string, std::string> engine_env(const Turn& turn) const;
  void write_work_log(const v1::Task& task, const std::string& outcome, const std::string& summary,
                      std::int64_t tokens, const std::string& msg_id);
  void file_new_tasks(const std::vector<NewTask>& tasks);

  void set_state(std::string_view state, const std::string& task_id = {});
  void set_progress(std::string_view progress);
  void write_heartbeat();
  void heartbeat_loop();
  // Serialises heartbeat writes, so an older snapshot never lands after a
  // newer one (release_brief relies on it).
  std::mutex put_mu_;
  void wake() {
    std::lock_guard lock(wake_mu_);
    wake_cv_.notify_all();
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

  config::Config config_;
  RoleContext ctx_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Connection> connection_;
  std::optional<TaskStore> store_;
  std::optional<KeyValue> fleet_;
  std::optional<KeyValue> memory_;
  std::optional<BriefInbox> inbox_;
  std::optional<Mesh> mesh_;
  std::optional<PullConsumer> mail_;
  EngineConfig engine_config_;
  // The lateral thread's engine (a second instance of the same kind).
  std::unique_ptr<Engine> question_engine_;
  // Leases before engine calls, when agency.yaml has an accountant section.
  std::optional<LeaseClient> lease_client_;
  std::string engine_config_model_;
  // Serialises every call into logic_ (see the top of this file).
  std::mutex logic_mu_;
  std::mutex lateral_mu_;
  std::condition_variable lateral_cv_;
  std::deque<Incoming> questions_;  // guarded by lateral_mu_
  bool lateral_stop_ = false;       // guarded by lateral_mu_
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
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;

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
  std::string session_id_;
  bool session_loaded_ = false;
  std::int64_t session_max_tokens_ = 150000;
  std::thread heartbeat_thread_;

  // Last: destroyed first, so no callback runs into a half-destroyed Agent.
  std::atomic<bool> serving_{false};  // service_ is set
  std::unique_ptr<ServiceResponder> service_;
  std::vector<Subscription> control_subs_;
  std::optional<Subscription> ask_sub_;
  std::optional<Subscription> mail_bell_sub_;
};

Result<void> Agent::start(const Options& opts) {
  // Configuration.
  std::optional<std::filesystem::path> cfg_path;
  if (!opts.config_path.empty()) cfg_path = opts.config_path;
  auto cfg = config::load(cfg_path);
  if (!cfg) return cfg.error();
  config_ = std::move(*cfg);
  if (!opts.state_dir.empty()) config_.state_dir = opts.state_dir;
  const config::Role* role_cfg = config_.role(options_.role);

  std::filesystem::path skill_path = opts.skill_path;
  if (skill_path.empty() && role_cfg != nullptr && !role_cfg->skill.empty()) {
    skill_path = role_cfg->skill;
  }
  if (skill_path.empty()) skill_path = default_skill_path(options_.role);
  auto skill = load_skill(skill_path);
  if (!skill) return skill.error();

  EngineConfig ec;
  ec.kind = !opts.engine.empty()                                 ? opts.engine
            : (role_cfg != nullptr && !role_cfg->engine.empty()) ? role_cfg->engine
            : !skill->engine.empty()                             ? skill->engine
                                                                 : "scripted";
  if (role_cfg != nullptr) {
    ec.model = role_cfg->model;
    ec.command = role_cfg->command;
    ec.timeout = std::chrono::seconds(role_cfg->timeout_seconds);
    ec.env_allow = role_cfg->env_allow;
    ec.scenario = role_cfg->scenario;
    ec.cli = role_cfg->cli;
    ec.cli_args = role_cfg->cli_args;
    ec.permission_mode = role_cfg->permission_mode;
    ec.allowed_tools = role_cfg->allowed_tools;
    ec.max_turns = role_cfg->max_turns;
    ec.base_url = role_cfg->base_url;
    ec.api_key_env = role_cfg->api_key_env;
    ec.max_tokens = role_cfg->max_tokens;
    ec.retries = role_cfg->retries;
    ec.rate_limit_wait = std::chrono::seconds(role_cfg->rate_limit_wait_seconds);
    session_max_tokens_ = role_cfg->session_max_tokens;
  }
  // The role's own default (the builder edits files; the others read).
  if (ec.permission_mode.empty()) {
    if (auto it = skill->extra.find("permission_mode"); it != skill->extra.end()) {
      ec.permission_mode = it->second;
    }
  }
  auto engine = make_engine(ec);
  if (!engine) return engine.error();
  engine_ = std::move(*engine);
  engine_config_model_ = ec.model;
  auto question_engine = make_engine(ec);
  if (!question_engine) return question_engine.error();
  question_engine_ = std::move(*question_engine);
  engine_config_ = ec;
  options_.bounce_limit = config_.pipeline.bounce_limit;
  options_.max_deliver = config_.pipeline.max_deliver;

  ctx_.config = &config_;
  ctx_.agent_id = options_.agent_id;
  ctx_.skill = std::move(*skill);
  ctx_.work_dir = config_.state_dir / "work";

  // NATS.
  auto settings = settings_from_environment();
  if (!settings) return settings.error();
  if (!opts.nats_url.empty()) {
    settings->servers = {opts.nats_url};
    settings->origin = "--nats";
  } else if (!config_.nats.url.empty() && settings->origin == "default") {
    settings->servers = {config_.nats.url};
    settings->origin = "agency.yaml";
  }
  ConnectOptions co;
  co.name = options_.agent_id;
  co.mode = ConnectMode::keep_trying;
  co.on_event = [log = log_](std::string_view e) { log->warn("nats {}", e); };
  log_->info("connecting agent={} nats={} ({})", options_.agent_id, settings->display_url(),
             settings->origin);
  auto conn = Connection::open(*settings, co);
  if (!conn) return conn.error();
  connection_ = std::move(*conn);

  if (auto r = provision(*connection_, provision_plan(config_, {options_.role})); !r) {
    return r.error();
  }
  auto store = TaskStore::open(*connection_, static_cast<std::size_t>(config_.limits.task_bytes));
  if (!store) return store.error();
  store_.emplace(std::move(*store));
  auto fleet = KeyValue::open(*connection_, subjects::kFleetBucket);
  if (!fleet) return fleet.error();
  fleet_.emplace(std::move(*fleet));
  auto memory = KeyValue::open(*connection_, subjects::kMemoryBucket);
  if (!memory) return memory.error();
  memory_.emplace(std::move(*memory));
  InboxLimits inbox_limits;
  inbox_limits.brief_bytes = static_cast<std::size_t>(config_.limits.brief_bytes);
  inbox_limits.keep_bytes = static_cast<std::size_t>(config_.limits.dead_letter_keep_bytes);
  inbox_limits.max_deliver = static_cast<std::uint64_t>(config_.pipeline.max_deliver);
  auto inbox = BriefInbox::open(*connection_, options_.role, options_.agent_id, inbox_limits);
  if (!inbox) return inbox.error();
  inbox_.emplace(std::move(*inbox));
  if (auto r = ensure_mail_consumer(*connection_, options_.agent_id); !r) return r.error();
  auto mail = PullConsumer::bind(*connection_, subjects::kMailStream,
                                 subjects::mail_consumer(options_.agent_id),
                                 subjects::mail(options_.agent_id));
  if (!mail) return mail.error();
  mail_.emplace(std::move(*mail));
  mesh_.emplace(*connection_, *store_, *fleet_, *memory_, options_.agent_id, options_.role);
  ctx_.mesh = &*mesh_;
  const auto* known = catalog::find(options_.role);
  if (config_.leases.enabled && (known == nullptr || known->takes_leases)) {
    lease_client_.emplace(*connection_, config_.leases, options_.agent_id, options_.role);
  }
  {
    std::lock_guard lock(logic_mu_);
    if (auto r = logic_->start(ctx_); !r) return r.error();
  }

  {
    std::lock_guard lock(status_mu_);
    status_.set_agent_id(options_.agent_id);
    status_.set_role(options_.role);
    status_.set_state(std::string(voc::kIdle));
    *status_.mutable_since() = now_timestamp();
    status_.set_engine(engine_->label());
    status_.set_pid(static_cast<int>(::getpid()));
    status_.set_host(ids::host_name());
    status_.set_version(AGENCY_VERSION);
  }

  // Control: this agent, its role, everyone.
  for (const auto& target : {options_.agent_id, options_.role, std::string("all")}) {
    auto sub = connection_->subscribe(subjects::control(target), {}, [this](Incoming m) {
      const auto began = std::chrono::steady_clock::now();
      auto control = codec::decode<v1::Control>(m.data(), m.headers());
      if (!control) {
        log_->warn("ignored control message subject={} reason={}", m.subject(),
                   control.error().message);
        count("control", began, "unreadable control message: " + control.error().message);
        return;
      }
      on_control(*control);
      count("control", began);
    });
    if (!sub) return sub.error();
    control_subs_.push_back(std::move(*sub));
  }

  // Questions to the role: any agent of it may answer (queue group).
  auto ask =
      connection_->subscribe(subjects::ask(options_.role), options_.role, [this](Incoming m) {
        {
          std::lock_guard lock(lateral_mu_);
          questions_.push_back(std::move(m));
        }
        lateral_cv_.notify_all();
      });
  if (!ask) return ask.error();
  ask_sub_.emplace(std::move(*ask));
  // The mail doorbell: the stream keeps the mail; this only says to look.
  auto bell = connection_->subscribe(subjects::mail(options_.agent_id), {}, [this](Incoming) {
    mail_waiting_.store(true);
    kick_.store(true);
    wake();
  });
  if (!bell) return bell.error();
  mail_bell_sub_.emplace(std::move(*bell));

  ServiceIdentity identity{
      "agency-" + options_.role, options_.agent_id, AGENCY_VERSION,
      ctx_.skill.description.empty() ? "agency role " + options_.role : ctx_.skill.description};
  std::vector<ServiceEndpoint> endpoints = {
      {"brief",
       subjects::brief(options_.role),
       subjects::brief_consumer(options_.role),
       {{"stream", std::string(subjects::kBriefsStream)}}},
      {"control", subjects::control(options_.agent_id), "", {}},
      {"ask", subjects::ask(options_.role), options_.role, {}},
      {"mail",
       subjects::mail(options_.agent_id),
       "",
       {{"stream", std::string(subjects::kMailStream)}}},
  };
  auto service = ServiceResponder::start(*connection_, identity, endpoints,
                                         {{"role", options_.role},
                                          {"state", std::string(voc::kIdle)},
                                          {"task", ""},
                                          {"engine", engine_->label()}});
  if (!service) return service.error();
  service_ = std::move(*service);
  serving_.store(true, std::memory_order_release);

  hand_back_orphan();
  write_heartbeat();
  heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
  lateral_thread_ = std::thread([this] { lateral_loop(); });
  log_->info("agent ready agent={} role={} engine=\"{}\" skill={}", options_.agent_id,
             options_.role, engine_->label(), ctx_.skill.source.string());
  return {};
}

void Agent::on_control(const v1::Control& control) {
  const std::string& c = control.command();
  log_->info("control command={} from={} reason=\"{}\"", c, control.from(), control.reason());
  if (c == voc::kPause) {
    paused_.store(true);
  } else if (c == voc::kResume) {
    paused_.store(false);
  } else if (c == voc::kDrain) {
    drain_.store(true);
  } else if (c == voc::kStop) {
    request_stop("control stop");
  } else if (c == voc::kReload) {
    log_->warn("reload is not supported yet; restart the agent to read agency.yaml again");
  } else if (c == voc::kNudge) {
    // Report at once: a live agent answers with a fresh heartbeat.
    status_dirty_.store(true);
  } else if (c == voc::kCancel) {
    control_cancel_.store(true);
    cancel_.store(true);
  }
  kick_.store(true);
  wake();
}

void Agent::set_state(std::string_view state, const std::string& task_id) {
  {
    std::lock_guard lock(status_mu_);
    if (status_.state() == state && status_.task_id() == task_id) return;
    status_.set_state(std::string(state));
    status_.set_task_id(task_id);
    if (task_id.empty()) {
      status_.clear_brief_ack_subject();
      status_.clear_brief_progress_at();
    }
    *status_.mutable_since() = now_timestamp();
  }
  if (service_) {
    service_->set_metadata({{"role", options_.role},
                            {"state", std::string(state)},
                            {"task", task_id},
                            {"engine", engine_->label()}});
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

void Agent::write_heartbeat() {
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
}

void Agent::release_brief() {
  {
    std::lock_guard lock(status_mu_);
    if (status_.brief_ack_subject().empty()) return;
    status_.clear_brief_ack_subject();
    status_.clear_brief_progress_at();
  }
  write_heartbeat();
}

void Agent::note_brief_progress() {
  std::lock_guard lock(status_mu_);
  *status_.mutable_brief_progress_at() = now_timestamp();
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

void Agent::heartbeat_loop() {
  auto next = std::chrono::steady_clock::now() + options_.heartbeat;
  while (!heartbeat_stop_.load()) {
    {
      std::unique_lock lock(wake_mu_);
      wake_cv_.wait_until(lock, next,
                          [&] { return heartbeat_stop_.load() || status_dirty_.load(); });
    }
    if (heartbeat_stop_.load()) break;
    status_dirty_.store(false);
    write_heartbeat();
    if (std::chrono::steady_clock::now() >= next) next += options_.heartbeat;
  }
}

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
    set_state(voc::kIdle);
    if (mail_waiting_.exchange(false)) {
      handle_mail();
      continue;
    }
    const auto fetched_at = std::chrono::system_clock::now();
    auto got = inbox_->next(options_.fetch_wait);
    if (!got) {
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
    if (handle(std::move(**got), fetched_at) == Handled::failed) {
      count("brief", began, failure_);
    } else {
      count("brief", began);
    }
  }
}

Agent::Handled Agent::fail(ReceivedBrief& received, const v1::Task* task, const std::string& reason,
                           bool permanent) {
  failure_ = reason;
  auto deliveries = failed_deliveries(received);
  const std::string& task_id = received.brief.task_id();
  if (permanent || deliveries >= static_cast<std::uint64_t>(options_.max_deliver)) {
    std::string why =
        permanent ? reason
                  : "gave up after " + std::to_string(deliveries) + " deliveries: " + reason;
    bounds::cut(why, kMostReasonBytes);
    log_->error("dead-lettering brief task={} reason=\"{}\"", task_id, why);
    auto letter = make_dead_letter(received.message, why, options_.role, options_.agent_id,
                                   static_cast<std::size_t>(config_.limits.dead_letter_keep_bytes));
    letter.set_task_id(task_id);
    if (auto r = publish_dead_letter(*connection_, letter); !r) {
      // A dead letter is bounded, so this is the server refusing to store
      // anything now. Try again later, but not forever.
      if (deliveries >= 2 * static_cast<std::uint64_t>(options_.max_deliver)) {
        log_->error(
            "terminating brief task={} sequence={} deliveries={}: its dead letter cannot be "
            "stored ({}); reason=\"{}\"",
            task_id, received.delivery.stream_sequence, deliveries, r.error().message, why);
        (void)received.message.term();
        forget_deferrals(received);
        return Handled::failed;
      }
      log_->error("cannot store dead letter task={} error={}", task_id, r.error().message);
      (void)received.message.nak(5000);
      return Handled::failed;
    }
    if (task != nullptr) {
      const std::string seq = std::to_string(received.delivery.stream_sequence);
      auto blocked =
          store_->block(task_id, options_.agent_id, why, "event:" + task_id + ":dead:" + seq);
      if (blocked && *blocked) {
        if (auto closed = store_->load(task_id); closed) {
          write_work_log(closed->task, std::string(voc::kBlocked), why, 0,
                         "log:" + task_id + ":dead:" + seq);
        }
      }
    }
    (void)received.message.ack();
    forget_deferrals(received);
    return Handled::failed;
  }
  // Transient: hand it back with a growing delay (2 s, 4 s, 8 s, ... 60 s).
  std::int64_t delay_ms =
      std::min<std::int64_t>(60000, 1000LL << std::min<std::uint64_t>(deliveries, 6));
  log_->warn("brief failed, handing it back task={} delivery={} retry_in_ms={} reason=\"{}\"",
             task_id, deliveries, delay_ms, reason);
  (void)received.message.nak(delay_ms);
  return Handled::failed;
}

bool Agent::wait_for_record(ReceivedBrief& received, const std::string& stage,
                            std::uint32_t attempt, v1::Task& task) {
  // The previous stage publishes this brief before it updates the record
  // (docs/ARCHITECTURE.md), so for a moment the brief can be ahead of the task.
  // Wait a moment for the record instead of dropping the brief; a record
  // that takes longer is waited for aside (handle()).
  set_state(voc::kBusy, received.brief.task_id());
  set_progress("waiting for the task record to reach attempt " + std::to_string(attempt) + " at " +
               stage);
  auto deadline = std::chrono::steady_clock::now() + 2s;
  auto last_ack = std::chrono::steady_clock::now();
  // The record usually lands within a millisecond: look again soon, then
  // back off to 50 ms.
  std::chrono::milliseconds poll = 1ms;
  while (std::chrono::steady_clock::now() < deadline && !stop_.load()) {
    if (pause_for(poll)) return false;
    poll = std::min<std::chrono::milliseconds>(poll * 2, 50ms);
    auto loaded = store_->load(received.brief.task_id());
    if (loaded && entries_into(loaded->task, stage) >= attempt) {
      task = std::move(loaded->task);
      task_revision_ = loaded->revision;
      return true;
    }
    if (std::chrono::steady_clock::now() - last_ack > 5s) {
      note_brief_progress();
      (void)received.message.in_progress();
      last_ack = std::chrono::steady_clock::now();
    }
  }
  return false;
}

Agent::Handled Agent::handle(ReceivedBrief received,
                             std::chrono::system_clock::time_point fetched_at) {
  v1::Brief& brief = received.brief;
  deferrals_ = 0;
  if (received.delivery.deliveries > 1) {
    if (auto d = memory_->get(deferral_key(received)); d) {
      deferrals_ = std::strtoull(d->value.c_str(), nullptr, 10);
    }
  }
  // Delivered again and again without being settled: the agents handling
  // it died on it (the server would redeliver it forever).
  if (failed_deliveries(received) > static_cast<std::uint64_t>(options_.max_deliver)) {
    return fail(received, nullptr,
                "delivered " + std::to_string(failed_deliveries(received)) +
                    " times without being settled (the agents handling it may have crashed on it)",
                true);
  }
  if (brief.task_id().empty()) {
    brief.set_task_id(
        ids::task_for_message(received.delivery.timestamp_ns, received.delivery.stream_sequence));
  }
  std::string stage =
      brief.stage().empty() ? std::string(pipeline::stage_of(options_.role)) : brief.stage();
  if (!stage.empty() && pipeline::role_for_stage(stage) != options_.role) {
    const auto owner = pipeline::role_for_stage(stage);
    return fail(received, nullptr,
                owner.empty() ? "stage " + stage + " is not in the pipeline (its stages: " +
                                    vocabulary::join(pipeline::work_stages()) + ")"
                              : "stage " + stage + " belongs to role " + std::string(owner) +
                                    ", not " + options_.role,
                true);
  }
  brief.set_stage(stage);
  // With one project configured, a brief that names none is for it.
  if (brief.project().empty() && config_.projects.size() == 1) {
    brief.set_project(config_.projects.front().name);
  }
  std::uint32_t attempt = std::max<std::uint32_t>(1, brief.attempt());
  // Look before creating: a task starts at attempt 1, so a brief with a
  // later attempt for a task that does not exist was not published by an
  // agent, and must not leave a task behind.
  v1::Task task;
  if (auto existing = store_->load(brief.task_id()); existing) {
    task = std::move(existing->task);
    task_revision_ = existing->revision;
  } else if (existing.error().code != errc::not_found) {
    return fail(received, nullptr, existing.error().message);
  } else if (attempt > 1) {
    return fail(received, nullptr,
                "attempt " + std::to_string(attempt) + " at " + stage + " for task " +
                    brief.task_id() +
                    ", which does not exist: a task starts at attempt 1, so no agent published "
                    "this brief",
                true);
  } else {
    auto created = store_->create(brief, stage, options_.agent_id);
    if (!created) return fail(received, nullptr, created.error().message);
    task = created->task;
    task_revision_ = created->revision;
  }
  std::uint32_t entered = entries_into(task, stage);
  if (attempt > entered + 1) {
    // The stage before publishes attempt entered+1 only; nothing publishes
    // one further ahead.
    return fail(received, nullptr,
                "attempt " + std::to_string(attempt) + " at " + stage + " is ahead of task " +
                    brief.task_id() + ", which entered " + stage + " " + std::to_string(entered) +
                    " time(s): the next brief for a stage is always the next attempt, so no "
                    "agent published this one",
                true);
  }
  if (entered < attempt) {
    if (!wait_for_record(received, stage, attempt, task)) {
      if (stop_.load()) {
        (void)received.message.nak(0);
        return Handled::handed_back;
      }
      // The stage before may have died between publishing this brief and
      // updating the record; its own redelivery completes the update within
      // an ack wait or two. Wait aside (a deferral, not a failed delivery)
      // so the briefs behind this one go first, but not forever.
      auto age = std::chrono::system_clock::now() -
                 std::chrono::system_clock::time_point(
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         std::chrono::nanoseconds(received.delivery.timestamp_ns)));
      auto patience = 3 * std::chrono::seconds(config_.pipeline.ack_wait_seconds) + 60s;
      if (received.delivery.timestamp_ns > 0 && age > patience) {
        return fail(
            received, nullptr,
            "attempt " + std::to_string(attempt) + " at " + stage + " for task " + brief.task_id() +
                " is still ahead of the task record after " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) +
                " s (the record entered " + stage + " " + std::to_string(entered) +
                " time(s)); the stage before never recorded this change",
            true);
      }
      auto delay = std::min<std::chrono::milliseconds>(
          30s, std::chrono::milliseconds(2000LL << std::min<std::uint64_t>(deferrals_, 4)));
      log_->info(
          "brief ahead of its task record, waiting aside task={} stage={} attempt={} "
          "retry_in_ms={}",
          brief.task_id(), stage, attempt, delay.count());
      defer(received, delay);
      return Handled::handed_back;
    }
    entered = entries_into(task, stage);
  }
  if (task.stage() != stage || entered > attempt) {
    // A replay: the task has already moved on from this stage and attempt.
    log_->info("replayed brief skipped task={} stage={} attempt={} task_stage={}", brief.task_id(),
               stage, attempt, task.stage());
    (void)received.message.ack();
    return Handled::done;
  }

  // Taken up again after its agent stopped mid-turn: the engine is told, so
  // it looks at what the last run left before it starts over.
  if (received.delivery.deliveries > 1) {
    if (auto trail = store_->history(brief.task_id()); trail) {
      if (const auto* stopped = orphans::interruption_since_last_move(*trail)) {
        std::string note =
            "Interrupted work: an earlier run on this brief stopped before it "
            "finished (" +
            stopped->reason() + ")";
        bounds::cut(note, kMostReasonBytes);
        brief.set_context(brief.context().empty() ? note : note + "\n\n" + brief.context());
        log_->info("brief taken up again after an interruption task={} stage={}", brief.task_id(),
                   stage);
      }
    }
  }

  {
    // Before busy is set: the status write that busy wakes names the brief
    // (the sweeper hands back only a brief the status names).
    std::lock_guard lock(status_mu_);
    status_.set_brief_ack_subject(std::string(received.message.reply()));
    if (!status_.has_brief_progress_at() ||
        to_time_point(status_.brief_progress_at()) < fetched_at) {
      *status_.mutable_brief_progress_at() = to_timestamp(fetched_at);
    }
  }
  set_state(voc::kBusy, brief.task_id());
  received.message.on_settle([this](Incoming::Settlement how) { releasing(how); });
  set_progress("preparing " + stage);
  std::unique_lock logic_lock(logic_mu_);
  ctx_.project = brief.project().empty() ? nullptr : config_.project(brief.project());
  auto early = logic_->precheck(ctx_, brief, task);
  logic_lock.unlock();
  if (early) {
    if (auto r = apply(received, task, stage, std::move(*early)); !r) {
      return fail(received, &task, "applying the stage change: " + r.error().message);
    }
    return Handled::done;
  }
  // In-progress acks from here until the brief is settled: preparing a
  // worktree, the engine and the project's tests can each take long.
  InProgress keep_alive(
      received.message, options_.in_progress_every, [this] { note_brief_progress(); },
      [this](Incoming::Settlement how) { releasing(how); });
  logic_lock.lock();
  auto turn = logic_->prepare(ctx_, brief, task);
  logic_lock.unlock();
  if (!turn) return fail(received, &task, "preparing the work: " + turn.error().message);
  turn->env = engine_env(*turn);
  turn->session_id = session();

  std::optional<LeaseOutcome> lease;
  if (lease_client_) {
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
  }

  control_cancel_.store(false);
  cancel_.store(stop_.load());
  log_->info("engine start task={} stage={} attempt={} engine=\"{}\"", brief.task_id(), stage,
             attempt, engine_->label());
  const auto engine_started = std::chrono::system_clock::now();
  auto outcome = engine_->run(
      *turn, [this](std::string_view p) { set_progress(p); }, cancel_);

  if (stop_.load() || control_cancel_.exchange(false)) {
    if (lease) lease_client_->settle(*lease, brief, outcome ? outcome->usage : Usage{});
    log_->info("handing back brief on {} task={} stage={}", stop_.load() ? "stop" : "cancel",
               brief.task_id(), stage);
    defer(received, 0ms);
    return Handled::handed_back;
  }
  if (lease) lease_client_->settle(*lease, brief, outcome ? outcome->usage : Usage{});
  if (!outcome) return fail(received, &task, "engine: " + outcome.error().message);
  publish_usage(*turn, *outcome, engine_started);
  publish_limits(*outcome);
  keep_session(*outcome);
  if (outcome->rate_limit) {
    auto until = outcome->rate_limit->resets_at;
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
    set_state(voc::kRateLimited, brief.task_id());
    log_->warn("rate limited task={} resume_in_ms={} detail=\"{}\"", brief.task_id(), wait.count(),
               outcome->rate_limit->detail);
    defer(received, wait);
    pause_for(wait);
    {
      std::lock_guard lock(status_mu_);
      status_.clear_resumes_at();
    }
    return Handled::handed_back;
  }
  for (const auto& denial : outcome->denials) {
    log_->warn(
        "engine was refused a tool task={} tool=\"{}\" (the role's permission_mode or "
        "allowed_tools do not allow it)",
        brief.task_id(), denial);
  }
  set_progress("deciding next stage");
  logic_lock.lock();
  auto decision = logic_->finish(ctx_, *turn, *outcome);
  logic_lock.unlock();
  if (!decision) return fail(received, &task, decision.error().message);
  const std::int64_t tokens = outcome->usage.input_tokens + outcome->usage.output_tokens +
                              outcome->usage.cache_creation_tokens;
  if (auto r = apply(received, task, stage, std::move(*decision), tokens); !r) {
    return fail(received, &task, "applying the stage change: " + r.error().message);
  }
  return Handled::done;
}

Result<void> Agent::apply(ReceivedBrief& received, const v1::Task& task, const std::string& stage,
                          Decision decision, std::int64_t tokens) {
  const v1::Brief& brief = received.brief;
  const std::string& task_id = brief.task_id();
  std::uint32_t attempt = std::max<std::uint32_t>(1, brief.attempt());
  std::string next = decision.next_stage;
  std::string reason = decision.reason;
  bounds::cut(reason, kMostReasonBytes);
  std::uint32_t bounces = task.bounces() + (decision.bounce ? 1 : 0);
  if (decision.bounce && bounces > static_cast<std::uint32_t>(options_.bounce_limit)) {
    reason = "sent back " + std::to_string(bounces) + " times (limit " +
             std::to_string(options_.bounce_limit) + "), needs a person: " + reason;
    next = std::string(voc::kBlocked);
  }
  if (!pipeline::is_stage(next)) {
    return make_error(errc::internal, "role decided an unknown stage '" + next + "'");
  }

  // 1. The next brief (a replay of this step is dropped by its msg id).
  std::uint32_t next_attempt = entries_into(task, next) + 1;
  if (pipeline::is_work_stage(next)) {
    v1::Brief out;
    out.set_id(task_id + ":" + next + ":" + std::to_string(next_attempt));
    out.set_project(task.project());
    out.set_objective(brief.objective().empty() ? task.brief().objective() : brief.objective());
    out.set_audience(task.brief().audience());
    *out.mutable_constraints() = task.brief().constraints();
    out.set_done_when(task.brief().done_when());
    out.set_stage(next);
    out.set_task_id(task_id);
    out.set_priority(brief.priority());
    out.set_token_budget(brief.token_budget());
    out.set_context(decision.context);
    out.set_origin(options_.agent_id);
    out.set_attempt(next_attempt);
    *out.mutable_created_at() = now_timestamp();
    fit_brief(out, static_cast<std::size_t>(config_.limits.brief_bytes));
    auto ack = connection_->js_publish(subjects::brief(pipeline::role_for_stage(next)),
                                       codec::encode(out), out.id());
    if (!ack) return ack.error();
  }

  // New tasks the role found (the scout's), each idempotent by its id.
  file_new_tasks(decision.new_tasks);

  // 2. The task record, by compare-and-set.
  auto now = now_timestamp();
  StoredTask known{task, task_revision_};
  auto updated = store_->update(
      task_id,
      [&](v1::Task& t) {
        if (t.stage() != stage || entries_into(t, stage) != attempt)
          return false;  // applied already
        auto* change = t.add_history();
        change->set_from(stage);
        change->set_to(next);
        change->set_actor(options_.agent_id);
        change->set_reason(reason);
        *change->mutable_at() = now;
        t.set_stage(next);
        t.set_bounces(bounces);
        t.set_tokens_used(t.tokens_used() + tokens);
        if (!decision.spec.empty()) t.set_spec(decision.spec);
        if (!decision.branch.empty()) t.set_branch(decision.branch);
        for (const auto& [k, v] : decision.attachments) (*t.mutable_attachments())[k] = v;
        if (next == voc::kBlocked) t.set_blocked_reason(reason);
        return true;
      },
      &known);
  if (!updated) return updated.error();

  // 3. The event (after the "created" one, which a crashed creator may not
  // have written).
  if (auto r = store_->ensure_created_event(task); !r) return r;
  v1::TaskEvent event;
  event.set_task_id(task_id);
  std::string_view kind = next == voc::kDone      ? voc::kEventDone
                          : next == voc::kBlocked ? voc::kEventBlocked
                          : decision.bounce       ? voc::kEventBounced
                                                  : voc::kEventStageChanged;
  event.set_kind(std::string(kind));
  event.set_from_stage(stage);
  event.set_to_stage(next);
  event.set_actor(options_.agent_id);
  event.set_reason(reason);
  event.set_project(task.project());
  *event.mutable_at() = now;
  if (auto r = store_->append_event(
          event, "event:" + task_id + ":" + stage + ":" + std::to_string(attempt));
      !r) {
    return r;
  }

  // A task that closes leaves its work log for the synthesizer.
  if (next == voc::kDone || next == voc::kBlocked) {
    v1::Task closed = updated->task;
    std::string summary = reason;
    if (!decision.context.empty()) summary += "\n\n" + decision.context;
    write_work_log(closed, next, summary, 0,
                   "log:" + task_id + ":" + stage + ":" + std::to_string(attempt));
  }

  // 4. Only now is this brief done.
  if (auto r = received.message.ack(); !r) return r;
  forget_deferrals(received);
  log_->info("stage changed task={} from={} to={} attempt={} reason=\"{}\"", task_id, stage, next,
             attempt, reason.substr(0, 200));
  return {};
}

void Agent::lateral_loop() {
  using Clock = std::chrono::steady_clock;
  std::optional<std::chrono::milliseconds> every;
  {
    std::lock_guard lock(logic_mu_);
    every = logic_->tick_every(ctx_);
  }
  auto next_tick = every ? Clock::now() + *every : Clock::time_point::max();
  while (true) {
    std::unique_lock lock(lateral_mu_);
    lateral_cv_.wait_until(lock, next_tick, [&] { return lateral_stop_ || !questions_.empty(); });
    if (lateral_stop_) return;
    if (!questions_.empty()) {
      Incoming question = std::move(questions_.front());
      questions_.pop_front();
      lock.unlock();
      answer(std::move(question));
      continue;
    }
    lock.unlock();
    if (Clock::now() < next_tick) continue;
    std::lock_guard logic_lock(logic_mu_);
    if (auto r = logic_->tick(ctx_); !r) {
      log_->warn("periodic work failed role={} error={}", options_.role, r.error().message);
    }
    every = logic_->tick_every(ctx_);
    next_tick = every ? Clock::now() + *every : Clock::time_point::max();
  }
}

void Agent::answer(Incoming message) {
  const auto began = std::chrono::steady_clock::now();
  const std::string reply_to(message.reply());
  if (reply_to.empty()) {
    log_->warn("ignored a question without a reply subject on {} (ask with a request)",
               message.subject());
    count("ask", began, "a question without a reply subject (ask with a request)");
    return;
  }
  std::string failure;  // the answer says the question could not be answered
  v1::Answer out;
  auto send = [&](v1::Answer& a, const std::string& question_id) {
    a.set_question_id(question_id);
    if (a.answered_by().empty()) a.set_answered_by(options_.agent_id);
    if (!a.has_answered_at()) *a.mutable_answered_at() = now_timestamp();
    if (auto r = connection_->publish(reply_to, codec::encode(a)); !r) {
      log_->warn("cannot send an answer question={} error={}", question_id, r.error().message);
    }
  };
  auto question =
      message.data().size() > static_cast<std::size_t>(config_.limits.question_bytes)
          ? Result<v1::Question>(make_error(
                errc::bad_payload, "a question of " + std::to_string(message.data().size()) +
                                       " bytes is over limits.question_bytes (" +
                                       std::to_string(config_.limits.question_bytes) + ")"))
          : codec::decode<v1::Question>(message.data(), message.headers());
  if (!question) {
    log_->warn("unreadable question subject={} reason={}", message.subject(),
               question.error().message);
    out.set_text("agency could not read the question: " + question.error().message +
                 " (send plain text, or agency.v1.Question as JSON or protobuf)");
    out.set_confidence(0);
    send(out, "");
    count("ask", began, out.text());
    return;
  }
  if (question->id().empty()) question->set_id(ids::question());
  log_->info("question id={} from={} text=\"{}\"", question->id(),
             question->from_agent().empty() ? "a person" : question->from_agent(),
             question->text().substr(0, 200));
  Result<AnswerPlan> plan = make_error(errc::internal, "unset");
  {
    std::lock_guard lock(logic_mu_);
    plan = logic_->prepare_answer(ctx_, *question);
  }
  if (!plan) {
    out.set_text("the " + options_.role + " could not take the question: " + plan.error().message);
    out.set_confidence(0);
    failure = out.text();
  } else if (auto* ready = std::get_if<v1::Answer>(&*plan)) {
    out = std::move(*ready);
  } else {
    Turn& turn = std::get<Turn>(*plan);
    turn.env = engine_env(turn);
    question_cancel_.store(false);
    const auto started = std::chrono::system_clock::now();
    auto outcome = question_engine_->run(turn, nullptr, question_cancel_);
    if (!outcome) {
      out.set_text("the " + options_.role +
                   "'s engine failed on the question: " + outcome.error().message);
      out.set_confidence(0);
      failure = out.text();
    } else {
      publish_usage(turn, *outcome, started);
      publish_limits(*outcome);
      if (outcome->rate_limit) {
        out.set_text("the " + options_.role + " is rate limited until " +
                     TimeUtil::ToString(to_timestamp(outcome->rate_limit->resets_at)) +
                     "; ask again then (" + outcome->rate_limit->detail + ")");
        out.set_confidence(0);
      } else {
        std::lock_guard lock(logic_mu_);
        auto finished = logic_->finish_answer(ctx_, *question, turn, *outcome);
        if (finished) {
          out = std::move(*finished);
        } else {
          out.set_text("the " + options_.role +
                       " could not read its engine's answer: " + finished.error().message);
          out.set_confidence(0);
          failure = out.text();
        }
      }
    }
  }
  send(out, question->id());
  count("ask", began, failure);
  log_->info("answered question id={} confidence={:.2f} sources={}", question->id(),
             out.confidence(), out.sources_size());
}

void Agent::handle_mail() {
  auto got = mail_->fetch(16, 100ms);
  if (!got) {
    log_->warn("reading mail failed agent={} error={}", options_.agent_id, got.error().message);
    mail_waiting_.store(true);
    pause_for(2000ms);
    return;
  }
  if (got->empty()) return;
  const auto began = std::chrono::steady_clock::now();
  if (got->size() == 16) mail_waiting_.store(true);  // more may wait
  std::vector<v1::Mail> letters;
  std::vector<Incoming> messages;
  const auto max_deliver = static_cast<std::uint64_t>(config_.pipeline.max_deliver);
  for (auto& m : *got) {
    auto delivery = m.delivery();
    const std::uint64_t deliveries = delivery ? delivery->deliveries : 1;
    Result<v1::Mail> mail = make_error(errc::internal, "unset");
    if (m.data().size() > static_cast<std::size_t>(config_.limits.mail_bytes)) {
      mail = make_error(errc::bad_payload, "a letter of " + std::to_string(m.data().size()) +
                                               " bytes is over limits.mail_bytes (" +
                                               std::to_string(config_.limits.mail_bytes) + ")");
    } else if (deliveries > 2 * max_deliver) {
      // Handed back after every failed mail turn: not forever.
      mail = make_error(errc::bad_payload, "delivered " + std::to_string(deliveries) +
                                               " times and never read by the engine");
    } else {
      mail = codec::decode<v1::Mail>(m.data(), m.headers());
    }
    if (!mail) {
      auto letter = make_dead_letter(
          m, "unreadable mail: " + mail.error().message, options_.role, options_.agent_id,
          static_cast<std::size_t>(config_.limits.dead_letter_keep_bytes));
      if (auto r = publish_dead_letter(*connection_, letter); !r) {
        if (deliveries >= 2 * max_deliver) {
          log_->error(
              "terminating unreadable mail deliveries={}: its dead letter cannot be "
              "stored ({}); reason=\"{}\"",
              deliveries, r.error().message, letter.reason());
          (void)m.term();
        } else {
          (void)m.nak(5000);
        }
        continue;
      }
      log_->warn("dead-lettered unreadable mail reason=\"{}\"", letter.reason());
      (void)m.ack();
      count("mail", began, "unreadable mail: " + mail.error().message);
      continue;
    }
    log_->info("mail id={} from={} subject=\"{}\"", mail->id(), mail->from(), mail->subject());
    letters.push_back(std::move(*mail));
    messages.push_back(std::move(m));
  }
  if (letters.empty()) return;
  auto hand_back = [&](std::chrono::milliseconds delay) {
    for (auto& m : messages) (void)m.nak(delay.count());
  };
  // One turn reads every letter: each is a request, with its share of the time.
  auto counted = [&](const std::string& error) {
    if (!serving_.load(std::memory_order_acquire)) return;
    const auto each =
        (std::chrono::steady_clock::now() - began) / static_cast<std::int64_t>(letters.size());
    for (std::size_t i = 0; i < letters.size(); ++i) service_->record("mail", each, error);
  };
  set_state(voc::kBusy);
  set_progress("reading mail from " + letters.front().from());
  Result<Turn> turn = make_error(errc::internal, "unset");
  {
    std::lock_guard lock(logic_mu_);
    turn = logic_->prepare_mail(ctx_, letters);
  }
  if (!turn) {
    log_->warn("cannot prepare a mail turn error={}; the mail waits", turn.error().message);
    hand_back(30s);
    counted("cannot prepare a mail turn: " + turn.error().message);
    return;
  }
  turn->env = engine_env(*turn);
  turn->session_id = session();
  control_cancel_.store(false);
  cancel_.store(stop_.load());
  const auto started = std::chrono::system_clock::now();
  auto outcome = engine_->run(
      *turn, [this](std::string_view p) { set_progress(p); }, cancel_);
  if (stop_.load() || control_cancel_.exchange(false)) {
    hand_back(0ms);
    counted({});
    return;
  }
  if (!outcome) {
    log_->warn("mail turn failed error={}; the mail waits 30 s", outcome.error().message);
    hand_back(30s);
    counted("engine: " + outcome.error().message);
    return;
  }
  publish_usage(*turn, *outcome, started);
  publish_limits(*outcome);
  keep_session(*outcome);
  if (outcome->rate_limit) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        outcome->rate_limit->resets_at - std::chrono::system_clock::now());
    log_->warn("rate limited reading mail resume_in_ms={}", wait.count());
    hand_back(std::max(wait, 1000ms));
    counted({});
    return;
  }
  for (auto& m : messages) (void)m.ack();
  counted({});
  log_->info("mail read letters={} summary=\"{}\"", letters.size(),
             roles::reason_of(*outcome).substr(0, 200));
}

std::map<std::string, std::string> Agent::engine_env(const Turn& turn) const {
  auto env = turn.env;
  env["AGENCY_AGENT_ID"] = options_.agent_id;
  env["AGENCY_ROLE"] = options_.role;
  env["AGENCY_STATE_DIR"] = config_.state_dir.string();
  if (!config_.source.empty()) env["AGENCY_CONFIG"] = config_.source.string();
  const std::string task = turn.brief.task_id().empty() ? turn.task.id() : turn.brief.task_id();
  if (!task.empty()) env["AGENCY_TASK_ID"] = task;
  const ConnectSettings& s = connection_->settings();
  std::string urls;
  for (const auto& u : s.servers) urls += (urls.empty() ? "" : ",") + u;
  env["NATS_URL"] = urls;
  auto set = [&](const char* name, const std::string& v) {
    if (!v.empty()) env[name] = v;
  };
  set("NATS_USER", s.user);
  set("NATS_PASSWORD", s.password);
  set("NATS_TOKEN", s.token);
  set("NATS_CREDS", s.creds_file);
  set("NATS_NKEY", s.nkey_seed_file);
  set("NATS_CERT", s.tls_cert);
  set("NATS_KEY", s.tls_key);
  set("NATS_CA", s.tls_ca);
  const auto bin = own_bin_dir();
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  if (auto it = turn.env.find("PATH"); it != turn.env.end()) p = it->second;
  if (!bin.empty()) p = bin.string() + ":" + p;
  env["PATH"] = p;
  return env;
}

void Agent::write_work_log(const v1::Task& task, const std::string& outcome,
                           const std::string& summary, std::int64_t tokens,
                           const std::string& msg_id) {
  v1::WorkLog log;
  log.set_task_id(task.id());
  log.set_project(task.project());
  log.set_agent_id(options_.agent_id);
  log.set_role(options_.role);
  log.set_title(task.title());
  log.set_summary(summary);
  bounds::cut(*log.mutable_summary(), kMostSummaryBytes);
  log.set_outcome(outcome);
  log.set_branch(task.branch());
  log.set_tokens(task.tokens_used() + tokens);
  *log.mutable_started_at() = task.created_at();
  *log.mutable_closed_at() = now_timestamp();
  // Tasks of no project log under "_" (a subject needs a token).
  const std::string project = task.project().empty() ? std::string("_") : task.project();
  auto r = connection_->js_publish(subjects::work_log(project), codec::encode(log), msg_id);
  if (!r) log_->warn("work log not stored task={} error={}", task.id(), r.error().message);
}

void Agent::file_new_tasks(const std::vector<NewTask>& tasks) {
  for (const auto& t : tasks) {
    auto filed = mesh_->file_brief(t.role, t.brief);
    v1::FleetEvent event;
    event.set_task_id(t.brief.task_id());
    if (!filed) {
      log_->warn("could not file a new task title=\"{}\" error={}",
                 t.brief.objective().substr(0, 80), filed.error().message);
      continue;
    }
    if (!*filed) continue;  // filed before (a replay)
    event.set_kind("filed");
    event.set_reason("filed for " + t.role + ": " + title_from(t.brief.objective()));
    (*event.mutable_details())["role"] = t.role;
    (*event.mutable_details())["project"] = t.brief.project();
    if (auto r = mesh_->record(options_.role, event); !r) {
      log_->warn("event not stored error={}", r.error().message);
    }
    log_->info("filed task={} for={} title=\"{}\"", t.brief.task_id(), t.role,
               title_from(t.brief.objective()));
  }
}

void Agent::defer(ReceivedBrief& received, std::chrono::milliseconds delay) {
  ++deferrals_;
  if (auto r = memory_->put(deferral_key(received), std::to_string(deferrals_)); !r) {
    log_->warn("cannot record a deferral task={} error={} (it may count as a failed delivery)",
               received.brief.task_id(), r.error().message);
  }
  (void)received.message.nak(delay.count());
}

std::uint64_t Agent::failed_deliveries(const ReceivedBrief& received) {
  const auto deliveries = received.delivery.deliveries;
  return deliveries > deferrals_ ? deliveries - deferrals_ : 0;
}

void Agent::forget_deferrals(const ReceivedBrief& received) {
  if (deferrals_ == 0) return;
  (void)memory_->remove(deferral_key(received));
  deferrals_ = 0;
}

const std::string& Agent::session() {
  if (!session_loaded_) {
    if (auto stored = memory_->get("session." + options_.agent_id); stored) {
      session_id_ = stored->value;
    }
    session_loaded_ = true;
  }
  return session_id_;
}

void Agent::keep_session(const Outcome& outcome) {
  if (outcome.session_id.empty()) return;
  std::string next = outcome.session_id;
  if (session_max_tokens_ > 0 && outcome.context_tokens > session_max_tokens_) {
    // Rotation: the context is full enough that every call pays for it;
    // the next assignment starts a new session.
    log_->info("session rotated agent={} session={} context_tokens={} limit={}", options_.agent_id,
               outcome.session_id, outcome.context_tokens, session_max_tokens_);
    next.clear();
  }
  if (next == session_id_) return;
  session_id_ = next;
  (void)memory_->put("session." + options_.agent_id, next);
}

void Agent::publish_limits(const Outcome& outcome) {
  for (const auto& l : outcome.limits) {
    v1::LimitReading reading;
    reading.set_engine(engine_->kind());
    reading.set_model(outcome.model);
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
    auto r = connection_->js_publish(subjects::limits(engine_->kind()), codec::encode(reading));
    if (!r) log_->warn("limit reading not stored error={}", r.error().message);
  }
}

void Agent::publish_usage(const Turn& turn, const Outcome& outcome,
                          std::chrono::system_clock::time_point started) {
  v1::UsageSample sample;
  sample.set_id(ids::make("u"));
  sample.set_engine(engine_->kind());
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
  *sample.mutable_at() = to_timestamp(started);  // when the call started (usage.proto)
  auto r = connection_->js_publish(subjects::usage(engine_->kind(), options_.role),
                                   codec::encode(sample), sample.id());
  if (!r) log_->warn("usage sample not stored error={}", r.error().message);
  std::lock_guard lock(status_mu_);
  status_.set_window_tokens(status_.window_tokens() + outcome.usage.input_tokens +
                            outcome.usage.output_tokens);
}

int Agent::run(const Options& opts) {
  if (auto r = start(opts); !r) {
    log_->critical("cannot start agent={} role={}: {}", options_.agent_id, options_.role,
                   r.error().message);
    return r.error().code == errc::config ? 2 : 1;
  }
  loop();
  set_state(voc::kDraining);
  stop_lateral();
  {
    std::lock_guard lock(logic_mu_);
    logic_->stop(ctx_);
  }
  ask_sub_.reset();
  mail_bell_sub_.reset();
  heartbeat_stop_.store(true);
  wake();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  control_subs_.clear();
  serving_.store(false, std::memory_order_release);
  service_.reset();
  (void)fleet_->remove(options_.agent_id);
  log_->info("agent stopped agent={}", options_.agent_id);
  return 0;
}

}  // namespace

int run_agent(std::unique_ptr<RoleLogic> logic, int argc, char** argv) {
  RuntimeOptions options;
  options.role = logic->name();
  Options opts;
  CLI::App app{"agency-" + options.role + ": one agent of role " + options.role +
               " (normally started by `agency up`)"};
  app.add_option("--config", opts.config_path,
                 "agency.yaml (default: $AGENCY_CONFIG, ./agency.yaml)");
  app.add_option("--agent-id", opts.agent_id,
                 "agent id (default: $AGENCY_AGENT_ID, else <role>-<host>-<pid>)");
  app.add_option("--skill", opts.skill_path, "SKILL.md of the role (default: the built-in one)");
  app.add_option("--engine", opts.engine, "engine kind, overriding agency.yaml and SKILL.md");
  app.add_option("--nats", opts.nats_url, "NATS URL (default: NATS_URL, ...)");
  app.add_option("--state-dir", opts.state_dir,
                 "state dir (default: $AGENCY_STATE_DIR, agency.yaml)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (opts.config_path.empty()) opts.config_path = env_or("AGENCY_CONFIG", "");
  if (opts.state_dir.empty()) opts.state_dir = env_or("AGENCY_STATE_DIR", "");
  options.agent_id = !opts.agent_id.empty()
                         ? opts.agent_id
                         : env_or("AGENCY_AGENT_ID", options.role + "-" + ids::host_name() + "-" +
                                                         std::to_string(::getpid()));
  opts.agent_id = options.agent_id;
  if (const char* ms = std::getenv("AGENCY_HEARTBEAT_MS"); ms != nullptr) {
    options.heartbeat = std::chrono::milliseconds(std::atoll(ms));
  }
  if (const char* ms = std::getenv("AGENCY_IN_PROGRESS_MS"); ms != nullptr) {
    options.in_progress_every = std::chrono::milliseconds(std::atoll(ms));
  }

  // Signals go to one thread: block them before any other thread exists, so
  // nats.c's threads inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  Agent agent(std::move(logic), options);
  std::atomic<bool> done{false};
  std::thread signals([&] {
    while (!done.load()) {
      timespec wait{0, 200 * 1000 * 1000};
      int sig = sigtimedwait(&set, nullptr, &wait);
      if (sig == SIGTERM || sig == SIGINT) {
        agent.request_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
      }
    }
  });
  int code = agent.run(opts);
  done.store(true);
  signals.join();
  return code;
}

}  // namespace agency
