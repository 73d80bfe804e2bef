// See spawn.hpp.
#include "bus/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "bus/program.hpp"

extern char**
    environ;  // NOLINT(readability-redundant-declaration): <unistd.h> only with _GNU_SOURCE

namespace agency {
namespace {

// The NULL-terminated arrays exec wants, pointing into `strings`.
std::vector<char*> c_array(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

Error failure(int err) { return make_error(errc::io, std::strerror(err)); }

Result<pid_t> with_posix_spawn(const SpawnSpec& spec, const std::string& program, char* const* argv,
                               char* const* envp) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  const int fds[3] = {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd};
  for (int target = 0; target < 3; ++target) {
    if (fds[target] >= 0) {
      posix_spawn_file_actions_adddup2(&actions, fds[target], target);
    } else {
      posix_spawn_file_actions_addopen(&actions, target, "/dev/null",
                                       target == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  }
  const std::string dir = spec.workdir.string();
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
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (spec.new_group) {
    posix_spawnattr_setpgroup(&attr, 0);
    flags = static_cast<short>(flags | POSIX_SPAWN_SETPGROUP);
  }
  posix_spawnattr_setflags(&attr, flags);
  pid_t pid = -1;
  const int rc = spec.search_path ? posix_spawnp(&pid, program.c_str(), &actions, &attr, argv, envp)
                                  : posix_spawn(&pid, program.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return failure(rc);
  return pid;
}

// fork + exec, for the death signal. Only async-signal-safe calls in the
// child: everything is prepared here first.
Result<pid_t> with_fork(const SpawnSpec& spec, std::string file, char* const* argv,
                        char* const* envp) {
  if (spec.search_path) {
    auto found = program::find(file);
    if (!found) return failure(ENOENT);
    file = found->string();
  }
  const std::string dir = spec.workdir.string();
  int devnull_in = -1;
  int devnull_out = -1;
  if (spec.stdin_fd < 0) devnull_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (spec.stdout_fd < 0 || spec.stderr_fd < 0) {
    devnull_out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  const int fds[3] = {spec.stdin_fd >= 0 ? spec.stdin_fd : devnull_in,
                      spec.stdout_fd >= 0 ? spec.stdout_fd : devnull_out,
                      spec.stderr_fd >= 0 ? spec.stderr_fd : devnull_out};
  auto close_devnull = [&] {
    if (devnull_in >= 0) ::close(devnull_in);
    if (devnull_out >= 0) ::close(devnull_out);
  };
  // An exec failure travels back through this pipe; a successful exec
  // closes it.
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int err = errno;
    close_devnull();
    return failure(err);
  }
  long max_fd = ::sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  const pid_t parent = ::getpid();
  const int death_signal = spec.death_signal;
  const bool new_group = spec.new_group;

  const pid_t pid = ::fork();
  if (pid == 0) {
    const int errfd = err_pipe[1];
    auto fail = [errfd](int err) {
      (void)!::write(errfd, &err, sizeof err);
      ::_exit(127);
    };
    if (death_signal != 0) ::prctl(PR_SET_PDEATHSIG, death_signal);
    // The parent ended before the death signal was set: nobody wants us.
    if (::getppid() != parent) ::_exit(127);
    if (new_group) ::setpgid(0, 0);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    for (int target = 0; target < 3; ++target) {
      if (fds[target] >= 0 && ::dup2(fds[target], target) < 0) fail(errno);
    }
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) fail(errno);
    const auto ufd = static_cast<unsigned>(errfd);
    if ((ufd > 3 && ::close_range(3, ufd - 1, 0) != 0) || ::close_range(ufd + 1, ~0U, 0) != 0) {
      for (int fd = 3; fd < max_fd; ++fd) {
        if (fd != errfd) ::close(fd);
      }
    }
    ::execve(file.c_str(), argv, envp);
    fail(errno);
  }
  const int fork_errno = errno;
  ::close(err_pipe[1]);
  close_devnull();
  if (pid < 0) {
    ::close(err_pipe[0]);
    return failure(fork_errno);
  }
  // Also here, whichever of the two runs first; after the exec it fails
  // with EACCES, which is fine: the child did it.
  if (new_group) ::setpgid(pid, pid);

  int exec_errno = 0;
  ssize_t n = 0;
  do {
    n = ::read(err_pipe[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return failure(exec_errno);
  }
  return pid;
}

}  // namespace

Result<pid_t> spawn_process(const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty()) {
    return make_error(errc::internal, "spawn_process: no program given");
  }
  const auto argv = c_array(spec.argv);
  std::vector<char*> env_array;
  char* const* envp = environ;
  if (spec.env) {
    env_array = c_array(*spec.env);
    envp = env_array.data();
  }
  const std::string program = spec.program.empty() ? spec.argv.front() : spec.program;
  if (spec.death_signal != 0) return with_fork(spec, program, argv.data(), envp);
  return with_posix_spawn(spec, program, argv.data(), envp);
}

}  // namespace agency
