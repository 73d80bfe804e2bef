// Shared pieces of the `agency` command: global options and how each
// subcommand registers itself (one add_*_command per file, all listed in
// main.cpp). A subcommand that fails prints its message (report()) and
// throws CLI::RuntimeError(exit code); main turns that into the exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "runtime/command_line.hpp"

namespace agency::cli {

// The configuration the fleet runs on: agency.yaml, else what `agency up`
// chose from the place (<state_dir>/agency.place.yaml), else the default.
// Exits with kExitUsage when agency.yaml does not load.
config::Config fleet_config(const GlobalOptions& global);  // steer.cpp

// Where `agency console` and `agency up`'s console listen unless told.
inline constexpr int kDefaultConsolePort = 4280;

// The subcommands.
void add_init_command(CLI::App& app, GlobalOptions& global);
void add_brief_command(CLI::App& app, GlobalOptions& global);
void add_watch_command(CLI::App& app, GlobalOptions& global);
void add_status_command(CLI::App& app, GlobalOptions& global);
void add_task_command(CLI::App& app, GlobalOptions& global);
void add_dead_command(CLI::App& app, GlobalOptions& global);
void add_up_command(CLI::App& app, GlobalOptions& global);
void add_ask_command(CLI::App& app, GlobalOptions& global);          // lateral.cpp
void add_mail_command(CLI::App& app, GlobalOptions& global);         // lateral.cpp
void add_doctor_command(CLI::App& app, GlobalOptions& global);       // doctor.cpp
void add_agent_command(CLI::App& app, GlobalOptions& global);        // agent.cpp
void add_console_command(CLI::App& app, GlobalOptions& global);      // console.cpp
void add_creds_command(CLI::App& app, GlobalOptions& global);        // creds.cpp
void add_join_command(CLI::App& app, GlobalOptions& global);         // join.cpp
void add_conformance_command(CLI::App& app, GlobalOptions& global);  // conformance.cpp
void add_new_role_command(CLI::App& app, GlobalOptions& global);     // new_role.cpp
// cancel, retry, unblock, move, priority, comment under `agency task`.
void add_task_steer_commands(CLI::App& task, GlobalOptions& global);  // steer.cpp

}  // namespace agency::cli
