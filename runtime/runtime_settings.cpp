// Engine settings and engine environments (see runtime_settings.hpp).
#include "runtime/runtime_settings.hpp"

#include <cstdlib>

namespace agency {

EngineSettings engine_settings(const std::string& engine_flag, const config::Role* role,
                               const Skill& skill) {
  EngineSettings out;
  EngineConfig& ec = out.engine;
  ec.kind = !engine_flag.empty()                         ? engine_flag
            : (role != nullptr && !role->engine.empty()) ? role->engine
            : !skill.engine.empty()                      ? skill.engine
                                                         : "scripted";
  if (role != nullptr) {
    ec.model = role->model;
    ec.command = role->command;
    ec.timeout = std::chrono::seconds(role->timeout_seconds);
    ec.env_allow = role->env_allow;
    ec.scenario = role->scenario;
    ec.cli = role->cli;
    ec.cli_args = role->cli_args;
    ec.permission_mode = role->permission_mode;
    ec.allowed_tools = role->allowed_tools;
    ec.max_turns = role->max_turns;
    ec.base_url = role->base_url;
    ec.api_key_env = role->api_key_env;
    ec.max_tokens = role->max_tokens;
    ec.retries = role->retries;
    ec.rate_limit_wait = std::chrono::seconds(role->rate_limit_wait_seconds);
    out.session_max_tokens = role->session_max_tokens;
  }
  // The role's own default (the builder edits files; the others read).
  if (ec.permission_mode.empty()) {
    if (auto it = skill.extra.find("permission_mode"); it != skill.extra.end()) {
      ec.permission_mode = it->second;
    }
  }
  return out;
}

std::filesystem::path own_bin_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

std::filesystem::path default_skill_path(const std::string& role) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = exe.parent_path() / "skills" / role / "SKILL.md";
    if (std::filesystem::exists(beside)) return beside;
  }
  if (const char* dir = std::getenv("AGENCY_SKILLS_DIR"); dir != nullptr && *dir != '\0') {
    return std::filesystem::path(dir) / role / "SKILL.md";
  }
  return std::filesystem::path("roles") / role / "SKILL.md";
}

std::map<std::string, std::string> engine_environment(const Turn& turn,
                                                      const EngineSurroundings& around) {
  auto env = turn.env;
  env["AGENCY_AGENT_ID"] = around.agent_id;
  env["AGENCY_ROLE"] = around.role;
  env["AGENCY_STATE_DIR"] = around.state_dir.string();
  if (!around.config_source.empty()) env["AGENCY_CONFIG"] = around.config_source.string();
  const std::string task = turn.brief.task_id().empty() ? turn.task.id() : turn.brief.task_id();
  if (!task.empty()) env["AGENCY_TASK_ID"] = task;
  const ConnectSettings& s = around.nats;
  std::string urls;
  for (const auto& u : s.servers) urls += (urls.empty() ? "" : ",") + u;
  env["NATS_URL"] = urls;
  auto set = [&](const char* name, const std::string& v) {
    if (!v.empty()) env[name] = v;
  };
  set("NATS_USER", s.user);
  set("NATS_PASSWORD", s.password);
  set("NATS_TOKEN", s.token);
  set("NATS_CREDS", s.creds_file);
  set("NATS_NKEY", s.nkey_seed_file);
  set("NATS_CERT", s.tls_cert);
  set("NATS_KEY", s.tls_key);
  set("NATS_CA", s.tls_ca);
  std::string p = around.path;
  if (auto it = turn.env.find("PATH"); it != turn.env.end()) p = it->second;
  if (!around.bin_dir.empty()) p = around.bin_dir.string() + ":" + p;
  env["PATH"] = p;
  return env;
}

}  // namespace agency
