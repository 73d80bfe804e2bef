#include "runtime/permissions.hpp"

#include <algorithm>
#include <array>
#include <sstream>

#include "bus/embedded_server.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/pipeline.hpp"

namespace agency::permissions {
namespace {

namespace voc = vocabulary;

// What a role does beyond every agent's common work: the one table.
struct RoleRights {
  std::string_view role{};
  std::string_view event_family{};  // agency.event.<family> it records ("" none)
  bool briefs_every_role = false;   // dispatcher (schedules), sweeper (re-briefs)
  std::string_view briefs_also{};   // one more role it briefs ("" none)
  bool answers_budget = false;      // serves agency.budget.*
  bool reads_usage = false;         // replays AGENCY_USAGE, publishes limits
  bool reads_ledger = false;        // replays AGENCY_USAGE, publishes nothing there
  bool sends_control = false;       // agency.control.*
  bool asks_scale = false;          // agency.up.scale
  bool follows_streams = false;     // durable consumers on limits streams (triggers)
  bool hands_back_any = false;      // NAKs another agent's brief delivery
  bool answers_for_others = false;  // replies to questions someone else was asked
};

constexpr std::array<RoleRights, 7> kRights = {{
    {.role = "accountant", .event_family = "budget", .answers_budget = true, .reads_usage = true},
    {.role = "dispatcher",
     .event_family = "dispatch",
     .briefs_every_role = true,
     .asks_scale = true,
     .follows_streams = true},
    {.role = "sweeper",
     .event_family = "sweep",
     .briefs_every_role = true,
     .sends_control = true,
     .follows_streams = true,  // reads usage to tell a stuck agent from a busy one
     .hands_back_any = true,
     .answers_for_others = true},
    {.role = "synthesizer", .event_family = "digest"},
    {.role = "auditor", .event_family = "audit", .reads_ledger = true},
    {.role = "scout", .event_family = "scout", .briefs_also = "planner"},
    // The pipeline roles' rights come from pipeline.hpp; the proxy answers
    // questions, as every role may.
    {.role = "proxy"},
}};

const RoleRights* rights_of(std::string_view role) {
  for (const auto& r : kRights) {
    if (r.role == role) return &r;
  }
  return nullptr;
}

bool is_pipeline_role(std::string_view role) {
  const auto roles = pipeline::roles();
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

void add_unique(std::vector<std::string>& out, std::string s) {
  if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
}

const std::string kApi = "$JS.API.";

// Reading a stream whose consumers are throwaway (ephemeral, named by the
// server): create one, fetch from it, ack, delete it.
void read_stream(Grants& g, std::string_view stream) {
  const std::string s(stream);
  add_unique(g.publish, kApi + "CONSUMER.CREATE." + s);
  add_unique(g.publish, kApi + "CONSUMER.CREATE." + s + ".>");
  add_unique(g.publish, kApi + "CONSUMER.MSG.NEXT." + s + ".*");
  add_unique(g.publish, kApi + "CONSUMER.DELETE." + s + ".*");
  add_unique(g.publish, kApi + "CONSUMER.INFO." + s + ".*");
  add_unique(g.publish, "$JS.ACK." + s + ".>");
  add_unique(g.publish, "$JS.FC." + s + ".>");
}

// A durable consumer the principal owns: bind, create (name and filter in
// the subject), fetch, ack.
void own_consumer(Grants& g, std::string_view stream, const std::string& consumer,
                  const std::string& filter) {
  const std::string s(stream);
  add_unique(g.publish, kApi + "CONSUMER.INFO." + s + "." + consumer);
  add_unique(g.publish, kApi + "CONSUMER.CREATE." + s + "." + consumer + "." + filter);
  add_unique(g.publish, kApi + "CONSUMER.MSG.NEXT." + s + "." + consumer);
  add_unique(g.publish, "$JS.ACK." + s + "." + consumer + ".>");
}

// A KV bucket: read, watch, list keys; write the keys `write` matches.
void use_bucket(Grants& g, std::string_view bucket, const std::string& write) {
  const std::string stream = "KV_" + std::string(bucket);
  add_unique(g.publish, kApi + "DIRECT.GET." + stream);
  add_unique(g.publish, kApi + "DIRECT.GET." + stream + ".>");
  add_unique(g.publish, kApi + "STREAM.MSG.GET." + stream);
  // Watchers and key listings are ordered consumers the client makes.
  read_stream(g, stream);
  if (!write.empty()) add_unique(g.publish, "$KV." + std::string(bucket) + "." + write);
}

void brief_role(Grants& g, std::string_view role) {
  add_unique(g.publish, subjects::brief(role));
  add_unique(g.publish, subjects::brief(role) + ".*");
}

Grants agent_grants(const Principal& who, const std::vector<std::string>& roles,
                    const Handoffs& more) {
  Grants g;
  g.responses = true;  // answers questions, tail requests, $SRV pings
  const RoleRights* rights = rights_of(who.role);

  // Metadata (no message contents): what binding and provisioning check.
  for (const char* s : {"INFO", "STREAM.INFO.*", "STREAM.NAMES", "STREAM.LIST", "CONSUMER.NAMES.*",
                        "CONSUMER.LIST.*", "CONSUMER.INFO.*.*"}) {
    add_unique(g.publish, kApi + s);
  }
  // Its own brief queues, one per priority.
  for (auto priority : voc::kPriorities) {
    const std::string consumer = subjects::brief_consumer(who.role, priority);
    own_consumer(g, subjects::kBriefsStream, consumer, subjects::brief(who.role, priority));
    // The doorbells: a brief published, or one handed back.
    add_unique(g.subscribe, subjects::brief(who.role, priority));
    add_unique(g.subscribe, subjects::wake(consumer));
  }
  add_unique(g.publish, "agency.wake.>");
  // Its own mailbox; mail to anyone.
  own_consumer(g, subjects::kMailStream, subjects::mail_consumer(who.name),
               subjects::mail(who.name));
  add_unique(g.subscribe, subjects::mail(who.name));  // its doorbell
  add_unique(g.publish, "agency.mail.*");
  // Replies to its requests and fetches.
  add_unique(g.subscribe, "_INBOX." + who.name + ".>");
  // Task records and their history, its own heartbeat, role memory.
  use_bucket(g, subjects::kTasksBucket, ">");
  use_bucket(g, subjects::kFleetBucket, who.name);
  use_bucket(g, subjects::kMemoryBucket, ">");
  read_stream(g, subjects::kEventsStream);
  read_stream(g, subjects::kLogsStream);
  add_unique(g.publish, "agency.event.task.>");
  if (rights != nullptr && !rights->event_family.empty()) {
    add_unique(g.publish, subjects::fleet_event(rights->event_family));
  }
  add_unique(g.publish, "agency.log.*");
  add_unique(g.publish, "agency.usage.*." + who.role);
  // The limits its engine saw (a rate_limit_event, headers, a refusal), for
  // the accountant's calibration: any role's engine may see one.
  add_unique(g.publish, "agency.usage.limits.*");
  add_unique(g.publish, "agency.dead.>");
  // Leases from the accountant; questions to any role, and its own role's.
  add_unique(g.publish, std::string(subjects::kBudgetLease));
  add_unique(g.publish, std::string(subjects::kBudgetSettle));
  add_unique(g.publish, "agency.ask.*");
  add_unique(g.subscribe, subjects::ask(who.role));
  // Orders to it, its role or all; its log on request; service discovery.
  add_unique(g.subscribe, subjects::control(who.name));
  add_unique(g.subscribe, subjects::control(who.role));
  add_unique(g.subscribe, subjects::control("all"));
  add_unique(g.subscribe, subjects::tail(who.name));
  add_unique(g.subscribe, "$SRV.>");

  for (const auto& role : hands_to(who.role, roles, more)) brief_role(g, role);

  if (rights == nullptr) return g;
  if (rights->answers_budget) add_unique(g.subscribe, "agency.budget.>");
  if (rights->reads_usage) {
    read_stream(g, subjects::kUsageStream);
    add_unique(g.subscribe, "agency.usage.>");  // the doorbell of new usage
    // The person's own usage, read from their Claude Code transcripts: many
    // samples to a message, and a sample out of range alone.
    add_unique(g.publish, subjects::usage_samples("*"));
    add_unique(g.publish, subjects::usage("*", subjects::kHumanUsage));
  }
  if (rights->reads_ledger) read_stream(g, subjects::kUsageStream);
  if (rights->sends_control) add_unique(g.publish, "agency.control.*");
  if (rights->asks_scale) add_unique(g.publish, std::string(subjects::kUpScale));
  if (rights->follows_streams) {
    for (auto stream : {subjects::kEventsStream, subjects::kLogsStream, subjects::kUsageStream}) {
      read_stream(g, stream);
    }
  }
  if (rights->hands_back_any) {
    add_unique(g.publish, "$JS.ACK." + std::string(subjects::kBriefsStream) + ".>");
  }
  if (rights->answers_for_others) add_unique(g.publish, "_INBOX.>");
  return g;
}

Grants supervisor_grants(const std::vector<std::string>& roles) {
  Grants g;
  g.responses = true;  // answers agency.up.scale
  for (const char* s : {"INFO", "STREAM.INFO.*", "STREAM.NAMES", "STREAM.LIST", "CONSUMER.NAMES.*",
                        "CONSUMER.LIST.*", "CONSUMER.INFO.*.*"}) {
    add_unique(g.publish, kApi + s);
  }
  add_unique(g.subscribe, std::string(subjects::kUpScale));
  add_unique(g.subscribe, "_INBOX.supervisor.>");
  add_unique(g.publish, "agency.control.*");
  // A dead agent's brief: handed back (NAK) and its role told to look.
  add_unique(g.publish, "$JS.ACK." + std::string(subjects::kBriefsStream) + ".>");
  add_unique(g.publish, "agency.wake.>");
  use_bucket(g, subjects::kFleetBucket, ">");
  use_bucket(g, subjects::kTasksBucket, ">");
  add_unique(g.publish, "agency.event.task.>");
  (void)roles;
  return g;
}

void list(std::ostream& out, std::string_view key, const std::vector<std::string>& items) {
  out << key << ": [";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out << (i == 0 ? "" : ", ") << config_string(items[i]);
  }
  out << "]";
}

}  // namespace

Handoffs handoffs(const std::map<std::string, pipeline::Pipeline, std::less<>>& pipelines) {
  Handoffs out;
  for (const auto& [name, p] : pipelines) {
    const auto& steps = p.steps();
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto& to = out[steps[i].role];
      for (std::size_t k = 0; k <= i; ++k) add_unique(to, steps[k].role);
      for (std::size_t j = i + 1; j < steps.size(); ++j) {
        add_unique(to, steps[j].role);
        if (!steps[j].landing) break;
      }
    }
  }
  return out;
}

