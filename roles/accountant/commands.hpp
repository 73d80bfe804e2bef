// The accountant's commands of `agency`, added through its catalog entry
// (agents/catalog.hpp): `agency usage` (usage_command.cpp) and `agency sim`
// (sim_command.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include "agents/command_line.hpp"

namespace agency::accounting {

void add_usage_command(CLI::App& app, cli::GlobalOptions& global);
void add_sim_command(CLI::App& app, cli::GlobalOptions& global);

}  // namespace agency::accounting
