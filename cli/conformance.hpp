// `agency conformance --role NAME -- COMMAND...` (docs/PROTOCOL.md,
// "Conformance"): a private mesh (its own `agency up` on a free port, with
// auth), a project repository, and the candidate role binary run as
// COMMAND with the environment `agency up` gives its agents. The kit then
// drives it through the protocol's cases and judges each by what the mesh
// shows (the task record, the queues, the events, the dead letters, the
// heartbeat), never by what the candidate says of itself.
//
// The pipeline the kit writes puts the candidate's stage between two stages
// nobody works (conformance-before, conformance-after): a pass leaves a
// brief queued for conformance-after, a fail one for conformance-before, so
// every hand-on can be counted.
//
// Thread: one; the mesh's `agency up` is watched on its own thread
// (runtime/up_process.hpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agency/v1/brief.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/connection.hpp"
#include "bus/result.hpp"
#include "runtime/config.hpp"
#include "runtime/up_process.hpp"

namespace agency::conformance {

// The stages around the candidate's.
inline constexpr std::string_view kBefore = "conformance-before";
inline constexpr std::string_view kAfter = "conformance-after";

// The cases, in the order they run.
inline constexpr std::string_view kCases[] = {"identity",  "plain",   "json", "duplicate", "replay",
                                              "bad-input", "control", "kill", "reconnect"};

struct Options {
  std::string role;
  std::string stage;                  // empty: the role's own, else its name
  std::filesystem::path dir;          // empty: a new folder in the temp dir
  std::filesystem::path with_config;  // appended to the kit's agency.yaml
  std::vector<std::string> cases;     // empty: all
  std::chrono::seconds timeout{60};
  std::vector<std::string> command;
};

struct CaseResult {
  std::string name;
  bool passed = false;
  std::string detail;  // what was seen: the reason it failed, or what passed
  double seconds = 0;
};

// The candidate role process: started, killed and restarted by the kit; its
// output appended to a log file.
class Candidate {
 public:
  Candidate(std::vector<std::string> argv, std::vector<std::string> env,
            std::filesystem::path workdir, std::filesystem::path log);
  Candidate(const Candidate&) = delete;
  Candidate& operator=(const Candidate&) = delete;
  ~Candidate() { stop(std::chrono::seconds(5)); }

  Result<void> start();
  // Whether it still runs; reaps it when it has ended.
  bool alive();
  // How it ended ("exit 0", "killed by SIGKILL"); empty while it runs.
  [[nodiscard]] std::string ended() const { return ended_; }
  [[nodiscard]] int exit_status() const { return status_; }
  // SIGKILL to its process group, and reaped.
  void kill9();
  // SIGTERM, then SIGKILL after `grace`.
  void stop(std::chrono::seconds grace);
  // Waits up to `limit` for it to end on its own.
  bool wait_exit(std::chrono::milliseconds limit);

 private:
  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  std::filesystem::path workdir_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int status_ = 0;
  std::string ended_;
};

// The mesh, the candidate and what the cases need to look at both.
class Kit {
 public:
  explicit Kit(Options options);
  // The folder, the repository, agency.yaml, the mesh, the candidate.
  Result<void> setup();
  CaseResult run_case(std::string_view name);
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] const std::string& stage() const { return stage_; }
  [[nodiscard]] const std::string& agent_id() const { return agent_id_; }

 private:
  // Queued and in-flight briefs of a role, summed over its consumers.
  struct Queue {
    std::uint64_t pending = 0;
    std::int64_t in_flight = 0;
  };
  struct Counts {
    Queue own;
    Queue before;
    Queue after;
    std::size_t dead = 0;
  };

  Result<void> write_files();
  Result<void> connect();
  Counts counts();
  std::optional<v1::AgentStatus> status();
  v1::Brief brief_for(const std::string& task_id, const std::string& objective) const;
  Result<std::string> new_task(const std::string& objective);
  Result<void> publish(const v1::Brief& brief, bool as_json, const std::string& msg_id);
  Result<void> publish_raw(const std::string& data, const Headers& headers,
                           const std::string& msg_id);
  Result<void> control(std::string_view command);
  // Nothing when the task left the stage once, by an agent of the role,
  // with its brief acked, its event written and the next brief queued (or
  // none, for done and blocked), counted from `before`; else why not.
  std::optional<std::string> not_settled(const std::string& task_id, const Counts& before);
  // Waits until not_settled() says nothing, or the timeout; the last reason.
  std::optional<std::string> wait_settled(const std::string& task_id, const Counts& before,
                                          std::chrono::seconds limit);
  std::string settled_detail(const std::string& task_id);
  std::optional<std::string> wait_alive_status(std::chrono::seconds limit);

  CaseResult identity();
  CaseResult plain();
  CaseResult json_brief();
  CaseResult duplicate();
  CaseResult replay();
  CaseResult bad_input();
  CaseResult control_case();
  CaseResult kill();
  CaseResult reconnect();

  Options options_;
  std::filesystem::path dir_;
  std::filesystem::path config_file_;
  std::string stage_;
  std::string agent_id_;
  config::Config config_;
  std::unique_ptr<UpProcess> up_;
  std::unique_ptr<Connection> connection_;
  std::unique_ptr<Candidate> candidate_;
  std::string replay_task_;  // the json case's task, replayed later
  int serial_ = 0;
};

}  // namespace agency::conformance
