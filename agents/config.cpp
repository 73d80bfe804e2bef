#include "agents/config.hpp"

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

#include "agents/yaml_error.hpp"
#include "bus/connect.hpp"
#include "bus/provision.hpp"

namespace agency::config {

namespace {

namespace fs = std::filesystem;

// What commands other than `agency up` run on without any agency.yaml (`agency up`
// runs on what the place gives instead: agents/place.hpp);
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

# The repositories the fleet works on, for example:
#   - name: api                  # letters, digits, '-' and '_'
#     repo: ../api               # a git repository
#     default_branch: main
#     test_command: make test    # run in the task's worktree
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

constexpr std::array<std::string_view, 12> kTopKeys = {
    "state_dir", "nats",    "projects",    "roles", "pipeline",   "limits",
    "proxy",     "sweeper", "synthesizer", "scout", "accountant", "dispatcher"};
constexpr std::array<std::string_view, 6> kLimitsKeys = {"brief_bytes", "question_bytes",
                                                         "mail_bytes",  "usage_bytes",
                                                         "task_bytes",  "dead_letter_keep_bytes"};
constexpr std::array<std::string_view, 6> kDispatcherKeys = {
    "every_seconds", "standing_orders", "schedules", "triggers", "instances", "order_estimate"};
constexpr std::array<std::string_view, 5> kOrderKeys = {"role", "objective", "projects", "priority",
                                                        "token_budget"};
constexpr std::array<std::string_view, 9> kScheduleKeys = {"name",     "cron",         "time_zone",
                                                           "role",     "objective",    "project",
                                                           "priority", "token_budget", "missed"};
constexpr std::array<std::string_view, 8> kTriggerKeys = {
    "name", "subject", "kinds", "role", "objective", "project", "priority", "token_budget"};
constexpr std::array<std::string_view, 5> kInstanceKeys = {"min", "max", "backlog", "after_seconds",
                                                           "idle_seconds"};
constexpr std::array<std::string_view, 17> kAccountantKeys = {"accounts",
                                                              "human_idle_minutes",
                                                              "reserve",
                                                              "release_five_hour_minutes",
                                                              "release_seven_day_minutes",
                                                              "burst",
                                                              "night",
                                                              "night_weight",
                                                              "time_zone",
                                                              "transcripts_every_seconds",
                                                              "usage_every_seconds",
                                                              "lease_timeout_ms",
                                                              "lease_ttl_seconds",
                                                              "fallback_tokens_per_hour",
                                                              "first_estimate",
                                                              "enabled",
                                                              "plan"};
constexpr std::array<std::string_view, 10> kAccountKeys = {
    "name",           "config_dir",       "plan",         "five_hour", "seven_day",
    "seven_day_opus", "seven_day_sonnet", "weekly_reset", "usage_url", "token_file"};
constexpr std::array<std::string_view, 4> kProxyKeys = {"corpus", "reindex_seconds", "passages",
                                                        "min_confidence"};
constexpr std::array<std::string_view, 2> kCorpusKeys = {"name", "path"};
constexpr std::array<std::string_view, 7> kSweeperKeys = {
    "every_seconds",     "stuck_after_seconds", "nudge_grace_seconds", "answer_after_seconds",
    "answer_confidence", "loop_limit",          "burn_factor"};
constexpr std::array<std::string_view, 3> kSynthesizerKeys = {"digest_at", "time_zone", "dir"};
constexpr std::array<std::string_view, 1> kScoutKeys = {"max_tasks"};
constexpr std::array<std::string_view, 6> kNatsKeys = {"url",          "host",   "port",
                                                       "monitor_port", "binary", "replicas"};
constexpr std::array<std::string_view, 4> kProjectKeys = {"name", "repo", "default_branch",
                                                          "test_command"};
constexpr std::array<std::string_view, 22> kRoleKeys = {"count",
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
constexpr std::array<std::string_view, 3> kPipelineKeys = {"bounce_limit", "max_deliver",
                                                           "ack_wait_seconds"};

// The parser reports the first problem by throwing this; parse() turns it
// into an Error. It never leaves this file.
struct Failure {
  std::string message;
};

// One value of the document with what is needed to point at it in an error.
struct Item {
  YAML::Node key;  // undefined for list entries and the document itself
  YAML::Node value;
  std::string path;  // "roles.builder.count", "projects[0].repo"
};

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '_';
  });
}

