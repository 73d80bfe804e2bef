// Least privilege on a mesh `agency up` runs: every role does its whole job
// with its own key, and what docs/STREAMS.md ("Permissions") says an agent
// may not do is refused by the server. TLS with a CA `agency up` makes.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "runtime/git.hpp"
#include "tests/support/transcript_gen.hpp"
#include "tests/support/up_mesh.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using json = nlohmann::json;

// Every role that runs on its own, `count` agents each.
std::string all_roles(int count) {
  std::vector<std::pair<std::string, int>> roles;
  for (const char* role : {"planner", "builder", "adversary", "reviewer", "integrator",
                           "accountant", "dispatcher", "sweeper", "proxy", "auditor"}) {
    roles.emplace_back(role, count);
  }
  return test::roles_block(roles);
}

using test::eventually;
using test::violations;
using Mesh = test::UpMesh;

// A client of the mesh with one principal's key that counts the errors the
// server sends it (nats.c reports a refused publish or subscription as an
// asynchronous "Not Permitted").
class Client {
 public:
  Client(const std::string& url, const fs::path& creds, const std::string& inbox_prefix) {
    ConnectSettings settings;
    settings.servers = {url};
    settings.origin = "test";
    settings.nkey_seed_file = creds.string();
    ConnectOptions options;
    options.name = "auth-test";
    options.inbox_prefix = inbox_prefix;
    options.on_event = [this](std::string_view e) {
      if (e.find("Not Permitted") == std::string_view::npos) return;
      std::lock_guard lock(mu_);
      ++refusals_;
      cv_.notify_all();
    };
    auto c = Connection::open(settings, options);
    REQUIRE_MESSAGE(c.ok(), (c ? "" : c.error().describe()));
    conn_ = std::move(*c);
  }

  Connection& conn() { return *conn_; }

