#include "runtime/config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "bus/connect.hpp"
#include "bus/provision.hpp"
#include "runtime/catalog.hpp"
#include "runtime/config_accounts.hpp"
#include "runtime/config_pipeline.hpp"
#include "runtime/git.hpp"
#include "runtime/yaml_error.hpp"

namespace agency::config {

namespace {

namespace fs = std::filesystem;

// What commands other than `agency up` run on without any agency.yaml (`agency up`
// runs on what the place gives instead: runtime/place.hpp);
// embedded_default() parses this text, so the two cannot disagree.
constexpr std::string_view kDefaultYaml = R"yaml(# agency.yaml: what `agency up` runs.
# Every key is optional; docs/CONFIG.md describes them all. Relative paths
# are relative to this file.

# Where `agency up` keeps the JetStream store, its logs and nats.url.
# state_dir: .agency

nats:
  # Empty: `agency up` starts its own nats-server with JetStream. Set the URL
  # of an existing server or cluster (nats://host:4222, comma-separated) to
  # use that instead.
  url: ""
  # The embedded server: listen address, client port (0: a free one) and
  # monitoring port (0: a free one, -1: none).
  host: 127.0.0.1
  port: 0
  monitor_port: 0
  # nats-server binary to start; empty: the one on PATH.
  binary: ""
  # Replicas of every stream and bucket: 1 on one machine, 3 in a cluster.
  replicas: 1
  # Embedded nodes run as one JetStream cluster (1: a single server). With
  # more, every stream and bucket gets min(3, cluster) replicas, and agents
  # fail over between the nodes (`agency up --cluster N` for one run).
  cluster: 1
  # The embedded server lets in only the users agency made: one per agent,
  # allowed only what its role needs (docs/STREAMS.md, "Permissions"); keys
  # in <state_dir>/auth. false: whoever reaches the port may do anything.
  auth: true
  # TLS for the embedded server: its certificate and key files, and the CA
  # that signed them (agents and the CLI are given it). Or `agency up --tls`
  # makes a CA and certificate in <state_dir>/tls.
  tls:
    cert: ""
    key: ""
    ca: ""

# The repositories the fleet works on, for example:
#   - name: api                  # letters, digits, '-' and '_'
#     repo: ../api               # a git repository
#     default_branch: main
#     test_command: make test    # run in the task's worktree
#     landing: merge             # merge | push | pr | none (docs/LANDING.md)
#     land_with: merge           # merge | rebase
#     remote: origin             # for landing push and pr
projects: []

# How tasks move: after bounce_limit bounces back to an earlier stage a task
# is blocked for a human; a brief delivered max_deliver times without being
# done goes to agency.dead.<role>; a brief whose agent died goes to another
# agent of the role after ack_wait_seconds.
pipeline:
  bounce_limit: 3
  max_deliver: 5
  ack_wait_seconds: 30

# The roles `agency up` runs, in this order, and how many agents of each.
# A role written without settings (`planner:`) takes all defaults. Each role
# may also set engine (default: the one its SKILL.md names), model, binary,
# skill, args, env, and engine settings: timeout_seconds, env_allow, cli,
# permission_mode, base_url, ... (docs/ENGINES.md, docs/CONFIG.md).
roles:
  planner:
    count: 1
  builder:
    count: 1
  adversary:
    count: 1
  reviewer:
    count: 1
)yaml";

constexpr std::array<std::string_view, 7> kTopKeys = {"state_dir", "nats",      "projects", "roles",
                                                      "pipeline",  "pipelines", "limits"};
constexpr std::array<std::string_view, 6> kLimitsKeys = {"brief_bytes", "question_bytes",
                                                         "mail_bytes",  "usage_bytes",
                                                         "task_bytes",  "dead_letter_keep_bytes"};
constexpr std::array<std::string_view, 9> kNatsKeys = {
    "url", "host", "port", "monitor_port", "binary", "replicas", "cluster", "auth", "tls"};
constexpr std::array<std::string_view, 3> kTlsKeys = {"cert", "key", "ca"};
constexpr std::array<std::string_view, 8> kProjectKeys = {
    "name", "repo", "default_branch", "test_command", "landing", "land_with", "remote", "pipeline"};
constexpr std::array<std::string_view, 4> kLandings = {"merge", "push", "pr", "none"};
constexpr std::array<std::string_view, 2> kLandWith = {"merge", "rebase"};
constexpr std::array<std::string_view, 24> kRoleKeys = {"count",
                                                        "external",
                                                        "engines",
                                                        "engine",
                                                        "model",
                                                        "binary",
                                                        "skill",
                                                        "args",
                                                        "env",
                                                        "command",
                                                        "timeout_seconds",
                                                        "env_allow",
                                                        "scenario",
                                                        "cli",
                                                        "cli_args",
                                                        "permission_mode",
                                                        "allowed_tools",
                                                        "max_turns",
                                                        "base_url",
                                                        "api_key_env",
                                                        "max_tokens",
                                                        "retries",
                                                        "rate_limit_wait_seconds",
                                                        "session_max_tokens"};
constexpr std::array<std::string_view, 4> kPipelineKeys = {"bounce_limit", "max_deliver",
                                                           "ack_wait_seconds", "stages"};

bool is_env_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front())) != 0) return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
}

