// Lateral collaboration with real processes on a real nats-server: a
// builder asks the planner from inside its engine turn, mail waits for an
// agent that is down, the sweeper acts on a stuck agent and on a task in a
// loop, the proxy answers from a corpus, the scout does not file a task
// twice, the synthesizer writes its digest. No dispatcher runs in any of them.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "agency/v1/ask.pb.h"
#include "agency/v1/event.pb.h"
#include "agency/v1/worklog.pb.h"
#include "bus/consumer.hpp"
#include "runtime/mesh.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/run.hpp"

namespace agency::test {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Roles block: every listed role on the scripted engine with scenario.yaml.
std::string scripted_roles(std::initializer_list<const char*> roles) {
  std::string out;
  for (const char* role : roles) {
    out += std::string("  ") + role + ":\n    engine: scripted\n    scenario: scenario.yaml\n";
  }
  return out;
}

// The FleetEvents on agency.event.<family> so far.
std::vector<v1::FleetEvent> fleet_events(Connection& c, const std::string& family) {
  std::vector<v1::FleetEvent> out;
  auto got = replay(c, subjects::kEventsStream, subjects::fleet_event(family), 10000);
  REQUIRE(got.ok());
  for (auto& m : *got) {
    auto e = codec::decode<v1::FleetEvent>(m.data(), m.headers());
    if (e) out.push_back(std::move(*e));
  }
  return out;
}

// Polls until an event of `kind` (about `agent`, when given) is recorded.
std::optional<v1::FleetEvent> wait_for_event(Connection& c, const std::string& family,
                                             const std::string& kind, const std::string& agent = {},
                                             std::chrono::seconds timeout = 60s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& e : fleet_events(c, family)) {
      if (e.kind() == kind && (agent.empty() || e.agent_id() == agent)) return e;
    }
    std::this_thread::sleep_for(100ms);  // polling a stream, with a deadline
  }
  return std::nullopt;
}

std::string show_file_on_branch(const std::filesystem::path& repo, const std::string& task_id,
                                const std::string& file) {
  auto r = git::run({"git", "show", git::branch_for(task_id) + ":" + file}, repo);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  return r.output;
}

}  // namespace

TEST_CASE("lateral: a builder asks the planner from inside its turn and commits the answer") {
  Pipeline p(R"yaml(
planner.question:
  - text: "The API listens on port 8080 (decided in the spec of task one)."
    confidence: "0.9"
builder:
  - write:
      path: GREETING.md
      content: hello
    run: agency ask --role planner --timeout 30 "Which port does the API use?" > ANSWER.md
)yaml");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Serve the API on the agreed port");
  auto task_id = p.task_with_objective("Serve the API on the agreed port");
  REQUIRE(!task_id.empty());
  auto done = p.wait_for_stage(task_id, "done", 90s);
  REQUIRE_MESSAGE(done.has_value(), p.agent("builder-1").err());
  const std::string answer = show_file_on_branch(p.repo(), task_id, "ANSWER.md");
  CHECK(answer.find("port 8080") != std::string::npos);
  // The planner answered it (not some other part in between).
  CHECK(answer.find("planner-1") != std::string::npos);
  CHECK(p.agent("planner-1").wait_for_output("answered question", 10s));
}

TEST_CASE("lateral: mail to an agent that is down waits and is read once it starts") {
  Pipeline p(R"yaml(
builder.mail:
  - write:
      path: MAIL.md
      content: "{objective}"
)yaml");
  auto sent = run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "mail",
                   "builder-7", "--subject", "ports", "Ports below 1024 need root: use 8080."},
                  {{"NATS_URL", p.server().url()}, {"NATS_CONTEXT", ""}});
  REQUIRE_MESSAGE(sent.exit_code == 0, sent.err);

  auto& builder = p.start("builder", "builder-7");
  const auto mail_file = p.dir() / "state" / "work" / "scratch" / "mail-builder-7" / "MAIL.md";
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!std::filesystem::exists(mail_file) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // polling a file, with a deadline
  }
  REQUIRE_MESSAGE(std::filesystem::exists(mail_file), builder.err());
  const std::string got = read_file(mail_file);
  CHECK(got.find("Ports below 1024 need root: use 8080.") != std::string::npos);
  CHECK(got.find("ports") != std::string::npos);

  // Read once: acknowledged, nothing left for the agent.
  bool settled = false;
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!settled && std::chrono::steady_clock::now() < deadline) {
    auto consumers = list_consumers(p.connection(), subjects::kMailStream);
    REQUIRE(consumers.ok());
    for (const auto& c : *consumers) {
      if (c.name == subjects::mail_consumer("builder-7")) {
        settled = c.pending == 0 && c.ack_pending == 0;
      }
    }
    if (!settled) std::this_thread::sleep_for(50ms);  // polling, with a deadline
  }
  CHECK(settled);
}

