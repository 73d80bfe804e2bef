#include "roles/accountant/accounting.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "roles/accountant/settings.hpp"
#include "runtime/localtime.hpp"

namespace agency::accounting {

using std::chrono::duration;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

constexpr auto kFiveHours = hours(5);
constexpr auto kWeek = hours(24 * 7);

// Case-insensitive, without allocating: asked for every entry of a window.
bool contains_word(std::string_view text, std::string_view word) {
  if (word.size() > text.size()) return false;
  for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
    std::size_t k = 0;
    while (k < word.size() && std::tolower(static_cast<unsigned char>(text[i + k])) == word[k]) {
      ++k;
    }
    if (k == word.size()) return true;
  }
  return false;
}

Time floor_hour(Time t) { return std::chrono::floor<hours>(t); }

}  // namespace

std::int64_t sat_round(double v) {
  if (std::isnan(v)) return 0;
  // 2^63 is the first double past the range (int64 max itself is not a double).
  constexpr double kTop = 9223372036854775808.0;
  if (v >= kTop) return std::numeric_limits<std::int64_t>::max();
  if (v < -kTop) return std::numeric_limits<std::int64_t>::min();
  const double r = std::round(v);
  return r >= kTop ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(r);
}

std::string thousands(std::int64_t n) {
  // Unsigned: the magnitude of the smallest int64 is not an int64.
  const auto magnitude =
      n < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
  std::string digits = std::to_string(magnitude);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string tokens_short(std::int64_t n) { return tokens_short(static_cast<double>(n)); }

std::string tokens_short(double n) {
  char buf[32];
  if (n >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  } else if (n >= 1e7) {
    std::snprintf(buf, sizeof buf, "%.0fM", n / 1e6);
  } else if (n >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  } else if (n >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.0fk", n / 1e3);
  } else if (n >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", n);
  }
  return buf;
}

std::string rfc3339(Time t) {
  auto l = to_local(t, "UTC");
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", l.year, l.month, l.day, l.hour,
                l.minute, l.second);
  return buf;
}

// ---------------------------------------------------------------- windows

std::string_view window_name(Window w) {
  switch (w) {
    case Window::five_hour:
      return "five_hour";
    case Window::seven_day:
      return "seven_day";
    case Window::seven_day_opus:
      return "seven_day_opus";
    case Window::seven_day_sonnet:
      return "seven_day_sonnet";
  }
  return "five_hour";
}

std::optional<Window> window_from_name(std::string_view name) {
  for (auto w : kWindows) {
    if (window_name(w) == name) return w;
  }
  return std::nullopt;
}

std::chrono::seconds window_length(Window w) {
  return w == Window::five_hour ? seconds(kFiveHours) : seconds(kWeek);
}

bool counts_toward(Window w, std::string_view model) {
  switch (w) {
    case Window::five_hour:
    case Window::seven_day:
      return true;
    case Window::seven_day_opus:
      return contains_word(model, "opus");
    case Window::seven_day_sonnet:
      return contains_word(model, "sonnet");
  }
  return false;
}

TokenCounts& TokenCounts::operator+=(const TokenCounts& o) {
  input = sat_add(input, o.input);
  output = sat_add(output, o.output);
  cache_creation = sat_add(cache_creation, o.cache_creation);
  cache_read = sat_add(cache_read, o.cache_read);
  return *this;
}

namespace {

// ccusage 17 (data-loader identifySessionBlocks): a new block when more
// than 5 hours passed since the block's start or since the last entry.
void extend_blocks(std::vector<Block>& blocks, std::span<const Entry* const> entries) {
  for (const Entry* e : entries) {
    if (blocks.empty() || e->at - blocks.back().start > kFiveHours ||
        e->at - blocks.back().last > kFiveHours) {
      Block b;
      b.start = floor_hour(e->at);
      b.end = b.start + kFiveHours;
      b.last = e->at;
      blocks.push_back(b);
    }
    Block& b = blocks.back();
    b.last = e->at;
    auto& sum = e->human ? b.human : b.agents;
    sum = sat_add(sum, e->tokens.counted());
  }
}

}  // namespace

