// agency dispatch log (the dispatcher's command, through its catalog entry): the dispatcher's
// decisions (agency.event.dispatch), oldest first, each with its reason.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "agency/v1/event.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "roles/dispatcher/commands.hpp"
#include "runtime/command_line.hpp"
#include "runtime/localtime.hpp"

namespace agency::dispatch {

using namespace cli;

namespace {

using json = nlohmann::json;

struct LogOptions {
  std::size_t limit = 100;
  std::string kind;
};

std::string stamp(const google::protobuf::Timestamp& ts) {
  auto l = to_local(to_time_point(ts), "");
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", l.year, l.month, l.day, l.hour,
                l.minute, l.second);
  return buf;
}

void run_log(const GlobalOptions& global, const LogOptions& opts) {
  auto conn = must(connect_cli(global, "agency-dispatch"));
  auto messages = replay(*conn, subjects::kEventsStream, subjects::fleet_event("dispatch"), 100000);
  if (!messages && messages.error().code != errc::not_found) fail(messages.error());
  std::vector<v1::FleetEvent> events;
  if (messages) {
    for (const auto& m : *messages) {
      auto e = codec::decode<v1::FleetEvent>(m.data(), m.headers());
      if (!e) continue;
      if (!opts.kind.empty() && e->kind() != opts.kind) continue;
      events.push_back(std::move(*e));
    }
  }
  // The newest `limit`, oldest first.
  if (events.size() > opts.limit) {
    events.erase(events.begin(), events.end() - static_cast<std::ptrdiff_t>(opts.limit));
  }
  if (global.json) {
    json out = json::array();
    for (const auto& e : events) out.push_back(json::parse(codec::to_json(e)));
    std::cout << text::terminal_safe_json(out.dump()) << '\n';
    return;
  }
  if (events.empty()) {
    std::cout << "no dispatcher decisions recorded"
              << (opts.kind.empty() ? "" : " of kind " + opts.kind)
              << " (is a dispatcher running? `agency status`)\n";
    return;
  }
  // Anyone may publish on agency.event.dispatch: what they wrote is shown,
  // never obeyed by the terminal.
  const auto safe = [](std::string_view s) {
    return text::terminal_safe(s, text::Layout::one_line);
  };
  for (const auto& e : events) {
    std::cout << stamp(e.at()) << "  " << safe(e.kind());
    if (!e.agent_id().empty()) std::cout << "  " << safe(e.agent_id());
    if (!e.task_id().empty()) std::cout << "  " << safe(e.task_id());
    std::cout << "\n    " << safe(e.reason()) << '\n';
  }
}

}  // namespace

void add_dispatch_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand(
      "dispatch", "What the dispatcher decided: standing orders, schedules, triggers, scaling");
  cmd->require_subcommand(1);
  auto opts = std::make_shared<LogOptions>();
  auto* log = cmd->add_subcommand(
      "log",
      "List the dispatcher's decisions (agency.event.dispatch), oldest first, each with its "
      "reason.\n"
      "Kinds: order (a standing order for an idle agent), idle (left idle, and why), schedule,\n"
      "missed (runs missed while down), trigger, trigger-skipped, scale-up, scale-down,\n"
      "scale-held (no capacity), scale-refused (agency up said no or is not running).");
  log->add_option("--limit", opts->limit, "at most this many, the newest (default 100)")
      ->check(CLI::PositiveNumber);
  log->add_option("--kind", opts->kind, "only decisions of this kind");
  log->add_flag("--json", global.json, "print the events as a JSON array");
  log->callback([&global, opts] { run_log(global, *opts); });
}

}  // namespace agency::dispatch
