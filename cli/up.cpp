// agency up: one machine's whole mesh. Starts an embedded nats-server (unless
// --nats or nats.url names an existing one), provisions the streams,
// consumers and buckets, runs `count` agents of every configured role under
// the supervisor, and on SIGINT/SIGTERM/SIGHUP stops the fleet, then the
// server.
//
// Signals: SIGINT, SIGTERM and SIGHUP are blocked before any thread exists
// (nats.c threads inherit the mask) and read from a signalfd, so no code
// runs in a signal handler. Children get a clean mask (supervisor.cpp).
//
// Instance counts: while the fleet runs, `agency up` answers ScaleRequests
// on agency.up.scale (the dispatcher asks for one more agent of a role, or
// to retire one). They arrive on a nats.c thread, are queued, and are
// carried out on the supervisor's thread (children are forked and signalled
// from the thread that owns them), which then publishes the reply.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "agency/v1/control.pb.h"
#include "agency/v1/scale.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/embedded_server.hpp"
#include "bus/program.hpp"
#include "bus/provision.hpp"
#include "bus/signals.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "cli/cli.hpp"
#include "cli/fleet.hpp"
#include "cli/supervisor.hpp"
#include "console/server.hpp"
#include "runtime/credentials.hpp"
#include "runtime/logging.hpp"
#include "runtime/permissions.hpp"
#include "runtime/place.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr milliseconds kServerGrace{10000};
// A retired agent is told to drain: it finishes what it holds and exits.
// One still running after this long gets SIGTERM (and SIGKILL kFleetGrace
// later): an engine turn is bounded by roles.<r>.timeout_seconds (600 s by
// default), so it has had its chance.
constexpr milliseconds kDrainLimit{10 * 60 * 1000};
// Agents of a role without dispatcher.instances.<role>.max (the config's
// own ceiling for roles.<r>.count).
constexpr int kMaxAgentsPerRole = 64;
// Queue group of the scale endpoint: with several `agency up` on one
// server, one of them answers a request, not each.
constexpr std::string_view kScaleQueue = "agency-up";
// Without agency.yaml: the configuration made from the place, in the state
// dir, which the agents are given as AGENCY_CONFIG.
constexpr std::string_view kPlaceConfig = "agency.place.yaml";

struct UpOptions {
  bool no_fleet = false;
  bool no_console = false;
  int console_port = kDefaultConsolePort;
  std::string console_listen = "127.0.0.1";
  bool console_read_only = false;
  bool tls = false;  // --tls: a CA and certificate made in the state dir
  int cluster = 0;   // --cluster N: N embedded nodes (0: nats.cluster)
};

// A port to listen on at `address`: `wanted` when it is free, else (when it
// is the default) any free one; 0 when none can be had.
int free_port(const std::string& address, int wanted) {
  for (int port : {wanted, 0}) {
    const bool v6 = address.find(':') != std::string::npos;
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int one = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool bound = false;
    if (v6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(static_cast<std::uint16_t>(port));
      bound = ::inet_pton(AF_INET6, address.c_str(), &a.sin6_addr) == 1 &&
              ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      const std::string host = address == "localhost" ? "127.0.0.1" : address;
      bound = ::inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1 &&
              ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    int got = 0;
    if (bound) {
      sockaddr_storage s{};
      socklen_t len = sizeof s;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len) == 0) {
        got = ntohs(s.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&s)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&s)->sin_port);
      }
    }
    ::close(fd);
    if (got != 0) return got;
    if (wanted != kDefaultConsolePort) return 0;
  }
  return 0;
}

// Scale requests, handed from the nats.c thread that receives them to the
// supervisor's thread. The eventfd wakes that thread's poll.
class ScaleInbox {
 public:
  struct Item {
    std::string reply;  // where the answer goes; empty: nobody waits for one
    std::string data;
    Headers headers;
  };

  ScaleInbox() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~ScaleInbox() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScaleInbox(const ScaleInbox&) = delete;
  ScaleInbox& operator=(const ScaleInbox&) = delete;

  // -1 when no eventfd could be made: the owner then polls the queue.
  [[nodiscard]] int fd() const { return fd_; }

  // Any thread.
  void push(Item item) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(item));
    }
    if (fd_ >= 0) {
      std::uint64_t one = 1;
      (void)!::write(fd_, &one, sizeof one);
    }
  }

  // Everything queued so far. The counter is reset first, so an item pushed
  // meanwhile is either taken now or wakes the next poll.
  std::deque<Item> take() {
    if (fd_ >= 0) {
      std::uint64_t n = 0;
      (void)!::read(fd_, &n, sizeof n);
    }
    std::deque<Item> out;
    std::lock_guard lock(mu_);
    out.swap(items_);
    return out;
  }

 private:
  int fd_ = -1;
  std::mutex mu_;
  std::deque<Item> items_;
};

