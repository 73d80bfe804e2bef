#include "roles/accountant/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "roles/accountant/routing.hpp"
#include "runtime/config_accounts.hpp"
#include "runtime/localtime.hpp"

namespace agency::accounting {

using json = nlohmann::json;
using namespace std::chrono;

namespace {

constexpr std::size_t kTextTasks = 10;

// Local dates of many entries: a zone conversion re-reads the zone, so the
// date is kept per quarter hour (every zone's offset is a multiple of it).
class LocalDates {
 public:
  explicit LocalDates(std::string zone) : zone_(std::move(zone)) {}
  const std::string& of(Time t) {
    const auto quarter = floor<minutes>(t) - floor<minutes>(t).time_since_epoch() % minutes(15);
    if (quarter != quarter_ || date_.empty()) {
      quarter_ = quarter;
      auto l = to_local(t, zone_);
      char buf[16];
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", l.year, l.month, l.day);
      date_ = buf;
    }
    return date_;
  }

 private:
  std::string zone_;
  Time quarter_{};
  std::string date_;
};

std::string pct(double p) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%.1f%%", p);
  return buf;
}

std::string money(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.2f", usd);
  return buf;
}

// "Mon 11-23 15:00" in the zone.
std::string local_stamp(Time t, std::string_view zone) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  auto l = to_local(t, zone);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s %02d-%02d %02d:%02d", kDays[(l.weekday % 7 + 7) % 7], l.month,
                l.day, l.hour, l.minute);
  return buf;
}

// "2h30m", "3d4h", "12m".
std::string span_words(Clock::duration d) {
  const auto m = std::max<std::int64_t>(0, duration_cast<minutes>(d).count());
  char buf[32];
  if (m >= 24 * 60) {
    std::snprintf(buf, sizeof buf, "%lldd%lldh", static_cast<long long>(m / (24 * 60)),
                  static_cast<long long>(m % (24 * 60) / 60));
  } else if (m >= 60) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(m / 60),
                  static_cast<long long>(m % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(m));
  }
  return buf;
}

json tokens_json(const TokenCounts& t) {
  return {{"input", t.input},
          {"output", t.output},
          {"cache_creation", t.cache_creation},
          {"cache_read", t.cache_read},
          {"counted", t.counted()}};
}

// Columns padded to their widest cell; `right` columns are numbers.
std::string table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right = {}) {
  std::vector<std::size_t> width;
  // Cells may hold UTF-8 (the middle dot): pad by code points.
  auto length = [](const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
    return n;
  };
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], length(r[i]));
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(width[i] - length(r[i]), ' ');
      const bool is_right = i < right.size() && right[i];
      line += is_right ? pad + r[i] : r[i];
      if (i + 1 < r.size()) line += (is_right ? "" : pad) + "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::vector<SpendRow> most_first(std::map<std::string, SpendRow>& by) {
  std::vector<SpendRow> out;
  out.reserve(by.size());
  for (auto& [key, row] : by) out.push_back(std::move(row));
  std::stable_sort(out.begin(), out.end(), [](const SpendRow& a, const SpendRow& b) {
    return a.tokens.counted() > b.tokens.counted();
  });
  return out;
}

void add_spend(SpendRow& row, const std::string& key, const Entry& e) {
  row.key = key;
  row.tokens += e.tokens;
  row.cost_usd = sat_add(row.cost_usd, e.cost_usd);
  if (row.calls < std::numeric_limits<int>::max()) ++row.calls;
}

