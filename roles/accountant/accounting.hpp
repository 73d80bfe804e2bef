// The accountant's arithmetic, with no bus in it: the ledger of usage, the
// windows a subscription's limits apply to, calibration of those limits
// from official utilisation percentages, and the lease rules (the human's
// reserve, pacing toward the reset, releasing capacity that would expire,
// night-weighted batch work). The accountant role (accountant.hpp), `agency
// usage` and `agency sim` all decide with these functions, so what the
// simulation measures is what the fleet does.
//
// Tokens: a window counts input + output + cache-creation tokens ("counted
// tokens"); cache reads are kept in the ledger and the reports but do not
// count toward a limit (docs/ACCOUNTING.md says why).
//
// Sums: every sum of tokens or dollars goes through sat_add, so a flood of
// samples, or a figure at the top of its range (ledger_io.hpp says which
// figures the ledger takes), pins a total at its largest value instead of
// wrapping it negative.
//
// Thread: none of this is shared; a Ledger belongs to one thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bus/bounds.hpp"
#include "bus/result.hpp"
#include "roles/accountant/settings.hpp"
#include "runtime/config.hpp"

namespace agency::accounting {

using Clock = std::chrono::system_clock;
using Time = Clock::time_point;

using bounds::sat_add;
// A token figure computed in doubles (a projection, a calibrated limit),
// rounded and held inside the int64 range; NaN is 0.
std::int64_t sat_round(double v);

// An RFC 3339 UTC time, to the second ("2026-11-22T15:00:00Z").
std::string rfc3339(Time t);
// A token count with thousands separators ("1,234,567").
std::string thousands(std::int64_t n);
// A token count in a few characters ("950", "1.2k", "45k", "3.4M", "12M").
std::string tokens_short(double n);
// The same for a count of tokens (exact up to 2^53, far beyond any window).
std::string tokens_short(std::int64_t n);

// ---------------------------------------------------------------- windows

enum class Window { five_hour, seven_day, seven_day_opus, seven_day_sonnet };
inline constexpr Window kWindows[] = {Window::five_hour, Window::seven_day, Window::seven_day_opus,
                                      Window::seven_day_sonnet};

// "five_hour", "seven_day", "seven_day_opus", "seven_day_sonnet": the names
// Claude Code's statusline and the usage endpoint use.
std::string_view window_name(Window w);
std::optional<Window> window_from_name(std::string_view name);
std::chrono::seconds window_length(Window w);  // 5 h or 7 days

// Whether usage of `model` counts toward `w`: every model counts toward
// five_hour and seven_day; seven_day_opus only models naming "opus",
// seven_day_sonnet only models naming "sonnet".
bool counts_toward(Window w, std::string_view model);

struct TokenCounts {
  std::int64_t input = 0;
  std::int64_t output = 0;
  std::int64_t cache_creation = 0;
  std::int64_t cache_read = 0;
  [[nodiscard]] std::int64_t counted() const {
    return sat_add(sat_add(input, output), cache_creation);
  }
  [[nodiscard]] std::int64_t total() const { return sat_add(counted(), cache_read); }
  TokenCounts& operator+=(const TokenCounts& o);
};

// One line of the ledger: one engine call or one transcript message.
struct Entry {
  std::string id;  // UsageSample.id; the ledger keeps one entry per id
  Time at;
  std::string account;
  std::string model;
  std::string engine;
  std::string role;      // empty for the human
  std::string agent_id;  // empty for the human
  std::string task_id;
  std::string project;
  std::string session_id;
  bool human = false;      // read from a transcript agency did not start
  bool api_error = false;  // UsageSample.api_error: a refused request
  TokenCounts tokens;
  double cost_usd = 0;
  // What an agent's call showed of its session (usage.proto; the auditor's
  // per-session figures): context after it, tools refused, retries, and
  // the error of a call that gave no answer.
  std::int64_t context_tokens = 0;
  int denials = 0;
  int retries = 0;
  std::string error;
  // Set by Ledger::add from the model: whether it counts toward the model
  // windows (asked for every entry of every window on every lease).
  bool opus = false;
  bool sonnet = false;
};

// A 5-hour block as ccusage 17 forms them: a block starts at the UTC hour
// of its first entry and ends 5 hours later; an entry at or after the end,
// or 5 hours or more after the previous entry, starts a new block.
struct Block {
  Time start;
  Time end;                // start + 5 h
  Time last;               // the last entry in it
  std::int64_t human = 0;  // counted tokens
  std::int64_t agents = 0;
};
// `entries` in time order (the ledger keeps them so).
std::vector<Block> five_hour_blocks(std::span<const Entry* const> entries);

// The day and time a weekly window resets, in a zone ("thu 18:00").
struct WeeklyReset {
  int weekday = 1;  // 0 = Sunday
  int hour = 0;
  int minute = 0;
  std::string time_zone;
};

// A window instance: [start, end).
struct Span {
  Time start;
  Time end;
};

// The weekly window around `now`. A reset time seen from the plan itself
// (`observed`, from a statusline, the usage endpoint or headers) wins over
// the configured one; a past one is moved forward by whole weeks.
Span weekly_span(Time now, const WeeklyReset& reset, std::optional<Time> observed);

// ---------------------------------------------------------------- limits

// Token limits per window; 0: none known (the window is not enforced).
struct Limits {
  std::int64_t five_hour = 0;
  std::int64_t seven_day = 0;
  std::int64_t seven_day_opus = 0;
  std::int64_t seven_day_sonnet = 0;
  [[nodiscard]] std::int64_t of(Window w) const;
  void set(Window w, std::int64_t v);
};

// Rough starting points per plan (pro, max5, max20), in counted tokens,
// until a utilisation percentage calibrates them. errc::config for an
// unknown plan naming `key`.
Result<Limits> plan_limits(std::string_view provider, std::string_view plan, std::string_view key);

// An official utilisation figure: statusline rate_limits, the usage
// endpoint, rate-limit headers (LimitReading on agency.usage.limits.*).
struct Reading {
  std::string account;
  Window window = Window::five_hour;
  double utilization = -1;  // 0-100; -1 when not given
  std::optional<Time> resets_at;
  Time at;
  std::string source;  // statusline, endpoint, headers, rate_limit_event, error
};

// A limit calibrated from a reading: capacity = counted tokens in the
// window when it was seen / utilisation. Nullopt when the reading cannot
// calibrate (no percentage, below 1%, or nothing counted in the window).
std::optional<std::int64_t> calibrate(std::int64_t counted_in_window, double utilization);

// ---------------------------------------------------------------- unused area

// Counted tokens used per step, human and agents apart.
struct Step {
  Time at;  // the step's start
  std::int64_t human = 0;
  std::int64_t agents = 0;
};
// Steps of `step` from `from` (inclusive) to `to` (exclusive) of the
// entries (time order) that count toward `w`.
std::vector<Step> steps(std::span<const Entry* const> entries, Window w, Time from, Time to,
                        std::chrono::minutes step);

// The unused area: a window's limit spread evenly over its length offers
// limit x step / length per step; each step adds what it offered beyond the
// tokens used in it. Using more in one step does not make up for a step
// left unused: that use is borrowed from later in the window, where the
// limit then stops work (docs/ACCOUNTING.md). Tokens.
std::int64_t unused_area(std::span<const Step> steps, Window w, std::int64_t limit,
                         std::chrono::minutes step);

// ---------------------------------------------------------------- ledger

// The state of one window of one account at one moment.
struct WindowState {
  std::string account;
  Window window = Window::five_hour;
  Span span;
  bool open = true;  // five_hour: a block is running (else span is the next one's)
  std::int64_t limit = 0;
  std::string limit_source;  // "config", "plan max5", "calibrated: 42% at 2026-...Z"
  std::int64_t human = 0;    // counted tokens in the span
  std::int64_t agents = 0;
  std::int64_t leased = 0;           // granted, not yet settled
  std::optional<Time> last_human;    // the person's latest use in the span
  std::int64_t human_peak_hour = 0;  // the person's busiest clock hour of the past week
  // The person's likely use before the reset, counting toward this window:
  // the largest of what they used over the same hours a week earlier, the
  // busiest of the same clock hours (at most the next 24) on each of the
  // past seven days, and for the time left their rate of the last 24 hours
  // and their rate so far in the span (over at least a day).
  std::int64_t human_expected = 0;
  Time at{};  // the moment the state was read (human_expected shrinks after it)
  [[nodiscard]] std::int64_t used() const { return sat_add(human, agents); }
};

// Thread: one at a time, readers too (a read may sort what was added, and
// keeps the block cache).
class Ledger {
 public:
  // Accounts as configured (accountant.accounts; none: one named
  // default); usage naming no account, or one not configured, counts
  // against the first.
  explicit Ledger(config::Accountant config);

