// agency-bench: brief-to-pickup latency and pipeline throughput of the mesh,
// each printed beside a floor measured in the same run with bare nats.c
// (bench/README.md says what each figure means).
//
// Everything runs here: a nats-server per phase (JetStream on a file store in
// a temp dir), real agent processes started from the binaries beside this
// one, and an observer that sees the agents only from outside, through what
// they publish (fleet status, usage samples, task events). The runtime is
// measured as it is; nothing in it knows it is being measured.
//
// Threads: the main thread runs the phases; nats.c threads run the
// observer's callbacks (they only record under Observer::mu_); the floor
// runs its consumers on threads of its own.
#include <fcntl.h>
#include <google/protobuf/util/time_util.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agency/v1/brief.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/task.pb.h"
#include "agency/v1/usage.pb.h"
#include "bench/harness.hpp"
#include "bench/tally.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/connection.hpp"
#include "bus/embedded_server.hpp"
#include "bus/handles.hpp"
#include "bus/provision.hpp"
#include "bus/spawn.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/ids.hpp"
#include "runtime/inbox.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/tasks.hpp"

namespace agency::bench {
namespace {

namespace fs = std::filesystem;
namespace voc = vocabulary;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using google::protobuf::util::TimeUtil;
using namespace std::chrono_literals;

// GET http://127.0.0.1:<port><path>, the body; "" on any failure. Only for
// the server's monitoring endpoint (/varz), which answers small JSON.
std::string http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n = 0;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        response.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// Messages the server received and sent so far (every publish, request,
// ack and reply counts once in `in`).
struct ServerCounters {
  double in_msgs = 0;
  double out_msgs = 0;
};

// Of a cluster: the sum over its nodes (a message routed between nodes
// counts on each).
ServerCounters server_counters(const std::vector<int>& monitor_ports) {
  ServerCounters c;
  for (int port : monitor_ports) {
    auto body = http_get(port, "/varz");
    auto j = json::parse(body, nullptr, false);
    if (j.is_object()) {
      c.in_msgs += j.value("in_msgs", 0.0);
      c.out_msgs += j.value("out_msgs", 0.0);
    }
  }
  return c;
}

// Bare nats.c: the floor uses the library directly, with the same option
// the mesh's connections use (SendAsap), and nothing of agency's.
struct RawConnection {
  nats::ConnectionPtr nc;
  nats::JsCtxPtr js;
};

void check(natsStatus s, jsErrCode code, const std::string& doing) {
  if (s == NATS_OK) return;
  std::string what = doing + ": " + natsStatus_GetText(s);
  if (code != 0) what += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  throw Failure(what);
}

RawConnection raw_connect(const std::string& url, const std::string& name) {
  natsOptions* raw_opts = nullptr;
  check(natsOptions_Create(&raw_opts), static_cast<jsErrCode>(0), "nats options");
  nats::OptionsPtr opts(raw_opts);
  // A cluster's nodes as a list: nats.c tries them in turn.
  std::vector<std::string> urls;
  for (std::size_t at = 0; at <= url.size();) {
    auto comma = std::min(url.find(',', at), url.size());
    if (comma > at) urls.push_back(url.substr(at, comma - at));
    at = comma + 1;
  }
  std::vector<const char*> servers;
  servers.reserve(urls.size());
  for (const auto& u : urls) servers.push_back(u.c_str());
  check(natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size())),
        static_cast<jsErrCode>(0), "nats servers " + url);
  natsOptions_SetName(opts.get(), name.c_str());
  natsOptions_SetSendAsap(opts.get(), true);
  natsConnection* nc = nullptr;
  check(natsConnection_Connect(&nc, opts.get()), static_cast<jsErrCode>(0), "connecting to " + url);
  RawConnection out;
  out.nc.reset(nc);
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, nc, nullptr), static_cast<jsErrCode>(0), "JetStream");
  out.js.reset(js);
  return out;
}

constexpr const char* kFloorStream = "BENCH_FLOOR";

// A work-queue stream on a file store, as AGENCY_BRIEFS is (docs/STREAMS.md).
void add_floor_stream(RawConnection& c, int replicas) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = kFloorStream;
  const char* subjects_list[] = {"bench.floor.>"};
  cfg.Subjects = subjects_list;
  cfg.SubjectsLen = 1;
  cfg.Retention = js_WorkQueuePolicy;
  cfg.Storage = js_FileStorage;
  cfg.Duplicates = std::chrono::nanoseconds(10min).count();
  cfg.Replicas = static_cast<int64_t>(replicas);
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  check(js_AddStream(&si, c.js.get(), &cfg, nullptr, &code), code, "adding stream BENCH_FLOOR");
  jsStreamInfo_Destroy(si);
}

// A durable pull consumer with explicit acks, as briefs-<role> is.
void add_floor_consumer(RawConnection& c, const std::string& durable, const std::string& subject) {
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = durable.c_str();
  cc.FilterSubject = subject.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = std::chrono::nanoseconds(30s).count();
  cc.MaxAckPending = 1000;
  jsConsumerInfo* ci = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  check(js_AddConsumer(&ci, c.js.get(), kFloorStream, &cc, nullptr, &code), code,
        "adding consumer " + durable);
  jsConsumerInfo_Destroy(ci);
}

nats::SubscriptionPtr floor_subscribe(RawConnection& c, const std::string& durable,
                                      const std::string& subject) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = kFloorStream;
  so.Consumer = durable.c_str();
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  check(js_PullSubscribe(&sub, c.js.get(), subject.c_str(), durable.c_str(), nullptr, &so, &code),
        code, "binding to " + durable);
  return nats::SubscriptionPtr(sub);
}

void floor_publish(RawConnection& c, const std::string& subject, const std::string& data,
                   const std::string& msg_id) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.c_str();
  jsPubAck* pa = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  check(js_Publish(&pa, c.js.get(), subject.c_str(), data.data(), static_cast<int>(data.size()),
                   &po, &code),
        code, "js_Publish " + subject);
  jsPubAck_Destroy(pa);
}

// What an agent's brief weighs on the wire, so the floor moves the same
// bytes.
std::string sample_payload() {
  v1::Brief b;
  b.set_id(ids::brief());
  b.set_task_id(ids::task());
  b.set_objective("benchmark brief: pass through every stage");
  b.set_stage(std::string(pipeline::kReadyForPrep));
  b.set_attempt(1);
  b.set_origin("agency-bench");
  *b.mutable_created_at() = now_timestamp();
  return codec::encode(b).data;
}

// ---- floor 1: publish -> a waiting Fetch(1) ---------------------------------

// One consumer thread parked in Fetch(1, 1 s) as an idle agent is; the main
// thread publishes one message at a time and times it until the consumer
// has it in hand.
Stats floor_pickup(const Server& server, int warmup, int samples, std::chrono::microseconds gap) {
  RawConnection pub = raw_connect(server.url(), "bench-floor-publisher");
  RawConnection con = raw_connect(server.url(), "bench-floor-consumer");
  add_floor_stream(pub, server.replicas());
  add_floor_consumer(pub, "floor-pickup", "bench.floor.pickup");
  auto sub = floor_subscribe(con, "floor-pickup", "bench.floor.pickup");

  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t received = 0;
  Clock::time_point received_at;
  std::string error;
  std::thread consumer([&] {
    while (true) {
      natsMsgList list{};
      jsErrCode code = static_cast<jsErrCode>(0);
      natsStatus s = natsSubscription_Fetch(&list, sub.get(), 1, 1000, &code);
      if (s == NATS_TIMEOUT) continue;
      auto at = Clock::now();
      if (s != NATS_OK || list.Count != 1) {
        std::lock_guard lock(mu);
        error = std::string("Fetch: ") + natsStatus_GetText(s);
        cv.notify_all();
        natsMsgList_Destroy(&list);
        return;
      }
      bool stop = natsMsg_GetDataLength(list.Msgs[0]) == 4 &&
                  std::string_view(natsMsg_GetData(list.Msgs[0]), 4) == "stop";
      natsMsg_AckSync(list.Msgs[0], nullptr, &code);
      natsMsgList_Destroy(&list);
      {
        std::lock_guard lock(mu);
        received_at = at;
        ++received;
      }
      cv.notify_all();
      if (stop) return;
    }
  });

  const std::string payload = sample_payload();
  std::vector<double> lat;
  std::string fail;
  for (int i = 0; i < warmup + samples && fail.empty(); ++i) {
    std::this_thread::sleep_for(gap);  // think time: the consumer is parked in Fetch again
    auto t0 = Clock::now();
    floor_publish(pub, "bench.floor.pickup", payload, "floor-pickup-" + std::to_string(i));
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, 10s,
                     [&] { return received > static_cast<std::uint64_t>(i) || !error.empty(); })) {
      fail = "the floor consumer got no message within 10 s";
    } else if (!error.empty()) {
      fail = error;
    } else if (i >= warmup) {
      lat.push_back(ms_between(t0, received_at));
    }
  }
  floor_publish(pub, "bench.floor.pickup", "stop", "floor-pickup-stop");
  consumer.join();
  if (!fail.empty()) throw Failure("floor (publish -> Fetch): " + fail);
  return stats_of(lat);
}

