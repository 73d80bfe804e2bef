#include "cli/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "bus/program.hpp"
#include "bus/spawn.hpp"

extern char** environ;  // NOLINT: POSIX declares it nowhere in C++ headers

namespace agency::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Without pidfds (kernels before 5.3) child exits are noticed by polling at
// this interval.
constexpr milliseconds kFallbackPoll{100};

std::string errno_text(int err) { return std::generic_category().message(err); }

std::int64_t ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

int poll_timeout(milliseconds wait) {
  if (wait.count() <= 0) return 0;
  return static_cast<int>(std::min<std::int64_t>(wait.count(), 24LL * 3600 * 1000));
}

// glibc 2.36's <sys/pidfd.h> lacks extern "C" (fixed in 2.37): the system
// call directly. -1 on kernels without it (before 5.3).
int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U)); }

bool fd_readable(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

}  // namespace

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "signal " + std::to_string(sig) +
           (name != nullptr ? std::string(" (") + name + ")" : "");
  }
  return "status " + std::to_string(status);
}

struct Supervisor::Child {
  ChildSpec spec;
  ChildStatus st;
  int pidfd = -1;
  Clock::time_point started_at;
  std::optional<Clock::time_point> restart_at;
  milliseconds next_backoff{0};
  // A retired child's deferred stop: SIGTERM at term_at, SIGKILL at kill_at.
  std::optional<Clock::time_point> term_at;
  std::optional<Clock::time_point> kill_at;
  milliseconds stop_grace{kDefaultStopGrace};

  void close_pidfd() {
    if (pidfd >= 0) ::close(pidfd);
    pidfd = -1;
  }
};

Supervisor::Supervisor(RestartPolicy policy, std::shared_ptr<spdlog::logger> log)
    : policy_(policy), log_(log ? std::move(log) : spdlog::default_logger()) {}

Supervisor::~Supervisor() {
  bool any =
      std::any_of(children_.begin(), children_.end(), [](const auto& c) { return c->st.running; });
  if (any) shutdown(milliseconds{5000});
  for (auto& c : children_) c->close_pidfd();
}

Result<pid_t> Supervisor::start(ChildSpec spec) {
  if (spec.argv.empty()) return make_error(errc::config, "child '" + spec.id + "' has no command");
  auto child = std::make_unique<Child>();
  child->spec = std::move(spec);
  child->st.id = child->spec.id;
  child->next_backoff = policy_.initial_backoff;
  if (auto r = spawn(*child); !r) return r.error();
  pid_t pid = child->st.pid;
  children_.push_back(std::move(child));
  return pid;
}

Result<void> Supervisor::spawn(Child& child) {
  const ChildSpec& spec = child.spec;

  std::error_code ec;
  if (spec.log_file.has_parent_path()) {
    std::filesystem::create_directories(spec.log_file.parent_path(), ec);
    if (ec) {
      return make_error(errc::io, "cannot create " + spec.log_file.parent_path().string() +
                                      " for the log of " + spec.id + ": " + ec.message());
    }
  }
  int log_fd = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return make_error(errc::io, "cannot open log file " + spec.log_file.string() + " for " +
                                    spec.id + ": " + errno_text(errno));
  }
  auto close_log = [&] { ::close(log_fd); };

  std::string path_var;
  if (auto it = spec.env.find("PATH"); it != spec.env.end()) {
    path_var = it->second;
  } else if (const char* p = std::getenv("PATH"); p != nullptr) {
    path_var = p;
  }
  // Looked up here, on the child's PATH.
  auto program = program::find(spec.argv[0], path_var);
  if (!program) {
    close_log();
    return make_error(errc::config, "cannot run " + spec.id + ": '" + spec.argv[0] + "' " +
                                        (spec.argv[0].find('/') != std::string::npos
                                             ? "does not exist or is not executable"
                                             : "is not on PATH (" + path_var + ")"));
  }
  std::string program_path = program->string();

  SpawnSpec spawn_spec;
  spawn_spec.program = program_path;
  spawn_spec.argv = spec.argv;
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    auto key = entry.substr(0, entry.find('='));
    if (spec.env.find(std::string(key)) == spec.env.end()) env_strings.emplace_back(entry);
  }
  for (const auto& [key, value] : spec.env) env_strings.push_back(key + "=" + value);
  spawn_spec.env = std::move(env_strings);
  spawn_spec.stdout_fd = log_fd;
  spawn_spec.stderr_fd = log_fd;
  // It dies with us: no agent outlives a crashed `agency up`.
  spawn_spec.death_signal = SIGTERM;

  // A marker between runs, so a reader of the log sees where each start begins.
  auto now_wall = std::time(nullptr);
  std::string marker =
      fmt::format("--- agency: starting {} (start {}) at {:%Y-%m-%dT%H:%M:%S%z} ---\n", spec.id,
                  child.st.starts + 1, fmt::localtime(now_wall));
  (void)!::write(log_fd, marker.data(), marker.size());

  auto started = spawn_process(spawn_spec);
  close_log();
  if (!started) {
    return make_error(
        errc::io, "cannot run " + spec.id + " (" + program_path + "): " + started.error().message);
  }
  const pid_t pid = *started;

  child.close_pidfd();
  child.pidfd = pidfd_open(pid);
  if (child.pidfd >= 0) ::fcntl(child.pidfd, F_SETFD, FD_CLOEXEC);
  child.st.pid = pid;
  child.st.running = true;
  child.st.last_error.clear();
  child.started_at = Clock::now();
  child.restart_at.reset();
  if (child.st.starts > 0) ++child.st.restarts;
  ++child.st.starts;
  log_->info("agent started agent={} pid={} start={} log={}", spec.id, pid, child.st.starts,
             spec.log_file.string());
  return {};
}