  // False for an id already in the ledger (a replay or a re-read).
  bool add(Entry e);
  // A reading: calibrates the window's limit and its reset time.
  void observe(const Reading& r);
  // An account refused a call until `until` (a rate limit an agent met:
  // its limit reading with status rejected, or a lease naming it limited).
  // The latest reset said wins.
  void refused(std::string_view account, Time until);
  // When the account takes calls again, if a refusal is still ahead of `now`.
  [[nodiscard]] std::optional<Time> limited_until(std::string_view account, Time now) const;

  // A session agency started: transcript lines of it are the fleet's, not
  // the human's, and are counted once (as the engine reported them).
  [[nodiscard]] bool agency_session(std::string_view session_id) const;

  [[nodiscard]] const config::Accountant& config() const { return config_; }
  [[nodiscard]] const std::vector<config::Account>& accounts() const { return config_.accounts; }
  // The account name usage of `account` ("provider/name" or a bare name)
  // counts against.
  [[nodiscard]] std::string account_of(std::string_view account) const;

  [[nodiscard]] WindowState window(std::string_view account, Window w, Time now) const;
  [[nodiscard]] std::vector<WindowState> windows(std::string_view account, Time now) const;

  // Entries of an account in time order, human lines of agency sessions
  // left out.
  [[nodiscard]] std::vector<const Entry*> entries(std::string_view account) const;
  // Every entry in time order, same rule.
  [[nodiscard]] std::vector<const Entry*> all() const;
  // Counted tokens of a task so far.
  [[nodiscard]] std::int64_t task_tokens(std::string_view task_id) const;
  [[nodiscard]] std::size_t size() const { return ids_.size(); }

