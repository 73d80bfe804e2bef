#include "roles/dispatcher/cron.hpp"

#include <array>
#include <cctype>
#include <string>
#include <vector>

#include "agents/localtime.hpp"

namespace agency::dispatch {

using namespace std::chrono;

namespace {

struct Field {
  const char* name;
  int lo;
  int hi;
};
constexpr std::array<Field, 5> kFields = {{{"minute", 0, 59},
                                           {"hour", 0, 23},
                                           {"day of month", 1, 31},
                                           {"month", 1, 12},
                                           {"day of week", 0, 7}}};

constexpr std::array<std::string_view, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                      "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

std::optional<int> number(std::string_view s, std::size_t field) {
  if (s.empty()) return std::nullopt;
  std::string lower(s);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (field == 3) {
    for (std::size_t i = 0; i < kMonths.size(); ++i) {
      if (lower == kMonths[i]) return static_cast<int>(i) + 1;
    }
  }
  if (field == 4) {
    for (std::size_t i = 0; i < kDays.size(); ++i) {
      if (lower == kDays[i]) return static_cast<int>(i);
    }
  }
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || n > 1000) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// Sets the bits of one field; an error message, or empty.
std::string parse_field(std::string_view text, std::size_t index, std::vector<bool>& bits) {
  const Field& f = kFields[index];
  const std::string where =
      "field " + std::to_string(index + 1) + " (" + f.name + ") '" + std::string(text) + "'";
  for (auto part : split(text, ',')) {
    if (part.empty()) return where + " has an empty list item";
    int step = 1;
    if (auto slash = part.find('/'); slash != std::string_view::npos) {
      auto s = number(part.substr(slash + 1), 99);
      if (!s || *s == 0) return where + " has a step that is not a positive number";
      step = *s;
      part = part.substr(0, slash);
    }
    int lo = f.lo;
    int hi = f.hi == 7 ? 6 : f.hi;
    if (part != "*") {
      auto dash = part.find('-');
      auto a = number(part.substr(0, dash), index);
      if (!a) return where + " is not a number" + (index >= 3 ? " or a name" : "");
      lo = *a;
      hi = *a;
      if (dash != std::string_view::npos) {
        auto b = number(part.substr(dash + 1), index);
        if (!b) return where + " has a range end that is not a number";
        hi = *b;
      } else if (step > 1) {
        hi = f.hi;  // "5/15": from 5 to the end, every 15
      }
      if (lo < f.lo || hi > f.hi || lo > hi) {
        return where + " is out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi);
      }
    }
    for (int v = lo; v <= hi; v += step) {
      bits[static_cast<std::size_t>(index == 4 && v == 7 ? 0 : v)] = true;
    }
  }
  return {};
}

bool same_wall_clock(Time t, int year, int month, int day, int hour, int minute,
                     std::string_view zone) {
  auto l = to_local(t, zone);
  return l.year == year && l.month == month && l.day == day && l.hour == hour && l.minute == minute;
}

// The instant a matching wall-clock minute fires at, DST included.
std::optional<Time> instant(int year, int month, int day, int hour, int minute,
                            std::string_view zone) {
  auto t = from_local(year, month, day, hour, minute, zone);
  if (!t) return std::nullopt;
  if (same_wall_clock(*t, year, month, day, hour, minute, zone)) {
    // Autumn: the same wall clock an hour earlier is the first occurrence.
    if (same_wall_clock(*t - hours(1), year, month, day, hour, minute, zone)) return *t - hours(1);
    return t;
  }
  // Spring gap: this minute does not exist; fire when the clock jumps, the
  // first minute after it that does.
  for (int m = hour * 60 + minute + 1; m < 24 * 60; ++m) {
    auto u = from_local(year, month, day, m / 60, m % 60, zone);
    if (u && same_wall_clock(*u, year, month, day, m / 60, m % 60, zone)) return u;
  }
  return t;
}

}  // namespace

Result<Cron> parse_cron(std::string_view expression, std::string_view key) {
  std::string text(expression);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0)
    text.pop_back();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.erase(0, 1);
  }
  if (text == "@hourly") text = "0 * * * *";
  if (text == "@daily" || text == "@midnight") text = "0 0 * * *";
  if (text == "@weekly") text = "0 0 * * 0";
  if (text == "@monthly") text = "0 0 1 * *";
  if (text == "@yearly" || text == "@annually") text = "0 0 1 1 *";
  std::vector<std::string_view> fields;
  for (auto f : split(text, ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  auto bad = [&](const std::string& why) {
    return make_error(errc::config, std::string(key) + ": " + why +
                                        " (five fields: minute hour day-of-month month "
                                        "day-of-week, e.g. '0 4 * * *', or @daily)");
  };
  if (fields.size() != 5) {
    return bad("'" + std::string(expression) + "' has " + std::to_string(fields.size()) +
               " fields, not 5");
  }
  Cron c;
  for (std::size_t i = 0; i < 5; ++i) {
    std::vector<bool> bits(static_cast<std::size_t>(kFields[i].hi) + 1, false);
    if (auto why = parse_field(fields[i], i, bits); !why.empty()) return bad(why);
    for (std::size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (i) {
        case 0:
          c.minutes.set(v);
          break;
        case 1:
          c.hours.set(v);
          break;
        case 2:
          c.days.set(v);
          break;
        case 3:
          c.months.set(v);
          break;
        default:
          c.weekdays.set(v % 7);
      }
    }
  }
  c.any_day = fields[2].front() == '*';
  c.any_weekday = fields[4].front() == '*';
  return c;
}

bool day_matches(const Cron& cron, int month, int day, int weekday) {
  if (!cron.months.test(static_cast<std::size_t>(month))) return false;
  const bool dom = cron.days.test(static_cast<std::size_t>(day));
  const bool dow = cron.weekdays.test(static_cast<std::size_t>(weekday));
  if (cron.any_day && cron.any_weekday) return true;
  if (cron.any_day) return dow;
  if (cron.any_weekday) return dom;
  return dom || dow;
}

std::optional<Time> next_fire(const Cron& cron, Time after, std::string_view time_zone) {
  const auto start = to_local(after, time_zone);
  sys_days date = sys_days(year(start.year) / start.month / start.day);
  for (int i = 0; i < 5 * 366 + 2; ++i, date += days(1)) {
    const year_month_day ymd(date);
    const int y = static_cast<int>(ymd.year());
    const int m = static_cast<int>(static_cast<unsigned>(ymd.month()));
    const int d = static_cast<int>(static_cast<unsigned>(ymd.day()));
    const int wd = static_cast<int>(weekday(date).c_encoding());
    if (!day_matches(cron, m, d, wd)) continue;
    // On the first day, hours before `after`'s (less one, for DST) cannot be later.
    const int first_hour = i == 0 ? std::max(0, start.hour - 1) : 0;
    for (int h = first_hour; h < 24; ++h) {
      if (!cron.hours.test(static_cast<std::size_t>(h))) continue;
      for (int mi = 0; mi < 60; ++mi) {
        if (!cron.minutes.test(static_cast<std::size_t>(mi))) continue;
        auto t = instant(y, m, d, h, mi, time_zone);
        if (t && *t > after) return t;
      }
    }
  }
  return std::nullopt;
}

Due due(const Cron& cron, std::string_view time_zone, std::optional<Time> last, Time now,
        Missed policy) {
  Due out;
  const Time current_minute = floor<minutes>(now);
  if (!last) {
    // First start: only a fire of the current minute counts.
    auto t = next_fire(cron, current_minute - seconds(1), time_zone);
    if (t && *t <= now) out.fire = t;
    return out;
  }
  std::optional<Time> latest;
  std::size_t count = 0;
  Time from = *last;
  // Enough for a minutely job down for a week; older ones are counted as one lot.
  for (int guard = 0; guard < 20000; ++guard) {
    auto t = next_fire(cron, from, time_zone);
    if (!t || *t > now) break;
    latest = t;
    ++count;
    from = *t;
  }
  if (!latest) return out;
  if (*latest >= current_minute) {
    out.fire = latest;
    out.missed = count - 1;
  } else if (policy == Missed::run_once) {
    out.fire = latest;
    out.missed = count - 1;
  } else {
    out.missed = count;
  }
  return out;
}

}  // namespace agency::dispatch
