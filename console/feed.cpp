#include "console/feed.hpp"

#include <google/protobuf/util/time_util.h>

#include <nlohmann/json.hpp>

#include "agency/v1/dead.pb.h"
#include "agency/v1/event.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"

namespace agency::console {

using namespace std::chrono_literals;

namespace {

// Usage samples come in bursts; a page needs to hear of them this often
// at most.
constexpr auto kUsageEvery = 2s;

std::string now_text() { return google::protobuf::util::TimeUtil::ToString(now_timestamp()); }

}  // namespace

// ---- Listener -----------------------------------------------------------

std::optional<std::string> Listener::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || !frames_.empty(); });
  if (frames_.empty()) return std::nullopt;
  std::string frame = std::move(frames_.front());
  frames_.pop_front();
  return frame;
}

bool Listener::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void Listener::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    frames_.clear();
  }
  cv_.notify_all();
}

void Listener::push(const std::string& frame) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (frames_.size() >= kMostQueued) {
      // Too far behind: cut off rather than hold memory for a stuck page.
      closed_ = true;
      frames_.clear();
    } else {
      frames_.push_back(frame);
    }
  }
  cv_.notify_all();
}

// ---- Feed ---------------------------------------------------------------

Result<std::unique_ptr<Feed>> Feed::start(Connection& connection) {
  std::unique_ptr<Feed> feed(new Feed(connection));
  auto tasks = KeyValue::open(connection, subjects::kTasksBucket);
  if (!tasks) return tasks.error();
  auto fleet = KeyValue::open(connection, subjects::kFleetBucket);
  if (!fleet) return fleet.error();
  feed->tasks_kv_.emplace(std::move(*tasks));
  feed->fleet_kv_.emplace(std::move(*fleet));
  auto tw = feed->tasks_kv_->watch(">");
  if (!tw) return tw.error();
  auto fw = feed->fleet_kv_->watch(">");
  if (!fw) return fw.error();
  feed->tasks_watch_.emplace(std::move(*tw));
  feed->fleet_watch_.emplace(std::move(*fw));

  // The current values first (a watcher yields them, then an empty key),
  // so the first page has the whole board.
  for (auto* watch : {&*feed->tasks_watch_, &*feed->fleet_watch_}) {
    const bool tasks_bucket = watch == &*feed->tasks_watch_;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (true) {
      if (std::chrono::steady_clock::now() > deadline) {
        return make_error(errc::timeout, "the buckets did not answer within 30 s");
      }
      auto entry = watch->next(1s);
      if (!entry) return entry.error();
      if (!*entry) continue;
      if ((*entry)->key.empty()) break;
      if ((*entry)->deleted) continue;
      if (tasks_bucket) {
        if (auto t = codec::decode<v1::Task>((*entry)->value); t) {
          feed->tasks_[t->id()] = std::move(*t);
        }
      } else if (auto s = codec::decode<v1::AgentStatus>((*entry)->value); s) {
        feed->agents_[(*entry)->key] = std::move(*s);
      }
    }
  }

  Feed* self = feed.get();
  for (std::string subject :
       {std::string("agency.event.task.>"), std::string("agency.event.dispatch"),
        std::string("agency.dead.>"), std::string("agency.usage.>")}) {
    auto sub = connection.subscribe(subject, "", [self, subject](Incoming m) {
      {
        std::lock_guard lock(self->inbox_mu_);
        self->inbox_.emplace_back(subject, std::move(m));
      }
      self->inbox_cv_.notify_one();
    });
    if (!sub) return sub.error();
    feed->subscriptions_.push_back(std::move(*sub));
  }
  feed->tasks_thread_ = std::thread([self] { self->watch_tasks(); });
  feed->fleet_thread_ = std::thread([self] { self->watch_fleet(); });
  feed->worker_ = std::thread([self] { self->work(); });
  return feed;
}

Feed::~Feed() {
  stop_.store(true);
  for (auto& s : subscriptions_) s.unsubscribe();
  inbox_cv_.notify_all();
  if (tasks_watch_) tasks_watch_->stop();
  if (fleet_watch_) fleet_watch_->stop();
  for (auto* t : {&tasks_thread_, &fleet_thread_, &worker_}) {
    if (t->joinable()) t->join();
  }
  std::lock_guard lock(mu_);
  for (auto& w : listeners_) {
    if (auto l = w.lock()) l->close();
  }
}

std::vector<v1::Task> Feed::tasks() const {
  std::lock_guard lock(mu_);
  std::vector<v1::Task> out;
  out.reserve(tasks_.size());
  for (const auto& [id, t] : tasks_) out.push_back(t);
  return out;
}

std::optional<v1::Task> Feed::task(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  return it->second;
}

