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
// pidfd per child plus an optional stop fd and wake fd, never spinning)
// until a child exits, a restart or a deferred stop is due, the stop or wake
// fd is readable or max_wait passed, and does what is due. run() repeats it
// until the stop fd is readable.
//
// A retired child (retire(), stop()) is never restarted: it is one agent the
// fleet no longer wants (the dispatcher scaled its role down). It stays in
// status() with retired set.
//
// Thread: one owner thread; children must be started and stopped from the
// same thread (PR_SET_PDEATHSIG follows the thread that forked).
// Owner: `agency up`. The destructor shuts down whatever still runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  bool retired = false;                       // not restarted after it exits (retire(), stop())
};

// How long a stopped child has between SIGTERM and SIGKILL by default.
inline constexpr std::chrono::milliseconds kDefaultStopGrace{20000};

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
  // restart or deferred stop to come due, or stop_fd or wake_fd (if >= 0)
  // to become readable; reaps exited children, restarts those whose backoff
  // has passed and signals retired ones whose time is up. Returns true when
  // stop_fd is readable. Neither fd is read: the caller drains wake_fd (an
  // eventfd another thread writes to when it queued work for this one).
  bool poll_once(std::chrono::milliseconds max_wait, int stop_fd = -1, int wake_fd = -1);

  // The child `id` is not restarted once it exits; it keeps running until
  // then (an agent told to drain finishes what it holds first). With
  // stop_after, a child still running that long from now is stopped as by
  // stop(id, grace). A child waiting for its restart is simply not
  // restarted. Error errc::not_found for an unknown id.
  Result<void> retire(std::string_view id,
                      std::optional<std::chrono::milliseconds> stop_after = std::nullopt,
                      std::chrono::milliseconds grace = kDefaultStopGrace);

  // Retires `id` and sends SIGTERM to its process group now; SIGKILL
  // follows if it still runs after grace. Does not block: poll_once reaps it
  // and does the SIGKILL when due.
  Result<void> stop(std::string_view id, std::chrono::milliseconds grace = kDefaultStopGrace);

  // poll_once until stop_fd is readable.
  void run(int stop_fd);

  // SIGTERM to every child's process group, waits up to grace for them to
  // exit, SIGKILL to what is left, reaps all. No restarts afterwards. If
  // hurry_fd (>= 0) becomes readable during the grace period (a second
  // Ctrl-C), the stragglers are killed at once.
  void shutdown(std::chrono::milliseconds grace, int hurry_fd = -1);

  // Drops a retired child that has exited from status() (and size()), so a
  // fleet that scales up and down for months does not pile them up. Error
  // when `id` is unknown, not retired or still running.
  Result<void> forget(std::string_view id);

  // Called on the supervising thread when a child has exited (and been
  // reaped): its status with the pid it had, and whether it will be
  // restarted. `agency up` hands back the brief a dead agent held.
  using ExitHook = std::function<void(const ChildStatus& exited, pid_t pid, bool restarting)>;
  void on_exit(ExitHook hook) { on_exit_ = std::move(hook); }

  [[nodiscard]] std::vector<ChildStatus> status() const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Child;
  Child* find(std::string_view id);
  Result<void> spawn(Child& child);
  void reap(Child& child, int status);
  void kill_group(const Child& child, int sig);

  RestartPolicy policy_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<std::unique_ptr<Child>> children_;
  bool shutting_down_ = false;
  ExitHook on_exit_;
};

// Why a child ended, for people: "exit 1", "signal 15 (Terminated)".
std::string describe_wait_status(int status);

}  // namespace agency::cli
