#include "roles/sweeper/sweeper.hpp"

#include <algorithm>
#include <cstdio>

#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "roles/sweeper/settings.hpp"
#include "runtime/catalog.hpp"
#include "runtime/logging.hpp"
#include "runtime/mesh.hpp"
#include "runtime/orphans.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {
namespace {

namespace voc = vocabulary;
using namespace std::chrono_literals;

constexpr std::string_view kFamily = "sweep";
constexpr std::string_view kMemoryKey = "sweeper.memory";
// How long a walk waits for the proxy: its engine may read a corpus.
constexpr auto kProxyTimeout = 120s;
// Reads of the usage stream per walk (each up to 100000 samples).
constexpr int kUsageReads = 20;

const config::Sweeper& sweeper_config(const RoleContext& ctx) {
  static const config::Sweeper defaults;
  return ctx.config != nullptr ? config::sweeper(*ctx.config) : defaults;
}

std::string fixed2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// A role's queues (one per priority) as one: the role, from the subject;
// else the consumer's name.
std::string role_of(const ConsumerState& c) {
  if (auto queue = subjects::brief_queue(c.filter_subject)) return queue->role;
  return c.name;
}

}  // namespace

Sweeper::Sweeper() : log_(make_logger("sweeper")) {}

sweep::Settings Sweeper::settings(const RoleContext& ctx) const {
  sweep::Settings s = sweep::settings_from(sweeper_config(ctx));
  s.stale_after = stale_after_;
  return s;
}

Result<void> Sweeper::start(const RoleContext& ctx) {
  const config::Sweeper& c = sweeper_config(ctx);
  auto bad = [](const std::string& what) {
    return make_error(errc::config, "sweeper: " + what + " (agency.yaml, section sweeper:)");
  };
  if (c.every_seconds < 1) {
    return bad("every_seconds must be at least 1, got " + std::to_string(c.every_seconds));
  }
  if (c.stuck_after_seconds < 1) {
    return bad("stuck_after_seconds must be at least 1, got " +
               std::to_string(c.stuck_after_seconds));
  }
  if (c.nudge_grace_seconds < 0 || c.answer_after_seconds < 0) {
    return bad("nudge_grace_seconds and answer_after_seconds cannot be negative");
  }
  if (c.answer_confidence < 0 || c.answer_confidence > 1) {
    return bad("answer_confidence must be between 0 and 1, got " + fixed2(c.answer_confidence));
  }
  if (c.loop_limit < 2) {
    return bad("loop_limit must be at least 2, got " + std::to_string(c.loop_limit));
  }
  if (c.burn_factor <= 1) {
    return bad("burn_factor must be above 1, got " + fixed2(c.burn_factor));
  }
  if (ctx.mesh == nullptr) {
    return make_error(errc::internal, "sweeper: the runtime gave the sweeper no mesh to walk");
  }
  auto recalled = ctx.mesh->recall(kMemoryKey);
  if (!recalled) {
    log_->warn("cannot read the sweeper's memory, starting without it key={} error={}", kMemoryKey,
               recalled.error().message);
  } else if (recalled->has_value()) {
    if (auto m = sweep::memory_from_json(**recalled)) {
      memory_ = std::move(*m);
      saved_memory_ = **recalled;
      log_->info("memory read nudged={} drained={} burns={} agents_seen={}", memory_.nudged.size(),
                 memory_.drained.size(), memory_.burns.size(), memory_.seen.size());
    } else {
      log_->warn("the sweeper's memory is unreadable, starting without it key={}", kMemoryKey);
    }
  }
  log_->info(
      "sweeper ready every_s={} stuck_after_s={} grace_s={} answer_after_s={} "
      "confidence={} loop_limit={} burn_factor={}",
      c.every_seconds, c.stuck_after_seconds, c.nudge_grace_seconds, c.answer_after_seconds,
      c.answer_confidence, c.loop_limit, c.burn_factor);
  return {};
}

std::optional<std::chrono::milliseconds> Sweeper::tick_every(const RoleContext& ctx) const {
  const auto every =
      std::chrono::milliseconds(std::chrono::seconds(sweeper_config(ctx).every_seconds));
  return std::max<std::chrono::milliseconds>(std::min<std::chrono::milliseconds>(every, 10s), 1s);
}

