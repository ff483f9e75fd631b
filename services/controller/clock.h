// The controller's time: the wall-clock TimePoint every component uses, the injectable Clock
// (tests pass a fake one) and the conversion to the protobuf Timestamps of the admin API.
//
// Thread-safety: stateless. Ownership: values only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include <google/protobuf/timestamp.pb.h>

namespace teredo::controller {

using TimePoint = std::chrono::system_clock::time_point;
using Clock = std::function<TimePoint()>;

inline void toTimestamp(TimePoint t, google::protobuf::Timestamp* out) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  out->set_seconds(ns / 1000000000);
  out->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

}  // namespace teredo::controller
