// The console's HTTP server (Boost.Beast, one thread per connection, at
// most kMostConnections at once). It owns what is HTTP about the console:
// the Host check on loopback, the token elsewhere, the session cookie and
// its CSRF token, --read-only, the security headers, the embedded pages
// and the event stream. What a path answers is the Api's (console/api.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bus/result.hpp"
#include "console/feed.hpp"

namespace agency::console {

struct Request {
  std::string method;  // GET, POST
  std::string path;    // decoded, without the query
  std::map<std::string, std::string> query;
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// {"error": message} with the status.
Response error_response(int status, const std::string& message);

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port
  bool read_only = false;
  // Required of every request when the address is not loopback.
  std::string token;
  std::string actor;    // human:<user>, shown by /api/session
  std::string version;  // shown by /api/session
};

class Server {
 public:
  static constexpr int kMostConnections = 128;
  using Handler = std::function<Response(const Request&)>;

  // Binds and starts accepting. `handler` answers /api/* but
  // /api/session and /api/stream; `feed` feeds /api/stream.
  static Result<std::unique_ptr<Server>> start(ServerOptions options, Handler handler, Feed& feed);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // http://address:port/
  [[nodiscard]] std::string url() const;
  // Stops accepting, ends every connection and stream, joins the threads.
  void stop();

 private:
  struct Impl;
  Server() = default;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

// Whether `address` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& address);
// A random token of `bytes` bytes, hex (from /dev/urandom).
std::string random_token(std::size_t bytes = 24);

}  // namespace agency::console