std::vector<Block> five_hour_blocks(std::span<const Entry* const> entries) {
  std::vector<Block> blocks;
  extend_blocks(blocks, entries);
  return blocks;
}

Span weekly_span(Time now, const WeeklyReset& reset, std::optional<Time> observed) {
  if (observed) {
    Time r = *observed;
    while (r <= now) r += kWeek;
    while (r - kWeek > now) r -= kWeek;
    return {r - kWeek, r};
  }
  auto local = to_local(now, reset.time_zone);
  int ahead = (reset.weekday - local.weekday + 7) % 7;
  auto at = [&](int days) {
    auto t = from_local(local.year, local.month, local.day + days, reset.hour, reset.minute,
                        reset.time_zone);
    return t.value_or(now);
  };
  Time end = at(ahead);
  if (end <= now) {
    ahead += 7;
    end = at(ahead);
  }
  // The start is the same wall clock a week earlier: 167 or 169 hours across
  // a DST change.
  return {at(ahead - 7), end};
}

// ---------------------------------------------------------------- limits

std::int64_t Limits::of(Window w) const {
  switch (w) {
    case Window::five_hour:
      return five_hour;
    case Window::seven_day:
      return seven_day;
    case Window::seven_day_opus:
      return seven_day_opus;
    case Window::seven_day_sonnet:
      return seven_day_sonnet;
  }
  return 0;
}

void Limits::set(Window w, std::int64_t v) {
  switch (w) {
    case Window::five_hour:
      five_hour = v;
      break;
    case Window::seven_day:
      seven_day = v;
      break;
    case Window::seven_day_opus:
      seven_day_opus = v;
      break;
    case Window::seven_day_sonnet:
      seven_day_sonnet = v;
      break;
  }
}

Result<Limits> plan_limits(std::string_view provider, std::string_view plan, std::string_view key) {
  // Starting points only: the plans publish percentages, not tokens. The
  // first utilisation figure seen replaces them (calibrate()).
  Limits l;
  if (provider == "codex") {
    // Codex's plans publish no token figures either; these are Claude
    // Pro's and Max 5x's, until codex's own rate-limit percentages
    // calibrate them (docs/ACCOUNTS.md).
    if (plan == "plus") {
      l.five_hour = 2'000'000;
      l.seven_day = 20'000'000;
      return l;
    }
    if (plan == "pro") {
      l.five_hour = 10'000'000;
      l.seven_day = 100'000'000;
      return l;
    }
    return make_error(errc::config, std::string(key) + ": unknown codex plan '" +
                                        std::string(plan) + "'; use plus or pro");
  }
  if (provider != "claude") return l;  // gemini's plans: limits only as given
  if (plan == "pro") {
    l.five_hour = 2'000'000;
    l.seven_day = 20'000'000;
  } else if (plan == "max5") {
    l.five_hour = 10'000'000;
    l.seven_day = 100'000'000;
  } else if (plan == "max20") {
    l.five_hour = 40'000'000;
    l.seven_day = 400'000'000;
  } else {
    return make_error(errc::config, std::string(key) + ": unknown plan '" + std::string(plan) +
                                        "'; use pro, max5 or max20, or give the limits in tokens");
  }
  return l;
}

std::optional<std::int64_t> calibrate(std::int64_t counted_in_window, double utilization) {
  if (!(utilization >= 1 && utilization <= 100) || counted_in_window <= 0) return std::nullopt;
  return sat_round(static_cast<double>(counted_in_window) * 100.0 / utilization);
}

// ---------------------------------------------------------------- unused area

std::vector<Step> steps(std::span<const Entry* const> entries, Window w, Time from, Time to,
                        minutes step) {
  std::vector<Step> out;
  if (to <= from || step.count() <= 0) return out;
  for (Time t = from; t < to; t += step) out.push_back(Step{t, 0, 0});
  auto first = std::lower_bound(entries.begin(), entries.end(), from,
                                [](const Entry* e, Time t) { return e->at < t; });
  for (auto it = first; it != entries.end() && (*it)->at < to; ++it) {
    const Entry* e = *it;
    if (!counts_toward(w, e->model)) continue;
    auto index = static_cast<std::size_t>((e->at - from) / step);
    auto& sum = e->human ? out[index].human : out[index].agents;
    sum = sat_add(sum, e->tokens.counted());
  }
  return out;
}

