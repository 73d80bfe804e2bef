#include "bus/consumer.hpp"

#include <algorithm>
#include <string>

#include "bus/handles.hpp"
#include "bus/subjects.hpp"

namespace agency {

Result<PullConsumer> PullConsumer::bind(Connection& connection, std::string_view stream,
                                        std::string_view durable, std::string_view filter_subject) {
  PullConsumer out;
  out.stream_ = std::string(stream);
  out.durable_ = std::string(durable);
  std::string filter(filter_subject);
  jsSubOptions opts;
  jsSubOptions_Init(&opts);
  opts.Stream = out.stream_.c_str();
  opts.Consumer = out.durable_.c_str();
  natsSubscription* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_PullSubscribe(&raw, connection.js(), filter.c_str(), out.durable_.c_str(),
                                  nullptr, &opts, &code);
  if (s != NATS_OK) {
    auto err = js_error(s, code, "binding to consumer " + out.stream_ + "/" + out.durable_);
    if (err.code == errc::not_found || code == JSConsumerNotFoundErr) {
      err.code = errc::not_found;
      err.message += ": run `agency init` to provision it";
    }
    return err;
  }
  out.sub_.reset(raw);
  out.js_ = connection.js();
  return out;
}

namespace {

// The messages of a fetched list, owned by the result; the list is freed.
std::vector<Incoming> take_all(natsMsgList& list) {
  std::vector<Incoming> out;
  out.reserve(static_cast<std::size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) {
    out.emplace_back(nats::MsgPtr(list.Msgs[i]));
    list.Msgs[i] = nullptr;  // ownership moved
  }
  natsMsgList_Destroy(&list);
  return out;
}

}  // namespace

Result<std::vector<Incoming>> PullConsumer::fetch(int batch, std::chrono::milliseconds timeout) {
  natsMsgList list{};
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = natsSubscription_Fetch(&list, sub_.get(), batch, timeout.count(), &code);
  if (s == NATS_TIMEOUT) return std::vector<Incoming>{};  // nothing queued
  if (s != NATS_OK) return js_error(s, code, "fetching from " + stream_ + "/" + durable_);
  return take_all(list);
}

Result<std::vector<Incoming>> PullConsumer::fetch_now(int batch, std::chrono::milliseconds wait) {
  jsFetchRequest req;
  jsFetchRequest_Init(&req);
  req.Batch = batch;
  req.NoWait = true;
  // nats-server 2.9 answers a no-wait request that has an expiry as soon as
  // it has a message, else at the expiry; without one it would answer 404 at
  // once, but nats.c waits for the answer only as long as the expiry. So a
  // short one: an empty look costs this much (a message arriving after it
  // is read by the next call, from the subscription's queue).
  req.Expires = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
  natsMsgList list{};
  natsStatus s = natsSubscription_FetchRequest(&list, sub_.get(), &req);
  if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) return std::vector<Incoming>{};  // nothing there
  if (s != NATS_OK) return nats_error(s, "fetching from " + stream_ + "/" + durable_);
  return take_all(list);
}

int PullConsumer::queued() const {
  int msgs = 0;
  if (natsSubscription_GetPending(sub_.get(), &msgs, nullptr) != NATS_OK) return 0;
  return msgs;
}

Result<bool> PullConsumer::may_deliver() const {
  jsConsumerInfo* ci = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  // natsSubscription_GetConsumerInfo does not know a bound durable's name.
  natsStatus s = js_GetConsumerInfo(&ci, js_, stream_.c_str(), durable_.c_str(), nullptr, &code);
  if (s != NATS_OK) return js_error(s, code, "reading consumer " + stream_ + "/" + durable_);
  const bool may = ci->NumPending > 0 || ci->NumAckPending > 0;
  jsConsumerInfo_Destroy(ci);
  return may;
}

