// See limits.hpp.
#include "runtime/limits.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

namespace agency::limits {
namespace {

using namespace std::chrono_literals;

std::optional<double> to_double(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

std::optional<std::int64_t> to_int(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

// Nullopt past what a time point holds (about the years 1678 to 2262): a
// hostile or garbled epoch must not overflow into some other time.
std::optional<TimePoint> from_epoch(std::int64_t seconds) {
  constexpr auto kMax =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::duration::max()).count();
  if (seconds > kMax || seconds < -kMax) return std::nullopt;
  return TimePoint(std::chrono::seconds(seconds));
}

// Percent used as a reading carries it (usage.proto: 0-100, -1 not given).
// A fraction (at most 1) becomes percent when `fraction_ok`; a figure over
// 100 (a window overrun) is 100; NaN or a negative one was not given.
double percent_used(double v, bool fraction_ok) {
  if (!std::isfinite(v) || v < 0) return -1;
  if (fraction_ok && v <= 1.0) v *= 100.0;
  return std::min(v, 100.0);
}

// A count from a header: negative ones were not given.
std::int64_t count_or_unknown(const std::string* text) {
  if (text == nullptr) return -1;
  auto v = to_int(*text);
  return v && *v >= 0 ? *v : -1;
}

// Used share of an API limit, percent.
double api_percent(std::int64_t limit, std::int64_t remaining) {
  if (limit <= 0 || remaining < 0) return -1;
  return percent_used(
      100.0 * static_cast<double>(limit - std::min(remaining, limit)) / static_cast<double>(limit),
      false);
}

const std::string* find(const std::map<std::string, std::string>& headers,
                        const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

// A reset given as epoch seconds, RFC 3339 or (OpenAI) a duration from now.
std::optional<TimePoint> parse_reset(std::string_view text, TimePoint now) {
  if (auto epoch = to_int(text)) return from_epoch(*epoch);
  if (auto at = parse_rfc3339(text)) return at;
  if (auto d = parse_go_duration(text)) return now + *d;
  return std::nullopt;
}

// The unified (subscription) windows, by their header infix.
struct Window {
  std::string_view infix;
  std::string_view name;
};
constexpr Window kUnified[] = {
    {"5h", "five_hour"},
    {"7d", "seven_day"},
    {"7d_opus", "seven_day_opus"},
    {"7d_sonnet", "seven_day_sonnet"},
};

// An exhausted or rejected reading: the call will be refused until its reset.
bool exhausted(const LimitReading& r) {
  return r.status == "rejected" || r.remaining == 0 || r.utilization >= 100;
}

}  // namespace

std::optional<TimePoint> usage_limit_reset(std::string_view text) {
  // "Claude AI usage limit reached|1767225600": the epoch after the bar.
  constexpr std::string_view kMark = "limit reached|";
  size_t at = text.find(kMark);
  if (at == std::string_view::npos) return std::nullopt;
  size_t start = at + kMark.size();
  size_t end = start;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])) != 0) ++end;
  auto epoch = to_int(text.substr(start, end - start));
  if (!epoch || *epoch <= 0) return std::nullopt;
  return from_epoch(*epoch);
}

std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) {
      ++i;
    }
    if (i == start) return std::nullopt;
    auto number = to_double(text.substr(start, i - start));
    if (!number) return std::nullopt;
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])) != 0) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = unit == "h"    ? 3600000.0
                   : unit == "m"  ? 60000.0
                   : unit == "s"  ? 1000.0
                   : unit == "ms" ? 1.0
                                  : -1.0;
    if (scale < 0) return std::nullopt;
    total_ms += *number * scale;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
}