std::int64_t unused_area(std::span<const Step> s, Window w, std::int64_t limit, minutes step) {
  if (limit <= 0) return 0;
  const double offered = static_cast<double>(limit) * static_cast<double>(seconds(step).count()) /
                         static_cast<double>(window_length(w).count());
  double unused = 0;
  for (const auto& one : s) {
    unused += std::max(0.0, offered - static_cast<double>(sat_add(one.human, one.agents)));
  }
  return sat_round(unused);
}

// ---------------------------------------------------------------- ledger

Ledger::Ledger(config::Accountant config) : config_(std::move(config)) {
  if (config_.accounts.empty()) config_.accounts.emplace_back();
}

std::string Ledger::account_of(std::string_view account) const {
  const auto slash = account.find('/');
  const std::string_view name =
      slash == std::string_view::npos ? account : account.substr(slash + 1);
  for (const auto& a : config_.accounts) {
    if (a.name == name &&
        (slash == std::string_view::npos || a.provider == account.substr(0, slash))) {
      return a.name;
    }
  }
  return config_.accounts.front().name;
}

void Ledger::refused(std::string_view account, Time until) {
  // An account nobody configured is not the first one's to carry (as its
  // usage would be): a refusal names the account it happened on.
  if (!account.empty() && account_of(account) != account &&
      !std::any_of(config_.accounts.begin(), config_.accounts.end(),
                   [&](const config::Account& a) { return a.id() == account; })) {
    return;
  }
  auto [it, fresh] = limited_.try_emplace(account_of(account), until);
  if (!fresh) it->second = std::max(it->second, until);
}

std::optional<Time> Ledger::limited_until(std::string_view account, Time now) const {
  auto it = limited_.find(account_of(account));
  if (it == limited_.end() || it->second <= now) return std::nullopt;
  return it->second;
}

int Ledger::running(std::string_view account) const {
  const std::string name = account_of(account);
  return static_cast<int>(std::count_if(outstanding_.begin(), outstanding_.end(),
                                        [&](const auto& kv) { return kv.second.account == name; }));
}

double Ledger::agents_cost(std::string_view account, Time from, Time to) const {
  double sum = 0;
  for (const Entry* e : entries(account_of(account))) {
    if (!e->human && e->at >= from && e->at < to) sum += e->cost_usd;
  }
  return sum;
}

bool Ledger::add(Entry e) {
  if (e.id.empty() || !ids_.insert(e.id).second) return false;
  if (!e.human && !e.session_id.empty() && agency_sessions_.insert(e.session_id).second) {
    ++version_;  // lines of that session read earlier are no longer the person's
  }
  if (!e.human && !e.task_id.empty()) {
    auto& spent = task_tokens_[e.task_id];
    spent = sat_add(spent, e.tokens.counted());
  }
  e.account = account_of(e.account);
  e.opus = counts_toward(Window::seven_day_opus, e.model);
  e.sonnet = counts_toward(Window::seven_day_sonnet, e.model);
  auto& entries = by_account_[e.account];
  if (!entries.list.empty() && e.at < entries.list.back().at) {
    entries.sorted = false;
    ++version_;
  }
  entries.list.push_back(std::move(e));
  return true;
}

const std::vector<Block>& Ledger::blocks_of(const std::string& account,
                                            const std::vector<const Entry*>& list) const {
  auto& cache = block_cache_[account];
  if (cache.version != version_ || cache.seen > list.size()) {
    cache = BlockCache{version_, 0, {}};
  }
  extend_blocks(cache.blocks, std::span<const Entry* const>(list).subspan(cache.seen));
  cache.seen = list.size();
  return cache.blocks;
}

