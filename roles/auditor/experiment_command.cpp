// agency experiment (the auditor's second command, through its catalog
// entry): runs a brief set in each mode on a fresh copy of its project, on
// a private mesh per mode (`agency up` with a config written for the mode),
// measures each run from its own task records and usage ledger, runs the
// done_when checks on the result and prints the comparison
// (experiment.hpp, docs/EXPERIMENTS.md).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/connect.hpp"
#include "bus/connection.hpp"
#include "bus/signals.hpp"
#include "bus/text.hpp"
#include "roles/accountant/ledger_io.hpp"
#include "roles/accountant/settings.hpp"
#include "roles/auditor/commands.hpp"
#include "roles/auditor/experiment.hpp"
#include "runtime/briefing.hpp"
#include "runtime/config.hpp"
#include "runtime/credentials.hpp"
#include "runtime/git.hpp"
#include "runtime/process.hpp"
#include "runtime/tasks.hpp"
#include "runtime/up_process.hpp"

namespace agency::experiment {

using namespace cli;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

namespace {

struct Options {
  fs::path file;
  std::string modes;
  fs::path dir;
  int timeout_minutes = 0;  // 0: the set's
};

constexpr const char* kHelp = R"(
Runs each brief of the set in each mode on a fresh copy of the set's
project, each mode on a private mesh of its own (`agency up` with a config
written for the mode: its own server, state and ledger), then runs every
brief's done_when commands in the result and prints, per mode: wall time,
tokens counted (input + output + cache creation of the mode's usage
samples), engine calls, checks passed, bounces, and the ratios against
single, with seeds/002's three questions answered from them.

  single    one builder turn with the whole objective (the task branch is checked)
  pipeline  planner, builder, adversary, reviewer, then the merge (the default branch is checked)
  team      the planner asked to split the work into sub-tasks (an epic), two builders,
            each sub-task through the pipeline and the merge queue

Engines come from the config: --config, else the set's `config:` (per mode
`modes.<mode>.config`), else AGENCY_CONFIG or ./agency.yaml, else the roles'
SKILL.md defaults (the scripted engine); only the config's roles, pipeline,
limits and accountant settings are used. A mode that fails
a check is reported as failed, never averaged away; the exit code is 0 only
when every mode ran and passed every check. Everything a mode made is kept
under the run's folder (--dir). docs/EXPERIMENTS.md has the set's keys.

Examples:
  agency experiment examples/experiment/greetings.yaml
  agency experiment set.yaml --modes single,pipeline --config my-agency.yaml
  agency experiment set.yaml --json | jq '.modes[] | {mode, status, tokens}'
)";

// How long one done_when command may run.
constexpr auto kCheckLimit = std::chrono::seconds(600);
// What a failed check's output keeps: its last lines, this long at most.
constexpr std::size_t kOutputChars = 400;

void say(const std::string& line) { std::cerr << text::terminal_safe(line) << '\n'; }

// A set, a mode or a folder the command cannot use: exit 2, as for a bad
// option.
[[noreturn]] void refuse(const Error& error) {
  report(error);
  throw CLI::RuntimeError(kExitUsage);
}

template <class T>
T usable(Result<T> r) {
  if (!r) refuse(r.error());
  return std::move(*r);
}

