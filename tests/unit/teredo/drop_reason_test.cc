// Unit tests for lib/teredo/drop_reason.h: the reasons are exactly 0..kDropReasonCount-1, each
// with a unique, non-empty, lower_snake_case metric label that dashboards and alerts rely on;
// DropReason::None is not among them and has no label.
#include "teredo/drop_reason.h"

#include <gtest/gtest.h>

#include <cctype>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>

namespace teredo {
namespace {

// The stable labels, written out by hand: renaming one breaks dashboards, so it must break here.
struct Expected {
  DropReason reason;
  std::string_view label;
};
constexpr Expected kExpected[] = {
    {DropReason::TruncatedAuth, "truncated_auth"},
    {DropReason::TruncatedOrigin, "truncated_origin"},
    {DropReason::UnknownEncapsulation, "unknown_encapsulation"},
    {DropReason::NotIpv6, "not_ipv6"},
    {DropReason::TruncatedIpv6, "truncated_ipv6"},
    {DropReason::BadPayloadLength, "bad_payload_length"},
    {DropReason::MalformedTrailer, "malformed_trailer"},
    {DropReason::NotBubbleOrIcmpv6, "not_bubble_or_icmpv6"},
    {DropReason::SrcNotGlobal, "src_not_global"},
    {DropReason::SpoofedSource, "spoofed_source"},
    {DropReason::NotOurClient, "not_our_client"},
    {DropReason::LoopGuard, "loop_guard"},
    {DropReason::RsBadSource, "rs_bad_source"},
    {DropReason::RsBadHopLimit, "rs_bad_hop_limit"},
    {DropReason::RsBadChecksum, "rs_bad_checksum"},
    {DropReason::RsMalformed, "rs_malformed"},
    {DropReason::LocalUnhandled, "local_unhandled"},
    {DropReason::DstNotGlobalScope, "dst_not_global_scope"},
    {DropReason::DstIpv4NotGlobal, "dst_ipv4_not_global"},
    {DropReason::DstServerNotGlobal, "dst_server_not_global"},
    {DropReason::DstOwnAddress, "dst_own_address"},
    {DropReason::OtherServerClient, "other_server_client"},
    {DropReason::Icmpv6TypeNotAllowed, "icmpv6_type_not_allowed"},
    {DropReason::Icmpv6TooBig, "icmpv6_too_big"},
    {DropReason::BubbleTooBig, "bubble_too_big"},
    {DropReason::NativeForwardDisabled, "native_forward_disabled"},
    {DropReason::RateLimited, "rate_limited"},
    {DropReason::DstNotTeredo, "dst_not_teredo"},
    {DropReason::DstMulticast, "dst_multicast"},
    {DropReason::SrcNotTeredo, "src_not_teredo"},
    {DropReason::UnknownPeer, "unknown_peer"},
    {DropReason::DstNotServed, "dst_not_served"},
    {DropReason::DstTeredo, "dst_teredo"},
    {DropReason::SrcNotServed, "src_not_served"},
    {DropReason::PeerTableFull, "peer_table_full"},
    {DropReason::QueueFull, "queue_full"},
    {DropReason::PeerUnreachable, "peer_unreachable"},
    {DropReason::Draining, "draining"},
    {DropReason::TooBig, "too_big"},
    {DropReason::SendFailed, "send_failed"},
    {DropReason::OffloadMalformed, "offload_malformed"},
};

// Usable where the stats structs need it: at compile time.
static_assert(dropReasonLabel(DropReason::SpoofedSource) == "spoofed_source");
static_assert(dropReasonLabel(DropReason::None).empty());
static_assert(std::is_same_v<std::underlying_type_t<DropReason>, uint8_t>);
static_assert(kDropReasonCount < 256, "every reason fits the uint8_t enum with None after it");

// A Prometheus label value that needs no escaping and reads like the rest: [a-z][a-z0-9_]*,
// no leading, trailing or doubled underscore.
bool labelSafe(std::string_view s) {
  if (s.empty() || !std::islower(static_cast<unsigned char>(s.front())) || s.back() == '_') {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (!(std::islower(c) || std::isdigit(c) || c == '_')) {
      return false;
    }
    if (c == '_' && s[i - 1] == '_') {
      return false;
    }
  }
  return true;
}

TEST(DropReason, LabelSafeRejectsWhatItShould) {
  // The checker itself, so that the real checks below can fail.
  EXPECT_TRUE(labelSafe("icmpv6_too_big"));
  for (std::string_view bad : {"", "Spoofed", "a b", "a-b", "_a", "a_", "a__b", "6to4", "a\"b"}) {
    EXPECT_FALSE(labelSafe(bad)) << bad;
  }
}

TEST(DropReason, TableCoversEveryReasonOnceAndNothingElse) {
  ASSERT_EQ(std::size(kExpected), kDropReasonCount);
  std::set<size_t> seen;
  for (const Expected& e : kExpected) {
    const auto i = static_cast<size_t>(e.reason);
    EXPECT_LT(i, kDropReasonCount) << e.label;
    EXPECT_TRUE(seen.insert(i).second) << "listed twice: " << e.label;
  }
}

TEST(DropReason, EveryReasonHasItsStableLabel) {
  for (const Expected& e : kExpected) {
    EXPECT_EQ(dropReasonLabel(e.reason), e.label) << static_cast<int>(e.reason);
  }
}

TEST(DropReason, EveryLabelIsNonEmptyUniqueAndLabelSafe) {
  std::set<std::string_view> labels;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string_view label = dropReasonLabel(static_cast<DropReason>(i));
    EXPECT_FALSE(label.empty()) << "reason " << i;
    EXPECT_TRUE(labelSafe(label)) << "reason " << i << ": " << label;
    EXPECT_TRUE(labels.insert(label).second) << "duplicate label " << label;
  }
  EXPECT_EQ(labels.size(), kDropReasonCount);
}

TEST(DropReason, NoneIsNotAReason) {
  // None comes after every reason, so iterating 0..kDropReasonCount-1 never yields it.
  EXPECT_EQ(static_cast<size_t>(DropReason::None), kDropReasonCount);
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    EXPECT_NE(static_cast<DropReason>(i), DropReason::None);
  }
  for (const Expected& e : kExpected) {
    EXPECT_NE(e.reason, DropReason::None);
  }
  // No label, so it can never become a metric series.
  EXPECT_EQ(dropReasonLabel(DropReason::None), "");
}

