// The permission table (runtime/permissions.hpp): who may brief whom, and
// the grants that keep one agent from another's work.
#include "runtime/permissions.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace permissions = agency::permissions;

namespace {

const std::vector<std::string> kRoles = {"planner",    "builder",    "adversary",  "reviewer",
                                         "integrator", "accountant", "dispatcher", "sweeper",
                                         "scout",      "proxy",      "linter"};

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

permissions::Grants agent(const std::string& id, const std::string& role) {
  return permissions::grants_for({permissions::Kind::agent, id, role}, kRoles);
}

}  // namespace

TEST_CASE("permissions: a pipeline role briefs the next stage, earlier stages and itself") {
  using V = std::vector<std::string>;
  CHECK(permissions::hands_to("planner", kRoles) == V{"planner", "builder"});
  CHECK(permissions::hands_to("builder", kRoles) == V{"planner", "builder", "adversary"});
  // Past review comes the landing stage.
  CHECK(permissions::hands_to("reviewer", kRoles) ==
        V{"planner", "builder", "adversary", "reviewer", "integrator"});
  CHECK(permissions::hands_to("integrator", kRoles) ==
        V{"planner", "builder", "adversary", "reviewer", "integrator"});
  CHECK(permissions::hands_to("scout", kRoles) == V{"scout", "planner"});
  CHECK(permissions::hands_to("accountant", kRoles) == V{"accountant"});
  CHECK(permissions::hands_to("proxy", kRoles) == V{"proxy"});
  // A brief it defers goes back to its own queue.
  CHECK(permissions::hands_to("synthesizer", kRoles) == V{"synthesizer"});
  // The dispatcher (schedules) and the sweeper (re-briefs) reach every role;
  // a role of the user's own that the table does not know, too.
  for (const char* r : {"dispatcher", "sweeper", "linter"}) {
    auto to = permissions::hands_to(r, kRoles);
    for (const auto& role : kRoles) CHECK_MESSAGE(has(to, role), r << " -> " << role);
  }
}

TEST_CASE("permissions: an agent's grants name its own queues, mailbox, heartbeat and inbox") {
  const auto g = agent("builder-2", "builder");
  CHECK(g.responses);
  CHECK(has(g.publish, "$JS.API.CONSUMER.MSG.NEXT.AGENCY_BRIEFS.briefs-builder"));
  CHECK(has(g.publish, "$JS.API.CONSUMER.MSG.NEXT.AGENCY_BRIEFS.briefs-builder@human"));
  CHECK(has(g.publish, "$JS.API.CONSUMER.CREATE.AGENCY_MAIL.mail-builder-2.agency.mail.builder-2"));
  CHECK(has(g.publish, "$JS.API.CONSUMER.MSG.NEXT.AGENCY_MAIL.mail-builder-2"));
  CHECK(has(g.publish, "$KV.agency-fleet.builder-2"));
  CHECK(has(g.subscribe, "_INBOX.builder-2.>"));
  CHECK(has(g.publish, "agency.brief.adversary"));
  CHECK(has(g.publish, "agency.brief.adversary.*"));
  CHECK(has(g.publish, "agency.usage.*.builder"));
  // The limit readings its engine saw (runtime_turn.cpp publishes them on
  // agency.usage.limits.<engine>).
  CHECK(has(g.publish, "agency.usage.limits.*"));
  // ... and nothing of another's.
  for (const auto& s : g.publish) {
    CHECK_MESSAGE(s.find("mail-builder-1") == std::string::npos, s);
    CHECK_MESSAGE(s.find("briefs-reviewer") == std::string::npos, s);
    CHECK_MESSAGE(s.find("AGENCY_DEAD") == std::string::npos, s);
    CHECK_MESSAGE(s.find("STREAM.DELETE") == std::string::npos, s);
    CHECK_MESSAGE(s.rfind("agency.control", 0) != 0, s);
    const bool broad = s == "_INBOX.>" || s == ">" || s == "$JS.API.>";
    CHECK_MESSAGE(!broad, s);
  }
  CHECK_FALSE(has(g.publish, "agency.brief.reviewer"));
  CHECK_FALSE(has(g.publish, "agency.up.scale"));
  CHECK_FALSE(has(g.publish, "$KV.agency-fleet.>"));
  CHECK_FALSE(has(g.subscribe, "agency.budget.>"));
  CHECK_FALSE(has(g.subscribe, "_INBOX.>"));
  CHECK_FALSE(has(g.subscribe, "agency.mail.builder-1"));
}

