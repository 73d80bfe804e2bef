#include "roles/dispatcher/dispatcher.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include <google/protobuf/util/time_util.h>

#include "agency/v1/event.pb.h"
#include "agency/v1/scale.pb.h"
#include "agency/v1/task.pb.h"
#include "agency/v1/usage.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "roles/dispatcher/commands.hpp"
#include "roles/dispatcher/settings.hpp"
#include "runtime/catalog.hpp"
#include "runtime/ids.hpp"
#include "runtime/localtime.hpp"
#include "runtime/logging.hpp"
#include "runtime/mesh.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {

namespace voc = vocabulary;
using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kScheduleKeyPrefix = "dispatcher.schedule.";
// Where a role is in its rotation of standing orders, so that a restarted
// dispatcher goes on with the next order instead of the first.
constexpr std::string_view kRotationKeyPrefix = "dispatcher.rotation.";
// Agents register within a few seconds of `agency up`; instance counts are
// judged only after three looks (at most this long), so a role still
// starting is not "below min".
constexpr auto kScaleGrace = 15s;
// How often an idle agent without a standing order is looked at again while
// pacing keeps it idle or work is queued for it (each look asks the
// accountant), and the idle spells remembered at most.
constexpr auto kUnusedRecheck = std::chrono::minutes(5);
constexpr std::size_t kMostSpells = 10000;

const config::Dispatcher& settings(const RoleContext& ctx) {
  return config::dispatcher(*ctx.config);
}

std::int64_t nanos(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000'000LL + ts.nanos();
}

std::string hex_hash(std::string_view text) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016zx", std::hash<std::string_view>{}(text));
  return buf;
}

std::string utc_minute(Clock::time_point t) {
  auto l = to_local(t, "UTC");
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02dZ", l.year, l.month, l.day, l.hour,
                l.minute);
  return buf;
}

// Fault injection for the restart test: AGENCY_DISPATCHER_CRASH=filed ends
// the process right after a brief is filed, before anything else is
// recorded, as a kill -9 at the worst moment would.
void crash_point(std::string_view where) {
  static const char* want = std::getenv("AGENCY_DISPATCHER_CRASH");
  if (want != nullptr && where == want) std::_Exit(9);
}

std::vector<std::string> project_names(const config::Config& c) {
  std::vector<std::string> out;
  for (const auto& p : c.projects) out.push_back(p.name);
  return out;
}

}  // namespace

Dispatcher::Dispatcher() : log_(make_logger("dispatcher")) {}

Dispatcher::~Dispatcher() {
  stopping_.store(true);
  if (watcher_.joinable()) watcher_.join();
}

