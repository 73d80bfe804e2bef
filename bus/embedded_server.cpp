#include "bus/embedded_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "bus/program.hpp"
#include "bus/spawn.hpp"

namespace agency {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPollInterval{25};
// A free port can be taken by someone else between find_free_port() and the
// server's bind: that many fresh ports are tried before giving up.
constexpr int kPortAttempts = 5;
constexpr std::size_t kLogTailLines = 15;

std::string errno_text(int err) { return std::generic_category().message(err); }

// Closes an fd when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// nats-server is installed by Debian's package to /usr/sbin, which is not
// on every user's PATH: the sbin directories are searched after PATH.
const std::string kSbin[] = {"/usr/local/sbin", "/usr/sbin", "/sbin"};

// The address to reach a server listening on `host`.
std::string connect_host(const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") return "127.0.0.1";
  return host;
}

// Opens a TCP connection to host:port within timeout; -1 on failure.
int tcp_connect(const std::string& host, int port, milliseconds timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  // sockaddr_in -> sockaddr is how the sockets API is meant to be called.
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if (::connect(fd, sa, sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      ::close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

bool port_accepts(const std::string& host, int port) {
  Fd fd(tcp_connect(host, port, milliseconds{200}));
  return fd.get() >= 0;
}

// GET /healthz on the monitoring port: true on "HTTP/1.x 200". The server
// answers 200 once JetStream is ready, which the client port alone does not say.
// `server_only`: the server and its JetStream meta group, not every stream
// and consumer (a restarted cluster node reports idle consumers as "not
// current" until they see traffic).
bool healthz_ok(const std::string& host, int port, bool server_only = false) {
  Fd fd(tcp_connect(host, port, milliseconds{200}));
  if (fd.get() < 0) return false;
  std::string request = std::string("GET /healthz") + (server_only ? "?js-server-only=true" : "") +
                        " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return false;
  }
  std::string answer;
  auto deadline = Clock::now() + milliseconds{500};
  char buf[512];
  while (answer.size() < 12 && Clock::now() < deadline) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  return answer.rfind("HTTP/1.", 0) == 0 && answer.size() >= 12 && answer.compare(9, 3, "200") == 0;
}

// The last lines of the server's log written since `offset`: what a person
// needs to see when the server did not come up.
std::string log_tail(const std::filesystem::path& log, std::uintmax_t offset) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > kLogTailLines) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

std::uintmax_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  auto size = std::filesystem::file_size(p, ec);
  return ec ? 0 : size;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

}  // namespace

struct EmbeddedServer::Impl {
  EmbeddedServerOptions options;  // ports resolved: never 0 after start
  std::filesystem::path binary;
  pid_t pid = -1;

  [[nodiscard]] std::filesystem::path log_path() const {
    return options.state_dir / "nats-server.log";
  }
  [[nodiscard]] std::filesystem::path config_path() const {
    return options.state_dir / "nats-server.conf";
  }

  // The configuration file, readable by its owner only: it names the users.
  Result<void> write_config() const {
    const auto tmp = config_path().string() + ".tmp";
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return make_error(errc::io, "cannot write " + tmp + ": " + errno_text(errno));
    std::string text =
        "# Written by agency for its embedded nats-server; rewritten at each start.\n"
        "server_name: " +
        config_string(options.server_name) + "\nhost: " + config_string(options.host) +
        "\nport: " + std::to_string(options.port) + "\n";
    if (options.monitor_port > 0) {
      text += "http_port: " + std::to_string(options.monitor_port) + "\n";  // on `host`
    }
    text +=
        "jetstream {\n  store_dir: " + config_string((options.state_dir / "jetstream").string()) +
        "\n}\n";
    if (!options.cluster_name.empty()) {
      text += "cluster {\n  name: " + config_string(options.cluster_name) + "\n  listen: " +
              config_string(options.host + ":" + std::to_string(options.cluster_port)) +
              "\n  routes: [";
      for (const auto& r : options.routes) text += "\n    " + config_string(r);
      text += "\n  ]\n}\n";
    }
    text += options.config;
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return make_error(errc::io, "cannot write " + tmp + ": " + errno_text(errno));
      done += static_cast<std::size_t>(n);
    }
    fd.reset();
    if (::rename(tmp.c_str(), config_path().c_str()) != 0) {
      return make_error(errc::io,
                        "cannot write " + config_path().string() + ": " + errno_text(errno));
    }
    return {};
  }

