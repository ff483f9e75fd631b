// EventLoop tests (lib/net/event_loop.h): timers, fds, removal during dispatch, stop from
// another thread, signals. Assertions are about what ran, never about how long it took.
#include "net/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <thread>

#include "netns_helper.h"

namespace teredo::net {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<EventLoop> makeLoop() {
  StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::create();
  EXPECT_TRUE(loop.ok()) << loop.status().message();
  return std::move(loop).value();
}

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0); }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int reader() const { return fds[0]; }
  void poke() const { EXPECT_EQ(::write(fds[1], "x", 1), 1); }
};

TEST(EventLoop, PeriodicTimerRunsUntilStopped) {
  auto loop = makeLoop();
  int fired = 0;
  StatusOr<int> id = loop->addTimer(milliseconds(1), [&] {
    if (++fired == 3) {
      loop->stop();
    }
  });
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(loop->run().ok());
  EXPECT_EQ(fired, 3);
  EXPECT_TRUE(loop->cancelTimer(*id).ok());
  EXPECT_EQ(loop->runOnce(20), 0) << "a cancelled timer never fires";
  EXPECT_FALSE(loop->cancelTimer(*id).ok());
}

TEST(EventLoop, ImmediateTimerAndInvalidPeriod) {
  auto loop = makeLoop();
  int fired = 0;
  ASSERT_TRUE(loop->addTimer(
                      milliseconds(60000), [&] { ++fired; }, milliseconds(0))
                  .ok());
  while (fired == 0) {
    ASSERT_GE(loop->runOnce(5000), 0);
  }
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(loop->addTimer(milliseconds(0), [] {}).ok());
}

TEST(EventLoop, FdCallbackAndRemovalInsideACallback) {
  auto loop = makeLoop();
  Pipe a;
  Pipe b;
  int calls = 0;
  auto callback = [&](int self, int other) {
    return [&, self, other](uint32_t events) {
      EXPECT_NE(events & EPOLLIN, 0u);
      ++calls;
      // Remove both: the other one's pending event in this round must not run.
      EXPECT_TRUE(loop->removeFd(self).ok());
      EXPECT_TRUE(loop->removeFd(other).ok());
    };
  };
  ASSERT_TRUE(loop->addFd(a.reader(), EPOLLIN, callback(a.reader(), b.reader())).ok());
  ASSERT_TRUE(loop->addFd(b.reader(), EPOLLIN, callback(b.reader(), a.reader())).ok());
  EXPECT_FALSE(loop->addFd(a.reader(), EPOLLIN, [](uint32_t) {}).ok()) << "already watched";
  a.poke();
  b.poke();
  EXPECT_EQ(loop->runOnce(5000), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(loop->runOnce(0), 0);
  EXPECT_FALSE(loop->removeFd(a.reader()).ok());
}

TEST(EventLoop, StopFromAnotherThread) {
  auto loop = makeLoop();
  Pipe started;
  bool ran = false;
  ASSERT_TRUE(loop->addFd(started.reader(), EPOLLIN,
                          [&](uint32_t) {
                            char c;
                            EXPECT_EQ(::read(started.reader(), &c, 1), 1);
                            ran = true;
                          })
                  .ok());
  std::thread other([&] {
    started.poke();
    loop->stop();
  });
  EXPECT_TRUE(loop->run().ok());
  other.join();
  // stop() may have been seen before the pipe event; run() must still have returned.
  loop->stop();
  EXPECT_TRUE(loop->run().ok()) << "stop() before run() makes run() return at once";
  (void)ran;
}

TEST(EventLoop, SignalsArriveThroughSignalfd) {
  // Signal masks are process state: do it in a child.
  testing::runInChild(
      [] {
        auto loop = makeLoop();
        std::array<int, 3> signals = {SIGHUP, SIGTERM, SIGINT};
        ASSERT_TRUE(blockSignals(signals).ok());
        std::vector<int> got;
        ASSERT_TRUE(loop->addSignals(signals,
                                     [&](int signo) {
                                       got.push_back(signo);
                                       if (signo == SIGTERM) {
                                         loop->stop();
                                       }
                                     })
                        .ok());
        ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
        ASSERT_EQ(loop->runOnce(5000), 1);
        ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
        EXPECT_TRUE(loop->run().ok());
        EXPECT_EQ(got, (std::vector<int>{SIGHUP, SIGTERM}));
      },
      false);
}

}  // namespace
}  // namespace teredo::net
