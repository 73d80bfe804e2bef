// agency usage (the accountant's command, through its catalog entry): the ledger against the
// limits, read from AGENCY_USAGE (no running accountant needed); --chart draws it;
// `ingest-statusline` takes Claude Code's statusline JSON, stores its utilisation figures as limit
// readings and prints the line Claude Code shows.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "agency/v1/fleet.pb.h"
#include "agency/v1/usage.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "roles/accountant/chart.hpp"
#include "roles/accountant/commands.hpp"
#include "roles/accountant/ledger_io.hpp"
#include "roles/accountant/person_trace.hpp"
#include "roles/accountant/report.hpp"
#include "roles/accountant/settings.hpp"
#include "roles/accountant/sim.hpp"
#include "runtime/command_line.hpp"
#include "runtime/process.hpp"

namespace agency::accounting {

using namespace cli;

namespace {

using Clock = std::chrono::system_clock;

struct UsageOptions {
  int days = 7;
  std::string chart;
  std::string account;
  std::string person_trace;  // --export-person-trace FILE
};

struct StatuslineOptions {
  std::string account;
};

// agency.yaml: its accountant section (without one its defaults: one
// account, "default"; the Ledger adds it) and limits.usage_bytes.
config::Config usage_config(const GlobalOptions& global) {
  auto cfg = load_config_or_report(global);
  if (!cfg) throw CLI::RuntimeError(kExitUsage);
  return std::move(*cfg);
}

void check_account(const config::Accountant& settings, const std::string& account) {
  if (account.empty()) return;
  std::string known;
  for (const auto& a : settings.accounts) {
    if (a.name == account || a.id() == account) return;
    known += (known.empty() ? "" : ", ") + a.id();
  }
  if (settings.accounts.empty() && (account == "default" || account == config::Account{}.id())) {
    return;
  }
  fail(make_error(
      errc::config,
      "no account '" + account + "' in accountant.accounts (" +
          (known.empty() ? std::string("only 'default' without any") : "known: " + known) + ")"));
}

bool ends_with_png(const std::string& path) {
  if (path.size() < 4) return false;
  std::string tail = path.substr(path.size() - 4);
  std::transform(tail.begin(), tail.end(), tail.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return tail == ".png";
}

void write_chart(const std::string& path, const std::string& svg) {
  if (!ends_with_png(path)) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << svg;
    out.close();
    if (!out) fail(make_error(errc::io, "cannot write the chart to " + path));
    return;
  }
  if (!find_program("rsvg-convert")) {
    fail(make_error(errc::config,
                    "PNG needs rsvg-convert (apt install librsvg2-bin); write .svg instead"));
  }
  ProcessSpec spec;
  spec.argv = {"rsvg-convert", "--format", "png", "--output", path};
  spec.env = child_environment({}, {});
  spec.stdin_text = svg;
  spec.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  const std::atomic<bool> never{false};
  auto r = must(run_process(spec, {}, never));
  if (r.end != ProcessEnd::exited || r.exit_code() != 0) {
    fail(make_error(errc::io,
                    "rsvg-convert could not write " + path + ": " + r.describe("rsvg-convert")));
  }
}

// The account of the engine call each live agent runs now (AgentStatus.account;
// empty between calls): the replayed ledger sees no leases, the fleet's
// heartbeats do. An error when agency-fleet cannot be read.
// A status whose heartbeat is older than this is a gone agent's (the
// accountant releases such an agent's leases after as long).
constexpr std::chrono::seconds kGone{30};

Result<std::vector<std::string>> running_accounts(const Connection& connection) {
  auto fleet = KeyValue::open(connection, subjects::kFleetBucket);
  if (!fleet) return fleet.error();
  auto keys = fleet->keys();
  if (!keys) return keys.error();
  std::vector<std::string> out;
  for (const auto& key : *keys) {
    auto entry = fleet->get(key);
    if (!entry) continue;  // expired between keys() and get()
    auto status = codec::decode<v1::AgentStatus>(entry->value);
    if (!status || status->account().empty()) continue;
    // A killed agent's last status still names the call it died in.
    if (status->has_heartbeat_at() &&
        Clock::now() - to_time_point(status->heartbeat_at()) > kGone) {
      continue;
    }
    out.push_back(status->account());
  }
  return out;
}

void count_live(accounting::Report& report, const Connection& connection) {
  auto running = running_accounts(connection);
  if (running) {
    accounting::count_in_use(report, *running);
  } else {
    accounting::count_in_use(report, std::nullopt, running.error().message);
  }
}

}  // namespace

Result<catalog::UsageView> console_usage(Connection& connection, const config::Config& config,
                                         int days) {
  auto ledger = accounting::replay_ledger(connection, config::accountant(config), {},
                                          config.limits.usage_bytes);
  if (!ledger) return ledger.error();
  const auto now = Clock::now();
  catalog::UsageView view;
  auto report = accounting::build_report(*ledger, now, days);
  count_live(report, connection);
  view.report_json = accounting::report_json(report);
  view.chart_svg = accounting::chart_svg(*ledger, now, days);
  return view;
}

namespace {

// --export-person-trace: the person's last complete week (or the current one
// so far) as `agency sim --person-trace` reads it.
void export_trace(const GlobalOptions& global, const accounting::Ledger& ledger,
                  const UsageOptions& opts, Clock::time_point now) {
  bool complete = false;
  const auto trace = accounting::export_person_trace(ledger, opts.account, now, &complete);
  {
    std::ofstream out(opts.person_trace, std::ios::binary | std::ios::trunc);
    out << accounting::person_trace_json(trace) << "\n";
    out.close();
    if (!out) fail(make_error(errc::io, "cannot write the person trace to " + opts.person_trace));
  }
  if (global.json) {
    nlohmann::json j = {{"file", opts.person_trace},
                        {"account", trace.account},
                        {"from", accounting::rfc3339(trace.span.start)},
                        {"to", accounting::rfc3339(trace.span.end)},
                        {"complete_week", complete},
                        {"requests", trace.requests.size()},
                        {"tokens", trace.tokens()}};
    std::cout << text::terminal_safe_json(j.dump()) << "\n";
    return;
  }
  std::cout << text::terminal_safe(
      "wrote " + std::to_string(trace.requests.size()) + " requests of the person (" +
      accounting::thousands(trace.tokens()) + " counted tokens) of account " + trace.account +
      ", " +
      (complete ? "the week " : "the current week so far (the ledger holds no complete one), ") +
      accounting::rfc3339(trace.span.start) + " to " + accounting::rfc3339(trace.span.end) +
      ", to " + opts.person_trace + "\nreplay it: agency sim --person-trace " + opts.person_trace +
      "\n");
}

void run_usage(const GlobalOptions& global, const UsageOptions& opts) {
  const auto cfg = usage_config(global);
  const auto& settings = config::accountant(cfg);
  check_account(settings, opts.account);
  auto conn = must(connect_cli(global, "agency-usage"));
  // Progress only for a person watching, and only once a replay is slow.
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const auto started = std::chrono::steady_clock::now();
  bool shown = false;
  auto ledger = must(accounting::replay_ledger(
      *conn, settings,
      [&](std::uint64_t done, std::uint64_t /*total*/) {
        if (!tty || std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) return;
        std::cerr << "\rreading the ledger: " << done << " records" << std::flush;
        shown = true;
      },
      cfg.limits.usage_bytes));
  if (shown) std::cerr << "\r\033[K" << std::flush;
  const auto now = Clock::now();
  if (!opts.person_trace.empty()) {
    export_trace(global, ledger, opts, now);
    return;
  }
  auto report = accounting::build_report(ledger, now, opts.days, opts.account);
  count_live(report, *conn);
  if (!opts.chart.empty()) {
    write_chart(opts.chart, accounting::chart_svg(ledger, now, opts.days, opts.account));
    std::cerr << "chart written to " << opts.chart << "\n";
  }
  // Engine, model and role names in the ledger are whatever was published.
  std::cout << (global.json ? text::terminal_safe_json(accounting::report_json(report)) + "\n"
                            : text::terminal_safe(accounting::report_text(report)));
}

// Repeats of one figure are dropped by JetStream within the usage
// stream's duplicate window (10 minutes): Claude Code runs the command on
// every update, and the ledger needs a figure once, not hundreds of times.
std::string reading_msg_id(const accounting::Reading& r, std::string_view account) {
  char buf[64];
  std::snprintf(buf, sizeof buf, ":%.1f:%lld", r.utilization,
                r.resets_at
                    ? static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                                 r.resets_at->time_since_epoch())
                                                 .count())
                    : 0LL);
  return "statusline:" + std::string(account) + ":" +
         std::string(accounting::window_name(r.window)) + buf;
}

