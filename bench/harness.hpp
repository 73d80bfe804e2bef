// What agency's benchmarks share (bench/README.md): failures, progress
// lines, percentiles, temporary directories, agent processes started from
// the binaries beside the benchmark, an embedded nats-server, connections.
// Header-only; each benchmark binary includes it once.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bus/connect.hpp"
#include "bus/connection.hpp"
#include "bus/embedded_server.hpp"
#include "bus/spawn.hpp"

extern char** environ;

namespace agency::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using namespace std::chrono_literals;

// A failure of the benchmark itself (no server, an agent that does not
// start, a task that never arrives): the run stops with exit code 1. Targets
// missed are not failures: they are printed, and the exit code stays 0.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void progress(const std::string& line) {
  std::cerr << "agency-bench: " << line << std::endl;
}

inline std::int64_t system_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// ---- statistics -----------------------------------------------------------

struct Stats {
  std::size_t n = 0;
  double p50 = 0;
  double p99 = 0;
  double mean = 0;
  double max = 0;
};

// Nearest-rank percentiles of values in ms.
inline Stats stats_of(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double p) {
    auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  s.max = v.back();
  return s;
}

inline json to_json(const Stats& s) {
  return json{
      {"n", s.n}, {"p50_ms", s.p50}, {"p99_ms", s.p99}, {"mean_ms", s.mean}, {"max_ms", s.max}};
}

inline std::string fixed(double v, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// ---- machine and processes --------------------------------------------------

class TempDir {
 public:
  explicit TempDir(bool keep) : keep_(keep) {
    std::string pattern = (fs::temp_directory_path() / "agency-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw Failure("cannot create a temporary directory under " +
                    fs::temp_directory_path().string() + ": " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TempDir() {
    if (keep_) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool keep_;
};

// CPU time (user + system) a process has used so far, in ms; -1 when it is
// gone. From /proc/<pid>/stat, in clock ticks (10 ms on Linux), so only
// differences over runs of a second or more mean anything.
inline double cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  // After the command name: field 3 (state) is f[0]; utime is field 14,
  // stime field 15.
  if (f.size() < 13) return -1;
  double ticks = std::stod(f[11]) + std::stod(f[12]);
  return ticks * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The CPU of several processes (a cluster's nodes) in ms; -1 if none can be read.
inline double cpu_ms(const std::vector<pid_t>& pids) {
  double sum = 0;
  bool any = false;
  for (pid_t p : pids) {
    const double ms = cpu_ms(p);
    if (ms >= 0) {
      sum += ms;
      any = true;
    }
  }
  return any ? sum : -1;
}

// A process running one of the built binaries, its output going to a file.
// It gets SIGKILL if the benchmark dies, so no agent outlives a crashed run.
class Child {
 public:
  Child(const std::vector<std::string>& argv,
        const std::map<std::string, std::optional<std::string>>& env, const fs::path& dir,
        const fs::path& log)
      : log_(log) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      if (env.count(kv.substr(0, kv.find('='))) == 0) env_strings.push_back(std::move(kv));
    }
    for (const auto& [k, v] : env) {
      if (v) env_strings.push_back(k + "=" + *v);
    }
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) throw Failure("cannot open " + log.string());
    SpawnSpec child;
    child.argv = argv;
    child.env = std::move(env_strings);
    child.workdir = dir;
    child.stdout_fd = out;
    child.stderr_fd = out;
    child.new_group = false;
    child.death_signal = SIGKILL;
    auto started = spawn_process(child);
    ::close(out);
    if (!started) throw Failure("cannot run " + argv.front() + ": " + started.error().message);
    pid_ = *started;
  }
  ~Child() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      (void)wait(5s);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const fs::path& log() const { return log_; }
  [[nodiscard]] bool running() {
    poll();
    return !reaped_;
  }
  void signal(int sig) const {
    if (!reaped_) ::kill(pid_, sig);
  }
  // True once it exited, false at the deadline.
  bool wait(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (true) {
      poll();
      if (reaped_) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(5ms);  // polling an exit, with a deadline
    }
  }
  [[nodiscard]] int exit_status() const { return status_; }

 private:
  void poll() {
    if (reaped_) return;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      reaped_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
  }
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  fs::path log_;
};

inline fs::path bin_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Failure("cannot find this program's directory (/proc/self/exe)");
  return exe.parent_path();
}

inline std::string command_output(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// ---- the server and connections -------------------------------------------

// One nats-server, or the nodes of a JetStream cluster on this machine
// (streams and buckets then want replicas()).
struct Server {
  std::vector<std::unique_ptr<EmbeddedServer>> nodes;

  Server(const fs::path& dir, const std::string& binary, int node_count = 1) {
    EmbeddedServerOptions so;
    so.binary = binary;
    so.state_dir = dir;
    so.monitor_port = 0;
    if (node_count > 1) {
      auto started = start_cluster(so, node_count);
      if (!started) throw Failure("cannot start the cluster: " + started.error().message);
      nodes = std::move(*started);
    } else {
      auto started = EmbeddedServer::start(so);
      if (!started) throw Failure("cannot start nats-server: " + started.error().message);
      nodes.push_back(std::move(*started));
    }
  }
  // Every node's URL, comma-separated (NATS_URL, natsOptions_SetURL).
  [[nodiscard]] std::string url() const {
    std::string all;
    for (const auto& n : nodes) all += (all.empty() ? "" : ",") + n->url();
    return all;
  }
  [[nodiscard]] int replicas() const { return std::min<int>(3, static_cast<int>(nodes.size())); }
  [[nodiscard]] std::vector<pid_t> pids() const {
    std::vector<pid_t> out;
    for (const auto& n : nodes) out.push_back(n->pid());
    return out;
  }
  [[nodiscard]] std::vector<int> monitor_ports() const {
    std::vector<int> out;
    for (const auto& n : nodes) out.push_back(n->monitor_port());
    return out;
  }
};

inline std::unique_ptr<Connection> connect(const std::string& url, const std::string& name) {
  ConnectSettings s;
  for (std::size_t at = 0; at <= url.size();) {
    auto comma = std::min(url.find(',', at), url.size());
    if (comma > at) s.servers.push_back(url.substr(at, comma - at));
    at = comma + 1;
  }
  s.origin = "agency-bench";
  ConnectOptions co;
  co.name = name;
  auto c = Connection::open(s, co);
  if (!c) throw Failure("cannot connect to " + url + ": " + c.error().message);
  return std::move(*c);
}

}  // namespace agency::bench
