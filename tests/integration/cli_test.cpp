// The `agency` command as a user runs it, against a real nats-server.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agents/inbox.hpp"
#include "bus/provision.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/run.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// The CLI with a clean NATS environment, so the developer's own settings
// never leak into a test.
test::RunResult agency_cli(std::vector<std::string> args, const std::string& url,
                           const test::TempDir& dir) {
  std::vector<std::string> argv{test::agency_binary()};
  if (!url.empty()) {
    argv.push_back("--nats");
    argv.push_back(url);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run(argv, {{"NATS_URL", ""},
                          {"NATS_CONTEXT", ""},
                          {"AGENCY_CONFIG", ""},
                          {"XDG_CONFIG_HOME", dir.path().string()}});
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST_CASE("cli: init provisions, and running it twice changes nothing") {
  test::NatsServer server;
  test::TempDir dir;
  auto first = agency_cli({"init", "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  auto r1 = json::parse(first.out);
  CHECK(r1["created"].size() > 0);
  auto second = agency_cli({"init", "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(second.exit_code == 0, second.err);
  auto r2 = json::parse(second.out);
  CHECK(r2["created"].empty());
  CHECK(r2["updated"].empty());
  CHECK(r2["unchanged"].size() == r1["created"].size());
  auto human = agency_cli({"init"}, server.url(), dir);
  CHECK(human.out.find("0 created, 0 updated") != std::string::npos);
}

TEST_CASE("cli: brief puts a Brief in the stream and prints the task id") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  auto sent = agency_cli({"brief", "planner", "Add rate limiting to the API"}, server.url(), dir);
  REQUIRE_MESSAGE(sent.exit_code == 0, sent.err);
  std::string task_id = trim(sent.out);
  CHECK(task_id.rfind("t-", 0) == 0);

  auto c = server.connect();
  auto inbox = BriefInbox::open(*c, "planner", "planner-test");
  REQUIRE(inbox.ok());
  auto got = inbox->next(5000ms);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->brief.objective() == "Add rate limiting to the API");
  CHECK((*got)->brief.task_id() == task_id);
  CHECK((*got)->brief.stage() == "ready-for-prep");
  CHECK((*got)->brief.origin() == "agency-cli");
  CHECK((*got)->message.header("Agency-Type") == std::optional<std::string>("agency.v1.Brief"));
  CHECK((*got)->message.header("Nats-Msg-Id") ==
        std::optional<std::string>(task_id + ":ready-for-prep:1"));

  auto shown = agency_cli({"task", "show", task_id, "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(shown.exit_code == 0, shown.err);
  auto task = json::parse(shown.out);
  CHECK(task["id"] == task_id);
  CHECK(task["stage"] == "ready-for-prep");
  CHECK(task["title"] == "Add rate limiting to the API");
  REQUIRE(task["events"].size() == 1);
  CHECK(task["events"][0]["kind"] == "created");

  auto listed =
      agency_cli({"task", "list", "--stage", "ready-for-prep", "--json"}, server.url(), dir);
  REQUIRE(listed.exit_code == 0);
  auto tasks = json::parse(listed.out);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0]["id"] == task_id);
  auto none = agency_cli({"task", "list", "--stage", "done", "--json"}, server.url(), dir);
  CHECK(json::parse(none.out).empty());
}

TEST_CASE("cli: brief from --json and --file, and bad input is refused with a reason") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  auto from_json = agency_cli({"brief", "builder", "--json",
                               R"({"objective":"Fix it","doneWhen":"tests pass"})", "--print-json"},
                              server.url(), dir);
  REQUIRE_MESSAGE(from_json.exit_code == 0, from_json.err);
  auto out = json::parse(from_json.out);
  CHECK(out["stage"] == "ready-for-dev");
  CHECK(out["duplicate"] == false);

  auto bad_json =
      agency_cli({"brief", "builder", "--json", R"({"objective": 5})"}, server.url(), dir);
  CHECK(bad_json.exit_code != 0);
  CHECK(bad_json.err.find("objective") != std::string::npos);

  auto missing_file =
      agency_cli({"brief", "builder", "--file", "/nonexistent/brief.md"}, server.url(), dir);
  CHECK(missing_file.exit_code != 0);
  CHECK(missing_file.err.find("/nonexistent/brief.md") != std::string::npos);

  auto two = agency_cli({"brief", "builder", "text", "--json", "{}"}, server.url(), dir);
  CHECK(two.exit_code == 2);
  CHECK(two.err.find("exactly one") != std::string::npos);

  auto bad_role = agency_cli({"brief", "plan.ner", "x"}, server.url(), dir);
  CHECK(bad_role.exit_code == 2);
  CHECK(bad_role.err.find("not a role name") != std::string::npos);
}

TEST_CASE("cli: with no server it says which URL it tried and how to start one") {
  test::TempDir dir;
  auto port = find_free_port();
  REQUIRE(port.ok());
  std::string url = "nats://127.0.0.1:" + std::to_string(*port);
  auto r = agency_cli({"brief", "planner", "hello"}, url, dir);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find(url) != std::string::npos);
  CHECK(r.err.find("agency up") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("cli: a command that connects refuses an agency.yaml that `agency up` would refuse") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "api");
  const auto config = dir.path() / "agency.yaml";
  std::ofstream(config) << "projects:\n  - name: api\n    repo: api\n";
  // No --nats: the CLI reads agency.yaml to find the server of `agency up`.
  auto r = agency_cli({"--config", config.string(), "status"}, "", dir);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(config.string() + ":3: projects[0].repo: ") != std::string::npos);
  CHECK(r.err.find("is not a git repository") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("cli: dead shows what could not be processed, with the reason") {
  test::NatsServer server;
  test::TempDir dir;
  auto c = server.connect();
  REQUIRE(provision(*c, ProvisionPlan{}).ok());
  const char* bad = "\xc3\x28 not utf-8";
  REQUIRE(natsConnection_PublishString(c->raw(), "agency.brief.planner", bad) == NATS_OK);
  REQUIRE(natsConnection_Flush(c->raw()) == NATS_OK);
  auto inbox = BriefInbox::open(*c, "planner", "planner-1");
  REQUIRE(inbox.ok());
  auto none = inbox->next(1000ms);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  REQUIRE(inbox->dead_lettered() == 1);

  auto dead = agency_cli({"dead", "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(dead.exit_code == 0, dead.err);
  auto letters = json::parse(dead.out);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0]["originalSubject"] == "agency.brief.planner");
  CHECK(letters[0]["reason"].get<std::string>().find("UTF-8") != std::string::npos);
  auto human = agency_cli({"dead"}, server.url(), dir);
  CHECK(human.out.find("agency.brief.planner") != std::string::npos);
}

TEST_CASE("cli: status lists queued briefs per role") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  REQUIRE(agency_cli({"brief", "scout", "look around"}, server.url(), dir).exit_code == 0);
  REQUIRE(agency_cli({"brief", "scout", "look again"}, server.url(), dir).exit_code == 0);
  auto status = agency_cli({"status", "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(status.exit_code == 0, status.err);
  auto s = json::parse(status.out);
  CHECK(s["agents"].empty());
  bool found = false;
  for (const auto& q : s["queues"]) {
    if (q["consumer"] == "briefs-scout") {
      found = true;
      CHECK(q["pending"] == 2);
    }
  }
  CHECK(found);
}

TEST_CASE("cli: watch shows a brief published by a plain client as one readable line") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  test::Child watch({test::agency_binary(), "--nats", server.url(), "watch", "agency.brief.>",
                     "--count", "1", "--timeout", "20"},
                    dir.path(), {{"NATS_URL", ""}, {"NATS_CONTEXT", ""}});
  REQUIRE_MESSAGE(watch.wait_for_output("watching", 10s), watch.err());
  auto c = server.connect();
  REQUIRE(natsConnection_PublishString(c->raw(), "agency.brief.planner",
                                       "Add rate limiting to the API") == NATS_OK);
  REQUIRE(natsConnection_Flush(c->raw()) == NATS_OK);
  REQUIRE(watch.wait(15s) == 0);
  auto out = watch.out();
  CHECK(out.find("agency.brief.planner") != std::string::npos);
  CHECK(out.find("Add rate limiting to the API") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}

TEST_CASE("cli: sim needs no server and prints the three policies as JSON, bad options exit 2") {
  test::TempDir dir;
  auto r = agency_cli({"sim", "--json", "--days", "2", "--seed", "7"}, "", dir);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto out = json::parse(r.out);
  CHECK(out.at("setup").at("days") == 2);
  CHECK(out.at("setup").at("seed") == 7);
  std::vector<std::string> policies;
  for (const auto& p : out.at("policies")) {
    policies.push_back(p.at("policy").get<std::string>());
    CHECK(p.at("human_requests").get<int>() > 0);
    CHECK(p.at("unused_total").get<std::int64_t>() > 0);
  }
  CHECK(policies == std::vector<std::string>{"greedy", "fixed", "agency"});
  CHECK(out.at("policies").at(2).at("human_denied") == 0);

  auto bad = agency_cli({"sim", "--days", "0"}, "", dir);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--days") != std::string::npos);
  CHECK(bad.out.empty());
}

}  // namespace
}  // namespace agency
