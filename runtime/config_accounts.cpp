#include "runtime/config_accounts.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace agency::config {
namespace {

using Item = Reader::Item;

constexpr std::array<std::string_view, 15> kAccountKeys = {"name",
                                                           "provider",
                                                           "config_dir",
                                                           "key_env",
                                                           "plan",
                                                           "five_hour",
                                                           "seven_day",
                                                           "seven_day_opus",
                                                           "seven_day_sonnet",
                                                           "weekly_reset",
                                                           "usage_url",
                                                           "token_file",
                                                           "concurrency",
                                                           "budget_usd_per_day",
                                                           "budget_usd_per_month"};

constexpr std::array<std::string_view, 4> kEngineKeys = {"account", "model", "cli",
                                                         "permission_mode"};

bool is_provider(std::string_view p) {
  return std::find(std::begin(kProviders), std::end(kProviders), p) != std::end(kProviders);
}

std::string providers() {
  std::string out;
  for (auto p : kProviders) out += (out.empty() ? "" : ", ") + std::string(p);
  return out;
}

bool is_env_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front())) != 0) return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
}

// The plans each provider's account may name (claude's also set rough
// limits, roles/accountant); gemini's are free names.
std::optional<std::string> plan_problem(std::string_view provider, std::string_view plan) {
  if (plan.empty()) return std::nullopt;
  if (provider == "claude" && plan != "pro" && plan != "max5" && plan != "max20") {
    return "must be pro, max5 or max20 (or give the limits in tokens), got " + std::string(plan);
  }
  if (provider == "codex" && plan != "plus" && plan != "pro") {
    return "a codex account's plan is plus or pro, got " + std::string(plan);
  }
  if (is_api_provider(provider)) {
    return "an API account (" + std::string(provider) +
           ") has no plan: give budget_usd_per_day or budget_usd_per_month";
  }
  return std::nullopt;
}

}  // namespace

const Account* Config::account(std::string_view id) const {
  const auto slash = id.find('/');
  const std::string_view name = slash == std::string_view::npos ? id : id.substr(slash + 1);
  for (const auto& a : accounts) {
    if (a.name != name) continue;
    if (slash != std::string_view::npos && a.provider != id.substr(0, slash)) return nullptr;
    return &a;
  }
  return nullptr;
}

bool is_api_provider(std::string_view provider) {
  return provider == "openai" || provider == "anthropic";
}

int default_concurrency(const Account& a) {
  if (is_api_provider(a.provider)) return 0;
  if (a.provider == "claude" && (a.plan == "max5" || a.plan == "max20")) return 10;
  if (a.provider == "codex" && a.plan == "pro") return 10;
  return 5;
}

std::vector<Account> AccountsReader::accounts(const Item& section) const {
  Reader& r = reader_;
  std::vector<Account> out;
  if (section.value.IsNull()) return out;
  const std::string example = "[{name: personal, plan: max5, config_dir: ~/.claude}]";
  if (!section.value.IsSequence()) {
    r.fail(section, "must be a list of accounts " + example + ", got " + describe(section.value));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < section.value.size(); ++i) {
    Item entry{YAML::Node(), section.value[i], section.path + "[" + std::to_string(i) + "]"};
    if (!entry.value.IsMap()) {
      r.fail(entry, "must be a map " + example + ", got " + describe(entry.value));
    }
    Account acc;
    std::optional<Item> plan_at;
    for (const auto& item : r.entries(entry, kAccountKeys)) {
      auto key = item.key.Scalar();
      if (key == "name") {
        auto v = r.string_value(item, "a name");
        if (!v || !is_token(*v)) r.fail(item, "must be letters, digits, '-' and '_'");
        acc.name = *v;
      } else if (key == "provider") {
        if (auto v = r.string_value(item, "a provider")) {
          if (!is_provider(*v)) r.fail(item, "must be one of " + providers() + ", got " + *v);
          acc.provider = *v;
        }
      } else if (key == "config_dir") {
        if (auto v = r.string_value(item, "a directory path"); v && !v->empty()) {
          acc.config_dir = r.resolve(*v);
        }
      } else if (key == "key_env") {
        if (auto v = r.string_value(item, "an environment variable name")) {
          if (!v->empty() && !is_env_name(*v)) {
            r.fail(item,
                   "must name the environment variable that holds the key (OPENAI_API_KEY), "
                   "not the key itself");
          }
          acc.key_env = *v;
        }
      } else if (key == "plan") {
        if (auto v = r.string_value(item, "a plan name (pro, max5, max20)")) acc.plan = *v;
        plan_at = item;
      } else if (key == "five_hour") {
        if (auto v = r.tokens_value(item)) acc.five_hour = *v;
      } else if (key == "seven_day") {
        if (auto v = r.tokens_value(item)) acc.seven_day = *v;
      } else if (key == "seven_day_opus") {
        if (auto v = r.tokens_value(item)) acc.seven_day_opus = *v;
      } else if (key == "seven_day_sonnet") {
        if (auto v = r.tokens_value(item)) acc.seven_day_sonnet = *v;
      } else if (key == "weekly_reset") {
        if (auto v = r.string_value(item, "a day and time (thu 18:00)")) {
          auto space = v->find(' ');
          std::optional<int> day;
          std::optional<int> at;
          if (space != std::string::npos) {
            day = Reader::weekday(v->substr(0, space));
            at = Reader::minute_of_day(std::string_view(*v).substr(space + 1));
          }
          if (!day || !at) {
            r.fail(item, "must be a weekday and a time (thu 18:00), got " + describe(item.value));
          }
          acc.reset_weekday = *day;
          acc.reset_hour = *at / 60;
          acc.reset_minute = *at % 60;
        }
      } else if (key == "usage_url") {
        if (auto v = r.string_value(item, "a URL")) acc.usage_url = *v;
      } else if (key == "token_file") {
        if (auto v = r.string_value(item, "a file path"); v && !v->empty()) {
          acc.token_file = r.resolve(*v);
        }
      } else if (key == "concurrency") {
        if (auto v = r.int_value(item, 0, 1000)) acc.concurrency = *v;
      } else if (key == "budget_usd_per_day") {
        if (auto v = r.number_value(item, 0, 1e6)) acc.budget_usd_per_day = *v;
      } else if (key == "budget_usd_per_month") {
        if (auto v = r.number_value(item, 0, 1e7)) acc.budget_usd_per_month = *v;
      }
    }
    if (plan_at) {
      if (auto problem = plan_problem(acc.provider, acc.plan)) r.fail(*plan_at, *problem);
    }
    if (!names.insert(acc.name).second) {
      r.fail(entry, "the account '" + acc.name +
                        "' is given twice (names are unique across "
                        "providers)");
    }
    if (!acc.usage_url.empty() && acc.token_file.empty()) {
      r.fail(entry, "usage_url needs token_file: the file holding the bearer token");
    }
    if (!is_api_provider(acc.provider) &&
        (acc.budget_usd_per_day > 0 || acc.budget_usd_per_month > 0)) {
      r.fail(entry, "a money budget is for API accounts (openai, anthropic); a " + acc.provider +
                        " subscription's limits are in tokens (five_hour, seven_day)");
    }
    out.push_back(std::move(acc));
  }
  return out;
}

