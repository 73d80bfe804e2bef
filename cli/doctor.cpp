// agency doctor: whether the configured fleet can run here, and for each
// thing that stops it, what to do. It checks, without spending tokens:
// nats-server and its version, git and each project's repository, each
// engine's CLI (present, version, logged in), the usage endpoint, the
// accountant's ledger (~/.claude/projects), the state dir, and the JetStream
// limits of the server the fleet would use (a running `agency up`'s, the
// configured one, or a throwaway embedded server).
//
// Without agency.yaml it checks what `agency up` would choose here
// (runtime/place.hpp). Exit 0 when nothing fails (warnings allowed), 1 when
// a check fails, 2 when agency.yaml does not load.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bus/embedded_server.hpp"
#include "cli/cli.hpp"
#include "runtime/catalog.hpp"
#include "runtime/http.hpp"
#include "runtime/limits.hpp"
#include "runtime/place.hpp"
#include "runtime/process.hpp"
#include "runtime/skill.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// Streams and buckets `agency up` provisions (bus/provision.cpp): six
// streams and three KV buckets, each a stream on the server.
constexpr std::int64_t kStreamsNeeded = 9;
// Room a message's headers take beside the largest payload limits.* allows.
constexpr std::int64_t kHeaderRoom = 64 * 1024;
// A role whose rules are code runs no engine whatever its SKILL.md names
// (runtime/catalog.hpp).
bool runs_no_engine(const std::string& role) {
  const auto* info = catalog::find(role);
  return info != nullptr && !info->runs_engine;
}

std::string level_name(Level l) {
  switch (l) {
    case Level::ok:
      return "ok";
    case Level::warn:
      return "warn";
    case Level::fail:
      return "fail";
    case Level::skip:
      return "skip";
  }
  return "?";
}

std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

