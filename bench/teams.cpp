// agency-bench-teams: what teams buy (bench/README.md, docs/BENCHMARKS.md
// "Teams").
//
//  1. Epics: wall time from one brief to its epic done, for an epic of N
//     independent sub-tasks, with 1, 2 and 4 builders whose scripted turns
//     take a fixed time; the speed-up against one builder (ideal: the
//     builder count). Real agents: planner, builders, adversary, reviewer,
//     integrator, landing every sub-task on a real git repository.
//  2. Landing: the integrator's time per landing (its brief published at
//     ready-to-land until the task is done), one at a time, against the
//     floor measured in the same run: `git merge --no-ff` of the same branch
//     in a copy of the repository plus the same test command.
//
// Threads: one; nats.c's own threads run inside the connection only.
#include <CLI/CLI.hpp>

#include "agency/v1/brief.pb.h"
#include "agency/v1/fleet.pb.h"
#include "bench/harness.hpp"
#include "bus/codec.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/git.hpp"
#include "runtime/ids.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/tasks.hpp"

namespace agency::bench {
namespace {

namespace voc = vocabulary;

struct Options {
  int subtasks = 8;
  int turn_ms = 1000;
  std::vector<int> builders = {1, 2, 4};
  int landings = 20;
  std::string test_command = "test -f README.md";
  std::string nats_server;
  bool smoke = false;
  bool json_out = false;
  bool keep = false;
};

const std::vector<std::pair<std::string, std::string>>& identity() {
  static const auto env = git::identity_env("bench");
  return env;
}

void git_ok(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "-c", "commit.gpgsign=false"});
  auto r = git::run(args, dir, std::chrono::seconds(60), identity());
  if (r.exit_code != 0) throw Failure("git " + args[3] + " in " + dir.string() + ": " + r.output);
}

void make_repo(const fs::path& repo) {
  fs::create_directories(repo);
  git_ok(repo, {"init", "-q", "-b", "main"});
  std::ofstream(repo / "README.md") << "# bench\n";
  git_ok(repo, {"add", "-A"});
  git_ok(repo, {"commit", "-q", "-m", "initial"});
}

std::string yaml_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// agency.yaml for one project that lands on `repo`, the roles given, all
// on the scripted engine with scenario.yaml.
fs::path write_config(const fs::path& dir, const std::vector<std::string>& roles,
                      const std::string& test_command) {
  std::string yaml =
      "# written by agency-bench-teams\nstate_dir: state\n"
      "projects:\n  - name: bench\n    repo: project\n    default_branch: main\n"
      "    landing: merge\n    test_command: " +
      yaml_quoted(test_command) + "\nroles:\n";
  for (const auto& r : roles) {
    yaml += "  " + r + ":\n    engine: scripted\n    scenario: scenario.yaml\n";
  }
  std::ofstream(dir / "agency.yaml") << yaml;
  return dir / "agency.yaml";
}

// The server, the agents and a connection to watch them, for one phase.
class Phase {
 public:
  Phase(const fs::path& dir, const Options& o) : dir_(dir), server_(dir / "nats", o.nats_server) {
    connection_ = connect(server_.url(), "agency-bench-teams");
    ProvisionPlan plan;
    for (auto role : pipeline::roles()) plan.roles.emplace_back(role);
    if (auto r = provision(*connection_, plan); !r) {
      throw Failure("provisioning: " + r.error().message);
    }
    auto store = TaskStore::open(*connection_);
    if (!store) throw Failure("opening the task store: " + store.error().message);
    store_.emplace(std::move(*store));
  }
  ~Phase() {
    for (auto& c : agents_) c->signal(SIGTERM);
    for (auto& c : agents_) {
      if (!c->wait(10s)) c->signal(SIGKILL);
    }
  }
  Phase(const Phase&) = delete;
  Phase& operator=(const Phase&) = delete;

  void start(const std::string& role, const std::string& id, const fs::path& config) {
    const fs::path binary = bin_dir() / ("agency-" + role);
    if (!fs::exists(binary)) throw Failure(binary.string() + " is missing: build it");
    std::map<std::string, std::optional<std::string>> env = {
        {"NATS_URL", server_.url()},     {"AGENCY_CONFIG", config.string()},
        {"AGENCY_AGENT_ID", id},         {"NATS_CONTEXT", std::nullopt},
        {"NATS_CREDS", std::nullopt},    {"NATS_USER", std::nullopt},
        {"NATS_PASSWORD", std::nullopt}, {"NATS_TOKEN", std::nullopt},
        {"NATS_NKEY", std::nullopt},     {"AGENCY_STATE_DIR", std::nullopt}};
    ids_.push_back(id);
    agents_.push_back(std::make_unique<Child>(std::vector<std::string>{binary.string()}, env, dir_,
                                              dir_ / (id + ".log")));
  }