std::vector<EngineChoice> AccountsReader::engines(const Item& list) {
  Reader& r = reader_;
  std::vector<EngineChoice> out;
  if (list.value.IsNull()) return out;
  const std::string example = "[claude/max-1, claude/pro-2, {account: codex/plus, model: gpt-5}]";
  if (!list.value.IsSequence()) {
    r.fail(list, "must be a list of accounts, most preferred first " + example + ", got " +
                     describe(list.value));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < list.value.size(); ++i) {
    Item entry{YAML::Node(), list.value[i], list.path + "[" + std::to_string(i) + "]"};
    EngineChoice choice;
    Item account_at = entry;
    if (entry.value.IsScalar()) {
      choice.account = entry.value.Scalar();
    } else if (entry.value.IsMap()) {
      bool named = false;
      for (const auto& item : r.entries(entry, kEngineKeys)) {
        auto key = item.key.Scalar();
        if (key == "account") {
          if (auto v = r.string_value(item, "an account (provider/name)")) choice.account = *v;
          account_at = item;
          named = true;
        } else if (key == "model") {
          if (auto v = r.string_value(item, "a model name")) choice.model = *v;
        } else if (key == "cli") {
          if (auto v = r.string_value(item, "a program name or path")) choice.cli = r.binary(*v);
        } else if (key == "permission_mode") {
          if (auto v = r.string_value(item, "a permission mode")) choice.permission_mode = *v;
        }
      }
      if (!named) r.fail(entry, "needs account: the account to spend (provider/name)");
    } else {
      r.fail(entry, "must be an account (provider/name) or a map " + example + ", got " +
                        describe(entry.value));
    }
    auto slash = choice.account.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == choice.account.size()) {
      r.fail(account_at,
             "must name an account as provider/name (claude/max-1), got " + choice.account);
    }
    choice.provider = choice.account.substr(0, slash);
    if (!is_provider(choice.provider)) {
      r.fail(account_at, "the provider must be one of " + providers() + ", got " + choice.provider);
    }
    if (!is_token(choice.account.substr(slash + 1))) {
      r.fail(account_at, "an account's name is letters, digits, '-' and '_', got " +
                             choice.account.substr(slash + 1));
    }
    if (!seen.insert(choice.account).second) r.fail(account_at, choice.account + " is given twice");
    uses_.push_back(Use{account_at, {}, out.size()});
    out.push_back(std::move(choice));
  }
  if (out.empty()) r.fail(list, "must name at least one account " + example);
  return out;
}

void AccountsReader::check(Config& config) const {
  // Which role each use belongs to: the roles keep their engines in the
  // order they were read, so the uses follow them one for one.
  std::size_t next = 0;
  for (auto& role : config.roles) {
    for (std::size_t i = 0; i < role.engines.size(); ++i, ++next) {
      if (next >= uses_.size()) return;
      const Use& use = uses_[next];
      const EngineChoice& choice = role.engines[i];
      // By name alone, so a wrong provider is told as such.
      const Account* account = config.account(choice.account.substr(choice.provider.size() + 1));
      if (account == nullptr) {
        std::string known;
        for (const auto& a : config.accounts) known += (known.empty() ? "" : ", ") + a.id();
        reader_.fail(use.at, "no account " + choice.account +
                                 " in accountant.accounts (the accounts are " + known + ")");
      }
      if (account->provider != choice.provider) {
        reader_.fail(use.at, "the account " + account->name + " is a " + account->provider +
                                 " account, not " + choice.provider + ": name it " + account->id());
      }
    }
    if (!role.engines.empty()) {
      if (!role.engine.empty() && role.engine != role.engines.front().provider) {
        reader_.fail(uses_[next - role.engines.size()].at,
                     "roles." + role.name + ".engine is " + role.engine +
                         " but its first engine is a " + role.engines.front().provider +
                         " account; leave engine out or put a " + role.engine + " account first");
      }
      role.engine = role.engines.front().provider;
    }
  }
}

}  // namespace agency::config
