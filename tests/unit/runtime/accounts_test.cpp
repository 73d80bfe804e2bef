// Accounts in agency.yaml (runtime/config_accounts.hpp) and on the agent's
// side (runtime/accounts.hpp): the forms an account and a role's engines
// are written in, each error with its line, the defaults per plan, the
// identity each provider's engine runs with, the agent's own pick when an
// account refused it, and the hand-over prompt.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "roles/accountant/settings.hpp"
#include "runtime/accounts.hpp"
#include "runtime/config.hpp"
#include "runtime/config_accounts.hpp"

namespace {

namespace config = agency::config;
using namespace std::chrono_literals;

config::Config parsed(const std::string& yaml) {
  auto c = config::parse(yaml, "/srv/proj/agency.yaml");
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  return *c;
}

std::string error_of(const std::string& yaml) {
  auto c = config::parse(yaml, "agency.yaml");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == agency::errc::config);
  return c.error().message;
}

const char* kThree = R"(accountant:
  accounts:
    - name: max-1
      plan: max20
      config_dir: ~/.claude-max-1
    - name: pro-2
      provider: claude
      plan: pro
      config_dir: /home/me/.claude-pro-2
      concurrency: 1
    - name: plus
      provider: codex
      plan: plus
      config_dir: /home/me/.codex-plus
    - name: team
      provider: openai
      key_env: TEAM_OPENAI_KEY
      budget_usd_per_day: 20
roles:
  builder:
    model: claude-sonnet-4-5
    engines:
      - claude/max-1
      - claude/pro-2
      - {account: codex/plus, model: gpt-5-codex, cli: ./bin/codex}
  reviewer:
    engine: claude
    engines: [claude/pro-2]
)";

TEST_CASE("accounts: providers, plans, caps and a role's engines in order") {
  auto c = parsed(kThree);
  REQUIRE(c.accounts.size() == 4);
  CHECK(c.accounts[0].id() == "claude/max-1");
  CHECK(c.accounts[0].concurrency == 10);  // max20's default
  CHECK(c.accounts[1].concurrency == 1);   // as given
  CHECK(c.accounts[2].id() == "codex/plus");
  CHECK(c.accounts[2].concurrency == 5);
  CHECK(c.accounts[3].concurrency == 0);  // an API account: the provider's limits
  CHECK(c.accounts[3].budget_usd_per_day == 20);
  // The accountant's section holds the same accounts.
  CHECK(config::accountant(c).accounts.size() == 4);

  const auto* builder = c.role("builder");
  REQUIRE(builder != nullptr);
  REQUIRE(builder->engines.size() == 3);
  CHECK(builder->engine == "claude");  // the first one's provider
  CHECK(builder->engines[2].account == "codex/plus");
  CHECK(builder->engines[2].provider == "codex");
  CHECK(builder->engines[2].model == "gpt-5-codex");
  CHECK(builder->engines[2].cli == "/srv/proj/bin/codex");
  CHECK(c.account("codex/plus") == &c.accounts[2]);
  CHECK(c.account("plus") == &c.accounts[2]);
  CHECK(c.account("claude/plus") == nullptr);
}

TEST_CASE("accounts: each invalid account or engine list is refused with its line") {
  const std::string head = "accountant:\n  accounts:\n    - {name: max-1, plan: max5}\n";
  CHECK(error_of(head + "roles:\n  builder:\n    engines: [claude/max-2]\n") ==
        "agency.yaml:6: roles.builder.engines[0]: no account claude/max-2 in "
        "accountant.accounts (the accounts are claude/max-1)");
  CHECK(error_of(head + "roles:\n  builder:\n    engines: [codex/max-1]\n") ==
        "agency.yaml:6: roles.builder.engines[0]: the account max-1 is a claude account, not "
        "codex: name it claude/max-1");
  CHECK(error_of(head + "roles:\n  builder:\n    engines: [max-1]\n") ==
        "agency.yaml:6: roles.builder.engines[0]: must name an account as provider/name "
        "(claude/max-1), got max-1");
  CHECK(error_of(head + "roles:\n  builder:\n    engines: [copilot/max-1]\n")
            .find("the provider must be one of claude, codex, gemini, openai, anthropic") !=
        std::string::npos);
  CHECK(error_of(head + "roles:\n  builder:\n    engines: [claude/max-1, claude/max-1]\n")
            .find("claude/max-1 is given twice") != std::string::npos);
  CHECK(error_of(head + "roles:\n  builder:\n    engines: []\n")
            .find("must name at least one account") != std::string::npos);
  CHECK(error_of(head + "roles:\n  builder:\n    engine: codex\n    engines: [claude/max-1]\n")
            .find("roles.builder.engine is codex but its first engine is a claude account") !=
        std::string::npos);
  CHECK(error_of(head + "roles:\n  builder:\n    engines: [{model: x}]\n").find("needs account") !=
        std::string::npos);
  // Without an accountant section there is one account, claude/default.
  CHECK(error_of("roles:\n  builder:\n    engines: [claude/max-1]\n")
            .find("(the accounts are claude/default)") != std::string::npos);

  CHECK(error_of("accountant:\n  accounts:\n    - {name: a, provider: copilot}\n")
            .find("accountant.accounts[0].provider: must be one of claude, codex") !=
        std::string::npos);
  CHECK(error_of("accountant:\n  accounts:\n    - {name: a, provider: codex, plan: max5}\n")
            .find("a codex account's plan is plus or pro") != std::string::npos);
  CHECK(error_of("accountant:\n  accounts:\n    - {name: a, provider: openai, plan: pro}\n")
            .find("an API account (openai) has no plan") != std::string::npos);
  CHECK(error_of("accountant:\n  accounts:\n    - {name: a, budget_usd_per_day: 3}\n")
            .find("a money budget is for API accounts") != std::string::npos);
  CHECK(error_of("accountant:\n  accounts:\n    - {name: a, provider: openai, key_env: sk-123}\n")
            .find("not the key itself") != std::string::npos);
  CHECK(error_of("accountant:\n  accounts:\n    - {name: a}\n    - {name: a, provider: codex}\n")
            .find("the account 'a' is given twice") != std::string::npos);
}