// One synchronous round trip to the server as the runtime makes a dozen of
// per stage: kvStore_Get of a key that exists, bare nats.c, file store.
// Not a target; it prices the runtime's round trips in the same run.
Stats kv_round_trip(const Server& server, int warmup, int samples) {
  RawConnection c = raw_connect(server.url(), "bench-floor-kv");
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = "bench-floor";
  cfg.History = 1;
  cfg.StorageType = js_FileStorage;
  cfg.Replicas = server.replicas();
  kvStore* raw = nullptr;
  check(js_CreateKeyValue(&raw, c.js.get(), &cfg), static_cast<jsErrCode>(0),
        "creating KV bucket bench-floor");
  nats::KvStorePtr kv(raw);
  const std::string payload = sample_payload();
  std::uint64_t rev = 0;
  check(kvStore_Put(&rev, kv.get(), "key", payload.data(), static_cast<int>(payload.size())),
        static_cast<jsErrCode>(0), "kvStore_Put");
  std::vector<double> lat;
  for (int i = 0; i < warmup + samples; ++i) {
    kvEntry* e = nullptr;
    auto t0 = Clock::now();
    check(kvStore_Get(&e, kv.get(), "key"), static_cast<jsErrCode>(0), "kvStore_Get");
    auto t1 = Clock::now();
    kvEntry_Destroy(e);
    if (i >= warmup) lat.push_back(ms_between(t0, t1));
  }
  return stats_of(lat);
}

// ---- floor 2: four stages of Fetch + Ack + js_Publish -----------------------

struct ThroughputResult {
  int tasks = 0;
  double seconds = 0;
  double per_second = 0;
  double cpu_server_ms = 0;   // per task
  double cpu_agents_ms = 0;   // per task (the floor: its worker threads)
  double cpu_bench_ms = 0;    // per task (publisher and observer)
  double server_in_msgs = 0;  // per task
  Stats e2e;                  // publish -> done, per task
};

json to_json(const ThroughputResult& r) {
  return json{
      {"tasks", r.tasks},
      {"seconds", r.seconds},
      {"tasks_per_second", r.per_second},
      {"cpu_ms_per_task",
       {{"server", r.cpu_server_ms}, {"agents", r.cpu_agents_ms}, {"bench", r.cpu_bench_ms}}},
      {"server_in_msgs_per_task", r.server_in_msgs},
      {"end_to_end", to_json(r.e2e)}};
}

// K workers per stage, each on its own connection as agents are, doing per
// message what an agent does on the bus at the least: Fetch(1), js_Publish to
// the next stage (with a msg id), AckSync. The task record, events, usage
// samples and status writes of the real runtime are what this leaves out.
ThroughputResult floor_throughput(const Server& server, int per_stage, int tasks) {
  RawConnection pub = raw_connect(server.url(), "bench-floor-publisher");
  add_floor_stream(pub, server.replicas());
  for (int s = 1; s <= 4; ++s) {
    add_floor_consumer(pub, "floor-" + std::to_string(s), "bench.floor.s" + std::to_string(s));
  }
  std::atomic<int> done{0};
  std::mutex mu;
  std::map<std::string, Clock::time_point> done_at;  // task -> when stage 4 acked it
  std::string error;
  std::vector<std::thread> workers;
  for (int s = 1; s <= 4; ++s) {
    for (int k = 0; k < per_stage; ++k) {
      workers.emplace_back([&, s, k] {
        try {
          RawConnection c = raw_connect(
              server.url(), "bench-floor-s" + std::to_string(s) + "-" + std::to_string(k));
          std::string subject = "bench.floor.s" + std::to_string(s);
          auto sub = floor_subscribe(c, "floor-" + std::to_string(s), subject);
          std::string next = "bench.floor.s" + std::to_string(s + 1);
          while (true) {
            natsMsgList list{};
            jsErrCode code = static_cast<jsErrCode>(0);
            natsStatus st = natsSubscription_Fetch(&list, sub.get(), 1, 1000, &code);
            if (st == NATS_TIMEOUT) continue;
            check(st, code, "Fetch from floor-" + std::to_string(s));
            natsMsg* m = list.Msgs[0];
            std::string data(natsMsg_GetData(m),
                             static_cast<std::size_t>(natsMsg_GetDataLength(m)));
            if (data == "stop") {
              natsMsg_AckSync(m, nullptr, &code);
              natsMsgList_Destroy(&list);
              return;
            }
            const char* id_raw = nullptr;
            natsMsgHeader_Get(m, "Bench-Task", &id_raw);
            std::string id = id_raw != nullptr ? id_raw : "";
            if (s < 4) {
              // The next stage's message, as an agent publishes the next
              // brief: with a msg id, and the task carried in a header.
              natsMsg* out = nullptr;
              check(natsMsg_Create(&out, next.c_str(), nullptr, data.data(),
                                   static_cast<int>(data.size())),
                    static_cast<jsErrCode>(0), "natsMsg_Create");
              nats::MsgPtr owned(out);
              natsMsgHeader_Set(out, "Bench-Task", id.c_str());
              jsPubOptions po;
              jsPubOptions_Init(&po);
              std::string msg_id = id + ":" + std::to_string(s + 1);
              po.MsgId = msg_id.c_str();
              jsPubAck* pa = nullptr;
              check(js_PublishMsg(&pa, c.js.get(), out, &po, &code), code, "js_Publish " + next);
              jsPubAck_Destroy(pa);
            }
            check(natsMsg_AckSync(m, nullptr, &code), code, "AckSync");
            natsMsgList_Destroy(&list);
            if (s == 4) {
              auto now = Clock::now();
              std::lock_guard lock(mu);
              done_at[id] = now;
              done.fetch_add(1);
            }
          }
        } catch (const Failure& f) {
          std::lock_guard lock(mu);
          if (error.empty()) error = f.what();
          done.store(tasks + 1);  // wake the main thread
        }
      });
    }
  }

  std::this_thread::sleep_for(200ms);  // let every worker park its first Fetch
  const auto server_pids = server.pids();
  double cpu_server0 = cpu_ms(server_pids);
  double cpu_self0 = cpu_ms(::getpid());
  auto counters0 = server_counters(server.monitor_ports());
  const std::string payload = sample_payload();
  std::map<std::string, Clock::time_point> published;
  auto start = Clock::now();
  for (int i = 0; i < tasks; ++i) {
    std::string id = "f" + std::to_string(i);
    natsMsg* out = nullptr;
    check(natsMsg_Create(&out, "bench.floor.s1", nullptr, payload.data(),
                         static_cast<int>(payload.size())),
          static_cast<jsErrCode>(0), "natsMsg_Create");
    nats::MsgPtr owned(out);
    natsMsgHeader_Set(out, "Bench-Task", id.c_str());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    std::string msg_id = id + ":1";
    po.MsgId = msg_id.c_str();
    jsPubAck* pa = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    published[id] = Clock::now();
    check(js_PublishMsg(&pa, pub.js.get(), out, &po, &code), code, "js_Publish bench.floor.s1");
    jsPubAck_Destroy(pa);
  }
  auto deadline = Clock::now() + std::chrono::seconds(30 + tasks / 10);
  while (done.load() < tasks && Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);  // polling a counter, with a deadline
  }
  ThroughputResult r;
  r.tasks = tasks;
  {
    std::lock_guard lock(mu);
    std::vector<double> e2e;
    Clock::time_point last = start;
    for (const auto& [id, at] : done_at) {
      last = std::max(last, at);
      if (auto p = published.find(id); p != published.end()) {
        e2e.push_back(ms_between(p->second, at));
      }
    }
    r.seconds = ms_between(start, last) / 1000.0;
    r.e2e = stats_of(e2e);
  }
  auto counters1 = server_counters(server.monitor_ports());
  double cpu_server1 = cpu_ms(server_pids);
  double cpu_self1 = cpu_ms(::getpid());
  for (int s = 1; s <= 4; ++s) {
    for (int k = 0; k < per_stage; ++k) {
      floor_publish(pub, "bench.floor.s" + std::to_string(s), "stop",
                    "stop-" + std::to_string(s) + "-" + std::to_string(k));
    }
  }
  for (auto& w : workers) w.join();
  if (!error.empty()) throw Failure("floor (4 stages): " + error);
  if (done.load() < tasks) {
    throw Failure("floor (4 stages): only " + std::to_string(done.load()) + " of " +
                  std::to_string(tasks) + " messages came through");
  }
  r.per_second = r.seconds > 0 ? tasks / r.seconds : 0;
  r.cpu_server_ms = (cpu_server1 - cpu_server0) / tasks;
  r.cpu_agents_ms = (cpu_self1 - cpu_self0) / tasks;  // workers and publisher share a process
  r.cpu_bench_ms = 0;
  r.server_in_msgs = (counters1.in_msgs - counters0.in_msgs) / tasks;
  return r;
}

// ---- the observer -------------------------------------------------------------

