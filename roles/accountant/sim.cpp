#include "roles/accountant/sim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <utility>

#include "roles/accountant/routing.hpp"
#include "roles/accountant/settings.hpp"
#include "runtime/config_accounts.hpp"
#include "runtime/localtime.hpp"

namespace agency::accounting {

using std::chrono::duration;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

constexpr const char* kAccount = "sim";
constexpr const char* kSonnet = "claude-sonnet-4-5";
constexpr const char* kOpus = "claude-opus-4-1";
constexpr const char* kRoles[] = {"builder", "reviewer", "planner", "scout"};

// Seeds for the separate streams (person, tasks, each agent): splitmix64,
// so neighbouring seeds give unrelated streams.
std::uint64_t mix(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [lo, hi]. Not std::uniform_int_distribution: its draws differ
// between standard libraries, and a seed must give the same week anywhere.
std::int64_t draw(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}

double unit(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
}

// Sonnet with chance `sonnet_share`, else Opus; no draw when it is sure.
std::string model_of(std::mt19937_64& rng, double sonnet_share) {
  if (sonnet_share >= 1) return kSonnet;
  if (sonnet_share <= 0) return kOpus;
  return unit(rng) < sonnet_share ? kSonnet : kOpus;
}

Time sim_end(const SimSetup& s) { return s.start + hours(24) * s.days; }

double seconds_of(Time::duration d) { return duration<double>(d).count(); }

// Whether `tokens` more fit under the limit of every enforced window the
// model counts toward; else the latest reset among those that refuse.
std::optional<Time> over_limit(const std::vector<WindowState>& ws, std::int64_t tokens,
                               std::string_view model) {
  std::optional<Time> reset;
  for (const auto& w : ws) {
    if (w.limit <= 0 || !counts_toward(w.window, model)) continue;
    if (sat_add(sat_add(w.used(), w.leased), tokens) > w.limit) {
      reset = reset ? std::max(*reset, w.span.end) : w.span.end;
    }
  }
  return reset;
}

struct Decision {
  bool go = true;
  Time retry;
};

// Greedy: anything that fits goes; a refusal names the reset.
Decision greedy(const std::vector<WindowState>& ws, std::int64_t tokens, std::string_view model) {
  if (auto reset = over_limit(ws, tokens, model)) return {false, *reset};
  return {};
}

// Fixed pace: the fleet's own use in every window at most limit x the
// elapsed share of it, and the limit.
Decision fixed(const std::vector<WindowState>& ws, std::int64_t tokens, Time now,
               std::string_view model) {
  Decision d;
  if (auto reset = over_limit(ws, tokens, model)) {
    d.go = false;
    d.retry = *reset;
  }
  for (const auto& w : ws) {
    if (w.limit <= 0 || !counts_toward(w.window, model)) continue;
    const double length = seconds_of(w.span.end - w.span.start);
    const double share = std::clamp(seconds_of(now - w.span.start) / length, 0.0, 1.0);
    const double need = static_cast<double>(sat_add(w.agents, tokens));
    if (need <= static_cast<double>(w.limit) * share) continue;
    // The moment the even share reaches the need, to the next second.
    const double at = std::min(length, std::ceil(length * need / static_cast<double>(w.limit)));
    const Time retry = w.span.start + seconds(static_cast<std::int64_t>(at));
    d.retry = d.go ? retry : std::max(d.retry, retry);
    d.go = false;
  }
  return d;
}

struct Agent {
  std::string id;
  std::string role;
  std::mt19937_64 rng;
  std::mt19937_64 model_rng;  // its calls' models, a stream of their own
  Time next;
  std::int64_t call = 0;  // the size of the call it is about to make
  std::string model;      // and its model
  std::string task;
  std::int64_t task_left = 0;
};

double pct(std::int64_t part, std::int64_t whole) {
  return whole <= 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

double SimWeek::utilization() const { return pct(used, limit); }
double SimResult::unused_five_hour_pct() const { return pct(unused_five_hour, offered_five_hour); }
double SimResult::unused_seven_day_pct() const { return pct(unused_seven_day, offered_seven_day); }
double SimResult::unused_sonnet_pct() const { return pct(unused_sonnet, offered_sonnet); }
double SimResult::unused_total_pct() const {
  return pct(unused_total(),
             sat_add(sat_add(offered_five_hour, offered_seven_day), offered_sonnet));
}

std::string_view sim_policy_name(SimPolicy p) {
  switch (p) {
    case SimPolicy::greedy:
      return "greedy";
    case SimPolicy::fixed:
      return "fixed";
    case SimPolicy::agency:
      return "agency";
    case SimPolicy::oracle:
      return "oracle";
  }
  return "agency";
}

SimSetup default_sim_setup() {
  SimSetup s;
  // A weekly reset as plans have them, at no day boundary, and one the
  // person works right up to: the reserve cannot simply be released at the
  // end of the week.
  s.start = Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 26)) + hours(18);
  s.policy.enabled = true;
  s.policy.time_zone = "UTC";
  return s;
}

std::vector<SimRequest> sim_human_trace(const SimSetup& s) {
  const Time end = sim_end(s);
  if (s.person) {
    std::vector<SimRequest> out;
    for (const auto& q : *s.person) {
      if (q.at >= s.start && q.at < end) out.push_back(q);
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const SimRequest& a, const SimRequest& b) { return a.at < b.at; });
    return out;
  }
  std::mt19937_64 rng(mix(s.seed, 0));
  const std::string& zone = s.policy.time_zone;
  const auto first = to_local(s.start, zone);
  std::vector<SimRequest> out;
  for (int d = 0; d <= s.days; ++d) {
    const auto midnight = from_local(first.year, first.month, first.day + d, 0, 0, zone);
    if (!midnight) continue;
    const int weekday = to_local(*midnight + hours(12), zone).weekday;
    std::vector<std::pair<int, int>> sessions;  // minutes after midnight
    const int j = s.session_jitter_minutes;
    if (weekday >= 1 && weekday <= 5) {
      for (auto [from, to] : {std::pair{9 * 60, 12 * 60 + 30}, std::pair{13 * 60 + 30, 18 * 60}}) {
        const auto a = static_cast<int>(draw(rng, -j, j));
        const auto b = static_cast<int>(draw(rng, -j, j));
        sessions.emplace_back(from + a, to + b);
      }
    } else if (unit(rng) < s.weekend_chance) {
      const auto from = static_cast<int>(draw(rng, 10 * 60, 20 * 60));
      sessions.emplace_back(from, from + static_cast<int>(draw(rng, 30, 90)));
    }
    for (auto [from, to] : sessions) {
      for (auto m = from + draw(rng, s.human_min_gap_minutes, s.human_max_gap_minutes); m < to;
           m += draw(rng, s.human_min_gap_minutes, s.human_max_gap_minutes)) {
        const Time at = *midnight + minutes(m) + seconds(draw(rng, 0, 59));
        const auto tokens = draw(rng, s.human_min_tokens, s.human_max_tokens);
        if (at >= s.start && at < end) out.push_back({at, tokens, kSonnet});
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const SimRequest& a, const SimRequest& b) { return a.at < b.at; });
  // The models, in time order, from a stream of their own.
  std::mt19937_64 models(mix(s.seed, 1000));
  for (auto& q : out) q.model = model_of(models, s.human_sonnet_share);
  return out;
}

std::vector<SimRequest> sim_human_history(const SimSetup& s) {
  std::vector<SimRequest> out;
  for (int w = s.history_weeks; w >= 1; --w) {
    const auto back = hours(24 * 7) * w;
    std::vector<SimRequest> week;
    if (s.person) {
      week = sim_human_trace(s);
      for (auto& q : week) q.at -= back;
    } else {
      SimSetup past = s;
      past.seed = mix(s.seed, 3000 + static_cast<std::uint64_t>(w));
      past.start = s.start - back;
      past.days = 7;
      week = sim_human_trace(past);
    }
    for (auto& q : week) {
      if (q.at < s.start) out.push_back(std::move(q));
    }
  }
  return out;
}

config::Accountant sim_accountant(const SimSetup& s) {
  config::Accountant cfg = s.policy;
  cfg.enabled = true;
  cfg.accounts.clear();
  if (s.accounts.empty()) {
    config::Account account;
    account.name = kAccount;
    account.five_hour = s.five_hour;
    account.seven_day = s.seven_day;
    account.seven_day_sonnet = s.seven_day_sonnet;
    account.concurrency = 0;
    cfg.accounts.push_back(account);
  } else {
    cfg.accounts = s.accounts;
  }
  const auto start_local = to_local(s.start, cfg.time_zone);
  for (auto& account : cfg.accounts) {
    account.reset_weekday = start_local.weekday;
    account.reset_hour = start_local.hour;
    account.reset_minute = start_local.minute;
    if (account.concurrency < 0) account.concurrency = config::default_concurrency(account);
  }
  return cfg;
}

std::size_t sim_person_account(const SimSetup& s) {
  const auto& accounts = s.accounts;
  if (accounts.empty()) return 0;
  if (!s.person_account.empty()) {
    for (std::size_t i = 0; i < accounts.size(); ++i) {
      if (accounts[i].id() == s.person_account || accounts[i].name == s.person_account) return i;
    }
  }
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    if (accounts[i].provider == "claude") return i;
  }
  return 0;
}

