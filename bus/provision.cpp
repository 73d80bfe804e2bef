#include "bus/provision.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;

constexpr int64_t ns(std::chrono::nanoseconds d) { return d.count(); }
constexpr auto kDay = std::chrono::hours(24);

struct StreamSpec {
  std::string_view name;
  std::string_view subject;
  jsRetentionPolicy retention;
  std::chrono::nanoseconds max_age;  // 0: kept until consumed or removed
  std::chrono::nanoseconds duplicates;
  std::string_view description;
  std::int64_t max_msg_size;  // with headers
};

// docs/STREAMS.md explains each setting; keep the two in step. Events, work
// logs and dead letters are written by agency only, which keeps their text
// within these sizes (long reasons and summaries are cut).
constexpr std::int64_t kEventBytes = 64 * 1024;
constexpr std::int64_t kLogBytes = 256 * 1024;
constexpr std::int64_t kDeadBytes = 256 * 1024;

std::vector<StreamSpec> stream_specs(const ProvisionPlan& plan) {
  const std::int64_t room = ProvisionPlan::kHeaderRoom;
  return {
      {subjects::kBriefsStream, "agency.brief.>", js_WorkQueuePolicy, 0ns, 10min,
       "Briefs: a unit of work per message, removed once a role's agent acks it",
       plan.brief_bytes + room},
      {subjects::kEventsStream, "agency.event.>", js_LimitsPolicy, 30 * kDay, 2min,
       "Audit trail: task created, stage changed, bounced, blocked, done", kEventBytes},
      {subjects::kMailStream, "agency.mail.>", js_WorkQueuePolicy, 30 * kDay, 2min,
       "Direct messages to one agent, kept until it reads them", plan.mail_bytes + room},
      {subjects::kUsageStream, "agency.usage.>", js_LimitsPolicy, 400 * kDay, 10min,
       "One usage sample per engine call or transcript line", plan.usage_bytes + room},
      {subjects::kLogsStream, "agency.log.>", js_LimitsPolicy, 400 * kDay, 2min,
       "Work logs written when a task closes", kLogBytes},
      {subjects::kDeadStream, "agency.dead.>", js_LimitsPolicy, 90 * kDay, 2min,
       "What could not be processed, with the reason", kDeadBytes},
  };
}

struct BucketSpec {
  std::string_view name;
  uint8_t history;
  std::chrono::nanoseconds ttl;  // 0: entries never expire
  std::string_view description;
  std::int64_t max_value_size;  // -1: the server's max payload
};

std::vector<BucketSpec> bucket_specs(const ProvisionPlan& plan) {
  return {
      {subjects::kTasksBucket, 10, 0ns, "Task id -> Task, updated by compare-and-set",
       plan.task_bytes + ProvisionPlan::kHeaderRoom},
      {subjects::kFleetBucket, 1, 30s, "Agent id -> AgentStatus; a dead agent's entry expires", -1},
      {subjects::kMemoryBucket, 5, 0ns, "Role memory and engine session ids", -1},
  };
}

constexpr int64_t kBriefMaxAckPending = 1000;

Result<bool> stream_exists(Connection& c, const std::string& name, nats::StreamInfoPtr* info) {
  jsStreamInfo* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&raw, c.js(), name.c_str(), nullptr, &code);
  if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) return false;
  if (s != NATS_OK) return js_error(s, code, "reading stream " + name);
  info->reset(raw);
  return true;
}

