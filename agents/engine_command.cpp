// The command engine: any program as an engine (docs/ENGINES.md). The brief
// goes in on stdin as JSON and in AGENCY_* variables, the answer comes back
// on stdout (an ```agency block, else the exit code is the verdict), and
// stderr lines become progress.
//
// Thread: run() is called from the agent's work thread and does all its
// reading there, with poll(); no thread outlives a call.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "agents/engine.hpp"
#include "bus/codec.hpp"

extern char**
    environ;  // NOLINT(readability-redundant-declaration): <unistd.h> only with _GNU_SOURCE

namespace agency {

namespace engine_detail {
std::string expand(std::string_view text, const std::map<std::string, std::string>& values);
std::map<std::string, std::string> placeholders(const Turn& turn);
}  // namespace engine_detail

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Variables every engine process gets from ours when we have them; anything
// else (tokens, keys) only when the role's env_allow names it.
constexpr std::string_view kAlwaysPassed[] = {"PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER"};
// After SIGTERM the process group gets this long before SIGKILL.
constexpr auto kTermGrace = 5s;
// After the child exits, how long its leftovers may hold our pipes open.
constexpr auto kExitGrace = 500ms;
// More stdout than this is dropped: an answer is text, not a data dump.
constexpr size_t kMaxStdout = 16 * 1024 * 1024;
constexpr size_t kStderrTail = 20;
constexpr size_t kMaxProgressLine = 300;

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

// The prompt, in a file of its own for the engine to read; removed at the
// end of the call.
class PromptFile {
 public:
  PromptFile() = default;
  ~PromptFile() {
    std::error_code ec;
    if (!path_.empty()) fs::remove(path_, ec);
  }
  PromptFile(const PromptFile&) = delete;
  PromptFile& operator=(const PromptFile&) = delete;

  Result<void> write(const std::string& text) {
    std::error_code ec;
    fs::path dir = fs::temp_directory_path(ec);
    if (ec) dir = "/tmp";
    std::string templ = (dir / "agency-prompt-XXXXXX").string();
    Fd fd(::mkostemp(templ.data(), O_CLOEXEC));
    if (!fd.open()) {
      return make_error(errc::io, "cannot create the prompt file in " + dir.string() + ": " +
                                      std::strerror(errno));
    }
    path_ = templ;
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return make_error(errc::io,
                          "cannot write the prompt file " + templ + ": " + std::strerror(errno));
      }
      done += static_cast<size_t>(n);
    }
    return {};
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? "SIG" + std::string(abbrev) : "signal " + std::to_string(sig);
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::int64_t to_int(const std::string& s) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  return (end != nullptr && *end == '\0' && v >= 0) ? v : 0;
}

// Lines of stderr as they arrive: each complete one goes to progress, the
// last few are kept for the error message.
class StderrLines {
 public:
  explicit StderrLines(const ProgressFn& progress) : progress_(progress) {}

  void feed(std::string_view data) {
    partial_.append(data);
    size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      line(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    // A program that never ends its line still shows progress.
    if (partial_.size() > 4 * kMaxProgressLine) {
      line(partial_);
      partial_.clear();
    }
  }
  void finish() {
    if (!partial_.empty()) line(partial_);
    partial_.clear();
  }
  [[nodiscard]] std::string tail() const {
    std::string out;
    for (const auto& l : tail_) {
      if (!out.empty()) out += '\n';
      out += l;
    }
    return out;
  }

 private:
  void line(std::string l) {
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ' || l.back() == '\t')) l.pop_back();
    if (l.find_first_not_of(" \t") == std::string::npos) return;
    if (l.size() > kMaxProgressLine) l = l.substr(0, kMaxProgressLine) + "...";
    if (progress_) progress_(l);
    tail_.push_back(std::move(l));
    if (tail_.size() > kStderrTail) tail_.pop_front();
  }

  const ProgressFn& progress_;
  std::string partial_;
  std::deque<std::string> tail_;
};

class CommandEngine final : public Engine {
 public:
  explicit CommandEngine(EngineConfig config) : config_(std::move(config)) {}

  [[nodiscard]] std::string kind() const override { return "command"; }

