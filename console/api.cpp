#include "console/api.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "agency/v1/dead.pb.h"
#include "agency/v1/event.pb.h"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/subjects.hpp"
#include "runtime/briefing.hpp"
#include "runtime/catalog.hpp"
#include "runtime/git.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/steering.hpp"
#include "runtime/tasks.hpp"

namespace agency::console {

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A ledger read serves every page that asks within this time.
constexpr auto kUsageFresh = 2s;
constexpr std::size_t kMostListed = 1000;

Response ok(std::string body) { return {200, "application/json", std::move(body)}; }

// An Error as the answer a page gets.
Response failed(const Error& e) {
  switch (e.code) {
    case errc::not_found:
      return error_response(404, e.message);
    case errc::refused:
    case errc::wrong_revision:
    case errc::already_exists:
      return error_response(409, e.message);
    case errc::config:
    case errc::bad_payload:
      return error_response(400, e.message);
    case errc::connect:
    case errc::not_connected:
    case errc::timeout:
    case errc::no_responders:
      return error_response(503, e.message);
    default:
      return error_response(500, e.message);
  }
}

// A JSON array of protobuf messages in the JSON mapping.
template <class Messages>
std::string array_of(const Messages& messages) {
  std::string out = "[";
  for (const auto& m : messages) {
    if (out.size() > 1) out += ',';
    out += codec::to_json(m);
  }
  return out + "]";
}

std::size_t limit_of(const Request& r, std::size_t fallback) {
  auto it = r.query.find("limit");
  if (it == r.query.end()) return fallback;
  std::size_t n = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9' || n > kMostListed) return fallback;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return std::clamp<std::size_t>(n, 1, kMostListed);
}

// A string field of a JSON body; "" when absent; an error when not text.
Result<std::string> field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return make_error(errc::config, std::string("\"") + name + "\" must be text");
  }
  return it->get<std::string>();
}

}  // namespace

Response Api::handle(const Request& r) {
  const std::string& p = r.path;
  if (r.method == "GET") {
    if (p == "/api/fleet") return fleet();
    if (p == "/api/tasks") return tasks();
    if (p.starts_with("/api/task/")) return task(p.substr(10));
    if (p == "/api/usage") return usage(r);
    if (p == "/api/usage.svg") return usage_chart(r);
    if (p == "/api/decisions") return decisions(r);
    if (p == "/api/dead") return dead(r);
  } else {
    if (p == "/api/brief") return brief(r);
    if (p.starts_with("/api/task/")) {
      const std::string rest = p.substr(10);
      const auto slash = rest.find('/');
      if (slash != std::string::npos) return act(rest.substr(0, slash), rest.substr(slash + 1), r);
    }
  }
  return error_response(404, "no " + r.method + " " + p + " (console/README.md lists them)");
}

Response Api::fleet() const { return ok("{\"agents\":" + array_of(feed_->agents()) + "}"); }

Response Api::tasks() const {
  json columns = json::array();
  // Every stage of agency.yaml's pipelines, then split, pending and the ends.
  for (const auto& s : config_.work_stages()) columns.push_back(s);
  for (auto s : pipeline::all_stages()) {
    if (!pipeline::is_work_stage(s)) columns.push_back(std::string(s));
  }
  return ok("{\"tasks\":" + array_of(feed_->tasks()) + ",\"columns\":" + columns.dump() + "}");
}

Response Api::task(const std::string& id) const {
  if (!subjects::is_valid_token(id)) return error_response(400, "'" + id + "' is not a task id");
  auto store = TaskStore::open(*connection_, static_cast<std::size_t>(config_.limits.task_bytes));
  if (!store) return failed(store.error());
  auto record = store->load(id);
  if (!record) {
    if (record.error().code == errc::not_found) {
      return error_response(404, "no task " + id);
    }
    return failed(record.error());
  }
  const v1::Task& t = record->task;
  auto events = store->history(id);
  if (!events) return failed(events.error());
  std::vector<v1::Task> subtasks;
  for (const auto& child : t.children()) {
    if (auto c = feed_->task(child)) subtasks.push_back(std::move(*c));
  }
  json commit = nullptr;
  const config::Project* project = config_.project(t.project());
  if (project != nullptr) {
    auto log = git::run({"git", "log", "-1", "--format=%H%n%s%n%an%n%cI",
                         "refs/heads/" + git::branch_for(id), "--"},
                        project->repo, 10s);
    auto lines = git::output_lines(log.output);
    if (log.exit_code == 0 && lines.size() >= 4) {
      commit = {{"sha", lines[0]}, {"subject", lines[1]}, {"author", lines[2]}, {"date", lines[3]}};
    }
  }
  json moves = steering::move_targets(t, config_);
  json actions = steering::allowed_actions(t);
  return ok("{\"task\":" + codec::to_json(t) + ",\"events\":" + array_of(*events) +
            ",\"subtasks\":" + array_of(subtasks) + ",\"commit\":" + commit.dump() +
            ",\"moves\":" + moves.dump() + ",\"actions\":" + actions.dump() + "}");
}

