#include "console/server.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <set>

#include "console/assets.hpp"

namespace agency::console {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMostBodyBytes = 256 * 1024;
constexpr std::size_t kMostHeaderBytes = 16 * 1024;
constexpr std::size_t kMostSessions = 1024;
constexpr auto kKeepAliveEvery = 15s;
constexpr std::string_view kSessionCookie = "agency_session";
constexpr std::string_view kTokenCookie = "agency_token";
constexpr std::string_view kCsrfHeader = "X-Agency-CSRF";

// What every answer carries: pages only from here, no framing, no sniffing.
void secure(http::response<http::string_body>& res) {
  res.set("Content-Security-Policy",
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::cache_control, "no-store");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += plus_is_space && s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    out[percent_decode(pair.substr(0, eq), true)] =
        eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

std::map<std::string, std::string> parse_cookies(std::string_view header) {
  std::map<std::string, std::string> out;
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos) out[std::string(part.substr(0, eq))] = part.substr(eq + 1);
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return out;
}

// Compares secrets in time that does not depend on where they differ.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

void set_timeouts(int fd) {
  timeval read_timeout{30, 0};
  timeval write_timeout{10, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &read_timeout, sizeof read_timeout);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &write_timeout, sizeof write_timeout);
}

}  // namespace

Response error_response(int status, const std::string& message) {
  return {status, "application/json", json{{"error", message}}.dump()};
}

bool is_loopback(const std::string& address) {
  if (address == "localhost" || address == "::1") return true;
  boost::system::error_code ec;
  auto a = net::ip::make_address(address, ec);
  return !ec && a.is_loopback();
}

std::string random_token(std::size_t bytes) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string raw(bytes, '\0');
  in.read(raw.data(), static_cast<std::streamsize>(bytes));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (char c : raw) {
    const auto b = static_cast<unsigned char>(c);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

struct Server::Impl {
  ServerOptions opts;
  Handler handler;
  Feed* feed = nullptr;
  bool loopback = true;
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};

  std::mutex mu;  // guards what follows
  std::condition_variable idle;
  int active = 0;
  std::set<int> fds;
  std::vector<std::weak_ptr<Listener>> streams;
  std::deque<std::pair<std::string, std::string>> sessions;  // id, csrf; oldest first

  using HttpRequest = http::request<http::string_body>;
  using HttpResponse = http::response<http::string_body>;

  void accept_loop();
  void serve(tcp::socket socket);
  // Refuses what may not pass (Host, token); nullopt: it may.
  std::optional<HttpResponse> gate(const HttpRequest& req, const std::string& path,
                                   const std::map<std::string, std::string>& query);
  HttpResponse respond(const HttpRequest& req);
  void stream(tcp::socket& socket, const HttpRequest& req);

  std::string csrf_of(const std::string& session) {
    std::lock_guard lock(mu);
    for (const auto& [id, csrf] : sessions) {
      if (same_secret(id, session)) return csrf;
    }
    return {};
  }

  HttpResponse make(const HttpRequest& req, const Response& r) {
    HttpResponse res{static_cast<http::status>(r.status), req.version()};
    res.set(http::field::content_type, r.content_type);
    res.body() = r.body;
    secure(res);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
  }
};

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, Handler handler, Feed& feed) {
  std::unique_ptr<Server> server(new Server());
  server->impl_ = std::make_unique<Impl>();
  Impl& impl = *server->impl_;
  impl.opts = std::move(options);
  impl.handler = std::move(handler);
  impl.feed = &feed;
  impl.loopback = is_loopback(impl.opts.address);
  if (!impl.loopback && impl.opts.token.empty()) {
    return make_error(errc::config, "the console on " + impl.opts.address +
                                        " needs a token (only 127.0.0.1 and ::1 go without)");
  }
  boost::system::error_code ec;
  const std::string host = impl.opts.address == "localhost" ? "127.0.0.1" : impl.opts.address;
  auto address = net::ip::make_address(host, ec);
  if (ec) {
    return make_error(errc::config, "'" + impl.opts.address +
                                        "' is not an IP address to listen on: " + ec.message());
  }
  tcp::endpoint endpoint{address, impl.opts.port};
  impl.acceptor.emplace(impl.ioc);
  impl.acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl.acceptor->bind(endpoint, ec);
  if (!ec) impl.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(errc::io, "cannot listen on " + impl.opts.address + ":" +
                                    std::to_string(impl.opts.port) + ": " + ec.message());
  }
  server->port_ = impl.acceptor->local_endpoint().port();
  impl.opts.port = server->port_;
  impl.accept_thread = std::thread([&impl] { impl.accept_loop(); });
  return server;
}