// What the observer saw of one task.
struct TaskSeen {
  std::optional<Clock::time_point> busy_seen;  // first busy status naming it arrived
  std::uint64_t busy_seq = 0;                  // that status's place among its agent's
  std::int64_t busy_since_ns = 0;              // that status's `since` (the agent's clock)
  std::optional<Clock::time_point> usage_seen;
  std::int64_t usage_at_ns = 0;                           // the usage sample's `at`
  std::map<std::string, Clock::time_point> entered_seen;  // stage -> first event arrived
  bool blocked = false;
  std::string blocked_reason;
};

// The latest status an agent wrote, and how many it wrote so far. Statuses
// arrive on one subscription, so they are seen in the order the server took
// them, unlike messages of different subscriptions (each has its own
// dispatch thread in nats.c).
struct AgentSeen {
  v1::AgentStatus status;
  std::uint64_t seq = 0;
  Clock::time_point seen;
};

// Subscribes (core, no JetStream consumer) to what agents publish about
// themselves and their tasks, and records when each thing first arrived.
// The agents cannot tell they are watched.
class Observer {
 public:
  // Without `usage`, usage samples are not watched: every message the
  // observer takes costs CPU the agents share.
  Observer(const std::string& url, bool usage)
      : connection_(connect(url, "agency-bench-observer")) {
    subscribe("fleet", "$KV." + std::string(subjects::kFleetBucket) + ".>", [this](Incoming m) {
      auto at = Clock::now();
      auto status = codec::decode<v1::AgentStatus>(m.data());
      if (!status || status->agent_id().empty()) return;  // a delete marker
      std::lock_guard lock(mu_);
      auto& agent = agents_[status->agent_id()];
      ++agent.seq;
      agent.seen = at;
      if (status->state() == voc::kBusy && !status->task_id().empty()) {
        auto& t = tasks_[status->task_id()];
        if (!t.busy_seen) {
          t.busy_seen = at;
          t.busy_seq = agent.seq;
          t.busy_since_ns = TimeUtil::TimestampToNanoseconds(status->since());
        }
      }
      agent.status = std::move(*status);
      cv_.notify_all();
    });
    if (usage) {
      subscribe("usage", "agency.usage.>", [this](Incoming m) {
        auto at = Clock::now();
        auto sample = codec::decode<v1::UsageSample>(m.data(), m.headers());
        if (!sample) return;
        std::lock_guard lock(mu_);
        auto& t = tasks_[sample->task_id()];
        if (!t.usage_seen) {
          t.usage_seen = at;
          t.usage_at_ns = TimeUtil::TimestampToNanoseconds(sample->at());
        }
        cv_.notify_all();
      });
    }
    subscribe("events", "agency.event.task.>", [this](Incoming m) {
      auto at = Clock::now();
      auto event = codec::decode<v1::TaskEvent>(m.data(), m.headers());
      if (!event) return;
      std::lock_guard lock(mu_);
      ++events_;
      auto& t = tasks_[event->task_id()];
      // Every stage re-announces "created" (dropped by the stream as a
      // duplicate, but core subscribers see it): keep the first of each.
      if (t.entered_seen.count(event->to_stage()) == 0) {
        t.entered_seen[event->to_stage()] = at;
        if (event->to_stage() == voc::kDone) {
          ++done_;
          last_done_ = at;
        }
        if (event->to_stage() == voc::kBlocked) {
          ++blocked_;
          t.blocked = true;
          t.blocked_reason = event->reason();
        }
      }
      cv_.notify_all();
    });
    // Subscriptions are in place on the server before anything is measured.
    if (auto r = connection_->flush(5s); !r) throw Failure("observer: " + r.error().message);
  }

  template <class Pred>
  bool wait_until(Clock::time_point deadline, Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return pred(*this); });
  }

  // Read under the lock only (from inside wait_until's predicate, or with()).
  [[nodiscard]] const TaskSeen* task(const std::string& id) const {
    auto it = tasks_.find(id);
    return it == tasks_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] const AgentSeen* agent(const std::string& id) const {
    auto it = agents_.find(id);
    return it == agents_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] int done() const { return done_; }
  [[nodiscard]] int blocked() const { return blocked_; }
  [[nodiscard]] Clock::time_point last_done() const { return last_done_; }
  [[nodiscard]] std::uint64_t events() const { return events_; }

  // Stops watching agency-fleet (once the agents are known to be up).
  void stop_watching_fleet() { subs_.erase("fleet"); }

  template <class F>
  auto with(F f) {
    std::lock_guard lock(mu_);
    return f(*this);
  }

 private:
  void subscribe(const std::string& name, const std::string& subject, MessageHandler handler) {
    auto sub = connection_->subscribe(subject, {}, std::move(handler));
    if (!sub) throw Failure("observer: subscribing to " + subject + ": " + sub.error().message);
    subs_[name] = std::move(*sub);
  }

  std::unique_ptr<Connection> connection_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, TaskSeen> tasks_;
  std::map<std::string, AgentSeen> agents_;
  int done_ = 0;
  int blocked_ = 0;
  Clock::time_point last_done_;
  std::uint64_t events_ = 0;
  // Last: unsubscribed before the connection closes.
  std::map<std::string, Subscription> subs_;
};

// ---- the mesh -------------------------------------------------------------------

constexpr const char* kScenario =
    R"(# agency-bench: every stage passes at once; no sleeps, no files written.
planner:
  - spec: "benchmark: nothing to plan"
    summary: "benchmark"
builder:
  - summary: "benchmark"
adversary:
  - summary: "benchmark"
reviewer:
  - summary: "benchmark"
)";

// A state dir with agency.yaml (scripted engine for the four roles) and the
// scenario.
fs::path write_config(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream(dir / "scenario.yaml") << kScenario;
  std::string yaml = "# written by agency-bench\nstate_dir: state\nroles:\n";
  for (const char* role : {"planner", "builder", "adversary", "reviewer"}) {
    yaml += std::string("  ") + role + ":\n    engine: scripted\n    scenario: scenario.yaml\n";
  }
  std::ofstream(dir / "agency.yaml") << yaml;
  return dir / "agency.yaml";
}

class Fleet {
 public:
  Fleet(const Server& server, const fs::path& dir, const fs::path& config)
      : server_(server), dir_(dir), config_(config) {}
  ~Fleet() { stop(); }
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  void start(const std::string& binary, const std::vector<std::string>& args,
             const std::string& agent_id) {
    std::vector<std::string> argv = {(bin_dir() / binary).string()};
    if (!fs::exists(argv[0])) {
      throw Failure(argv[0] + " is missing: build it (cmake --build <dir> --target " + binary +
                    ")");
    }
    argv.insert(argv.end(), args.begin(), args.end());
    std::map<std::string, std::optional<std::string>> env = {
        {"NATS_URL", server_.url()},
        {"AGENCY_CONFIG", config_.string()},
        {"AGENCY_AGENT_ID", agent_id},
        // Nothing of the caller's NATS setup may redirect the agents.
        {"NATS_CONTEXT", std::nullopt},
        {"NATS_CREDS", std::nullopt},
        {"NATS_USER", std::nullopt},
        {"NATS_PASSWORD", std::nullopt},
        {"NATS_TOKEN", std::nullopt},
        {"NATS_NKEY", std::nullopt},
        {"AGENCY_STATE_DIR", std::nullopt},
        {"AGENCY_HEARTBEAT_MS", std::nullopt},
        {"AGENCY_IN_PROGRESS_MS", std::nullopt},
    };
    ids_.push_back(agent_id);
    children_.push_back(std::make_unique<Child>(argv, env, dir_, dir_ / (agent_id + ".log")));
  }

  // Until every agent has written an idle status.
  void wait_ready(Observer& observer, std::chrono::seconds timeout) {
    bool ok = observer.wait_until(Clock::now() + timeout, [&](const Observer& o) {
      for (const auto& id : ids_) {
        const auto* a = o.agent(id);
        if (a == nullptr || a->status.state() != voc::kIdle) return false;
      }
      return true;
    });
    if (!ok) {
      for (std::size_t i = 0; i < ids_.size(); ++i) {
        if (!children_[i]->running() ||
            observer.with([&](const Observer& o) { return o.agent(ids_[i]) == nullptr; })) {
          throw Failure("agent " + ids_[i] + " did not start within " +
                        std::to_string(timeout.count()) +
                        " s; its log: " + children_[i]->log().string());
        }
      }
      throw Failure("the agents did not all report idle within " + std::to_string(timeout.count()) +
                    " s");
    }
  }

  [[nodiscard]] std::vector<pid_t> pids() const {
    std::vector<pid_t> out;
    out.reserve(children_.size());
    for (const auto& c : children_) out.push_back(c->pid());
    return out;
  }

  [[nodiscard]] double cpu_ms_total() const {
    double sum = 0;
    for (const auto& c : children_) sum += std::max(0.0, cpu_ms(c->pid()));
    return sum;
  }

  void stop() {
    for (auto& c : children_) c->signal(SIGTERM);
    for (auto& c : children_) {
      if (!c->wait(10s)) {
        progress("agent did not stop within 10 s after SIGTERM, killing it: " + c->log().string());
        c->signal(SIGKILL);
        (void)c->wait(5s);
      }
    }
    children_.clear();
    ids_.clear();
  }

