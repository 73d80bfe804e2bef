// The auditor's commands of `agency`, added through its catalog entry
// (runtime/catalog.hpp): `agency audit` (audit_command.cpp) and `agency
// experiment` (experiment_command.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include "runtime/command_line.hpp"

namespace agency::audit {

void add_audit_command(CLI::App& app, cli::GlobalOptions& global);

}  // namespace agency::audit

namespace agency::experiment {

void add_experiment_command(CLI::App& app, cli::GlobalOptions& global);

}  // namespace agency::experiment
