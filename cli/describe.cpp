#include "cli/describe.hpp"

#include <google/protobuf/timestamp.pb.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <map>
#include <utility>
#include <vector>

#include "agency/v1/ask.pb.h"
#include "agency/v1/brief.pb.h"
#include "agency/v1/control.pb.h"
#include "agency/v1/dead.pb.h"
#include "agency/v1/event.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/task.pb.h"
#include "agency/v1/usage.pb.h"
#include "agency/v1/worklog.pb.h"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"

namespace agency::cli {

namespace {

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // …
constexpr std::string_view kArrow = "\xE2\x86\x92";     // →
// Whole lines are capped too, so a message with many long ids cannot flood a
// terminal; the free text fields are cut much earlier.
constexpr std::size_t kMaxLine = 400;

using text::is_control;
using text::utf8_sequence;

bool is_space(char32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x85;
}

// Printable UTF-8: valid, and no control characters besides ordinary whitespace.
bool is_printable_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(s, i, cp);
    if (len == 0) return false;
    if (is_control(cp) && !is_space(cp)) return false;
    i += len;
  }
  return true;
}

std::string quoted(std::string_view text, std::size_t max_chars = 100) {
  return "\"" + one_line(text, max_chars) + "\"";
}

// " key=value" when value is set; values are ids and names, kept short.
void field(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  out += ' ';
  out += key;
  out += '=';
  out += one_line(value, 60);
}

void word(std::string& out, std::string_view value) {
  if (value.empty()) return;
  out += ' ';
  out += one_line(value, 60);
}

void text(std::string& out, std::string_view value, std::string_view sep = " ") {
  if (value.empty()) return;
  out += sep;
  out += quoted(value);
}

std::string timestamp(const google::protobuf::Timestamp& ts) {
  const auto t = static_cast<std::time_t>(ts.seconds());
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf.data();
}

std::string money(double usd) {
  if (usd == 0) return {};
  std::array<char, 32> buf{};
  // Cents for real sums; small per-call costs keep their significant digits.
  std::snprintf(buf.data(), buf.size(), usd >= 1 || usd <= -1 ? "$%.2f" : "$%.2g", usd);
  return buf.data();
}

std::string engine_model(std::string_view engine, std::string_view model) {
  std::string out(engine);
  if (!model.empty()) {
    if (!out.empty()) out += '/';
    out += model;
  }
  return out;
}

std::string tokens(std::string_view key, std::int64_t value) {
  return value == 0 ? std::string() : " " + std::string(key) + "=" + std::to_string(value);
}

std::string brief(const v1::Brief& m) {
  std::string out = "Brief";
  field(out, "task", m.task_id());
  if (m.task_id().empty()) field(out, "id", m.id());
  field(out, "stage", m.stage());
  field(out, "project", m.project());
  field(out, "prio", m.priority());
  if (m.attempt() > 1) field(out, "attempt", std::to_string(m.attempt()));
  if (m.token_budget() > 0) field(out, "budget", std::to_string(m.token_budget()));
  field(out, "from", m.origin());
  text(out, m.objective());
  return out;
}

std::string task(const v1::Task& m) {
  std::string out = "Task";
  word(out, m.id());
  word(out, m.stage());
  field(out, "project", m.project());
  if (m.bounces() > 0) field(out, "bounces", std::to_string(m.bounces()));
  out += tokens("tokens", m.tokens_used());
  text(out, m.title());
  if (!m.blocked_reason().empty()) out += " blocked: " + one_line(m.blocked_reason());
  return out;
}

std::string task_event(const v1::TaskEvent& m) {
  std::string out = "TaskEvent";
  field(out, "task", m.task_id());
  word(out, m.kind());
  if (m.from_stage() != m.to_stage()) {
    out += ' ';
    out += one_line(m.from_stage(), 40);
    out += kArrow;
    out += one_line(m.to_stage(), 40);
  } else {
    word(out, m.to_stage());
  }
  if (!m.actor().empty()) out += " by " + one_line(m.actor(), 60);
  text(out, m.reason(), ": ");
  return out;
}