 private:
  const Server& server_;
  fs::path dir_;
  fs::path config_;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<Child>> children_;
};

// Publishes a brief as `agency brief` does: the task record first, then the
// brief on agency.brief.planner with the msg id task:stage:attempt.
class Publisher {
 public:
  explicit Publisher(const std::string& url) : connection_(connect(url, "agency-bench-publisher")) {
    auto store = TaskStore::open(*connection_);
    if (!store) throw Failure("opening the task store: " + store.error().message);
    store_.emplace(std::move(*store));
  }

  // The brief of a new task, its record created; publish() sends it.
  v1::Brief prepare(const std::string& objective) {
    v1::Brief b;
    b.set_objective(objective);
    b.set_origin("agency-bench");
    fill_brief_defaults(b, true);
    b.set_task_id(ids::task());
    b.set_stage(std::string(pipeline::kReadyForPrep));
    b.set_attempt(1);
    auto created = store_->create(b, b.stage(), "agency-bench");
    if (!created) throw Failure("creating task " + b.task_id() + ": " + created.error().message);
    return b;
  }

  // The last sequence number of a stream: how many messages it ever took.
  std::uint64_t last_sequence(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    check(js_GetStreamInfo(&si, connection_->js(), stream.c_str(), nullptr, &code), code,
          "reading stream " + stream);
    std::uint64_t seq = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return seq;
  }

  void publish(const v1::Brief& b) {
    auto ack = connection_->js_publish(subjects::brief("planner"), codec::encode(b),
                                       b.task_id() + ":" + b.stage() + ":1");
    if (!ack) throw Failure("publishing a brief: " + ack.error().message);
  }

 private:
  std::unique_ptr<Connection> connection_;
  std::optional<TaskStore> store_;
};

// What `agency init` does: every stream, consumer and bucket.
void provision_all(const Server& server) {
  auto c = connect(server.url(), "agency-bench-provision");
  ProvisionPlan plan;
  plan.replicas = server.replicas();
  for (auto role : pipeline::roles()) plan.roles.emplace_back(role);
  if (auto r = provision(*c, plan); !r) {
    throw Failure("provisioning: " + r.error().message);
  }
}

std::string agents_log_hint(const fs::path& dir) {
  return "agent logs are in " + dir.string() + " (run with --keep to keep them)";
}

// ---- pickup latency ---------------------------------------------------------------

struct PickupResult {
  Stats observed;        // publish -> busy status naming the task arrives at the observer
  Stats busy_set;        // publish -> the agent set busy (its `since`, agent's clock)
  Stats engine_started;  // publish -> the engine started (usage sample `at`, agent's clock)
  int missed_busy = 0;
  // False when every timestamp the agent wrote was a whole second: then the
  // agent-clock figures mean nothing (protobuf 3.21's
  // now_timestamp() has whole-second resolution).
  bool agent_clock = false;
};

// One agency-planner, one brief at a time: publish, wait until it has the
// task (busy status), its engine ran (usage sample), the stage changed
// (event) and it is idle again; then the next.
PickupResult pickup(const Server& server, const fs::path& dir, int warmup, int samples,
                    std::chrono::microseconds gap) {
  auto config = write_config(dir);
  provision_all(server);
  Observer observer(server.url(), true);
  Publisher publisher(server.url());
  Fleet fleet(server, dir, config);
  fleet.start("agency-planner", {}, "planner-bench-1");
  fleet.wait_ready(observer, 30s);

  PickupResult r;
  std::vector<double> observed, busy_set, engine_started;
  for (int i = 0; i < warmup + samples; ++i) {
    auto brief = publisher.prepare("benchmark pickup " + std::to_string(i));
    const std::string& id = brief.task_id();
    std::this_thread::sleep_for(gap);  // think time: the agent is parked in Fetch again
    std::int64_t t0_ns = system_ns();
    auto t0 = Clock::now();
    publisher.publish(brief);
    bool ok = observer.wait_until(Clock::now() + 15s, [&](const Observer& o) {
      const TaskSeen* t = o.task(id);
      if (t == nullptr || !t->usage_seen || t->entered_seen.count("ready-for-dev") == 0) {
        return false;
      }
      // Idle again: an idle status written after the busy one (or, when
      // the busy one was never written, one that arrived after the usage
      // sample).
      const auto* a = o.agent("planner-bench-1");
      if (a == nullptr || a->status.state() != voc::kIdle) return false;
      return t->busy_seen ? a->seq > t->busy_seq : a->seen > *t->usage_seen;
    });
    if (!ok) {
      throw Failure("pickup sample " + std::to_string(i) + ": task " + id +
                    " did not pass the planner within 15 s; " + agents_log_hint(dir));
    }
    if (i < warmup) continue;
    observer.with([&](const Observer& o) {
      const TaskSeen* t = o.task(id);
      if (t->busy_seen) {
        observed.push_back(ms_between(t0, *t->busy_seen));
        busy_set.push_back(static_cast<double>(t->busy_since_ns - t0_ns) / 1e6);
      } else {
        ++r.missed_busy;
      }
      engine_started.push_back(static_cast<double>(t->usage_at_ns - t0_ns) / 1e6);
      constexpr std::int64_t kSecond = 1000000000;
      if (t->usage_at_ns % kSecond != 0 || t->busy_since_ns % kSecond != 0) r.agent_clock = true;
      return 0;
    });
  }
  fleet.stop();
  r.observed = stats_of(observed);
  r.busy_set = stats_of(busy_set);
  r.engine_started = stats_of(engine_started);
  return r;
}

// ---- throughput -------------------------------------------------------------------

// A stage that took this long with nothing queued has waited for its task
// record: the runtime re-reads it every 50 ms when a brief arrives before the
// record says the task entered the stage (Agent::wait_for_record).
constexpr double kStallMs = 45;

struct SequentialResult {
  Stats e2e;                               // publish -> done, one task at a time
  std::map<std::string, Stats> per_stage;  // role -> time from entering its stage to leaving it
  int stages = 0;                          // stage spans measured
  int stalled = 0;                         // of which took kStallMs or more
  std::map<std::string, double> by_kind;   // messages per task by kind (bench/tally.hpp)
  double server_in_msgs = 0;               // per task, /varz
};

json to_json(const SequentialResult& r) {
  json stages = json::object();
  for (const auto& [role, s] : r.per_stage) stages[role] = to_json(s);
  return json{{"end_to_end", to_json(r.e2e)},
              {"per_stage", stages},
              {"stages", r.stages},
              {"stages_over_45ms", r.stalled},
              {"messages_per_task_by_kind", r.by_kind},
              {"server_in_msgs_per_task", r.server_in_msgs}};
}

const std::vector<std::pair<std::string, std::string>>& stage_spans() {
  // role, the stage it moves the task to (it entered the previous one).
  static const std::vector<std::pair<std::string, std::string>> spans = {
      {"planner", "ready-for-dev"},
      {"builder", "qa"},
      {"adversary", "review"},
      {"reviewer", "done"},
  };
  return spans;
}

struct MeshRun {
  SequentialResult sequential;
  ThroughputResult bulk;
  std::uint64_t status_writes = 0;  // fleet status writes seen during the bulk run
  std::uint64_t events = 0;         // event messages seen (duplicates included)
};