// Carries out ScaleRequests on the supervisor's thread: starts one more
// agent of a role (within dispatcher.instances.<role>.max), or drains and
// retires one (not below .min).
class Scaler {
 public:
  Scaler(const config::Config& cfg, const FleetEnv& fleet, fs::path exe_dir, Supervisor& supervisor,
         Connection& conn, const Out& out, bool no_fleet)
      : no_fleet_(no_fleet),
        cfg_(cfg),
        fleet_(fleet),
        exe_dir_(std::move(exe_dir)),
        supervisor_(supervisor),
        conn_(conn),
        out_(out) {
    for (const auto& role : cfg_.roles) highest_[role.name] = role.count;
  }

  // An agent of the initial fleet.
  void started(const std::string& id, const std::string& role) { role_of_[id] = role; }

  void handle(const ScaleInbox::Item& item) {
    v1::ScaleReply reply;
    auto request = codec::decode<v1::ScaleRequest>(item.data, item.headers);
    if (!request) {
      reply.set_reason("not a ScaleRequest: " + request.error().message);
    } else if (request->action() == "start") {
      reply = start(*request);
    } else if (request->action() == "stop") {
      reply = stop(*request);
    } else if (request->action() == "admit") {
      reply = admit(*request);
    } else {
      reply.set_agent_id(request->agent_id());
      reply.set_reason("unknown action '" + request->action() + "'; use start, stop or admit");
    }
    if (!reply.ok()) {
      out_.warn("refused a scale request" +
                (request && !request->requested_by().empty() ? " from " + request->requested_by()
                                                             : std::string()) +
                ": " + reply.reason());
    }
    answer(item, reply);
  }

  // Requests still queued when `agency up` stops.
  void refuse(const ScaleInbox::Item& item) {
    v1::ScaleReply reply;
    reply.set_reason("agency up is stopping the fleet");
    answer(item, reply);
  }

  // Tells the terminal about retired agents that have exited, and lets the
  // supervisor forget them.
  void sweep_retired() {
    for (const auto& st : supervisor_.status()) {
      if (!st.retired || st.running || draining_.count(st.id) == 0) continue;
      out_.line(st.id + " has stopped (" +
                (st.exited ? describe_wait_status(st.last_status) : std::string("not running")) +
                "); it is not restarted");
      draining_.erase(st.id);
      role_of_.erase(st.id);
      (void)supervisor_.forget(st.id);
    }
  }

 private:
  // Agents of `role` that are part of the fleet: running or waiting for a
  // restart, and not retired.
  int active(const std::string& role) const {
    int n = 0;
    for (const auto& st : supervisor_.status()) {
      auto it = role_of_.find(st.id);
      if (it != role_of_.end() && it->second == role && !st.retired) ++n;
    }
    return n;
  }

  const config::Instances* instances(const std::string& role) const {
    auto it = cfg_.instances.find(role);
    return it == cfg_.instances.end() ? nullptr : &it->second;
  }

  static std::string by(const v1::ScaleRequest& r) {
    return r.requested_by().empty() ? "on request" : "at " + r.requested_by() + "'s request";
  }

  v1::ScaleReply start(const v1::ScaleRequest& request) {
    v1::ScaleReply reply;
    if (no_fleet_) {
      reply.set_reason("agency up runs with --no-fleet: it starts no agents");
      return reply;
    }
    const std::string& name = request.role();
    const config::Role* role = cfg_.role(name);
    if (role == nullptr) {
      std::string list;
      for (const auto& r : cfg_.roles) list += (list.empty() ? "" : ", ") + r.name;
      reply.set_reason(
          (name.empty() ? std::string("no role given") : "no role '" + name + "' in agency.yaml") +
          " (roles: " + list + ")");
      return reply;
    }
    if (role->external) {
      reply.set_reason("role " + name + " is external (roles." + name +
                       ".external in agency.yaml): you run its agents, agency up starts none");
      return reply;
    }
    const auto* rule = instances(name);
    const int max = rule != nullptr ? rule->max : kMaxAgentsPerRole;
    const int now = active(name);
    if (now >= max) {
      reply.set_reason("role " + name + " is at its max " + std::to_string(max) + " (" +
                       std::to_string(now) + " agent(s) running; " +
                       (rule != nullptr ? "dispatcher.instances." + name + ".max"
                                        : std::string("no dispatcher.instances entry: at most ") +
                                              std::to_string(kMaxAgentsPerRole)) +
                       ")");
      return reply;
    }
    auto command = resolve_role_command(cfg_, *role, exe_dir_);
    if (command.argv.empty()) {
      reply.set_reason(command.problem);
      return reply;
    }
    const int n = ++highest_[name];
    auto spec = agent_spec(fleet_, *role, command.argv, name + "-" + std::to_string(n));
    if (fleet_.admit) {
      if (auto r = fleet_.admit(spec.id, false); !r) {
        reply.set_reason("cannot let " + spec.id + " into the mesh: " + r.error().message);
        return reply;
      }
    }
    auto pid = supervisor_.start(spec);
    if (!pid) {
      reply.set_reason(pid.error().message);
      return reply;
    }
    role_of_[spec.id] = name;
    out_.line("started " + spec.id + " (pid " + std::to_string(*pid) + ") " + by(request) +
              (request.reason().empty() ? "" : ": " + request.reason()));
    reply.set_ok(true);
    reply.set_agent_id(spec.id);
    return reply;
  }

