// Reading the accounts of agency.yaml (docs/ACCOUNTS.md): accountant.accounts,
// each a subscription or API key of one provider, and roles.<name>.engines,
// the accounts a role may spend in its order of preference. Each is checked
// as it is read; that every engine a role names is an account of the file,
// of the same provider, is checked by check() once the file is read. Errors
// come from the Reader: the file, the line, the key's path.
#pragma once

#include <string>
#include <vector>

#include "runtime/config.hpp"
#include "runtime/config_reader.hpp"

namespace agency::config {

// The providers an account may belong to, each an engine kind.
inline constexpr std::string_view kProviders[] = {"claude", "codex", "gemini", "openai",
                                                  "anthropic"};

// The engine calls an account carries at once when its `concurrency` is not
// given (docs/ACCOUNTS.md says where the figures come from): claude pro 5,
// max5 and max20 10; codex plus 5, pro 10; 5 for any other subscription;
// 0 (no cap of ours) for an API account, whose provider's own rate limits
// answer for it.
int default_concurrency(const Account& account);

// Whether an account's provider is paid per token through an API key.
bool is_api_provider(std::string_view provider);

class AccountsReader {
 public:
  explicit AccountsReader(Reader& reader) : reader_(reader) {}

  // accountant.accounts: a list of maps.
  std::vector<Account> accounts(const Reader::Item& list) const;
  // roles.<name>.engines: [claude/max-1, {account: codex/plus, model: gpt-5}].
  std::vector<EngineChoice> engines(const Reader::Item& list);
  // Once the whole file is read: every role's engines name accounts of
  // `config.accounts` of their provider, and a role's `engine` is its first.
  void check(Config& config) const;

 private:
  struct Use {
    Reader::Item at;
    std::string role;
    std::size_t index = 0;
  };
  Reader& reader_;
  std::vector<Use> uses_;  // every engine entry, for check()
};

}  // namespace agency::config