const Ledger::Sums& Ledger::sums_of(const std::string& account,
                                    const std::vector<const Entry*>& list) const {
  auto& sums = sums_[account];
  if (sums.version != version_ || sums.seen > list.size() || sums.prefix[0].empty()) {
    sums = Sums{version_, 0, {}};
    for (auto& p : sums.prefix) p.assign(1, 0);
  }
  for (std::size_t i = sums.seen; i < list.size(); ++i) {
    const Entry& e = *list[i];
    const std::int64_t n = e.tokens.counted();
    const bool counts[3] = {true, e.opus, e.sonnet};
    for (std::size_t k = 0; k < 3; ++k) {
      auto& human = sums.prefix[k];
      auto& agents = sums.prefix[3 + k];
      human.push_back(sat_add(human.back(), e.human && counts[k] ? n : 0));
      agents.push_back(sat_add(agents.back(), !e.human && counts[k] ? n : 0));
    }
  }
  sums.seen = list.size();
  return sums;
}

std::int64_t Ledger::peak_hour_of(const std::string& account, const std::vector<const Entry*>& list,
                                  Time now) const {
  if (peak_cache_.account == account && peak_cache_.now == now && peak_cache_.version == version_ &&
      peak_cache_.size == list.size()) {
    return peak_cache_.value;
  }
  std::int64_t peak = 0;
  std::int64_t hour_sum = 0;
  Time hour_start{};
  auto from = std::lower_bound(list.begin(), list.end(), now - hours(24 * 7),
                               [](const Entry* e, Time t) { return e->at < t; });
  for (auto it = from; it != list.end() && (*it)->at <= now; ++it) {
    if (!(*it)->human) continue;
    const Time h = floor_hour((*it)->at);
    if (h != hour_start) {
      hour_start = h;
      hour_sum = 0;
    }
    hour_sum = sat_add(hour_sum, (*it)->tokens.counted());
    peak = std::max(peak, hour_sum);
  }
  peak_cache_ = {account, now, version_, list.size(), peak};
  return peak;
}

bool Ledger::agency_session(std::string_view session_id) const {
  return !session_id.empty() && agency_sessions_.find(session_id) != agency_sessions_.end();
}

std::vector<const Entry*> Ledger::entries(std::string_view account) const {
  std::vector<const Entry*> out;
  auto it = by_account_.find(account_of(account));
  if (it == by_account_.end()) return out;
  auto& entries = it->second;
  if (!entries.sorted) {
    std::stable_sort(entries.list.begin(), entries.list.end(),
                     [](const Entry& a, const Entry& b) { return a.at < b.at; });
    entries.sorted = true;
  }
  out.reserve(entries.list.size());
  for (const auto& e : entries.list) {
    if (e.human && agency_session(e.session_id)) continue;
    out.push_back(&e);
  }
  return out;
}

std::vector<const Entry*> Ledger::all() const {
  std::vector<const Entry*> out;
  for (const auto& a : config_.accounts) {
    auto one = entries(a.name);
    out.insert(out.end(), one.begin(), one.end());
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Entry* a, const Entry* b) { return a->at < b->at; });
  return out;
}

std::int64_t Ledger::task_tokens(std::string_view task_id) const {
  auto it = task_tokens_.find(task_id);
  return it == task_tokens_.end() ? 0 : it->second;
}

void Ledger::observe(const Reading& r) {
  const std::string account = account_of(r.account);
  auto& c = calibrations_[{account, r.window}];
  if (r.resets_at) c.resets_at = r.resets_at;
  if (r.utilization < 0) return;
  auto state = window(account, r.window, r.at);
  if (auto limit = calibrate(state.used(), r.utilization)) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", r.utilization);
    c.limit = *limit;
    c.source = "calibrated: " + thousands(state.used()) + " tokens were " + pct + " at " +
               rfc3339(r.at) + (r.source.empty() ? "" : " (" + r.source + ")");
  }
}

WindowState Ledger::window(std::string_view account_name, Window w, Time now) const {
  return window_of(account_name, w, now, entries(account_name));
}

namespace {

// Whether the entry counts toward `w` (its model's flags, set by add).
bool counted_in(const Entry& e, Window w) {
  return !(w == Window::seven_day_opus && !e.opus) && !(w == Window::seven_day_sonnet && !e.sonnet);
}

}  // namespace

