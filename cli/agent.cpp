// agency agent pause|resume|drain|stop|logs: orders to one agent over its
// control subject (agency.control.<agent-id>), confirmed by its heartbeat in
// agency-fleet; its log file from `agency up`'s state dir.
//
// drain and stop also ask the `agency up` that runs the agent (a
// ScaleRequest on agency.up.scale) to retire it, so its supervisor does not
// start it again; without one, the control message alone is sent.
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agency/v1/control.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/scale.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/kv.hpp"
#include "bus/signals.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "bus/vocabulary.hpp"
#include "cli/cli.hpp"
#include "runtime/log_tail.hpp"
#include "runtime/steering.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;
namespace voc = vocabulary;
using json = nlohmann::json;
using namespace std::chrono_literals;

std::string safe(std::string_view s) { return text::terminal_safe(s, text::Layout::one_line); }

struct AgentOptions {
  std::string agent;
  std::string reason;
  double wait_seconds = 10;
};

std::optional<v1::AgentStatus> heartbeat(const KeyValue& fleet, const std::string& agent) {
  auto entry = fleet.get(agent);
  if (!entry) return std::nullopt;
  auto status = codec::decode<v1::AgentStatus>(entry->value);
  if (!status) return std::nullopt;
  return std::move(*status);
}

std::vector<std::string> running_agents(const KeyValue& fleet) {
  std::vector<std::string> out;
  if (auto keys = fleet.keys(); keys) out = *keys;
  return out;
}

// Whether the agent's heartbeat shows the order carried out.
bool carried_out(std::string_view command, const std::optional<v1::AgentStatus>& status) {
  if (command == voc::kPause) return status && status->state() == voc::kPaused;
  if (command == voc::kResume) return status && status->state() != voc::kPaused;
  if (command == voc::kDrain) return !status || status->state() == voc::kDraining;
  return !status;  // stop: its heartbeat is gone
}

// Asks the `agency up` running the agent to retire it. Empty when it did;
// else why not (no supervisor answers, or it refused).
std::string retire(Connection& conn, const std::string& agent, const std::string& actor,
                   const std::string& reason) {
  v1::ScaleRequest request;
  request.set_action("stop");
  request.set_agent_id(agent);
  request.set_requested_by(actor);
  request.set_reason(reason);
  auto answer = conn.request(subjects::kUpScale, codec::encode(request), 5s);
  if (!answer) return "no `agency up` answered (" + answer.error().message + ")";
  auto reply = codec::decode<v1::ScaleReply>(answer->data(), answer->headers());
  if (!reply) return "its answer did not decode: " + reply.error().message;
  return reply->ok() ? std::string() : reply->reason();
}

