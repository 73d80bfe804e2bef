// The sweeper walks the whole fleet every few minutes (agency.yaml
// `sweeper:`), records a snapshot and acts: it answers questions agents
// wait on through the proxy, nudges, drains and redelivers wedged agents,
// redelivers dead agents' briefs, blocks looping tasks and flags token burn.
// Every action is a FleetEvent on agency.event.sweep with its reason.
//
// The decisions are sweep.hpp's plain functions; this class gathers their
// input from the mesh, carries their actions out and keeps their memory
// (in the object, and in agency-memory under sweeper.memory so a restart
// does not repeat a nudge or a flag).
//
// Thread: the agent's main thread only (ticks and briefs), so no locking.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agency/v1/event.pb.h"
#include "roles/sweeper/sweep.hpp"
#include "runtime/role_logic.hpp"

namespace agency::roles {

class Sweeper final : public RoleLogic {
 public:
  Sweeper();
  [[nodiscard]] std::string name() const override { return "sweeper"; }

  // Checks the settings and the bus; reads the memory a previous sweeper
  // left.
  Result<void> start(const RoleContext& ctx) override;
  // Often enough to see a dead agent's last status before its fleet entry
  // expires (30 s): min(every_seconds, 10 s). The full walk runs every
  // every_seconds, the first at the first tick.
  [[nodiscard]] std::optional<std::chrono::milliseconds> tick_every(
      const RoleContext& ctx) const override;
  Result<void> tick(const RoleContext& ctx) override;

  // A brief to the sweeper ("sweep now") is a full walk at once: the task
  // is done with the walk's summary as its reason (blocked when the fleet
  // cannot be read).
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;
  // Never reached (precheck decides every brief): the sweeper runs no engine.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;

  // The full walk: snapshot and actions. Returns its summary.
  Result<std::string> walk(const RoleContext& ctx);

  // For tests and the integration test: a heartbeat older than this is
  // stale (default 15 s, three missed 5 s heartbeats).
  void set_stale_after(std::chrono::seconds stale_after) { stale_after_ = stale_after; }

 private:
  [[nodiscard]] sweep::Settings settings(const RoleContext& ctx) const;
  void read_usage(const RoleContext& ctx);
  void carry_out(const RoleContext& ctx, const sweep::Action& action,
                 const std::vector<v1::AgentStatus>& fleet);
  void ask_proxy(const RoleContext& ctx, const sweep::Action& action);
  void record(const RoleContext& ctx, const v1::FleetEvent& event);
  void save_memory(const RoleContext& ctx);

  std::shared_ptr<spdlog::logger> log_;
  std::chrono::seconds stale_after_{15};
  sweep::Memory memory_;
  std::string saved_memory_;  // the JSON last written to agency-memory
  sweep::UsageTotals usage_;
  std::uint64_t usage_sequence_ = 0;
  std::optional<std::chrono::steady_clock::time_point> next_walk_;
};

}  // namespace agency::roles
