// The mesh's NATS users on this machine: one NKey per principal (admin,
// supervisor, each agent id) in <state_dir>/auth/<name>.creds (0600, in a
// 0700 directory), and the server's authorization block made from them and
// the permission table (runtime/permissions.hpp). `agency up` keeps them
// for its embedded server; `agency creds` adds and hands them out.
//
// Thread: one caller at a time per state dir (`agency up` holds its lock).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bus/connect.hpp"
#include "bus/result.hpp"
#include "runtime/permissions.hpp"

namespace agency::credentials {

std::filesystem::path auth_dir(const std::filesystem::path& state_dir);
std::filesystem::path creds_file(const std::filesystem::path& state_dir, const std::string& name);

// Makes the key of `name` (admin, supervisor or an agent id) if it has
// none yet; true when it was made now.
Result<bool> ensure(const std::filesystem::path& state_dir, const std::string& name);

// The principals with a key here, sorted.
Result<std::vector<std::string>> known(const std::filesystem::path& state_dir);

// Keys for admin, supervisor and agents <role>-1 .. <role>-<n> of every
// role, n from `counts` (same order as `roles`); true when any was made.
Result<bool> ensure_fleet(const std::filesystem::path& state_dir,
                          const std::vector<std::string>& roles, const std::vector<int>& counts);

// The nats-server `authorization` block for every principal with a key.
Result<std::string> server_config(const std::filesystem::path& state_dir,
                                  const std::vector<std::string>& roles,
                                  const permissions::Handoffs& handoffs = {});

// A CA and a server certificate it signed, for the embedded server's TLS:
// <state_dir>/tls/{ca.pem, ca.key, server.pem, server.key}, made with the
// openssl command when missing, valid for 127.0.0.1, localhost and `hosts`.
struct Tls {
  std::filesystem::path ca;
  std::filesystem::path cert;
  std::filesystem::path key;
};
Result<Tls> ensure_tls(const std::filesystem::path& state_dir,
                       const std::vector<std::string>& hosts);

// How clients get into a mesh `agency up` runs: users (auth) and TLS.
struct MeshAccess {
  std::filesystem::path state_dir;
  bool auth = false;
  std::vector<std::string> roles;  // every role of the fleet
  permissions::Handoffs handoffs;  // what its pipelines let each role brief
  std::filesystem::path tls_ca;    // empty: no TLS
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;

  // The server's authorization and tls blocks.
  [[nodiscard]] Result<std::string> server_config() const;
  // The environment of a client running as `name` (NATS_NKEY, NATS_CA; the
  // other credential variables emptied, so a user's own do not mix in).
  [[nodiscard]] std::map<std::string, std::string> client_env(const std::string& name) const;
  // The same for a connection this process opens.
  void apply(ConnectSettings& settings, const std::string& name) const;
};

// What a CLI command run beside `agency up` uses when the environment names
// no credentials: admin's key in `state_dir` when there is one, and for a
// tls:// server the CA (`configured_ca`, else the one `agency up --tls` made).
void apply_local_admin(const std::filesystem::path& state_dir,
                       const std::filesystem::path& configured_ca, ConnectSettings& settings);

// Writes `text` to `path` with mode 0600 (through a temporary file, then
// renamed, so a reader never sees half of it).
Result<void> write_private(const std::filesystem::path& path, const std::string& text);

}  // namespace agency::credentials
