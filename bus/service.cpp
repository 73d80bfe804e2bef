#include "bus/service.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <utility>

#include "bus/subjects.hpp"

namespace agency {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kPingType = "io.nats.micro.v1.ping_response";
constexpr std::string_view kInfoType = "io.nats.micro.v1.info_response";
constexpr std::string_view kStatsType = "io.nats.micro.v1.stats_response";

enum class Verb { ping, info, stats };

// ADR-32 restricts service and endpoint names to [A-Za-z0-9_-]+ (stricter
// than a subject token), so that `$SRV.PING.<name>` stays one token and
// every client accepts it.
bool is_basic_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// Clients (natscli, @nats-io/services) reject a service whose version is not
// a semantic version, so we refuse it at start instead of being invisible.
bool is_semver(const std::string& version) {
  static const std::regex pattern(R"(^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*))"
                                  R"((?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))"
                                  R"((?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?)"
                                  R"((?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$)");
  return std::regex_match(version, pattern);
}

// RFC 3339 in UTC with nanoseconds, the form Go's time.Time (natscli) and
// JavaScript's Date both parse: 2026-11-22T03:45:12.123456789Z.
std::string rfc3339_nanos(std::chrono::system_clock::time_point at) {
  using std::chrono::duration_cast;
  using std::chrono::nanoseconds;
  const std::int64_t total = duration_cast<nanoseconds>(at.time_since_epoch()).count();
  std::int64_t secs = total / 1'000'000'000;
  std::int64_t frac = total % 1'000'000'000;
  if (frac < 0) {  // before 1970: floor, so the fraction stays positive
    frac += 1'000'000'000;
    secs -= 1;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::array<char, 32> date{};
  std::strftime(date.data(), date.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  std::array<char, 48> out{};
  std::snprintf(out.data(), out.size(), "%s.%09lldZ", date.data(), static_cast<long long>(frac));
  return out.data();
}

Json metadata_json(const std::map<std::string, std::string>& metadata) {
  // An object even when empty: some clients treat null metadata as absent,
  // all of them accept {}.
  Json out = Json::object();
  for (const auto& [key, value] : metadata) out[key] = value;
  return out;
}

// Invalid UTF-8 in metadata or an error text must not make the answer throw
// on a nats.c thread: replace it instead.
std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

struct ServiceResponder::State {
  struct Endpoint {
    ServiceEndpoint def;
    std::uint64_t num_requests = 0;
    std::uint64_t num_errors = 0;
    std::string last_error;
    std::int64_t processing_ns = 0;
  };

  mutable std::mutex mutex;
  ServiceIdentity identity;
  std::vector<Endpoint> endpoints;
  std::map<std::string, std::string> metadata;
  std::chrono::system_clock::time_point started;

  // Callers hold `mutex`.
  [[nodiscard]] Json identity_json(std::string_view type) const {
    Json out = Json::object();
    out["type"] = type;
    out["name"] = identity.name;
    out["id"] = identity.id;
    out["version"] = identity.version;
    out["metadata"] = metadata_json(metadata);
    return out;
  }

  [[nodiscard]] std::string ping() const {
    std::lock_guard lock(mutex);
    return dump(identity_json(kPingType));
  }

  [[nodiscard]] std::string info() const {
    std::lock_guard lock(mutex);
    Json out = identity_json(kInfoType);
    out["description"] = identity.description;
    Json list = Json::array();
    for (const auto& e : endpoints) {
      Json item = Json::object();
      item["name"] = e.def.name;
      item["subject"] = e.def.subject;
      item["queue_group"] = e.def.queue_group;
      item["metadata"] = metadata_json(e.def.metadata);
      list.push_back(std::move(item));
    }
    out["endpoints"] = std::move(list);
    return dump(out);
  }

  [[nodiscard]] std::string stats() const {
    std::lock_guard lock(mutex);
    Json out = identity_json(kStatsType);
    out["started"] = rfc3339_nanos(started);
    Json list = Json::array();
    for (const auto& e : endpoints) {
      Json item = Json::object();
      item["name"] = e.def.name;
      item["subject"] = e.def.subject;
      item["queue_group"] = e.def.queue_group;
      item["num_requests"] = e.num_requests;
      item["num_errors"] = e.num_errors;
      item["last_error"] = e.last_error;
      item["processing_time"] = e.processing_ns;
      item["average_processing_time"] =
          e.num_requests == 0 ? std::int64_t{0}
                              : e.processing_ns / static_cast<std::int64_t>(e.num_requests);
      list.push_back(std::move(item));
    }
    out["endpoints"] = std::move(list);
    return dump(out);
  }

  [[nodiscard]] std::string answer(Verb verb) const {
    switch (verb) {
      case Verb::ping:
        return ping();
      case Verb::info:
        return info();
      case Verb::stats:
        return stats();
    }
    return {};
  }
};

Result<std::unique_ptr<ServiceResponder>> ServiceResponder::start(
    Connection& connection, ServiceIdentity identity, std::vector<ServiceEndpoint> endpoints,
    std::map<std::string, std::string> metadata) {
  if (!is_basic_name(identity.name)) {
    return make_error(errc::config, "service name \"" + identity.name +
                                        "\" is not valid for NATS service discovery: use only "
                                        "letters, digits, '-' and '_'");
  }
  if (!subjects::is_valid_token(identity.id)) {
    return make_error(errc::config, "service id \"" + identity.id +
                                        "\" is not a valid NATS subject token: it must be "
                                        "non-empty, without '.', '*', '>' or spaces");
  }
  if (!is_semver(identity.version)) {
    return make_error(errc::config, "service version \"" + identity.version +
                                        "\" is not a semantic version (like 1.2.3)");
  }
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const auto& e = endpoints[i];
    if (!is_basic_name(e.name)) {
      return make_error(errc::config, "endpoint name \"" + e.name + "\" of service " +
                                          identity.name +
                                          " is not valid: use only letters, digits, '-' and '_'");
    }
    if (e.subject.empty()) {
      return make_error(errc::config,
                        "endpoint " + e.name + " of service " + identity.name + " has no subject");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (endpoints[j].name == e.name) {
        return make_error(errc::config, "endpoint name \"" + e.name +
                                            "\" appears twice in service " + identity.name);
      }
    }
  }

  auto state = std::make_shared<State>();
  state->identity = std::move(identity);
  state->metadata = std::move(metadata);
  state->started = std::chrono::system_clock::now();
  for (auto& e : endpoints) state->endpoints.push_back(State::Endpoint{std::move(e), 0, 0, {}, 0});

  std::unique_ptr<ServiceResponder> responder(new ServiceResponder());
  responder->state_ = state;

  const std::string& name = state->identity.name;
  const std::string& id = state->identity.id;
  const std::array<std::pair<Verb, std::string_view>, 3> verbs{
      {{Verb::ping, "PING"}, {Verb::info, "INFO"}, {Verb::stats, "STATS"}}};
  Connection* conn = &connection;  // outlives the responder (see the header)
  for (const auto& [verb, word] : verbs) {
    const std::string base = "$SRV." + std::string(word);
    for (const std::string& subject : {base, base + "." + name, base + "." + name + "." + id}) {
      auto handler = [state, conn, v = verb](Incoming msg) {
        // A request without a reply subject is a stray publish: nothing to answer.
        if (msg.reply().empty()) return;
        try {
          Outgoing out;
          out.data = state->answer(v);
          // A failed publish means the connection is down; the asker times out
          // and asks again, there is nobody else to tell.
          (void)conn->publish(msg.reply(), out);
        } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): never across nats.c
        }
      };
      auto sub = connection.subscribe(subject, {}, std::move(handler));
      if (!sub) return sub.error();
      responder->subs_.push_back(std::move(*sub));
    }
  }
  // Once start() returns, discovery sees the service: the server has the
  // subscriptions. While disconnected, nats.c replays them on reconnect.
  if (connection.connected()) (void)connection.flush(std::chrono::seconds(2));
  return responder;
}

ServiceResponder::~ServiceResponder() {
  // Stop answering before the state goes; handlers own a share of it anyway.
  for (auto& sub : subs_) sub.unsubscribe();
}

void ServiceResponder::set_metadata(std::map<std::string, std::string> metadata) {
  std::lock_guard lock(state_->mutex);
  state_->metadata = std::move(metadata);
}

void ServiceResponder::record(std::string_view endpoint, std::chrono::nanoseconds took,
                              std::string_view error) {
  std::lock_guard lock(state_->mutex);
  for (auto& e : state_->endpoints) {
    if (e.def.name != endpoint) continue;
    ++e.num_requests;
    e.processing_ns += std::max<std::int64_t>(0, took.count());
    if (!error.empty()) {
      ++e.num_errors;
      e.last_error = std::string(error);
    }
    return;
  }
}

std::string ServiceResponder::ping_json() const { return state_->ping(); }
std::string ServiceResponder::info_json() const { return state_->info(); }
std::string ServiceResponder::stats_json() const { return state_->stats(); }

}  // namespace agency