void Supervisor::reap(Child& child, int status) {
  auto now = Clock::now();
  auto ran = ms_between(child.started_at, now);
  child.close_pidfd();
  child.st.running = false;
  child.st.exited = true;
  child.st.last_status = status;
  pid_t pid = child.st.pid;
  child.st.pid = -1;
  child.term_at.reset();
  child.kill_at.reset();
  if (child.st.retired) {
    child.restart_at.reset();
    log_->info("agent retired agent={} pid={} status=\"{}\" ran_ms={}", child.spec.id, pid,
               describe_wait_status(status), ran);
    if (on_exit_) on_exit_(child.st, pid, false);
    return;
  }
  if (shutting_down_) {
    log_->info("agent stopped agent={} pid={} status=\"{}\"", child.spec.id, pid,
               describe_wait_status(status));
    if (on_exit_) on_exit_(child.st, pid, false);
    return;
  }
  if (milliseconds{ran} >= policy_.reset_after) child.next_backoff = policy_.initial_backoff;
  auto delay = child.next_backoff;
  child.next_backoff = std::min(child.next_backoff * 2, policy_.max_backoff);
  child.st.last_backoff = delay;
  child.restart_at = now + delay;
  log_->warn("agent exited agent={} pid={} status=\"{}\" ran_ms={} restart_in_ms={}", child.spec.id,
             pid, describe_wait_status(status), ran, delay.count());
  if (on_exit_) on_exit_(child.st, pid, true);
}

bool Supervisor::poll_once(milliseconds max_wait, int stop_fd, int wake_fd) {
  auto now = Clock::now();
  auto wait = max_wait;
  auto until = [&](Clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(t - now) + milliseconds{1};
  };
  bool fallback = false;
  std::vector<pollfd> fds;
  if (stop_fd >= 0) fds.push_back({stop_fd, POLLIN, 0});
  if (wake_fd >= 0) fds.push_back({wake_fd, POLLIN, 0});
  for (const auto& c : children_) {
    if (c->st.running) {
      if (c->pidfd >= 0) {
        fds.push_back({c->pidfd, POLLIN, 0});
      } else {
        fallback = true;
      }
      if (c->term_at) wait = std::min(wait, until(*c->term_at));
      if (c->kill_at) wait = std::min(wait, until(*c->kill_at));
    } else if (c->restart_at && !shutting_down_) {
      wait = std::min(wait, until(*c->restart_at));
    }
  }
  if (fallback) wait = std::min(wait, kFallbackPoll);
  int ready = ::poll(fds.data(), fds.size(), poll_timeout(wait));
  bool stop = ready > 0 && stop_fd >= 0 && (fds[0].revents & POLLIN) != 0;

  for (auto& c : children_) {
    if (!c->st.running) continue;
    int status = 0;
    pid_t r = ::waitpid(c->st.pid, &status, WNOHANG);
    if (r == c->st.pid) reap(*c, status);
  }

  now = Clock::now();
  for (auto& c : children_) {
    if (!c->st.running) continue;
    if (c->kill_at && *c->kill_at <= now) {
      log_->warn("retired agent did not stop in time, killing agent={} pid={} grace_ms={}",
                 c->spec.id, c->st.pid, c->stop_grace.count());
      c->kill_at.reset();
      kill_group(*c, SIGKILL);  // reaped by a later poll_once, its pidfd says when
    } else if (c->term_at && *c->term_at <= now) {
      log_->warn("retired agent still runs, stopping agent={} pid={}", c->spec.id, c->st.pid);
      c->term_at.reset();
      c->kill_at = now + c->stop_grace;
      kill_group(*c, SIGTERM);
    }
  }

  if (!shutting_down_) {
    now = Clock::now();
    for (auto& c : children_) {
      if (c->st.running || !c->restart_at || *c->restart_at > now) continue;
      if (auto r = spawn(*c); !r) {
        // Counts as an exit at once: the backoff keeps a broken binary from
        // being retried in a tight loop.
        c->st.last_error = r.error().message;
        auto delay = c->next_backoff;
        c->next_backoff = std::min(c->next_backoff * 2, policy_.max_backoff);
        c->st.last_backoff = delay;
        c->restart_at = now + delay;
        log_->error("agent restart failed agent={} error=\"{}\" retry_in_ms={}", c->spec.id,
                    r.error().message, delay.count());
      }
    }
  }
  return stop;
}

