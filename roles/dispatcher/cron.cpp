#include "roles/dispatcher/cron.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/localtime.hpp"

namespace agency::dispatch {

namespace chr = std::chrono;

namespace {

// ---- Parsing ----------------------------------------------------------------

struct FieldSpec {
  const char* name;
  int lo;
  int hi;
};
constexpr std::array<FieldSpec, 5> kFields = {{{"minute", 0, 59},
                                               {"hour", 0, 23},
                                               {"day of month", 1, 31},
                                               {"month", 1, 12},
                                               {"day of week", 0, 7}}};
constexpr std::size_t kMonthField = 3;
constexpr std::size_t kWeekdayField = 4;

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};

constexpr std::string_view kSyntax =
    " (a schedule is five fields, minute hour day-of-month month day-of-week, such as "
    "'0 4 * * *' for 04:00 every day or '*/15 9-17 * * mon-fri', or one of @hourly @daily "
    "@weekly @monthly @yearly)";

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) ++i;
    std::size_t start = i;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) == 0) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::vector<std::string_view> items(std::string_view field) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto comma = field.find(',', start);
    out.push_back(field.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

// Digits only. Huge numbers saturate, so they read as out of range rather
// than as "not a number".
std::optional<int> digits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = std::min(n * 10 + (c - '0'), 1000000);
  }
  return n;
}