Result<std::vector<Incoming>> replay(Connection& connection, std::string_view stream,
                                     std::string_view filter_subject, std::size_t max,
                                     std::uint64_t start_sequence) {
  std::string stream_name(stream);
  std::string filter(filter_subject);
  jsSubOptions opts;
  jsSubOptions_Init(&opts);
  opts.Stream = stream_name.c_str();
  // Pull consumers on nats-server 2.9 need an ack policy; AckAll lets one ack
  // per batch release it.
  opts.Config.AckPolicy = js_AckAll;
  opts.Config.DeliverPolicy = js_DeliverAll;
  if (start_sequence != 0) {
    opts.Config.DeliverPolicy = js_DeliverByStartSequence;
    opts.Config.OptStartSeq = start_sequence;
  }
  opts.Config.InactiveThreshold = 30LL * 1000 * 1000 * 1000;  // server removes it if we vanish
  natsSubscription* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_PullSubscribe(&raw, connection.js(), filter.c_str(), nullptr, nullptr, &opts, &code);
  if (s != NATS_OK) return js_error(s, code, "reading " + stream_name + " on " + filter);
  nats::SubscriptionPtr sub(raw);

  std::vector<Incoming> out;
  // What the stream holds now is what is read. A fetch asks for no more
  // than that: a fetch the server cannot fill waits out its expiry (with
  // no_wait too, once it has sent some), and chasing messages stored while
  // this reads would keep a caller here as long as a flood lasts.
  std::size_t want = max;
  jsConsumerInfo* info = nullptr;
  if (natsSubscription_GetConsumerInfo(&info, sub.get(), nullptr, &code) == NATS_OK) {
    want = static_cast<std::size_t>(std::min<std::uint64_t>(info->NumPending, max));
    jsConsumerInfo_Destroy(info);
  }
  while (out.size() < want) {
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = static_cast<int>(std::min<std::size_t>(256, want - out.size()));
    req.NoWait = true;
    req.Expires = 2LL * 1000 * 1000 * 1000;
    const int asked = req.Batch;  // nats.c changes req.Batch
    natsMsgList list{};
    s = natsSubscription_FetchRequest(&list, sub.get(), &req);
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) break;  // nothing more
    if (s != NATS_OK) return nats_error(s, "reading " + stream_name + " on " + filter);
    int got = list.Count;
    for (int i = 0; i < list.Count; ++i) {
      out.emplace_back(nats::MsgPtr(list.Msgs[i]));
      list.Msgs[i] = nullptr;
    }
    natsMsgList_Destroy(&list);
    if (got == 0) break;
    natsMsg_Ack(out.back().raw(), nullptr);
    if (got < asked) break;  // fewer than the stream held: removed meanwhile
    auto last = out.back().delivery();
    if (last && last->stream_sequence != 0) {
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, out.back().raw()) == NATS_OK) {
        bool done = meta->NumPending == 0;
        jsMsgMetaData_Destroy(meta);
        if (done) break;
      }
    }
  }
  natsSubscription_Unsubscribe(sub.get());
  return out;
}

Result<std::vector<ConsumerState>> list_consumers(Connection& connection, std::string_view stream) {
  std::string stream_name(stream);
  jsConsumerInfoList* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_Consumers(&raw, connection.js(), stream_name.c_str(), nullptr, &code);
  std::vector<ConsumerState> out;
  if (s == NATS_NOT_FOUND) return out;
  if (s != NATS_OK) return js_error(s, code, "listing the consumers of " + stream_name);
  for (int i = 0; i < raw->Count; ++i) {
    const jsConsumerInfo* ci = raw->List[i];
    ConsumerState st;
    st.name = ci->Name != nullptr ? ci->Name : "";
    if (ci->Config != nullptr && ci->Config->FilterSubject != nullptr) {
      st.filter_subject = ci->Config->FilterSubject;
    }
    st.pending = ci->NumPending;
    st.ack_pending = ci->NumAckPending;
    st.redelivered = ci->NumRedelivered;
    st.waiting = ci->NumWaiting;
    out.push_back(std::move(st));
  }
  jsConsumerInfoList_Destroy(raw);
  return out;
}

Result<void> hand_back(Connection& connection, std::string_view ack_subject,
                       std::chrono::milliseconds timeout) {
  if (!ack_subject.starts_with("$JS.ACK.")) {
    return make_error(errc::config, "'" + std::string(ack_subject) + "' is no ack subject");
  }
  // The server answers once the consumer has taken the -NAK, so a reader
  // told afterwards finds the delivery there.
  auto answered = connection.request(ack_subject, Outgoing{"-NAK", {}}, timeout);
  if (!answered) return answered.error();
  announce_hand_back(connection, ack_subject);
  return {};
}

Result<std::vector<SubjectCount>> stream_subjects(Connection& connection, std::string_view stream,
                                                  std::string_view filter) {
  std::string stream_name(stream);
  std::string pattern(filter);
  jsOptions opts;
  jsOptions_Init(&opts);
  opts.Stream.Info.SubjectsFilter = pattern.c_str();
  nats::StreamInfoPtr info;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetStreamInfo(nats::out(info), connection.js(), stream_name.c_str(), &opts, &code);
  if (s != NATS_OK) return js_error(s, code, "reading the subjects of " + stream_name);
  std::vector<SubjectCount> out;
  const jsStreamStateSubjects* subjects = info->State.Subjects;
  if (subjects == nullptr) return out;
  out.reserve(static_cast<std::size_t>(subjects->Count));
  for (int i = 0; i < subjects->Count; ++i) {
    const jsStreamStateSubject& one = subjects->List[i];
    out.push_back({one.Subject != nullptr ? one.Subject : "", one.Msgs});
  }
  return out;
}

void announce_hand_back(Connection& connection, std::string_view ack_subject) {
  const auto consumer = subjects::consumer_of_ack(ack_subject);
  if (consumer.empty()) return;
  (void)connection.publish(subjects::wake(consumer), Outgoing{});
}

}  // namespace agency