TEST_CASE("permissions: only the accountant answers budget, only the sweeper sends control") {
  CHECK(has(agent("accountant-1", "accountant").subscribe, "agency.budget.>"));
  CHECK(has(agent("accountant-1", "accountant").publish, "agency.usage.limits.*"));
  CHECK(has(agent("accountant-1", "accountant").publish, "agency.usage.*.human"));
  CHECK(has(agent("accountant-1", "accountant").publish, "agency.usage.samples.*"));
  CHECK_FALSE(has(agent("builder-1", "builder").publish, "agency.usage.samples.*"));
  // The auditor reads the ledger and adds only what its own engine spent
  // and saw, as every agent does.
  CHECK(has(agent("auditor-1", "auditor").publish, "agency.event.audit"));
  CHECK_FALSE(has(agent("auditor-1", "auditor").publish, "agency.usage.samples.*"));
  CHECK_FALSE(has(agent("auditor-1", "auditor").publish, "agency.usage.*.human"));
  CHECK_FALSE(has(agent("builder-1", "builder").publish, "agency.usage.*.human"));
  CHECK(has(agent("sweeper-1", "sweeper").publish, "agency.control.*"));
  CHECK(has(agent("sweeper-1", "sweeper").publish, "$JS.ACK.AGENCY_BRIEFS.>"));
  CHECK(has(agent("dispatcher-1", "dispatcher").publish, "agency.up.scale"));
  CHECK(has(agent("dispatcher-1", "dispatcher").publish, "agency.event.dispatch"));
  CHECK_FALSE(has(agent("dispatcher-1", "dispatcher").publish, "agency.event.sweep"));
  for (const char* role : {"planner", "builder", "dispatcher", "proxy", "linter"}) {
    const auto g = agent(std::string(role) + "-1", role);
    CHECK_MESSAGE(!has(g.subscribe, "agency.budget.>"), role);
    CHECK_MESSAGE(!has(g.publish, "agency.control.*"), role);
  }
  const auto sup =
      permissions::grants_for({permissions::Kind::supervisor, "supervisor", ""}, kRoles);
  CHECK(has(sup.subscribe, "agency.up.scale"));
  CHECK(has(sup.publish, "agency.control.*"));
  CHECK_FALSE(has(sup.subscribe, "agency.budget.>"));
  const auto admin = permissions::grants_for({permissions::Kind::admin, "admin", ""}, kRoles);
  CHECK(admin.publish == std::vector<std::string>{">"});
}

TEST_CASE("permissions: a name stands for admin, supervisor or an agent of the longest role") {
  const std::vector<std::string> roles = {"my", "my-role", "builder"};
  CHECK(permissions::principal_named("admin", roles).kind == permissions::Kind::admin);
  CHECK(permissions::principal_named("supervisor", roles).kind == permissions::Kind::supervisor);
  CHECK(permissions::principal_named("builder-7", roles).role == "builder");
  CHECK(permissions::principal_named("my-role-3", roles).role == "my-role");
  CHECK(permissions::principal_named("my-3", roles).role == "my");
  CHECK(permissions::principal_named("nobody-1", roles).role.empty());
  CHECK(permissions::principal_named("builder", roles).role.empty());  // a role, no agent
}

TEST_CASE("permissions: the server's authorization block lists each user with its grants") {
  const std::string text =
      permissions::server_config({{{permissions::Kind::admin, "admin", ""}, "UADMIN"},
                                  {{permissions::Kind::agent, "builder-1", "builder"}, "UBUILDER"}},
                                 kRoles);
  CHECK(text.find("authorization {") != std::string::npos);
  CHECK(text.find("# builder-1 (role builder)") != std::string::npos);
  CHECK(text.find("{nkey: \"UBUILDER\", permissions: {publish: {allow: [") != std::string::npos);
  CHECK(text.find("\"_INBOX.builder-1.>\"") != std::string::npos);
  // Admin may do anything, and answers without allow_responses.
  const auto admin_at = text.find("\"UADMIN\"");
  REQUIRE(admin_at != std::string::npos);
  const auto admin_line = text.substr(admin_at, text.find('\n', admin_at) - admin_at);
  CHECK(admin_line.find("allow: [\">\"]") != std::string::npos);
  CHECK(admin_line.find("allow_responses") == std::string::npos);
}
