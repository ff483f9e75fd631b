#!/usr/bin/python3
"""Load and spoofing traffic for teredo-relay lab tests (tests/integration/relay_*.sh).

Run inside a lab namespace (ip netns exec NS /usr/bin/python3 relay_load.py ...). Standard
library only (fast start, no scapy). Every command is bounded in count and time and prints one
JSON document on stdout.

Commands
  addr    print the Teredo address (RFC 4380 §4) for SERVER, MAPPED_IP, MAPPED_PORT [FLAGS]
  words   print the 16 bytes of an IPv6 address as four 0x........ words (for BPF filters such
          as udp[32:4] = WORD0 and ...)
  spray6  send one IPv6 UDP datagram to each of COUNT distinct Teredo destinations (embedded
          server SERVER, mapped addresses drawn from PREFIX x random ports), paced to finish in
          about SECONDS: a relay must create an untrusted peer and bubble for each one
  spoof   send Teredo UDP datagrams to a relay whose inner IPv6 source is a Teredo address whose
          mapping is NOT this socket's address/port (RFC 4380 §5.4.2 step 2, R21): either
          given addresses (--src, e.g. a real client's address) or random ones (--random)

Examples
  relay_load.py addr 198.51.100.10 203.0.113.200 4242
  relay_load.py spray6 --server 198.51.100.10 --prefix 203.0.113.128/25 --count 6000 --seconds 4
  relay_load.py spoof --relay 198.51.100.20:3545 --bind 198.51.100.50:40000 \\
      --dst 2001:db8:2::2 --dport 9999 --src 2001:0:c633:640a:... --random 2000 --seconds 3

Exit status: 0 when the command ran, 2 on usage errors.
"""

import argparse
import ipaddress
import json
import random
import socket
import struct
import sys
import time


def teredo_address(server, mapped_ip, mapped_port, flags=0):
    """RFC 4380 §4: 2001:0:<server>:<flags>:<~port>:<~client IPv4>."""
    raw = (b"\x20\x01\x00\x00" + ipaddress.IPv4Address(server).packed +
           struct.pack("!HH", flags, mapped_port ^ 0xFFFF) +
           bytes(b ^ 0xFF for b in ipaddress.IPv4Address(mapped_ip).packed))
    return ipaddress.IPv6Address(raw)


def teredo_mapping(addr):
    """(mapped IPv4 text, mapped port) embedded in a Teredo address."""
    raw = ipaddress.IPv6Address(addr).packed
    port = struct.unpack("!H", raw[10:12])[0] ^ 0xFFFF
    return str(ipaddress.IPv4Address(bytes(b ^ 0xFF for b in raw[12:16]))), port


