// `agency ask` and `agency mail` as a person or an engine runs them, against a
// real nats-server, with the test itself playing the role that answers.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agency/v1/ask.pb.h"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "runtime/mesh.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/run.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// The environment of a child: no NATS or agent settings of the developer's,
// plus `extra` (an engine's AGENCY_* variables).
std::map<std::string, std::string> clean_env(const test::TempDir& dir,
                                             const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env{{"NATS_URL", ""},
                                         {"NATS_CONTEXT", ""},
                                         {"AGENCY_CONFIG", ""},
                                         {"AGENCY_AGENT_ID", ""},
                                         {"AGENCY_ROLE", ""},
                                         {"AGENCY_TASK_ID", ""},
                                         {"XDG_CONFIG_HOME", dir.path().string()}};
  for (const auto& [k, v] : extra) env[k] = v;
  return env;
}

std::vector<std::string> argv_for(const std::string& url, const std::vector<std::string>& args) {
  std::vector<std::string> argv{test::agency_binary(), "--nats", url};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

test::RunResult agency_cli(const std::vector<std::string>& args, const std::string& url,
                           const test::TempDir& dir,
                           const std::map<std::string, std::string>& extra = {}) {
  return test::run(argv_for(url, args), clean_env(dir, extra));
}

// Questions that reached the test's responder, with where to answer them.
struct Asked {
  v1::Question question;
  std::string reply_to;
};

class Questions {
 public:
  void push(Asked a) {
    std::lock_guard lock(mu_);
    items_.push_back(std::move(a));
    cv_.notify_all();
  }
  std::optional<Asked> next(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !items_.empty(); })) return std::nullopt;
    Asked a = std::move(items_.front());
    items_.pop_front();
    return a;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Asked> items_;
};

// Listens on agency.ask.<role> in the role's queue group, as an agent does.
// With `answer` it replies at once from the callback; without, the test
// replies when it is ready.
Subscription serve_role(Connection& c, const std::string& role,
                        const std::shared_ptr<Questions>& questions,
                        std::optional<v1::Answer> answer) {
  auto sub = c.subscribe(subjects::ask(role), role, [&c, questions, answer](Incoming m) {
    auto q = codec::decode<v1::Question>(m.data(), m.headers());
    if (!q) return;  // the test then times out waiting: a failure
    std::string reply(m.reply());
    if (answer) {
      v1::Answer a = *answer;
      a.set_question_id(q->id());
      (void)c.publish(reply, codec::encode(a));
    }
    questions->push(Asked{std::move(*q), std::move(reply)});
  });
  REQUIRE(sub.ok());
  REQUIRE(c.flush(5s).ok());
  return std::move(*sub);
}

v1::Answer sample_answer(const std::string& by) {
  v1::Answer a;
  a.set_text("The API listens on port 8080.");
  a.set_confidence(0.82);
  a.set_answered_by(by);
  auto* s1 = a.add_sources();
  s1->set_ref("docs/api.md");
  s1->set_excerpt("PORT defaults to 8080\nand the second line stays out");
  a.add_sources()->set_ref("t-17");
  return a;
}