Result<std::vector<config::Account>> sim_accounts(std::string_view spec) {
  std::vector<config::Account> out;
  std::size_t from = 0;
  while (from <= spec.size()) {
    auto comma = spec.find(',', from);
    if (comma == std::string_view::npos) comma = spec.size();
    const std::string item(spec.substr(from, comma - from));
    from = comma + 1;
    const auto slash = item.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == item.size()) {
      return make_error(errc::config, "--accounts: '" + item +
                                          "' is not provider/plan (claude/max5, codex/plus)");
    }
    config::Account a;
    a.provider = item.substr(0, slash);
    a.plan = item.substr(slash + 1);
    if (a.provider != "claude" && a.provider != "codex") {
      return make_error(errc::config, "--accounts: '" + item +
                                          "': the simulation knows the plans of claude and codex");
    }
    auto limits = plan_limits(a.provider, a.plan, "--accounts " + item);
    if (!limits) return limits.error();
    a.five_hour = limits->five_hour;
    a.seven_day = limits->seven_day;
    a.name = a.plan;
    for (int n = 2; std::any_of(out.begin(), out.end(),
                                [&](const config::Account& o) { return o.name == a.name; });
         ++n) {
      a.name = a.plan + "-" + std::to_string(n);
    }
    out.push_back(std::move(a));
  }
  return out;
}

