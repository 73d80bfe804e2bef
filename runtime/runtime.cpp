// The role loop (see runtime.hpp): run_agent reads the command line and
// the environment, blocks the stop signals in every thread (the heartbeat
// thread reads them from a signalfd), and runs one Agent (runtime_agent.hpp,
// which lists the agent's threads and the file of each concern) on the main
// thread.
#include "runtime/runtime.hpp"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "bus/signals.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/ids.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency {
namespace runtime {

namespace voc = vocabulary;

int Agent::run(const Options& opts) {
  if (auto r = start(opts); !r) {
    log_->critical("cannot start agent={} role={}: {}", options_.agent_id, options_.role,
                   r.error().message);
    return r.error().code == errc::config ? 2 : 1;
  }
  loop();
  set_state(voc::kDraining);
  stop_lateral();
  {
    std::lock_guard lock(logic_mu_);
    logic_->stop(ctx_);
  }
  ask_sub_.reset();
  mail_bell_sub_.reset();
  heartbeat_stop_.store(true);
  wake();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  control_subs_.clear();
  serving_.store(false, std::memory_order_release);
  service_.reset();
  (void)fleet_->remove(options_.agent_id);
  log_->info("agent stopped agent={}", options_.agent_id);
  return 0;
}

}  // namespace runtime

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

}  // namespace

int run_agent(std::unique_ptr<RoleLogic> logic, int argc, char** argv) {
  RuntimeOptions options;
  options.role = logic->name();
  runtime::Options opts;
  CLI::App app{"agency-" + options.role + ": one agent of role " + options.role +
               " (normally started by `agency up`)"};
  app.add_option("--config", opts.config_path,
                 "agency.yaml (default: $AGENCY_CONFIG, ./agency.yaml)");
  app.add_option("--agent-id", opts.agent_id,
                 "agent id (default: $AGENCY_AGENT_ID, else <role>-<host>-<pid>)");
  app.add_option("--skill", opts.skill_path, "SKILL.md of the role (default: the built-in one)");
  app.add_option("--engine", opts.engine, "engine kind, overriding agency.yaml and SKILL.md");
  app.add_option("--nats", opts.nats_url, "NATS URL (default: NATS_URL, ...)");
  app.add_option("--state-dir", opts.state_dir,
                 "state dir (default: $AGENCY_STATE_DIR, agency.yaml)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (opts.config_path.empty()) opts.config_path = env_or("AGENCY_CONFIG", "");
  if (opts.state_dir.empty()) opts.state_dir = env_or("AGENCY_STATE_DIR", "");
  options.agent_id = !opts.agent_id.empty()
                         ? opts.agent_id
                         : env_or("AGENCY_AGENT_ID", options.role + "-" + ids::host_name() + "-" +
                                                         std::to_string(::getpid()));
  opts.agent_id = options.agent_id;
  if (const char* ms = std::getenv("AGENCY_HEARTBEAT_MS"); ms != nullptr) {
    options.heartbeat = std::chrono::milliseconds(std::atoll(ms));
  }
  if (const char* ms = std::getenv("AGENCY_IN_PROGRESS_MS"); ms != nullptr) {
    options.in_progress_every = std::chrono::milliseconds(std::atoll(ms));
  }

  // The stop signals are blocked before any other thread exists, so nats.c's
  // threads inherit the mask, and read from a signalfd by the agent's
  // heartbeat thread (one thread fewer than a reader of their own).
  SignalFd stop_signals({SIGTERM, SIGINT});
  opts.stop_signals = &stop_signals;

  runtime::Agent agent(std::move(logic), options);
  return agent.run(opts);
}

}  // namespace agency