TEST_CASE("accounts: the fleet-wide plan is a Claude plan and sets the Claude caps") {
  auto c = parsed(R"(accountant:
  plan: max5
  accounts:
    - {name: mine}
    - {name: plus, provider: codex, plan: plus}
)");
  const auto& a = config::accountant(c).accounts;
  CHECK(a[0].plan == "max5");
  CHECK(a[0].concurrency == 10);
  CHECK(a[1].plan == "plus");
}

TEST_CASE("accounts: each provider's engine runs with its account's identity") {
  config::Account claude;
  claude.name = "max-1";
  claude.config_dir = "/home/me/.claude-max-1";
  CHECK(agency::identity_env(claude) ==
        std::map<std::string, std::string>{{"CLAUDE_CONFIG_DIR", "/home/me/.claude-max-1"}});
  config::Account codex;
  codex.provider = "codex";
  codex.config_dir = "/home/me/.codex-plus";
  CHECK(agency::identity_env(codex).at("CODEX_HOME") == "/home/me/.codex-plus");
  config::Account gemini;
  gemini.provider = "gemini";
  gemini.config_dir = "/home/me/gem";
  CHECK(agency::identity_env(gemini).at("GEMINI_CLI_HOME") == "/home/me/gem");
  // A key variable of one's own becomes the CLI's key variable.
  ::setenv("AGENCY_TEST_SECOND_KEY", "k-2", 1);
  config::Account keyed;
  keyed.key_env = "AGENCY_TEST_SECOND_KEY";
  CHECK(agency::identity_env(keyed) ==
        std::map<std::string, std::string>{{"ANTHROPIC_API_KEY", "k-2"}});
  ::unsetenv("AGENCY_TEST_SECOND_KEY");
}

TEST_CASE("accounts: the agent's routes follow the role's list, and a refusal moves it on") {
  auto c = parsed(kThree);
  // make_engine looks for the CLIs: any program that exists stands in.
  for (auto& role : c.roles) {
    for (auto& e : role.engines) {
      if (!e.cli.empty()) e.cli = "/bin/sh";
    }
  }
  agency::EngineConfig base;
  base.kind = "claude";
  base.model = "claude-sonnet-4-5";
  base.cli = "/bin/sh";
  base.permission_mode = "acceptEdits";
  auto routes = agency::AccountRoutes::make(base, c, c.role("builder"));
  INFO((routes ? std::string() : routes.error().message));
  REQUIRE(routes.ok());
  REQUIRE(routes->routes().size() == 3);
  CHECK(routes->accounts() ==
        std::vector<std::string>{"claude/max-1", "claude/pro-2", "codex/plus"});
  CHECK(routes->routes()[0].model == "claude-sonnet-4-5");
  CHECK(routes->routes()[0].engine->kind() == "claude");
  CHECK(routes->routes()[2].engine->kind() == "codex");
  CHECK(routes->routes()[2].model == "gpt-5-codex");  // not the claude model
  CHECK(routes->routes()[1].env.at("CLAUDE_CONFIG_DIR") == "/home/me/.claude-pro-2");

  const auto now = std::chrono::system_clock::now();
  CHECK(routes->pick(now)->account == "claude/max-1");
  routes->refused("claude/max-1", now + 10min);
  CHECK(routes->pick(now)->account == "claude/pro-2");
  routes->refused("claude/pro-2", now + 5min);
  routes->refused("codex/plus", now + 20min);
  auto earliest = now;
  CHECK(routes->pick(now, &earliest) == nullptr);
  CHECK(earliest == now + 5min);
  CHECK(routes->limited(now).size() == 3);
  // After its reset an account is taken again, first in the list first.
  CHECK(routes->pick(now + 11min)->account == "claude/max-1");

  // A role without engines: one route on the agent's own identity.
  auto plain = agency::AccountRoutes::make(base, c, nullptr);
  REQUIRE(plain.ok());
  REQUIRE(plain->routes().size() == 1);
  CHECK(plain->first().account.empty());
  CHECK(plain->accounts().empty());
}

TEST_CASE("accounts: the hand-over carries the spec, the latest findings and the branch") {
  agency::v1::Task task;
  task.set_id("t-1");
  task.set_title("Say hello");
  task.set_stage("ready-for-dev");
  task.set_branch("agency/t-1");
  task.set_spec("Write GREETING.md with one line.");
  (*task.mutable_attachments())["findings"] = "the greeting lacks a newline";
  auto text = agency::hand_over_prompt(task, "claude/max-1", "claude/pro-2",
                                       "claude/max-1 rate-limited until 15:00",
                                       "Commits:\nabc123 first try\n");
  CHECK(text.find("worked on claude/max-1; it continues here on claude/pro-2 "
                  "(claude/max-1 rate-limited until 15:00)") != std::string::npos);
  CHECK(text.find("Write GREETING.md with one line.") != std::string::npos);
  CHECK(text.find("### Latest findings\n\nthe greeting lacks a newline") != std::string::npos);
  CHECK(text.find("abc123 first try") != std::string::npos);
  CHECK(text.find("### Latest review") == std::string::npos);
}

}  // namespace
