// The auditor's figures and rules (see audit.hpp, docs/AUDIT.md).
#include "roles/auditor/audit.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "bus/clock.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/localtime.hpp"
#include "runtime/pipeline.hpp"

namespace agency::audit {

namespace voc = vocabulary;
using accounting::thousands;

namespace {

// The refused requests a finding lists by time, at most.
constexpr std::size_t kMostTimes = 5;
// The bounce reasons a finding quotes, at most, and their length.
constexpr std::size_t kMostReasons = 3;
constexpr std::size_t kReasonChars = 160;
// The sessions the markdown's table shows, at most (the JSON has all).
constexpr std::size_t kMostSessions = 10;

bool within(const Input& in, Time t) { return t >= in.from && t < in.to; }

Time at_of(const v1::StageChange& c) { return to_time_point(c.at()); }

// A move back in the pipeline the task walks: a role's fail verdict (not a
// person's move, not a close).
bool is_bounce(const pipeline::Pipeline& walk, const v1::StageChange& c) {
  if (c.actor().starts_with(voc::kHumanActorPrefix)) return false;
  if (c.to() == voc::kDone || c.to() == voc::kBlocked) return false;
  if (!walk.is_work_stage(c.from()) || !walk.is_work_stage(c.to())) return false;
  return !walk.forward(c.from(), c.to());
}

// The move that closed the task (its last one), when it closed as `stage`.
const v1::StageChange* closing(const v1::Task& t, std::string_view stage) {
  if (t.stage() != stage || t.history_size() == 0) return nullptr;
  const auto& last = t.history(t.history_size() - 1);
  return last.to() == stage ? &last : nullptr;
}

std::int64_t median(std::vector<std::int64_t> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Text from a record or a sample (anyone who can publish wrote it) as one
// line of a markdown table or list: no line breaks, no cell separators.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '|') c = ' ';
  }
  return s;
}

std::string cut(std::string s) {
  if (s.size() > kReasonChars) s = s.substr(0, kReasonChars) + "...";
  return one_line(std::move(s));
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void tasks(const Input& in, const Rules& rules, Report& r, std::set<std::string>& done_ids) {
  for (const auto& t : in.tasks) {
    if (const auto* c = closing(t, voc::kDone); c != nullptr && within(in, at_of(*c))) {
      ++r.done;
      done_ids.insert(t.id());
    }
    if (const auto* c = closing(t, voc::kBlocked); c != nullptr && within(in, at_of(*c))) {
      ++r.blocked;
      // The accountant's refusal of a task past its token budget.
      if (t.blocked_reason().starts_with("runaway guard")) {
        ++r.runaway;
        r.findings.push_back({"runaway",
                              "blocked by the runaway guard: " + cut(t.blocked_reason()),
                              {"task " + t.id()}});
      }
    }
    std::uint32_t here = 0;
    std::vector<std::string> reasons;
    const auto walk = pipeline::Pipeline::of(t);
    for (const auto& c : t.history()) {
      if (!is_bounce(walk, c) || !within(in, at_of(c))) continue;
      ++here;
      reasons.push_back(c.from() + " -> " + c.to() + ": " + cut(c.reason()));
    }
    if (here == 0) continue;
    r.bounces += here;
    ++r.bounced_tasks;
    if (t.bounces() >= rules.bounces) {
      std::string text = "sent back " + std::to_string(t.bounces()) +
                         " times (rule: " + std::to_string(rules.bounces) + " or more)";
      for (std::size_t i = reasons.size() > kMostReasons ? reasons.size() - kMostReasons : 0;
           i < reasons.size(); ++i) {
        text += "; " + reasons[i];
      }
      r.findings.push_back({"bounces", text, {"task " + t.id()}});
    }
  }
}

void role_tokens(const Input& in, const Rules& rules, const std::set<std::string>& done_ids,
                 Report& r) {
  // Tokens per (role, task) over the whole ledger: a task done in the
  // window may have started before it.
  std::map<std::string, std::map<std::string, std::int64_t>> by_role;
  for (const auto* e : in.ledger->all()) {
    if (e->human || e->task_id.empty() || e->role.empty()) continue;
    if (done_ids.count(e->task_id) == 0) continue;
    by_role[e->role][e->task_id] += e->tokens.counted();
  }
  for (const auto& [role, per_task] : by_role) {
    RoleTokens rt;
    rt.role = one_line(role);
    std::vector<std::int64_t> figures;
    for (const auto& [task, n] : per_task) {
      figures.push_back(n);
      rt.total += n;
      rt.max = std::max(rt.max, n);
    }
    rt.tasks = figures.size();
    rt.median = median(figures);
    r.roles.push_back(rt);
    if (rt.tasks < rules.norm_tasks || rt.median <= 0) continue;
    for (const auto& [task, n] : per_task) {
      const double times = static_cast<double>(n) / static_cast<double>(rt.median);
      if (times <= rules.token_outlier) continue;
      r.findings.push_back({"tokens",
                            rt.role + " spent " + thousands(n) + " tokens on the task, " +
                                fixed(times, 1) + "x the role's median of " + thousands(rt.median) +
                                " over " + std::to_string(rt.tasks) + " done tasks (rule: over " +
                                fixed(rules.token_outlier, 1) + "x)",
                            {"task " + one_line(task)}});
    }
  }
}

std::string session_ref(const Session& s) {
  return s.id.starts_with("agent ") ? s.id : "session " + s.id;
}

std::string who(const Session& s) { return s.role.empty() ? std::string("an agent") : s.role; }

void session_findings(const Rules& rules, const Session& s, Report& r) {
  const std::vector<std::string> refs{one_line(session_ref(s))};
  if (!s.id.starts_with("agent ") && s.calls >= rules.session_calls &&
      s.cache_read_share < rules.cache_read_share) {
    r.findings.push_back({"cache",
                          who(s) + "'s session read " + fixed(100 * s.cache_read_share, 0) +
                              "% of its input from the prompt cache over " +
                              std::to_string(s.calls) + " calls (rule: under " +
                              fixed(100 * rules.cache_read_share, 0) +
                              "%): each call paid for its context again",
                          refs});
  }
  if (s.context_limit > 0) {
    const double share = static_cast<double>(s.context_max) / static_cast<double>(s.context_limit);
    if (share > rules.context_share) {
      r.findings.push_back({"context",
                            who(s) + "'s session reached " + thousands(s.context_max) +
                                " tokens of context, " + fixed(100 * share, 0) +
                                "% of its rotation limit of " + thousands(s.context_limit) +
                                " (rule: over " + fixed(100 * rules.context_share, 0) +
                                "%): every call near the limit pays for the whole context",
                            refs});
    }
  }
  if (s.denials > rules.denials) {
    r.findings.push_back({"denials",
                          who(s) + "'s engine was refused " + std::to_string(s.denials) +
                              " tool calls by its permissions (rule: over " +
                              std::to_string(rules.denials) +
                              "): the role's permission_mode or allowed_tools keep it from "
                              "work it tries to do",
                          refs});
  }
  if (s.errors + s.retries > rules.errors) {
    std::string text = who(s) + "'s session had " + std::to_string(s.errors) +
                       " failed calls and " + std::to_string(s.retries) + " retries (rule: over " +
                       std::to_string(rules.errors) + " together)";
    if (!s.last_error.empty()) text += "; the last error: " + cut(s.last_error);
    r.findings.push_back({"errors", text, refs});
  }
}

void sessions(const Input& in, const Rules& rules, Report& r) {
  struct Seen {
    Session s;
    std::int64_t read = 0;
    std::int64_t input = 0;
  };
  std::map<std::string, Seen> by_session;
  std::vector<const accounting::Entry*> person;
  for (const auto* e : in.ledger->all()) {
    if (!within(in, e->at)) continue;
    if (e->human) {
      person.push_back(e);
      auto& p = r.person;
      if (e->api_error) {
        ++p.refused;
        if (p.refused_at.size() < kMostTimes) p.refused_at.push_back(accounting::rfc3339(e->at));
        continue;
      }
      ++p.requests;
      p.tokens += e->tokens.counted();
      ++p.by_hour[to_local(e->at, in.time_zone).hour % 24];
      continue;
    }
    r.agent_tokens += e->tokens.counted();
    const std::string key = e->session_id.empty() ? "agent " + e->agent_id : e->session_id;
    if (e->session_id.empty() && e->error.empty() && e->denials == 0 && e->retries == 0) continue;
    auto& seen = by_session[key];
    Session& s = seen.s;
    ++s.calls;
    s.tokens += e->tokens.counted();
    seen.read += e->tokens.cache_read;
    seen.input += e->tokens.input + e->tokens.cache_creation + e->tokens.cache_read;
    s.context_max = std::max(s.context_max, e->context_tokens);
    s.denials += e->denials;
    s.retries += e->retries;
    if (!e->error.empty()) {
      ++s.errors;
      s.last_error = e->error;
    }
    if (s.role.empty()) s.role = one_line(e->role);
    if (s.agent_id.empty()) s.agent_id = one_line(e->agent_id);
  }
  for (auto& [id, seen] : by_session) {
    Session& s = seen.s;
    s.id = id;
    if (!id.starts_with("agent ")) ++r.sessions;
    s.cache_read_share =
        seen.input > 0 ? static_cast<double>(seen.read) / static_cast<double>(seen.input) : 1.0;
    auto limit = in.rotation_limits.find(s.role);
    s.context_limit =
        limit != in.rotation_limits.end() && limit->second > 0 ? limit->second : kContextWindow;
    session_findings(rules, s, r);
    r.session_figures.push_back(std::move(s));
  }
  for (const auto& b : accounting::five_hour_blocks(person)) {
    const bool refused = std::any_of(person.begin(), person.end(), [&](const auto* e) {
      return e->api_error && e->at >= b.start && e->at < b.end;
    });
    if (refused) r.person.limited_blocks.push_back(accounting::rfc3339(b.start));
  }
  if (r.person.refused > 0) {
    std::string text = "the person's own sessions were refused " +
                       std::to_string(r.person.refused) +
                       " times (a usage limit or an overload; rule: any)";
    for (const auto& t : r.person.refused_at) text += "; " + t;
    if (!r.person.limited_blocks.empty()) {
      text += "; in " + std::to_string(r.person.limited_blocks.size()) +
              " five-hour blocks, from " + r.person.limited_blocks.front();
    }
    r.findings.push_back({"person-refused", text, {}});
  }
}

// Each unused spell runs from the agent turning idle to its next engine
// call (or the window's end), counted within the window.
void idle_hours(const Input& in, const Rules& rules, Report& r) {
  if (in.unused.empty()) return;
  std::map<std::string, std::vector<Time>> calls;  // by agent, in time order
  for (const auto* e : in.ledger->all()) {
    if (!e->human && !e->agent_id.empty()) calls[e->agent_id].push_back(e->at);
  }
  std::map<std::string, Report::Idle> by_role;
  std::set<std::string> seen;
  for (const auto& s : in.unused) {
    if (!seen.insert(s.agent_id + "@" + accounting::rfc3339(s.since)).second) continue;
    Time end = std::min(in.to, s.until.value_or(in.to));
    if (auto it = calls.find(s.agent_id); it != calls.end()) {
      auto next = std::lower_bound(it->second.begin(), it->second.end(), s.since);
      if (next != it->second.end()) end = std::min(end, *next);
    }
    const Time start = std::max(s.since, in.from);
    if (end <= start) continue;
    auto& idle = by_role[s.role];
    idle.role = one_line(s.role);
    idle.hours += std::chrono::duration<double, std::ratio<3600>>(end - start).count();
    const std::string agent = one_line(s.agent_id);
    if (std::find(idle.agents.begin(), idle.agents.end(), agent) == idle.agents.end()) {
      idle.agents.push_back(agent);
    }
  }
  for (auto& [role, idle] : by_role) {
    if (idle.hours > rules.unused_hours) {
      std::vector<std::string> refs;
      for (const auto& a : idle.agents) refs.push_back("agent " + a);
      r.findings.push_back({"unused",
                            idle.role + " agents idled " + fixed(idle.hours, 1) +
                                " hours while pacing allowed work and nothing was queued for "
                                "them (rule: over " +
                                fixed(rules.unused_hours, 1) + " h): a standing order for " +
                                idle.role + " (dispatcher.standing_orders) would have used them",
                            refs});
    }
    r.idle.push_back(std::move(idle));
  }
}

void weeks(const Input& in, const Rules& rules, Report& r) {
  for (const auto& a : in.ledger->accounts()) {
    auto w = accounting::last_week(*in.ledger, a.name, in.to);
    if (!w) continue;
    r.weeks.push_back(*w);
    if (w->oracle > 0 && w->vs_oracle() > rules.unused_vs_oracle) {
      r.findings.push_back(
          {"capacity",
           "account " + a.name + ": last week left " + thousands(w->unused_total()) +
               " tokens of area unused, " + fixed(w->vs_oracle(), 2) + "x the oracle's bound of " +
               thousands(w->oracle) + " (rule: over " + fixed(rules.unused_vs_oracle, 2) + "x)",
           {}});
    }
  }
}

}  // namespace

Report run(const Input& input, const Rules& rules) {
  Report r;
  r.from = input.from;
  r.to = input.to;
  std::set<std::string> done_ids;
  tasks(input, rules, r, done_ids);
  if (input.ledger != nullptr) {
    role_tokens(input, rules, done_ids, r);
    sessions(input, rules, r);
    idle_hours(input, rules, r);
    weeks(input, rules, r);
  }
  return r;
}

std::string markdown(const Report& r, std::string_view suggestions) {
  std::string out = "# Audit, " + accounting::rfc3339(r.from) + " to " + accounting::rfc3339(r.to) +
                    "\n\n## Figures\n\n";
  out += "- Tasks: " + std::to_string(r.done) + " done, " + std::to_string(r.blocked) +
         " blocked (" + std::to_string(r.runaway) + " by the runaway guard); " +
         std::to_string(r.bounces) + " bounces on " + std::to_string(r.bounced_tasks) + " tasks.\n";
  int errors = 0;
  int retries = 0;
  int denials = 0;
  for (const auto& s : r.session_figures) {
    errors += s.errors;
    retries += s.retries;
    denials += s.denials;
  }
  out += "- Agents: " + thousands(r.agent_tokens) + " tokens in " + std::to_string(r.sessions) +
         " engine sessions; " + std::to_string(errors) + " failed calls, " +
         std::to_string(retries) + " retries, " + std::to_string(denials) +
         " tool calls refused by permissions.\n";
  const auto& p = r.person;
  out += "- The person: " + std::to_string(p.requests) + " requests, " + thousands(p.tokens) +
         " tokens, refused " + std::to_string(p.refused) + " times.";
  int busiest = -1;
  for (int h = 0; h < 24; ++h) {
    if (p.by_hour[h] > 0 && (busiest < 0 || p.by_hour[h] > p.by_hour[busiest])) busiest = h;
  }
  if (busiest >= 0) {
    out += " Busiest hour " + std::to_string(busiest) + ":00 (" +
           std::to_string(p.by_hour[busiest]) + " requests).";
  }
  out += "\n";
  if (!r.idle.empty()) {
    out += "- Idle while pacing allowed work, nothing queued:";
    for (std::size_t i = 0; i < r.idle.size(); ++i) {
      out += std::string(i > 0 ? ";" : "") + " " + r.idle[i].role + " " +
             fixed(r.idle[i].hours, 1) + " h (" + std::to_string(r.idle[i].agents.size()) +
             " agents)";
    }
    out += ".\n";
  }
  for (const auto& w : r.weeks) {
    out += "- Last week, account " + w.account + ": " + accounting::last_week_line(w) + "\n";
  }
  if (!r.roles.empty()) {
    out += "\n| role | done tasks | median tokens | most | total |\n|---|---|---|---|---|\n";
    for (const auto& rt : r.roles) {
      out += "| " + rt.role + " | " + std::to_string(rt.tasks) + " | " + thousands(rt.median) +
             " | " + thousands(rt.max) + " | " + thousands(rt.total) + " |\n";
    }
  }
  if (!r.session_figures.empty()) {
    std::vector<const Session*> top;
    for (const auto& s : r.session_figures) top.push_back(&s);
    std::sort(top.begin(), top.end(),
              [](const Session* a, const Session* b) { return a->tokens > b->tokens; });
    if (top.size() > kMostSessions) top.resize(kMostSessions);
    out +=
        "\n| session | role | calls | tokens | cache read | largest context | refused tools "
        "| failed calls | retries |\n|---|---|---|---|---|---|---|---|---|\n";
    for (const auto* s : top) {
      out += "| " + one_line(s->id) + " | " + s->role + " | " + std::to_string(s->calls) + " | " +
             thousands(s->tokens) + " | " + fixed(100 * s->cache_read_share, 0) + "% | " +
             thousands(s->context_max) + " of " + thousands(s->context_limit) + " | " +
             std::to_string(s->denials) + " | " + std::to_string(s->errors) + " | " +
             std::to_string(s->retries) + " |\n";
    }
    if (r.session_figures.size() > kMostSessions) {
      out += "\n(the " + std::to_string(kMostSessions) + " sessions that spent most of " +
             std::to_string(r.session_figures.size()) + "; `agency audit --json` has all)\n";
    }
  }
  out += "\n## Findings\n\n";
  if (r.findings.empty()) out += "None: every figure is within its rule (docs/AUDIT.md).\n";
  for (const auto& f : r.findings) {
    out += "- **" + f.rule + "**: " + f.text;
    if (!f.refs.empty()) {
      out += " (";
      for (std::size_t i = 0; i < f.refs.size(); ++i) out += (i > 0 ? ", " : "") + f.refs[i];
      out += ")";
    }
    out += "\n";
  }
  if (!suggestions.empty()) {
    out += "\n## Suggestions\n\n" + std::string(suggestions);
    if (out.back() != '\n') out += "\n";
  }
  return out;
}

nlohmann::json to_json(const Report& r) {
  using json = nlohmann::json;
  json roles = json::array();
  for (const auto& rt : r.roles) {
    roles.push_back({{"role", rt.role},
                     {"tasks", rt.tasks},
                     {"median", rt.median},
                     {"max", rt.max},
                     {"total", rt.total}});
  }
  json findings = json::array();
  for (const auto& f : r.findings) {
    findings.push_back({{"rule", f.rule}, {"text", f.text}, {"refs", f.refs}});
  }
  json sessions = json::array();
  for (const auto& s : r.session_figures) {
    sessions.push_back({{"id", s.id},
                        {"role", s.role},
                        {"agent_id", s.agent_id},
                        {"calls", s.calls},
                        {"tokens", s.tokens},
                        {"cache_read_share", s.cache_read_share},
                        {"context_max", s.context_max},
                        {"context_limit", s.context_limit},
                        {"denials", s.denials},
                        {"retries", s.retries},
                        {"errors", s.errors},
                        {"last_error", s.last_error}});
  }
  json idle = json::array();
  for (const auto& i : r.idle) {
    idle.push_back({{"role", i.role}, {"hours", i.hours}, {"agents", i.agents}});
  }
  json weeks = json::array();
  for (const auto& w : r.weeks) {
    weeks.push_back({{"account", w.account},
                     {"from", accounting::rfc3339(w.span.start)},
                     {"to", accounting::rfc3339(w.span.end)},
                     {"used_pct", w.used_pct()},
                     {"unused", w.unused_total()},
                     {"oracle", w.oracle},
                     {"unused_vs_oracle", w.vs_oracle()},
                     {"person_refused", w.person_refused}});
  }
  const auto& p = r.person;
  return {{"from", accounting::rfc3339(r.from)},
          {"to", accounting::rfc3339(r.to)},
          {"tasks",
           {{"done", r.done},
            {"blocked", r.blocked},
            {"runaway", r.runaway},
            {"bounces", r.bounces},
            {"bounced_tasks", r.bounced_tasks}}},
          {"roles", roles},
          {"agents", {{"tokens", r.agent_tokens}, {"sessions", r.sessions}}},
          {"sessions", sessions},
          {"idle", idle},
          {"person",
           {{"requests", p.requests},
            {"tokens", p.tokens},
            {"refused", p.refused},
            {"refused_at", p.refused_at},
            {"limited_blocks", p.limited_blocks},
            {"by_hour", std::vector<int>(std::begin(p.by_hour), std::end(p.by_hour))}}},
          {"last_week", weeks},
          {"findings", findings}};
}

}  // namespace agency::audit
