// SPDX-License-Identifier: GPL-2.0
// bench/kfloor/teredo_floor.bpf.c: the "kernel floor" of the relay fast-path benchmark
// (bench/run.sh, phase floor; docs/benchmarks.md, "Kernel floor").
//
// Two tc (clsact, direct-action) programs that do only the bare minimum of a Teredo relay
// (RFC 4380) in the kernel, with no trust, no peer table, no bubbles and no process at all:
//
//   teredo_floor_rx  (ingress of the relay's IPv4 side): an IPv4/UDP datagram to RELAY_V4:
//                    RELAY_PORT whose payload is a plain IPv6 packet loses its outer IPv4+UDP
//                    header and goes to the native side: FIB lookup on the inner destination,
//                    hop limit decremented, redirected with the next hop's MAC addresses.
//   teredo_floor_tx  (ingress of the relay's IPv6 side): an IPv6 packet to 2001::/32 gets an
//                    IPv4+UDP header towards the client's mapping read from its Teredo address
//                    (RFC 4380 §4: port = NOT bits 80-95, IPv4 = NOT bits 96-127), from
//                    RELAY_V4:RELAY_PORT, IPv4 header checksum computed, UDP checksum 0
//                    (allowed for IPv4), then the same FIB lookup and redirect.
//
// Everything else (ARP, neighbour discovery, indirect-bubble formats, packets that cannot be
// forwarded: hop limit, no route) goes on to the kernel's stack untouched (TC_ACT_OK).
// RELAY_V4 (host order, e.g. 0xcb007114 for 203.0.113.20) and RELAY_PORT are given at compile
// time: bench/run.sh builds this file with
//   clang -O2 -g -target bpf -DRELAY_V4=0x... -DRELAY_PORT=3545 -c teredo_floor.bpf.c
// and attaches the sections "tc/rx" and "tc/tx" with tc(8). The FIB lookup needs forwarding
// enabled (net.ipv4.conf.all.forwarding for tx, net.ipv6.conf.all.forwarding for rx) in the
// namespace, as on any router.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef RELAY_V4
#error "define RELAY_V4 (the relay's IPv4 address, host byte order)"
#endif
#ifndef RELAY_PORT
#define RELAY_PORT 3545
#endif

// Kernel 6.3 and later: the decapsulation flag that also sets skb->protocol (older uapi headers,
// such as Debian 12's, lack it; an older kernel refuses it and the program retries without).
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV6
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

#define AF_INET 2
#define AF_INET6 10
#define ETH_LEN ((int)sizeof(struct ethhdr))
#define ENCAP_LEN ((int)(sizeof(struct iphdr) + sizeof(struct udphdr)))
#define TEREDO_PREFIX 0x20010000U  // 2001::/32

char LICENSE[] SEC("license") = "GPL";

// The packet's first `need` bytes, direct-accessible (a paged skb is pulled once), or NULL when
// it is not of `proto` or shorter.
static __always_inline void* front(struct __sk_buff* skb, __be16 proto, __u32 need) {
  if (skb->protocol != proto) {
    return NULL;
  }
  if ((void*)(long)skb->data + need > (void*)(long)skb->data_end &&
      (skb->len < need || bpf_skb_pull_data(skb, need) != 0)) {
    return NULL;
  }
  void* data = (void*)(long)skb->data;
  if (data + need > (void*)(long)skb->data_end) {
    return NULL;
  }
  return data;
}

// Sends the packet (Ethernet header at the front, h_proto already set) to the next hop that
// the FIB lookup found: with its MAC addresses when the neighbour is known, else through the
// neighbour subsystem (which resolves it and queues the packet meanwhile).
static __always_inline int forward(struct __sk_buff* skb, struct bpf_fib_lookup* fib, long rc) {
  if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
    void* data = (void*)(long)skb->data;
    void* end = (void*)(long)skb->data_end;
    struct ethhdr* eth = data;
    if ((void*)(eth + 1) > end) {
      return TC_ACT_SHOT;
    }
    __builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
    return bpf_redirect(fib->ifindex, 0);
  }
  struct bpf_redir_neigh nh = {};
  if (fib->family == AF_INET) {
    nh.nh_family = AF_INET;
    nh.ipv4_nh = fib->ipv4_dst;
  } else {
    nh.nh_family = AF_INET6;
    __builtin_memcpy(nh.ipv6_nh, fib->ipv6_dst, sizeof nh.ipv6_nh);
  }
  return bpf_redirect_neigh(fib->ifindex, &nh, sizeof nh, 0);
}

