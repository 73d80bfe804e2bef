// Every subject, stream, consumer and bucket name of agency, in one place
// (docs/ARCHITECTURE.md). Other code builds names only through these functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace agency::subjects {

// Subjects.
// agency.brief.<role> for the default priority (scheduled, or empty), else
// agency.brief.<role>.<priority> (human, interactive, batch): one queue each.
std::string brief(std::string_view role, std::string_view priority = {});
std::string task_event(std::string_view task_id);                   // agency.event.task.<task-id>
std::string ask(std::string_view role);                             // agency.ask.<role>
std::string mail(std::string_view agent_id);                        // agency.mail.<agent-id>
std::string usage(std::string_view engine, std::string_view role);  // agency.usage.<engine>.<role>
// The <role> of the person's own usage, which the accountant reads from
// their transcripts (agency.usage.claude.human).
inline constexpr std::string_view kHumanUsage = "human";
// agency.usage.limits.<engine>: LimitReadings, in the usage stream ("limits"
// is no engine kind, so the two never mix).
std::string limits(std::string_view engine);
// agency.usage.samples.<engine>: UsageSamples, many samples in one message
// (the accountant's transcript ingest; "samples" is no engine kind either).
std::string usage_samples(std::string_view engine);
std::string work_log(std::string_view project);  // agency.log.<project>
std::string dead(std::string_view role);         // agency.dead.<role>
std::string control(std::string_view target);    // agency.control.<agent-id|role|all>
// agency.tail.<agent-id>: request/reply, the agent's last log lines
// (`agency agent logs` for an agent whose log file is elsewhere).
std::string tail(std::string_view agent_id);
// agency.event.<kind>: FleetEvents (sweep, digest, scout; "task" is the task
// events' family and no kind of these).
std::string fleet_event(std::string_view kind);
inline constexpr std::string_view kBudgetLease = "agency.budget.lease";
inline constexpr std::string_view kBudgetSettle = "agency.budget.settle";
// Request/reply to `agency up`'s supervisor: start or retire an agent.
inline constexpr std::string_view kUpScale = "agency.up.scale";
inline constexpr std::string_view kAll = "agency.>";

// Streams.
inline constexpr std::string_view kBriefsStream = "AGENCY_BRIEFS";
inline constexpr std::string_view kEventsStream = "AGENCY_EVENTS";
inline constexpr std::string_view kMailStream = "AGENCY_MAIL";
inline constexpr std::string_view kUsageStream = "AGENCY_USAGE";
inline constexpr std::string_view kLogsStream = "AGENCY_LOGS";
inline constexpr std::string_view kDeadStream = "AGENCY_DEAD";

// KV buckets.
inline constexpr std::string_view kTasksBucket = "agency-tasks";
inline constexpr std::string_view kFleetBucket = "agency-fleet";
inline constexpr std::string_view kMemoryBucket = "agency-memory";

// Durable pull consumer shared by all agents of a role on AGENCY_BRIEFS, one
// per priority: briefs-<role> (the default), briefs-<role>@<priority>.
std::string brief_consumer(std::string_view role, std::string_view priority = {});
// Where a brief handed back to a consumer is announced, so that idle agents
// of the role look again at once (core NATS, no stream keeps it):
// agency.wake.<consumer>.
std::string wake(std::string_view consumer);
// The role and priority of a brief queue's subject (agency.brief.<role> or
// agency.brief.<role>.<priority>; priority is the default's name for the
// plain subject); nullopt for any other subject.
struct BriefQueue {
  std::string role;
  std::string priority;
};
std::optional<BriefQueue> brief_queue(std::string_view subject);
// The consumer named in a JetStream ack subject ($JS.ACK.<stream>.<consumer>
// ..., with or without a domain), or "" when it is none.
std::string_view consumer_of_ack(std::string_view ack_subject);
// Durable consumer of one agent's mail on AGENCY_MAIL.
std::string mail_consumer(std::string_view agent_id);  // mail-<agent-id>

// A token is valid inside a subject when it is non-empty and has no '.',
// '*', '>' or whitespace. Role names, agent ids and project names must be.
bool is_valid_token(std::string_view token);
// Whether every subject `inner` matches (a subject or a pattern with * and
// >) is matched by the pattern `outer` too.
bool covers(std::string_view outer, std::string_view inner);

// The agency.v1 message type carried on a subject ("agency.v1.Brief"), or ""
// when the subject is not one of ours. `agency watch` and the dead-letter
// path use it when a message has no Agency-Type header.
std::string_view message_type_for(std::string_view subject);

}  // namespace agency::subjects
