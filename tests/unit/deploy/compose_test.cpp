// compose.yaml, the Dockerfile and deploy/: the container deployment, checked
// by its structure, since Docker is not on the CI machine. Each check is what
// an edit could break without anyone noticing until a real deployment: the
// three NATS nodes clustered with each other and including the auth.conf the
// keys service writes, every agent on all three nodes with its own creds and
// its role's binary, init before the agents and after healthy nodes, the
// creds directory mounted by keys alone, the image built from Debian 12
// packages, and deploy/agency.yaml in step with the agent services.

// yaml-cpp 0.7's node handling, inlined at -O2, trips GCC 12's
// -Wdangling-pointer and -Wmaybe-uninitialized: known false positives in its
// headers (cmake/AgencyTargets.cmake, agency_yaml_sources), not this file's.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/config.hpp"

#ifndef AGENCY_SOURCE_DIR
#error "compose_test.cpp needs AGENCY_SOURCE_DIR, the repository (tests/CMakeLists.txt)"
#endif

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = AGENCY_SOURCE_DIR;
constexpr auto npos = std::string::npos;

// ---- text

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && space(s[b])) ++b;
  while (e > b && space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Empty fields kept.
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t at = s.find(sep); at != npos; at = s.find(sep, start)) {
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

std::vector<std::string> whitespace_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string unquote(std::string v) {
  while (!v.empty() && (v.back() == ',' || v.back() == ';')) v.pop_back();
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    v = v.substr(1, v.size() - 2);
  }
  return v;
}

// "./creds/auth/" -> "creds/auth", "." -> "": host paths relative to
// compose.yaml's directory, and container paths, compared as written.
std::string normal(const std::string& path) {
  std::string p = fs::path(path).lexically_normal().generic_string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == ".") p.clear();
  return p;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

// ---- compose.yaml

YAML::Node load_compose() { return YAML::LoadFile((kRoot / "compose.yaml").string()); }

std::string scalar(const YAML::Node& n) {
  return n.IsDefined() && n.IsScalar() ? n.Scalar() : std::string();
}

// A map's value for `key` through YAML merge keys (`<<: *agent`), which
// yaml-cpp 0.7 leaves to the reader: the map's own key first, then the maps
// merged into it. A null node when there is none.
YAML::Node lookup(const YAML::Node& map, const std::string& key) {
  if (!map.IsDefined() || !map.IsMap()) return YAML::Node();
  const YAML::Node own = map[key];
  if (own.IsDefined()) return own;
  const YAML::Node merged = map["<<"];
  if (!merged.IsDefined()) return YAML::Node();
  if (merged.IsMap()) return lookup(merged, key);
  if (merged.IsSequence()) {
    for (const auto& m : merged) {
      const YAML::Node found = lookup(m, key);
      if (!found.IsNull()) return found;
    }
  }
  return YAML::Node();
}

// `environment` as a map (merge keys included, a service's own keys first)
// or a list of NAME=VALUE.
void collect_env(const YAML::Node& env, std::map<std::string, std::string>& out) {
  if (!env.IsDefined()) return;
  if (env.IsSequence()) {
    for (const auto& e : env) {
      const std::string s = scalar(e);
      const auto eq = s.find('=');
      out.emplace(s.substr(0, eq), eq == npos ? std::string() : s.substr(eq + 1));
    }
    return;
  }
  if (!env.IsMap()) return;
  for (const auto& kv : env) {
    const std::string name = kv.first.Scalar();
    if (name != "<<") out.emplace(name, scalar(kv.second));
  }
  const YAML::Node merged = env["<<"];
  if (!merged.IsDefined()) return;
  if (merged.IsMap()) {
    collect_env(merged, out);
  } else if (merged.IsSequence()) {
    for (const auto& m : merged) collect_env(m, out);
  }
}

std::map<std::string, std::string> env_of(const YAML::Node& service) {
  std::map<std::string, std::string> out;
  collect_env(lookup(service, "environment"), out);
  return out;
}

