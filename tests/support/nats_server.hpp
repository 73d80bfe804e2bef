// A real nats-server for one test: free port, temp dir, stopped at the end.
#pragma once

#include <memory>
#include <string>

#include "bus/connection.hpp"
#include "bus/embedded_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency::test {

class NatsServer {
 public:
  NatsServer();  // starts it; a failure fails the test (REQUIRE)
  ~NatsServer();

  [[nodiscard]] std::string url() const { return server_->url(); }
  EmbeddedServer& server() { return *server_; }
  const TempDir& dir() const { return dir_; }

  // A fresh connection to it (fail-fast mode).
  std::unique_ptr<Connection> connect(const std::string& name = "test");

 private:
  TempDir dir_;
  std::unique_ptr<EmbeddedServer> server_;
};

}  // namespace agency::test
