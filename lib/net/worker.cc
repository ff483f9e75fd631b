#include "net/worker.h"

#include <sched.h>
#include <unistd.h>

#include <string>

namespace teredo::net {

int cpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) {
      return n;
    }
  }
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

Status pinThreadToCpu(pthread_t thread, int index) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    return Status::fromErrno(errno, "sched_getaffinity");
  }
  int count = CPU_COUNT(&allowed);
  if (count == 0 || index < 0) {
    return Status::error(StatusCode::kInvalidArgument,
                         "pin worker " + std::to_string(index) + ": no CPU to pick");
  }
  int wanted = index % count;
  int cpu = -1;
  for (int c = 0, seen = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed) && seen++ == wanted) {
      cpu = c;
      break;
    }
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  int err = ::pthread_setaffinity_np(thread, sizeof(one), &one);
  if (err != 0) {
    return Status::fromErrno(
        err, "pin worker " + std::to_string(index) + " to CPU " + std::to_string(cpu));
  }
  return {};
}

Status pinCurrentThreadToCpu(int index) {
  return pinThreadToCpu(::pthread_self(), index);
}

}  // namespace teredo::net