Result<void> ensure_stream(Connection& c, const StreamSpec& spec, int replicas, bool keep,
                           ProvisionReport& report) {
  std::string name(spec.name);
  std::string subject(spec.subject);
  std::string description(spec.description);
  const char* subjects_list[] = {subject.c_str()};
  std::string label = "stream " + name;

  nats::StreamInfoPtr info;
  auto exists = stream_exists(c, name, &info);
  if (!exists) return exists.error();

  jsStreamConfig cfg;
  if (!*exists) {
    jsStreamConfig_Init(&cfg);
    cfg.Name = name.c_str();
    cfg.Description = description.c_str();
    cfg.Subjects = subjects_list;
    cfg.SubjectsLen = 1;
    cfg.Retention = spec.retention;
    cfg.Storage = js_FileStorage;
    cfg.MaxAge = ns(spec.max_age);
    cfg.Duplicates = ns(spec.duplicates);
    cfg.MaxMsgSize = static_cast<int32_t>(spec.max_msg_size);
    cfg.Replicas = replicas;
    nats::StreamInfoPtr added;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(nats::out(added), c.js(), &cfg, nullptr, &code);
    if (s != NATS_OK) return js_error(s, code, "creating " + label);
    report.created.push_back(label);
    return {};
  }

  if (keep) {
    report.unchanged.push_back(label);
    return {};
  }
  const jsStreamConfig& have = *info->Config;
  if (have.Retention != spec.retention || have.Storage != js_FileStorage) {
    return make_error(errc::config,
                      label + " exists with a different retention or storage than agency needs (" +
                          (spec.retention == js_WorkQueuePolicy ? "work-queue" : "limits") +
                          ", file); these cannot change in place. Drain it and remove it "
                          "(`nats stream rm " +
                          name + "`), then run `agency init` again.");
  }
  bool subjects_match = have.SubjectsLen == 1 && have.Subjects[0] == subject;
  bool same = subjects_match && have.MaxAge == ns(spec.max_age) &&
              have.Duplicates == ns(spec.duplicates) && have.Replicas == replicas &&
              have.MaxMsgSize == spec.max_msg_size &&
              (have.Description != nullptr && description == have.Description);
  if (same) {
    report.unchanged.push_back(label);
    return {};
  }
  cfg = have;  // keep what we do not manage
  cfg.Description = description.c_str();
  cfg.Subjects = subjects_list;
  cfg.SubjectsLen = 1;
  cfg.MaxAge = ns(spec.max_age);
  cfg.Duplicates = ns(spec.duplicates);
  cfg.MaxMsgSize = static_cast<int32_t>(spec.max_msg_size);
  cfg.Replicas = replicas;
  nats::StreamInfoPtr updated;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_UpdateStream(nats::out(updated), c.js(), &cfg, nullptr, &code);
  if (s != NATS_OK) return js_error(s, code, "updating " + label);
  report.updated.push_back(label);
  return {};
}

Result<void> ensure_bucket(Connection& c, const BucketSpec& spec, int replicas, bool keep,
                           ProvisionReport& report) {
  std::string name(spec.name);
  std::string stream = "KV_" + name;
  std::string description(spec.description);
  std::string label = "bucket " + name;

  nats::StreamInfoPtr info;
  auto exists = stream_exists(c, stream, &info);
  if (!exists) return exists.error();
  if (!*exists) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = name.c_str();
    cfg.Description = description.c_str();
    cfg.History = spec.history;
    cfg.TTL = ns(spec.ttl);
    cfg.MaxValueSize = static_cast<int32_t>(spec.max_value_size);
    cfg.StorageType = js_FileStorage;
    cfg.Replicas = replicas;
    nats::KvStorePtr store;
    natsStatus s = js_CreateKeyValue(nats::out(store), c.js(), &cfg);
    if (s != NATS_OK) return nats_error(s, "creating " + label);
    report.created.push_back(label);
    return {};
  }
  const jsStreamConfig& have = *info->Config;
  if (keep || (have.MaxMsgsPerSubject == spec.history && have.MaxAge == ns(spec.ttl) &&
               have.Replicas == replicas && have.MaxMsgSize == spec.max_value_size)) {
    report.unchanged.push_back(label);
    return {};
  }
  jsStreamConfig cfg = have;
  cfg.MaxMsgsPerSubject = spec.history;
  cfg.MaxAge = ns(spec.ttl);
  cfg.MaxMsgSize = static_cast<int32_t>(spec.max_value_size);
  cfg.Replicas = replicas;
  nats::StreamInfoPtr updated;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_UpdateStream(nats::out(updated), c.js(), &cfg, nullptr, &code);
  if (s != NATS_OK) return js_error(s, code, "updating " + label);
  report.updated.push_back(label);
  return {};
}

