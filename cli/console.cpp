// agency console: the web console (console/, docs/CONSOLE.md) on the fleet's
// bus, until SIGINT or SIGTERM. `agency up` runs one too.
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "bus/signals.hpp"
#include "bus/text.hpp"
#include "cli/cli.hpp"
#include "console/api.hpp"
#include "console/feed.hpp"
#include "console/server.hpp"
#include "runtime/steering.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct ConsoleOptions {
  std::string listen = "127.0.0.1";
  int port = kDefaultConsolePort;
  bool read_only = false;
  std::string token_file;
};

// The console token: read from `file`, or made and kept there (0600).
Result<std::string> console_token(const fs::path& file) {
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::ifstream in(file);
    std::string token;
    std::getline(in, token);
    if (token.size() < 16) {
      return make_error(errc::config, file.string() + " holds no token (at least 16 characters)");
    }
    return token;
  }
  const std::string token = console::random_token();
  fs::create_directories(file.parent_path(), ec);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errc::io, "cannot write " + file.string());
  const std::string line = token + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!written) return make_error(errc::io, "cannot write " + file.string());
  return token;
}

int run_console(const GlobalOptions& global, const ConsoleOptions& opts) {
  // Before any NATS thread exists: they inherit the blocked signals.
  SignalFd signals({SIGINT, SIGTERM});
  auto cfg = fleet_config(global);
  console::ServerOptions so;
  so.address = opts.listen;
  so.port = static_cast<std::uint16_t>(opts.port);
  so.read_only = opts.read_only;
  so.actor = steering::human_actor(steering::current_user());
  so.version = AGENCY_VERSION;
  if (!console::is_loopback(opts.listen)) {
    const fs::path file =
        opts.token_file.empty() ? cfg.state_dir / "console.token" : fs::path(opts.token_file);
    so.token = must(console_token(file));
  }
  auto conn = must(connect_cli(global, "agency-console"));
  auto feed = must(console::Feed::start(*conn));
  console::Api api(*conn, *feed, cfg, so.actor);
  auto server = must(console::Server::start(
      so, [&api](const console::Request& r) { return api.handle(r); }, *feed));
  std::string url = server->url();
  if (!so.token.empty()) url += "?token=" + so.token;
  if (global.json) {
    std::cout << json{{"url", url}, {"port", server->port()}, {"read_only", opts.read_only}}.dump()
              << std::endl;
  } else {
    std::cout << "console " << url << (opts.read_only ? " (read-only)" : "") << std::endl;
  }
  int sig = 0;
  while (sig == 0) sig = signals.wait(std::chrono::hours(1));
  std::cerr << "agency console: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping\n";
  server->stop();
  return 0;
}

}  // namespace

void add_console_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<ConsoleOptions>();
  auto* cmd = app.add_subcommand(
      "console", "A web console: the fleet, the board, tasks, usage, decisions; live");
  cmd->add_option("--listen", opts->listen,
                  "address to listen on (default 127.0.0.1; any other needs the token)");
  cmd->add_option("--port", opts->port,
                  "port (default " + std::to_string(kDefaultConsolePort) + "; 0: any free one)")
      ->check(CLI::Range(0, 65535));
  cmd->add_flag("--read-only", opts->read_only, "serve the pages without the actions");
  cmd->add_option("--token-file", opts->token_file,
                  "the token for a non-loopback address (default <state_dir>/console.token, "
                  "made 0600 when missing)");
  cmd->add_flag("--json", global.json, "print the address as JSON");
  cmd->callback([&global, opts] {
    const int code = run_console(global, *opts);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace agency::cli
