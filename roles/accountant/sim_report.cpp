// agency sim's output (sim.hpp): the parameters, the tables per policy and per
// account, and the JSON; the simulation itself is sim.cpp.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "roles/accountant/sim.hpp"

namespace agency::accounting {

namespace {

double pct(std::int64_t part, std::int64_t whole) {
  return whole <= 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

std::string millions(std::int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(n) / 1e6);
  return buf;
}

std::string percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", p);
  return buf;
}

std::string hhmm(int minute) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minute / 60, minute % 60);
  return buf;
}

std::string sim_parameters(const SimSetup& s);

const SimResult* find(const std::vector<SimResult>& results, std::string_view policy) {
  for (const auto& r : results) {
    if (r.policy == policy) return &r;
  }
  return nullptr;
}

// A policy's unused total as a multiple of the oracle's bound.
double vs_oracle(const SimResult& r, const SimResult& oracle) {
  if (oracle.unused_total() <= 0) return r.unused_total() <= 0 ? 1.0 : HUGE_VAL;
  return static_cast<double>(r.unused_total()) / static_cast<double>(oracle.unused_total());
}

std::string times(double x) {
  if (!std::isfinite(x)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", x);
  return buf;
}

// A table of rows, the first one the head, columns padded.
std::string grid(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string l = "|";
    for (std::size_t i = 0; i < row.size(); ++i) {
      l += ' ' + row[i] + std::string(width[i] - row[i].size(), ' ') + " |";
    }
    return l + "\n";
  };
  std::string out = line(rows.front());
  std::string rule = "|";
  for (auto w : width) rule += std::string(w + 2, '-') + "|";
  out += rule + "\n";
  for (std::size_t i = 1; i < rows.size(); ++i) out += line(rows[i]);
  return out;
}

// Several accounts: a row per account and run, the run's totals, and the
// fleet's work against the run on the person's account alone.
std::string sim_accounts_table(const SimSetup& s, const std::vector<SimResult>& results) {
  std::string out = sim_parameters(s) + "\n";
  std::vector<std::vector<std::string>> rows = {
      {"run", "account", "limits 5 h / 7 d", "weekly used", "person", "agents",
       "agent calls (passed over)", "unused 5 h", "unused 7 d", "unused total"}};
  for (const auto& r : results) {
    std::int64_t offered = 0;
    std::int64_t human = 0;
    std::int64_t limit = 0;
    for (const auto& a : r.accounts) {
      std::string weekly;
      for (const auto& w : a.weeks) {
        if (!weekly.empty()) weekly += " / ";
        weekly += percent(w.utilization()) + (w.complete ? "" : "*");
      }
      rows.push_back({r.policy, a.id + (a.person ? " (person)" : ""),
                      millions(a.five_hour) + " / " + millions(a.seven_day), weekly,
                      millions(a.human_tokens), millions(a.agent_tokens),
                      std::to_string(a.agent_calls) + " (" + std::to_string(a.passed_over) + ")",
                      millions(a.unused_five_hour), millions(a.unused_seven_day),
                      millions(a.unused_total()) + " (" +
                          percent(pct(a.unused_total(), a.offered_total())) + ")"});
      offered = sat_add(offered, a.offered_total());
      human = sat_add(human, a.human_tokens);
      limit = sat_add(limit, a.seven_day);
    }
    if (r.accounts.size() < 2) continue;
    const std::int64_t used = sat_add(human, r.agent_tokens);
    rows.push_back(
        {r.policy, "all", "- / " + millions(limit), percent(pct(used, limit * s.days / 7)),
         millions(human), millions(r.agent_tokens), std::to_string(r.agent_calls),
         millions(r.unused_five_hour), millions(r.unused_seven_day),
         millions(r.unused_total()) + " (" + percent(pct(r.unused_total(), offered)) + ")"});
  }
  out += grid(rows);
  if (std::any_of(results.begin(), results.end(), [](const SimResult& r) {
        return std::any_of(r.weeks.begin(), r.weeks.end(),
                           [](const SimWeek& w) { return !w.complete; });
      })) {
    out += "* a weekly window only partly simulated (--days).\n";
  }
  out += "\n";
  for (const auto& r : results) {
    char line[400];
    std::snprintf(line, sizeof line,
                  "%s: %d tasks done, %s agent tokens in %d calls (%d asks deferred); the "
                  "person: %d requests, %d denied.\n",
                  r.policy.c_str(), r.tasks_done, millions(r.agent_tokens).c_str(), r.agent_calls,
                  r.agent_deferrals, r.human_requests, r.human_denied);
    out += line;
  }
  if (results.size() > 1 && results[1].agent_tokens > 0) {
    const auto& all = results[0];
    const auto& alone = results[1];
    char line[400];
    std::snprintf(line, sizeof line,
                  "The fleet's work on every account against the person's account alone: %.2fx "
                  "the tokens, %d tasks against %d.\n",
                  static_cast<double>(all.agent_tokens) / static_cast<double>(alone.agent_tokens),
                  all.tasks_done, alone.tasks_done);
    out += line;
  }
  out += "`agency sim --help` explains the columns.\n";
  return out;
}

}  // namespace