void run_order(const GlobalOptions& global, const std::string& command, const AgentOptions& opts) {
  if (!subjects::is_valid_token(opts.agent)) {
    fail(make_error(errc::config, "'" + safe(opts.agent) + "' is not an agent id"));
  }
  auto conn = must(connect_cli(global, "agency-agent"));
  auto fleet = must(KeyValue::open(*conn, subjects::kFleetBucket));
  auto before = heartbeat(fleet, opts.agent);
  if (!before) {
    std::string known;
    for (const auto& a : running_agents(fleet)) known += (known.empty() ? "" : ", ") + a;
    fail(make_error(errc::not_found, "no agent " + opts.agent + " is running" +
                                         (known.empty() ? std::string(" (no agent is)")
                                                        : " (running: " + known + ")")));
  }
  const std::string actor = steering::human_actor(steering::current_user());
  const std::string reason = opts.reason.empty() ? command + " by " + actor : opts.reason;
  std::string supervisor;  // what the supervisor said, for drain and stop
  bool retired = false;
  if (command == voc::kDrain || command == voc::kStop) {
    supervisor = retire(*conn, opts.agent, actor, reason);
    retired = supervisor.empty();
  }
  // A retire drains the agent already; stop ends it sooner (its turn is
  // handed back).
  if (!(retired && command == voc::kDrain)) {
    v1::Control control;
    control.set_command(command);
    control.set_reason(reason);
    control.set_from(actor);
    *control.mutable_at() = now_timestamp();
    must(conn->publish(subjects::control(opts.agent), codec::encode(control)));
    must(conn->flush(2s));
  }
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<std::int64_t>(opts.wait_seconds * 1000));
  auto now = heartbeat(fleet, opts.agent);
  while (!carried_out(command, now) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);  // polling the agent's heartbeat key
    now = heartbeat(fleet, opts.agent);
  }
  const bool confirmed = carried_out(command, now);
  if (global.json) {
    json out;
    out["agent"] = opts.agent;
    out["command"] = command;
    out["confirmed"] = confirmed;
    out["state"] = now ? json(now->state()) : json(nullptr);
    out["task"] = now && !now->task_id().empty() ? json(now->task_id()) : json(nullptr);
    if (command == voc::kDrain || command == voc::kStop) {
      out["retired"] = retired;
      if (!retired) out["not_retired_because"] = supervisor;
    }
    std::cout << text::terminal_safe_json(out.dump()) << '\n';
    return;
  }
  const std::string& id = opts.agent;
  if (confirmed) {
    std::cout << safe(id) << ' '
              << (command == voc::kPause    ? "paused"
                  : command == voc::kResume ? "resumed (" + safe(now->state()) + ")"
                  : command == voc::kDrain  ? (now ? "is draining" : "has drained and stopped")
                                            : "has stopped")
              << '\n';
  } else if (now && now->state() == voc::kBusy) {
    std::cout << safe(id) << " is busy on " << safe(now->task_id()) << "; it will " << command
              << " when that brief is settled\n";
  } else {
    std::cout << safe(id) << " was told to " << command << "; its heartbeat does not show it yet ("
              << (now ? safe(now->state()) : std::string("gone")) << ")\n";
  }
  if (command == voc::kDrain || command == voc::kStop) {
    std::cout << (retired ? "  its `agency up` will not start it again\n"
                          : "  not retired by a supervisor: " + safe(supervisor) + "\n");
  }
}

// ---- logs -------------------------------------------------------------

void print_tail(const fs::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(std::move(line));
    if (last.size() > lines) last.pop_front();
  }
  for (const auto& l : last) std::cout << text::terminal_safe(l, text::Layout::one_line) << '\n';
  std::cout.flush();
}

// The agent's last lines over the bus (agency.tail.<agent>, it answers):
// for an agent that runs where its log file is not.
void logs_over_bus(const GlobalOptions& global, const std::string& agent, std::size_t lines,
                   bool follow, const fs::path& file) {
  SignalFd signals({SIGINT, SIGTERM});
  auto conn = must(connect_cli(global, "agency-agent-logs"));
  std::uint64_t after = 0;
  bool first = true;
  while (true) {
    json ask{{"lines", first ? lines : kKeptLines}};
    if (!first) ask["after"] = after;
    auto answer = conn->request(subjects::tail(agent), Outgoing{ask.dump(), {}}, 5s);
    if (!answer) {
      if (!first) {
        std::cerr << "agency: " << safe(agent)
                  << " stopped answering: " << safe(answer.error().message) << '\n';
        throw CLI::RuntimeError(kExitFailed);
      }
      fail(make_error(errc::not_found, "no log of " + agent + " here (" + file.string() +
                                           ") and no agent " + agent + " answers on " +
                                           subjects::tail(agent) + " (" + answer.error().message +
                                           "); `agency status` lists the running agents"));
    }
    auto got = json::parse(answer->data(), nullptr, false);
    if (!got.is_object() || !got["lines"].is_array()) {
      fail(make_error(errc::bad_payload, agent + " answered something that is not its log"));
    }
    for (const auto& l : got["lines"]) {
      if (l.is_string()) {
        std::cout << text::terminal_safe(l.get<std::string>(), text::Layout::one_line) << '\n';
      }
    }
    std::cout.flush();
    if (got["last"].is_number_unsigned()) after = got["last"].get<std::uint64_t>();
    first = false;
    if (!follow || signals.wait(1s) != 0) return;
  }
}

