// The conformance kit's mesh, candidate and observations (conformance.hpp),
// and the `agency conformance` command. The cases are in
// conformance_cases.cpp.
#include "cli/conformance.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "agency/v1/control.pb.h"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/spawn.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "bus/vocabulary.hpp"
#include "cli/cli.hpp"
#include "runtime/briefing.hpp"
#include "runtime/catalog.hpp"
#include "runtime/config_reader.hpp"
#include "runtime/credentials.hpp"
#include "runtime/git.hpp"
#include "runtime/ids.hpp"
#include "runtime/tasks.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for the child's

namespace agency::conformance {

namespace fs = std::filesystem;
namespace voc = vocabulary;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// Variables of ours the candidate must not see: the kit gives its own.
constexpr std::string_view kDropped[] = {"NATS_URL=",
                                         "NATS_CONTEXT=",
                                         "NATS_NKEY=",
                                         "NATS_CREDS=",
                                         "NATS_CA=",
                                         "NATS_USER=",
                                         "NATS_PASSWORD=",
                                         "NATS_TOKEN=",
                                         "AGENCY_CONFIG=",
                                         "AGENCY_AGENT_ID=",
                                         "AGENCY_ROLE=",
                                         "AGENCY_STATE_DIR=",
                                         "AGENCY_NATS_URL=",
                                         "AGENCY_HEARTBEAT_MS=",
                                         "AGENCY_IN_PROGRESS_MS="};

// The candidate's ack wait: short, so a killed candidate's brief comes back
// soon.
constexpr int kAckWaitSeconds = 5;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool is_stage_role(std::string_view role) { return !pipeline::stage_of(role).empty(); }

}  // namespace

// ---- the candidate --------------------------------------------------------

Candidate::Candidate(std::vector<std::string> argv, std::vector<std::string> env, fs::path workdir,
                     fs::path log)
    : argv_(std::move(argv)),
      env_(std::move(env)),
      workdir_(std::move(workdir)),
      log_(std::move(log)) {}

Result<void> Candidate::start() {
  if (alive()) return {};
  const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return make_error(errc::io, "cannot write " + log_.string());
  SpawnSpec spec;
  spec.argv = argv_;
  spec.search_path = true;
  spec.env = env_;
  spec.workdir = workdir_;
  spec.stdout_fd = out;
  spec.stderr_fd = out;
  auto pid = spawn_process(spec);
  ::close(out);
  if (!pid) {
    return make_error(errc::io, "cannot run " + argv_.front() + ": " + pid.error().message);
  }
  pid_ = *pid;
  ended_.clear();
  status_ = 0;
  return {};
}

bool Candidate::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  status_ = status;
  ended_ = WIFEXITED(status)     ? "exit " + std::to_string(WEXITSTATUS(status))
           : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                 : "ended";
  pid_ = -1;
  return false;
}

void Candidate::kill9() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  wait_exit(10s);
}

bool Candidate::wait_exit(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (alive()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);  // polling a child's exit
  }
  return true;
}

void Candidate::stop(std::chrono::seconds grace) {
  if (!alive()) return;
  ::kill(-pid_, SIGTERM);
  if (!wait_exit(grace)) kill9();
}

// ---- the mesh -------------------------------------------------------------

Kit::Kit(Options options) : options_(std::move(options)) {}

