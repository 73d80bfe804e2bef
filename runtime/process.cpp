// See process.hpp.
#include "runtime/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>

#include "bus/program.hpp"
#include "bus/spawn.hpp"

extern char**
    environ;  // NOLINT(readability-redundant-declaration): <unistd.h> only with _GNU_SOURCE

namespace agency {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::string_view kAlwaysPassed[] = {"PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER"};
// After SIGTERM the process group gets this long before SIGKILL.
constexpr auto kTermGrace = 5s;
// After the child exits, how long its leftovers may hold our pipes open.
constexpr auto kExitGrace = 500ms;
// A line longer than this is handed over in pieces: a program that never
// ends its line still shows progress, and memory stays bounded.
constexpr size_t kMaxLine = 4 * 1024 * 1024;
constexpr size_t kStderrTail = 20;
constexpr size_t kMaxTailLine = 300;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool open() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return make_error(errc::io, std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Writing to a child that stopped reading raises SIGPIPE, which would end
// the whole agent. It is blocked in this thread for the call (write() then
// fails with EPIPE) and a pending one is consumed before unblocking.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &set_, &old);
    was_blocked_ = sigismember(&old, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    if (was_blocked_) return;
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      timespec zero{0, 0};
      while (sigtimedwait(&set_, nullptr, &zero) == -1 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t set_{};
  bool was_blocked_ = false;
};

bool allowed(std::string_view name, const std::vector<std::string>& allow) {
  for (auto a : kAlwaysPassed) {
    if (name == a) return true;
  }
  for (const auto& a : allow) {
    std::string_view pattern = a;
    if (!pattern.empty() && pattern.back() == '*') {
      pattern.remove_suffix(1);
      if (name.substr(0, pattern.size()) == pattern) return true;
    } else if (name == pattern) {
      return true;
    }
  }
  return false;
}

// Splits a stream into lines for a callback; a false from the callback is
// remembered as a request to stop.
class Lines {
 public:
  explicit Lines(const LineFn& fn) : fn_(fn) {}

  void feed(std::string_view data) {
    partial_.append(data);
    size_t start = 0;
    size_t nl;
    while ((nl = partial_.find('\n', start)) != std::string::npos) {
      line(std::string_view(partial_).substr(start, nl - start));
      start = nl + 1;
    }
    partial_.erase(0, start);
    if (partial_.size() > kMaxLine) {
      line(partial_);
      partial_.clear();
    }
  }
  void finish() {
    if (!partial_.empty()) line(partial_);
    partial_.clear();
  }
  [[nodiscard]] bool stop_requested() const { return stop_; }
  [[nodiscard]] std::string tail() const {
    std::string out;
    for (const auto& l : tail_) {
      if (!out.empty()) out += '\n';
      out += l;
    }
    return out;
  }

 private:
  void line(std::string_view l) {
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ' || l.back() == '\t')) {
      l.remove_suffix(1);
    }
    if (l.find_first_not_of(" \t") == std::string_view::npos) return;
    if (fn_ && !fn_(l)) stop_ = true;
    std::string kept(l.substr(0, kMaxTailLine));
    if (l.size() > kMaxTailLine) kept += "...";
    tail_.push_back(std::move(kept));
    if (tail_.size() > kStderrTail) tail_.pop_front();
  }

  const LineFn& fn_;
  std::string partial_;
  std::deque<std::string> tail_;
  bool stop_ = false;
};

struct Exchange {
  const ProcessSpec& spec;
  Fd stdin_fd;
  Fd stdout_fd;
  Fd stderr_fd;
  const std::string& stdin_text;
  size_t stdin_done = 0;
  std::string stdout_text;
  bool output_cut = false;
  Lines out_lines;
  Lines err_lines;
};

// The child starts in its own process group (so the whole group can be
// ended) with no fd of ours but the three pipes (bus/spawn.hpp).
Result<pid_t> spawn(const ProcessSpec& spec, int in, int out, int err) {
  SpawnSpec child;
  child.argv = spec.argv;
  child.search_path = true;
  child.env = spec.env;
  child.workdir = spec.workdir;
  child.stdin_fd = in;
  child.stdout_fd = out;
  child.stderr_fd = spec.merge_stderr ? out : err;
  auto pid = spawn_process(child);
  if (!pid) {
    const std::string dir = spec.workdir.string();
    return make_error(errc::io, "cannot run '" + spec.argv.front() + "'" +
                                    (dir.empty() ? std::string() : " in " + dir) + ": " +
                                    pid.error().message);
  }
  return *pid;
}

void feed_stdin(Exchange& x) {
  while (x.stdin_done < x.stdin_text.size()) {
    ssize_t n = ::write(x.stdin_fd.get(), x.stdin_text.data() + x.stdin_done,
                        x.stdin_text.size() - x.stdin_done);
    if (n > 0) {
      x.stdin_done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;  // EPIPE: the child does not read its input; that is its choice
  }
  x.stdin_fd.reset();
}

// Reads what is there now; closes the fd at EOF or on error.
void read_some(Exchange& x, int fd, char* buf, size_t size) {
  const bool is_stdout = fd == x.stdout_fd.get();
  for (;;) {
    ssize_t n = ::read(fd, buf, size);
    if (n > 0) {
      std::string_view data(buf, static_cast<size_t>(n));
      if (is_stdout) {
        const size_t max = x.spec.max_output;
        if (x.spec.keep_tail) {
          x.stdout_text.append(data);
          if (x.stdout_text.size() > max) {
            x.stdout_text.erase(0, x.stdout_text.size() - max);
            x.output_cut = true;
          }
        } else {
          const size_t room = max - std::min(max, x.stdout_text.size());
          if (data.size() > room) x.output_cut = true;
          x.stdout_text.append(data.substr(0, room));
        }
        x.out_lines.feed(data);
      } else {
        x.err_lines.feed(data);
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (is_stdout) {
      x.stdout_fd.reset();
    } else {
      x.stderr_fd.reset();
    }
    return;
  }
}

void drain(Exchange& x, char* buf, size_t size) {
  if (x.stdout_fd.open()) read_some(x, x.stdout_fd.get(), buf, size);
  if (x.stderr_fd.open()) read_some(x, x.stderr_fd.get(), buf, size);
}

// Feeds stdin, collects stdout, streams stderr, until the child has exited
// and its pipes are closed; stops the process group on timeout, cancel or
// a callback's request.
void wait_for(pid_t pid, Exchange& x, const std::atomic<bool>& cancel, Clock::time_point deadline,
              ProcessResult& result) {
  bool exited = false;
  Clock::time_point exited_at{};
  std::optional<Clock::time_point> term_sent;
  bool kill_sent = false;
  set_nonblocking(x.stdin_fd.get());
  set_nonblocking(x.stdout_fd.get());
  set_nonblocking(x.stderr_fd.get());
  if (x.stdin_text.empty()) x.stdin_fd.reset();

  std::vector<char> buffer(65536);
  char* buf = buffer.data();
  for (;;) {
    if (!exited) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) {
        exited = true;
        exited_at = Clock::now();
        result.status = status;
      }
    }
    const auto now = Clock::now();
    if (exited && !x.stdout_fd.open() && !x.stderr_fd.open()) break;
    if (exited && now - exited_at > kExitGrace) {
      // Something the child started still holds the pipes: it belongs to
      // the group we run, so it goes too.
      ::kill(-pid, SIGKILL);
      drain(x, buf, buffer.size());
      break;
    }
    if (!exited && !term_sent) {
      if (cancel.load()) {
        result.end = ProcessEnd::cancelled;
      } else if (now >= deadline) {
        result.end = ProcessEnd::timeout;
      } else if (x.out_lines.stop_requested() || x.err_lines.stop_requested()) {
        result.end = ProcessEnd::stopped;
      }
      if (result.end != ProcessEnd::exited) {
        ::kill(-pid, SIGTERM);
        term_sent = now;
      }
    }
    if (term_sent && !kill_sent && !exited && now - *term_sent >= kTermGrace) {
      ::kill(-pid, SIGKILL);
      kill_sent = true;
    }

    pollfd fds[3];
    nfds_t n = 0;
    auto add = [&](const Fd& fd, short events) {
      if (fd.open()) fds[n++] = pollfd{fd.get(), events, 0};
    };
    add(x.stdout_fd, POLLIN);
    add(x.stderr_fd, POLLIN);
    add(x.stdin_fd, POLLOUT);
    int ready = ::poll(fds, n, 20);
    if (ready <= 0) continue;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == x.stdin_fd.get()) {
        feed_stdin(x);
      } else {
        read_some(x, fds[i].fd, buf, buffer.size());
      }
    }
  }
  if (!exited) ::waitpid(pid, &result.status, 0);
}

}  // namespace

