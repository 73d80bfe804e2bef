// Parsers for the codex and gemini CLIs' headless output (cli_formats.hpp).
//
// Both CLIs add fields and event types between versions: everything not
// read here is ignored, lines that are not JSON objects are skipped (and
// the first few kept for the error message when nothing else came), and
// what is missing at the end is named in the error.
#include "runtime/cli_formats.hpp"
#include "runtime/json_fields.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/limits.hpp"

namespace agency::cli_formats {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxLine = 200;
constexpr size_t kKeepUnreadable = 3;

const json& member(const json& j, std::string_view key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it != j.end() ? *it : kNull;
}

// One line for progress and messages: newlines and tabs become spaces,
// long text is cut.
std::string one_line(std::string_view text, size_t max = kMaxLine) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "429" as a number of its own, not inside "4291".
bool has_number(std::string_view text, std::string_view number) {
  for (size_t at = text.find(number); at != std::string_view::npos;
       at = text.find(number, at + 1)) {
    const bool digit_before = at > 0 && std::isdigit(static_cast<unsigned char>(text[at - 1])) != 0;
    const size_t end = at + number.size();
    const bool digit_after =
        end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])) != 0;
    if (!digit_before && !digit_after) return true;
  }
  return false;
}

std::string_view trim_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  return line;
}

// The line as a JSON object, or nullopt (kept in `unreadable` when it is
// not blank).
std::optional<json> parse_line(std::string_view line, std::vector<std::string>& unreadable) {
  line = trim_line(line);
  if (line.empty()) return std::nullopt;
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    if (unreadable.size() < kKeepUnreadable) unreadable.push_back(one_line(line, 120));
    return std::nullopt;
  }
  return j;
}

std::string printed(const std::vector<std::string>& unreadable) {
  return unreadable.empty() ? std::string() : "; it printed: " + unreadable.front();
}

// A refused call: the engine sets resets_at when `until` is unknown.
Outcome limited(std::string_view detail, std::optional<TimePoint> until) {
  Outcome out;
  RateLimit rl;
  rl.detail = one_line(detail);
  rl.resets_at = until.value_or(TimePoint{});
  out.rate_limit = std::move(rl);
  LimitReading r;
  r.status = "rejected";
  r.source = "error";
  r.resets_at = until;
  out.limits.push_back(std::move(r));
  return out;
}

Result<void> read_block(Outcome& out, std::string_view who) {
  auto block = parse_outcome_block(out.text);
  if (!block) return make_error(errc::bad_payload, std::string(who) + ": " + block.error().message);
  if (*block) {
    out.block = std::move(**block);
    out.has_block = true;
    out.verdict = out.block.verdict;
  }
  return {};
}

// codex's usage object. input_tokens counts cached and cache-written input
// too (OpenAI's convention); Usage counts them apart (Anthropic's).
Usage codex_usage(const json& u) {
  const std::int64_t input = json_count(u, "input_tokens");
  const std::int64_t cached = json_count(u, "cached_input_tokens");
  const std::int64_t written = json_count(u, "cache_write_input_tokens");
  Usage usage;
  usage.input_tokens = std::max<std::int64_t>(0, input - cached - written);
  usage.cache_read_tokens = cached;
  usage.cache_creation_tokens = written;
  usage.output_tokens = json_count(u, "output_tokens");  // reasoning included
  return usage;
}

// --- times in messages ---

using Days = std::chrono::days;

std::optional<int> read_int(std::string_view text, size_t& i) {
  size_t start = i;
  int v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0 &&
         i - start < 6) {
    v = v * 10 + (text[i] - '0');
    ++i;
  }
  if (i == start) return std::nullopt;
  return v;
}

void skip_spaces(std::string_view text, size_t& i) {
  while (i < text.size() && text[i] == ' ') ++i;
}