std::optional<TimePoint> parse_rfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  auto field = [&](size_t pos, size_t len) { return to_int(text.substr(pos, len)); };
  auto y = field(0, 4), mo = field(5, 2), d = field(8, 2), h = field(11, 2), mi = field(14, 2),
       s = field(17, 2);
  if (!y || !mo || !d || !h || !mi || !s) return std::nullopt;
  size_t i = 19;
  double fraction = 0;
  if (i < text.size() && text[i] == '.') {
    size_t start = i;
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) ++i;
    fraction = to_double("0" + std::string(text.substr(start, i - start))).value_or(0);
  }
  std::int64_t offset_s = 0;
  if (i >= text.size()) return std::nullopt;
  if (text[i] == 'Z' || text[i] == 'z') {
    ++i;
  } else if (text[i] == '+' || text[i] == '-') {
    if (i + 6 > text.size() || text[i + 3] != ':') return std::nullopt;
    auto oh = field(i + 1, 2), om = field(i + 4, 2);
    if (!oh || !om) return std::nullopt;
    offset_s = (*oh * 3600 + *om * 60) * (text[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(*y) - 1900;
  tm.tm_mon = static_cast<int>(*mo) - 1;
  tm.tm_mday = static_cast<int>(*d);
  tm.tm_hour = static_cast<int>(*h);
  tm.tm_min = static_cast<int>(*mi);
  tm.tm_sec = static_cast<int>(*s);
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  auto at = from_epoch(static_cast<std::int64_t>(t) - offset_s);
  if (!at) return std::nullopt;
  return *at +
         std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(fraction));
}

bool known_status(std::string_view status) {
  return status == "allowed" || status == "allowed_warning" || status == "rejected";
}

std::vector<LimitReading> from_headers(const std::map<std::string, std::string>& headers,
                                       TimePoint now) {
  std::vector<LimitReading> out;
  const std::string unified = "anthropic-ratelimit-unified-";
  const std::string* overall_status = find(headers, unified + "status");
  for (const auto& w : kUnified) {
    const std::string prefix = unified + std::string(w.infix) + "-";
    const std::string* utilization = find(headers, prefix + "utilization");
    const std::string* reset = find(headers, prefix + "reset");
    const std::string* status = find(headers, prefix + "status");
    if (utilization == nullptr && reset == nullptr && status == nullptr) continue;
    LimitReading r;
    r.window = std::string(w.name);
    r.source = "headers";
    if (utilization != nullptr) {
      // A fraction in the headers; percent everywhere in agency.
      if (auto f = to_double(*utilization)) r.utilization = percent_used(*f, true);
    }
    if (reset != nullptr) r.resets_at = parse_reset(*reset, now);
    if (status != nullptr) {
      if (known_status(*status)) r.status = *status;
    } else if (overall_status != nullptr && r.utilization >= 100 && known_status(*overall_status)) {
      r.status = *overall_status;
    }
    out.push_back(std::move(r));
  }

  // Per-minute API limits: Anthropic's, then OpenAI's.
  for (std::string_view kind : {"requests", "tokens", "input-tokens", "output-tokens"}) {
    const std::string prefix = "anthropic-ratelimit-" + std::string(kind) + "-";
    const std::string* limit = find(headers, prefix + "limit");
    const std::string* remaining = find(headers, prefix + "remaining");
    const std::string* reset = find(headers, prefix + "reset");
    if (limit == nullptr && remaining == nullptr && reset == nullptr) continue;
    LimitReading r;
    r.window = std::string(kind);
    std::replace(r.window.begin(), r.window.end(), '-', '_');
    r.source = "headers";
    r.limit = count_or_unknown(limit);
    r.remaining = count_or_unknown(remaining);
    if (reset != nullptr) r.resets_at = parse_reset(*reset, now);
    r.utilization = api_percent(r.limit, r.remaining);
    out.push_back(std::move(r));
  }
  for (std::string_view kind : {"requests", "tokens"}) {
    const std::string suffix = "-" + std::string(kind);
    const std::string* limit = find(headers, "x-ratelimit-limit" + suffix);
    const std::string* remaining = find(headers, "x-ratelimit-remaining" + suffix);
    const std::string* reset = find(headers, "x-ratelimit-reset" + suffix);
    if (limit == nullptr && remaining == nullptr && reset == nullptr) continue;
    LimitReading r;
    r.window = std::string(kind);
    r.source = "headers";
    r.limit = count_or_unknown(limit);
    r.remaining = count_or_unknown(remaining);
    if (reset != nullptr) r.resets_at = parse_reset(*reset, now);
    r.utilization = api_percent(r.limit, r.remaining);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<TimePoint> retry_at(const std::map<std::string, std::string>& headers,
                                  TimePoint now) {
  if (const std::string* after = find(headers, "retry-after")) {
    if (auto seconds = to_double(*after); seconds && *seconds >= 0) {
      return now + std::chrono::milliseconds(static_cast<std::int64_t>(*seconds * 1000));
    }
    // An HTTP date ("Sun, 22 Nov 2026 06:13:25 GMT").
    std::tm tm{};
    if (const char* end = strptime(after->c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        end != nullptr && *end == '\0') {
      return from_epoch(static_cast<std::int64_t>(timegm(&tm)));
    }
  }
  std::optional<TimePoint> latest;
  for (const auto& r : from_headers(headers, now)) {
    if (!exhausted(r) || !r.resets_at) continue;
    if (!latest || *r.resets_at > *latest) latest = r.resets_at;
  }
  if (!latest) {
    // The overall unified reset, when only that was given.
    if (const std::string* reset = find(headers, "anthropic-ratelimit-unified-reset")) {
      latest = parse_reset(*reset, now);
    }
  }
  return latest;
}

std::optional<LimitReading> from_rate_limit_info(std::string_view json_object) {
  auto j = nlohmann::json::parse(json_object, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  LimitReading r;
  r.source = "rate_limit_event";
  if (auto it = j.find("status");
      it != j.end() && it->is_string() && known_status(it->get<std::string>())) {
    r.status = *it;
  }
  if (auto it = j.find("rateLimitType"); it != j.end() && it->is_string()) r.window = *it;
  if (auto it = j.find("resetsAt"); it != j.end() && it->is_number()) {
    r.resets_at = from_epoch(it->get<std::int64_t>());
  }
  if (auto it = j.find("utilization"); it != j.end() && it->is_number()) {
    r.utilization = percent_used(it->get<double>(), true);
  }
  if (r.status.empty() && r.window.empty() && !r.resets_at) return std::nullopt;
  return r;
}

std::optional<std::vector<LimitReading>> from_usage_endpoint(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  std::vector<LimitReading> out;
  bool any_window = false;
  for (const char* window : {"five_hour", "seven_day", "seven_day_opus", "seven_day_sonnet"}) {
    auto it = j.find(window);
    if (it == j.end()) continue;
    any_window = true;
    if (!it->is_object()) continue;
    LimitReading r;
    r.window = window;
    r.source = "endpoint";
    if (auto u = it->find("utilization"); u != it->end() && u->is_number()) {
      r.utilization = percent_used(u->get<double>(), false);
    }
    if (auto reset = it->find("resets_at"); reset != it->end() && reset->is_string()) {
      r.resets_at = parse_rfc3339(reset->get<std::string>());
    }
    if (r.utilization < 0 && !r.resets_at) continue;
    out.push_back(std::move(r));
  }
  if (!any_window) return std::nullopt;
  return out;
}

std::string read_token_file(const std::filesystem::path& token_file) {
  std::ifstream in(token_file);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())) != 0) {
    token.pop_back();
  }
  return token;
}

Result<http::Response> ask_usage_endpoint(const std::string& url, const std::string& token) {
  http::Request request;
  request.url = url;
  request.headers = {{"Authorization", "Bearer " + token},
                     {"anthropic-beta", "oauth-2025-04-20"},
                     {"Accept", "application/json"}};
  request.timeout = 15s;
  request.connect_timeout = 5s;
  std::atomic<bool> never{false};
  return http::get(request, never);
}

}  // namespace agency::limits
