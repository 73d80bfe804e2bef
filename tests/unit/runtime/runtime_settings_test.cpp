// What an agent's engines are set up with, and what an engine process gets
// in its environment (runtime/runtime_settings.hpp).
#include "runtime/runtime_settings.hpp"

#include <doctest/doctest.h>

namespace agency {
namespace {

TEST_CASE("runtime settings: the engine kind is the flag, else agency.yaml, else SKILL.md") {
  Skill skill;
  skill.engine = "claude";
  config::Role role;
  role.engine = "codex";
  CHECK(engine_settings("gemini", &role, skill).engine.kind == "gemini");
  CHECK(engine_settings("", &role, skill).engine.kind == "codex");
  CHECK(engine_settings("", nullptr, skill).engine.kind == "claude");
  CHECK(engine_settings("", nullptr, Skill{}).engine.kind == "scripted");
}

TEST_CASE("runtime settings: the role's section sets the engine, SKILL.md the permission mode") {
  Skill skill;
  skill.extra["permission_mode"] = "acceptEdits";
  config::Role role;
  role.model = "opus";
  role.timeout_seconds = 90;
  role.session_max_tokens = 1000;
  auto s = engine_settings("", &role, skill);
  CHECK(s.engine.model == "opus");
  CHECK(s.engine.timeout == std::chrono::seconds(90));
  CHECK(s.engine.permission_mode == "acceptEdits");
  CHECK(s.session_max_tokens == 1000);
  role.permission_mode = "plan";
  CHECK(engine_settings("", &role, skill).engine.permission_mode == "plan");
}

TEST_CASE("runtime settings: an engine process learns who it is, where NATS is, and finds agency") {
  Turn turn;
  turn.brief.set_task_id("t-7");
  turn.env["EXTRA"] = "1";
  EngineSurroundings around;
  around.agent_id = "builder-1";
  around.role = "builder";
  around.state_dir = "/var/agency";
  around.nats.servers = {"nats://a:4222", "nats://b:4222"};
  around.nats.token = "s3cret";
  around.bin_dir = "/opt/agency/bin";
  around.path = "/usr/bin";
  auto env = engine_environment(turn, around);
  CHECK(env.at("EXTRA") == "1");
  CHECK(env.at("AGENCY_AGENT_ID") == "builder-1");
  CHECK(env.at("AGENCY_ROLE") == "builder");
  CHECK(env.at("AGENCY_STATE_DIR") == "/var/agency");
  CHECK(env.count("AGENCY_CONFIG") == 0);
  CHECK(env.at("AGENCY_TASK_ID") == "t-7");
  CHECK(env.at("NATS_URL") == "nats://a:4222,nats://b:4222");
  CHECK(env.at("NATS_TOKEN") == "s3cret");
  CHECK(env.count("NATS_USER") == 0);
  CHECK(env.at("PATH") == "/opt/agency/bin:/usr/bin");
  // The turn's own PATH is kept, behind agency's directory.
  turn.env["PATH"] = "/sandbox/bin";
  CHECK(engine_environment(turn, around).at("PATH") == "/opt/agency/bin:/sandbox/bin");
}

}  // namespace
}  // namespace agency