// "9:00 AM" at i -> minutes since midnight.
std::optional<int> read_clock(std::string_view text, size_t& i) {
  auto hour = read_int(text, i);
  if (!hour || i >= text.size() || text[i] != ':') return std::nullopt;
  ++i;
  auto minute = read_int(text, i);
  if (!minute || *hour < 1 || *hour > 12 || *minute > 59) return std::nullopt;
  skip_spaces(text, i);
  if (i + 2 > text.size()) return std::nullopt;
  const std::string half = lower(text.substr(i, 2));
  if (half != "am" && half != "pm") return std::nullopt;
  i += 2;
  int h = *hour % 12;
  if (half == "pm") h += 12;
  return h * 60 + *minute;
}

// "Jan 1st, 2026 9:00 AM" at i.
std::optional<TimePoint> read_date_time(std::string_view text, size_t& i) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  if (i + 3 > text.size()) return std::nullopt;
  const std::string mon = lower(text.substr(i, 3));
  auto it = std::find(kMonths.begin(), kMonths.end(), mon);
  if (it == kMonths.end()) return std::nullopt;
  const unsigned month = static_cast<unsigned>(it - kMonths.begin()) + 1;
  i += 3;
  while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])) != 0) {
    ++i;  // "January"
  }
  skip_spaces(text, i);
  auto day = read_int(text, i);
  if (!day) return std::nullopt;
  while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])) != 0) ++i;  // "st"
  if (i < text.size() && text[i] == ',') ++i;
  skip_spaces(text, i);
  auto year = read_int(text, i);
  if (!year) return std::nullopt;
  skip_spaces(text, i);
  auto clock = read_clock(text, i);
  if (!clock) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*year}, std::chrono::month{month},
                                        std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd} + std::chrono::minutes{*clock};
}

// "4 days 3 hours", "1.5s", "20ms", "5 minutes" at i -> the duration.
std::optional<std::chrono::milliseconds> read_span(std::string_view text, size_t& i) {
  double total_ms = 0;
  bool any = false;
  while (i < text.size()) {
    size_t j = i;
    skip_spaces(text, j);
    size_t start = j;
    while (j < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[j])) != 0 || text[j] == '.')) {
      ++j;
    }
    if (j == start) break;
    const double value = std::strtod(std::string(text.substr(start, j - start)).c_str(), nullptr);
    skip_spaces(text, j);
    size_t unit_start = j;
    while (j < text.size() && std::isalpha(static_cast<unsigned char>(text[j])) != 0) ++j;
    const std::string unit = lower(text.substr(unit_start, j - unit_start));
    double scale = 0;
    if (unit == "ms" || unit.rfind("millisecond", 0) == 0) {
      scale = 1;
    } else if (unit == "s" || unit.rfind("sec", 0) == 0) {
      scale = 1000;
    } else if (unit == "m" || unit.rfind("min", 0) == 0) {
      scale = 60000;
    } else if (unit == "h" || unit.rfind("hour", 0) == 0 || unit == "hr" || unit == "hrs") {
      scale = 3600000;
    } else if (unit == "d" || unit.rfind("day", 0) == 0) {
      scale = 86400000;
    } else {
      break;
    }
    total_ms += value * scale;
    any = true;
    i = j;
    // "4 days, 3 hours", "4 days and 3 hours"
    size_t k = i;
    skip_spaces(text, k);
    if (k < text.size() && text[k] == ',') ++k;
    skip_spaces(text, k);
    if (lower(text.substr(k, 4)) == "and ") k += 4;
    i = k;
  }
  if (!any) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
}

size_t find_lower(std::string_view text, std::string_view what) { return lower(text).find(what); }

}  // namespace

// --- codex ---