std::string first_line(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  auto e = s.find('\n', b);
  return s.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

std::string bytes_text(std::int64_t n) {
  if (n < 0) return "unlimited";
  if (n >= 1024 * 1024 * 1024) return std::to_string(n / (1024 * 1024 * 1024)) + " GiB";
  if (n >= 1024 * 1024) return std::to_string(n / (1024 * 1024)) + " MiB";
  if (n >= 1024) return std::to_string(n / 1024) + " KiB";
  return std::to_string(n) + " B";
}

fs::path self_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

// The engine a role runs: its engine key, else its SKILL.md's (found where
// the runtime looks for it), else scripted.
std::string role_engine(const config::Role& role) {
  if (!role.engine.empty()) return role.engine;
  std::vector<fs::path> candidates;
  if (!role.skill.empty()) {
    candidates.push_back(role.skill);
  } else {
    candidates.push_back(self_dir() / "skills" / role.name / "SKILL.md");
    if (const char* dir = std::getenv("AGENCY_SKILLS_DIR"); dir != nullptr && *dir != '\0') {
      candidates.push_back(fs::path(dir) / role.name / "SKILL.md");
    }
    candidates.push_back(fs::path("roles") / role.name / "SKILL.md");
  }
  for (const auto& path : candidates) {
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;
    auto skill = load_skill(path);
    if (skill && !skill->engine.empty()) return skill->engine;
    break;
  }
  return "scripted";
}

// ---- the checks ---------------------------------------------------------

Check check_nats_server(const config::Config& cfg, const std::string& url) {
  Check c{"nats-server"};
  if (!url.empty()) {
    c.level = Level::skip;
    c.detail = "not started here: the fleet uses the server at " + redact_url(url);
    return c;
  }
  const std::string program = cfg.nats.binary.empty() ? "nats-server" : cfg.nats.binary;
  auto path = find_program(program);
  if (!path) {
    c.level = Level::fail;
    c.detail = program + (program.find('/') != std::string::npos
                              ? " does not exist or is not executable"
                              : " is not on PATH; `agency up` starts one with JetStream");
    c.fix =
        "install nats-server (apt install nats-server, or a release from "
        "https://github.com/nats-io/nats-server/releases), or set nats.binary to it, or "
        "nats.url to a running server";
    return c;
  }
  auto version = place::run_tool({*path, "--version"}, place::kProbeTimeout);
  std::string v = first_line(version.out);
  c.detail = (v.empty() ? program + " (version unknown)" : v) + " at " + *path;
  // "nats-server: v2.9.10": JetStream as agency uses it needs 2.9 or later.
  auto at = v.find('v');
  int major = 0;
  int minor = 0;
  if (at != std::string::npos && std::sscanf(v.c_str() + at, "v%d.%d", &major, &minor) == 2 &&
      (major < 2 || (major == 2 && minor < 9))) {
    c.level = Level::fail;
    c.fix = "install nats-server 2.9 or later (agency's streams need it)";
  } else if (version.exit_code != 0) {
    c.level = Level::fail;
    c.detail = *path + " --version failed: " + first_line(version.err + version.out);
    c.fix = "reinstall nats-server, or set nats.binary to a working one";
  }
  return c;
}

Check check_git() {
  Check c{"git"};
  auto version = place::run_tool({"git", "--version"}, place::kProbeTimeout);
  if (version.exit_code != 0) {
    c.level = Level::fail;
    c.detail = "git is not on PATH (or does not run); agents work in git worktrees";
    c.fix = "install git (apt install git)";
    return c;
  }
  c.detail = first_line(version.out);
  return c;
}

std::vector<Check> check_projects(const config::Config& cfg, bool git_ok) {
  std::vector<Check> out;
  if (cfg.projects.empty()) {
    Check c{"projects", Level::fail};
    c.detail = "none: every brief would be blocked, as there is no repository to work in";
    c.fix = cfg.source.empty() || cfg.source.filename() == "agency.place.yaml"
                ? "run agency inside your git repository, or `agency init --write` there"
                : "list your repository under projects: in " + cfg.source.string() +
                      " (docs/CONFIG.md)";
    out.push_back(c);
    return out;
  }
  for (const auto& p : cfg.projects) {
    Check c{"project " + p.name};
    std::error_code ec;
    if (!fs::is_directory(p.repo, ec)) {
      c.level = Level::fail;
      c.detail = p.repo.string() + " does not exist or is not a directory";
      c.fix = "set projects[" + p.name + "].repo to the repository's path";
      out.push_back(c);
      continue;
    }
    if (!git_ok) {
      c.level = Level::skip;
      c.detail = p.repo.string() + ": not checked without git";
      out.push_back(c);
      continue;
    }
    auto inside = place::run_tool({"git", "rev-parse", "--is-inside-work-tree"},
                                  place::kProbeTimeout, p.repo);
    if (inside.exit_code != 0 || first_line(inside.out) != "true") {
      c.level = Level::fail;
      c.detail = p.repo.string() + " is not a git work tree";
      c.fix = "point repo at a git checkout (or `git init` there and commit once)";
      out.push_back(c);
      continue;
    }
    auto branch =
        place::run_tool({"git", "rev-parse", "--verify", "--quiet", p.default_branch + "^{commit}"},
                        place::kProbeTimeout, p.repo);
    if (branch.exit_code != 0) {
      c.level = Level::fail;
      c.detail = p.repo.string() + " has no commit on branch " + p.default_branch +
                 ", where every task's branch starts";
      c.fix = "commit once on " + p.default_branch + ", or set the project's default_branch";
      out.push_back(c);
      continue;
    }
    c.detail = p.repo.string() + ", branch " + p.default_branch + " at " +
               first_line(branch.out).substr(0, 12) +
               ", tests: " + (p.test_command.empty() ? "none" : p.test_command);
    auto dirty = place::run_tool({"git", "status", "--porcelain", "--untracked-files=no"},
                                 place::kProbeTimeout, p.repo);
    if (dirty.exit_code == 0 && !first_line(dirty.out).empty()) {
      c.level = Level::warn;
      c.detail += "; it has uncommitted changes, which agents do not see (they start from " +
                  p.default_branch + "'s last commit)";
      c.fix = "commit what the fleet should build on";
    } else if (p.test_command.empty()) {
      c.level = Level::warn;
      c.detail += " (the roles that run the project's tests have none to run)";
      c.fix = "set the project's test_command";
    }
    out.push_back(c);
  }
  return out;
}

std::string install_hint(const std::string& engine) {
  if (engine == "claude") {
    return "npm install -g @anthropic-ai/claude-code, then `claude` and /login (or set "
           "ANTHROPIC_API_KEY)";
  }
  if (engine == "codex") return "npm install -g @openai/codex, then `codex login`";
  return "npm install -g @google/gemini-cli, then `gemini` and /auth (or set GEMINI_API_KEY)";
}

std::vector<Check> check_engines(const config::Config& cfg) {
  // engine + cli -> the roles using it
  std::map<std::pair<std::string, std::string>, std::vector<const config::Role*>> uses;
  for (const auto& role : cfg.roles) {
    if (role.count == 0 || runs_no_engine(role.name)) continue;
    const std::string engine = role_engine(role);
    const bool cli_engine = engine == "claude" || engine == "codex" || engine == "gemini";
    uses[{engine, cli_engine ? role.cli : std::string()}].push_back(&role);
  }
  std::vector<Check> out;
  for (const auto& [key, roles] : uses) {
    const auto& [engine, cli] = key;
    std::vector<std::string> names;
    for (const auto* r : roles) names.push_back(r->name);
    const std::string for_roles = " (for " + join(names) + ")";
    Check c{"engine " + engine};
    if (engine == "claude" || engine == "codex" || engine == "gemini") {
      auto probe = place::probe_engine(engine, cli);
      if (probe.path.empty()) {
        c.level = Level::fail;
        c.detail = probe.login + for_roles;
        c.fix =
            cli.empty() ? install_hint(engine) : "set the roles' cli to where " + engine + " is";
      } else if (!probe.logged_in) {
        c.level = Level::fail;
        c.detail = (probe.version.empty() ? engine : probe.version) + " at " + probe.path + " is " +
                   probe.login.substr(0, probe.login.find(';')) + for_roles;
        auto semi = probe.login.find("; ");
        c.fix = semi == std::string::npos ? install_hint(engine) : probe.login.substr(semi + 2);
      } else {
        c.detail = (probe.version.empty() ? engine : probe.version) + " at " + probe.path + ", " +
                   probe.login + for_roles;
      }
    } else if (engine == "openai" || engine == "anthropic") {
      const auto* r = roles.front();
      std::string var = !r->api_key_env.empty() ? r->api_key_env
                        : engine == "openai"    ? "OPENAI_API_KEY"
                                                : "ANTHROPIC_API_KEY";
      const char* value = std::getenv(var.c_str());
      if (value != nullptr && *value != '\0') {
        c.detail = var + " is set" + for_roles;
      } else if (!r->base_url.empty()) {
        c.level = Level::warn;
        c.detail = var + " is not set; " + r->base_url + " may not need a key" + for_roles;
      } else {
        c.level = Level::fail;
        c.detail = var + " is not set, and the public API needs it" + for_roles;
        c.fix = "export " + var + "=... where `agency up` runs (keys never go in agency.yaml)";
      }
    } else if (engine == "command") {
      for (const auto* r : roles) {
        if (r->command.empty() || !find_program(r->command.front())) {
          c.level = Level::fail;
          c.detail =
              "roles." + r->name + ".command: " +
              (r->command.empty() ? std::string("not set") : r->command.front() + " is not found");
          c.fix = "set roles." + r->name + ".command to a program that exists";
          break;
        }
      }
      if (c.level == Level::ok) c.detail = "programs found" + for_roles;
    } else if (engine == "scripted") {
      c.level = Level::warn;
      c.detail = "canned answers, no real work" + for_roles;
      c.fix =
          "install and log in to claude, codex or gemini, and set the roles' engine "
          "(docs/ENGINES.md)";
    } else {
      c.level = Level::fail;
      c.detail = "unknown engine '" + engine + "'" + for_roles;
      c.fix = "use claude, codex, gemini, openai, anthropic, command or scripted";
    }
    out.push_back(c);
  }
  return out;
}

Check check_state_dir(const fs::path& state_dir) {
  Check c{"state dir"};
  // What does not exist yet is made for the test and removed again: the
  // doctor leaves no .agency behind in a repository.
  std::vector<fs::path> made;
  std::error_code ec;
  for (auto p = state_dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    made.insert(made.begin(), p);
    if (p == p.parent_path()) break;
  }
  for (const auto& p : made) {
    if (!fs::create_directory(p, ec) || ec) break;
  }
  if (!ec) {
    const fs::path probe = state_dir / (".doctor-" + std::to_string(::getpid()));
    std::ofstream out(probe);
    out << "x";
    out.close();
    if (!out) ec = std::make_error_code(std::errc::permission_denied);
    std::error_code ignored;
    fs::remove(probe, ignored);
  }
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    std::error_code ignored;
    fs::remove(*it, ignored);
  }
  if (ec) {
    c.level = Level::fail;
    c.detail = state_dir.string() + " is not writable: " + ec.message();
    c.fix = "set state_dir in agency.yaml to a directory this user may write";
    return c;
  }
  c.detail = state_dir.string() + " is writable";
  return c;
}

