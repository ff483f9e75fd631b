#include "net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <string>

namespace teredo::net {
namespace {

struct timespec toTimespec(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000), static_cast<long>((ms.count() % 1000) * 1000000)};
}

sigset_t toSet(std::span<const int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) {
    sigaddset(&set, s);
  }
  return set;
}

}  // namespace

Status blockSignals(std::span<const int> signals) {
  sigset_t set = toSet(signals);
  int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0) {
    return Status::fromErrno(err, "pthread_sigmask(SIG_BLOCK)");
  }
  return {};
}

StatusOr<std::unique_ptr<EventLoop>> EventLoop::create() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  loop->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!loop->epoll_.valid()) {
    return Status::fromErrno(errno, "epoll_create1");
  }
  loop->wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!loop->wake_.valid()) {
    return Status::fromErrno(errno, "eventfd");
  }
  auto entry = std::make_unique<Entry>();
  entry->fd = loop->wake_.get();
  EventLoop* self = loop.get();
  entry->callback = [self](uint32_t) {
    self->drainWake();
    self->stopRequested_.store(true, std::memory_order_relaxed);
  };
  if (Status s = loop->addEntry(std::move(entry), EPOLLIN); !s.ok()) {
    return s;
  }
  return loop;
}

EventLoop::~EventLoop() = default;

void EventLoop::drainWake() {
  uint64_t value;
  [[maybe_unused]] ssize_t n = ::read(wake_.get(), &value, sizeof(value));
}

Status EventLoop::addEntry(std::unique_ptr<Entry> entry, uint32_t events) {
  int fd = entry->fd;
  if (entries_.count(fd) != 0) {
    return Status::error(StatusCode::kAlreadyExists,
                         "epoll add fd " + std::to_string(fd) + ": already watched");
  }
  struct epoll_event ev {};
  ev.events = events;
  ev.data.ptr = entry.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Status::fromErrno(errno, "epoll add fd " + std::to_string(fd));
  }
  entries_.emplace(fd, std::move(entry));
  return {};
}

Status EventLoop::addFd(int fd, uint32_t events, FdCallback callback) {
  auto entry = std::make_unique<Entry>();
  entry->fd = fd;
  entry->callback = std::move(callback);
  return addEntry(std::move(entry), events);
}

Status EventLoop::modifyFd(int fd, uint32_t events) {
  auto it = entries_.find(fd);
  if (it == entries_.end()) {
    return Status::error(StatusCode::kNotFound,
                         "epoll modify fd " + std::to_string(fd) + ": not watched");
  }
  struct epoll_event ev {};
  ev.events = events;
  ev.data.ptr = it->second.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    return Status::fromErrno(errno, "epoll modify fd " + std::to_string(fd));
  }
  return {};
}

Status EventLoop::removeFd(int fd) {
  auto it = entries_.find(fd);
  if (it == entries_.end() || fd == wake_.get()) {
    return Status::error(StatusCode::kNotFound,
                         "epoll remove fd " + std::to_string(fd) + ": not watched");
  }
  Status s;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) {
    s = Status::fromErrno(errno, "epoll remove fd " + std::to_string(fd));
  }
  it->second->removed = true;
  // Events for this entry may still be pending in the current round: keep it alive until then.
  graveyard_.push_back(std::move(it->second));
  entries_.erase(it);
  return s;
}

StatusOr<int> EventLoop::addTimer(std::chrono::milliseconds period, TimerCallback callback,
                                  std::chrono::milliseconds firstDelay) {
  if (period.count() <= 0) {
    return Status::error(StatusCode::kInvalidArgument, "timer period must be positive");
  }
  Fd fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!fd.valid()) {
    return Status::fromErrno(errno, "timerfd_create");
  }
  struct itimerspec spec {};
  spec.it_interval = toTimespec(period);
  if (firstDelay.count() == 0) {
    spec.it_value.tv_nsec = 1;  // "now": an all-zero it_value would disarm the timer
  } else {
    spec.it_value = toTimespec(firstDelay.count() > 0 ? firstDelay : period);
  }
  if (::timerfd_settime(fd.get(), 0, &spec, nullptr) != 0) {
    return Status::fromErrno(errno, "timerfd_settime");
  }
  auto entry = std::make_unique<Entry>();
  int id = fd.get();
  entry->fd = id;
  entry->callback = [id, cb = std::move(callback)](uint32_t) {
    uint64_t expirations = 0;
    if (::read(id, &expirations, sizeof(expirations)) == sizeof(expirations) && expirations > 0) {
      cb();
    }
  };
  entry->owned = std::move(fd);
  if (Status s = addEntry(std::move(entry), EPOLLIN); !s.ok()) {
    return s;
  }
  return id;
}

Status EventLoop::cancelTimer(int id) {
  return removeFd(id);
}

Status EventLoop::addSignals(std::span<const int> signals, SignalCallback callback) {
  sigset_t set = toSet(signals);
  if (Status s = blockSignals(signals); !s.ok()) {
    return s;
  }
  Fd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd.valid()) {
    return Status::fromErrno(errno, "signalfd");
  }
  auto entry = std::make_unique<Entry>();
  int sfd = fd.get();
  entry->fd = sfd;
  entry->callback = [sfd, cb = std::move(callback)](uint32_t) {
    struct signalfd_siginfo info;
    // Bounded by the number of pending signals (standard signals do not queue).
    while (::read(sfd, &info, sizeof(info)) == sizeof(info)) {
      cb(static_cast<int>(info.ssi_signo));
    }
  };
  entry->owned = std::move(fd);
  return addEntry(std::move(entry), EPOLLIN);
}

int EventLoop::runOnce(int timeoutMs) {
  int n = ::epoll_wait(epoll_.get(), events_, kMaxEvents, timeoutMs);
  if (n < 0) {
    return errno == EINTR ? 0 : -errno;
  }
  int dispatched = 0;
  for (int i = 0; i < n; ++i) {
    auto* entry = static_cast<Entry*>(events_[i].data.ptr);
    if (entry->removed) {
      continue;
    }
    entry->callback(events_[i].events);
    ++dispatched;
  }
  graveyard_.clear();
  return dispatched;
}

Status EventLoop::run() {
  while (!stopRequested_.load(std::memory_order_relaxed)) {
    int n = runOnce(-1);
    if (n < 0) {
      return Status::fromErrno(-n, "epoll_wait");
    }
  }
  stopRequested_.store(false, std::memory_order_relaxed);
  drainWake();  // a second stop() must not end the next run() early
  return {};
}

void EventLoop::stop() {
  stopRequested_.store(true, std::memory_order_relaxed);
  uint64_t one = 1;
  // Async-signal-safe; a full counter (EAGAIN) still means the loop will wake.
  [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof(one));
}

}  // namespace teredo::net