WindowReport window_report(const WindowState& s, std::span<const Entry* const> entries, Time now) {
  WindowReport wr;
  wr.state = s;
  const auto length = s.span.end - s.span.start;
  const auto elapsed = std::clamp(now - s.span.start, Clock::duration::zero(), length);
  const double share =
      length.count() > 0 ? duration<double>(elapsed) / duration<double>(length) : 0.0;
  const double used = static_cast<double>(s.used());
  const double limit = static_cast<double>(s.limit);
  if (s.limit > 0) wr.utilization = 100.0 * used / limit;
  wr.pace = s.open ? 100.0 * share : 0.0;
  wr.projected = s.used();
  if (s.open && s.used() > 0 && elapsed >= kUnusedStep) {
    const double rate = used / duration<double>(elapsed).count();  // tokens per second
    double projected = rate * duration<double>(length).count();
    if (s.limit > 0 && projected >= limit) {
      projected = std::max(limit, used);
      // The rate reaches the limit before the reset (reach <= length here).
      const double reach = std::min(limit / rate, duration<double>(length).count());
      wr.limit_at =
          std::max(now, s.span.start + duration_cast<Clock::duration>(duration<double>(reach)));
    }
    wr.projected = sat_round(projected);
  } else if (s.limit > 0 && s.used() >= s.limit) {
    wr.limit_at = now;
  }
  if (s.limit > 0) {
    // Whole steps only: the step under way has not had its chance yet.
    const auto since_start = std::max(Clock::duration::zero(), now - s.span.start);
    const Time to = s.span.start + since_start / kUnusedStep * kUnusedStep;
    const auto st = steps(entries, s.window, s.span.start, to, kUnusedStep);
    wr.unused = unused_area(st, s.window, s.limit, kUnusedStep);
    wr.offered =
        sat_round(limit * static_cast<double>(st.size()) * duration<double>(kUnusedStep).count() /
                  duration<double>(window_length(s.window)).count());
  }
  return wr;
}

// The person's reserve and the agents' headroom of a window with a limit
// (report.hpp says how): decide() itself answers the headroom, so the
// figure is what a lease would get.
void add_headroom(WindowReport& wr, const config::Accountant& policy, Time now) {
  const auto& s = wr.state;
  if (s.limit <= 0) return;
  const double limit = static_cast<double>(s.limit);
  const double expected = std::min(1.0, 1.5 * static_cast<double>(s.human_expected) / limit);
  wr.reserve = sat_round(limit * std::max(policy.reserve, expected));
  Ask ask;
  ask.priority = Priority::interactive;
  ask.estimate = 0;
  ask.model = s.window == Window::seven_day_opus     ? "opus"
              : s.window == Window::seven_day_sonnet ? "sonnet"
                                                     : "";
  const auto verdict = decide(policy, std::span<const WindowState>(&s, 1), ask, now);
  wr.headroom = verdict.granted ? std::max<std::int64_t>(0, verdict.allowance) : 0;
}

AccountReport account_report(const Ledger& ledger, const config::Account& a,
                             const std::vector<WindowReport>& windows, Time now) {
  AccountReport ar;
  ar.name = a.name;
  ar.provider = a.provider;
  ar.id = a.id();
  ar.plan = a.plan;
  ar.api = config::is_api_provider(a.provider);
  ar.concurrency = std::max(0, a.concurrency);
  ar.limited_until = ledger.limited_until(a.name, now);
  for (const auto& w : windows) {
    if (w.state.account != a.name || !w.headroom) continue;
    if (w.state.window != Window::five_hour && w.state.window != Window::seven_day) continue;
    if (!ar.headroom || *w.headroom < *ar.headroom) {
      ar.headroom = w.headroom;
      ar.headroom_window = w.state.window;
    }
  }
  if (ar.api) {
    const Calendar cal = calendar(ledger.config(), now);
    ar.spent_today_usd = ledger.agents_cost(a.name, cal.day_start, now);
    ar.spent_month_usd = ledger.agents_cost(a.name, cal.month_start, now);
    ar.budget_usd_per_day = a.budget_usd_per_day;
    ar.budget_usd_per_month = a.budget_usd_per_month;
  }
  return ar;
}