// Whether `dir` is the top of a git work tree: a .git directory, or the
// .git file of a linked worktree or submodule ("gitdir: PATH") whose PATH
// exists. Read from the disk rather than asked of git, so reading the
// config needs no git and starts no process.
bool is_work_tree_top(const fs::path& dir) {
  std::error_code ec;
  const fs::path dot_git = dir / ".git";
  if (fs::is_directory(dot_git, ec)) return fs::exists(dot_git / "HEAD", ec);
  if (!fs::is_regular_file(dot_git, ec)) return false;
  std::ifstream in(dot_git);
  std::string line;
  if (!std::getline(in, line) || line.rfind("gitdir:", 0) != 0) return false;
  std::string target = line.substr(7);
  while (!target.empty() && std::isspace(static_cast<unsigned char>(target.front())) != 0) {
    target.erase(0, 1);
  }
  while (!target.empty() && std::isspace(static_cast<unsigned char>(target.back())) != 0) {
    target.pop_back();
  }
  if (target.empty()) return false;
  fs::path git_dir(target);
  if (git_dir.is_relative()) git_dir = dir / git_dir;
  return fs::is_directory(git_dir, ec);
}

// Why `repo` cannot be a project's repository, or nothing when it can.
// Builders make worktrees of it and every role reads it, so it has to be
// the top of a work tree: a missing directory would only show up as every
// brief of the project failing.
std::optional<std::string> repo_problem(const fs::path& repo) {
  std::error_code ec;
  if (!fs::exists(repo, ec)) return repo.string() + " does not exist";
  if (!fs::is_directory(repo, ec)) return repo.string() + " is not a directory";
  if (is_work_tree_top(repo)) return std::nullopt;
  for (fs::path up = repo.parent_path(); !up.empty(); up = up.parent_path()) {
    if (is_work_tree_top(up)) {
      return repo.string() + " is inside the git work tree " + up.string() +
             "; name the top of the work tree";
    }
    if (up == up.root_path()) break;
  }
  if (fs::exists(repo / "HEAD", ec) && fs::is_directory(repo / "objects", ec)) {
    return repo.string() +
           " is a bare git repository; builders need a work tree: name a clone of it";
  }
  return repo.string() + " is not a git repository (no .git in it); run `git init` there, or " +
         "name the directory of the repository";
}

// A role agency brings (runtime/catalog.hpp): its binary and SKILL.md ship
// with agency.
bool is_builtin_role(std::string_view name) { return catalog::find(name) != nullptr; }

// The built-in role closest to a misspelt name, if one is close enough to
// be what was meant.
std::optional<std::string> nearest_builtin_role(std::string_view name) {
  std::optional<std::string> best;
  size_t best_distance = 3;  // more than two edits away is another word
  for (const auto& role : catalog::names()) {
    size_t d = edit_distance(name, role);
    if (d < best_distance) {
      best = role;
      best_distance = d;
    }
  }
  return best;
}

// The runtime's sections; a role's own section goes to the reader of its
// catalog entry.
class Parser : public Reader {
 public:
  // `check_disk`: also check what the file names on the disk (repos,
  // SKILL.md files, role names), as load_file() does.
  Parser(std::string label, fs::path base, bool check_disk)
      : Reader(std::move(label), std::move(base)),
        check_disk_(check_disk),
        stages_(*this),
        accounts_(*this) {}