Response Api::usage(const Request& r) {
  auto chart = usage_chart(r);
  if (chart.status != 200) return chart;
  std::lock_guard lock(usage_mu_);
  return ok("{\"report\":" + usage_report_ + "}");
}

Response Api::usage_chart(const Request& r) {
  int days = 7;
  if (auto it = r.query.find("days"); it != r.query.end()) {
    days = std::clamp(std::atoi(it->second.c_str()), 1, 90);
  }
  std::lock_guard lock(usage_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (usage_report_.empty() || usage_days_ != days || now - usage_read_ > kUsageFresh) {
    // The role that measures usage (the accountant) reads the ledger.
    const catalog::RoleInfo* measurer = nullptr;
    for (const auto& role : catalog::roles()) {
      if (role.usage != nullptr) measurer = &role;
    }
    if (measurer == nullptr)
      return error_response(404, "this build has no role that measures usage");
    auto view = measurer->usage(*connection_, config_, days);
    if (!view) return failed(view.error());
    usage_report_ = std::move(view->report_json);
    usage_svg_ = std::move(view->chart_svg);
    usage_days_ = days;
    usage_read_ = now;
  }
  if (r.path == "/api/usage.svg") return {200, "image/svg+xml", usage_svg_};
  return ok("{}");
}

// The newest messages of `stream` on `filter`, newest first, as `M`.
template <class M>
Result<std::vector<M>> newest(Connection& connection, std::string_view stream,
                              std::string_view filter, std::size_t most) {
  auto messages = replay(connection, stream, filter, 100000);
  if (!messages) return messages.error();
  std::vector<M> out;
  for (auto it = messages->rbegin(); it != messages->rend() && out.size() < most; ++it) {
    if (auto m = codec::decode<M>(it->data(), it->headers()); m) out.push_back(std::move(*m));
  }
  return out;
}

Response Api::decisions(const Request& r) const {
  auto out = newest<v1::FleetEvent>(*connection_, subjects::kEventsStream,
                                    subjects::fleet_event("dispatch"), limit_of(r, 200));
  if (!out) return failed(out.error());
  return ok("{\"decisions\":" + array_of(*out) + "}");
}

Response Api::dead(const Request& r) const {
  auto out = newest<v1::DeadLetter>(*connection_, subjects::kDeadStream, "agency.dead.>",
                                    limit_of(r, 200));
  if (!out) return failed(out.error());
  return ok("{\"dead\":" + array_of(*out) + "}");
}

Response Api::brief(const Request& r) {
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return error_response(400, "the body must be a JSON object: {\"role\", \"objective\", ...}");
  }
  auto role = field(body, "role");
  auto project = field(body, "project");
  auto priority = field(body, "priority");
  auto objective = field(body, "objective");
  auto done_when = field(body, "doneWhen");
  for (const auto* f : {&role, &project, &priority, &objective, &done_when}) {
    if (!*f) return failed(f->error());
  }
  if (role->empty()) return error_response(400, "a brief needs a role (planner, builder, ...)");
  v1::Brief b;
  b.set_objective(*objective);
  b.set_project(*project);
  b.set_priority(*priority);
  b.set_done_when(*done_when);
  std::lock_guard lock(act_mu_);
  auto sent = send_brief(*connection_, config_, *role, b, actor_);
  if (!sent) return failed(sent.error());
  return ok(json{{"taskId", sent->task_id},
                 {"role", *role},
                 {"subject", sent->subject},
                 {"stage", sent->stage}}
                .dump());
}

Response Api::act(const std::string& id, const std::string& action, const Request& r) {
  if (!subjects::is_valid_token(id)) return error_response(400, "'" + id + "' is not a task id");
  json body = r.body.empty() ? json::object() : json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return error_response(400, "the body must be a JSON object");
  }
  std::lock_guard lock(act_mu_);
  auto store = TaskStore::open(*connection_, static_cast<std::size_t>(config_.limits.task_bytes));
  if (!store) return failed(store.error());
  steering::Steering steer(*connection_, *store, config_, actor_);
  auto text = [&](const char* name) { return field(body, name); };
  Result<steering::Steered> done = make_error(errc::not_found, "");
  if (action == "cancel") {
    auto reason = text("reason");
    if (!reason) return failed(reason.error());
    done = steer.cancel(id, *reason);
  } else if (action == "retry") {
    done = steer.retry(id);
  } else if (action == "unblock") {
    auto note = text("note");
    if (!note) return failed(note.error());
    done = steer.unblock(id, *note);
  } else if (action == "move") {
    auto stage = text("stage");
    auto reason = text("reason");
    if (!stage) return failed(stage.error());
    if (!reason) return failed(reason.error());
    done = steer.move(id, *stage, *reason);
  } else if (action == "priority") {
    auto priority = text("priority");
    if (!priority) return failed(priority.error());
    done = steer.priority(id, *priority);
  } else if (action == "comment") {
    auto comment = text("text");
    if (!comment) return failed(comment.error());
    done = steer.comment(id, *comment);
  } else {
    return error_response(404, "no action '" + action +
                                   "'; the actions are cancel, retry, unblock, move, priority, "
                                   "comment");
  }
  if (!done) return failed(done.error());
  return ok(steering::to_json(*done, actor_));
}

}  // namespace agency::console
