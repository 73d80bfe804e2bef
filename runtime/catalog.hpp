// The roles this build brings, and what each tells the rest of the tree
// about itself, so that no layer below the roles names one.
//
// A role registers by its one line in roles/CMakeLists.txt
// (agency_add_role): the build writes roles/catalog.cpp, which adds every
// role's entry (`catalog::RoleInfo agency::catalog::entries::<name>()`,
// defined in the role's folder) before main() runs, in any program linked
// with agency::catalog (the `agency` command, every agent, the tests).
// Thread-safety: filled during static initialisation, read-only after.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bus/connection.hpp"
#include "bus/result.hpp"
#include "runtime/command_line.hpp"
#include "runtime/config.hpp"
#include "runtime/config_reader.hpp"

namespace agency::catalog {

struct UsageView {
  std::string report_json;
  std::string chart_svg;
};

struct RoleInfo {
  explicit RoleInfo(std::string role_name) : name(std::move(role_name)) {}

  std::string name;  // agency-<name>, agency.brief.<name>
  // The role runs an engine (a model): `agency doctor` checks its engine
  // and CLI. The accountant, the sweeper and the dispatcher decide in code.
  bool runs_engine = true;
  // `agency ask` without --role asks this role (the knowledge proxy).
  bool answers_questions = false;
  // The role's agents ask the accountant for a lease before an engine call
  // (false for the accountant itself, which grants them).
  bool takes_leases = true;
  // A lateral role: its briefs are requests it settles itself (done or
  // blocked), so no pipeline gives it a stage (agency.yaml refuses one).
  bool lateral = false;
  // Reads agency.yaml's section named like the role (its own settings,
  // roles/<name>/settings.hpp) into the config; nullptr: the role has none,
  // and such a key is an unknown key.
  using SectionReader = void (*)(config::Reader& reader, const config::Reader::Item& section,
                                 config::Config& config);
  SectionReader settings = nullptr;
  // Commands of `agency` the role brings (`agency usage`, `agency sim`):
  // each adds its subcommand to the app, as cli/main.cpp's own do.
  using AddCommand = void (*)(CLI::App& app, cli::GlobalOptions& global);
  std::vector<AddCommand> commands;
  // What `agency doctor` checks of the role's own (the accountant: its
  // accounts' usage endpoints and ledgers); nullptr: nothing.
  using DoctorChecks = std::vector<cli::Check> (*)(const config::Config& config);
  DoctorChecks doctor = nullptr;
  // The usage the role measures, for the web console (console/): the
  // report of `agency usage --json` and the chart of `agency usage --chart`
  // (SVG) over the last `days` days. nullptr: the role measures none (all
  // but the accountant).
  using Usage = Result<UsageView> (*)(Connection& connection, const config::Config& config,
                                      int days);
  Usage usage = nullptr;
};

// Called by the generated roles/catalog.cpp; a second entry of one name
// replaces the first.
void add(RoleInfo info);

// Every role of this build, in roles/CMakeLists.txt order.
const std::vector<RoleInfo>& roles();
// The entry of `name`; nullptr for a role of the user's own.
const RoleInfo* find(std::string_view name);
// Their names, in the same order.
std::vector<std::string> names();
// The role `agency ask` asks by default; "" if no role answers questions.
std::string question_role();

}  // namespace agency::catalog
