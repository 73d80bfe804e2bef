// agency init, brief, status, task, dead, and what the subcommands share.
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "agency/v1/dead.pb.h"
#include "agency/v1/fleet.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "bus/vocabulary.hpp"
#include "cli/cli.hpp"
#include "runtime/briefing.hpp"
#include "runtime/catalog.hpp"
#include "runtime/ids.hpp"
#include "runtime/inbox.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/place.hpp"
#include "runtime/tasks.hpp"

namespace agency::cli {
namespace {

using google::protobuf::util::TimeUtil;
using json = nlohmann::json;

config::Config must_config(const GlobalOptions& global) {
  auto cfg = load_config_or_report(global);
  if (!cfg) throw CLI::RuntimeError(kExitUsage);
  return std::move(*cfg);
}

json message_json(const google::protobuf::Message& m) { return json::parse(codec::to_json(m)); }

// JSON for stdout: exact JSON, with nothing in it a terminal would obey.
std::string json_text(const json& j) { return text::terminal_safe_json(j.dump()); }

// Outside text in a human-facing line.
std::string safe(std::string_view s) { return text::terminal_safe(s, text::Layout::one_line); }

std::string time_text(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return TimeUtil::ToString(google::protobuf::Timestamp(t)).substr(0, 19) + "Z";
}

// "42s", "5m", "3h", "2d" since t.
std::string age_text(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "-";
  auto now = now_timestamp();
  int64_t s = std::max<int64_t>(0, now.seconds() - t.seconds());
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

// A plain text table: columns padded to their widest cell. Cells hold what
// publishers wrote, so each is made one line of inert text first.
void print_table(const std::vector<std::string>& header,
                 std::vector<std::vector<std::string>> rows) {
  for (auto& row : rows) {
    for (auto& cell : row) cell = safe(cell);
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << out << '\n';
  };
  line(header);
  for (const auto& row : rows) line(row);
}

std::string read_file_or_fail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(make_error(errc::io, "cannot read " + path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- init ---------------------------------------------------------------

void run_init(const GlobalOptions& global) {
  auto cfg = must_config(global);
  auto conn = must(connect_cli(global, "agency-init"));
  std::vector<std::string> roles;
  for (const auto& role : cfg.roles) roles.push_back(role.name);
  auto report_ = must(provision(*conn, provision_plan(cfg, roles)));
  if (global.json) {
    std::cout << json{{"server", conn->connected_url()},
                      {"created", report_.created},
                      {"updated", report_.updated},
                      {"unchanged", report_.unchanged}}
                     .dump()
              << '\n';
    return;
  }
  for (const auto& s : report_.created) std::cout << "created    " << s << '\n';
  for (const auto& s : report_.updated) std::cout << "updated    " << s << '\n';
  for (const auto& s : report_.unchanged) std::cout << "unchanged  " << s << '\n';
  std::cout << "provisioned " << conn->connected_url() << ": " << report_.created.size()
            << " created, " << report_.updated.size() << " updated, " << report_.unchanged.size()
            << " unchanged (settings: docs/STREAMS.md)\n";
}

// agency init --write: agency.yaml from what the place gives, as `agency up`
// would choose without one.
void run_init_write(const GlobalOptions& global, bool force) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path file =
      fs::absolute(global.config_path && !global.config_path->empty() ? *global.config_path
                                                                      : fs::path("agency.yaml"),
                   ec)
          .lexically_normal();
  if (fs::is_directory(file, ec)) {
    fail(make_error(errc::config, file.string() + " is a directory; give --config a file name"));
  }
  if (fs::exists(file, ec) && !force) {
    fail(make_error(errc::already_exists,
                    file.string() + " exists; `agency init --write --force` replaces it"));
  }
  auto found = place::detect(fs::current_path());
  const auto text = place::config_yaml(
      found, {file.parent_path(),
              {},
              "agency.yaml, written by `agency init --write` from what it found in\n" +
                  found.dir.string() + "; edit freely."});
  // What is written must be what `agency up` reads: checked before writing.
  if (auto parsed = config::parse(text, file); !parsed) {
    fail(make_error(errc::internal, "the agency.yaml made from this place does not parse: " +
                                        parsed.error().message));
  }
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) fail(make_error(errc::io, "cannot write " + tmp.string()));
  }
  fs::rename(tmp, file, ec);
  if (ec) fail(make_error(errc::io, "cannot write " + file.string() + ": " + ec.message()));

  if (global.json) {
    json project = nullptr;
    if (found.repo) {
      project = {{"name", found.repo->name},
                 {"repo", found.repo->root.string()},
                 {"default_branch", found.repo->default_branch},
                 {"test_command", found.tests.command}};
    }
    std::cout << json{{"file", file.string()},         {"project", project},
                      {"engine", found.engine.engine}, {"engine_reason", found.engine.reason},
                      {"plan", found.engine.plan},     {"roles", place::fleet_roles(found)}}
                     .dump()
              << '\n';
    return;
  }
  std::cout << "wrote " << file.string() << ":\n";
  auto lines = place::summary_lines(found);
  lines.pop_back();  // "how to change it": this file is how
  for (const auto& l : lines) std::cout << "  " << l << '\n';
  std::cout << "edit it to change them (docs/CONFIG.md); `agency up` runs it\n";
  if (const char* env = std::getenv("AGENCY_CONFIG"); env != nullptr && *env != '\0') {
    std::cerr << "agency: note: AGENCY_CONFIG is set (" << env
              << "): commands read that file, not this one, while it is\n";
  }
}

// ---- brief --------------------------------------------------------------

struct BriefOptions {
  std::string role;
  std::string text;
  std::string file;
  std::string json_text;
  std::string project;
  std::string priority;
  int64_t budget = -1;
};

void run_brief(const GlobalOptions& global, const BriefOptions& o) {
  if (!subjects::is_valid_token(o.role)) {
    fail(make_error(errc::config, "'" + o.role +
                                      "' is not a role name: use letters, digits, '-' and '_' (" +
                                      vocabulary::join(pipeline::roles()) + ", ...)"));
  }
  int sources = static_cast<int>(!o.text.empty()) + static_cast<int>(!o.file.empty()) +
                static_cast<int>(!o.json_text.empty());
  if (sources != 1) {
    fail(make_error(errc::config,
                    "give the brief as TEXT, --file FILE or --json JSON (exactly one of them)"));
  }
  auto cfg = must_config(global);

  Result<v1::Brief> decoded = make_error(errc::internal, "unset");
  if (!o.json_text.empty()) {
    decoded = codec::decode<v1::Brief>(o.json_text, {{std::string(codec::kContentTypeHeader),
                                                      std::string(codec::kJsonContentType)}});
  } else {
    std::string text = !o.text.empty() ? o.text : read_file_or_fail(o.file);
    decoded = codec::decode<v1::Brief>(
        text, {{std::string(codec::kContentTypeHeader), std::string(codec::kTextContentType)}});
  }
  if (!decoded) fail(decoded.error());
  v1::Brief brief = std::move(*decoded);
  if (!o.project.empty()) brief.set_project(o.project);
  if (!o.priority.empty()) brief.set_priority(o.priority);
  if (o.budget >= 0) brief.set_token_budget(o.budget);
  brief = must(prepare_brief(cfg, o.role, std::move(brief), "agency-cli"));
  auto conn = must(connect_cli(global, "agency-brief"));
  auto sent = must(send_brief(*conn, cfg, o.role, brief, "agency-cli"));
  if (sent.unknown_role) {
    std::cerr << "agency: note: role '" << safe(o.role)
              << "' is not in the configuration; the brief waits until an agent of that role "
                 "starts\n";
  }
  if (global.json) {
    std::cout << json_text({{"task_id", sent.task_id},
                            {"brief_id", sent.brief_id},
                            {"subject", sent.subject},
                            {"stage", sent.stage},
                            {"stream_sequence", sent.stream_sequence},
                            {"duplicate", sent.duplicate}})
              << '\n';
  } else {
    std::cout << safe(sent.task_id) << '\n';
  }
}

// ---- status -------------------------------------------------------------

void run_status(const GlobalOptions& global) {
  auto conn = must(connect_cli(global, "agency-status"));
  auto fleet = must(KeyValue::open(*conn, subjects::kFleetBucket));
  std::vector<v1::AgentStatus> agents;
  for (const auto& key : must(fleet.keys())) {
    auto entry = fleet.get(key);
    if (!entry) continue;  // expired between keys() and get()
    auto status = codec::decode<v1::AgentStatus>(entry->value);
    if (status) agents.push_back(std::move(*status));
  }
  std::sort(agents.begin(), agents.end(),
            [](const auto& a, const auto& b) { return a.agent_id() < b.agent_id(); });
  auto consumers = must(list_consumers(*conn, subjects::kBriefsStream));
  std::sort(consumers.begin(), consumers.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  // A queue's role and priority, and the agents of that role free to take
  // from it (idle agents ask no queue: they wait to be told of a brief).
  struct Queue {
    std::string role;
    std::string priority;
    std::int64_t idle_agents = 0;
  };
  std::vector<Queue> queues;
  queues.reserve(consumers.size());
  for (const auto& c : consumers) {
    auto q = subjects::brief_queue(c.filter_subject);
    Queue out{q ? q->role : "", q ? q->priority : "", 0};
    for (const auto& a : agents) {
      if (!out.role.empty() && a.role() == out.role && a.state() == vocabulary::kIdle) {
        ++out.idle_agents;
      }
    }
    queues.push_back(std::move(out));
  }
  // Briefs the stream keeps that no queue takes: a subject that names no
  // priority, or a role none of whose agents ever started.
  struct Unqueued {
    std::string subject;
    std::uint64_t messages = 0;
    std::string why;
  };
  std::vector<Unqueued> unqueued;
  for (const auto& held : must(stream_subjects(*conn, subjects::kBriefsStream, "agency.brief.>"))) {
    const bool taken = std::any_of(consumers.begin(), consumers.end(),
                                   [&](const auto& c) { return c.filter_subject == held.subject; });
    if (taken || held.messages == 0) continue;
    auto q = subjects::brief_queue(held.subject);
    std::string why;
    if (!q) {
      why =
          "no queue takes this subject: a brief goes to agency.brief.<role> (scheduled) or "
          "agency.brief.<role>.<priority> with priority human, interactive or batch";
    } else {
      why = "role " + q->role +
            " has no queues yet: they are made when its first agent starts, or by `agency brief " +
            q->role + "`";
    }
    unqueued.push_back({held.subject, held.messages, std::move(why)});
  }

  if (global.json) {
    json out{
        {"server", conn->connected_url()}, {"agents", json::array()}, {"queues", json::array()}};
    for (const auto& a : agents) out["agents"].push_back(message_json(a));
    for (std::size_t i = 0; i < consumers.size(); ++i) {
      const auto& c = consumers[i];
      out["queues"].push_back({{"consumer", c.name},
                               {"subject", c.filter_subject},
                               {"role", queues[i].role},
                               {"priority", queues[i].priority},
                               {"pending", c.pending},
                               {"in_flight", c.ack_pending},
                               {"redelivered", c.redelivered},
                               {"idle_agents", queues[i].idle_agents}});
    }
    out["unqueued"] = json::array();
    for (const auto& u : unqueued) {
      out["unqueued"].push_back({{"subject", u.subject}, {"messages", u.messages}, {"why", u.why}});
    }
    std::cout << json_text(out) << '\n';
    return;
  }
  if (agents.empty()) {
    std::cout << "no agents running (start the fleet with `agency up`)\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    rows.reserve(agents.size());
    for (const auto& a : agents) {
      rows.push_back({a.agent_id(), a.role(), a.state(), a.task_id().empty() ? "-" : a.task_id(),
                      age_text(a.since()), a.engine().empty() ? "-" : a.engine(),
                      a.last_progress().empty() ? "-" : a.last_progress()});
    }
    print_table({"AGENT", "ROLE", "STATE", "TASK", "FOR", "ENGINE", "LAST PROGRESS"}, rows);
  }
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < consumers.size(); ++i) {
    const auto& c = consumers[i];
    if (c.pending == 0 && c.ack_pending == 0) continue;
    rows.push_back({c.filter_subject, queues[i].priority.empty() ? "-" : queues[i].priority,
                    std::to_string(c.pending), std::to_string(c.ack_pending),
                    std::to_string(queues[i].idle_agents)});
  }
  std::cout << '\n';
  if (rows.empty()) {
    std::cout << "no briefs queued\n";
  } else {
    print_table({"QUEUE", "PRIORITY", "QUEUED", "IN FLIGHT", "AGENTS IDLE"}, rows);
  }
  if (!unqueued.empty()) {
    std::cout << '\n';
    std::vector<std::vector<std::string>> stuck;
    stuck.reserve(unqueued.size());
    for (const auto& u : unqueued) {
      stuck.push_back({u.subject, std::to_string(u.messages), u.why});
    }
    print_table({"NOT IN ANY QUEUE", "BRIEFS", "WHY"}, stuck);
  }
}

// ---- task ---------------------------------------------------------------

// An epic's sub-tasks as a tree: each with its stage, title and what it
// waits for, a blocked one with its reason.
void print_epic_tree(const TaskStore& store, const v1::Task& epic) {
  std::cout << "\nsub-tasks (" << epic.children_size() << "):\n";
  std::cout << safe(epic.id()) << "  " << safe(epic.stage()) << "  " << safe(epic.title()) << '\n';
  for (int i = 0; i < epic.children_size(); ++i) {
    const bool last = i + 1 == epic.children_size();
    const std::string& id = epic.children(i);
    std::cout << (last ? "└─ " : "├─ ") << safe(id) << "  ";
    auto child = store.load(id);
    if (!child) {
      std::cout << "(no record yet)\n";
      continue;
    }
    const v1::Task& c = child->task;
    std::cout << safe(c.stage()) << "  " << safe(c.title());
    if (c.depends_on_size() > 0) {
      std::string after;
      for (const auto& d : c.depends_on()) after += (after.empty() ? "" : ", ") + d;
      std::cout << "  (after " << safe(after) << ")";
    }
    std::cout << '\n';
    if (!c.blocked_reason().empty()) {
      std::cout << (last ? "   " : "│  ") << "   blocked: " << safe(c.blocked_reason()) << '\n';
    }
  }
}

// Whether the task's project lands (its walk has ready-to-land): as
// agency.yaml says; a project it does not know, or no config, lands.
bool project_lands(const GlobalOptions& global, const std::string& project) {
  auto cfg = config::load(global.config_path);
  if (!cfg) return true;
  for (const auto& p : cfg->projects) {
    if (p.name == project) return p.lands();
  }
  return true;
}

void run_task_show(const GlobalOptions& global, const std::string& id) {
  auto conn = must(connect_cli(global, "agency-task"));
  auto store = must(TaskStore::open(*conn));
  auto task = store.load(id);
  if (!task) {
    if (task.error().code == errc::not_found) {
      fail(make_error(errc::not_found, "no task " + id + " (list them with `agency task list`)"));
    }
    fail(task.error());
  }
  auto events = must(store.history(id));
  if (global.json) {
    json out = message_json(task->task);
    if (task->task.children_size() > 0) {
      out["subtasks"] = json::array();
      for (const auto& child_id : task->task.children()) {
        auto child = store.load(child_id);
        if (child) out["subtasks"].push_back(message_json(child->task));
      }
    }
    out["events"] = json::array();
    for (const auto& e : events) out["events"].push_back(message_json(e));
    out["revision"] = task->revision;
    std::cout << json_text(out) << '\n';
    return;
  }
  const v1::Task& t = task->task;
  std::cout << "task     " << safe(t.id()) << '\n'
            << "title    " << safe(t.title()) << '\n'
            << "project  " << (t.project().empty() ? "-" : safe(t.project())) << '\n'
            << "stage    " << (t.stage().empty() ? "-" : safe(t.stage())) << '\n';
  if (!t.blocked_reason().empty()) std::cout << "blocked  " << safe(t.blocked_reason()) << '\n';
  if (!t.branch().empty()) std::cout << "branch   " << safe(t.branch()) << '\n';
  if (!t.parent().empty()) std::cout << "epic     " << safe(t.parent()) << '\n';
  if (t.depends_on_size() > 0) {
    std::string after;
    for (const auto& d : t.depends_on()) after += (after.empty() ? "" : ", ") + d;
    std::cout << "after    " << safe(after) << '\n';
  }
  // The way it walks, where it is (a closed task: where it closed from).
  std::string at = t.stage();
  if ((at == vocabulary::kBlocked || at == vocabulary::kCancelled) && t.history_size() > 0) {
    at = t.history(t.history_size() - 1).from();
  }
  // A carried pipeline holds its landing stage only when the project lands.
  const auto walk = pipeline::Pipeline::of(t);
  const bool lands = !t.pipeline_stages().empty() || project_lands(global, t.project());
  std::cout << "pipeline "
            << (walk.name() == pipeline::kDefaultName ? std::string() : safe(walk.name()) + ": ")
            << walk.draw(at, lands)
            << (at != t.stage() ? " (" + safe(t.stage()) + " there)" : std::string()) << '\n';
  std::cout << "bounces  " << t.bounces() << '\n'
            << "created  " << time_text(t.created_at()) << '\n'
            << "updated  " << time_text(t.updated_at()) << '\n';
  if (t.children_size() > 0) print_epic_tree(store, t);
  // The spec and attachments are documents: their lines and tabs stay.
  if (!t.spec().empty()) std::cout << "\nspec:\n" << text::terminal_safe(t.spec()) << '\n';
  for (const auto& [name, value] : t.attachments()) {
    std::cout << '\n' << safe(name) << ":\n" << text::terminal_safe(value) << '\n';
  }
  std::cout << "\naudit trail (" << events.size() << " events):\n";
  for (const auto& e : events) {
    std::string move =
        e.from_stage().empty() ? e.to_stage() : e.from_stage() + " -> " + e.to_stage();
    std::cout << "  " << time_text(e.at()) << "  " << safe(e.kind()) << "  " << safe(move)
              << "  by " << (e.actor().empty() ? "?" : safe(e.actor()));
    if (!e.reason().empty()) std::cout << ": " << safe(e.reason());
    std::cout << '\n';
  }
}

void run_task_list(const GlobalOptions& global, const std::string& stage, const std::string& epic) {
  if (!stage.empty() && !pipeline::is_stage(stage)) {
    // A stage of agency.yaml's pipelines; without a readable file, any
    // stage name (a task carries its pipeline, whatever the file says now).
    auto cfg = config::load(global.config_path);
    auto known = cfg ? cfg->work_stages() : std::vector<std::string>{};
    const bool ok = cfg ? std::find(known.begin(), known.end(), stage) != known.end()
                        : vocabulary::is_stage_name(stage);
    if (!ok) {
      for (auto s : pipeline::all_stages()) {
        if (std::find(known.begin(), known.end(), s) == known.end()) known.emplace_back(s);
      }
      std::string list;
      for (const auto& s : known) list += (list.empty() ? "" : ", ") + s;
      fail(make_error(errc::config, "no stage '" + stage + "'; the stages are " + list));
    }
  }
  auto conn = must(connect_cli(global, "agency-task"));
  auto store = must(TaskStore::open(*conn));
  if (!epic.empty()) {
    auto parent = store.load(epic);
    if (!parent) {
      if (parent.error().code == errc::not_found) {
        fail(make_error(errc::not_found,
                        "no task " + epic + " (list them with `agency task list`)"));
      }
      fail(parent.error());
    }
    if (parent->task.children_size() == 0) {
      fail(make_error(errc::config, "task " + epic + " is not an epic: it has no sub-tasks"));
    }
  }
  auto tasks = must(store.list());
  std::vector<v1::Task> shown;
  for (auto& t : tasks) {
    if (!stage.empty() && t.stage() != stage) continue;
    if (!epic.empty() && t.parent() != epic) continue;
    shown.push_back(std::move(t));
  }
  std::sort(shown.begin(), shown.end(),
            [](const auto& a, const auto& b) { return a.id() < b.id(); });
  if (global.json) {
    json out = json::array();
    for (const auto& t : shown) out.push_back(message_json(t));
    std::cout << json_text(out) << '\n';
    return;
  }
  if (shown.empty()) {
    std::cout << (stage.empty() ? "no tasks yet (send one with `agency brief " +
                                      std::string(pipeline::kStages.front().role) + " \"...\"`)"
                                : "no tasks at stage " + stage)
              << '\n';
    return;
  }
  std::vector<std::vector<std::string>> rows;
  rows.reserve(shown.size());
  for (const auto& t : shown) {
    rows.push_back({t.id(), t.stage().empty() ? "-" : t.stage(),
                    t.project().empty() ? "-" : t.project(), std::to_string(t.bounces()),
                    age_text(t.updated_at()), t.title()});
  }
  print_table({"TASK", "STAGE", "PROJECT", "BOUNCES", "UPDATED", "TITLE"}, rows);
}

// ---- dead ---------------------------------------------------------------

std::string preview(std::string_view payload) {
  std::string out;
  for (char ch : payload.substr(0, 60)) {
    auto c = static_cast<unsigned char>(ch);
    out += (c >= 0x20 && c < 0x7f) ? ch : '.';
  }
  if (payload.size() > 60) out += "...";
  return out;
}

void run_dead(const GlobalOptions& global, const std::string& role, std::size_t limit) {
  auto conn = must(connect_cli(global, "agency-dead"));
  std::string filter = role.empty() ? "agency.dead.>" : subjects::dead(role);
  auto messages = must(replay(*conn, subjects::kDeadStream, filter, 100000));
  std::vector<v1::DeadLetter> letters;
  for (const auto& m : messages) {
    auto d = codec::decode<v1::DeadLetter>(m.data(), m.headers());
    if (d) letters.push_back(std::move(*d));
  }
  if (letters.size() > limit) {
    letters.erase(letters.begin(), letters.end() - static_cast<long>(limit));
  }
  if (global.json) {
    json out = json::array();
    for (const auto& d : letters) out.push_back(message_json(d));
    std::cout << json_text(out) << '\n';
    return;
  }
  if (letters.empty()) {
    std::cout << "no dead letters\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : letters) {
    std::string payload = preview(d.payload());
    if (d.payload_cut()) {
      payload += " (" + std::to_string(d.payload_size()) + " bytes, sha256 " +
                 d.payload_sha256().substr(0, 16) + "...)";
    }
    rows.push_back({time_text(d.at()), d.role(), d.original_subject(), d.reason(), payload});
  }
  print_table({"WHEN", "ROLE", "SUBJECT", "REASON", "PAYLOAD"}, rows);
}

}  // namespace

void add_init_command(CLI::App& app, GlobalOptions& global) {
  struct InitOptions {
    bool write = false;
    bool force = false;
  };
  auto opts = std::make_shared<InitOptions>();
  auto* cmd = app.add_subcommand(
      "init",
      "Create (or check) every stream, consumer and KV bucket agency uses; safe to repeat.\n"
      "With --write: write agency.yaml (or the --config file) from what this place gives, the "
      "choices `agency up` makes without one: this git repository as the project, its test "
      "command, the coding CLI installed and logged in, the accountant's plan; commented. "
      "Needs no server.\n"
      "  agency init                  provision the server (NATS_URL or a running agency up)\n"
      "  agency init --write          write ./agency.yaml to edit\n"
      "  agency init --write --force  replace an existing one");
  cmd->add_flag("--write", opts->write,
                "write agency.yaml from what this place gives instead of provisioning");
  cmd->add_flag("--force", opts->force, "with --write: replace an existing file");
  cmd->add_flag("--json", global.json, "print the report as JSON");
  cmd->callback([&global, opts] {
    if (opts->force && !opts->write) {
      fail(make_error(errc::config, "--force goes with --write (agency init --write --force)"));
    }
    if (opts->write) {
      run_init_write(global, opts->force);
    } else {
      run_init(global);
    }
  });
}

void add_brief_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<BriefOptions>();
  auto* cmd = app.add_subcommand(
      "brief",
      "Send a brief to a role and print the new task id.\n"
      "  agency brief planner \"Add rate limiting to the API\"\n"
      "  agency brief builder --file brief.md --project web\n"
      "  agency brief planner --json '{\"objective\":\"...\",\"doneWhen\":\"...\"}'");
  cmd->add_option("role", opts->role,
                  "role that receives it: " + vocabulary::join(pipeline::roles()) + ", ...")
      ->required();
  cmd->add_option("text", opts->text, "the objective, as plain text");
  cmd->add_option("--file", opts->file, "read the objective (plain text) from FILE");
  cmd->add_option(
      "--json", opts->json_text,
      "the whole Brief as JSON (protobuf JSON mapping, see schemas/agency/v1/brief.proto)");
  cmd->add_option("--project", opts->project, "project from agency.yaml");
  cmd->add_option("--priority", opts->priority,
                  "human, interactive, scheduled (the default) or batch: the queue the brief "
                  "waits in, highest first, and its leases' priority");
  cmd->add_option("--budget", opts->budget, "most tokens the task may spend");
  cmd->add_flag("--print-json", global.json, "print task id, brief id and stream sequence as JSON");
  cmd->callback([&global, opts] { run_brief(global, *opts); });
}

