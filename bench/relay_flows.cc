// teredo_load modes for the relay fast-path benchmarks (bench/run.sh, docs/benchmarks.md):
//
//   prime  Makes peers [first, first+count) trusted at a relay the way the RFC does it, for any
//          number of peers (millions): (1) from the native side (the sink namespace) one small
//          IPv6/UDP datagram to each peer's Teredo address; the relay has no entry, creates an
//          untrusted one, queues the datagram and sends bubbles (RFC 4380 §5.4.1 case 3);
//          (2) after --settle seconds, a direct bubble (§5.2.4) from each peer's own mapped
//          address and port to the relay. The peers have no sockets: the bubbles are written on
//          a raw IPv4 socket with the peer's mapped address as source (the relay's namespace
//          routes the mapped network back to the generator, which drops what arrives there).
//          The relay now trusts the peer and flushes the queued datagram towards it: run.sh
//          counts those arriving at the generator to know how many peers became trusted.
//          Done in chunks of --chunk peers (spray, settle, bubbles), so only one chunk's
//          datagrams are queued at the relay at a time.
//   flow   Traffic at a fixed rate between trusted peers and the native sink, one direction:
//          --dir rx: Teredo-encapsulated IPv6 from the peers' mapped addresses (raw IPv4) to the
//          relay, which decapsulates towards the sink; --dir tx: IPv6 from the sink namespace
//          (raw IPv6) to the peers' Teredo addresses, which the relay encapsulates towards the
//          peers' mappings. --shape udp: IPv6/UDP packets round-robin over --peers peers;
//          --shape tcp: IPv6/TCP segments (ACK, consecutive sequence numbers, valid checksums)
//          of --flows flows, sent in bursts of --burst segments per flow, as a TCP sender does.
//          --size is the whole inner IPv6 packet (112 and 1280 in bench/run.sh).
//
// Peer i: mapped address mapped-base + i % 256, port 1024 + i / 256, Teredo address
// 2001:0:<teredo-server>:0:~port:~addr (flags 0, RFC 4380 §4). Up to 16.5 million peers; the
// mapped addresses must be global for the relays (RFC 4380 §5.2.4 refuses private ones).
//
// Everything is prepared before the timed loop; the loop only patches sequence numbers and
// checksums. Bounded by --duration / the count and rate.
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>

#include <array>
#include <cinttypes>
#include <cstring>
#include <string>
#include <vector>

#include "load_common.h"
#include "teredo/address.h"
#include "teredo/byte_order.h"
#include "teredo/packet.h"

