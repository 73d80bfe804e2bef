// The synthesizer writes the fleet's daily digest: what every project's
// closed tasks did (the work logs on agency.log.<project>), as one markdown
// file a person reads in the morning, plus an event saying where it is.
//
// Digests are made from briefs so its engine composes them like any other
// work: at config synthesizer.digest_at (in synthesizer.time_zone) tick()
// files a brief "digest:<local date>" to the synthesizer itself. A digest
// brief (or any brief to the synthesizer) covers the work logs stored since
// the last digest (agency-memory synthesizer.last_seq).
//
// Thread: briefs on the agent's main thread, ticks on its lateral thread;
// the runtime never overlaps two calls. The logs read in precheck() are kept
// in the object for prepare() and finish().
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/worklog.pb.h"
#include "roles/synthesizer/settings.hpp"
#include "runtime/role_logic.hpp"

namespace agency::roles {

// A time of day, HH:MM.
struct TimeOfDay {
  int hour = 0;
  int minute = 0;
};
// Reads "04:00" (or "4:00"); errc::config naming synthesizer.digest_at.
Result<TimeOfDay> parse_time_of_day(std::string_view text);

// Checks an IANA time zone name against the zoneinfo database ($TZDIR, else
// /usr/share/zoneinfo); empty (the machine's zone) is fine. errc::config.
Result<void> check_time_zone(std::string_view time_zone);

// The first moment after `now` whose local time in `time_zone` (empty: the
// machine's) is `at` (HH:MM). Across a DST change the day is 23 or 25 hours
// long; a time that does not exist that day (in the spring gap) is the
// moment mktime() normalizes it to.
Result<std::chrono::system_clock::time_point> next_digest_time(
    std::chrono::system_clock::time_point now, std::string_view at, std::string_view time_zone);

// Whether today's digest is due at `now`: its local time `at` has come
// (a minute early counts: timers wake a little early).
Result<bool> digest_due(std::chrono::system_clock::time_point now, std::string_view at,
                        std::string_view time_zone);

// The local date of `now` in `time_zone`, YYYY-MM-DD.
Result<std::string> local_date(std::chrono::system_clock::time_point now,
                               std::string_view time_zone);

// The work logs for the engine's prompt, grouped by project (sorted by
// name; stream order inside one): title, outcome, summary, branch, tokens,
// closed_at.
std::string render_log_list(const std::vector<v1::WorkLog>& logs);

// The digest file: a title, the engine's summary, and a table of the logs
// per project (task, title, outcome, tokens) with totals, written by the
// role so the file is useful whatever the engine wrote.
std::string render_digest(std::string_view date, std::string_view summary,
                          const std::vector<v1::WorkLog>& logs);

class Synthesizer final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "synthesizer"; }

  // Checks synthesizer.digest_at and time_zone (a config error stops the
  // agent).
  Result<void> start(const RoleContext& ctx) override;
  // The time until the next digest_at.
  [[nodiscard]] std::optional<std::chrono::milliseconds> tick_every(
      const RoleContext& ctx) const override;
  // Files today's digest brief when digest_at has come and it was not filed
  // today (agency-memory synthesizer.last_digest_date).
  Result<void> tick(const RoleContext& ctx) override;

  // Reads the work logs after synthesizer.last_seq; none -> done, no file.
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;
  // A scratch dir; the logs by project in the prompt and in the turn's
  // brief.context.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // pass -> writes <dir>/<date>.md, remembers the last sequence, records a
  // "digest" event, done; fail, blocked or no verdict -> blocked (the logs
  // stay for the next digest).
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;

  // The logs the next prepare()/finish() cover, as precheck() reads them
  // from the mesh (tests hand them in without one).
  void take_logs(std::vector<v1::WorkLog> logs, std::uint64_t last_sequence);

 private:
  [[nodiscard]] config::Synthesizer settings(const RoleContext& ctx) const;

  std::vector<v1::WorkLog> logs_;
  std::uint64_t last_sequence_ = 0;
  std::optional<Error> load_error_;  // reading the logs failed in precheck()
  std::string filed_date_;           // the last digest brief tick() filed
  // No tick before this after a failed one (the bus or memory was down).
  std::chrono::system_clock::time_point retry_at_{};
};

// Where digests go: synthesizer.dir, else <state_dir>/digests.
std::filesystem::path digest_dir(const RoleContext& ctx);

}  // namespace agency::roles