bool is_env_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front())) != 0) return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
}

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  return "'" + n.Scalar() + "'";
}

std::optional<std::string> home_dir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return std::nullopt;
  return std::string(home);
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

// A role agency brings: its binary and SKILL.md ship with agency.
bool is_builtin_role(std::string_view name) {
  const auto& roles = builtin_roles();
  return std::find(roles.begin(), roles.end(), name) != roles.end();
}

// The built-in role closest to a misspelt name, if one is close enough to
// be what was meant.
std::optional<std::string> nearest_builtin_role(std::string_view name) {
  std::optional<std::string> best;
  size_t best_distance = 3;  // more than two edits away is another word
  for (const auto& role : builtin_roles()) {
    size_t d = edit_distance(name, role);
    if (d < best_distance) {
      best = role;
      best_distance = d;
    }
  }
  return best;
}

class Parser {
 public:
  // `check_disk`: also check what the file names on the disk (repos,
  // SKILL.md files, role names), as load_file() does.
  Parser(std::string label, fs::path base, bool check_disk)
      : label_(std::move(label)), base_(std::move(base)), check_disk_(check_disk) {}

  Config run(const YAML::Node& root) {
    Config c;
    c.state_dir = base_ / ".agency";
    bool roles_given = false;
    Item doc{YAML::Node(), root, ""};
    if (root.IsDefined() && !root.IsNull()) {
      if (!root.IsMap()) {
        fail(doc,
             "the file must be a map with the keys " + join(kTopKeys) + ", got " + describe(root));
      }
      for (const auto& item : entries(doc, kTopKeys)) {
        auto name = item.key.Scalar();
        if (name == "state_dir") {
          if (auto p = string_value(item, "a directory path")) c.state_dir = resolve(*p);
        } else if (name == "nats") {
          c.nats = nats(item);
        } else if (name == "pipeline") {
          c.pipeline = pipeline(item);
        } else if (name == "limits") {
          c.limits = limits(item);
        } else if (name == "proxy") {
          c.proxy = proxy(item);
        } else if (name == "sweeper") {
          c.sweeper = sweeper(item);
        } else if (name == "synthesizer") {
          c.synthesizer = synthesizer(item);
        } else if (name == "scout") {
          c.scout = scout(item);
        } else if (name == "accountant") {
          c.accountant = accountant(item);
        } else if (name == "dispatcher") {
          c.dispatcher = dispatcher(item);
        } else if (name == "projects") {
          c.projects = projects(item);
        } else if (name == "roles") {
          c.roles = roles(item);
          roles_given = true;
        }
      }
    }
    if (!roles_given) c.roles = default_roles();
    return c;
  }

 private:
  [[noreturn]] void fail(const Item& at, const std::string& what) const {
    // A scalar is pointed at where it is written; a section or a missing
    // value where its key is.
    YAML::Mark mark = YAML::Mark::null_mark();
    if (at.value.IsDefined() && at.value.IsScalar()) mark = at.value.Mark();
    if (mark.is_null() && at.key.IsDefined()) mark = at.key.Mark();
    if (mark.is_null() && at.value.IsDefined()) mark = at.value.Mark();
    std::string msg = label_;
    if (!mark.is_null()) msg += ":" + std::to_string(mark.line + 1);
    msg += ": ";
    if (!at.path.empty()) msg += at.path + ": ";
    msg += what;
    throw Failure{std::move(msg)};
  }

  std::string child(const std::string& parent, const std::string& key) const {
    return parent.empty() ? key : parent + "." + key;
  }