std::vector<std::string> hands_to(std::string_view role, const std::vector<std::string>& roles,
                                  const Handoffs& more) {
  std::vector<std::string> out;
  const RoleRights* rights = rights_of(role);
  if (rights != nullptr && rights->briefs_every_role) {
    for (const auto& r : roles) add_unique(out, r);
    for (auto r : pipeline::roles()) add_unique(out, std::string(r));
    return out;
  }
  if (rights != nullptr) {
    // Its own role too: a brief it cannot take now goes back to its queue.
    add_unique(out, std::string(role));
    if (!rights->briefs_also.empty()) add_unique(out, std::string(rights->briefs_also));
    return out;
  }
  const auto configured = more.find(role);
  if (!is_pipeline_role(role) && configured == more.end()) {
    // A user's own role no pipeline has: it may brief any role.
    for (const auto& r : roles) add_unique(out, r);
    return out;
  }
  if (configured != more.end()) {
    for (const auto& r : configured->second) add_unique(out, r);
  }
  if (!is_pipeline_role(role)) return out;
  // A pipeline role: any earlier stage's role (a bounce), its own, the next
  // stage's, and the one after a landing stage that is skipped.
  const auto stages = pipeline::kStages;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    add_unique(out, std::string(stages[i].role));
    if (stages[i].role != role) continue;
    for (std::size_t j = i + 1; j < stages.size(); ++j) {
      add_unique(out, std::string(stages[j].role));
      if (!stages[j].landing) break;
    }
    break;
  }
  return out;
}