  // Until every agent has written an idle status.
  void wait_ready(std::chrono::seconds timeout) {
    auto fleet = KeyValue::open(*connection_, subjects::kFleetBucket);
    if (!fleet) throw Failure("opening agency-fleet: " + fleet.error().message);
    auto deadline = Clock::now() + timeout;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      while (true) {
        if (auto e = fleet->get(ids_[i]); e) {
          auto s = codec::decode<v1::AgentStatus>(e->value);
          if (s && s->state() == voc::kIdle) break;
        }
        if (!agents_[i]->running()) {
          throw Failure("agent " + ids_[i] + " exited; its log: " + agents_[i]->log().string());
        }
        if (Clock::now() > deadline) {
          throw Failure("agent " + ids_[i] +
                        " did not report idle; its log: " + agents_[i]->log().string());
        }
        std::this_thread::sleep_for(10ms);  // polling a status, with a deadline
      }
    }
  }

  // A task record at `stage` and its brief on the stage's role, as `agency
  // brief` sends one.
  void send(const std::string& task_id, const std::string& objective, const std::string& stage,
            const std::string& branch = {}) {
    v1::Brief b;
    b.set_id(task_id + ":" + stage + ":1");
    b.set_task_id(task_id);
    b.set_objective(objective);
    b.set_project("bench");
    b.set_stage(stage);
    b.set_attempt(1);
    b.set_priority(std::string(voc::kDefaultPriority));
    b.set_origin("agency-bench-teams");
    auto created = store_->create(b, stage, "agency-bench-teams", [&](v1::Task& t) {
      if (!branch.empty()) t.set_branch(branch);
    });
    if (!created) throw Failure("creating task " + task_id + ": " + created.error().message);
    auto ack = connection_->js_publish(subjects::brief(pipeline::role_for_stage(stage)),
                                       codec::encode(b), b.id());
    if (!ack) throw Failure("publishing a brief: " + ack.error().message);
  }

  // Until the task reaches done; Failure at blocked or the deadline.
  v1::Task wait_done(const std::string& task_id, std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto t = store_->load(task_id);
      if (t && t->task.stage() == voc::kDone) return t->task;
      if (t && t->task.stage() == voc::kBlocked) {
        throw Failure("task " + task_id + " was blocked: " + t->task.blocked_reason() +
                      " (agent logs in " + dir_.string() + ", --keep keeps them)");
      }
      std::this_thread::sleep_for(2ms);  // polling a record, with a deadline
    }
    throw Failure("task " + task_id + " did not reach done within " +
                  std::to_string(timeout.count()) + " s (agent logs in " + dir_.string() +
                  ", --keep keeps them)");
  }

 private:
  fs::path dir_;
  Server server_;
  std::unique_ptr<Connection> connection_;
  std::optional<TaskStore> store_;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<Child>> agents_;
};

// ---- 1. epics -----------------------------------------------------------------

std::string epic_scenario(int subtasks, int turn_ms) {
  std::string s = "# agency-bench-teams: one epic of independent sub-tasks\nplanner:\n";
  s += "  - summary: split for the benchmark\n    tasks:\n";
  for (int i = 1; i <= subtasks; ++i) {
    s += "      - title: part " + std::to_string(i) + "\n        spec: write part " +
         std::to_string(i) + "\n";
  }
  s += "builder:\n  - sleep_ms: " + std::to_string(turn_ms) +
       "\n    write: {path: \"{task_id}.md\", content: \"{task_id}\\n\"}\n"
       "adversary:\n  - summary: ok\nreviewer:\n  - summary: ok\n";
  return s;
}

