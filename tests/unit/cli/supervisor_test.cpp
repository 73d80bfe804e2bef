#include "cli/supervisor.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace {

using agency::cli::ChildSpec;
using agency::cli::RestartPolicy;
using agency::cli::Supervisor;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int count_lines(const std::filesystem::path& p, const std::string& needle) {
  std::ifstream in(p);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

ChildSpec shell(const std::string& id, const std::string& script,
                const std::filesystem::path& log) {
  return ChildSpec{id, {"sh", "-c", script}, {}, log};
}

// Drives the supervisor until pred() holds or the deadline passes.
template <class Pred>
bool drive_until(Supervisor& s, milliseconds limit, Pred pred) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    s.poll_once(milliseconds{20});
  }
  return pred();
}

// Starts "stubborn-1", a child that ignores SIGTERM, and returns once the
// trap is in place (the child says when).
pid_t start_stubborn(Supervisor& s, const std::filesystem::path& dir) {
  const auto ready = dir / "ready";
  auto pid = s.start(shell("stubborn-1", "trap '' TERM; touch '" + ready.string() + "'; sleep 60",
                           dir / "stubborn-1.log"));
  REQUIRE(pid.ok());
  REQUIRE(drive_until(s, milliseconds{5000}, [&] { return std::filesystem::exists(ready); }));
  return *pid;
}

}  // namespace

TEST_CASE("supervisor: a child that exits is restarted with exponential backoff") {
  agency::test::TempDir dir;
  auto marks = dir.path() / "starts";
  RestartPolicy policy{milliseconds{100}, milliseconds{400}, milliseconds{10000}};
  Supervisor s(policy);
  auto t0 = Clock::now();
  auto pid = s.start(shell("crasher-1", "echo started >> '" + marks.string() + "'; exit 1",
                           dir.path() / "crasher-1.log"));
  REQUIRE(pid.ok());

  // Gaps of 100, 200, 400 ms (capped) before starts 2, 3 and 4.
  REQUIRE(drive_until(s, milliseconds{10000}, [&] { return count_lines(marks, "started") >= 4; }));
  auto elapsed = Clock::now() - t0;
  CHECK(elapsed >= milliseconds{700});
  CHECK(elapsed < milliseconds{5000});

  auto st = s.status();
  REQUIRE(st.size() == 1);
  CHECK(st[0].id == "crasher-1");
  CHECK(st[0].restarts >= 3);
  CHECK(st[0].starts == st[0].restarts + 1);
  CHECK(st[0].exited);
  CHECK(WIFEXITED(st[0].last_status));
  CHECK(WEXITSTATUS(st[0].last_status) == 1);

  // The doubling stops at max_backoff.
  REQUIRE(drive_until(s, milliseconds{10000}, [&] { return s.status()[0].starts >= 5; }));
  REQUIRE(drive_until(s, milliseconds{5000}, [&] { return !s.status()[0].running; }));
  CHECK(s.status()[0].last_backoff == milliseconds{400});
  s.shutdown(milliseconds{1000});
}

TEST_CASE("supervisor: a child that ran long enough restarts at the initial backoff") {
  agency::test::TempDir dir;
  auto marks = dir.path() / "starts";
  // Each run lasts 150 ms, longer than reset_after: the backoff never grows.
  RestartPolicy policy{milliseconds{50}, milliseconds{10000}, milliseconds{100}};
  Supervisor s(policy);
  REQUIRE(s.start(shell("steady-1", "echo started >> '" + marks.string() + "'; sleep 0.15; exit 3",
                        dir.path() / "steady-1.log"))
              .ok());
  REQUIRE(drive_until(s, milliseconds{10000}, [&] { return s.status()[0].starts >= 3; }));
  REQUIRE(drive_until(s, milliseconds{5000}, [&] { return !s.status()[0].running; }));
  CHECK(s.status()[0].last_backoff == milliseconds{50});
  CHECK(WEXITSTATUS(s.status()[0].last_status) == 3);
  s.shutdown(milliseconds{1000});
}

TEST_CASE("supervisor: shutdown stops a long-running child with SIGTERM") {
  agency::test::TempDir dir;
  Supervisor s;
  auto pid = s.start(ChildSpec{"sleeper-1", {"sleep", "60"}, {}, dir.path() / "sleeper-1.log"});
  REQUIRE(pid.ok());
  CHECK_FALSE(process_gone(*pid));
  s.poll_once(milliseconds{0});
  CHECK(s.status()[0].running);

  auto t0 = Clock::now();
  s.shutdown(milliseconds{5000});
  CHECK(Clock::now() - t0 < milliseconds{4000});
  auto st = s.status()[0];
  CHECK_FALSE(st.running);
  REQUIRE(st.exited);
  REQUIRE(WIFSIGNALED(st.last_status));
  CHECK(WTERMSIG(st.last_status) == SIGTERM);
  CHECK(process_gone(*pid));

  // No restart after a shutdown.
  s.poll_once(milliseconds{50});
  CHECK_FALSE(s.status()[0].running);
  CHECK(s.status()[0].starts == 1);
}

