#include "runtime/localtime.hpp"

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>

namespace agency {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

namespace {

std::mutex& zone_mutex() {
  static std::mutex mutex;
  return mutex;
}

template <class F>
auto in_zone(std::string_view zone, F&& f) -> decltype(f()) {
  std::lock_guard lock(zone_mutex());
  if (zone.empty()) {
    ::tzset();
    return f();
  }
  std::optional<std::string> saved;
  if (const char* tz = std::getenv("TZ"); tz != nullptr) saved = tz;
  ::setenv("TZ", std::string(zone).c_str(), 1);
  ::tzset();
  struct Restore {
    const std::optional<std::string>& saved;
    ~Restore() {
      if (saved) {
        ::setenv("TZ", saved->c_str(), 1);
      } else {
        ::unsetenv("TZ");
      }
      ::tzset();
    }
  } restore{saved};
  return f();
}

bool is_utc(std::string_view zone) { return zone == "UTC" || zone == "Etc/UTC"; }

}  // namespace

Result<void> check_time_zone(std::string_view zone, std::string_view key) {
  if (zone.empty()) return {};
  std::string name(zone);
  auto unknown = [&](const std::string& why) {
    return make_error(errc::config, std::string(key) + ": unknown time zone '" + name + "' (" +
                                        why +
                                        "); use an IANA name such as Europe/Berlin, or leave it "
                                        "empty for the machine's zone");
  };
  if (name.front() == '/' || name.front() == ':' || name.find("..") != std::string::npos) {
    return unknown("not a zone name");
  }
  const char* tzdir = std::getenv("TZDIR");
  fs::path dir =
      tzdir != nullptr && *tzdir != '\0' ? fs::path(tzdir) : fs::path("/usr/share/zoneinfo");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return make_error(errc::config, std::string(key) + ": '" + name +
                                        "' needs the zoneinfo database, and there is none at " +
                                        dir.string() + ": install tzdata, or leave it empty");
  }
  if (!fs::is_regular_file(dir / name, ec)) return unknown("not in " + dir.string());
  return {};
}

LocalTime to_local(Clock::time_point t, std::string_view zone) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  std::time_t tt = static_cast<std::time_t>(secs);
  if (is_utc(zone)) {
    // No zone to switch to: the simulation and the tests ask this often.
    std::tm utc{};
    ::gmtime_r(&tt, &utc);
    return LocalTime{utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                     utc.tm_min,         utc.tm_sec,     utc.tm_wday};
  }
  std::tm tm = in_zone(zone, [&] {
    std::tm local{};
    ::localtime_r(&tt, &local);
    return local;
  });
  return LocalTime{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min,         tm.tm_sec,     tm.tm_wday};
}

std::optional<Clock::time_point> from_local(int year, int month, int day, int hour, int minute,
                                            std::string_view zone) {
  std::tm want{};
  want.tm_year = year - 1900;
  want.tm_mon = month - 1;
  want.tm_mday = day;
  want.tm_hour = hour;
  want.tm_min = minute;
  if (is_utc(zone)) return Clock::from_time_t(::timegm(&want));
  want.tm_isdst = -1;  // whatever is in force that day
  std::time_t t = in_zone(zone, [&] { return std::mktime(&want); });
  if (t == -1) return std::nullopt;
  return Clock::from_time_t(t);
}

}  // namespace agency
