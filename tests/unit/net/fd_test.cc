// Unit tests for lib/net/fd.h: an owned descriptor is closed exactly once, by its last owner;
// moves transfer ownership; release() gives it up without closing. Descriptors come from pipe2();
// "still open" is asked with fcntl(F_GETFD), and descriptor numbers are pinned with dup2() so a
// second close of a recycled number would be caught.
#include "net/fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <type_traits>
#include <utility>

namespace teredo::net {
namespace {

static_assert(!std::is_copy_constructible_v<Fd>, "Fd is move-only");
static_assert(!std::is_copy_assignable_v<Fd>, "Fd is move-only");
static_assert(std::is_nothrow_move_constructible_v<Fd>);
static_assert(std::is_nothrow_move_assignable_v<Fd>);

bool isOpen(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

bool isClosed(int fd) {
  errno = 0;
  return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

// Both ends of a fresh pipe; closed by the test unless handed to an Fd.
struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    r = fds[0];
    w = fds[1];
  }
};

// Makes `fd` (a number an Fd already closed) open again, on a different file. If anything closed
// `fd` a second time, isOpen(fd) would turn false.
void reopenAt(int fd) {
  Pipe p;  // the kernel hands out the lowest free number, which may well be `fd` itself
  if (p.r != fd && p.w != fd) {
    ASSERT_EQ(::dup2(p.r, fd), fd);
  }
  if (p.r != fd) {
    ::close(p.r);
  }
  if (p.w != fd) {
    ::close(p.w);
  }
  ASSERT_TRUE(isOpen(fd));
}

TEST(Fd, DefaultIsInvalid) {
  Fd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(fd.get(), -1);
  EXPECT_EQ(fd.release(), -1);
  fd.reset();  // no-op on an empty Fd
  EXPECT_FALSE(fd.valid());
}

TEST(Fd, NegativeIsInvalid) {
  Fd fd(-1);
  EXPECT_FALSE(fd.valid());
}

TEST(Fd, OwnsAndClosesOnDestruction) {
  Pipe p;
  {
    Fd fd(p.r);
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(fd.get(), p.r);
    EXPECT_TRUE(isOpen(p.r));
  }
  EXPECT_TRUE(isClosed(p.r));
  ::close(p.w);
}

TEST(Fd, ClosesExactlyOnce) {
  Pipe p;
  const int n = p.r;
  {
    Fd fd(n);
    fd.reset();  // closes n
    EXPECT_FALSE(fd.valid());
    EXPECT_TRUE(isClosed(n));
    reopenAt(n);  // n now names another file
  }               // the destructor must not close n again
  EXPECT_TRUE(isOpen(n));
  ::close(n);
  ::close(p.w);
}

TEST(Fd, MoveConstructionTransfersOwnership) {
  Pipe p;
  Fd a(p.r);
  Fd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is defined
  EXPECT_EQ(a.get(), -1);   // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(b.valid());
  EXPECT_EQ(b.get(), p.r);
  EXPECT_TRUE(isOpen(p.r));
  ::close(p.w);
}

TEST(Fd, MovedFromDestructionDoesNotClose) {
  Pipe p;
  Fd b;
  {
    Fd a(p.r);
    b = std::move(a);
  }  // `a` dies moved-from
  EXPECT_TRUE(isOpen(p.r));
  EXPECT_EQ(b.get(), p.r);
  b.reset();
  EXPECT_TRUE(isClosed(p.r));
  ::close(p.w);
}

TEST(Fd, MoveAssignmentClosesTheTargetsOldDescriptor) {
  Pipe p;
  Fd target(p.r);
  Fd source(p.w);
  target = std::move(source);
  EXPECT_TRUE(isClosed(p.r)) << "the descriptor target held before";
  EXPECT_TRUE(isOpen(p.w));
  EXPECT_EQ(target.get(), p.w);
  EXPECT_FALSE(source.valid());  // NOLINT(bugprone-use-after-move)
}

TEST(Fd, MoveAssigningAnEmptyFdClosesAndEmpties) {
  Pipe p;
  Fd target(p.r);
  Fd empty;
  target = std::move(empty);
  EXPECT_FALSE(target.valid());
  EXPECT_TRUE(isClosed(p.r));
  ::close(p.w);
}

TEST(Fd, SelfMoveAssignmentKeepsTheDescriptor) {
  Pipe p;
  Fd fd(p.r);
  Fd& alias = fd;
  fd = std::move(alias);
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(fd.get(), p.r);
  EXPECT_TRUE(isOpen(p.r));
  ::close(p.w);
}

TEST(Fd, ReleaseGivesUpOwnershipWithoutClosing) {
  Pipe p;
  int released = -1;
  {
    Fd fd(p.r);
    released = fd.release();
    EXPECT_FALSE(fd.valid());
    EXPECT_EQ(fd.get(), -1);
    EXPECT_EQ(fd.release(), -1) << "a second release has nothing to give";
  }
  EXPECT_EQ(released, p.r);
  EXPECT_TRUE(isOpen(p.r)) << "the caller owns it now";
  ::close(p.r);
  ::close(p.w);
}

TEST(Fd, ResetClosesTheOldAndTakesTheNew) {
  Pipe p;
  const int w = p.w;
  {
    Fd fd(p.r);
    fd.reset(w);
    EXPECT_TRUE(isClosed(p.r));
    EXPECT_EQ(fd.get(), w);
    EXPECT_TRUE(isOpen(w));
  }
  EXPECT_TRUE(isClosed(w)) << "the adopted descriptor is owned too";
}

TEST(Fd, ChainOfMovesClosesOnceAtTheEnd) {
  Pipe p;
  const int n = p.r;
  {
    Fd a(n);
    Fd b(std::move(a));
    Fd c;
    c = std::move(b);
    Fd d(std::move(c));
    EXPECT_EQ(d.get(), n);
    d.reset();
    EXPECT_TRUE(isClosed(n));
    reopenAt(n);
  }  // a, b, c and d all die here; none may close n again
  EXPECT_TRUE(isOpen(n));
  ::close(n);
  ::close(p.w);
}

}  // namespace
}  // namespace teredo::net
