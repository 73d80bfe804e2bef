#include "runtime/briefing.hpp"

#include "bus/codec.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/catalog.hpp"
#include "runtime/ids.hpp"
#include "runtime/inbox.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/tasks.hpp"

namespace agency {

Result<v1::Brief> prepare_brief(const config::Config& cfg, std::string_view role_name,
                                v1::Brief brief, std::string_view origin) {
  const std::string role(role_name);
  if (!subjects::is_valid_token(role)) {
    return make_error(errc::config, "'" + role +
                                        "' is not a role name: use letters, digits, '-' and '_' (" +
                                        vocabulary::join(pipeline::roles()) + ", ...)");
  }
  if (brief.project().empty() && cfg.projects.size() == 1) {
    brief.set_project(cfg.projects.front().name);
  }
  if (!brief.project().empty() && !cfg.projects.empty() &&
      cfg.project(brief.project()) == nullptr) {
    std::string known;
    for (const auto& p : cfg.projects) known += (known.empty() ? "" : ", ") + p.name;
    return make_error(errc::config, "no project '" + brief.project() + "' in " +
                                        (cfg.source.empty() ? std::string("the configuration")
                                                            : cfg.source.string()) +
                                        " (known: " + known + ")");
  }
  brief.set_origin(std::string(origin));
  fill_brief_defaults(brief, true);
  if (brief.task_id().empty()) brief.set_task_id(ids::task());
  // A new task walks the pipeline its project's tasks start on now.
  const auto& walk = cfg.pipeline_for(brief.project());
  if (brief.stage().empty()) brief.set_stage(std::string(walk.stage_of(role)));
  if (!brief.stage().empty() && walk.role_for_stage(brief.stage()) != role) {
    const auto owner = walk.role_for_stage(brief.stage());
    return make_error(errc::config,
                      owner.empty()
                          ? "stage '" + brief.stage() + "' is not in the pipeline " + walk.name() +
                                (brief.project().empty() ? "" : " of project " + brief.project()) +
                                "; its stages: " + vocabulary::join(walk.work_stages())
                          : "stage '" + brief.stage() + "' is worked by " + std::string(owner) +
                                ", not " + role + ": send the brief to " + std::string(owner));
  }
  if (brief.attempt() == 0) brief.set_attempt(1);
  if (auto valid = codec::validate(brief); !valid) return valid.error();
  if (auto size = brief.ByteSizeLong(); size > static_cast<std::size_t>(cfg.limits.brief_bytes)) {
    return make_error(errc::config,
                      "the brief is " + std::to_string(size) + " bytes, over limits.brief_bytes (" +
                          std::to_string(cfg.limits.brief_bytes) +
                          "): put long material in the project's repository and name it in the "
                          "brief, or raise the limit in agency.yaml");
  }
  return brief;
}

Result<SentBrief> send_brief(Connection& connection, const config::Config& cfg,
                             std::string_view role_name, v1::Brief given, std::string_view origin) {
  auto prepared = prepare_brief(cfg, role_name, std::move(given), origin);
  if (!prepared) return prepared.error();
  const v1::Brief& brief = *prepared;
  const std::string role(role_name);
  auto store = TaskStore::open(connection, static_cast<std::size_t>(cfg.limits.task_bytes));
  if (!store) return store.error();
  const auto& walk = cfg.pipeline_for(brief.project());
  auto created = store->create(brief, brief.stage(), origin, [&](v1::Task& t) {
    if (walk.is_work_stage(brief.stage())) walk.stamp(t, cfg.lands(brief.project()));
  });
  if (!created) return created.error();
  const std::string msg_id = brief.task_id() + ":" +
                             (brief.stage().empty() ? role : brief.stage()) + ":" +
                             std::to_string(brief.attempt());
  SentBrief sent;
  sent.subject = subjects::brief(role, brief.priority());
  auto ack = connection.js_publish(sent.subject, codec::encode(brief), msg_id);
  if (!ack) return ack.error();
  sent.task_id = brief.task_id();
  sent.brief_id = brief.id();
  sent.stage = created->task.stage();
  sent.stream_sequence = ack->sequence;
  sent.duplicate = ack->duplicate;
  sent.unknown_role = cfg.role(role) == nullptr && catalog::find(role) == nullptr;
  if (sent.unknown_role) {
    // Its consumer does not exist yet: make one so the brief waits for the
    // role's first agent instead of sitting where no consumer will look.
    if (auto r = ensure_brief_consumer(connection, role); !r) return r.error();
  }
  return sent;
}

}  // namespace agency
