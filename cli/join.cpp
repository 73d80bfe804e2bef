// agency join: part of a fleet on this machine, against a mesh that runs
// elsewhere (`agency up` on another host, or your own cluster). One agent
// per credentials file `agency creds ROLE --out F` wrote on the mesh's
// host, supervised and restarted like `agency up`'s, with a state dir of
// its own (worktrees, clones of the projects' remotes, logs). No server, no
// provisioning, no console: the mesh has those.
//
// The supervisor's key (`agency creds supervisor --out F`), when given, is
// join's own connection: it hands back the brief of an agent that died
// holding one at once. Without it an agent restarted under the same id
// hands its old brief back itself, and the ack wait covers the rest.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/signals.hpp"
#include "cli/cli.hpp"
#include "cli/fleet.hpp"
#include "runtime/credentials.hpp"
#include "runtime/logging.hpp"
#include "runtime/permissions.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::milliseconds;

// What credentials.cpp writes first into every key file.
constexpr std::string_view kCredsHeader = "# agency NATS credentials for ";

struct JoinOptions {
  std::string url;
  std::vector<std::string> creds;  // files, or directories of *.creds
  std::vector<std::string> roles;  // empty: every role with a key
  std::string ca;
  std::string state_dir;
};

// One key file: whose it is, read from the line credentials.cpp writes.
struct Key {
  std::string name;  // agent id, supervisor or admin
  fs::path file;
  std::string text;
};

Result<Key> read_key(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(errc::config, "cannot read the credentials file " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  Key key{"", file, text.str()};
  std::istringstream lines(key.text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(kCredsHeader, 0) != 0) continue;
    key.name = line.substr(kCredsHeader.size());
    while (!key.name.empty() && (key.name.back() == '\r' || key.name.back() == ' ')) {
      key.name.pop_back();
    }
    break;
  }
  if (key.name.empty() || key.text.find("-----BEGIN USER NKEY SEED-----") == std::string::npos) {
    return make_error(errc::config,
                      file.string() + " is not a key file `agency creds` wrote (no line \"" +
                          std::string(kCredsHeader) +
                          "<name>\" and seed): make one on the mesh's host with `agency creds "
                          "ROLE --out FILE`");
  }
  return key;
}

// The key files named on the command line: files, and the *.creds in
// directories, in name order.
Result<std::vector<Key>> read_keys(const std::vector<std::string>& given) {
  std::vector<Key> keys;
  std::set<std::string> seen;
  for (const auto& g : given) {
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(g, ec)) {
      for (const auto& entry : fs::directory_iterator(g, ec)) {
        if (entry.path().extension() == ".creds") files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) return make_error(errc::config, "no *.creds file in " + g);
    } else {
      files.emplace_back(g);
    }
    for (const auto& f : files) {
      auto key = read_key(f);
      if (!key) return key.error();
      if (!seen.insert(key->name).second) {
        return make_error(errc::config, "two credentials files for " + key->name + " (" +
                                            f.string() + " is the second)");
      }
      keys.push_back(std::move(*key));
    }
  }
  return keys;
}