def checksum16(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ipv6_udp(src, dst, sport, dport, payload, hop_limit=64):
    """An IPv6 packet carrying one UDP datagram (RFC 8200, RFC 768 with the RFC 2460 §8.1
    pseudo-header checksum)."""
    s, d = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    length = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    pseudo = s + d + struct.pack("!I3xB", length, 17)
    csum = 0xFFFF - checksum16(pseudo + udp)
    udp = udp[:6] + struct.pack("!H", csum or 0xFFFF) + udp[8:]
    header = struct.pack("!IHBB", 6 << 28, length, 17, hop_limit) + s + d
    return header + udp


def paced(count, seconds):
    """Yields 0..count-1, sleeping so that the whole run takes about `seconds`."""
    start = time.monotonic()
    gap = seconds / count if count else 0
    for i in range(count):
        due = start + i * gap
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        yield i


def cmd_addr(args):
    print(teredo_address(args.server, args.mapped_ip, args.mapped_port, args.flags))


def cmd_words(args):
    raw = ipaddress.IPv6Address(args.addr).packed
    print(" ".join("0x%08x" % w for w in struct.unpack("!4I", raw)))


def cmd_spray6(args):
    rng = random.Random(args.seed)
    net = ipaddress.IPv4Network(args.prefix)
    hosts = [str(h) for h in net.hosts() if str(h) not in args.exclude]
    seen, dests = set(), []
    while len(dests) < args.count:
        ip, port = rng.choice(hosts), rng.randrange(1024, 65536)
        if (ip, port) not in seen:
            seen.add((ip, port))
            dests.append(str(teredo_address(args.server, ip, port)))
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    payload = b"relay-lab-spray" + b"\x00" * max(0, args.size - 15)
    sent = errors = 0
    deadline = time.monotonic() + args.seconds + 5
    t0 = time.monotonic()
    for i in paced(len(dests), args.seconds):
        if time.monotonic() > deadline:
            break
        try:
            sock.sendto(payload, (dests[i], args.dport))
            sent += 1
        except OSError:
            errors += 1  # ENOBUFS or an ICMPv6 error reported on the socket
    print(json.dumps({"sent": sent, "errors": errors, "distinct": len(set(dests[:sent])),
                      "elapsed": round(time.monotonic() - t0, 3)}))


def cmd_spoof(args):
    rng = random.Random(args.seed)
    bind_ip, bind_port = args.bind.rsplit(":", 1)
    relay_ip, relay_port = args.relay.rsplit(":", 1)
    relay = (relay_ip, int(relay_port))
    me = (bind_ip, int(bind_port))
    sources = list(args.src or [])
    for _ in range(args.random):
        while True:
            ip = "203.0.113.%d" % rng.randrange(128, 255)
            port = rng.randrange(1024, 65536)
            if (ip, port) != me:
                break
        sources.append(str(teredo_address(args.server, ip, port)))
    if not sources:
        print("spoof: give --src or --random", file=sys.stderr)
        sys.exit(2)
    for s in sources:
        if teredo_mapping(s) == me:
            sys.exit("spoof: source %s is not spoofed (its mapping is our own socket)" % s)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(me)
    sent = errors = 0
    total = len(sources) * args.repeat
    for i in paced(total, args.seconds):
        src = sources[i % len(sources)]
        pkt = ipv6_udp(src, args.dst, 40000, args.dport, args.marker.encode())
        try:
            sock.sendto(pkt, relay)
            sent += 1
        except OSError:
            errors += 1
    print(json.dumps({"sent": sent, "errors": errors, "sources": len(sources)}))


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ad = sub.add_parser("addr", help="build a Teredo address")
    ad.add_argument("server")
    ad.add_argument("mapped_ip")
    ad.add_argument("mapped_port", type=int)
    ad.add_argument("flags", type=lambda s: int(s, 0), nargs="?", default=0)
    wd = sub.add_parser("words", help="an IPv6 address as four 32-bit words")
    wd.add_argument("addr")
    sp = sub.add_parser("spray6", help="IPv6 UDP to many distinct Teredo destinations")
    sp.add_argument("--server", required=True, help="embedded server IPv4")
    sp.add_argument("--prefix", default="203.0.113.128/25", help="mapped IPv4s drawn from here")
    sp.add_argument("--exclude", action="append", default=[], help="mapped IPv4 to avoid")
    sp.add_argument("--count", type=int, required=True)
    sp.add_argument("--seconds", type=float, default=4.0)
    sp.add_argument("--size", type=int, default=64, help="UDP payload bytes")
    sp.add_argument("--dport", type=int, default=9)
    sp.add_argument("--seed", type=int, default=1)
    so = sub.add_parser("spoof", help="Teredo packets with spoofed inner IPv6 sources")
    so.add_argument("--relay", required=True, help="IPv4:PORT of the relay")
    so.add_argument("--bind", required=True, help="our IPv4:PORT (the real UDP source)")
    so.add_argument("--server", default="198.51.100.10", help="server in random sources")
    so.add_argument("--src", action="append", help="a Teredo source to claim (repeatable)")
    so.add_argument("--random", type=int, default=0, help="also N random Teredo sources")
    so.add_argument("--repeat", type=int, default=1, help="send each source this many times")
    so.add_argument("--dst", required=True, help="inner IPv6 destination (native host)")
    so.add_argument("--dport", type=int, default=9999)
    so.add_argument("--marker", default="relay-lab-spoofed")
    so.add_argument("--seconds", type=float, default=2.0)
    so.add_argument("--seed", type=int, default=2)
    return ap


def main(argv):
    args = parser().parse_args(argv)
    if args.cmd in ("spray6", "spoof") and getattr(args, "seconds", 1) > 30:
        sys.exit("refusing to run longer than 30 s")
    if args.cmd == "spray6" and not 0 < args.count <= 100000:
        sys.exit("spray6: --count must be 1..100000")
    {"addr": cmd_addr, "words": cmd_words, "spray6": cmd_spray6, "spoof": cmd_spoof}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