std::string stamp() {
  const std::time_t t = SystemClock::to_time_t(SystemClock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

std::string tail(const std::string& output) {
  auto lines = git::output_lines(output);
  std::string out;
  for (std::size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i) {
    out += (out.empty() ? "" : " / ") + lines[i];
  }
  if (out.size() > kOutputChars) out = "..." + out.substr(out.size() - kOutputChars);
  return out;
}

// The config the mode's engines come from (none: the built-in default).
std::optional<fs::path> base_config(const GlobalOptions& global, const BriefSet& set,
                                    const std::string& mode) {
  if (global.config_path) return fs::absolute(*global.config_path);
  if (auto it = set.mode_configs.find(mode); it != set.mode_configs.end()) return it->second;
  if (set.config) return *set.config;
  if (const char* env = std::getenv("AGENCY_CONFIG"); env != nullptr && *env != '\0') {
    return fs::absolute(env);
  }
  std::error_code ec;
  if (fs::is_regular_file("agency.yaml", ec)) return fs::absolute("agency.yaml");
  return std::nullopt;
}

// A path of the base config, relative to it, made absolute for the mode's
// config (which lives elsewhere). `path_like`: only when it holds a '/'
// (a program name alone is looked up on PATH).
void resolve(YAML::Node node, const fs::path& base_dir, bool path_like) {
  if (!node || !node.IsScalar()) return;
  const std::string v = node.Scalar();
  if (v.empty() || v.front() == '/' || v.front() == '~') return;
  if (path_like && v.find('/') == std::string::npos) return;
  node = (base_dir / v).lexically_normal().string();
}

// agency.yaml for the mode: the project copy, the mode's roles with the
// base's settings for each, the base's pipeline, limits and accountant.
Result<std::string> mode_config(const std::optional<fs::path>& base, const BriefSet& set,
                                const std::string& mode, const std::string& branch) {
  YAML::Node b;
  if (base) {
    try {
      b = YAML::LoadFile(base->string());
    } catch (const YAML::Exception& e) {
      return make_error(errc::config, base->string() + ": " + e.what());
    }
  }
  const fs::path base_dir = base ? base->parent_path() : fs::current_path();
  YAML::Node out(YAML::NodeType::Map);
  out["state_dir"] = "state";
  YAML::Node nats(YAML::NodeType::Map);
  nats["port"] = 0;
  nats["monitor_port"] = 0;
  if (b.IsMap() && b["nats"] && b["nats"].IsMap() && b["nats"]["binary"]) {
    nats["binary"] = YAML::Clone(b["nats"]["binary"]);
    resolve(nats["binary"], base_dir, true);
  }
  out["nats"] = nats;
  YAML::Node project(YAML::NodeType::Map);
  project["name"] = set.name;
  project["repo"] = "project";
  project["default_branch"] = branch;
  project["landing"] = "merge";
  if (!set.test_command.empty()) project["test_command"] = set.test_command;
  out["projects"].push_back(project);
  if (b.IsMap()) {
    for (const char* key : {"pipeline", "limits"}) {
      if (b[key]) out[key] = YAML::Clone(b[key]);
    }
    if (b["accountant"]) {
      YAML::Node acc = YAML::Clone(b["accountant"]);
      if (acc.IsMap() && acc["accounts"] && acc["accounts"].IsSequence()) {
        for (auto a : acc["accounts"]) {
          if (!a.IsMap()) continue;
          resolve(a["config_dir"], base_dir, false);
          resolve(a["token_file"], base_dir, false);
        }
      }
      out["accountant"] = acc;
    }
  }
  YAML::Node roles(YAML::NodeType::Map);
  for (const auto& [role, count] : mode_roles(mode)) {
    YAML::Node r(YAML::NodeType::Map);
    if (b.IsMap() && b["roles"] && b["roles"].IsMap() && b["roles"][role] &&
        b["roles"][role].IsMap()) {
      r = YAML::Clone(b["roles"][role]);
    }
    r["count"] = count;
    resolve(r["scenario"], base_dir, false);
    resolve(r["skill"], base_dir, false);
    resolve(r["cli"], base_dir, true);
    resolve(r["binary"], base_dir, true);
    if (r["command"] && r["command"].IsSequence() && r["command"].size() > 0) {
      resolve(r["command"][0], base_dir, true);
    }
    roles[role] = r;
  }
  out["roles"] = roles;
  YAML::Emitter e;
  e << out;
  if (!e.good()) {
    return make_error(errc::internal, "writing the mode's agency.yaml: " + e.GetLastError());
  }
  return "# Written by agency experiment for mode " + mode + " of " + set.file.string() +
         (base ? " from " + base->string() : std::string(" (built-in default engines)")) + "\n" +
         e.c_str() + "\n";
}

// A fresh copy of the project at `to`: a clone of a repository's HEAD
// (without its remote: nothing goes back), or plain files committed.
// Returns its branch.
Result<std::string> copy_project(const fs::path& from, const fs::path& to) {
  // A repository's own top folder is cloned; a folder inside one (an
  // example in a repository) is plain files.
  auto top = git::run({"git", "rev-parse", "--show-toplevel"}, from, 30s);
  const auto lines = git::output_lines(top.output);
  std::error_code ec;
  const bool repository =
      top.exit_code == 0 && !lines.empty() && fs::equivalent(fs::path(lines.front()), from, ec);
  if (repository) {
    // What the clone leaves out, said once per mode: work not committed.
    auto dirty = git::run({"git", "status", "--porcelain", "--untracked-files=no"}, from, 30s);
    if (dirty.exit_code == 0 && !git::output_lines(dirty.output).empty()) {
      say("note: " + from.string() +
          " has changes not committed; the copy holds its last commit only");
    }
    auto cloned = git::run({"git", "clone", "-q", "--no-hardlinks", from.string(), to.string()},
                           to.parent_path(), 600s);
    if (cloned.exit_code != 0) {
      return make_error(errc::io, "cloning " + from.string() + ": " + tail(cloned.output));
    }
    (void)git::run({"git", "remote", "remove", "origin"}, to, 30s);
  } else {
    fs::copy(from, to, fs::copy_options::recursive, ec);
    if (ec) return make_error(errc::io, "copying " + from.string() + ": " + ec.message());
    auto init = git::run({"git", "init", "-q", "-b", "main"}, to, 30s);
    auto add = git::run({"git", "add", "-A"}, to, 120s);
    auto commit = git::run({"git", "commit", "-q", "--allow-empty", "-m", "experiment start"}, to,
                           120s, git::identity_env("experiment"));
    if (init.exit_code != 0 || add.exit_code != 0 || commit.exit_code != 0) {
      return make_error(errc::io, "making a repository of the copy of " + from.string() + ": " +
                                      tail(init.output + add.output + commit.output));
    }
  }
  auto branch = git::run({"git", "rev-parse", "--abbrev-ref", "HEAD"}, to, 30s);
  const auto names = git::output_lines(branch.output);
  if (branch.exit_code != 0 || names.empty() || names.front() == "HEAD") {
    return make_error(errc::config, from.string() +
                                        " has no branch checked out (a detached HEAD or no "
                                        "commit): check out a branch");
  }
  return names.front();
}

Result<std::unique_ptr<Connection>> connect_mesh(const config::Config& cfg) {
  return connect_up(cfg.state_dir, "agency-experiment");
}

// The record's last move to where it ended, for the wall time.
std::optional<SystemClock::time_point> ended_at(const v1::Task& t) {
  if (t.history_size() == 0) return std::nullopt;
  const auto& at = t.history(t.history_size() - 1).at();
  return SystemClock::time_point(
      std::chrono::seconds(at.seconds()) +
      std::chrono::duration_cast<SystemClock::duration>(std::chrono::nanoseconds(at.nanos())));
}

// Every check of a brief in a worktree of `ref`.
std::vector<Check> run_checks(const fs::path& repo, const std::string& ref, const fs::path& where,
                              const Brief& brief) {
  std::vector<Check> out;
  auto added = git::run({"git", "worktree", "add", "-q", "--detach", where.string(), ref}, repo);
  for (const auto& command : brief.done_when) {
    Check c;
    c.command = command;
    if (added.exit_code != 0) {
      c.exit_code = -1;
      c.output = "no result to check: " + tail(added.output);
    } else {
      auto r = git::run_shell(command, where, kCheckLimit);
      c.exit_code = r.exit_code;
      c.passed = r.exit_code == 0;
      if (!c.passed) c.output = tail(r.output);
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Sends the briefs to the mode's mesh, waits for their tasks to finish,
// and reads what they cost from the mode's records and ledger. Fills `m`;
// an error when the mode could not be driven.
Result<void> drive(const BriefSet& set, const std::string& mode, const config::Config& cfg,
                   int timeout_minutes, SignalFd& signals, ModeResult& m) {
  auto conn = connect_mesh(cfg);
  if (!conn) return make_error(conn.error().code, "connecting: " + conn.error().message);
  auto store = TaskStore::open(**conn, static_cast<std::size_t>(cfg.limits.task_bytes));
  if (!store) {
    return make_error(store.error().code, "opening the task records: " + store.error().message);
  }
  const auto started = SystemClock::now();
  for (const auto& b : set.briefs) {
    v1::Brief brief;
    brief.set_objective(b.objective);
    if (auto c = mode_constraint(mode); !c.empty()) brief.add_constraints(c);
    brief.set_done_when(done_when_text(b));
    brief.set_project(set.name);
    auto sent = send_brief(**conn, cfg, brief_role(mode), brief, "experiment");
    if (!sent) {
      return make_error(sent.error().code, "sending \"" + b.title + "\": " + sent.error().message);
    }
    BriefResult r;
    r.title = b.title;
    r.task_id = sent->task_id;
    m.briefs.push_back(std::move(r));
    say("[" + mode + "] " + sent->task_id + ": \"" + b.title + "\" to the " + brief_role(mode));
  }

  // Until every task has finished, or the mode's time is up.
  const auto deadline = SteadyClock::now() + std::chrono::minutes(timeout_minutes);
  std::optional<SystemClock::time_point> last_end;
  std::map<std::string, std::string> sub_stages;  // an epic's sub-tasks, for the progress lines
  for (;;) {
    bool all = true;
    for (auto& r : m.briefs) {
      if (r.finished) continue;
      auto loaded = store->load(r.task_id);
      if (!loaded) {
        all = false;
        continue;
      }
      const auto& t = loaded->task;
      if (t.stage() != r.stage) {
        r.stage = t.stage();
        say("[" + mode + "] " + r.task_id + ": " + r.stage +
            (t.children_size() > 0 ? " (" + std::to_string(t.children_size()) + " sub-tasks)"
                                   : std::string()));
      }
      for (const auto& child : t.children()) {
        auto c = store->load(child);
        if (!c || sub_stages[child] == c->task.stage()) continue;
        sub_stages[child] = c->task.stage();
        say("[" + mode + "]   " + child + ": " + c->task.stage());
      }
      if (finished(mode, t.stage())) {
        r.finished = true;
        if (auto at = ended_at(t); at && (!last_end || *at > *last_end)) last_end = at;
      } else {
        all = false;
      }
    }
    if (all) break;
    if (SteadyClock::now() >= deadline) {
      say("[" + mode + "] " + std::to_string(timeout_minutes) +
          " minutes passed: stopping with tasks unfinished");
      break;
    }
    // Polling the records, with a deadline; Ctrl-C ends the wait (the
    // mode's mesh is stopped on the way out).
    if (const int sig = signals.wait(200ms); sig != 0) {
      return make_error(errc::io, "interrupted by " + signal_name(sig) +
                                      " while its tasks ran; nothing more was measured");
    }
  }
  m.wall_seconds =
      std::chrono::duration<double>(last_end.value_or(SystemClock::now()) - started).count();

  // Bounces of each task and its sub-tasks, from the records.
  for (auto& r : m.briefs) {
    auto loaded = store->load(r.task_id);
    if (!loaded) continue;
    r.bounces = loaded->task.bounces();
    for (const auto& child : loaded->task.children()) {
      if (auto c = store->load(child)) r.bounces += c->task.bounces();
    }
    m.bounces += r.bounces;
  }
  // Every engine call of the mode's fleet, from its ledger: the mesh is the
  // mode's own, so all its agents' samples are the experiment's.
  auto ledger =
      accounting::replay_ledger(**conn, config::accountant(cfg), {}, cfg.limits.usage_bytes);
  if (!ledger) {
    return make_error(ledger.error().code, "reading the ledger: " + ledger.error().message);
  }
  for (const auto* e : ledger->all()) {
    if (e->human) continue;
    ++m.engine_calls;
    m.tokens += e->tokens.counted();
    m.cache_read_tokens += e->tokens.cache_read;
  }
  return {};
}

ModeResult run_mode(const GlobalOptions& global, const BriefSet& set, const std::string& mode,
                    const fs::path& dir, int timeout_minutes, SignalFd& signals) {
  ModeResult m;
  m.mode = mode;
  m.dir = dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  auto branch = copy_project(set.project, dir / "project");
  if (!branch) {
    m.error = branch.error().message;
    return m;
  }
  const auto base = base_config(global, set, mode);
  auto text = mode_config(base, set, mode, *branch);
  if (!text) {
    m.error = text.error().message;
    return m;
  }
  const fs::path config_file = dir / "agency.yaml";
  std::ofstream(config_file) << *text;
  auto cfg = config::load(config_file);
  if (!cfg) {
    m.error = "the mode's config does not load: " + cfg.error().message;
    return m;
  }
  say("[" + mode + "] starting its mesh in " + dir.string());
  {
    UpProcess mesh(dir, config_file);
    if (auto started = mesh.start(); !started) {
      m.error = started.error().message;
      return m;
    }
    if (auto driven = drive(set, mode, *cfg, timeout_minutes, signals, m); !driven) {
      m.error = driven.error().message;
      return m;
    }
  }

  // The checks, on what the mode produced.
  const fs::path repo = dir / "project";
  for (std::size_t i = 0; i < m.briefs.size(); ++i) {
    auto& r = m.briefs[i];
    std::string ref = *branch;
    if (mode == kSingle) {
      const std::string task_branch = git::branch_for(r.task_id);
      if (git::run({"git", "rev-parse", "--verify", "-q", task_branch}, repo, 30s).exit_code == 0) {
        ref = task_branch;
      }
    }
    r.checks = run_checks(repo, ref, dir / ("check-" + std::to_string(i + 1)), set.briefs[i]);
    const auto passed =
        std::count_if(r.checks.begin(), r.checks.end(), [](const Check& c) { return c.passed; });
    say("[" + mode + "] " + r.task_id + ": " + std::to_string(passed) + "/" +
        std::to_string(r.checks.size()) + " checks passed on " + ref);
  }
  return m;
}

void run_experiment(const GlobalOptions& global, const Options& opts) {
  // Before any thread: Ctrl-C stops the running mode's mesh, not us alone.
  SignalFd signals({SIGINT, SIGTERM});
  auto set = usable(read_brief_set(opts.file));
  auto modes = usable(parse_modes(opts.modes));
  Report report;
  report.set = set.name;
  report.dir = opts.dir.empty()
                   ? fs::temp_directory_path() / ("agency-experiment-" + set.name + "-" + stamp())
                   : fs::absolute(opts.dir);
  std::error_code ec;
  if (fs::exists(report.dir, ec) && !fs::is_empty(report.dir, ec)) {
    refuse(make_error(errc::config, "--dir " + report.dir.string() +
                                        " is not empty: each run needs a folder of its own"));
  }
  // Copying a project into a folder inside it would copy the copy.
  const auto project = fs::weakly_canonical(set.project, ec);
  const auto run = fs::weakly_canonical(report.dir, ec);
  auto [p_end, r_at] = std::mismatch(project.begin(), project.end(), run.begin(), run.end());
  if (p_end == project.end()) {
    refuse(make_error(errc::config, "--dir " + report.dir.string() + " is inside the project " +
                                        set.project.string() +
                                        ": each mode copies the project, so the run must be "
                                        "elsewhere"));
  }
  fs::create_directories(report.dir, ec);
  if (ec) fail(make_error(errc::io, "cannot make " + report.dir.string() + ": " + ec.message()));
  const int timeout = opts.timeout_minutes > 0 ? opts.timeout_minutes : set.timeout_minutes;
  say("experiment " + set.name + ": " + std::to_string(set.briefs.size()) + " briefs, modes " +
      [&] {
        std::string s;
        for (const auto& m : modes) s += (s.empty() ? "" : ", ") + m;
        return s;
      }() +
      "; everything is kept in " + report.dir.string());
  for (const auto& mode : modes) {
    report.modes.push_back(run_mode(global, set, mode, report.dir / mode, timeout, signals));
    const auto& m = report.modes.back();
    say("[" + mode + "] " + m.status() + (m.error.empty() ? "" : ": " + m.error));
    if (m.error.starts_with("interrupted")) break;
  }
  std::ofstream(report.dir / "report.json") << to_json(report).dump(2) << '\n';
  if (global.json) {
    std::cout << text::terminal_safe_json(
                     to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace))
              << '\n';
  } else {
    std::cout << text::terminal_safe(table(report));
  }
  if (!report.passed()) throw CLI::RuntimeError(kExitFailed);
}

}  // namespace

void add_experiment_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "experiment",
      "Run a brief set as a single agent, a pipeline and a team on fresh copies of a project, and "
      "compare time, tokens and done_when checks (docs/EXPERIMENTS.md)");
  cmd->footer(kHelp);
  cmd->add_option("file", opts->file, "the brief set (YAML)")->required()->type_name("FILE");
  cmd->add_option("--modes", opts->modes, "the modes to run, comma-separated (default: all three)")
      ->type_name("LIST");
  cmd->add_option("--dir", opts->dir,
                  "where each mode's project copy, config, state and logs go (default: a new "
                  "folder in the temp dir)")
      ->type_name("DIR");
  cmd->add_option("--timeout-minutes", opts->timeout_minutes,
                  "the longest one mode may run (default: the set's timeout_minutes, 30)")
      ->type_name("N")
      ->check(CLI::Range(1, 24 * 60));
  cmd->add_flag("--json", global.json, "print the report as JSON");
  cmd->callback([&global, opts] { run_experiment(global, *opts); });
}

}  // namespace agency::experiment
