#include "net/caps.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>

namespace teredo::net {
namespace {

/// The highest capability number this kernel knows (CAP_LAST_CAP of the running kernel).
int lastCapability() {
  int last = CAP_LAST_CAP;
  // Newer kernels may know more: probe the bounding set (EINVAL past the last one).
  while (last < 63 && ::prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0) {
    ++last;
  }
  return last;
}

Status capget(CapabilitySets& out) {
  struct __user_cap_header_struct header {
    _LINUX_CAPABILITY_VERSION_3, 0
  };
  std::array<struct __user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
  if (::syscall(SYS_capget, &header, data.data()) != 0) {
    return Status::fromErrno(errno, "capget");
  }
  out.effective = data[0].effective | (uint64_t{data[1].effective} << 32);
  out.permitted = data[0].permitted | (uint64_t{data[1].permitted} << 32);
  out.inheritable = data[0].inheritable | (uint64_t{data[1].inheritable} << 32);
  return {};
}

Status capset(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  struct __user_cap_header_struct header {
    _LINUX_CAPABILITY_VERSION_3, 0
  };
  std::array<struct __user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
  data[0].effective = static_cast<uint32_t>(effective);
  data[1].effective = static_cast<uint32_t>(effective >> 32);
  data[0].permitted = static_cast<uint32_t>(permitted);
  data[1].permitted = static_cast<uint32_t>(permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(inheritable);
  data[1].inheritable = static_cast<uint32_t>(inheritable >> 32);
  if (::syscall(SYS_capset, &header, data.data()) != 0) {
    return Status::fromErrno(errno, "capset");
  }
  return {};
}

/// Checks that `keep` is permitted, then clears the ambient set and drops the rest of the
/// bounding set. Reducing the bounding set needs CAP_SETPCAP: a process started unprivileged with
/// ambient capabilities (systemd's AmbientCapabilities=, setpriv) does not have it, and its
/// launcher already chose the bounding set. It is then left as it is: once the permitted set is
/// reduced and no_new_privs is set, nothing outside `keep` can ever be regained through it.
Status reduceBoundingAndAmbient(uint64_t keepMask) {
  CapabilitySets now;
  if (Status s = capget(now); !s.ok()) {
    return s;
  }
  for (int cap = 0; cap < 64; ++cap) {
    if ((keepMask >> cap & 1) != 0 && (now.permitted >> cap & 1) == 0) {
      return Status::error(StatusCode::kPermissionDenied,
                           "cannot keep " + capabilityName(cap) + ": not permitted");
    }
  }
  // EINVAL: a kernel without ambient capabilities (< 4.3) has nothing to clear.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return Status::fromErrno(errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  if ((now.effective >> CAP_SETPCAP & 1) == 0) {
    return {};
  }
  int last = lastCapability();
  for (int cap = 0; cap <= last; ++cap) {
    if ((keepMask >> cap & 1) != 0 || ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) {
      continue;
    }
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return Status::fromErrno(errno, "prctl(PR_CAPBSET_DROP, " + capabilityName(cap) + ")");
    }
  }
  return {};
}

}  // namespace

StatusOr<CapabilitySets> currentCapabilities() {
  CapabilitySets sets;
  if (Status s = capget(sets); !s.ok()) {
    return s;
  }
  return sets;
}

uint64_t capabilityMask(std::span<const int> caps) {
  uint64_t mask = 0;
  for (int cap : caps) {
    if (cap >= 0 && cap < 64) {
      mask |= uint64_t{1} << cap;
    }
  }
  return mask;
}

std::string capabilityName(int cap) {
  switch (cap) {
    case CAP_NET_ADMIN:
      return "CAP_NET_ADMIN";
    case CAP_NET_RAW:
      return "CAP_NET_RAW";
    case CAP_NET_BIND_SERVICE:
      return "CAP_NET_BIND_SERVICE";
    case CAP_SETUID:
      return "CAP_SETUID";
    case CAP_SETGID:
      return "CAP_SETGID";
    case CAP_SETPCAP:
      return "CAP_SETPCAP";
    case CAP_SYS_ADMIN:
      return "CAP_SYS_ADMIN";
    default:
      return "capability " + std::to_string(cap);
  }
}

Status setNoNewPrivs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Status::fromErrno(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
  }
  return {};
}

Status keepOnlyCapabilities(std::span<const int> keep) {
  uint64_t mask = capabilityMask(keep);
  if (Status s = reduceBoundingAndAmbient(mask); !s.ok()) {
    return s;
  }
  if (Status s = capset(mask, mask, 0); !s.ok()) {
    return s;
  }
  return setNoNewPrivs();
}

}  // namespace teredo::net