// One priority's queue of a role. report == nullptr: only make sure it exists.
Result<void> ensure_consumer(Connection& c, const std::string& role, std::string_view priority,
                             const ProvisionPlan& plan, ProvisionReport* report) {
  std::string stream(subjects::kBriefsStream);
  std::string durable = subjects::brief_consumer(role, priority);
  std::string filter = subjects::brief(role, priority);
  std::string label = "consumer " + stream + "/" + durable;

  jsConsumerConfig cfg;
  jsConsumerConfig_Init(&cfg);
  cfg.Durable = durable.c_str();
  // Named too: nats.c then creates it on a subject that carries its name and
  // filter, which a per-agent permission can grant exactly (docs/STREAMS.md).
  cfg.Name = durable.c_str();
  std::string description = "Briefs of priority " + std::string(priority) + " for role " + role +
                            ", shared by all its agents";
  cfg.Description = description.c_str();
  cfg.FilterSubject = filter.c_str();
  cfg.AckPolicy = js_AckExplicit;
  cfg.DeliverPolicy = js_DeliverAll;
  cfg.AckWait = ns(plan.ack_wait);
  // Unlimited: the runtime counts failed deliveries itself (rate-limit and
  // stop hand-backs are not failures) and dead-letters at max_deliver.
  cfg.MaxDeliver = -1;
  cfg.MaxAckPending = kBriefMaxAckPending;

  nats::ConsumerInfoPtr info;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetConsumerInfo(nats::out(info), c.js(), stream.c_str(), durable.c_str(), nullptr, &code);
  if (s == NATS_NOT_FOUND || code == JSConsumerNotFoundErr) {
    nats::ConsumerInfoPtr created;
    code = static_cast<jsErrCode>(0);
    s = js_AddConsumer(nats::out(created), c.js(), stream.c_str(), &cfg, nullptr, &code);
    if (s != NATS_OK) return js_error(s, code, "creating " + label);
    if (report != nullptr) report->created.push_back(label);
    return {};
  }
  if (s != NATS_OK) return js_error(s, code, "reading " + label);
  if (report == nullptr || plan.keep_existing) return {};
  const jsConsumerConfig& have = *info->Config;
  bool same = have.AckWait == cfg.AckWait && have.MaxDeliver == cfg.MaxDeliver &&
              have.MaxAckPending == cfg.MaxAckPending && have.FilterSubject != nullptr &&
              filter == have.FilterSubject && have.AckPolicy == js_AckExplicit &&
              have.Description != nullptr && description == have.Description;
  if (same) {
    report->unchanged.push_back(label);
    return {};
  }
  nats::ConsumerInfoPtr updated;
  code = static_cast<jsErrCode>(0);
  s = js_UpdateConsumer(nats::out(updated), c.js(), stream.c_str(), &cfg, nullptr, &code);
  if (s != NATS_OK) return js_error(s, code, "updating " + label);
  report->updated.push_back(label);
  return {};
}

// Config's form of a role name: the consumer names add '@' and a priority,
// which no such name contains.
Result<void> check_role_name(const std::string& role) {
  const bool ok = !role.empty() && std::all_of(role.begin(), role.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '_';
  });
  if (ok) return {};
  return make_error(errc::config, "role name '" + role +
                                      "' cannot name a brief queue: use letters, digits, "
                                      "'-' and '_'");
}

// Every priority's queue of a role (subjects::brief_consumer).
Result<void> ensure_consumers(Connection& c, const std::string& role, const ProvisionPlan& plan,
                              ProvisionReport* report) {
  if (auto r = check_role_name(role); !r) return r;
  for (auto priority : vocabulary::kPriorities) {
    if (auto r = ensure_consumer(c, role, priority, plan, report); !r) return r;
  }
  return {};
}

