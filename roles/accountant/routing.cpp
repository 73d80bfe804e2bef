#include "roles/accountant/routing.hpp"

#include <algorithm>
#include <cstdio>

#include "runtime/config_accounts.hpp"
#include "runtime/localtime.hpp"

namespace agency::accounting {
namespace {

std::string dollars(double v) {
  char out[32];
  std::snprintf(out, sizeof out, "$%.2f", v);
  return out;
}

}  // namespace

Route route(const config::Accountant& policy, std::span<const Candidate> candidates, const Ask& ask,
            Time now) {
  Route r;
  std::optional<Time> earliest;
  // One account to choose from (a fleet without accounts): its reasons as
  // they always read, without naming it.
  const bool several = candidates.size() > 1;
  std::string alone;
  auto pass = [&](const Candidate& c, const std::string& why, Time retry) {
    r.passed.push_back(c.account->id() + ": " + why);
    alone = why;
    if (!earliest || retry < *earliest) earliest = retry;
  };
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    if (c.limited_until && *c.limited_until > now) {
      pass(c, "rate-limited until " + rfc3339(*c.limited_until), *c.limited_until);
      continue;
    }
    if (c.account->concurrency > 0 && c.running >= c.account->concurrency) {
      pass(c,
           std::to_string(c.running) + " calls running, its cap is " +
               std::to_string(c.account->concurrency),
           now + kSlotRetry);
      continue;
    }
    if (c.account->budget_usd_per_day > 0 && c.spent_today_usd >= c.account->budget_usd_per_day) {
      pass(c,
           "spent " + dollars(c.spent_today_usd) + " of its " +
               dollars(c.account->budget_usd_per_day) + " today",
           c.day_end);
      continue;
    }
    if (c.account->budget_usd_per_month > 0 &&
        c.spent_month_usd >= c.account->budget_usd_per_month) {
      pass(c,
           "spent " + dollars(c.spent_month_usd) + " of its " +
               dollars(c.account->budget_usd_per_month) + " this month",
           c.month_end);
      continue;
    }
    Verdict v = decide(policy, c.windows, ask, now);
    if (!v.granted) {
      pass(c, v.reason, v.retry_at.value_or(now + kSlotRetry));
      continue;
    }
    r.chosen = i;
    r.verdict = std::move(v);
    if (several) r.verdict.reason = c.account->id() + ": " + r.verdict.reason;
    if (!r.passed.empty()) {
      std::string before;
      for (const auto& p : r.passed) before += (before.empty() ? "" : "; ") + p;
      r.verdict.reason += " (passed over " + before + ")";
    }
    return r;
  }
  r.verdict.granted = false;
  r.verdict.allowance = 0;
  if (candidates.empty()) {
    r.verdict.reason = "no account to spend";
    return r;  // no retry_at: refused
  }
  r.verdict.retry_at = earliest;
  std::string reason;
  for (const auto& p : r.passed) reason += (reason.empty() ? "" : "; ") + p;
  r.verdict.reason = several ? "no account has room: " + reason : alone;
  return r;
}

Allowed allowed_accounts(const config::Config& config, std::string_view role,
                         std::span<const std::string> listed, std::string_view fallback) {
  Allowed out;
  const config::Role* configured = config.role(role);
  auto role_allows = [&](const config::Account& a) {
    if (configured == nullptr || configured->engines.empty()) return true;
    return std::any_of(configured->engines.begin(), configured->engines.end(),
                       [&](const config::EngineChoice& e) { return e.account == a.id(); });
  };
  auto add = [&](std::string_view id) {
    const config::Account* a = config.account(id);
    if (a == nullptr) {
      out.unknown.push_back(std::string(id) + ": no such account");
      return;
    }
    if (!role_allows(*a)) {
      out.unknown.push_back(a->id() + ": not among roles." + std::string(role) + ".engines");
      return;
    }
    if (std::find(out.accounts.begin(), out.accounts.end(), a) == out.accounts.end()) {
      out.accounts.push_back(a);
    }
  };
  for (const auto& id : listed) add(id);
  if (listed.empty()) {
    if (fallback.empty()) {
      if (!config.accounts.empty()) out.accounts.push_back(&config.accounts.front());
    } else {
      add(fallback);
    }
  }
  return out;
}

Calendar calendar(const config::Accountant& policy, Time now) {
  Calendar c;
  const LocalTime l = to_local(now, policy.time_zone);
  auto at = [&](int year, int month, int day) {
    return from_local(year, month, day, 0, 0, policy.time_zone).value_or(now);
  };
  c.day_start = at(l.year, l.month, l.day);
  c.day_end = at(l.year, l.month, l.day + 1);
  c.month_start = at(l.year, l.month, 1);
  c.month_end = at(l.year, l.month + 1, 1);
  return c;
}

Candidate candidate(const Ledger& ledger, const config::Accountant& policy,
                    const config::Account& account, Time now) {
  Candidate c;
  c.account = &account;
  c.windows = ledger.windows(account.name, now);
  c.running = ledger.running(account.name);
  c.limited_until = ledger.limited_until(account.name, now);
  if (config::is_api_provider(account.provider) &&
      (account.budget_usd_per_day > 0 || account.budget_usd_per_month > 0)) {
    const Calendar cal = calendar(policy, now);
    c.spent_today_usd = ledger.agents_cost(account.name, cal.day_start, now);
    c.spent_month_usd = ledger.agents_cost(account.name, cal.month_start, now);
    c.day_end = cal.day_end;
    c.month_end = cal.month_end;
  }
  return c;
}

}  // namespace agency::accounting
