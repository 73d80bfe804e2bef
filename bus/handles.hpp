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

}  // namespace agency::nats