std::string CodexEvents::feed(std::string_view line) {
  auto parsed = parse_line(line, unreadable_);
  if (!parsed) return {};
  const json& j = *parsed;
  ++events_;
  const std::string type = json_text(j, "type");
  if (type == "thread.started") {
    thread_id_ = json_text(j, "thread_id");
    return "codex thread " + thread_id_ + " started";
  }
  if (type == "turn.completed") {
    completed_ = true;
    // Running totals: the last one holds the earlier ones.
    usage_ = codex_usage(member(j, "usage"));
    return {};
  }
  if (type == "turn.failed") {
    std::string message = json_text(member(j, "error"), "message");
    failed_ = message.empty() ? std::string("the turn failed without a message") : message;
    return one_line("codex: turn failed: " + *failed_);
  }
  if (type == "error") {
    last_error_ = json_text(j, "message");
    return one_line("codex: " + last_error_);
  }
  if (type != "item.started" && type != "item.completed") return {};

  const json& item = member(j, "item");
  const std::string kind = json_text(item, "type");
  const bool done = type == "item.completed";
  if (kind == "agent_message") {
    if (!done) return {};
    messages_.push_back(json_text(item, "text"));
    return one_line(messages_.back());
  }
  if (kind == "reasoning") return done ? one_line(json_text(item, "text")) : std::string();
  if (kind == "command_execution") {
    const std::string command = json_text(item, "command");
    if (!done) return one_line("run " + command);
    const std::string status = json_text(item, "status");
    if (status == "declined") {
      denials_.push_back(one_line("command " + command));
      return one_line("declined: " + command);
    }
    if (status == "failed") {
      const json& code = member(item, "exit_code");
      return one_line("failed" +
                      (code.is_number_integer() ? " (exit " + std::to_string(code.get<int>()) + ")"
                                                : std::string()) +
                      ": " + command);
    }
    return {};
  }
  if (kind == "file_change" && done) {
    std::string what;
    for (const auto& change : member(item, "changes")) {
      if (!what.empty()) what += ", ";
      what += json_text(change, "kind") + " " + json_text(change, "path");
    }
    const std::string status = json_text(item, "status");
    return one_line((status == "failed" ? "edit failed: " : "edit: ") + what);
  }
  if (kind == "mcp_tool_call" && !done) {
    return one_line("tool " + json_text(item, "server") + "." + json_text(item, "tool"));
  }
  if (kind == "web_search" && !done) return one_line("search " + json_text(item, "query"));
  if (kind == "error" && done) return one_line("codex: " + json_text(item, "message"));
  return {};
}

Result<Outcome> CodexEvents::finish(TimePoint now) const {
  std::optional<std::string> failure = failed_;
  if (!failure && !completed_ && !last_error_.empty()) failure = last_error_;
  if (failure) {
    if (is_codex_limit(*failure)) {
      Outcome out = limited(*failure, codex_retry_at(*failure, now));
      out.session_id = thread_id_;
      if (usage_) out.usage = *usage_;
      return out;
    }
    return make_error(errc::io, "codex failed: " + one_line(*failure, 500));
  }
  if (!completed_) {
    if (events_ == 0) {
      return make_error(
          errc::bad_payload,
          "codex printed no JSON events (is it codex exec --json?)" + printed(unreadable_));
    }
    return make_error(errc::bad_payload,
                      "codex's output ended without turn.completed: the turn did not finish" +
                          printed(unreadable_));
  }
  if (messages_.empty()) {
    return make_error(errc::bad_payload,
                      "codex finished its turn without an answer (no agent_message item)");
  }
  Outcome out;
  out.text = messages_.back();
  out.session_id = thread_id_;
  if (usage_) out.usage = *usage_;
  out.denials = denials_;
  if (auto r = read_block(out, "codex's answer"); !r) return r.error();
  return out;
}

Result<Outcome> parse_codex_events(std::string_view jsonl, TimePoint now) {
  CodexEvents events;
  while (!jsonl.empty()) {
    size_t nl = jsonl.find('\n');
    events.feed(jsonl.substr(0, nl));
    if (nl == std::string_view::npos) break;
    jsonl.remove_prefix(nl + 1);
  }
  return events.finish(now);
}

