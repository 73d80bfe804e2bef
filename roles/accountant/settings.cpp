#include "roles/accountant/settings.hpp"

#include <array>
#include <set>
#include <string_view>

namespace agency::config {
namespace {

using Item = Reader::Item;

constexpr std::array<std::string_view, 17> kAccountantKeys = {"accounts",
                                                              "human_idle_minutes",
                                                              "reserve",
                                                              "release_five_hour_minutes",
                                                              "release_seven_day_minutes",
                                                              "burst",
                                                              "night",
                                                              "night_weight",
                                                              "time_zone",
                                                              "transcripts_every_seconds",
                                                              "usage_every_seconds",
                                                              "lease_timeout_ms",
                                                              "lease_ttl_seconds",
                                                              "fallback_tokens_per_hour",
                                                              "first_estimate",
                                                              "enabled",
                                                              "plan"};

constexpr std::array<std::string_view, 10> kAccountKeys = {
    "name",           "config_dir",       "plan",         "five_hour", "seven_day",
    "seven_day_opus", "seven_day_sonnet", "weekly_reset", "usage_url", "token_file"};

std::vector<Account> accounts(Reader& r, const Item& section) {
  std::vector<Account> out;
  if (section.value.IsNull()) return out;
  const std::string example = "[{name: personal, plan: max5, config_dir: ~/.claude}]";
  if (!section.value.IsSequence()) {
    r.fail(section, "must be a list of accounts " + example + ", got " + describe(section.value));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < section.value.size(); ++i) {
    Item entry{YAML::Node(), section.value[i], section.path + "[" + std::to_string(i) + "]"};
    if (!entry.value.IsMap()) {
      r.fail(entry, "must be a map " + example + ", got " + describe(entry.value));
    }
    Account acc;
    for (const auto& item : r.entries(entry, kAccountKeys)) {
      auto key = item.key.Scalar();
      if (key == "name") {
        auto v = r.string_value(item, "a name");
        if (!v || !is_token(*v)) r.fail(item, "must be letters, digits, '-' and '_'");
        acc.name = *v;
      } else if (key == "config_dir") {
        if (auto v = r.string_value(item, "a directory path"); v && !v->empty()) {
          acc.config_dir = r.resolve(*v);
        }
      } else if (key == "plan") {
        if (auto v = r.string_value(item, "a plan name (pro, max5, max20)")) {
          if (*v != "pro" && *v != "max5" && *v != "max20" && !v->empty()) {
            r.fail(item, "must be pro, max5 or max20 (or give the limits in tokens), got " + *v);
          }
          acc.plan = *v;
        }
      } else if (key == "five_hour") {
        if (auto v = r.tokens_value(item)) acc.five_hour = *v;
      } else if (key == "seven_day") {
        if (auto v = r.tokens_value(item)) acc.seven_day = *v;
      } else if (key == "seven_day_opus") {
        if (auto v = r.tokens_value(item)) acc.seven_day_opus = *v;
      } else if (key == "seven_day_sonnet") {
        if (auto v = r.tokens_value(item)) acc.seven_day_sonnet = *v;
      } else if (key == "weekly_reset") {
        if (auto v = r.string_value(item, "a day and time (thu 18:00)")) {
          auto space = v->find(' ');
          std::optional<int> day;
          std::optional<int> at;
          if (space != std::string::npos) {
            day = r.weekday(v->substr(0, space));
            at = r.minute_of_day(std::string_view(*v).substr(space + 1));
          }
          if (!day || !at) {
            r.fail(item, "must be a weekday and a time (thu 18:00), got " + describe(item.value));
          }
          acc.reset_weekday = *day;
          acc.reset_hour = *at / 60;
          acc.reset_minute = *at % 60;
        }
      } else if (key == "usage_url") {
        if (auto v = r.string_value(item, "a URL")) acc.usage_url = *v;
      } else if (key == "token_file") {
        if (auto v = r.string_value(item, "a file path"); v && !v->empty()) {
          acc.token_file = r.resolve(*v);
        }
      }
    }
    if (!names.insert(acc.name).second) {
      r.fail(entry, "the account '" + acc.name + "' is given twice");
    }
    if (!acc.usage_url.empty() && acc.token_file.empty()) {
      r.fail(entry, "usage_url needs token_file: the file holding the bearer token");
    }
    out.push_back(std::move(acc));
  }
  return out;
}

Accountant accountant(Reader& r, const Item& section) {
  Accountant a;
  a.enabled = true;
  std::optional<std::string> plan;
  if (r.section_map(section, kAccountantKeys)) {
    for (const auto& item : r.entries(section, kAccountantKeys)) {
      auto key = item.key.Scalar();
      if (key == "accounts") {
        a.accounts = accounts(r, item);
      } else if (key == "enabled") {
        if (auto v = r.bool_value(item)) a.enabled = *v;
      } else if (key == "plan") {
        plan = r.string_value(item, "a plan name (pro, max5, max20)");
      } else if (key == "reserve") {
        if (auto v = r.number_value(item, 0, 0.9)) a.reserve = *v;
      } else if (key == "release_five_hour_minutes") {
        if (auto v = r.int_value(item, 0, 300)) a.release_five_hour_minutes = *v;
      } else if (key == "release_seven_day_minutes") {
        if (auto v = r.int_value(item, 0, 7 * 1440)) a.release_seven_day_minutes = *v;
      } else if (key == "burst") {
        if (auto v = r.number_value(item, 0, 1)) a.burst = *v;
      } else if (key == "human_idle_minutes") {
        if (auto v = r.int_value(item, 0, 1440)) a.human_idle_minutes = *v;
      } else if (key == "night") {
        if (auto v = r.string_value(item, "hours HH:MM-HH:MM (22:00-07:00)")) {
          auto dash = v->find('-');
          std::optional<int> from;
          std::optional<int> to;
          if (dash != std::string::npos) {
            from = r.minute_of_day(std::string_view(*v).substr(0, dash));
            to = r.minute_of_day(std::string_view(*v).substr(dash + 1));
          }
          if (!from || !to) {
            r.fail(item, "must be hours HH:MM-HH:MM (22:00-07:00), got " + describe(item.value));
          }
          a.night_from_minute = *from;
          a.night_to_minute = *to;
        }
      } else if (key == "night_weight") {
        if (auto v = r.number_value(item, 1, 100)) a.night_weight = *v;
      } else if (key == "time_zone") {
        if (auto v = r.string_value(item, "a time zone name (Europe/Berlin)")) a.time_zone = *v;
      } else if (key == "transcripts_every_seconds") {
        if (auto v = r.int_value(item, 1, 86400)) a.transcripts_every_seconds = *v;
      } else if (key == "usage_every_seconds") {
        if (auto v = r.int_value(item, 10, 86400)) a.usage_every_seconds = *v;
      } else if (key == "lease_timeout_ms") {
        if (auto v = r.int_value(item, 10, 60000)) a.lease_timeout_ms = *v;
      } else if (key == "lease_ttl_seconds") {
        if (auto v = r.int_value(item, 10, 86400)) a.lease_ttl_seconds = *v;
      } else if (key == "fallback_tokens_per_hour") {
        if (auto v = r.tokens_value(item)) a.fallback_tokens_per_hour = *v;
      } else if (key == "first_estimate") {
        if (auto v = r.tokens_value(item)) a.first_estimate = *v;
      }
    }
  }
  if (a.accounts.empty()) a.accounts.emplace_back();
  if (plan) {
    for (auto& account : a.accounts) {
      if (account.plan.empty()) account.plan = *plan;
    }
  }
  return a;
}

}  // namespace

void read_accountant(Reader& reader, const Reader::Item& section, Config& config) {
  const Accountant& a = accountant(config) = accountant(reader, section);
  // Every agent asks for leases while the section is there.
  config.leases.enabled = a.enabled;
  config.leases.timeout_ms = a.lease_timeout_ms;
  config.leases.fallback_tokens_per_hour = a.fallback_tokens_per_hour;
  config.leases.first_estimate = a.first_estimate;
}

}  // namespace agency::config
