// Builds Teredo UDP payloads for table-driven tests (the Katran PacketBuilder idea).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "teredo/packet.h"

namespace teredo::test {

class PacketBuilder {
 public:
  PacketBuilder& src(const Ipv6Addr& a) {
    src_ = a;
    return *this;
  }
  PacketBuilder& dst(const Ipv6Addr& a) {
    dst_ = a;
    return *this;
  }
  PacketBuilder& hopLimit(uint8_t h) {
    hop_ = h;
    return *this;
  }
  PacketBuilder& nextHeader(uint8_t nh) {
    nextHeader_ = nh;
    return *this;
  }
  PacketBuilder& payload(std::vector<uint8_t> p) {
    payload_ = std::move(p);
    return *this;
  }
  PacketBuilder& auth(const std::array<uint8_t, 8>& nonce, uint8_t idLen = 0, uint8_t auLen = 0) {
    auth_ = nonce;
    idLen_ = idLen;
    auLen_ = auLen;
    return *this;
  }
  PacketBuilder& origin(const Endpoint& e) {
    origin_ = e;
    return *this;
  }
  PacketBuilder& trailers(std::vector<uint8_t> t) {
    trailers_ = std::move(t);
    return *this;
  }
  /// A bubble: no payload, next header 59.
  PacketBuilder& bubble() {
    nextHeader_ = kNextHeaderNone;
    payload_.clear();
    return *this;
  }
  /// ICMPv6 message with a correct checksum: type, code, 4 bytes of body, then `data`.
  PacketBuilder& icmp(uint8_t type, uint8_t code = 0, size_t dataBytes = 0,
                      bool badChecksum = false) {
    nextHeader_ = kNextHeaderIcmpv6;
    payload_.assign(8 + dataBytes, 0x5a);
    payload_[0] = type;
    payload_[1] = code;
    payload_[2] = payload_[3] = 0;
    payload_[4] = payload_[5] = payload_[6] = payload_[7] = 0;
    icmpSum_ = true;
    badSum_ = badChecksum;
    return *this;
  }

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> out;
    if (auth_) {
      out.insert(out.end(), {0x00, 0x01, idLen_, auLen_});
      out.insert(out.end(), static_cast<size_t>(idLen_) + auLen_, 0x11);
      out.insert(out.end(), auth_->begin(), auth_->end());
      out.push_back(0);
    }
    if (origin_) {
      uint8_t o[8];
      writeOrigin(MutableBytes(o, 8), *origin_);
      out.insert(out.end(), o, o + 8);
    }
    const size_t ipOff = out.size();
    out.resize(ipOff + kIpv6HeaderSize + payload_.size());
    writeIpv6Header(MutableBytes(out).subspan(ipOff), src_, dst_, nextHeader_,
                    static_cast<uint16_t>(payload_.size()), hop_);
    std::copy(payload_.begin(), payload_.end(), out.begin() + ipOff + kIpv6HeaderSize);
    if (icmpSum_) {
      uint8_t* icmp = &out[ipOff + kIpv6HeaderSize];
      const uint16_t sum = icmpv6Checksum(src_, dst_, Bytes(icmp, payload_.size()));
      icmp[2] = static_cast<uint8_t>(sum >> 8);
      icmp[3] = static_cast<uint8_t>(sum ^ (badSum_ ? 1 : 0));
    }
    out.insert(out.end(), trailers_.begin(), trailers_.end());
    return out;
  }

 private:
  Ipv6Addr src_;
  Ipv6Addr dst_;
  uint8_t hop_ = 255;
  uint8_t nextHeader_ = kNextHeaderNone;
  std::vector<uint8_t> payload_;
  std::optional<std::array<uint8_t, 8>> auth_;
  uint8_t idLen_ = 0;
  uint8_t auLen_ = 0;
  std::optional<Endpoint> origin_;
  std::vector<uint8_t> trailers_;
  bool icmpSum_ = false;
  bool badSum_ = false;
};

}  // namespace teredo::test