Result<void> Dispatcher::start(const RoleContext& ctx) {
  if (ctx.mesh == nullptr) return make_error(errc::internal, "dispatcher: no mesh");
  ctx_ = &ctx;
  const auto& d = settings(ctx);
  for (std::size_t i = 0; i < d.schedules.size(); ++i) {
    const auto& s = d.schedules[i];
    const std::string key = "dispatcher.schedules[" + std::to_string(i) + "]";
    if (auto z = check_time_zone(s.time_zone, key + ".time_zone"); !z) return z.error();
    auto cron = dispatch::parse_cron(s.cron, key + ".cron");
    if (!cron) return cron.error();
    crons_.emplace(s.name, *cron);
  }
  for (const auto& t : d.triggers) {
    const config::Trigger* trigger = &t;
    // A subject a stream keeps is followed by a durable consumer, so that
    // messages published while the dispatcher was down still trigger; any
    // other subject by a core subscription (nothing keeps those messages).
    auto& conn = ctx.mesh->connection();
    auto stream = limits_stream_covering(conn, t.subject);
    if (!stream) {
      log_->warn("trigger {}: cannot list the streams ({}); following {} only while running",
                 t.name, stream.error().message, t.subject);
    } else if (*stream) {
      // A durable's name takes no '.', '*', '>' or blanks.
      std::string durable = "dispatch-trigger-" + t.name;
      for (auto& ch : durable) {
        if (!subjects::is_valid_token(std::string_view(&ch, 1))) ch = '_';
      }
      auto made = ensure_follow_consumer(conn, **stream, durable, t.subject,
                                         "Dispatcher trigger " + t.name + " on " + t.subject);
      auto bound = made ? PullConsumer::bind(conn, **stream, durable, t.subject)
                        : Result<PullConsumer>(made.error());
      if (bound) {
        log_->info("trigger {} follows {} in stream {} (consumer {})", t.name, t.subject, **stream,
                   durable);
        followed_.push_back(Followed{trigger, std::move(*bound)});
        continue;
      }
      log_->warn("trigger {}: no durable consumer on {} ({}); following {} only while running",
                 t.name, **stream, bound.error().message, t.subject);
    }
    auto sub = conn.subscribe(t.subject, "dispatcher",
                              [this, trigger](Incoming m) { (void)on_trigger(*trigger, m); });
    if (!sub) {
      return make_error(errc::config, "dispatcher.triggers " + t.name + ": cannot subscribe to '" +
                                          t.subject + "': " + sub.error().message);
    }
    subs_.push_back(std::move(*sub));
  }
  next_look_ =
      std::chrono::steady_clock::now() +
      std::min<std::chrono::seconds>(kScaleGrace, 3 * std::chrono::seconds(d.every_seconds));
  watcher_ = std::thread([this] { watch_fleet(); });
  log_->info("dispatcher ready standing_orders={} schedules={} triggers={} instances={}",
             d.standing_orders.size(), d.schedules.size(), d.triggers.size(),
             ctx.config->instances.size());
  return {};
}

void Dispatcher::stop(const RoleContext& /*ctx*/) {
  stopping_.store(true);
  if (watcher_.joinable()) watcher_.join();
  subs_.clear();
}

std::optional<std::chrono::milliseconds> Dispatcher::tick_every(const RoleContext& /*ctx*/) const {
  return std::chrono::milliseconds(1000);
}

Result<void> Dispatcher::tick(const RoleContext& ctx) {
  const auto now = Clock::now();
  fire_schedules(now);
  follow_triggers();
  if (std::chrono::steady_clock::now() >= next_look_) {
    next_look_ =
        std::chrono::steady_clock::now() + std::chrono::seconds(settings(ctx).every_seconds);
    (void)look_at_fleet();
    scale(now);
  }
  return {};
}

void Dispatcher::watch_fleet() {
  auto fleet = KeyValue::open(ctx_->mesh->connection(), subjects::kFleetBucket);
  if (!fleet) {
    log_->error("cannot open agency-fleet: {}; idle agents are seen every every_seconds only",
                fleet.error().message);
    return;
  }
  auto watcher = fleet->watch(">");
  if (!watcher) {
    log_->error("cannot watch agency-fleet: {}", watcher.error().message);
    return;
  }
  while (!stopping_.load()) {
    auto next = watcher->next(200ms);
    if (!next) {
      log_->warn("fleet watch: {}", next.error().message);
      std::this_thread::sleep_for(1s);  // the bus is away; the next call reconnects
      continue;
    }
    if (!*next || (*next)->deleted || (*next)->key.empty()) continue;
    auto status = codec::decode<v1::AgentStatus>((*next)->value);
    if (status) consider(*status);
  }
  watcher->stop();
}

bool Dispatcher::capacity(const std::string& priority, std::string& why) {
  const config::Leases& a = ctx_->config->leases;
  if (!a.enabled) {
    why = "no accountant configured: capacity is not paced";
    return true;
  }
  v1::Lease probe;
  probe.set_id(ids::make("probe"));
  probe.set_agent_id(ctx_->agent_id);
  probe.set_role("dispatcher");
  probe.set_priority(priority);
  probe.set_estimate_tokens(settings(*ctx_).order_estimate);
  probe.set_probe(true);
  auto answer = ctx_->mesh->connection().request(subjects::kBudgetLease, codec::encode(probe),
                                                 std::chrono::milliseconds(a.timeout_ms));
  if (!answer) {
    why = "the accountant does not answer (" + answer.error().message + ")";
    return false;
  }
  auto reply = codec::decode<v1::LeaseReply>(answer->data(), answer->headers());
  if (!reply) {
    why = "the accountant's answer is unreadable";
    return false;
  }
  why = "accountant: " + reply->reason();
  return reply->granted();
}

