#include "cli/fleet.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "bus/program.hpp"
#include "runtime/logging.hpp"
#include "runtime/orphans.hpp"

namespace agency::cli {

namespace fs = std::filesystem;

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

StateLock::~StateLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Result<bool> StateLock::acquire(const fs::path& path) {
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

std::string errno_text(int err) { return std::generic_category().message(err); }

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

std::string read_first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

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

namespace {

using program::is_executable;

// On this process's PATH; nothing when it has none.
std::optional<fs::path> on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  return program::find(name, path);
}

}  // namespace

fs::path self_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

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

void hand_back_on_exit(Supervisor& supervisor, Connection& conn, std::chrono::seconds ack_wait,
                       const std::string& actor) {
  supervisor.on_exit([&conn, ack_wait, actor, log = make_logger(actor)](
                         const ChildStatus& child, pid_t pid, bool restarting) {
    auto done =
        orphans::hand_back_dead(conn, child.id, static_cast<int>(pid), ack_wait, actor,
                                actor + " saw it exit (" + describe_wait_status(child.last_status) +
                                    ")" + (restarting ? "" : " and does not restart it"));
    if (!done) {
      log->warn("cannot hand back the brief of agent={} pid={} error={}", child.id, pid,
                done.error().message);
    } else if (done->handed_back) {
      log->info("handed back the brief of agent={} pid={} ({})", child.id, pid, done->why);
    }
  });
}

std::optional<pid_t> start_agent(const Out& out, Supervisor& supervisor, const ChildSpec& spec,
                                 const std::string& role,
                                 std::vector<std::vector<std::string>>& rows,
                                 nlohmann::json& summary) {
  auto pid = supervisor.start(spec);
  if (!pid) {
    out.warn(pid.error().message + "; " + spec.id + " is not started");
    summary["skipped"].push_back(
        {{"agent", spec.id}, {"role", role}, {"reason", pid.error().message}});
    return std::nullopt;
  }
  rows.push_back({spec.id, std::to_string(*pid), join_argv(spec.argv), spec.log_file.string()});
  summary["agents"].push_back({{"id", spec.id},
                               {"role", role},
                               {"pid", *pid},
                               {"command", spec.argv},
                               {"log", spec.log_file.string()}});
  return *pid;
}

void stop_agents(const Out& out, Supervisor& supervisor, int sig, int hurry_fd) {
  std::size_t running = 0;
  for (const auto& s : supervisor.status()) running += s.running ? 1 : 0;
  out.line("received " + signal_name(sig) + ", stopping " + std::to_string(running) +
           " agent(s) (grace " + std::to_string(kFleetGrace.count() / 1000) +
           " s; Ctrl-C again kills them now)");
  supervisor.shutdown(kFleetGrace, hurry_fd);
}

ChildSpec agent_spec(const FleetEnv& fleet, const config::Role& role,
                     const std::vector<std::string>& argv, const std::string& id) {
  ChildSpec spec;
  spec.id = id;
  spec.argv = argv;
  spec.log_file = fleet.logs / (spec.id + ".log");
  spec.env = role.env;
  for (auto& [k, v] : fleet.client_env ? fleet.client_env(id) : fleet.access.client_env(id)) {
    spec.env[k] = v;
  }
  spec.env["NATS_URL"] = fleet.nats_url;
  spec.env["AGENCY_AGENT_ID"] = spec.id;
  spec.env["AGENCY_ROLE"] = role.name;
  spec.env["AGENCY_STATE_DIR"] = fleet.state_dir.string();
  if (!fleet.config_file.empty()) spec.env["AGENCY_CONFIG"] = fleet.config_file.string();
  return spec;
}

}  // namespace agency::cli