  // A message of the usage stream that did not go in (ledger_io.hpp,
  // read_usage): counted, and the latest few kept for the report, so a
  // flood of bad ones costs no memory.
  struct Rejected {
    std::uint64_t sequence = 0;  // stream sequence; 0 when not known
    std::string subject;
    std::string reason;
  };
  static constexpr std::size_t kRejectedKept = 20;
  void reject(Rejected r);
  [[nodiscard]] std::uint64_t rejected_count() const { return rejected_count_; }
  [[nodiscard]] const std::deque<Rejected>& rejected() const { return rejected_; }

  // Leases granted and not settled, by lease id.
  struct Outstanding {
    std::string account;
    std::string model;
    std::string task_id;
    std::int64_t tokens = 0;
    Time expires;
    std::string agent_id;  // who holds it
  };
  void lease(std::string id, Outstanding o);
  void settle(std::string_view id);
  void expire(Time now);
  // An agent's leases end with it: a new ask of its own (an agent works one
  // call at a time, so what it still holds was never settled: it died
  // mid-call) or its heartbeat gone. Frees what they held, the concurrency
  // slot included, before lease_ttl_seconds would. The number dropped.
  std::size_t release(std::string_view agent_id);
  // The agents holding leases now.
  [[nodiscard]] std::set<std::string> holders() const;
  [[nodiscard]] std::int64_t leased(std::string_view account, Window w) const;
  [[nodiscard]] std::int64_t leased_for_task(std::string_view task_id) const;
  // Calls running on an account now: its granted leases not yet settled.
  [[nodiscard]] int running(std::string_view account) const;
  // Dollars the fleet's calls on an account cost in [from, to).
  [[nodiscard]] double agents_cost(std::string_view account, Time from, Time to) const;

 private:
  WindowState window_of(std::string_view account, Window w, Time now,
                        const std::vector<const Entry*>& list) const;
  // Five-hour blocks of an account, extended as entries are appended
  // (recomputed when one lands out of order or a session turns out to be
  // agency's): every lease looks at them.
  const std::vector<Block>& blocks_of(const std::string& account,
                                      const std::vector<const Entry*>& list) const;