WindowState Ledger::window_of(std::string_view account_name, Window w, Time now,
                              const std::vector<const Entry*>& list) const {
  WindowState s;
  s.account = account_of(account_name);
  s.window = w;
  const config::Account* account = &config_.accounts.front();
  for (const auto& a : config_.accounts) {
    if (a.name == s.account) account = &a;
  }
  auto cal = calibrations_.find({s.account, w});
  std::optional<Time> observed_reset;
  if (cal != calibrations_.end()) observed_reset = cal->second.resets_at;

  // The limit: calibrated, else configured, else the plan's.
  Limits configured;
  configured.five_hour = account->five_hour;
  configured.seven_day = account->seven_day;
  configured.seven_day_opus = account->seven_day_opus;
  configured.seven_day_sonnet = account->seven_day_sonnet;
  if (cal != calibrations_.end() && cal->second.limit) {
    s.limit = *cal->second.limit;
    s.limit_source = cal->second.source;
  } else if (configured.of(w) > 0) {
    s.limit = configured.of(w);
    s.limit_source = "config";
  } else if (!account->plan.empty()) {
    if (auto p = plan_limits(account->provider, account->plan, "plan"); p && p->of(w) > 0) {
      s.limit = p->of(w);
      s.limit_source = "plan " + account->plan + " (until calibrated)";
    }
  }
  if (s.limit == 0) s.limit_source = "unknown";

  if (w == Window::five_hour) {
    if (observed_reset && *observed_reset > now && *observed_reset - kFiveHours <= now) {
      s.span = {*observed_reset - kFiveHours, *observed_reset};
      s.open = true;
    } else {
      const auto& blocks = blocks_of(s.account, list);
      s.open = false;
      s.span = {floor_hour(now), floor_hour(now) + kFiveHours};
      if (!blocks.empty()) {
        const Block& b = blocks.back();
        if (now < b.end && now - b.last < kFiveHours && b.start <= now) {
          s.span = {b.start, b.end};
          s.open = true;
        }
      }
      if (!s.open) {
        s.leased = leased(s.account, w);
        return s;
      }
    }
  } else {
    WeeklyReset reset{account->reset_weekday, account->reset_hour, account->reset_minute,
                      config_.time_zone};
    if (!observed_reset && w != Window::seven_day) {
      // Model windows reset with the weekly one unless the plan says otherwise.
      auto weekly = calibrations_.find({s.account, Window::seven_day});
      if (weekly != calibrations_.end()) observed_reset = weekly->second.resets_at;
    }
    s.span = weekly_span(now, reset, observed_reset);
  }
  // Sums over spans of the entries up to now, from the running sums.
  const auto& sums = sums_of(s.account, list);
  const std::size_t k = w == Window::seven_day_opus ? 1 : w == Window::seven_day_sonnet ? 2 : 0;
  const auto& human = sums.prefix[k];
  const auto& agents = sums.prefix[3 + k];
  auto index = [&](Time t) {
    return static_cast<std::size_t>(
        std::lower_bound(list.begin(), list.end(), t,
                         [](const Entry* e, Time at) { return e->at < at; }) -
        list.begin());
  };
  const auto until = static_cast<std::size_t>(
      std::upper_bound(list.begin(), list.end(), now,
                       [](Time at, const Entry* e) { return at < e->at; }) -
      list.begin());
  auto between = [&](const std::vector<std::int64_t>& prefix, Time from, Time to) {
    const std::size_t a = std::min(index(from), until);
    const std::size_t b = std::min(index(to), until);
    return b > a ? prefix[b] - prefix[a] : std::int64_t{0};
  };
  s.human_peak_hour = peak_hour_of(s.account, list, now);
  s.human = between(human, s.span.start, s.span.end);
  s.agents = between(agents, s.span.start, s.span.end);
  const std::size_t span_first = index(s.span.start);
  for (auto i = std::min(index(s.span.end), until); i > span_first; --i) {
    const Entry& e = *list[i - 1];
    if (e.human && counted_in(e, w)) {
      s.last_human = e.at;
      break;
    }
  }
  // The person's likely use before the reset: the same hours a week before,
  // the busiest of the same hours (at most 24) on the past seven days, and
  // for the time left their rate of the last day and their rate so far in
  // the span (over at least a day).
  {
    const Time end = std::max(s.span.end, now);
    const double left = duration<double>(end - now).count();
    const double elapsed = std::max(duration<double>(now - s.span.start).count(), 86400.0);
    const auto last_day = static_cast<double>(between(human, now - hours(24), now + hours(1)));
    s.human_expected = std::max({between(human, now - hours(24 * 7), end - hours(24 * 7)),
                                 sat_round(last_day * left / 86400.0),
                                 sat_round(static_cast<double>(s.human) * left / elapsed)});
    // The next day at most: the busiest of the same clock hours on each of
    // the past seven days (an afternoon is as heavy as the heaviest lately).
    const Time day_end = std::min(end, now + hours(24));
    for (int d = 1; d <= 7; ++d) {
      s.human_expected =
          std::max(s.human_expected, between(human, now - hours(24 * d), day_end - hours(24 * d)));
    }
    s.at = now;
  }
  s.leased = leased(s.account, w);
  return s;
}

