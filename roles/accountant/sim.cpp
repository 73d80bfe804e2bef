#include "roles/accountant/sim.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "agents/localtime.hpp"

namespace agency::accounting {

using namespace std::chrono;

namespace {

constexpr auto kUnusedStep = minutes(10);
constexpr const char* kModel = "claude-sonnet-4-5";

struct HumanRequest {
  Time at;
  std::int64_t tokens;
};

// The person's week: weekday sessions, a request every 1-5 minutes.
std::vector<HumanRequest> human_trace(const SimSetup& s, std::mt19937_64& rng) {
  std::vector<HumanRequest> out;
  std::uniform_int_distribution<int> gap(1, 5);
  std::uniform_int_distribution<int> size(s.human_min_tokens, s.human_max_tokens);
  const Time end = s.start + hours(24) * s.days;
  for (Time day = floor<days>(s.start); day < end; day += hours(24)) {
    const auto weekday = to_local(day, "UTC").weekday;
    if (weekday == 0 || weekday == 6) continue;
    for (auto [from, to] : {std::pair{9 * 60, 12 * 60 + 30}, std::pair{13 * 60 + 30, 18 * 60}}) {
      for (int m = from + gap(rng); m < to; m += gap(rng)) {
        const Time at = day + minutes(m) + seconds(rng() % 60);
        if (at >= s.start && at < end) out.push_back({at, size(rng)});
      }
    }
  }
  return out;
}

Entry make_entry(std::string id, Time at, std::int64_t tokens, bool human) {
  Entry e;
  e.id = std::move(id);
  e.at = at;
  e.model = kModel;
  e.human = human;
  e.role = human ? "" : "builder";
  e.tokens.input = tokens;
  return e;
}

bool fits(const std::vector<WindowState>& ws, std::int64_t tokens) {
  for (const auto& w : ws) {
    if (w.limit > 0 && w.used() + tokens > w.limit) return false;
  }
  return true;
}

SimResult run(const SimSetup& s, const std::string& policy, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto human = human_trace(s, rng);
  // The backlog and the calls are drawn from their own stream, so every
  // policy meets the same tasks in the same order.
  std::mt19937_64 work(seed ^ 0x9e3779b97f4a7c15ULL);
  std::uniform_int_distribution<int> call_size(s.call_min_tokens, s.call_max_tokens);
  std::uniform_int_distribution<int> task_size(s.task_min_tokens, s.task_max_tokens);

  config::Accountant cfg = s.policy;
  cfg.accounts.clear();
  config::Account account;
  account.five_hour = s.five_hour;
  account.seven_day = s.seven_day;
  const auto start_local = to_local(s.start, cfg.time_zone);
  account.reset_weekday = start_local.weekday;
  account.reset_hour = start_local.hour;
  account.reset_minute = start_local.minute;
  cfg.accounts.push_back(account);
  Ledger ledger(cfg);

  SimResult r;
  r.policy = policy;
  const Time end = s.start + hours(24) * s.days;
  std::vector<std::int64_t> task_left(static_cast<std::size_t>(s.agents));
  for (auto& t : task_left) t = task_size(work);
  std::size_t next_human = 0;
  int ids = 0;
  for (Time t = s.start; t < end; t += s.step) {
    // This step's events in time order: the person's requests and one call
    // slot per agent.
    struct Event {
      Time at;
      int agent;  // -1: the person
      std::int64_t tokens;
    };
    std::vector<Event> events;
    while (next_human < human.size() && human[next_human].at < t + s.step) {
      events.push_back({human[next_human].at, -1, human[next_human].tokens});
      ++next_human;
    }
    for (int a = 0; a < s.agents; ++a) {
      events.push_back({t + seconds(30 + 60 * a % 240), a, call_size(work)});
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const Event& x, const Event& y) { return x.at < y.at; });
    for (const auto& ev : events) {
      auto ws = ledger.windows("", ev.at);
      if (ev.agent < 0) {
        ++r.human_requests;
        if (fits(ws, ev.tokens)) {
          ledger.add(make_entry("h" + std::to_string(++ids), ev.at, ev.tokens, true));
          r.human_tokens += ev.tokens;
        } else {
          ++r.human_denied;
        }
        continue;
      }
      bool go = fits(ws, ev.tokens);
      if (go && policy == "fixed") {
        for (const auto& w : ws) {
          if (w.limit <= 0) continue;
          const double share = duration<double>(ev.at - w.span.start).count() /
                               duration<double>(w.span.end - w.span.start).count();
          if (static_cast<double>(w.agents + ev.tokens) > static_cast<double>(w.limit) * share) {
            go = false;
          }
        }
      } else if (go && policy == "agency") {
        go = decide(cfg, ws, Ask{Priority::batch, ev.tokens, kModel}, ev.at).granted;
      }
      if (!go) {
        ++r.agent_calls_held;
        continue;
      }
      ledger.add(make_entry("a" + std::to_string(++ids), ev.at, ev.tokens, false));
      ++r.agent_calls;
      r.agent_tokens += ev.tokens;
      auto& left = task_left[static_cast<std::size_t>(ev.agent)];
      left -= ev.tokens;
      if (left <= 0) {
        ++r.tasks_done;
        left = task_size(work);
      }
    }
  }
  // Figures over the whole period.
  const Time last = end - seconds(1);
  auto weekly = ledger.window("", Window::seven_day, last);
  r.weekly_utilization =
      100.0 * static_cast<double>(weekly.used()) / static_cast<double>(s.seven_day);
  auto entries = ledger.entries("");
  auto blocks = five_hour_blocks(entries);
  double sum = 0;
  for (const auto& b : blocks) {
    sum +=
        std::min(1.0, static_cast<double>(b.human + b.agents) / static_cast<double>(s.five_hour));
  }
  r.five_hour_mean = blocks.empty() ? 0 : 100.0 * sum / static_cast<double>(blocks.size());
  const double hours_total = duration<double>(end - s.start).count() / 3600;
  auto five = steps(entries, Window::five_hour, s.start, end, kUnusedStep);
  auto seven = steps(entries, Window::seven_day, s.start, end, kUnusedStep);
  r.unused_five_hour = unused_area(five, Window::five_hour, s.five_hour, kUnusedStep);
  r.unused_seven_day = unused_area(seven, Window::seven_day, s.seven_day, kUnusedStep);
  r.unused_five_hour_pct = 100.0 * static_cast<double>(r.unused_five_hour) /
                           (static_cast<double>(s.five_hour) * hours_total / 5);
  r.unused_seven_day_pct = 100.0 * static_cast<double>(r.unused_seven_day) /
                           (static_cast<double>(s.seven_day) * hours_total / 168);
  return r;
}

std::string millions(std::int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(n) / 1e6);
  return buf;
}

}  // namespace