Server::~Server() { stop(); }

std::string Server::url() const {
  const std::string& a = impl_->opts.address;
  const bool v6 = a.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + a + "]" : a) + ":" + std::to_string(port_) + "/";
}

void Server::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  Impl& impl = *impl_;
  // accept() and every blocking read or write return once their socket is
  // shut down; a stream returns once its listener is closed.
  (void)::shutdown(impl.acceptor->native_handle(), SHUT_RDWR);
  if (impl.accept_thread.joinable()) impl.accept_thread.join();
  std::unique_lock lock(impl.mu);
  for (int fd : impl.fds) (void)::shutdown(fd, SHUT_RDWR);
  for (auto& w : impl.streams) {
    if (auto l = w.lock()) l->close();
  }
  impl.idle.wait(lock, [&] { return impl.active == 0; });
  lock.unlock();
  boost::system::error_code ec;
  impl.acceptor->close(ec);
}

void Server::Impl::accept_loop() {
  while (!stopping.load()) {
    boost::system::error_code ec;
    tcp::socket socket(ioc);
    acceptor->accept(socket, ec);
    if (ec) {
      if (stopping.load()) return;
      std::this_thread::sleep_for(50ms);  // out of descriptors: let some close
      continue;
    }
    std::unique_lock lock(mu);
    if (active >= kMostConnections) {
      lock.unlock();
      socket.close(ec);
      continue;
    }
    ++active;
    fds.insert(socket.native_handle());
    lock.unlock();
    std::thread([this, s = std::move(socket)]() mutable {
      const int fd = s.native_handle();
      serve(std::move(s));
      std::lock_guard done(mu);
      fds.erase(fd);
      --active;
      idle.notify_all();
    }).detach();
  }
}

void Server::Impl::serve(tcp::socket socket) {
  set_timeouts(socket.native_handle());
  beast::flat_buffer buffer;
  while (!stopping.load()) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMostBodyBytes);
    parser.header_limit(kMostHeaderBytes);
    boost::system::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      HttpRequest stub;
      auto res = make(stub, error_response(413, "the request is too large"));
      res.keep_alive(false);
      http::write(socket, res, ec);
      break;
    }
    if (ec) break;
    HttpRequest req = parser.release();
    const std::string target(req.target());
    if (req.method() == http::verb::get && target.substr(0, target.find('?')) == "/api/stream") {
      stream(socket, req);
      break;
    }
    HttpResponse res = respond(req);
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
}

std::optional<Server::Impl::HttpResponse> Server::Impl::gate(
    const HttpRequest& req, const std::string& path,
    const std::map<std::string, std::string>& query) {
  const std::string host(req[http::field::host]);
  const std::string port = std::to_string(opts.port);
  if (loopback) {
    // A page elsewhere that resolves its own name to 127.0.0.1 (DNS
    // rebinding) sends its own name as Host: only ours pass.
    const bool ours =
        host == "127.0.0.1:" + port || host == "localhost:" + port || host == "[::1]:" + port;
    if (!ours) {
      return make(req, error_response(403, "this console answers to http://127.0.0.1:" + port +
                                               "/ (the request named host '" + host + "')"));
    }
    return std::nullopt;
  }
  const auto cookies = parse_cookies(req[http::field::cookie]);
  std::string presented;
  if (auto it = cookies.find(std::string(kTokenCookie)); it != cookies.end()) {
    presented = it->second;
  }
  const std::string auth(req[http::field::authorization]);
  if (auth.starts_with("Bearer ")) presented = auth.substr(7);
  if (auto it = query.find("token"); it != query.end()) {
    if (!same_secret(it->second, opts.token)) {
      return make(req, error_response(403, "wrong console token"));
    }
    // Once: the token becomes a cookie, and the address loses it.
    HttpResponse res{http::status::see_other, req.version()};
    res.set(http::field::location, path);
    res.set(http::field::set_cookie,
            std::string(kTokenCookie) + "=" + opts.token + "; Path=/; HttpOnly; SameSite=Strict");
    secure(res);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
  }
  if (!same_secret(presented, opts.token)) {
    return make(req, error_response(403,
                                    "this console needs its token: open the address `agency up` "
                                    "printed (with ?token=...), or send Authorization: Bearer "
                                    "<token> (<state_dir>/console.token)"));
  }
  return std::nullopt;
}