void run_statusline(const GlobalOptions& global, const StatuslineOptions& opts) {
  if (::isatty(STDIN_FILENO) == 1) {
    fail(make_error(errc::config,
                    "ingest-statusline reads Claude Code's statusline JSON on stdin: run it as "
                    "Claude Code's statusLine command (agency usage ingest-statusline --help)"));
  }
  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  const auto now = Clock::now();
  auto parsed = accounting::parse_statusline(input, opts.account, now);
  if (!parsed) {
    std::cerr << "agency: " << text::terminal_safe(parsed.error().message) << "; nothing stored\n";
    throw CLI::RuntimeError(kExitUsage);
  }
  // The line first: Claude Code shows it even when storing fails below.
  std::cout << text::terminal_safe(accounting::statusline_text(*parsed), text::Layout::one_line)
            << "\n"
            << std::flush;
  if (parsed->readings.empty()) return;
  const auto cfg = usage_config(global);
  check_account(config::accountant(cfg), opts.account);
  auto conn = must(connect_cli(global, "agency-statusline"));
  for (const auto& r : parsed->readings) {
    v1::LimitReading m;
    m.set_engine("claude");
    m.set_model(parsed->model_id);
    m.set_account(r.account);
    m.set_window(std::string(accounting::window_name(r.window)));
    m.set_utilization(r.utilization);
    m.set_remaining(-1);
    m.set_limit(-1);
    if (r.resets_at) *m.mutable_resets_at() = to_timestamp(*r.resets_at);
    m.set_source(r.source);
    *m.mutable_at() = to_timestamp(r.at);
    must(conn->js_publish(subjects::limits("claude"), codec::encode(m),
                          reading_msg_id(r, opts.account)));
  }
}

