// teredo_load: load generator for the Teredo Fleet benchmarks (bench/run.sh, docs/benchmarks.md).
//
// Modes (each prints exactly one JSON line on stdout; diagnostics go to stderr):
//   rs        Router Solicitations (RFC 4380 §5.2.1: 61-byte UDP payload = auth header 13 +
//             IPv6 40 + RS 8, Miredo's non-cone link-local source fe80::ffff:ffff:ffff, valid
//             ICMPv6 checksum) to a server from many source ports, at a target rate or as fast
//             as possible, with sendmmsg. Every reply is checked to be an RA (parsePacket,
//             ICMPv6 type 134, auth header with our nonce); the nonce carries the send time, so
//             the reply gives the round-trip latency.
//   relay-rx  Teredo-encapsulated IPv6/UDP packets to a relay, each from a UDP socket whose
//             address and port match the Teredo source address inside (RFC 4380 §5.4.2 step 2),
//             as trusted clients send them. The relay decapsulates onto its tun and the kernel
//             forwards to a native sink, which counts (bench/run.sh: an nftables counter).
//             Relays only accept known peers (Miredo: "Relays are explicitly allowed to drop
//             packets from unknown peers"), so --prime-netns first makes the relay know every
//             peer the way the RFC does it: from the native side (the sink namespace) one IPv6
//             datagram to each peer's Teredo address; the relay queues it and sends an indirect
//             bubble to the embedded server address (§5.4.1 case 3), where this tool listens
//             (--teredo-server must be a local address); each peer answers with a direct bubble
//             from its own socket (§5.2.4), the relay trusts it and flushes the queued datagram
//             to that peer. A peer counts as primed when that datagram arrives.
//   spray6    From the native side: one IPv6/UDP datagram to each of COUNT distinct Teredo
//             addresses (mapped to 100 IPv4 addresses from --mapped-base x ports from 1024; no
//             sockets behind them), paced over SECONDS: the relay creates COUNT
//             untrusted peers, each with one queued packet. Used for "relay RSS with N peers".
//   prime,    Millions of trusted peers without sockets (raw IPv4 with the peers' mapped
//   flow      addresses), and fixed-rate UDP- or TCP-shaped traffic in either direction: see
//             bench/relay_flows.cc.
//
// Not a daemon and not part of the tests: every run is bounded by --duration / --seconds and
// --prime-timeout. No allocation in the send and receive loops (all buffers are set up first).
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "load_common.h"
#include "net/fd.h"
#include "net/udp.h"
#include "teredo/address.h"
#include "teredo/packet.h"

namespace teredo::bench {
namespace {

constexpr size_t kRsPayloadSize = kAuthFixedSize + kIpv6HeaderSize + 8;  // 61 bytes
constexpr size_t kMaxSockets = 4096;
constexpr size_t kLatencyBuckets = 200000;  // 1 µs each: up to 200 ms, then "overflow"

// ---------------------------------------------------------------------------------------------
// Sockets and polling

/// `count` UDP sockets on ephemeral ports, spread round-robin over `addrs`.
std::vector<net::UdpSocket> openSockets(const std::vector<uint32_t>& addrs, size_t count,
                                        int bufferBytes) {
  std::vector<net::UdpSocket> sockets;
  sockets.reserve(count);
  net::UdpOptions options;
  options.rcvbuf = bufferBytes;
  options.sndbuf = bufferBytes;
  for (size_t i = 0; i < count; ++i) {
    auto s = net::UdpSocket::open(Endpoint{addrs[i % addrs.size()], 0}, options);
    if (!s.ok()) {
      die(s.status().message());
    }
    sockets.push_back(std::move(s.value()));
  }
  return sockets;
}

/// An epoll set over sockets, identified by their index.
class Poller {
 public:
  Poller() : fd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (!fd_.valid()) {
      die(std::string("epoll_create1: ") + std::strerror(errno));
    }
    events_.resize(kMaxSockets);
  }
  void add(int socketFd, uint32_t index) {
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u32 = index;
    if (epoll_ctl(fd_.get(), EPOLL_CTL_ADD, socketFd, &ev) != 0) {
      die(std::string("epoll_ctl: ") + std::strerror(errno));
    }
  }
  /// Indices of readable sockets; timeoutMs 0 polls.
  std::span<const struct epoll_event> wait(int timeoutMs) {
    int n = epoll_wait(fd_.get(), events_.data(), static_cast<int>(events_.size()), timeoutMs);
    return {events_.data(), n > 0 ? static_cast<size_t>(n) : 0};
  }