namespace {

// Every weekly window of `account` the period meets, with its use read at
// its last moment from `ledger`, and the lowest use of a complete one.
void sim_weeks(const SimSetup& s, const Ledger& ledger, std::string_view account,
               std::vector<SimWeek>& weeks, double& utilization) {
  const Time end = sim_end(s);
  for (Time t = s.start; t < end;) {
    const Span span = ledger.window(account, Window::seven_day, t).span;
    const Time last = std::min(span.end, end) - std::chrono::microseconds(1);
    const auto w = ledger.window(account, Window::seven_day, last);
    const auto sonnet = ledger.window(account, Window::seven_day_sonnet, last);
    weeks.push_back(SimWeek{span, w.used(), w.limit, sonnet.used(), sonnet.limit,
                            span.start >= s.start && span.end <= end});
    t = span.end;
  }
  const bool any_complete =
      std::any_of(weeks.begin(), weeks.end(), [](const SimWeek& w) { return w.complete; });
  utilization = 100;
  for (const auto& w : weeks) {
    if (w.complete || !any_complete) utilization = std::min(utilization, w.utilization());
  }
}

void sim_weeks(const SimSetup& s, const Ledger& ledger, SimResult& r) {
  sim_weeks(s, ledger, kAccount, r.weeks, r.weekly_utilization);
}

// One account's unused area over the period, per window with a limit, and
// what their even pace offered in it.
void sim_unused(const SimSetup& s, std::span<const Entry* const> entries, SimAccount& a) {
  const Time end = sim_end(s);
  const double period = seconds_of(end - s.start);
  auto offered = [&](Window w, std::int64_t limit) {
    return sat_round(static_cast<double>(limit) * period /
                     static_cast<double>(window_length(w).count()));
  };
  auto unused = [&](Window w, std::int64_t limit) {
    return unused_area(steps(entries, w, s.start, end, s.unused_step), w, limit, s.unused_step);
  };
  a.unused_five_hour = unused(Window::five_hour, a.five_hour);
  a.unused_seven_day = unused(Window::seven_day, a.seven_day);
  a.offered_five_hour = offered(Window::five_hour, a.five_hour);
  a.offered_seven_day = offered(Window::seven_day, a.seven_day);
  if (a.seven_day_sonnet > 0) {
    a.unused_sonnet = unused(Window::seven_day_sonnet, a.seven_day_sonnet);
    a.offered_sonnet = offered(Window::seven_day_sonnet, a.seven_day_sonnet);
  }
}

// The single account's unused area (the oracle's ledger).
void sim_unused(const SimSetup& s, std::span<const Entry* const> entries, SimResult& r) {
  SimAccount a;
  a.five_hour = s.five_hour;
  a.seven_day = s.seven_day;
  a.seven_day_sonnet = s.seven_day_sonnet;
  sim_unused(s, entries, a);
  r.unused_five_hour = a.unused_five_hour;
  r.unused_seven_day = a.unused_seven_day;
  r.unused_sonnet = a.unused_sonnet;
  r.offered_five_hour = a.offered_five_hour;
  r.offered_seven_day = a.offered_seven_day;
  r.offered_sonnet = a.offered_sonnet;
}

Entry sim_entry(std::string id, Time at, std::int64_t tokens, bool human, std::string model,
                const config::Account* account = nullptr) {
  Entry e;
  e.id = std::move(id);
  e.at = at;
  e.account = account == nullptr ? std::string(kAccount) : account->name;
  e.model = model.empty() ? std::string(kSonnet) : std::move(model);
  e.engine = account == nullptr ? std::string("claude") : account->provider;
  e.human = human;
  e.tokens.input = tokens;
  return e;
}

}  // namespace