std::vector<WindowState> Ledger::windows(std::string_view account, Time now) const {
  std::vector<WindowState> out;
  const auto list = entries(account);
  for (auto w : kWindows) out.push_back(window_of(account, w, now, list));
  return out;
}

void Ledger::reject(Rejected r) {
  ++rejected_count_;
  rejected_.push_back(std::move(r));
  if (rejected_.size() > kRejectedKept) rejected_.pop_front();
}

void Ledger::lease(std::string id, Outstanding o) {
  o.account = account_of(o.account);
  outstanding_[std::move(id)] = std::move(o);
}

void Ledger::settle(std::string_view id) {
  if (auto it = outstanding_.find(id); it != outstanding_.end()) outstanding_.erase(it);
}

std::size_t Ledger::release(std::string_view agent_id) {
  if (agent_id.empty()) return 0;
  return std::erase_if(outstanding_,
                       [&](const auto& kv) { return kv.second.agent_id == agent_id; });
}

std::set<std::string> Ledger::holders() const {
  std::set<std::string> out;
  for (const auto& [id, o] : outstanding_) {
    if (!o.agent_id.empty()) out.insert(o.agent_id);
  }
  return out;
}

void Ledger::expire(Time now) {
  std::erase_if(outstanding_, [&](const auto& kv) { return kv.second.expires <= now; });
}

std::int64_t Ledger::leased(std::string_view account, Window w) const {
  std::int64_t sum = 0;
  for (const auto& [id, o] : outstanding_) {
    if (o.account == account && counts_toward(w, o.model)) sum = sat_add(sum, o.tokens);
  }
  return sum;
}

std::int64_t Ledger::leased_for_task(std::string_view task_id) const {
  std::int64_t sum = 0;
  for (const auto& [id, o] : outstanding_) {
    if (!task_id.empty() && o.task_id == task_id) sum = sat_add(sum, o.tokens);
  }
  return sum;
}

// ---------------------------------------------------------------- leases

std::string_view priority_name(Priority p) {
  switch (p) {
    case Priority::human:
      return "human";
    case Priority::interactive:
      return "interactive";
    case Priority::scheduled:
      return "scheduled";
    case Priority::batch:
      return "batch";
  }
  return "scheduled";
}

std::optional<Priority> priority_from_name(std::string_view name) {
  if (name.empty()) return Priority::scheduled;
  for (auto p : {Priority::human, Priority::interactive, Priority::scheduled, Priority::batch}) {
    if (priority_name(p) == name) return p;
  }
  return std::nullopt;
}

bool is_night(const config::Accountant& policy, Time t) {
  auto local = to_local(t, policy.time_zone);
  const int m = local.hour * 60 + local.minute;
  const int from = policy.night_from_minute;
  const int to = policy.night_to_minute;
  if (from == to) return false;
  return from < to ? (m >= from && m < to) : (m >= from || m < to);
}