int ProcessResult::exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

std::string ProcessResult::describe(std::string_view program) const {
  std::string msg(program);
  if (WIFSIGNALED(status)) {
    msg += " was killed by " + signal_name(WTERMSIG(status));
  } else {
    msg += " exited with code " + std::to_string(exit_code());
  }
  if (!stderr_tail.empty()) msg += "; its last stderr lines:\n" + stderr_tail;
  return msg;
}

std::optional<std::string> find_program(const std::string& program) {
  auto found = program::find(program);
  return found ? std::optional<std::string>(found->string()) : std::nullopt;
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? "SIG" + std::string(abbrev) : "signal " + std::to_string(sig);
}

std::vector<std::string> child_environment(const std::vector<std::string>& allow,
                                           const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = entry.substr(0, eq);
    if (allowed(name, allow)) vars[std::string(name)] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [k, v] : extra) vars[k] = v;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

Result<ProcessResult> run_process(const ProcessSpec& spec, const ProcessIo& io,
                                  const std::atomic<bool>& cancel) {
  const auto started = Clock::now();
  if (spec.argv.empty() || spec.argv.front().empty()) {
    return make_error(errc::internal, "run_process: no program given");
  }
  std::error_code ec;
  if (!spec.workdir.empty() && !fs::is_directory(spec.workdir, ec)) {
    return make_error(errc::io, "the work directory " + spec.workdir.string() + " does not exist");
  }
  auto in = make_pipe();
  auto out = make_pipe();
  auto err = make_pipe();
  if (!in) return in.error();
  if (!out) return out.error();
  if (!err) return err.error();

  SigpipeGuard sigpipe;
  auto pid = spawn(spec, in->read.get(), out->write.get(), err->write.get());
  if (!pid) return pid.error();
  // Our copies of the child's ends must go, or we would never see EOF.
  in->read.reset();
  out->write.reset();
  err->write.reset();

  Exchange x{spec,
             std::move(in->write),
             std::move(out->read),
             std::move(err->read),
             spec.stdin_text,
             0,
             {},
             false,
             Lines(io.on_stdout_line),
             Lines(io.on_stderr_line)};
  ProcessResult result;
  wait_for(*pid, x, cancel, spec.deadline, result);
  x.out_lines.finish();
  x.err_lines.finish();
  result.stdout_text = std::move(x.stdout_text);
  result.output_cut = x.output_cut;
  result.stderr_tail = x.err_lines.tail();
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return result;
}

}  // namespace agency