std::string agent_status(const v1::AgentStatus& m) {
  std::string out = "AgentStatus";
  word(out, m.agent_id());
  word(out, m.state());
  field(out, "task", m.task_id());
  field(out, "engine", m.engine());
  if (m.has_resumes_at()) out += " until " + timestamp(m.resumes_at());
  text(out, m.last_progress());
  return out;
}

std::string dead_letter(const v1::DeadLetter& m) {
  std::string out = "DeadLetter";
  word(out, m.original_subject());
  if (!m.agent_id().empty()) out += " by " + one_line(m.agent_id(), 60);
  field(out, "task", m.task_id());
  if (m.deliveries() > 1) field(out, "deliveries", std::to_string(m.deliveries()));
  out += ": " + one_line(m.reason());
  return out;
}

std::string control(const v1::Control& m) {
  std::string out = "Control";
  word(out, m.command());
  field(out, "task", m.task_id());
  if (!m.from().empty()) out += " by " + one_line(m.from(), 60);
  if (!m.reason().empty()) out += " (" + one_line(m.reason()) + ")";
  return out;
}

std::string usage_sample(const v1::UsageSample& m) {
  std::string out = "UsageSample";
  word(out, engine_model(m.engine(), m.model()));
  if (!m.role().empty()) {
    word(out, m.role());
  } else if (!m.started_by_agency()) {
    out += " human";
  }
  field(out, "task", m.task_id());
  out += " in=" + std::to_string(m.input_tokens()) + " out=" + std::to_string(m.output_tokens());
  out += tokens("cache_read", m.cache_read_tokens());
  out += tokens("cache_write", m.cache_creation_tokens());
  word(out, money(m.cost_usd()));
  return out;
}

std::string limit_reading(const v1::LimitReading& m) {
  std::string out = "LimitReading";
  word(out, engine_model(m.engine(), m.model()));
  word(out, m.window().empty() ? std::string("window?") : m.window());
  word(out, m.status());
  if (m.utilization() >= 0) out += " used=" + std::to_string(std::lround(m.utilization())) + "%";
  if (m.remaining() >= 0) out += " left=" + std::to_string(m.remaining());
  if (m.has_resets_at()) out += " resets=" + timestamp(m.resets_at());
  field(out, "agent", m.agent_id());
  return out;
}

std::string lease(const v1::Lease& m) {
  std::string out = "Lease";
  word(out, m.id());
  word(out, m.agent_id().empty() ? m.role() : m.agent_id());
  field(out, "task", m.task_id());
  field(out, "prio", m.priority());
  out += tokens("est", m.estimate_tokens());
  word(out, engine_model(m.engine(), m.model()));
  return out;
}

std::string lease_reply(const v1::LeaseReply& m) {
  std::string out = "LeaseReply";
  word(out, m.lease_id());
  if (m.granted()) {
    out += " granted " + std::to_string(m.allowance_tokens());
  } else {
    out += " deferred";
    if (m.has_retry_at()) out += " until " + timestamp(m.retry_at());
  }
  if (!m.reason().empty()) out += " (" + one_line(m.reason()) + ")";
  return out;
}

std::string settle(const v1::Settle& m) {
  std::string out = "Settle";
  word(out, m.lease_id());
  word(out, m.agent_id());
  field(out, "task", m.task_id());
  out += " in=" + std::to_string(m.input_tokens()) + " out=" + std::to_string(m.output_tokens());
  word(out, money(m.cost_usd()));
  return out;
}

std::string question(const v1::Question& m) {
  std::string out = "Question";
  word(out, m.id());
  const std::string& from = !m.from_agent().empty() ? m.from_agent() : m.from_role();
  out += " from " + (from.empty() ? std::string("human") : one_line(from, 60));
  field(out, "task", m.task_id());
  text(out, m.text(), ": ");
  return out;
}

std::string answer(const v1::Answer& m) {
  std::string out = "Answer";
  word(out, m.question_id());
  if (!m.answered_by().empty()) out += " by " + one_line(m.answered_by(), 60);
  std::array<char, 32> conf{};
  std::snprintf(conf.data(), conf.size(), " confidence=%.2f", m.confidence());
  out += conf.data();
  if (m.sources_size() > 0) field(out, "sources", std::to_string(m.sources_size()));
  text(out, m.text(), ": ");
  return out;
}