  config::Accountant config_;
  std::uint64_t version_ = 0;  // bumped when the entry lists change other than by appending
  struct BlockCache {
    std::uint64_t version = 0;
    std::size_t seen = 0;
    std::vector<Block> blocks;
  };
  mutable std::map<std::string, BlockCache, std::less<>> block_cache_;
  // Counted tokens of an account's entries summed from the first
  // (prefix[k][i]: the first i entries): the person's for every model (k 0),
  // Opus (1) and Sonnet (2), the agents' likewise (3, 4, 5). Extended and
  // recomputed as the blocks are: every lease reads many spans of them.
  struct Sums {
    std::uint64_t version = 0;
    std::size_t seen = 0;
    std::array<std::vector<std::int64_t>, 6> prefix;
  };
  mutable std::map<std::string, Sums, std::less<>> sums_;
  const Sums& sums_of(const std::string& account, const std::vector<const Entry*>& list) const;
  // The person's busiest clock hour of the week before `now`, kept for the
  // next window asked about at the same moment.
  struct PeakCache {
    std::string account;
    Time now{};
    std::uint64_t version = 0;
    std::size_t size = 0;
    std::int64_t value = 0;
  };
  mutable PeakCache peak_cache_;
  std::int64_t peak_hour_of(const std::string& account, const std::vector<const Entry*>& list,
                            Time now) const;
  std::set<std::string, std::less<>> ids_;
  std::set<std::string, std::less<>> agency_sessions_;
  // By account, in the order added; put in time order (stably: entries of
  // the same time stay in the order they came) when next read. Transcript
  // files come one after another, so many entries arrive out of order: put
  // in place one by one, each would move every later one.
  struct Entries {
    std::vector<Entry> list;
    bool sorted = true;
  };
  mutable std::map<std::string, Entries, std::less<>> by_account_;
  std::map<std::string, std::int64_t, std::less<>> task_tokens_;
  struct Calibration {
    std::optional<std::int64_t> limit;
    std::string source;
    std::optional<Time> resets_at;
  };
  std::map<std::pair<std::string, Window>, Calibration> calibrations_;
  std::map<std::string, Outstanding, std::less<>> outstanding_;
  std::map<std::string, Time, std::less<>> limited_;  // by account: refused until
  std::uint64_t rejected_count_ = 0;
  std::deque<Rejected> rejected_;  // the latest, oldest first
};

// ---------------------------------------------------------------- leases

enum class Priority { human, interactive, scheduled, batch };
std::string_view priority_name(Priority p);
// Empty reads as scheduled (brief.proto); unknown names are nullopt.
std::optional<Priority> priority_from_name(std::string_view name);

struct Ask {
  Priority priority = Priority::scheduled;
  std::int64_t estimate = 0;  // counted tokens
  std::string model;
};

struct Verdict {
  bool granted = false;
  std::int64_t allowance = 0;
  std::optional<Time> retry_at;  // when deferred: when asking again can succeed
  std::string reason;            // the rule that decided, in words
};

// The lease rules, for every window the model counts toward (windows with
// limit 0 are not enforced):
//   human        only the limit itself;
//   interactive  the reserve: agents never take the last `reserve` of a
//                window, nor the last 1.5 x human_expected when that is more;
//   scheduled    the reserve, and pacing: use by now at most the share of
//                the limit the elapsed part of the window is, plus a burst
//                of `burst` x limit (the reserve caps it);
//   batch        as scheduled, but capacity that would expire goes to batch
//                work: the reserve holds at most what the person could
//                still use before the reset at 1.5 x their busiest hour of
//                the past week (over at least human_idle_minutes), and
//                shrinks over the last release_* before the reset while
//                the person has used nothing for human_idle_minutes (never
//                below 1.5 x human_expected); the pace counts night hours
//                night_weight times (batch work prefers the night).
// A deferral's retry_at is the first minute at which the same ask passes.
Verdict decide(const config::Accountant& policy, std::span<const WindowState> windows,
               const Ask& ask, Time now);

// The share of the limit an agent may have used by `now` under the
// pacing rule above (0..1), for the report's pace column and the sim.
double pace_share(const config::Accountant& policy, const WindowState& w, Priority p, Time now);

// Whether `t` falls in the configured night (accountant.night in
// accountant.time_zone).
bool is_night(const config::Accountant& policy, Time t);

}  // namespace agency::accounting