Result<void> Sweeper::tick(const RoleContext& ctx) {
  if (ctx.mesh == nullptr) return make_error(errc::internal, "sweeper: no mesh");
  if (!next_walk_ || std::chrono::steady_clock::now() >= *next_walk_) {
    auto summary = walk(ctx);
    if (!summary) return summary.error();
    return {};
  }
  // Between walks only look: a dead agent's entry expires, its last status
  // must be known by then.
  auto fleet = ctx.mesh->fleet();
  if (!fleet) return fleet.error();
  memory_ = sweep::observe(std::move(memory_), *fleet, std::chrono::system_clock::now());
  return {};
}

Result<std::string> Sweeper::walk(const RoleContext& ctx) {
  if (ctx.mesh == nullptr) return make_error(errc::internal, "sweeper: no mesh");
  Mesh& mesh = *ctx.mesh;
  next_walk_ =
      std::chrono::steady_clock::now() + std::chrono::seconds(sweeper_config(ctx).every_seconds);

  sweep::Input in;
  in.self_id = ctx.agent_id.empty() ? mesh.agent_id() : ctx.agent_id;
  in.settings = settings(ctx);
  auto fleet = mesh.fleet();
  if (!fleet) return fleet.error();
  in.fleet = std::move(*fleet);
  if (auto tasks = mesh.tasks(); tasks) {
    in.tasks = std::move(*tasks);
  } else {
    log_->warn("cannot read the tasks, walking without them error={}", tasks.error().message);
  }
  if (auto questions = mesh.waiting_questions(); questions) {
    for (auto& q : *questions) in.questions.push_back({q.key, std::move(q.question)});
  } else {
    in.questions_error = questions.error().message;
    log_->warn("cannot read the waiting questions error={}", questions.error().message);
  }
  if (auto consumers = mesh.brief_consumers(); consumers) {
    for (const auto& c : *consumers) {
      const std::string role = role_of(c);
      auto same = std::find_if(in.queues.begin(), in.queues.end(),
                               [&](const sweep::Queue& q) { return q.role == role; });
      if (same == in.queues.end()) {
        in.queues.push_back({role, c.pending, c.ack_pending});
      } else {
        same->queued += c.pending;
        same->in_flight += c.ack_pending;
      }
    }
  } else {
    in.queues_error = consumers.error().message;
  }
  read_usage(ctx);
  in.usage = usage_;
  in.now = std::chrono::system_clock::now();

  sweep::Plan plan = sweep::sweep(in, std::move(memory_));
  memory_ = std::move(plan.memory);
  // Remember before acting: a crash halfway must not repeat what was done.
  save_memory(ctx);
  for (const auto& action : plan.actions) carry_out(ctx, action, in.fleet);
  // Epics whose sub-task closed without its agent moving them on (a dead
  // letter blocks a task outside the pipeline).
  for (const auto& task : in.tasks) {
    if (task.stage() != pipeline::kSplit) continue;
    auto step =
        mesh.advance_epic(task.id(), static_cast<std::size_t>(ctx.config->limits.brief_bytes));
    if (!step) {
      log_->warn("cannot move epic on task={} error={}", task.id(), step.error().message);
    } else if (!step->close.empty() || !step->start.empty()) {
      log_->info("moved epic on task={} started={} closed=\"{}\"", task.id(), step->start.size(),
                 step->close);
    }
  }
  log_->info("walk done summary=\"{}\"", plan.summary);
  return plan.summary;
}

void Sweeper::read_usage(const RoleContext& ctx) {
  for (int i = 0; i < kUsageReads; ++i) {
    auto batch = ctx.mesh->usage_after(usage_sequence_);
    if (!batch) {
      log_->warn("cannot read usage, burn figures may lag error={}", batch.error().message);
      return;
    }
    for (const auto& s : batch->messages) {
      if (s.task_id().empty() || s.role().empty()) continue;
      // Saturating: the accountant dead-letters absurd samples, but the
      // sweeper reads the same stream and must not wrap on them either.
      std::int64_t& burn = usage_[{s.task_id(), s.role()}];
      burn = bounds::sat_add(burn,
                             bounds::sat_add(bounds::sat_add(s.input_tokens(), s.output_tokens()),
                                             s.cache_creation_tokens()));
    }
    if (batch->last_sequence <= usage_sequence_) return;
    usage_sequence_ = batch->last_sequence;
  }
}