MeshRun mesh_throughput(const Server& server, const fs::path& dir, int per_role, int tasks,
                        int sequential) {
  auto config = write_config(dir);
  provision_all(server);
  Observer observer(server.url(), false);
  Publisher publisher(server.url());
  Fleet fleet(server, dir, config);
  for (const char* role : {"planner", "builder", "adversary", "reviewer"}) {
    for (int k = 1; k <= per_role; ++k) {
      fleet.start("agency-bench-role", {"--as", role}, std::string(role) + "-" + std::to_string(k));
    }
  }
  fleet.wait_ready(observer, 30s);
  observer.stop_watching_fleet();  // status writes are counted from the bucket's stream
  MeshRun run;

  // One task at a time: where the time of a stage goes with nothing queued,
  // and what its messages are.
  {
    Tally tally(server.url());
    auto tally0 = tally.counts();
    auto counters0 = server_counters(server.monitor_ports());
    std::vector<double> e2e;
    std::map<std::string, std::vector<double>> spans;
    for (int i = 0; i < sequential; ++i) {
      auto brief = publisher.prepare("benchmark sequential " + std::to_string(i));
      const std::string& id = brief.task_id();
      auto t0 = Clock::now();
      publisher.publish(brief);
      bool ok = observer.wait_until(Clock::now() + 30s, [&](const Observer& o) {
        const TaskSeen* t = o.task(id);
        return t != nullptr && (t->entered_seen.count("done") != 0 || t->blocked);
      });
      if (!ok) {
        throw Failure("task " + id + " did not reach done within 30 s; " + agents_log_hint(dir));
      }
      observer.with([&](const Observer& o) {
        const TaskSeen* t = o.task(id);
        if (t->blocked) throw Failure("task " + id + " was blocked: " + t->blocked_reason);
        e2e.push_back(ms_between(t0, t->entered_seen.at("done")));
        // Measured on the observer's clock (when each stage change
        // arrived): the planner's span starts at the publish.
        Clock::time_point from = t0;
        for (const auto& [role, to] : stage_spans()) {
          auto it = t->entered_seen.find(to);
          if (it == t->entered_seen.end()) break;
          double span = ms_between(from, it->second);
          spans[role].push_back(span);
          ++run.sequential.stages;
          if (span >= kStallMs) ++run.sequential.stalled;
          from = it->second;
        }
        return 0;
      });
    }
    run.sequential.e2e = stats_of(e2e);
    for (auto& [role, v] : spans) run.sequential.per_stage[role] = stats_of(v);
    // The last stage acks and writes its status after "done" is out: wait
    // until nothing more arrives for 100 ms (at most 3 s).
    auto tally1 = tally.counts();
    for (int i = 0; i < 30; ++i) {
      std::this_thread::sleep_for(100ms);
      auto again = tally.counts();
      if (again == tally1) break;
      tally1 = std::move(again);
    }
    auto counters1 = server_counters(server.monitor_ports());
    if (sequential > 0) {
      for (const auto& [kind, n] : tally1) {
        auto before = tally0.count(kind) != 0 ? tally0.at(kind) : 0;
        if (n > before) run.sequential.by_kind[kind] = static_cast<double>(n - before) / sequential;
      }
      run.sequential.server_in_msgs = (counters1.in_msgs - counters0.in_msgs) / sequential;
    }
  }

  // All at once.
  {
    int done_before = observer.with([](const Observer& o) { return o.done(); });
    int blocked_before = observer.with([](const Observer& o) { return o.blocked(); });
    const std::string fleet_stream = "KV_" + std::string(subjects::kFleetBucket);
    std::uint64_t writes_before = publisher.last_sequence(fleet_stream);
    std::uint64_t events_before = observer.with([](const Observer& o) { return o.events(); });
    double cpu_server0 = cpu_ms(server.pids());
    double cpu_agents0 = fleet.cpu_ms_total();
    double cpu_self0 = cpu_ms(::getpid());
    auto counters0 = server_counters(server.monitor_ports());

    std::vector<std::pair<std::string, Clock::time_point>> published;
    published.reserve(static_cast<std::size_t>(tasks));
    auto start = Clock::now();
    for (int i = 0; i < tasks; ++i) {
      auto brief = publisher.prepare("benchmark bulk " + std::to_string(i));
      published.emplace_back(brief.task_id(), Clock::now());
      publisher.publish(brief);
    }
    auto limit = std::chrono::seconds(60 + tasks / 5);
    bool ok = observer.wait_until(Clock::now() + limit, [&](const Observer& o) {
      return o.done() - done_before + o.blocked() - blocked_before >= tasks;
    });
    auto counters1 = server_counters(server.monitor_ports());
    double cpu_server1 = cpu_ms(server.pids());
    double cpu_agents1 = fleet.cpu_ms_total();
    double cpu_self1 = cpu_ms(::getpid());
    run.status_writes = publisher.last_sequence(fleet_stream) - writes_before;
    if (!ok) {
      int got = observer.with([&](const Observer& o) { return o.done() - done_before; });
      throw Failure(std::to_string(got) + " of " + std::to_string(tasks) +
                    " tasks reached done within " + std::to_string(limit.count()) + " s; " +
                    agents_log_hint(dir));
    }
    observer.with([&](const Observer& o) {
      if (o.blocked() != blocked_before) {
        for (const auto& [id, at] : published) {
          const TaskSeen* t = o.task(id);
          if (t != nullptr && t->blocked) {
            throw Failure("task " + id + " was blocked: " + t->blocked_reason);
          }
        }
      }
      std::vector<double> e2e;
      e2e.reserve(published.size());
      for (const auto& [id, at] : published) {
        e2e.push_back(ms_between(at, o.task(id)->entered_seen.at("done")));
      }
      run.bulk.e2e = stats_of(e2e);
      run.bulk.seconds = ms_between(start, o.last_done()) / 1000.0;
      run.events = o.events() - events_before;
      return 0;
    });
    run.bulk.tasks = tasks;
    run.bulk.per_second = run.bulk.seconds > 0 ? tasks / run.bulk.seconds : 0;
    run.bulk.cpu_server_ms = (cpu_server1 - cpu_server0) / tasks;
    run.bulk.cpu_agents_ms = (cpu_agents1 - cpu_agents0) / tasks;
    run.bulk.cpu_bench_ms = (cpu_self1 - cpu_self0) / tasks;
    run.bulk.server_in_msgs = (counters1.in_msgs - counters0.in_msgs) / tasks;
  }
  fleet.stop();
  return run;
}

// ---- an idle fleet: what hundreds of waiting agents cost -------------------------

// `agents` agents of the four roles with the scripted engine, nothing to do,
// watched over `span` once all said idle: their CPU and the server's, the
// messages the server takes (heartbeats, rechecks), and each agent's
// threads and proportional memory (PSS: shared pages divided among the
// processes that map them, so the binary's pages count once in all).
struct IdleFleetResult {
  int agents = 0;
  double start_seconds = 0;    // from the first spawn until every agent said idle
  double seconds = 0;          // the window measured
  double cpu_agents_pct = 0;   // of one core, all agents together
  double cpu_server_pct = 0;   // of one core
  double server_in_per_s = 0;  // messages the server took, per second
  double status_writes_per_s = 0;
  Stats threads;  // per agent
  Stats pss_mb;   // per agent
  Stats anon_mb;  // per agent: the private part of PSS
};

json to_json(const IdleFleetResult& r) {
  return json{{"agents", r.agents},
              {"start_seconds", r.start_seconds},
              {"seconds", r.seconds},
              {"cpu_agents_pct_of_one_core", r.cpu_agents_pct},
              {"cpu_server_pct_of_one_core", r.cpu_server_pct},
              {"cpu_total_pct_of_one_core", r.cpu_agents_pct + r.cpu_server_pct},
              {"server_in_msgs_per_s", r.server_in_per_s},
              {"status_writes_per_s", r.status_writes_per_s},
              {"threads_per_agent", to_json(r.threads)},
              {"pss_mb_per_agent", to_json(r.pss_mb)},
              {"anon_mb_per_agent", to_json(r.anon_mb)}};
}

// A field of /proc/<pid>/status or smaps_rollup ("Threads:", "Pss:"), as a number.
double proc_field(pid_t pid, const std::string& file, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atof(line.c_str() + field.size());
  }
  return -1;
}

IdleFleetResult idle_fleet(const Server& server, const fs::path& dir, int agents,
                           std::chrono::seconds span) {
  auto config = write_config(dir);
  provision_all(server);
  Observer observer(server.url(), false);
  Publisher publisher(server.url());
  Fleet fleet(server, dir, config);
  IdleFleetResult r;
  r.agents = agents;
  // The server holds a connection per agent, and the agents inherit ours.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
  const auto t0 = Clock::now();
  const std::array<const char*, 4> roles = {"planner", "builder", "adversary", "reviewer"};
  for (int i = 0; i < agents; ++i) {
    const std::string role = roles.at(static_cast<std::size_t>(i) % roles.size());
    fleet.start("agency-bench-role", {"--as", role}, role + "-idle-" + std::to_string(i / 4 + 1));
  }
  fleet.wait_ready(observer, std::chrono::seconds(60 + agents / 4));
  r.start_seconds = ms_between(t0, Clock::now()) / 1000.0;
  observer.stop_watching_fleet();  // status writes are counted from the bucket's stream

  const std::string fleet_stream = "KV_" + std::string(subjects::kFleetBucket);
  const auto pids = fleet.pids();
  const double agents0 = fleet.cpu_ms_total();
  const double server0 = cpu_ms(server.pids());
  const auto counters0 = server_counters(server.monitor_ports());
  const auto writes0 = publisher.last_sequence(fleet_stream);
  const auto w0 = Clock::now();
  // The window is the measurement: nothing happens in it but what idle
  // agents do by themselves.
  std::this_thread::sleep_for(span);
  const double agents1 = fleet.cpu_ms_total();
  const double server1 = cpu_ms(server.pids());
  const auto counters1 = server_counters(server.monitor_ports());
  const auto writes1 = publisher.last_sequence(fleet_stream);
  r.seconds = ms_between(w0, Clock::now()) / 1000.0;
  const double ms = r.seconds * 1000.0;
  r.cpu_agents_pct = 100.0 * (agents1 - agents0) / ms;
  r.cpu_server_pct = 100.0 * (server1 - server0) / ms;
  r.server_in_per_s = (counters1.in_msgs - counters0.in_msgs) / r.seconds;
  r.status_writes_per_s = static_cast<double>(writes1 - writes0) / r.seconds;
  std::vector<double> threads;
  std::vector<double> pss;
  std::vector<double> anon;
  for (pid_t pid : pids) {
    double t = proc_field(pid, "status", "Threads:");
    double p = proc_field(pid, "smaps_rollup", "Pss:");
    double a = proc_field(pid, "smaps_rollup", "Pss_Anon:");
    if (t < 0 || p < 0) throw Failure("agent pid " + std::to_string(pid) + " is gone");
    threads.push_back(t);
    pss.push_back(p / 1024.0);
    anon.push_back(a / 1024.0);
  }
  r.threads = stats_of(threads);
  r.pss_mb = stats_of(pss);
  r.anon_mb = stats_of(anon);
  fleet.stop();
  return r;
}

