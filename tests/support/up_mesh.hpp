// A mesh as a person runs it: a git repository, an agency.yaml and
// `agency up` (the real binary) with its embedded server or cluster. The
// auth and cluster tests drive it from outside.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/git.hpp"
#include "tests/support/run.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency::test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls pred until it holds or the limit passes.
template <class Pred>
bool eventually(std::chrono::milliseconds limit, Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling, not synchronisation
  }
  return pred();
}

// Every line of a server log that reports a refused publish or subscription
// ("Publish Violation", "Subscription Violation"; the client is told
// "Permissions Violation").
inline std::vector<std::string> violations(const std::filesystem::path& log) {
  std::vector<std::string> out;
  std::istringstream in(slurp(log));
  for (std::string line; std::getline(in, line);) {
    if (line.find("Publish Violation") != std::string::npos ||
        line.find("Subscription Violation") != std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

// The roles block for agency.yaml: each role with `count` agents (scripted
// engines, the roles' default).
inline std::string roles_block(const std::vector<std::pair<std::string, int>>& roles) {
  std::string out;
  for (const auto& [role, count] : roles) {
    out += "  " + role + ":\n    count: " + std::to_string(count) + "\n";
  }
  return out;
}

struct UpMesh {
  TempDir dir;
  std::filesystem::path repo = dir.path() / "repo";
  std::filesystem::path config = dir.path() / "agency.yaml";
  std::filesystem::path state = dir.path() / "state";
  std::unique_ptr<Child> up;
  std::string url;  // what `agency up` wrote to state/nats.url (a list for a cluster)

  // `project` holds the project's settings besides name and repo.
  UpMesh(const std::vector<std::string>& up_args, const std::string& roles,
         const std::string& project = "    test_command: \"true\"\n",
         const std::string& extra = "") {
    namespace fs = std::filesystem;
    fs::create_directories(repo);
    REQUIRE(git::run({"git", "init", "-q", "-b", "main"}, repo).exit_code == 0);
    std::ofstream(repo / "README.md") << "sample\n";
    REQUIRE(git::run({"git", "add", "-A"}, repo).exit_code == 0);
    REQUIRE(git::run({"git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
                      "-m", "initial"},
                     repo)
                .exit_code == 0);
    fs::create_directories(dir.path() / "corpus");
    std::ofstream(dir.path() / "corpus" / "api.md")
        << "# The API\n\n## Ports\n\nThe public API listens on port 8080.\n";
    std::ofstream(config) << "state_dir: state\n"
                             "proxy:\n  corpus:\n    - name: handbook\n      path: corpus\n"
                             "pipeline:\n  ack_wait_seconds: 5\n"
                             "projects:\n  - name: demo\n    repo: repo\n"
                          << project << "roles:\n"
                          << roles << extra;
    std::vector<std::string> argv{agency_binary(), "up", "--config", config.string(),
                                  "--no-console"};
    argv.insert(argv.end(), up_args.begin(), up_args.end());
    up = std::make_unique<Child>(argv, dir.path(), env());
    REQUIRE_MESSAGE(
        up->wait_for_output("running; Ctrl-C", std::chrono::seconds(120)), "stdout:\n"
                                                                               << up->out()
                                                                               << "\nstderr:\n"
                                                                               << up->err());
    std::ifstream in(state / "nats.url");
    std::getline(in, url);
    REQUIRE(!url.empty());
  }

  ~UpMesh() {
    up->signal(SIGTERM);
    up->wait(std::chrono::seconds(40));
  }
  UpMesh(const UpMesh&) = delete;
  UpMesh& operator=(const UpMesh&) = delete;

  [[nodiscard]] std::map<std::string, std::string> env() const {
    return {{"NATS_URL", ""},
            {"NATS_CONTEXT", ""},
            {"NATS_NKEY", ""},
            {"NATS_CREDS", ""},
            {"NATS_CA", ""},
            {"AGENCY_CONFIG", config.string()},
            {"AGENCY_HEARTBEAT_MS", "500"},
            {"XDG_CONFIG_HOME", dir.path().string()}};
  }

  // `agency ARGS...` as a person runs it beside `agency up`: no NATS
  // variables, so it finds the server, admin's key and the CA by itself.
  [[nodiscard]] RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), agency_binary());
    return run(args, env(), std::chrono::seconds(60));
  }

  [[nodiscard]] std::filesystem::path creds(const std::string& name) const {
    return state / "auth" / (name + ".creds");
  }
  [[nodiscard]] std::filesystem::path server_log(int node = 0) const {
    return node == 0 ? state / "nats" / "nats-server.log"
                     : state / "nats" / ("node-" + std::to_string(node)) / "nats-server.log";
  }
};

}  // namespace agency::test
