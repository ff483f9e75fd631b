// Whether an anycast agent announces its prefixes right now: the decision, pure.
//
// An anycast relay attracts traffic only while it announces (a route in a kernel table that the
// host's BGP speaker exports). So it announces only while it can serve: enabled, not stopping,
// not drained, every worker alive, and ready (tun up, sockets bound, config applied). Any other
// state withdraws, and says why; the first failing condition in that order is the reason.
//
// Thread-safety: pure functions. Ownership: values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace teredo::agent {

/// Why the announcement is what it is. Stable labels: the `reason` label of
/// teredo_relay_announce_transitions_total.
#define TEREDO_ANNOUNCE_REASONS(X)                                            \
  X(Ready, "ready")                  /* announcing: everything below holds */ \
  X(Disabled, "disabled")            /* relay.announce.enabled is false */    \
  X(Stopping, "stopping")            /* SIGTERM: withdraw, then the grace */  \
  X(Draining, "draining")            /* the controller drained the agent */   \
  X(WorkerStalled, "worker_stalled") /* a worker's heartbeat is stale */      \
  X(NotReady, "not_ready")           /* a readiness condition is false */

enum class AnnounceReason : uint8_t {
#define TEREDO_ANNOUNCE_ENUM(name, label) name,
  TEREDO_ANNOUNCE_REASONS(TEREDO_ANNOUNCE_ENUM)
#undef TEREDO_ANNOUNCE_ENUM
};

inline constexpr size_t kAnnounceReasonCount = 0
#define TEREDO_ANNOUNCE_COUNT(name, label) +1
    TEREDO_ANNOUNCE_REASONS(TEREDO_ANNOUNCE_COUNT)
#undef TEREDO_ANNOUNCE_COUNT
    ;

constexpr std::string_view announceReasonLabel(AnnounceReason r) {
  switch (r) {
#define TEREDO_ANNOUNCE_LABEL(name, label) \
  case AnnounceReason::name:               \
    return label;
    TEREDO_ANNOUNCE_REASONS(TEREDO_ANNOUNCE_LABEL)
#undef TEREDO_ANNOUNCE_LABEL
  }
  return "unknown";
}

/// What the agent knows about itself, sampled once a second and on every drain or stop.
struct AnnounceInputs {
  bool enabled = false;
  bool stopping = false;
  bool draining = false;
  bool workersFresh = false;
  bool ready = false;  ///< every readiness condition (draining aside)
};

struct AnnounceDecision {
  bool announce = false;
  AnnounceReason reason = AnnounceReason::Disabled;
  friend bool operator==(const AnnounceDecision&, const AnnounceDecision&) = default;
};

constexpr AnnounceDecision decideAnnounce(const AnnounceInputs& in) {
  if (!in.enabled) {
    return {false, AnnounceReason::Disabled};
  }
  if (in.stopping) {
    return {false, AnnounceReason::Stopping};
  }
  if (in.draining) {
    return {false, AnnounceReason::Draining};
  }
  if (!in.workersFresh) {
    return {false, AnnounceReason::WorkerStalled};
  }
  if (!in.ready) {
    return {false, AnnounceReason::NotReady};
  }
  return {true, AnnounceReason::Ready};
}

}  // namespace teredo::agent