constexpr const char* kUsageHelp =
    "Columns of the window table (one row per account and window with a limit or any use):\n"
    "  LIMIT       the window's limit in counted tokens (input + output + cache write;\n"
    "              cache reads do not count)\n"
    "  HUMAN       counted tokens of the person's own Claude Code sessions in the window\n"
    "  AGENTS      counted tokens of the fleet's engine calls in the window\n"
    "  USED        (HUMAN + AGENTS) / LIMIT\n"
    "  PACE        share of the window elapsed: where even use would be by now\n"
    "  PROJECTED   use at the reset at the window's average rate so far, in % of the\n"
    "              limit, or 'limit at <time>' when that rate reaches it before the reset\n"
    "  RESETS      when the window resets (five_hour: when the running block ends)\n"
    "  UNUSED      tokens the even pace offered since the window's start that nobody\n"
    "              used, summed per 10-minute step (docs/ACCOUNTING.md, \"Unused area\"),\n"
    "              and their share of what was offered\n"
    "  HEADROOM    what agents may still lease now: LIMIT less the person's reserve\n"
    "              (accountant.reserve, or 1.5 x their expected use before the reset when\n"
    "              more), less what is used and leased; never below 0\n"
    "  LIMIT FROM  calibrated (from a utilisation %), config, plan, or unknown\n"
    "Then one row per account (provider/name), and per provider a subtotal when there are\n"
    "several:\n"
    "  HEADROOM     the tighter of its five_hour and seven_day headroom\n"
    "  CALLS NOW    agents of the live fleet running an engine call on it, of its\n"
    "               concurrency cap; '-' when agency-fleet cannot be read\n"
    "  RATE-LIMITED until when a rate limit an agent met holds it\n"
    "  AGENTS       the fleet's counted tokens on it over --days; SHARE: of every\n"
    "               account's (the person's own use left out)\n"
    "  API SPEND    openai and anthropic accounts: dollars today and this month\n"
    "               (accountant.time_zone) of their budgets\n"
    "Then spend per role and the top tasks (counted tokens, the four token kinds, calls,\n"
    "cost) and the day totals in accountant.time_zone, over --days.\n"
    "The chart: per account and window with a limit, use per 10 minutes stacked\n"
    "(human below, agents above) against the even pace; the shaded gap is the unused\n"
    "area; vertical lines are resets. A .png file needs rsvg-convert (librsvg2-bin).\n"
    "Examples:\n"
    "  agency usage\n"
    "  agency usage --json --days 30\n"
    "  agency usage --chart usage.svg --days 7 --account claude/work\n"
    "  agency usage --export-person-trace week.json && agency sim --person-trace week.json";

