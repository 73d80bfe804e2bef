// agency up: one machine's whole mesh. Starts an embedded nats-server (unless
// --nats or nats.url names an existing one), provisions the streams,
// consumers and buckets, runs `count` agents of every configured role under
// the supervisor, and on SIGINT/SIGTERM/SIGHUP stops the fleet, then the
// server.
//
// Signals: SIGINT, SIGTERM and SIGHUP are blocked before any thread exists
// (nats.c threads inherit the mask) and read from a signalfd, so no code
// runs in a signal handler. Children get a clean mask (supervisor.cpp).
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "agents/logging.hpp"
#include "bus/embedded_server.hpp"
#include "bus/provision.hpp"
#include "cli/cli.hpp"
#include "cli/supervisor.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr milliseconds kFleetGrace{20000};
constexpr milliseconds kServerGrace{10000};

struct UpOptions {
  bool no_fleet = false;
};

std::string errno_text(int err) { return std::generic_category().message(err); }

// SIGINT, SIGTERM and SIGHUP, blocked and readable from a file descriptor
// for as long as this object lives.
class SignalFd {
 public:
  SignalFd() {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, sig);
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
    fd_ = ::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  ~SignalFd() {
    if (fd_ >= 0) ::close(fd_);
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  // The pending signal, consumed; 0 if none.
  int take() {
    signalfd_siginfo info{};
    if (fd_ < 0 || ::read(fd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return 0;
    return static_cast<int>(info.ssi_signo);
  }
  // Waits up to timeout for a signal; returns it (consumed) or 0.
  int wait(milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return 0;
    return take();
  }

 private:
  sigset_t set_{};
  sigset_t old_{};
  int fd_ = -1;
};

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal " + std::to_string(sig);
  }
}

// Where the human-readable lines go: stdout, or stderr when --json keeps
// stdout for the JSON summary.
struct Out {
  bool json = false;
  std::ostream& os() const { return json ? std::cerr : std::cout; }
  template <class T>
  const Out& operator<<(const T& v) const {
    os() << v;
    return *this;
  }
  void line(const std::string& text) const { os() << "agency up: " << text << std::endl; }
  void warn(const std::string& text) const {
    std::cerr << "agency up: warning: " << text << std::endl;
  }
};

// Holds <state_dir>/up.lock with flock for the life of `agency up`, so a
// second one on the same directory does not start a second store there.
class StateLock {
 public:
  ~StateLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }
  // false: another process holds it.
  Result<bool> acquire(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return make_error(errc::io, "cannot open " + path.string() + ": " + errno_text(errno));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return false;
      return make_error(errc::io, "cannot lock " + path.string() + ": " + errno_text(errno));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) (void)!::write(fd_, pid.data(), pid.size());
    return true;
  }

 private:
  int fd_ = -1;
};

std::string read_first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

// Writes via a temporary file and rename, so a reader never sees half a URL.
Result<void> write_file_atomically(const fs::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return make_error(errc::io, "cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return make_error(errc::io, "cannot write " + path.string() + ": " + ec.message());
  return {};
}

bool is_executable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

std::optional<fs::path> on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (is_executable(candidate)) return candidate;
  }
  return std::nullopt;
}

// Directory of the running `agency` binary: role binaries are built next to it.
fs::path self_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

// What runs one agent of a role, or why nothing can.
struct RoleCommand {
  std::vector<std::string> argv;  // empty: not found
  std::string problem;            // what was searched
};