SimResult simulate(const SimSetup& s, SimPolicy policy) {
  if (policy == SimPolicy::oracle) return sim_oracle(s);
  const config::Accountant cfg = sim_accountant(s);
  Ledger ledger(cfg);
  // Every role lists the accounts in this order.
  const std::vector<config::Account>& accounts = cfg.accounts;
  const std::size_t person_at = sim_person_account(s);
  const config::Account& person_account = accounts[person_at];

  SimResult r;
  r.policy = std::string(sim_policy_name(policy));
  const Time end = sim_end(s);
  const auto human = sim_human_trace(s);
  r.accounts.resize(accounts.size());
  // When each account's calls end: a call takes one step, and an account
  // carries at most its concurrency of them at once.
  std::vector<std::vector<Time>> calls_until(accounts.size());

  std::mt19937_64 task_rng(mix(s.seed, 1));
  int tasks_taken = 0;
  auto take_task = [&](Agent& a) {
    a.task = "t-" + std::to_string(++tasks_taken);
    a.task_left = draw(task_rng, s.task_min_tokens, s.task_max_tokens);
  };
  std::vector<Agent> agents(static_cast<std::size_t>(std::max(0, s.agents)));
  for (std::size_t i = 0; i < agents.size(); ++i) {
    auto& a = agents[i];
    a.role = kRoles[i % std::size(kRoles)];
    a.id = a.role + "-" + std::to_string(i + 1);
    a.rng.seed(mix(s.seed, 2 + i));
    a.model_rng.seed(mix(s.seed, 2000 + i));
    // Staggered over the first step, as agents that started at different times.
    a.next = s.start + s.step * static_cast<int>(i) / static_cast<int>(agents.size());
    a.call = draw(a.rng, s.call_min_tokens, s.call_max_tokens);
    a.model = model_of(a.model_rng, s.agent_sonnet_share);
    take_task(a);
  }

  auto entry = [&](Time at, std::int64_t tokens, const std::string& model, const Agent* by,
                   const config::Account& account) {
    Entry e = sim_entry((by ? "a" : "h") + std::to_string(r.agent_calls + r.human_requests), at,
                        tokens, by == nullptr, model, &account);
    if (by != nullptr) {
      e.role = by->role;
      e.agent_id = by->id;
      e.task_id = by->task;
    }
    if (s.keep_entries) r.entries.push_back(e);
    ledger.add(std::move(e));
  };

  // The person's past weeks, as the ledger of a running accountant has them.
  {
    std::size_t n = 0;
    for (auto& q : sim_human_history(s)) {
      ledger.add(
          sim_entry("p" + std::to_string(n++), q.at, q.tokens, true, q.model, &person_account));
    }
  }

  // Where an agent's call goes now: the account's index, else when to ask
  // again. agency routes as the accountant does (route()); greedy and fixed
  // take the first account whose own rule lets the call go.
  struct Where {
    std::optional<std::size_t> account;
    Time retry;
  };
  auto where = [&](const Agent& a, Time now) -> Where {
    if (policy == SimPolicy::agency) {
      std::vector<Candidate> candidates;
      candidates.reserve(accounts.size());
      for (std::size_t i = 0; i < accounts.size(); ++i) {
        auto c = candidate(ledger, cfg, accounts[i], now);
        c.running = static_cast<int>(std::count_if(calls_until[i].begin(), calls_until[i].end(),
                                                   [&](Time t) { return t > now; }));
        candidates.push_back(std::move(c));
      }
      const Route route_to = route(cfg, candidates, Ask{Priority::batch, a.call, a.model}, now);
      if (route_to.chosen) return {route_to.chosen, now};
      return {std::nullopt, route_to.verdict.retry_at.value_or(now)};
    }
    std::optional<Time> retry;
    for (std::size_t i = 0; i < accounts.size(); ++i) {
      const auto ws = ledger.windows(accounts[i].name, now);
      const Decision d = policy == SimPolicy::greedy ? greedy(ws, a.call, a.model)
                                                     : fixed(ws, a.call, now, a.model);
      if (d.go) return {i, now};
      retry = retry ? std::min(*retry, d.retry) : d.retry;
    }
    return {std::nullopt, retry.value_or(now)};
  };

  std::size_t next_human = 0;
  for (;;) {
    // The next event: the person's request, else the agent due first (the
    // lowest index on a tie), so the order is fixed for a seed.
    auto due = std::min_element(agents.begin(), agents.end(),
                                [](const Agent& a, const Agent& b) { return a.next < b.next; });
    const bool person =
        next_human < human.size() && (due == agents.end() || human[next_human].at <= due->next);
    if (!person && due == agents.end()) break;
    const Time now = person ? human[next_human].at : due->next;
    if (now >= end) break;
    if (person) {
      const auto ws = ledger.windows(person_account.name, now);
      const auto& request = human[next_human++];
      const auto tokens = request.tokens;
      const std::string model = request.model.empty() ? std::string(kSonnet) : request.model;
      ++r.human_requests;
      if (over_limit(ws, tokens, model)) {
        ++r.human_denied;
        r.human_denied_tokens = sat_add(r.human_denied_tokens, tokens);
      } else {
        entry(now, tokens, model, nullptr, person_account);
        r.human_tokens = sat_add(r.human_tokens, tokens);
      }
      continue;
    }
    Agent& a = *due;
    for (auto& ends : calls_until) std::erase_if(ends, [&](Time t) { return t <= now; });
    const Where w = where(a, now);
    if (!w.account) {
      ++r.agent_deferrals;
      // Asking again at once would be refused again: wait at least a minute.
      a.next = std::max(w.retry, now + minutes(1));
      continue;
    }
    const std::size_t k = *w.account;
    auto& share = r.accounts[k];
    ++share.agent_calls;
    if (k > 0) ++share.passed_over;
    calls_until[k].push_back(now + s.step);
    entry(now, a.call, a.model, &a, accounts[k]);
    ++r.agent_calls;
    r.agent_tokens = sat_add(r.agent_tokens, a.call);
    a.task_left -= a.call;
    if (a.task_left <= 0) {
      ++r.tasks_done;
      take_task(a);
    }
    a.call = draw(a.rng, s.call_min_tokens, s.call_max_tokens);
    a.model = model_of(a.model_rng, s.agent_sonnet_share);
    a.next = now + s.step;
  }

  double sum = 0;
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    const auto& account = accounts[i];
    auto& share = r.accounts[i];
    share.id = account.id();
    share.plan = account.plan;
    share.person = i == person_at;
    share.five_hour = ledger.window(account.name, Window::five_hour, s.start).limit;
    share.seven_day = ledger.window(account.name, Window::seven_day, s.start).limit;
    share.seven_day_sonnet = ledger.window(account.name, Window::seven_day_sonnet, s.start).limit;
    sim_weeks(s, ledger, account.name, share.weeks, share.weekly_utilization);
    const auto entries = ledger.entries(account.name);
    for (const Entry* e : entries) {
      if (e->at < s.start || e->at >= end) continue;
      auto& tokens = e->human ? share.human_tokens : share.agent_tokens;
      tokens = sat_add(tokens, e->tokens.counted());
    }
    for (const auto& b : five_hour_blocks(entries)) {
      if (b.start < s.start || b.start >= end) continue;
      ++r.five_hour_blocks;
      sum += pct(sat_add(b.human, b.agents), share.five_hour);
    }
    sim_unused(s, entries, share);
    r.unused_five_hour = sat_add(r.unused_five_hour, share.unused_five_hour);
    r.unused_seven_day = sat_add(r.unused_seven_day, share.unused_seven_day);
    r.unused_sonnet = sat_add(r.unused_sonnet, share.unused_sonnet);
    r.offered_five_hour = sat_add(r.offered_five_hour, share.offered_five_hour);
    r.offered_seven_day = sat_add(r.offered_seven_day, share.offered_seven_day);
    r.offered_sonnet = sat_add(r.offered_sonnet, share.offered_sonnet);
  }
  r.weeks = r.accounts[person_at].weeks;
  r.weekly_utilization = r.accounts[person_at].weekly_utilization;
  r.five_hour_mean = r.five_hour_blocks == 0 ? 0 : sum / static_cast<double>(r.five_hour_blocks);
  return r;
}

