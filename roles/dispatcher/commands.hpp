// The dispatcher's command of `agency`, added through its catalog entry
// (runtime/catalog.hpp): `agency dispatch log` (log_command.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include "runtime/command_line.hpp"

namespace agency::dispatch {

void add_dispatch_command(CLI::App& app, cli::GlobalOptions& global);

}  // namespace agency::dispatch