namespace {

// The night intervals overlapping [start, end), from the zone's wall clock.
// Cached: the same window is asked about on every lease, and each local
// time conversion in a named zone re-reads the zone.
std::vector<Span> nights(const config::Accountant& policy, Span span) {
  static std::mutex mu;
  static std::map<std::tuple<std::int64_t, std::int64_t, int, int, std::string>, std::vector<Span>>
      cache;
  auto key =
      std::make_tuple(span.start.time_since_epoch().count(), span.end.time_since_epoch().count(),
                      policy.night_from_minute, policy.night_to_minute, policy.time_zone);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  std::vector<Span> out;
  if (policy.night_from_minute != policy.night_to_minute) {
    auto local = to_local(span.start - hours(24), policy.time_zone);
    const int days = static_cast<int>((span.end - span.start) / hours(24)) + 3;
    const bool wraps = policy.night_from_minute > policy.night_to_minute;
    for (int d = 0; d <= days; ++d) {
      auto from = from_local(local.year, local.month, local.day + d, policy.night_from_minute / 60,
                             policy.night_from_minute % 60, policy.time_zone);
      auto to =
          from_local(local.year, local.month, local.day + d + (wraps ? 1 : 0),
                     policy.night_to_minute / 60, policy.night_to_minute % 60, policy.time_zone);
      if (!from || !to) continue;
      Span n{std::max(*from, span.start), std::min(*to, span.end)};
      if (n.start < n.end) out.push_back(n);
    }
  }
  std::lock_guard lock(mu);
  if (cache.size() > 256) cache.clear();
  cache.emplace(key, out);
  return out;
}

// Weighted time from span.start to t: night counts night_weight times.
double weighted(const config::Accountant& policy, Span span, const std::vector<Span>& night,
                Time t) {
  t = std::clamp(t, span.start, span.end);
  double total = std::chrono::duration<double>(t - span.start).count();
  for (const auto& n : night) {
    if (n.start >= t) break;
    auto overlap = std::min(n.end, t) - n.start;
    total += (policy.night_weight - 1) * std::chrono::duration<double>(overlap).count();
  }
  return total;
}

double reserve_share(const config::Accountant& policy, const WindowState& w, Priority p, Time now) {
  if (p == Priority::human) return 0;
  if (w.limit <= 0) return policy.reserve;
  // A person whose own use before the reset is likely to pass the reserve
  // keeps that much instead, half again over, so agents never take it. Asked
  // about a later moment, the time left is shorter and so is their use.
  double expected = 1.5 * static_cast<double>(w.human_expected) / static_cast<double>(w.limit);
  if (now > w.at && w.span.end > w.at) {
    expected *= std::max(0.0, duration<double>(w.span.end - now) / (w.span.end - w.at));
  }
  expected = std::min(1.0, expected);
  double share = std::max(policy.reserve, expected);
  if (p != Priority::batch) return share;
  const double hours_left = std::max(0.0, duration<double>(w.span.end - now).count() / 3600.0);
  // What the person could still use before the reset, at half again their
  // busiest hour of the past week, is all the reserve needs to hold; the
  // rest would expire unused. Without any history nothing is assumed.
  // The horizon is at least human_idle_minutes: a person at work in the
  // last minutes before the reset still has their next request covered.
  if (w.human_peak_hour > 0) {
    const double horizon = std::max(hours_left, policy.human_idle_minutes / 60.0);
    const double need = 1.5 * static_cast<double>(w.human_peak_hour) * horizon;
    share = std::min(share, need / static_cast<double>(w.limit));
  }
  auto release = w.window == Window::five_hour ? minutes(policy.release_five_hour_minutes)
                                               : minutes(policy.release_seven_day_minutes);
  if (release.count() <= 0) return share;
  if (w.last_human && now - *w.last_human < minutes(policy.human_idle_minutes)) {
    return share;  // someone is at work: the reserve stays theirs
  }
  // The release gives away what would expire, but not the person's likely
  // use before the reset: a lunch break is not the end of a working day.
  const double left =
      duration<double>(w.span.end - now).count() / duration<double>(seconds(release)).count();
  return std::min(share, std::max(policy.reserve * std::clamp(left, 0.0, 1.0), expected));
}

// Tokens an ask of priority p may bring the window's use up to at `t`.
double allowed(const config::Accountant& policy, const WindowState& w, Priority p, Time t) {
  const double limit = static_cast<double>(w.limit);
  const double ceiling = limit * (1 - reserve_share(policy, w, p, t));
  if (p == Priority::human || p == Priority::interactive) return ceiling;
  // The pace runs over the whole limit: the reserve caps it but is not held
  // back from the pace, so spend is even across the window instead of
  // piling up in the last hours when the reserve is released.
  return std::min(ceiling, limit * pace_share(policy, w, p, t) + policy.burst * limit);
}

}  // namespace

