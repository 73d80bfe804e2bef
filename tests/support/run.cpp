#include "tests/support/run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/temp_dir.hpp"

extern char** environ;

namespace agency::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::filesystem::path& out, const std::filesystem::path& err) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n = ::open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || n < 0) ::_exit(127);
    ::dup2(n, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    for (const auto& [k, v] : env) {
      if (v.empty()) {
        ::unsetenv(k.c_str());
      } else {
        ::setenv(k.c_str(), v.c_str(), 1);
      }
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // NOLINT
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int wait_pid(pid_t pid, std::chrono::milliseconds timeout, bool* reaped) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      *reaped = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a child, not syncing
  }
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              std::chrono::milliseconds timeout) {
  TempDir dir;
  Child child(argv, dir.path(), env);
  RunResult result;
  result.exit_code = child.wait(timeout);
  if (result.exit_code == -1) child.signal(SIGKILL);
  child.wait(std::chrono::seconds(5));
  result.out = child.out();
  result.err = child.err();
  return result;
}

Child::Child(const std::vector<std::string>& argv, const std::filesystem::path& dir,
             const std::map<std::string, std::string>& env) {
  static int counter = 0;
  auto tag = std::to_string(::getpid()) + "-" + std::to_string(++counter);
  out_ = dir / ("child-" + tag + ".out");
  err_ = dir / ("child-" + tag + ".err");
  pid_ = spawn(argv, env, out_, err_);
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::string Child::out() const { return slurp(out_); }
std::string Child::err() const { return slurp(err_); }

bool Child::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (out().find(text) != std::string::npos || err().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a file, not syncing
  }
  return false;
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return -1;
  return wait_pid(pid_, timeout, &reaped_);
}

void Child::signal(int sig) const {
  if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

std::string agency_binary() {
#ifdef AGENCY_BIN_DIR
  return std::string(AGENCY_BIN_DIR) + "/agency";
#else
  const char* dir = std::getenv("AGENCY_BIN_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/agency";
#endif
}

}  // namespace agency::test