// Per provider, in the order the accounts come.
std::vector<ProviderReport> provider_reports(const std::vector<AccountReport>& accounts) {
  std::vector<ProviderReport> out;
  for (const auto& a : accounts) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const ProviderReport& p) { return p.provider == a.provider; });
    if (it == out.end()) {
      out.push_back(ProviderReport{});
      it = std::prev(out.end());
      it->provider = a.provider;
      it->in_use = 0;
    }
    auto& p = *it;
    if (p.accounts > 0 && (p.concurrency == 0 || a.concurrency == 0)) {
      p.concurrency = 0;  // one account without a cap: the provider has none
    } else {
      p.concurrency += a.concurrency;
    }
    ++p.accounts;
    if (a.headroom) p.headroom = sat_add(p.headroom.value_or(0), *a.headroom);
    p.in_use = p.in_use && a.in_use ? std::optional<int>(*p.in_use + *a.in_use) : std::nullopt;
    p.agents += a.agents;
    p.cost_usd = sat_add(p.cost_usd, a.cost_usd);
    p.calls += a.calls;
    p.share += a.share;
    p.api = p.api || a.api;
    p.spent_today_usd = sat_add(p.spent_today_usd, a.spent_today_usd);
    p.spent_month_usd = sat_add(p.spent_month_usd, a.spent_month_usd);
  }
  return out;
}

}  // namespace

Report build_report(const Ledger& ledger, Time now, int days, std::string_view account) {
  Report r;
  r.now = now;
  r.days = std::max(days, 1);
  r.time_zone = ledger.config().time_zone;
  r.account = account.empty() ? std::string() : ledger.account_of(account);
  // Accounts grouped by provider, the first one's provider first.
  std::vector<const config::Account*> shown;
  for (const auto& first : ledger.accounts()) {
    const bool seen = std::any_of(shown.begin(), shown.end(), [&](const config::Account* a) {
      return a->provider == first.provider;
    });
    if (seen) continue;
    for (const auto& a : ledger.accounts()) {
      if (a.provider == first.provider && (r.account.empty() || a.name == r.account)) {
        shown.push_back(&a);
      }
    }
  }
  for (const config::Account* a : shown) {
    const auto entries = ledger.entries(a->name);
    for (const auto& state : ledger.windows(a->name, now)) {
      // A model window nobody has a limit for or used says nothing.
      if (state.limit <= 0 && state.used() == 0) continue;
      r.windows.push_back(window_report(state, entries, now));
      add_headroom(r.windows.back(), ledger.config(), now);
    }
    if (auto week = last_week(ledger, a->name, now)) r.last_weeks.push_back(std::move(*week));
    r.accounts.push_back(account_report(ledger, *a, r.windows, now));
  }

  const Time since = now - hours(24) * r.days;
  std::map<std::string, SpendRow> roles;
  std::map<std::string, SpendRow> tasks;
  std::map<std::string, DayRow> by_day;
  LocalDates dates(r.time_zone);
  // The share each account carried is of the whole fleet's work, also
  // when the report shows one account.
  const auto every = ledger.all();
  std::int64_t fleet_counted = 0;
  {
    auto from = std::lower_bound(every.begin(), every.end(), since,
                                 [](const Entry* e, Time t) { return e->at < t; });
    for (auto it = from; it != every.end() && (*it)->at <= now; ++it) {
      const Entry& e = **it;
      if (e.human) continue;
      fleet_counted = sat_add(fleet_counted, e.tokens.counted());
      for (auto& a : r.accounts) {
        if (a.name != e.account) continue;
        a.agents += e.tokens;
        a.cost_usd = sat_add(a.cost_usd, e.cost_usd);
        if (a.calls < std::numeric_limits<int>::max()) ++a.calls;
      }
    }
  }
  for (auto& a : r.accounts) {
    if (fleet_counted > 0) {
      a.share =
          100.0 * static_cast<double>(a.agents.counted()) / static_cast<double>(fleet_counted);
    }
  }
  r.providers = provider_reports(r.accounts);

  const auto entries = r.account.empty() ? every : ledger.entries(r.account);
  auto first = std::lower_bound(entries.begin(), entries.end(), since,
                                [](const Entry* e, Time t) { return e->at < t; });
  for (auto it = first; it != entries.end() && (*it)->at <= now; ++it) {
    const Entry& e = **it;
    const std::string role = e.human ? "human" : e.role.empty() ? "-" : e.role;
    add_spend(roles[role], role, e);
    if (!e.task_id.empty()) add_spend(tasks[e.task_id], e.task_id, e);
    const auto& date = dates.of(e.at);
    auto& day = by_day[date];
    day.date = date;
    (e.human ? day.human : day.agents) += e.tokens;
    day.cost_usd = sat_add(day.cost_usd, e.cost_usd);
  }
  r.roles = most_first(roles);
  r.tasks = most_first(tasks);
  for (auto& [date, row] : by_day) r.day_totals.push_back(std::move(row));
  r.refused = ledger.rejected_count();
  r.refused_latest.assign(ledger.rejected().begin(), ledger.rejected().end());
  return r;
}