void run_logs(const GlobalOptions& global, const std::string& agent, std::size_t lines,
              bool follow) {
  if (!subjects::is_valid_token(agent)) {
    fail(make_error(errc::config, "'" + safe(agent) + "' is not an agent id"));
  }
  auto cfg = fleet_config(global);
  const fs::path file = cfg.state_dir / "logs" / (agent + ".log");
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    logs_over_bus(global, agent, std::min(lines, kKeptLines), follow, file);
    return;
  }
  print_tail(file, lines);
  if (!follow) return;
  SignalFd signals({SIGINT, SIGTERM});
  std::ifstream in(file);
  in.seekg(0, std::ios::end);
  auto offset = in.tellg();
  std::string pending;
  while (true) {
    // Looks at the file every 200 ms; a signal ends the loop.
    if (signals.wait(std::chrono::milliseconds(200)) != 0) break;
    std::ifstream again(file);
    again.seekg(0, std::ios::end);
    auto size = again.tellg();
    if (size < offset) offset = 0;  // the file was started again
    if (size == offset) continue;
    again.seekg(offset);
    std::string chunk(static_cast<std::size_t>(size - offset), '\0');
    again.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    offset = size;
    pending += chunk;
    std::size_t start = 0;
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
      std::cout << text::terminal_safe(std::string_view(pending).substr(start, nl - start),
                                       text::Layout::one_line)
                << '\n';
      start = nl + 1;
    }
    pending.erase(0, start);
    std::cout.flush();
  }
}

}  // namespace

void add_agent_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("agent", "Steer one agent: pause, resume, drain, stop; its logs");
  cmd->require_subcommand(1);
  struct Order {
    std::string_view name;
    const char* help;
  };
  for (const Order& o : {
           Order{voc::kPause, "Stop taking briefs (a brief in hand is finished first)"},
           Order{voc::kResume, "Take briefs again after a pause"},
           Order{voc::kDrain, "Finish the brief in hand, then exit (and not be restarted)"},
           Order{voc::kStop,
                 "Exit now: a running turn ends, its brief goes back to the queue (and it is not "
                 "restarted)"},
       }) {
    auto opts = std::make_shared<AgentOptions>();
    auto* sub = cmd->add_subcommand(std::string(o.name), o.help);
    sub->add_option("agent", opts->agent, "agent id (agency status lists them)")->required();
    sub->add_option("--reason", opts->reason, "why, for the agent's log");
    sub->add_option("--wait", opts->wait_seconds,
                    "seconds to wait for the agent's heartbeat to confirm (default 10)")
        ->check(CLI::Range(0.0, 3600.0));
    sub->add_flag("--json", global.json, "print the outcome as JSON");
    const std::string command(o.name);
    sub->callback([&global, command, opts] { run_order(global, command, *opts); });
  }
  auto agent = std::make_shared<std::string>();
  auto lines = std::make_shared<std::size_t>(50);
  auto follow = std::make_shared<bool>(false);
  auto* logs = cmd->add_subcommand(
      "logs",
      "An agent's log: its file in `agency up`'s state dir, else its last lines over the bus");
  logs->add_option("agent", *agent, "agent id")->required();
  logs->add_option("-n,--lines", *lines, "the last N lines (default 50)");
  logs->add_flag("-f,--follow", *follow, "keep printing what it writes, until Ctrl-C");
  logs->callback([&global, agent, lines, follow] { run_logs(global, *agent, *lines, *follow); });
}

}  // namespace agency::cli
