// Wall-clock time as protobuf Timestamps. protobuf 3.21's
// TimeUtil::GetCurrentTime() has whole-second resolution on this platform;
// audit trails and latency figures need better.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>

namespace agency {

inline google::protobuf::Timestamp to_timestamp(std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  google::protobuf::Timestamp out;
  out.set_seconds(ns / 1000000000);
  out.set_nanos(static_cast<int>(ns % 1000000000));
  return out;
}

inline std::chrono::system_clock::time_point to_time_point(const google::protobuf::Timestamp& t) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos())));
}

inline google::protobuf::Timestamp now_timestamp() {
  return to_timestamp(std::chrono::system_clock::now());
}

}  // namespace agency
