#include "bus/connect.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>
#include <utility>

namespace agency {

namespace {

namespace fs = std::filesystem;

std::string trim(std::string_view s) {
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// Empty variables count as unset: `NATS_URL= agency status` must not mean
// "no servers".
std::optional<std::string> get(const EnvLookup& env, std::string_view name) {
  auto v = env(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

// A value together with where it came from, so errors can name the variable
// or the context file the user has to fix.
struct Field {
  std::string value;
  std::string from;  // "NATS_USER" or "'user' in context file /x/prod.json"
  [[nodiscard]] bool set() const { return !value.empty(); }
};

// Where the authority (user info, host, port) of a URL begins and ends.
struct Authority {
  size_t begin = 0;
  size_t end = 0;
};

Authority authority_of(std::string_view url) {
  Authority a;
  auto scheme_end = url.find("://");
  a.begin = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  a.end = url.find_first_of("/?#", a.begin);
  if (a.end == std::string_view::npos) a.end = url.size();
  return a;
}

std::string redact_one(std::string_view url) {
  auto a = authority_of(url);
  auto at = url.substr(a.begin, a.end - a.begin).rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, a.begin));
  out += url.substr(a.begin + at + 1);
  return out;
}

// Turns one entry of a server list into a URL nats.c accepts, or explains
// why it cannot. nats.c 3.4.1 speaks nats:// and tls:// only (no websocket).
Result<std::string> normalize_url(std::string_view raw, const std::string& from) {
  std::string url = trim(raw);
  auto bad = [&](const std::string& why) {
    return make_error(errc::config, from + ": '" + redact_one(url) +
                                        "' is not a NATS server URL: " + why +
                                        " (expected nats://host:port or tls://host:port)");
  };
  if (url.empty()) return bad("empty entry in the list");
  if (url.find_first_of(" \t\r\n") != std::string::npos) return bad("it contains white space");
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    url = "nats://" + url;
  } else {
    std::string scheme = url.substr(0, scheme_end);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme != "nats" && scheme != "tls") {
      return bad("scheme '" + scheme + "' is not supported");
    }
  }
  auto a = authority_of(url);
  std::string_view host_port(url);
  host_port = host_port.substr(a.begin, a.end - a.begin);
  if (auto at = host_port.rfind('@'); at != std::string_view::npos) host_port.remove_prefix(at + 1);
  std::string_view host = host_port;
  std::string_view port;
  if (!host_port.empty() && host_port.front() == '[') {
    auto close = host_port.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in an IPv6 address");
    host = host_port.substr(1, close - 1);
    auto rest = host_port.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("unexpected text after the IPv6 address");
      port = rest.substr(1);
      if (port.empty()) return bad("':' without a port");
    }
  } else if (auto colon = host_port.rfind(':'); colon != std::string_view::npos) {
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
    if (port.empty()) return bad("':' without a port");
  }
  if (host.empty()) return bad("no host");
  if (host.find(':') != std::string_view::npos && host_port.front() != '[') {
    return bad("an IPv6 address must be written in brackets, [::1]:4222");
  }
  if (!port.empty()) {
    int n = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || end != port.data() + port.size() || n < 1 || n > 65535) {
      return bad("port '" + std::string(port) + "' is not a number from 1 to 65535");
    }
  }
  return url;
}

Result<std::vector<std::string>> parse_server_list(std::string_view list, const std::string& from) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto comma = list.find(',', start);
    auto item = list.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    auto url = normalize_url(item, from);
    if (!url) return url.error();
    out.push_back(std::move(*url));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// The nats CLI keeps its contexts in $XDG_CONFIG_HOME/nats, else ~/.config/nats.
std::optional<fs::path> nats_config_dir(const EnvLookup& env) {
  if (auto xdg = get(env, "XDG_CONFIG_HOME")) return fs::path(*xdg) / "nats";
  if (auto home = get(env, "HOME")) return fs::path(*home) / ".config" / "nats";
  return std::nullopt;
}

// The nats CLI writes paths such as "~/.nkeys/creds/x.creds" into contexts.
std::string expand_home(const std::string& path, const EnvLookup& env) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    if (auto home = get(env, "HOME")) return *home + path.substr(1);
  }
  return path;
}

Result<std::string> read_text(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return make_error(errc::config,
                      what + ": " + path.string() + " does not exist or is not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::config, what + ": cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string list_contexts(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".json") names.push_back(it->path().stem().string());
  }
  if (names.empty()) return "there are no contexts in " + dir.string();
  std::sort(names.begin(), names.end());
  std::string out = "the contexts in " + dir.string() + " are:";
  for (const auto& n : names) out += " " + n;
  return out;
}

// The fields of a context file agency uses; the nats CLI writes more
// (description, nsc, jetstream_domain, ...), which are ignored.
constexpr std::array<std::string_view, 9> kContextKeys = {
    "url", "user", "password", "token", "creds", "nkey", "cert", "key", "ca"};

struct Context {
  std::string name;
  fs::path file;
  std::map<std::string, std::string, std::less<>> fields;
};

