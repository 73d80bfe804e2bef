// Running real binaries from tests: the `agency` CLI, role processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace agency::test {

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs argv to completion (killed after timeout). `env` is added to the
// test's environment; a value of "" removes the variable.
RunResult run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A child running in the background, its stdout and stderr going to files.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& dir,
        const std::map<std::string, std::string>& env = {});
  ~Child();  // SIGKILL if still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] std::string out() const;
  [[nodiscard]] std::string err() const;
  // True once `text` appears in stdout or stderr, false at the deadline.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) const;
  // Exit code, or -1 if it did not exit within timeout (it keeps running).
  int wait(std::chrono::milliseconds timeout);
  void signal(int sig) const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::filesystem::path out_;
  std::filesystem::path err_;
};

// The built `agency` binary.
std::string agency_binary();

}  // namespace agency::test