std::string mail(const v1::Mail& m) {
  std::string out = "Mail ";
  out += m.from().empty() ? std::string("?") : one_line(m.from(), 60);
  out += kArrow;
  out += m.to().empty() ? std::string("?") : one_line(m.to(), 60);
  field(out, "task", m.task_id());
  text(out, m.subject());
  text(out, m.body(), m.subject().empty() ? " " : ": ");
  return out;
}

std::string work_log(const v1::WorkLog& m) {
  std::string out = "WorkLog";
  word(out, m.task_id());
  word(out, m.outcome());
  field(out, "project", m.project());
  if (!m.agent_id().empty()) out += " by " + one_line(m.agent_id(), 60);
  out += tokens("tokens", m.tokens());
  if (m.commits_size() > 0) field(out, "commits", std::to_string(m.commits_size()));
  text(out, m.title().empty() ? m.summary() : m.title());
  return out;
}

std::string fleet_event(const v1::FleetEvent& m) {
  std::string out = "FleetEvent";
  word(out, m.kind().empty() ? std::string("kind?") : m.kind());
  if (!m.actor().empty()) out += " by " + one_line(m.actor(), 60);
  field(out, "agent", m.agent_id());
  field(out, "task", m.task_id());
  if (m.agents_size() > 0 || m.kind() == "snapshot") {
    // A snapshot names every agent: counts by state fit on a line.
    std::map<std::string, int> by_state;
    for (const auto& a : m.agents()) ++by_state[a.state().empty() ? "?" : a.state()];
    out += " agents=" + std::to_string(m.agents_size());
    if (!by_state.empty()) {
      out += " (";
      bool first = true;
      for (const auto& [state, count] : by_state) {
        if (!first) out += ", ";
        first = false;
        out += one_line(state, 20) + " " + std::to_string(count);
      }
      out += ")";
    }
  }
  if (!m.details().empty()) {
    // The map has no order of its own: sorted, so equal events read alike.
    std::vector<std::pair<std::string, std::string>> details(m.details().begin(),
                                                             m.details().end());
    std::sort(details.begin(), details.end());
    out += " [";
    for (std::size_t i = 0; i < details.size(); ++i) {
      if (i > 0) out += ' ';
      out += one_line(details[i].first, 30) + "=" + one_line(details[i].second, 40);
    }
    out += "]";
  }
  text(out, m.reason(), ": ");
  return out;
}

// Messages of our schema without a summary of their own (nested ones sent on
// their own, or new types): the type and the JSON, cut.
std::string generic(const google::protobuf::Message& m) {
  return m.GetDescriptor()->name() + " " + one_line(codec::to_json(m));
}

}  // namespace

std::string one_line(std::string_view input, std::size_t max_chars) {
  std::string out;
  out.reserve(std::min(input.size(), max_chars * 4) + kEllipsis.size());
  std::size_t chars = 0;
  bool pending_space = false;
  for (std::size_t i = 0; i < input.size();) {
    char32_t cp = 0;
    std::size_t len = utf8_sequence(input, i, cp);
    std::string escaped;
    std::string_view piece;
    if (len == 0) {
      len = 1;
      escaped = text::escape_byte(static_cast<unsigned char>(input[i]));
      piece = escaped;
    } else if (is_space(cp)) {
      pending_space = !out.empty();
      i += len;
      continue;
    } else if (is_control(cp)) {
      escaped = text::escape_control(cp);
      piece = escaped;
    } else {
      piece = input.substr(i, len);
    }
    if (pending_space) {
      if (chars + 1 > max_chars) {
        out += kEllipsis;
        return out;
      }
      out += ' ';
      ++chars;
      pending_space = false;
    }
    if (chars + 1 > max_chars) {
      out += kEllipsis;
      return out;
    }
    out += piece;
    ++chars;
    i += len;
  }
  return out;
}