void Sweeper::carry_out(const RoleContext& ctx, const sweep::Action& a,
                        const std::vector<v1::AgentStatus>& fleet) {
  Mesh& mesh = *ctx.mesh;
  v1::FleetEvent event;
  event.set_kind(a.kind);
  event.set_agent_id(a.agent_id);
  event.set_task_id(a.task_id);
  event.set_reason(a.reason);
  for (const auto& [k, v] : a.details) (*event.mutable_details())[k] = v;

  Result<void> done;
  auto also = [&done](Result<void> r) {
    if (done && !r) done = std::move(r);
  };
  if (a.kind == sweep::kSnapshot) {
    for (const auto& s : fleet) *event.add_agents() = s;
  } else if (a.kind == sweep::kNudged) {
    also(mesh.control(a.agent_id, voc::kNudge, a.reason));
  } else if (a.kind == sweep::kDrained) {
    // Drain first: once the cancel hands the brief back, the agent must
    // not take the next one.
    also(mesh.control(a.agent_id, voc::kDrain, a.reason));
    also(mesh.control(a.agent_id, voc::kCancel, a.reason));
  } else if (a.kind == sweep::kRedelivered) {
    if (!a.ack_subject.empty()) {
      // Through the claim and the safety window, so this NAK and an agent's
      // own at restart never both reach a brief (runtime/orphans.hpp).
      auto task = mesh.task(a.task_id);
      if (!task) {
        also(task.error());
      } else {
        auto back =
            orphans::hand_back(mesh.connection(), a.holder, fleet, *task,
                               std::chrono::seconds(ctx.config->pipeline.ack_wait_seconds),
                               mesh.agent_id(), "the sweeper found it " + a.details.at("cause"));
        if (!back) {
          also(back.error());
        } else {
          (*event.mutable_details())["handed_back"] = back->handed_back ? "yes" : "no";
          if (!back->handed_back) {
            (*event.mutable_details())["note"] = back->why + "; it returns when its ack wait ends";
          }
        }
      }
    } else {
      (*event.mutable_details())["note"] =
          "the agent named no brief to hand back; it returns when its ack wait ends";
    }
    if (a.stop_agent) also(mesh.control(a.agent_id, voc::kStop, a.reason));
  } else if (a.kind == sweep::kLoopBlocked) {
    auto blocked = mesh.block_task(a.task_id, a.reason);
    if (!blocked) {
      done = blocked.error();
    } else if (!*blocked) {
      log_->info("loop not blocked task={}: it is done or blocked already", a.task_id);
      return;
    }
  } else if (a.kind == sweep::kProtocolRefused) {
    also(mesh.control(a.agent_id, voc::kStop, a.reason));
  } else if (a.kind == sweep::kAskProxy) {
    ask_proxy(ctx, a);
    return;
  }
  if (!done) {
    log_->warn("action failed kind={} agent={} task={} error={}", a.kind, a.agent_id, a.task_id,
               done.error().message);
    (*event.mutable_details())["error"] = done.error().message;
    event.set_reason(a.reason + " (failed: " + done.error().message + ")");
  } else if (a.kind != sweep::kSnapshot) {
    log_->info("{} agent={} task={} reason=\"{}\"", a.kind, a.agent_id, a.task_id, a.reason);
  }
  record(ctx, event);
}

