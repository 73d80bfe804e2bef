#include "tests/support/nats_server.hpp"

#include <doctest/doctest.h>

namespace agency::test {

NatsServer::NatsServer() {
  EmbeddedServerOptions options;
  options.state_dir = dir_.path();
  auto started = EmbeddedServer::start(options);
  if (!started) FAIL("cannot start nats-server: " << started.error().describe());
  server_ = std::move(*started);
}

NatsServer::~NatsServer() = default;

std::unique_ptr<Connection> NatsServer::connect(const std::string& name) {
  ConnectSettings settings;
  settings.servers = {url()};
  settings.origin = "test";
  ConnectOptions options;
  options.name = name;
  options.mode = ConnectMode::fail_fast;
  auto connection = Connection::open(settings, options);
  if (!connection) FAIL("cannot connect to " << url() << ": " << connection.error().describe());
  return std::move(*connection);
}

}  // namespace agency::test