double pace_share(const config::Accountant& policy, const WindowState& w, Priority p, Time now) {
  const double length = std::chrono::duration<double>(w.span.end - w.span.start).count();
  if (length <= 0) return 1;
  if (p != Priority::batch || policy.night_weight <= 1) {
    return std::clamp(std::chrono::duration<double>(now - w.span.start).count() / length, 0.0, 1.0);
  }
  auto night = nights(policy, w.span);
  return std::clamp(
      weighted(policy, w.span, night, now) / weighted(policy, w.span, night, w.span.end), 0.0, 1.0);
}

Verdict decide(const config::Accountant& policy, std::span<const WindowState> windows,
               const Ask& ask, Time now) {
  Verdict v;
  v.granted = true;
  v.allowance = -1;
  std::string tightest;
  for (const auto& w : windows) {
    if (w.limit <= 0 || !counts_toward(w.window, ask.model)) continue;
    const double used = static_cast<double>(sat_add(w.used(), w.leased));
    // An estimate larger than a whole window could never pass.
    const double need = used + static_cast<double>(std::min(ask.estimate, w.limit));
    const std::string name(window_name(w.window));
    const std::string usage = thousands(sat_round(used)) + " of " + thousands(w.limit) +
                              " used, resets " + rfc3339(w.span.end);
    double may = allowed(policy, w, ask.priority, now);
    if (need <= may) {
      auto room = sat_round(std::floor(may - used));
      if (v.allowance < 0 || room < v.allowance) {
        v.allowance = room;
        tightest = name;
      }
      continue;
    }
    // Deferred: say which rule, and when the same ask passes.
    std::string rule;
    if (need > static_cast<double>(w.limit)) {
      rule = name + " limit reached (" + usage + ")";
    } else if (need >
               static_cast<double>(w.limit) * (1 - reserve_share(policy, w, ask.priority, now))) {
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.0f%%", reserve_share(policy, w, ask.priority, now) * 100);
      rule = "the human's reserve: the last " + std::string(pct) + " of " + name +
             " is not leased to " + std::string(priority_name(ask.priority)) + " work (" + usage +
             ")";
    } else {
      rule = "pacing: " + name + " is spent evenly toward its reset" +
             std::string(ask.priority == Priority::batch ? ", nights weighted" : "") + " (" +
             usage + ")";
    }
    // allowed() only grows with time within a window: search the first
    // minute it admits the ask, else the reset.
    Time retry = w.span.end;
    Time lo = now;
    Time hi = w.span.end;
    if (allowed(policy, w, ask.priority, hi - minutes(1)) >= need) {
      while (hi - lo > minutes(1)) {
        Time mid = lo + (hi - lo) / 2;
        if (allowed(policy, w, ask.priority, mid) >= need) {
          hi = mid;
        } else {
          lo = mid;
        }
      }
      retry = hi;
    }
    if (v.granted || retry > *v.retry_at) {
      v.retry_at = retry;
      v.reason = rule;
    }
    v.granted = false;
  }
  if (v.granted) {
    if (v.allowance < 0) {
      v.allowance = ask.estimate;
      v.reason = "granted: no limit known for this account";
    } else {
      v.reason = "granted " + std::string(priority_name(ask.priority)) +
                 " work: " + thousands(v.allowance) + " tokens left under " + tightest + "'s " +
                 (ask.priority == Priority::human         ? "limit"
                  : ask.priority == Priority::interactive ? "reserve"
                                                          : "pace");
    }
  } else {
    v.allowance = 0;
  }
  return v;
}

}  // namespace agency::accounting