Usage usage_since(const Usage& total, const Usage& before) {
  if (total.input_tokens < before.input_tokens || total.output_tokens < before.output_tokens ||
      total.cache_read_tokens < before.cache_read_tokens ||
      total.cache_creation_tokens < before.cache_creation_tokens) {
    return total;
  }
  Usage u;
  u.input_tokens = total.input_tokens - before.input_tokens;
  u.output_tokens = total.output_tokens - before.output_tokens;
  u.cache_read_tokens = total.cache_read_tokens - before.cache_read_tokens;
  u.cache_creation_tokens = total.cache_creation_tokens - before.cache_creation_tokens;
  u.cost_usd = total.cost_usd - before.cost_usd;
  return u;
}

std::optional<Usage> codex_rollout_total(std::string_view jsonl) {
  std::optional<Usage> total;
  std::vector<std::string> ignored;
  while (!jsonl.empty()) {
    size_t nl = jsonl.find('\n');
    std::string_view line = jsonl.substr(0, nl);
    // Most lines are conversation items: look only at the token counts.
    if (line.find("token_count") != std::string_view::npos) {
      if (auto j = parse_line(line, ignored)) {
        const json& payload = member(*j, "payload");
        const json& usage = member(member(payload, "info"), "total_token_usage");
        if (json_text(*j, "type") == "event_msg" && json_text(payload, "type") == "token_count" &&
            usage.is_object()) {
          total = codex_usage(usage);
        }
      }
    }
    if (nl == std::string_view::npos) break;
    jsonl.remove_prefix(nl + 1);
  }
  return total;
}

bool is_codex_limit(std::string_view message) {
  const std::string m = lower(message);
  return m.find("usage limit") != std::string::npos || m.find("rate limit") != std::string::npos ||
         m.find("too many requests") != std::string::npos || has_number(m, "429");
}

std::optional<TimePoint> codex_retry_at(std::string_view message, TimePoint now) {
  if (size_t at = find_lower(message, "try again at "); at != std::string_view::npos) {
    size_t i = at + 13;
    size_t j = i;
    if (auto when = read_date_time(message, j)) return *when;
    j = i;
    if (auto clock = read_clock(message, j)) {
      const auto today = std::chrono::floor<Days>(now);
      TimePoint when = today + std::chrono::minutes{*clock};
      if (when <= now) when += Days{1};
      return when;
    }
  }
  if (size_t at = find_lower(message, "try again in "); at != std::string_view::npos) {
    size_t i = at + 13;
    if (auto span = read_span(message, i)) {
      return now + std::chrono::duration_cast<TimePoint::duration>(*span);
    }
  }
  return std::nullopt;
}

// --- gemini ---

namespace {

// "write_file hello.txt", "run_shell_command make": the tool and what it
// is about.
std::string tool_what(const std::string& name, const json& params) {
  for (const char* key :
       {"file_path", "command", "absolute_path", "path", "pattern", "query", "url", "dir_path"}) {
    std::string v = json_text(params, key);
    if (!v.empty()) return one_line(name + " " + v);
  }
  return name;
}

// stream-json's stats. input_tokens is the prompt with its cached part,
// input the part not cached; output_tokens leaves out thinking (and tool
// prompt) tokens, which total_tokens counts: they are added to output.
Usage gemini_stream_usage(const json& s) {
  const std::int64_t prompt = json_count(s, "input_tokens");
  const std::int64_t cached = json_count(s, "cached");
  const std::int64_t total = json_count(s, "total_tokens");
  Usage u;
  u.input_tokens = member(s, "input").is_number() ? json_count(s, "input")
                                                  : std::max<std::int64_t>(0, prompt - cached);
  u.cache_read_tokens = cached;
  u.output_tokens = std::max(json_count(s, "output_tokens"), total - prompt);
  return u;
}

// The model that used most tokens: the one that did the work (a router or
// a summariser may have had a few calls).
std::string main_model(const json& models, std::string_view total_key,
                       const char* tokens_object = nullptr) {
  std::string best;
  std::int64_t most = -1;
  if (!models.is_object()) return best;
  for (const auto& [name, m] : models.items()) {
    const json& t = tokens_object != nullptr ? member(m, tokens_object) : m;
    const std::int64_t n = json_count(t, total_key);
    if (n > most) {
      most = n;
      best = name;
    }
  }
  return best;
}

}  // namespace