  Config run(const YAML::Node& root) {
    Config c;
    c.state_dir = base_ / ".agency";
    bool roles_given = false;
    Item doc{YAML::Node(), root, ""};
    // The runtime's keys, then the sections of the roles that have settings.
    std::vector<std::string_view> top(kTopKeys.begin(), kTopKeys.end());
    for (const auto& role : catalog::roles()) {
      if (role.settings != nullptr) top.push_back(role.name);
    }
    if (root.IsDefined() && !root.IsNull()) {
      if (!root.IsMap()) {
        fail(doc, "the file must be a map with the keys " + join(top) + ", got " + describe(root));
      }
      for (const auto& item : entries(doc, top)) {
        auto name = item.key.Scalar();
        if (name == "state_dir") {
          if (auto p = string_value(item, "a directory path")) c.state_dir = resolve(*p);
        } else if (name == "nats") {
          c.nats = nats(item);
        } else if (name == "pipeline") {
          c.pipeline = pipeline(item, c);
        } else if (name == "pipelines") {
          auto named = stages_.pipelines(item);
          c.pipelines.insert(named.begin(), named.end());
        } else if (name == "limits") {
          c.limits = limits(item);
        } else if (name == "projects") {
          c.projects = projects(item);
        } else if (name == "roles") {
          c.roles = roles(item);
          roles_given = true;
        } else if (const auto* role = catalog::find(name); role != nullptr) {
          role->settings(*this, item, c);
        }
      }
    }
    if (!roles_given) c.roles = default_roles();
    c.pipelines.emplace(pipeline::kDefaultName, pipeline::Pipeline::builtin());
    stages_.check(c);
    accounts_.check(c);
    return c;
  }

 private:
  Nats nats(const Item& section) {
    Nats n;
    if (section.value.IsNull()) return n;
    if (!section.value.IsMap()) {
      fail(section,
           "must be a map with the keys " + join(kNatsKeys) + ", got " + describe(section.value));
    }
    for (const auto& item : entries(section, kNatsKeys)) {
      auto key = item.key.Scalar();
      if (key == "url") {
        if (auto v = string_value(item, "a NATS URL")) {
          if (!v->empty()) check_url(item, *v);
          n.url = *v;
        }
      } else if (key == "host") {
        if (auto v = string_value(item, "a host name or address")) {
          if (v->empty()) fail(item, "must not be empty (127.0.0.1 listens on this machine only)");
          n.host = *v;
        }
      } else if (key == "port") {
        if (auto v = int_value(item, 0, 65535)) n.port = *v;
      } else if (key == "monitor_port") {
        if (auto v = int_value(item, -1, 65535)) n.monitor_port = *v;
      } else if (key == "binary") {
        if (auto v = string_value(item, "a program name or path")) n.binary = binary(*v);
      } else if (key == "replicas") {
        if (auto v = int_value(item, 1, 5)) n.replicas = *v;
      } else if (key == "cluster") {
        if (auto v = int_value(item, 1, 7)) n.cluster = *v;
      } else if (key == "auth") {
        if (auto v = bool_value(item)) n.auth = *v;
      } else if (key == "tls") {
        tls(item, n);
      }
    }
    return n;
  }

  void tls(const Item& section, Nats& n) {
    if (section.value.IsNull()) return;
    if (!section.value.IsMap()) {
      fail(section,
           "must be a map with the keys " + join(kTlsKeys) + ", got " + describe(section.value));
    }
    for (const auto& item : entries(section, kTlsKeys)) {
      auto key = item.key.Scalar();
      auto v = string_value(item, "a file path");
      if (!v || v->empty()) continue;
      if (key == "cert") n.tls_cert = resolve(*v);
      if (key == "key") n.tls_key = resolve(*v);
      if (key == "ca") n.tls_ca = resolve(*v);
    }
    if (n.tls_cert.empty() != n.tls_key.empty()) {
      fail(section, "needs both cert and key (the server's certificate and its private key)");
    }
  }

  Pipeline pipeline(const Item& section, Config& c) {
    Pipeline p;
    if (section.value.IsNull()) return p;
    if (!section.value.IsMap()) {
      fail(section, "must be a map with the keys " + join(kPipelineKeys) + ", got " +
                        describe(section.value));
    }
    for (const auto& item : entries(section, kPipelineKeys)) {
      auto key = item.key.Scalar();
      if (key == "bounce_limit") {
        if (auto v = int_value(item, 0, 100)) p.bounce_limit = *v;
      } else if (key == "max_deliver") {
        if (auto v = int_value(item, 1, 100)) p.max_deliver = *v;
      } else if (key == "ack_wait_seconds") {
        if (auto v = int_value(item, 1, 3600)) p.ack_wait_seconds = *v;
      } else if (key == "stages" && !item.value.IsNull()) {
        c.pipelines.insert_or_assign(std::string(pipeline::kDefaultName),
                                     stages_.stages(item, std::string(pipeline::kDefaultName)));
      }
    }
    return p;
  }

