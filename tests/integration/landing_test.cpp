// The merge queue with real role processes, a real nats-server and a real
// git repository: reviewed work lands on main through the integrator, a
// conflict or red tests send it back, a killed integrator leaves main at the
// old or the new commit, and two integrators never land one project twice
// at once.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "runtime/git.hpp"
#include "runtime/tasks.hpp"
#include "tests/support/pipeline.hpp"

namespace agency {
namespace {

using test::Pipeline;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string git_out(const fs::path& repo, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = git::run(argv, repo);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  return r.output;
}

bool is_ancestor(const fs::path& repo, const std::string& a, const std::string& b) {
  return git::run({"git", "merge-base", "--is-ancestor", a, b}, repo).exit_code == 0;
}

// Waits until `path` exists (a test command's probe), with a deadline.
bool wait_for_file(const fs::path& path, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(20ms);  // polling the file system, with a deadline
  }
  return false;
}

void start_builders(Pipeline& p) {
  for (const char* role : {"planner", "builder", "adversary", "reviewer"}) {
    p.start(role, std::string(role) + "-1");
  }
}

// Two briefs, both reviewed before any lands: their branches start from
// the same main.
std::vector<std::string> two_tasks_ready_to_land(Pipeline& p) {
  p.plain_publish("agency.brief.planner", "first change");
  p.plain_publish("agency.brief.planner", "second change");
  std::vector<std::string> ids = {p.task_with_objective("first change"),
                                  p.task_with_objective("second change")};
  for (const auto& id : ids) {
    REQUIRE_FALSE(id.empty());
    REQUIRE(p.wait_for_stage(id, "ready-to-land", 90s).has_value());
  }
  return ids;
}

const v1::TaskEvent* landing_bounce(const std::vector<v1::TaskEvent>& events) {
  for (const auto& e : events) {
    if (e.kind() == "bounced" && e.from_stage() == "ready-to-land") return &e;
  }
  return nullptr;
}

TEST_CASE("landing: two tasks changing the same lines: one lands, the other bounces, then lands") {
  Pipeline p(R"(planner:
  - spec: "Write SHARED.md"
builder:
  - write: {path: SHARED.md, content: "first version by {task_id}\n"}
    summary: wrote SHARED.md
  - write: {path: SHARED.md, content: "merged by {task_id}\n"}
    summary: resolved the conflict
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)",
             {}, {},
             "    landing: merge\n"
             "    test_command: test -f SHARED.md && ! grep -q '<<<<<<<' SHARED.md\n");
  start_builders(p);
  const auto ids = two_tasks_ready_to_land(p);
  const std::string before = git_out(p.repo(), {"rev-parse", "main"});
  p.start("integrator", "integrator-1");
  for (const auto& id : ids) REQUIRE(p.wait_for_stage(id, "done", 90s).has_value());

  // Exactly one of them came back from landing, naming the file.
  std::string bounced;
  for (const auto& id : ids) {
    auto trail = p.events_through(id, "done");
    if (const auto* e = landing_bounce(trail)) {
      CHECK(bounced.empty());
      bounced = id;
      CHECK(e->to_stage() == "ready-for-dev");
      CHECK(e->reason().find("SHARED.md") != std::string::npos);
    }
  }
  REQUIRE_FALSE(bounced.empty());
  // Both landed on main, on top of each other, through two landing merges.
  const std::string log = git_out(p.repo(), {"log", "--first-parent", "--format=%s", "main"});
  CAPTURE(log);
  CHECK(log.find("(task " + ids[0] + ")") != std::string::npos);
  CHECK(log.find("(task " + ids[1] + ")") != std::string::npos);
  CHECK(git_out(p.repo(), {"rev-parse", "main~2"}) == before);
  for (const auto& id : ids) CHECK(is_ancestor(p.repo(), git::branch_for(id), "main"));
  // The second one's resolution is what main holds, checked out, no markers.
  CHECK(git_out(p.repo(), {"show", "main:SHARED.md"}) == "merged by " + bounced);
  CHECK(git_out(p.repo(), {"status", "--porcelain"}).empty());
  auto done = p.wait_for_stage(bounced, "done");
  REQUIRE(done.has_value());
  CHECK(done->attachments().at("landing").starts_with("landed "));
}

TEST_CASE("landing: a task whose merged result fails the tests is not landed and goes back") {
  // Each task alone passes; both together break the rule "one part".
  Pipeline p(R"(planner:
  - spec: "Add a part"
builder:
  - write: {path: "part-{task_id}.md", content: "part\n"}
    summary: added a part
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)",
             {}, {},
             "    landing: merge\n"
             "    test_command: test $(ls part-*.md | wc -l) -eq 1\n");
  start_builders(p);
  const auto ids = two_tasks_ready_to_land(p);
  p.start("integrator", "integrator-1");
  // One lands; the other comes back from landing with the test output.
  std::string landed;
  std::string refused;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline && refused.empty()) {
    for (const auto& id : ids) {
      const auto trail = p.events(id);
      if (const auto* e = landing_bounce(trail)) {
        refused = id;
        CHECK(e->reason().find("tests fail") != std::string::npos);
      }
    }
    std::this_thread::sleep_for(50ms);  // polling a stream, with a deadline
  }
  REQUIRE_FALSE(refused.empty());
  landed = refused == ids[0] ? ids[1] : ids[0];
  REQUIRE(p.wait_for_stage(landed, "done").has_value());
  // It can never pass (two parts), so it ends blocked, never on main.
  REQUIRE(p.wait_for_stage(refused, "blocked", 90s).has_value());
  CHECK(is_ancestor(p.repo(), git::branch_for(landed), "main"));
  CHECK_FALSE(is_ancestor(p.repo(), git::branch_for(refused), "main"));
  auto r = git::run_shell("test $(ls part-*.md | wc -l) -eq 1", p.repo());
  CHECK(r.exit_code == 0);
}

