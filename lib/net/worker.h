// Worker-thread helpers: how many CPUs we may run on, and pinning a thread to one of them
// (docs/architecture.md, Threading model: one worker per core, each with its own SO_REUSEPORT
// sockets and tun queue).
//
// Thread-safety: all functions are reentrant. Ownership: no resources.
#pragma once

#include <pthread.h>

#include "base/status.h"

namespace teredo::net {

/// CPUs in this process's affinity mask (what a container or taskset allows), at least 1.
int cpuCount();

/// Pins `thread` to the `index`-th CPU of the process's affinity mask (wrapping around, so
/// index = worker number works on any machine). Errors name the thread's index and the CPU.
Status pinThreadToCpu(pthread_t thread, int index);
/// Pins the calling thread.
Status pinCurrentThreadToCpu(int index);

}  // namespace teredo::net