  // `agency creds` made a key for an agent that runs elsewhere: the server
  // is told to let it in.
  v1::ScaleReply admit(const v1::ScaleRequest& request) {
    v1::ScaleReply reply;
    reply.set_agent_id(request.agent_id());
    if (!fleet_.admit) {
      reply.set_reason("this mesh's server is not run by agency up, or has no users (nats.auth)");
      return reply;
    }
    if (auto r = fleet_.admit(request.agent_id(), true); !r) {
      reply.set_reason(r.error().message);
      return reply;
    }
    out_.line("let " + request.agent_id() + " into the mesh " + by(request));
    reply.set_ok(true);
    return reply;
  }

  v1::ScaleReply stop(const v1::ScaleRequest& request) {
    v1::ScaleReply reply;
    const std::string& id = request.agent_id();
    reply.set_agent_id(id);
    auto it = role_of_.find(id);
    if (id.empty() || it == role_of_.end()) {
      reply.set_reason(id.empty() ? "no agent_id given" : "no agent " + id + " in this fleet");
      return reply;
    }
    const std::string role = it->second;
    if (!request.role().empty() && request.role() != role) {
      reply.set_reason(id + " is an agent of role " + role + ", not " + request.role());
      return reply;
    }
    bool retired = false;
    bool running = false;
    for (const auto& st : supervisor_.status()) {
      if (st.id == id) {
        retired = st.retired;
        running = st.running;
      }
    }
    if (retired) {
      reply.set_reason(id + " is already retired and draining");
      return reply;
    }
    const auto* rule = instances(role);
    const config::Role* r = cfg_.role(role);
    const int min = rule != nullptr ? rule->min : (r != nullptr ? r->count : 0);
    const int now = active(role);
    // A person's order (agency agent drain|stop) is theirs to give below
    // the min; the dispatcher's is not.
    const bool by_person = request.requested_by().starts_with(vocabulary::kHumanActorPrefix);
    if (!by_person && now - 1 < min) {
      reply.set_reason(
          "role " + role + " is at its min " + std::to_string(min) + " (" + std::to_string(now) +
          " agent(s) running; " +
          (rule != nullptr ? "dispatcher.instances." + role + ".min" : "roles." + role + ".count") +
          ")");
      return reply;
    }
    std::string how;
    if (!running) {
      // Between a crash and its restart: nothing to drain.
      (void)supervisor_.retire(id);
      how = "retired " + id + " (it was waiting for a restart)";
    } else {
      v1::Control control;
      control.set_command("drain");
      control.set_reason(request.reason().empty() ? "the fleet is scaled down" : request.reason());
      control.set_from("agency-up");
      *control.mutable_at() = now_timestamp();
      auto sent = conn_.publish(subjects::control(id), codec::encode(control));
      if (sent) {
        (void)supervisor_.retire(id, kDrainLimit, kFleetGrace);
        how = "draining " + id + " (SIGTERM if it still runs in " +
              std::to_string(kDrainLimit.count() / 60000) + " min)";
      } else {
        // It cannot be told to drain: SIGTERM, which agents also take as
        // "finish up and go".
        (void)supervisor_.stop(id, kFleetGrace);
        how = "stopping " + id +
              " with SIGTERM (the drain control failed: " + sent.error().message + ")";
      }
    }
    draining_.insert(id);
    out_.line(how + " " + by(request) + (request.reason().empty() ? "" : ": " + request.reason()));
    reply.set_ok(true);
    return reply;
  }

