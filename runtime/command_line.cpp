#include "runtime/command_line.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "bus/connect.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "runtime/credentials.hpp"

namespace agency::cli {

std::optional<config::Config> load_config_or_report(const GlobalOptions& global) {
  auto cfg = config::load(global.config_path);
  if (!cfg) {
    report(cfg.error());
    return std::nullopt;
  }
  return std::move(*cfg);
}

Result<std::unique_ptr<Connection>> connect_cli(const GlobalOptions& global,
                                                const std::string& connection_name, bool ordered) {
  auto settings = settings_from_environment();
  if (!settings) return settings.error();
  if (!global.nats_url.empty()) {
    settings->servers = {global.nats_url};
    settings->origin = "--nats";
  } else {
    // A running `agency up` in this project says where its server is. A
    // file `agency up` would refuse is refused here too, rather than
    // quietly trying the default server.
    auto cfg = config::load(global.config_path);
    if (!cfg) return cfg.error();
    auto url_file = cfg->state_dir / "nats.url";
    std::ifstream in(url_file);
    std::string url;
    if (in && std::getline(in, url) && !url.empty()) {
      std::vector<std::string> servers;
      for (std::size_t start = 0; start <= url.size();) {
        auto comma = url.find(',', start);
        if (comma == std::string::npos) comma = url.size();
        if (comma > start) servers.push_back(url.substr(start, comma - start));
        start = comma + 1;
      }
      // Its key and CA serve for its server, also when NATS_URL names it.
      const bool same = settings->origin == "default" || settings->servers == servers;
      if (settings->origin == "default") {
        settings->servers = servers;
        settings->origin = "agency up, " + url_file.string();
      }
      if (same) {
        credentials::apply_local_admin(
            cfg->state_dir, cfg->nats.tls_ca.empty() ? cfg->nats.tls_cert : cfg->nats.tls_ca,
            *settings);
      }
    }
  }
  ConnectOptions options;
  options.name = connection_name;
  options.mode = ConnectMode::fail_fast;
  options.ordered_delivery = ordered;
  // Inside an engine turn the agent's key is the one at hand, and it may
  // read only its own replies.
  if (const char* id = std::getenv("AGENCY_AGENT_ID");
      id != nullptr && subjects::is_valid_token(id) && !settings->nkey_seed_file.empty()) {
    options.inbox_prefix = "_INBOX." + std::string(id);
  }
  return Connection::open(*settings, options);
}

// Error messages quote input (a file, a payload, an option): escaped like any
// other outside text, lines kept.
void report(const Error& error) {
  std::cerr << "agency: " << text::terminal_safe(error.message) << '\n';
  if (error.code == errc::timeout) {
    std::cerr << "agency: the server did not answer in time: a busy server, or a cluster "
                 "electing new leaders after a node went down, answers again within seconds\n";
  }
}

void fail(const Error& error) {
  report(error);
  throw CLI::RuntimeError(exit_code_for(error));
}

void must(const Result<void>& r) {
  if (!r) fail(r.error());
}

int exit_code_for(const Error& error) {
  switch (error.code) {
    case errc::connect:
    case errc::not_connected:
      return kExitNoServer;
    case errc::config:
      return kExitUsage;
    default:
      return kExitFailed;
  }
}

}  // namespace agency::cli
