// The accounts an agent's engine calls may spend (docs/ACCOUNTS.md): one
// engine per entry of roles.<role>.engines, each run with its account's
// identity (CLAUDE_CONFIG_DIR, CODEX_HOME, GEMINI_CLI_HOME, an API key's
// variable), what the agent itself saw of their rate limits, and the
// hand-over prompt a task's work takes to a new session on another account.
//
// The accountant chooses the account of each call (LeaseReply.account);
// without one, or when none answers, the agent takes the first of its list
// that has not refused it, so a rate limit on one account moves the brief
// on to the next at once either way.
//
// Thread: owned by the Agent, main thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agency/v1/task.pb.h"
#include "runtime/config.hpp"
#include "runtime/engine.hpp"

namespace agency {

class AccountRoutes {
 public:
  using Time = std::chrono::system_clock::time_point;

  struct Route {
    // "provider/name"; empty for an agent whose role names no accounts (its
    // one engine runs on the agent's own identity, as before accounts).
    std::string account;
    std::string provider;
    std::unique_ptr<Engine> engine;
    std::string model;  // as configured; empty: the engine's default
    // The account's identity, added to every engine process's environment.
    std::map<std::string, std::string> env;
  };

  // One route per entry of role->engines, each engine `base` with the
  // entry's provider, model, cli and permission mode (the base's own when
  // the entry's provider is the base's kind), else one route of `base`.
  static Result<AccountRoutes> make(const EngineConfig& base, const config::Config& config,
                                    const config::Role* role);

  [[nodiscard]] const std::vector<Route>& routes() const { return routes_; }
  [[nodiscard]] const Route& first() const { return routes_.front(); }
  // The accounts to name in a lease, in order; empty for one unnamed route.
  [[nodiscard]] std::vector<std::string> accounts() const;
  [[nodiscard]] const Route* find(std::string_view account) const;

  // The agent saw `account` refuse a call until `until`.
  void refused(const std::string& account, Time until);
  // Accounts still refused at `now`, with their resets (Lease.limited).
  [[nodiscard]] std::vector<std::pair<std::string, Time>> limited(Time now) const;
  // The first route the agent has not seen refused at `now`; nullptr when
  // every one has been (`earliest`: the first reset).
  const Route* pick(Time now, Time* earliest = nullptr) const;

 private:
  std::vector<Route> routes_;
  std::map<std::string, Time, std::less<>> refused_;
};

// The variables that make an engine of `account.provider` spend `account`:
// claude CLAUDE_CONFIG_DIR, codex CODEX_HOME, gemini GEMINI_CLI_HOME (its
// config_dir), and with key_env, the CLI's key variable (ANTHROPIC_API_KEY,
// OPENAI_API_KEY, GEMINI_API_KEY) set from it. API engines read key_env
// themselves (EngineConfig::api_key_env).
std::map<std::string, std::string> identity_env(const config::Account& account);

// What a new session on another account is told before the brief: that
// the task's work moves from `from` to `to` and why, the task's spec and
// latest findings, and the work so far on its branch (`branch_log`: the
// commits and changed files, empty when there is none).
std::string hand_over_prompt(const v1::Task& task, const std::string& from, const std::string& to,
                             const std::string& why, const std::string& branch_log);

// The commits of the task's branch since `base` and the files they change,
// in `repo` ("" when the branch does not exist or has none).
std::string branch_log(const std::filesystem::path& repo, const std::string& branch,
                       const std::string& base);

}  // namespace agency