namespace {

// Per account (and per provider when there are several): headroom, calls
// running now, a rate limit met, the fleet's use and its share, API spend.
std::string accounts_table(const Report& r) {
  auto calls_now = [](const std::optional<int>& in_use, int cap) {
    if (!in_use) return std::string("-");
    return std::to_string(*in_use) + (cap > 0 ? " of " + std::to_string(cap) : ", no cap");
  };
  auto spend = [](bool api, double today, double day_budget, double month, double month_budget) {
    if (!api) return std::string("-");
    return money(today) + (day_budget > 0 ? " of " + money(day_budget) : std::string()) +
           " today, " + money(month) +
           (month_budget > 0 ? " of " + money(month_budget) : std::string()) + " this month";
  };
  std::vector<std::vector<std::string>> rows = {
      {"ACCOUNT", "PLAN", "HEADROOM", "CALLS NOW", "RATE-LIMITED", "AGENTS", "SHARE", "API SPEND"}};
  const bool subtotals = r.providers.size() > 1;
  for (std::size_t i = 0; i < r.accounts.size(); ++i) {
    const auto& a = r.accounts[i];
    std::string headroom = "-";
    if (a.headroom) {
      headroom =
          tokens_short(*a.headroom) + (*a.headroom_window == Window::five_hour ? " (5h)" : " (7d)");
    }
    rows.push_back({a.id, a.plan.empty() ? "-" : a.plan, headroom,
                    calls_now(a.in_use, a.concurrency),
                    a.limited_until ? "until " + local_stamp(*a.limited_until, r.time_zone) : "-",
                    tokens_short(a.agents.counted()), pct(a.share),
                    spend(a.api, a.spent_today_usd, a.budget_usd_per_day, a.spent_month_usd,
                          a.budget_usd_per_month)});
    const bool last_of_provider =
        i + 1 == r.accounts.size() || r.accounts[i + 1].provider != a.provider;
    if (!subtotals || !last_of_provider) continue;
    for (const auto& p : r.providers) {
      if (p.provider != a.provider) continue;
      rows.push_back({p.provider + " (" + std::to_string(p.accounts) +
                          (p.accounts == 1 ? " account)" : " accounts)"),
                      "", p.headroom ? tokens_short(*p.headroom) : "-",
                      calls_now(p.in_use, p.concurrency), "", tokens_short(p.agents.counted()),
                      pct(p.share), spend(p.api, p.spent_today_usd, 0, p.spent_month_usd, 0)});
    }
  }
  return table(rows, {false, false, true, true, false, true, true, false});
}

}  // namespace

void count_in_use(Report& r, const std::optional<std::vector<std::string>>& running,
                  std::string_view error) {
  r.fleet_read = running.has_value();
  r.fleet_error = running         ? std::string()
                  : error.empty() ? std::string("not read")
                                  : std::string(error);
  for (auto& a : r.accounts) {
    if (!running) {
      a.in_use.reset();
      continue;
    }
    // An account named by its id, or by its bare name (unique across
    // providers, config_accounts.hpp).
    a.in_use = static_cast<int>(
        std::count_if(running->begin(), running->end(),
                      [&](const std::string& named) { return named == a.id || named == a.name; }));
  }
  r.providers = provider_reports(r.accounts);
}

