#include "runtime/credentials.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "bus/embedded_server.hpp"
#include "bus/nkeys.hpp"
#include "bus/subjects.hpp"
#include "runtime/permissions.hpp"
#include "runtime/process.hpp"

namespace agency::credentials {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kExtension = ".creds";

Result<void> make_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return make_error(errc::io, "cannot restrict " + dir.string() + ": " + ec.message());
  return {};
}

bool valid_name(const std::string& name) { return subjects::is_valid_token(name); }

}  // namespace

fs::path auth_dir(const fs::path& state_dir) { return state_dir / "auth"; }

fs::path creds_file(const fs::path& state_dir, const std::string& name) {
  return auth_dir(state_dir) / (name + std::string(kExtension));
}

Result<void> write_private(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(errc::io, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  (void)::fchmod(fd, 0600);
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return make_error(errc::io, "cannot write " + tmp.string() + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return make_error(errc::io, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return make_error(errc::io, "cannot write " + path.string() + ": " + ec.message());
  return {};
}

Result<bool> ensure(const fs::path& state_dir, const std::string& name) {
  if (!valid_name(name)) {
    return make_error(errc::config, "'" + name +
                                        "' cannot name a NATS user: use letters, digits, '-' "
                                        "and '_' (an agent id, admin or supervisor)");
  }
  const fs::path file = creds_file(state_dir, name);
  std::error_code ec;
  if (fs::exists(file, ec)) return false;
  if (auto r = make_dir(auth_dir(state_dir)); !r) return r.error();
  auto key = nkeys::generate_user();
  if (!key) return key.error();
  const std::string comment = "agency NATS credentials for " + name +
                              "\nUse with NATS_NKEY=<this file> (agents, the agency CLI, nats "
                              "--nkey).\nKeep it secret: whoever holds it acts as " +
                              name + ".\npublic key " + key->public_key;
  if (auto r = write_private(file, nkeys::seed_file_text(key->seed, comment)); !r) {
    return r.error();
  }
  return true;
}

Result<Tls> ensure_tls(const fs::path& state_dir, const std::vector<std::string>& hosts) {
  const fs::path dir = state_dir / "tls";
  Tls out{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
  std::error_code ec;
  if (fs::exists(out.ca, ec) && fs::exists(out.cert, ec) && fs::exists(out.key, ec)) return out;
  if (auto r = make_dir(dir); !r) return r.error();
  auto openssl = find_program("openssl");
  if (!openssl) {
    return make_error(errc::config,
                      "TLS needs the openssl command to make a certificate: install it "
                      "(scripts/install-deps.sh, or apt-get install openssl), or set "
                      "nats.tls.cert and nats.tls.key in agency.yaml");
  }
  std::string names = "IP:127.0.0.1,IP:::1,DNS:localhost";
  std::vector<std::string> all = hosts;
  // Listening on every address: clients elsewhere use this machine's name.
  if (std::any_of(hosts.begin(), hosts.end(),
                  [](const std::string& h) { return h == "0.0.0.0" || h == "::"; })) {
    std::array<char, 256> name{};
    if (::gethostname(name.data(), name.size() - 1) == 0 && name[0] != '\0') {
      all.emplace_back(name.data());
    }
  }
  for (const auto& h : all) {
    if (h.empty() || h == "0.0.0.0" || h == "::" || h == "127.0.0.1" || h == "localhost") continue;
    const bool ip = h.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos &&
                    h.find_first_of(".:") != std::string::npos;
    names += (ip ? ",IP:" : ",DNS:") + h;
  }
  const fs::path ext = dir / "server.ext";
  if (auto r = write_private(ext, "subjectAltName=" + names +
                                      "\nextendedKeyUsage=serverAuth\nkeyUsage=critical,"
                                      "digitalSignature,keyEncipherment\n");
      !r) {
    return r.error();
  }
  const std::string ca_key = (dir / "ca.key").string();
  const std::string csr = (dir / "server.csr").string();
  const std::vector<std::vector<std::string>> steps = {
      {*openssl,
       "req",
       "-x509",
       "-newkey",
       "ec",
       "-pkeyopt",
       "ec_paramgen_curve:prime256v1",
       "-nodes",
       "-keyout",
       ca_key,
       "-out",
       out.ca.string(),
       "-days",
       "3650",
       "-subj",
       "/CN=agency mesh CA",
       "-addext",
       "basicConstraints=critical,CA:TRUE",
       "-addext",
       "keyUsage=critical,keyCertSign,cRLSign"},
      {*openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", out.key.string(), "-out", csr, "-subj", "/CN=agency nats-server"},
      {*openssl, "x509", "-req", "-in", csr, "-CA", out.ca.string(), "-CAkey", ca_key,
       "-CAcreateserial", "-out", out.cert.string(), "-days", "825", "-extfile", ext.string()},
  };
  std::atomic<bool> cancel{false};
  for (const auto& argv : steps) {
    ProcessSpec spec;
    spec.argv = argv;
    spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
    spec.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto ran = run_process(spec, {}, cancel);
    if (!ran) return ran.error();
    if (ran->exit_code() != 0) {
      fs::remove(out.cert, ec);  // a half-made set is made again next time
      return make_error(errc::io, "making the TLS certificate: " + ran->describe("openssl"));
    }
  }
  for (const auto& f : {fs::path(ca_key), out.key}) {
    fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace,
                    ec);
  }
  fs::remove(csr, ec);
  fs::remove(ext, ec);
  return out;
}

Result<std::vector<std::string>> known(const fs::path& state_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path dir = auth_dir(state_dir);
  if (!fs::exists(dir, ec)) return out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != kExtension) continue;
    std::string name = it->path().stem().string();
    if (valid_name(name)) out.push_back(std::move(name));
  }
  if (ec) return make_error(errc::io, "cannot list " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Result<bool> ensure_fleet(const fs::path& state_dir, const std::vector<std::string>& roles,
                          const std::vector<int>& counts) {
  bool made = false;
  auto one = [&](const std::string& name) -> Result<void> {
    auto r = ensure(state_dir, name);
    if (!r) return r.error();
    made = made || *r;
    return {};
  };
  if (auto r = one("admin"); !r) return r.error();
  if (auto r = one("supervisor"); !r) return r.error();
  for (std::size_t i = 0; i < roles.size(); ++i) {
    const int n = std::max(1, i < counts.size() ? counts[i] : 1);
    for (int k = 1; k <= n; ++k) {
      if (auto r = one(roles[i] + "-" + std::to_string(k)); !r) return r.error();
    }
  }
  return made;
}

Result<std::string> server_config(const fs::path& state_dir, const std::vector<std::string>& roles,
                                  const permissions::Handoffs& handoffs) {
  auto names = known(state_dir);
  if (!names) return names.error();
  std::vector<permissions::User> users;
  for (const auto& name : *names) {
    auto seed = nkeys::read_seed(creds_file(state_dir, name));
    if (!seed) return seed.error();
    auto pub = nkeys::public_key_of(*seed);
    if (!pub) {
      return make_error(errc::config,
                        creds_file(state_dir, name).string() + ": " + pub.error().message);
    }
    auto who = permissions::principal_named(name, roles);
    if (who.kind == permissions::Kind::agent && who.role.empty()) continue;  // a removed role
    users.push_back({std::move(who), std::move(*pub)});
  }
  return permissions::server_config(users, roles, handoffs);
}

Result<std::string> MeshAccess::server_config() const {
  std::string text;
  if (auth) {
    auto users = credentials::server_config(state_dir, roles, handoffs);
    if (!users) return users.error();
    text += *users;
  }
  if (!tls_cert.empty()) {
    auto q = [](const fs::path& p) { return config_string(p.string()); };
    text += "tls {\n  cert_file: " + q(tls_cert) + "\n  key_file: " + q(tls_key) +
            "\n  timeout: 5\n}\n";
  }
  return text;
}

std::map<std::string, std::string> MeshAccess::client_env(const std::string& name) const {
  std::map<std::string, std::string> env;
  if (auth) {
    env["NATS_NKEY"] = creds_file(state_dir, name).string();
    for (const char* v : {"NATS_CREDS", "NATS_USER", "NATS_PASSWORD", "NATS_TOKEN"}) env[v] = "";
  }
  if (!tls_ca.empty()) env["NATS_CA"] = tls_ca.string();
  if (auth || !tls_ca.empty()) env["NATS_CONTEXT"] = "";
  return env;
}

void MeshAccess::apply(ConnectSettings& settings, const std::string& name) const {
  if (auth) {
    settings.nkey_seed_file = creds_file(state_dir, name).string();
    settings.creds_file.clear();
    settings.user.clear();
    settings.password.clear();
    settings.token.clear();
  }
  if (!tls_ca.empty()) settings.tls_ca = tls_ca.string();
}

void apply_local_admin(const fs::path& state_dir, const fs::path& configured_ca,
                       ConnectSettings& settings) {
  std::error_code ec;
  const bool has_own = !settings.creds_file.empty() || !settings.nkey_seed_file.empty() ||
                       !settings.user.empty() || !settings.token.empty();
  const fs::path admin = creds_file(state_dir, "admin");
  if (!has_own && fs::exists(admin, ec)) settings.nkey_seed_file = admin.string();
  const bool tls = std::any_of(settings.servers.begin(), settings.servers.end(),
                               [](const std::string& u) { return u.rfind("tls://", 0) == 0; });
  if (tls && settings.tls_ca.empty()) {
    if (!configured_ca.empty()) {
      settings.tls_ca = configured_ca.string();
    } else if (fs::exists(state_dir / "tls" / "ca.pem", ec)) {
      settings.tls_ca = (state_dir / "tls" / "ca.pem").string();
    }
  }
}

}  // namespace agency::credentials