// ---- main ---------------------------------------------------------------------------

// ---- nobody idles: the dispatcher's idle gap ------------------------------------

// What the dispatcher does for an idle agent, measured on the agent's own
// clock: from the idle status it writes after a brief to the busy status of
// the next one, which exists only because the dispatcher filed a standing
// order (nothing else publishes briefs), with an accountant answering the
// capacity probe. Every engine turn takes `work` (the scripted engine's
// sleep), so the idle share is idle time over all time while capacity
// remains (the accountant's limits are far away).
struct DispatchResult {
  Stats gap;              // idle -> busy, ms
  double idle_share = 0;  // idle time / (idle + busy time), percent
  int cycles = 0;
  double seconds = 0;
};

DispatchResult dispatch_gaps(const Server& server, const fs::path& dir, std::chrono::seconds length,
                             std::chrono::milliseconds work) {
  fs::create_directories(dir);
  std::ofstream(dir / "scenario.yaml")
      << "planner:\n  - spec: \"benchmark: standing order\"\n    sleep_ms: " << work.count()
      << "\n";
  std::ofstream(dir / "agency.yaml")
      << "# written by agency-bench\nstate_dir: state\nroles:\n  planner:\n    engine: scripted\n"
         "    scenario: scenario.yaml\n"
         "accountant:\n  time_zone: UTC\n  accounts:\n    - name: default\n"
         "      five_hour: 100000000000\n      seven_day: 1000000000000\n"
         "dispatcher:\n  every_seconds: 3600\n  standing_orders:\n    - role: planner\n"
         "      objective: \"benchmark: keep busy\"\n";
  provision_all(server);
  Observer observer(server.url(), false);
  Fleet fleet(server, dir, dir / "agency.yaml");
  fleet.start("agency-accountant", {}, "accountant-bench-1");
  fleet.start("agency-planner", {}, "planner-bench-1");
  fleet.wait_ready(observer, 30s);
  // Statuses of the planner as written, in order, with the agent's `since`.
  std::mutex mu;
  std::vector<std::pair<std::string, std::int64_t>> states;
  auto conn = connect(server.url(), "agency-bench-dispatch");
  auto sub = conn->subscribe("$KV." + std::string(subjects::kFleetBucket) + ".planner-bench-1", {},
                             [&](Incoming m) {
                               auto st = codec::decode<v1::AgentStatus>(m.data());
                               if (!st || st->agent_id().empty()) return;
                               std::lock_guard lock(mu);
                               std::int64_t since = TimeUtil::TimestampToNanoseconds(st->since());
                               if (states.empty() || states.back().second != since) {
                                 states.emplace_back(st->state(), since);
                               }
                             });
  if (!sub) throw Failure("subscribing to the planner's status: " + sub.error().message);
  (void)conn->flush(5s);
  fleet.start("agency-dispatcher", {}, "dispatcher-bench-1");
  std::this_thread::sleep_for(length);  // the measured period itself, not a synchronisation
  DispatchResult r;
  std::vector<double> gaps;
  double idle_ns = 0;
  double busy_ns = 0;
  {
    std::lock_guard lock(mu);
    // From the first busy spell on (before it the dispatcher was starting).
    std::size_t first = 0;
    while (first < states.size() && states[first].first != voc::kBusy) ++first;
    for (std::size_t i = first; i + 1 < states.size(); ++i) {
      const double span = static_cast<double>(states[i + 1].second - states[i].second);
      if (states[i].first == voc::kIdle) {
        idle_ns += span;
        if (states[i + 1].first == voc::kBusy) gaps.push_back(span / 1e6);
      } else {
        busy_ns += span;
      }
    }
  }
  fleet.stop();
  r.gap = stats_of(gaps);
  r.cycles = static_cast<int>(gaps.size());
  r.idle_share = idle_ns + busy_ns > 0 ? 100.0 * idle_ns / (idle_ns + busy_ns) : 0;
  r.seconds = (idle_ns + busy_ns) / 1e9;
  return r;
}

struct Options {
  int samples = 1000;
  int warmup = 50;
  int tasks = 400;
  int sequential = 20;
  std::vector<int> agents = {1, 2};
  int gap_us = 2000;
  bool smoke = false;
  bool json_out = false;
  bool keep = false;
  std::string nats_server;
  int dispatch_seconds = 60;
  bool dispatch_only = false;
  int work_ms = 200;
  int cluster = 0;        // > 1: pickup and throughput again on a cluster of this many nodes
  int idle_agents = 500;  // the idle fleet phase; 0 skips it
  int idle_seconds = 60;
  bool idle_only = false;
};

std::string build_type() {
  std::string b = AGENCY_BENCH_BUILD_TYPE;
  return b.empty() ? "no CMAKE_BUILD_TYPE" : b;
}

std::string pass_fail(bool ok) { return ok ? "PASS" : "FAIL"; }

void print_idle_fleet(std::ostream& os, const IdleFleetResult& r) {
  const double total = r.cpu_agents_pct + r.cpu_server_pct;
  os << "\nidle fleet       (" << r.agents
     << " agents of four roles, scripted engine, nothing to do; watched " << fixed(r.seconds, 0)
     << " s once all said idle, " << fixed(r.start_seconds, 0) << " s to start them)\n";
  os << "  cpu, share of one core: agents " << fixed(r.cpu_agents_pct) << "%, server "
     << fixed(r.cpu_server_pct) << "%, total " << fixed(total)
     << "%   target < 10%: " << pass_fail(total < 10.0) << "\n";
  os << "  server messages in " << fixed(r.server_in_per_s, 1) << "/s, of which status writes "
     << fixed(r.status_writes_per_s, 1) << "/s (heartbeats)\n";
  const bool threads_ok = r.threads.max <= 6;
  const bool pss_ok = r.pss_mb.max <= 3.0;
  os << "  per agent: threads " << fixed(r.threads.p50, 0) << " (max " << fixed(r.threads.max, 0)
     << ")   target <= 6: " << pass_fail(threads_ok) << "\n";
  os << "  per agent: PSS p50 " << fixed(r.pss_mb.p50) << " MB, max " << fixed(r.pss_mb.max)
     << " MB (private anonymous p50 " << fixed(r.anon_mb.p50)
     << " MB)   target <= 3 MB: " << pass_fail(pss_ok) << "\n";
}

