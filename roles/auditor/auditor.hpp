// The auditor judges the fleet's own effectiveness: once a night (a
// dispatcher schedule files it a brief; agency.example.yaml) it works out
// the audit's figures and findings in code (audit.hpp) from the task
// records and the ledger, asks its engine for suggestions grounded in them,
// and writes <state_dir>/audits/<date>.md plus an "audit" event. With
// `auditor.suggestions: false`, or when the engine gives no answer, the
// file holds the figures alone. `agency audit` prints the same figures at
// any time (audit_command.cpp).
//
// Thread: briefs on the agent's main thread. The report made in precheck()
// is kept in the object for prepare() and finish().
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "roles/auditor/audit.hpp"
#include "roles/auditor/settings.hpp"
#include "runtime/role_logic.hpp"

namespace agency::roles {

class Auditor final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "auditor"; }

  // Reads the task records and the ledger and makes the report; with
  // suggestions off, writes it and is done (no engine turn).
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;
  // A scratch dir; the report in the prompt and in the turn's brief.context.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // Writes the report with the engine's suggestions (pass), or alone with
  // the reason there are none (any other verdict): done either way.
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;

  // The report the next prepare()/finish() use (tests hand one in).
  void take_report(audit::Report report);

 private:
  // Writes the file and records the event; the decision that closes the brief.
  Result<Decision> write(const RoleContext& ctx, const v1::Brief& brief, const v1::Task& task,
                         const std::string& suggestions, const std::string& why);

  std::optional<audit::Report> report_;
  std::optional<Error> load_error_;
};

// Where audits go: auditor.dir, else <state_dir>/audits.
std::filesystem::path audit_dir(const RoleContext& ctx);

// The audit of the `hours` before `now`, from the bus: every task record and
// the ledger replayed from AGENCY_USAGE.
Result<audit::Report> audit_from_bus(Connection& connection, const config::Config& config,
                                     std::chrono::system_clock::time_point now, int hours);

}  // namespace agency::roles
