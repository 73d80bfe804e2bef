// The console's view of the bus: every task record and every agent's
// heartbeat kept current by watching their buckets, and what happens
// (task events with the record after them, heartbeats, the dispatcher's
// decisions, dead letters, usage) turned into server-sent event frames for
// every page that listens (console/README.md, "The event stream").
//
// Thread: the watchers and the worker run on threads of their own; every
// public method is safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agency/v1/fleet.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/connection.hpp"
#include "bus/kv.hpp"
#include "bus/result.hpp"

namespace agency::console {

// One page's stream: SSE frames in order. A page that does not keep up
// (more than kMostQueued frames waiting) is cut off; its browser reconnects
// and reads the state again.
class Listener {
 public:
  static constexpr std::size_t kMostQueued = 4096;
  // The next frame, or nullopt after `timeout` (send a keep-alive) or once
  // closed (closed() says which).
  std::optional<std::string> next(std::chrono::milliseconds timeout);
  [[nodiscard]] bool closed() const;
  void close();

 private:
  friend class Feed;
  void push(const std::string& frame);
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> frames_;
  bool closed_ = false;
};

class Feed {
 public:
  // Opens the buckets, reads every record and heartbeat, subscribes.
  static Result<std::unique_ptr<Feed>> start(Connection& connection);
  ~Feed();
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  // Every task record, by id.
  [[nodiscard]] std::vector<v1::Task> tasks() const;
  [[nodiscard]] std::optional<v1::Task> task(const std::string& id) const;
  // Every agent's last heartbeat, by agent id.
  [[nodiscard]] std::vector<v1::AgentStatus> agents() const;

  // A new stream; it starts with a `hello` frame.
  std::shared_ptr<Listener> listen();
  // Frames sent since start (for the console's own measurements).
  [[nodiscard]] std::uint64_t frames_sent() const { return next_id_.load() - 1; }

 private:
  explicit Feed(Connection& connection) : connection_(&connection) {}
  void watch_tasks();
  void watch_fleet();
  // Hands every change `watch` yields to `apply` until stopped.
  void follow(KvWatcher& watch, const std::function<void(const KvEntry&)>& apply);
  void work();
  void on_message(const std::string& subject, Incoming message);
  void broadcast(std::string_view event, const std::string& data);

  Connection* connection_;
  std::optional<KeyValue> tasks_kv_;
  std::optional<KeyValue> fleet_kv_;
  std::optional<KvWatcher> tasks_watch_;
  std::optional<KvWatcher> fleet_watch_;

  mutable std::mutex mu_;
  std::map<std::string, v1::Task> tasks_;
  std::map<std::string, v1::AgentStatus> agents_;
  std::vector<std::weak_ptr<Listener>> listeners_;

  // Messages from the subscriptions, handled on the worker thread (it may
  // read a record; a nats.c delivery thread should not wait on the bus).
  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::deque<std::pair<std::string, Incoming>> inbox_;
  std::vector<Subscription> subscriptions_;

  std::atomic<std::uint64_t> next_id_{1};
  std::chrono::steady_clock::time_point last_usage_{};  // worker thread only
  bool usage_pending_ = false;                          // worker thread only
  std::atomic<bool> stop_{false};
  std::thread tasks_thread_, fleet_thread_, worker_;
};

}  // namespace agency::console