void add_status_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("status", "Show the fleet (agency-fleet) and the queued briefs");
  cmd->add_flag("--json", global.json, "print as JSON");
  cmd->callback([&global] { run_status(global); });
}

void add_task_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("task", "Inspect and steer tasks");
  cmd->require_subcommand(1);
  auto id = std::make_shared<std::string>();
  auto* show =
      cmd->add_subcommand("show", "A task's record, its sub-tasks (an epic) and its audit trail");
  show->add_option("id", *id, "task id (t-...)")->required();
  show->add_flag("--json", global.json, "print as JSON");
  show->callback([&global, id] { run_task_show(global, *id); });
  auto stage = std::make_shared<std::string>();
  auto epic = std::make_shared<std::string>();
  auto* list = cmd->add_subcommand("list", "All tasks, those at one stage, or an epic's sub-tasks");
  list->add_option("--stage", *stage,
                   "only tasks at this stage: " + vocabulary::join(pipeline::all_stages()));
  list->add_option("--epic", *epic, "only the sub-tasks of this epic (a task id)");
  list->add_flag("--json", global.json, "print as JSON");
  list->callback([&global, stage, epic] { run_task_list(global, *stage, *epic); });
  add_task_steer_commands(*cmd, global);
}

void add_dead_command(CLI::App& app, GlobalOptions& global) {
  auto role = std::make_shared<std::string>();
  auto limit = std::make_shared<std::size_t>(100);
  auto* cmd =
      app.add_subcommand("dead", "What could not be processed, with the reason (AGENCY_DEAD)");
  cmd->add_option("--role", *role, "only dead letters of this role");
  cmd->add_option("--limit", *limit, "at most this many, newest (default 100)");
  cmd->add_flag("--json", global.json, "print as JSON");
  cmd->callback([&global, role, limit] { run_dead(global, *role, *limit); });
}

}  // namespace agency::cli
