// agency: run and watch a fleet of AI role agents on NATS JetStream.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "cli/cli.hpp"
#include "runtime/catalog.hpp"

namespace {

int run(int argc, char** argv) {
  CLI::App app{
      "agency runs a fleet of long-lived AI role agents (planner, builder, adversary, reviewer, "
      "...) on NATS JetStream.\nPublish work with `agency brief ROLE TEXT` or plain "
      "`nats pub agency.brief.ROLE TEXT`; watch it with `agency watch`.",
      "agency"};
  app.set_version_flag("--version", AGENCY_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  agency::cli::GlobalOptions global;
  app.add_option("--config", global.config_path,
                 "agency.yaml to use (default: $AGENCY_CONFIG, then ./agency.yaml, then the "
                 "built-in default)");
  app.add_option("--nats", global.nats_url,
                 "NATS server URL (default: NATS_URL or NATS_CONTEXT, then the URL a running "
                 "`agency up` wrote to its state dir, then nats://127.0.0.1:4222)");

  agency::cli::add_up_command(app, global);
  agency::cli::add_init_command(app, global);
  agency::cli::add_doctor_command(app, global);
  agency::cli::add_agent_command(app, global);
  agency::cli::add_console_command(app, global);
  agency::cli::add_creds_command(app, global);
  agency::cli::add_join_command(app, global);
  agency::cli::add_brief_command(app, global);
  agency::cli::add_watch_command(app, global);
  agency::cli::add_status_command(app, global);
  agency::cli::add_task_command(app, global);
  agency::cli::add_dead_command(app, global);
  agency::cli::add_ask_command(app, global);
  agency::cli::add_mail_command(app, global);
  agency::cli::add_conformance_command(app, global);
  agency::cli::add_new_role_command(app, global);
  // The commands roles bring (the accountant's usage and sim, the
  // dispatcher's log).
  for (const auto& role : agency::catalog::roles()) {
    for (auto add : role.commands) add(app, global);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::Error& e) {
    // CLI11 numbers each parse error (105, 106, ...); scripts get the one
    // usage code every agency command documents. --help stays 0.
    const int code = app.exit(e);
    // RuntimeError is how a command ends with its own code: kept as it is.
    if (code != 0 && dynamic_cast<const CLI::RuntimeError*>(&e) == nullptr) {
      return agency::cli::kExitUsage;
    }
    return code;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Commands end with their code through CLI11; anything else escaping is a
  // bug, reported as one rather than as std::terminate.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "agency: internal error: " << e.what() << '\n';
  } catch (...) {
    std::cerr << "agency: internal error\n";
  }
  return 1;
}
