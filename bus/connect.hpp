// Where and how to connect: read from the environment the way the nats CLI
// users expect (nats.c reads none of it).
//
//   NATS_URL                 server URL(s), comma-separated
//   NATS_CREDS               credentials file (JWT + NKey seed)
//   NATS_USER, NATS_PASSWORD user and password
//   NATS_TOKEN               token
//   NATS_NKEY                NKey seed file
//   NATS_CERT, NATS_KEY      client certificate and key (mutual TLS)
//   NATS_CA                  CA certificate to trust
//   NATS_CONTEXT             a nats CLI context name, read from
//                            $XDG_CONFIG_HOME/nats/context/<name>.json
//                            (default ~/.config/nats/...). Without it the
//                            context named in .../nats/context.txt, if any.
// Variables set in the environment override the context's fields.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/result.hpp"

namespace agency {

inline constexpr std::string_view kDefaultNatsUrl = "nats://127.0.0.1:4222";

struct ConnectSettings {
  std::vector<std::string> servers;  // never empty after settings_from_environment
  std::string user;
  std::string password;
  std::string token;
  std::string creds_file;
  std::string nkey_seed_file;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  // Where the URL came from, for error messages: "NATS_URL", "context
  // 'prod' (/root/.config/nats/context/prod.json)", "--nats", "default".
  std::string origin;

  // The servers joined by ',' with any user:password@ removed: safe to print.
  [[nodiscard]] std::string display_url() const;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The real process environment.
std::optional<std::string> process_env(std::string_view name);

// Reads the variables above. Errors (errc::config) name the variable or file
// at fault: a context that does not exist, a context file that is not JSON.
Result<ConnectSettings> settings_from_environment(const EnvLookup& env = process_env);

// URL with user:password@ removed.
std::string redact_url(std::string_view url);

}  // namespace agency