namespace teredo::bench {
namespace {

constexpr size_t kMappedAddresses = 256;
constexpr size_t kMaxPeers = kMappedAddresses * (65536 - 1024);
constexpr size_t kBatch = 64;
constexpr size_t kSlot = 1536;
constexpr uint16_t kTcpPort = 5001;
constexpr uint16_t kUdpPort = 9;
constexpr uint8_t kNextHeaderTcp = 6;

struct PeerSet {
  uint32_t server = 0;
  uint32_t mappedBase = 0;
  Endpoint mapped(size_t i) const {
    return Endpoint{mappedBase + static_cast<uint32_t>(i % kMappedAddresses),
                    static_cast<uint16_t>(1024 + i / kMappedAddresses)};
  }
  Ipv6Addr teredo(size_t i) const {
    const Endpoint m = mapped(i);
    return encodeTeredo(kDefaultPrefix, TeredoFields{server, 0, m.port, m.addr});
  }
};

/// IPv6 + TCP (ACK, window 512, no options) + zero payload: `size` bytes in all.
size_t writeIpv6Tcp(uint8_t* out, const Ipv6Addr& src, const Ipv6Addr& dst, uint16_t sport,
                    uint32_t seq, size_t size) {
  const size_t tcpLen = size - kIpv6HeaderSize;
  writeIpv6Header(MutableBytes(out, size), src, dst, kNextHeaderTcp, static_cast<uint16_t>(tcpLen),
                  64);
  uint8_t* tcp = out + kIpv6HeaderSize;
  std::memset(tcp, 0, tcpLen);
  store16(tcp, sport);
  store16(tcp + 2, kTcpPort);
  store32(tcp + 4, seq);
  store32(tcp + 8, 1);  // acknowledgement number
  tcp[12] = 5 << 4;     // data offset: 20 bytes
  tcp[13] = 0x10;       // ACK
  store16(tcp + 14, 512);
  const uint16_t c = upperLayerChecksum(src, dst, kNextHeaderTcp, Bytes(tcp, tcpLen));
  store16(tcp + 16, c == 0xffff ? 0 : c);  // TCP has no "no checksum" value: 0xffff and 0 agree
  return size;
}

/// IPv4 (IP_HDRINCL: the kernel fills in the header checksum) + UDP around `payload`, into `out`.
/// Returns the length. The UDP checksum is computed, as the Windows and Miredo clients' stacks
/// do: a zero one (allowed for IPv4) would also stop the relay's kernel from merging a burst
/// into one UDP GRO datagram (GRO requires a checksum), which real clients never cause.
size_t writeIpv4Udp(uint8_t* out, const Endpoint& src, const Endpoint& dst, Bytes payload) {
  const size_t total = 20 + 8 + payload.size();
  std::memset(out, 0, 28);
  out[0] = 0x45;
  store16(out + 2, static_cast<uint16_t>(total));
  out[8] = 64;
  out[9] = IPPROTO_UDP;
  store32(out + 12, src.addr);
  store32(out + 16, dst.addr);
  store16(out + 20, src.port);
  store16(out + 22, dst.port);
  store16(out + 24, static_cast<uint16_t>(8 + payload.size()));
  std::memcpy(out + 28, payload.data(), payload.size());
  store16(out + 26, udp4Checksum(src.addr, dst.addr, Bytes(out + 20, total - 20)));
  return total;
}

/// Up to kBatch prepared packets sent with one sendmmsg on a raw (or UDP) socket.
class Batch {
 public:
  explicit Batch(int family) : family_(family), buffer_(kBatch * kSlot) {}
  uint8_t* next() { return buffer_.data() + count_ * kSlot; }
  void commitV4(size_t len, uint32_t dst) {
    auto& sa = v4_[count_];
    sa = {};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(dst);
    commit(len, &sa, sizeof sa);
  }
  void commitV6(size_t len, const Ipv6Addr& dst, uint16_t port) {
    auto& sa = v6_[count_];
    sa = {};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    std::memcpy(&sa.sin6_addr, dst.bytes.data(), 16);
    commit(len, &sa, sizeof sa);
  }
  bool full() const { return count_ == kBatch; }
  size_t size() const { return count_; }
  /// Sends everything; waits briefly when the socket buffer is full. Returns packets refused.
  size_t flush(int fd) {
    size_t done = 0, failed = 0;
    int spins = 0;
    while (done < count_) {
      const int n = sendmmsg(fd, headers_.data() + done, static_cast<unsigned>(count_ - done), 0);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if ((errno == EAGAIN || errno == ENOBUFS || errno == EINTR) && ++spins < 1000) {
        usleep(50);
        continue;
      }
      ++failed;  // this one was refused; go on with the rest
      ++done;
    }
    count_ = 0;
    return failed;
  }

 private:
  void commit(size_t len, void* sa, socklen_t salen) {
    iov_[count_] = {next(), len};
    auto& h = headers_[count_].msg_hdr;
    h = {};
    h.msg_name = sa;
    h.msg_namelen = salen;
    h.msg_iov = &iov_[count_];
    h.msg_iovlen = 1;
    ++count_;
  }
  [[maybe_unused]] int family_;
  std::vector<uint8_t> buffer_;
  std::array<struct mmsghdr, kBatch> headers_{};
  std::array<struct iovec, kBatch> iov_{};
  std::array<struct sockaddr_in, kBatch> v4_{};
  std::array<struct sockaddr_in6, kBatch> v6_{};
  size_t count_ = 0;
};

struct Paced {
  uint64_t sent = 0;    ///< accepted by the kernel
  uint64_t failed = 0;  ///< refused by the kernel
};

/// Sends packets 0..count-1 at `rate` per second (0 = as fast as possible) for at most `seconds`
/// (0 = until done): make(i, batch) prepares packet i into the batch. Packets are released in
/// groups of `quantum` back to back (a TCP sender's burst), at most kBatch per sendmmsg.
template <class Make>
Paced paced(Batch& batch, int fd, uint64_t count, double rate, double seconds, Make&& make,
            uint64_t quantum = 1) {
  Paced r;
  uint64_t i = 0;
  const uint64_t start = nowNs();
  const uint64_t end = seconds > 0 ? start + static_cast<uint64_t>(seconds * 1e9) : UINT64_MAX;
  while (i < count) {
    const uint64_t now = nowNs();
    if (now >= end) {
      break;
    }
    uint64_t upTo = std::min<uint64_t>(count, i + kBatch);
    if (rate > 0) {
      const auto raw = static_cast<uint64_t>(rate * static_cast<double>(now - start) / 1e9) + 1;
      const uint64_t due = (raw + quantum - 1) / quantum * quantum;
      if (due <= i) {
        continue;
      }
      upTo = std::min(upTo, due);
    }
    const uint64_t n = upTo - i;
    for (; i < upTo; ++i) {
      make(i, batch);
    }
    const size_t failed = batch.flush(fd);
    r.failed += failed;
    r.sent += n - failed;
  }
  return r;
}

net::Fd rawIpv4() {
  net::Fd fd(socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW));
  if (!fd.valid()) {
    die(std::string("socket(AF_INET, SOCK_RAW): ") + std::strerror(errno));
  }
  const int buf = 8 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
  return fd;
}

PeerSet peerSet(Args& args) {
  PeerSet p;
  p.server = ipv4OrDie(args.required("teredo-server"));
  p.mappedBase = ipv4OrDie(args.required("mapped-base"));
  return p;
}

}  // namespace