Result<std::optional<Context>> load_context(const EnvLookup& env) {
  auto dir = nats_config_dir(env);
  std::string name;
  std::string chosen_by;
  if (auto v = get(env, "NATS_CONTEXT")) {
    name = trim(*v);
    chosen_by = "NATS_CONTEXT";
  } else {
    if (!dir) return std::optional<Context>();
    std::error_code ec;
    auto selected = *dir / "context.txt";
    if (!fs::exists(selected, ec)) return std::optional<Context>();
    auto text = read_text(selected, "selected NATS context");
    if (!text) return text.error();
    name = trim(*text);
    if (name.empty()) return std::optional<Context>();
    chosen_by = selected.string();
  }
  if (name.empty()) return std::optional<Context>();
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos || name == "." ||
      name == "..") {
    return make_error(errc::config,
                      chosen_by + ": '" + name + "' is not a context name (a name, not a path)");
  }
  if (!dir) {
    return make_error(errc::config, chosen_by + " names context '" + name +
                                        "', but neither XDG_CONFIG_HOME nor HOME is set, so "
                                        "there is no nats config directory to find it in");
  }
  Context ctx;
  ctx.name = name;
  ctx.file = *dir / "context" / (name + ".json");
  std::error_code ec;
  if (!fs::exists(ctx.file, ec)) {
    return make_error(errc::config, chosen_by + " names context '" + name + "', but " +
                                        ctx.file.string() + " does not exist; " +
                                        list_contexts(*dir / "context") +
                                        " (create one with `nats context add`)");
  }
  auto text = read_text(ctx.file, "NATS context '" + name + "'");
  if (!text) return text.error();
  auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return make_error(errc::config, "NATS context file " + ctx.file.string() +
                                        " is not valid JSON; fix or recreate it with "
                                        "`nats context edit " +
                                        name + "`");
  }
  if (!json.is_object()) {
    return make_error(errc::config,
                      "NATS context file " + ctx.file.string() + " must hold a JSON object");
  }
  for (auto key : kContextKeys) {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) continue;
    if (!it->is_string()) {
      return make_error(errc::config, "NATS context file " + ctx.file.string() + ": '" +
                                          std::string(key) + "' must be a string");
    }
    ctx.fields.emplace(std::string(key), it->get<std::string>());
  }
  return std::optional<Context>(std::move(ctx));
}

}  // namespace

std::optional<std::string> process_env(std::string_view name) {
  // getenv needs a terminated string; it is read at startup, before threads
  // could call setenv.
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string redact_url(std::string_view url) {
  std::string out;
  size_t start = 0;
  while (true) {
    auto comma = url.find(',', start);
    out += redact_one(url.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    out += ',';
    start = comma + 1;
  }
  return out;
}

std::string ConnectSettings::display_url() const {
  std::string out;
  for (const auto& s : servers) {
    if (!out.empty()) out += ',';
    out += redact_url(s);
  }
  return out;
}

Result<ConnectSettings> settings_from_environment(const EnvLookup& env) {
  auto ctx = load_context(env);
  if (!ctx) return ctx.error();

  // Each field: the environment variable if set, else the context's value.
  auto pick = [&](std::string_view var, std::string_view key) -> Field {
    if (auto v = get(env, var)) return Field{*v, std::string(var)};
    if (*ctx) {
      auto it = (*ctx)->fields.find(key);
      if (it != (*ctx)->fields.end() && !it->second.empty()) {
        return Field{it->second,
                     "'" + std::string(key) + "' in NATS context file " + (*ctx)->file.string()};
      }
    }
    return Field{};
  };

  Field url = pick("NATS_URL", "url");
  Field user = pick("NATS_USER", "user");
  Field password = pick("NATS_PASSWORD", "password");
  Field token = pick("NATS_TOKEN", "token");
  Field creds = pick("NATS_CREDS", "creds");
  Field nkey = pick("NATS_NKEY", "nkey");
  Field cert = pick("NATS_CERT", "cert");
  Field key = pick("NATS_KEY", "key");
  Field ca = pick("NATS_CA", "ca");

  ConnectSettings s;
  if (url.set()) {
    auto servers = parse_server_list(url.value, url.from);
    if (!servers) return servers.error();
    s.servers = std::move(*servers);
    s.origin = url.from == "NATS_URL"
                   ? std::string("NATS_URL")
                   : "context '" + (*ctx)->name + "' (" + (*ctx)->file.string() + ")";
  } else {
    s.servers.emplace_back(kDefaultNatsUrl);
    s.origin = "default";
  }

  if (user.set() && !password.set()) {
    return make_error(errc::config, user.from +
                                        " is set but no password is (set NATS_PASSWORD "
                                        "too, or use NATS_CREDS or NATS_TOKEN instead)");
  }
  if (password.set() && !user.set()) {
    return make_error(errc::config, password.from + " is set but no user is (set NATS_USER too)");
  }
  if (creds.set() && user.set()) {
    return make_error(errc::config, "both " + creds.from + " and " + user.from +
                                        " are set: choose one way to authenticate (a credentials "
                                        "file, or user and password)");
  }
  if (key.set() && !cert.set()) {
    return make_error(errc::config, key.from +
                                        " is set but no client certificate is (set "
                                        "NATS_CERT too)");
  }
  if (cert.set() && !key.set()) {
    return make_error(errc::config, cert.from +
                                        " is set but no client key is (set NATS_KEY "
                                        "too)");
  }

  // Files are checked here so the error names the variable that points at
  // them; nats.c would only say "file not found".
  for (auto* f : {&creds, &nkey, &cert, &key, &ca}) {
    if (!f->set()) continue;
    f->value = expand_home(f->value, env);
    std::error_code ec;
    if (!fs::is_regular_file(f->value, ec)) {
      return make_error(errc::config,
                        f->from + ": " + f->value + " does not exist or is not a file");
    }
  }

  s.user = std::move(user.value);
  s.password = std::move(password.value);
  s.token = std::move(token.value);
  s.creds_file = std::move(creds.value);
  s.nkey_seed_file = std::move(nkey.value);
  s.tls_cert = std::move(cert.value);
  s.tls_key = std::move(key.value);
  s.tls_ca = std::move(ca.value);
  return s;
}

}  // namespace agency