Grants grants_for(const Principal& who, const std::vector<std::string>& roles,
                  const Handoffs& more) {
  switch (who.kind) {
    case Kind::admin:
      return Grants{{">"}, {">"}, true};
    case Kind::supervisor:
      return supervisor_grants(roles);
    case Kind::agent:
      return agent_grants(who, roles, more);
  }
  return {};
}

Principal principal_named(std::string_view name, const std::vector<std::string>& roles) {
  if (name == "admin") return {Kind::admin, "admin", ""};
  if (name == "supervisor") return {Kind::supervisor, "supervisor", ""};
  Principal p{Kind::agent, std::string(name), ""};
  for (const auto& role : roles) {
    if (name.size() > role.size() + 1 && name.substr(0, role.size()) == role &&
        name[role.size()] == '-' && role.size() > p.role.size()) {
      p.role = role;
    }
  }
  return p;
}

std::string server_config(const std::vector<User>& users, const std::vector<std::string>& roles,
                          const Handoffs& more) {
  std::ostringstream out;
  out << "# Written by agency from its permission table (docs/STREAMS.md, \"Permissions\").\n"
      << "# Regenerated whenever a principal is added: edits here are lost.\n"
      << "authorization {\n  users = [\n";
  for (const auto& u : users) {
    const Grants g = grants_for(u.who, roles, more);
    out << "    # " << u.who.name << (u.who.role.empty() ? "" : " (role " + u.who.role + ")")
        << "\n    {nkey: " << config_string(u.public_key) << ", permissions: {publish: {";
    list(out, "allow", g.publish);
    out << "}, subscribe: {";
    list(out, "allow", g.subscribe);
    out << "}";
    if (g.responses && u.who.kind != Kind::admin) out << ", allow_responses: true";
    out << "}}\n";
  }
  out << "  ]\n}\n";
  return out.str();
}

}  // namespace agency::permissions
