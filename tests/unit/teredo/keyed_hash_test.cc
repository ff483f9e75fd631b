#include "teredo/keyed_hash.h"

#include <gtest/gtest.h>

#include <vector>

namespace teredo {
namespace {

SipKey paperKey() {
  SipKey k;
  for (int i = 0; i < 16; ++i) {
    k.bytes[i] = static_cast<uint8_t>(i);
  }
  return k;
}

std::vector<uint8_t> counting(size_t n) {
  std::vector<uint8_t> m(n);
  for (size_t i = 0; i < n; ++i) {
    m[i] = static_cast<uint8_t>(i);
  }
  return m;
}

// Reference values from the SipHash paper (Appendix A) and its reference vectors.
TEST(SipHash24, PaperVectors) {
  EXPECT_EQ(sipHash24(paperKey(), counting(15)), 0xa129ca6149be45e5ULL);
  EXPECT_EQ(sipHash24(paperKey(), counting(0)), 0x726fdb47dd0e0e31ULL);
}

TEST(SipHash24, KeyAndMessageMatter) {
  SipKey other = paperKey();
  other.bytes[15] ^= 1;
  const auto m = counting(6);
  EXPECT_NE(sipHash24(paperKey(), m), sipHash24(other, m));
  auto m2 = m;
  m2[5] ^= 0x80;
  EXPECT_NE(sipHash24(paperKey(), m), sipHash24(paperKey(), m2));
}

}  // namespace
}  // namespace teredo