std::string list_of(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// A first connection with each key, so a key the mesh does not know, or a
// server not there, is said now and not in a log of restarts.
Result<void> check_key(const JoinOptions& opts, const ConnectSettings& base, const Key& key,
                       const fs::path& kept) {
  ConnectSettings settings = base;
  settings.nkey_seed_file = kept.string();
  ConnectOptions co;
  co.name = "agency-join-check";
  co.inbox_prefix = "_INBOX." + key.name;
  auto c = Connection::open(settings, co);
  if (c) return {};
  std::string text = c.error().message;
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (lower.find("authoriz") != std::string::npos || lower.find("authentic") != std::string::npos) {
    return make_error(errc::config, "the mesh at " + redact_url(opts.url) + " refuses the key of " +
                                        key.name + " (" + key.file.string() + "): " + text +
                                        "; make it with `agency creds` on the mesh's host while "
                                        "its `agency up` runs (which lets it in), or reload "
                                        "your server's users");
  }
  return c.error();
}

int run_join(const GlobalOptions& global, const JoinOptions& opts) {
  SignalFd signals({SIGINT, SIGTERM, SIGHUP});
  const Out out{global.json, "agency join"};

  auto loaded = load_config_or_report(global);
  if (!loaded) return kExitUsage;
  const config::Config cfg = std::move(*loaded);
  std::vector<std::string> roles;
  for (const auto& r : cfg.roles) roles.push_back(r.name);

  for (const auto& r : opts.roles) {
    if (cfg.role(r) == nullptr) {
      report(make_error(errc::config, "--roles names '" + r + "', no role of agency.yaml (" +
                                          list_of(roles) + ")"));
      return kExitUsage;
    }
  }
  if (opts.creds.empty()) {
    report(make_error(errc::config,
                      "no --creds: on the mesh's host, `agency creds ROLE --out FILE` writes a key "
                      "for one agent of ROLE; copy it here and pass --creds FILE (or a directory "
                      "of them)"));
    return kExitUsage;
  }
  auto keys = read_keys(opts.creds);
  if (!keys) {
    report(keys.error());
    return kExitUsage;
  }

  // Which keys run agents, and join's own.
  std::vector<Key> agents;
  std::optional<Key> supervisor_key;
  std::vector<std::string> left_out;
  for (auto& key : *keys) {
    const auto who = permissions::principal_named(key.name, roles);
    if (who.kind == permissions::Kind::supervisor) {
      supervisor_key = std::move(key);
    } else if (who.kind == permissions::Kind::admin) {
      report(make_error(errc::config, key.file.string() +
                                          " is admin's key, which runs no agent and should stay "
                                          "with the mesh's owner: give one key per agent "
                                          "(`agency creds ROLE --out FILE`)"));
      return kExitUsage;
    } else if (who.role.empty()) {
      report(make_error(errc::config, key.file.string() + " is the key of " + key.name +
                                          ", which is no agent of a role of agency.yaml (" +
                                          list_of(roles) + ")"));
      return kExitUsage;
    } else if (!opts.roles.empty() &&
               std::find(opts.roles.begin(), opts.roles.end(), who.role) == opts.roles.end()) {
      left_out.push_back(key.name);
    } else {
      agents.push_back(std::move(key));
    }
  }
  for (const auto& r : opts.roles) {
    const bool has = std::any_of(agents.begin(), agents.end(), [&](const Key& k) {
      return permissions::principal_named(k.name, roles).role == r;
    });
    if (!has) {
      report(make_error(errc::config, "--roles names " + r +
                                          ", but no credentials file given is an agent of it: "
                                          "on the mesh's host, `agency creds " +
                                          r + " --out " + r + ".creds` makes one"));
      return kExitUsage;
    }
  }
  if (agents.empty()) {
    report(make_error(errc::config, "none of the credentials files given is an agent's"));
    return kExitUsage;
  }

  // The state dir: --state-dir, else AGENCY_STATE_DIR, else agency.yaml's.
  const char* env_state = std::getenv("AGENCY_STATE_DIR");
  std::error_code ec;
  const fs::path state_dir =
      fs::absolute(!opts.state_dir.empty()                      ? fs::path(opts.state_dir)
                   : env_state != nullptr && *env_state != '\0' ? fs::path(env_state)
                                                                : cfg.state_dir,
                   ec)
          .lexically_normal();
  fs::create_directories(state_dir, ec);
  if (ec) {
    report(make_error(errc::io, "cannot create the state dir " + state_dir.string() + ": " +
                                    ec.message() + "; pass --state-dir"));
    return kExitFailed;
  }
  StateLock lock;
  auto locked = lock.acquire(state_dir / "up.lock");
  if (!locked) {
    report(locked.error());
    return kExitFailed;
  }
  if (!*locked) {
    report(make_error(errc::config,
                      "an `agency up` or `agency join` already runs with the state "
                      "dir " +
                          state_dir.string() + "; stop it, or pass --state-dir"));
    return kExitUsage;
  }

  // The keys are kept in the state dir (0600), so an agent restarted later
  // does not depend on the files given staying where they were.
  std::map<std::string, fs::path> kept;
  for (const auto& key : agents) kept[key.name] = credentials::creds_file(state_dir, key.name);
  if (supervisor_key) kept["supervisor"] = credentials::creds_file(state_dir, "supervisor");
  const fs::path auth = credentials::auth_dir(state_dir);
  fs::create_directories(auth, ec);
  fs::permissions(auth, fs::perms::owner_all, ec);
  auto keep = [&](const Key& key) -> Result<void> {
    return credentials::write_private(kept.at(key.name), key.text);
  };
  for (const auto& key : agents) {
    if (auto r = keep(key); !r) {
      report(r.error());
      return kExitFailed;
    }
  }
  if (supervisor_key) {
    if (auto r = keep(*supervisor_key); !r) {
      report(r.error());
      return kExitFailed;
    }
  }

  auto base = settings_from_environment();
  if (!base) {
    report(base.error());
    return exit_code_for(base.error());
  }
  base->servers.clear();
  std::string rest = opts.url;
  for (std::size_t at = 0; at <= rest.size();) {
    auto comma = rest.find(',', at);
    if (comma == std::string::npos) comma = rest.size();
    std::string one = rest.substr(at, comma - at);
    one.erase(0, one.find_first_not_of(" \t"));
    one.erase(one.find_last_not_of(" \t") + 1);
    if (!one.empty()) base->servers.push_back(one);
    at = comma + 1;
  }
  if (base->servers.empty()) {
    report(make_error(errc::config, "no NATS URL given: agency join nats://host:4222 --creds F"));
    return kExitUsage;
  }
  base->origin = "agency join's URL";
  base->creds_file.clear();
  base->user.clear();
  base->password.clear();
  base->token.clear();
  if (!opts.ca.empty()) base->tls_ca = fs::absolute(opts.ca).string();
  for (const auto& key : agents) {
    if (auto r = check_key(opts, *base, key, kept.at(key.name)); !r) {
      report(r.error());
      return exit_code_for(r.error());
    }
  }

  // join's own connection, as the supervisor: hands back dead agents' briefs.
  std::unique_ptr<Connection> conn;
  if (supervisor_key) {
    if (auto r = check_key(opts, *base, *supervisor_key, kept.at("supervisor")); !r) {
      report(r.error());
      return exit_code_for(r.error());
    }
    ConnectSettings settings = *base;
    settings.nkey_seed_file = kept.at("supervisor").string();
    ConnectOptions co;
    co.name = "agency-join";
    co.mode = ConnectMode::keep_trying;
    co.inbox_prefix = "_INBOX.supervisor";
    auto c = Connection::open(settings, co);
    if (!c) {
      report(c.error());
      return exit_code_for(c.error());
    }
    conn = std::move(*c);
  }

  const std::string tls_ca = base->tls_ca;
  std::string url_list;
  for (const auto& u : base->servers) url_list += (url_list.empty() ? "" : ",") + u;
  FleetEnv fleet{state_dir,
                 state_dir / "logs",
                 url_list,
                 cfg.source.empty() ? fs::path() : fs::absolute(cfg.source),
                 {},
                 nullptr,
                 [&kept, tls_ca](const std::string& id) {
                   std::map<std::string, std::string> env{{"NATS_NKEY", kept.at(id).string()},
                                                          {"NATS_CREDS", ""},
                                                          {"NATS_USER", ""},
                                                          {"NATS_PASSWORD", ""},
                                                          {"NATS_TOKEN", ""},
                                                          {"NATS_CONTEXT", ""}};
                   if (!tls_ca.empty()) env["NATS_CA"] = tls_ca;
                   return env;
                 }};

  Supervisor supervisor(RestartPolicy{}, make_logger("join"));
  if (conn) {
    hand_back_on_exit(supervisor, *conn, std::chrono::seconds(cfg.pipeline.ack_wait_seconds),
                      "agency-join");
  }

  json summary = {{"nats_url", redact_url(opts.url)}, {"state_dir", state_dir.string()},
                  {"supervisor", conn != nullptr},    {"agents", json::array()},
                  {"skipped", json::array()},         {"left_out", left_out}};
  out.line("joining the mesh at " + redact_url(opts.url) +
           (cfg.source.empty() ? " (no agency.yaml: the agents know no projects)"
                               : " with " + cfg.source.string()));
  if (!left_out.empty()) out.line("not in --roles, so not started: " + list_of(left_out));
  for (const auto& p : cfg.projects) {
    std::error_code gone;
    if (!p.from_remote && !fs::exists(p.repo / ".git", gone) &&
        !fs::exists(p.repo / "HEAD", gone)) {
      out.warn("project " + p.name + " names the repository " + p.repo.string() +
               ", which is not on this machine: its tasks cannot be worked here; give it a "
               "remote address (projects[].remote, docs/CONFIG.md)");
    }
  }
  std::vector<std::vector<std::string>> rows = {{"AGENT", "PID", "COMMAND", "LOG"}};
  const auto exe_dir = self_dir();
  for (const auto& key : agents) {
    const std::string role_name = permissions::principal_named(key.name, roles).role;
    const config::Role& role = *cfg.role(role_name);
    auto command = resolve_role_command(cfg, role, exe_dir);
    if (command.argv.empty()) {
      out.warn(command.problem + "; " + key.name + " is not started");
      summary["skipped"].push_back({{"agent", key.name}, {"reason", command.problem}});
      continue;
    }
    (void)start_agent(out, supervisor, agent_spec(fleet, role, command.argv, key.name), role.name,
                      rows, summary);
  }
  if (supervisor.size() == 0) {
    report(make_error(errc::config, "no agent could be started (see the warnings above)"));
    if (global.json) std::cout << summary.dump() << std::endl;
    return kExitFailed;
  }
  out.line("started " + std::to_string(supervisor.size()) + " agent(s); logs in " +
           fleet.logs.string());
  print_table(out, rows);
  if (!conn) {
    out.line("no supervisor key given: a dead agent's brief is handed back when it restarts");
  }
  if (global.json) std::cout << summary.dump() << std::endl;
  out.line("running; Ctrl-C stops these agents");

  while (!supervisor.poll_once(milliseconds{3600 * 1000}, signals.fd())) {
  }
  stop_agents(out, supervisor, signals.take(), signals.fd());
  conn.reset();
  out.line("stopped cleanly");
  return 0;
}

}  // namespace

