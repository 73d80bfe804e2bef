// The dispatcher makes sure nobody idles (agency.yaml `dispatcher:`,
// docs/ARCHITECTURE.md "Dispatcher"). It is never in the path of a brief or
// a question: queued work reaches agents through their role's consumer; the
// dispatcher only adds work and agents.
//
// - Idle agents: it watches agency-fleet. When an agent turns idle, its
//   role's queue is empty and the accountant's pacing has capacity for the
//   order (a lease probe), it files the role's next standing order,
//   rotating across projects. Without capacity it leaves the agent idle and
//   records why (once per idle spell).
// - Schedules: cron expressions with a time zone file briefs; runs missed
//   while it was down are skipped or run once, as each schedule says.
// - Triggers: a message on a configured subject becomes a brief filled from
//   it. A subject a stream keeps (agency's task events) is followed by a
//   durable consumer, so messages published while the dispatcher was down
//   trigger when it is back; other subjects by a core subscription.
// - Instances: keeps each role's agent count within its range by asking
//   `agency up`'s supervisor (agency.up.scale) for another agent or to
//   retire an idle extra.
//
// Every decision is a FleetEvent on agency.event.dispatch with its reason.
// Brief ids are derived from what caused them (the agent's idle spell, the
// schedule's minute, the message), so a dispatcher killed mid-decision and
// restarted files nothing twice (JetStream drops the repeated msg id).
//
// Thread: the fleet watch runs on a thread of its own, core triggers on the
// connection's threads, followed triggers, ticks and briefs on the agent's; one mutex guards
// the dispatcher's state.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/connection.hpp"
#include "bus/consumer.hpp"
#include "roles/dispatcher/cron.hpp"
#include "roles/dispatcher/dispatch.hpp"
#include "roles/dispatcher/settings.hpp"
#include "runtime/role_logic.hpp"

namespace agency::roles {

class Dispatcher final : public EnginelessRole {
 public:
  Dispatcher();
  ~Dispatcher() override;
  [[nodiscard]] std::string name() const override { return "dispatcher"; }

  Result<void> start(const RoleContext& ctx) override;
  void stop(const RoleContext& ctx) override;
  [[nodiscard]] std::optional<std::chrono::milliseconds> tick_every(
      const RoleContext& ctx) const override;
  // Schedules every tick; instance counts and a look at every idle agent
  // every dispatcher.every_seconds.
  Result<void> tick(const RoleContext& ctx) override;

  // A brief to the dispatcher looks at the whole fleet now; the task is
  // done with what it did as the reason. No engine runs.
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;

 private:
  void watch_fleet();
  // An agent's status changed: act if it is idle.
  void consider(const v1::AgentStatus& agent);
  // Whether the accountant's pacing has room for `priority` work of the
  // dispatcher's order estimate; says why in `why`.
  bool capacity(const std::string& priority, std::string& why);
  void fire_schedules(std::chrono::system_clock::time_point now);
  void scale(std::chrono::system_clock::time_point now);
  // False when the brief could not be filed (the message should come again).
  bool on_trigger(const config::Trigger& trigger, const Incoming& message);
  // Triggers whose subjects a stream keeps: what arrived since the last look,
  // also while the dispatcher was down.
  void follow_triggers();
  std::string look_at_fleet();
  // An idle agent of a stage role with no standing order: when nothing is
  // queued for it and pacing would allow work, an `unused` event (once per
  // idle spell): capacity the auditor counts as idled away (docs/AUDIT.md).
  void note_unused(const v1::AgentStatus& agent);
  void record(const std::string& kind, const std::string& agent_id, const std::string& task_id,
              const std::string& reason, const std::map<std::string, std::string>& details = {},
              const std::string& msg_id = {});

  std::shared_ptr<spdlog::logger> log_;
  const RoleContext* ctx_ = nullptr;
  std::mutex mu_;
  dispatch::Rotation rotation_;
  std::set<std::string> recorded_idle_;  // agent + idle-since: "left idle" said once
  // Idle spells of agents without a standing order: when each was last
  // looked at (a probe at most every kUnusedRecheck), and those recorded.
  std::map<std::string, std::chrono::steady_clock::time_point> unused_checked_;
  std::set<std::string> recorded_unused_;
  std::map<std::string, dispatch::ScaleState> scale_states_;
  std::map<std::string, dispatch::Cron> crons_;  // by schedule name
  std::chrono::steady_clock::time_point next_look_{};
  std::vector<Subscription> subs_;
  struct Followed {
    const config::Trigger* trigger;
    PullConsumer consumer;
  };
  std::vector<Followed> followed_;
  std::atomic<bool> stopping_{false};
  std::thread watcher_;
};

}  // namespace agency::roles
