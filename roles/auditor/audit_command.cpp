// agency audit (the auditor's command, through its catalog entry): the
// audit's figures and findings over the last hours or since a date, read
// from the bus at once (no running auditor needed), and where the auditor's
// latest written audit is.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "bus/clock.hpp"
#include "bus/text.hpp"
#include "roles/auditor/auditor.hpp"
#include "roles/auditor/commands.hpp"
#include "runtime/limits.hpp"
#include "runtime/localtime.hpp"

namespace agency::audit {

using namespace cli;
namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

namespace {

struct AuditOptions {
  int hours = 0;  // 0: auditor.window_hours
  std::string since;
};

constexpr const char* kAuditHelp = R"(
Reads every task record and the usage ledger from the bus, so it needs no
running auditor, and prints the figures and the findings of the rules
(docs/AUDIT.md): tokens per done task per role against the role's median,
bounces and their reasons, tasks blocked by the runaway guard, each agent
session's calls, cache reads, largest context against its rotation limit,
tools refused by permissions, failed calls and retries, the hours agents
idled while pacing allowed work, the person's refused requests, and last
week's unused capacity against the oracle. The auditor role writes the
same report nightly, with its engine's suggestions, to
<state_dir>/audits/<date>.md; the newest one is named at the end.

Examples:
  agency audit                      the last auditor.window_hours (24)
  agency audit --since 2026-11-30   from that day's midnight (auditor.time_zone)
  agency audit --json | jq '.findings[]'
)";

// --since: a date (midnight in `zone`) or an RFC 3339 time.
Clock::time_point since_time(const std::string& text, std::string_view zone) {
  if (auto t = limits::parse_rfc3339(text)) return *t;
  int y = 0;
  int m = 0;
  int d = 0;
  char tail = 0;
  if (text.size() == 10 && std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 &&
      m >= 1 && m <= 12 && d >= 1 && d <= 31) {
    if (auto t = from_local(y, m, d, 0, 0, zone)) return *t;
  }
  fail(make_error(errc::config, "--since " + text +
                                    ": not a date (2026-11-30) or an RFC 3339 time "
                                    "(2026-11-30T08:00:00Z)"));
  return {};
}

// The newest *.md in the audits folder, if any.
std::optional<fs::path> latest_audit(const fs::path& dir) {
  std::error_code ec;
  std::optional<fs::path> best;
  fs::file_time_type newest{};
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".md") continue;
    const auto t = e.last_write_time(ec);
    if (!best || t > newest) {
      best = e.path();
      newest = t;
    }
  }
  return best;
}

void run_audit(const GlobalOptions& global, const AuditOptions& opts) {
  auto cfg = load_config_or_report(global);
  if (!cfg) throw CLI::RuntimeError(kExitUsage);
  const auto& s = config::auditor(*cfg);
  const auto now = Clock::now();
  int hours = opts.hours > 0 ? opts.hours : s.window_hours;
  if (!opts.since.empty()) {
    const auto from = since_time(opts.since, s.time_zone);
    if (from >= now) {
      fail(make_error(errc::config, "--since " + opts.since + " is not in the past"));
    }
    hours = static_cast<int>(std::chrono::ceil<std::chrono::hours>(now - from).count());
  }
  auto conn = must(connect_cli(global, "agency-audit"));
  auto report = must(roles::audit_from_bus(*conn, *cfg, now, hours));
  if (global.json) {
    std::cout << text::terminal_safe_json(
                     to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace))
              << "\n";
    return;
  }
  std::cout << text::terminal_safe(markdown(report));
  const fs::path dir = !s.dir.empty() ? s.dir : cfg->state_dir / "audits";
  if (auto latest = latest_audit(dir)) {
    std::cout << "\nThe auditor's latest written audit, with suggestions: " << latest->string()
              << "\n";
  }
}

}  // namespace

void add_audit_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<AuditOptions>();
  auto* cmd = app.add_subcommand(
      "audit",
      "The fleet's effectiveness: figures and findings from the task records and the "
      "usage ledger (docs/AUDIT.md)");
  cmd->footer(kAuditHelp);
  auto* hours = cmd->add_option("--hours", opts->hours,
                                "the hours before now to audit (default auditor.window_hours)")
                    ->type_name("N")
                    ->check(CLI::Range(1, 24 * 400));
  cmd->add_option("--since", opts->since, "audit from this date or RFC 3339 time until now")
      ->type_name("DATE")
      ->excludes(hours);
  cmd->add_flag("--json", global.json, "print the report as JSON");
  cmd->callback([&global, opts] { run_audit(global, *opts); });
}

}  // namespace agency::audit