Result<void> Kit::setup() {
  const std::string& role = options_.role;
  if (!config::is_token(role)) {
    return make_error(errc::config,
                      "--role '" + role + "' is not a role name (letters, digits, '-' and '_')");
  }
  if (role == kBefore || role == kAfter) {
    return make_error(errc::config, "--role " + role + " is the kit's own; name yours otherwise");
  }
  const auto* info = catalog::find(role);
  const bool lateral = info != nullptr && info->lateral;
  stage_ = !options_.stage.empty() ? options_.stage
           : is_stage_role(role)   ? std::string(pipeline::stage_of(role))
           : lateral               ? std::string()
                                   : role;
  if (!stage_.empty() && (!voc::is_stage_name(stage_) || pipeline::is_reserved(stage_))) {
    return make_error(errc::config, "the stage '" + stage_ +
                                        "' is no stage name (lowercase letters, digits and '-'): "
                                        "give --stage NAME");
  }
  agent_id_ = role + "-1";
  dir_ = options_.dir;
  std::error_code ec;
  if (dir_.empty()) {
    std::string tmpl = (fs::temp_directory_path(ec) / "agency-conformance-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return make_error(errc::io,
                        "cannot make a folder in " + fs::temp_directory_path(ec).string());
    }
    dir_ = tmpl;
  } else if (fs::exists(dir_, ec) && !fs::is_empty(dir_, ec)) {
    return make_error(errc::config, "--dir " + dir_.string() + " is not empty");
  }
  fs::create_directories(dir_, ec);
  dir_ = fs::absolute(dir_, ec);
  if (auto r = write_files(); !r) return r;
  auto cfg = config::load_file(config_file_);
  if (!cfg) {
    return make_error(options_.with_config.empty() ? errc::internal : errc::config,
                      "the kit's agency.yaml: " + cfg.error().message);
  }
  config_ = std::move(*cfg);

  up_ = std::make_unique<UpProcess>(dir_, config_file_, std::vector<std::string>{"--no-fleet"});
  if (auto r = up_->start(); !r) return r;
  if (auto r = connect(); !r) return r;

  // The candidate, with what `agency up` gives its agents.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var(*e);
    bool drop = false;
    for (auto d : kDropped) drop = drop || var.starts_with(d);
    if (!drop) env.emplace_back(var);
  }
  std::ifstream url_file(config_.state_dir / "nats.url");
  std::string url;
  std::getline(url_file, url);
  credentials::MeshAccess access;
  access.state_dir = config_.state_dir;
  access.auth = true;
  for (const auto& [k, v] : access.client_env(agent_id_)) env.push_back(k + "=" + v);
  env.push_back("NATS_URL=" + url);
  env.push_back("AGENCY_AGENT_ID=" + agent_id_);
  env.push_back("AGENCY_ROLE=" + role);
  env.push_back("AGENCY_CONFIG=" + config_file_.string());
  env.push_back("AGENCY_STATE_DIR=" + config_.state_dir.string());
  env.push_back("AGENCY_HEARTBEAT_MS=500");
  // In-progress acks well within the kit's short ack wait.
  env.push_back("AGENCY_IN_PROGRESS_MS=" + std::to_string(kAckWaitSeconds * 1000 / 3));
  candidate_ = std::make_unique<Candidate>(options_.command, env, fs::current_path(ec),
                                           dir_ / "candidate.log");
  if (auto r = candidate_->start(); !r) return r;
  // Every case but identity starts once it is in the fleet (identity says
  // why when it never is).
  (void)wait_alive_status(options_.timeout);
  return {};
}

