// A real person's week for the simulation: `agency usage
// --export-person-trace` writes it from the ledger, `agency sim
// --person-trace` replays it in place of the drawn person (sim.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bus/result.hpp"
#include "roles/accountant/accounting.hpp"
#include "roles/accountant/sim.hpp"

namespace agency::accounting {

// A person's week as the ledger has it, for `agency sim --person-trace`
// (written by `agency usage --export-person-trace`; docs/ACCOUNTING.md has
// the format, "agency-person-trace/1").
struct PersonTrace {
  std::string account;
  Span span;                   // the weekly window, [from, to)
  std::int64_t five_hour = 0;  // the account's limits then, 0: not known
  std::int64_t seven_day = 0;
  std::vector<SimRequest> requests;  // in time order, within span
  [[nodiscard]] std::int64_t tokens() const;
};
// The person's requests of `account` (ledger.account_of) in its last
// complete weekly window before `now`, or in the current one so far when
// the ledger holds none complete (`complete` says which).
PersonTrace export_person_trace(const Ledger& ledger, std::string_view account, Time now,
                                bool* complete = nullptr);
std::string person_trace_json(const PersonTrace& trace);
// The trace a file holds; an error names what is wrong with it.
Result<PersonTrace> parse_person_trace(std::string_view text);
// setup replays `trace`: its person, its week (start, days) and, where the
// trace knows them, its limits.
void use_person_trace(SimSetup& setup, const PersonTrace& trace, const std::string& from);

}  // namespace agency::accounting