// The role names of a plan, each once, each checked.
Result<std::vector<std::string>> plan_roles(const ProvisionPlan& plan) {
  std::vector<std::string> roles;
  for (const auto& role : plan.roles) {
    if (auto r = check_role_name(role); !r) return r.error();
    if (std::find(roles.begin(), roles.end(), role) == roles.end()) roles.push_back(role);
  }
  return roles;
}

// Every stream's name (one request per 1024 of them).
Result<std::set<std::string>> stream_names(Connection& c) {
  jsStreamNamesList* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_StreamNames(&raw, c.js(), nullptr, &code);
  std::set<std::string> out;
  if (s == NATS_NOT_FOUND) return out;  // none yet
  if (s != NATS_OK) return js_error(s, code, "listing the streams");
  for (int i = 0; i < raw->Count; ++i) out.emplace(raw->List[i]);
  jsStreamNamesList_Destroy(raw);
  return out;
}

// The names of a stream's consumers; none when the stream is missing.
Result<std::set<std::string>> consumer_names(Connection& c, const std::string& stream) {
  jsConsumerNamesList* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_ConsumerNames(&raw, c.js(), stream.c_str(), nullptr, &code);
  std::set<std::string> out;
  if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) return out;
  if (s != NATS_OK) return js_error(s, code, "listing the consumers of " + stream);
  for (int i = 0; i < raw->Count; ++i) out.emplace(raw->List[i]);
  jsConsumerNamesList_Destroy(raw);
  return out;
}

// keep_existing: what exists stays as it is, so what exists is all there
// is to know. Two requests, the streams' names and the brief queues', say
// it, where asking after each stream, bucket and queue on its own took one
// request each (53 for the built-in roles, on every agent's start); only
// what is missing is then created, as ensure_* create it.
Result<ProvisionReport> provision_missing(Connection& connection, const ProvisionPlan& plan) {
  auto roles = plan_roles(plan);
  if (!roles) return roles.error();
  auto streams = stream_names(connection);
  if (!streams) return streams.error();
  ProvisionReport report;
  for (const auto& spec : stream_specs(plan)) {
    if (streams->count(std::string(spec.name)) > 0) {
      report.unchanged.push_back("stream " + std::string(spec.name));
    } else if (auto r = ensure_stream(connection, spec, plan.replicas, true, report); !r) {
      return r.error();
    }
  }
  for (const auto& spec : bucket_specs(plan)) {
    if (streams->count("KV_" + std::string(spec.name)) > 0) {
      report.unchanged.push_back("bucket " + std::string(spec.name));
    } else if (auto r = ensure_bucket(connection, spec, plan.replicas, true, report); !r) {
      return r.error();
    }
  }
  auto queues = consumer_names(connection, std::string(subjects::kBriefsStream));
  if (!queues) return queues.error();
  for (const auto& role : *roles) {
    for (auto priority : vocabulary::kPriorities) {
      if (queues->count(subjects::brief_consumer(role, priority)) > 0) continue;
      if (auto r = ensure_consumer(connection, role, priority, plan, &report); !r) return r.error();
    }
  }
  return report;
}

}  // namespace

Result<ProvisionReport> provision(Connection& connection, const ProvisionPlan& plan) {
  if (plan.keep_existing) return provision_missing(connection, plan);
  ProvisionReport report;
  for (const auto& spec : stream_specs(plan)) {
    if (auto r = ensure_stream(connection, spec, plan.replicas, plan.keep_existing, report); !r) {
      return r.error();
    }
  }
  for (const auto& spec : bucket_specs(plan)) {
    if (auto r = ensure_bucket(connection, spec, plan.replicas, plan.keep_existing, report); !r) {
      return r.error();
    }
  }
  std::vector<std::string> roles;
  for (const auto& role : plan.roles) {
    if (std::find(roles.begin(), roles.end(), role) == roles.end()) roles.push_back(role);
  }
  for (const auto& role : roles) {
    if (auto r = ensure_consumers(connection, role, plan, &report); !r) return r.error();
  }
  return report;
}

