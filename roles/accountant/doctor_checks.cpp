// `agency doctor`'s checks of the accountant's (through its catalog entry):
// each account's usage endpoint and the folders its ledger reads.
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "roles/accountant/commands.hpp"
#include "roles/accountant/settings.hpp"
#include "runtime/command_line.hpp"
#include "runtime/limits.hpp"

namespace agency::accounting {
namespace {

using namespace cli;
namespace fs = std::filesystem;

std::optional<std::string> claude_config_dir(const config::Account& a) {
  if (!a.config_dir.empty()) return a.config_dir.string();
  if (const char* v = std::getenv("CLAUDE_CONFIG_DIR"); v != nullptr && *v != '\0') {
    return std::string(v);
  }
  return std::nullopt;
}

// The folders the accountant reads the person's Claude Code transcripts
// from (roles/accountant/transcripts.hpp). A configured folder that is missing or not
// a directory fails: the ledger would silently count nothing. A default
// one that is missing only warns: Claude Code has not run here yet.
std::string check_ledger(const config::Account& a, Level& level, std::string& fix) {
  const auto dir = claude_config_dir(a);
  std::vector<fs::path> candidates;
  if (dir) {
    std::stringstream list(*dir);
    for (std::string d; std::getline(list, d, ',');) {
      d.erase(0, d.find_first_not_of(' '));
      while (!d.empty() && d.back() == ' ') d.pop_back();
      if (!d.empty()) candidates.push_back(fs::path(d) / "projects");
    }
  } else {
    const char* home = std::getenv("HOME");
    const fs::path h = home != nullptr ? fs::path(home) : fs::path();
    candidates = {h / ".config" / "claude" / "projects", h / ".claude" / "projects"};
  }
  const std::string whence = !a.config_dir.empty() ? "the account's config_dir"
                             : dir                 ? "CLAUDE_CONFIG_DIR"
                                                   : "";
  std::vector<std::string> read;
  for (const auto& c : candidates) {
    std::error_code ec;
    const auto st = fs::status(c, ec);
    if (!fs::exists(st)) {
      if (dir && !fs::exists(c.parent_path(), ec)) {
        level = Level::fail;
        fix = "set " + whence + " to the Claude Code config dir (the one holding projects/)";
        return c.parent_path().string() + " (" + whence + ") does not exist";
      }
      continue;
    }
    if (!fs::is_directory(st)) {
      level = Level::fail;
      fix = "move it away: Claude Code keeps its transcripts in that directory";
      return c.string() + " is not a directory";
    }
    std::size_t n = 0;
    for (fs::directory_iterator it(c, ec), end; !ec && it != end; it.increment(ec)) ++n;
    if (ec) {
      level = Level::fail;
      fix = "make it readable by the user `agency up` runs as";
      return c.string() + " cannot be read: " + ec.message();
    }
    read.push_back(c.string() + " (" + std::to_string(n) + " folders)");
  }
  if (read.empty()) {
    level = Level::warn;
    return "no Claude Code transcripts yet (" +
           (candidates.empty() ? std::string("no folder") : candidates.back().string()) +
           "): the person's own use counts once Claude Code has run as this user";
  }
  std::string list;
  for (const auto& r : read) list += (list.empty() ? "" : ", ") + r;
  return "reads " + list;
}

}  // namespace

// The accounts' usage endpoints (asked with the token, nothing spent) and
// the ledgers' transcript folders.
std::vector<Check> doctor_checks(const config::Config& cfg) {
  std::vector<Check> out;
  if (!config::accountant(cfg).enabled) {
    out.push_back({"usage endpoint", Level::skip, "no accountant section: no budget leases"});
    out.push_back({"ledger", Level::skip, "no accountant section: the person's use is not read"});
    return out;
  }
  std::vector<config::Account> accounts = config::accountant(cfg).accounts;
  if (accounts.empty()) accounts.emplace_back();
  for (const auto& a : accounts) {
    const std::string who = accounts.size() > 1 ? " " + a.name : std::string();
    Check u{"usage endpoint" + who};
    if (a.usage_url.empty()) {
      u.level = Level::skip;
      u.detail = "no usage_url: limits come from the plan and the fleet's own readings";
    } else {
      const std::string token = limits::read_token_file(a.token_file);
      if (token.empty()) {
        u.level = Level::fail;
        u.detail = "no token in " + a.token_file.string() + " (token_file)";
        u.fix = "put the bearer token for " + a.usage_url + " in that file";
      } else {
        auto response = limits::ask_usage_endpoint(a.usage_url, token);
        if (!response) {
          u.level = Level::fail;
          u.detail = a.usage_url + " cannot be reached: " + response.error().message;
          u.fix = "check usage_url and the network (proxies: HTTPS_PROXY)";
        } else if (response->status == 401 || response->status == 403) {
          u.level = Level::fail;
          u.detail =
              a.usage_url + " refused the token (HTTP " + std::to_string(response->status) + ")";
          u.fix = "refresh the token in " + a.token_file.string();
        } else if (response->status != 200) {
          u.level = Level::warn;
          u.detail = a.usage_url + " answered HTTP " + std::to_string(response->status);
          u.fix = "check usage_url";
        } else {
          u.detail = a.usage_url + " answered (HTTP 200)";
        }
      }
    }
    out.push_back(u);

    Check l{"ledger" + who};
    if (a.provider == "claude") {
      l.detail = check_ledger(a, l.level, l.fix);
    } else {
      // Only Claude Code leaves transcripts to read; the fleet's use of
      // other providers is what their engines report.
      l.level = Level::skip;
      l.detail = a.id() + ": the fleet's use comes from its engines' samples (no transcripts)";
    }
    out.push_back(l);
  }
  return out;
}

}  // namespace agency::accounting