// A value of field `index`: a number, or a name in the month and weekday fields.
std::optional<int> value_of(std::string_view s, std::size_t index) {
  if (index == kMonthField || index == kWeekdayField) {
    const std::string name = lowercase(s);
    if (index == kMonthField) {
      for (std::size_t i = 0; i < kMonthNames.size(); ++i) {
        if (name == kMonthNames[i]) return static_cast<int>(i) + 1;
      }
    } else {
      for (std::size_t i = 0; i < kWeekdayNames.size(); ++i) {
        if (name == kWeekdayNames[i]) return static_cast<int>(i);
      }
    }
  }
  return digits(s);
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string range_text(int lo, int hi) { return std::to_string(lo) + "-" + std::to_string(hi); }

// Sets the values one comma-separated item allows in `bits` (indexed by
// value); returns what is wrong with it, or nothing.
std::optional<std::string> parse_item(std::string_view item, std::string_view field,
                                      std::size_t index, std::vector<bool>& bits) {
  const FieldSpec& f = kFields[index];
  const std::string where = "field " + std::to_string(index + 1) + " (" + f.name + ") " +
                            quoted(field) + (item == field ? "" : ": " + quoted(item));
  if (item.empty()) return where + " has an empty item between commas";
  // `*` in the weekday field is 0-6: 7 is Sunday again.
  const int top = index == kWeekdayField ? 6 : f.hi;

  std::string_view base = item;
  int step = 1;
  bool has_step = false;
  if (auto slash = item.find('/'); slash != std::string_view::npos) {
    const auto step_text = item.substr(slash + 1);
    auto s = digits(step_text);
    if (!s) return where + " has step " + quoted(step_text) + ", which is not a number";
    if (*s < 1 || *s > f.hi) {
      return where + " has step " + quoted(step_text) + ", out of range " + range_text(1, f.hi);
    }
    step = *s;
    has_step = true;
    base = item.substr(0, slash);
  }

  int lo = f.lo;
  int hi = top;
  if (base != "*") {
    const auto dash = base.find('-');
    const auto first_text = base.substr(0, dash);
    const auto last_text =
        dash == std::string_view::npos ? std::string_view() : base.substr(dash + 1);
    const char* names = index == kMonthField     ? " or a month name (jan-dec)"
                        : index == kWeekdayField ? " or a weekday name (sun-sat)"
                                                 : "";
    auto first = value_of(first_text, index);
    if (!first) {
      return where + (first_text == item ? "" : ": " + quoted(first_text)) + " is not a number" +
             names;
    }
    lo = *first;
    hi = *first;
    if (dash != std::string_view::npos) {
      auto last = value_of(last_text, index);
      if (!last) return where + ": " + quoted(last_text) + " is not a number" + names;
      hi = *last;
      // "fri-sun": Sunday as the end of a weekday range is the 7 after Saturday.
      if (index == kWeekdayField && hi == 0 && lo > 0) hi = 7;
    } else if (has_step) {
      hi = std::max(top, lo);  // "5/20": from 5 to the end of the field, every 20
    }
    if (lo < f.lo || lo > f.hi || hi < f.lo || hi > f.hi) {
      return where + " is out of range " + range_text(f.lo, f.hi);
    }
    if (lo > hi) {
      return where + " runs backwards: write a range from low to high (" + range_text(hi, lo) +
             "), and one that wraps around as a list (22-23,0-2)";
    }
  }
  for (int v = lo; v <= hi; v += step) bits[static_cast<std::size_t>(v)] = true;
  return std::nullopt;
}

// ---- Wall clock ---------------------------------------------------------------

// A wall-clock minute in the zone, counted as minutes from 1970-01-01 00:00
// as if the zone were UTC: wall-clock times compare and step as integers.
using LocalMinute = std::int64_t;

LocalMinute local_minute(chr::sys_days day, int minute_of_day) {
  return static_cast<LocalMinute>(day.time_since_epoch().count()) * 1440 + minute_of_day;
}

LocalMinute wall_clock(Time t, std::string_view zone) {
  const LocalTime l = to_local(t, zone);
  return local_minute(chr::sys_days(chr::year(l.year) / l.month / l.day), l.hour * 60 + l.minute);
}

std::int64_t utc_minute(Time t) { return chr::floor<chr::minutes>(t).time_since_epoch().count(); }

Time at_utc_minute(std::int64_t m) { return Time(chr::minutes(m)); }

chr::sys_days day_of(LocalMinute w) {
  return chr::sys_days(chr::floor<chr::days>(chr::minutes(w)));
}

std::optional<Time> from_wall_clock(LocalMinute w, std::string_view zone) {
  const chr::year_month_day ymd(day_of(w));
  const auto minute_of_day = static_cast<int>(w - local_minute(day_of(w), 0));
  return from_local(static_cast<int>(ymd.year()), static_cast<int>(unsigned(ymd.month())),
                    static_cast<int>(unsigned(ymd.day())), minute_of_day / 60, minute_of_day % 60,
                    zone);
}

// When wall-clock minute `w` fires, on a day with a DST change (the header's
// rules). Costs a few zone conversions; plain days use day_start instead.
std::optional<Time> fire_time(LocalMinute w, std::string_view zone) {
  const auto t = from_wall_clock(w, zone);
  if (!t) return std::nullopt;
  const LocalMinute shown = wall_clock(*t, zone);
  if (shown == w) {
    // mktime may give either occurrence of a time the clock shows twice. A
    // larger UTC offset a little earlier means the clock fell back since; the
    // first occurrence, if this is the second, is earlier by the difference.
    const std::int64_t offset = shown - utc_minute(*t);
    const Time before = *t - chr::hours(3);
    const std::int64_t offset_before = wall_clock(before, zone) - utc_minute(before);
    if (offset_before > offset) {
      const Time first = *t - chr::minutes(offset_before - offset);
      if (wall_clock(first, zone) == w) return first;
    }
    return t;
  }
  // The minute does not exist: fire at the jump, the first minute whose wall
  // clock is past it. Gaps are at most a few hours; outside what we expect,
  // keep mktime's answer.
  std::int64_t lo = utc_minute(*t) - 180;
  std::int64_t hi = utc_minute(*t) + 180;
  if (wall_clock(at_utc_minute(lo), zone) >= w || wall_clock(at_utc_minute(hi), zone) <= w) {
    return t;
  }
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (wall_clock(at_utc_minute(mid), zone) > w) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return at_utc_minute(hi);
}

// The instant of local midnight when the whole local day has one UTC offset
// (its midnight exists once and the next one is 24 hours later): then every
// wall-clock minute of it is midnight + minutes, with no zone conversion.
// Nullopt on DST days.
std::optional<Time> day_start(chr::sys_days day, std::string_view zone) {
  const LocalMinute w = local_minute(day, 0);
  const auto start = from_wall_clock(w, zone);
  if (!start || wall_clock(*start, zone) != w) return std::nullopt;              // in a gap
  if (wall_clock(*start - chr::minutes(1), zone) != w - 1) return std::nullopt;  // in a fold
  const auto end = from_wall_clock(w + 1440, zone);
  if (!end || *end - *start != chr::hours(24) || wall_clock(*end, zone) != w + 1440) {
    return std::nullopt;
  }
  return start;
}

// Calls emit(t) for each fire strictly after `after`, in order and each once,
// on local dates up to `last_day`, until emit returns false.
//
// Wall-clock minutes map to fire times in order (a gap sends several to the
// same jump, a fold is fired on its first pass), so the fires are the
// distinct times of the matching minutes after `after`'s wall clock, taken
// in wall-clock order. A minute the clock had shown by `after` has fired by
// then, so the walk starts at the next one. Months and days that do not
// match are stepped over by date arithmetic; only matching days cost zone
// conversions.
template <class Emit>
void each_fire(const Cron& cron, std::string_view zone, Time after, chr::sys_days last_day,
               Emit&& emit) {
  const LocalMinute first = wall_clock(after, zone) + 1;
  Time previous = after;
  chr::sys_days day = day_of(first);
  while (day <= last_day) {
    const chr::year_month_day ymd(day);
    const auto month = unsigned(ymd.month());
    if (!cron.months.test(month)) {
      day = chr::sys_days((ymd.year() / ymd.month() + chr::months(1)) / 1);
      continue;
    }
    const auto dom = static_cast<int>(unsigned(ymd.day()));
    const auto dow = static_cast<int>(chr::weekday(day).c_encoding());
    if (!day_matches(cron, static_cast<int>(month), dom, dow)) {
      day += chr::days(1);
      continue;
    }
    const LocalMinute day_begin = local_minute(day, 0);
    bool looked_up = false;
    std::optional<Time> midnight;
    for (auto m = std::max<LocalMinute>(0, first - day_begin); m < 1440; ++m) {
      if (!cron.hours.test(static_cast<std::size_t>(m / 60))) {
        m = (m / 60 + 1) * 60 - 1;  // the next hour
        continue;
      }
      if (!cron.minutes.test(static_cast<std::size_t>(m % 60))) continue;
      if (!looked_up) {
        midnight = day_start(day, zone);
        looked_up = true;
      }
      const auto t = midnight ? std::optional<Time>(*midnight + chr::minutes(m))
                              : fire_time(day_begin + m, zone);
      if (!t || *t <= previous) continue;  // fired already: a gap's jump, a fold's second pass
      previous = *t;
      if (!emit(*t)) return;
    }
    day += chr::days(1);
  }
}

// The last local date whose fires can be at or before `t`: a fold can put
// a wall-clock time shown before `t` past the one `t` shows, but not a day.
chr::sys_days last_day_by(Time t, std::string_view zone) {
  return day_of(wall_clock(t, zone)) + chr::days(1);
}

}  // namespace

