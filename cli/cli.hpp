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

// The subcommands.
void add_init_command(CLI::App& app, GlobalOptions& global);
void add_brief_command(CLI::App& app, GlobalOptions& global);
void add_watch_command(CLI::App& app, GlobalOptions& global);
void add_status_command(CLI::App& app, GlobalOptions& global);
void add_task_command(CLI::App& app, GlobalOptions& global);
void add_dead_command(CLI::App& app, GlobalOptions& global);
void add_up_command(CLI::App& app, GlobalOptions& global);
void add_ask_command(CLI::App& app, GlobalOptions& global);     // lateral.cpp
void add_mail_command(CLI::App& app, GlobalOptions& global);    // lateral.cpp
void add_doctor_command(CLI::App& app, GlobalOptions& global);  // doctor.cpp

}  // namespace agency::cli
