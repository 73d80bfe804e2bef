#include "bus/kv.hpp"

#include <string>

namespace agency {
namespace {

KvEntry to_entry(kvEntry* e) {
  KvEntry out;
  out.key = kvEntry_Key(e);
  const void* value = kvEntry_Value(e);
  int len = kvEntry_ValueLen(e);
  if (value != nullptr && len > 0) {
    out.value.assign(static_cast<const char*>(value), static_cast<std::size_t>(len));
  }
  out.revision = kvEntry_Revision(e);
  kvOperation op = kvEntry_Operation(e);
  out.deleted = op == kvOp_Delete || op == kvOp_Purge;
  return out;
}

Error kv_error(natsStatus s, std::string_view doing, std::string_view bucket,
               std::string_view key) {
  return nats_error(s, std::string(doing) + " " + std::string(bucket) + "/" + std::string(key));
}

// nats.c reports a compare-and-set conflict as a generic error whose text
// carries JetStream's "wrong last sequence" (error 10071).
bool is_wrong_last_sequence(natsStatus s) {
  if (s == NATS_OK) return false;
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text == nullptr) return false;
  std::string_view t(text);
  return t.find("wrong last sequence") != std::string_view::npos ||
         t.find("10071") != std::string_view::npos;
}

}  // namespace

Result<KeyValue> KeyValue::open(const Connection& connection, std::string_view bucket) {
  KeyValue out;
  out.bucket_ = std::string(bucket);
  kvStore* raw = nullptr;
  natsStatus s = js_KeyValue(&raw, connection.js(), out.bucket_.c_str());
  if (s != NATS_OK) {
    if (s == NATS_NOT_FOUND) {
      return make_error(errc::not_found,
                        "no KV bucket " + out.bucket_ + ": run `agency init` to provision it");
    }
    return nats_error(s, "opening KV bucket " + out.bucket_);
  }
  out.kv_.reset(raw);
  return out;
}

Result<KvEntry> KeyValue::get(std::string_view key) const {
  std::string k(key);
  kvEntry* raw = nullptr;
  natsStatus s = kvStore_Get(&raw, kv_.get(), k.c_str());
  if (s == NATS_NOT_FOUND) return make_error(errc::not_found, "no key " + k + " in " + bucket_);
  if (s != NATS_OK) return kv_error(s, "reading", bucket_, k);
  nats::KvEntryPtr entry(raw);
  return to_entry(entry.get());
}

Result<std::uint64_t> KeyValue::put(std::string_view key, std::string_view value) {
  std::string k(key);
  std::uint64_t rev = 0;
  natsStatus s =
      kvStore_Put(&rev, kv_.get(), k.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) return kv_error(s, "writing", bucket_, k);
  return rev;
}

Result<std::uint64_t> KeyValue::create(std::string_view key, std::string_view value) {
  std::string k(key);
  std::uint64_t rev = 0;
  natsStatus s =
      kvStore_Create(&rev, kv_.get(), k.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) {
    if (is_wrong_last_sequence(s)) {
      return make_error(errc::already_exists, "key " + k + " already exists in " + bucket_);
    }
    return kv_error(s, "creating", bucket_, k);
  }
  return rev;
}

Result<std::uint64_t> KeyValue::update(std::string_view key, std::string_view value,
                                       std::uint64_t last_revision) {
  std::string k(key);
  std::uint64_t rev = 0;
  natsStatus s = kvStore_Update(&rev, kv_.get(), k.c_str(), value.data(),
                                static_cast<int>(value.size()), last_revision);
  if (s != NATS_OK) {
    if (is_wrong_last_sequence(s)) {
      return make_error(errc::wrong_revision, "key " + k + " in " + bucket_ +
                                                  " changed since revision " +
                                                  std::to_string(last_revision));
    }
    return kv_error(s, "updating", bucket_, k);
  }
  return rev;
}

Result<void> KeyValue::remove(std::string_view key) {
  std::string k(key);
  natsStatus s = kvStore_Delete(kv_.get(), k.c_str());
  if (s != NATS_OK) return kv_error(s, "deleting", bucket_, k);
  return {};
}

Result<std::vector<std::string>> KeyValue::keys() const {
  kvKeysList list{};
  natsStatus s = kvStore_Keys(&list, kv_.get(), nullptr);
  if (s == NATS_NOT_FOUND) return std::vector<std::string>{};
  if (s != NATS_OK) return nats_error(s, "listing keys of " + bucket_);
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) out.emplace_back(list.Keys[i]);
  kvKeysList_Destroy(&list);
  return out;
}

Result<KvWatcher> KeyValue::watch(std::string_view key_pattern) const {
  std::string pattern(key_pattern);
  kvWatcher* raw = nullptr;
  natsStatus s = kvStore_Watch(&raw, kv_.get(), pattern.c_str(), nullptr);
  if (s != NATS_OK) return nats_error(s, "watching " + bucket_ + "/" + pattern);
  KvWatcher w;
  w.w_.reset(raw);
  return w;
}

Result<std::optional<KvEntry>> KvWatcher::next(std::chrono::milliseconds timeout) {
  kvEntry* raw = nullptr;
  natsStatus s = kvWatcher_Next(&raw, w_.get(), timeout.count());
  if (s == NATS_TIMEOUT) return std::optional<KvEntry>{};
  if (s != NATS_OK) return nats_error(s, "reading the next KV change");
  if (raw == nullptr) return std::optional<KvEntry>{KvEntry{}};  // initial values done
  nats::KvEntryPtr entry(raw);
  return std::optional<KvEntry>{to_entry(entry.get())};
}

void KvWatcher::stop() {
  if (w_ != nullptr) kvWatcher_Stop(w_.get());
}

}  // namespace agency
