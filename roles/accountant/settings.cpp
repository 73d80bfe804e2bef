#include "roles/accountant/settings.hpp"

#include "runtime/config_accounts.hpp"

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

Accountant accountant(Reader& r, const Item& section) {
  Accountant a;
  a.enabled = true;
  std::optional<std::string> plan;
  if (r.section_map(section, kAccountantKeys)) {
    for (const auto& item : r.entries(section, kAccountantKeys)) {
      auto key = item.key.Scalar();
      if (key == "accounts") {
        a.accounts = AccountsReader(r).accounts(item);
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
  for (auto& account : a.accounts) {
    // The fleet-wide plan names a Claude plan: it is no other provider's.
    if (plan && account.plan.empty() && account.provider == "claude") account.plan = *plan;
    if (account.concurrency < 0) account.concurrency = default_concurrency(account);
  }
  return a;
}

}  // namespace

void read_accountant(Reader& reader, const Reader::Item& section, Config& config) {
  const Accountant& a = accountant(config) = accountant(reader, section);
  // The accounts are every agent's too: they run their engines as one.
  config.accounts = a.accounts;
  // Every agent asks for leases while the section is there.
  config.leases.enabled = a.enabled;
  config.leases.timeout_ms = a.lease_timeout_ms;
  config.leases.fallback_tokens_per_hour = a.fallback_tokens_per_hour;
  config.leases.first_estimate = a.first_estimate;
}

}  // namespace agency::config