TEST_CASE("lateral: the sweeper nudges a stuck builder, drains it, and the task still gets done") {
  Pipeline p(R"yaml(
builder:
  - write:
      path: GREETING.md
      content: hello
    run: 'if [ "$AGENCY_AGENT_ID" = builder-1 ]; then exec sleep 600; fi'
)yaml",
             scripted_roles({"planner", "builder", "adversary", "reviewer", "sweeper"}),
             "sweeper:\n  every_seconds: 1\n  stuck_after_seconds: 2\n  nudge_grace_seconds: 2\n");
  p.start("planner", "planner-1");
  p.start("adversary", "adversary-1");
  p.start("reviewer", "reviewer-1");
  auto& stuck = p.start("builder", "builder-1");
  p.plain_publish("agency.brief.planner", "Greet the world");
  auto task_id = p.task_with_objective("Greet the world");
  REQUIRE(!task_id.empty());
  REQUIRE(p.wait_for_agent_state("builder-1", "busy"));
  // Only now a healthy builder and the sweeper: the brief is builder-1's.
  p.start("builder", "builder-2");
  p.start("sweeper", "sweeper-1");

  auto nudged = wait_for_event(p.connection(), "sweep", "nudged", "builder-1");
  REQUIRE(nudged.has_value());
  CHECK(nudged->task_id() == task_id);
  CHECK(!nudged->reason().empty());
  auto drained = wait_for_event(p.connection(), "sweep", "drained", "builder-1");
  REQUIRE(drained.has_value());
  CHECK(!drained->reason().empty());

  auto done = p.wait_for_stage(task_id, "done", 90s);
  REQUIRE_MESSAGE(done.has_value(), p.agent("builder-2").err());
  // builder-2 did the work; builder-1 handed it back and stopped (drained).
  bool by_builder2 = false;
  for (const auto& h : done->history()) by_builder2 |= h.actor() == "builder-2" && h.to() == "qa";
  CHECK(by_builder2);
  CHECK(stuck.wait(15s) == 0);
  CHECK(stuck.err().find("handing back brief on cancel") != std::string::npos);
}

TEST_CASE("lateral: the sweeper blocks a task that ping-pongs between qa and the builder") {
  Pipeline p(R"yaml(
builder:
  - write:
      path: GREETING.md
      content: "hello, attempt {attempt}"
adversary:
  - verdict: fail
    findings: ["it still does not greet"]
)yaml",
             scripted_roles({"planner", "builder", "adversary", "reviewer", "sweeper"}),
             "pipeline:\n  bounce_limit: 50\n  max_deliver: 2\n  ack_wait_seconds: 3\n"
             "sweeper:\n  every_seconds: 1\n  loop_limit: 3\n");
  p.start_fleet();
  p.start("sweeper", "sweeper-1");
  p.plain_publish("agency.brief.planner", "Greet in a loop");
  auto task_id = p.task_with_objective("Greet in a loop");
  REQUIRE(!task_id.empty());
  auto blocked = p.wait_for_stage(task_id, "blocked", 90s);
  REQUIRE(blocked.has_value());
  CHECK(blocked->blocked_reason().find("loop") != std::string::npos);
  CHECK(blocked->history(blocked->history_size() - 1).actor() == "sweeper-1");
  // Well under the bounce limit: the sweeper, not the runtime, stopped it.
  CHECK(blocked->bounces() < 50);
  auto event = wait_for_event(p.connection(), "sweep", "loop-blocked");
  REQUIRE(event.has_value());
  CHECK(event->task_id() == task_id);
}