Supervisor::Child* Supervisor::find(std::string_view id) {
  for (auto& c : children_) {
    if (c->spec.id == id) return c.get();
  }
  return nullptr;
}

Result<void> Supervisor::retire(std::string_view id, std::optional<milliseconds> stop_after,
                                milliseconds grace) {
  Child* c = find(id);
  if (c == nullptr) return make_error(errc::not_found, "no agent " + std::string(id) + " here");
  c->st.retired = true;
  c->restart_at.reset();
  c->stop_grace = grace;
  if (c->st.running && stop_after) {
    auto at = Clock::now() + *stop_after;
    if (!c->term_at || at < *c->term_at) c->term_at = at;
  }
  log_->info("agent retiring agent={} pid={} running={} stop_after_ms={}", c->spec.id, c->st.pid,
             c->st.running, stop_after ? stop_after->count() : -1);
  return {};
}

Result<void> Supervisor::stop(std::string_view id, milliseconds grace) {
  if (auto r = retire(id, std::nullopt, grace); !r) return r;
  Child* c = find(id);
  if (!c->st.running) return {};
  c->term_at.reset();
  if (!c->kill_at) c->kill_at = Clock::now() + grace;
  log_->info("stopping agent agent={} pid={} grace_ms={}", c->spec.id, c->st.pid, grace.count());
  kill_group(*c, SIGTERM);
  return {};
}

Result<void> Supervisor::forget(std::string_view id) {
  auto it = std::find_if(children_.begin(), children_.end(),
                         [&](const auto& c) { return c->spec.id == id; });
  if (it == children_.end()) {
    return make_error(errc::not_found, "no agent " + std::string(id) + " here");
  }
  if (!(*it)->st.retired || (*it)->st.running) {
    return make_error(errc::config, "agent " + std::string(id) +
                                        " is still supervised; retire it and let it exit first");
  }
  (*it)->close_pidfd();
  children_.erase(it);
  return {};
}

void Supervisor::run(int stop_fd) {
  while (!poll_once(milliseconds{3600 * 1000}, stop_fd)) {
  }
}

void Supervisor::kill_group(const Child& child, int sig) {
  if (child.st.pid <= 0) return;
  if (::kill(-child.st.pid, sig) != 0) ::kill(child.st.pid, sig);
}

void Supervisor::shutdown(milliseconds grace, int hurry_fd) {
  shutting_down_ = true;
  std::vector<pid_t> groups;
  for (auto& c : children_) {
    c->restart_at.reset();
    if (!c->st.running) continue;
    groups.push_back(c->st.pid);
    log_->info("stopping agent agent={} pid={}", c->spec.id, c->st.pid);
    kill_group(*c, SIGTERM);
  }
  auto deadline = Clock::now() + grace;
  while (true) {
    bool any = false;
    for (auto& c : children_) {
      if (!c->st.running) continue;
      int status = 0;
      if (::waitpid(c->st.pid, &status, WNOHANG) == c->st.pid) {
        reap(*c, status);
      } else {
        any = true;
      }
    }
    auto now = Clock::now();
    if (!any || now >= deadline) break;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds{1};
    std::vector<pollfd> fds;
    if (hurry_fd >= 0) fds.push_back({hurry_fd, POLLIN, 0});
    bool fallback = false;
    for (const auto& c : children_) {
      if (!c->st.running) continue;
      if (c->pidfd >= 0) {
        fds.push_back({c->pidfd, POLLIN, 0});
      } else {
        fallback = true;
      }
    }
    if (fallback) left = std::min(left, kFallbackPoll);
    ::poll(fds.data(), fds.size(), poll_timeout(left));
    if (fd_readable(hurry_fd)) {
      log_->warn("asked again to stop: killing the remaining agents now");
      break;
    }
  }
  const bool hurried = fd_readable(hurry_fd);
  for (auto& c : children_) {
    if (!c->st.running) continue;
    if (hurried) {
      log_->warn("killing agent agent={} pid={}", c->spec.id, c->st.pid);
    } else {
      log_->warn("agent did not stop in time, killing agent={} pid={} grace_ms={}", c->spec.id,
                 c->st.pid, grace.count());
    }
    kill_group(*c, SIGKILL);
    int status = 0;
    while (::waitpid(c->st.pid, &status, 0) < 0 && errno == EINTR) {
    }
    reap(*c, status);
  }
  // What a child left behind in its process group (an engine it started)
  // does not outlive the fleet.
  for (pid_t group : groups) ::kill(-group, SIGKILL);
}

std::vector<ChildStatus> Supervisor::status() const {
  std::vector<ChildStatus> out;
  out.reserve(children_.size());
  for (const auto& c : children_) out.push_back(c->st);
  return out;
}

std::size_t Supervisor::size() const { return children_.size(); }

}  // namespace agency::cli