  Limits limits(const Item& section) {
    constexpr int kMostBytes = static_cast<int>(Limits::kMost);
    Limits l;
    if (!section_map(section, kLimitsKeys)) return l;
    for (const auto& item : entries(section, kLimitsKeys)) {
      auto key = item.key.Scalar();
      if (key == "brief_bytes") {
        if (auto v = int_value(item, 1024, kMostBytes)) l.brief_bytes = *v;
      } else if (key == "question_bytes") {
        if (auto v = int_value(item, 1024, kMostBytes)) l.question_bytes = *v;
      } else if (key == "mail_bytes") {
        if (auto v = int_value(item, 1024, kMostBytes)) l.mail_bytes = *v;
      } else if (key == "usage_bytes") {
        if (auto v = int_value(item, 1024, kMostBytes)) l.usage_bytes = *v;
      } else if (key == "task_bytes") {
        if (auto v = int_value(item, 64 * 1024, kMostBytes)) l.task_bytes = *v;
      } else if (key == "dead_letter_keep_bytes") {
        if (auto v = int_value(item, 0, 64 * 1024)) l.dead_letter_keep_bytes = *v;
      }
    }
    return l;
  }

  // The same rules as NATS_URL, so a URL that works in one works in the other.
  void check_url(const Item& item, const std::string& url) {
    auto env = [&url](std::string_view name) -> std::optional<std::string> {
      if (name == "NATS_URL") return url;
      return std::nullopt;
    };
    auto settings = settings_from_environment(env);
    if (!settings) {
      std::string msg = settings.error().message;
      // The message names NATS_URL, which the user did not set.
      if (msg.rfind("NATS_URL: ", 0) == 0) msg.erase(0, 10);
      fail(item, msg);
    }
  }

