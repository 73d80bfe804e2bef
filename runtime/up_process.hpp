// `agency up` run as a child of another command, on a private mesh of its
// own: the experiment's modes (roles/auditor) and the conformance kit
// (cli/conformance.cpp) each start one from an agency.yaml they wrote, wait
// until it says it runs, and stop it with SIGTERM when they are done. Its
// output goes to <dir>/up.log.
//
// Thread: start() and stop() from one thread; the child is watched on a
// thread of its own, which stop() (and the destructor) joins.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bus/connection.hpp"
#include "bus/result.hpp"

namespace agency {

class UpProcess {
 public:
  // `extra_args` after `agency up --config CONFIG --no-console`.
  UpProcess(std::filesystem::path dir, std::filesystem::path config,
            std::vector<std::string> extra_args = {});
  UpProcess(const UpProcess&) = delete;
  UpProcess& operator=(const UpProcess&) = delete;
  ~UpProcess() { stop(); }

  // Starts it and waits until it says it runs (at most `limit`); an error
  // names the log when it ended or never said so.
  Result<void> start(std::chrono::seconds limit = std::chrono::seconds(120));
  // SIGTERM, and waits for it to end (its agents and server with it).
  void stop();
  [[nodiscard]] bool running() const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path config_;
  std::vector<std::string> extra_args_;
  std::ofstream log_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  bool ended_ = false;
  std::string why_;
};

// A connection as admin to the mesh an `agency up` of `state_dir` runs (its
// nats.url, admin's key there), failing fast when it is not up.
Result<std::unique_ptr<Connection>> connect_up(const std::filesystem::path& state_dir,
                                               const std::string& name);

}  // namespace agency
