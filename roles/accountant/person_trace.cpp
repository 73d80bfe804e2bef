// A person's week from the ledger, as `agency sim --person-trace` replays it
// (person_trace.hpp).
#include "roles/accountant/person_trace.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "roles/accountant/ledger_io.hpp"
#include "runtime/limits.hpp"

namespace agency::accounting {

using std::chrono::hours;

std::int64_t PersonTrace::tokens() const {
  std::int64_t sum = 0;
  for (const auto& q : requests) sum = sat_add(sum, q.tokens);
  return sum;
}

PersonTrace export_person_trace(const Ledger& ledger, std::string_view account, Time now,
                                bool* complete) {
  PersonTrace t;
  t.account = ledger.account_of(account);
  const Span current = ledger.window(t.account, Window::seven_day, now).span;
  const auto entries = ledger.entries(t.account);
  const bool any_before = !entries.empty() && entries.front()->at < current.start;
  t.span = any_before ? ledger
                            .window(t.account, Window::seven_day,
                                    current.start - std::chrono::microseconds(1))
                            .span
                      : Span{current.start, now};
  if (complete != nullptr) *complete = any_before;
  // The limits as they stand now (configured, plan or calibrated).
  t.five_hour = ledger.window(t.account, Window::five_hour, now).limit;
  t.seven_day = ledger.window(t.account, Window::seven_day, now).limit;
  for (const Entry* e : entries) {
    // A refused request (Claude Code's error in place of an answer) used
    // nothing: it is not one to replay.
    if (!e->human || e->api_error || e->at < t.span.start || e->at >= t.span.end) continue;
    t.requests.push_back({e->at, e->tokens.counted(), e->model});
  }
  return t;
}

namespace {
constexpr const char* kTraceFormat = "agency-person-trace/1";
}  // namespace

std::string person_trace_json(const PersonTrace& t) {
  nlohmann::json requests = nlohmann::json::array();
  for (const auto& q : t.requests) {
    requests.push_back({{"at", rfc3339(q.at)}, {"tokens", q.tokens}, {"model", q.model}});
  }
  return nlohmann::json{{"format", kTraceFormat},
                        {"account", t.account},
                        {"from", rfc3339(t.span.start)},
                        {"to", rfc3339(t.span.end)},
                        {"five_hour_limit", t.five_hour},
                        {"seven_day_limit", t.seven_day},
                        {"requests", requests}}
      .dump(1);
}

Result<PersonTrace> parse_person_trace(std::string_view text) {
  using nlohmann::json;
  auto bad = [](const std::string& why) {
    return make_error(errc::bad_payload, "not a person trace (" + std::string(kTraceFormat) +
                                             ", from agency usage --export-person-trace): " + why);
  };
  const json in = json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return bad("not a JSON object");
  if (in.value("format", json()) != kTraceFormat) {
    return bad("\"format\" is not \"" + std::string(kTraceFormat) + "\"");
  }
  auto time_of = [](const json& v) -> std::optional<Time> {
    if (!v.is_string()) return std::nullopt;
    auto t = limits::parse_rfc3339(v.get<std::string>());
    if (!t) return std::nullopt;
    return *t;
  };
  auto count = [](const json& v) -> std::optional<std::int64_t> {
    if (!v.is_number_integer()) return std::nullopt;
    const auto n = v.get<std::int64_t>();
    if (n < 0 || n > kMaxTokens) return std::nullopt;
    return n;
  };
  PersonTrace t;
  if (!in.value("account", json()).is_string()) return bad("\"account\" is not a string");
  t.account = in["account"].get<std::string>();
  const auto from = time_of(in.value("from", json()));
  const auto to = time_of(in.value("to", json()));
  if (!from || !to) return bad("\"from\" and \"to\" must be RFC 3339 times");
  if (*to <= *from || *to - *from > hours(24 * 28)) {
    return bad("\"to\" must be after \"from\", by at most 28 days");
  }
  t.span = Span{*from, *to};
  for (const char* key : {"five_hour_limit", "seven_day_limit"}) {
    const auto n = count(in.value(key, json(0)));
    if (!n) return bad(std::string("\"") + key + "\" is not a token count");
    (std::string_view(key) == "five_hour_limit" ? t.five_hour : t.seven_day) = *n;
  }
  const json requests = in.value("requests", json());
  if (!requests.is_array()) return bad("\"requests\" is not a list");
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const json& q = requests[i];
    const std::string where = "request " + std::to_string(i + 1);
    if (!q.is_object()) return bad(where + " is not an object");
    const auto at = time_of(q.value("at", json()));
    if (!at || *at < *from || *at >= *to) {
      return bad(where + ": \"at\" is not an RFC 3339 time within from..to");
    }
    const auto tokens = count(q.value("tokens", json()));
    if (!tokens) return bad(where + ": \"tokens\" is not a token count");
    const json model = q.value("model", json(""));
    if (!model.is_string()) return bad(where + ": \"model\" is not a string");
    t.requests.push_back({*at, *tokens, model.get<std::string>()});
  }
  std::stable_sort(t.requests.begin(), t.requests.end(),
                   [](const SimRequest& a, const SimRequest& b) { return a.at < b.at; });
  return t;
}

void use_person_trace(SimSetup& s, const PersonTrace& t, const std::string& from) {
  s.person = t.requests;
  s.person_from = from + " (account " + t.account + ")";
  s.start = t.span.start;
  const auto length = t.span.end - t.span.start;
  // A weekly window across a daylight saving change is an hour short or
  // long: still one week, not eight days.
  s.days = length >= hours(24 * 7 - 1) && length <= hours(24 * 7 + 1)
               ? 7
               : static_cast<int>(std::max<std::int64_t>(
                     1, (length + hours(24) - std::chrono::seconds(1)) / hours(24)));
  if (t.five_hour > 0) s.five_hour = t.five_hour;
  if (t.seven_day > 0) s.seven_day = t.seven_day;
}

}  // namespace agency::accounting