  // The server with its output appended to the log (bus/spawn.hpp). The
  // child gets its own process group (a Ctrl-C in the terminal reaches only
  // `agency up`, which stops the fleet before the server), a clean signal
  // mask, no inherited fds, and dies with the thread that started it.
  Result<void> spawn() {
    // Everything in one file, so that a reload (SIGHUP) reads the same
    // settings again: nats-server refuses to reload a config that drops a
    // setting given on its command line.
    if (auto r = write_config(); !r) return r;
    SpawnSpec child;
    child.argv = {binary.string(), "-c", config_path().string()};
    Fd log(::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (log.get() < 0) {
      return make_error(errc::io, "cannot open " + log_path().string() + ": " + errno_text(errno));
    }
    child.stdout_fd = log.get();
    child.stderr_fd = log.get();
    child.death_signal = SIGTERM;
    auto started = spawn_process(child);
    if (!started) {
      return make_error(errc::io, "cannot run " + binary.string() + ": " + started.error().message);
    }
    pid = *started;
    return {};
  }

  // Waits until the client port accepts connections and /healthz says 200.
  // Error with the log tail if the child exits or time runs out.
  Result<void> wait_ready(std::uintmax_t log_offset, bool& exited_early) {
    exited_early = false;
    const std::string host = connect_host(options.host);
    auto deadline = Clock::now() + options.ready_timeout;
    while (true) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        exited_early = true;
        return make_error(errc::io, "nats-server " + describe_status(status) +
                                        " before it was ready; its log (" + log_path().string() +
                                        ") ends with:" + log_tail(log_path(), log_offset));
      }
      if (port_accepts(host, options.port) && (!options.wait_healthy || options.monitor_port <= 0 ||
                                               healthz_ok(host, options.monitor_port))) {
        return {};
      }
      if (Clock::now() >= deadline) {
        return make_error(errc::timeout, "nats-server did not become ready on port " +
                                             std::to_string(options.port) + " within " +
                                             std::to_string(options.ready_timeout.count()) +
                                             " ms; its log (" + log_path().string() +
                                             ") ends with:" + log_tail(log_path(), log_offset));
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  }

  Result<void> start_once() {
    auto offset = file_size_or_zero(log_path());
    if (auto r = spawn(); !r) return r;
    bool exited = false;
    auto ready = wait_ready(offset, exited);
    if (!ready && !exited) kill_now();
    return ready;
  }

  void kill_now() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
  }

  Result<void> stop(milliseconds grace) {
    if (pid <= 0) return {};
    if (::kill(pid, SIGTERM) != 0 && errno == ESRCH) {
      kill_now();
      return {};
    }
    auto deadline = Clock::now() + grace;
    while (Clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) {
        pid = -1;
        return {};
      }
      std::this_thread::sleep_for(milliseconds{10});
    }
    spdlog::warn("nats-server did not stop within grace_ms={}; killing pid={}", grace.count(), pid);
    kill_now();
    return {};
  }
};

std::string config_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

Result<int> find_free_port() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return make_error(errc::io, "socket failed: " + errno_text(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if (::bind(fd.get(), sa, sizeof addr) != 0) {
    return make_error(errc::io, "cannot bind 127.0.0.1:0: " + errno_text(errno));
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), sa, &len) != 0) {
    return make_error(errc::io, "getsockname failed: " + errno_text(errno));
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

Result<std::unique_ptr<EmbeddedServer>> EmbeddedServer::start(
    const EmbeddedServerOptions& options) {
  auto impl = std::make_unique<Impl>();

  std::vector<std::string> searched;
  auto binary = program::find(options.binary.empty() ? "nats-server" : options.binary,
                              program::search_path(), kSbin, &searched);
  if (!binary) {
    std::string where;
    for (const auto& s : searched) where += (where.empty() ? "" : ", ") + s;
    if (!options.binary.empty()) {
      return make_error(errc::config, "nats-server binary '" + options.binary +
                                          "' not found or not executable (looked at: " + where +
                                          "); fix nats.binary in agency.yaml");
    }
    return make_error(errc::config,
                      "nats-server not found (looked at: " + where +
                          "); install it with scripts/install-deps.sh or "
                          "`apt-get install nats-server`, or set nats.binary in agency.yaml");
  }
  impl->binary = *binary;

  if (options.state_dir.empty()) {
    return make_error(errc::config, "embedded nats-server needs a state directory");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir / "jetstream", ec);
  if (ec) {
    return make_error(errc::io, "cannot create " + (options.state_dir / "jetstream").string() +
                                    ": " + ec.message());
  }

  const bool pick_port = options.port == 0;
  const bool pick_monitor = options.monitor_port == 0;
  const int attempts = (pick_port || pick_monitor) ? kPortAttempts : 1;
  Error last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    impl->options = options;
    if (pick_port) {
      auto port = find_free_port();
      if (!port) return port.error();
      impl->options.port = *port;
    }
    if (pick_monitor) {
      auto port = find_free_port();
      if (!port) return port.error();
      // Two calls can hand out the same port once the first socket closed.
      if (*port == impl->options.port) {
        port = find_free_port();
        if (!port) return port.error();
      }
      impl->options.monitor_port = *port;
    }
    auto r = impl->start_once();
    if (r) {
      std::unique_ptr<EmbeddedServer> server(new EmbeddedServer());
      server->impl_ = std::move(impl);
      return server;
    }
    last = r.error();
    // Only a lost race for a port we picked is worth another try.
    if (last.message.find("address already in use") == std::string::npos) break;
    spdlog::info("nats-server port taken, retrying attempt={} port={}", attempt + 1,
                 impl->options.port);
  }
  return last;
}