 private:
  net::Fd fd_;
  std::vector<struct epoll_event> events_;
};

// ---------------------------------------------------------------------------------------------
// Latency histogram (1 µs buckets)

class Histogram {
 public:
  Histogram() : buckets_(kLatencyBuckets + 1, 0) {}
  void add(uint64_t ns) {
    uint64_t us = ns / 1000;
    ++buckets_[std::min<uint64_t>(us, kLatencyBuckets)];
    ++count_;
    max_ = std::max(max_, us);
  }
  /// The smallest bucket value with at least q of the samples at or below it (µs); 0 if empty.
  uint64_t quantile(double q) const {
    if (count_ == 0) {
      return 0;
    }
    auto want = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
    want = std::max<uint64_t>(want, 1);
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= want) {
        return i;
      }
    }
    return max_;
  }
  uint64_t max() const { return max_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

std::string jsonLatency(const Histogram& h) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "{\"samples\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
                ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "}",
                h.count(), h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.quantile(0.999),
                h.max());
  return buf;
}

// ---------------------------------------------------------------------------------------------
// rs

/// The 61-byte RS payload (RFC 4380 §5.2.1): auth header with ID-len =
/// AU-len = 0, nonce (patched per packet), confirmation 0; IPv6 fe80::ffff:ffff:ffff -> ff02::2,
/// hop limit 255; ICMPv6 type 133 code 0, checksum, 4 reserved bytes. The checksum does not
/// cover the nonce, so it is computed once.
std::array<uint8_t, kRsPayloadSize> rsTemplate() {
  std::array<uint8_t, kRsPayloadSize> p{};
  MutableBytes out(p);
  size_t off = writeAuthEcho(out, {}, 0);
  Ipv6Addr src = ipv6OrDie("fe80::ffff:ffff:ffff");
  Ipv6Addr dst = allRoutersMulticast();
  off += writeIpv6Header(out.subspan(off), src, dst, kNextHeaderIcmpv6, 8, 255);
  uint8_t* icmp = p.data() + off;
  icmp[0] = kIcmpRouterSolicitation;
  uint16_t c = icmpv6Checksum(src, dst, Bytes(icmp, 8));
  icmp[2] = static_cast<uint8_t>(c >> 8);
  icmp[3] = static_cast<uint8_t>(c);
  if (off + 8 != kRsPayloadSize) {
    die("internal: RS template size");
  }
  return p;
}

constexpr size_t kNonceOffset = 4;  // after 00 01 ID-len AU-len