TEST_CASE("cli: ask prints the answer, its confidence and sources, and --json parses") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  auto c = server.connect();
  auto questions = std::make_shared<Questions>();
  auto sub = serve_role(*c, "planner", questions, sample_answer("planner-host-1"));

  auto asked = agency_cli({"ask", "--role", "planner", "--task", "t-42", "--context",
                           "we ship on Friday", "What", "port", "does", "the", "API", "use?"},
                          server.url(), dir);
  REQUIRE_MESSAGE(asked.exit_code == 0, asked.err);
  CHECK(asked.out.find("The API listens on port 8080.") == 0);
  CHECK(asked.out.find("confidence 0.82 \xC2\xB7 answered by planner-host-1") != std::string::npos);
  CHECK(asked.out.find("Sources:\n  docs/api.md \xE2\x80\x94 PORT defaults to 8080\n  t-17\n") !=
        std::string::npos);
  CHECK(asked.out.find("second line") == std::string::npos);

  auto got = questions->next(5s);
  REQUIRE(got.has_value());
  CHECK(got->question.text() == "What port does the API use?");
  CHECK(got->question.role() == "planner");
  CHECK(got->question.task_id() == "t-42");
  CHECK(got->question.context() == "we ship on Friday");
  CHECK(got->question.from_agent().empty());  // a person asked
  CHECK(got->question.id().rfind("q-", 0) == 0);

  auto as_json =
      agency_cli({"ask", "--role", "planner", "--json", "Which port?"}, server.url(), dir);
  REQUIRE_MESSAGE(as_json.exit_code == 0, as_json.err);
  auto answer = json::parse(as_json.out);
  CHECK(answer["text"] == "The API listens on port 8080.");
  CHECK(answer["confidence"].get<double>() == doctest::Approx(0.82));
  CHECK(answer["answeredBy"] == "planner-host-1");
  REQUIRE(answer["sources"].size() == 2);
  CHECK(answer["sources"][0]["ref"] == "docs/api.md");
  auto second = questions->next(5s);
  REQUIRE(second.has_value());
  CHECK(answer["questionId"] == second->question.id());
  // Without --role the knowledge proxy is asked: nobody serves it here.
  auto proxy = agency_cli({"ask", "--timeout", "5", "Which port?"}, server.url(), dir);
  CHECK(proxy.exit_code == 1);
  CHECK(proxy.err.find("no agent of role proxy is running") != std::string::npos);
}

TEST_CASE("cli: ask inside an engine asks as the agent and is on record while it waits") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  auto c = server.connect();
  auto questions = std::make_shared<Questions>();
  auto sub = serve_role(*c, "planner", questions, std::nullopt);

  test::Child child(argv_for(server.url(), {"ask", "--role", "planner", "Per user or per key?"}),
                    dir.path(),
                    clean_env(dir, {{"AGENCY_AGENT_ID", "builder-7"},
                                    {"AGENCY_ROLE", "builder"},
                                    {"AGENCY_TASK_ID", "t-9"}}));
  auto got = questions->next(10s);
  REQUIRE_MESSAGE(got.has_value(), child.err());
  CHECK(got->question.from_agent() == "builder-7");
  CHECK(got->question.from_role() == "builder");
  CHECK(got->question.task_id() == "t-9");
  CHECK(got->question.text() == "Per user or per key?");

  // While the asker waits, the sweeper can find its question.
  auto memory = KeyValue::open(*c, subjects::kMemoryBucket);
  REQUIRE(memory.ok());
  const std::string key = waiting_question_key("builder-7", got->question.id());
  auto waiting = memory->get(key);
  REQUIRE_MESSAGE(waiting.ok(), key);
  auto recorded = codec::decode<v1::Question>(waiting->value);
  REQUIRE(recorded.ok());
  CHECK(recorded->text() == "Per user or per key?");
  CHECK(recorded->role() == "planner");
  CHECK(recorded->reply_to() == got->reply_to);

  v1::Answer a;
  a.set_question_id(got->question.id());
  a.set_text("Per key.");
  a.set_confidence(0.9);
  a.set_answered_by("planner-1");
  REQUIRE(c->publish(got->reply_to, codec::encode(a)).ok());
  REQUIRE_MESSAGE(child.wait(10s) == 0, child.err());
  CHECK(child.out().find("Per key.") == 0);
  // Answered: no longer waiting.
  auto after = memory->get(key);
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().code == errc::not_found);
}

TEST_CASE("cli: ask says when no agent of the role runs, when none answers, and bad roles") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);

  auto none =
      agency_cli({"ask", "--role", "planner", "--timeout", "10", "Anyone?"}, server.url(), dir);
  CHECK(none.exit_code == 1);
  CHECK(none.err.find("no agent of role planner is running: start one (agency up, or "
                      "agency-planner)") != std::string::npos);
  CHECK(none.out.empty());

  // A planner that hears the question but never answers.
  auto c = server.connect();
  auto questions = std::make_shared<Questions>();
  auto sub = serve_role(*c, "planner", questions, std::nullopt);
  const auto start = std::chrono::steady_clock::now();
  auto silent =
      agency_cli({"ask", "--role", "planner", "--timeout", "0.5", "Anyone?"}, server.url(), dir);
  CHECK(std::chrono::steady_clock::now() - start < 20s);
  CHECK(silent.exit_code == 1);
  CHECK(silent.err.find("no answer from planner within 0.5 s") != std::string::npos);
  CHECK(questions->next(5s).has_value());

  auto bad = agency_cli({"ask", "--role", "plan.ner", "x"}, server.url(), dir);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("not a role name") != std::string::npos);
}

