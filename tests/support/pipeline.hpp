// The staged pipeline as the integration tests run it: a real nats-server,
// a real git repository with one commit, agency.yaml, and role processes
// started from the build's bin directory.
#pragma once

#include <doctest/doctest.h>
#include <nats/nats.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agency/v1/fleet.pb.h"
#include "agency/v1/usage.pb.h"
#include "bus/codec.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "runtime/git.hpp"
#include "runtime/tasks.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/run.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency::test {

using namespace std::chrono_literals;

inline void write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

inline std::string bin(const std::string& name) { return std::string(AGENCY_BIN_DIR) + "/" + name; }

// A project repository, a config and a fleet of role processes. Every
// pipeline role runs the scripted engine with `scenario`, unless `roles`
// gives the roles block of agency.yaml itself (then `scenario` is still
// written to scenario.yaml for roles that name it). `extra` is appended to
// agency.yaml (sections such as sweeper:, proxy:); a `pipeline:` section in it
// replaces the default one. `project` holds the project's settings besides
// name, repo and branch: by default it does not land (done after review)
// and its tests look for GREETING.md.
class Pipeline {
 public:
  static constexpr const char* kProjectDefaults =
      "    landing: none\n    test_command: test -f GREETING.md\n";
  explicit Pipeline(const std::string& scenario, const std::string& roles = {},
                    const std::string& extra = {}, const std::string& project = kProjectDefaults) {
    repo_ = dir_.path() / "project";
    std::filesystem::create_directories(repo_);
    REQUIRE(git::run({"git", "init", "-q", "-b", "main"}, repo_).exit_code == 0);
    write(repo_ / "README.md", "sample project\n");
    REQUIRE(git::run({"git", "add", "-A"}, repo_).exit_code == 0);
    REQUIRE(git::run({"git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit",
                      "-q", "-m", "initial"},
                     repo_)
                .exit_code == 0);
    write(dir_.path() / "scenario.yaml", scenario);
    config_ = dir_.path() / "agency.yaml";
    std::string role_block = roles;
    for (const char* role : {"planner", "builder", "adversary", "reviewer"}) {
      if (!roles.empty()) break;
      role_block +=
          std::string("  ") + role + ":\n    engine: scripted\n    scenario: scenario.yaml\n";
    }
    const bool own_pipeline = extra.find("pipeline:") != std::string::npos;
    write(config_,
          std::string("state_dir: state\n") +
              (own_pipeline
                   ? ""
                   : "pipeline:\n  bounce_limit: 2\n  max_deliver: 2\n  ack_wait_seconds: 3\n") +
              "projects:\n  - name: demo\n    repo: project\n    default_branch: main\n" + project +
              "roles:\n" + role_block + extra);
    connection_ = server_.connect("test-observer");
    ProvisionPlan plan;
    plan.ack_wait = std::chrono::seconds(3);
    REQUIRE(provision(*connection_, plan).ok());
  }

  ~Pipeline() {
    for (auto& [id, child] : agents_) {
      child->signal(SIGTERM);
      child->wait(10s);
    }
  }

  // Environment every agent started from now on gets (as `agency up`
  // passes a role's env).
  void set_agent_env(std::map<std::string, std::string> env) { agent_env_ = std::move(env); }

  Child& start(const std::string& role, const std::string& agent_id) {
    std::map<std::string, std::string> env = agent_env_;
    env.insert_or_assign("NATS_URL", server_.url());
    env.insert_or_assign("NATS_CONTEXT", "");
    env.insert_or_assign("AGENCY_CONFIG", config_.string());
    env.insert_or_assign("AGENCY_AGENT_ID", agent_id);
    env.insert_or_assign("AGENCY_HEARTBEAT_MS", "200");
    env.insert_or_assign("AGENCY_IN_PROGRESS_MS", "500");
    auto child =
        std::make_unique<Child>(std::vector<std::string>{bin("agency-" + role)}, dir_.path(), env);
    auto& ref = *child;
    agents_[agent_id] = std::move(child);
    return ref;
  }

  void start_fleet(int per_role = 1) {
    for (const char* role : {"planner", "builder", "adversary", "reviewer"}) {
      for (int i = 1; i <= per_role; ++i) start(role, std::string(role) + "-" + std::to_string(i));
    }
  }