std::string env_value(const YAML::Node& service, const std::string& name) {
  const auto env = env_of(service);
  const auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

struct Mount {
  std::string source;  // bind: a host path as normal() writes it; else a volume name
  std::string target;  // normal()
  bool bind = false;
  bool read_only = false;
};

// Short (`src:dst[:ro]`) and long (`{type, source, target, read_only}`) syntax.
std::vector<Mount> mounts_of(const YAML::Node& service) {
  std::vector<Mount> out;
  const YAML::Node volumes = lookup(service, "volumes");
  if (!volumes.IsSequence()) return out;
  for (const auto& v : volumes) {
    Mount m;
    if (v.IsScalar()) {
      const auto parts = split(v.Scalar(), ':');
      if (parts.size() < 2) continue;  // an anonymous volume
      m.source = parts[0];
      m.target = parts[1];
      m.bind =
          !m.source.empty() && (m.source[0] == '.' || m.source[0] == '/' || m.source[0] == '~');
      if (parts.size() > 2) {
        const auto options = split(parts[2], ',');
        m.read_only = std::find(options.begin(), options.end(), "ro") != options.end();
      }
    } else if (v.IsMap()) {
      m.source = scalar(v["source"]);
      m.target = scalar(v["target"]);
      m.bind = scalar(v["type"]) == "bind";
      m.read_only = scalar(v["read_only"]) == "true";
    }
    if (m.bind) m.source = normal(m.source);
    m.target = normal(m.target);
    out.push_back(m);
  }
  return out;
}

std::optional<Mount> mount_at(const YAML::Node& service, const std::string& target) {
  for (const auto& m : mounts_of(service)) {
    if (m.target == normal(target)) return m;
  }
  return std::nullopt;
}

std::vector<std::string> words_of(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n.IsDefined()) return out;
  if (n.IsSequence()) {
    for (const auto& e : n) out.push_back(scalar(e));
  } else if (n.IsScalar()) {
    out = whitespace_words(n.Scalar());
  }
  return out;
}

std::vector<std::string> command_of(const YAML::Node& service) {
  return words_of(lookup(service, "command"));
}

// What a service waits for of `dependency`: "" when it does not depend on
// it, "service_started" for the short list form.
std::string condition_on(const YAML::Node& service, const std::string& dependency) {
  const YAML::Node deps = lookup(service, "depends_on");
  if (deps.IsSequence()) {
    for (const auto& d : deps) {
      if (scalar(d) == dependency) return "service_started";
    }
    return "";
  }
  if (!deps.IsMap()) return "";
  const YAML::Node dep = deps[dependency];
  if (!dep.IsDefined()) return "";
  const std::string c = dep.IsMap() ? scalar(dep["condition"]) : std::string();
  return c.empty() ? "service_started" : c;
}

std::vector<std::string> service_names(const YAML::Node& services) {
  std::vector<std::string> out;
  if (!services.IsMap()) return out;
  for (const auto& kv : services) out.push_back(kv.first.Scalar());
  return out;
}

// Services that run nats-server: their image is nats:*.
std::vector<std::string> nats_services(const YAML::Node& services) {
  std::vector<std::string> out;
  for (const auto& name : service_names(services)) {
    if (scalar(lookup(services[name], "image")).starts_with("nats:")) out.push_back(name);
  }
  return out;
}

// Services that run an agent: they have an AGENCY_AGENT_ID.
std::vector<std::string> agent_services(const YAML::Node& services) {
  std::vector<std::string> out;
  for (const auto& name : service_names(services)) {
    if (!env_value(services[name], "AGENCY_AGENT_ID").empty()) out.push_back(name);
  }
  return out;
}

// Where the keys service writes, as host paths: its state dir's bind mount,
// the nats-server fragment of --nats-conf, and <state_dir>/auth with one
// <principal>.creds per principal (`agency creds`).
struct Keys {
  std::string dir;
  std::string auth_conf;
  std::string creds_dir;
};