SimSetup default_sim_setup() {
  SimSetup s;
  // Thursday 18:00 UTC: a weekly reset as plans have them, at no particular
  // day boundary.
  s.start = Time(sys_days(year(2026) / 11 / 26)) + hours(18);
  s.policy.enabled = true;
  s.policy.time_zone = "UTC";
  return s;
}

std::vector<SimResult> simulate(const SimSetup& setup) {
  std::vector<SimResult> out;
  for (const char* policy : {"greedy", "fixed", "agency"})
    out.push_back(run(setup, policy, setup.seed));
  return out;
}

std::string sim_table(const SimSetup& s, const std::vector<SimResult>& results) {
  char head[512];
  std::snprintf(head, sizeof head,
                "%d days from %s, limits five_hour %s and seven_day %s counted tokens, seed %llu.\n"
                "Person: weekdays 09:00-12:30 and 13:30-18:00 UTC, a request every 1-5 min of "
                "%d-%d tokens.\nFleet: %d agents, one call per %lld min each of %d-%d tokens, "
                "tasks of %d-%d tokens.\n\n",
                s.days, rfc3339(s.start).c_str(), millions(s.five_hour).c_str(),
                millions(s.seven_day).c_str(), static_cast<unsigned long long>(s.seed),
                s.human_min_tokens, s.human_max_tokens, s.agents,
                static_cast<long long>(s.step.count()), s.call_min_tokens, s.call_max_tokens,
                s.task_min_tokens, s.task_max_tokens);
  std::string out = head;
  out +=
      "| policy | weekly used | 5-h blocks used (mean) | unused 5 h | unused 7 d | unused total "
      "| person's requests denied | agent tasks done | agent tokens |\n";
  out += "|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : results) {
    char row[512];
    std::snprintf(
        row, sizeof row,
        "| %s | %.1f%% | %.1f%% | %s (%.1f%%) | %s (%.1f%%) | %s | %d of %d | %d | %s |\n",
        r.policy.c_str(), r.weekly_utilization, r.five_hour_mean,
        millions(r.unused_five_hour).c_str(), r.unused_five_hour_pct,
        millions(r.unused_seven_day).c_str(), r.unused_seven_day_pct,
        millions(r.unused_five_hour + r.unused_seven_day).c_str(), r.human_denied, r.human_requests,
        r.tasks_done, millions(r.agent_tokens).c_str());
    out += row;
  }
  out +=
      "\nUnused: per 10-minute step, what the even pace of each window offered (limit x step "
      "/ window length) beyond the tokens used in it (docs/ACCOUNTING.md), as tokens and as a "
      "share of all it offered.\n";
  return out;
}

std::string sim_json(const SimSetup& s, const std::vector<SimResult>& results) {
  nlohmann::json out = {{"days", s.days},
                        {"start", rfc3339(s.start)},
                        {"seed", s.seed},
                        {"five_hour_limit", s.five_hour},
                        {"seven_day_limit", s.seven_day},
                        {"agents", s.agents},
                        {"policies", nlohmann::json::array()}};
  for (const auto& r : results) {
    out["policies"].push_back({{"policy", r.policy},
                               {"weekly_utilization", r.weekly_utilization},
                               {"five_hour_mean_utilization", r.five_hour_mean},
                               {"unused_five_hour", r.unused_five_hour},
                               {"unused_seven_day", r.unused_seven_day},
                               {"unused_five_hour_pct", r.unused_five_hour_pct},
                               {"unused_seven_day_pct", r.unused_seven_day_pct},
                               {"human_requests", r.human_requests},
                               {"human_denied", r.human_denied},
                               {"agent_calls", r.agent_calls},
                               {"agent_calls_held", r.agent_calls_held},
                               {"tasks_done", r.tasks_done},
                               {"agent_tokens", r.agent_tokens},
                               {"human_tokens", r.human_tokens}});
  }
  return out.dump(2);
}

}  // namespace agency::accounting
