// Starting a child process: descriptors, environment, directory, process
// group and an exec that fails, through both ways of starting (posix_spawn,
// and fork for a death signal).
#include "bus/spawn.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs `script` under sh with its stdout and stderr in a file; the file's
// text once it exited.
std::string run_sh(agency::SpawnSpec spec, const std::string& script, const fs::path& out) {
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  spec.argv = {"sh", "-c", script};
  spec.search_path = true;
  spec.stdout_fd = fd;
  spec.stderr_fd = fd;
  auto pid = agency::spawn_process(spec);
  ::close(fd);
  REQUIRE(pid);
  CHECK(wait_exit(*pid) == 0);
  return read_file(out);
}

}  // namespace

TEST_CASE("spawn: the child gets the environment, directory and descriptors given") {
  agency::test::TempDir dir;
  for (int death : {0, SIGTERM}) {
    CAPTURE(death);
    agency::SpawnSpec spec;
    spec.env = std::vector<std::string>{"ONLY=this", "PATH=/usr/bin:/bin"};
    spec.workdir = dir.path();
    spec.death_signal = death;
    const std::string text = run_sh(
        spec, "echo \"$ONLY ${HOME:-nohome} $(pwd)\"; echo err >&2; cat", dir.path() / "out");
    // stdin was /dev/null: cat ends at once and prints nothing.
    CHECK(text == "this nohome " + fs::canonical(dir.path()).string() + "\nerr\n");
  }
}

TEST_CASE("spawn: a new process group unless told otherwise, and no descriptor of ours") {
  agency::test::TempDir dir;
  // A descriptor of ours without close-on-exec: the child must not see it.
  const int leak = ::open("/dev/null", O_RDONLY);
  REQUIRE(leak >= 0);
  for (int death : {0, SIGTERM}) {
    for (bool group : {true, false}) {
      CAPTURE(death);
      CAPTURE(group);
      agency::SpawnSpec spec;
      spec.new_group = group;
      spec.death_signal = death;
      const std::string script = "cut -d' ' -f5 /proc/$$/stat; test -e /proc/self/fd/" +
                                 std::to_string(leak) + " && echo leaked || echo closed";
      const std::string text = run_sh(spec, script, dir.path() / "out");
      const std::string ours = std::to_string(::getpgrp());
      const std::string first = text.substr(0, text.find('\n'));
      if (group) {
        CHECK(first != ours);
      } else {
        CHECK(first == ours);
      }
      CHECK(text.find("closed") != std::string::npos);
    }
  }
  ::close(leak);
}

TEST_CASE("spawn: a signal we block or ignore is back to its default in the child") {
  agency::test::TempDir dir;
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &block, &old);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction before {};
  ::sigaction(SIGUSR2, &ignore, &before);
  for (int death : {0, SIGTERM}) {
    CAPTURE(death);
    agency::SpawnSpec spec;
    spec.death_signal = death;
    // SigBlk and SigIgn of the shell itself, as hex masks.
    const std::string text =
        run_sh(spec, "grep -E '^Sig(Blk|Ign)' /proc/self/status", dir.path() / "out");
    CHECK(text.find("SigBlk:\t0000000000000000") != std::string::npos);
    // sh may ignore some signals itself, but not SIGUSR2 (bit 12).
    const auto ign = text.find("SigIgn:\t");
    REQUIRE(ign != std::string::npos);
    const auto mask = std::stoull(text.substr(ign + 8, 16), nullptr, 16);
    CHECK((mask & (1ULL << (SIGUSR2 - 1))) == 0);
  }
  ::sigaction(SIGUSR2, &before, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST_CASE("spawn: a program that cannot run is an error, not a child") {
  agency::test::TempDir dir;
  for (int death : {0, SIGTERM}) {
    CAPTURE(death);
    agency::SpawnSpec spec;
    spec.death_signal = death;
    spec.argv = {(dir.path() / "no-such-program").string()};
    auto pid = agency::spawn_process(spec);
    REQUIRE_FALSE(pid);
    CHECK(pid.error().message == "No such file or directory");

    spec.argv = {"agency-no-such-program-on-path"};
    spec.search_path = true;
    CHECK_FALSE(agency::spawn_process(spec));

    spec.argv = {"true"};
    spec.workdir = dir.path() / "missing";
    CHECK_FALSE(agency::spawn_process(spec));
  }
}

TEST_CASE("spawn: with a death signal the child ends with the thread that started it") {
  agency::test::TempDir dir;
  const fs::path out = dir.path() / "pid";
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  // A middle process starts the child and exits; the child, told so by
  // SIGTERM, ends too, which the pipe's end shows: the child held its
  // write end as stdout.
  const pid_t middle = ::fork();
  REQUIRE(middle >= 0);
  if (middle == 0) {
    agency::SpawnSpec spec;
    spec.argv = {"sleep", "600"};
    spec.search_path = true;
    spec.stdout_fd = pipe_fds[1];
    spec.death_signal = SIGTERM;
    ::_exit(agency::spawn_process(spec) ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  CHECK(wait_exit(middle) == 0);
  // EOF only when the sleep ended; without the signal it would run 10 min.
  pollfd p{pipe_fds[0], POLLIN, 0};
  int ready = 0;
  do {
    ready = ::poll(&p, 1, 30000);
  } while (ready < 0 && errno == EINTR);
  REQUIRE(ready == 1);
  char c = 0;
  CHECK(::read(pipe_fds[0], &c, 1) == 0);
  ::close(pipe_fds[0]);
}
