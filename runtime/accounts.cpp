#include "runtime/accounts.hpp"

#include <algorithm>

#include "bus/bounds.hpp"
#include "runtime/config_accounts.hpp"
#include "runtime/git.hpp"

namespace agency {
namespace {

// What the hand-over quotes of each part of the record: enough for the new
// session to pick the work up, far under any prompt's size.
constexpr std::size_t kQuoteBytes = 8 * 1024;

std::string quote(std::string_view text) {
  std::string out(bounds::utf8_prefix(text, kQuoteBytes));
  if (out.size() < text.size()) out += "\n[... cut at " + std::to_string(kQuoteBytes) + " bytes]";
  return out;
}

}  // namespace

std::map<std::string, std::string> identity_env(const config::Account& account) {
  std::map<std::string, std::string> env;
  const std::string dir = account.config_dir.string();
  std::string key_var;
  if (account.provider == "claude") {
    if (!dir.empty()) env["CLAUDE_CONFIG_DIR"] = dir;
    key_var = "ANTHROPIC_API_KEY";
  } else if (account.provider == "codex") {
    if (!dir.empty()) env["CODEX_HOME"] = dir;
    key_var = "OPENAI_API_KEY";
  } else if (account.provider == "gemini") {
    if (!dir.empty()) env["GEMINI_CLI_HOME"] = dir;
    key_var = "GEMINI_API_KEY";
  }
  if (!key_var.empty() && !account.key_env.empty() && account.key_env != key_var) {
    const char* value = std::getenv(account.key_env.c_str());
    env[key_var] = value != nullptr ? value : "";
  }
  return env;
}

Result<AccountRoutes> AccountRoutes::make(const EngineConfig& base, const config::Config& config,
                                          const config::Role* role) {
  AccountRoutes out;
  if (role == nullptr || role->engines.empty()) {
    auto engine = make_engine(base);
    if (!engine) return engine.error();
    out.routes_.push_back(Route{"", base.kind, std::move(*engine), base.model, {}});
    return out;
  }
  for (const auto& choice : role->engines) {
    const config::Account* account = config.account(choice.account);
    if (account == nullptr) {
      return Error{errc::config, "roles." + role->name + ".engines: no account " + choice.account};
    }
    EngineConfig ec = base;
    const bool own_kind = choice.provider == base.kind;
    ec.kind = choice.provider;
    ec.model = !choice.model.empty() ? choice.model : own_kind ? base.model : "";
    ec.cli = !choice.cli.empty() ? choice.cli : own_kind ? base.cli : "";
    ec.permission_mode = !choice.permission_mode.empty() ? choice.permission_mode
                         : own_kind                      ? base.permission_mode
                                                         : "";
    if (!own_kind) {
      // Arguments and tools of one CLI mean nothing to another.
      ec.cli_args.clear();
      ec.allowed_tools.clear();
      ec.base_url.clear();
      ec.api_key_env.clear();
    }
    if (config::is_api_provider(account->provider) && !account->key_env.empty()) {
      ec.api_key_env = account->key_env;
    }
    auto engine = make_engine(ec);
    if (!engine) return engine.error();
    out.routes_.push_back(Route{account->id(), account->provider, std::move(*engine), ec.model,
                                identity_env(*account)});
  }
  return out;
}

std::vector<std::string> AccountRoutes::accounts() const {
  std::vector<std::string> out;
  for (const auto& r : routes_) {
    if (!r.account.empty()) out.push_back(r.account);
  }
  return out;
}

const AccountRoutes::Route* AccountRoutes::find(std::string_view account) const {
  for (const auto& r : routes_) {
    if (r.account == account) return &r;
  }
  return nullptr;
}

void AccountRoutes::refused(const std::string& account, Time until) {
  auto [it, fresh] = refused_.try_emplace(account, until);
  if (!fresh) it->second = std::max(it->second, until);
}

std::vector<std::pair<std::string, AccountRoutes::Time>> AccountRoutes::limited(Time now) const {
  std::vector<std::pair<std::string, Time>> out;
  for (const auto& [account, until] : refused_) {
    if (until > now) out.emplace_back(account, until);
  }
  return out;
}

const AccountRoutes::Route* AccountRoutes::pick(Time now, Time* earliest) const {
  std::optional<Time> first_reset;
  for (const auto& r : routes_) {
    auto it = refused_.find(r.account);
    if (it == refused_.end() || it->second <= now) return &r;
    if (!first_reset || it->second < *first_reset) first_reset = it->second;
  }
  if (earliest != nullptr && first_reset) *earliest = *first_reset;
  return nullptr;
}

std::string hand_over_prompt(const v1::Task& task, const std::string& from, const std::string& to,
                             const std::string& why, const std::string& branch_log) {
  std::string out = "## Hand-over\n\nThis task (" + task.id() + ") was worked on " + from +
                    "; it continues here on " + to + (why.empty() ? "" : " (" + why + ")") +
                    ". This is a new session: nothing of the earlier one is in it. What the task "
                    "record says so far:\n\n";
  out += "- Title: " + task.title() + "\n- Stage: " + task.stage() + "\n";
  if (!task.branch().empty()) out += "- Branch: " + task.branch() + "\n";
  if (!task.spec().empty()) out += "\n### Spec\n\n" + quote(task.spec()) + "\n";
  for (const char* name : {"findings", "review", "tests"}) {
    auto it = task.attachments().find(name);
    if (it != task.attachments().end() && !it->second.empty()) {
      out += "\n### Latest " + std::string(name) + "\n\n" + quote(it->second) + "\n";
    }
  }
  if (!branch_log.empty()) {
    out += "\n### Work so far on the branch\n\n" + quote(branch_log) + "\n";
  }
  out += "\nContinue from there.\n\n---\n\n";
  return out;
}

std::string branch_log(const std::filesystem::path& repo, const std::string& branch,
                       const std::string& base) {
  if (repo.empty() || branch.empty()) return {};
  auto log = git::run({"git", "log", "--oneline", "--no-decorate", base + ".." + branch}, repo,
                      std::chrono::seconds(30));
  if (log.exit_code != 0 || log.output.empty()) return {};
  auto stat =
      git::run({"git", "diff", "--stat", base + "..." + branch}, repo, std::chrono::seconds(30));
  std::string out = "Commits:\n" + log.output;
  if (stat.exit_code == 0 && !stat.output.empty()) out += "\nFiles changed:\n" + stat.output;
  return out;
}

}  // namespace agency