Result<void> Kit::write_files() {
  const fs::path repo = dir_ / "repo";
  fs::create_directories(repo);
  std::ofstream(repo / "README.md") << "A project for agency's conformance kit.\n";
  const auto id = git::identity_env("agency-conformance");
  for (const auto& argv :
       std::vector<std::vector<std::string>>{{"git", "init", "-q", "-b", "main"},
                                             {"git", "add", "-A"},
                                             {"git", "commit", "-q", "-m", "start"}}) {
    auto r = git::run(argv, repo, 60s, id);
    if (r.exit_code != 0) return make_error(errc::io, "git in " + repo.string() + ": " + r.output);
  }
  // Scripted turns that take a moment, so a kill can come in the middle of
  // one (labelled: no model runs here).
  const std::string& role = options_.role;
  std::ofstream(dir_ / "scenario.yaml")
      << role << ":\n  - sleep_ms: 1500\n"
      << "    write: {path: conformance.txt, content: \"{task_id} attempt {attempt}\\n\"}\n"
      << "    spec: \"Conformance spec for {objective} (scripted)\"\n"
      << "    summary: \"a scripted conformance turn\"\n";
  const int port = free_port();
  if (port == 0) return make_error(errc::io, "no free port on 127.0.0.1 for the kit's server");
  std::ostringstream y;
  y << "# Written by agency conformance: a private mesh for one candidate role.\n"
    << "state_dir: state\n"
    << "nats:\n  port: " << port << "\n  monitor_port: -1\n"
    << "pipeline:\n  ack_wait_seconds: " << kAckWaitSeconds << "\n  max_deliver: 5\n";
  if (!stage_.empty()) {
    y << "  stages:\n    - {stage: " << kBefore << ", role: " << kBefore << "}\n"
      << "    - {stage: " << stage_ << ", role: " << role << ", bounce: " << kBefore << "}\n";
    if (!pipeline::is_landing(stage_)) {
      y << "    - {stage: " << kAfter << ", role: " << kAfter << "}\n";
    }
  }
  y << "projects:\n  - name: demo\n    repo: repo\n    test_command: \"true\"\n"
    << "    landing: " << (pipeline::is_landing(stage_) ? "merge" : "none") << "\n"
    << "roles:\n  " << role << ":\n    external: true\n";
  if (catalog::find(role) != nullptr) {
    y << "    engine: scripted\n    scenario: scenario.yaml\n";
  }
  y << "  " << kBefore << ": {external: true, count: 0}\n"
    << "  " << kAfter << ": {external: true, count: 0}\n";
  // The proxy answers from a corpus: the project's repository.
  if (role == "proxy") y << "proxy:\n  corpus:\n    - name: project\n      path: repo\n";
  // The role's own settings, as the person gave them.
  if (!options_.with_config.empty()) {
    std::ifstream in(options_.with_config);
    if (!in) {
      return make_error(errc::config,
                        "--with-config: cannot read " + options_.with_config.string());
    }
    y << "# From " << options_.with_config.string() << ":\n" << in.rdbuf() << "\n";
  }
  config_file_ = dir_ / "agency.yaml";
  std::ofstream(config_file_) << y.str();
  return {};
}

Result<void> Kit::connect() {
  connection_.reset();
  auto c = connect_up(config_.state_dir, "agency-conformance");
  if (!c) return c.error();
  connection_ = std::move(*c);
  return {};
}

Kit::Counts Kit::counts() {
  Counts out;
  auto add = [](Queue& q, const ConsumerState& c) {
    q.pending += c.pending;
    q.in_flight += c.ack_pending;
  };
  if (auto consumers = list_consumers(*connection_, subjects::kBriefsStream); consumers) {
    for (const auto& c : *consumers) {
      auto is = [&](std::string_view role) {
        const std::string base = subjects::brief_consumer(role);
        return c.name == base || c.name.starts_with(base + "@");
      };
      if (is(options_.role)) add(out.own, c);
      if (is(kBefore)) add(out.before, c);
      if (is(kAfter)) add(out.after, c);
    }
  }
  if (auto letters =
          agency::replay(*connection_, subjects::kDeadStream, subjects::dead(options_.role), 10000);
      letters) {
    out.dead = letters->size();
  }
  return out;
}

std::optional<v1::AgentStatus> Kit::status() {
  auto fleet = KeyValue::open(*connection_, subjects::kFleetBucket);
  if (!fleet) return std::nullopt;
  auto entry = fleet->get(agent_id_);
  if (!entry) return std::nullopt;
  auto s = codec::decode<v1::AgentStatus>(entry->value);
  if (!s) return std::nullopt;
  return *s;
}

v1::Brief Kit::brief_for(const std::string& task_id, const std::string& objective) const {
  v1::Brief b;
  b.set_task_id(task_id);
  b.set_project("demo");
  b.set_objective(objective);
  b.set_done_when("conformance.txt exists");
  b.set_stage(stage_);
  b.set_attempt(1);
  b.set_id(task_id + ":" + (stage_.empty() ? options_.role : stage_) + ":1");
  b.set_origin("agency-conformance");
  return b;
}

