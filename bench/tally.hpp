// Every message a mesh sends during a span, by kind: what the figure
// "server messages per task" is made of (docs/BENCHMARKS.md, issue 18).
// One core subscription to ">" on its own connection; the server's replies
// to requests (_INBOX) are counted apart, as /varz does not count them in.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "bench/harness.hpp"

namespace agency::bench {

// The kind of a message, from its subject (and, for acks, its body).
inline std::string message_kind(std::string_view subject, std::string_view body) {
  auto starts = [&](std::string_view p) { return subject.substr(0, p.size()) == p; };
  if (starts("$JS.API.DIRECT.GET.KV_agency-memory.")) return "kv get (memory)";
  if (starts("$JS.API.CONSUMER.MSG.NEXT.")) return "fetch request";
  if (starts("$JS.ACK.")) {
    if (body.substr(0, 4) == "-NAK") return "nak";
    if (body.substr(0, 4) == "+WPI") return "in-progress ack";
    if (body.substr(0, 5) == "+TERM") return "term";
    return "ack";
  }
  if (starts("$JS.API.DIRECT.GET.") || starts("$JS.API.STREAM.MSG.GET.")) return "kv get";
  if (starts("$JS.API.CONSUMER.INFO.")) return "consumer info";
  if (starts("$JS.API.")) return "other JetStream API";
  if (starts("$JS.EVENT.")) return "advisory (server)";
  if (starts("$KV.agency-tasks.")) return "task record write";
  if (starts("$KV.agency-fleet.")) return "status write";
  if (starts("$KV.")) return "other kv write";
  if (starts("_INBOX.")) return "reply (server, not counted in /varz)";
  if (starts("agency.log.")) return "work log";
  if (starts("agency.brief.")) return "brief";
  if (starts("agency.event.")) return "event";
  if (starts("agency.usage.")) return "usage sample";
  auto dot = subject.find('.', subject.find('.') + 1);
  return std::string(subject.substr(0, dot)) + ".*";
}

// A JetStream delivery reaches a '>' subscription too (the server sends it
// to the fetch's inbox with the stored subject): counted apart, by its reply.
inline std::string message_kind(const Incoming& m) {
  if (m.reply().substr(0, 8) == "$JS.ACK.") return "delivery (server, not counted in /varz)";
  return message_kind(m.subject(), m.data());
}

class Tally {
 public:
  explicit Tally(const std::string& url) : connection_(connect(url, "agency-bench-tally")) {
    auto sub = connection_->subscribe(">", {}, [this](Incoming m) {
      auto kind = message_kind(m);
      std::lock_guard lock(mu_);
      ++counts_[kind];
    });
    if (!sub) throw Failure("tally: " + sub.error().message);
    sub_ = std::move(*sub);
    if (auto r = connection_->flush(5s); !r) throw Failure("tally: " + r.error().message);
  }

  // Counts so far; flushes first, so that what the server sent us before
  // this call has been handled... as far as a round trip can tell.
  std::map<std::string, std::uint64_t> counts() {
    (void)connection_->flush(5s);
    std::lock_guard lock(mu_);
    return counts_;
  }

 private:
  std::unique_ptr<Connection> connection_;
  std::mutex mu_;
  std::map<std::string, std::uint64_t> counts_;
  Subscription sub_;  // last: unsubscribed before the connection closes
};

}  // namespace agency::bench
