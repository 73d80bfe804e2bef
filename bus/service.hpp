// NATS service discovery (ADR-32) spoken by hand, since nats.c 3.4.1 has no
// micro API: answers $SRV.PING, $SRV.INFO and $SRV.STATS (each also with
// .<name> and .<name>.<id>) so that `nats micro ls` and the JavaScript
// @nats-io/services client list every agent.
//
// The responder only describes; the agent serves its endpoints itself and
// reports each request through record().
//
// Thread: set_metadata() and record() are safe from any thread; the
// $SRV answers run on nats.c threads. Owner: the agent; destroy before
// the Connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bus/connection.hpp"
#include "bus/result.hpp"

namespace agency {

struct ServiceEndpoint {
  std::string name;         // "brief", "ask", "control"
  std::string subject;      // "agency.brief.planner"
  std::string queue_group;  // "" when not a queue subscription
  std::map<std::string, std::string> metadata;
};

struct ServiceIdentity {
  std::string name;     // "agency-<role>"
  std::string id;       // the agent id
  std::string version;  // semantic version of agency
  std::string description;
};

class ServiceResponder {
 public:
  static Result<std::unique_ptr<ServiceResponder>> start(
      Connection& connection, ServiceIdentity identity, std::vector<ServiceEndpoint> endpoints,
      std::map<std::string, std::string> metadata);
  ~ServiceResponder();
  ServiceResponder(const ServiceResponder&) = delete;
  ServiceResponder& operator=(const ServiceResponder&) = delete;

  // Replaces the service metadata (role, state, task).
  void set_metadata(std::map<std::string, std::string> metadata);
  // Counts one request an endpoint handled; a non-empty error counts as failed.
  void record(std::string_view endpoint, std::chrono::nanoseconds took,
              std::string_view error = {});

  // The JSON answers, exposed for tests.
  [[nodiscard]] std::string ping_json() const;
  [[nodiscard]] std::string info_json() const;
  [[nodiscard]] std::string stats_json() const;

 private:
  struct State;
  ServiceResponder() = default;
  std::shared_ptr<State> state_;
  std::vector<Subscription> subs_;  // last: destroyed first
};

}  // namespace agency
