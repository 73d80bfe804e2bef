// A nats-server child process with JetStream on disk: what `agency up`
// runs on one machine, and what every integration test starts for itself
// (on a free port, in a temp dir).
//
// Thread: one owner thread. Owner: `agency up` or a test fixture; the
// destructor stops the server.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bus/result.hpp"

namespace agency {

struct EmbeddedServerOptions {
  // nats-server binary; empty: `nats-server` found on PATH.
  std::string binary;
  // JetStream store goes to <state_dir>/jetstream, the server's log to
  // <state_dir>/nats-server.log. Created if missing.
  std::filesystem::path state_dir;
  std::string host = "127.0.0.1";
  int port = 0;          // 0: a free port
  int monitor_port = 0;  // 0: a free port; -1: no monitoring endpoint
  // The server's name; each node of a cluster has its own.
  std::string server_name = "agency";
  // A node of a JetStream cluster (start_cluster): the cluster's name, this
  // node's route port and the routes to the others (nats-route://h:p).
  std::string cluster_name;  // empty: no cluster
  int cluster_port = 0;
  std::vector<std::string> routes;
  // false: start() returns once the client port accepts, before /healthz
  // says JetStream is ready (a cluster node waits for the others).
  bool wait_healthy = true;
  // More server configuration (authorization, tls blocks): written to
  // <state_dir>/nats-server.conf (0600) and given with -c. Empty: none.
  std::string config;
  // How long start() waits for the server to accept connections.
  std::chrono::milliseconds ready_timeout{10000};
};

class EmbeddedServer {
 public:
  static Result<std::unique_ptr<EmbeddedServer>> start(const EmbeddedServerOptions& options);
  ~EmbeddedServer();
  EmbeddedServer(const EmbeddedServer&) = delete;
  EmbeddedServer& operator=(const EmbeddedServer&) = delete;

  [[nodiscard]] std::string url() const;  // nats://127.0.0.1:<port>
  [[nodiscard]] int port() const;
  [[nodiscard]] int monitor_port() const;
  [[nodiscard]] pid_t pid() const;
  [[nodiscard]] bool running() const;
  [[nodiscard]] const EmbeddedServerOptions& options() const;

  // SIGTERM, then SIGKILL if it has not exited within grace.
  Result<void> stop(std::chrono::milliseconds grace = std::chrono::milliseconds{5000});
  // SIGKILL at once (tests: a crashed server).
  void kill();
  // Starts it again on the same port and store (after stop() or kill()).
  Result<void> restart();
  // Waits until the monitoring endpoint says the server (and its JetStream)
  // is ready.
  Result<void> wait_healthy(std::chrono::milliseconds timeout);
  // Rewrites the configuration and has the running server read it again
  // (SIGHUP): users and permissions change without a restart.
  Result<void> reload(const std::string& config);

 private:
  EmbeddedServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `nodes` servers on this machine forming one JetStream cluster named
// "agency": node i (from 1) keeps its store in <state_dir>/node-<i>, is
// named agency-<i>, listens on base.port + i - 1 (free ports when
// base.port is 0) and routes to every other node. Returns once each says
// it is ready. Every stream and bucket should then have min(3, nodes)
// replicas.
Result<std::vector<std::unique_ptr<EmbeddedServer>>> start_cluster(
    const EmbeddedServerOptions& base, int nodes);

// `s` as a quoted string of nats-server's configuration syntax.
std::string config_string(std::string_view s);

// A TCP port on 127.0.0.1 that nothing listens on right now.
Result<int> find_free_port();

}  // namespace agency