int runRs(Args& args) {
  const Endpoint server = endpointOrDie(args.required("server"), kTeredoPort);
  const std::vector<uint32_t> binds = ipv4ListOrDie(args.required("bind"));
  const auto socketCount = static_cast<size_t>(args.number("sockets", 64));
  const double rate = args.number("rate", 0);  // RS/s, 0 = as fast as possible
  const double duration = args.number("duration", 3);
  const double drain = args.number("drain", 0.3);
  const auto batchSize = static_cast<size_t>(args.number("batch", 64));
  const int bufferBytes = static_cast<int>(args.number("buffer", 4 << 20));
  args.checkAllUsed();
  if (socketCount < 1 || socketCount > kMaxSockets || batchSize < 1 ||
      batchSize > net::SendBatch::kMaxCapacity || duration <= 0) {
    die("rs: need 1 <= --sockets <= 4096, 1 <= --batch <= 1024, --duration > 0");
  }

  std::vector<net::UdpSocket> sockets = openSockets(binds, socketCount, bufferBytes);
  Poller poller;
  for (size_t i = 0; i < sockets.size(); ++i) {
    poller.add(sockets[i].fd(), static_cast<uint32_t>(i));
  }
  const auto rs = rsTemplate();
  std::array<uint8_t, kRsPayloadSize> pkt = rs;
  net::SendBatch sendBatch(batchSize, 128);
  net::RecvBatch recvBatch(64, 512);
  Histogram latency;

  uint64_t sent = 0, sendFailed = 0, received = 0, invalid = 0, kernelDrops = 0;
  uint64_t sendCalls = 0;
  const uint64_t start = nowNs();
  const auto sendEnd = start + static_cast<uint64_t>(duration * 1e9);
  const auto end = sendEnd + static_cast<uint64_t>(drain * 1e9);
  size_t next = 0;

  for (uint64_t now = start; now < end; now = nowNs()) {
    if (now < sendEnd) {
      uint64_t allowed = batchSize;
      if (rate > 0) {
        auto due = static_cast<uint64_t>(rate * static_cast<double>(now - start) / 1e9) + 1;
        allowed =
            due > sent + sendFailed ? std::min<uint64_t>(due - sent - sendFailed, batchSize) : 0;
      }
      if (allowed > 0) {
        net::UdpSocket& s = sockets[next];
        next = (next + 1) % sockets.size();
        for (uint64_t i = 0; i < allowed; ++i) {
          // The nonce is the send time (RFC 4380 §5.2.1 leaves its content to the client).
          const uint64_t ts = nowNs();
          std::memcpy(pkt.data() + kNonceOffset, &ts, sizeof(ts));
          sendBatch.add(server, Bytes(pkt));
        }
        net::FlushResult r = sendBatch.flush(s);
        ++sendCalls;
        sent += r.sent;
        sendFailed += r.failed;
      }
    }
    for (const auto& ev : poller.wait(0)) {
      net::UdpSocket& s = sockets[ev.data.u32];
      for (int round = 0; round < 16; ++round) {
        int n = recvBatch.receive(s);
        kernelDrops += recvBatch.newKernelDrops();
        if (n <= 0) {
          break;
        }
        const uint64_t rxTime = nowNs();
        for (const auto& m : recvBatch.messages()) {
          auto parsed = parsePacket(m.data);
          // An RA for us: auth header echoing a nonce, origin indication = our socket
          // (RFC 4380 §5.3.2), ICMPv6 type 134.
          if (!parsed.ok() || m.truncated || !parsed->hasAuth || !parsed->hasOrigin ||
              !parsed->isIcmpv6() || parsed->ipv6Payload().empty() ||
              parsed->ipv6Payload()[0] != kIcmpRouterAdvertisement ||
              parsed->origin.port != s.localEndpoint().port) {
            ++invalid;
            continue;
          }
          uint64_t ts;
          std::memcpy(&ts, parsed->auth.nonce.data(), sizeof(ts));
          if (ts < start || ts > rxTime) {
            ++invalid;
            continue;
          }
          ++received;
          latency.add(rxTime - ts);
        }
      }
    }
  }
  const double seconds = duration;
  std::printf(
      "{\"mode\":\"rs\",\"server\":\"%s\",\"sockets\":%zu,\"target_rate\":%.0f,"
      "\"duration_s\":%.3f,\"sent\":%" PRIu64 ",\"send_failed\":%" PRIu64 ",\"send_calls\":%" PRIu64
      ",\"received\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"rx_kernel_drops\":%" PRIu64
      ",\"send_rate\":%.1f,\"reply_rate\":%.1f,\"reply_ratio\":%.4f,\"latency_us\":%s}\n",
      formatEndpoint(server).c_str(), sockets.size(), rate, seconds, sent, sendFailed, sendCalls,
      received, invalid, kernelDrops, static_cast<double>(sent) / seconds,
      static_cast<double>(received) / seconds,
      sent ? static_cast<double>(received) / static_cast<double>(sent) : 0.0,
      jsonLatency(latency).c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------
// relay-rx

struct Peer {
  Ipv6Addr teredo;   ///< 2001:0:<server>:0:~port:~addr of this peer's socket
  size_t packetLen;  ///< Teredo payload (IPv6/UDP) to the native sink
  std::array<uint8_t, 1280> packet;
  bool bubbled = false;  ///< answered the relay's indirect bubble
  bool primed = false;   ///< the relay flushed the queued native datagram to us: trusted
};

/// Primes every peer (see the file comment); returns how many were primed before the timeout.
struct PrimeResult {
  size_t primed = 0;
  size_t bubblesSeen = 0;
  size_t bubbleReplies = 0;
  double seconds = 0;
};

PrimeResult prime(std::vector<Peer>& peers, std::vector<net::UdpSocket>& sockets,
                  net::UdpSocket& serverSocket, const Endpoint& relay, const Ipv6Addr& native,
                  uint16_t nativePort, const std::string& netnsPath, double timeout) {
  PrimeResult res;
  std::map<std::pair<uint32_t, uint16_t>, size_t> byMapping;
  for (size_t i = 0; i < sockets.size(); ++i) {
    Endpoint e = sockets[i].localEndpoint();
    byMapping[{e.addr, e.port}] = i;
  }
  net::Fd six = ipv6SocketIn(netnsPath);
  {
    struct sockaddr_in6 sa {};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(nativePort);
    std::memcpy(&sa.sin6_addr, native.bytes.data(), 16);
    if (bind(six.get(), reinterpret_cast<const struct sockaddr*>(&sa), sizeof(sa)) != 0) {
      die("bind [" + formatIpv6(native) + "]:" + std::to_string(nativePort) +
          " in the native namespace: " + std::strerror(errno));
    }
  }
  const uint8_t hello[] = {'p', 'r', 'i', 'm', 'e'};
  const uint64_t t0 = nowNs();
  for (const Peer& p : peers) {
    if (!sendIpv6(six.get(), p.teredo, nativePort, Bytes(hello, sizeof(hello)))) {
      die("priming datagram to " + formatIpv6(p.teredo) + ": " + std::strerror(errno));
    }
  }
  Poller poller;
  poller.add(serverSocket.fd(), static_cast<uint32_t>(sockets.size()));
  for (size_t i = 0; i < sockets.size(); ++i) {
    poller.add(sockets[i].fd(), static_cast<uint32_t>(i));
  }
  net::RecvBatch rx(64, 2048);
  std::array<uint8_t, kIpv6HeaderSize> bubble{};
  const auto deadline = t0 + static_cast<uint64_t>(timeout * 1e9);
  while (res.primed < peers.size() && nowNs() < deadline) {
    for (const auto& ev : poller.wait(20)) {
      const bool atServer = ev.data.u32 == sockets.size();
      net::UdpSocket& s = atServer ? serverSocket : sockets[ev.data.u32];
      while (rx.receive(s) > 0) {
        for (const auto& m : rx.messages()) {
          auto parsed = parsePacket(m.data);
          if (!parsed.ok()) {
            continue;
          }
          if (atServer) {
            // The relay's indirect bubble (RFC 4380 §5.4.1 case 3) towards peer ip.dst.
            if (!parsed->isBubble() || !isTeredo(parsed->ip.dst, kDefaultPrefix)) {
              continue;
            }
            ++res.bubblesSeen;
            Endpoint mapped = decodeTeredo(parsed->ip.dst).mapped();
            auto it = byMapping.find({mapped.addr, mapped.port});
            if (it == byMapping.end()) {
              continue;
            }
            // The client's answer: a direct bubble from its own mapping (§5.2.4) to the source
            // of the indirect bubble.
            writeBubble(MutableBytes(bubble), peers[it->second].teredo, parsed->ip.src);
            net::SendBatch one(1, 64);
            one.add(relay, Bytes(bubble));
            if (one.flush(sockets[it->second]).sent == 1) {
              ++res.bubbleReplies;
              peers[it->second].bubbled = true;
            }
          } else {
            Peer& p = peers[ev.data.u32];
            if (!p.primed && parsed->ip.src == native && parsed->ip.dst == p.teredo) {
              p.primed = true;
              ++res.primed;
            }
          }
        }
      }
    }
  }
  res.seconds = static_cast<double>(nowNs() - t0) / 1e9;
  return res;
}

int runRelayRx(Args& args) {
  const Endpoint relay = endpointOrDie(args.required("relay"), 3545);
  const std::vector<uint32_t> binds = ipv4ListOrDie(args.required("bind"));
  const auto peerCount = static_cast<size_t>(args.number("peers", 64));
  const uint32_t teredoServer = ipv4OrDie(args.required("teredo-server"));
  const Ipv6Addr native = ipv6OrDie(args.required("dst"));
  const auto dport = static_cast<uint16_t>(args.number("dport", 9));
  const auto payloadSize = static_cast<size_t>(args.number("size", 64));
  const double rate = args.number("rate", 0);
  const double duration = args.number("duration", 3);
  const auto batchSize = static_cast<size_t>(args.number("batch", 64));
  const int bufferBytes = static_cast<int>(args.number("buffer", 4 << 20));
  const std::optional<std::string> primeNetns = args.get("prime-netns");
  const double primeTimeout = args.number("prime-timeout", 5);
  args.checkAllUsed();
  if (peerCount < 1 || peerCount > kMaxSockets || batchSize < 1 ||
      batchSize > net::SendBatch::kMaxCapacity || duration <= 0 ||
      payloadSize + 8 + kIpv6HeaderSize > 1280) {
    die("relay-rx: need 1 <= --peers <= 4096, 1 <= --batch <= 1024, --duration > 0, "
        "--size <= 1232");
  }

  std::vector<net::UdpSocket> sockets = openSockets(binds, peerCount, bufferBytes);
  std::vector<Peer> peers(peerCount);
  for (size_t i = 0; i < peerCount; ++i) {
    Endpoint e = sockets[i].localEndpoint();
    // RFC 4380 §4, flags 0 (non-cone, so relays never take the §5.4.1 case 2 shortcut).
    peers[i].teredo = encodeTeredo(kDefaultPrefix, TeredoFields{teredoServer, 0, e.port, e.addr});
    peers[i].packetLen = writeIpv6Udp(MutableBytes(peers[i].packet), peers[i].teredo, native,
                                      kNativeSourcePort, dport, payloadSize);
  }

  PrimeResult pr;
  if (primeNetns) {
    net::UdpOptions options;
    auto serverSocket = net::UdpSocket::open(Endpoint{teredoServer, kTeredoPort}, options);
    if (!serverSocket.ok()) {
      die(serverSocket.status().message() + " (--teredo-server must be a local address)");
    }
    pr = prime(peers, sockets, serverSocket.value(), relay, native, kNativeSourcePort, *primeNetns,
               primeTimeout);
  }

  net::SendBatch sendBatch(batchSize, 1280);
  uint64_t sent = 0, sendFailed = 0, sendCalls = 0;
  const uint64_t start = nowNs();
  const auto end = start + static_cast<uint64_t>(duration * 1e9);
  size_t next = 0;
  for (uint64_t now = start; now < end; now = nowNs()) {
    uint64_t allowed = batchSize;
    if (rate > 0) {
      auto due = static_cast<uint64_t>(rate * static_cast<double>(now - start) / 1e9) + 1;
      allowed =
          due > sent + sendFailed ? std::min<uint64_t>(due - sent - sendFailed, batchSize) : 0;
      if (allowed == 0) {
        continue;
      }
    }
    Peer& p = peers[next];
    net::UdpSocket& s = sockets[next];
    next = (next + 1) % peers.size();
    for (uint64_t i = 0; i < allowed; ++i) {
      sendBatch.add(relay, Bytes(p.packet.data(), p.packetLen));
    }
    net::FlushResult r = sendBatch.flush(s);
    ++sendCalls;
    sent += r.sent;
    sendFailed += r.failed;
  }
  std::printf(
      "{\"mode\":\"relay-rx\",\"relay\":\"%s\",\"peers\":%zu,\"primed\":%zu,"
      "\"bubbles_seen\":%zu,\"bubble_replies\":%zu,\"prime_s\":%.3f,"
      "\"packet_bytes\":%zu,\"target_rate\":%.0f,\"duration_s\":%.3f,\"sent\":%" PRIu64
      ",\"send_failed\":%" PRIu64 ",\"send_calls\":%" PRIu64 ",\"send_rate\":%.1f}\n",
      formatEndpoint(relay).c_str(), peers.size(), pr.primed, pr.bubblesSeen, pr.bubbleReplies,
      pr.seconds, peers[0].packetLen, rate, duration, sent, sendFailed, sendCalls,
      static_cast<double>(sent) / duration);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// spray6

int runSpray6(Args& args) {
  const auto count = static_cast<size_t>(args.number("count", 10000));
  const double seconds = args.number("seconds", 2);
  const uint32_t teredoServer = ipv4OrDie(args.required("teredo-server"));
  const uint32_t mappedBase = ipv4OrDie(args.required("mapped-base"));
  const auto dport = static_cast<uint16_t>(args.number("dport", 9));
  args.checkAllUsed();
  if (count < 1 || count > 6400000 || seconds <= 0) {
    die("spray6: need 1 <= --count <= 6400000 (100 addresses x 64000 ports), --seconds > 0");
  }
  net::Fd six(socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!six.valid()) {
    die(std::string("socket(AF_INET6): ") + std::strerror(errno));
  }
  const uint8_t hello[] = {'s', 'p', 'r', 'a', 'y'};
  uint64_t sent = 0, failed = 0;
  const uint64_t start = nowNs();
  for (size_t i = 0; i < count; ++i) {
    // Distinct mappings: 100 addresses from mapped-base x ports from 1024 up.
    TeredoFields f{teredoServer, 0, static_cast<uint16_t>(1024 + i / 100),
                   mappedBase + static_cast<uint32_t>(i % 100)};
    const auto due = start + static_cast<uint64_t>(seconds * 1e9 * static_cast<double>(i) /
                                                   static_cast<double>(count));
    while (nowNs() < due) {
      // Paced: the relay sees a steady stream rather than one burst its tun queue drops.
    }
    if (sendIpv6(six.get(), encodeTeredo(kDefaultPrefix, f), dport, Bytes(hello, sizeof(hello)))) {
      ++sent;
    } else {
      ++failed;
    }
  }
  std::printf("{\"mode\":\"spray6\",\"count\":%zu,\"sent\":%" PRIu64 ",\"failed\":%" PRIu64
              ",\"seconds\":%.3f}\n",
              count, sent, failed, static_cast<double>(nowNs() - start) / 1e9);
  return 0;
}

void usage() {
  std::fprintf(
      stderr,
      "usage: teredo_load rs --server IP[:3544] --bind IP[,IP...] [--sockets 64]\n"
      "           [--rate RS/s (0 = max)] [--duration 3] [--drain 0.3] [--batch 64]\n"
      "       teredo_load relay-rx --relay IP[:3545] --bind IP[,IP...] --teredo-server "
      "IP\n"
      "           --dst IPV6 [--dport 9] [--peers 64] [--size 64] [--rate 0]\n"
      "           [--duration 3] [--batch 64] [--prime-netns /run/netns/NS]\n"
      "           [--prime-timeout 5]\n"
      "       teredo_load spray6 --teredo-server IP --mapped-base IP [--count 10000]\n"
      "           [--seconds 2] [--dport 9]\n"
      "       teredo_load prime --relay IP[:3545] --teredo-server IP --mapped-base IP\n"
      "           --native IPV6 --native-netns /run/netns/NS [--first 0] [--count 10000]\n"
      "           [--rate 100000] [--settle 0.05] [--chunk 20000]\n"
      "       teredo_load flow --dir rx|tx --shape udp|tcp --relay IP[:3545]\n"
      "           --teredo-server IP --mapped-base IP --native IPV6\n"
      "           [--native-netns /run/netns/NS] [--peers 10000] [--flows 4] [--burst 16]\n"
      "           [--size 112] [--rate 20000] [--duration 2]\n"
      "Prints one JSON line. See docs/benchmarks.md.\n");
}

}  // namespace
}  // namespace teredo::bench

int main(int argc, char** argv) {
  using namespace teredo::bench;
  if (argc < 2) {
    usage();
    return 2;
  }
  std::string_view mode = argv[1];
  Args args(argc, argv);
  if (mode == "rs") {
    return runRs(args);
  }
  if (mode == "relay-rx") {
    return runRelayRx(args);
  }
  if (mode == "spray6") {
    return runSpray6(args);
  }
  if (mode == "prime") {
    return runPrime(args);
  }
  if (mode == "flow") {
    return runFlow(args);
  }
  usage();
  return 2;
}