namespace {

// A small corpus for the proxy: the answer to "which port" is in it, the
// answer to "who maintains the billing service" is not.
void write_corpus(const std::filesystem::path& dir) {
  write(dir / "handbook" / "api.md",
        "# The API\n\n## Ports\n\nThe public API listens on port 8080. The admin API listens "
        "on port 9090 and is reachable only from the office network.\n\n## Errors\n\nErrors are "
        "JSON objects with a code and a message.\n");
  write(dir / "handbook" / "release.md",
        "# Releases\n\nWe release on Tuesdays. A release needs two approvals and a green "
        "pipeline.\n");
}

std::string proxy_config() {
  return "proxy:\n  corpus:\n    - name: handbook\n      path: corpus/handbook\n";
}

RunResult ask(Pipeline& p, const std::vector<std::string>& args,
              std::map<std::string, std::string> env = {}) {
  std::vector<std::string> argv = {bin("agency"), "--config", (p.dir() / "agency.yaml").string(),
                                   "ask"};
  argv.insert(argv.end(), args.begin(), args.end());
  env.insert_or_assign("NATS_URL", p.server().url());
  env.insert_or_assign("NATS_CONTEXT", "");
  return run(argv, env, 60s);
}

}  // namespace

TEST_CASE("lateral: the proxy answers from its corpus with sources, and says when it cannot") {
  Pipeline p("{}\n", scripted_roles({"proxy"}), proxy_config());
  write_corpus(p.dir() / "corpus");
  auto& proxy = p.start("proxy", "proxy-1");
  REQUIRE_MESSAGE(p.wait_for_agent_state("proxy-1", "idle"), proxy.err());

  auto known = ask(p, {"--json", "Which port does the public API listen on?"});
  REQUIRE_MESSAGE(known.exit_code == 0, known.err);
  auto a = codec::decode<v1::Answer>(known.out, {{"Content-Type", "application/json"}});
  REQUIRE_MESSAGE(a.ok(), known.out);
  CHECK(a->answered_by() == "proxy-1");
  CHECK(a->confidence() >= 0.5);
  CHECK(a->text().find("8080") != std::string::npos);  // composed from the passage
  REQUIRE(a->sources_size() >= 1);
  CHECK(a->sources(0).ref().find("handbook/api.md:") == 0);
  CHECK(a->sources(0).excerpt().find("8080") != std::string::npos);

  auto unknown = ask(p, {"--json", "Who maintains the billing service?"});
  REQUIRE_MESSAGE(unknown.exit_code == 0, unknown.err);
  auto b = codec::decode<v1::Answer>(unknown.out, {{"Content-Type", "application/json"}});
  REQUIRE_MESSAGE(b.ok(), unknown.out);
  CHECK(b->confidence() < 0.35);
  CHECK(b->text().find("does not") != std::string::npos);
  CHECK(b->confidence() < a->confidence());
}

TEST_CASE("lateral: the sweeper answers a question an agent waits on through the proxy") {
  // The planner is up but slow to answer; the proxy knows.
  Pipeline p(R"yaml(
planner.question:
  - sleep_ms: 120000
    text: "too late"
)yaml",
             scripted_roles({"planner", "proxy", "sweeper"}),
             proxy_config() +
                 "sweeper:\n  every_seconds: 1\n  answer_after_seconds: 1\n"
                 "  answer_confidence: 0.5\n");
  write_corpus(p.dir() / "corpus");
  p.start("planner", "planner-1");
  p.start("proxy", "proxy-1");
  p.start("sweeper", "sweeper-1");
  REQUIRE(p.wait_for_agent_state("planner-1", "idle"));
  REQUIRE(p.wait_for_agent_state("proxy-1", "idle"));

  // As a builder's engine would ask, from inside its turn.
  auto got =
      ask(p, {"--role", "planner", "--timeout", "50", "Which port does the public API listen on?"},
          {{"AGENCY_AGENT_ID", "builder-9"}, {"AGENCY_ROLE", "builder"}});
  REQUIRE_MESSAGE(got.exit_code == 0, got.err);
  CHECK(got.out.find("8080") != std::string::npos);
  CHECK(got.out.find("too late") == std::string::npos);
  auto answered = wait_for_event(p.connection(), "sweep", "answered");
  REQUIRE(answered.has_value());
  CHECK(!answered->reason().empty());
}