  // The entries of a map, in file order, after checking every key is known
  // and appears once.
  std::vector<Item> entries(const Item& map, std::span<const std::string_view> known) {
    std::vector<Item> out;
    std::set<std::string> seen;
    for (auto it = map.value.begin(); it != map.value.end(); ++it) {
      Item item{it->first, it->second, ""};
      if (!it->first.IsScalar()) {
        fail(Item{it->first, it->first, map.path},
             "a key must be a plain name, got " + describe(it->first));
      }
      const std::string& key = it->first.Scalar();
      item.path = child(map.path, key);
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string what = "unknown key '" + key + "'";
        for (auto k : known) {
          if (edit_distance(key, k) <= 2) {
            what += " (did you mean '" + std::string(k) + "'?)";
            break;
          }
        }
        what += "; the known keys" + (map.path.empty() ? std::string() : " of " + map.path) +
                " are: " + join(known);
        fail(Item{it->first, YAML::Node(), map.path}, what);
      }
      if (!seen.insert(key).second) fail(Item{it->first, YAML::Node(), item.path}, "given twice");
      out.push_back(std::move(item));
    }
    return out;
  }

  // nullopt when the value is empty (`key:` or `key: ~`): the default holds.
  std::optional<std::string> string_value(const Item& item, std::string_view expected) {
    if (item.value.IsNull()) return std::nullopt;
    if (!item.value.IsScalar()) {
      fail(item, "must be " + std::string(expected) + ", got " + describe(item.value));
    }
    return item.value.Scalar();
  }

  std::optional<int> int_value(const Item& item, int lo, int hi) {
    if (item.value.IsNull()) return std::nullopt;
    auto must = [&] {
      fail(item, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", got " + describe(item.value));
    };
    if (!item.value.IsScalar()) must();
    const std::string& s = item.value.Scalar();
    int n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < lo || n > hi) must();
    return n;
  }

  fs::path resolve(const std::string& p) const {
    fs::path path(p);
    if (p == "~" || p.rfind("~/", 0) == 0) {
      if (auto home = home_dir()) path = fs::path(*home + p.substr(1));
    }
    if (path.is_relative()) path = base_ / path;
    return path.lexically_normal();
  }

  // A binary named with a '/' is a path (relative to the file); a bare name
  // is looked up on PATH when it runs.
  std::string binary(const std::string& b) const {
    if (b.find('/') == std::string::npos) return b;
    return resolve(b).string();
  }

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
      }
    }
    return n;
  }

  Pipeline pipeline(const Item& section) {
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

  // A section that must be a map of `keys` (null: all defaults).
  bool section_map(const Item& section, std::span<const std::string_view> keys) {
    if (section.value.IsNull()) return false;
    if (!section.value.IsMap()) {
      fail(section,
           "must be a map with the keys " + join(keys) + ", got " + describe(section.value));
    }
    return true;
  }

  std::optional<double> number_value(const Item& item, double lo, double hi) {
    if (item.value.IsNull()) return std::nullopt;
    auto must = [&] {
      fail(item, "must be a number from " + format_number(lo) + " to " + format_number(hi) +
                     ", got " + describe(item.value));
    };
    if (!item.value.IsScalar()) must();
    const std::string& s = item.value.Scalar();
    double n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < lo || n > hi) must();
    return n;
  }

  static std::string format_number(double d) {
    std::ostringstream out;
    out << d;
    return out.str();
  }

  Proxy proxy(const Item& section) {
    Proxy p;
    if (!section_map(section, kProxyKeys)) return p;
    for (const auto& item : entries(section, kProxyKeys)) {
      auto key = item.key.Scalar();
      if (key == "corpus") {
        p.corpus = corpus(item);
      } else if (key == "reindex_seconds") {
        if (auto v = int_value(item, 1, 86400)) p.reindex_seconds = *v;
      } else if (key == "passages") {
        if (auto v = int_value(item, 1, 50)) p.passages = *v;
      } else if (key == "min_confidence") {
        if (auto v = number_value(item, 0, 1)) p.min_confidence = *v;
      }
    }
    return p;
  }

  std::vector<CorpusDir> corpus(const Item& section) {
    std::vector<CorpusDir> out;
    if (section.value.IsNull()) return out;
    const std::string example = "[{name: handbook, path: docs/handbook}]";
    if (!section.value.IsSequence()) {
      fail(section,
           "must be a list of directories " + example + ", got " + describe(section.value));
    }
    std::set<std::string> names;
    for (size_t i = 0; i < section.value.size(); ++i) {
      Item entry{YAML::Node(), section.value[i], section.path + "[" + std::to_string(i) + "]"};
      if (!entry.value.IsMap()) {
        fail(entry, "must be a map {name: ..., path: ...}, got " + describe(entry.value));
      }
      CorpusDir d;
      bool has_path = false;
      for (const auto& item : entries(entry, kCorpusKeys)) {
        auto key = item.key.Scalar();
        auto v = string_value(item, key == "name" ? "a name" : "a directory path");
        if (!v || v->empty()) fail(item, "must not be empty");
        if (key == "name") {
          if (!is_token(*v)) fail(item, "must be letters, digits, '-' and '_', got " + *v);
          d.name = *v;
        } else {
          d.path = resolve(*v);
          has_path = true;
        }
      }
      if (!has_path) fail(entry, "needs a path: the directory to index");
      if (d.name.empty()) d.name = d.path.filename().string();
      if (!names.insert(d.name).second) {
        fail(entry, "the corpus name '" + d.name + "' is given twice; give each a name");
      }
      out.push_back(std::move(d));
    }
    return out;
  }

  Sweeper sweeper(const Item& section) {
    Sweeper s;
    if (!section_map(section, kSweeperKeys)) return s;
    for (const auto& item : entries(section, kSweeperKeys)) {
      auto key = item.key.Scalar();
      if (key == "every_seconds") {
        if (auto v = int_value(item, 1, 86400)) s.every_seconds = *v;
      } else if (key == "stuck_after_seconds") {
        if (auto v = int_value(item, 1, 7 * 86400)) s.stuck_after_seconds = *v;
      } else if (key == "nudge_grace_seconds") {
        if (auto v = int_value(item, 0, 86400)) s.nudge_grace_seconds = *v;
      } else if (key == "answer_after_seconds") {
        if (auto v = int_value(item, 0, 86400)) s.answer_after_seconds = *v;
      } else if (key == "answer_confidence") {
        if (auto v = number_value(item, 0, 1)) s.answer_confidence = *v;
      } else if (key == "loop_limit") {
        if (auto v = int_value(item, 2, 1000)) s.loop_limit = *v;
      } else if (key == "burn_factor") {
        if (auto v = number_value(item, 1, 1000)) s.burn_factor = *v;
      }
    }
    return s;
  }

  std::optional<bool> bool_value(const Item& item) {
    if (item.value.IsNull()) return std::nullopt;
    const std::string v = item.value.IsScalar() ? item.value.Scalar() : std::string();
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
    fail(item, "must be true or false, got " + describe(item.value));
  }

  std::optional<std::int64_t> tokens_value(const Item& item) {
    if (item.value.IsNull()) return std::nullopt;
    auto must = [&] {
      fail(item,
           "must be a whole number of tokens (0 or more; 1_000_000 is written 1000000), got " +
               describe(item.value));
    };
    if (!item.value.IsScalar()) must();
    const std::string& s = item.value.Scalar();
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < 0) must();
    return n;
  }

  // "HH:MM" as minutes after midnight, or nullopt.
  static std::optional<int> minute_of_day(std::string_view t) {
    auto colon = t.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 2 || t.size() - colon != 3) {
      return std::nullopt;
    }
    int h = 0;
    int m = 0;
    for (char ch : t.substr(0, colon)) {
      if (std::isdigit(static_cast<unsigned char>(ch)) == 0) return std::nullopt;
      h = h * 10 + (ch - '0');
    }
    for (char ch : t.substr(colon + 1)) {
      if (std::isdigit(static_cast<unsigned char>(ch)) == 0) return std::nullopt;
      m = m * 10 + (ch - '0');
    }
    if (h > 23 || m > 59) return std::nullopt;
    return h * 60 + m;
  }

  static std::optional<int> weekday(std::string day) {
    static const std::array<std::string_view, 7> names = {"sun", "mon", "tue", "wed",
                                                          "thu", "fri", "sat"};
    for (auto& ch : day) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (int i = 0; i < 7; ++i) {
      if (day.size() >= 3 && day.compare(0, 3, names[static_cast<std::size_t>(i)]) == 0) return i;
    }
    return std::nullopt;
  }

  Accountant accountant(const Item& section) {
    Accountant a;
    a.enabled = true;
    std::optional<std::string> plan;
    if (section_map(section, kAccountantKeys)) {
      for (const auto& item : entries(section, kAccountantKeys)) {
        auto key = item.key.Scalar();
        if (key == "accounts") {
          a.accounts = accounts(item);
        } else if (key == "enabled") {
          if (auto v = bool_value(item)) a.enabled = *v;
        } else if (key == "plan") {
          plan = string_value(item, "a plan name (pro, max5, max20)");
        } else if (key == "reserve") {
          if (auto v = number_value(item, 0, 0.9)) a.reserve = *v;
        } else if (key == "release_five_hour_minutes") {
          if (auto v = int_value(item, 0, 300)) a.release_five_hour_minutes = *v;
        } else if (key == "release_seven_day_minutes") {
          if (auto v = int_value(item, 0, 7 * 1440)) a.release_seven_day_minutes = *v;
        } else if (key == "burst") {
          if (auto v = number_value(item, 0, 1)) a.burst = *v;
        } else if (key == "human_idle_minutes") {
          if (auto v = int_value(item, 0, 1440)) a.human_idle_minutes = *v;
        } else if (key == "night") {
          if (auto v = string_value(item, "hours HH:MM-HH:MM (22:00-07:00)")) {
            auto dash = v->find('-');
            std::optional<int> from;
            std::optional<int> to;
            if (dash != std::string::npos) {
              from = minute_of_day(std::string_view(*v).substr(0, dash));
              to = minute_of_day(std::string_view(*v).substr(dash + 1));
            }
            if (!from || !to) {
              fail(item, "must be hours HH:MM-HH:MM (22:00-07:00), got " + describe(item.value));
            }
            a.night_from_minute = *from;
            a.night_to_minute = *to;
          }
        } else if (key == "night_weight") {
          if (auto v = number_value(item, 1, 100)) a.night_weight = *v;
        } else if (key == "time_zone") {
          if (auto v = string_value(item, "a time zone name (Europe/Berlin)")) a.time_zone = *v;
        } else if (key == "transcripts_every_seconds") {
          if (auto v = int_value(item, 1, 86400)) a.transcripts_every_seconds = *v;
        } else if (key == "usage_every_seconds") {
          if (auto v = int_value(item, 10, 86400)) a.usage_every_seconds = *v;
        } else if (key == "lease_timeout_ms") {
          if (auto v = int_value(item, 10, 60000)) a.lease_timeout_ms = *v;
        } else if (key == "lease_ttl_seconds") {
          if (auto v = int_value(item, 10, 86400)) a.lease_ttl_seconds = *v;
        } else if (key == "fallback_tokens_per_hour") {
          if (auto v = tokens_value(item)) a.fallback_tokens_per_hour = *v;
        } else if (key == "first_estimate") {
          if (auto v = tokens_value(item)) a.first_estimate = *v;
        }
      }
    }
    if (a.accounts.empty()) a.accounts.emplace_back();
    if (plan) {
      for (auto& account : a.accounts) {
        if (account.plan.empty()) account.plan = *plan;
      }
    }
    return a;
  }

  std::vector<Account> accounts(const Item& section) {
    std::vector<Account> out;
    if (section.value.IsNull()) return out;
    const std::string example = "[{name: personal, plan: max5, config_dir: ~/.claude}]";
    if (!section.value.IsSequence()) {
      fail(section, "must be a list of accounts " + example + ", got " + describe(section.value));
    }
    std::set<std::string> names;
    for (size_t i = 0; i < section.value.size(); ++i) {
      Item entry{YAML::Node(), section.value[i], section.path + "[" + std::to_string(i) + "]"};
      if (!entry.value.IsMap())
        fail(entry, "must be a map " + example + ", got " + describe(entry.value));
      Account acc;
      for (const auto& item : entries(entry, kAccountKeys)) {
        auto key = item.key.Scalar();
        if (key == "name") {
          auto v = string_value(item, "a name");
          if (!v || !is_token(*v)) fail(item, "must be letters, digits, '-' and '_'");
          acc.name = *v;
        } else if (key == "config_dir") {
          if (auto v = string_value(item, "a directory path"); v && !v->empty()) {
            acc.config_dir = resolve(*v);
          }
        } else if (key == "plan") {
          if (auto v = string_value(item, "a plan name (pro, max5, max20)")) {
            if (*v != "pro" && *v != "max5" && *v != "max20" && !v->empty()) {
              fail(item, "must be pro, max5 or max20 (or give the limits in tokens), got " + *v);
            }
            acc.plan = *v;
          }
        } else if (key == "five_hour") {
          if (auto v = tokens_value(item)) acc.five_hour = *v;
        } else if (key == "seven_day") {
          if (auto v = tokens_value(item)) acc.seven_day = *v;
        } else if (key == "seven_day_opus") {
          if (auto v = tokens_value(item)) acc.seven_day_opus = *v;
        } else if (key == "seven_day_sonnet") {
          if (auto v = tokens_value(item)) acc.seven_day_sonnet = *v;
        } else if (key == "weekly_reset") {
          if (auto v = string_value(item, "a day and time (thu 18:00)")) {
            auto space = v->find(' ');
            std::optional<int> day;
            std::optional<int> at;
            if (space != std::string::npos) {
              day = weekday(v->substr(0, space));
              at = minute_of_day(std::string_view(*v).substr(space + 1));
            }
            if (!day || !at) {
              fail(item, "must be a weekday and a time (thu 18:00), got " + describe(item.value));
            }
            acc.reset_weekday = *day;
            acc.reset_hour = *at / 60;
            acc.reset_minute = *at % 60;
          }
        } else if (key == "usage_url") {
          if (auto v = string_value(item, "a URL")) acc.usage_url = *v;
        } else if (key == "token_file") {
          if (auto v = string_value(item, "a file path"); v && !v->empty()) {
            acc.token_file = resolve(*v);
          }
        }
      }
      if (!names.insert(acc.name).second)
        fail(entry, "the account '" + acc.name + "' is given twice");
      if (!acc.usage_url.empty() && acc.token_file.empty()) {
        fail(entry, "usage_url needs token_file: the file holding the bearer token");
      }
      out.push_back(std::move(acc));
    }
    return out;
  }

  // Each entry of a list of maps, as an Item named path[i].
  std::vector<Item> list_of_maps(const Item& section, std::string_view example) {
    std::vector<Item> out;
    if (section.value.IsNull()) return out;
    if (!section.value.IsSequence()) {
      fail(section,
           "must be a list (" + std::string(example) + "), got " + describe(section.value));
    }
    for (size_t i = 0; i < section.value.size(); ++i) {
      Item entry{YAML::Node(), section.value[i], section.path + "[" + std::to_string(i) + "]"};
      if (!entry.value.IsMap()) fail(entry, "must be a map, got " + describe(entry.value));
      out.push_back(entry);
    }
    return out;
  }

  std::string priority_value(const Item& item) {
    auto v = string_value(item, "a priority (interactive, scheduled, batch)");
    if (!v) return "scheduled";
    if (*v != "human" && *v != "interactive" && *v != "scheduled" && *v != "batch") {
      fail(item, "must be human, interactive, scheduled or batch, got " + *v);
    }
    return *v;
  }

  std::string role_name(const Item& item) {
    auto v = string_value(item, "a role name");
    if (!v || !is_token(*v)) fail(item, "must be a role name (letters, digits, '-', '_')");
    return *v;
  }

  Dispatcher dispatcher(const Item& section) {
    Dispatcher d;
    if (!section_map(section, kDispatcherKeys)) return d;
    for (const auto& item : entries(section, kDispatcherKeys)) {
      auto key = item.key.Scalar();
      if (key == "every_seconds") {
        if (auto v = int_value(item, 1, 3600)) d.every_seconds = *v;
      } else if (key == "order_estimate") {
        if (auto v = tokens_value(item)) d.order_estimate = *v;
      } else if (key == "standing_orders") {
        for (const auto& entry : list_of_maps(item, "[{role: scout, objective: ...}]")) {
          StandingOrder o;
          for (const auto& f : entries(entry, kOrderKeys)) {
            auto k = f.key.Scalar();
            if (k == "role") {
              o.role = role_name(f);
            } else if (k == "objective") {
              o.objective = string_value(f, "the brief's objective").value_or("");
            } else if (k == "projects") {
              o.projects = strings(f, "[api, web]");
            } else if (k == "priority") {
              o.priority = priority_value(f);
            } else if (k == "token_budget") {
              o.token_budget = tokens_value(f).value_or(0);
            }
          }
          if (o.role.empty() || o.objective.empty()) {
            fail(entry, "a standing order needs a role and an objective");
          }
          d.standing_orders.push_back(std::move(o));
        }
      } else if (key == "schedules") {
        std::set<std::string> names;
        for (const auto& entry : list_of_maps(item, "[{name: digest, cron: '0 4 * * *', ...}]")) {
          Schedule sc;
          for (const auto& f : entries(entry, kScheduleKeys)) {
            auto k = f.key.Scalar();
            if (k == "name") {
              sc.name = role_name(f);
            } else if (k == "cron") {
              sc.cron = string_value(f, "a cron expression ('0 4 * * *')").value_or("");
            } else if (k == "time_zone") {
              sc.time_zone = string_value(f, "a time zone name").value_or("");
            } else if (k == "role") {
              sc.role = role_name(f);
            } else if (k == "objective") {
              sc.objective = string_value(f, "the brief's objective").value_or("");
            } else if (k == "project") {
              sc.project = string_value(f, "a project name").value_or("");
            } else if (k == "priority") {
              sc.priority = priority_value(f);
            } else if (k == "token_budget") {
              sc.token_budget = tokens_value(f).value_or(0);
            } else if (k == "missed") {
              sc.missed = string_value(f, "skip or run_once").value_or("skip");
              if (sc.missed != "skip" && sc.missed != "run_once") {
                fail(f, "must be skip or run_once, got " + sc.missed);
              }
            }
          }
          if (sc.name.empty() || sc.cron.empty() || sc.role.empty() || sc.objective.empty()) {
            fail(entry, "a schedule needs a name, a cron expression, a role and an objective");
          }
          if (!names.insert(sc.name).second)
            fail(entry, "the schedule '" + sc.name + "' is given twice");
          d.schedules.push_back(std::move(sc));
        }
      } else if (key == "triggers") {
        std::set<std::string> names;
        for (const auto& entry : list_of_maps(item, "[{name: pushes, subject: git.push.>, ...}]")) {
          Trigger t;
          for (const auto& f : entries(entry, kTriggerKeys)) {
            auto k = f.key.Scalar();
            if (k == "name") {
              t.name = role_name(f);
            } else if (k == "subject") {
              t.subject = string_value(f, "a NATS subject pattern").value_or("");
            } else if (k == "kinds") {
              t.kinds = strings(f, "[done, blocked]");
            } else if (k == "role") {
              t.role = role_name(f);
            } else if (k == "objective") {
              t.objective = string_value(f, "an objective template").value_or("");
            } else if (k == "project") {
              t.project = string_value(f, "a project name or template").value_or("");
            } else if (k == "priority") {
              t.priority = priority_value(f);
            } else if (k == "token_budget") {
              t.token_budget = tokens_value(f).value_or(0);
            }
          }
          if (t.name.empty() || t.subject.empty() || t.role.empty() || t.objective.empty()) {
            fail(entry, "a trigger needs a name, a subject, a role and an objective");
          }
          if (t.subject.find(' ') != std::string::npos)
            fail(entry, "the subject has a space in it");
          if (!names.insert(t.name).second)
            fail(entry, "the trigger '" + t.name + "' is given twice");
          d.triggers.push_back(std::move(t));
        }
      } else if (key == "instances") {
        if (item.value.IsNull()) continue;
        if (!item.value.IsMap()) {
          fail(item,
               "must be a map of roles ({builder: {min: 1, max: 3}}), got " + describe(item.value));
        }
        for (auto it = item.value.begin(); it != item.value.end(); ++it) {
          const std::string role = it->first.Scalar();
          Item entry{it->first, it->second, item.path + "." + role};
          if (!is_token(role)) fail(entry, "must be a role name");
          Instances n;
          if (section_map(entry, kInstanceKeys)) {
            for (const auto& f : entries(entry, kInstanceKeys)) {
              auto k = f.key.Scalar();
              if (k == "min") {
                if (auto v = int_value(f, 0, 64)) n.min = *v;
              } else if (k == "max") {
                if (auto v = int_value(f, 0, 64)) n.max = *v;
              } else if (k == "backlog") {
                if (auto v = int_value(f, 1, 100000)) n.backlog = *v;
              } else if (k == "after_seconds") {
                if (auto v = int_value(f, 0, 86400)) n.after_seconds = *v;
              } else if (k == "idle_seconds") {
                if (auto v = int_value(f, 1, 86400)) n.idle_seconds = *v;
              }
            }
          }
          if (n.max < n.min) fail(entry, "max must be at least min");
          d.instances[role] = n;
        }
      }
    }
    return d;
  }

  Synthesizer synthesizer(const Item& section) {
    Synthesizer s;
    if (!section_map(section, kSynthesizerKeys)) return s;
    for (const auto& item : entries(section, kSynthesizerKeys)) {
      auto key = item.key.Scalar();
      if (key == "digest_at") {
        if (auto v = string_value(item, "a time of day (04:00)")) {
          const bool ok = v->size() == 5 && (*v)[2] == ':' && std::isdigit((*v)[0]) != 0 &&
                          std::isdigit((*v)[1]) != 0 && std::isdigit((*v)[3]) != 0 &&
                          std::isdigit((*v)[4]) != 0 && std::stoi(v->substr(0, 2)) < 24 &&
                          std::stoi(v->substr(3, 2)) < 60;
          if (!ok) fail(item, "must be a time of day HH:MM (04:00), got " + describe(item.value));
          s.digest_at = *v;
        }
      } else if (key == "time_zone") {
        if (auto v = string_value(item, "a time zone name (Europe/Berlin)")) s.time_zone = *v;
      } else if (key == "dir") {
        if (auto v = string_value(item, "a directory path")) {
          if (!v->empty()) s.dir = resolve(*v);
        }
      }
    }
    return s;
  }

  Scout scout(const Item& section) {
    Scout s;
    if (!section_map(section, kScoutKeys)) return s;
    for (const auto& item : entries(section, kScoutKeys)) {
      if (auto v = int_value(item, 1, 100)) s.max_tasks = *v;
    }
    return s;
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
        }
      }
      if (p.name.empty()) fail(entry, "has no 'name' (letters, digits, '-' and '_')");
      if (!has_repo)
        fail(entry, "project '" + p.name +
                        "' has no 'repo' (the path of its git "
                        "repository)");
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
      if (check_disk_) check_role_exists(Item{it->first, YAML::Node(), entry.path}, r);
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
    for (const auto& name : builtin_roles()) known += (known.empty() ? "" : ", ") + name;
    fail(at, "no such role; the built-in roles are " + known + " " + own);
  }

  // A list of strings ("args: [--verbose, -x]"); null is an empty list.
  std::vector<std::string> strings(const Item& item, std::string_view example) {
    std::vector<std::string> out;
    if (item.value.IsNull()) return out;
    if (!item.value.IsSequence()) {
      fail(item, "must be a list (" + std::string(example) + "), got " + describe(item.value));
    }
    for (size_t i = 0; i < item.value.size(); ++i) {
      Item one{YAML::Node(), item.value[i], item.path + "[" + std::to_string(i) + "]"};
      if (!one.value.IsScalar()) fail(one, "must be a string, got " + describe(one.value));
      out.push_back(one.value.Scalar());
    }
    return out;
  }

  void role_key(const Item& item, Role& r) {
    auto key = item.key.Scalar();
    if (key == "count") {
      if (auto v = int_value(item, 0, 64)) r.count = *v;
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

  std::string label_;
  fs::path base_;
  bool check_disk_;
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
    return parser.run(YAML::Load(text));
  } catch (const Failure& f) {
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
  plan.roles = roles;  // provision() adds the built-in ones
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