Server::Impl::HttpResponse Server::Impl::respond(const HttpRequest& req) {
  const std::string target(req.target());
  const auto q = target.find('?');
  const std::string path = percent_decode(std::string_view(target).substr(0, q), false);
  const auto query = q == std::string::npos ? std::map<std::string, std::string>()
                                            : parse_query(std::string_view(target).substr(q + 1));
  if (auto refused = gate(req, path, query)) return std::move(*refused);

  const bool get = req.method() == http::verb::get;
  const bool post = req.method() == http::verb::post;
  if (!get && !post) return make(req, error_response(405, "only GET and POST are answered here"));

  if (get && !path.starts_with("/api/")) {
    const Asset* asset = find_asset(path == "/" ? "/index.html" : path);
    if (asset == nullptr) return make(req, error_response(404, "no page " + path));
    return make(req, {200, std::string(asset->type), std::string(asset->body)});
  }

  const auto cookies = parse_cookies(req[http::field::cookie]);
  std::string session;
  if (auto it = cookies.find(std::string(kSessionCookie)); it != cookies.end()) {
    session = it->second;
  }
  if (get && path == "/api/session") {
    std::string csrf = session.empty() ? std::string() : csrf_of(session);
    bool fresh = false;
    if (csrf.empty()) {
      session = random_token();
      csrf = random_token();
      fresh = true;
      std::lock_guard lock(mu);
      sessions.emplace_back(session, csrf);
      if (sessions.size() > kMostSessions) sessions.pop_front();
    }
    auto res = make(req, {200, "application/json",
                          json{{"csrf", csrf},
                               {"readOnly", opts.read_only},
                               {"version", opts.version},
                               {"actor", opts.actor}}
                              .dump()});
    if (fresh) {
      res.set(http::field::set_cookie,
              std::string(kSessionCookie) + "=" + session + "; Path=/; HttpOnly; SameSite=Strict");
    }
    return res;
  }
  if (post) {
    if (opts.read_only) {
      return make(req, error_response(403, "this console is read-only (--read-only)"));
    }
    const std::string csrf = session.empty() ? std::string() : csrf_of(session);
    if (csrf.empty() || !same_secret(std::string(req[kCsrfHeader]), csrf)) {
      return make(req, error_response(403,
                                      "missing or wrong CSRF token: send the header "
                                      "X-Agency-CSRF with the csrf of GET /api/session, from the "
                                      "same session"));
    }
  }
  Request r;
  r.method = post ? "POST" : "GET";
  r.path = path;
  r.query = query;
  r.body = req.body();
  return make(req, handler(r));
}

void Server::Impl::stream(tcp::socket& socket, const HttpRequest& req) {
  const std::string target(req.target());
  const auto q = target.find('?');
  const auto query = q == std::string::npos ? std::map<std::string, std::string>()
                                            : parse_query(std::string_view(target).substr(q + 1));
  boost::system::error_code ec;
  if (auto refused = gate(req, "/api/stream", query)) {
    refused->keep_alive(false);
    http::write(socket, *refused, ec);
    return;
  }
  auto listener = feed->listen();
  {
    std::lock_guard lock(mu);
    std::erase_if(streams, [](const auto& w) { return w.expired(); });
    streams.push_back(listener);
  }
  // A body delimited by the end of the connection: frames go out as they
  // come, with nothing to buffer.
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
  net::write(socket, net::buffer(head), ec);
  while (!ec && !stopping.load()) {
    auto frame = listener->next(kKeepAliveEvery);
    if (!frame) {
      if (listener->closed()) break;
      net::write(socket, net::buffer(std::string_view(": keep-alive\n\n")), ec);
      continue;
    }
    net::write(socket, net::buffer(*frame), ec);
  }
  listener->close();
}

}  // namespace agency::console
