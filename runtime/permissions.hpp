// Who may do what on the mesh: the subject permissions of every NATS user
// `agency up` and `agency creds` make, derived from this one table
// (docs/STREAMS.md, "Permissions", prints it and says what each role may
// not do).
//
// Three kinds of principal: admin (the CLI, the console, `agency init`:
// everything), supervisor (`agency up` and `agency join` running agents:
// starts and stops them, hands back a dead agent's brief) and one user per
// agent, whose grants follow its role:
//   - its own brief queues and mailbox, and no one else's: the consumers'
//     create, next, ack and info subjects name the consumer (and the create
//     subject its filter);
//   - replies come to _INBOX.<agent-id>.>, which no other agent may read;
//   - briefs only to the roles its stages hand to (pipeline.hpp: the next
//     stage, any earlier one for a bounce, its own; in the built-in
//     pipeline and each of agency.yaml's); the dispatcher and the
//     sweeper to every role; the scout to the planner;
//   - agency.budget.* answered only by the accountant; control sent only by
//     the sweeper (besides supervisor and admin); scale asked only by the
//     dispatcher.
//
// Thread: any; no state.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/pipeline.hpp"

namespace agency::permissions {

enum class Kind { admin, supervisor, agent };

struct Principal {
  Kind kind = Kind::agent;
  std::string name;  // "admin", "supervisor" or the agent id
  std::string role;  // agents only
};

struct Grants {
  std::vector<std::string> publish;    // subjects and patterns allowed
  std::vector<std::string> subscribe;  // subjects and patterns allowed
  bool responses = false;              // may answer requests it receives
};

// The roles each role may brief besides what the built-in pipeline gives
// it, from the pipelines of agency.yaml: in each pipeline a role works, the
// roles of every earlier stage (a bounce), its own, the next stage's (and
// the one after a landing stage, which a task that does not land skips).
using Handoffs = std::map<std::string, std::vector<std::string>, std::less<>>;
Handoffs handoffs(const std::map<std::string, pipeline::Pipeline, std::less<>>& pipelines);

// `roles`: every role of the fleet (agency.yaml's), for the principals that
// may brief them all; `more`: the pipelines' hand-offs.
Grants grants_for(const Principal& who, const std::vector<std::string>& roles,
                  const Handoffs& more = {});

// The roles an agent of `role` may brief (the table above).
std::vector<std::string> hands_to(std::string_view role, const std::vector<std::string>& roles,
                                  const Handoffs& more = {});

// The principal a name stands for: "admin", "supervisor", else an agent id
// "<role>-<suffix>" whose role is the longest of `roles` it starts with
// followed by '-'. Empty role when no role matches.
Principal principal_named(std::string_view name, const std::vector<std::string>& roles);

// One user of a nats-server authorization block.
struct User {
  Principal who;
  std::string public_key;  // NKey "U..."
};

// `authorization { users = [...] }` for a nats-server config: each user by
// its NKey with its grants, a comment naming the principal.
std::string server_config(const std::vector<User>& users, const std::vector<std::string>& roles,
                          const Handoffs& more = {});

}  // namespace agency::permissions