void Dispatcher::consider(const v1::AgentStatus& agent) {
  if (agent.state() != voc::kIdle) return;
  const auto& d = settings(*ctx_);
  const std::string& role = agent.role();
  if (std::none_of(d.standing_orders.begin(), d.standing_orders.end(),
                   [&](const config::StandingOrder& o) { return o.role == role; })) {
    note_unused(agent);
    return;
  }
  auto consumers = ctx_->mesh->brief_consumers();
  if (!consumers) {
    log_->warn("cannot read the consumers: {}", consumers.error().message);
    return;
  }
  for (const auto& c : *consumers) {
    // Queued work of any priority reaches the agent; nothing to add.
    auto queue = subjects::brief_queue(c.filter_subject);
    if (queue && queue->role == role && c.pending > 0) return;
  }
  const std::string spell = agent.agent_id() + "@" + std::to_string(nanos(agent.since()));
  std::lock_guard lock(mu_);
  const std::string rotation_key = std::string(kRotationKeyPrefix) + role;
  if (!rotation_.contains(role)) {
    if (auto stored = ctx_->mesh->recall(rotation_key); stored && *stored) {
      try {
        rotation_[role] = std::stoull(**stored);
      } catch (...) {
        log_->warn("rotation state unreadable role={} value={}", role, **stored);
      }
    }
  }
  auto rotation = rotation_;
  auto plan = dispatch::next_order(d.standing_orders, role, project_names(*ctx_->config), rotation);
  if (!plan) return;
  std::string why;
  if (!capacity(plan->order->priority, why)) {
    if (recorded_idle_.insert(spell).second) {
      record("idle", agent.agent_id(), "",
             "left " + agent.agent_id() + " idle, no standing order: " + why,
             {{"role", role}, {"project", plan->project}}, "dispatch:idle:" + spell);
    }
    return;
  }
  v1::Brief brief;
  brief.set_id("standing:" + spell);
  brief.set_objective(plan->objective);
  brief.set_project(plan->project);
  brief.set_priority(plan->order->priority);
  brief.set_token_budget(plan->order->token_budget);
  brief.set_origin("dispatcher:standing-order");
  *brief.mutable_created_at() = now_timestamp();
  auto filed = ctx_->mesh->file_brief(role, brief);
  if (!filed) {
    log_->warn("standing order not filed role={} error={}", role, filed.error().message);
    return;
  }
  rotation_ = rotation;
  if (auto kept = ctx_->mesh->remember(rotation_key, std::to_string(rotation_[role])); !kept) {
    log_->warn("rotation state not kept role={} error={}", role, kept.error().message);
  }
  crash_point("filed");
  // Recorded even when the brief was a repeat: a dispatcher that died between
  // the two records it now; the msg id drops a second record.
  record("order", agent.agent_id(), "",
         agent.agent_id() + " idle and nothing queued for " + role + ": standing order \"" +
             plan->objective + "\"" + (plan->project.empty() ? "" : " on " + plan->project) + "; " +
             why,
         {{"role", role}, {"project", plan->project}, {"brief", brief.id()}},
         "dispatch:order:" + spell);
}