TEST_CASE("supervisor: a child that ignores SIGTERM is killed after the grace period") {
  agency::test::TempDir dir;
  Supervisor s;
  // The trap must be in place before SIGTERM is sent.
  const pid_t pid = start_stubborn(s, dir.path());

  auto t0 = Clock::now();
  s.shutdown(milliseconds{300});
  auto took = Clock::now() - t0;
  CHECK(took >= milliseconds{300});
  CHECK(took < milliseconds{3000});
  auto st = s.status()[0];
  REQUIRE(st.exited);
  REQUIRE(WIFSIGNALED(st.last_status));
  CHECK(WTERMSIG(st.last_status) == SIGKILL);
  CHECK(process_gone(pid));
}

TEST_CASE("supervisor: output and environment land in the child's log file") {
  agency::test::TempDir dir;
  auto log = dir.path() / "logs" / "nested" / "talker-1.log";
  Supervisor s;
  ChildSpec spec = shell("talker-1", "echo out-$AGENCY_AGENT_ID; echo err-line >&2; exit 0", log);
  spec.env["AGENCY_AGENT_ID"] = "talker-1";
  REQUIRE(s.start(spec).ok());
  REQUIRE(drive_until(s, milliseconds{5000}, [&] { return s.status()[0].exited; }));
  s.shutdown(milliseconds{1000});

  auto text = read_file(log);
  CHECK(text.find("out-talker-1") != std::string::npos);
  CHECK(text.find("err-line") != std::string::npos);
  CHECK(text.find("starting talker-1") != std::string::npos);
}

TEST_CASE("supervisor: a missing binary is an error that names it") {
  agency::test::TempDir dir;
  Supervisor s;
  auto r = s.start(ChildSpec{"ghost-1", {"agency-no-such-binary-xyz"}, {}, dir.path() / "g.log"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("agency-no-such-binary-xyz") != std::string::npos);
  CHECK(s.size() == 0);

  auto path = dir.path() / "not-executable";
  std::ofstream(path) << "#!/bin/sh\n";
  auto r2 = s.start(ChildSpec{"ghost-2", {path.string()}, {}, dir.path() / "g.log"});
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message.find(path.string()) != std::string::npos);
}

TEST_CASE("supervisor: poll_once returns when the stop fd becomes readable") {
  agency::test::TempDir dir;
  Supervisor s;
  REQUIRE(s.start(ChildSpec{"sleeper-1", {"sleep", "60"}, {}, dir.path() / "s.log"}).ok());
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  CHECK_FALSE(s.poll_once(milliseconds{10}, fds[0]));
  REQUIRE(::write(fds[1], "x", 1) == 1);
  auto t0 = Clock::now();
  CHECK(s.poll_once(milliseconds{10000}, fds[0]));
  CHECK(Clock::now() - t0 < milliseconds{2000});
  ::close(fds[0]);
  ::close(fds[1]);
  s.shutdown(milliseconds{2000});
  CHECK_FALSE(s.status()[0].running);
}

TEST_CASE("supervisor: a retired child is not restarted after it exits, the others are") {
  agency::test::TempDir dir;
  auto marks = dir.path() / "starts";
  RestartPolicy policy{milliseconds{50}, milliseconds{50}, milliseconds{10000}};
  Supervisor s(policy);
  for (const char* id : {"brief-1", "brief-2"}) {
    REQUIRE(s.start(shell(id, std::string("echo ") + id + " >> '" + marks.string() + "'; sleep 0.1",
                          dir.path() / (std::string(id) + ".log")))
                .ok());
  }
  REQUIRE(s.retire("brief-2").ok());
  CHECK(s.status()[1].retired);
  CHECK(s.status()[1].running);  // retiring does not stop it

  // brief-1 comes back again and again; by then brief-2 would have too.
  REQUIRE(drive_until(s, milliseconds{10000}, [&] { return count_lines(marks, "brief-1") >= 3; }));
  auto st = s.status();
  CHECK_FALSE(st[0].retired);
  CHECK(st[0].starts >= 3);
  CHECK(st[1].retired);
  CHECK_FALSE(st[1].running);
  CHECK(st[1].starts == 1);
  CHECK(st[1].restarts == 0);
  REQUIRE(st[1].exited);
  CHECK(WIFEXITED(st[1].last_status));
  CHECK(WEXITSTATUS(st[1].last_status) == 0);
  CHECK(count_lines(marks, "brief-2") == 1);
  s.shutdown(milliseconds{1000});
}

