#include "roles/accountant/last_week.hpp"

#include <algorithm>
#include <cstdio>

#include "roles/accountant/person_trace.hpp"
#include "roles/accountant/report.hpp"
#include "roles/accountant/sim.hpp"

namespace agency::accounting {

std::int64_t LastWeek::unused_total() const {
  return sat_add(sat_add(unused_five_hour, unused_seven_day), unused_sonnet);
}

double LastWeek::used_pct() const {
  return seven_day_limit <= 0
             ? 0
             : 100.0 * static_cast<double>(used) / static_cast<double>(seven_day_limit);
}

double LastWeek::vs_oracle() const {
  if (oracle <= 0) return unused_total() <= 0 ? 1.0 : 0.0;
  return static_cast<double>(unused_total()) / static_cast<double>(oracle);
}

std::optional<LastWeek> last_week(const Ledger& ledger, std::string_view account, Time now) {
  bool complete = false;
  const PersonTrace trace = export_person_trace(ledger, account, now, &complete);
  if (!complete) return std::nullopt;
  LastWeek w;
  w.account = trace.account;
  w.span = trace.span;
  const Time last = w.span.end - std::chrono::microseconds(1);
  const auto seven = ledger.window(w.account, Window::seven_day, last);
  const auto sonnet = ledger.window(w.account, Window::seven_day_sonnet, last);
  w.five_hour_limit = ledger.window(w.account, Window::five_hour, last).limit;
  w.seven_day_limit = seven.limit;
  w.sonnet_limit = sonnet.limit;
  if (w.five_hour_limit <= 0 || w.seven_day_limit <= 0) return std::nullopt;
  w.used = seven.used();
  w.human = seven.human;
  w.sonnet_used = sonnet.used();

  // The week's entries, the fleet's apart: its busiest step is the
  // capacity the bound allows it.
  std::vector<const Entry*> week;
  std::vector<const Entry*> fleet;
  for (const Entry* e : ledger.entries(w.account)) {
    if (e->at < w.span.start || e->at >= w.span.end) continue;
    week.push_back(e);
    if (!e->human) fleet.push_back(e);
    if (e->human && e->api_error) ++w.person_refused;
  }
  w.person_requests = static_cast<int>(trace.requests.size());
  auto area = [&](Window window, std::int64_t limit) {
    return unused_area(steps(week, window, w.span.start, w.span.end, kUnusedStep), window, limit,
                       kUnusedStep);
  };
  w.unused_five_hour = area(Window::five_hour, w.five_hour_limit);
  w.unused_seven_day = area(Window::seven_day, w.seven_day_limit);
  if (w.sonnet_limit > 0) w.unused_sonnet = area(Window::seven_day_sonnet, w.sonnet_limit);

  for (const auto& st : steps(fleet, Window::seven_day, w.span.start, w.span.end, kUnusedStep)) {
    w.fleet_step_max = std::max(w.fleet_step_max, st.agents);
  }
  SimSetup s = default_sim_setup();
  s.policy = ledger.config();
  use_person_trace(s, trace, "the ledger");
  s.five_hour = w.five_hour_limit;
  s.seven_day = w.seven_day_limit;
  s.seven_day_sonnet = w.sonnet_limit;
  s.agents = 1;
  s.step = kUnusedStep;
  s.unused_step = kUnusedStep;
  s.call_max_tokens = static_cast<int>(std::min<std::int64_t>(w.fleet_step_max, INT32_MAX));
  w.oracle = sim_oracle(s).unused_total();
  return w;
}

std::string last_week_line(const LastWeek& w) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%.1f%% of the weekly limit used, unused area %s (%.2fx the oracle's %s), the "
                "person refused %d time%s",
                w.used_pct(), tokens_short(w.unused_total()).c_str(), w.vs_oracle(),
                tokens_short(w.oracle).c_str(), w.person_refused, w.person_refused == 1 ? "" : "s");
  return buf;
}

}  // namespace agency::accounting
