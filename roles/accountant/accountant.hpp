// The accountant keeps the usage ledger and answers budget leases
// (agency.yaml `accountant:`, docs/ACCOUNTING.md).
//
// - Ledger: every UsageSample and LimitReading in AGENCY_USAGE (replayed
//   at start, then live), plus the human's own Claude Code sessions read
//   from each account's transcripts at start and then every
//   transcripts_every_seconds, and published there as samples (source
//   "transcript", msg id = sample id; all of a read at once on a
//   connection of their own, every ack checked: bus/js_batch.hpp),
//   so the stream is the ledger and a restart loses nothing. What it has
//   read of the transcripts is kept in agency-memory
//   (accountant.transcripts.<account>).
// - Refused usage: a sample or reading accounting::read_usage refuses (too
//   big, unreadable, a figure out of range) stays out of the ledger and is
//   filed once on agency.dead.accountant with the reason: the replay at
//   start and a follower of the stream on each tick file them by stream
//   sequence, and the sequence filed through is kept in agency-memory
//   (accountant.usage.dead_through), so a restart files nothing twice.
// - Official figures: LimitReadings the engines publish (headers,
//   rate_limit_event), the statusline (`agency usage ingest-statusline`),
//   and each account's usage endpoint (usage_url), polled every
//   usage_every_seconds, calibrate the limits (accounting::calibrate).
// - Leases: request/reply on agency.budget.lease (queue group accountant),
//   decided by accounting::decide(); settlements on agency.budget.settle.
//   A task past its brief's token_budget gets no lease and is blocked with
//   the reason (the runaway guard), recorded on agency.event.budget.
//
// Thread: leases and settlements arrive on the connection's threads, ticks
// and briefs on the agent's; one mutex guards the ledger and the reader.
#pragma once

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bus/connection.hpp"
#include "bus/js_batch.hpp"
#include "roles/accountant/accounting.hpp"
#include "roles/accountant/transcripts.hpp"
#include "runtime/role_logic.hpp"

namespace agency::roles {

class Accountant final : public EnginelessRole {
 public:
  Accountant();
  [[nodiscard]] std::string name() const override { return "accountant"; }

  // Checks the settings, replays the ledger, serves leases.
  Result<void> start(const RoleContext& ctx) override;
  void stop(const RoleContext& ctx) override;
  // Transcripts and housekeeping: every few seconds, the transcripts every
  // transcripts_every_seconds.
  [[nodiscard]] std::optional<std::chrono::milliseconds> tick_every(
      const RoleContext& ctx) const override;
  Result<void> tick(const RoleContext& ctx) override;

  // A brief to the accountant reads the transcripts at once; the task is
  // done with the ledger's size as its reason. No engine runs.
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;

 private:
  void on_lease(Incoming message);
  void on_settle(Incoming message);
  void on_usage(Incoming message);
  // Reads AGENCY_USAGE after next_usage_ and files what read_usage refuses.
  void follow_usage(const RoleContext& ctx);
  // Files one refused message as a dead letter; false when it could not.
  bool file_dead(const RoleContext& ctx, const Incoming& message, const std::string& reason);
  // Keeps dead_through_ in agency-memory.
  void remember_dead_through(const RoleContext& ctx);
  // Reads every account's transcripts and publishes what is new. Returns
  // how many samples it published.
  Result<std::size_t> read_transcripts(const RoleContext& ctx);
  // Publishes one account's new transcript entries as samples, many to a
  // message (UsageSamples), all at once (JsBatch), and returns once the
  // stream has acknowledged every message; an error when any was not.
  // `sound`: the entries of the samples the ledger's readers take (a sample
  // with a figure out of range is sent alone, to be refused on its own).
  Result<void> store_samples(const RoleContext& ctx, const std::string& account,
                             const std::vector<TranscriptEntry>& entries,
                             std::vector<accounting::Entry>& sound);
  // Asks each account's usage endpoint, when one is configured and due, and
  // stores its utilisation figures as limit readings (which calibrate).
  void poll_usage_endpoints(const RoleContext& ctx);

  std::shared_ptr<spdlog::logger> log_;
  const RoleContext* ctx_ = nullptr;
  std::mutex mu_;
  std::optional<accounting::Ledger> ledger_;
  std::map<std::string, TranscriptReader> readers_;  // by account
  std::optional<std::chrono::steady_clock::time_point> next_transcripts_;
  // Leases of agents whose heartbeat is gone are released (their calls'
  // concurrency slots with them), looked at this often.
  static constexpr std::chrono::seconds kGoneCheckEvery{10};
  static constexpr std::chrono::seconds kGoneAfter{30};
  std::chrono::steady_clock::time_point next_gone_check_{};
  void release_gone_agents(const RoleContext& ctx);
  std::map<std::string, std::chrono::steady_clock::time_point> next_endpoint_poll_;
  // agency.yaml limits.usage_bytes.
  std::int64_t usage_bytes_ = config::Limits{}.usage_bytes;
  // Agent thread only: the stream sequence the follower reads from next,
  // and the one through which refused messages have been filed.
  std::uint64_t next_usage_ = 1;
  std::uint64_t dead_through_ = 0;
  // The last follow_usage stopped at its time budget: tick again at once.
  bool usage_behind_ = false;
  // Agent thread only: the transcript samples' own connection and batch,
  // opened with the first samples to store (store_samples).
  std::unique_ptr<Connection> usage_connection_;
  std::optional<JsBatch> usage_batch_;
  std::vector<Subscription> subs_;
};

}  // namespace agency::roles