Result<Cron> parse_cron(std::string_view expression, std::string_view key) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::config, std::string(key) + ": " + why + std::string(kSyntax));
  };
  auto fields = words(expression);
  if (fields.size() == 1 && fields[0].front() == '@') {
    const std::string macro = lowercase(fields[0]);
    std::string_view text;
    if (macro == "@hourly") text = "0 * * * *";
    if (macro == "@daily" || macro == "@midnight") text = "0 0 * * *";
    if (macro == "@weekly") text = "0 0 * * 0";
    if (macro == "@monthly") text = "0 0 1 * *";
    if (macro == "@yearly" || macro == "@annually") text = "0 0 1 1 *";
    if (text.empty()) return bad(quoted(fields[0]) + " is not a schedule macro");
    fields = words(text);
  }
  if (fields.empty()) return bad("the schedule is empty");
  if (fields.size() != 5) {
    return bad(quoted(expression) + " has " + std::to_string(fields.size()) + " field" +
               (fields.size() == 1 ? "" : "s") + ", not 5");
  }
  Cron cron;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::vector<bool> bits(static_cast<std::size_t>(kFields[i].hi) + 1, false);
    for (auto item : items(fields[i])) {
      if (auto why = parse_item(item, fields[i], i, bits)) return bad(*why);
    }
    for (std::size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (i) {
        case 0:
          cron.minutes.set(v);
          break;
        case 1:
          cron.hours.set(v);
          break;
        case 2:
          cron.days.set(v);
          break;
        case 3:
          cron.months.set(v);
          break;
        default:
          cron.weekdays.set(v % 7);  // 7 is Sunday
      }
    }
  }
  cron.any_day = fields[2].front() == '*';
  cron.any_weekday = fields[4].front() == '*';
  return cron;
}

bool day_matches(const Cron& cron, int month, int day, int weekday) {
  if (month < 1 || month > 12 || day < 1 || day > 31 || weekday < 0) return false;
  if (!cron.months.test(static_cast<std::size_t>(month))) return false;
  const bool dom = cron.days.test(static_cast<std::size_t>(day));
  const bool dow = cron.weekdays.test(static_cast<std::size_t>(weekday % 7));
  return cron.any_day || cron.any_weekday ? dom && dow : dom || dow;
}

std::optional<Time> next_fire(const Cron& cron, Time after, std::string_view time_zone) {
  // Five years and a day: every date that exists comes round in four (bar
  // 29 February across 2100).
  const chr::sys_days last_day = day_of(wall_clock(after, time_zone)) + chr::days(5 * 365 + 2);
  std::optional<Time> found;
  each_fire(cron, time_zone, after, last_day, [&](Time t) {
    found = t;
    return false;
  });
  return found;
}

Result<Missed> parse_missed(std::string_view text, std::string_view key) {
  if (text == "skip") return Missed::skip;
  if (text == "run_once") return Missed::run_once;
  return make_error(errc::config, std::string(key) + ": " + quoted(text) +
                                      " is not a policy for missed runs: use skip (forget "
                                      "them) or run_once (run the latest once, late)");
}

Due due(const Cron& cron, std::string_view time_zone, std::optional<Time> last, Time now,
        Missed policy) {
  Due out;
  const chr::sys_days last_day = last_day_by(now, time_zone);
  if (!last) {
    // First start: nothing before it was this process's to run.
    each_fire(cron, time_zone, now - chr::minutes(1), last_day, [&](Time t) {
      if (t <= now) out.fire = t;
      return false;
    });
    return out;
  }
  if (*last >= now) return out;
  std::optional<Time> latest;
  std::size_t count = 0;
  each_fire(cron, time_zone, *last, last_day, [&](Time t) {
    if (t > now) return false;
    latest = t;
    ++count;
    return true;
  });
  if (!latest) return out;
  const bool on_time = now - *latest < chr::minutes(1);
  if (on_time || policy == Missed::run_once) {
    out.fire = latest;
    out.missed = count - 1;
  } else {
    out.missed = count;
  }
  return out;
}

}  // namespace agency::dispatch