std::string preview(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.empty()) return "(empty)";
  std::string_view head = bytes.substr(0, max_bytes);
  // Do not judge text by a multi-byte character the cut split in two.
  std::size_t back = 0;
  while (head.size() < bytes.size() && back < 3 && !head.empty()) {
    const auto b = static_cast<unsigned char>(bytes[head.size()]);
    if ((b & 0xC0) != 0x80) break;
    head.remove_suffix(1);
    ++back;
  }
  const bool cut = head.size() < bytes.size();
  if (!head.empty() && is_printable_text(head)) {
    std::string out = one_line(head, max_bytes);
    if (cut) out += kEllipsis;
    return out;
  }
  head = bytes.substr(0, max_bytes);
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string out = "hex";
  for (char c : head) {
    const auto b = static_cast<unsigned char>(c);
    out += ' ';
    out += kHex[b >> 4];
    out += kHex[b & 0x0F];
  }
  if (head.size() < bytes.size()) out += kEllipsis;
  return out;
}

bool is_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(bytes, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

Decoded decode_any(std::string_view subject, const Headers& headers, std::string_view payload) {
  Decoded d;
  if (auto type = find_header(headers, codec::kTypeHeader); type && !type->empty()) {
    d.type = *type;
  } else {
    // Also covers the KV buckets ($KV.agency-tasks.<key>), whose writers set
    // no header.
    d.type = std::string(subjects::message_type_for(subject));
  }
  if (d.type.empty()) return d;

  auto message = codec::new_message(d.type);
  if (message == nullptr) {
    d.error = "unknown message type " + d.type;
    return d;
  }
  if (auto op = find_header(headers, "KV-Operation"); op && (*op == "DEL" || *op == "PURGE")) {
    d.kv_operation = *op;
    return d;
  }
  if (auto r = codec::decode_into(*message, payload, headers); !r) {
    d.error = r.error().message;
    return d;
  }
  d.message = std::move(message);
  return d;
}

std::string summarize(const google::protobuf::Message& m) {
  try {
    if (const auto* p = dynamic_cast<const v1::Brief*>(&m)) return brief(*p);
    if (const auto* p = dynamic_cast<const v1::Task*>(&m)) return task(*p);
    if (const auto* p = dynamic_cast<const v1::TaskEvent*>(&m)) return task_event(*p);
    if (const auto* p = dynamic_cast<const v1::AgentStatus*>(&m)) return agent_status(*p);
    if (const auto* p = dynamic_cast<const v1::DeadLetter*>(&m)) return dead_letter(*p);
    if (const auto* p = dynamic_cast<const v1::Control*>(&m)) return control(*p);
    if (const auto* p = dynamic_cast<const v1::UsageSample*>(&m)) return usage_sample(*p);
    if (const auto* p = dynamic_cast<const v1::LimitReading*>(&m)) return limit_reading(*p);
    if (const auto* p = dynamic_cast<const v1::Lease*>(&m)) return lease(*p);
    if (const auto* p = dynamic_cast<const v1::LeaseReply*>(&m)) return lease_reply(*p);
    if (const auto* p = dynamic_cast<const v1::Settle*>(&m)) return settle(*p);
    if (const auto* p = dynamic_cast<const v1::Question*>(&m)) return question(*p);
    if (const auto* p = dynamic_cast<const v1::Answer*>(&m)) return answer(*p);
    if (const auto* p = dynamic_cast<const v1::Mail*>(&m)) return mail(*p);
    if (const auto* p = dynamic_cast<const v1::WorkLog*>(&m)) return work_log(*p);
    if (const auto* p = dynamic_cast<const v1::FleetEvent*>(&m)) return fleet_event(*p);
    return generic(m);
  } catch (const std::exception& e) {  // only allocation can throw here
    return m.GetDescriptor()->name() + " (cannot summarize: " + e.what() + ")";
  }
}

std::string describe(std::string_view subject, const Headers& headers, std::string_view payload) {
  const Decoded d = decode_any(subject, headers, payload);
  std::string line;
  if (d.type.empty()) {
    line = std::to_string(payload.size()) + " bytes";
    if (!payload.empty()) line += ": " + preview(payload);
  } else if (!d.kv_operation.empty()) {
    const std::string_view short_type = std::string_view(d.type).substr(d.type.rfind('.') + 1);
    line = std::string(short_type) + (d.kv_operation == "DEL" ? " deleted" : " purged");
  } else if (d.message != nullptr) {
    line = summarize(*d.message);
  } else {
    line = "undecodable (" + one_line(d.error, 160) + "): " + preview(payload);
  }
  // Ids and names come from the outside too: the line stays one line.
  return one_line(line, kMaxLine);
}

}  // namespace agency::cli
