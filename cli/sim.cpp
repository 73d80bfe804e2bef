// agency sim: a week of a person's use and an agent backlog against one
// account's limits, under no accountant, a fixed pace and agency's rules.
// Needs no server: the accountant's code runs in process.
#include <iostream>
#include <memory>

#include "cli/cli.hpp"
#include "roles/accountant/sim.hpp"

namespace agency::cli {

void add_sim_command(CLI::App& app, GlobalOptions& global) {
  auto setup = std::make_shared<accounting::SimSetup>(accounting::default_sim_setup());
  auto* cmd = app.add_subcommand(
      "sim",
      "Replay a week (no server needed): a person working weekdays 09:00-18:00 UTC and a fleet\n"
      "with an endless backlog share one account (five_hour and seven_day limits), under\n"
      "three policies: greedy (no accountant), fixed (agents pace their own use evenly) and\n"
      "agency (the accountant's lease rules, batch priority). Prints per policy: weekly use,\n"
      "mean use of the five-hour blocks, the unused area per window (what the even pace\n"
      "offered per 10 minutes and nobody used), the person's requests denied, agent tasks\n"
      "done and tokens. docs/BENCHMARKS.md has the table for the defaults.");
  cmd->add_option("--seed", setup->seed, "random seed of the person's trace and the backlog");
  cmd->add_option("--days", setup->days, "days to replay (default 7)")->check(CLI::Range(1, 28));
  cmd->add_option("--agents", setup->agents, "agents in the fleet (default 4)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--five-hour", setup->five_hour, "five-hour limit in counted tokens (4000000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seven-day", setup->seven_day, "weekly limit in counted tokens (40000000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--reserve", setup->policy.reserve, "agency policy: the person's reserve (0.2)")
      ->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--night-weight", setup->policy.night_weight,
                  "agency policy: how much faster batch work is paced at night (3)")
      ->check(CLI::Range(1.0, 100.0));
  cmd->add_option("--burst", setup->policy.burst,
                  "agency policy: how far ahead of the even pace, share of the limit (0.05)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--json", global.json, "print the results as JSON");
  cmd->callback([&global, setup] {
    auto results = accounting::simulate(*setup);
    std::cout << (global.json ? accounting::sim_json(*setup, results) + "\n"
                              : accounting::sim_table(*setup, results));
  });
}

}  // namespace agency::cli