TEST_CASE("lateral: the scout files new tasks and never the same task twice") {
  Pipeline p(R"yaml(
scout:
  - summary: "two ideas"
    tasks:
      - title: Add rate limiting to the API
        objective: Limit requests per client.
      - title: Document the deploy steps
        objective: Write DEPLOY.md with every step of a deploy.
        done_when: DEPLOY.md exists
)yaml",
             scripted_roles({"planner", "scout"}));
  // An open task the first idea duplicates.
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  v1::Brief existing;
  existing.set_task_id("t-existing");
  existing.set_project("demo");
  existing.set_objective("Add rate-limiting to the API!");
  REQUIRE(store->create(existing, "ready-for-prep", "test").ok());

  p.start("planner", "planner-1");
  p.start("scout", "scout-1");
  auto scout_once = [&](const std::string& objective) {
    p.plain_publish("agency.brief.scout",
                    R"({"objective":")" + objective + R"(","project":"demo"})");
    auto id = p.task_with_objective(objective);
    REQUIRE_MESSAGE(!id.empty(), p.agent("scout-1").err());
    auto done = p.wait_for_stage(id, "done", 60s);
    REQUIRE_MESSAGE(done.has_value(), p.agent("scout-1").err());
    return *done;
  };
  auto first = scout_once("Scout the demo project");
  CHECK(first.history(first.history_size() - 1).reason().find("filed 1") != std::string::npos);

  // The filed task exists, at the planner's stage or past it.
  std::string filed_id;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (filed_id.empty() && std::chrono::steady_clock::now() < deadline) {
    auto all = store->list();
    REQUIRE(all.ok());
    for (const auto& t : *all) {
      if (t.title() == "Document the deploy steps") filed_id = t.id();
    }
    if (filed_id.empty()) std::this_thread::sleep_for(50ms);  // polling, with a deadline
  }
  REQUIRE(!filed_id.empty());
  CHECK(filed_id.rfind("t-scout-", 0) == 0);
  auto skipped = wait_for_event(p.connection(), "scout", "skipped-duplicate");
  REQUIRE(skipped.has_value());
  CHECK(skipped->reason().find("t-existing") != std::string::npos);

  // The same ideas again: both are duplicates of open tasks now.
  auto second = scout_once("Scout the demo project again");
  CHECK(second.history(second.history_size() - 1).reason().find("filed 0") != std::string::npos);
  int filed_events = 0;
  int deploy_tasks = 0;
  for (const auto& e : fleet_events(p.connection(), "scout")) filed_events += e.kind() == "filed";
  auto all = store->list();
  REQUIRE(all.ok());
  for (const auto& t : *all) deploy_tasks += t.title() == "Document the deploy steps";
  CHECK(filed_events == 1);
  CHECK(deploy_tasks == 1);
}

