// `agency up --cluster 3`: three embedded nats-server nodes as one
// JetStream cluster. Work goes on while a node is killed and restarted
// (nothing lost, nothing moved twice), and on two nodes when the third is
// gone for good.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "agency/v1/event.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "runtime/git.hpp"
#include "tests/support/up_mesh.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using json = nlohmann::json;
using test::eventually;

struct Node {
  pid_t pid = -1;
  fs::path dir;
  int monitor_port = 0;
};

std::vector<Node> nodes_of(const std::string& stdout_text) {
  std::istringstream in(stdout_text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() != '{') continue;
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("nodes")) continue;
    std::vector<Node> out;
    for (const auto& n : j["nodes"]) {
      out.push_back(
          {n["pid"].get<pid_t>(), n["dir"].get<std::string>(), n["monitor_port"].get<int>()});
    }
    return out;
  }
  return {};
}

int replicas_of(const Connection& c, const std::string& stream) {
  jsStreamInfo* info = nullptr;
  jsErrCode code{};
  natsStatus s = js_GetStreamInfo(&info, c.js(), stream.c_str(), nullptr, &code);
  nats::StreamInfoPtr owned(info);
  return s == NATS_OK ? static_cast<int>(info->Config->Replicas) : -1;
}

// Stage of every task in the tasks bucket (reads may fail while a node is
// down: those tasks count as not done yet).
std::map<std::string, std::string> stages(const Connection& c) {
  std::map<std::string, std::string> out;
  auto kv = KeyValue::open(const_cast<Connection&>(c), subjects::kTasksBucket);
  if (!kv) return out;
  auto keys = kv->keys();
  if (!keys) return out;
  for (const auto& k : *keys) {
    auto e = kv->get(k);
    if (!e) continue;
    auto t = codec::decode<v1::Task>(e->value);
    if (t) out[t->id()] = t->stage();
  }
  return out;
}

int done(const Connection& c) {
  int n = 0;
  for (const auto& [id, stage] : stages(c)) n += stage == "done" ? 1 : 0;
  return n;
}

// Admin's connection to every node of the mesh's cluster, once connected.
std::unique_ptr<Connection> admin_of(const test::UpMesh& mesh) {
  ConnectSettings settings;
  std::istringstream urls(mesh.url);
  for (std::string u; std::getline(urls, u, ',');) settings.servers.push_back(u);
  REQUIRE(settings.servers.size() == 3);
  settings.nkey_seed_file = mesh.creds("admin").string();
  ConnectOptions options;
  options.name = "cluster-test";
  options.mode = ConnectMode::keep_trying;
  auto admin = Connection::open(settings, options);
  REQUIRE(admin.ok());
  REQUIRE(eventually(20s, [&] { return (*admin)->connected(); }));
  return std::move(*admin);
}

std::string nats_server_binary() {
  for (const char* p :
       {"/usr/sbin/nats-server", "/usr/local/sbin/nats-server", "/usr/bin/nats-server"}) {
    if (fs::exists(p)) return p;
  }
  return "nats-server";
}

