// Privilege reduction after setup (for comparison, Miredo's server keeps CAP_NET_RAW, its
// relay CAP_NET_ADMIN + CAP_NET_RAW, and drops everything else).
//
// Uses the capget/capset system calls directly (<linux/capability.h>; libcap is not linked) and
// prctl for the bounding and ambient sets and PR_SET_NO_NEW_PRIVS.
// Capabilities are the kernel's CAP_* numbers (CAP_NET_ADMIN, CAP_NET_RAW, ...).
//
// Thread-safety: capabilities are per *thread* on Linux. Call these in the main thread before
// any other thread is created, so every thread inherits the reduced sets; they are not meant to
// run concurrently with anything.
// Ownership: no resources.
#pragma once

#include <linux/capability.h>

#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"

namespace teredo::net {

/// The calling thread's capability sets as bit masks (bit n = capability n).
struct CapabilitySets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};

StatusOr<CapabilitySets> currentCapabilities();

/// A mask with the bits of `caps` set.
uint64_t capabilityMask(std::span<const int> caps);

/// "CAP_NET_ADMIN" for known numbers, "capability 42" otherwise.
std::string capabilityName(int cap);

/// Keeps exactly `keep` in the permitted and effective sets, clears the inheritable and ambient
/// sets, removes every other capability from the bounding set when the process may (that needs
/// CAP_SETPCAP: root may, a daemon started unprivileged with ambient capabilities may not and keeps
/// the bounding set its launcher chose), and sets PR_SET_NO_NEW_PRIVS. Fails (naming the
/// capability) when one of `keep` is not currently permitted.
Status keepOnlyCapabilities(std::span<const int> keep);

/// prctl(PR_SET_NO_NEW_PRIVS, 1): execve can never grant privileges again.
Status setNoNewPrivs();

}  // namespace teredo::net