std::string sim_table(const SimSetup& s, const std::vector<SimResult>& results) {
  if (!s.accounts.empty()) return sim_accounts_table(s, results);
  std::string out = sim_parameters(s) + "\n";

  const bool sonnet = s.seven_day_sonnet > 0;
  std::vector<std::vector<std::string>> rows = {
      {"policy", sonnet ? "weekly used (sonnet)" : "weekly used", "5-h blocks (mean)", "unused 5 h",
       "unused 7 d", "unused total", "x oracle", "person's requests", "denied", "tasks done",
       "agent tokens"}};
  if (sonnet) rows.front().insert(rows.front().begin() + 5, "unused sonnet 7 d");
  const auto* bound = find(results, "oracle");
  for (const auto& r : results) {
    std::string weekly;
    for (const auto& w : r.weeks) {
      if (!weekly.empty()) weekly += " / ";
      weekly += percent(w.utilization());
      if (sonnet) weekly += " (" + percent(pct(w.sonnet_used, w.sonnet_limit)) + ")";
      weekly += w.complete ? "" : "*";
    }
    const char* none = "-";
    rows.push_back({r.policy, weekly, r.bound ? none : percent(r.five_hour_mean),
                    millions(r.unused_five_hour) + " (" + percent(r.unused_five_hour_pct()) + ")",
                    millions(r.unused_seven_day) + " (" + percent(r.unused_seven_day_pct()) + ")",
                    millions(r.unused_total()) + " (" + percent(r.unused_total_pct()) + ")",
                    bound == nullptr ? none : times(vs_oracle(r, *bound)),
                    std::to_string(r.human_requests), std::to_string(r.human_denied),
                    r.bound ? none : std::to_string(r.tasks_done), millions(r.agent_tokens)});
    if (sonnet) {
      rows.back().insert(rows.back().begin() + 5,
                         millions(r.unused_sonnet) + " (" + percent(r.unused_sonnet_pct()) + ")");
    }
  }
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string l = "|";
    for (std::size_t i = 0; i < row.size(); ++i) {
      l += ' ' + row[i] + std::string(width[i] - row[i].size(), ' ') + " |";
    }
    return l + "\n";
  };
  out += line(rows.front());
  std::string rule = "|";
  for (auto w : width) rule += std::string(w + 2, '-') + "|";
  out += rule + "\n";
  for (std::size_t i = 1; i < rows.size(); ++i) out += line(rows[i]);
  if (std::any_of(results.begin(), results.end(), [](const SimResult& r) {
        return std::any_of(r.weeks.begin(), r.weeks.end(),
                           [](const SimWeek& w) { return !w.complete; });
      })) {
    out += "* a weekly window only partly simulated (--days).\n";
  }

  const auto* a = find(results, "agency");
  const auto* g = find(results, "greedy");
  const auto* f = find(results, "fixed");
  if (a != nullptr && g != nullptr && f != nullptr) {
    auto met = [](bool ok) { return ok ? "met" : "NOT met"; };
    char target[600];
    std::snprintf(target, sizeof target,
                  "\nTarget for agency: >= 95%% of the weekly limit: %s (%.1f%%); no denial of "
                  "the person: %s (%d); unused total below greedy's (%s): %s, below fixed's "
                  "(%s): %s.\n",
                  met(a->weekly_utilization >= 95), a->weekly_utilization,
                  met(a->human_denied == 0), a->human_denied, millions(g->unused_total()).c_str(),
                  met(a->unused_total() < g->unused_total()), millions(f->unused_total()).c_str(),
                  met(a->unused_total() < f->unused_total()));
    out += target;
  }
  if (a != nullptr && bound != nullptr) {
    char versus[300];
    std::snprintf(versus, sizeof versus,
                  "agency's unused total is %.2fx the oracle's bound (%s), which no schedule that "
                  "serves the person can go below.\n",
                  vs_oracle(*a, *bound), millions(bound->unused_total()).c_str());
    out += versus;
  }
  out += "`agency sim --help` explains the columns.\n";
  return out;
}

