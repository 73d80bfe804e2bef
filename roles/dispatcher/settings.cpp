#include "roles/dispatcher/settings.hpp"

#include <array>
#include <set>
#include <string_view>

namespace agency::config {
namespace {

using Item = Reader::Item;

constexpr std::array<std::string_view, 7> kDispatcherKeys = {
    "every_seconds", "standing_orders", "schedules",           "triggers",
    "instances",     "order_estimate",  "unused_after_seconds"};

constexpr std::array<std::string_view, 5> kOrderKeys = {"role", "objective", "projects", "priority",
                                                        "token_budget"};

constexpr std::array<std::string_view, 9> kScheduleKeys = {"name",     "cron",         "time_zone",
                                                           "role",     "objective",    "project",
                                                           "priority", "token_budget", "missed"};

constexpr std::array<std::string_view, 8> kTriggerKeys = {
    "name", "subject", "kinds", "role", "objective", "project", "priority", "token_budget"};

constexpr std::array<std::string_view, 5> kInstanceKeys = {"min", "max", "backlog", "after_seconds",
                                                           "idle_seconds"};

Dispatcher dispatcher(Reader& r, const Item& section, std::map<std::string, Instances>& instances) {
  Dispatcher d;
  if (!r.section_map(section, kDispatcherKeys)) return d;
  for (const auto& item : r.entries(section, kDispatcherKeys)) {
    auto key = item.key.Scalar();
    if (key == "every_seconds") {
      if (auto v = r.int_value(item, 1, 3600)) d.every_seconds = *v;
    } else if (key == "order_estimate") {
      if (auto v = r.tokens_value(item)) d.order_estimate = *v;
    } else if (key == "unused_after_seconds") {
      if (auto v = r.int_value(item, 0, 86400)) d.unused_after_seconds = *v;
    } else if (key == "standing_orders") {
      for (const auto& entry : r.list_of_maps(item, "[{role: scout, objective: ...}]")) {
        StandingOrder o;
        for (const auto& f : r.entries(entry, kOrderKeys)) {
          auto k = f.key.Scalar();
          if (k == "role") {
            o.role = r.name_value(f);
          } else if (k == "objective") {
            o.objective = r.string_value(f, "the brief's objective").value_or("");
          } else if (k == "projects") {
            o.projects = r.strings(f, "[api, web]");
          } else if (k == "priority") {
            o.priority = r.priority_value(f);
          } else if (k == "token_budget") {
            o.token_budget = r.tokens_value(f).value_or(0);
          }
        }
        if (o.role.empty() || o.objective.empty()) {
          r.fail(entry, "a standing order needs a role and an objective");
        }
        d.standing_orders.push_back(std::move(o));
      }
    } else if (key == "schedules") {
      std::set<std::string> names;
      for (const auto& entry : r.list_of_maps(item, "[{name: digest, cron: '0 4 * * *', ...}]")) {
        Schedule sc;
        for (const auto& f : r.entries(entry, kScheduleKeys)) {
          auto k = f.key.Scalar();
          if (k == "name") {
            sc.name = r.name_value(f);
          } else if (k == "cron") {
            sc.cron = r.string_value(f, "a cron expression ('0 4 * * *')").value_or("");
          } else if (k == "time_zone") {
            sc.time_zone = r.string_value(f, "a time zone name").value_or("");
          } else if (k == "role") {
            sc.role = r.name_value(f);
          } else if (k == "objective") {
            sc.objective = r.string_value(f, "the brief's objective").value_or("");
          } else if (k == "project") {
            sc.project = r.string_value(f, "a project name").value_or("");
          } else if (k == "priority") {
            sc.priority = r.priority_value(f);
          } else if (k == "token_budget") {
            sc.token_budget = r.tokens_value(f).value_or(0);
          } else if (k == "missed") {
            sc.missed = r.string_value(f, "skip or run_once").value_or("skip");
            if (sc.missed != "skip" && sc.missed != "run_once") {
              r.fail(f, "must be skip or run_once, got " + sc.missed);
            }
          }
        }
        if (sc.name.empty() || sc.cron.empty() || sc.role.empty() || sc.objective.empty()) {
          r.fail(entry, "a schedule needs a name, a cron expression, a role and an objective");
        }
        if (!names.insert(sc.name).second) {
          r.fail(entry, "the schedule '" + sc.name + "' is given twice");
        }
        d.schedules.push_back(std::move(sc));
      }
    } else if (key == "triggers") {
      std::set<std::string> names;
      for (const auto& entry : r.list_of_maps(item, "[{name: pushes, subject: git.push.>, ...}]")) {
        Trigger t;
        for (const auto& f : r.entries(entry, kTriggerKeys)) {
          auto k = f.key.Scalar();
          if (k == "name") {
            t.name = r.name_value(f);
          } else if (k == "subject") {
            t.subject = r.string_value(f, "a NATS subject pattern").value_or("");
          } else if (k == "kinds") {
            t.kinds = r.strings(f, "[done, blocked]");
          } else if (k == "role") {
            t.role = r.name_value(f);
          } else if (k == "objective") {
            t.objective = r.string_value(f, "an objective template").value_or("");
          } else if (k == "project") {
            t.project = r.string_value(f, "a project name or template").value_or("");
          } else if (k == "priority") {
            t.priority = r.priority_value(f);
          } else if (k == "token_budget") {
            t.token_budget = r.tokens_value(f).value_or(0);
          }
        }
        if (t.name.empty() || t.subject.empty() || t.role.empty() || t.objective.empty()) {
          r.fail(entry, "a trigger needs a name, a subject, a role and an objective");
        }
        if (t.subject.find(' ') != std::string::npos) {
          r.fail(entry, "the subject has a space in it");
        }
        if (!names.insert(t.name).second) {
          r.fail(entry, "the trigger '" + t.name + "' is given twice");
        }
        d.triggers.push_back(std::move(t));
      }
    } else if (key == "instances") {
      if (item.value.IsNull()) continue;
      if (!item.value.IsMap()) {
        r.fail(item,
               "must be a map of roles ({builder: {min: 1, max: 3}}), got " + describe(item.value));
      }
      for (auto it = item.value.begin(); it != item.value.end(); ++it) {
        const std::string role = it->first.Scalar();
        Item entry{it->first, it->second, item.path + "." + role};
        if (!is_token(role)) r.fail(entry, "must be a role name");
        Instances n;
        if (r.section_map(entry, kInstanceKeys)) {
          for (const auto& f : r.entries(entry, kInstanceKeys)) {
            auto k = f.key.Scalar();
            if (k == "min") {
              if (auto v = r.int_value(f, 0, 64)) n.min = *v;
            } else if (k == "max") {
              if (auto v = r.int_value(f, 0, 64)) n.max = *v;
            } else if (k == "backlog") {
              if (auto v = r.int_value(f, 1, 100000)) n.backlog = *v;
            } else if (k == "after_seconds") {
              if (auto v = r.int_value(f, 0, 86400)) n.after_seconds = *v;
            } else if (k == "idle_seconds") {
              if (auto v = r.int_value(f, 1, 86400)) n.idle_seconds = *v;
            }
          }
        }
        if (n.max < n.min) r.fail(entry, "max must be at least min");
        instances[role] = n;
      }
    }
  }
  return d;
}

}  // namespace

void read_dispatcher(Reader& reader, const Reader::Item& section, Config& config) {
  // How many agents of each role is the fleet's (`agency up` reads it).
  dispatcher(config) = dispatcher(reader, section, config.instances);
}

}  // namespace agency::config
