// What the console's paths answer (console/README.md, "The HTTP
// interface"): the fleet and the tasks from the Feed's copies, a task's
// trail and last commit, usage, the dispatcher's decisions and dead
// letters; a new brief (runtime/briefing.hpp) and a person's actions on a
// task (runtime/steering.hpp), one at a time, as the console's user.
//
// Thread: handle() is called from the server's connection threads at once.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "bus/connection.hpp"
#include "console/feed.hpp"
#include "console/server.hpp"
#include "runtime/config.hpp"

namespace agency::console {

class Api {
 public:
  Api(Connection& connection, Feed& feed, config::Config config, std::string actor)
      : connection_(&connection),
        feed_(&feed),
        config_(std::move(config)),
        actor_(std::move(actor)) {}

  Response handle(const Request& request);

 private:
  Response fleet() const;
  Response tasks() const;
  Response task(const std::string& id) const;
  Response usage(const Request& request);
  Response usage_chart(const Request& request);
  Response decisions(const Request& request) const;
  Response dead(const Request& request) const;
  Response brief(const Request& request);
  Response act(const std::string& id, const std::string& action, const Request& request);

  Connection* connection_;
  Feed* feed_;
  const config::Config config_;
  const std::string actor_;
  std::mutex act_mu_;    // a person's changes, one at a time
  std::mutex usage_mu_;  // the ledger is read once for every page asking at once
  std::chrono::steady_clock::time_point usage_read_{};
  std::string usage_report_;
  std::string usage_svg_;
  int usage_days_ = 0;
};

}  // namespace agency::console