std::vector<SimResult> simulate_accounts(const SimSetup& setup) {
  std::vector<SimResult> out;
  out.push_back(simulate(setup, SimPolicy::agency));
  if (setup.accounts.size() > 1) {
    SimSetup alone = setup;
    const auto& person = setup.accounts[sim_person_account(setup)];
    alone.accounts = {person};
    alone.person_account = person.id();
    out.push_back(simulate(alone, SimPolicy::agency));
    out.back().policy = "agency, " + person.id() + " alone";
  }
  return out;
}

SimResult sim_oracle(const SimSetup& s) {
  SimResult r;
  r.policy = std::string(sim_policy_name(SimPolicy::oracle));
  r.bound = true;
  if (!s.accounts.empty()) return r;  // a bound for one account only
  const Time end = sim_end(s);
  Ledger ledger(sim_accountant(s));
  if (s.unused_step.count() <= 0 || end <= s.start) return r;

  // The person's use per unused-area step, every request served.
  const auto count =
      static_cast<std::size_t>((end - s.start + s.unused_step - minutes(1)) / s.unused_step);
  std::vector<std::int64_t> human(count, 0);
  std::vector<std::int64_t> human_sonnet(count, 0);
  for (const auto& q : sim_human_trace(s)) {
    const auto u = static_cast<std::size_t>((q.at - s.start) / s.unused_step);
    human[u] += q.tokens;
    if (counts_toward(Window::seven_day_sonnet, q.model.empty() ? kSonnet : q.model)) {
      human_sonnet[u] += q.tokens;
    }
    ledger.add(sim_entry("h" + std::to_string(r.human_requests++), q.at, q.tokens, true, q.model));
    r.human_tokens = sat_add(r.human_tokens, q.tokens);
  }

  // The fleet's most per step, and each window's even pace per step.
  const auto calls = (s.unused_step + s.step - minutes(1)) / s.step;
  const double capacity = static_cast<double>(std::max(0, s.agents)) * static_cast<double>(calls) *
                          static_cast<double>(s.call_max_tokens);
  auto pace = [&](Window w, std::int64_t limit) {
    return static_cast<double>(limit) * seconds_of(s.unused_step) /
           static_cast<double>(window_length(w).count());
  };
  const double p5 = pace(Window::five_hour, s.five_hour);
  const double p7 = pace(Window::seven_day, s.seven_day);

  // The weekly windows the period meets, as ranges of steps [first, last).
  std::vector<std::pair<std::size_t, std::size_t>> weeks;
  for (Time t = s.start; t < end;) {
    const Span span = ledger.window(kAccount, Window::seven_day, t).span;
    auto step_at = [&](Time at) {
      return std::min(count, static_cast<std::size_t>((at - s.start + s.unused_step - minutes(1)) /
                                                      s.unused_step));
    };
    weeks.emplace_back(step_at(std::max(span.start, s.start)), step_at(std::min(span.end, end)));
    t = span.end;
  }
  // Each week's budget (its limit less the person's use) filled level by
  // level: every step to the first level, then to the next.
  auto fill = [&](const std::vector<std::int64_t>& person, std::int64_t limit,
                  std::initializer_list<double> levels) {
    std::vector<double> fleet(count, 0);
    for (const auto& [first, last] : weeks) {
      double budget = static_cast<double>(limit);
      for (std::size_t u = first; u < last; ++u) budget -= static_cast<double>(person[u]);
      for (const double up_to : levels) {
        double want = 0;
        std::vector<double> room(last > first ? last - first : 0, 0);
        for (std::size_t u = first; u < last; ++u) {
          const double use = static_cast<double>(person[u]) + fleet[u];
          room[u - first] = std::clamp(std::min(up_to - use, capacity - fleet[u]), 0.0, capacity);
          want += room[u - first];
        }
        // Every token of one level is worth the same: a share of each room.
        const double share = want <= 0 ? 0 : std::clamp(budget / want, 0.0, 1.0);
        for (std::size_t u = first; u < last; ++u) fleet[u] += room[u - first] * share;
        budget -= want * share;
      }
    }
    return fleet;
  };
  const std::vector<double> fleet = fill(human, s.seven_day, {p7, p5});

  // The unused area as unused_area() sums it, from the exact shares, and
  // rounded down: a policy's figure (rounded to the nearest) is never
  // below it. The weeks book the fleet's whole tokens at each step's start.
  double unused_five = 0;
  double unused_seven = 0;
  for (std::size_t u = 0; u < count; ++u) {
    const double use = static_cast<double>(human[u]) + fleet[u];
    unused_five += std::max(0.0, p5 - use);
    unused_seven += std::max(0.0, p7 - use);
    const auto tokens = static_cast<std::int64_t>(std::floor(fleet[u]));
    if (tokens <= 0) continue;
    // Booked as Opus: the Sonnet window's share is bounded on its own below.
    ledger.add(sim_entry("a" + std::to_string(u), s.start + s.unused_step * static_cast<int>(u),
                         tokens, false, kOpus));
    r.agent_tokens = sat_add(r.agent_tokens, tokens);
  }
  sim_weeks(s, ledger, r);
  sim_unused(s, ledger.entries(kAccount), r);
  r.unused_five_hour = static_cast<std::int64_t>(std::floor(unused_five));
  r.unused_seven_day = static_cast<std::int64_t>(std::floor(unused_seven));
  if (s.seven_day_sonnet > 0) {
    // Any fleet token may be Sonnet: filled to the Sonnet pace on the
    // Sonnet budget alone, a bound of that window's area by itself.
    const double ps = pace(Window::seven_day_sonnet, s.seven_day_sonnet);
    const std::vector<double> sonnet = fill(human_sonnet, s.seven_day_sonnet, {ps});
    double unused_sonnet = 0;
    for (std::size_t u = 0; u < count; ++u) {
      unused_sonnet += std::max(0.0, ps - static_cast<double>(human_sonnet[u]) - sonnet[u]);
    }
    r.unused_sonnet = static_cast<std::int64_t>(std::floor(unused_sonnet));
    for (std::size_t w = 0; w < weeks.size() && w < r.weeks.size(); ++w) {
      double used = 0;
      for (std::size_t u = weeks[w].first; u < weeks[w].second; ++u) {
        used += static_cast<double>(human_sonnet[u]) + std::floor(sonnet[u]);
      }
      r.weeks[w].sonnet_used = static_cast<std::int64_t>(used);
    }
  }
  return r;
}

std::vector<SimResult> simulate(const SimSetup& setup) {
  std::vector<SimResult> out;
  for (auto p : {SimPolicy::greedy, SimPolicy::fixed, SimPolicy::agency, SimPolicy::oracle}) {
    out.push_back(simulate(setup, p));
  }
  return out;
}

}  // namespace agency::accounting