double epic_seconds(const fs::path& dir, const Options& o, int builders) {
  fs::create_directories(dir);
  make_repo(dir / "project");
  std::ofstream(dir / "scenario.yaml") << epic_scenario(o.subtasks, o.turn_ms);
  const auto config = write_config(
      dir, {"planner", "builder", "adversary", "reviewer", "integrator"}, o.test_command);
  Phase phase(dir, o);
  phase.start("planner", "planner-1", config);
  for (int i = 1; i <= builders; ++i) {
    phase.start("builder", "builder-" + std::to_string(i), config);
  }
  phase.start("adversary", "adversary-1", config);
  phase.start("reviewer", "reviewer-1", config);
  phase.start("integrator", "integrator-1", config);
  phase.wait_ready(60s);
  const std::string epic = ids::task();
  const auto began = Clock::now();
  phase.send(epic, "an epic for the benchmark", std::string(pipeline::kReadyForPrep));
  const auto budget =
      std::chrono::seconds(60 + static_cast<std::int64_t>(o.subtasks) * (o.turn_ms / 1000 + 5));
  auto done = phase.wait_done(epic, budget);
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  if (done.children_size() != o.subtasks) {
    throw Failure("the epic has " + std::to_string(done.children_size()) + " sub-tasks, not " +
                  std::to_string(o.subtasks));
  }
  auto log = git::run({"git", "log", "--first-parent", "--format=%s", "main"}, dir / "project");
  const auto landed = static_cast<int>(std::count(log.output.begin(), log.output.end(), '\n')) - 1;
  if (landed != o.subtasks) {
    throw Failure("main holds " + std::to_string(landed) + " landings, not " +
                  std::to_string(o.subtasks));
  }
  return seconds;
}

// ---- 2. landing ---------------------------------------------------------------

// `n` branches agency/<id>, each adding one file to main.
std::vector<std::string> make_branches(const fs::path& repo, int n, const std::string& prefix) {
  std::vector<std::string> ids;
  for (int i = 1; i <= n; ++i) {
    const std::string id = prefix + std::to_string(i);
    git_ok(repo, {"checkout", "-q", "-b", git::branch_for(id), "main"});
    std::ofstream(repo / (id + ".md")) << id << '\n';
    git_ok(repo, {"add", "-A"});
    git_ok(repo, {"commit", "-q", "-m", "work of " + id});
    git_ok(repo, {"checkout", "-q", "main"});
    ids.push_back(id);
  }
  return ids;
}

struct Landing {
  Stats integrator;
  Stats floor;
};

Landing landing(const fs::path& dir, const Options& o) {
  fs::create_directories(dir);
  const fs::path repo = dir / "project";
  make_repo(repo);
  const std::string prefix = "t-land" + ids::task().substr(2, 6) + "-";
  const auto ids = make_branches(repo, o.landings, prefix);
  // The floor's copy, before anything lands.
  const fs::path copy = dir / "floor";
  fs::copy(repo, copy, fs::copy_options::recursive);

  std::vector<double> floor_ms;
  for (const auto& id : ids) {
    const auto began = Clock::now();
    auto merged = git::run({"git", "-c", "commit.gpgsign=false", "merge", "--no-ff", "--no-edit",
                            "-m", "land " + id, git::branch_for(id)},
                           copy, std::chrono::seconds(60), identity());
    auto tests = git::run_shell(o.test_command, copy);
    floor_ms.push_back(ms_between(began, Clock::now()));
    if (merged.exit_code != 0 || tests.exit_code != 0) {
      throw Failure("the floor's merge of " + id + " failed: " + merged.output + tests.output);
    }
  }

  std::ofstream(dir / "scenario.yaml") << "integrator:\n  - summary: no engine\n";
  const auto config = write_config(dir, {"integrator"}, o.test_command);
  Phase phase(dir, o);
  phase.start("integrator", "integrator-1", config);
  phase.wait_ready(60s);
  std::vector<double> integrator_ms;
  for (const auto& id : ids) {
    const auto began = Clock::now();
    phase.send(id, "land " + id, std::string(pipeline::kReadyToLand), git::branch_for(id));
    phase.wait_done(id, 60s);
    integrator_ms.push_back(ms_between(began, Clock::now()));
  }
  auto log = git::run({"git", "log", "--first-parent", "--format=%s", "main"}, repo);
  const auto landed = static_cast<int>(std::count(log.output.begin(), log.output.end(), '\n')) - 1;
  if (landed != o.landings) {
    throw Failure("main holds " + std::to_string(landed) + " landings, not " +
                  std::to_string(o.landings));
  }
  return {stats_of(integrator_ms), stats_of(floor_ms)};
}