// Client -> native IPv6: decapsulation.
SEC("tc/rx")
int teredo_floor_rx(struct __sk_buff* skb) {
  const __u32 need = ETH_LEN + ENCAP_LEN + sizeof(struct ipv6hdr);
  void* data = front(skb, bpf_htons(ETH_P_IP), need);
  if (data == NULL) {
    return TC_ACT_OK;
  }
  struct ethhdr* eth = data;
  struct iphdr* ip = (void*)(eth + 1);
  struct udphdr* udp = (void*)(ip + 1);
  struct ipv6hdr* ip6 = (void*)(udp + 1);
  if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->version != 4 || ip->ihl != 5 ||
      ip->protocol != IPPROTO_UDP || ip->daddr != bpf_htonl(RELAY_V4) ||
      (ip->frag_off & bpf_htons(0x3fff)) != 0 || udp->dest != bpf_htons(RELAY_PORT)) {
    return TC_ACT_OK;
  }
  // A plain IPv6 packet filling the datagram (not a bubble with an origin or authentication
  // indicator: those start with 0x00), which can still be forwarded.
  if (ip6->version != 6 || ip6->hop_limit <= 1 ||
      bpf_ntohs(udp->len) !=
          sizeof(struct udphdr) + sizeof(struct ipv6hdr) + bpf_ntohs(ip6->payload_len)) {
    return TC_ACT_OK;
  }
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET6;
  fib.l4_protocol = ip6->nexthdr;
  fib.ifindex = skb->ingress_ifindex;
  fib.flowinfo = *(__be32*)ip6 & bpf_htonl(0x0fffffff);
  __builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof fib.ipv6_src);
  __builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof fib.ipv6_dst);
  long rc = bpf_fib_lookup(skb, &fib, sizeof fib, 0);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
    return TC_ACT_OK;  // not forwardable here: the stack decides (and drops it)
  }
  ip6->hop_limit--;
  if (bpf_skb_adjust_room(skb, -ENCAP_LEN, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_DECAP_L3_IPV6) != 0 &&
      bpf_skb_adjust_room(skb, -ENCAP_LEN, BPF_ADJ_ROOM_MAC, 0) != 0) {
    return TC_ACT_SHOT;
  }
  data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  eth = data;
  if ((void*)(eth + 1) > end) {
    return TC_ACT_SHOT;
  }
  eth->h_proto = bpf_htons(ETH_P_IPV6);
  return forward(skb, &fib, rc);
}

// Native IPv6 -> client: encapsulation towards the mapping in the Teredo address.
SEC("tc/tx")
int teredo_floor_tx(struct __sk_buff* skb) {
  const __u32 need = ETH_LEN + sizeof(struct ipv6hdr);
  void* data = front(skb, bpf_htons(ETH_P_IPV6), need);
  if (data == NULL) {
    return TC_ACT_OK;
  }
  struct ethhdr* eth = data;
  struct ipv6hdr* ip6 = (void*)(eth + 1);
  if (eth->h_proto != bpf_htons(ETH_P_IPV6) || ip6->version != 6 ||
      ip6->daddr.in6_u.u6_addr32[0] != bpf_htonl(TEREDO_PREFIX) || ip6->hop_limit <= 1 ||
      ip6->payload_len == 0) {
    return TC_ACT_OK;
  }
  // RFC 4380 §4: bits 80-95 are the obfuscated mapped port, bits 96-127 the obfuscated mapped
  // IPv4 address (both the bitwise NOT of the real ones; NOT commutes with the byte order).
  const __be16 peer_port = ~ip6->daddr.in6_u.u6_addr16[5];
  const __be32 peer_v4 = ~ip6->daddr.in6_u.u6_addr32[3];
  const __u32 inner = sizeof(struct ipv6hdr) + bpf_ntohs(ip6->payload_len);
  if (inner + ENCAP_LEN > 0xffff) {
    return TC_ACT_OK;
  }
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.l4_protocol = IPPROTO_UDP;
  fib.sport = bpf_htons(RELAY_PORT);
  fib.dport = peer_port;
  fib.ifindex = skb->ingress_ifindex;
  fib.ipv4_src = bpf_htonl(RELAY_V4);
  fib.ipv4_dst = peer_v4;
  long rc = bpf_fib_lookup(skb, &fib, sizeof fib, 0);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
    return TC_ACT_OK;
  }
  ip6->hop_limit--;
  // 28 bytes after the Ethernet header; skb->protocol becomes IPv4, a GRO-merged TCP burst keeps
  // its segment size and is segmented (with the outer header copied) on transmit.
  if (bpf_skb_adjust_room(skb, ENCAP_LEN, BPF_ADJ_ROOM_MAC,
                          BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
                              BPF_F_ADJ_ROOM_FIXED_GSO) != 0) {
    return TC_ACT_SHOT;
  }
  data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  eth = data;
  struct iphdr* ip = (void*)(eth + 1);
  struct udphdr* udp = (void*)(ip + 1);
  if ((void*)(udp + 1) > end) {
    return TC_ACT_SHOT;
  }
  eth->h_proto = bpf_htons(ETH_P_IP);
  const __u16 total = (__u16)(inner + ENCAP_LEN);
  ip->version = 4;
  ip->ihl = 5;
  ip->tos = 0;
  ip->tot_len = bpf_htons(total);
  ip->id = 0;
  ip->frag_off = 0;
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->saddr = bpf_htonl(RELAY_V4);
  ip->daddr = peer_v4;
  // Header checksum (RFC 791): one's complement sum of the 16-bit words, checksum field 0.
  const __u32 dst = bpf_ntohl(peer_v4);
  __u32 sum = 0x4500 + total + ((64 << 8) | IPPROTO_UDP) + (RELAY_V4 >> 16) + (RELAY_V4 & 0xffff) +
              (dst >> 16) + (dst & 0xffff);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  ip->check = bpf_htons((__u16)~sum);
  udp->source = bpf_htons(RELAY_PORT);
  udp->dest = peer_port;
  udp->len = bpf_htons((__u16)(inner + sizeof(struct udphdr)));
  udp->check = 0;
  return forward(skb, &fib, rc);
}
