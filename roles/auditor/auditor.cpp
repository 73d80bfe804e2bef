// The auditor role (see auditor.hpp).
#include "roles/auditor/auditor.hpp"

#include <cstdio>

#include "agency/v1/event.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "roles/accountant/ledger_io.hpp"
#include "roles/accountant/settings.hpp"
#include "roles/auditor/commands.hpp"
#include "runtime/catalog.hpp"
#include "runtime/limits.hpp"
#include "runtime/localtime.hpp"
#include "runtime/mesh.hpp"
#include "runtime/tasks.hpp"

namespace agency::roles {

namespace fs = std::filesystem;
namespace voc = vocabulary;
using Clock = std::chrono::system_clock;

namespace {

const config::Auditor& settings(const RoleContext& ctx) {
  static const config::Auditor defaults;
  return ctx.config != nullptr ? config::auditor(*ctx.config) : defaults;
}

// Dispatch events read at most: more than a month of a busy fleet's.
constexpr std::size_t kMostDispatchEvents = 200000;
// An idle spell that began this long before the window is not counted.
constexpr auto kUnusedReach = std::chrono::hours(24 * 7);

// The dispatcher's `unused` events whose spell may reach into the window
// from `from`: agents idle with nothing queued while pacing allowed work.
// Each spell's end, where agency-fleet tells it, from the agent's status.
Result<std::vector<audit::UnusedSpell>> unused_spells(Connection& connection,
                                                      Clock::time_point from) {
  std::map<std::string, v1::AgentStatus> fleet;
  if (auto kv = KeyValue::open(connection, subjects::kFleetBucket); kv) {
    if (auto keys = kv->keys(); keys) {
      for (const auto& key : *keys) {
        auto entry = kv->get(key);
        if (!entry) continue;
        if (auto status = codec::decode<v1::AgentStatus>(entry->value); status) {
          fleet[status->agent_id()] = std::move(*status);
        }
      }
    }
  }
  auto messages = replay(connection, subjects::kEventsStream, subjects::fleet_event("dispatch"),
                         kMostDispatchEvents);
  if (!messages) return messages.error();
  std::vector<audit::UnusedSpell> out;
  for (const auto& m : *messages) {
    auto event = codec::decode<v1::FleetEvent>(m.data(), m.headers());
    if (!event || event->kind() != "unused") continue;  // anyone may publish there
    auto since = event->details().find("since");
    auto role = event->details().find("role");
    if (since == event->details().end() || role == event->details().end()) continue;
    auto t = limits::parse_rfc3339(since->second);
    if (!t || *t < from - kUnusedReach) continue;
    audit::UnusedSpell spell{event->agent_id(), role->second, *t, std::nullopt};
    if (auto now = fleet.find(event->agent_id()); now == fleet.end()) {
      spell.until = event->has_at() ? to_time_point(event->at()) : *t;
    } else if (to_time_point(now->second.since()) > *t) {
      spell.until = to_time_point(now->second.since());
    }
    out.push_back(std::move(spell));
  }
  return out;
}

std::string date_in(Clock::time_point t, std::string_view zone) {
  const auto l = to_local(t, zone);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", l.year, l.month, l.day);
  return buf;
}

}  // namespace

fs::path audit_dir(const RoleContext& ctx) {
  if (ctx.config != nullptr) {
    if (!settings(ctx).dir.empty()) return settings(ctx).dir;
    if (!ctx.config->state_dir.empty()) return ctx.config->state_dir / "audits";
  }
  // work_dir is <state_dir>/work.
  return ctx.work_dir.parent_path() / "audits";
}

Result<audit::Report> audit_from_bus(Connection& connection, const config::Config& config,
                                     Clock::time_point now, int hours) {
  auto store = TaskStore::open(connection, static_cast<std::size_t>(config.limits.task_bytes));
  if (!store) return store.error();
  auto tasks = store->list();
  if (!tasks) {
    return make_error(tasks.error().code, "reading the task records: " + tasks.error().message);
  }
  auto ledger = accounting::replay_ledger(connection, config::accountant(config), {},
                                          config.limits.usage_bytes);
  if (!ledger) {
    return make_error(ledger.error().code, "reading the ledger: " + ledger.error().message);
  }
  const auto& s = config::auditor(config);
  audit::Input in;
  in.to = now;
  in.from = now - std::chrono::hours(hours);
  in.tasks = std::move(*tasks);
  in.ledger = &*ledger;
  in.time_zone = s.time_zone;
  for (const auto& role : config.roles) in.rotation_limits[role.name] = role.session_max_tokens;
  auto unused = unused_spells(connection, in.from);
  if (!unused) {
    return make_error(unused.error().code,
                      "reading the dispatcher's events: " + unused.error().message);
  }
  in.unused = std::move(*unused);
  return audit::run(in, s.rules);
}

void Auditor::take_report(audit::Report report) {
  report_ = std::move(report);
  load_error_.reset();
}

std::optional<Decision> Auditor::precheck(const RoleContext& ctx, const v1::Brief& brief,
                                          const v1::Task& task) {
  load_error_.reset();
  if (ctx.mesh != nullptr && ctx.config != nullptr) {
    auto report = audit_from_bus(ctx.mesh->connection(), *ctx.config, Clock::now(),
                                 settings(ctx).window_hours);
    if (!report) {
      load_error_ = report.error();
      return std::nullopt;
    }
    report_ = std::move(*report);
  }
  if (!report_) {
    load_error_ = make_error(errc::internal, "the auditor has no bus to read the fleet from");
    return std::nullopt;
  }
  if (!settings(ctx).suggestions) {
    auto d = write(ctx, brief, task, {}, "auditor.suggestions is false");
    if (!d) {
      load_error_ = d.error();
      return std::nullopt;
    }
    return *d;
  }
  return std::nullopt;
}

Result<Turn> Auditor::prepare(const RoleContext& ctx, const v1::Brief& brief,
                              const v1::Task& task) {
  if (load_error_) return *load_error_;
  Turn turn = start_turn(ctx, name(), brief, task);
  auto dir = scratch_dir(ctx, task_id_of(brief, task));
  if (!dir) return dir.error();
  turn.workdir = *dir;
  turn.brief.set_context(audit::markdown(*report_));
  std::string w = "# Workspace\n\n";
  w += "Your working directory " + dir->string() +
       " is a scratch folder for notes; nothing in it is kept.\n";
  w += "The audit's figures and findings are above under Context, worked out by the agency "
       "from the task records and the usage ledger. Write your suggestions in markdown as your "
       "answer, before the block: each one cites the figure and the tasks or sessions it rests "
       "on, as the findings name them. The agency writes the figures into the file itself.\n";
  turn.prompt = compose_prompt(ctx.skill, turn.brief, task, w);
  return turn;
}

Result<Decision> Auditor::finish(const RoleContext& ctx, const Turn& turn, const Outcome& outcome) {
  if (outcome.verdict != "pass") {
    // The figures are worth having without suggestions.
    const std::string why =
        outcome.verdict.empty()
            ? "the engine gave no verdict (docs/OUTCOME.md): " + reason_of(outcome)
            : "the engine reports " + outcome.verdict + ": " + reason_of(outcome);
    return write(ctx, turn.brief, turn.task, {}, why);
  }
  std::string suggestions = answer_without_block(outcome.text);
  if (suggestions.find_first_not_of(" \n\t\r") == std::string::npos) {
    suggestions = outcome.block.summary;
  }
  return write(ctx, turn.brief, turn.task, suggestions, "the engine's answer held none");
}

Result<Decision> Auditor::write(const RoleContext& ctx, const v1::Brief& brief,
                                const v1::Task& task, const std::string& suggestions,
                                const std::string& why) {
  const audit::Report& r = *report_;
  std::string text = audit::markdown(r, suggestions);
  if (suggestions.empty()) text += "\nNo suggestions: " + why + ".\n";
  auto path = write_dated_file(audit_dir(ctx), date_in(r.to, settings(ctx).time_zone), text);
  if (!path) return path.error();

  Decision d;
  d.next_stage = std::string(voc::kDone);
  d.reason = "audit with " + std::to_string(r.findings.size()) + " finding(s)" +
             (suggestions.empty() ? " and no suggestions" : " and suggestions") + " written to " +
             path->string();
  d.attachments["audit"] = path->string();
  if (ctx.mesh != nullptr) {
    v1::FleetEvent e;
    e.set_kind("audit");
    e.set_task_id(task_id_of(brief, task));
    e.set_reason(d.reason);
    (*e.mutable_details())["path"] = path->string();
    (*e.mutable_details())["findings"] = std::to_string(r.findings.size());
    (*e.mutable_details())["from"] = accounting::rfc3339(r.from);
    (*e.mutable_details())["to"] = accounting::rfc3339(r.to);
    (void)ctx.mesh->record("audit", std::move(e));
  }
  report_.reset();
  return d;
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo auditor() {
  RoleInfo info("auditor");
  info.lateral = true;
  info.settings = config::read_auditor;
  info.commands = {audit::add_audit_command, experiment::add_experiment_command};
  return info;
}
}  // namespace agency::catalog::entries