std::string GeminiEvents::feed(std::string_view line) {
  auto parsed = parse_line(line, unreadable_);
  if (!parsed) return {};
  const json& j = *parsed;
  ++events_;
  const std::string type = json_text(j, "type");
  if (type == "init") {
    session_id_ = json_text(j, "session_id");
    init_model_ = json_text(j, "model");
    return "gemini session " + session_id_ + " started";
  }
  if (type == "message") {
    if (json_text(j, "role") != "assistant") return {};
    if (segments_.empty() || after_tool_) segments_.emplace_back();
    after_tool_ = false;
    segments_.back() += json_text(j, "content");
    return {};  // deltas: too small to show one by one
  }
  if (type == "tool_use") {
    Tool t;
    t.id = json_text(j, "tool_id");
    t.name = json_text(j, "tool_name");
    t.what = tool_what(t.name, member(j, "parameters"));
    tools_.push_back(t);
    after_tool_ = true;
    return t.what;
  }
  if (type == "tool_result") {
    if (json_text(j, "status") != "error") return {};
    const std::string id = json_text(j, "tool_id");
    auto it = std::find_if(tools_.begin(), tools_.end(), [&](const Tool& t) { return t.id == id; });
    const std::string what = it != tools_.end() ? it->what : id;
    const json& error = member(j, "error");
    const std::string kind = json_text(error, "type");
    if (kind == "policy_violation" || kind == "tool_not_registered") {
      denials_.push_back(what);
    }
    return one_line("failed: " + what + ": " + json_text(error, "message"));
  }
  if (type == "error") {
    return one_line("gemini " + json_text(j, "severity") + ": " + json_text(j, "message"));
  }
  if (type == "result") {
    result_ = j.dump();
    return {};
  }
  return {};
}

Result<Outcome> GeminiEvents::finish(TimePoint now) const {
  if (!result_) {
    if (events_ == 0) {
      return make_error(errc::bad_payload,
                        "gemini printed no JSON events (is it gemini -p --output-format "
                        "stream-json?)" +
                            printed(unreadable_));
    }
    return make_error(errc::bad_payload,
                      "gemini's output ended without a result line: the call did not finish" +
                          printed(unreadable_));
  }
  const json r = json::parse(*result_);
  const json& stats = member(r, "stats");
  Outcome out;
  out.session_id = session_id_;
  out.usage = gemini_stream_usage(stats);
  out.model = main_model(member(stats, "models"), "total_tokens");
  if (out.model.empty() && init_model_ != "auto") out.model = init_model_;
  out.denials = denials_;

  if (json_text(r, "status") != "success") {
    const json& error = member(r, "error");
    const std::string message = json_text(error, "message");
    if (is_gemini_limit(message)) {
      Outcome refused = limited(message, gemini_retry_at(message, now));
      refused.session_id = out.session_id;
      refused.usage = out.usage;
      refused.model = out.model;
      return refused;
    }
    std::string why = "gemini reported an error";
    if (!json_text(error, "type").empty()) why += " (" + json_text(error, "type") + ")";
    why += ": " + (message.empty() ? std::string("no message") : one_line(message, 500));
    return make_error(errc::io, why);
  }

  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if (!one_line(*it).empty()) {
      out.text = *it;
      break;
    }
  }
  if (out.text.empty()) {
    return make_error(errc::bad_payload,
                      "gemini finished without an answer (no assistant message)");
  }
  if (auto b = read_block(out, "gemini's answer"); !b) return b.error();
  return out;
}