void Dispatcher::note_unused(const v1::AgentStatus& agent) {
  const std::string& role = agent.role();
  const auto stage = pipeline::stage_of(role);
  if (stage.empty() || pipeline::is_landing(stage)) return;  // no engine work to idle from
  // A spell too young to matter is looked at again by a later full look.
  const auto after = std::chrono::seconds(settings(*ctx_).unused_after_seconds);
  if (Clock::now() - to_time_point(agent.since()) < after) return;
  const std::string spell = agent.agent_id() + "@" + std::to_string(nanos(agent.since()));
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (recorded_unused_.count(spell) != 0) return;
    auto& checked = unused_checked_[spell];
    if (checked != std::chrono::steady_clock::time_point{} && now - checked < kUnusedRecheck) {
      return;
    }
    checked = now;
    if (unused_checked_.size() > kMostSpells) unused_checked_.clear();
  }
  auto consumers = ctx_->mesh->brief_consumers();
  if (!consumers) return;
  for (const auto& c : *consumers) {
    auto queue = subjects::brief_queue(c.filter_subject);
    if (queue && queue->role == role && c.pending > 0) return;  // work is on its way
  }
  std::string why;
  if (!capacity(std::string(voc::kBatch), why)) return;  // pacing keeps it idle: not unused
  {
    std::lock_guard lock(mu_);
    if (!recorded_unused_.insert(spell).second) return;
    if (recorded_unused_.size() > kMostSpells) recorded_unused_.clear();
  }
  record("unused", agent.agent_id(), "",
         agent.agent_id() +
             " idle with nothing queued while pacing allows work (no standing "
             "order for " +
             role + "); " + why,
         {{"role", role}, {"since", google::protobuf::util::TimeUtil::ToString(agent.since())}},
         "dispatch:unused:" + spell);
}

std::string Dispatcher::look_at_fleet() {
  auto fleet = ctx_->mesh->fleet();
  if (!fleet) return "cannot read agency-fleet: " + fleet.error().message;
  std::size_t idle = 0;
  for (const auto& a : *fleet) {
    if (a.state() == voc::kIdle) ++idle;
    consider(a);
  }
  return std::to_string(fleet->size()) + " agents, " + std::to_string(idle) + " idle";
}

void Dispatcher::fire_schedules(Clock::time_point now) {
  const auto& d = settings(*ctx_);
  for (const auto& s : d.schedules) {
    const std::string key = std::string(kScheduleKeyPrefix) + s.name;
    auto stored = ctx_->mesh->recall(key);
    if (!stored) {
      log_->warn("schedule state unreadable name={} error={}", s.name, stored.error().message);
      continue;
    }
    std::optional<Clock::time_point> last;
    if (*stored) {
      try {
        last = Clock::time_point(std::chrono::seconds(std::stoll(**stored)));
      } catch (...) {
        last.reset();
      }
    }
    const auto missed_policy =
        s.missed == "run_once" ? dispatch::Missed::run_once : dispatch::Missed::skip;
    auto due = dispatch::due(crons_.at(s.name), s.time_zone, last, now, missed_policy);
    if (due.missed > 0) {
      record("missed", "", "",
             "schedule " + s.name + " missed " + std::to_string(due.missed) +
                 " run(s) while the dispatcher was down; policy " + s.missed,
             {{"schedule", s.name}},
             due.fire ? "dispatch:missed:" + s.name + ":" + utc_minute(*due.fire) : std::string());
    }
    if (due.fire) {
      v1::Brief brief;
      brief.set_id("schedule:" + s.name + ":" + utc_minute(*due.fire));
      brief.set_objective(s.objective);
      brief.set_project(s.project);
      brief.set_priority(s.priority);
      brief.set_token_budget(s.token_budget);
      brief.set_origin("dispatcher:schedule:" + s.name);
      *brief.mutable_created_at() = now_timestamp();
      auto filed = ctx_->mesh->file_brief(s.role, brief);
      if (!filed) {
        log_->warn("scheduled brief not filed name={} error={}", s.name, filed.error().message);
        continue;  // the state is not moved on: tried again next tick
      }
      crash_point("filed");
      {
        record("schedule", "", "",
               "schedule " + s.name + " (" + s.cron +
                   (s.time_zone.empty() ? "" : " " + s.time_zone) + ") fired for " +
                   utc_minute(*due.fire) + ": brief to " + s.role,
               {{"schedule", s.name}, {"brief", brief.id()}, {"role", s.role}},
               "dispatch:" + brief.id());
      }
    }
    const auto mark = due.fire ? *due.fire : (last ? std::max(*last, now) : now);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(mark.time_since_epoch());
    if (!last || mark != *last) (void)ctx_->mesh->remember(key, std::to_string(secs.count()));
  }
}