EmbeddedServer::~EmbeddedServer() {
  if (impl_) (void)impl_->stop(milliseconds{5000});
}

std::string EmbeddedServer::url() const {
  return "nats://" + connect_host(impl_->options.host) + ":" + std::to_string(impl_->options.port);
}

int EmbeddedServer::port() const { return impl_->options.port; }

int EmbeddedServer::monitor_port() const { return impl_->options.monitor_port; }

pid_t EmbeddedServer::pid() const { return impl_->pid; }

bool EmbeddedServer::running() const {
  if (impl_->pid <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(impl_->pid, &status, WNOHANG);
  if (r == impl_->pid) {
    impl_->pid = -1;  // reaped here: it died on its own
    return false;
  }
  return true;
}

const EmbeddedServerOptions& EmbeddedServer::options() const { return impl_->options; }

Result<void> EmbeddedServer::stop(milliseconds grace) { return impl_->stop(grace); }

void EmbeddedServer::kill() { impl_->kill_now(); }

Result<void> EmbeddedServer::restart() {
  if (impl_->pid > 0) {
    if (auto r = impl_->stop(milliseconds{5000}); !r) return r;
  }
  return impl_->start_once();
}

Result<void> EmbeddedServer::wait_healthy(milliseconds timeout) {
  if (impl_->options.monitor_port <= 0) return {};
  const std::string host = connect_host(impl_->options.host);
  auto deadline = Clock::now() + timeout;
  const bool server_only = !impl_->options.cluster_name.empty();
  while (!healthz_ok(host, impl_->options.monitor_port, server_only)) {
    if (!running()) {
      return make_error(errc::io, "nats-server " + impl_->options.server_name +
                                      " exited; its log (" + impl_->log_path().string() +
                                      ") ends with:" + log_tail(impl_->log_path(), 0));
    }
    if (Clock::now() >= deadline) {
      return make_error(errc::timeout, "nats-server " + impl_->options.server_name +
                                           " was not ready within " +
                                           std::to_string(timeout.count()) + " ms; its log (" +
                                           impl_->log_path().string() +
                                           ") ends with:" + log_tail(impl_->log_path(), 0));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return {};
}

Result<std::vector<std::unique_ptr<EmbeddedServer>>> start_cluster(
    const EmbeddedServerOptions& base, int nodes) {
  if (nodes < 1) return make_error(errc::config, "a cluster needs at least one node");
  std::vector<EmbeddedServerOptions> plan;
  for (int i = 1; i <= nodes; ++i) {
    EmbeddedServerOptions o = base;
    o.state_dir = base.state_dir / ("node-" + std::to_string(i));
    o.server_name = "agency-" + std::to_string(i);
    o.cluster_name = "agency";
    o.port = base.port == 0 ? 0 : base.port + i - 1;
    o.monitor_port = base.monitor_port <= 0 ? base.monitor_port : base.monitor_port + i - 1;
    auto route = find_free_port();
    if (!route) return route.error();
    o.cluster_port = *route;
    o.wait_healthy = false;
    plan.push_back(std::move(o));
  }
  for (std::size_t i = 0; i < plan.size(); ++i) {
    for (std::size_t j = 0; j < plan.size(); ++j) {
      if (i == j) continue;
      plan[i].routes.push_back("nats-route://" + connect_host(plan[j].host) + ":" +
                               std::to_string(plan[j].cluster_port));
    }
  }
  std::vector<std::unique_ptr<EmbeddedServer>> out;
  for (const auto& o : plan) {
    auto node = EmbeddedServer::start(o);
    if (!node) return node.error();
    out.push_back(std::move(*node));
  }
  // JetStream in a cluster is ready once the nodes have found each other.
  for (auto& node : out) {
    if (auto r = node->wait_healthy(base.ready_timeout * 3); !r) return r.error();
  }
  return out;
}

Result<void> EmbeddedServer::reload(const std::string& config) {
  impl_->options.config = config;
  if (auto r = impl_->write_config(); !r) return r;
  if (impl_->pid <= 0) return {};
  if (::kill(impl_->pid, SIGHUP) != 0) {
    return make_error(errc::io, "cannot signal nats-server pid " + std::to_string(impl_->pid) +
                                    " to reload: " + errno_text(errno));
  }
  return {};
}

}  // namespace agency