Result<Outcome> parse_gemini_stream(std::string_view jsonl, TimePoint now) {
  GeminiEvents events;
  while (!jsonl.empty()) {
    size_t nl = jsonl.find('\n');
    events.feed(jsonl.substr(0, nl));
    if (nl == std::string_view::npos) break;
    jsonl.remove_prefix(nl + 1);
  }
  return events.finish(now);
}

Result<Outcome> parse_gemini_json(std::string_view text, TimePoint now) {
  // The object may follow other lines (stderr has warnings before it).
  size_t start = text.find("{\n");
  if (start == std::string_view::npos) start = text.find('{');
  json j =
      start == std::string_view::npos ? json() : json::parse(text.substr(start), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(errc::bad_payload,
                      "gemini's output is not a JSON object (is it gemini -p --output-format "
                      "json?): " +
                          one_line(text, 120));
  }
  Outcome out;
  out.session_id = json_text(j, "session_id");
  const json& models = member(member(j, "stats"), "models");
  if (models.is_object()) {
    for (const auto& [name, m] : models.items()) {
      const json& t = member(m, "tokens");
      const std::int64_t prompt = json_count(t, "prompt");
      const std::int64_t cached = json_count(t, "cached");
      out.usage.input_tokens +=
          (member(t, "input").is_number() ? json_count(t, "input")
                                          : std::max<std::int64_t>(0, prompt - cached)) +
          json_count(t, "tool");
      out.usage.cache_read_tokens += cached;
      out.usage.output_tokens += json_count(t, "candidates") + json_count(t, "thoughts");
    }
  }
  out.model = main_model(models, "total", "tokens");

  const json& error = member(j, "error");
  if (error.is_object()) {
    const std::string message = json_text(error, "message");
    const json& code = member(error, "code");
    const bool is_429 = code.is_number_integer() && code.get<std::int64_t>() == 429;
    if (is_429 || is_gemini_limit(message)) {
      Outcome refused = limited(message, gemini_retry_at(message, now));
      refused.session_id = out.session_id;
      refused.usage = out.usage;
      refused.model = out.model;
      return refused;
    }
    std::string why = "gemini reported an error";
    if (!json_text(error, "type").empty()) why += " (" + json_text(error, "type") + ")";
    return make_error(errc::io, why + ": " + one_line(message, 500));
  }
  const json& response = member(j, "response");
  if (!response.is_string()) {
    return make_error(errc::bad_payload, "gemini's JSON output has no response and no error");
  }
  out.text = response.get<std::string>();
  if (auto b = read_block(out, "gemini's answer"); !b) return b.error();
  return out;
}

bool is_gemini_limit(std::string_view message) {
  const std::string m = lower(message);
  for (const char* mark :
       {"quota", "resource has been exhausted", "resource_exhausted", "rate limit", "ratelimit",
        "too many requests", "exhausted your capacity", "capacity exceeded"}) {
    if (m.find(mark) != std::string::npos) return true;
  }
  return has_number(m, "429");
}

std::optional<TimePoint> gemini_retry_at(std::string_view message, TimePoint now) {
  for (std::string_view mark :
       {"retry in ", "retry after ", "retrydelay\": \"", "retrydelay\":\""}) {
    size_t at = find_lower(message, mark);
    if (at == std::string_view::npos) continue;
    size_t i = at + mark.size();
    size_t end = i;
    while (end < message.size() &&
           (std::isalnum(static_cast<unsigned char>(message[end])) != 0 || message[end] == '.')) {
      ++end;
    }
    std::string_view token = message.substr(i, end - i);
    while (!token.empty() && token.back() == '.') token.remove_suffix(1);
    if (auto d = limits::parse_go_duration(token)) {
      return now + std::chrono::duration_cast<TimePoint::duration>(*d);
    }
    size_t k = i;
    if (auto span = read_span(message, k)) {
      return now + std::chrono::duration_cast<TimePoint::duration>(*span);
    }
  }
  return std::nullopt;
}

}  // namespace agency::cli_formats