  void answer(const ScaleInbox::Item& item, const v1::ScaleReply& reply) {
    if (item.reply.empty()) return;
    if (auto r = conn_.publish(item.reply, codec::encode(reply)); !r) {
      out_.warn("cannot answer a scale request: " + r.error().message);
    }
  }

  bool no_fleet_;
  const config::Config& cfg_;
  FleetEnv fleet_;
  fs::path exe_dir_;
  Supervisor& supervisor_;
  Connection& conn_;
  const Out& out_;
  std::map<std::string, std::string> role_of_;  // agent id -> role, ours only
  std::map<std::string, int> highest_;          // role -> highest agent number used
  std::set<std::string> draining_;              // retired, not yet seen exit
};

// Who may connect to the embedded server: one NATS user per agent (keys
// made for every agent the fleet may start) and TLS.
Result<void> prepare_access(const config::Config& cfg, const UpOptions& opts,
                            credentials::MeshAccess& access) {
  access.auth = cfg.nats.auth;
  if (access.auth) {
    std::vector<int> counts;
    for (const auto& role : cfg.roles) {
      auto it = cfg.instances.find(role.name);
      counts.push_back(std::max(role.count, it == cfg.instances.end() ? 0 : it->second.max));
    }
    if (auto r = credentials::ensure_fleet(access.state_dir, access.roles, counts); !r) {
      return r.error();
    }
  }
  if (!cfg.nats.tls_cert.empty()) {
    access.tls_cert = cfg.nats.tls_cert;
    access.tls_key = cfg.nats.tls_key;
    access.tls_ca = cfg.nats.tls_ca.empty() ? cfg.nats.tls_cert : cfg.nats.tls_ca;
  } else if (opts.tls) {
    auto made = credentials::ensure_tls(access.state_dir, {cfg.nats.host});
    if (!made) return made.error();
    access.tls_ca = made->ca;
    access.tls_cert = made->cert;
    access.tls_key = made->key;
  }
  return {};
}

// A new agent id: its key, the server told to read its users again, and
// back once a connection with that key is let in. `reload`: even when the
// key is there already (`agency creds` made it).
Result<void> admit_agent(const credentials::MeshAccess& access,
                         const std::vector<std::unique_ptr<EmbeddedServer>>& nodes,
                         const std::vector<std::string>& urls, const std::string& id, bool reload) {
  if (permissions::principal_named(id, access.roles).role.empty()) {
    return make_error(errc::config, "'" + id + "' is no agent id of a role of this fleet");
  }
  auto made = credentials::ensure(access.state_dir, id);
  if (!made) return made.error();
  if (!*made && !reload) return {};
  auto text = access.server_config();
  if (!text) return text.error();
  for (const auto& node : nodes) {
    if (auto r = node->reload(*text); !r) return r;
  }
  ConnectSettings settings;
  settings.servers = urls;
  settings.origin = "embedded nats-server";
  access.apply(settings, id);
  ConnectOptions co;
  co.name = "agency-up-admit";
  Error last;
  for (int attempt = 0; attempt < 40; ++attempt) {
    auto c = Connection::open(settings, co);
    if (c) return {};
    last = c.error();
    std::this_thread::sleep_for(milliseconds{50});
  }
  return make_error(errc::connect, "the server did not take the new key: " + last.message);
}

// Everything `agency up` has started, torn down in reverse order whatever
// path leaves run_up.
struct Session {
  Out out{false, "agency up"};
  // The embedded server, or the nodes of the embedded cluster.
  std::vector<std::unique_ptr<EmbeddedServer>> nodes;
  fs::path url_file;  // written while the embedded server runs
  StateLock lock;

  ~Session() { stop_server(); }

  void stop_server() {
    for (auto& node : nodes) {
      auto pid = node->pid();
      auto r = node->stop(kServerGrace);
      if (!r) {
        out.warn("stopping nats-server: " + r.error().message);
      } else {
        out.line("nats-server stopped (pid " + std::to_string(pid) + ")");
      }
    }
    nodes.clear();
    if (!url_file.empty()) {
      std::error_code ec;
      fs::remove(url_file, ec);
      url_file.clear();
    }
  }
};