TEST_CASE("supervisor: retiring a child that waits for its restart cancels the restart") {
  agency::test::TempDir dir;
  RestartPolicy policy{milliseconds{300}, milliseconds{300}, milliseconds{10000}};
  Supervisor s(policy);
  REQUIRE(s.start(shell("flaky-1", "exit 2", dir.path() / "flaky-1.log")).ok());
  REQUIRE(drive_until(s, milliseconds{5000}, [&] { return s.status()[0].exited; }));
  REQUIRE(s.retire("flaky-1").ok());
  // Well past the 300 ms backoff.
  auto deadline = Clock::now() + milliseconds{800};
  while (Clock::now() < deadline) s.poll_once(milliseconds{50});
  CHECK(s.status()[0].starts == 1);
  CHECK_FALSE(s.status()[0].running);
  CHECK(s.status()[0].retired);
}

TEST_CASE("supervisor: retire with stop_after sends SIGTERM once the time is up") {
  agency::test::TempDir dir;
  Supervisor s;
  auto pid = s.start(ChildSpec{"drainer-1", {"sleep", "60"}, {}, dir.path() / "drainer-1.log"});
  REQUIRE(pid.ok());
  auto t0 = Clock::now();
  REQUIRE(s.retire("drainer-1", milliseconds{300}, milliseconds{5000}).ok());
  REQUIRE(drive_until(s, milliseconds{5000}, [&] { return !s.status()[0].running; }));
  CHECK(Clock::now() - t0 >= milliseconds{300});
  auto st = s.status()[0];
  REQUIRE(st.exited);
  REQUIRE(WIFSIGNALED(st.last_status));
  CHECK(WTERMSIG(st.last_status) == SIGTERM);
  CHECK(process_gone(*pid));
  s.poll_once(milliseconds{100});
  CHECK(s.status()[0].starts == 1);
}

TEST_CASE("supervisor: stop kills a child that ignores SIGTERM after the grace, without blocking") {
  agency::test::TempDir dir;
  Supervisor s;
  const pid_t pid = start_stubborn(s, dir.path());

  auto t0 = Clock::now();
  REQUIRE(s.stop("stubborn-1", milliseconds{300}).ok());
  CHECK(Clock::now() - t0 < milliseconds{200});  // it returns at once
  CHECK(s.status()[0].running);
  REQUIRE(drive_until(s, milliseconds{5000}, [&] { return !s.status()[0].running; }));
  CHECK(Clock::now() - t0 >= milliseconds{300});
  auto st = s.status()[0];
  REQUIRE(WIFSIGNALED(st.last_status));
  CHECK(WTERMSIG(st.last_status) == SIGKILL);
  CHECK(st.retired);
  CHECK(process_gone(pid));
  s.poll_once(milliseconds{100});
  CHECK(s.status()[0].starts == 1);
}

TEST_CASE("supervisor: retire and stop of an unknown id are errors") {
  Supervisor s;
  auto r = s.retire("nobody-1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == agency::errc::not_found);
  CHECK(r.error().message.find("nobody-1") != std::string::npos);
  CHECK_FALSE(s.stop("nobody-1").ok());
}

TEST_CASE("supervisor: poll_once returns early when the wake fd becomes readable") {
  agency::test::TempDir dir;
  Supervisor s;
  REQUIRE(s.start(ChildSpec{"sleeper-1", {"sleep", "60"}, {}, dir.path() / "s.log"}).ok());
  int stop[2];
  int wake[2];
  REQUIRE(::pipe(stop) == 0);
  REQUIRE(::pipe(wake) == 0);
  REQUIRE(::write(wake[1], "x", 1) == 1);
  auto t0 = Clock::now();
  CHECK_FALSE(s.poll_once(milliseconds{10000}, stop[0], wake[0]));  // woken, not stopped
  CHECK(Clock::now() - t0 < milliseconds{2000});
  for (int fd : {stop[0], stop[1], wake[0], wake[1]}) ::close(fd);
  s.shutdown(milliseconds{2000});
}

TEST_CASE("supervisor: forget drops a retired child once it has exited, and nothing else") {
  agency::test::TempDir dir;
  Supervisor s;
  REQUIRE(s.start(ChildSpec{"keeper-1", {"sleep", "60"}, {}, dir.path() / "k.log"}).ok());
  REQUIRE(s.start(ChildSpec{"leaver-1", {"sleep", "60"}, {}, dir.path() / "l.log"}).ok());
  CHECK_FALSE(s.forget("keeper-1").ok());  // not retired
  REQUIRE(s.stop("leaver-1", milliseconds{2000}).ok());
  CHECK_FALSE(s.forget("leaver-1").ok());  // still running until reaped
  REQUIRE(drive_until(s, milliseconds{5000}, [&] { return !s.status()[1].running; }));
  REQUIRE(s.forget("leaver-1").ok());
  REQUIRE(s.size() == 1);
  CHECK(s.status()[0].id == "keeper-1");
  CHECK_FALSE(s.forget("leaver-1").ok());
  s.shutdown(milliseconds{2000});
}