constexpr const char* kStatuslineHelp =
    "Claude Code runs its statusLine command on every update with a JSON object on\n"
    "stdin; for subscribers it holds rate_limits.five_hour and .seven_day (used_percentage,\n"
    "resets_at). This command stores each window's figure as a limit reading on\n"
    "agency.usage.limits.claude (the accountant calibrates the window's limit from it:\n"
    "tokens counted in the window / used_percentage) and prints the line Claude Code\n"
    "shows, e.g. \"Opus 4.1 \xC2\xB7 5h 42% \xC2\xB7 7d 18%\". Input that is not JSON: exit 2,\n"
    "nothing stored. Repeats of the same figure within 10 minutes are stored once.\n"
    "Wire it in ~/.claude/settings.json (or a project's .claude/settings.json):\n"
    "  {\n"
    "    \"statusLine\": {\n"
    "      \"type\": \"command\",\n"
    "      \"command\": \"agency --config /path/to/agency.yaml usage ingest-statusline\"\n"
    "    }\n"
    "  }\n"
    "Give --config (or set NATS_URL) so it finds the fleet's NATS server from any\n"
    "directory, and --account when the session's subscription is not the first of\n"
    "accountant.accounts.";

}  // namespace

void add_usage_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<UsageOptions>();
  auto* cmd = app.add_subcommand(
      "usage",
      "Usage against the plan's limits by the person and by the fleet, spend per role and task, "
      "day totals (docs/ACCOUNTING.md)");
  cmd->footer(kUsageHelp);
  cmd->add_option("--days", opts->days, "days of spend, day totals and chart (default 7)")
      ->type_name("N")
      ->check(CLI::Range(1, 400));
  cmd->add_option("--chart", opts->chart,
                  "also write a chart to FILE (.svg, or .png with rsvg-convert installed)")
      ->type_name("FILE");
  cmd->add_option("--account", opts->account,
                  "only this account of accountant.accounts (its name or provider/name)")
      ->type_name("NAME");
  cmd->add_option("--export-person-trace", opts->person_trace,
                  "write the person's own requests of the last complete weekly window (of "
                  "--account, else the first) to FILE, for `agency sim --person-trace FILE`; "
                  "no report")
      ->type_name("FILE");
  cmd->add_flag("--json", global.json, "print the report as JSON");
  cmd->callback([&global, opts, cmd] {
    if (cmd->get_subcommands().empty()) run_usage(global, *opts);
  });

  auto sl = std::make_shared<StatuslineOptions>();
  auto* ingest = cmd->add_subcommand(
      "ingest-statusline",
      "Store Claude Code's statusline rate limits (JSON on stdin) and print a status line");
  ingest->footer(kStatuslineHelp);
  ingest
      ->add_option("--account", sl->account,
                   "the account of accountant.accounts the session uses (default: the first)")
      ->type_name("NAME");
  ingest->callback([&global, sl] { run_statusline(global, *sl); });
}

}  // namespace agency::accounting
