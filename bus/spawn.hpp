// Starting a child process: the one place agency does it (engine and command
// processes, the supervisor's children, the embedded nats-server, the
// benchmark's agents).
//
// posix_spawn, not fork: every caller has other threads (nats.c, spdlog),
// and between fork and exec a child may only make async-signal-safe calls;
// posix_spawn does the fd, directory, group and signal set-up itself. The
// one exception is a death signal (PR_SET_PDEATHSIG), for which posix_spawn
// has no attribute: then the child is forked, and everything it needs is
// prepared before the fork, so it only makes async-signal-safe calls.
//
// Either way the child gets the three descriptors given (/dev/null for one
// not given) and no other of ours, an empty signal mask, every signal at its
// default action, and, unless told otherwise, a process group of its own.
// An exec that fails is an error of spawn_process(), not a child that exits
// with 127.
//
// Thread: any; the death signal is tied to the calling thread (Linux sends
// it when the thread that forked the child ends).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bus/result.hpp"

namespace agency {

struct SpawnSpec {
  std::vector<std::string> argv;
  // The file to run; empty: argv[0]. Without a '/' and with search_path it
  // is looked up on our PATH (as execvp would); otherwise run as given.
  std::string program;
  bool search_path = false;
  // "NAME=value": the child's whole environment. nullopt: ours.
  std::optional<std::vector<std::string>> env;
  std::filesystem::path workdir;  // empty: ours
  // The child's stdin, stdout and stderr; -1: /dev/null.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Its own process group, so a signal to the group (or a Ctrl-C at our
  // terminal) reaches the child and its children and not us, or the reverse.
  bool new_group = true;
  // Sent to the child when the spawning thread ends (our crash included);
  // 0: none.
  int death_signal = 0;
};

// The child's pid. Errors (errc::io) carry only the system's reason
// ("No such file or directory"): the caller says what it tried to run.
Result<pid_t> spawn_process(const SpawnSpec& spec);

}  // namespace agency