int run(const Options& o) {
  TempDir tmp(o.keep);
  const auto gap = std::chrono::microseconds(o.gap_us);
  json out;
  std::string server_version = command_output(
      (o.nats_server.empty() ? std::string("nats-server") : o.nats_server) + " --version 2>&1");
  out["machine"] = {{"cores", std::thread::hardware_concurrency()},
                    {"nats_server", server_version},
                    {"nats_c", nats_GetVersion()},
                    {"build", build_type()},
                    {"store", "file"},
                    {"network", "loopback"}};
  out["options"] = {{"samples", o.samples}, {"warmup", o.warmup},
                    {"tasks", o.tasks},     {"sequential", o.sequential},
                    {"agents", o.agents},   {"gap_us", o.gap_us},
                    {"smoke", o.smoke}};
  progress("working in " + tmp.path().string() + (o.keep ? " (kept)" : ""));
  auto idle_phase = [&] {
    fs::path dir = tmp.path() / "idle-fleet";
    Server server(dir / "nats", o.nats_server);
    progress("idle fleet: starting " + std::to_string(o.idle_agents) + " agents, then watching " +
             std::to_string(o.idle_seconds) + " s");
    return idle_fleet(server, dir, o.idle_agents, std::chrono::seconds(o.idle_seconds));
  };
  if (o.idle_only) {
    auto r = idle_phase();
    if (o.json_out) {
      out["idle_fleet"] = to_json(r);
      std::cout << out.dump(2) << std::endl;
    } else {
      print_idle_fleet(std::cout, r);
    }
    return 0;
  }

  // Phase 1: pickup latency and its floor, on one server.
  Stats floor;
  Stats kv_rt;
  PickupResult pk;
  {
    Server server(tmp.path() / "pickup" / "nats", o.nats_server);
    progress("floor: publish -> waiting Fetch(1), " + std::to_string(o.samples) + " samples");
    floor = floor_pickup(server, o.warmup, o.samples, gap);
    kv_rt = kv_round_trip(server, o.warmup, o.samples);
    if (!o.dispatch_only) {
      progress("pickup: agency-planner, " + std::to_string(o.samples) + " briefs one at a time");
      pk = pickup(server, tmp.path() / "pickup", o.warmup, o.samples, gap);
    }
  }

  // Phase 2: throughput with K agents per role, each K on a fresh server.
  struct Row {
    int per_role;
    ThroughputResult floor;
    MeshRun mesh;
  };
  std::vector<Row> rows;
  for (int k : o.dispatch_only ? std::vector<int>{} : o.agents) {
    fs::path dir = tmp.path() / ("throughput-" + std::to_string(k));
    Server server(dir / "nats", o.nats_server);
    progress("floor: 4 stages x " + std::to_string(k) + " workers, " + std::to_string(o.tasks) +
             " messages");
    auto fl = floor_throughput(server, k, o.tasks);
    progress("throughput: 4 roles x " + std::to_string(k) + " agents, " +
             std::to_string(o.sequential) + " tasks one at a time, then " +
             std::to_string(o.tasks) + " at once");
    auto mesh = mesh_throughput(server, dir, k, o.tasks, o.sequential);
    rows.push_back({k, fl, mesh});
  }

  // Phase 2b: the same on a JetStream cluster on this machine, every
  // stream and bucket (the floor's too) with min(3, N) replicas; a fresh
  // cluster for each run, as above.
  struct ClusterRun {
    Stats floor;
    PickupResult pickup;
    int per_role = 0;
    ThroughputResult floor_tp;
    MeshRun mesh;
  };
  std::optional<ClusterRun> cl;
  if (o.cluster > 1 && !o.dispatch_only) {
    ClusterRun c;
    const std::string nodes = std::to_string(o.cluster) + " nodes";
    {
      fs::path dir = tmp.path() / "cluster-pickup";
      Server server(dir / "nats", o.nats_server, o.cluster);
      progress("cluster of " + nodes + ", " + std::to_string(server.replicas()) +
               " replicas: floor and pickup, " + std::to_string(o.samples) + " samples");
      c.floor = floor_pickup(server, o.warmup, o.samples, gap);
      c.pickup = pickup(server, dir, o.warmup, o.samples, gap);
    }
    c.per_role = o.agents.empty() ? 1 : o.agents.back();
    {
      fs::path dir = tmp.path() / "cluster-throughput";
      Server server(dir / "nats", o.nats_server, o.cluster);
      progress("cluster of " + nodes + ": floor and throughput, 4 roles x " +
               std::to_string(c.per_role) + " agents, " + std::to_string(o.tasks) + " tasks");
      c.floor_tp = floor_throughput(server, c.per_role, o.tasks);
      c.mesh = mesh_throughput(server, dir, c.per_role, o.tasks, o.sequential);
    }
    cl = std::move(c);
  }

  // Phase 3: the dispatcher's idle gap.
  DispatchResult dg;
  {
    fs::path dir = tmp.path() / "dispatch";
    Server server(dir / "nats", o.nats_server);
    progress("nobody idles: agency-planner fed by agency-dispatcher standing orders for " +
             std::to_string(o.dispatch_seconds) + " s, " + std::to_string(o.work_ms) +
             " ms per turn");
    dg = dispatch_gaps(server, dir, std::chrono::seconds(o.dispatch_seconds),
                       std::chrono::milliseconds(o.work_ms));
  }
  // Phase 4: an idle fleet.
  std::optional<IdleFleetResult> idle;
  if (o.idle_agents > 0 && !o.dispatch_only) idle = idle_phase();
  const double gap_ratio = floor.p99 > 0 ? dg.gap.p99 / floor.p99 : 0;
  const bool gap_ok = dg.gap.n > 0 && dg.gap.p99 < 50.0;

  // Targets (issue 3).
  const double ratio = floor.p99 > 0 ? pk.observed.p99 / floor.p99 : 0;
  const bool pickup_ok = pk.observed.n > 0 && pk.observed.p99 < 5.0 && ratio < 3.0;

  out["pickup"] = {{"observed", to_json(pk.observed)},
                   {"busy_set", pk.agent_clock ? to_json(pk.busy_set) : json(nullptr)},
                   {"engine_started", pk.agent_clock ? to_json(pk.engine_started) : json(nullptr)},
                   {"missed_busy", pk.missed_busy},
                   {"floor", to_json(floor)},
                   {"kv_get_round_trip", to_json(kv_rt)},
                   {"ratio_p99", ratio},
                   {"target", "p99 < 5 ms and < 3x floor p99"},
                   {"pass", pickup_ok}};
  json tp = json::array();
  for (const auto& row : rows) {
    tp.push_back(
        {{"agents_per_role", row.per_role},
         {"mesh", to_json(row.mesh.bulk)},
         {"sequential", to_json(row.mesh.sequential)},
         {"status_writes_per_task",
          static_cast<double>(row.mesh.status_writes) / row.mesh.bulk.tasks},
         {"event_messages_per_task", static_cast<double>(row.mesh.events) / row.mesh.bulk.tasks},
         {"floor", to_json(row.floor)},
         {"ratio", row.floor.per_second > 0 ? row.mesh.bulk.per_second / row.floor.per_second : 0},
         {"target", ">= 200 tasks/s"},
         {"pass", row.mesh.bulk.per_second >= 200}});
  }
  out["throughput"] = tp;
  const Row* same_k = nullptr;
  if (cl) {
    for (const auto& row : rows) {
      if (row.per_role == cl->per_role) same_k = &row;
    }
    const double one_tp = same_k != nullptr ? same_k->mesh.bulk.per_second : 0;
    out["cluster"] = {
        {"nodes", o.cluster},
        {"replicas", std::min(3, o.cluster)},
        {"pickup",
         {{"observed", to_json(cl->pickup.observed)},
          {"floor", to_json(cl->floor)},
          {"ratio_p99_to_floor", cl->floor.p99 > 0 ? cl->pickup.observed.p99 / cl->floor.p99 : 0},
          {"ratio_p99_to_one_server",
           pk.observed.p99 > 0 ? cl->pickup.observed.p99 / pk.observed.p99 : 0}}},
        {"throughput",
         {{"agents_per_role", cl->per_role},
          {"mesh", to_json(cl->mesh.bulk)},
          {"floor", to_json(cl->floor_tp)},
          {"ratio_to_floor",
           cl->floor_tp.per_second > 0 ? cl->mesh.bulk.per_second / cl->floor_tp.per_second : 0},
          {"ratio_to_one_server", one_tp > 0 ? cl->mesh.bulk.per_second / one_tp : 0}}}};
  }
  out["dispatch"] = {{"idle_gap", to_json(dg.gap)},
                     {"idle_share_pct", dg.idle_share},
                     {"cycles", dg.cycles},
                     {"seconds", dg.seconds},
                     {"work_ms", o.work_ms},
                     {"ratio_p99_to_floor", gap_ratio},
                     {"target", "idle gap p99 < 50 ms; idle share < 2%"},
                     {"pass", gap_ok && dg.idle_share < 2.0}};

  if (idle) out["idle_fleet"] = to_json(*idle);
  if (o.json_out) {
    std::cout << out.dump(2) << std::endl;
    return 0;
  }

  auto& os = std::cout;
  os << "agency-bench  " << out["machine"]["cores"].get<unsigned>() << " cores, " << server_version
     << ", nats.c " << nats_GetVersion() << ", " << build_type() << ", loopback, file store"
     << (o.smoke ? "  [SMOKE: too few samples to mean anything]" : "") << "\n\n";
  if (o.dispatch_only) goto dispatch_figures;
  os << "pickup latency   (agency-planner, scripted engine, " << pk.observed.n
     << " briefs one at a time)\n";
  os << "  publish -> busy status seen        p50 " << fixed(pk.observed.p50) << " ms  p99 "
     << fixed(pk.observed.p99) << " ms  max " << fixed(pk.observed.max) << " ms\n";
  if (pk.agent_clock) {
    os << "  publish -> agent set busy          p50 " << fixed(pk.busy_set.p50) << " ms  p99 "
       << fixed(pk.busy_set.p99) << " ms   (its own clock)\n";
    os << "  publish -> engine started          p50 " << fixed(pk.engine_started.p50) << " ms  p99 "
       << fixed(pk.engine_started.p99) << " ms   (usage sample, its own clock)\n";
  } else {
    os << "  publish -> agent set busy / engine started: n/a, the agent's timestamps are whole "
          "seconds\n";
  }
  os << "  floor: js_Publish -> waiting Fetch p50 " << fixed(floor.p50, 3) << " ms p99 "
     << fixed(floor.p99, 3) << " ms  (bare nats.c, " << floor.n << " samples)\n";
  os << "  (one KV get round trip          p50 " << fixed(kv_rt.p50, 3) << " ms p99 "
     << fixed(kv_rt.p99, 3) << " ms  (bare nats.c): the runtime makes 4 before busy)\n";
  if (pk.missed_busy > 0) {
    os << "  busy status not seen for " << pk.missed_busy
       << " samples (written after the agent was idle again)\n";
  }
  os << "  ratio p99 " << fixed(ratio, 1)
     << "x   target p99 < 5 ms and < 3x floor: " << pass_fail(pickup_ok) << "\n";
  os << "  (the runtime sets busy, prepares the turn, reads the session id (one KV get) and\n"
        "   starts the engine; the busy status reaches us one KV put after busy is set: the\n"
        "   two are within a round trip of each other, and both include the status write's\n"
        "   CPU competing with the agent on 2 cores)\n\n";

  os << "throughput       (agency-bench-role per stage, scripted engine, " << o.tasks
     << " tasks published at once)\n";
  for (const auto& row : rows) {
    const auto& m = row.mesh.bulk;
    double r = row.floor.per_second > 0 ? m.per_second / row.floor.per_second : 0;
    os << "  " << row.per_role << " agent" << (row.per_role == 1 ? " " : "s") << "/role   "
       << fixed(m.per_second, 0) << " tasks/s   floor " << fixed(row.floor.per_second, 0)
       << " tasks/s   ratio " << fixed(r, 2)
       << "   target >= 200 tasks/s: " << pass_fail(m.per_second >= 200) << "\n";
    os << "    publish -> done p50 " << fixed(m.e2e.p50, 1) << " ms p99 " << fixed(m.e2e.p99, 1)
       << " ms; cpu per task: server " << fixed(m.cpu_server_ms) << " ms, agents "
       << fixed(m.cpu_agents_ms) << " ms, bench " << fixed(m.cpu_bench_ms) << " ms (floor: server "
       << fixed(row.floor.cpu_server_ms) << ", workers " << fixed(row.floor.cpu_agents_ms) << ")\n";
    os << "    server messages in per task " << fixed(m.server_in_msgs, 1) << " (floor "
       << fixed(row.floor.server_in_msgs, 1) << "); status writes/task "
       << fixed(static_cast<double>(row.mesh.status_writes) / m.tasks, 1)
       << ", event messages/task " << fixed(static_cast<double>(row.mesh.events) / m.tasks, 1)
       << "\n";
    const auto& sq = row.mesh.sequential;
    os << "    one at a time (" << sq.e2e.n << " tasks): publish -> done p50 "
       << fixed(sq.e2e.p50, 1) << " ms p99 " << fixed(sq.e2e.p99, 1) << " ms; " << sq.stalled
       << " of " << sq.stages << " stages took >= " << fixed(kStallMs, 0) << " ms\n";
    os << "      server messages in per task " << fixed(sq.server_in_msgs, 1) << ", of which:";
    {
      int col = 0;
      for (const auto& [kind, n] : sq.by_kind) {
        if (kind.find("(server") != std::string::npos) continue;
        os << (col++ % 4 == 0 ? "\n        " : "; ") << kind << " " << fixed(n, 1);
      }
      os << "\n";
    }
    os << "      per stage p50/p99 ms:";
    for (const auto& [role, to] : stage_spans()) {
      (void)to;
      if (auto it = sq.per_stage.find(role); it != sq.per_stage.end()) {
        os << " " << role << " " << fixed(it->second.p50, 1) << "/" << fixed(it->second.p99, 1);
      }
    }
    os << "\n";
  }
  if (cl) {
    const auto& cp = cl->pickup.observed;
    const auto& cm = cl->mesh.bulk;
    os << "\ncluster          (" << o.cluster << " nats-server nodes on this machine, every stream "
       << "and bucket with " << std::min(3, o.cluster) << " replicas, the floor's too)\n";
    os << "  pickup  publish -> busy status seen p50 " << fixed(cp.p50) << " ms  p99 "
       << fixed(cp.p99) << " ms   floor p99 " << fixed(cl->floor.p99, 3) << " ms   ratio "
       << fixed(cl->floor.p99 > 0 ? cp.p99 / cl->floor.p99 : 0, 1) << "x;  one server p99 "
       << fixed(pk.observed.p99) << " ms, x"
       << fixed(pk.observed.p99 > 0 ? cp.p99 / pk.observed.p99 : 0, 2) << "\n";
    os << "  " << cl->per_role << " agent" << (cl->per_role == 1 ? " " : "s") << "/role   "
       << fixed(cm.per_second, 0) << " tasks/s   floor " << fixed(cl->floor_tp.per_second, 0)
       << " tasks/s   ratio "
       << fixed(cl->floor_tp.per_second > 0 ? cm.per_second / cl->floor_tp.per_second : 0, 2);
    if (same_k != nullptr && same_k->mesh.bulk.per_second > 0) {
      os << ";  one server " << fixed(same_k->mesh.bulk.per_second, 0) << " tasks/s, x"
         << fixed(cm.per_second / same_k->mesh.bulk.per_second, 2);
    }
    os << "\n    publish -> done p50 " << fixed(cm.e2e.p50, 1) << " ms p99 " << fixed(cm.e2e.p99, 1)
       << " ms; cpu per task: servers " << fixed(cm.cpu_server_ms) << " ms, agents "
       << fixed(cm.cpu_agents_ms) << " ms (floor: servers " << fixed(cl->floor_tp.cpu_server_ms)
       << ")\n";
  }
dispatch_figures:
  os << "\nnobody idles     (agency-planner, scripted turns of " << o.work_ms
     << " ms, fed only by agency-dispatcher's standing orders, accountant probed; " << dg.cycles
     << " cycles in " << fixed(dg.seconds, 0) << " s)\n";
  os << "  idle -> busy (agent's clock)       p50 " << fixed(dg.gap.p50) << " ms  p99 "
     << fixed(dg.gap.p99) << " ms  max " << fixed(dg.gap.max) << " ms   ratio p99 to floor "
     << fixed(gap_ratio, 1) << "x\n";
  os << "  idle share while capacity remained " << fixed(dg.idle_share, 2)
     << "%   target p99 < 50 ms and idle < 2%: " << pass_fail(gap_ok && dg.idle_share < 2.0)
     << "\n";
  if (idle) print_idle_fleet(os, *idle);
  return 0;
}

}  // namespace
}  // namespace agency::bench