std::vector<v1::AgentStatus> Feed::agents() const {
  std::lock_guard lock(mu_);
  std::vector<v1::AgentStatus> out;
  out.reserve(agents_.size());
  for (const auto& [id, a] : agents_) out.push_back(a);
  return out;
}

std::shared_ptr<Listener> Feed::listen() {
  auto l = std::make_shared<Listener>();
  const auto id = next_id_.fetch_add(1);
  l->push("id: " + std::to_string(id) + "\nevent: hello\ndata: {\"at\":\"" + now_text() +
          "\"}\n\n");
  std::lock_guard lock(mu_);
  std::erase_if(listeners_, [](const auto& w) { return w.expired(); });
  listeners_.push_back(l);
  return l;
}

void Feed::broadcast(std::string_view event, const std::string& data) {
  const auto id = next_id_.fetch_add(1);
  const std::string frame =
      "id: " + std::to_string(id) + "\nevent: " + std::string(event) + "\ndata: " + data + "\n\n";
  std::vector<std::shared_ptr<Listener>> to;
  {
    std::lock_guard lock(mu_);
    for (const auto& w : listeners_) {
      if (auto l = w.lock()) to.push_back(std::move(l));
    }
  }
  for (const auto& l : to) l->push(frame);
}

void Feed::follow(KvWatcher& watch, const std::function<void(const KvEntry&)>& apply) {
  while (!stop_.load()) {
    auto entry = watch.next(500ms);
    if (!entry) {
      if (stop_.load()) return;
      std::this_thread::sleep_for(500ms);  // the watcher failed; the bus reconnects
      continue;
    }
    if (*entry && !(*entry)->key.empty()) apply(**entry);
  }
}

void Feed::watch_tasks() {
  follow(*tasks_watch_, [this](const KvEntry& e) {
    std::lock_guard lock(mu_);
    if (e.deleted) {
      tasks_.erase(e.key);
    } else if (auto t = codec::decode<v1::Task>(e.value); t) {
      tasks_[t->id()] = std::move(*t);
    }
  });
}

void Feed::watch_fleet() {
  follow(*fleet_watch_, [this](const KvEntry& e) {
    if (e.deleted) {
      {
        std::lock_guard lock(mu_);
        agents_.erase(e.key);
      }
      broadcast("fleet", "{\"agentId\":" + nlohmann::json(e.key).dump() + ",\"gone\":true}");
      return;
    }
    auto s = codec::decode<v1::AgentStatus>(e.value);
    if (!s) return;
    const std::string data = codec::to_json(*s);
    {
      std::lock_guard lock(mu_);
      agents_[e.key] = std::move(*s);
    }
    broadcast("fleet", data);
  });
}

void Feed::work() {
  while (true) {
    std::optional<std::pair<std::string, Incoming>> item;
    {
      std::unique_lock lock(inbox_mu_);
      inbox_cv_.wait_for(lock, 500ms, [&] { return stop_.load() || !inbox_.empty(); });
      if (stop_.load()) return;
      if (!inbox_.empty()) {
        item.emplace(std::move(inbox_.front()));
        inbox_.pop_front();
      }
    }
    if (item) on_message(item->first, std::move(item->second));
    // Usage news goes out at most every kUsageEvery, and the last of a
    // burst is not lost.
    if (usage_pending_ && std::chrono::steady_clock::now() - last_usage_ >= kUsageEvery) {
      usage_pending_ = false;
      last_usage_ = std::chrono::steady_clock::now();
      broadcast("usage", "{\"at\":\"" + now_text() + "\"}");
    }
  }
}

void Feed::on_message(const std::string& subscription, Incoming m) {
  if (subscription == "agency.event.task.>") {
    auto event = codec::decode<v1::TaskEvent>(m.data(), m.headers());
    if (!event) return;
    // The record is written before its event; when the watcher has not
    // shown it yet, read it.
    std::optional<v1::Task> record = task(event->task_id());
    if (!record || (record->stage() != event->to_stage() && !event->to_stage().empty())) {
      if (auto e = tasks_kv_->get(event->task_id()); e) {
        if (auto t = codec::decode<v1::Task>(e->value); t) {
          record = *t;
          std::lock_guard lock(mu_);
          tasks_[t->id()] = std::move(*t);
        }
      }
    }
    broadcast("task", "{\"event\":" + codec::to_json(*event) +
                          ",\"task\":" + (record ? codec::to_json(*record) : "null") + "}");
  } else if (subscription == "agency.event.dispatch") {
    if (auto e = codec::decode<v1::FleetEvent>(m.data(), m.headers()); e) {
      broadcast("decision", codec::to_json(*e));
    }
  } else if (subscription == "agency.dead.>") {
    if (auto d = codec::decode<v1::DeadLetter>(m.data(), m.headers()); d) {
      broadcast("dead", codec::to_json(*d));
    }
  } else {
    usage_pending_ = true;  // sent by work()
  }
}

}  // namespace agency::console
