// EventLoop: a small epoll wrapper for the control side of a service (timers, signals, admin
// sockets, or a worker's sockets when it waits for readiness).
//
// Callbacks are std::function objects registered at setup time; dispatching an event calls one
// without allocating. Timers are timerfds (CLOCK_MONOTONIC), signals arrive through a signalfd,
// and stop() writes an eventfd.
//
// Thread-safety: stop() may be called from any thread and from a signal handler (it only stores
// an atomic and writes an eventfd). Every other method must be called from the thread that runs
// the loop (or before it runs). Callbacks run on the loop thread and may add or remove entries,
// including their own.
// Errors: setup calls return a Status; runOnce() returns a count or a negative errno value, like
// every per-packet call in lib/net (never a positive errno).
// Ownership: the loop owns its epoll, eventfd, timerfds and signalfds. It does not own the
// descriptors given to addFd(): the caller closes them, after removeFd().
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "net/fd.h"

namespace teredo::net {

class EventLoop {
 public:
  using FdCallback = std::function<void(uint32_t events)>;
  using TimerCallback = std::function<void()>;
  using SignalCallback = std::function<void(int signo)>;

  /// Events handled per epoll_wait.
  static constexpr int kMaxEvents = 64;

  static StatusOr<std::unique_ptr<EventLoop>> create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Watches `fd` for `events` (EPOLLIN, EPOLLOUT, ...; level-triggered unless EPOLLET is given).
  Status addFd(int fd, uint32_t events, FdCallback callback);
  Status modifyFd(int fd, uint32_t events);
  /// Stops watching `fd`. Safe from inside any callback, including fd's own.
  Status removeFd(int fd);

  /// A periodic timer: first fires after `firstDelay` (default: one period), then every
  /// `period`. If the loop falls behind, the callback runs once per wake-up, not once per missed
  /// expiry. Returns an id for cancelTimer().
  StatusOr<int> addTimer(std::chrono::milliseconds period, TimerCallback callback,
                         std::chrono::milliseconds firstDelay = std::chrono::milliseconds(-1));
  Status cancelTimer(int id);

  /// Receives `signals` (e.g. SIGHUP, SIGTERM, SIGINT) through a signalfd. Blocks them in the
  /// calling thread; they must also be blocked in every other thread, or the kernel may deliver
  /// them there instead: call blockSignals() in main() before starting threads.
  Status addSignals(std::span<const int> signals, SignalCallback callback);

  /// Waits at most `timeoutMs` (-1: forever) and dispatches what is ready. Returns the number of
  /// callbacks run, or -errno (EINTR is reported as 0).
  int runOnce(int timeoutMs);
  /// Dispatches until stop(). Returns an error only when epoll_wait fails.
  Status run();
  /// Makes run() return after the current dispatch round. Thread-safe, async-signal-safe.
  void stop();

 private:
  struct Entry {
    int fd = -1;
    Fd owned;  ///< timerfd / signalfd / eventfd owned by the loop; empty for addFd()
    std::function<void(uint32_t)> callback;
    bool removed = false;
  };

  EventLoop() = default;
  Status addEntry(std::unique_ptr<Entry> entry, uint32_t events);
  void drainWake();

  Fd wake_;  ///< eventfd written by stop(); declared first so it is closed last
  Fd epoll_;
  std::atomic<bool> stopRequested_{false};
  std::unordered_map<int, std::unique_ptr<Entry>> entries_;
  /// Entries removed during a dispatch round, freed after it.
  std::vector<std::unique_ptr<Entry>> graveyard_;
  struct epoll_event events_[kMaxEvents];
};

/// Blocks `signals` in the calling thread (new threads inherit the mask). Call in main() before
/// creating threads when an EventLoop will handle them with addSignals().
Status blockSignals(std::span<const int> signals);

}  // namespace teredo::net