void Dispatcher::scale(Clock::time_point now) {
  const auto& instances = ctx_->config->instances;
  if (instances.empty()) return;
  auto fleet = ctx_->mesh->fleet();
  auto consumers = ctx_->mesh->brief_consumers();
  if (!fleet || !consumers) return;
  for (const auto& [role, rule] : instances) {
    std::uint64_t pending = 0;
    for (const auto& c : *consumers) {
      auto queue = subjects::brief_queue(c.filter_subject);
      if (queue && queue->role == role) pending += c.pending;
    }
    dispatch::ScaleDecision decision;
    {
      std::lock_guard lock(mu_);
      decision = dispatch::judge_scale(role, rule, *fleet, pending, now, scale_states_[role]);
    }
    if (decision.action == dispatch::ScaleDecision::Action::none) continue;
    const bool up = decision.action == dispatch::ScaleDecision::Action::start;
    std::string why;
    if (up && !capacity("batch", why)) {
      record("scale-held", "", "", "not starting another " + role + ": " + why, {{"role", role}});
      continue;
    }
    v1::ScaleRequest request;
    request.set_action(up ? "start" : "stop");
    request.set_role(role);
    request.set_agent_id(decision.agent_id);
    request.set_reason(decision.reason);
    request.set_requested_by(ctx_->agent_id);
    auto answer = ctx_->mesh->connection().request(subjects::kUpScale, codec::encode(request), 10s);
    if (!answer) {
      record("scale-refused", decision.agent_id, "",
             std::string(up ? "wanted another " : "wanted to stop ") +
                 (up ? role : decision.agent_id) + " (" + decision.reason +
                 "), but no `agency up` supervisor answers: " + answer.error().message,
             {{"role", role}});
      continue;
    }
    auto reply = codec::decode<v1::ScaleReply>(answer->data(), answer->headers());
    if (!reply || !reply->ok()) {
      record("scale-refused", decision.agent_id, "",
             "agency up refused: " + (reply ? reply->reason() : std::string("unreadable answer")) +
                 " (" + decision.reason + ")",
             {{"role", role}});
      continue;
    }
    record(up ? "scale-up" : "scale-down", reply->agent_id(), "",
           std::string(up ? "started " : "stopped ") + reply->agent_id() + ": " + decision.reason,
           {{"role", role}});
  }
}

void Dispatcher::follow_triggers() {
  for (auto& f : followed_) {
    // A short wait: this runs on every tick, and each trigger is looked at.
    auto got = f.consumer.fetch(64, std::chrono::milliseconds(20));
    if (!got) {
      log_->warn("trigger {}: reading its consumer: {}", f.trigger->name, got.error().message);
      continue;
    }
    for (auto& m : *got) {
      auto settled = on_trigger(*f.trigger, m) ? m.ack() : m.nak();
      if (!settled) {
        log_->warn("trigger {}: settling a message: {}", f.trigger->name, settled.error().message);
      }
    }
  }
}