// A running `agency up` for this state dir holds up.lock.
bool up_running(const fs::path& state_dir) {
  int fd = ::open((state_dir / "up.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

struct AccountInfoFree {
  void operator()(jsAccountInfo* p) const { jsAccountInfo_Destroy(p); }
};

Check check_jetstream(Connection& conn, const config::Config& cfg, const std::string& where) {
  Check c{"jetstream"};
  jsAccountInfo* raw = nullptr;
  jsErrCode jerr{};
  natsStatus s = js_GetAccountInfo(&raw, conn.js(), nullptr, &jerr);
  std::unique_ptr<jsAccountInfo, AccountInfoFree> info(raw);
  if (s != NATS_OK || !info) {
    c.level = Level::fail;
    c.detail = where + ": JetStream does not answer (" + std::string(natsStatus_GetText(s)) +
               (jerr != 0 ? ", error " + std::to_string(static_cast<int>(jerr)) : "") + ")";
    c.fix =
        "run the server with JetStream on (nats-server -js, or jetstream {} in its "
        "config) and for this account";
    return c;
  }
  const auto& lim = info->Limits;
  const std::int64_t payload = natsConnection_GetMaxPayload(conn.raw());
  std::int64_t largest =
      std::max({cfg.limits.brief_bytes, cfg.limits.question_bytes, cfg.limits.mail_bytes,
                cfg.limits.usage_bytes, cfg.limits.task_bytes});
  c.detail = where + ": store " + bytes_text(lim.MaxStore) + ", memory " +
             bytes_text(lim.MaxMemory) + ", streams " +
             (lim.MaxStreams < 0 ? std::string("unlimited") : std::to_string(lim.MaxStreams)) +
             ", max_payload " + bytes_text(payload) + " (" + std::to_string(info->Streams) +
             " streams, " + bytes_text(static_cast<std::int64_t>(info->Store)) + " stored)";
  std::vector<std::string> problems;
  std::vector<std::string> fixes;
  if (lim.MaxStore == 0) {
    problems.push_back("the account may not store on disk, and every agency stream is a file");
    fixes.push_back("give the account a JetStream max_file store");
  }
  if (lim.MaxStreams >= 0 && lim.MaxStreams < kStreamsNeeded) {
    problems.push_back("the account may have " + std::to_string(lim.MaxStreams) +
                       " streams, agency needs " + std::to_string(kStreamsNeeded));
    fixes.push_back("raise the account's max_streams");
  }
  if (payload > 0 && payload < largest + kHeaderRoom) {
    problems.push_back("max_payload " + bytes_text(payload) + " is less than the largest limit (" +
                       bytes_text(largest) + ") with room for headers");
    fixes.push_back("raise the server's max_payload, or lower limits.* in agency.yaml");
  }
  if (!problems.empty()) {
    c.level = Level::fail;
    c.detail += "; " + join(problems, "; ");
    c.fix = join(fixes, "; ");
  }
  return c;
}

// The server the fleet would use: --nats or nats.url, else a running
// `agency up`'s; else a throwaway embedded server, which also proves the
// nats-server binary starts with JetStream.
Check check_server(const GlobalOptions& global, const config::Config& cfg,
                   const fs::path& state_dir, const std::string& configured, bool server_ok) {
  std::string url = configured;
  std::string where = url.empty() ? "" : redact_url(url);
  if (url.empty() && up_running(state_dir)) {
    std::ifstream in(state_dir / "nats.url");
    std::getline(in, url);
    where = "the running agency up's server " + url;
  }
  std::unique_ptr<EmbeddedServer> server;
  std::error_code ec;
  fs::path scratch;
  if (url.empty()) {
    if (!server_ok) {
      return {"jetstream", Level::skip, "not checked: no nats-server to start"};
    }
    char tmpl[] = "/tmp/agency-doctor-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      return {"jetstream", Level::fail, "cannot make a temporary directory in /tmp",
              "free space in /tmp"};
    }
    scratch = tmpl;
    EmbeddedServerOptions so;
    so.binary = cfg.nats.binary;
    so.state_dir = scratch;
    so.monitor_port = -1;
    auto started = EmbeddedServer::start(so);
    if (!started) {
      fs::remove_all(scratch, ec);
      return {"jetstream", Level::fail,
              "nats-server does not start with JetStream: " + started.error().message,
              "run it by hand to see why: nats-server -js -p 0"};
    }
    server = std::move(*started);
    url = server->url();
    where = "a trial embedded server";
  }
  auto settings = settings_from_environment();
  Check c{"jetstream"};
  if (!settings) {
    c.level = Level::fail;
    c.detail = settings.error().message;
    c.fix = "fix the NATS environment variables it names";
  } else {
    settings->servers = {url};
    settings->origin = global.nats_url.empty() ? "nats.url" : "--nats";
    ConnectOptions co;
    co.name = "agency-doctor";
    co.mode = ConnectMode::fail_fast;
    auto conn = Connection::open(*settings, co);
    if (!conn) {
      c.level = Level::fail;
      c.detail = "cannot reach " + where + ": " + conn.error().message;
      c.fix = "start that server, or correct --nats / nats.url";
    } else {
      c = check_jetstream(**conn, cfg, where);
    }
  }
  if (server) (void)server->stop(5000ms);
  if (!scratch.empty()) fs::remove_all(scratch, ec);
  return c;
}

// ---- the report ---------------------------------------------------------

void print_human(const std::string& heading, const std::vector<Check>& checks,
                 const std::vector<std::string>& notes) {
  std::cout << "agency doctor: " << heading << '\n';
  for (const auto& n : notes) std::cout << "  " << n << '\n';
  std::size_t width = 0;
  for (const auto& c : checks) width = std::max(width, c.name.size());
  int fails = 0;
  int warns = 0;
  for (const auto& c : checks) {
    std::string tag = c.level == Level::fail ? "FAIL" : level_name(c.level);
    std::cout << "  " << tag << std::string(6 - tag.size(), ' ') << c.name
              << std::string(width - c.name.size() + 2, ' ') << c.detail << '\n';
    if (!c.fix.empty()) {
      std::cout << "  " << std::string(6 + width + 2, ' ') << "fix: " << c.fix << '\n';
    }
    fails += c.level == Level::fail ? 1 : 0;
    warns += c.level == Level::warn ? 1 : 0;
  }
  if (fails == 0) {
    std::cout << "the fleet can run"
              << (warns > 0 ? " (" + std::to_string(warns) + " warning(s) above)" : std::string())
              << '\n';
  } else {
    std::cout << fails << " problem(s) keep the fleet from running; fix them and run "
              << "`agency doctor` again\n";
  }
}

int finish(const GlobalOptions& global, const std::string& heading, const fs::path& source,
           const std::vector<Check>& checks, const std::vector<std::string>& notes, int code) {
  bool ok = std::none_of(checks.begin(), checks.end(),
                         [](const Check& c) { return c.level == Level::fail; });
  if (global.json) {
    json out{{"ok", ok},
             {"config", source.empty() ? json(nullptr) : json(source.string())},
             {"checks", json::array()}};
    for (const auto& c : checks) {
      out["checks"].push_back({{"name", c.name},
                               {"status", level_name(c.level)},
                               {"detail", c.detail},
                               {"fix", c.fix}});
    }
    std::cout << out.dump() << '\n';
  } else {
    print_human(heading, checks, notes);
  }
  if (code != 0) return code;
  return ok ? 0 : kExitFailed;
}

int run_doctor(const GlobalOptions& global) {
  std::vector<Check> checks;
  std::vector<std::string> notes;
  auto loaded = config::load(global.config_path);
  if (!loaded) {
    checks.push_back(
        {"config", Level::fail, loaded.error().message, "fix what it names (docs/CONFIG.md)"});
    return finish(global, "the configuration does not load", {}, checks, notes, kExitUsage);
  }
  config::Config cfg = std::move(*loaded);
  std::error_code ec;
  const fs::path state_dir = fs::absolute(cfg.state_dir, ec).lexically_normal();
  std::string heading;
  fs::path source = cfg.source;
  if (cfg.source.empty()) {
    // What `agency up` would run here.
    auto found = place::detect(fs::current_path());
    auto parsed = config::parse(place::config_yaml(found, {state_dir, state_dir, ""}),
                                state_dir / "agency.place.yaml");
    if (!parsed) {
      checks.push_back(
          {"config", Level::fail,
           "the configuration made from this place does not parse: " + parsed.error().message});
      return finish(global, "no agency.yaml", {}, checks, notes, kExitFailed);
    }
    cfg = std::move(*parsed);
    heading = "no agency.yaml here: checking what `agency up` would choose";
    for (const auto& l : place::summary_lines(found)) notes.push_back(l);
    checks.push_back({"config", Level::ok, "none; `agency init --write` writes these choices"});
  } else {
    heading = cfg.source.string();
    checks.push_back({"config", Level::ok, cfg.source.string() + " loads"});
  }

  const std::string url = !global.nats_url.empty() ? global.nats_url : cfg.nats.url;
  checks.push_back(check_nats_server(cfg, url));
  const bool server_ok = checks.back().level == Level::ok;
  checks.push_back(check_git());
  const bool git_ok = checks.back().level == Level::ok;
  for (auto& c : check_projects(cfg, git_ok)) checks.push_back(std::move(c));
  for (auto& c : check_engines(cfg)) checks.push_back(std::move(c));
  // What the roles check of their own (the accountant: usage endpoints, ledger).
  for (const auto& role : catalog::roles()) {
    if (role.doctor == nullptr) continue;
    for (auto& c : role.doctor(cfg)) checks.push_back(std::move(c));
  }
  checks.push_back(check_state_dir(state_dir));
  checks.push_back(check_server(global, cfg, state_dir, url, server_ok));
  return finish(global, heading, cfg.source.empty() ? fs::path() : source, checks, notes, 0);
}

}  // namespace

void add_doctor_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand(
      "doctor",
      "Check that the configured fleet can run here, and say how to fix what stops it: "
      "nats-server and its version, git and each project's repository, each engine's CLI "
      "(present, version, logged in; no tokens spent), the usage endpoint, the accountant's "
      "ledger (~/.claude/projects), the state dir, the server's JetStream limits. Without "
      "agency.yaml it checks what `agency up` would choose here.\n"
      "Exit 0 when the fleet can run (warnings allowed), 1 when a check fails, 2 when "
      "agency.yaml does not load.");
  cmd->add_flag("--json", global.json,
                "print {ok, config, checks: [{name, status, detail, fix}]} as JSON");
  cmd->callback([&global] {
    int code = run_doctor(global);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace agency::cli
