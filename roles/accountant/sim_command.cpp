// agency sim (the accountant's command, through its catalog entry): a week of a person's use and an
// agent backlog against one account's limits, under no accountant, a fixed pace and agency's rules,
// beside the oracle's bound; with --accounts, agency's routing over several accounts against the
// person's account alone.
// Needs no server and no config: the accountant's code runs in process.
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "roles/accountant/commands.hpp"
#include "roles/accountant/person_trace.hpp"
#include "roles/accountant/sim.hpp"
#include "runtime/command_line.hpp"
#include "runtime/limits.hpp"

namespace agency::accounting {

using namespace cli;

void add_sim_command(CLI::App& app, GlobalOptions& global) {
  auto setup = std::make_shared<accounting::SimSetup>(accounting::default_sim_setup());
  auto* cmd = app.add_subcommand(
      "sim",
      "Replay a week, deterministic for a seed (no server needed): a person and an agent\n"
      "fleet with an endless backlog share one account's five_hour and seven_day limits,\n"
      "under three policies: greedy (no accountant), fixed (the fleet paces its own use)\n"
      "and agency (the accountant's lease rules), beside the oracle: the least unused area\n"
      "any schedule that serves the person could leave, knowing the week in advance.\n"
      "Prints per policy the weekly use, the five-hour blocks' use, the unused area per\n"
      "window and as a multiple of the oracle's, the person's denied requests, tasks done\n"
      "and agent tokens; docs/BENCHMARKS.md has the table for the defaults. With --accounts\n"
      "the fleet routes over several accounts: each account's use and unused area, against\n"
      "the same week on the person's account alone.");
  cmd->footer("\n" + accounting::sim_explained());
  cmd->add_option("--seed", setup->seed, "seed of every random draw (person, tasks, calls)")
      ->capture_default_str();
  auto start = std::make_shared<std::string>(accounting::rfc3339(setup->start));
  auto* start_opt =
      cmd->add_option("--start", *start,
                      "first moment replayed, RFC 3339; it is the account's weekly reset too")
          ->check(
              [](const std::string& v) -> std::string {
                return limits::parse_rfc3339(v) ? ""
                                                : "not an RFC 3339 time (2026-11-26T18:00:00Z)";
              },
              "TIME")
          ->capture_default_str();
  auto* days_opt = cmd->add_option("--days", setup->days, "days to replay from the weekly reset")
                       ->check(CLI::Range(1, 28))
                       ->capture_default_str();
  cmd->add_option("--agents", setup->agents, "agents in the fleet")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  auto* five_opt =
      cmd->add_option("--five-hour", setup->five_hour, "five-hour limit, counted tokens")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  auto* seven_opt = cmd->add_option("--seven-day", setup->seven_day, "weekly limit, counted tokens")
                        ->check(CLI::PositiveNumber)
                        ->capture_default_str();
  cmd->add_option("--seven-day-sonnet", setup->seven_day_sonnet,
                  "weekly limit on Sonnet alone, counted tokens (0: none); the lease rules "
                  "apply it as in the fleet")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--agent-sonnet-share", setup->agent_sonnet_share,
                  "share of the fleet's calls on Sonnet, the rest on Opus")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--person-sonnet-share", setup->human_sonnet_share,
                  "share of the drawn person's requests on Sonnet, the rest on Opus (a "
                  "--person-trace keeps its own models)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--history-weeks", setup->history_weeks,
                  "weeks of the person's own use in the ledger before the start, as a running "
                  "accountant has them (drawn, or the --person-trace's week repeated); the agency "
                  "rules learn the person's pattern from them")
      ->check(CLI::Range(0, 4))
      ->capture_default_str();
  cmd->add_option("--reserve", setup->policy.reserve,
                  "agency rules: share of each window kept for the person")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  cmd->add_option("--burst", setup->policy.burst,
                  "agency rules: how far ahead of the pace, share of the limit")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--night-weight", setup->policy.night_weight,
                  "agency rules: how many times a night hour counts in the batch pace")
      ->check(CLI::Range(1.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--release-five-hour", setup->policy.release_five_hour_minutes,
                  "agency rules: minutes before a five-hour reset over which the reserve goes")
      ->check(CLI::Range(0, 300))
      ->capture_default_str();
  cmd->add_option("--release-seven-day", setup->policy.release_seven_day_minutes,
                  "agency rules: minutes before the weekly reset over which the reserve goes")
      ->check(CLI::Range(0, 10080))
      ->capture_default_str();
  cmd->add_option("--human-idle", setup->policy.human_idle_minutes,
                  "agency rules: minutes the person must be idle before the release")
      ->check(CLI::Range(0, 1440))
      ->capture_default_str();
  auto trace_file = std::make_shared<std::string>();
  auto* trace_opt =
      cmd->add_option("--person-trace", *trace_file,
                      "replay a real person's week instead of the drawn one: a file written by "
                      "`agency usage --export-person-trace` (its week and, where known, its "
                      "limits; --five-hour and --seven-day still override those)")
          ->type_name("FILE")
          ->excludes(start_opt)
          ->excludes(days_opt);
  auto accounts = std::make_shared<std::string>();
  auto* accounts_opt =
      cmd->add_option("--accounts", *accounts,
                      "several accounts, in the order every role's engines list them: "
                      "provider/plan,... (claude pro|max5|max20, codex plus|pro; limits the "
                      "plan's). Runs agency's routing over all of them, then the same week on "
                      "the person's account alone, and prints each account's use and unused area; "
                      "e.g. claude/max5,claude/pro,codex/plus")
          ->type_name("LIST")
          ->excludes(five_opt)
          ->excludes(seven_opt);
  cmd->add_option("--person-account", setup->person_account,
                  "with --accounts: the account the person uses, provider/name (an account is "
                  "named after its plan: claude/max5, a second one claude/max5-2); default the "
                  "first claude account")
      ->needs(accounts_opt);
  cmd->add_flag("--json", global.json, "print the setup and the results as JSON");
  cmd->callback(
      [&global, setup, start, trace_file, trace_opt, five_opt, seven_opt, accounts, accounts_opt] {
        setup->start = *limits::parse_rfc3339(*start);
        if (accounts_opt->count() > 0) {
          auto parsed = accounting::sim_accounts(*accounts);
          if (!parsed) fail(parsed.error());
          setup->accounts = std::move(*parsed);
          if (!setup->person_account.empty()) {
            const auto& person = setup->accounts[accounting::sim_person_account(*setup)];
            if (person.id() != setup->person_account && person.name != setup->person_account) {
              fail(make_error(errc::config, "--person-account " + setup->person_account +
                                                " is not one of --accounts"));
            }
          }
        }
        if (trace_opt->count() > 0) {
          std::ifstream in(*trace_file, std::ios::binary);
          if (!in) fail(make_error(errc::config, "cannot read the person trace " + *trace_file));
          const std::string text((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
          auto trace = accounting::parse_person_trace(text);
          if (!trace) fail(make_error(errc::config, *trace_file + ": " + trace.error().message));
          const auto five_hour = setup->five_hour;
          const auto seven_day = setup->seven_day;
          accounting::use_person_trace(*setup, *trace, *trace_file);
          if (five_opt->count() > 0) setup->five_hour = five_hour;
          if (seven_opt->count() > 0) setup->seven_day = seven_day;
        }
        const auto results = setup->accounts.empty() ? accounting::simulate(*setup)
                                                     : accounting::simulate_accounts(*setup);
        std::cout << (global.json ? accounting::sim_json(*setup, results) + "\n"
                                  : accounting::sim_table(*setup, results));
      });
}

}  // namespace agency::accounting