bool Dispatcher::on_trigger(const config::Trigger& trigger, const Incoming& message) {
  // Its own decisions never trigger anything (agency.event.> would loop).
  if (message.subject().starts_with("agency.event.dispatch")) return true;
  dispatch::TemplateInput input;
  input.subject = std::string(message.subject());
  input.data = std::string(message.data());
  if (message.subject().starts_with("agency.event.task.")) {
    auto event = codec::decode<v1::TaskEvent>(message.data(), message.headers());
    if (!event) {
      // Never readable, so never retried: said once, and left.
      log_->warn("trigger {}: {} carries no readable TaskEvent ({}); skipped", trigger.name,
                 message.subject(), event.error().message);
      return true;
    }
    if (!trigger.kinds.empty() && std::find(trigger.kinds.begin(), trigger.kinds.end(),
                                            event->kind()) == trigger.kinds.end()) {
      return true;
    }
    input.data = event->DebugString();
    input.task["id"] = event->task_id();
    input.task["kind"] = event->kind();
    input.task["reason"] = event->reason();
    input.task["actor"] = event->actor();
    input.task["stage"] = event->to_stage();
    input.task["project"] = event->project();
    if (auto task = ctx_->mesh->task(event->task_id()); task) {
      input.task["title"] = task->title();
      input.task["project"] = task->project();
      input.task["branch"] = task->branch();
      input.task["spec"] = task->spec();
      input.task["objective"] = task->brief().objective();
    }
  }
  auto objective = dispatch::fill_template(trigger.objective, input);
  auto project = dispatch::fill_template(trigger.project, input);
  std::string missing;
  for (const auto* f : {&objective, &project}) {
    for (const auto& m : f->missing) missing += (missing.empty() ? "" : ", ") + ("{" + m + "}");
  }
  v1::Brief brief;
  brief.set_id("trigger:" + trigger.name + ":" +
               hex_hash(std::string(message.subject()) + "\n" + std::string(message.data())));
  brief.set_objective(objective.text);
  brief.set_project(project.text);
  brief.set_priority(trigger.priority);
  brief.set_token_budget(trigger.token_budget);
  brief.set_origin("dispatcher:trigger:" + trigger.name);
  *brief.mutable_created_at() = now_timestamp();
  if (objective.text.empty()) {
    record("trigger-skipped", "", input.task.count("id") ? input.task["id"] : "",
           "trigger " + trigger.name + " on " + input.subject +
               ": the objective came out empty (no value for " + missing + ")",
           {{"trigger", trigger.name}});
    return true;
  }
  if (!project.text.empty() && ctx_->config->project(project.text) == nullptr) {
    log_->warn("trigger {} names project '{}', which agency.yaml does not know", trigger.name,
               project.text);
  }
  auto filed = ctx_->mesh->file_brief(trigger.role, brief);
  if (!filed) {
    log_->warn("trigger brief not filed trigger={} error={}", trigger.name, filed.error().message);
    return false;
  }
  crash_point("filed");
  record("trigger", "", input.task.count("id") ? input.task["id"] : "",
         "trigger " + trigger.name + " on " + input.subject + ": brief to " + trigger.role + " \"" +
             objective.text + "\"" + (missing.empty() ? "" : " (no value for " + missing + ")"),
         {{"trigger", trigger.name}, {"brief", brief.id()}, {"role", trigger.role}},
         "dispatch:" + brief.id());
  return true;
}

void Dispatcher::record(const std::string& kind, const std::string& agent_id,
                        const std::string& task_id, const std::string& reason,
                        const std::map<std::string, std::string>& details,
                        const std::string& msg_id) {
  v1::FleetEvent event;
  event.set_kind(kind);
  event.set_agent_id(agent_id);
  event.set_task_id(task_id);
  event.set_reason(reason);
  for (auto& [k, v] : details) (*event.mutable_details())[k] = v;
  log_->info("dispatch kind={} agent={} reason=\"{}\"", kind, agent_id, reason);
  if (auto r = ctx_->mesh->record("dispatch", std::move(event), msg_id); !r) {
    log_->warn("dispatch event not stored kind={} error={}", kind, r.error().message);
  }
}

std::optional<Decision> Dispatcher::precheck(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                                             const v1::Task& /*task*/) {
  Decision d;
  d.next_stage = std::string(voc::kDone);
  d.reason = look_at_fleet();
  scale(Clock::now());
  return d;
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo dispatcher() {
  RoleInfo info("dispatcher");
  info.lateral = true;
  info.runs_engine = false;
  info.settings = config::read_dispatcher;
  info.commands = {dispatch::add_dispatch_command};
  return info;
}
}  // namespace agency::catalog::entries