Keys keys_layout(const YAML::Node& services) {
  const YAML::Node keys = services["keys"];
  REQUIRE_MESSAGE(keys.IsDefined(), "compose.yaml has no keys service");
  const auto cmd = command_of(keys);
  INFO("keys runs: ", join(cmd));
  REQUIRE(cmd.size() >= 4);
  CHECK(cmd[0] == "agency");
  CHECK(cmd[1] == "creds");
  const auto flag = std::find(cmd.begin(), cmd.end(), "--nats-conf");
  REQUIRE(flag != cmd.end());
  REQUIRE(flag + 1 != cmd.end());
  const std::string conf = normal(*(flag + 1));
  const std::string state = env_value(keys, "AGENCY_STATE_DIR");
  REQUIRE_MESSAGE(!state.empty(), "keys needs AGENCY_STATE_DIR: where the keys are kept");
  const auto mount = mount_at(keys, state);
  REQUIRE_MESSAGE(mount.has_value(), "keys' state dir ", state, " is not mounted from the host");
  CHECK(mount->bind);
  CHECK_FALSE(mount->read_only);
  const std::string inside = fs::path(conf).lexically_relative(normal(state)).generic_string();
  REQUIRE_MESSAGE((!inside.empty() && !inside.starts_with("..")), "--nats-conf ", conf,
                  " is outside the mounted state dir ", state);
  Keys k;
  k.dir = mount->source;
  k.auth_conf = normal((fs::path(k.dir) / inside).generic_string());
  k.creds_dir = normal((fs::path(k.dir) / "auth").generic_string());
  return k;
}

// ---- deploy/nats/*.conf (nats-server's config syntax, as far as used)

// Without comments: # anywhere, // where a comment can start (not the one in
// nats-route://).
std::string strip_conf_comments(const std::string& text) {
  std::string out;
  for (const auto& line : split(text, '\n')) {
    std::size_t cut = line.find('#');
    for (std::size_t at = line.find("//"); at != npos && at < cut; at = line.find("//", at + 1)) {
      if (at == 0 || space(line[at - 1])) {
        cut = at;
        break;
      }
    }
    out += line.substr(0, cut);
    out += '\n';
  }
  return out;
}

// The text at brace depth 0: nested blocks left out.
std::string depth_zero(const std::string& text) {
  std::string out;
  int depth = 0;
  for (const char c : text) {
    if (c == '{') {
      ++depth;
    } else if (c == '}') {
      --depth;
    } else if (depth == 0) {
      out += c;
    }
  }
  return out;
}

