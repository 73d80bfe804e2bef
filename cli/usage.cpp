// agency usage: the ledger against the limits, read from AGENCY_USAGE (no
// running accountant needed); --chart draws it; `ingest-statusline` takes
// Claude Code's statusline JSON and stores its utilisation figures.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "agency/v1/usage.pb.h"
#include "agents/process.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "cli/cli.hpp"
#include "roles/accountant/chart.hpp"
#include "roles/accountant/ledger_io.hpp"
#include "roles/accountant/report.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

struct UsageOptions {
  int days = 7;
  std::string chart;
  std::string account;
};

struct StatuslineOptions {
  std::string account;
  bool quiet = false;
};

config::Accountant accountant_settings(const GlobalOptions& global) {
  auto cfg = load_config_or_report(global);
  if (!cfg) throw CLI::RuntimeError(kExitUsage);
  auto a = cfg->accountant;
  if (a.accounts.empty()) a.accounts.emplace_back();
  return a;
}

void write_chart(const std::string& path, const std::string& svg) {
  const bool png = path.size() > 4 && path.compare(path.size() - 4, 4, ".png") == 0;
  if (!png) {
    std::ofstream out(path, std::ios::trunc);
    out << svg;
    if (!out) fail(make_error(errc::io, "cannot write the chart to " + path));
    return;
  }
  if (!find_program("rsvg-convert")) {
    fail(make_error(errc::config,
                    "a PNG chart needs rsvg-convert (apt install librsvg2-bin); "
                    "or write an .svg file"));
  }
  ProcessSpec spec;
  spec.argv = {"rsvg-convert", "--format", "png", "--output", path};
  spec.env = child_environment({}, {});
  spec.stdin_text = svg;
  spec.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::atomic<bool> never{false};
  auto r = must(run_process(spec, {}, never));
  if (r.exit_code() != 0) {
    fail(make_error(errc::io,
                    "rsvg-convert could not write " + path + ": " + r.describe("rsvg-convert")));
  }
}

void run_usage(const GlobalOptions& global, const UsageOptions& opts) {
  auto settings = accountant_settings(global);
  if (!opts.account.empty()) {
    bool known = false;
    for (const auto& a : settings.accounts) known |= a.name == opts.account;
    if (!known) {
      fail(make_error(errc::config,
                      "no account '" + opts.account + "' in accountant.accounts (agency.yaml)"));
    }
    std::erase_if(settings.accounts,
                  [&](const config::Account& a) { return a.name != opts.account; });
  }
  auto conn = must(connect_cli(global, "agency-usage"));
  const bool progress = ::isatty(STDERR_FILENO) == 1;
  auto ledger = must(
      accounting::replay_ledger(*conn, settings, [progress](std::uint64_t done, std::uint64_t) {
        if (progress) std::cerr << "\rreading the ledger: " << done << " records" << std::flush;
      }));
  if (progress) std::cerr << "\r\033[K" << std::flush;
  const auto now = Clock::now();
  auto report = accounting::build_report(ledger, now, opts.days);
  if (!opts.chart.empty()) {
    write_chart(opts.chart, accounting::chart_svg(ledger, now, opts.days));
    if (!global.json) std::cerr << "chart written to " << opts.chart << "\n";
  }
  std::cout << (global.json ? accounting::report_json(report) + "\n"
                            : accounting::report_text(report));
}

void run_statusline(const GlobalOptions& global, const StatuslineOptions& opts) {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const auto now = Clock::now();
  auto readings = accounting::statusline_readings(input, opts.account, now);
  if (!readings) {
    std::cerr << "agency: " << readings.error().message
              << " (Claude Code passes it on stdin to its statusLine command); nothing stored\n";
    throw CLI::RuntimeError(kExitUsage);
  }
  auto conn = must(connect_cli(global, "agency-statusline"));
  std::string line;
  for (const auto& r : *readings) {
    v1::LimitReading m;
    m.set_engine("claude");
    m.set_account(r.account);
    m.set_window(std::string(accounting::window_name(r.window)));
    m.set_utilization(r.utilization);
    m.set_remaining(-1);
    m.set_limit(-1);
    if (r.resets_at) *m.mutable_resets_at() = to_timestamp(*r.resets_at);
    m.set_source("statusline");
    *m.mutable_at() = to_timestamp(now);
    if (auto ack = conn->js_publish(subjects::limits("claude"), codec::encode(m)); !ack) {
      fail(ack.error());
    }
    if (r.utilization >= 0) {
      const char* name = r.window == accounting::Window::five_hour        ? "5h"
                         : r.window == accounting::Window::seven_day      ? "7d"
                         : r.window == accounting::Window::seven_day_opus ? "7d opus"
                                                                          : "7d sonnet";
      char part[48];
      std::snprintf(part, sizeof part, "%s %.0f%%", name, r.utilization);
      line += (line.empty() ? "" : " \xC2\xB7 ") + std::string(part);
    }
  }
  if (!opts.quiet)
    std::cout << (line.empty() ? std::string("agency: no rate limits yet") : line) << "\n";
}

}  // namespace

void add_usage_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<UsageOptions>();
  auto* cmd = app.add_subcommand(
      "usage",
      "Usage against the plan's limits, by the person and by the fleet (docs/ACCOUNTING.md).\n"
      "Per window: LIMIT (and where it comes from: calibrated, config, plan), HUMAN and AGENTS\n"
      "(counted tokens: input + output + cache write), USED (% of the limit), PACE (% of the\n"
      "window elapsed: where even use would be), PROJECTED (use at the reset at the rate so\n"
      "far), RESETS, UNUSED (tokens the even pace offered that nobody used so far).\n"
      "Then spend per role and per task and day totals over --days.\n"
      "  agency usage\n"
      "  agency usage --json\n"
      "  agency usage --chart usage.svg --days 7");
  cmd->add_option("--days", opts->days, "days of spend, day totals and chart (default 7)")
      ->check(CLI::Range(1, 400));
  cmd->add_option("--chart", opts->chart,
                  "write a chart to FILE (.svg; .png needs rsvg-convert): use against the even "
                  "pace per window, human and agents stacked, unused area shaded");
  cmd->add_option("--account", opts->account, "only this account of accountant.accounts");
  cmd->add_flag("--json", global.json, "print the report as JSON");
  cmd->callback([&global, opts, cmd] {
    if (cmd->get_subcommands().empty()) run_usage(global, *opts);
  });

  auto sl = std::make_shared<StatuslineOptions>();
  auto* ingest = cmd->add_subcommand(
      "ingest-statusline",
      "Read Claude Code's statusline JSON on stdin, store its rate_limits (five_hour,\n"
      "seven_day: used_percentage, resets_at) as limit readings that calibrate the limits,\n"
      "and print a short status line (\"5h 42% \xC2\xB7 7d 18%\").\n"
      "Wire it in ~/.claude/settings.json:\n"
      "  \"statusLine\": {\"type\": \"command\", \"command\": \"agency usage ingest-statusline\"}");
  ingest->add_option("--account", sl->account, "the account it belongs to (default: the first)");
  ingest->add_flag("--quiet", sl->quiet, "print nothing");
  ingest->callback([&global, sl] { run_statusline(global, *sl); });
}

}  // namespace agency::cli