// The mail waiting for `agent`, read as the agent's own consumer reads it.
std::vector<Incoming> mail_for(Connection& c, const std::string& agent, std::size_t expected) {
  REQUIRE(ensure_mail_consumer(c, agent).ok());
  auto consumer = PullConsumer::bind(c, subjects::kMailStream, subjects::mail_consumer(agent),
                                     subjects::mail(agent));
  REQUIRE(consumer.ok());
  std::vector<Incoming> out;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
    auto batch = consumer->fetch(static_cast<int>(expected - out.size()), 1s);
    REQUIRE(batch.ok());
    for (auto& m : *batch) out.push_back(std::move(m));
  }
  return out;
}

TEST_CASE("cli: mail stores a Mail for the agent, from a person or from an engine") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);

  auto sent = agency_cli({"mail", "builder-3", "The", "API", "moved", "to", "8081", "--subject",
                          "port change", "--task", "t-5"},
                         server.url(), dir, {{"USER", "alice"}});
  REQUIRE_MESSAGE(sent.exit_code == 0, sent.err);
  CHECK(sent.out.find("stored for builder-3; it is delivered between its engine turns (it waits "
                      "while builder-3 is down)") != std::string::npos);

  auto from_engine =
      agency_cli({"mail", "builder-3", "--json", "tests fail on main"}, server.url(), dir,
                 {{"AGENCY_AGENT_ID", "adversary-1"}, {"AGENCY_TASK_ID", "t-6"}});
  REQUIRE_MESSAGE(from_engine.exit_code == 0, from_engine.err);
  auto ack = json::parse(from_engine.out);
  CHECK(ack["to"] == "builder-3");
  CHECK(ack["stream"] == "AGENCY_MAIL");
  CHECK(ack["sequence"] == 2);

  auto c = server.connect();
  auto mail = mail_for(*c, "builder-3", 2);
  REQUIRE(mail.size() == 2);
  CHECK(mail[0].subject() == "agency.mail.builder-3");
  auto first = codec::decode<v1::Mail>(mail[0].data(), mail[0].headers());
  REQUIRE(first.ok());
  CHECK(first->id().rfind("m-", 0) == 0);
  CHECK(sent.out.find("mail " + first->id() + " stored") == 0);
  CHECK(mail[0].header("Nats-Msg-Id") == std::optional<std::string>(first->id()));
  CHECK(mail[0].header("Agency-Type") == std::optional<std::string>("agency.v1.Mail"));
  CHECK(first->from() == "alice");
  CHECK(first->to() == "builder-3");
  CHECK(first->subject() == "port change");
  CHECK(first->body() == "The API moved to 8081");
  CHECK(first->task_id() == "t-5");
  CHECK(first->sent_at().seconds() > 0);

  auto second = codec::decode<v1::Mail>(mail[1].data(), mail[1].headers());
  REQUIRE(second.ok());
  CHECK(second->id() == ack["id"].get<std::string>());
  CHECK(second->from() == "adversary-1");
  CHECK(second->task_id() == "t-6");
  CHECK(second->body() == "tests fail on main");
}

TEST_CASE("cli: mail refuses a bad agent id and says when the streams are missing") {
  test::NatsServer server;
  test::TempDir dir;
  auto bad = agency_cli({"mail", "builder.3", "hello"}, server.url(), dir);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("'builder.3' is not an agent id") != std::string::npos);
  auto wild = agency_cli({"mail", "builder-*", "hello"}, server.url(), dir);
  CHECK(wild.exit_code == 2);

  // Nothing provisioned yet: nowhere to store it.
  auto unprovisioned = agency_cli({"mail", "builder-3", "hello"}, server.url(), dir);
  CHECK(unprovisioned.exit_code == 1);
  CHECK(unprovisioned.err.find("agency init") != std::string::npos);
}

}  // namespace
}  // namespace agency