std::string sim_json(const SimSetup& s, const std::vector<SimResult>& results) {
  const auto& p = s.policy;
  nlohmann::json setup = {
      {"seed", s.seed},
      {"days", s.days},
      {"start", rfc3339(s.start)},
      {"step_minutes", s.step.count()},
      {"unused_step_minutes", s.unused_step.count()},
      {"five_hour_limit", s.five_hour},
      {"seven_day_limit", s.seven_day},
      {"seven_day_sonnet_limit", s.seven_day_sonnet},
      {"sonnet_share", {{"agents", s.agent_sonnet_share}, {"person", s.human_sonnet_share}}},
      {"human",
       {{"time_zone", p.time_zone},
        {"weekday_sessions", {"09:00-12:30", "13:30-18:00"}},
        {"session_jitter_minutes", s.session_jitter_minutes},
        {"weekend_chance", s.weekend_chance},
        {"gap_minutes", {s.human_min_gap_minutes, s.human_max_gap_minutes}},
        {"request_tokens", {s.human_min_tokens, s.human_max_tokens}},
        {"person_trace", s.person ? nlohmann::json(s.person_from) : nlohmann::json(nullptr)},
        {"history_weeks", s.history_weeks}}},
      {"fleet",
       {{"agents", s.agents},
        {"call_tokens", {s.call_min_tokens, s.call_max_tokens}},
        {"task_tokens", {s.task_min_tokens, s.task_max_tokens}}}},
      {"agency_policy",
       {{"priority", "batch"},
        {"reserve", p.reserve},
        {"burst", p.burst},
        {"night", hhmm(p.night_from_minute) + "-" + hhmm(p.night_to_minute)},
        {"night_weight", p.night_weight},
        {"release_five_hour_minutes", p.release_five_hour_minutes},
        {"release_seven_day_minutes", p.release_seven_day_minutes},
        {"human_idle_minutes", p.human_idle_minutes}}}};
  nlohmann::json policies = nlohmann::json::array();
  const auto* bound = find(results, "oracle");
  for (const auto& r : results) {
    nlohmann::json weeks = nlohmann::json::array();
    for (const auto& w : r.weeks) {
      weeks.push_back({{"start", rfc3339(w.span.start)},
                       {"end", rfc3339(w.span.end)},
                       {"used", w.used},
                       {"limit", w.limit},
                       {"utilization", w.utilization()},
                       {"sonnet_used", w.sonnet_used},
                       {"sonnet_limit", w.sonnet_limit},
                       {"complete", w.complete}});
    }
    nlohmann::json versus = nullptr;
    if (bound != nullptr && std::isfinite(vs_oracle(r, *bound))) versus = vs_oracle(r, *bound);
    nlohmann::json shares = nlohmann::json::array();
    for (const auto& a : r.accounts) {
      nlohmann::json account_weeks = nlohmann::json::array();
      for (const auto& w : a.weeks) {
        account_weeks.push_back({{"start", rfc3339(w.span.start)},
                                 {"used", w.used},
                                 {"limit", w.limit},
                                 {"utilization", w.utilization()},
                                 {"complete", w.complete}});
      }
      shares.push_back({{"account", a.id},
                        {"plan", a.plan},
                        {"person", a.person},
                        {"five_hour_limit", a.five_hour},
                        {"seven_day_limit", a.seven_day},
                        {"seven_day_sonnet_limit", a.seven_day_sonnet},
                        {"weeks", account_weeks},
                        {"weekly_utilization", a.weekly_utilization},
                        {"human_tokens", a.human_tokens},
                        {"agent_tokens", a.agent_tokens},
                        {"agent_calls", a.agent_calls},
                        {"passed_over", a.passed_over},
                        {"unused_five_hour", a.unused_five_hour},
                        {"unused_seven_day", a.unused_seven_day},
                        {"unused_seven_day_sonnet", a.unused_sonnet},
                        {"unused_total", a.unused_total()},
                        {"offered_total", a.offered_total()},
                        {"unused_total_pct", pct(a.unused_total(), a.offered_total())}});
    }
    policies.push_back({{"policy", r.policy},
                        {"accounts", shares},
                        {"bound", r.bound},
                        {"unused_vs_oracle", versus},
                        {"weekly_utilization", r.weekly_utilization},
                        {"weeks", weeks},
                        {"five_hour_blocks", r.five_hour_blocks},
                        {"five_hour_mean_utilization", r.five_hour_mean},
                        {"unused_five_hour", r.unused_five_hour},
                        {"unused_seven_day", r.unused_seven_day},
                        {"unused_seven_day_sonnet", r.unused_sonnet},
                        {"offered_seven_day_sonnet", r.offered_sonnet},
                        {"unused_total", r.unused_total()},
                        {"offered_five_hour", r.offered_five_hour},
                        {"offered_seven_day", r.offered_seven_day},
                        {"unused_five_hour_pct", r.unused_five_hour_pct()},
                        {"unused_seven_day_pct", r.unused_seven_day_pct()},
                        {"unused_total_pct", r.unused_total_pct()},
                        {"human_requests", r.human_requests},
                        {"human_denied", r.human_denied},
                        {"human_tokens", r.human_tokens},
                        {"human_denied_tokens", r.human_denied_tokens},
                        {"agent_calls", r.agent_calls},
                        {"agent_deferrals", r.agent_deferrals},
                        {"tasks_done", r.tasks_done},
                        {"agent_tokens", r.agent_tokens}});
  }
  if (!s.accounts.empty()) {
    nlohmann::json accounts = nlohmann::json::array();
    for (const auto& a : sim_accountant(s).accounts) accounts.push_back(a.id());
    setup["accounts"] = accounts;
    setup["person_account"] = s.accounts[sim_person_account(s)].id();
  }
  return nlohmann::json{{"setup", setup}, {"policies", policies}}.dump(2);
}

