// The accountant's commands of `agency`, added through its catalog entry
// (runtime/catalog.hpp): `agency usage` (usage_command.cpp) and `agency sim`
// (sim_command.cpp), and its lines of `agency doctor` (doctor_checks.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include <vector>

#include "runtime/command_line.hpp"

namespace agency::accounting {

void add_usage_command(CLI::App& app, cli::GlobalOptions& global);
void add_sim_command(CLI::App& app, cli::GlobalOptions& global);
// `agency doctor`'s checks of the accountant's (doctor_checks.cpp).
std::vector<cli::Check> doctor_checks(const config::Config& config);

}  // namespace agency::accounting
