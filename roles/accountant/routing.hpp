// Routing a lease to an account (docs/ACCOUNTS.md): a role lists the
// accounts it may spend in its order of preference (agency.yaml
// roles.<role>.engines); before each engine call the accountant answers
// with the first that has room under every rule, else defers the call
// until the earliest moment one will. The accountant role, `agency usage`
// and `agency sim` all route with route(), so the simulation measures what
// the fleet does.
//
// An account has room when
//   - no refusal of it is still ahead of its reset (a rate limit an agent
//     met, or its limit reading with status rejected);
//   - fewer calls run on it than its concurrency cap;
//   - an API account has not spent its money budget of the day or month;
//   - decide() grants the ask on its windows: the person's reserve of that
//     account, pacing, night-weighted batch work.
//
// Thread: none shared; plain functions.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "roles/accountant/accounting.hpp"

namespace agency::accounting {

// One account a lease may spend, as the accountant sees it now.
struct Candidate {
  const config::Account* account = nullptr;  // as configured; never null
  std::vector<WindowState> windows;          // Ledger::windows(name, now)
  int running = 0;                           // calls on it now (granted, unsettled leases)
  std::optional<Time> limited_until;         // a refusal's reset still ahead
  // API accounts: dollars spent in the current day and month, and when each
  // starts again (accountant.time_zone).
  double spent_today_usd = 0;
  double spent_month_usd = 0;
  Time day_end{};
  Time month_end{};
};

struct Route {
  // Index into the candidates of the account to spend; nullopt: deferred
  // (verdict.retry_at: when the first of them has room again) or refused.
  // An index, so the answer can only ever be one of the accounts asked for.
  std::optional<std::size_t> chosen;
  Verdict verdict;
  // Why each account before the chosen one (all of them when deferred) was
  // passed over: "claude/max-1: rate-limited until 2026-12-04T15:00:00Z".
  std::vector<std::string> passed;
};

// How long a call waits for a concurrency slot before asking again: calls
// end at any moment and nobody tells the waiting agent.
inline constexpr std::chrono::seconds kSlotRetry{5};

Route route(const config::Accountant& policy, std::span<const Candidate> candidates, const Ask& ask,
            Time now);

// The accounts a lease may spend: those it lists (Lease.accounts, names
// "provider/name" or bare names) that are configured, of the role's own
// list when agency.yaml gives the role one (roles.<role>.engines: an agent
// cannot spend an account its role is not given), in the lease's order,
// each once. A lease that lists none names `fallback` (Lease.account,
// else the first account). Unknown names are reported in `unknown`.
struct Allowed {
  std::vector<const config::Account*> accounts;
  std::vector<std::string> unknown;  // named but not usable, with why
};
Allowed allowed_accounts(const config::Config& config, std::string_view role,
                         std::span<const std::string> listed, std::string_view fallback);

// The start of the calendar day and month around `now` and their ends, in
// accountant.time_zone (API budgets).
struct Calendar {
  Time day_start, day_end, month_start, month_end;
};
Calendar calendar(const config::Accountant& policy, Time now);

// A candidate for `account` from the ledger at `now`.
Candidate candidate(const Ledger& ledger, const config::Accountant& policy,
                    const config::Account& account, Time now);

}  // namespace agency::accounting