namespace {

int bench_main(int argc, char** argv) {
  agency::bench::Options o;
  CLI::App app{
      "agency-bench: brief-to-pickup latency and pipeline throughput of the mesh, each beside "
      "a floor measured in the same run with bare nats.c (bench/README.md)"};
  app.add_option("--samples", o.samples, "pickup samples (and floor samples)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--warmup", o.warmup, "samples dropped before measuring")
      ->check(CLI::Range(0, 100000));
  app.add_option("--tasks", o.tasks, "tasks published at once for the throughput run")
      ->check(CLI::Range(1, 100000));
  app.add_option("--sequential", o.sequential,
                 "tasks sent one at a time through the pipeline before the throughput run")
      ->check(CLI::Range(0, 10000));
  app.add_option("--agents", o.agents, "agents per role for the throughput runs, e.g. 1,2")
      ->delimiter(',')
      ->check(CLI::Range(1, 16));
  app.add_option("--gap-us", o.gap_us, "pause before each pickup sample, in microseconds")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--nats-server", o.nats_server, "nats-server binary (default: on PATH)");
  app.add_option("--dispatch-seconds", o.dispatch_seconds,
                 "how long the dispatcher keeps an agent busy with standing orders (3600: the "
                 "one-hour run)")
      ->check(CLI::Range(1, 86400));
  app.add_flag("--dispatch-only", o.dispatch_only,
               "only the dispatcher's run (and the floor it is compared with)");
  app.add_option("--work-ms", o.work_ms, "length of one scripted engine turn in that run")
      ->check(CLI::Range(0, 600000));
  app.add_option("--cluster", o.cluster,
                 "also run pickup and throughput (the last --agents count) on a JetStream "
                 "cluster of N nodes on this machine, replicas min(3, N), beside its own floor")
      ->check(CLI::Range(2, 7));
  app.add_option("--idle-agents", o.idle_agents,
                 "agents started for the idle-fleet phase (their CPU, threads, memory and the "
                 "server's messages while they wait); 0 skips it")
      ->check(CLI::Range(0, 5000));
  app.add_option("--idle-seconds", o.idle_seconds, "how long the idle fleet is watched")
      ->check(CLI::Range(1, 86400));
  app.add_flag("--idle-only", o.idle_only, "only the idle-fleet phase");
  app.add_flag("--smoke", o.smoke, "a few samples only: checks the benchmark runs");
  app.add_flag("--json", o.json_out, "print the figures as JSON");
  app.add_flag("--keep", o.keep, "keep the temp dir (server store, agent logs)");
  CLI11_PARSE(app, argc, argv);
  if (o.smoke) {
    o.samples = std::min(o.samples, 20);
    o.warmup = std::min(o.warmup, 3);
    o.tasks = std::min(o.tasks, 20);
    o.sequential = std::min(o.sequential, 3);
    o.agents = {1};
    o.dispatch_seconds = std::min(o.dispatch_seconds, 5);
    o.idle_agents = std::min(o.idle_agents, 4);
    o.idle_seconds = std::min(o.idle_seconds, 2);
  }
  try {
    return agency::bench::run(o);
  } catch (const std::exception& e) {
    // Failure, or anything the libraries threw: the benchmark could not run.
    std::cerr << "agency-bench: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return bench_main(argc, argv);
  } catch (...) {
    std::cerr << "agency-bench: could not run (an unexpected error while reading the options)\n";
    return 1;
  }
}