Result<std::string> Kit::new_task(const std::string& objective) {
  auto store = TaskStore::open(*connection_);
  if (!store) return store.error();
  const std::string id = ids::task();
  const v1::Brief b = brief_for(id, objective);
  const auto& walk = config_.pipeline_for("demo");
  auto created = store->create(b, stage_, "agency-conformance", [&](v1::Task& t) {
    if (walk.is_work_stage(stage_)) walk.stamp(t, config_.lands("demo"));
  });
  if (!created) return created.error();
  return id;
}

Result<void> Kit::publish(const v1::Brief& brief, bool as_json, const std::string& msg_id) {
  if (as_json) {
    return publish_raw(codec::to_json(brief), {{"Content-Type", "application/json"}}, msg_id);
  }
  const Outgoing out = codec::encode(brief);
  return publish_raw(out.data, out.headers, msg_id);
}

Result<void> Kit::publish_raw(const std::string& data, const Headers& headers,
                              const std::string& msg_id) {
  auto ack =
      connection_->js_publish(subjects::brief(options_.role), Outgoing{data, headers}, msg_id);
  if (!ack) return ack.error();
  return {};
}

Result<void> Kit::control(std::string_view command) {
  v1::Control c;
  c.set_command(std::string(command));
  c.set_from("agency-conformance");
  c.set_reason("the conformance kit's control case");
  return connection_->publish(subjects::control(agent_id_), codec::encode(c));
}

std::optional<std::string> Kit::not_settled(const std::string& task_id, const Counts& before) {
  auto store = TaskStore::open(*connection_);
  if (!store) return "cannot read the tasks: " + store.error().message;
  auto t = store->load(task_id);
  if (!t) return "no record of task " + task_id + " (" + t.error().message + ")";
  const v1::Task& task = t->task;
  std::vector<const v1::StageChange*> moves;
  for (const auto& h : task.history()) {
    if (h.from() == stage_ && h.to() != stage_) moves.push_back(&h);
  }
  if (moves.empty()) {
    return "task " + task_id + " is still at " + (task.stage().empty() ? "\"\"" : task.stage()) +
           " (no move out of " + (stage_.empty() ? "its first stage" : stage_) + ")";
  }
  if (moves.size() > 1) {
    return "task " + task_id + " left " + stage_ + " " + std::to_string(moves.size()) +
           " times for one brief";
  }
  const v1::StageChange& move = *moves.front();
  if (!move.actor().starts_with(options_.role + "-")) {
    return "the move out of " + stage_ + " names actor '" + move.actor() +
           "', not an agent of role " + options_.role + " (<role>-<suffix>)";
  }
  const Counts now = counts();
  if (now.own.pending != 0 || now.own.in_flight != 0) {
    return "its brief queue still holds " + std::to_string(now.own.pending) + " queued and " +
           std::to_string(now.own.in_flight) + " unacknowledged brief(s)";
  }
  const bool to_after = move.to() == kAfter;
  const bool to_before = move.to() == kBefore;
  const auto grew = [](const Queue& a, const Queue& b) {
    return static_cast<std::int64_t>(a.pending + static_cast<std::uint64_t>(a.in_flight)) -
           static_cast<std::int64_t>(b.pending + static_cast<std::uint64_t>(b.in_flight));
  };
  if (grew(now.after, before.after) != (to_after ? 1 : 0)) {
    return "moved to " + move.to() + ", and " + std::to_string(grew(now.after, before.after)) +
           " brief(s) were sent to " + std::string(kAfter) + " (expected " +
           (to_after ? "1" : "0") + ")";
  }
  if (grew(now.before, before.before) != (to_before ? 1 : 0)) {
    return "moved to " + move.to() + ", and " + std::to_string(grew(now.before, before.before)) +
           " brief(s) were sent to " + std::string(kBefore) + " (expected " +
           (to_before ? "1" : "0") + ")";
  }
  if (!to_after && !to_before && !voc::is_end(move.to()) && move.to() != pipeline::kSplit) {
    return "moved to '" + move.to() + "', which is no stage of the task's pipeline";
  }
  auto events =
      agency::replay(*connection_, subjects::kEventsStream, subjects::task_event(task_id), 1000);
  if (!events) return "cannot read the task's events: " + events.error().message;
  int matching = 0;
  for (const auto& m : *events) {
    auto e = codec::decode<v1::TaskEvent>(m.data(), m.headers());
    if (e && e->from_stage() == stage_ && e->to_stage() == move.to()) ++matching;
  }
  if (matching != 1) {
    return "the move " + stage_ + " -> " + move.to() + " has " + std::to_string(matching) +
           " events on " + subjects::task_event(task_id) + " (expected 1)";
  }
  return std::nullopt;
}

