// The accountant's commands of `agency`, added through its catalog entry
// (runtime/catalog.hpp): `agency usage` (usage_command.cpp) and `agency sim`
// (sim_command.cpp), and its lines of `agency doctor` (doctor_checks.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include <vector>

#include "runtime/catalog.hpp"
#include "runtime/command_line.hpp"

namespace agency::accounting {

void add_usage_command(CLI::App& app, cli::GlobalOptions& global);
void add_sim_command(CLI::App& app, cli::GlobalOptions& global);
// The report and chart of `agency usage` for the web console
// (usage_command.cpp).
Result<catalog::UsageView> console_usage(Connection& connection, const config::Config& config,
                                         int days);
// `agency doctor`'s checks of the accountant's (doctor_checks.cpp).
std::vector<cli::Check> doctor_checks(const config::Config& config);

}  // namespace agency::accounting