int run(const Options& o) {
  TempDir tmp(o.keep);
  json out;
  out["machine"] = {
      {"cores", std::thread::hardware_concurrency()},
      {"nats_server",
       command_output((o.nats_server.empty() ? std::string("nats-server") : o.nats_server) +
                      " --version 2>&1")}};
  std::vector<std::pair<int, double>> walls;
  for (int k : o.builders) {
    progress("epic: " + std::to_string(o.subtasks) + " sub-tasks, " + std::to_string(k) +
             " builder(s), turns of " + std::to_string(o.turn_ms) + " ms");
    walls.emplace_back(k, epic_seconds(tmp.path() / ("epic-" + std::to_string(k)), o, k));
    progress("  epic done in " + fixed(walls.back().second) + " s");
  }
  progress("landing: " + std::to_string(o.landings) + " landings, one at a time, and the floor");
  const Landing land = landing(tmp.path() / "landing", o);

  const double one = walls.front().second;
  const int one_k = walls.front().first;
  out["epic"] = {{"subtasks", o.subtasks}, {"turn_ms", o.turn_ms}, {"runs", json::array()}};
  for (const auto& [k, s] : walls) {
    out["epic"]["runs"].push_back({{"builders", k},
                                   {"wall_s", s},
                                   {"speedup", one / s},
                                   {"ideal", static_cast<double>(k) / one_k}});
  }
  out["landing"] = {{"landings", o.landings},
                    {"test_command", o.test_command},
                    {"integrator", to_json(land.integrator)},
                    {"floor", to_json(land.floor)},
                    {"ratio_p50", land.floor.p50 > 0 ? land.integrator.p50 / land.floor.p50 : 0}};
  if (o.json_out) {
    std::cout << out.dump(2) << '\n';
    return 0;
  }
  std::cout << "agency-bench-teams (" << std::thread::hardware_concurrency() << " cores)\n\n"
            << "1. Epic of " << o.subtasks << " independent sub-tasks, builder turns of "
            << o.turn_ms << " ms: brief to epic done\n"
            << "   builders  wall (s)  speed-up  ideal\n";
  for (const auto& [k, s] : walls) {
    char line[128];
    std::snprintf(line, sizeof line, "   %-8d  %-8s  %-8s  %d\n", k, fixed(s).c_str(),
                  fixed(one / s).c_str(), k / one_k);
    std::cout << line;
  }
  std::cout << "\n2. Landing one task (merge, `" << o.test_command << "`), " << o.landings
            << " landings one at a time\n"
            << "   integrator (brief at ready-to-land to done)  p50 " << fixed(land.integrator.p50)
            << " ms  p99 " << fixed(land.integrator.p99) << " ms\n"
            << "   floor (git merge --no-ff + the tests)        p50 " << fixed(land.floor.p50)
            << " ms  p99 " << fixed(land.floor.p99) << " ms\n"
            << "   ratio p50: "
            << fixed(land.floor.p50 > 0 ? land.integrator.p50 / land.floor.p50 : 0)
            << "x the floor\n";
  return 0;
}

int teams_main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "agency-bench-teams: an epic's speed-up with more builders, and the integrator's time per "
      "landing beside a bare git merge measured in the same run (bench/README.md)"};
  app.add_option("--subtasks", o.subtasks, "independent sub-tasks in the epic")
      ->check(CLI::Range(1, 50));
  app.add_option("--turn-ms", o.turn_ms, "length of one scripted builder turn")
      ->check(CLI::Range(0, 600000));
  app.add_option("--builders", o.builders, "builder counts to run the epic with, e.g. 1,2,4")
      ->delimiter(',')
      ->check(CLI::Range(1, 16));
  app.add_option("--landings", o.landings, "landings timed one at a time (and as many floors)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--test-command", o.test_command, "the project's test command in both");
  app.add_option("--nats-server", o.nats_server, "nats-server binary (default: on PATH)");
  app.add_flag("--smoke", o.smoke, "a small run: checks the benchmark runs");
  app.add_flag("--json", o.json_out, "print the figures as JSON");
  app.add_flag("--keep", o.keep, "keep the temp dir (repositories, server store, agent logs)");
  CLI11_PARSE(app, argc, argv);
  if (o.smoke) {
    o.subtasks = std::min(o.subtasks, 2);
    o.turn_ms = std::min(o.turn_ms, 100);
    o.builders = {1, 2};
    o.landings = std::min(o.landings, 3);
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "agency-bench-teams: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace
}  // namespace agency::bench

int main(int argc, char** argv) {
  try {
    return agency::bench::teams_main(argc, argv);
  } catch (...) {
    std::cerr << "agency-bench-teams: could not run (an unexpected error while reading the "
                 "options)\n";
    return 1;
  }
}