std::string report_json(const Report& r) {
  json out = {{"now", rfc3339(r.now)},
              {"days", r.days},
              {"time_zone", r.time_zone},
              {"account", r.account}};
  auto optional_tokens = [](const std::optional<std::int64_t>& v) {
    return v ? json(*v) : json(nullptr);
  };
  out["windows"] = json::array();
  for (const auto& w : r.windows) {
    const auto& s = w.state;
    const AccountReport* of = nullptr;
    for (const auto& a : r.accounts) {
      if (a.name == s.account) of = &a;
    }
    out["windows"].push_back({{"account", s.account},
                              {"account_id", of ? json(of->id) : json(nullptr)},
                              {"provider", of ? json(of->provider) : json(nullptr)},
                              {"window", std::string(window_name(s.window))},
                              {"open", s.open},
                              {"start", rfc3339(s.span.start)},
                              {"resets_at", rfc3339(s.span.end)},
                              {"limit", s.limit},
                              {"limit_source", s.limit_source},
                              {"human", s.human},
                              {"agents", s.agents},
                              {"used", s.used()},
                              {"leased", s.leased},
                              {"utilization", w.utilization},
                              {"pace", w.pace},
                              {"projected", w.projected},
                              {"limit_at", w.limit_at ? json(rfc3339(*w.limit_at)) : json(nullptr)},
                              {"offered", w.offered},
                              {"unused", w.unused},
                              {"reserve", optional_tokens(w.reserve)},
                              {"headroom", optional_tokens(w.headroom)}});
  }
  out["accounts"] = json::array();
  for (const auto& a : r.accounts) {
    json windows = json::array();
    for (const auto& w : r.windows) {
      if (w.state.account != a.name) continue;
      windows.push_back({{"window", std::string(window_name(w.state.window))},
                         {"limit", w.state.limit},
                         {"used", w.state.used()},
                         {"leased", w.state.leased},
                         {"reserve", optional_tokens(w.reserve)},
                         {"headroom", optional_tokens(w.headroom)},
                         {"resets_at", rfc3339(w.state.span.end)}});
    }
    json item = {
        {"account", a.name},
        {"id", a.id},
        {"provider", a.provider},
        {"plan", a.plan},
        {"api", a.api},
        {"windows", windows},
        {"headroom", optional_tokens(a.headroom)},
        {"headroom_window",
         a.headroom_window ? json(std::string(window_name(*a.headroom_window))) : json(nullptr)},
        {"limited_until", a.limited_until ? json(rfc3339(*a.limited_until)) : json(nullptr)},
        {"concurrency", a.concurrency},
        {"in_use", a.in_use ? json(*a.in_use) : json(nullptr)},
        {"agents", tokens_json(a.agents)},
        {"calls", a.calls},
        {"cost_usd", a.cost_usd},
        {"share_pct", a.share}};
    if (a.api) {
      item["spent_today_usd"] = a.spent_today_usd;
      item["spent_month_usd"] = a.spent_month_usd;
      item["budget_usd_per_day"] = a.budget_usd_per_day;
      item["budget_usd_per_month"] = a.budget_usd_per_month;
    }
    out["accounts"].push_back(std::move(item));
  }
  out["providers"] = json::array();
  for (const auto& p : r.providers) {
    json item = {{"provider", p.provider},
                 {"accounts", p.accounts},
                 {"headroom", optional_tokens(p.headroom)},
                 {"concurrency", p.concurrency},
                 {"in_use", p.in_use ? json(*p.in_use) : json(nullptr)},
                 {"agents", tokens_json(p.agents)},
                 {"calls", p.calls},
                 {"cost_usd", p.cost_usd},
                 {"share_pct", p.share}};
    if (p.api) {
      item["spent_today_usd"] = p.spent_today_usd;
      item["spent_month_usd"] = p.spent_month_usd;
    }
    out["providers"].push_back(std::move(item));
  }
  out["live_fleet"] = {{"read", r.fleet_read},
                       {"error", r.fleet_error.empty() ? json(nullptr) : json(r.fleet_error)}};
  out["last_week"] = json::array();
  for (const auto& w : r.last_weeks) {
    out["last_week"].push_back({{"account", w.account},
                                {"start", rfc3339(w.span.start)},
                                {"end", rfc3339(w.span.end)},
                                {"seven_day_limit", w.seven_day_limit},
                                {"used", w.used},
                                {"used_pct", w.used_pct()},
                                {"human", w.human},
                                {"person_requests", w.person_requests},
                                {"person_refused", w.person_refused},
                                {"sonnet_limit", w.sonnet_limit},
                                {"sonnet_used", w.sonnet_used},
                                {"unused_five_hour", w.unused_five_hour},
                                {"unused_seven_day", w.unused_seven_day},
                                {"unused_sonnet", w.unused_sonnet},
                                {"unused_total", w.unused_total()},
                                {"oracle", w.oracle},
                                {"unused_vs_oracle", w.vs_oracle()},
                                {"fleet_step_max", w.fleet_step_max}});
  }
  auto rows = [](const std::vector<SpendRow>& list, const char* key) {
    json a = json::array();
    for (const auto& row : list) {
      a.push_back({{key, row.key},
                   {"tokens", tokens_json(row.tokens)},
                   {"cost_usd", row.cost_usd},
                   {"calls", row.calls}});
    }
    return a;
  };
  out["roles"] = rows(r.roles, "role");
  out["tasks"] = rows(r.tasks, "task");
  out["day_totals"] = json::array();
  for (const auto& d : r.day_totals) {
    TokenCounts all = d.human;
    all += d.agents;
    out["day_totals"].push_back({{"date", d.date},
                                 {"human", tokens_json(d.human)},
                                 {"agents", tokens_json(d.agents)},
                                 {"total", tokens_json(all)},
                                 {"cost_usd", d.cost_usd}});
  }
  json latest = json::array();
  for (const auto& x : r.refused_latest) {
    latest.push_back({{"sequence", x.sequence}, {"subject", x.subject}, {"reason", x.reason}});
  }
  out["refused"] = {{"count", r.refused}, {"latest", latest}};
  // Replacement, not an exception: subjects and reasons quote what a
  // client sent, which need not be UTF-8.
  return out.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string report_text(const Report& r) {
  auto account_id = [&](const std::string& name) {
    for (const auto& a : r.accounts) {
      if (a.name == name) return a.id;
    }
    return name;
  };
  const std::string zone = r.time_zone.empty() ? std::string("local time") : r.time_zone;
  std::string out = "Usage at " + local_stamp(r.now, r.time_zone) + " (" + zone + ")" +
                    (r.account.empty() ? std::string() : ", account " + r.account) + "\n\n";
  if (r.windows.empty()) {
    out +=
        "No window has a limit or any use yet: give accountant.accounts a plan or limits "
        "(docs/CONFIG.md), or feed Claude Code's statusline to `agency usage "
        "ingest-statusline`.\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"ACCOUNT", "WINDOW", "LIMIT", "HUMAN", "AGENTS",
                                                   "USED", "HEADROOM", "PACE", "PROJECTED",
                                                   "RESETS", "UNUSED", "LIMIT FROM"}};
    for (const auto& w : r.windows) {
      const auto& s = w.state;
      const bool limited = s.limit > 0;
      std::string projected;
      if (w.limit_at) {
        projected =
            w.limit_at <= r.now
                ? "limit reached"
                : "limit at " +
                      local_stamp(*w.limit_at, r.time_zone).substr(4);  // without the weekday
      } else if (!s.open) {
        projected = "-";
      } else {
        projected =
            limited ? pct(100.0 * static_cast<double>(w.projected) / static_cast<double>(s.limit))
                    : tokens_short(w.projected);
      }
      std::string resets = s.open ? local_stamp(s.span.end, r.time_zone) + " (in " +
                                        span_words(s.span.end - r.now) + ")"
                                  : "no block: starts at the next use";
      std::string unused = "-";
      if (limited) {
        unused = tokens_short(w.unused);
        if (w.offered > 0) {
          char share[16];
          std::snprintf(share, sizeof share, " (%.0f%%)",
                        100.0 * static_cast<double>(w.unused) / static_cast<double>(w.offered));
          unused += share;
        }
      }
      rows.push_back({account_id(s.account), std::string(window_name(s.window)),
                      limited ? tokens_short(s.limit) : "-", tokens_short(s.human),
                      tokens_short(s.agents), limited ? pct(w.utilization) : "-",
                      w.headroom ? tokens_short(*w.headroom) : "-", s.open ? pct(w.pace) : "-",
                      projected, resets, unused, s.limit_source});
    }
    out +=
        table(rows, {false, false, true, true, true, true, true, true, false, false, true, false});
  }
  if (!r.accounts.empty()) out += "\n" + accounts_table(r);
  for (const auto& w : r.last_weeks) {
    out += "\nLast week, account " + w.account + " (" + local_stamp(w.span.start, r.time_zone) +
           " to " + local_stamp(w.span.end, r.time_zone) + "): " + last_week_line(w) +
           " (errors in their own sessions: usage limits, overloads).\n";
  }

  auto spend = [&](const std::vector<SpendRow>& list, const char* title, std::size_t top) {
    std::vector<std::vector<std::string>> rows = {
        {title, "COUNTED", "INPUT", "OUTPUT", "CACHE WRITE", "CACHE READ", "CALLS", "COST"}};
    for (std::size_t i = 0; i < list.size() && i < top; ++i) {
      const auto& row = list[i];
      rows.push_back({row.key, tokens_short(row.tokens.counted()), tokens_short(row.tokens.input),
                      tokens_short(row.tokens.output), tokens_short(row.tokens.cache_creation),
                      tokens_short(row.tokens.cache_read), std::to_string(row.calls),
                      money(row.cost_usd)});
    }
    out += "\n" + table(rows, {false, true, true, true, true, true, true, true});
    if (list.size() > top) {
      out += "... and " + std::to_string(list.size() - top) + " more (--json lists them all)\n";
    }
  };
  const std::string range = std::to_string(r.days) + (r.days == 1 ? " day" : " days");
  if (r.roles.empty()) {
    out += "\nNothing spent in the last " + range + ".\n";
  } else {
    spend(r.roles, "ROLE", r.roles.size());
    if (!r.tasks.empty()) spend(r.tasks, "TASK", kTextTasks);
  }
  if (!r.roles.empty()) {
    std::vector<std::vector<std::string>> rows = {
        {"DAY", "HUMAN", "AGENTS", "COUNTED", "CACHE READ", "COST"}};
    for (const auto& d : r.day_totals) {
      rows.push_back({d.date, tokens_short(d.human.counted()), tokens_short(d.agents.counted()),
                      tokens_short(sat_add(d.human.counted(), d.agents.counted())),
                      tokens_short(sat_add(d.human.cache_read, d.agents.cache_read)),
                      money(d.cost_usd)});
    }
    out += "\n" + table(rows, {false, true, true, true, true, true});
  }
  if (r.refused > 0) {
    const auto& last = r.refused_latest.back();
    out += "\n" + std::to_string(r.refused) +
           (r.refused == 1 ? " usage message was" : " usage messages were") +
           " refused and left out of the figures (`agency dead` shows the accountant's dead "
           "letters); the latest, #" +
           std::to_string(last.sequence) + " on " + last.subject + ": " + last.reason + "\n";
  }
  out +=
      "\nTokens are counted tokens (input + output + cache write; cache reads do not count "
      "toward a limit).\nUSED: share of the limit used. PACE: share of the window elapsed, "
      "where even use would be.\nPROJECTED: use at the reset at the window's rate so far. "
      "UNUSED: what the even pace offered so\nfar that nobody used (share of the offered). "
      "HEADROOM: what agents may still lease: the limit\nless the person's reserve, what is "
      "used and what is leased (an account: its tighter of 5h and 7d).\nSHARE: of the "
      "fleet's counted tokens, every account's, the person's left out. Roles, tasks, days,\n"
      "AGENTS and SHARE: the last " +
      range + ".\n";
  if (!r.accounts.empty() && !r.fleet_error.empty()) {
    out += "CALLS NOW shows -: the live fleet (agency-fleet) could not be read: " + r.fleet_error +
           ".\n";
  }
  return out;
}

