#include "roles/accountant/sim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
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

double pct(std::int64_t part, std::int64_t whole) {
  return whole <= 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
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

namespace {

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