TEST(DropReason, ValuesBeyondNoneHaveNoLabel) {
  // A corrupted value (e.g. from a bad cast) must not read past the label table.
  for (size_t i = kDropReasonCount; i < 256; ++i) {
    EXPECT_TRUE(dropReasonLabel(static_cast<DropReason>(i)).empty()) << i;
  }
}

// The label is the enumerator's name in lower_snake_case, so code and dashboards read alike.
std::string snakeCase(std::string_view camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(camel[i]);
    if (std::isupper(c)) {
      if (i > 0) {
        out += '_';
      }
      out += static_cast<char>(std::tolower(c));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

TEST(DropReason, LabelIsTheEnumeratorNameInSnakeCase) {
  EXPECT_EQ(snakeCase("Icmpv6TypeNotAllowed"), "icmpv6_type_not_allowed");
  struct Named {
    DropReason reason;
    const char* name;
  };
  const Named named[] = {
#define DROP_REASON_NAMED(name, label) {DropReason::name, #name},
      TEREDO_DROP_REASONS(DROP_REASON_NAMED)
#undef DROP_REASON_NAMED
  };
  ASSERT_EQ(std::size(named), kDropReasonCount);
  for (const Named& n : named) {
    EXPECT_EQ(dropReasonLabel(n.reason), snakeCase(n.name)) << n.name;
  }
}

}  // namespace
}  // namespace teredo