void add_join_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<JoinOptions>();
  auto* cmd = app.add_subcommand(
      "join",
      "Run part of the fleet on this machine against a mesh that runs elsewhere: one agent per "
      "credentials file, supervised and restarted until Ctrl-C, with a state dir of its own.\n"
      "On the mesh's host, while `agency up` runs:\n"
      "  agency creds builder --out builder.creds      (once per agent)\n"
      "  agency creds supervisor --out supervisor.creds  (optional: hands back a dead agent's "
      "brief at once)\n"
      "Here, with the same agency.yaml (projects with a remote address):\n"
      "  agency join nats://mesh:4222 --creds builder.creds --creds supervisor.creds\n"
      "  agency join nats://a:4222,nats://b:4222 --creds keys/ --roles builder --ca ca.pem");
  cmd->add_option("url", opts->url, "the mesh's NATS URL (several, comma-separated, for a cluster)")
      ->required();
  cmd->add_option("--creds", opts->creds,
                  "a key file `agency creds NAME --out FILE` wrote, or a directory of *.creds "
                  "(repeat it); one agent runs per agent key");
  cmd->add_option("--roles", opts->roles,
                  "only the agents of these roles (comma-separated); each must have a key")
      ->delimiter(',');
  cmd->add_option("--ca", opts->ca, "the CA that signed the mesh's TLS certificate (NATS_CA)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--state-dir", opts->state_dir,
                  "this machine's state dir: worktrees, clones, logs, the keys (default: "
                  "AGENCY_STATE_DIR, else state_dir in agency.yaml)");
  cmd->add_flag("--json", global.json,
                "print the start summary as one JSON line on stdout (messages go to stderr)");
  cmd->callback([&global, opts] {
    int code = run_join(global, *opts);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace agency::cli