int run_up(const GlobalOptions& global, const UpOptions& opts) {
  // First, before any thread exists.
  // SIGINT, SIGTERM and SIGHUP, blocked and readable from a descriptor.
  SignalFd signals({SIGINT, SIGTERM, SIGHUP});
  Session session;
  const Out& out = session.out;
  session.out.json = global.json;

  auto loaded = load_config_or_report(global);
  if (!loaded) return kExitUsage;
  config::Config cfg = std::move(*loaded);

  std::error_code ec;
  const fs::path state_dir = fs::absolute(cfg.state_dir, ec).lexically_normal();

  // Without agency.yaml the place decides: the repository we are in and the
  // coding CLI installed here. The agents read the same choices from a file
  // in the state dir, as they would read agency.yaml.
  std::optional<place::Place> found;
  std::string found_yaml;
  if (cfg.source.empty()) {
    found = place::detect(fs::current_path());
    const fs::path file = state_dir / kPlaceConfig;
    found_yaml = place::config_yaml(
        *found, {state_dir, state_dir,
                 "What `agency up` found here, for its agents (no agency.yaml was found).\n"
                 "Rewritten at every start: `agency init --write` writes an agency.yaml to edit."});
    auto parsed = config::parse(found_yaml, file);
    if (!parsed) {
      report(make_error(errc::internal, "the configuration made from this place does not parse: " +
                                            parsed.error().message));
      return kExitFailed;
    }
    cfg = std::move(*parsed);
    out.line("no agency.yaml here, so it runs on what it found:");
    for (const auto& l : place::summary_lines(*found)) out << "  " << l << '\n';
    out.os() << std::flush;
  }
  fs::create_directories(state_dir, ec);
  if (ec) {
    report(make_error(errc::io, "cannot create the state dir " + state_dir.string() + ": " +
                                    ec.message() + "; set state_dir in agency.yaml"));
    return kExitFailed;
  }

  const fs::path url_file = state_dir / "nats.url";
  auto locked = session.lock.acquire(state_dir / "up.lock");
  if (!locked) {
    report(locked.error());
    return kExitFailed;
  }
  if (!*locked) {
    auto url = read_first_line(url_file);
    report(
        make_error(errc::config,
                   "another `agency up` or `agency join` is already running for " +
                       state_dir.string() + (url.empty() ? "" : " (NATS at " + url + ")") +
                       "; stop it first (Ctrl-C in its terminal), or use a different state_dir"));
    return kExitUsage;
  }
  if (found) {
    if (auto r = write_file_atomically(state_dir / kPlaceConfig, found_yaml); !r) {
      report(r.error());
      return kExitFailed;
    }
    // The state dir inside the repository would show in `git status`, and
    // the agents' worktrees with it.
    const auto ignore = state_dir / ".gitignore";
    if (found->repo && !fs::exists(ignore, ec)) (void)write_file_atomically(ignore, "*\n");
  }

  // The server: an existing one, or our own.
  std::string nats_url = !global.nats_url.empty() ? global.nats_url : cfg.nats.url;
  std::string origin = !global.nats_url.empty() ? "--nats" : "nats.url in agency.yaml";
  const int cluster_nodes = opts.cluster > 0 ? opts.cluster : cfg.nats.cluster;
  std::vector<std::string> node_urls;  // the embedded nodes' client URLs
  credentials::MeshAccess access;
  access.state_dir = state_dir;
  for (const auto& role : cfg.roles) access.roles.push_back(role.name);
  access.handoffs = permissions::handoffs(cfg.pipelines);
  if (nats_url.empty()) {
    if (auto r = prepare_access(cfg, opts, access); !r) {
      report(r.error());
      return exit_code_for(r.error());
    }
    EmbeddedServerOptions so;
    so.binary = cfg.nats.binary;
    so.state_dir = state_dir / "nats";
    so.host = cfg.nats.host;
    so.port = cfg.nats.port;
    so.monitor_port = cfg.nats.monitor_port;
    auto server_config = access.server_config();
    if (!server_config) {
      report(server_config.error());
      return exit_code_for(server_config.error());
    }
    so.config = *server_config;
    if (cluster_nodes > 1) {
      out.line("starting a cluster of " + std::to_string(cluster_nodes) +
               " nats-server nodes (streams and buckets with " +
               std::to_string(std::min(3, cluster_nodes)) + " replicas)");
      auto started = start_cluster(so, cluster_nodes);
      if (!started) {
        report(started.error());
        return exit_code_for(started.error());
      }
      session.nodes = std::move(*started);
    } else {
      auto started = EmbeddedServer::start(so);
      if (!started) {
        report(started.error());
        return exit_code_for(started.error());
      }
      session.nodes.push_back(std::move(*started));
    }
    nats_url.clear();
    for (const auto& node : session.nodes) {
      std::string u = node->url();
      if (!access.tls_ca.empty()) u = "tls://" + u.substr(u.find("://") + 3);
      node_urls.push_back(u);
      nats_url += (nats_url.empty() ? "" : ",") + u;
    }
    origin = "embedded nats-server";
    if (auto r = write_file_atomically(url_file, nats_url + "\n"); !r) {
      out.warn(r.error().message + "; other agency commands will not find the server by itself");
    } else {
      session.url_file = url_file;
    }
    std::string pids;
    for (const auto& node : session.nodes) {
      pids += (pids.empty() ? "" : ", ") + std::to_string(node->pid());
    }
    out.line(std::string(session.nodes.size() > 1 ? "nats-server cluster" : "nats-server") +
             " running (pid " + pids + ", JetStream on)");
    out << "  NATS URL     " << nats_url << '\n';
    out << "  use it with: export NATS_URL=" << nats_url << '\n';
    if (access.auth) {
      out << "               export NATS_NKEY="
          << credentials::creds_file(state_dir, "admin").string()
          << "   (admin; agency commands here find it by themselves)\n";
    }
    if (!access.tls_ca.empty()) {
      out << "               export NATS_CA=" << access.tls_ca.string() << '\n';
    }
    for (const auto& node : session.nodes) {
      if (node->monitor_port() <= 0) continue;
      out << "  monitoring   http://" << (cfg.nats.host == "0.0.0.0" ? "127.0.0.1" : cfg.nats.host)
          << ':' << node->monitor_port() << '\n';
    }
    out << "  state dir    " << state_dir.string() << '\n';
    for (const auto& node : session.nodes) {
      out << "  server log   " << (node->options().state_dir / "nats-server.log").string() << '\n';
    }
    out.os() << std::flush;
  } else {
    out.line("using the NATS server at " + redact_url(nats_url) + " (" + origin + ")");
    out << "  state dir    " << state_dir.string() << '\n';
    out.os() << std::flush;
  }

  if (int sig = signals.take(); sig != 0) {
    out.line("received " + signal_name(sig) + " while starting; stopping");
    return 0;
  }

  // Credentials and TLS come from the environment as for every NATS client.
  auto settings = settings_from_environment();
  if (!settings) {
    report(settings.error());
    return exit_code_for(settings.error());
  }
  settings->servers = node_urls.empty() ? std::vector<std::string>{nats_url} : node_urls;
  settings->origin = origin;
  access.apply(*settings, "admin");
  ConnectOptions co;
  co.name = "agency-up";
  co.mode = ConnectMode::keep_trying;
  auto connection = Connection::open(*settings, co);
  if (!connection) {
    report(connection.error());
    return exit_code_for(connection.error());
  }
  if (!(*connection)->connected()) {
    out.line("waiting for NATS at " + redact_url(nats_url) + " (Ctrl-C to give up)");
    while (!(*connection)->connected()) {
      if (int sig = signals.wait(milliseconds{250}); sig != 0) {
        out.line("received " + signal_name(sig) + " while waiting for NATS; stopping");
        return 0;
      }
    }
  }

  std::vector<std::string> roles;
  for (const auto& role : cfg.roles) roles.push_back(role.name);
  ProvisionPlan plan = provision_plan(cfg, roles);
  // A cluster of our own: every stream and bucket on up to three nodes.
  if (session.nodes.size() > 1) {
    plan.replicas = std::min<int>(3, static_cast<int>(session.nodes.size()));
  }
  auto provisioned = provision(**connection, plan);
  if (!provisioned) {
    report(provisioned.error());
    return exit_code_for(provisioned.error());
  }
  out.line(
      "provisioned streams, consumers and buckets: " + std::to_string(provisioned->created.size()) +
      " created, " + std::to_string(provisioned->updated.size()) + " updated, " +
      std::to_string(provisioned->unchanged.size()) + " unchanged");
  // Kept open while the fleet runs and closed before the server stops.
  std::unique_ptr<Connection> conn = std::move(*connection);

  // The fleet.
  Supervisor supervisor(RestartPolicy{}, make_logger("up"));
  // A child that dies holding a brief: handed back now, not after the ack
  // wait, whether or not it is restarted (runtime/orphans.hpp).
  hand_back_on_exit(supervisor, *conn, std::chrono::seconds(cfg.pipeline.ack_wait_seconds),
                    "agency-up");
  json summary = {{"nats_url", redact_url(nats_url)},
                  {"embedded", !session.nodes.empty()},
                  {"state_dir", state_dir.string()},
                  {"provision",
                   {{"created", provisioned->created.size()},
                    {"updated", provisioned->updated.size()},
                    {"unchanged", provisioned->unchanged.size()}}},
                  {"agents", json::array()},
                  {"skipped", json::array()}};
  if (found) {
    json project = nullptr;
    if (found->repo) {
      project = {{"name", found->repo->name},
                 {"repo", found->repo->root.string()},
                 {"default_branch", found->repo->default_branch},
                 {"test_command", found->tests.command}};
    }
    summary["place"] = {{"config", cfg.source.string()},
                        {"project", project},
                        {"engine", found->engine.engine},
                        {"engine_reason", found->engine.reason},
                        {"plan", found->engine.plan}};
  }
  if (!session.nodes.empty()) {
    summary["nodes"] = json::array();
    for (const auto& node : session.nodes) {
      summary["nodes"].push_back({{"url", node->url()},
                                  {"pid", node->pid()},
                                  {"monitor_port", node->monitor_port()},
                                  {"dir", node->options().state_dir.string()}});
    }
  }
  if (!session.nodes.empty() && session.nodes.front()->monitor_port() > 0) {
    summary["monitor_url"] =
        "http://127.0.0.1:" + std::to_string(session.nodes.front()->monitor_port());
  }
  std::vector<std::vector<std::string>> rows = {{"AGENT", "PID", "COMMAND", "LOG"}};
  const auto exe_dir = self_dir();
  FleetEnv fleet{state_dir, state_dir / "logs",
                 nats_url,  cfg.source.empty() ? fs::path() : fs::absolute(cfg.source),
                 access,    nullptr,
                 nullptr};
  if (access.auth && !session.nodes.empty()) {
    fleet.admit = [&access, &session, &node_urls](const std::string& id, bool reload) {
      return admit_agent(access, session.nodes, node_urls, id, reload);
    };
  }
  Scaler scaler(cfg, fleet, exe_dir, supervisor, *conn, out, opts.no_fleet);
  auto inbox = std::make_shared<ScaleInbox>();
  std::optional<Subscription> scale_sub;
  if (!opts.no_fleet) {
    const auto& logs = fleet.logs;
    for (const auto& role : cfg.roles) {
      if (role.count == 0) continue;
      if (role.external) {
        out.line(role.name + ": external, not started (you run its agents" +
                 (access.auth ? "; keys " + (state_dir / "auth").string() + "/" + role.name +
                                    "-1.creds .. -" + std::to_string(role.count) + ".creds"
                              : std::string()) +
                 ")");
        summary["external"].push_back(role.name);
        continue;
      }
      auto command = resolve_role_command(cfg, role, exe_dir);
      if (command.argv.empty()) {
        out.warn(command.problem + "; its " + std::to_string(role.count) +
                 " agent(s) are not started");
        summary["skipped"].push_back({{"role", role.name}, {"reason", command.problem}});
        continue;
      }
      for (int n = 1; n <= role.count; ++n) {
        ChildSpec spec = agent_spec(fleet, role, command.argv, role.name + "-" + std::to_string(n));
        if (start_agent(out, supervisor, spec, role.name, rows, summary)) {
          scaler.started(spec.id, role.name);
        }
      }
    }
    out.line("started " + std::to_string(supervisor.size()) + " agent(s); logs in " +
             logs.string());
    if (supervisor.size() > 0) print_table(out, rows);
  } else {
    out.line("--no-fleet: no agents started");
  }
  // The dispatcher's requests for more or fewer agents, and `agency creds`
  // asking to let a new key in (answered under --no-fleet too: agents that
  // `agency join` runs elsewhere need it).
  auto sub = conn->subscribe(subjects::kUpScale, kScaleQueue, [inbox](Incoming m) {
    inbox->push({std::string(m.reply()), std::string(m.data()), m.headers()});
  });
  if (!sub) {
    out.warn("cannot serve " + std::string(subjects::kUpScale) + ": " + sub.error().message +
             "; the dispatcher cannot change the number of agents, nor `agency creds` let a "
             "new key in");
  } else {
    scale_sub.emplace(std::move(*sub));
    // The server knows of the subscription before anyone is told we run.
    (void)conn->flush(milliseconds{2000});
  }
  if (!opts.no_console) {
    // The web console, supervised like an agent (restarted if it dies).
    const int port = free_port(opts.console_listen, opts.console_port);
    if (port == 0) {
      out.warn("no console: cannot listen on " + opts.console_listen + ":" +
               std::to_string(opts.console_port) +
               " (in use?); start one with `agency console "
               "--port N`");
    } else {
      ChildSpec spec;
      spec.id = "console";
      spec.argv = {(exe_dir / "agency").string(),
                   "--nats",
                   nats_url,
                   "console",
                   "--listen",
                   opts.console_listen,
                   "--port",
                   std::to_string(port)};
      if (opts.console_read_only) spec.argv.emplace_back("--read-only");
      spec.log_file = fleet.logs / "console.log";
      spec.env = access.client_env("admin");
      spec.env["NATS_URL"] = nats_url;
      if (!fleet.config_file.empty()) spec.env["AGENCY_CONFIG"] = fleet.config_file.string();
      std::string token;
      const bool loopback = console::is_loopback(opts.console_listen);
      if (!loopback) {
        // Made here so it can be printed; the console reads it (0600).
        const fs::path file = state_dir / "console.token";
        std::error_code gone;
        fs::remove(file, gone);
        token = console::random_token();
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        const std::string line = token + "\n";
        const bool written =
            fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
        if (fd >= 0) ::close(fd);
        if (!written) token.clear();
        spec.argv.insert(spec.argv.end(), {"--token-file", file.string()});
      }
      if (!loopback && token.empty()) {
        out.warn("no console: cannot write " + (state_dir / "console.token").string());
      } else if (auto pid = supervisor.start(spec); !pid) {
        out.warn("no console: " + pid.error().message);
      } else {
        const bool v6 = opts.console_listen.find(':') != std::string::npos;
        std::string url = "http://" + (v6 ? "[" + opts.console_listen + "]" : opts.console_listen) +
                          ":" + std::to_string(port) + "/";
        if (!token.empty()) url += "?token=" + token;
        out << "  console      " << url << (opts.console_read_only ? " (read-only)" : "") << '\n';
        if (!token.empty()) {
          out << "  its token    " << (state_dir / "console.token").string() << " (0600)\n";
        }
        out.os() << std::flush;
        summary["console_url"] = url;
      }
    }
  }
  if (global.json) std::cout << summary.dump() << std::endl;
  out.line("running; Ctrl-C stops the fleet and the server");

  // Without an eventfd the queue is looked at every 100 ms instead.
  const milliseconds tick = inbox->fd() >= 0 ? milliseconds{3600 * 1000} : milliseconds{100};
  while (!supervisor.poll_once(tick, signals.fd(), inbox->fd())) {
    for (const auto& item : inbox->take()) scaler.handle(item);
    scaler.sweep_retired();
  }
  // Before the connection goes: a subscription must not outlive it.
  scale_sub.reset();
  for (const auto& item : inbox->take()) scaler.refuse(item);
  int sig = signals.take();
  stop_agents(out, supervisor, sig, signals.fd());
  conn.reset();
  session.stop_server();
  out.line("stopped cleanly");
  return 0;
}

}  // namespace