RoleCommand resolve_role_command(const config::Config& cfg, const config::Role& role,
                                 const fs::path& exe_dir) {
  RoleCommand out;
  auto with_args = [&](std::vector<std::string> argv) {
    argv.insert(argv.end(), role.args.begin(), role.args.end());
    return argv;
  };
  if (!role.binary.empty()) {
    if (role.binary.find('/') != std::string::npos) {
      if (is_executable(role.binary)) {
        out.argv = with_args({role.binary});
      } else {
        out.problem = "roles." + role.name + ".binary " + role.binary +
                      " does not exist or is not executable";
      }
    } else if (auto p = on_path(role.binary)) {
      out.argv = with_args({p->string()});
    } else {
      out.problem = "roles." + role.name + ".binary '" + role.binary + "' is not on PATH";
    }
    return out;
  }

  const std::string own = "agency-" + role.name;
  std::vector<std::string> searched;
  if (!exe_dir.empty()) {
    auto next_to_us = exe_dir / own;
    searched.push_back(next_to_us.string());
    if (is_executable(next_to_us)) {
      out.argv = with_args({next_to_us.string()});
      return out;
    }
  }
  searched.push_back(own + " on PATH");
  if (auto p = on_path(own)) {
    out.argv = with_args({p->string()});
    return out;
  }
  // A role without its own binary runs the generic one with its SKILL.md.
  std::optional<fs::path> generic;
  if (!exe_dir.empty()) {
    searched.push_back((exe_dir / "agency-role").string());
    if (is_executable(exe_dir / "agency-role")) generic = exe_dir / "agency-role";
  }
  if (!generic) {
    searched.push_back("agency-role on PATH");
    generic = on_path("agency-role");
  }
  if (generic) {
    fs::path skill = role.skill;
    if (skill.empty()) {
      auto base = cfg.source.empty() ? fs::current_path() : cfg.source.parent_path();
      skill = base / "roles" / role.name / "SKILL.md";
    }
    out.argv = with_args({generic->string(), "--skill", skill.string()});
    return out;
  }
  std::string list;
  for (const auto& s : searched) list += (list.empty() ? "" : ", ") + s;
  out.problem = "no binary for role " + role.name + " (searched " + list +
                "); build it, or set roles." + role.name + ".binary in agency.yaml";
  return out;
}

std::string join_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

void print_table(const Out& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line = "  ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out.os() << line << '\n';
  }
  out.os() << std::flush;
}

// Everything `agency up` has started, torn down in reverse order whatever
// path leaves run_up.
struct Session {
  Out out;
  std::unique_ptr<EmbeddedServer> server;
  fs::path url_file;  // written while the embedded server runs
  StateLock lock;

  ~Session() { stop_server(); }

  void stop_server() {
    if (server) {
      auto pid = server->pid();
      auto r = server->stop(kServerGrace);
      if (!r)
        out.warn("stopping nats-server: " + r.error().message);
      else
        out.line("nats-server stopped (pid " + std::to_string(pid) + ")");
      server.reset();
    }
    if (!url_file.empty()) {
      std::error_code ec;
      fs::remove(url_file, ec);
      url_file.clear();
    }
  }
};

