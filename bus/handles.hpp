// RAII owners for every nats.c handle: unique_ptr with the library's destroy
// function as deleter, so no code path forgets one.
#pragma once

#include <nats/nats.h>

#include <memory>

namespace agency::nats {

template <class T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept {
    if (p != nullptr) Destroy(p);
  }
};

template <class T, void (*Destroy)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Destroy>>;

using OptionsPtr = Handle<natsOptions, natsOptions_Destroy>;
using ConnectionPtr = Handle<natsConnection, natsConnection_Destroy>;
using SubscriptionPtr = Handle<natsSubscription, natsSubscription_Destroy>;
using MsgPtr = Handle<natsMsg, natsMsg_Destroy>;
using JsCtxPtr = Handle<jsCtx, jsCtx_Destroy>;
using KvStorePtr = Handle<kvStore, kvStore_Destroy>;
using KvEntryPtr = Handle<kvEntry, kvEntry_Destroy>;
using KvWatcherPtr = Handle<kvWatcher, kvWatcher_Destroy>;
using StreamInfoPtr = Handle<jsStreamInfo, jsStreamInfo_Destroy>;
using ConsumerInfoPtr = Handle<jsConsumerInfo, jsConsumerInfo_Destroy>;
using PubAckPtr = Handle<jsPubAck, jsPubAck_Destroy>;
using MsgMetaDataPtr = Handle<jsMsgMetaData, jsMsgMetaData_Destroy>;
using KvStatusPtr = Handle<kvStatus, kvStatus_Destroy>;
using StreamInfoListPtr = Handle<jsStreamInfoList, jsStreamInfoList_Destroy>;

// Lets a handle take what a nats.c call writes through its T** argument:
// js_AddStream(nats::out(info), ...). The handle owns the result once the
// call's full expression ends, whatever the call returned.
template <class Ptr>
class Out {
 public:
  explicit Out(Ptr& owner) : owner_(owner) {}
  ~Out() { owner_.reset(raw_); }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;
  // Implicit: it stands in for the T** argument.
  operator typename Ptr::pointer *() { return &raw_; }

 private:
  Ptr& owner_;
  typename Ptr::pointer raw_ = nullptr;
};
template <class Ptr>
Out<Ptr> out(Ptr& owner) {
  return Out<Ptr>(owner);
}

}  // namespace agency::nats
