// Running one engine process to its end: the CLI engines (claude, codex,
// gemini) and the command engine share it.
//
// The child starts in its own process group, with no fd of ours but its
// three pipes, in the given directory and environment. stdin gets
// `stdin_text` then EOF; stdout and stderr are read as they arrive and
// handed over a line at a time. On timeout, cancel or a callback's request
// to stop, the whole group gets SIGTERM and, after a grace period, SIGKILL.
//
// Thread: run_process() does all its reading on the calling thread (poll);
// the callbacks run there too. No thread outlives a call.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/result.hpp"

namespace agency {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH
  std::vector<std::string> env;   // NAME=value: the child's whole environment
  std::filesystem::path workdir;  // empty: ours
  std::string stdin_text;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // stderr into the stdout pipe, in the order written (a test run's log).
  bool merge_stderr = false;
  // stdout beyond this is dropped: the head is kept, or with keep_tail the
  // end (the end of a test run says what failed).
  std::size_t max_output = 16 * 1024 * 1024;
  bool keep_tail = false;
};

// A complete line (without its newline). Return false to stop the process:
// it is terminated and the result says `stopped`.
using LineFn = std::function<bool(std::string_view line)>;

struct ProcessIo {
  LineFn on_stdout_line;  // empty: stdout is only collected
  LineFn on_stderr_line;  // empty: stderr only feeds the tail
};

enum class ProcessEnd { exited, timeout, cancelled, stopped };

struct ProcessResult {
  ProcessEnd end = ProcessEnd::exited;
  int status = 0;           // as from waitpid
  std::string stdout_text;  // stdout, up to max_output
  bool output_cut = false;  // some of stdout was dropped
  std::string stderr_tail;  // the last 20 non-blank lines of stderr
  std::chrono::milliseconds duration{0};

  // The exit code, or -1 when a signal ended the process.
  [[nodiscard]] int exit_code() const;
  // "was killed by SIGSEGV", "exited with code 3"; with the stderr tail.
  [[nodiscard]] std::string describe(std::string_view program) const;
};

// Errors: the process could not be started (no such program, bad workdir).
// A timeout ends the process group with SIGTERM, then SIGKILL 5 s later.
Result<ProcessResult> run_process(const ProcessSpec& spec, const ProcessIo& io,
                                  const std::atomic<bool>& cancel);

// The environment an engine process gets: PATH, HOME, LANG, LC_ALL, TERM,
// USER and the variables of ours that `allow` names ("NAME" or "PREFIX_*"),
// then `extra` on top. Keys and tokens reach an engine only when allowed.
std::vector<std::string> child_environment(const std::vector<std::string>& allow,
                                           const std::map<std::string, std::string>& extra);

// Where `program` runs from: itself when it holds a '/', else the first
// executable of that name on our PATH. nullopt when there is none.
std::optional<std::string> find_program(const std::string& program);

// "SIGKILL" for 9.
std::string signal_name(int sig);

}  // namespace agency
