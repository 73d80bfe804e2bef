#include "roles/accountant/report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "agents/localtime.hpp"

namespace agency::accounting {

using json = nlohmann::json;
using namespace std::chrono;

namespace {

constexpr auto kStep = minutes(10);

std::string local_date(Time t, std::string_view zone) {
  auto l = to_local(t, zone);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", l.year, l.month, l.day);
  return buf;
}

std::string tokens_short(std::int64_t n) {
  char buf[32];
  if (n >= 10'000'000) {
    std::snprintf(buf, sizeof buf, "%.0fM", static_cast<double>(n) / 1e6);
  } else if (n >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(n) / 1e6);
  } else if (n >= 10'000) {
    std::snprintf(buf, sizeof buf, "%.0fk", static_cast<double>(n) / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  }
  return buf;
}

std::string pct(double p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", p);
  return buf;
}

json tokens_json(const TokenCounts& t) {
  return {{"input", t.input},
          {"output", t.output},
          {"cache_creation", t.cache_creation},
          {"cache_read", t.cache_read},
          {"counted", t.counted()}};
}

// Columns padded to their widest cell.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::vector<SpendRow> sorted(std::map<std::string, SpendRow>& by) {
  std::vector<SpendRow> out;
  for (auto& [k, row] : by) out.push_back(std::move(row));
  std::stable_sort(out.begin(), out.end(), [](const SpendRow& a, const SpendRow& b) {
    return a.tokens.counted() > b.tokens.counted();
  });
  return out;
}

}  // namespace

Report build_report(const Ledger& ledger, Time now, int days) {
  Report r;
  r.now = now;
  r.days = days;
  for (const auto& account : ledger.accounts()) {
    auto entries = ledger.entries(account.name);
    for (auto w : kWindows) {
      WindowReport wr;
      wr.state = ledger.window(account.name, w, now);
      const auto& s = wr.state;
      if (s.limit <= 0 && s.used() == 0) continue;
      const double length = duration<double>(s.span.end - s.span.start).count();
      const double elapsed = std::clamp(duration<double>(now - s.span.start).count(), 0.0, length);
      if (s.limit > 0) {
        wr.utilization = 100.0 * static_cast<double>(s.used()) / static_cast<double>(s.limit);
      }
      wr.pace = length > 0 ? 100.0 * elapsed / length : 0;
      // Too early in a window to extrapolate: what is used is the projection.
      wr.projected =
          elapsed >= 600 && s.open
              ? static_cast<std::int64_t>(static_cast<double>(s.used()) * length / elapsed)
              : s.used();
      if (s.limit > 0) {
        auto st = steps(entries, w, s.span.start, now, kStep);
        wr.unused = unused_area(st, w, s.limit, kStep);
      }
      r.windows.push_back(std::move(wr));
    }
  }
  const Time since = now - hours(24) * days;
  std::map<std::string, SpendRow> roles;
  std::map<std::string, SpendRow> tasks;
  std::map<std::string, DayRow> by_day;
  for (const Entry* e : ledger.all()) {
    if (e->at < since || e->at > now) continue;
    auto& role = roles[e->human ? "human" : (e->role.empty() ? "?" : e->role)];
    role.key = e->human ? "human" : (e->role.empty() ? "?" : e->role);
    role.tokens += e->tokens;
    role.cost_usd += e->cost_usd;
    ++role.calls;
    if (!e->human && !e->task_id.empty()) {
      auto& task = tasks[e->task_id];
      task.key = e->task_id;
      task.tokens += e->tokens;
      task.cost_usd += e->cost_usd;
      ++task.calls;
    }
    const auto date = local_date(e->at, ledger.config().time_zone);
    auto& day = by_day[date];
    day.date = date;
    (e->human ? day.human : day.agents) += e->tokens;
  }
  r.roles = sorted(roles);
  r.tasks = sorted(tasks);
  if (r.tasks.size() > 20) r.tasks.resize(20);
  for (auto& [date, row] : by_day) r.day_totals.push_back(std::move(row));
  return r;
}

