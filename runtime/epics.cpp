#include "runtime/epics.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/connection.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/stage_change.hpp"
#include "runtime/tasks.hpp"

namespace agency::epics {
namespace {

namespace voc = vocabulary;

// Titles compare without case and with runs of blanks as one.
std::string folded(std::string_view title) {
  std::string out;
  bool blank = false;
  for (char c : title) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      blank = !out.empty();
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string named(const std::vector<ProposedTask>& proposed, std::size_t i) {
  return "sub-task " + std::to_string(i + 1) + " (\"" + proposed[i].title + "\")";
}

// A cycle through the dependencies, as "1 -> 3 -> 1"; "" when there is none.
std::string find_cycle(const std::vector<std::vector<std::size_t>>& deps) {
  enum class Mark { none, active, finished };
  std::vector<Mark> mark(deps.size(), Mark::none);
  std::vector<std::size_t> path;
  std::string found;
  std::function<bool(std::size_t)> visit = [&](std::size_t n) {
    mark[n] = Mark::active;
    path.push_back(n);
    for (std::size_t d : deps[n]) {
      if (mark[d] == Mark::active) {
        auto from = std::find(path.begin(), path.end(), d);
        for (auto it = from; it != path.end(); ++it) found += std::to_string(*it + 1) + " -> ";
        found += std::to_string(d + 1);
        return true;
      }
      if (mark[d] == Mark::none && visit(d)) return true;
    }
    path.pop_back();
    mark[n] = Mark::finished;
    return false;
  };
  for (std::size_t n = 0; n < deps.size(); ++n) {
    if (mark[n] == Mark::none && visit(n)) return found;
  }
  return {};
}

google::protobuf::Timestamp now() { return now_timestamp(); }

v1::TaskEvent event_of(const v1::Task& task, std::string_view kind, std::string_view from,
                       std::string_view to, const std::string& actor, const std::string& reason) {
  v1::TaskEvent e;
  e.set_task_id(task.id());
  e.set_kind(std::string(kind));
  e.set_from_stage(std::string(from));
  e.set_to_stage(std::string(to));
  e.set_actor(actor);
  e.set_reason(reason);
  *e.mutable_at() = now();
  e.set_project(task.project());
  return e;
}

// The brief a sub-task starts with (its msg id <id>:ready-for-dev:1).
v1::Brief first_brief(const v1::Task& child, std::size_t max_bytes) {
  v1::Brief b = child.brief();
  b.set_id(child.id() + ":" + std::string(pipeline::kReadyForDev) + ":1");
  b.set_stage(std::string(pipeline::kReadyForDev));
  b.set_attempt(1);
  *b.mutable_created_at() = now();
  fit_brief(b, max_bytes);
  return b;
}

Result<void> publish(const Writer& w, const v1::Brief& brief) {
  auto ack = w.connection->js_publish(
      subjects::brief(pipeline::role_for_stage(brief.stage()), brief.priority()),
      codec::encode(brief), brief.id());
  if (!ack) return ack.error();
  return {};
}

// A sub-task still at its first entry into ready-for-dev: its first brief
// may be (re)sent; later, the brief moved on with it.
bool at_first_start(const v1::Task& child) {
  return child.stage() == pipeline::kReadyForDev &&
         entries_into(child, pipeline::kReadyForDev) == 1;
}

}  // namespace

Result<std::vector<SubTask>> plan_subtasks(const std::vector<ProposedTask>& proposed) {
  if (proposed.size() > kMostSubTasks) {
    return make_error(errc::bad_payload, "the planner wrote " + std::to_string(proposed.size()) +
                                             " sub-tasks; an epic has at most " +
                                             std::to_string(kMostSubTasks));
  }
  std::map<std::string, std::size_t> by_title;
  for (std::size_t i = 0; i < proposed.size(); ++i) {
    const std::string key = folded(proposed[i].title);
    if (key.empty()) return make_error(errc::bad_payload, named(proposed, i) + " has no title");
    auto [it, fresh] = by_title.emplace(key, i);
    if (!fresh) {
      return make_error(errc::bad_payload, named(proposed, i) + " has the title of " +
                                               named(proposed, it->second) +
                                               "; each sub-task needs its own");
    }
  }
  std::vector<SubTask> out;
  std::vector<std::vector<std::size_t>> deps(proposed.size());
  for (std::size_t i = 0; i < proposed.size(); ++i) {
    const ProposedTask& p = proposed[i];
    for (const auto& d : p.depends_on) {
      std::size_t target = proposed.size();
      std::size_t number = 0;
      const auto* end = d.data() + d.size();
      auto [ptr, ec] = std::from_chars(d.data(), end, number);
      if (ec == std::errc() && ptr == end) {
        if (number >= 1 && number <= proposed.size()) target = number - 1;
      } else if (auto it = by_title.find(folded(d)); it != by_title.end()) {
        target = it->second;
      }
      if (target == proposed.size()) {
        return make_error(errc::bad_payload, named(proposed, i) + " depends on '" + d +
                                                 "', which is no sub-task (use a number 1.." +
                                                 std::to_string(proposed.size()) + " or a title)");
      }
      if (std::find(deps[i].begin(), deps[i].end(), target) == deps[i].end()) {
        deps[i].push_back(target);
      }
    }
  }
  if (auto cycle = find_cycle(deps); !cycle.empty()) {
    return make_error(errc::bad_payload, "the sub-tasks depend on each other in a cycle (" + cycle +
                                             "): none of them could ever start");
  }
  out.reserve(proposed.size());
  for (std::size_t i = 0; i < proposed.size(); ++i) {
    SubTask s;
    s.title = proposed[i].title;
    s.objective = proposed[i].objective;
    s.done_when = proposed[i].done_when;
    s.spec = proposed[i].spec;
    s.depends_on = deps[i];
    out.push_back(std::move(s));
  }
  return out;
}

std::string child_id(std::string_view epic_id, std::size_t n) {
  return std::string(epic_id) + "-" + std::to_string(n);
}

EpicStep assess_epic(const v1::Task& epic, const std::map<std::string, v1::Task>& children) {
  EpicStep step;
  std::size_t done = 0;
  bool moving = false;
  const v1::Task* blocked = nullptr;
  for (const auto& id : epic.children()) {
    auto it = children.find(id);
    if (it == children.end()) {
      moving = true;  // not written yet: its creator is still at work
      continue;
    }
    const v1::Task& c = it->second;
    if (c.stage() == voc::kDone) {
      ++done;
    } else if (c.stage() == voc::kBlocked || c.stage() == voc::kCancelled) {
      if (blocked == nullptr) blocked = &c;
    } else if (c.stage() == kPending) {
      const bool ready =
          std::all_of(c.depends_on().begin(), c.depends_on().end(), [&](const std::string& d) {
            auto dep = children.find(d);
            return dep != children.end() && dep->second.stage() == voc::kDone;
          });
      if (ready) step.start.push_back(c.id());
    } else {
      moving = true;  // at a stage of the pipeline
    }
  }
  const auto total = static_cast<std::size_t>(epic.children_size());
  if (total > 0 && done == total) {
    step.close = std::string(voc::kDone);
    step.reason = "all " + std::to_string(total) + " sub-tasks are done";
  } else if (!moving && step.start.empty() && blocked != nullptr) {
    step.close = std::string(voc::kBlocked);
    step.reason = "sub-task " + blocked->id() + " (\"" + blocked->title() + "\") is " +
                  blocked->stage() + ": " + blocked->blocked_reason();
    const std::size_t waiting = total - done - 1;
    if (waiting > 0) {
      step.reason += "; " + std::to_string(waiting) + " other sub-task(s) cannot move";
    }
    if (step.reason.size() > kMostReasonBytes) step.reason.resize(kMostReasonBytes);
  }
  return step;
}

Result<void> file_subtasks(const Writer& w, const v1::Task& epic, const v1::Brief& epic_brief,
                           const std::vector<SubTask>& subtasks) {
  const std::size_t n = subtasks.size();
  for (std::size_t i = 0; i < n; ++i) {
    const SubTask& s = subtasks[i];
    const std::string id = child_id(epic.id(), i + 1);
    v1::Brief b;
    b.set_id(id + ":" + std::string(pipeline::kReadyForDev) + ":1");
    b.set_project(epic.project());
    b.set_objective(s.objective.empty() ? s.title : s.title + "\n\n" + s.objective);
    b.set_done_when(s.done_when);
    b.set_stage(std::string(pipeline::kReadyForDev));
    b.set_task_id(id);
    b.set_priority(epic_brief.priority());
    b.set_origin(w.actor);
    b.set_attempt(1);
    b.set_context("Sub-task " + std::to_string(i + 1) + " of " + std::to_string(n) + " of epic " +
                  epic.id() + " (\"" + epic.title() + "\").");
    *b.mutable_created_at() = now();
    const bool waits = !s.depends_on.empty();
    auto created =
        w.store->create(b, waits ? kPending : pipeline::kReadyForDev, w.actor, [&](v1::Task& t) {
          t.set_title(title_from(s.title));
          t.set_parent(epic.id());
          // The epic's pipeline: its sub-tasks walk the way it would have.
          t.set_pipeline(epic.pipeline());
          *t.mutable_pipeline_stages() = epic.pipeline_stages();
          t.set_spec(s.spec.empty() ? b.objective() : s.spec);
          for (std::size_t d : s.depends_on) {
            t.add_depends_on(child_id(epic.id(), d + 1));
          }
        });
    if (!created) return created.error();
    if (at_first_start(created->task)) {
      if (auto r = publish(w, first_brief(created->task, w.brief_bytes)); !r) return r;
    }
  }
  return {};
}

Result<EpicStep> advance_epic(const Writer& w, std::string_view epic_id) {
  auto epic = w.store->load(epic_id);
  if (!epic) return epic.error();
  if (epic->task.stage() != kSplit) return EpicStep{};
  std::map<std::string, v1::Task> children;
  for (const auto& id : epic->task.children()) {
    auto c = w.store->load(id);
    if (c) {
      children.emplace(id, std::move(c->task));
    } else if (c.error().code != errc::not_found) {
      return c.error();
    }
  }
  EpicStep step = assess_epic(epic->task, children);

  for (const auto& id : step.start) {
    const v1::Task& child = children.at(id);
    std::string deps;
    for (const auto& d : child.depends_on()) deps += (deps.empty() ? "" : ", ") + d;
    const std::string reason = "what it depends on is done: " + deps;
    // Brief first, then the record: a crash between them sends the brief
    // again (its msg id drops the copy) on the next try.
    v1::Task starting = child;
    starting.mutable_brief()->set_context(child.brief().context() +
                                          "\n\nWhat it depends on is done: " + deps + ".");
    if (auto r = publish(w, first_brief(starting, w.brief_bytes)); !r) return r.error();
    auto moved = w.store->update(id, [&](v1::Task& t) {
      if (t.stage() != kPending) return false;
      auto* h = t.add_history();
      h->set_from(std::string(kPending));
      h->set_to(std::string(pipeline::kReadyForDev));
      h->set_actor(w.actor);
      h->set_reason(reason);
      *h->mutable_at() = now();
      t.set_stage(std::string(pipeline::kReadyForDev));
      *t.mutable_updated_at() = now();
      return true;
    });
    if (!moved) return moved.error();
    if (auto r = w.store->append_event(event_of(child, voc::kEventStageChanged, kPending,
                                                pipeline::kReadyForDev, w.actor, reason),
                                       "event:" + id + ":pending:1");
        !r) {
      return r.error();
    }
  }

  if (!step.close.empty()) {
    auto closed = w.store->update(epic_id, [&](v1::Task& t) {
      if (t.stage() != kSplit) return false;
      auto* h = t.add_history();
      h->set_from(std::string(kSplit));
      h->set_to(step.close);
      h->set_actor(w.actor);
      h->set_reason(step.reason);
      *h->mutable_at() = now();
      t.set_stage(step.close);
      if (step.close == voc::kBlocked) t.set_blocked_reason(step.reason);
      *t.mutable_updated_at() = now();
      return true;
    });
    if (!closed) return closed.error();
    const auto kind = step.close == voc::kDone ? voc::kEventDone : voc::kEventBlocked;
    if (auto r = w.store->append_event(
            event_of(epic->task, kind, kSplit, step.close, w.actor, step.reason),
            "event:" + std::string(epic_id) +
                ":split:" + std::to_string(entries_into(epic->task, kSplit)));
        !r) {
      return r.error();
    }
  }
  return step;
}

}  // namespace agency::epics