namespace {

// The setup in words, with the rates it implies, so the help cannot drift
// from the code.
std::string sim_parameters(const SimSetup& s) {
  const auto trace = sim_human_trace(s);
  std::int64_t human = 0;
  for (const auto& q : trace) human = sat_add(human, q.tokens);
  const double week_minutes = 7.0 * 24 * 60;
  const double fleet_week = static_cast<double>(s.agents) *
                            (s.call_min_tokens + s.call_max_tokens) / 2.0 * week_minutes /
                            static_cast<double>(s.step.count());
  const double per_window = 7.0 * 24 / 5;
  // The person's account's weekly limit, and all accounts' together.
  std::int64_t person_week = s.seven_day;
  std::int64_t all_weeks = s.seven_day;
  char limits[1200];
  if (s.accounts.empty()) {
    std::snprintf(
        limits, sizeof limits,
        "  Limits: five_hour %s and seven_day %s counted tokens; the week's limit is %.1f\n"
        "    five-hour windows of the %.1f a week holds, so it binds.\n",
        thousands(s.five_hour).c_str(), thousands(s.seven_day).c_str(),
        static_cast<double>(s.seven_day) / static_cast<double>(s.five_hour), per_window);
  } else {
    const auto cfg = sim_accountant(s);
    const std::size_t person_at = sim_person_account(s);
    std::string list;
    all_weeks = 0;
    for (std::size_t i = 0; i < cfg.accounts.size(); ++i) {
      const auto& a = cfg.accounts[i];
      if (i == person_at) person_week = a.seven_day;
      all_weeks = sat_add(all_weeks, a.seven_day);
      list += "    " + std::to_string(i + 1) + ". " + a.id() + " (" +
              (a.plan.empty() ? "no plan" : "plan " + a.plan) + "): five_hour " +
              thousands(a.five_hour) + ", seven_day " + thousands(a.seven_day) + ", concurrency " +
              std::to_string(a.concurrency) + (i == person_at ? "; the person's" : "") + "\n";
    }
    std::snprintf(limits, sizeof limits,
                  "  Accounts, in the order every role's engines list them (agency routes each "
                  "call with\n    route(); greedy and fixed take the first whose rule lets it "
                  "go):\n%s",
                  list.c_str());
  }
  const auto& p = s.policy;
  const config::Accountant defaults;
  const bool as_configured = p.reserve == defaults.reserve && p.burst == defaults.burst &&
                             p.night_weight == defaults.night_weight &&
                             p.night_from_minute == defaults.night_from_minute &&
                             p.night_to_minute == defaults.night_to_minute &&
                             p.release_five_hour_minutes == defaults.release_five_hour_minutes &&
                             p.release_seven_day_minutes == defaults.release_seven_day_minutes &&
                             p.human_idle_minutes == defaults.human_idle_minutes;
  std::string models;
  if (s.seven_day_sonnet > 0 || s.agent_sonnet_share < 1 || s.human_sonnet_share < 1) {
    char line[400];
    std::snprintf(line, sizeof line,
                  "  Models: %.0f%% of the fleet's calls and %.0f%% of the person's requests on "
                  "Sonnet, the rest\n    on Opus; Sonnet's own weekly limit: %s.\n",
                  100 * std::clamp(s.agent_sonnet_share, 0.0, 1.0),
                  100 * std::clamp(s.human_sonnet_share, 0.0, 1.0),
                  s.seven_day_sonnet > 0 ? thousands(s.seven_day_sonnet).c_str() : "none");
    models = line;
  }
  const std::string history =
      s.history_weeks <= 0
          ? "The ledger starts empty: nothing of the person's pattern is known."
          : "The ledger holds " + std::to_string(s.history_weeks) + " week" +
                (s.history_weeks == 1 ? "" : "s") + " of their use before the start" +
                (s.person ? " (this week repeated)." : " (drawn alike).");
  char person[900];
  if (s.person) {
    std::snprintf(person, sizeof person,
                  "  Person: replayed from %s: %zu requests, %s tokens, %.0f%% of the weekly\n"
                  "    limit (the drawn person's parameters do not apply). %s\n",
                  s.person_from.c_str(), trace.size(), thousands(human).c_str(),
                  pct(human, person_week * s.days / 7), history.c_str());
  } else {
    std::snprintf(
        person, sizeof person,
        "  Person (%s): weekdays 09:00-12:30 and 13:30-18:00, each edge moved by up to %d min;\n"
        "    a weekend day has one 30-90 min session starting 10:00-20:00 with chance %.2f;\n"
        "    in a session a request every %d-%d min (plus 0-59 s) of %s-%s counted tokens,\n"
        "    uniform. With seed %llu: %zu requests, %s tokens, %.0f%% of the weekly limit.\n"
        "    %s\n",
        p.time_zone.empty() ? "local time" : p.time_zone.c_str(), s.session_jitter_minutes,
        s.weekend_chance, s.human_min_gap_minutes, s.human_max_gap_minutes,
        thousands(s.human_min_tokens).c_str(), thousands(s.human_max_tokens).c_str(),
        static_cast<unsigned long long>(s.seed), trace.size(), thousands(human).c_str(),
        pct(human, person_week * s.days / 7), history.c_str());
  }
  char buf[4200];
  std::snprintf(
      buf, sizeof buf,
      "  start %s, the account's weekly reset (%d days: %s).\n"
      "%s"
      "%s"
      "%s"
      "  Fleet: %d agents, each at most one call per %lld min of %s-%s counted tokens: at\n"
      "    full speed %.1f weekly limits a week. A backlog of tasks of %s-%s counted tokens,\n"
      "    worked in order, more than any policy finishes.\n"
      "  agency rules (%s): reserve %g, burst %g, night %s-%s weighted %g,\n"
      "    release %d min (five_hour) / %d min (seven_day) after %d idle minutes.\n"
      "  Unused area step %lld min. Random draws: std::mt19937_64 streams seeded from --seed.\n",
      rfc3339(s.start).c_str(), s.days, s.days % 7 == 0 ? "whole weekly windows" : "partly", limits,
      models.c_str(), person, s.agents, static_cast<long long>(s.step.count()),
      thousands(s.call_min_tokens).c_str(), thousands(s.call_max_tokens).c_str(),
      fleet_week / static_cast<double>(all_weeks), thousands(s.task_min_tokens).c_str(),
      thousands(s.task_max_tokens).c_str(),
      as_configured ? "the config defaults" : "changed by the options", p.reserve, p.burst,
      hhmm(p.night_from_minute).c_str(), hhmm(p.night_to_minute).c_str(), p.night_weight,
      p.release_five_hour_minutes, p.release_seven_day_minutes, p.human_idle_minutes,
      static_cast<long long>(s.unused_step.count()));
  return buf;
}

}  // namespace