TEST_CASE("lateral: a closed task leaves a work log and the synthesizer digests it") {
  Pipeline p(R"yaml(
builder:
  - write:
      path: GREETING.md
      content: hello
)yaml",
             scripted_roles({"planner", "builder", "adversary", "reviewer", "synthesizer"}));
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Greet the readers");
  auto task_id = p.task_with_objective("Greet the readers");
  REQUIRE(!task_id.empty());
  auto done = p.wait_for_stage(task_id, "done", 90s);
  REQUIRE(done.has_value());
  CHECK(done->tokens_used() > 0);

  // The reviewer, which closed it, wrote the work log.
  std::optional<v1::WorkLog> log;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!log && std::chrono::steady_clock::now() < deadline) {
    auto got = replay(p.connection(), subjects::kLogsStream, "agency.log.demo", 100);
    REQUIRE(got.ok());
    for (auto& m : *got) {
      auto l = codec::decode<v1::WorkLog>(m.data(), m.headers());
      if (l && l->task_id() == task_id) log = *l;
    }
    if (!log) std::this_thread::sleep_for(50ms);  // polling, with a deadline
  }
  REQUIRE(log.has_value());
  CHECK(log->outcome() == "done");
  CHECK(log->agent_id() == "reviewer-1");
  CHECK(log->title() == "Greet the readers");
  CHECK(log->tokens() == done->tokens_used());

  p.start("synthesizer", "synthesizer-1");
  p.plain_publish("agency.brief.synthesizer", "Digest now");
  auto digest_task = p.task_with_objective("Digest now");
  REQUIRE_MESSAGE(!digest_task.empty(), p.agent("synthesizer-1").err());
  auto digested = p.wait_for_stage(digest_task, "done", 60s);
  REQUIRE_MESSAGE(digested.has_value(), p.agent("synthesizer-1").err());
  auto event = wait_for_event(p.connection(), "digest", "digest");
  REQUIRE(event.has_value());
  const std::string path = digested->attachments().at("digest");
  REQUIRE(std::filesystem::exists(path));
  CHECK(std::filesystem::path(path).parent_path() == p.dir() / "state" / "digests");
  const std::string text = read_file(path);
  CHECK(text.find("Greet the readers") != std::string::npos);
  CHECK(text.find(task_id) != std::string::npos);
}

TEST_CASE(
    "lateral: the auditor audits a done task and the ledger, and agency audit says the same") {
  Pipeline p(R"yaml(
builder:
  - write:
      path: GREETING.md
      content: hello
auditor:
  - text: "Scripted suggestion (no model): keep the builder's spend where it is."
)yaml",
             scripted_roles({"planner", "builder", "adversary", "reviewer", "auditor"}),
             "auditor:\n  time_zone: UTC\n");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Greet the readers");
  auto task_id = p.task_with_objective("Greet the readers");
  REQUIRE(!task_id.empty());
  REQUIRE(p.wait_for_stage(task_id, "done", 90s).has_value());

  // From the bus alone, no auditor running: the task is one of the day's
  // done tasks, every pipeline role spent tokens on it.
  auto cli = test::run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats",
                        p.server().url(), "audit", "--json", "--hours", "1"},
                       {}, 60s);
  REQUIRE_MESSAGE(cli.exit_code == 0, cli.err);
  const auto j = nlohmann::json::parse(cli.out);
  CHECK(j.at("tasks").at("done").get<int>() >= 1);
  std::set<std::string> roles;
  for (const auto& r : j.at("roles")) {
    roles.insert(r.at("role").get<std::string>());
    CHECK(r.at("median").get<std::int64_t>() > 0);
  }
  for (const char* role : {"planner", "builder", "adversary", "reviewer"})
    CHECK(roles.count(role) == 1);
  // A bad --since is a clear error.
  auto bad = test::run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats",
                        p.server().url(), "audit", "--since", "yesterday"},
                       {}, 60s);
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("--since yesterday: not a date") != std::string::npos);

  // The role, as the nightly schedule runs it: a brief, the file, an event.
  p.start("auditor", "auditor-1");
  p.plain_publish("agency.brief.auditor", "Audit the fleet");
  auto audit_task = p.task_with_objective("Audit the fleet");
  REQUIRE_MESSAGE(!audit_task.empty(), p.agent("auditor-1").err());
  auto audited = p.wait_for_stage(audit_task, "done", 60s);
  REQUIRE_MESSAGE(audited.has_value(), p.agent("auditor-1").err());
  auto event = wait_for_event(p.connection(), "audit", "audit");
  REQUIRE(event.has_value());
  const std::string path = audited->attachments().at("audit");
  CHECK(std::filesystem::path(path).parent_path() == p.dir() / "state" / "audits");
  const std::string text = read_file(path);
  CHECK(text.find("# Audit, ") == 0);
  CHECK(text.find("| builder | ") != std::string::npos);
  CHECK(text.find("## Findings") != std::string::npos);
  // The engine's answer under the figures (the scenario's, labelled).
  CHECK_MESSAGE(text.find("## Suggestions\n\nScripted suggestion (no model)") != std::string::npos,
                text);
}