TEST_CASE(
    "landing: kill -9 of the integrator mid-landing leaves main at the old commit, and it lands "
    "after "
    "restart") {
  const char* scenario = R"(planner:
  - spec: "Say hello"
builder:
  - write: {path: GREETING.md, content: "hello from {task_id}\n"}
    summary: added GREETING.md
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)";
  // The integrator's test run (only it has LAND_PROBE) says it started,
  // then takes long enough to be killed in.
  Pipeline p(scenario, {}, {},
             "    landing: merge\n"
             "    test_command: test -f GREETING.md && { test -z \"$LAND_PROBE\" || { touch "
             "\"$LAND_PROBE\"; sleep 2; }; }\n");
  start_builders(p);
  p.plain_publish("agency.brief.planner", "Say hello");
  const auto id = p.task_with_objective("Say hello");
  REQUIRE_FALSE(id.empty());
  REQUIRE(p.wait_for_stage(id, "ready-to-land", 60s).has_value());
  const std::string before = git_out(p.repo(), {"rev-parse", "main"});
  const fs::path probe = p.dir() / "landing-started";
  p.set_agent_env({{"LAND_PROBE", probe.string()}});
  p.start("integrator", "integrator-1");
  REQUIRE(wait_for_file(probe, 30s));
  p.agent("integrator-1").signal(SIGKILL);
  p.agent("integrator-1").wait(10s);
  p.forget("integrator-1");
  CHECK(git_out(p.repo(), {"rev-parse", "main"}) == before);
  CHECK(git_out(p.repo(), {"status", "--porcelain"}).empty());

  fs::remove(probe);
  p.start("integrator", "integrator-1");
  auto done = p.wait_for_stage(id, "done", 60s);
  REQUIRE(done.has_value());
  CHECK(git_out(p.repo(), {"rev-parse", "main^1"}) == before);
  CHECK(is_ancestor(p.repo(), git::branch_for(id), "main"));
  CHECK(git_out(p.repo(), {"show", "main:GREETING.md"}) == "hello from " + id);
}

TEST_CASE("landing: two integrators never land two tasks of one project at once") {
  // Every landing's test run holds a directory; a second one at the same
  // time would find it taken and leave a mark.
  Pipeline p(R"(planner:
  - spec: "Add a note"
builder:
  - write: {path: "notes/{task_id}.md", content: "note\n"}
    summary: added a note
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)",
             {}, {},
             "    landing: merge\n"
             "    test_command: ls notes/ >/dev/null && { test -z \"$LAND_PROBE\" || { mkdir "
             "\"$LAND_PROBE/inflight\" || touch \"$LAND_PROBE/overlap\"; sleep 0.3; rmdir "
             "\"$LAND_PROBE/inflight\"; touch \"$LAND_PROBE/landed-$$\"; }; }\n");
  p.start("planner", "planner-1");
  p.start("builder", "builder-1");
  p.start("builder", "builder-2");
  p.start("adversary", "adversary-1");
  p.start("reviewer", "reviewer-1");
  std::vector<std::string> ids;
  for (int i = 1; i <= 4; ++i) {
    const std::string objective = "note " + std::to_string(i);
    p.plain_publish("agency.brief.planner", objective);
    ids.push_back(p.task_with_objective(objective));
    REQUIRE_FALSE(ids.back().empty());
  }
  for (const auto& id : ids) REQUIRE(p.wait_for_stage(id, "ready-to-land", 90s).has_value());
  const fs::path probes = p.dir() / "probes";
  fs::create_directories(probes);
  p.set_agent_env({{"LAND_PROBE", probes.string()}});
  p.start("integrator", "integrator-1");
  p.start("integrator", "integrator-2");
  for (const auto& id : ids) REQUIRE(p.wait_for_stage(id, "done", 90s).has_value());
  CHECK_FALSE(fs::exists(probes / "overlap"));
  int runs = 0;
  for (const auto& entry : fs::directory_iterator(probes)) {
    if (entry.path().filename().string().starts_with("landed-")) ++runs;
  }
  CHECK(runs == 4);
  const std::string log = git_out(p.repo(), {"log", "--first-parent", "--format=%s", "main"});
  CAPTURE(log);
  for (const auto& id : ids) {
    CHECK(log.find("(task " + id + ")") != std::string::npos);
    CHECK(is_ancestor(p.repo(), git::branch_for(id), "main"));
  }
}

}  // namespace
}  // namespace agency