std::optional<std::string> Kit::wait_settled(const std::string& task_id, const Counts& before,
                                             std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::optional<std::string> why;
  while (true) {
    why = not_settled(task_id, before);
    if (!why || std::chrono::steady_clock::now() > deadline) return why;
    std::this_thread::sleep_for(100ms);  // polling what the mesh shows
  }
}

std::string Kit::settled_detail(const std::string& task_id) {
  auto store = TaskStore::open(*connection_);
  if (!store) return task_id;
  auto t = store->load(task_id);
  if (!t) return task_id;
  for (const auto& h : t->task.history()) {
    if (h.from() == stage_ && h.to() != stage_) {
      return (stage_.empty() ? std::string("\"\"") : stage_) + " -> " + h.to() + " by " +
             h.actor() + ", acked, one event" +
             (h.to() == kAfter || h.to() == kBefore ? ", one brief for " + h.to() : "");
    }
  }
  return task_id;
}

std::optional<std::string> Kit::wait_alive_status(std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!candidate_->alive()) return "the candidate ended (" + candidate_->ended() + ")";
    if (auto s = status(); s && s->state() != voc::kDraining) return std::nullopt;
    std::this_thread::sleep_for(100ms);  // polling the fleet bucket
  }
  return "no heartbeat under " + agent_id_ + " in " + std::string(subjects::kFleetBucket) +
         " within " + std::to_string(limit.count()) + " s";
}

}  // namespace agency::conformance

// ---- the command ----------------------------------------------------------

namespace agency::cli {

namespace {

using json = nlohmann::json;

constexpr const char* kHelp = R"(
Runs COMMAND as an agent of role NAME on a private mesh (its own `agency up`,
with auth, on a free port; a git repository as its project) and drives it
through the protocol's cases (docs/PROTOCOL.md, "Conformance"):