  [[nodiscard]] std::string label() const override {
    std::string l = join(config_.command);
    if (l.size() > 80) l = l.substr(0, 77) + "...";
    return "command: " + l;
  }

  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) override {
    const auto started = Clock::now();
    const auto values = engine_detail::placeholders(turn);
    std::vector<std::string> argv;
    for (const auto& a : config_.command) argv.push_back(engine_detail::expand(a, values));
    const std::string program = argv.front();

    if (cancel.load()) return make_error(errc::io, "cancelled");
    std::error_code ec;
    if (!turn.workdir.empty() && !fs::is_directory(turn.workdir, ec)) {
      return make_error(errc::io,
                        "the work directory " + turn.workdir.string() + " does not exist");
    }
    PromptFile prompt;
    if (auto r = prompt.write(turn.prompt); !r) return r.error();
    const std::vector<std::string> env = environment(turn, values, prompt.path());

    auto in = make_pipe();
    auto out = make_pipe();
    auto err = make_pipe();
    if (!in) return in.error();
    if (!out) return out.error();
    if (!err) return err.error();

    SigpipeGuard sigpipe;
    auto pid = spawn(argv, env, turn.workdir, in->read.get(), out->write.get(), err->write.get());
    if (!pid) return pid.error();
    // Our copies of the child's ends must go, or we would never see EOF.
    in->read.reset();
    out->write.reset();
    err->write.reset();

    Exchange x{std::move(in->write),
               std::move(out->read),
               std::move(err->read),
               codec::to_json(turn.brief) + "\n",
               StderrLines(progress),
               0,
               {}};
    const auto waited = wait_for(*pid, x, cancel, started + config_.timeout);
    x.errors.finish();

    Outcome outcome;
    outcome.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    auto with_tail = [&](std::string msg) {
      const std::string tail = x.errors.tail();
      if (!tail.empty()) msg += "; its last stderr lines:\n" + tail;
      return msg;
    };
    if (waited.why == Stop::timeout) {
      return make_error(
          errc::timeout,
          with_tail(program + " timed out after " + std::to_string(config_.timeout.count()) +
                    " s and was stopped (raise timeout_seconds if it needs longer)"));
    }
    if (waited.why == Stop::cancel) return make_error(errc::io, "cancelled");
    if (WIFSIGNALED(waited.status)) {
      return make_error(
          errc::io, with_tail(program + " was killed by " + signal_name(WTERMSIG(waited.status))));
    }
    const int code = WIFEXITED(waited.status) ? WEXITSTATUS(waited.status) : -1;
    if (code < 0 || code > 2) {
      return make_error(errc::io, with_tail(program + " exited with code " + std::to_string(code) +
                                            " (0 pass, 1 fail, 2 blocked; other codes are "
                                            "failures to retry)"));
    }

    outcome.text = std::move(x.stdout_text);
    auto block = parse_outcome_block(outcome.text);
    if (!block) {
      return make_error(errc::bad_payload, program + ": " + block.error().message);
    }
    outcome.model = config_.model;
    if (*block) {
      outcome.block = std::move(**block);
      outcome.has_block = true;
      outcome.verdict = outcome.block.verdict;
      // A wrapper around a model can report what it spent.
      const auto& f = outcome.block.fields;
      if (auto it = f.find("input_tokens"); it != f.end()) {
        outcome.usage.input_tokens = to_int(it->second);
      }
      if (auto it = f.find("output_tokens"); it != f.end()) {
        outcome.usage.output_tokens = to_int(it->second);
      }
      if (auto it = f.find("cost_usd"); it != f.end()) {
        outcome.usage.cost_usd = std::strtod(it->second.c_str(), nullptr);
      }
      if (auto it = f.find("model"); it != f.end()) outcome.model = it->second;
      if (auto it = f.find("session_id"); it != f.end()) outcome.session_id = it->second;
    } else {
      static constexpr const char* kByCode[] = {"pass", "fail", "blocked"};
      outcome.verdict = kByCode[code];
    }
    return outcome;
  }

 private:
  enum class Stop { exited, timeout, cancel };

  struct Exchange {
    Fd stdin_fd;
    Fd stdout_fd;
    Fd stderr_fd;
    std::string stdin_text;
    StderrLines errors;
    size_t stdin_done = 0;
    std::string stdout_text;
  };

  struct Waited {
    Stop why = Stop::exited;
    int status = 0;
  };

