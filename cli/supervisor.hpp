// The process supervisor behind `agency up`: runs one child process per
// agent, appends its output to a log file, restarts it when it exits (with
// exponential backoff), and stops everything on shutdown.
//
// Every child runs in its own process group, so a Ctrl-C in the terminal
// reaches only the supervisor's process, which then stops the children in
// order (SIGTERM to each group, SIGKILL after the grace period). Children
// get PR_SET_PDEATHSIG=SIGTERM: if the supervising thread dies, they stop.
//
// The loop is driven from outside: poll_once() waits (in poll(2) on one
// pidfd per child plus an optional stop fd, never spinning) until a child
// exits, a restart is due, the stop fd is readable or max_wait passed, and
// does what is due. run() repeats it until the stop fd is readable.
//
// Thread: one owner thread; children must be started and stopped from the
// same thread (PR_SET_PDEATHSIG follows the thread that forked).
// Owner: `agency up`. The destructor shuts down whatever still runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bus/result.hpp"

namespace spdlog {
class logger;
}

namespace agency::cli {

struct ChildSpec {
  std::string id;                          // agent id, e.g. "builder-1"
  std::vector<std::string> argv;           // argv[0]: a path, or a name found on PATH
  std::map<std::string, std::string> env;  // added to (or replacing in) our environment
  std::filesystem::path log_file;          // stdout+stderr, appended; parents created
};

struct RestartPolicy {
  // First delay before a restart; doubles with each exit up to max_backoff.
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  // A child that ran at least this long before exiting starts over at
  // initial_backoff: it was healthy, the exit is a new incident.
  std::chrono::milliseconds reset_after{60000};
};

struct ChildStatus {
  std::string id;
  pid_t pid = -1;  // -1 while not running
  bool running = false;
  int starts = 0;       // successful spawns, the first one included
  int restarts = 0;     // starts after an exit
  int last_status = 0;  // waitpid status of the last exit (WIFEXITED/WIFSIGNALED)
  bool exited = false;  // last_status is valid
  std::chrono::milliseconds last_backoff{0};  // delay chosen at the last exit
  std::string last_error;                     // why the last spawn failed, if it did
};

class Supervisor {
 public:
  explicit Supervisor(RestartPolicy policy = {}, std::shared_ptr<spdlog::logger> log = nullptr);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Adds a child and starts it. An error (log file not writable, binary not
  // found or not executable) leaves the child out and says why.
  Result<pid_t> start(ChildSpec spec);

  // One step of supervision: waits up to max_wait for a child to exit, a
  // restart to come due, or stop_fd (if >= 0) to become readable; reaps
  // exited children and restarts those whose backoff has passed. Returns
  // true when stop_fd is readable (it is not read).
  bool poll_once(std::chrono::milliseconds max_wait, int stop_fd = -1);

  // poll_once until stop_fd is readable.
  void run(int stop_fd);

  // SIGTERM to every child's process group, waits up to grace for them to
  // exit, SIGKILL to what is left, reaps all. No restarts afterwards. If
  // hurry_fd (>= 0) becomes readable during the grace period (a second
  // Ctrl-C), the stragglers are killed at once.
  void shutdown(std::chrono::milliseconds grace, int hurry_fd = -1);

  [[nodiscard]] std::vector<ChildStatus> status() const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Child;
  Result<void> spawn(Child& child);
  void reap(Child& child, int status);
  void kill_group(const Child& child, int sig);

  RestartPolicy policy_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<std::unique_ptr<Child>> children_;
  bool shutting_down_ = false;
};

// Why a child ended, for people: "exit 1", "signal 15 (Terminated)".
std::string describe_wait_status(int status);

}  // namespace agency::cli
