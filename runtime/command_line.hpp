// What every command of `agency` shares, also those a role brings (its
// catalog entry's `commands`, runtime/catalog.hpp): the global options, the
// exit codes, loading agency.yaml and connecting as the CLI does, and
// failing with a message and an exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "bus/connection.hpp"
#include "bus/result.hpp"
#include "runtime/config.hpp"

namespace agency::cli {

// Exit codes: 0 ok, 1 the operation failed (server said no, not found),
// 2 usage or config error, 3 cannot reach NATS.
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNoServer = 3;

struct GlobalOptions {
  std::optional<std::filesystem::path> config_path;  // --config
  std::string nats_url;                              // --nats (overrides NATS_URL)
  bool json = false;                                 // --json where a command supports it
};

// One line of `agency doctor`: what was checked, how it went, what to do.
// A role adds its own through its catalog entry (`doctor`).
enum class Level { ok, warn, fail, skip };
struct Check {
  Check(std::string name_, Level level_ = Level::ok, std::string detail_ = {},
        std::string fix_ = {})
      : name(std::move(name_)), level(level_), detail(std::move(detail_)), fix(std::move(fix_)) {}

  std::string name;
  Level level;
  std::string detail;
  std::string fix;  // what to do; empty when nothing is to be done
};

// Loads agency.yaml (or the default) as --config says; prints the error and
// returns nullopt on failure.
std::optional<config::Config> load_config_or_report(const GlobalOptions& global);

// Connects as the CLI does: --nats, else NATS_URL / NATS_CONTEXT, else the
// URL a running `agency up` wrote to <state_dir>/nats.url, else the default.
// On failure prints which URL it tried and how to start a server. ordered:
// all subscriptions' messages on one thread, in arrival order (watch).
Result<std::unique_ptr<Connection>> connect_cli(const GlobalOptions& global,
                                                const std::string& connection_name,
                                                bool ordered = false);

// Prints an Error to stderr as "agency: <message>".
void report(const Error& error);
// Exit code for an error (kExitNoServer for connect errors, kExitFailed else).
int exit_code_for(const Error& error);

// Reports the error and ends the subcommand with its exit code.
[[noreturn]] void fail(const Error& error);
// The value, or fail() with the error.
template <class T>
T must(Result<T> r) {
  if (!r) fail(r.error());
  return std::move(*r);
}
void must(const Result<void>& r);

}  // namespace agency::cli