// The body of `name { ... }` (also `name: {` and `name = {`) at depth 0.
std::optional<std::string> conf_block(const std::string& text, const std::string& name) {
  int depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') {
      ++depth;
      continue;
    }
    if (text[i] == '}') {
      --depth;
      continue;
    }
    if (depth != 0 || text.compare(i, name.size(), name) != 0) continue;
    if (i > 0 && !space(text[i - 1])) continue;
    std::size_t j = i + name.size();
    while (j < text.size() && (space(text[j]) || text[j] == ':' || text[j] == '=')) ++j;
    if (j >= text.size() || text[j] != '{') continue;
    int inner = 0;
    for (std::size_t k = j; k < text.size(); ++k) {
      if (text[k] == '{') {
        ++inner;
      } else if (text[k] == '}' && --inner == 0) {
        return text.substr(j + 1, k - j - 1);
      }
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// `key: value`, `key = value` or `key value` at depth 0, unquoted.
std::optional<std::string> conf_value(const std::string& text, const std::string& key) {
  for (const auto& raw : split(depth_zero(text), '\n')) {
    const std::string line = trim(raw);
    if (line.size() <= key.size() || line.compare(0, key.size(), key) != 0) continue;
    const char next = line[key.size()];
    if (next != ':' && next != '=' && !space(next)) continue;
    std::string value = trim(line.substr(key.size()));
    if (!value.empty() && (value[0] == ':' || value[0] == '=')) value = trim(value.substr(1));
    return unquote(value);
  }
  return std::nullopt;
}

// The hosts of a cluster block's `routes: [...]`.
std::vector<std::string> route_hosts(const std::string& cluster) {
  std::vector<std::string> hosts;
  const auto key = cluster.find("routes");
  if (key == npos) return hosts;
  const auto open = cluster.find('[', key);
  if (open == npos) return hosts;
  const auto close = cluster.find(']', open);
  if (close == npos) return hosts;
  const std::string list = cluster.substr(open + 1, close - open - 1);
  for (std::size_t at = list.find("://"); at != npos; at = list.find("://", at)) {
    at += 3;
    std::size_t end = at;
    while (end < list.size() && !space(list[end]) && list[end] != ',' && list[end] != '"' &&
           list[end] != '\'') {
      ++end;
    }
    std::string hostport = list.substr(at, end - at);
    if (const auto user = hostport.rfind('@'); user != npos) hostport = hostport.substr(user + 1);
    hosts.push_back(hostport.substr(0, hostport.find(':')));
  }
  return hosts;
}

std::string port_of(const std::string& listen) {
  const auto colon = listen.rfind(':');
  return colon == npos ? listen : listen.substr(colon + 1);
}

struct NodeConf {
  std::string file;  // deploy/nats/<node>.conf, as a host path
  std::string server_name;
  std::string client_port = "4222";
  std::string http_port;
  std::string store_dir;
  bool has_cluster = false;
  std::string cluster_name;
  std::string cluster_port;
  std::vector<std::string> routes;  // hosts
  bool includes_auth_conf = false;
};

NodeConf parse_node_conf(const std::string& raw) {
  const std::string text = strip_conf_comments(raw);
  NodeConf c;
  c.server_name = conf_value(text, "server_name").value_or("");
  c.client_port = conf_value(text, "port").value_or("4222");
  c.http_port = conf_value(text, "http_port").value_or("");
  if (const auto js = conf_block(text, "jetstream")) {
    c.store_dir = conf_value(*js, "store_dir").value_or("");
  }
  if (const auto cluster = conf_block(text, "cluster")) {
    c.has_cluster = true;
    c.cluster_name = conf_value(*cluster, "name").value_or("");
    c.cluster_port =
        port_of(conf_value(*cluster, "listen").value_or(conf_value(*cluster, "port").value_or("")));
    c.routes = route_hosts(*cluster);
  }
  for (const auto& raw_line : split(depth_zero(text), '\n')) {
    const std::string line = trim(raw_line);
    if (!line.starts_with("include") || line.size() <= 7 || !space(line[7])) continue;
    if (normal(unquote(trim(line.substr(7)))) == "auth.conf") c.includes_auth_conf = true;
  }
  return c;
}

// The deploy/nats/ config each nats service mounts, by service.
struct NatsNode {
  std::string service;
  Mount config;
  NodeConf conf;
};

std::vector<NatsNode> nodes_of(const YAML::Node& services) {
  std::vector<NatsNode> out;
  for (const auto& name : nats_services(services)) {
    INFO("service ", name);
    std::vector<Mount> configs;
    for (const auto& m : mounts_of(services[name])) {
      if (m.bind && m.source.starts_with("deploy/nats/")) configs.push_back(m);
    }
    REQUIRE_MESSAGE(configs.size() == 1, "each node mounts one config from deploy/nats/");
    const fs::path file = kRoot / configs[0].source;
    REQUIRE_MESSAGE(fs::is_regular_file(file), configs[0].source, " does not exist");
    NatsNode n{name, configs[0], parse_node_conf(read_text(file))};
    n.conf.file = configs[0].source;
    out.push_back(n);
  }
  return out;
}

// "nats://nats-1:4222, nats://nats-2:4222" -> {"nats-1:4222", "nats-2:4222"}.
std::set<std::string> url_hosts(const std::string& urls) {
  std::set<std::string> out;
  for (const auto& part : split(urls, ',')) {
    std::string u = trim(part);
    if (const auto scheme = u.find("://"); scheme != npos) u = u.substr(scheme + 3);
    if (const auto user = u.rfind('@'); user != npos) u = u.substr(user + 1);
    while (!u.empty() && u.back() == '/') u.pop_back();
    if (u.find(':') == npos) u += ":4222";
    if (!u.empty()) out.insert(u);
  }
  return out;
}

std::set<std::string> expected_url_hosts(const std::vector<NatsNode>& nodes) {
  std::set<std::string> out;
  for (const auto& n : nodes) out.insert(n.service + ":" + n.conf.client_port);
  return out;
}

std::string set_text(const std::set<std::string>& s) {
  return join(std::vector<std::string>(s.begin(), s.end()));
}

// The container ports a service publishes.
std::set<std::string> published_ports(const YAML::Node& service) {
  std::set<std::string> out;
  const YAML::Node ports = lookup(service, "ports");
  if (!ports.IsSequence()) return out;
  for (const auto& p : ports) {
    std::string container;
    if (p.IsScalar()) {
      container = port_of(p.Scalar());
    } else if (p.IsMap()) {
      container = scalar(p["target"]);
    }
    out.insert(container.substr(0, container.find('/')));
  }
  return out;
}

// ---- what this repository builds

std::string strip_hash_comments(const std::string& text) {
  std::string out;
  for (const auto& line : split(text, '\n')) out += line.substr(0, line.find('#')) + "\n";
  return out;
}

// agency-<name> for every agency_add_role(<name>) of the folders
// roles/CMakeLists.txt adds, and the agency command itself.
std::set<std::string> built_programs() {
  std::set<std::string> out;
  const std::string roles = strip_hash_comments(read_text(kRoot / "roles/CMakeLists.txt"));
  const std::string add = "add_subdirectory(";
  for (auto at = roles.find(add); at != npos; at = roles.find(add, at + 1)) {
    const auto close = roles.find(')', at);
    REQUIRE(close != npos);
    const std::string folder = trim(roles.substr(at + add.size(), close - at - add.size()));
    const std::string role =
        strip_hash_comments(read_text(kRoot / "roles" / folder / "CMakeLists.txt"));
    const std::string call = "agency_add_role(";
    const auto start = role.find(call);
    if (start == npos) continue;
    const auto words = whitespace_words(role.substr(start + call.size()));
    REQUIRE(!words.empty());
    std::string name = words[0];
    if (const auto paren = name.find(')'); paren != npos) name = name.substr(0, paren);
    out.insert("agency-" + name);
  }
  const std::string cli = strip_hash_comments(read_text(kRoot / "cli/CMakeLists.txt"));
  if (cli.find("add_executable(agency ") != npos) out.insert("agency");
  return out;
}

// ---- Dockerfile

struct Instruction {
  std::string keyword;  // upper case
  std::string args;
  std::size_t stage = 0;  // index of the FROM it follows
};

// Logical instructions: continuation lines joined, comments left out.
std::vector<Instruction> dockerfile() {
  std::vector<Instruction> out;
  std::string pending;
  std::size_t stage = 0;
  bool seen_from = false;
  for (const auto& raw : split(read_text(kRoot / "Dockerfile"), '\n')) {
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    const std::string whole = trim(pending + line);
    pending.clear();
    const auto words = whitespace_words(whole);
    Instruction i;
    for (const char c : words[0]) {
      i.keyword += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    i.args = trim(whole.substr(words[0].size()));
    if (i.keyword == "FROM") {
      if (seen_from) ++stage;
      seen_from = true;
    }
    i.stage = stage;
    out.push_back(i);
  }
  return out;
}

}  // namespace

TEST_CASE("compose: three NATS nodes, each routed to the other two and including auth.conf") {
  const YAML::Node doc = load_compose();
  const YAML::Node services = doc["services"];
  REQUIRE(services.IsMap());
  const auto names = nats_services(services);
  INFO("nats services: ", join(names));
  REQUIRE(names.size() == 3);
  const Keys keys = keys_layout(services);
  const auto nodes = nodes_of(services);
  REQUIRE(nodes.size() == 3);

  std::set<std::string> server_names;
  std::set<std::string> files;
  std::set<std::string> stores;
  for (const auto& n : nodes) {
    INFO("service ", n.service, ", config ", n.conf.file);
    const YAML::Node service = services[n.service];
    CHECK_FALSE(n.conf.server_name.empty());
    server_names.insert(n.conf.server_name);
    files.insert(n.conf.file);

    // The config is the one nats-server runs with.
    const auto cmd = command_of(service);
    CHECK_MESSAGE(std::find(cmd.begin(), cmd.end(), n.config.target) != cmd.end(),
                  "the command does not name ", n.config.target, ": ", join(cmd));
    CHECK(n.config.read_only);

    // A cluster named agency with routes to exactly the other two services.
    REQUIRE_MESSAGE(n.conf.has_cluster, "no cluster block");
    CHECK(n.conf.cluster_name == "agency");
    std::set<std::string> others(names.begin(), names.end());
    others.erase(n.service);
    const std::set<std::string> routes(n.conf.routes.begin(), n.conf.routes.end());
    CHECK_MESSAGE(routes == others, "routes to ", set_text(routes), ", not to ", set_text(others));
    CHECK(n.conf.routes.size() == 2);
    // Routes carry no credentials: the cluster port is not published.
    CHECK_FALSE(n.conf.cluster_port.empty());
    CHECK_MESSAGE(published_ports(service).count(n.conf.cluster_port) == 0, "the cluster port ",
                  n.conf.cluster_port, " is published");

    // The users: auth.conf, included from beside the config, is the one
    // keys writes.
    CHECK(n.conf.includes_auth_conf);
    const std::string beside =
        normal((fs::path(n.config.target).parent_path() / "auth.conf").generic_string());
    const auto auth = mount_at(service, beside);
    REQUIRE_MESSAGE(auth.has_value(), "auth.conf is not mounted at ", beside);
    CHECK(auth->bind);
    CHECK(auth->read_only);
    CHECK_MESSAGE(auth->source == keys.auth_conf, "mounts ", auth->source, ", keys writes ",
                  keys.auth_conf);

    // JetStream on a volume of its own.
    REQUIRE_FALSE(n.conf.store_dir.empty());
    const auto store = mount_at(service, n.conf.store_dir);
    REQUIRE_MESSAGE(store.has_value(), "the JetStream store ", n.conf.store_dir,
                    " is not a volume");
    CHECK_FALSE(store->bind);
    stores.insert(store->source);

    // Health: the monitoring port's /healthz.
    REQUIRE_FALSE(n.conf.http_port.empty());
    const std::string health = join(words_of(lookup(lookup(service, "healthcheck"), "test")));
    CHECK_MESSAGE(health.find(":" + n.conf.http_port + "/healthz") != npos,
                  "the healthcheck does not ask /healthz on ", n.conf.http_port, ": ", health);
  }
  CHECK(server_names.size() == 3);
  CHECK(files.size() == 3);
  CHECK(stores.size() == 3);
}

TEST_CASE("compose: each agent has all three nodes, its own creds, its binary, waits for init") {
  const YAML::Node doc = load_compose();
  const YAML::Node services = doc["services"];
  REQUIRE(services.IsMap());
  const Keys keys = keys_layout(services);
  const auto nodes = nodes_of(services);
  const auto nodes_expected = expected_url_hosts(nodes);
  REQUIRE(nodes_expected.size() == 3);
  const auto agents = agent_services(services);
  REQUIRE_FALSE(agents.empty());

  std::set<std::string> ids;
  std::set<std::string> roles;
  for (const auto& name : agents) {
    INFO("service ", name);
    const YAML::Node service = services[name];
    const std::string id = env_value(service, "AGENCY_AGENT_ID");
    const std::string role = env_value(service, "AGENCY_ROLE");
    CHECK(ids.insert(id).second);
    REQUIRE_FALSE(role.empty());
    roles.insert(role);
    CHECK(id.starts_with(role + "-"));

    const auto urls = url_hosts(env_value(service, "NATS_URL"));
    CHECK_MESSAGE(urls == nodes_expected, "NATS_URL lists ", set_text(urls), ", not ",
                  set_text(nodes_expected));

    const std::string nkey = env_value(service, "NATS_NKEY");
    REQUIRE_MESSAGE(!nkey.empty(), "no NATS_NKEY");
    const auto creds = mount_at(service, nkey);
    REQUIRE_MESSAGE(creds.has_value(), "NATS_NKEY ", nkey, " is not a mounted file");
    CHECK(creds->bind);
    CHECK(creds->read_only);
    CHECK_MESSAGE(fs::path(creds->source).filename().string() == id + ".creds", "agent ", id,
                  " mounts ", creds->source);
    CHECK_MESSAGE(creds->source == keys.creds_dir + "/" + id + ".creds", "mounts ", creds->source,
                  ", keys writes ", keys.creds_dir, "/", id, ".creds");

    const std::string config = env_value(service, "AGENCY_CONFIG");
    CHECK_MESSAGE(mount_at(service, config).has_value(), "AGENCY_CONFIG ", config,
                  " is not mounted");

    const auto cmd = command_of(service);
    REQUIRE_FALSE(cmd.empty());
    CHECK(cmd[0] == "agency-" + role);

    CHECK(condition_on(service, "init") == "service_completed_successfully");
  }
  // The pipeline at least.
  for (const char* r : {"planner", "builder", "adversary", "reviewer"}) {
    CHECK_MESSAGE(roles.count(r) == 1, "no agent of the role ", r);
  }
}

TEST_CASE("compose: init runs agency init as admin once all three nodes are healthy") {
  const YAML::Node doc = load_compose();
  const YAML::Node services = doc["services"];
  REQUIRE(services.IsMap());
  const YAML::Node init = services["init"];
  REQUIRE(init.IsDefined());
  const auto cmd = command_of(init);
  INFO("init runs: ", join(cmd));
  REQUIRE(cmd.size() >= 2);
  CHECK(cmd[0] == "agency");
  CHECK(cmd[1] == "init");

  const auto nats = nats_services(services);
  REQUIRE(nats.size() == 3);
  for (const auto& n : nats) {
    CHECK_MESSAGE(condition_on(init, n) == "service_healthy", "init does not wait for ", n,
                  " to be healthy");
  }
  CHECK(url_hosts(env_value(init, "NATS_URL")) == expected_url_hosts(nodes_of(services)));

  const Keys keys = keys_layout(services);
  const auto creds = mount_at(init, env_value(init, "NATS_NKEY"));
  REQUIRE_MESSAGE(creds.has_value(), "init's NATS_NKEY is not a mounted file");
  CHECK(creds->read_only);
  CHECK(creds->source == keys.creds_dir + "/admin.creds");
}

TEST_CASE("compose: only keys mounts the creds directory, the others one file of it") {
  const YAML::Node doc = load_compose();
  const YAML::Node services = doc["services"];
  REQUIRE(services.IsMap());
  const Keys keys = keys_layout(services);
  REQUIRE_FALSE(keys.dir.empty());

  // Not part of `docker compose up`: run once before it.
  const YAML::Node profiles = lookup(services["keys"], "profiles");
  CHECK_MESSAGE((profiles.IsSequence() && profiles.size() > 0),
                "keys has no profile, so `docker compose up` would run it beside the nodes");

  for (const auto& name : service_names(services)) {
    if (name == "keys") continue;
    for (const auto& m : mounts_of(services[name])) {
      if (!m.bind) continue;
      INFO("service ", name, " mounts ", m.source, " at ", m.target);
      const fs::path source = m.source.empty() ? fs::path(".") : fs::path(m.source);
      // The creds directory itself, or a directory holding it (the
      // repository), would give the service every key.
      const std::string up = fs::path(keys.dir).lexically_relative(source).generic_string();
      const bool holds_all = m.source.empty() || (!up.empty() && !up.starts_with(".."));
      CHECK_MESSAGE(!holds_all, "only keys may mount the creds directory");
      // One file of it: auth.conf (the nodes) or one creds file (init, an
      // agent), read-only.
      const std::string down = source.lexically_relative(keys.dir).generic_string();
      const bool inside = !down.empty() && down != "." && !down.starts_with("..");
      if (!inside) continue;
      const bool creds_file =
          source.parent_path().generic_string() == keys.creds_dir && m.source.ends_with(".creds");
      CHECK_MESSAGE((m.source == keys.auth_conf || creds_file),
                    "neither auth.conf nor one creds file of ", keys.creds_dir);
      CHECK(m.read_only);
    }
  }
}

TEST_CASE("compose: every agency program it runs is one this repository builds") {
  const auto built = built_programs();
  INFO("built: ", set_text(built));
  REQUIRE(built.count("agency-planner") == 1);
  REQUIRE(built.count("agency") == 1);

  const YAML::Node doc = load_compose();
  const YAML::Node services = doc["services"];
  REQUIRE(services.IsMap());
  std::size_t named = 0;
  for (const auto& name : service_names(services)) {
    std::vector<std::string> words = command_of(services[name]);
    const auto entry = words_of(lookup(services[name], "entrypoint"));
    words.insert(words.end(), entry.begin(), entry.end());
    for (const auto& w : words) {
      if (w != "agency" && !w.starts_with("agency-")) continue;
      ++named;
      CHECK_MESSAGE(built.count(w) == 1, "service ", name, " runs ", w,
                    ", which roles/ and cli/ do not build");
    }
  }
  CHECK(named > 0);
}

TEST_CASE("compose: deploy/agency.yaml has nats.replicas 3 and exactly compose.yaml's agents") {
  const fs::path path = kRoot / "deploy/agency.yaml";
  auto parsed = agency::config::parse(read_text(path), path);
  REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? std::string() : parsed.error().message));
  const agency::config::Config& config = *parsed;
  CHECK(config.nats.replicas == 3);

  const YAML::Node doc = load_compose();
  const YAML::Node services = doc["services"];
  REQUIRE(services.IsMap());
  std::set<std::string> ids;
  for (const auto& name : agent_services(services)) {
    ids.insert(env_value(services[name], "AGENCY_AGENT_ID"));
  }

  // keys writes creds for <role>-1 .. <role>-<count> of every role.
  std::set<std::string> configured;
  for (const auto& role : config.roles) {
    for (int n = 1; n <= role.count; ++n) configured.insert(role.name + "-" + std::to_string(n));
  }
  CHECK_MESSAGE(ids == configured, "compose.yaml runs ", set_text(ids), "; deploy/agency.yaml has ",
                set_text(configured));
}