  // Runs `attempt`, then reports whether the server refused it: the error
  // arrives before the answer to the flush's PING, and the callback runs
  // soon after on nats.c's thread.
  bool refused(const std::function<void(Connection&)>& attempt, std::chrono::milliseconds wait) {
    int before = 0;
    {
      std::lock_guard lock(mu_);
      before = refusals_;
    }
    attempt(*conn_);
    (void)conn_->flush(5s);
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, wait, [&] { return refusals_ > before; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int refusals_ = 0;
  std::unique_ptr<Connection> conn_;
};

std::string first_task_id(const std::string& brief_out) {
  auto at = brief_out.find("t-");
  return at == std::string::npos ? std::string()
                                 : brief_out.substr(at, brief_out.find_first_of(" \n", at) - at);
}

TEST_CASE("auth: every role does its whole job with its own key, and the server refuses nobody") {
  // The accountant also reads the person's own Claude Code transcripts.
  Mesh mesh({}, all_roles(1), "    test_command: \"true\"\n",
            "accountant:\n  transcripts_every_seconds: 1\n  accounts:\n"
            "    - name: me\n      config_dir: claude\n      plan: max5\n");
  test::Generator gen;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  test::write_lines(mesh.dir.path() / "claude" / "projects" / "-work-api" / "s-1.jsonl",
                    gen.session(now_ms - 3'600'000, "s-1", 5));
  // Everyone is in: each agent's heartbeat is in the fleet bucket.
  auto status_has_all = [&] {
    auto r = mesh.cli({"status", "--json"});
    if (r.exit_code != 0) return false;
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return false;
    return r.out.find("sweeper-1") != std::string::npos &&
           r.out.find("accountant-1") != std::string::npos &&
           r.out.find("dispatcher-1") != std::string::npos &&
           r.out.find("proxy-1") != std::string::npos &&
           r.out.find("integrator-1") != std::string::npos;
  };
  REQUIRE_MESSAGE(eventually(60s, status_has_all), mesh.cli({"status"}).out << "\n"
                                                                            << mesh.up->err());

  // A brief walks every stage and lands (leases from the accountant on the way).
  auto brief = mesh.cli({"brief", "planner", "--project", "demo", "Add a greeting"});
  REQUIRE_MESSAGE(brief.exit_code == 0, brief.err);
  const std::string id = first_task_id(brief.out + brief.err);
  REQUIRE_MESSAGE(!id.empty(), brief.out);
  CHECK_MESSAGE(eventually(90s,
                           [&] {
                             auto r = mesh.cli({"task", "show", id, "--json"});
                             return r.exit_code == 0 &&
                                    r.out.find("\"stage\":\"done\"") != std::string::npos;
                           }),
                mesh.cli({"task", "show", id}).out);
  CHECK(git::run({"git", "log", "--oneline", "main"}, mesh.repo).output.find(id) !=
        std::string::npos);
  // A question reaches the knowledge proxy and its answer comes back.
  auto asked = mesh.cli({"ask", "--timeout", "20", "Which port does the API use?"});
  CHECK_MESSAGE(asked.exit_code == 0, asked.err);
  // A key made for an agent that runs elsewhere is let in at once.
  auto made = mesh.cli({"creds", "builder", "--out", (mesh.dir.path() / "b.creds").string()});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  CHECK(made.out.find("builder-r1") != std::string::npos);
  CHECK(made.out.find("lets it in") != std::string::npos);
  Client remote(mesh.url, mesh.dir.path() / "b.creds", "_INBOX.builder-r1");
  CHECK(remote.conn().connected());

  // The person's usage is in the ledger, published with the accountant's key.
  CHECK_MESSAGE(eventually(30s,
                           [&] {
                             auto r = mesh.cli({"usage", "--json"});
                             auto j = json::parse(r.out, nullptr, false);
                             if (r.exit_code != 0 || j.is_discarded()) return false;
                             std::int64_t human = 0;
                             for (const auto& d : j.value("day_totals", json::array())) {
                               human += d.at("human").value("output", std::int64_t{0});
                             }
                             return human > 0;
                           }),
                mesh.cli({"usage"}).out);

  // The auditor reads every task record and the ledger with its own key.
  auto audit = mesh.cli({"brief", "auditor", "Audit the fleet"});
  REQUIRE_MESSAGE(audit.exit_code == 0, audit.err);
  const std::string audit_id = first_task_id(audit.out + audit.err);
  REQUIRE_MESSAGE(!audit_id.empty(), audit.out);
  CHECK_MESSAGE(eventually(60s,
                           [&] {
                             auto r = mesh.cli({"task", "show", audit_id, "--json"});
                             return r.exit_code == 0 &&
                                    r.out.find("\"stage\":\"done\"") != std::string::npos;
                           }),
                mesh.cli({"task", "show", audit_id}).out);

  const auto refused = violations(mesh.server_log());
  std::string list;
  for (const auto& l : refused) list += l + "\n";
  CHECK_MESSAGE(refused.empty(), "the server refused the fleet:\n" << list);
}

TEST_CASE("auth: a builder's key cannot do another's job") {
  Mesh mesh({}, all_roles(0));
  Client builder(mesh.url, mesh.creds("builder-1"), "_INBOX.builder-1");
  Client admin(mesh.url, mesh.creds("admin"), "");
  const Outgoing bogus{"x", {}};

  // The check can tell: admin may do each of these.
  CHECK_FALSE(admin.refused(
      [](Connection& c) { (void)c.subscribe("agency.mail.reviewer-1", "", [](Incoming) {}); }, 1s));
  CHECK_FALSE(
      admin.refused([](Connection& c) { (void)c.subscribe("_INBOX.>", "", [](Incoming) {}); }, 1s));

  SUBCASE("another agent's mailbox: neither its doorbell nor its queue") {
    CHECK(builder.refused(
        [](Connection& c) { (void)c.subscribe("agency.mail.reviewer-1", "", [](Incoming) {}); },
        5s));
    CHECK(builder.refused(
        [&](Connection& c) {
          auto mail = PullConsumer::bind(c, subjects::kMailStream, "mail-builder-1-x",
                                         subjects::mail("reviewer-1"));
          (void)mail;
          auto next = c.publish("$JS.API.CONSUMER.MSG.NEXT.AGENCY_MAIL.mail-reviewer-1", bogus,
                                "_INBOX.builder-1.x");
          (void)next;
        },
        5s));
    CHECK(builder.refused(
        [&](Connection& c) {
          (void)c.publish(
              "$JS.API.CONSUMER.CREATE.AGENCY_MAIL.mail-builder-1.agency.mail.reviewer-1", bogus,
              "_INBOX.builder-1.y");
        },
        5s));
  }
  SUBCASE("everyone's replies") {
    CHECK(builder.refused([](Connection& c) { (void)c.subscribe("_INBOX.>", "", [](Incoming) {}); },
                          5s));
  }
  SUBCASE("answering a lease") {
    CHECK(builder.refused(
        [](Connection& c) { (void)c.subscribe(subjects::kBudgetLease, "", [](Incoming) {}); }, 5s));
  }
  SUBCASE("sending control or asking for agents") {
    CHECK(
        builder.refused([&](Connection& c) { (void)c.publish("agency.control.all", bogus); }, 5s));
    CHECK(builder.refused([&](Connection& c) { (void)c.publish(subjects::kUpScale, bogus); }, 5s));
  }
  SUBCASE("briefing a role its stages never hand to") {
    CHECK(builder.refused([&](Connection& c) { (void)c.publish("agency.brief.dispatcher", bogus); },
                          5s));
    CHECK(builder.refused(
        [&](Connection& c) { (void)c.publish("agency.brief.accountant.human", bogus); }, 5s));
  }
  SUBCASE("another role's deliveries, another agent's heartbeat, the streams themselves") {
    CHECK(builder.refused(
        [&](Connection& c) {
          (void)c.publish("$JS.ACK.AGENCY_BRIEFS.briefs-reviewer.1.1.1.1.1.1", bogus);
        },
        5s));
    CHECK(builder.refused(
        [&](Connection& c) { (void)c.publish("$KV.agency-fleet.reviewer-1", bogus); }, 5s));
    CHECK(builder.refused(
        [&](Connection& c) {
          (void)c.publish("$JS.API.STREAM.DELETE.AGENCY_BRIEFS", bogus, "_INBOX.builder-1.z");
        },
        5s));
    CHECK(builder.refused(
        [&](Connection& c) { (void)c.subscribe("agency.dead.>", "", [](Incoming) {}); }, 5s));
  }
  // The server's log names what it refused: what the fleet test counts.
  CHECK_FALSE(violations(mesh.server_log()).empty());
}

TEST_CASE("auth: --tls serves TLS with a CA it makes, and a client without the CA is refused") {
  Mesh mesh({"--tls"}, all_roles(0));
  REQUIRE(mesh.url.rfind("tls://127.0.0.1:", 0) == 0);
  const fs::path ca = mesh.state / "tls" / "ca.pem";
  REQUIRE(fs::exists(ca));
  // The CLI beside it finds the CA and admin's key by itself.
  auto status = mesh.cli({"status"});
  CHECK_MESSAGE(status.exit_code == 0, status.err);

  ConnectSettings with_ca;
  with_ca.servers = {mesh.url};
  with_ca.nkey_seed_file = mesh.creds("admin").string();
  with_ca.tls_ca = ca.string();
  auto ok = Connection::open(with_ca, ConnectOptions{});
  CHECK_MESSAGE(ok.ok(), (ok ? "" : ok.error().describe()));

  ConnectSettings without_ca = with_ca;
  without_ca.tls_ca.clear();
  CHECK_FALSE(Connection::open(without_ca, ConnectOptions{}).ok());
  ConnectSettings plain = without_ca;
  plain.servers = {"nats://" + mesh.url.substr(6)};
  CHECK_FALSE(Connection::open(plain, ConnectOptions{}).ok());

  // An agent on another host: `agency join --ca` gets in; without the CA it
  // is told so before any agent starts.
  const fs::path key = mesh.dir.path() / "reviewer.creds";
  auto made = mesh.cli({"creds", "reviewer", "--out", key.string()});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  const std::string elsewhere = (mesh.dir.path() / "host-b").string();
  auto refused = mesh.cli(
      {"join", mesh.url, "--creds", key.string(), "--state-dir", elsewhere, "--roles", "reviewer"});
  CHECK(refused.exit_code != 0);
  CHECK_FALSE(fs::exists(mesh.dir.path() / "host-b" / "logs"));
  test::Child join({test::agency_binary(), "join", mesh.url, "--creds", key.string(), "--ca",
                    ca.string(), "--state-dir", elsewhere},
                   mesh.dir.path(), mesh.env());
  REQUIRE_MESSAGE(join.wait_for_output("running; Ctrl-C", 60s), join.err());
  CHECK(eventually(
      30s, [&] { return mesh.cli({"status"}).out.find("reviewer-r1") != std::string::npos; }));
  join.signal(SIGTERM);
  CHECK(join.wait(40s) == 0);
}

TEST_CASE("auth: every NKey connection gets in, whatever the server's nonce") {
  // nats.c 3.4.1 sends no signature for one nonce in 256 (a signature
  // starting with a zero byte); Connection::open connects again then.
  // 1500 connections: without that, all would get in one time in 300.
  Mesh mesh({"--no-fleet"}, all_roles(0));
  ConnectSettings settings;
  settings.servers = {mesh.url};
  settings.nkey_seed_file = mesh.creds("admin").string();
  int refused = 0;
  std::string last;
  for (int i = 0; i < 1500; ++i) {
    auto c = Connection::open(settings, ConnectOptions{});
    if (!c) {
      ++refused;
      last = c.error().message;
    }
  }
  CHECK_MESSAGE(refused == 0, refused << " refused, the last: " << last);
}

}  // namespace
}  // namespace agency