std::string report_json(const Report& r) {
  json out = {{"now", rfc3339(r.now)}, {"days", r.days}};
  out["windows"] = json::array();
  for (const auto& w : r.windows) {
    const auto& s = w.state;
    out["windows"].push_back({{"account", s.account},
                              {"window", std::string(window_name(s.window))},
                              {"limit", s.limit},
                              {"limit_source", s.limit_source},
                              {"human", s.human},
                              {"agents", s.agents},
                              {"leased", s.leased},
                              {"used", s.used()},
                              {"utilization", w.utilization},
                              {"start", rfc3339(s.span.start)},
                              {"resets_at", rfc3339(s.span.end)},
                              {"open", s.open},
                              {"pace", w.pace},
                              {"projected", w.projected},
                              {"unused", w.unused}});
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
                                 {"total", tokens_json(all)}});
  }
  return out.dump(2);
}

std::string report_text(const Report& r) {
  std::string out;
  if (r.windows.empty()) {
    out +=
        "No window has a limit or any use yet: give accountant.accounts limits or a plan "
        "(docs/CONFIG.md), or feed the statusline (agency usage ingest-statusline --help).\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"ACCOUNT", "WINDOW", "LIMIT", "HUMAN", "AGENTS",
                                                   "USED", "PACE", "PROJECTED", "RESETS", "UNUSED",
                                                   "LIMIT FROM"}};
    for (const auto& w : r.windows) {
      const auto& s = w.state;
      rows.push_back({s.account, std::string(window_name(s.window)),
                      s.limit > 0 ? tokens_short(s.limit) : "-", tokens_short(s.human),
                      tokens_short(s.agents), s.limit > 0 ? pct(w.utilization) : "-", pct(w.pace),
                      tokens_short(w.projected),
                      rfc3339(s.span.end) + (s.open ? "" : " (no block)"),
                      s.limit > 0 ? tokens_short(w.unused) : "-", s.limit_source});
    }
    out += table(rows);
  }
  auto spend = [&](const std::vector<SpendRow>& list, const char* title) {
    if (list.empty()) return;
    std::vector<std::vector<std::string>> rows = {
        {title, "COUNTED", "INPUT", "OUTPUT", "CACHE WRITE", "CACHE READ", "CALLS", "COST"}};
    for (const auto& row : list) {
      char cost[32];
      std::snprintf(cost, sizeof cost, "$%.2f", row.cost_usd);
      rows.push_back({row.key, tokens_short(row.tokens.counted()), tokens_short(row.tokens.input),
                      tokens_short(row.tokens.output), tokens_short(row.tokens.cache_creation),
                      tokens_short(row.tokens.cache_read), std::to_string(row.calls), cost});
    }
    out += "\n" + table(rows);
  };
  spend(r.roles, "ROLE");
  spend(r.tasks, "TASK");
  if (!r.day_totals.empty()) {
    std::vector<std::vector<std::string>> rows = {{"DAY", "HUMAN", "AGENTS", "TOTAL"}};
    for (const auto& d : r.day_totals) {
      rows.push_back({d.date, tokens_short(d.human.total()), tokens_short(d.agents.total()),
                      tokens_short(d.human.total() + d.agents.total())});
    }
    out += "\n" + table(rows);
  }
  out +=
      "\nPACE: the share of the window elapsed (where even use would be). UNUSED: tokens the "
      "even pace offered that nobody used so far (docs/ACCOUNTING.md). Spend and days: the "
      "last " +
      std::to_string(r.days) + " days; counted = input + output + cache write.\n";
  return out;
}

Result<std::vector<Reading>> statusline_readings(std::string_view text, std::string_view account,
                                                 Time now) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(errc::config, "the statusline input is not a JSON object");
  }
  std::vector<Reading> out;
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
    for (const char* key : {"used_percentage", "utilization"}) {
      if (auto u = it->find(key); u != it->end() && u->is_number()) r.utilization = *u;
    }
    if (auto reset = it->find("resets_at"); reset != it->end() && reset->is_number()) {
      r.resets_at = Time(seconds(reset->get<std::int64_t>()));
    }
    if (r.utilization < 0 && !r.resets_at) continue;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace agency::accounting
