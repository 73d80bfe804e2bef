#include "roles/dispatcher/dispatch.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "bus/vocabulary.hpp"
#include "roles/dispatcher/settings.hpp"

namespace agency::dispatch {

namespace voc = vocabulary;

namespace {

// How long a condition has held: `since` is set the first time it is seen.
std::chrono::seconds held_for(std::optional<Time>& since, Time now) {
  if (!since) since = now;
  return std::chrono::duration_cast<std::chrono::seconds>(now - *since);
}

std::vector<std::string_view> tokens(std::string_view subject) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= subject.size()) {
    auto dot = subject.find('.', start);
    if (dot == std::string_view::npos) dot = subject.size();
    out.push_back(subject.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

std::optional<std::string> json_field(const std::string& data, std::string_view path) {
  auto j = nlohmann::json::parse(data, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  const nlohmann::json* at = &j;
  for (auto part : tokens(path)) {
    if (at->is_object()) {
      auto it = at->find(std::string(part));
      if (it == at->end()) return std::nullopt;
      at = &*it;
    } else if (at->is_array()) {
      std::size_t index = 0;
      for (char c : part) {
        if (c < '0' || c > '9') return std::nullopt;
        index = index * 10 + static_cast<std::size_t>(c - '0');
      }
      if (part.empty() || index >= at->size()) return std::nullopt;
      at = &(*at)[index];
    } else {
      return std::nullopt;
    }
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_null()) return std::string();
  return at->dump();
}

std::int64_t seconds_since(const google::protobuf::Timestamp& ts, Time now) {
  const auto t = Time(std::chrono::duration_cast<Time::duration>(
      std::chrono::seconds(ts.seconds()) + std::chrono::nanoseconds(ts.nanos())));
  return std::chrono::duration_cast<std::chrono::seconds>(now - t).count();
}

}  // namespace

std::optional<OrderPlan> next_order(const std::vector<config::StandingOrder>& orders,
                                    std::string_view role,
                                    const std::vector<std::string>& all_projects,
                                    Rotation& rotation) {
  std::vector<OrderPlan> round;
  for (const auto& o : orders) {
    if (o.role != role) continue;
    const auto& projects = o.projects.empty() ? all_projects : o.projects;
    if (projects.empty()) {
      round.push_back({&o, "", o.objective});
      continue;
    }
    for (const auto& p : projects) round.push_back({&o, p, o.objective});
  }
  if (round.empty()) return std::nullopt;
  auto& next = rotation[std::string(role)];
  OrderPlan plan = round[next % round.size()];
  next = (next + 1) % round.size();
  std::string text;
  // Only {project} means something in a standing order.
  const std::string_view key = "{project}";
  std::string_view rest = plan.objective;
  while (true) {
    auto at = rest.find(key);
    if (at == std::string_view::npos) {
      text.append(rest);
      break;
    }
    text.append(rest.substr(0, at)).append(plan.project);
    rest.remove_prefix(at + key.size());
  }
  plan.objective = text;
  return plan;
}

Filled fill_template(std::string_view text, const TemplateInput& input) {
  Filled out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '{') {
      out.text += text[i++];
      continue;
    }
    const auto close = text.find('}', i);
    if (close == std::string_view::npos) {
      out.text.append(text.substr(i));
      break;
    }
    const std::string name(text.substr(i + 1, close - i - 1));
    i = close + 1;
    std::optional<std::string> value;
    if (name == "subject") {
      value = input.subject;
    } else if (name == "data") {
      value = input.data;
    } else if (name.rfind("subject.", 0) == 0) {
      auto parts = tokens(input.subject);
      const std::string n = name.substr(8);
      if (!n.empty() &&
          std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        const auto index = static_cast<std::size_t>(std::stoul(n));
        if (index < parts.size()) value = std::string(parts[index]);
      }
    } else if (name.rfind("json.", 0) == 0) {
      value = json_field(input.data, std::string_view(name).substr(5));
    } else if (name.rfind("task.", 0) == 0) {
      if (auto it = input.task.find(name.substr(5)); it != input.task.end()) value = it->second;
    }
    if (value) {
      out.text += *value;
    } else {
      out.missing.push_back(name);
    }
  }
  return out;
}

bool subject_matches(std::string_view pattern, std::string_view subject) {
  auto p = tokens(pattern);
  auto s = tokens(subject);
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return s.size() > i;
    if (i >= s.size()) return false;
    if (p[i] != "*" && p[i] != s[i]) return false;
  }
  return p.size() == s.size();
}

ScaleDecision judge_scale(std::string_view role, const config::Instances& rule,
                          const std::vector<v1::AgentStatus>& agents, std::uint64_t pending,
                          Time now, ScaleState& state) {
  ScaleDecision d;
  std::vector<const v1::AgentStatus*> mine;
  for (const auto& a : agents) {
    if (a.role() == role && a.state() != voc::kDraining) mine.push_back(&a);
  }
  const auto running = static_cast<int>(mine.size());
  const std::string name(role);
  if (running < rule.min) {
    state.backlog_high_since.reset();
    const auto short_for = held_for(state.short_since, now);
    if (short_for < std::max(kShortfallGrace, std::chrono::seconds(rule.after_seconds))) return d;
    state.short_since = now;  // the next one waits its own grace
    d.action = ScaleDecision::Action::start;
    d.reason = name + " has " + std::to_string(running) + " agent(s), fewer than min " +
               std::to_string(rule.min) + " for " + std::to_string(short_for.count()) + " s";
    return d;
  }
  state.short_since.reset();
  const std::uint64_t threshold =
      static_cast<std::uint64_t>(rule.backlog) * static_cast<std::uint64_t>(std::max(running, 1));
  if (pending > threshold) {
    const auto high_for = held_for(state.backlog_high_since, now);
    if (running < rule.max && high_for >= std::chrono::seconds(rule.after_seconds)) {
      d.action = ScaleDecision::Action::start;
      d.reason = std::to_string(pending) + " briefs queued for " + name + " (more than " +
                 std::to_string(rule.backlog) + " per agent for " +
                 std::to_string(high_for.count()) + " s), " + std::to_string(running) +
                 " agent(s) of max " + std::to_string(rule.max);
      state.backlog_high_since = now;  // the next one waits its own after_seconds
    }
    return d;
  }
  state.backlog_high_since.reset();
  if (pending > 0 || running <= rule.min) return d;
  // The extra to stop: idle longest (ties: the highest id, the last started).
  const v1::AgentStatus* pick = nullptr;
  std::int64_t pick_idle = -1;
  for (const auto* a : mine) {
    if (a->state() != voc::kIdle) continue;
    const auto idle = seconds_since(a->since(), now);
    if (idle < rule.idle_seconds) continue;
    if (pick == nullptr || idle > pick_idle ||
        (idle == pick_idle && a->agent_id() > pick->agent_id())) {
      pick = a;
      pick_idle = idle;
    }
  }
  if (pick == nullptr) return d;
  d.action = ScaleDecision::Action::stop;
  d.agent_id = pick->agent_id();
  d.reason = "nothing queued for " + name + ", " + pick->agent_id() + " idle for " +
             std::to_string(pick_idle) + " s, " + std::to_string(running) + " agent(s) of min " +
             std::to_string(rule.min);
  return d;
}

}  // namespace agency::dispatch