void Sweeper::ask_proxy(const RoleContext& ctx, const sweep::Action& a) {
  Mesh& mesh = *ctx.mesh;
  const v1::Question& original = a.question.question;
  const sweep::Settings s = settings(ctx);
  const double needed = sweeper_config(ctx).answer_confidence;
  const std::string self = ctx.agent_id.empty() ? mesh.agent_id() : ctx.agent_id;
  const std::string asker = original.from_agent().empty() ? "someone" : original.from_agent();

  v1::FleetEvent event;
  event.set_agent_id(original.from_agent());
  event.set_task_id(original.task_id());
  auto& details = *event.mutable_details();
  details["question_id"] = original.id();
  details["asked_role"] = original.role();
  details["question"] = tail(original.text(), 300);
  details["needed_confidence"] = fixed2(needed);

  v1::Question q;
  q.set_text(original.text());
  q.set_task_id(original.task_id());
  std::string context = original.context();
  if (!context.empty()) context += "\n\n";
  context += "Asked on behalf of " + asker +
             (original.from_role().empty() ? "" : " (" + original.from_role() + ")") +
             ", who asked " + (original.role().empty() ? "another role" : original.role()) +
             " and is still waiting.";
  q.set_context(context);
  auto answer = mesh.ask(s.proxy_role, q, kProxyTimeout);
  if (!answer) {
    event.set_kind(std::string(sweep::kNotAnswered));
    details["error"] = answer.error().message;
    event.set_reason("the " + s.proxy_role + " could not take " + asker +
                     "'s question: " + answer.error().message);
    log_->info("question not answered key={} error={}", a.question.key, answer.error().message);
    record(ctx, event);
    return;
  }
  const std::string proxy = answer->answered_by().empty() ? s.proxy_role : answer->answered_by();
  details["confidence"] = fixed2(answer->confidence());
  details["proxy"] = proxy;
  if (answer->confidence() < needed) {
    event.set_kind(std::string(sweep::kNotAnswered));
    event.set_reason("the " + s.proxy_role + "'s answer to " + asker + "'s question is only " +
                     fixed2(answer->confidence()) + " confident (needs " + fixed2(needed) +
                     "): left to the role asked");
    log_->info("question not answered key={} confidence={}", a.question.key, answer->confidence());
    record(ctx, event);
    return;
  }
  v1::Answer out = *answer;
  out.set_question_id(original.id());
  out.set_answered_by(proxy + " via " + self);
  if (!out.has_answered_at()) *out.mutable_answered_at() = now_timestamp();
  event.set_kind(std::string(sweep::kAnswered));
  event.set_reason(a.reason + "; answered with " + fixed2(answer->confidence()) + " confidence");
  if (auto r = mesh.reply(original.reply_to(), out); !r) {
    details["error"] = r.error().message;
    event.set_reason(event.reason() + " (failed: " + r.error().message + ")");
    log_->warn("cannot pass the answer on key={} error={}", a.question.key, r.error().message);
  } else {
    log_->info("answered key={} via={} confidence={}", a.question.key, proxy, answer->confidence());
  }
  record(ctx, event);
}

void Sweeper::record(const RoleContext& ctx, const v1::FleetEvent& event) {
  if (auto r = ctx.mesh->record(kFamily, event); !r) {
    log_->warn("cannot record event kind={} error={}", event.kind(), r.error().message);
  }
}

void Sweeper::save_memory(const RoleContext& ctx) {
  std::string json = sweep::to_json(memory_);
  if (json == saved_memory_) return;
  if (auto r = ctx.mesh->remember(kMemoryKey, json); !r) {
    log_->warn("cannot keep the sweeper's memory key={} error={}", kMemoryKey, r.error().message);
    return;
  }
  saved_memory_ = std::move(json);
}

std::optional<Decision> Sweeper::precheck(const RoleContext& ctx, const v1::Brief& /*brief*/,
                                          const v1::Task& /*task*/) {
  auto summary = walk(ctx);
  if (!summary) return blocked("the sweep failed: " + summary.error().message);
  Decision d;
  d.next_stage = std::string(voc::kDone);
  d.reason = *summary;
  return d;
}

Result<Turn> Sweeper::prepare(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                              const v1::Task& /*task*/) {
  return make_error(errc::internal, "the sweeper runs no engine: its precheck decides each brief");
}

Result<Decision> Sweeper::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                                 const Outcome& /*outcome*/) {
  return make_error(errc::internal, "the sweeper runs no engine: its precheck decides each brief");
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo sweeper() {
  RoleInfo info("sweeper");
  info.lateral = true;
  info.runs_engine = false;
  info.settings = config::read_sweeper;
  return info;
}
}  // namespace agency::catalog::entries