  std::vector<std::string> environment(const Turn& turn,
                                       const std::map<std::string, std::string>& values,
                                       const std::string& prompt_file) const {
    std::map<std::string, std::string> vars;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry(*e);
      size_t eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view name = entry.substr(0, eq);
      if (allowed(name, config_.env_allow)) {
        vars[std::string(name)] = std::string(entry.substr(eq + 1));
      }
    }
    for (const auto& [k, v] : turn.env) vars[k] = v;
    // Last, so nothing can make them lie about the turn.
    vars["AGENCY_TASK_ID"] = values.at("task_id");
    vars["AGENCY_STAGE"] = values.at("stage");
    vars["AGENCY_ROLE"] = values.at("role");
    vars["AGENCY_AGENT_ID"] = values.at("agent_id");
    vars["AGENCY_PROJECT"] = values.at("project");
    vars["AGENCY_OBJECTIVE"] = values.at("objective");
    vars["AGENCY_ATTEMPT"] = values.at("attempt");
    vars["AGENCY_PROMPT_FILE"] = prompt_file;
    vars["AGENCY_WORKDIR"] = turn.workdir.string();
    if (!turn.session_id.empty()) vars["AGENCY_SESSION_ID"] = turn.session_id;
    std::vector<std::string> out;
    out.reserve(vars.size());
    for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
    return out;
  }

  // posix_spawn, not fork: the agent has other threads (nats.c), and the
  // child must start in its own process group with no fd of ours but the
  // three pipes.
  static Result<pid_t> spawn(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, const fs::path& workdir, int in,
                             int out, int err) {
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&actions, in, 0);
    posix_spawn_file_actions_adddup2(&actions, out, 1);
    posix_spawn_file_actions_adddup2(&actions, err, 2);
    const std::string dir = workdir.string();
    if (!dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);

    sigset_t none;
    sigemptyset(&none);
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr,
        static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, cargv.front(), &actions, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      return make_error(errc::io, "cannot run '" + argv.front() + "'" +
                                      (dir.empty() ? std::string() : " in " + dir) + ": " +
                                      std::strerror(rc));
    }
    return pid;
  }

  // Feeds stdin, collects stdout, streams stderr, until the child has exited
  // and its pipes are closed; stops the process group on timeout or cancel.
  static Waited wait_for(pid_t pid, Exchange& x, const std::atomic<bool>& cancel,
                         Clock::time_point deadline) {
    Waited w;
    bool exited = false;
    Clock::time_point exited_at{};
    std::optional<Clock::time_point> term_sent;
    bool kill_sent = false;
    set_nonblocking(x.stdin_fd.get());
    set_nonblocking(x.stdout_fd.get());
    set_nonblocking(x.stderr_fd.get());
    if (x.stdin_text.empty()) x.stdin_fd.reset();

    char buf[65536];
    for (;;) {
      if (!exited) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
          exited = true;
          exited_at = Clock::now();
          w.status = status;
        }
      }
      const auto now = Clock::now();
      if (exited && !x.stdout_fd.open() && !x.stderr_fd.open()) break;
      if (exited && now - exited_at > kExitGrace) {
        // Something the child started still holds the pipes: it belongs to
        // the group we run, so it goes too.
        ::kill(-pid, SIGKILL);
        drain(x, buf, sizeof buf);
        break;
      }
      if (!exited && !term_sent) {
        if (cancel.load()) {
          w.why = Stop::cancel;
        } else if (now >= deadline) {
          w.why = Stop::timeout;
        }
        if (w.why != Stop::exited) {
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
          read_some(x, fds[i].fd, buf, sizeof buf);
        }
      }
    }
    if (!exited) ::waitpid(pid, &w.status, 0);
    return w;
  }

  static void feed_stdin(Exchange& x) {
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
  static void read_some(Exchange& x, int fd, char* buf, size_t size) {
    for (;;) {
      ssize_t n = ::read(fd, buf, size);
      if (n > 0) {
        std::string_view data(buf, static_cast<size_t>(n));
        if (fd == x.stdout_fd.get()) {
          if (x.stdout_text.size() < kMaxStdout) {
            x.stdout_text.append(data.substr(0, kMaxStdout - x.stdout_text.size()));
          }
        } else {
          x.errors.feed(data);
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (fd == x.stdout_fd.get()) {
        x.stdout_fd.reset();
      } else {
        x.stderr_fd.reset();
      }
      return;
    }
  }

  static void drain(Exchange& x, char* buf, size_t size) {
    if (x.stdout_fd.open()) read_some(x, x.stdout_fd.get(), buf, size);
    if (x.stderr_fd.open()) read_some(x, x.stderr_fd.get(), buf, size);
  }

  EngineConfig config_;
};

}  // namespace

namespace engine_detail {

Result<std::unique_ptr<Engine>> make_command(const EngineConfig& config) {
  if (config.command.empty() || config.command.front().empty()) {
    return make_error(errc::config,
                      "the command engine needs a command: set the role's command in "
                      "agency.yaml to the program and its arguments ([./review.sh, '{task_id}'])");
  }
  if (config.timeout.count() < 1) {
    return make_error(errc::config, "the command engine needs a timeout of at least 1 s");
  }
  return std::unique_ptr<Engine>(std::make_unique<CommandEngine>(config));
}

}  // namespace engine_detail

}  // namespace agency