  Child& agent(const std::string& id) { return *agents_.at(id); }
  void forget(const std::string& id) { agents_.erase(id); }

  // Polls the task record until it is at `stage` (or the deadline).
  std::optional<v1::Task> wait_for_stage(const std::string& task_id, const std::string& stage,
                                         std::chrono::seconds timeout = 60s) {
    auto store = TaskStore::open(*connection_);
    REQUIRE(store.ok());
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto t = store->load(task_id);
      if (t && t->task.stage() == stage) return t->task;
      std::this_thread::sleep_for(50ms);  // polling a record, with a deadline
    }
    return std::nullopt;
  }

  // Polls agency-fleet until `agent_id` reports `state`.
  bool wait_for_agent_state(const std::string& agent_id, const std::string& state,
                            std::chrono::seconds timeout = 30s) {
    auto fleet = KeyValue::open(*connection_, subjects::kFleetBucket);
    REQUIRE(fleet.ok());
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto e = fleet->get(agent_id); e) {
        auto s = codec::decode<v1::AgentStatus>(e->value);
        if (s && s->state() == state) return true;
      }
      std::this_thread::sleep_for(20ms);  // polling a record, with a deadline
    }
    return false;
  }

  // Polls until an accountant answers lease probes.
  void wait_for_accountant(std::chrono::seconds timeout = 30s) {
    v1::Lease probe;
    probe.set_id("probe");
    probe.set_priority("human");
    probe.set_estimate_tokens(1);
    probe.set_probe(true);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (connection_->request(subjects::kBudgetLease, codec::encode(probe), 500ms).ok()) return;
      std::this_thread::sleep_for(50ms);  // polling for a service, with a deadline
    }
    FAIL("the accountant never answered a lease probe");
  }

  std::vector<v1::TaskEvent> events(const std::string& task_id) {
    auto store = TaskStore::open(*connection_);
    REQUIRE(store.ok());
    auto h = store->history(task_id);
    REQUIRE(h.ok());
    return *h;
  }

  // The trail up to and including the first event of `kind`. An agent
  // writes the task record before it appends the event, so a test that saw
  // the record reach a stage waits here for the event that follows it.
  std::vector<v1::TaskEvent> events_through(const std::string& task_id, const std::string& kind,
                                            std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto trail = events(task_id);
      for (const auto& e : trail) {
        if (e.kind() == kind) return trail;
      }
      if (std::chrono::steady_clock::now() >= deadline) return trail;
      std::this_thread::sleep_for(20ms);  // polling a stream, with a deadline
    }
  }

  std::vector<std::string> branch_commits(const std::string& task_id) {
    auto r = git::run({"git", "log", "--format=%s", "main.." + git::branch_for(task_id)}, repo_);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < r.output.size()) {
      auto end = r.output.find('\n', start);
      if (end == std::string::npos) end = r.output.size();
      if (end > start) out.push_back(r.output.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }

  // What `nats pub` does: a core publish of text, no headers.
  void plain_publish(const std::string& subject, const std::string& text) {
    REQUIRE(natsConnection_Publish(connection_->raw(), subject.c_str(), text.data(),
                                   static_cast<int>(text.size())) == NATS_OK);
    REQUIRE(natsConnection_Flush(connection_->raw()) == NATS_OK);
  }

  // The task a plain brief created: the first task whose objective matches.
  std::string task_with_objective(const std::string& objective,
                                  std::chrono::seconds timeout = 30s) {
    auto store = TaskStore::open(*connection_);
    REQUIRE(store.ok());
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto all = store->list();
      if (all) {
        for (const auto& t : *all) {
          if (t.brief().objective() == objective) return t.id();
        }
      }
      std::this_thread::sleep_for(50ms);  // polling, with a deadline
    }
    return {};
  }

  NatsServer& server() { return server_; }
  Connection& connection() { return *connection_; }
  const std::filesystem::path& repo() const { return repo_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  NatsServer server_;
  std::filesystem::path repo_;
  std::filesystem::path config_;
  std::unique_ptr<Connection> connection_;
  std::map<std::string, std::unique_ptr<Child>> agents_;
  std::map<std::string, std::string> agent_env_;
};

}  // namespace agency::test
