// What `agency up` and `agency join` share to run agents on this machine:
// the terminal they report to, the state dir's lock, how a role's command
// is found and how one agent's child is described.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/connection.hpp"
#include "bus/result.hpp"
#include "cli/supervisor.hpp"
#include "runtime/config.hpp"
#include "runtime/credentials.hpp"

namespace agency::cli {

// Where the human-readable lines go: stdout, or stderr when --json keeps
// stdout for the JSON summary. `who` starts each line ("agency up").
struct Out {
  bool json = false;
  std::string who;
  [[nodiscard]] std::ostream& os() const { return json ? std::cerr : std::cout; }
  template <class T>
  const Out& operator<<(const T& v) const {
    os() << v;
    return *this;
  }
  void line(const std::string& text) const { os() << who << ": " << text << std::endl; }
  void warn(const std::string& text) const {
    std::cerr << who << ": warning: " << text << std::endl;
  }
};

// How long agents have between SIGTERM and SIGKILL when the fleet stops.
inline constexpr std::chrono::milliseconds kFleetGrace{20000};

// A table under a line of Out, columns padded to their widest cell.
void print_table(const Out& out, const std::vector<std::vector<std::string>>& rows);

// Holds <state_dir>/up.lock with flock for the life of the process, so a
// second `agency up` or `agency join` on the same directory does not run a
// second fleet (or store) there.
class StateLock {
 public:
  StateLock() = default;
  ~StateLock();
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;
  // false: another process holds it.
  Result<bool> acquire(const std::filesystem::path& path);

 private:
  int fd_ = -1;
};

std::string errno_text(int err);
std::string signal_name(int sig);
// The first line of a file; empty when it cannot be read.
std::string read_first_line(const std::filesystem::path& path);
// Writes via a temporary file and rename, so a reader never sees half of it.
Result<void> write_file_atomically(const std::filesystem::path& path, const std::string& text);
// Directory of the running `agency` binary: role binaries are built next to it.
std::filesystem::path self_dir();

// What runs one agent of a role, or why nothing can: roles.<r>.binary, else
// agency-<role> next to `exe_dir` or on PATH, else agency-role with the
// role's SKILL.md.
struct RoleCommand {
  std::vector<std::string> argv;  // empty: not found
  std::string problem;            // what was searched
};
RoleCommand resolve_role_command(const config::Config& cfg, const config::Role& role,
                                 const std::filesystem::path& exe_dir);

std::string join_argv(const std::vector<std::string>& argv);

// Where, with what and as whom the agents of this machine run.
struct FleetEnv {
  std::filesystem::path state_dir;
  std::filesystem::path logs;
  std::string nats_url;
  std::filesystem::path config_file;  // empty: the embedded default
  credentials::MeshAccess access;
  // Lets a new agent id in (its key, the server told): before it starts.
  std::function<Result<void>(const std::string& id, bool reload)> admit;
  // Set: an agent's NATS environment comes from here instead of `access`
  // (`agency join`: the creds files it was given).
  std::function<std::map<std::string, std::string>(const std::string& id)> client_env;
};

// When a child exits while it held a brief, hands that brief back at once
// (runtime/orphans.hpp) through `conn`, as `actor`, rather than after the ack
// wait, whether or not the supervisor restarts it. `conn` outlives `supervisor`'s
// children.
void hand_back_on_exit(Supervisor& supervisor, Connection& conn, std::chrono::seconds ack_wait,
                       const std::string& actor);

// Starts `spec` (an agent of `role`) and records it: a row of `rows`
// (AGENT, PID, COMMAND, LOG) and an entry of summary["agents"]; or, when it
// cannot start, a warning and an entry of summary["skipped"].
std::optional<pid_t> start_agent(const Out& out, Supervisor& supervisor, const ChildSpec& spec,
                                 const std::string& role,
                                 std::vector<std::vector<std::string>>& rows,
                                 nlohmann::json& summary);

// After signal `sig`: says so, stops every agent (SIGTERM, SIGKILL
// kFleetGrace later; a signal on `hurry_fd` kills them at once).
void stop_agents(const Out& out, Supervisor& supervisor, int sig, int hurry_fd);

// The child of agent `id` of `role`.
ChildSpec agent_spec(const FleetEnv& fleet, const config::Role& role,
                     const std::vector<std::string>& argv, const std::string& id);

}  // namespace agency::cli