  identity    a heartbeat in agency-fleet stating protocol 1
  plain       a plain-text brief is taken, handed on once, acked, with its event
  json        a JSON brief for a task record the kit made
  duplicate   the same brief delivered twice moves the task once
  replay      a brief whose attempt was handed on already changes nothing
  bad-input   undecodable briefs, an unknown field and another protocol version
              go to agency.dead.NAME; the agent goes on
  control     pause holds new briefs, resume takes them, drain ends the process
  kill        kill -9 with a brief in hand, restart: handed on once
  reconnect   the server restarts; the agent reconnects and goes on

COMMAND gets NATS_URL, NATS_NKEY (its key), AGENCY_AGENT_ID (NAME-1),
AGENCY_ROLE, AGENCY_CONFIG and AGENCY_STATE_DIR, as under `agency up`. Its
stage sits between conformance-before and conformance-after. A built-in role
runs on the scripted engine (no model). Exit 0 when every case passed, 1 when
one failed, 2 for a usage error.

Examples:
  agency conformance --role builder -- agency-builder
  agency conformance --role linter --stage lint -- node examples/linter-role/linter.js --repo REPO
  agency conformance --role reviewer --cases plain,kill --json -- agency-reviewer
)";

struct CommandOptions {
  conformance::Options kit;
  std::string cases;
  int timeout = 60;
};

void run_conformance(const GlobalOptions& global, CommandOptions& o) {
  namespace cf = conformance;
  if (o.kit.command.empty()) {
    report(make_error(errc::config,
                      "give the role's command after --: agency conformance --role "
                      "NAME -- COMMAND [ARGS...]"));
    throw CLI::RuntimeError(kExitUsage);
  }
  o.kit.timeout = std::chrono::seconds(o.timeout);
  std::vector<std::string> cases;
  std::istringstream listed(o.cases);
  for (std::string c; std::getline(listed, c, ',');) {
    const std::string name = text::trim(c);
    if (name.empty()) continue;
    if (std::find(std::begin(cf::kCases), std::end(cf::kCases), name) == std::end(cf::kCases)) {
      std::string known;
      for (auto k : cf::kCases) known += (known.empty() ? "" : ", ") + std::string(k);
      report(make_error(errc::config, "no case '" + name + "'; the cases are " + known));
      throw CLI::RuntimeError(kExitUsage);
    }
    cases.push_back(name);
  }
  if (cases.empty()) cases.assign(std::begin(cf::kCases), std::end(cf::kCases));

  cf::Kit kit(o.kit);
  auto ready = kit.setup();
  if (!ready) {
    report(ready.error());
    throw CLI::RuntimeError(ready.error().code == errc::config ? kExitUsage : kExitFailed);
  }
  if (!global.json) {
    std::cout << "conformance of role " << o.kit.role << " (stage "
              << (kit.stage().empty() ? "none: a lateral role" : kit.stage()) << "), agent "
              << kit.agent_id() << ", in " << kit.dir().string() << "\n";
  }
  std::vector<cf::CaseResult> results;
  for (const auto& name : cases) {
    auto r = kit.run_case(name);
    if (!global.json) {
      std::cout << "  " << (r.passed ? "passed" : "FAILED") << "  " << r.name
                << std::string(r.name.size() < 10 ? 10 - r.name.size() : 1, ' ') << std::fixed
                << std::setprecision(1) << r.seconds << " s  " << text::terminal_safe(r.detail)
                << "\n"
                << std::flush;
    }
    results.push_back(std::move(r));
  }
  const auto failed = std::count_if(results.begin(), results.end(),
                                    [](const cf::CaseResult& r) { return !r.passed; });
  if (global.json) {
    json out = {{"role", o.kit.role},        {"stage", kit.stage()},  {"agent_id", kit.agent_id()},
                {"dir", kit.dir().string()}, {"passed", failed == 0}, {"cases", json::array()}};
    for (const auto& r : results) {
      out["cases"].push_back(
          {{"case", r.name}, {"passed", r.passed}, {"detail", r.detail}, {"seconds", r.seconds}});
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << results.size() - static_cast<std::size_t>(failed) << " passed, " << failed
              << " failed; the mesh's state and logs (candidate.log, up.log) are in "
              << kit.dir().string() << "\n";
  }
  if (failed > 0) throw CLI::RuntimeError(kExitFailed);
}

}  // namespace

void add_conformance_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<CommandOptions>();
  auto* cmd = app.add_subcommand(
      "conformance",
      "Check that a role binary, in any language, speaks agency's protocol (docs/PROTOCOL.md)");
  cmd->footer(kHelp);
  cmd->add_option("--role", opts->kit.role, "the role the binary is an agent of")
      ->required()
      ->type_name("NAME");
  cmd->add_option("--stage", opts->kit.stage,
                  "its stage (default: a built-in role's own, else the role's name)")
      ->type_name("STAGE");
  cmd->add_option("--with-config", opts->kit.with_config,
                  "more agency.yaml sections for the kit's file (the role's own settings)")
      ->type_name("FILE");
  cmd->add_option("--cases", opts->cases, "only these cases, comma-separated (default: all)")
      ->type_name("LIST");
  cmd->add_option("--dir", opts->kit.dir,
                  "where the mesh, repository and logs go (default: a new folder in the temp dir)")
      ->type_name("DIR");
  cmd->add_option("--timeout-seconds", opts->timeout,
                  "the longest a case waits for the candidate (default 60)")
      ->type_name("N")
      ->check(CLI::Range(5, 3600));
  cmd->add_option("command", opts->kit.command, "the role binary and its arguments, after --")
      ->type_name("COMMAND");
  cmd->add_flag("--json", global.json, "print the results as JSON");
  cmd->callback([&global, opts] { run_conformance(global, *opts); });
}

}  // namespace agency::cli