Result<void> ensure_brief_consumer(Connection& connection, const std::string& role) {
  return ensure_consumers(connection, role, ProvisionPlan{}, nullptr);
}

namespace {

// A durable consumer with explicit acks, created with these settings when
// absent; an existing one is left as it is.
Result<void> ensure_durable(Connection& connection, const std::string& stream,
                            const std::string& durable, const std::string& filter,
                            const std::string& description, jsDeliverPolicy deliver,
                            std::chrono::nanoseconds ack_wait) {
  nats::ConsumerInfoPtr existing;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(nats::out(existing), connection.js(), stream.c_str(),
                                    durable.c_str(), nullptr, &code);
  if (s == NATS_OK) return {};
  if (s != NATS_NOT_FOUND && code != JSConsumerNotFoundErr) {
    return js_error(s, code, "reading consumer " + stream + "/" + durable);
  }
  jsConsumerConfig cfg;
  jsConsumerConfig_Init(&cfg);
  cfg.Durable = durable.c_str();
  // Named too: nats.c then creates it on a subject that carries its name and
  // filter, which a per-agent permission can grant exactly (docs/STREAMS.md).
  cfg.Name = durable.c_str();
  cfg.Description = description.c_str();
  cfg.FilterSubject = filter.c_str();
  cfg.AckPolicy = js_AckExplicit;
  cfg.DeliverPolicy = deliver;
  cfg.AckWait = ns(ack_wait);
  cfg.MaxDeliver = -1;
  cfg.InactiveThreshold = ns(std::chrono::hours(24 * 30));
  nats::ConsumerInfoPtr created;
  code = static_cast<jsErrCode>(0);
  s = js_AddConsumer(nats::out(created), connection.js(), stream.c_str(), &cfg, nullptr, &code);
  if (s != NATS_OK) return js_error(s, code, "creating consumer " + stream + "/" + durable);
  return {};
}

}  // namespace

Result<void> ensure_mail_consumer(Connection& connection, const std::string& agent_id) {
  if (!subjects::is_valid_token(agent_id)) {
    return make_error(errc::config, "agent id '" + agent_id +
                                        "' cannot be part of a subject: use letters, digits, "
                                        "'-' and '_'");
  }
  // Mail written before the agent ever ran waits for it: deliver all. A
  // mail turn is one engine turn: an hour covers the longest.
  return ensure_durable(connection, std::string(subjects::kMailStream),
                        subjects::mail_consumer(agent_id), subjects::mail(agent_id),
                        "Mail for agent " + agent_id, js_DeliverAll, std::chrono::hours(1));
}

Result<void> ensure_follow_consumer(Connection& connection, const std::string& stream,
                                    const std::string& durable, const std::string& filter,
                                    const std::string& description) {
  return ensure_durable(connection, stream, durable, filter, description, js_DeliverNew,
                        std::chrono::minutes(1));
}

Result<std::optional<std::string>> limits_stream_covering(Connection& connection,
                                                          std::string_view pattern) {
  nats::StreamInfoListPtr list;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_Streams(nats::out(list), connection.js(), nullptr, &code);
  if (s == NATS_NOT_FOUND) return std::optional<std::string>{};
  if (s != NATS_OK) return js_error(s, code, "listing the streams");
  std::optional<std::string> found;
  for (int i = 0; i < list->Count && !found; ++i) {
    const jsStreamConfig* cfg = list->List[i]->Config;
    if (cfg == nullptr || cfg->Retention != js_LimitsPolicy) continue;
    for (int j = 0; j < cfg->SubjectsLen; ++j) {
      if (subjects::covers(cfg->Subjects[j], pattern)) {
        found = cfg->Name;
        break;
      }
    }
  }
  return found;
}

}  // namespace agency
