// Status and StatusOr (lib/base/status.h).
#include "base/status.h"

#include <cerrno>
#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace teredo {
namespace {

TEST(Status, DefaultIsOk) {
  const Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.toString(), "OK");
}

TEST(Status, FromErrnoKeepsErrnoAndMapsTheCode) {
  struct Row {
    int err;
    StatusCode code;
  };
  const Row rows[] = {
      {EACCES, StatusCode::kPermissionDenied},
      {EPERM, StatusCode::kPermissionDenied},
      {ENOENT, StatusCode::kNotFound},
      {ESRCH, StatusCode::kNotFound},
      {EADDRINUSE, StatusCode::kAlreadyExists},
      {EINVAL, StatusCode::kInvalidArgument},
      {ENOBUFS, StatusCode::kResourceExhausted},
      {EADDRNOTAVAIL, StatusCode::kUnavailable},
      {EIO, StatusCode::kInternal},
  };
  for (const Row& r : rows) {
    const Status s = Status::fromErrno(r.err, "bind 192.0.2.1:3544");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), r.code) << r.err;
    EXPECT_EQ(s.sysErrno(), r.err);
    EXPECT_EQ(s.message(), "bind 192.0.2.1:3544: " + errnoText(r.err));
  }
}

TEST(Status, InvalidFormatsEveryViolation) {
  const Status s = Status::invalid({{"relay.yaml", 4, 3, "relay.mtu", "must be 1280..65535"},
                                    {"", 0, 0, "relay.port", "out of range"},
                                    {"x.yaml", 0, 0, "", "cannot open"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.violations().size(), 3u);
  EXPECT_EQ(s.message(),
            "relay.yaml:4:3: relay.mtu: must be 1280..65535\n"
            "relay.port: out of range\n"
            "x.yaml: cannot open");
  EXPECT_EQ(Status::invalid({{"", 0, 0, "a", "b"}}, "summary").message(), "summary");
}

TEST(Status, WithContextAndToString) {
  const Status s = Status::error(StatusCode::kNotFound, "no agent r1");
  EXPECT_EQ(s.withContext("drain").message(), "drain: no agent r1");
  EXPECT_EQ(s.withContext("drain").code(), StatusCode::kNotFound);
  EXPECT_TRUE(Status().withContext("x").ok());
  EXPECT_EQ(s.toString(), "NOT_FOUND: no agent r1");
  EXPECT_EQ(statusCodeName(StatusCode::kUnauthenticated), "UNAUTHENTICATED");
}

TEST(StatusOr, HoldsAValueOrAnError) {
  StatusOr<std::unique_ptr<int>> v(std::make_unique<int>(7));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v.status().ok());
  EXPECT_EQ(**v, 7);
  std::unique_ptr<int> moved = std::move(v).value();
  EXPECT_EQ(*moved, 7);

  const StatusOr<int> e(Status::error(StatusCode::kUnavailable, "down"));
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace teredo