TEST_CASE("Dockerfile: Debian 12, install-deps.sh, binaries in /usr/local/bin, user agency") {
  const auto instructions = dockerfile();
  REQUIRE_FALSE(instructions.empty());
  CHECK(instructions.front().keyword == "FROM");

  std::vector<std::string> stages;  // their names (AS ...), "" without
  for (const auto& i : instructions) {
    if (i.keyword != "FROM") continue;
    const auto words = whitespace_words(i.args);
    std::vector<std::string> plain;
    for (const auto& w : words) {
      if (!w.starts_with("--")) plain.push_back(w);
    }
    REQUIRE_FALSE(plain.empty());
    const bool earlier = std::find(stages.begin(), stages.end(), plain[0]) != stages.end();
    CHECK_MESSAGE((plain[0] == "debian:12" || earlier), "FROM ", plain[0], ": not Debian 12");
    std::string alias;
    if (plain.size() >= 3 && (plain[1] == "AS" || plain[1] == "as")) alias = plain[2];
    stages.push_back(alias);
  }
  REQUIRE_MESSAGE(stages.size() >= 2, "a build stage and the image");
  const std::size_t last = stages.size() - 1;

  bool deps = false;
  bool configure = false;
  bool build = false;
  bool copies = false;
  std::string user;
  std::set<std::string> runtime_words;
  for (const auto& i : instructions) {
    if (i.keyword == "RUN" && i.stage < last) {
      if (i.args.find("scripts/install-deps.sh") != npos) {
        deps = true;
        CHECK_MESSAGE(i.args.find("AGENCY_SKIP_NPM=1") != npos,
                      "install-deps.sh with the npm clients: ", i.args);
      }
      if (i.args.find("cmake --preset release") != npos) configure = true;
      if (i.args.find("cmake --build build/release") != npos) build = true;
    }
    if (i.stage != last) continue;
    if (i.keyword == "RUN") {
      for (const auto& w : whitespace_words(i.args)) runtime_words.insert(w);
    }
    if (i.keyword == "USER") user = trim(i.args);
    if (i.keyword == "COPY" && i.args.find("--from=") != npos) {
      const auto words = whitespace_words(i.args);
      const bool from_bin = std::any_of(words.begin(), words.end(), [](const std::string& w) {
        return w.find("build/release/bin") != npos;
      });
      if (from_bin && normal(words.back()) == "/usr/local/bin") copies = true;
    }
  }
  CHECK(fs::is_regular_file(kRoot / "scripts/install-deps.sh"));
  CHECK_MESSAGE(deps, "no build stage runs scripts/install-deps.sh");
  CHECK_MESSAGE(configure, "no build stage runs cmake --preset release");
  CHECK_MESSAGE(build, "no build stage runs cmake --build build/release");
  CHECK_MESSAGE(copies, "the image does not copy build/release/bin to /usr/local/bin");
  CHECK(user == "agency");
  for (const char* package : {"nats-server", "libnats3.4", "git"}) {
    CHECK_MESSAGE(runtime_words.count(package) == 1, "the image does not install ", package);
  }

  // A build tree of the host never reaches the image: its CMakeCache names
  // another source dir, and `cmake --preset release` would refuse it.
  bool ignores_build = false;
  for (const auto& line : split(read_text(kRoot / ".dockerignore"), '\n')) {
    const std::string l = trim(line);
    if (l == "build" || l == "build/" || l == "/build" || l == "/build/") ignores_build = true;
  }
  CHECK_MESSAGE(ignores_build, ".dockerignore does not leave out build/");
}
