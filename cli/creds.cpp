// agency creds: the NATS users of a mesh `agency up` runs (or that a
// nats-server you run includes): one key per principal in
// <state_dir>/auth, with the permissions of runtime/permissions.hpp.
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "agency/v1/scale.pb.h"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "cli/cli.hpp"
#include "runtime/credentials.hpp"
#include "runtime/permissions.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::seconds;

struct CredsOptions {
  std::string name;
  std::string out;
  std::string nats_conf;
};

std::vector<std::string> role_names(const config::Config& cfg) {
  std::vector<std::string> roles;
  for (const auto& r : cfg.roles) roles.push_back(r.name);
  return roles;
}

// A role name stands for a new agent that runs elsewhere: <role>-r<n>, one
// above the highest such id with a key. `agency up` numbers its own agents
// <role>-<n>, so the two never meet.
Result<std::string> agent_for_role(const fs::path& state_dir, const std::string& role) {
  auto names = credentials::known(state_dir);
  if (!names) return names.error();
  int highest = 0;
  const std::string prefix = role + "-r";
  for (const auto& n : *names) {
    if (n.rfind(prefix, 0) != 0) continue;
    const std::string tail = n.substr(prefix.size());
    if (tail.empty() || tail.find_first_not_of("0123456789") != std::string::npos) continue;
    if (tail.size() < 6) highest = std::max(highest, std::stoi(tail));
  }
  return prefix + std::to_string(highest + 1);
}

// Tells a running `agency up` to let the new key in (it reloads its server).
std::string tell_running_up(const GlobalOptions& global, const std::string& name) {
  auto conn = connect_cli(global, "agency-creds");
  if (!conn) return "no running mesh was told (" + conn.error().message + ")";
  v1::ScaleRequest request;
  request.set_action("admit");
  request.set_agent_id(name);
  request.set_requested_by("agency creds");
  auto answer = (*conn)->request(subjects::kUpScale, codec::encode(request), seconds(10));
  if (!answer) {
    return "no `agency up` answered (" + answer.error().message +
           "): a server you run yourself needs `agency creds --nats-conf FILE` and a reload";
  }
  auto reply = codec::decode<v1::ScaleReply>(answer->data(), answer->headers());
  if (!reply) return "agency up's answer could not be read: " + reply.error().message;
  if (!reply->ok()) return "agency up refused: " + reply->reason();
  return "the running mesh lets it in";
}

int run_creds(const GlobalOptions& global, const CredsOptions& opts) {
  const config::Config cfg = fleet_config(global);
  // As for an agent: AGENCY_STATE_DIR, else agency.yaml's state_dir.
  const char* env_state = std::getenv("AGENCY_STATE_DIR");
  const fs::path state_dir = fs::absolute(
      env_state != nullptr && *env_state != '\0' ? fs::path(env_state) : cfg.state_dir);
  const auto roles = role_names(cfg);
  json summary = json::object();

  if (!opts.nats_conf.empty()) {
    std::vector<int> counts;
    for (const auto& role : cfg.roles) {
      auto it = cfg.instances.find(role.name);
      counts.push_back(std::max(role.count, it == cfg.instances.end() ? 0 : it->second.max));
    }
    must(credentials::ensure_fleet(state_dir, roles, counts));
    auto text =
        must(credentials::server_config(state_dir, roles, permissions::handoffs(cfg.pipelines)));
    must(credentials::write_private(opts.nats_conf, text));
    auto names = must(credentials::known(state_dir));
    summary["nats_conf"] = opts.nats_conf;
    summary["principals"] = names;
    if (!global.json) {
      std::cout << "wrote " << opts.nats_conf << " (0600): " << names.size()
                << " users; include it from a nats-server config (include auth.conf) and "
                   "reload the server\n  keys in "
                << credentials::auth_dir(state_dir).string() << '\n';
    }
  }
  if (!opts.name.empty()) {
    std::string name = opts.name;
    const bool is_role = std::find(roles.begin(), roles.end(), name) != roles.end();
    if (is_role) name = must(agent_for_role(state_dir, name));
    auto who = permissions::principal_named(name, roles);
    if (who.kind == permissions::Kind::agent && who.role.empty()) {
      std::string list;
      for (const auto& r : roles) list += (list.empty() ? "" : ", ") + r;
      fail(make_error(errc::config, "'" + name +
                                        "' is no role, no agent id of a role (<role>-<n>), "
                                        "admin or supervisor; the roles are: " +
                                        list));
    }
    const bool made = must(credentials::ensure(state_dir, name));
    const fs::path file = credentials::creds_file(state_dir, name);
    std::string told;
    if (made && who.kind == permissions::Kind::agent) told = tell_running_up(global, name);
    if (opts.out == "-") {
      std::ifstream in(file);
      std::cout << in.rdbuf();
      return 0;
    }
    fs::path written = file;
    if (!opts.out.empty()) {
      std::ifstream in(file);
      std::ostringstream text;
      text << in.rdbuf();
      must(credentials::write_private(opts.out, text.str()));
      written = opts.out;
    }
    summary["principal"] = name;
    summary["role"] = who.role;
    summary["file"] = written.string();
    summary["created"] = made;
    if (!told.empty()) summary["mesh"] = told;
    if (!global.json) {
      std::cout << (made ? "made " : "") << "credentials for " << name
                << (who.role.empty() ? "" : " (role " + who.role + ")") << ": " << written.string()
                << " (0600)\n"
                << "  use with: NATS_NKEY=" << written.string()
                << (who.kind == permissions::Kind::agent ? " AGENCY_AGENT_ID=" + name : "") << '\n';
      if (!told.empty()) std::cout << "  " << told << '\n';
    }
  }
  if (global.json) std::cout << summary.dump() << std::endl;
  return 0;
}

}  // namespace

void add_creds_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<CredsOptions>();
  auto* cmd = app.add_subcommand(
      "creds",
      "NATS credentials of the mesh: one NKey user per agent, admin and supervisor, each "
      "allowed only what its role needs (docs/STREAMS.md, \"Permissions\"). Keys live in "
      "<state_dir>/auth (0600).\n"
      "  agency creds builder-3 --out b3.creds   an agent's (made if new; a running agency up "
      "lets it in)\n"
      "  agency creds builder                    a new agent id for elsewhere: builder-r1, ...\n"
      "  agency creds admin --out -              print admin's to stdout\n"
      "  agency creds --nats-conf auth.conf      the authorization block for a nats-server you "
      "run");
  cmd->add_option("name", opts->name,
                  "an agent id (<role>-<n>), a role (a new id <role>-r<n> for an agent elsewhere), "
                  "admin or supervisor");
  cmd->add_option("--out", opts->out, "write the creds file here (0600); '-' prints it");
  cmd->add_option("--nats-conf", opts->nats_conf,
                  "write the nats-server authorization block for every user here (keys made for "
                  "every agent agency.yaml may run)");
  cmd->add_flag("--json", global.json, "print what was written as one JSON object");
  cmd->callback([&global, opts] {
    if (opts->name.empty() && opts->nats_conf.empty()) {
      fail(make_error(errc::config,
                      "name a principal (an agent id, a role, admin or supervisor) "
                      "or give --nats-conf FILE; see agency creds --help"));
    }
    int code = run_creds(global, *opts);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace agency::cli
