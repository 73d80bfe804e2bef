// A JetStream key-value bucket: get, put, compare-and-set update, watch.
//
// Thread: safe from any thread. Owner: whoever opened it; must not outlive
// its Connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/connection.hpp"
#include "bus/handles.hpp"
#include "bus/result.hpp"

namespace agency {

struct KvEntry {
  std::string key;
  std::string value;
  std::uint64_t revision = 0;
  bool deleted = false;  // a delete or purge marker (watch only)
};

class KvWatcher {
 public:
  // Next change, or nullopt when nothing changed within timeout. Right
  // after creation the watcher first yields the current values, then an
  // entry with an empty key marking "initial values done".
  Result<std::optional<KvEntry>> next(std::chrono::milliseconds timeout);
  void stop();

 private:
  friend class KeyValue;
  nats::KvWatcherPtr w_;
};

class KeyValue {
 public:
  static Result<KeyValue> open(const Connection& connection, std::string_view bucket);

  Result<KvEntry> get(std::string_view key) const;  // errc::not_found when absent or deleted
  Result<std::uint64_t> put(std::string_view key, std::string_view value);
  // Only if the key does not exist: errc::already_exists otherwise.
  Result<std::uint64_t> create(std::string_view key, std::string_view value);
  // Only if the key is still at last_revision: errc::wrong_revision otherwise.
  Result<std::uint64_t> update(std::string_view key, std::string_view value,
                               std::uint64_t last_revision);
  Result<void> remove(std::string_view key);
  Result<std::vector<std::string>> keys() const;                // empty bucket: empty vector
  Result<KvWatcher> watch(std::string_view key_pattern) const;  // ">" for all

  [[nodiscard]] const std::string& bucket() const { return bucket_; }

 private:
  std::string bucket_;
  nats::KvStorePtr kv_;
};

}  // namespace agency
