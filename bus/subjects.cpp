#include "bus/subjects.hpp"

#include "bus/vocabulary.hpp"

#include <array>
#include <cstddef>
#include <vector>

namespace agency::subjects {
namespace {

std::string join(std::string_view prefix, std::string_view token) {
  std::string out;
  out.reserve(prefix.size() + token.size());
  out.append(prefix).append(token);
  return out;
}

// The number of '.'-separated tokens of `rest` when none is empty, else 0.
std::size_t token_count(std::string_view rest) {
  if (rest.empty()) return 0;
  std::size_t count = 1;
  std::size_t start = 0;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '.') continue;
    if (i == start) return 0;
    ++count;
    start = i + 1;
  }
  return start == rest.size() ? 0 : count;
}

// A subject family: a fixed prefix followed by `tokens` more tokens (0: any
// number, at least one, as KV keys may contain dots). The two budget
// subjects and agency.up.scale are exact names, matched before these.
struct Family {
  std::string_view prefix;
  std::size_t tokens;
  std::string_view type;
};

constexpr std::array<Family, 14> kFamilies = {{
    {"agency.brief.", 1, "agency.v1.Brief"},
    {"agency.brief.", 2, "agency.v1.Brief"},  // agency.brief.<role>.<priority>
    {"agency.event.task.", 1, "agency.v1.TaskEvent"},
    {"agency.event.", 1, "agency.v1.FleetEvent"},
    {"agency.ask.", 1, "agency.v1.Question"},
    {"agency.mail.", 1, "agency.v1.Mail"},
    {"agency.usage.limits.", 1, "agency.v1.LimitReading"},
    {"agency.usage.samples.", 1, "agency.v1.UsageSamples"},
    {"agency.usage.", 2, "agency.v1.UsageSample"},
    {"agency.log.", 1, "agency.v1.WorkLog"},
    {"agency.dead.", 1, "agency.v1.DeadLetter"},
    {"agency.control.", 1, "agency.v1.Control"},
    {"$KV.agency-tasks.", 0, "agency.v1.Task"},
    {"$KV.agency-fleet.", 0, "agency.v1.AgentStatus"},
}};

}  // namespace

std::string brief(std::string_view role, std::string_view priority) {
  std::string out = join("agency.brief.", role);
  if (!priority.empty() && priority != vocabulary::kDefaultPriority) {
    out.append(".").append(priority);
  }
  return out;
}
std::string task_event(std::string_view task_id) { return join("agency.event.task.", task_id); }
std::string ask(std::string_view role) { return join("agency.ask.", role); }
std::string mail(std::string_view agent_id) { return join("agency.mail.", agent_id); }
std::string usage(std::string_view engine, std::string_view role) {
  std::string out = join("agency.usage.", engine);
  out.append(".").append(role);
  return out;
}
std::string limits(std::string_view engine) { return join("agency.usage.limits.", engine); }
std::string usage_samples(std::string_view engine) { return join("agency.usage.samples.", engine); }
std::string work_log(std::string_view project) { return join("agency.log.", project); }
std::string dead(std::string_view role) { return join("agency.dead.", role); }
std::string control(std::string_view target) { return join("agency.control.", target); }
std::string tail(std::string_view agent_id) { return join("agency.tail.", agent_id); }
std::string fleet_event(std::string_view kind) { return join("agency.event.", kind); }

std::string brief_consumer(std::string_view role, std::string_view priority) {
  std::string out = join("briefs-", role);
  if (!priority.empty() && priority != vocabulary::kDefaultPriority) {
    out.append("@").append(priority);
  }
  return out;
}
std::string wake(std::string_view consumer) { return join("agency.wake.", consumer); }
std::string mail_consumer(std::string_view agent_id) { return join("mail-", agent_id); }

namespace {

std::vector<std::string_view> split_tokens(std::string_view subject) {
  std::vector<std::string_view> out;
  while (true) {
    auto dot = subject.find('.');
    out.push_back(subject.substr(0, dot));
    if (dot == std::string_view::npos) return out;
    subject.remove_prefix(dot + 1);
  }
}

}  // namespace

std::optional<BriefQueue> brief_queue(std::string_view subject) {
  constexpr std::string_view kPrefix = "agency.brief.";
  if (!subject.starts_with(kPrefix)) return std::nullopt;
  const auto tokens = split_tokens(subject.substr(kPrefix.size()));
  if (tokens.empty() || tokens.size() > 2 || !is_valid_token(tokens[0])) return std::nullopt;
  if (tokens.size() == 1) {
    return BriefQueue{std::string(tokens[0]), std::string(vocabulary::kDefaultPriority)};
  }
  if (tokens[1] == vocabulary::kDefaultPriority || !vocabulary::is_priority(tokens[1])) {
    return std::nullopt;
  }
  return BriefQueue{std::string(tokens[0]), std::string(tokens[1])};
}

std::string_view consumer_of_ack(std::string_view ack_subject) {
  if (!ack_subject.starts_with("$JS.ACK.")) return {};
  const auto tokens = split_tokens(ack_subject);
  // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>, or
  // with <domain>.<account hash> before the stream and a token after.
  if (tokens.size() == 9) return tokens[3];
  if (tokens.size() >= 11) return tokens[5];
  return {};
}

bool covers(std::string_view outer, std::string_view inner) {
  const auto o = split_tokens(outer);
  const auto in = split_tokens(inner);
  for (std::size_t i = 0; i < o.size(); ++i) {
    if (o[i] == ">") return in.size() > i;  // the rest, one token or more
    if (i >= in.size()) return false;
    if (in[i] == ">") return false;  // any number of tokens where outer has one
    if (o[i] == "*") continue;
    if (o[i] != in[i]) return false;  // a literal, or outer's literal against inner's *
  }
  return o.size() == in.size();
}

bool is_valid_token(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    // Whitespace and control characters end or corrupt a subject on the
    // wire; '.', '*' and '>' change what it means.
    if (u <= 0x20 || u == 0x7f || c == '.' || c == '*' || c == '>') return false;
  }
  return true;
}

std::string_view message_type_for(std::string_view subject) {
  if (subject == kBudgetLease) return "agency.v1.Lease";
  if (subject == kBudgetSettle) return "agency.v1.Settle";
  if (subject == kUpScale) return "agency.v1.ScaleRequest";
  // The task events' family name, not a fleet event's kind.
  if (subject == "agency.event.task") return "";
  for (const Family& f : kFamilies) {
    if (!subject.starts_with(f.prefix)) continue;
    const std::size_t n = token_count(subject.substr(f.prefix.size()));
    if (n == 0) continue;
    if (f.tokens == 0 || n == f.tokens) return f.type;
  }
  return "";
}

}  // namespace agency::subjects