  std::vector<Project> projects(const Item& section) {
    std::vector<Project> out;
    if (section.value.IsNull()) return out;
    if (!section.value.IsSequence()) {
      fail(section,
           "must be a list of projects (- name: ..., repo: ...), got " + describe(section.value));
    }
    for (size_t i = 0; i < section.value.size(); ++i) {
      Item entry{YAML::Node(), section.value[i], section.path + "[" + std::to_string(i) + "]"};
      if (!entry.value.IsMap()) {
        fail(entry, "must be a map with the keys " + join(kProjectKeys) + ", got " +
                        describe(entry.value));
      }
      Project p;
      bool has_repo = false;
      for (const auto& item : entries(entry, kProjectKeys)) {
        auto key = item.key.Scalar();
        if (key == "name") {
          auto v = string_value(item, "a name");
          if (!v || !is_token(*v)) {
            fail(item,
                 "must be a name of letters, digits, '-' and '_' (it becomes part of NATS "
                 "subjects), got " +
                     describe(item.value));
          }
          p.name = *v;
        } else if (key == "repo") {
          auto v = string_value(item, "the path of a git repository");
          if (!v || v->empty()) fail(item, "must be the path of a git repository, got nothing");
          p.repo = resolve(*v);
          if (check_disk_) {
            if (auto problem = repo_problem(p.repo)) fail(item, *problem);
          }
          has_repo = true;
        } else if (key == "default_branch") {
          if (auto v = string_value(item, "a branch name")) {
            if (v->empty()) fail(item, "must be a branch name, got ''");
            p.default_branch = *v;
          }
        } else if (key == "test_command") {
          if (auto v = string_value(item, "a shell command")) p.test_command = *v;
        } else if (key == "landing") {
          auto v = string_value(item, "a landing mode");
          if (!v || std::find(kLandings.begin(), kLandings.end(), *v) == kLandings.end()) {
            fail(item, "must be one of " + join(kLandings) + ", got " + describe(item.value));
          }
          p.landing = *v;
        } else if (key == "land_with") {
          auto v = string_value(item, "merge or rebase");
          if (!v || std::find(kLandWith.begin(), kLandWith.end(), *v) == kLandWith.end()) {
            fail(item, "must be one of " + join(kLandWith) + ", got " + describe(item.value));
          }
          p.land_with = *v;
        } else if (key == "pipeline") {
          p.pipeline = stages_.project_pipeline(item);
        } else if (key == "remote") {
          auto v = string_value(item, "a git remote's name or address");
          if (!v || v->empty() || v->front() == '-') {
            fail(item, "must be the name of a git remote or an address to clone, got " +
                           describe(item.value));
          }
          p.remote = *v;
          p.from_remote = git::is_clone_address(p.remote);
          // A relative path, like repo's, is relative to this file.
          if (p.remote.starts_with("./") || p.remote.starts_with("../")) {
            p.remote = resolve(p.remote).lexically_normal().string();
          }
        }
      }
      if (p.name.empty()) fail(entry, "has no 'name' (letters, digits, '-' and '_')");
      if (!has_repo && !p.from_remote) {
        fail(entry, "project '" + p.name +
                        "' has no 'repo' (the path of its git repository) and no 'remote' "
                        "address every host can clone (a URL, user@host:path or a path)");
      }
      for (const auto& other : out) {
        if (other.name == p.name) {
          fail(entry, "project name '" + p.name + "' is used twice; project names must differ");
        }
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  std::vector<Role> roles(const Item& section) {
    std::vector<Role> out;
    if (section.value.IsNull()) return out;
    if (!section.value.IsMap()) {
      fail(section, "must be a map from role name to its settings (builder: {count: 2}), got " +
                        describe(section.value));
    }
    std::set<std::string> seen;
    for (auto it = section.value.begin(); it != section.value.end(); ++it) {
      Item entry{it->first, it->second, ""};
      if (!it->first.IsScalar() || !is_token(it->first.Scalar())) {
        fail(Item{it->first, it->first, section.path},
             "role names are letters, digits, '-' and '_' (they become part of NATS subjects), "
             "got " +
                 describe(it->first));
      }
      Role r;
      r.name = it->first.Scalar();
      entry.path = child(section.path, r.name);
      if (!seen.insert(r.name).second) fail(entry, "role '" + r.name + "' is given twice");
      if (!entry.value.IsNull()) {
        if (!entry.value.IsMap()) {
          fail(entry, "must be a map with the keys " + join(kRoleKeys) +
                          ", or nothing for all "
                          "defaults, got " +
                          describe(entry.value));
        }
        for (const auto& item : entries(entry, kRoleKeys)) role_key(item, r);
      }
      // Checked here, not at run time, so `agency up` refuses the file at
      // once instead of every agent failing its first brief.
      if (r.engine == "command" && r.command.empty()) {
        fail(entry,
             "engine 'command' needs a command: the program and its arguments as a list, "
             "for example command: [./review.sh, '{task_id}']");
      }
      if (r.external && (!r.binary.empty() || !r.skill.empty() || !r.command.empty())) {
        fail(entry,
             "an external role's agents are started by you, not by agency up: leave out "
             "binary, skill and command");
      }
      if (check_disk_ && !r.external) {
        check_role_exists(Item{it->first, YAML::Node(), entry.path}, r);
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  // A role nothing can run would be started and restarted forever, each
  // agent exiting for want of its SKILL.md; a misspelt built-in name is the
  // usual cause. A role of one's own runs from its skill or binary, or from
  // roles/<name>/SKILL.md next to the file (how `agency up` finds it).
  void check_role_exists(const Item& at, const Role& r) {
    const std::string own = "(a role of your own needs skill: PATH/SKILL.md, or binary: PROGRAM)";
    if (!r.binary.empty()) return;
    if (r.name == "role") {
      // `agency up` would run agency-role itself, which needs --skill.
      fail(at,
           "'role' is the generic role binary (agency-role), not a role; give your role a name "
           "of its own and skill: PATH/SKILL.md");
    }
    if (!r.skill.empty() || is_builtin_role(r.name)) return;
    std::error_code ec;
    if (fs::is_regular_file(base_ / "roles" / r.name / "SKILL.md", ec)) return;
    if (auto near = nearest_builtin_role(r.name)) {
      fail(at, "no such role; did you mean " + *near + "? " + own);
    }
    std::string known;
    for (const auto& name : catalog::names()) known += (known.empty() ? "" : ", ") + name;
    fail(at, "no such role; the built-in roles are " + known + " " + own);
  }

  void role_key(const Item& item, Role& r) {
    auto key = item.key.Scalar();
    if (key == "count") {
      if (auto v = int_value(item, 0, 64)) r.count = *v;
    } else if (key == "external") {
      if (auto v = bool_value(item)) r.external = *v;
    } else if (key == "engine") {
      if (auto v = string_value(item, "an engine name")) {
        if (!v->empty() && !is_token(*v)) {
          fail(item,
               "must be an engine name (claude, codex, gemini, command, openai, anthropic, "
               "scripted), got " +
                   describe(item.value));
        }
        r.engine = *v;
      }
    } else if (key == "model") {
      if (auto v = string_value(item, "a model name")) r.model = *v;
    } else if (key == "engines") {
      r.engines = accounts_.engines(item);
    } else if (key == "binary") {
      if (auto v = string_value(item, "a program name or path")) r.binary = binary(*v);
    } else if (key == "skill") {
      if (auto v = string_value(item, "the path of a SKILL.md")) {
        if (!v->empty()) r.skill = resolve(*v);
        std::error_code ec;
        if (check_disk_ && !r.skill.empty() && !fs::is_regular_file(r.skill, ec)) {
          fail(item, r.skill.string() + (fs::is_directory(r.skill, ec)
                                             ? " is a directory; name the SKILL.md in it"
                                             : " does not exist"));
        }
      }
    } else if (key == "args") {
      r.args = strings(item, "[--verbose, -x]");
    } else if (key == "cli") {
      if (auto v = string_value(item, "a program name or path")) r.cli = binary(*v);
    } else if (key == "cli_args") {
      r.cli_args = strings(item, "[--effort, high]");
    } else if (key == "permission_mode") {
      if (auto v = string_value(item, "a permission mode (acceptEdits, default, plan)")) {
        r.permission_mode = *v;
      }
    } else if (key == "allowed_tools") {
      r.allowed_tools = strings(item, "[Read, Edit, 'Bash(make test)']");
    } else if (key == "max_turns") {
      if (auto v = int_value(item, 0, 10000)) r.max_turns = *v;
    } else if (key == "base_url") {
      if (auto v = string_value(item, "a URL (http://127.0.0.1:8000/v1)")) r.base_url = *v;
    } else if (key == "api_key_env") {
      if (auto v = string_value(item, "an environment variable name")) {
        if (!v->empty() && !is_env_name(*v)) {
          fail(item,
               "must name the environment variable that holds the key (OPENAI_API_KEY), "
               "not the key itself");
        }
        r.api_key_env = *v;
      }
    } else if (key == "max_tokens") {
      if (auto v = int_value(item, 1, 1000000)) r.max_tokens = *v;
    } else if (key == "retries") {
      if (auto v = int_value(item, 0, 20)) r.retries = *v;
    } else if (key == "rate_limit_wait_seconds") {
      if (auto v = int_value(item, 1, 7 * 86400)) r.rate_limit_wait_seconds = *v;
    } else if (key == "session_max_tokens") {
      if (auto v = int_value(item, 0, 100000000)) r.session_max_tokens = *v;
    } else if (key == "command") {
      if (item.value.IsNull()) return;
      if (!item.value.IsSequence()) {
        fail(item,
             "must be a list: the program and its arguments ([./review.sh, '{task_id}']), "
             "got " +
                 describe(item.value));
      }
      if (item.value.size() == 0) {
        fail(item, "must name at least the program to run ([./review.sh, '{task_id}'])");
      }
      for (size_t i = 0; i < item.value.size(); ++i) {
        Item arg{YAML::Node(), item.value[i], item.path + "[" + std::to_string(i) + "]"};
        if (!arg.value.IsScalar()) fail(arg, "must be a string, got " + describe(arg.value));
        if (i == 0 && arg.value.Scalar().empty()) fail(arg, "the program must not be empty");
        r.command.push_back(i == 0 ? binary(arg.value.Scalar()) : arg.value.Scalar());
      }
    } else if (key == "timeout_seconds") {
      if (auto v = int_value(item, 1, 86400)) r.timeout_seconds = *v;
    } else if (key == "env_allow") {
      if (item.value.IsNull()) return;
      if (!item.value.IsSequence()) {
        fail(item, "must be a list of environment variable names ([GITHUB_TOKEN, 'AWS_*']), got " +
                       describe(item.value));
      }
      for (size_t i = 0; i < item.value.size(); ++i) {
        Item name{YAML::Node(), item.value[i], item.path + "[" + std::to_string(i) + "]"};
        std::string n = name.value.IsScalar() ? name.value.Scalar() : std::string();
        std::string_view stem = n;
        if (!stem.empty() && stem.back() == '*') stem.remove_suffix(1);
        if (!is_env_name(stem)) {
          fail(name,
               "must be an environment variable name (letters, digits and '_', not "
               "starting with a digit), optionally ending in '*' for a prefix, got " +
                   describe(name.value));
        }
        r.env_allow.push_back(std::move(n));
      }
    } else if (key == "scenario") {
      if (auto v = string_value(item, "the path of a scenario file")) {
        if (!v->empty()) r.scenario = resolve(*v);
      }
    } else if (key == "env") {
      if (item.value.IsNull()) return;
      if (!item.value.IsMap()) {
        fail(item,
             "must be a map of environment variables (NAME: value), got " + describe(item.value));
      }
      for (auto it = item.value.begin(); it != item.value.end(); ++it) {
        Item var{it->first, it->second, item.path};
        if (!it->first.IsScalar() || !is_env_name(it->first.Scalar())) {
          fail(Item{it->first, it->first, item.path},
               "environment variable names are letters, digits and '_', not starting with a "
               "digit, got " +
                   describe(it->first));
        }
        var.path = child(item.path, it->first.Scalar());
        if (r.env.count(it->first.Scalar()) != 0) fail(var, "given twice");
        std::string value;
        if (!var.value.IsNull()) {
          if (!var.value.IsScalar()) fail(var, "must be a string, got " + describe(var.value));
          value = var.value.Scalar();
        }
        r.env.emplace(it->first.Scalar(), std::move(value));
      }
    }
  }

  // Without a roles section the file means the default fleet.
  std::vector<Role> default_roles() const { return embedded_default(base_).roles; }

  bool check_disk_;
  PipelineReader stages_;
  AccountsReader accounts_;
};

// Counts documents without building them, stopping at `cap`: yaml-cpp 0.7's
// LoadAll never returns on a stray ',' outside brackets (it yields empty
// documents forever; found by tests/fuzz).
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

std::size_t count_documents(const std::string& text, std::size_t cap) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentCounter counter;
  std::size_t n = 0;
  while (n < cap && parser.HandleNextDocument(counter)) ++n;
  return n;
}

// Reviewed work of a project that lands waits at ready-to-land for the
// integrator: a fleet whose roles do not name it gets one (count: 0 under
// roles turns it off).
void add_integrator(Config& config) {
  const bool lands = std::any_of(config.projects.begin(), config.projects.end(),
                                 [](const Project& p) { return p.lands(); });
  if (!lands || config.role("integrator") != nullptr) return;
  Role integrator;
  integrator.name = "integrator";
  config.roles.push_back(std::move(integrator));
}

// Shared by parse() and embedded_default(): `base` is the directory relative
// paths are resolved against.
Result<Config> parse_at(std::string_view yaml_text, const std::string& label, const fs::path& base,
                        bool check_disk) {
  try {
    const std::string text(yaml_text);
    if (count_documents(text, 2) > 1) {
      return make_error(errc::config, label +
                                          ": holds several YAML documents (separated by "
                                          "---, or a stray ',' outside brackets); write one");
    }
    Parser parser(label, base, check_disk);
    Config config = parser.run(YAML::Load(text));
    add_integrator(config);
    return config;
  } catch (const Reader::Failure& f) {
    return make_error(errc::config, f.message);
  } catch (const YAML::Exception& e) {
    return yaml_syntax_error(label, e);
  }
}

}  // namespace

const Project* Config::project(std::string_view name) const {
  for (const auto& p : projects) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const Role* Config::role(std::string_view name) const {
  for (const auto& r : roles) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const pipeline::Pipeline& Config::pipeline_for(std::string_view project_name) const {
  const Project* p = project(project_name);
  auto it = pipelines.find(p != nullptr ? std::string_view(p->pipeline) : pipeline::kDefaultName);
  if (it == pipelines.end()) it = pipelines.find(pipeline::kDefaultName);
  return it == pipelines.end() ? pipeline::Pipeline::builtin() : it->second;
}

bool Config::lands(std::string_view project_name) const {
  const Project* p = project(project_name);
  return p != nullptr && p->lands();
}

std::vector<std::string> Config::stage_roles() const {
  std::vector<std::string> out;
  auto add = [&](const pipeline::Pipeline& p) {
    for (auto r : p.roles()) {
      if (std::find(out.begin(), out.end(), r) == out.end()) out.emplace_back(r);
    }
  };
  if (pipelines.empty()) add(pipeline::Pipeline::builtin());
  for (const auto& [name, p] : pipelines) add(p);
  return out;
}

std::vector<std::string> Config::work_stages() const {
  // The default pipeline's order, each other stage placed after the one
  // before it in its own pipeline (a lint between dev and QA shows there).
  std::vector<std::string> out;
  auto merge = [&](const pipeline::Pipeline& p) {
    std::size_t at = 0;
    for (auto s : p.work_stages()) {
      auto it = std::find(out.begin(), out.end(), s);
      if (it == out.end()) {
        it = out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), std::string(s));
      }
      at = static_cast<std::size_t>(it - out.begin()) + 1;
    }
  };
  auto def = pipelines.find(pipeline::kDefaultName);
  merge(def != pipelines.end() ? def->second : pipeline::Pipeline::builtin());
  for (const auto& [name, p] : pipelines) merge(p);
  return out;
}

namespace {

Result<Config> parse_source(std::string_view yaml_text, const fs::path& source, bool check_disk) {
  fs::path absolute;
  std::error_code ec;
  if (!source.empty()) absolute = fs::absolute(source, ec).lexically_normal();
  fs::path base = source.empty() ? fs::current_path(ec) : absolute.parent_path();
  std::string label = source.empty() ? std::string("agency.yaml") : source.string();
  auto config = parse_at(yaml_text, label, base, check_disk);
  if (config) config->source = absolute;
  return config;
}

}  // namespace

Result<Config> parse(std::string_view yaml_text, const fs::path& source) {
  return parse_source(yaml_text, source, /*check_disk=*/false);
}

Result<Config> load_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return make_error(errc::config, path.string() + ": is a directory, not a config file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(errc::config,
                      path.string() + ": cannot read the config file (" +
                          (fs::exists(path, ec) ? "permission denied?" : "it does not exist") +
                          "); `agency init --write` writes one");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_source(text.str(), path, /*check_disk=*/true);
}

Result<Config> load(const std::optional<fs::path>& explicit_path, const fs::path& cwd) {
  auto against_cwd = [&](const fs::path& p) { return p.is_relative() ? cwd / p : p; };
  if (explicit_path && !explicit_path->empty()) return load_file(against_cwd(*explicit_path));
  if (const char* env = std::getenv("AGENCY_CONFIG"); env != nullptr && *env != '\0') {
    auto config = load_file(against_cwd(env));
    if (!config) {
      return make_error(errc::config, "AGENCY_CONFIG: " + config.error().message);
    }
    return config;
  }
  auto local = cwd / "agency.yaml";
  std::error_code ec;
  if (fs::exists(local, ec)) return load_file(local);
  return embedded_default(cwd);
}

ProvisionPlan provision_plan(const Config& config, const std::vector<std::string>& roles) {
  ProvisionPlan plan;
  // Every role of the catalog gets its consumer, so a brief to one waits
  // for its first agent; then the ones asked for (a user's own roles).
  plan.roles = catalog::names();
  plan.roles.insert(plan.roles.end(), roles.begin(), roles.end());
  // Every role of a pipeline, external ones too: a brief to its stage waits
  // for the role's first agent.
  for (const auto& role : config.stage_roles()) plan.roles.push_back(role);
  plan.replicas = config.nats.replicas;
  plan.ack_wait = std::chrono::seconds(config.pipeline.ack_wait_seconds);
  plan.brief_bytes = config.limits.brief_bytes;
  plan.mail_bytes = config.limits.mail_bytes;
  plan.usage_bytes = config.limits.usage_bytes;
  plan.task_bytes = config.limits.task_bytes;
  return plan;
}

std::string_view default_yaml() { return kDefaultYaml; }

Config embedded_default(const fs::path& cwd) {
  // Its roles are the built-in ones and it names no project: nothing on
  // the disk to check.
  auto config = parse_at(kDefaultYaml, "embedded default agency.yaml", cwd, /*check_disk=*/false);
  // The text is part of the program; the unit tests parse it.
  if (!config) throw std::logic_error(config.error().message);
  return std::move(config).value();
}

}  // namespace agency::config
