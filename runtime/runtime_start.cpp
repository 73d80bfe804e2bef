// Agent::start (runtime_agent.hpp), main thread, before any thread of the
// agent's own runs: agency.yaml and SKILL.md, the engines, the connection,
// the streams and buckets, the subscriptions and the $SRV service, then the
// heartbeat thread (and the lateral one, for a role with periodic work).
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/catalog.hpp"
#include "runtime/ids.hpp"
#include "runtime/log_tail.hpp"
#include "runtime/runtime_agent.hpp"
#include "runtime/runtime_settings.hpp"

namespace agency::runtime {

namespace voc = vocabulary;

Result<void> Agent::start(const Options& opts) {
  // First, so that a stop signal is heard while the rest waits (a server
  // not up yet, the bus not provisioned).
  stop_signals_ = opts.stop_signals;
  heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
  if (auto r = load_settings(opts); !r) return r;
  if (auto r = connect(opts); !r) return r;
  if (auto r = open_bus_patiently(); !r) return r;
  {
    std::lock_guard lock(logic_mu_);
    if (auto r = logic_->start(ctx_); !r) return r.error();
  }
  init_status();
  if (auto r = subscribe(); !r) return r;
  if (auto r = start_service(); !r) return r;

  hand_back_orphan();
  write_heartbeat();
  beating_.store(true);
  wake_heartbeat();
  bool ticks = false;
  {
    std::lock_guard lock(logic_mu_);
    ticks = logic_->tick_every(ctx_).has_value();
  }
  if (ticks) ensure_lateral();
  log_->info("agent ready agent={} role={} engine=\"{}\" skill={}", options_.agent_id,
             options_.role, engine().label(), ctx_.skill.source.string());
  return {};
}

Result<void> Agent::load_settings(const Options& opts) {
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

  EngineSettings settings = engine_settings(opts.engine, role_cfg, *skill);
  session_max_tokens_ = settings.session_max_tokens;
  const EngineConfig& ec = settings.engine;
  auto routes = AccountRoutes::make(ec, config_, role_cfg);
  if (!routes) return routes.error();
  routes_ = std::move(*routes);
  auto question_routes = AccountRoutes::make(ec, config_, role_cfg);
  if (!question_routes) return question_routes.error();
  question_routes_ = std::move(*question_routes);
  engine_config_ = ec;
  options_.bounce_limit = config_.pipeline.bounce_limit;
  options_.max_deliver = config_.pipeline.max_deliver;

  ctx_.config = &config_;
  ctx_.agent_id = options_.agent_id;
  ctx_.skill = std::move(*skill);
  ctx_.work_dir = config_.state_dir / "work";
  // A project worked from its remote: this host's clone is its repository.
  for (auto& p : config_.projects) {
    if (p.from_remote) p.repo = ctx_.work_dir / "clones" / (p.name + ".git");
  }
  return {};
}

Result<void> Agent::connect(const Options& opts) {
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
  // Its own reply subjects: with per-agent permissions no other client may
  // read them (docs/STREAMS.md, "Permissions").
  co.inbox_prefix = "_INBOX." + options_.agent_id;
  // Every handler of an agent's subscriptions only notes what came and
  // wakes a thread of the agent's own: one delivery thread serves them all.
  co.ordered_delivery = true;
  co.on_event = [log = log_](std::string_view e) { log->warn("nats {}", e); };
  log_->info("connecting agent={} nats={} ({})", options_.agent_id, settings->display_url(),
             settings->origin);
  auto conn = Connection::open(*settings, co);
  if (!conn) return conn.error();
  connection_ = std::move(*conn);
  return {};
}

Result<void> Agent::open_bus_patiently() {
  // A server that answers too late (a loaded cluster, where each of the
  // dozens of provisioning requests waits for a majority of the nodes) is
  // asked again, for up to kOpenPatience, rather than the agent giving up
  // and waiting for a restart. Anything else is said at once.
  constexpr std::chrono::seconds kOpenPatience{120};
  const auto give_up = std::chrono::steady_clock::now() + kOpenPatience;
  std::chrono::milliseconds pause{1000};
  while (true) {
    auto r = open_bus();
    const bool transient =
        !r && (r.error().code == errc::timeout || r.error().code == errc::not_connected);
    if (!transient || std::chrono::steady_clock::now() + pause >= give_up) return r;
    log_->warn("the streams and consumers could not be opened ({}); trying again in {} ms",
               r.error().message, pause.count());
    for (auto waited = std::chrono::milliseconds{0}; waited < pause && !stop_.load();
         waited += std::chrono::milliseconds{100}) {
      std::this_thread::sleep_for(std::chrono::milliseconds{100});  // a pause, stop checked
    }
    if (stop_.load()) return r;
    pause = std::min(pause * 2, std::chrono::milliseconds{8000});
  }
}

Result<void> Agent::open_bus() {
  ProvisionPlan plan = provision_plan(config_, {options_.role});
  plan.keep_existing = true;
  if (auto r = provision(*connection_, plan); !r) {
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
  return {};
}

void Agent::init_status() {
  std::lock_guard lock(status_mu_);
  status_.set_agent_id(options_.agent_id);
  status_.set_role(options_.role);
  status_.set_state(std::string(voc::kIdle));
  *status_.mutable_since() = now_timestamp();
  status_.set_engine(engine().label());
  status_.set_pid(static_cast<int>(::getpid()));
  status_.set_host(ids::host_name());
  status_.set_version(AGENCY_VERSION);
  status_.set_protocol(codec::kProtocolVersion);
}

Result<void> Agent::subscribe() {
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
  // The last lines this agent logged, for `agency agent logs` from any
  // machine (request/reply, runtime/log_tail.hpp): {"after": N, "lines": M}.
  auto tail = connection_->subscribe(subjects::tail(options_.agent_id), {}, [this](Incoming m) {
    if (m.reply().empty()) return;
    std::uint64_t after = 0;
    std::size_t most = 200;
    const auto asked = nlohmann::json::parse(m.data(), nullptr, false);
    if (asked.is_object()) {
      if (auto a = asked.find("after"); a != asked.end() && a->is_number_unsigned()) {
        after = a->get<std::uint64_t>();
      }
      if (auto n = asked.find("lines"); n != asked.end() && n->is_number_unsigned()) {
        most = std::clamp<std::size_t>(n->get<std::size_t>(), 1, kKeptLines);
      }
    }
    auto t = log_tail(after, most);
    const nlohmann::json out{{"agent", options_.agent_id}, {"lines", t.lines}, {"last", t.last}};
    (void)connection_->publish(
        m.reply(),
        Outgoing{out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}});
  });
  if (!tail) return tail.error();
  control_subs_.push_back(std::move(*tail));

  // Questions to the role: any agent of it may answer (queue group).
  auto ask =
      connection_->subscribe(subjects::ask(options_.role), options_.role, [this](Incoming m) {
        {
          std::lock_guard lock(lateral_mu_);
          questions_.push_back(std::move(m));
        }
        lateral_cv_.notify_all();
        ensure_lateral();
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
  return {};
}

Result<void> Agent::start_service() {
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
                                          {"engine", engine().label()}});
  if (!service) return service.error();
  service_ = std::move(*service);
  serving_.store(true, std::memory_order_release);
  return {};
}

}  // namespace agency::runtime