std::string sim_explained() {
  return R"(Policies (the same person, tasks and calls for each; the accountant's Ledger keeps
the books for all three):
  greedy  no accountant: an agent's call goes when it fits under the limit of every
          window; refused, the agent waits for the reset of the window that refused.
  fixed   each window: the fleet's own use so far at most limit x the elapsed share of
          the window (and the limit). Knows nothing of the person: no reserve, no release.
  agency  accounting::decide() at batch priority with the accountant's rules (the config
          defaults unless the options below change them); a deferred agent asks again at
          the retry_at the verdict gives.
  oracle  not a policy: the least unused total any schedule of the fleet's calls can leave
          while serving every request of the person, knowing the whole week in advance
          (a lower bound: a relaxation solved exactly, see roles/accountant/sim.hpp). Each
          10-minute step takes at most what the agents can call in it (agents x calls per
          step x the largest call), each weekly window at most its limit less the person's
          use; the budget fills every step up to the weekly even pace first (a token there
          lowers both windows' unused area), then towards the five-hour pace. The
          five-hour limit, whole calls and the task order are left out, which only lowers
          the bound. Its 5-h blocks and tasks are not simulated (-).
  The person's requests go whenever they fit under the limit of every window (human
  priority: only the limit) and are denied otherwise.

Several accounts (--accounts claude/max5,claude/pro,codex/plus): every role lists them
in that order, as roles.<role>.engines would; each agent call goes where
accounting::route() sends it (the first account with room: under its concurrency cap,
and decide() grants on its own windows), else it waits for the earliest retry_at. The
person uses one account (--person-account; default the first claude account). The run
is agency's rules on all the accounts, then the same person, backlog and calls on the
person's account alone; a row per account and run (limits, weekly used, the person's
and the fleet's tokens, agent calls and how many of them passed over an earlier account,
unused area per window and in total) and a row `all` with the run's totals. The oracle
is not computed for several accounts; --accounts with one account runs it alone.

Columns:
  weekly used        counted tokens (person + fleet) in each weekly window at its end, % of
                     the seven_day limit; * marks a window only partly simulated.
  5-h blocks (mean)  mean over the five-hour blocks (ccusage's rule: a block starts at the
                     hour of its first entry) of their use, % of the five_hour limit.
  unused 5 h / 7 d   the unused area of the window over the whole period: per 10-minute step,
                     what the even pace offered (limit x step / window length) beyond the
                     tokens used in that step, summed (docs/ACCOUNTING.md); in tokens and as %
                     of all the even pace offered over the period. Use above the even share in
                     one step does not make up for a step below it.
  unused sonnet 7 d  with --seven-day-sonnet: the Sonnet window's unused area, the same way.
  unused total       the sum of the windows' unused areas (the figure to minimise).
  x oracle           unused total as a multiple of the oracle's bound (1.00x: nothing to gain).
  person's requests  requests the person made; denied: those that did not fit under a limit.
  tasks done         backlog tasks the fleet finished.
  agent tokens       counted tokens the fleet used.

Parameters (the defaults; the options above change some of them):
)" + sim_parameters(default_sim_setup());
}

}  // namespace agency::accounting