int run_up(const GlobalOptions& global, const UpOptions& opts) {
  // First, before any thread exists.
  SignalFd signals;
  Session session;
  const Out& out = session.out;
  session.out.json = global.json;

  auto loaded = load_config_or_report(global);
  if (!loaded) return kExitUsage;
  config::Config cfg = std::move(*loaded);

  std::error_code ec;
  const fs::path state_dir = fs::absolute(cfg.state_dir, ec).lexically_normal();
  fs::create_directories(state_dir, ec);
  if (ec) {
    report(make_error(errc::io, "cannot create the state dir " + state_dir.string() + ": " +
                                    ec.message() + "; set state_dir in agency.yaml"));
    return kExitFailed;
  }

  const fs::path url_file = state_dir / "nats.url";
  auto locked = session.lock.acquire(state_dir / "up.lock");
  if (!locked) {
    report(locked.error());
    return kExitFailed;
  }
  if (!*locked) {
    auto url = read_first_line(url_file);
    report(
        make_error(errc::config,
                   "another `agency up` is already running for " + state_dir.string() +
                       (url.empty() ? "" : " (NATS at " + url + ")") +
                       "; stop it first (Ctrl-C in its terminal), or use a different state_dir"));
    return kExitUsage;
  }

  // The server: an existing one, or our own.
  std::string nats_url = !global.nats_url.empty() ? global.nats_url : cfg.nats.url;
  std::string origin = !global.nats_url.empty() ? "--nats" : "nats.url in agency.yaml";
  if (nats_url.empty()) {
    EmbeddedServerOptions so;
    so.binary = cfg.nats.binary;
    so.state_dir = state_dir / "nats";
    so.host = cfg.nats.host;
    so.port = cfg.nats.port;
    so.monitor_port = cfg.nats.monitor_port;
    auto started = EmbeddedServer::start(so);
    if (!started) {
      report(started.error());
      return exit_code_for(started.error());
    }
    session.server = std::move(*started);
    nats_url = session.server->url();
    origin = "embedded nats-server";
    if (auto r = write_file_atomically(url_file, nats_url + "\n"); !r) {
      out.warn(r.error().message + "; other agency commands will not find the server by itself");
    } else {
      session.url_file = url_file;
    }
    out.line("nats-server running (pid " + std::to_string(session.server->pid()) +
             ", JetStream on)");
    out << "  NATS URL     " << nats_url << '\n';
    out << "  use it with: export NATS_URL=" << nats_url << '\n';
    if (session.server->monitor_port() > 0) {
      out << "  monitoring   http://" << (cfg.nats.host == "0.0.0.0" ? "127.0.0.1" : cfg.nats.host)
          << ':' << session.server->monitor_port() << '\n';
    }
    out << "  state dir    " << state_dir.string() << '\n';
    out << "  server log   " << (so.state_dir / "nats-server.log").string() << '\n';
    out.os() << std::flush;
  } else {
    out.line("using the NATS server at " + redact_url(nats_url) + " (" + origin + ")");
    out << "  state dir    " << state_dir.string() << '\n';
    out.os() << std::flush;
  }

  if (int sig = signals.take(); sig != 0) {
    out.line("received " + signal_name(sig) + " while starting; stopping");
    return 0;
  }

  // Credentials and TLS come from the environment as for every NATS client.
  auto settings = settings_from_environment();
  if (!settings) {
    report(settings.error());
    return exit_code_for(settings.error());
  }
  settings->servers = {nats_url};
  settings->origin = origin;
  ConnectOptions co;
  co.name = "agency-up";
  co.mode = ConnectMode::keep_trying;
  auto connection = Connection::open(*settings, co);
  if (!connection) {
    report(connection.error());
    return exit_code_for(connection.error());
  }
  if (!(*connection)->connected()) {
    out.line("waiting for NATS at " + redact_url(nats_url) + " (Ctrl-C to give up)");
    while (!(*connection)->connected()) {
      if (int sig = signals.wait(milliseconds{250}); sig != 0) {
        out.line("received " + signal_name(sig) + " while waiting for NATS; stopping");
        return 0;
      }
    }
  }

  ProvisionPlan plan;
  plan.roles = builtin_roles();
  for (const auto& role : cfg.roles) {
    if (std::find(plan.roles.begin(), plan.roles.end(), role.name) == plan.roles.end()) {
      plan.roles.push_back(role.name);
    }
  }
  plan.replicas = cfg.nats.replicas;
  plan.ack_wait = std::chrono::seconds(cfg.pipeline.ack_wait_seconds);
  auto provisioned = provision(**connection, plan);
  if (!provisioned) {
    report(provisioned.error());
    return exit_code_for(provisioned.error());
  }
  out.line(
      "provisioned streams, consumers and buckets: " + std::to_string(provisioned->created.size()) +
      " created, " + std::to_string(provisioned->updated.size()) + " updated, " +
      std::to_string(provisioned->unchanged.size()) + " unchanged");
  // Kept open while the fleet runs and closed before the server stops.
  std::unique_ptr<Connection> conn = std::move(*connection);

  // The fleet.
  Supervisor supervisor(RestartPolicy{}, make_logger("up"));
  json summary = {{"nats_url", redact_url(nats_url)},
                  {"embedded", session.server != nullptr},
                  {"state_dir", state_dir.string()},
                  {"provision",
                   {{"created", provisioned->created.size()},
                    {"updated", provisioned->updated.size()},
                    {"unchanged", provisioned->unchanged.size()}}},
                  {"agents", json::array()},
                  {"skipped", json::array()}};
  if (session.server && session.server->monitor_port() > 0) {
    summary["monitor_url"] = "http://127.0.0.1:" + std::to_string(session.server->monitor_port());
  }
  std::vector<std::vector<std::string>> rows = {{"AGENT", "PID", "COMMAND", "LOG"}};
  if (!opts.no_fleet) {
    const auto exe_dir = self_dir();
    const auto logs = state_dir / "logs";
    for (const auto& role : cfg.roles) {
      if (role.count == 0) continue;
      auto command = resolve_role_command(cfg, role, exe_dir);
      if (command.argv.empty()) {
        out.warn(command.problem + "; its " + std::to_string(role.count) +
                 " agent(s) are not started");
        summary["skipped"].push_back({{"role", role.name}, {"reason", command.problem}});
        continue;
      }
      for (int n = 1; n <= role.count; ++n) {
        ChildSpec spec;
        spec.id = role.name + "-" + std::to_string(n);
        spec.argv = command.argv;
        spec.log_file = logs / (spec.id + ".log");
        spec.env = role.env;
        spec.env["NATS_URL"] = nats_url;
        spec.env["AGENCY_AGENT_ID"] = spec.id;
        spec.env["AGENCY_ROLE"] = role.name;
        spec.env["AGENCY_STATE_DIR"] = state_dir.string();
        if (!cfg.source.empty()) spec.env["AGENCY_CONFIG"] = fs::absolute(cfg.source).string();
        auto pid = supervisor.start(spec);
        if (!pid) {
          out.warn(pid.error().message + "; " + spec.id + " is not started");
          summary["skipped"].push_back({{"role", role.name}, {"reason", pid.error().message}});
          continue;
        }
        rows.push_back(
            {spec.id, std::to_string(*pid), join_argv(spec.argv), spec.log_file.string()});
        summary["agents"].push_back({{"id", spec.id},
                                     {"role", role.name},
                                     {"pid", *pid},
                                     {"command", spec.argv},
                                     {"log", spec.log_file.string()}});
      }
    }
    out.line("started " + std::to_string(supervisor.size()) + " agent(s); logs in " +
             logs.string());
    if (supervisor.size() > 0) print_table(out, rows);
  } else {
    out.line("--no-fleet: no agents started");
  }
  if (global.json) std::cout << summary.dump() << std::endl;
  out.line("running; Ctrl-C stops the fleet and the server");

  supervisor.run(signals.fd());
  int sig = signals.take();
  std::size_t running = 0;
  for (const auto& s : supervisor.status()) running += s.running ? 1 : 0;
  out.line("received " + signal_name(sig) + ", stopping " + std::to_string(running) +
           " agent(s) (grace " + std::to_string(kFleetGrace.count() / 1000) +
           " s; Ctrl-C again kills them now)");
  supervisor.shutdown(kFleetGrace, signals.fd());
  conn.reset();
  session.stop_server();
  out.line("stopped cleanly");
  return 0;
}

}  // namespace

void add_up_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<UpOptions>();
  auto* cmd = app.add_subcommand(
      "up",
      "Run the mesh on this machine: an embedded nats-server with JetStream (unless --nats or "
      "nats.url names a server), the streams and buckets, and every role's agents, supervised "
      "and restarted until Ctrl-C.\n"
      "  agency up                        embedded server, fleet from agency.yaml\n"
      "  agency up --nats nats://h:4222   use an existing server\n"
      "  agency up --no-fleet             only the server and the streams");
  cmd->add_flag("--no-fleet", opts->no_fleet, "start the server and provision, but no agents");
  cmd->add_flag("--json", global.json,
                "print the start summary as one JSON line on stdout (messages go to stderr)");
  cmd->callback([&global, opts] {
    int code = run_up(global, *opts);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace agency::cli