// ---------------------------------------------------------------- statusline

Result<Statusline> parse_statusline(std::string_view text, std::string_view account, Time now) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(errc::config,
                      "the statusline input is not a JSON object (Claude Code passes one on the "
                      "statusLine command's stdin)");
  }
  Statusline out;
  if (auto model = j.find("model"); model != j.end() && model->is_object()) {
    if (auto id = model->find("id"); id != model->end() && id->is_string()) {
      out.model_id = id->get<std::string>();
    }
    if (auto name = model->find("display_name"); name != model->end() && name->is_string()) {
      out.model_name = name->get<std::string>();
    }
  }
  if (out.model_name.empty()) out.model_name = out.model_id;
  auto limits = j.find("rate_limits");
  if (limits == j.end() || !limits->is_object()) return out;
  for (auto w : kWindows) {
    auto it = limits->find(std::string(window_name(w)));
    if (it == limits->end() || !it->is_object()) continue;
    Reading r;
    r.account = std::string(account);
    r.window = w;
    r.at = now;
    r.source = "statusline";
    // used_percentage is Claude Code's name; utilization the usage endpoint's.
    for (const char* key : {"utilization", "used_percentage"}) {
      if (auto u = it->find(key); u != it->end() && u->is_number()) {
        const double v = u->get<double>();
        if (std::isfinite(v) && v >= 0) r.utilization = std::min(v, 100.0);
      }
    }
    if (auto reset = it->find("resets_at"); reset != it->end() && reset->is_number()) {
      auto epoch = reset->get<double>();
      if (epoch > 1e11) epoch /= 1000;  // milliseconds
      // Past the year 2262 a time point overflows: not a reset time.
      constexpr auto kLatest = duration_cast<seconds>(Time::duration::max()).count();
      if (std::isfinite(epoch) && epoch > 0 && epoch < static_cast<double>(kLatest)) {
        r.resets_at = Time(seconds(static_cast<std::int64_t>(std::llround(epoch))));
      }
    }
    if (r.utilization < 0 && !r.resets_at) continue;
    out.readings.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Reading>> statusline_readings(std::string_view text, std::string_view account,
                                                 Time now) {
  auto parsed = parse_statusline(text, account, now);
  if (!parsed) return parsed.error();
  return std::move(parsed->readings);
}

std::string statusline_text(const Statusline& s) {
  std::string line = s.model_name;
  for (const auto& r : s.readings) {
    if (r.utilization < 0) continue;
    const char* name = r.window == Window::five_hour        ? "5h"
                       : r.window == Window::seven_day      ? "7d"
                       : r.window == Window::seven_day_opus ? "7d opus"
                                                            : "7d sonnet";
    char part[48];
    std::snprintf(part, sizeof part, "%s %.0f%%", name, r.utilization);
    line += (line.empty() ? "" : " \xC2\xB7 ") + std::string(part);  // U+00B7 middle dot
  }
  return line.empty() ? std::string("agency: no rate limits yet") : line;
}

}  // namespace agency::accounting