TEST_CASE("lateral: the sweeper hands a dead agent's brief to another agent at once") {
  // ack_wait is 10 minutes: without the sweeper the brief would sit with the
  // dead agent that long.
  Pipeline p(R"yaml(
builder:
  - write:
      path: GREETING.md
      content: hello
    run: 'if [ "$AGENCY_AGENT_ID" = builder-1 ]; then exec sleep 90; fi'
)yaml",
             scripted_roles({"planner", "builder", "adversary", "reviewer", "sweeper"}),
             "pipeline:\n  bounce_limit: 2\n  max_deliver: 2\n  ack_wait_seconds: 600\n"
             "sweeper:\n  every_seconds: 1\n");
  p.start("planner", "planner-1");
  p.start("adversary", "adversary-1");
  p.start("reviewer", "reviewer-1");
  auto& doomed = p.start("builder", "builder-1");
  p.plain_publish("agency.brief.planner", "Greet after a crash");
  auto task_id = p.task_with_objective("Greet after a crash");
  REQUIRE(!task_id.empty());
  REQUIRE(p.wait_for_agent_state("builder-1", "busy"));
  p.start("sweeper", "sweeper-1");
  p.start("builder", "builder-2");
  // The sweeper has seen it busy before it dies.
  REQUIRE(wait_for_event(p.connection(), "sweep", "snapshot").has_value());
  doomed.signal(SIGKILL);
  (void)doomed.wait(10s);

  auto redelivered = wait_for_event(p.connection(), "sweep", "redelivered", "builder-1", 60s);
  REQUIRE(redelivered.has_value());
  CHECK(redelivered->task_id() == task_id);
  // Handed back now, not when the 10-minute ack wait ends.
  const auto& details = redelivered->details();
  const std::string handed_back =
      details.count("handed_back") != 0 ? details.at("handed_back") : std::string("?");
  const std::string note = details.count("note") != 0 ? details.at("note") : std::string();
  CHECK_MESSAGE(handed_back == "yes", note);
  auto done = p.wait_for_stage(task_id, "done", 60s);
  REQUIRE_MESSAGE(done.has_value(), "handed back: " << handed_back << " " << note
                                                    << "\nbuilder-2:\n"
                                                    << p.agent("builder-2").err() << "\nsweeper:\n"
                                                    << p.agent("sweeper-1").err());
  bool by_builder2 = false;
  for (const auto& h : done->history()) by_builder2 |= h.actor() == "builder-2" && h.to() == "qa";
  CHECK(by_builder2);
}

TEST_CASE("lateral: an unreadable question gets a clear answer and the agent goes on") {
  Pipeline p(R"yaml(
planner.question:
  - text: "Port 8080."
    confidence: "0.9"
)yaml");
  auto& planner = p.start("planner", "planner-1");
  REQUIRE(p.wait_for_agent_state("planner-1", "idle"));
  Outgoing garbage{std::string("\xff\xfe\x00\x01 not text", 13), {}};
  auto bad = p.connection().request(subjects::ask("planner"), garbage, 10s);
  REQUIRE(bad.ok());
  auto answer = codec::decode<v1::Answer>(bad->data(), bad->headers());
  REQUIRE(answer.ok());
  CHECK(answer->confidence() == 0);
  CHECK(answer->text().find("could not read the question") != std::string::npos);

  // Still answering.
  auto good = p.connection().request(subjects::ask("planner"),
                                     Outgoing{"Which port does the API use?", {}}, 10s);
  REQUIRE(good.ok());
  auto real = codec::decode<v1::Answer>(good->data(), good->headers());
  REQUIRE(real.ok());
  CHECK(real->text().find("8080") != std::string::npos);
  CHECK(real->confidence() == doctest::Approx(0.9));
  CHECK(real->answered_by() == "planner-1");
  CHECK(planner.wait(0ms) == -1);  // still running
}

}  // namespace agency::test