void add_up_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<UpOptions>();
  auto* cmd = app.add_subcommand(
      "up",
      "Run the mesh on this machine: an embedded nats-server with JetStream (unless --nats or "
      "nats.url names a server), the streams and buckets, and every role's agents, supervised "
      "and restarted until Ctrl-C.\n"
      "Without agency.yaml: the git repository it runs in is the one project, and the engine "
      "is claude, codex or gemini, the first installed and logged in (else scripted); it "
      "prints what it chose, and `agency init --write` writes that down to edit.\n"
      "  agency up                        embedded server, fleet from agency.yaml\n"
      "  agency up --nats nats://h:4222   use an existing server\n"
      "  agency up --no-fleet             only the server and the streams");
  cmd->add_flag("--no-fleet", opts->no_fleet, "start the server and provision, but no agents");
  cmd->add_flag("--no-console", opts->no_console, "do not start the web console");
  cmd->add_option("--console-port", opts->console_port,
                  "the console's port (default " + std::to_string(kDefaultConsolePort) +
                      ", or any free one when that is taken)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--console-listen", opts->console_listen,
                  "the console's address (default 127.0.0.1; any other needs the token it "
                  "prints)");
  cmd->add_flag("--console-read-only", opts->console_read_only,
                "serve the console's pages without its actions");
  cmd->add_option("--cluster", opts->cluster,
                  "run N embedded nats-server nodes as one JetStream cluster, every stream and "
                  "bucket with min(3, N) replicas (nats.cluster in agency.yaml)")
      ->check(CLI::Range(1, 7));
  cmd->add_flag("--tls", opts->tls,
                "serve the embedded server over TLS with a CA and certificate made in "
                "<state_dir>/tls (nats.tls in agency.yaml names your own)");
  cmd->add_flag("--json", global.json,
                "print the start summary as one JSON line on stdout (messages go to stderr)");
  cmd->callback([&global, opts] {
    int code = run_up(global, *opts);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace agency::cli