TEST_CASE("cluster: 30 tasks on three nodes while one is killed and restarted: none lost") {
  constexpr int kTasks = 30;
  test::UpMesh mesh(
      {"--cluster", "3", "--json"},
      test::roles_block({{"planner", 2}, {"builder", 2}, {"adversary", 2}, {"reviewer", 2}}),
      "    landing: none\n    test_command: \"true\"\n");
  const auto nodes = nodes_of(mesh.up->out());
  REQUIRE_MESSAGE(nodes.size() == 3, mesh.up->out());

  auto admin = admin_of(mesh);
  Connection& c = *admin;

  // Every stream and bucket on three nodes.
  for (const std::string& stream :
       {std::string(subjects::kBriefsStream), std::string(subjects::kEventsStream),
        std::string(subjects::kMailStream), "KV_" + std::string(subjects::kTasksBucket),
        "KV_" + std::string(subjects::kFleetBucket)}) {
    CHECK_MESSAGE(replicas_of(c, stream) == 3, stream);
  }

  std::vector<std::string> ids;
  for (int i = 0; i < kTasks; ++i) {
    auto r =
        mesh.cli({"brief", "planner", "--project", "demo", "cluster task " + std::to_string(i)});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto at = r.out.find("t-");
    REQUIRE(at != std::string::npos);
    ids.push_back(r.out.substr(at, r.out.find_first_of(" \n", at) - at));
  }

  // Node 2 dies mid-run and comes back from its own configuration and store.
  REQUIRE_MESSAGE(eventually(120s, [&] { return done(c) >= 5; }), done(c));
  REQUIRE(::kill(nodes[1].pid, SIGKILL) == 0);
  test::Child node2({nats_server_binary(), "-c", (nodes[1].dir / "nats-server.conf").string()},
                    mesh.dir.path());
  REQUIRE_MESSAGE(eventually(120s, [&] { return done(c) >= 15; }), done(c) << " done; node 2:\n"
                                                                           << node2.err());
  CHECK_MESSAGE(eventually(180s, [&] { return done(c) == kTasks; }), done(c) << " of " << kTasks);

  // Nothing lost, nothing moved twice: each task left each stage once.
  // (Leaving review for done is the task's "done" event, not a stage change.)
  const std::vector<std::string> left = {"ready-for-prep", "ready-for-dev", "qa"};
  std::map<std::pair<std::string, std::string>, int> moves;
  std::size_t read = 0;
  // Just after a node went, a read of the stream may come back short.
  const bool complete = eventually(60s, [&] {
    auto events = replay(c, subjects::kEventsStream, "agency.event.task.>", 100000);
    if (!events) return false;
    read = events->size();
    moves.clear();
    for (const auto& m : *events) {
      auto e = codec::decode<v1::TaskEvent>(m.data(), m.headers());
      if (e && e->kind() == "stage-changed") ++moves[{e->task_id(), e->from_stage()}];
    }
    return moves.size() == ids.size() * left.size();
  });
  CHECK_MESSAGE(complete, read << " events read, " << moves.size() << " stage changes");
  int duplicates = 0;
  for (const auto& [key, n] : moves) duplicates += n - 1;
  CHECK(duplicates == 0);
  // A read just after the restart may come back short (stages() skips what
  // it cannot read): read until every task is there.
  std::map<std::string, std::string> final_stages;
  CHECK(eventually(60s, [&] {
    final_stages = stages(c);
    return final_stages.size() >= ids.size();
  }));
  for (const auto& id : ids) {
    auto it = final_stages.find(id);
    CHECK_MESSAGE((it != final_stages.end() && it->second == "done"), id);
    for (const auto& from : left) {
      CHECK_MESSAGE(moves.count({id, from}) == 1, id << " from " << from);
    }
    // Its branch holds the builder's commit.
    auto log = git::run({"git", "log", "--oneline", "main..agency/" + id}, mesh.repo);
    CHECK_MESSAGE((log.exit_code == 0 && !log.output.empty()), id << ": " << log.output);
  }
  for (int n = 1; n <= 3; ++n) {
    CHECK_MESSAGE(test::violations(mesh.server_log(n)).empty(), "node " << n);
  }
}

TEST_CASE("cluster: a node removed for good: the work goes on on the other two") {
  constexpr int kTasks = 10;
  test::UpMesh mesh(
      {"--cluster", "3", "--json"},
      test::roles_block({{"planner", 1}, {"builder", 1}, {"adversary", 1}, {"reviewer", 1}}),
      "    landing: none\n    test_command: \"true\"\n");
  const auto nodes = nodes_of(mesh.up->out());
  REQUIRE_MESSAGE(nodes.size() == 3, mesh.up->out());
  auto admin = admin_of(mesh);
  Connection& c = *admin;

  // Node 3 goes and never comes back: its store is gone too.
  REQUIRE(::kill(nodes[2].pid, SIGKILL) == 0);
  std::error_code ec;
  fs::remove_all(nodes[2].dir / "jetstream", ec);

  // Until the streams and buckets whose leader was node 3 have elected
  // another, a write may time out ("opening KV bucket agency-tasks:
  // Timeout"): a person tries again, and so does this.
  std::vector<std::string> ids;
  for (int i = 0; i < kTasks; ++i) {
    test::RunResult r;
    REQUIRE_MESSAGE(eventually(60s,
                               [&] {
                                 r = mesh.cli({"brief", "planner", "--project", "demo",
                                               "two nodes " + std::to_string(i)});
                                 return r.exit_code == 0;
                               }),
                    r.err);
    auto at = r.out.find("t-");
    REQUIRE(at != std::string::npos);
    ids.push_back(r.out.substr(at, r.out.find_first_of(" \n", at) - at));
  }
  CHECK_MESSAGE(eventually(100s, [&] { return done(c) == kTasks; }), done(c) << " of " << kTasks);
  for (const auto& id : ids) {
    auto log = git::run({"git", "log", "--oneline", "main..agency/" + id}, mesh.repo);
    CHECK_MESSAGE((log.exit_code == 0 && !log.output.empty()), id << ": " << log.output);
  }
  // `agency up` is still there to stop the fleet.
  CHECK(mesh.up->wait(0ms) == -1);
}

}  // namespace
}  // namespace agency