int runPrime(Args& args) {
  const Endpoint relay = endpointOrDie(args.required("relay"), 3545);
  const PeerSet peers = peerSet(args);
  const Ipv6Addr native = ipv6OrDie(args.required("native"));
  const std::string netns = args.required("native-netns");
  const auto first = static_cast<uint64_t>(args.number("first", 0));
  const auto count = static_cast<uint64_t>(args.number("count", 10000));
  const double rate = args.number("rate", 100000);
  const double settle = args.number("settle", 0.05);
  const auto chunk = static_cast<uint64_t>(args.number("chunk", 20000));
  args.checkAllUsed();
  if (count < 1 || chunk < 1 || first + count > kMaxPeers) {
    die("prime: need --count >= 1, --chunk >= 1 and --first + --count <= " +
        std::to_string(kMaxPeers));
  }
  net::Fd six = ipv6SocketIn(netns);
  net::Fd raw = rawIpv4();
  {
    const int buf = 8 << 20;
    setsockopt(six.get(), SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
  }
  const uint8_t hello[] = {'p', 'r', 'i', 'm', 'e'};
  Batch batch6(AF_INET6);
  Batch batch4(AF_INET);
  std::array<uint8_t, kIpv6HeaderSize> bubble{};
  Paced spray, bubbles;
  double spraySeconds = 0, bubbleSeconds = 0;
  // In chunks: only one chunk's datagrams wait in the relay's queues at a time, so the queue
  // memory does not grow with the number of peers being primed.
  for (uint64_t done = 0; done < count; done += chunk) {
    const uint64_t base = first + done;
    const uint64_t n = std::min<uint64_t>(chunk, count - done);
    const uint64_t t0 = nowNs();
    const Paced s1 = paced(batch6, six.get(), n, rate, 0, [&](uint64_t i, Batch& b) {
      std::memcpy(b.next(), hello, sizeof hello);
      b.commitV6(sizeof hello, peers.teredo(base + i), kUdpPort);
    });
    spraySeconds += static_cast<double>(nowNs() - t0) / 1e9;
    usleep(static_cast<useconds_t>(settle * 1e6));
    const uint64_t t1 = nowNs();
    const Paced s2 = paced(batch4, raw.get(), n, rate, 0, [&](uint64_t i, Batch& b) {
      const size_t peer = base + i;
      // The client's direct bubble (RFC 4380 §5.2.4) from its own mapping, towards the native
      // host whose packet the relay queued.
      writeBubble(MutableBytes(bubble), peers.teredo(peer), native);
      const size_t len = writeIpv4Udp(b.next(), peers.mapped(peer), relay, Bytes(bubble));
      b.commitV4(len, relay.addr);
    });
    bubbleSeconds += static_cast<double>(nowNs() - t1) / 1e9;
    spray.sent += s1.sent;
    spray.failed += s1.failed;
    bubbles.sent += s2.sent;
    bubbles.failed += s2.failed;
  }
  std::printf("{\"mode\":\"prime\",\"first\":%" PRIu64 ",\"count\":%" PRIu64
              ",\"spray_sent\":%" PRIu64 ",\"spray_failed\":%" PRIu64 ",\"bubbles_sent\":%" PRIu64
              ",\"bubble_failed\":%" PRIu64 ",\"spray_s\":%.3f,\"bubble_s\":%.3f}\n",
              first, count, spray.sent, spray.failed, bubbles.sent, bubbles.failed, spraySeconds,
              bubbleSeconds);
  return 0;
}

int runFlow(Args& args) {
  const std::string dir = args.required("dir");
  const std::string shape = args.required("shape");
  const Endpoint relay = endpointOrDie(args.required("relay"), 3545);
  const PeerSet peers = peerSet(args);
  const Ipv6Addr native = ipv6OrDie(args.required("native"));
  const std::optional<std::string> netns = args.get("native-netns");
  const auto peerCount = static_cast<size_t>(args.number("peers", 10000));
  const auto flows = static_cast<size_t>(args.number("flows", 4));
  const auto burst = static_cast<size_t>(args.number("burst", 16));
  const auto size = static_cast<size_t>(args.number("size", 112));
  const double rate = args.number("rate", 20000);
  const double duration = args.number("duration", 2);
  args.checkAllUsed();
  const bool tcp = shape == "tcp";
  if ((dir != "rx" && dir != "tx") || (shape != "udp" && shape != "tcp") || peerCount < 1 ||
      peerCount > kMaxPeers || flows < 1 || flows > peerCount || burst < 1 || duration <= 0 ||
      size < kIpv6HeaderSize + (tcp ? 20 : 8) || size > 1280) {
    die("flow: need --dir rx|tx, --shape udp|tcp, 1 <= --flows <= --peers, --burst >= 1, "
        "--duration > 0, 60 <= --size <= 1280");
  }
  if (dir == "tx" && !netns) {
    die("flow --dir tx needs --native-netns (the sink namespace sends)");
  }
  const bool rx = dir == "rx";
  net::Fd fd = rx ? rawIpv4() : socketIn(*netns, AF_INET6, SOCK_RAW, IPPROTO_RAW);
  if (!rx) {
    const int buf = 8 << 20;
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
  }
  // Prepared inner packets: UDP one per peer (fixed); TCP one per flow (sequence patched).
  const size_t templates = tcp ? flows : peerCount;
  std::vector<uint8_t> inner(templates * size);
  std::vector<uint32_t> seq(flows, 1);
  for (size_t i = 0; i < templates; ++i) {
    uint8_t* p = inner.data() + i * size;
    const Ipv6Addr peer = peers.teredo(i);
    const Ipv6Addr& src = rx ? peer : native;
    const Ipv6Addr& dst = rx ? native : peer;
    if (tcp) {
      writeIpv6Tcp(p, src, dst, static_cast<uint16_t>(40000 + i), 1, size);
    } else {
      writeIpv6Udp(MutableBytes(p, size), src, dst, kNativeSourcePort, kUdpPort,
                   size - kIpv6HeaderSize - 8);
    }
  }
  const size_t tcpPayload = size - kIpv6HeaderSize - 20;
  Batch batch(rx ? AF_INET : AF_INET6);
  const uint64_t start = nowNs();
  const auto count = static_cast<uint64_t>(rate > 0 ? rate * duration : 1e12);
  const Paced sent = paced(
      batch, fd.get(), count, rate, duration,
      [&](uint64_t n, Batch& b) {
        size_t t = 0;
        if (tcp) {
          t = (n / burst) % flows;  // bursts of one flow, round robin over the flows
        } else {
          t = n % peerCount;
        }
        uint8_t* p = inner.data() + t * size;
        if (tcp) {
          const Ipv6Addr peer = peers.teredo(t);
          writeIpv6Tcp(p, rx ? peer : native, rx ? native : peer, static_cast<uint16_t>(40000 + t),
                       seq[t], size);
          seq[t] += static_cast<uint32_t>(tcpPayload);
        }
        if (rx) {
          const size_t len = writeIpv4Udp(b.next(), peers.mapped(t), relay, Bytes(p, size));
          b.commitV4(len, relay.addr);
        } else {
          std::memcpy(b.next(), p, size);
          b.commitV6(size, rx ? native : peers.teredo(t), 0);
        }
      },
      tcp ? burst : 1);
  const double seconds = static_cast<double>(nowNs() - start) / 1e9;
  std::printf(
      "{\"mode\":\"flow\",\"dir\":\"%s\",\"shape\":\"%s\",\"size\":%zu,\"peers\":%zu,"
      "\"flows\":%zu,\"target_rate\":%.0f,\"duration_s\":%.3f,\"sent\":%" PRIu64
      ",\"failed\":%" PRIu64 ",\"send_rate\":%.1f}\n",
      dir.c_str(), shape.c_str(), size, peerCount, tcp ? flows : 0, rate, seconds, sent.sent,
      sent.failed, static_cast<double>(sent.sent) / seconds);
  return 0;
}

}  // namespace teredo::bench
