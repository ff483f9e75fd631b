#!/usr/bin/python3
"""Crafted-packet probe for Teredo server/relay conformance on the wire (docs/conformance.md).

Run it inside a lab namespace (ip netns exec NS /usr/bin/python3 teredo_probe.py ...): it sends
from a plain UDP socket bound to a local address/port, prints what came back (and, optionally,
what a tcpdump in another namespace saw leave) as one JSON document on stdout.

Commands
  rs      send a Router Solicitation (RFC 4380 §5.2.1) to a server, decode the RAs that come back
  send    send an arbitrary Teredo payload (bubble, echo request, raw hex), with optional
          authentication/origin framing and RFC 6081 trailers; listen on extra sockets and
          capture in other namespaces
  decode  decode a hex Teredo UDP payload
  addr    build a Teredo address (RFC 4380 §4)
  flood   many RSs from ONE socket at a paced rate, counting the RAs (rate limiter tests); a
          second socket solicits once mid-flood and reports whether and how fast it was answered
  many    one RS from each of many sockets (distinct source addresses x ports), counting answers
  spray   RSs with spoofed IPv4 sources (raw socket, IP_HDRINCL) from the given prefixes x ports;
          nothing is received (replies go wherever the server's routes send them)
  qualify RFC 4380 §5.2.1 qualification as a black-box client (what pteredor and Microsoft's
          Get-NatType do): cone RS to the primary, then plain RSs to the primary and the
          secondary; verdict cone / restricted / symmetric / offline (see cmd_qualify())
  serve   line protocol for test scripts: commands and "?EXPR" queries on stdin (see serve())

Examples
  teredo_probe.py rs --server 198.51.100.10 --bind 198.51.100.50:40000 --cone
  teredo_probe.py send --to 198.51.100.10:3544 --bind 198.51.100.50:40000 \\
      echo --src auto --dst 2001:db8:2::2 --capture tf1-srv:eth0:ip6
  teredo_probe.py send --to 198.51.100.10:3544 --bind 198.51.100.50:40000 \\
      --listen 198.51.100.50:40001 bubble --src auto --dst CLIENT_B --trailer 030e...

  teredo_probe.py flood --server 198.51.100.10 --bind 198.51.100.50:40000 --count 5000 \\
      --pps 2500 --second-bind 198.51.100.51:40000
  teredo_probe.py spray --server 198.51.100.10 --sources 203.0.113.0/24 --ports 50 --count 20000
  teredo_probe.py qualify --server 198.51.100.10 --secondary 198.51.100.11 --timeout 1 --runs 2

Exit status: 0 when the probe ran (whatever came back), 2 on usage or environment errors.
scapy is used only to build and parse IPv6/ICMPv6; sockets are plain UDP. Needs /usr/bin/python3
(Debian's python3-scapy).
"""

import argparse
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from scapy.layers.inet import IP
from scapy.layers.inet6 import (IPv6, ICMPv6EchoRequest, ICMPv6ND_RS, ICMPv6ND_RA,
                                ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo)
from scapy.utils import rdpcap

TEREDO_PORT = 3544
# Link-local RS sources seen on the wire (S6 in docs/conformance.md).
LL_MIREDO = "fe80::ffff:ffff:ffff"
LL_MIREDO_CONE = "fe80::8000:5445:5245:444f"
LL_WINDOWS = "fe80::ffff:ffff:fffe"
LL_WINDOWS_CONE = "fe80::8000:ffff:ffff:fffe"
TRAILER_NAMES = {1: "nonce", 3: "alternate_address", 4: "nd_option", 5: "random_port"}


# ---------------------------------------------------------------------------------------------
# Addresses and framing


def parse_endpoint(text, default_port=None):
    if ":" in text:
        host, port = text.rsplit(":", 1)
        return host, int(port)
    if default_port is None:
        raise argparse.ArgumentTypeError(f"{text}: need IP:PORT")
    return text, default_port


def teredo_address(server, client_ip, client_port, flags=0):
    """RFC 4380 §4: 2001:0:<server>:<flags>:<~port>:<~client>."""
    raw = (b"\x20\x01\x00\x00" + ipaddress.IPv4Address(server).packed +
           struct.pack("!HH", flags, client_port ^ 0xFFFF) +
           bytes(b ^ 0xFF for b in ipaddress.IPv4Address(client_ip).packed))
    return str(ipaddress.IPv6Address(raw))


def decode_teredo_address(addr):
    a = ipaddress.IPv6Address(addr).packed
    if a[:4] != b"\x20\x01\x00\x00":
        return None
    return {
        "server": str(ipaddress.IPv4Address(a[4:8])),
        "flags": "0x%04x" % int.from_bytes(a[8:10], "big"),
        "cone": bool(a[8] & 0x80),
        "port": int.from_bytes(a[10:12], "big") ^ 0xFFFF,
        "client": str(ipaddress.IPv4Address(bytes(b ^ 0xFF for b in a[12:16]))),
    }


def auth_header(nonce, client_id=b"", auth_value=b"", confirmation=0):
    """RFC 4380 §5.1.1 authentication encapsulation (type 0x0001)."""
    return (struct.pack("!BBBB", 0, 1, len(client_id), len(auth_value)) + client_id +
            auth_value + nonce + bytes([confirmation]))


def origin_indication(ip, port):
    """RFC 4380 §5.1.1 origin indication (type 0x0000), obfuscated."""
    return (struct.pack("!BBH", 0, 0, port ^ 0xFFFF) +
            bytes(b ^ 0xFF for b in ipaddress.IPv4Address(ip).packed))


def icmpv6_checksum(src, dst, icmp):
    """RFC 4443 §2.3 / RFC 8200 §8.1 pseudo-header checksum over an ICMPv6 message."""
    pseudo = (ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed +
              struct.pack("!I3xB", len(icmp), 58))
    data = pseudo + icmp
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def parse_trailers(data):
    out = []
    i = 0
    while i + 2 <= len(data):
        t, ln = data[i], data[i + 1]
        value = data[i + 2:i + 2 + ln]
        out.append({"type": t, "name": TRAILER_NAMES.get(t, "unknown"), "length": ln,
                    "value": value.hex(), "truncated": len(value) < ln})
        i += 2 + ln
    if i < len(data):
        out.append({"garbage": data[i:].hex()})
    return out


def decode_ipv6(data):
    """Decode an IPv6 packet (native or Teredo-encapsulated); extra bytes are trailers."""
    out = {}
    if len(data) < 40 or data[0] >> 4 != 6:
        return {"error": "not IPv6", "hex": data.hex()}
    plen = struct.unpack("!H", data[4:6])[0]
    nh, hlim = data[6], data[7]
    src = str(ipaddress.IPv6Address(data[8:24]))
    dst = str(ipaddress.IPv6Address(data[24:40]))
    out["ipv6"] = {"src": src, "dst": dst, "hlim": hlim, "nh": nh, "plen": plen,
                   "len": 40 + plen, "flow": struct.unpack("!I", data[0:4])[0] & 0xFFFFF}
    if len(data) < 40 + plen:
        out["ipv6"]["truncated"] = True
        return out
    for key, a in (("src_teredo", src), ("dst_teredo", dst)):
        t = decode_teredo_address(a)
        if t:
            out["ipv6"][key] = t
    extra = data[40 + plen:]
    if extra:
        out["trailers"] = parse_trailers(extra)
        out["trailers_hex"] = extra.hex()
    payload = data[40:40 + plen]
    if nh == 59 and plen == 0:
        out["bubble"] = True
    if nh != 58 or len(payload) < 4:
        return out
    icmp = {"type": payload[0], "code": payload[1],
            "checksum": "0x%04x" % struct.unpack("!H", payload[2:4])[0]}
    zeroed = payload[:2] + b"\x00\x00" + payload[4:]
    icmp["checksum_ok"] = icmpv6_checksum(src, dst, zeroed) == struct.unpack(
        "!H", payload[2:4])[0]
    out["icmpv6"] = icmp
    pkt = IPv6(data[:40 + plen])
    if payload[0] == 134 and pkt.haslayer(ICMPv6ND_RA):
        ra = pkt[ICMPv6ND_RA]
        info = {"cur_hop_limit": ra.chlim, "m": ra.M, "o": ra.O,
                "router_lifetime": ra.routerlifetime, "reachable_time": ra.reachabletime,
                "retrans_timer": ra.retranstimer, "pio": [], "mtu": [], "other_options": []}
        layer = ra.payload
        while layer is not None and layer.name != "NoPayload":
            if isinstance(layer, ICMPv6NDOptPrefixInfo):
                info["pio"].append({"prefix": str(layer.prefix), "prefix_len": layer.prefixlen,
                                    "l": layer.L, "a": layer.A,
                                    "valid": layer.validlifetime,
                                    "preferred": layer.preferredlifetime})
            elif isinstance(layer, ICMPv6NDOptMTU):
                info["mtu"].append(layer.mtu)
            else:
                info["other_options"].append(layer.name)
            layer = layer.payload
        out["ra"] = info
    elif payload[0] in (128, 129) and len(payload) >= 8:
        ident, seq = struct.unpack("!HH", payload[4:8])
        icmp.update({"id": ident, "seq": seq, "data_len": len(payload) - 8})
    return out


def decode_teredo(payload):
    """Decode a Teredo UDP payload: [auth] [origin] IPv6 [trailers] (RFC 4380 §5.1.1)."""
    out = {"len": len(payload)}
    i = 0
    if payload[i:i + 2] == b"\x00\x01":
        if len(payload) < i + 4:
            return dict(out, error="short auth header")
        id_len, au_len = payload[i + 2], payload[i + 3]
        end = i + 4 + id_len + au_len + 9
        if len(payload) < end:
            return dict(out, error="truncated auth header")
        body = payload[i + 4:end]
        out["auth"] = {"id_len": id_len, "au_len": au_len, "id": body[:id_len].hex(),
                       "value": body[id_len:id_len + au_len].hex(),
                       "nonce": body[id_len + au_len:id_len + au_len + 8].hex(),
                       "confirmation": body[-1]}
        i = end
    if payload[i:i + 2] == b"\x00\x00":
        if len(payload) < i + 8:
            return dict(out, error="truncated origin indication")
        port = struct.unpack("!H", payload[i + 2:i + 4])[0] ^ 0xFFFF
        ip = ipaddress.IPv4Address(bytes(b ^ 0xFF for b in payload[i + 4:i + 8]))
        out["origin"] = {"ip": str(ip), "port": port}
        i += 8
    if len(payload) > i and payload[i] == 0:
        return dict(out, error="unknown framing 0x%02x%02x" % (payload[i], payload[i + 1]))
    out.update(decode_ipv6(payload[i:]))
    return out


# ---------------------------------------------------------------------------------------------
# Capture in another namespace (tcpdump, pcap parsed with scapy)


class Capture:
    """tcpdump -i IFACE in network namespace NETNS; stopped with SIGINT by its own PID."""

    def __init__(self, spec):
        parts = spec.split(":", 2)
        if len(parts) < 2:
            raise SystemExit(f"--capture {spec}: want NETNS:IFACE[:BPF]")
        self.netns, self.iface = parts[0], parts[1]
        self.bpf = parts[2] if len(parts) == 3 else "udp or ip6"
        fd, self.path = tempfile.mkstemp(prefix="teredo_probe.", suffix=".pcap")
        os.close(fd)
        cmd = ["ip", "netns", "exec", self.netns] if self.netns not in ("", "-") else []
        cmd += ["tcpdump", "-i", self.iface, "-n", "-U", "--immediate-mode", "-Z", "root",
                "-w", self.path, self.bpf]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Wait for "listening on" (after it, packets are captured). Read the raw fd: a buffered
        # readline() could hide a second line from select().
        deadline = time.monotonic() + 5
        fd = self.proc.stderr.fileno()
        text = b""
        while time.monotonic() < deadline and b"listening on" not in text:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                text += chunk
        if self.proc.poll() is not None or b"listening on" not in text:
            self.stop()
            raise SystemExit(f"tcpdump in {self.netns}/{self.iface} did not start: {text!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        packets = []
        try:
            for p in rdpcap(self.path):
                packets.append(describe_frame(p))
        except Exception as e:  # an empty or cut pcap
            packets.append({"error": str(e)})
        finally:
            os.unlink(self.path)
        return {"netns": self.netns, "iface": self.iface, "filter": self.bpf,
                "packets": packets}


def describe_frame(pkt):
    """A captured packet (Ethernet or Linux cooked) -> IPv4/UDP (Teredo decoded) or native IPv6."""
    if pkt.haslayer(IP):
        data = bytes(pkt[IP])
        ihl = (data[0] & 0x0F) * 4
        proto = data[9]
        out = {"ipv4": {"src": str(ipaddress.IPv4Address(data[12:16])),
                        "dst": str(ipaddress.IPv4Address(data[16:20])), "proto": proto,
                        "df": bool(data[6] & 0x40)}}
        if proto == 17 and len(data) >= ihl + 8:
            sport, dport, ulen = struct.unpack("!HHH", data[ihl:ihl + 6])
            out["udp"] = {"sport": sport, "dport": dport, "len": ulen - 8}
            out["teredo"] = decode_teredo(data[ihl + 8:ihl + ulen])
        return out
    if pkt.haslayer(IPv6):
        return {"native": decode_ipv6(bytes(pkt[IPv6]))}
    return {"other": pkt.summary()}


# ---------------------------------------------------------------------------------------------
# Sending and receiving


def open_socket(bind):
    host, port = bind
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    return s


def receive(sockets, timeout, max_replies=None):
    """Collect datagrams from all sockets until timeout (or max_replies)."""
    replies = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or (max_replies is not None and len(replies) >= max_replies):
            break
        r, _, _ = select.select(sockets, [], [], left)
        for s in r:
            data, peer = s.recvfrom(65535)
            here = s.getsockname()
            rep = {"on": "%s:%d" % here, "from": "%s:%d" % peer,
                   "rx_ms": round((time.monotonic() - (deadline - timeout)) * 1000)}
            rep.update(decode_teredo(data))
            rep["hex"] = data.hex()
            replies.append(rep)
    return replies


def build_rs(args):
    src = args.src or (LL_MIREDO_CONE if args.cone else LL_MIREDO)
    rs = ICMPv6ND_RS(code=args.code)
    if args.bad_checksum:
        rs.cksum = 0xBAD0
    ipv6 = bytes(IPv6(src=src, dst=args.dst, hlim=args.hlim) / rs)
    nonce = bytes.fromhex(args.nonce) if args.nonce else os.urandom(8)
    prefix = b""
    if not args.no_auth:
        prefix = auth_header(nonce, bytes.fromhex(args.auth_id), bytes.fromhex(args.auth_value))
    return prefix + ipv6, src, nonce


def cmd_rs(args):
    payload, src, nonce = build_rs(args)
    server = (args.server, args.port)
    bind = parse_endpoint(args.bind, 0)
    sock = open_socket(bind)
    local = "%s:%d" % sock.getsockname()
    captures = [Capture(c) for c in args.capture]
    for _ in range(args.count):
        sock.sendto(payload, server)
    replies = receive([sock], args.timeout)
    result = {
        "request": {"to": "%s:%d" % server, "from": local, "src": src, "dst": args.dst,
                    "cone": bool(ipaddress.IPv6Address(src).packed[8] & 0x80),
                    "auth": not args.no_auth, "nonce": nonce.hex(), "hlim": args.hlim,
                    "code": args.code, "bad_checksum": args.bad_checksum,
                    "count": args.count, "hex": payload.hex()},
        "replies": replies,
    }
    for rep in replies:
        ipv6 = rep.get("ipv6", {})
        rep["is_ra"] = rep.get("icmpv6", {}).get("type") == 134
        rep["nonce_echo"] = rep.get("auth", {}).get("nonce") == nonce.hex()
        rep["dst_is_rs_src"] = ipv6.get("dst") == src
        origin = rep.get("origin", {})
        rep["origin_is_sender"] = "%s:%s" % (origin.get("ip"), origin.get("port")) == local
    if captures:
        time.sleep(0.2)
        result["captured"] = [c.stop() for c in captures]
    return result


def cmd_send(args):
    bind = parse_endpoint(args.bind, 0)
    sock = open_socket(bind)
    local_ip, local_port = sock.getsockname()
    to = parse_endpoint(args.to, TEREDO_PORT)
    if args.kind == "hex":
        payload = bytes.fromhex(args.payload)
    else:
        src = args.src
        if src == "auto":  # a Teredo source whose mapping is this socket (server case 5)
            src = teredo_address(args.src_server or to[0], local_ip, local_port)
        if args.kind == "bubble":
            ipv6 = bytes(IPv6(src=src, dst=args.dst, hlim=args.hlim, nh=59))
        else:
            data = os.urandom(args.size) if args.size else b"teredo-probe"
            ipv6 = bytes(IPv6(src=src, dst=args.dst, hlim=args.hlim) /
                         ICMPv6EchoRequest(id=args.ident, seq=args.seq, data=data))
        prefix = b""
        if args.auth:
            prefix += auth_header(bytes.fromhex(args.auth))
        if args.origin:
            oip, oport = parse_endpoint(args.origin)
            prefix += origin_indication(oip, oport)
        payload = prefix + ipv6 + b"".join(bytes.fromhex(t) for t in args.trailer)
    listeners = [sock] + [open_socket(parse_endpoint(l)) for l in args.listen]
    captures = [Capture(c) for c in args.capture]
    sent_at = time.monotonic()
    for _ in range(args.count):
        sock.sendto(payload, to)
    send_s = time.monotonic() - sent_at
    replies = receive(listeners, args.timeout)
    result = {"request": {"to": "%s:%d" % to, "from": "%s:%d" % (local_ip, local_port),
                          "len": len(payload), "decoded": decode_teredo(payload),
                          "hex": payload.hex(), "count": args.count,
                          "send_s": round(send_s, 4)},
              "replies": replies}
    if captures:
        time.sleep(0.2)
        result["captured"] = [c.stop() for c in captures]
    return result


def plain_rs(nonce=None):
    """A standards-clean RS payload (auth header + RS from Miredo's non-cone link-local source)."""
    ipv6 = bytes(IPv6(src=LL_MIREDO, dst="ff02::2", hlim=255) / ICMPv6ND_RS())
    return auth_header(nonce or os.urandom(8)) + ipv6


def big_rcvbuf(sock, size=8 << 20):
    """As root, SO_RCVBUFFORCE: replies must not be lost to a full queue while counting them."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, size)  # SO_RCVBUFFORCE
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def drain_ras(sock, into):
    """Non-blocking: count the RAs waiting on sock, with their arrival times."""
    while True:
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return
        if decode_teredo(data).get("icmpv6", {}).get("type") == 134:
            into.append(time.monotonic())


def paced(count, pps):
    """Yields packet indexes, sleeping so that `count` packets take count/pps seconds."""
    start = time.monotonic()
    for i in range(count):
        if pps > 0:
            due = start + i / pps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield i


def cmd_flood(args):
    server = (args.server, args.port)
    sock = open_socket(parse_endpoint(args.bind, 0))
    big_rcvbuf(sock)
    sock.setblocking(False)
    second = open_socket(parse_endpoint(args.second_bind, 0)) if args.second_bind else None
    if second is not None:
        second.setblocking(False)
    payload = plain_rs()
    ras, second_ras = [], []
    second_sent = None
    second_at = args.second_at if args.second_at is not None else args.count // 2
    start = time.monotonic()
    for i in paced(args.count, args.pps):
        sock.sendto(payload, server)
        if second is not None and i == second_at:
            second.sendto(plain_rs(), server)
            second_sent = time.monotonic()
        if i % 64 == 0 or second_sent is not None and not second_ras:
            drain_ras(sock, ras)
            if second is not None:
                drain_ras(second, second_ras)
    last_send = time.monotonic()
    # Late answers: the server may still be working through its queue (a busy machine). Listen
    # until nothing came for --timeout seconds, at most --max-wait seconds after the last send.
    quiet_since = last_send
    hard_deadline = last_send + args.max_wait
    while True:
        now = time.monotonic()
        if now - quiet_since >= args.timeout or now >= hard_deadline:
            break
        r, _, _ = select.select([sock] + ([second] if second else []), [], [], 0.05)
        before = len(ras) + len(second_ras)
        if sock in r:
            drain_ras(sock, ras)
        if second is not None and second in r:
            drain_ras(second, second_ras)
        if len(ras) + len(second_ras) != before:
            quiet_since = time.monotonic()
    drain_ras(sock, ras)
    out = {"sent": args.count, "pps": args.pps, "elapsed_s": round(last_send - start, 3),
           "ras": len(ras), "bind": "%s:%d" % sock.getsockname(),
           # From the first send to the last RA received: bounds the server's time spent
           # granting tokens, so burst + rate x ras_span_s bounds the RAs (no timing guess).
           "ras_span_s": round(ras[-1] - start, 3) if ras else 0.0,
           "ras_in_first_s": len([t for t in ras if t - start < 1.0])}
    if second is not None:
        out["second"] = {"bind": "%s:%d" % second.getsockname(), "sent_at_index": second_at,
                         "ras": len(second_ras),
                         "first_ra_ms": round((second_ras[0] - second_sent) * 1000, 1)
                         if second_ras else None}
    return out


def cmd_many(args):
    import resource
    addrs = []
    for spec in args.addrs:
        if "-" in spec:  # FIRST-LAST, same /24
            first, last = spec.split("-")
            a = int(ipaddress.IPv4Address(first))
            b = int(ipaddress.IPv4Address(last))
            addrs += [str(ipaddress.IPv4Address(x)) for x in range(a, b + 1)]
        else:
            addrs.append(spec)
    need = len(addrs) * args.ports_per_addr + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
    server = (args.server, args.port)
    socks = []
    for a in addrs:
        for k in range(args.ports_per_addr):
            s = open_socket((a, args.first_port + k))
            s.setblocking(False)
            socks.append(s)
    sent = 0
    for i in paced(len(socks), args.pps):
        socks[i].sendto(plain_rs(), server)
        sent += 1
    answered = set()
    ras = 0
    poller = select.poll()  # select() stops at FD_SETSIZE (1024) descriptors
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    retried = 0
    for attempt in range(1 + args.retries):
        if attempt > 0:
            # Like a real client (RFC 4380 §5.2.1), solicit again when no RA came: an RS the
            # kernel dropped on a loaded machine must not fail a test about the server.
            for fd, s in by_fd.items():
                if fd not in answered:
                    s.sendto(plain_rs(), server)
                    sent += 1
                    retried += 1
        deadline = time.monotonic() + args.timeout
        while len(answered) < len(socks) and time.monotonic() < deadline:
            for fd, _ in poller.poll(50):
                while True:
                    try:
                        data = by_fd[fd].recv(65535)
                    except BlockingIOError:
                        break
                    if decode_teredo(data).get("icmpv6", {}).get("type") == 134:
                        ras += 1
                        answered.add(fd)
        if len(answered) == len(socks):
            break
    for s in socks:
        s.close()
    return {"sockets": len(socks), "addresses": len(addrs), "sent": sent, "ras": ras,
            "answered": len(answered), "retried": retried}


def cmd_spray(args):
    """IPv4/UDP built by hand on an IP_HDRINCL raw socket: spoofed sources, UDP checksum 0
    (allowed for IPv4, RFC 768). The kernel fills in the IPv4 checksum and total length.
    Payload: a plain RS, or with --bubble-to a bubble from the Teredo address that maps the
    spoofed source (RFC 4380 §5.3.1 case 5 holds) to the given Teredo address."""
    import random
    rng = random.Random(args.seed)
    nets = [ipaddress.IPv4Network(n) for n in args.sources]
    pool = [a for n in nets for a in (n.hosts() if n.num_addresses > 2 else n)]
    if not pool:
        raise SystemExit("spray: empty --sources")
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    dst = ipaddress.IPv4Address(args.server).packed
    payload = plain_rs()
    seen = set()
    for i in paced(args.count, args.pps):
        src = pool[rng.randrange(len(pool))]
        sport = 1024 + rng.randrange(args.ports)
        seen.add((src, sport))
        if args.bubble_to:
            teredo_src = teredo_address(args.server, str(src), sport)
            payload = (struct.pack("!IHBB", 0x60000000, 0, 59, 0) +
                       socket.inet_pton(socket.AF_INET6, teredo_src) +
                       socket.inet_pton(socket.AF_INET6, args.bubble_to))
        udp = struct.pack("!HHHH", sport, args.port, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         src.packed, dst)
        raw.sendto(ip + udp, (args.server, 0))
    return {"sent": args.count, "sources": len(pool), "distinct_endpoints": len(seen),
            "distinct_addresses": len({a for a, _ in seen})}


# ---------------------------------------------------------------------------------------------
# Qualification (RFC 4380 §5.2.1; S10 in docs/conformance.md)


def validate_ra(data, peer, nonces, rs_src, primary, servers, port):
    """RFC 4380 §5.2.1 checks a client makes on an RA. Returns (decoded,
    list of reasons it is rejected: empty when valid)."""
    d = decode_teredo(data)
    why = []
    if peer[1] != port or peer[0] not in servers:
        why.append("source %s:%d is not a server address" % peer)
    if d.get("error"):
        why.append(d["error"])
    if d.get("auth", {}).get("nonce") not in nonces:
        why.append("nonce not echoed")
    if "origin" not in d:
        why.append("no origin indication")
    icmp = d.get("icmpv6", {})
    if icmp.get("type") != 134 or icmp.get("code") != 0:
        why.append("not an RA (type %s code %s)" % (icmp.get("type"), icmp.get("code")))
    if d.get("ipv6", {}).get("dst") != rs_src:
        why.append("destination is not the RS source")
    ra = d.get("ra")
    if ra is not None:
        pio = ra["pio"]
        want = str(ipaddress.IPv6Address(b"\x20\x01\x00\x00" +
                                         ipaddress.IPv4Address(primary).packed + bytes(8)))
        if len(pio) != 1:
            why.append("%d prefix information options, want 1" % len(pio))
        elif pio[0]["prefix_len"] != 64 or pio[0]["prefix"] != want:
            why.append("prefix %s/%d, want %s/64 (the primary)" %
                       (pio[0]["prefix"], pio[0]["prefix_len"], want))
        if any(not 1280 <= m <= 65535 for m in ra["mtu"]):
            why.append("MTU option out of range: %s" % ra["mtu"])
    return d, why


def solicit(sock, to, cone, args, servers):
    """One phase of the procedure: up to args.retries RSs to `to`, each followed by a wait of up
    to args.timeout, until a valid RA arrives. Invalid datagrams are recorded, never accepted."""
    src = LL_MIREDO_CONE if cone else LL_MIREDO
    ipv6 = bytes(IPv6(src=src, dst="ff02::2", hlim=255) / ICMPv6ND_RS())
    nonces = []
    # sent_at: CLOCK_MONOTONIC seconds of each RS (the clock teredo-server's windows use).
    step = {"to": "%s:%d" % to, "cone": cone, "src": src, "sent": 0, "sent_at": [],
            "rejected": [], "ra": None}
    start = time.monotonic()
    for _ in range(args.retries):
        nonce = os.urandom(8)  # a new nonce per transmission; any of this phase's is accepted
        nonces.append(nonce.hex())
        step["sent_at"].append(round(time.monotonic(), 3))
        sock.sendto(auth_header(nonce) + ipv6, to)
        step["sent"] += 1
        deadline = time.monotonic() + args.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                continue
            data, peer = sock.recvfrom(65535)
            d, why = validate_ra(data, peer, nonces, src, args.server, servers, args.port)
            if why:
                if len(step["rejected"]) < 8:
                    step["rejected"].append({"from": "%s:%d" % peer, "why": why,
                                             "hex": data.hex()})
                continue
            step["ra"] = {"from": "%s:%d" % peer, "origin": d["origin"],
                          "prefix": d["ra"]["pio"][0]["prefix"],
                          "ms": round((time.monotonic() - start) * 1000, 1)}
            step["elapsed_s"] = round(time.monotonic() - start, 3)
            return step
    step["elapsed_s"] = round(time.monotonic() - start, 3)
    return step


def qualify_once(bind, args, servers):
    """RFC 4380 §5.2.1 from one fresh socket:
      1. cone RS (C=1) to the primary; an RA (the server answers from its OTHER address) -> cone;
      2. else plain RS (C=0) to the primary; nothing -> offline (UDP unusable);
      3. plain RS to the secondary; nothing -> unusable; same mapped IPv4:port as in 2 ->
         restricted (address- or port-restricted cone NAT), different -> symmetric."""
    sock = open_socket(bind)
    run = {"bind": "%s:%d" % sock.getsockname(), "steps": []}
    primary = (args.server, args.port)
    secondary = (args.secondary, args.port)
    try:
        cone = solicit(sock, primary, True, args, servers)
        run["steps"].append(cone)
        if cone["ra"] is not None:
            run["verdict"] = "cone"
            run["mapped"] = cone["ra"]["origin"]
            return run
        plain = solicit(sock, primary, False, args, servers)
        run["steps"].append(plain)
        if plain["ra"] is None:
            run["verdict"] = "offline"
            return run
        run["mapped"] = plain["ra"]["origin"]
        other = solicit(sock, secondary, False, args, servers)
        run["steps"].append(other)
        if other["ra"] is None:
            run["verdict"] = "unusable"
            return run
        run["mapped_secondary"] = other["ra"]["origin"]
        same = other["ra"]["origin"] == plain["ra"]["origin"]
        run["verdict"] = "restricted" if same else "symmetric"
        return run
    finally:
        sock.close()


def cmd_qualify(args):
    """Black-box NAT-type test against a server (S10; pteredor and Get-NatType do the same):
    --runs qualifications, each from a fresh socket (as separate invocations of those tools
    would), --gap seconds apart. A fixed --bind port P is used as P, P+1, ... per run. Bounded:
    at most 3 x --retries x --timeout seconds per run."""
    if args.secondary is None:  # the secondary is primary + 1 in practice
        args.secondary = str(ipaddress.IPv4Address(args.server) + 1)
    servers = {args.server, args.secondary}
    host, port = parse_endpoint(args.bind, 0)
    if args.align > 0:  # start at a known phase of a server's W-second windows (deterministic)
        time.sleep((args.align_offset - time.monotonic()) % args.align)
    runs = []
    for i in range(args.runs):
        if i > 0 and args.gap > 0:
            time.sleep(args.gap)
        runs.append(qualify_once((host, port + i if port else 0), args, servers))
    verdicts = [r["verdict"] for r in runs]
    out = {"server": args.server, "secondary": args.secondary, "timeout": args.timeout,
           "retries": args.retries, "runs": runs, "verdicts": verdicts,
           "verdict": verdicts[0] if len(set(verdicts)) == 1 else "inconsistent"}
    last = runs[-1]
    if "mapped" in last:
        m = last["mapped"]
        flags = 0x8000 if last["verdict"] == "cone" else 0
        out["address"] = teredo_address(args.server, m["ip"], m["port"], flags)
    return out


def format_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (str, int, float)) or v is None:
        return str(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def serve():
    """Line protocol for test scripts (one scapy import for a whole test): each input line is
    either a command line (shell-quoted, as for the CLI), answered with its JSON result on one
    line, or "?EXPR", answered with the Python expression EXPR evaluated with d = the last
    result (scalars plain, booleans true/false, the rest compact JSON)."""
    import shlex
    last = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if line.startswith("?"):
            try:
                out = format_value(eval(line[1:], {"d": last, "len": len, "any": any,
                                                   "all": all, "sorted": sorted}))
            except Exception as e:  # a missing key is an answer, not a crash
                out = "<%s: %s>" % (type(e).__name__, e)
            print(out.replace("\n", " "), flush=True)
            continue
        try:
            last = run(parser().parse_args(shlex.split(line)))
        except SystemExit as e:  # argparse errors and environment failures (tcpdump)
            last = {"error": "%s (command: %s)" % (e.code, line)}
        except Exception as e:
            last = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(last, sort_keys=True, separators=(",", ":")), flush=True)
    return 0


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    rs = sub.add_parser("rs", help="send a Router Solicitation, decode the RAs")
    rs.add_argument("--server", required=True, help="server IPv4 (primary or secondary)")
    rs.add_argument("--port", type=int, default=TEREDO_PORT)
    rs.add_argument("--bind", default="0.0.0.0:0", help="local IP[:PORT]")
    rs.add_argument("--cone", action="store_true", help=f"source {LL_MIREDO_CONE}")
    rs.add_argument("--src", help="link-local source (overrides --cone)")
    rs.add_argument("--dst", default="ff02::2")
    rs.add_argument("--no-auth", action="store_true", help="no authentication header")
    rs.add_argument("--nonce", help="8-byte nonce as hex (default random)")
    rs.add_argument("--auth-id", default="", help="client id (hex)")
    rs.add_argument("--auth-value", default="", help="authentication value (hex)")
    rs.add_argument("--hlim", type=int, default=255)
    rs.add_argument("--code", type=int, default=0)
    rs.add_argument("--bad-checksum", action="store_true")
    rs.add_argument("--count", type=int, default=1, help="send the same RS N times")
    rs.add_argument("--timeout", type=float, default=1.5)
    rs.add_argument("--capture", action="append", default=[], metavar="NETNS:IFACE[:BPF]")

    sd = sub.add_parser("send", help="send a Teredo payload, collect replies and captures")
    sd.add_argument("--to", required=True, help="IPv4[:PORT] (default port 3544)")
    sd.add_argument("--bind", default="0.0.0.0:0", help="local IP[:PORT]")
    sd.add_argument("--listen", action="append", default=[], metavar="IP:PORT",
                    help="extra local sockets to receive on (e.g. a second 'client')")
    sd.add_argument("--capture", action="append", default=[], metavar="NETNS:IFACE[:BPF]",
                    help="tcpdump in that namespace while sending (NETNS '-' = this one)")
    sd.add_argument("--auth", metavar="NONCE_HEX", help="prefix an auth header with this nonce")
    sd.add_argument("--origin", metavar="IP:PORT", help="prefix an origin indication")
    sd.add_argument("--trailer", action="append", default=[], metavar="HEX",
                    help="RFC 6081 trailer bytes appended after the IPv6 packet")
    sd.add_argument("--count", type=int, default=1)
    sd.add_argument("--timeout", type=float, default=1.5)
    kinds = sd.add_subparsers(dest="kind", required=True)
    for name in ("bubble", "echo"):
        k = kinds.add_parser(name)
        k.add_argument("--src", required=True,
                       help="IPv6 source, or 'auto': Teredo address mapping this socket")
        k.add_argument("--src-server", help="server IPv4 embedded by --src auto (default --to)")
        k.add_argument("--dst", required=True)
        k.add_argument("--hlim", type=int, default=0 if name == "bubble" else 128)
        if name == "echo":
            k.add_argument("--size", type=int, default=0, help="random data bytes")
            k.add_argument("--ident", type=int, default=0x7465)
            k.add_argument("--seq", type=int, default=1)
    hx = kinds.add_parser("hex")
    hx.add_argument("payload", help="the whole UDP payload as hex")

    dc = sub.add_parser("decode", help="decode a Teredo UDP payload given as hex")
    dc.add_argument("payload")

    ad = sub.add_parser("addr", help="build a Teredo address")
    ad.add_argument("--server", required=True)
    ad.add_argument("--client", required=True, help="mapped IP:PORT")
    ad.add_argument("--flags", default="0")

    fl = sub.add_parser("flood", help="paced RS flood from one socket, RAs counted")
    fl.add_argument("--server", required=True)
    fl.add_argument("--port", type=int, default=TEREDO_PORT)
    fl.add_argument("--bind", default="0.0.0.0:0")
    fl.add_argument("--count", type=int, default=5000)
    fl.add_argument("--pps", type=float, default=2500, help="send rate (0: as fast as possible)")
    fl.add_argument("--second-bind", help="IP[:PORT] of a second source soliciting once")
    fl.add_argument("--second-at", type=int, help="packet index at which it does (default mid)")
    fl.add_argument("--timeout", type=float, default=0.5,
                    help="after the last send, stop listening once quiet this long")
    fl.add_argument("--max-wait", type=float, default=5.0,
                    help="listen at most this long after the last send")

    mn = sub.add_parser("many", help="one RS from each of many sockets")
    mn.add_argument("--server", required=True)
    mn.add_argument("--port", type=int, default=TEREDO_PORT)
    mn.add_argument("--addrs", nargs="+", required=True, metavar="IP|FIRST-LAST",
                    help="local addresses (already configured in this namespace)")
    mn.add_argument("--ports-per-addr", type=int, default=1)
    mn.add_argument("--first-port", type=int, default=41000)
    mn.add_argument("--pps", type=float, default=2000)
    mn.add_argument("--timeout", type=float, default=2.0, help="wait for RAs (per attempt)")
    mn.add_argument("--retries", type=int, default=1,
                    help="solicit again from sockets still unanswered (default 1)")

    sp = sub.add_parser("spray", help="RSs from spoofed IPv4 sources (raw socket)")
    sp.add_argument("--server", required=True)
    sp.add_argument("--port", type=int, default=TEREDO_PORT)
    sp.add_argument("--sources", nargs="+", required=True, metavar="CIDR")
    sp.add_argument("--ports", type=int, default=64, help="source ports 1024..1024+N-1")
    sp.add_argument("--count", type=int, default=20000)
    sp.add_argument("--pps", type=float, default=10000)
    sp.add_argument("--seed", type=int, default=4380)
    sp.add_argument("--bubble-to", metavar="TEREDO_ADDR",
                    help="send bubbles to this address instead of RSs")

    qu = sub.add_parser("qualify", help="RFC 4380 §5.2.1 NAT-type test (cone/restricted/"
                        "symmetric/offline)")
    qu.add_argument("--server", required=True, help="primary server IPv4")
    qu.add_argument("--secondary", help="secondary server IPv4 (default primary + 1)")
    qu.add_argument("--port", type=int, default=TEREDO_PORT)
    qu.add_argument("--bind", default="0.0.0.0:0",
                    help="local IP[:PORT]; a fixed PORT is used as PORT+i by run i")
    qu.add_argument("--timeout", type=float, default=4.0, help="T: wait per RS (RFC: 4 s)")
    qu.add_argument("--retries", type=int, default=3, help="N: RSs per phase (RFC: 3)")
    qu.add_argument("--runs", type=int, default=1, help="qualifications, each a fresh socket")
    qu.add_argument("--gap", type=float, default=0.0, help="seconds between runs")
    qu.add_argument("--align", type=float, default=0.0, metavar="W",
                    help="first wait until CLOCK_MONOTONIC mod W = --align-offset (W-second "
                    "windows such as teredo-server's NAT observation)")
    qu.add_argument("--align-offset", type=float, default=0.2, metavar="SECONDS")
    sub.add_parser("serve", help="line protocol for scripts (see serve())")
    return ap


def run(args):
    if args.cmd == "rs":
        result = cmd_rs(args)
    elif args.cmd == "send":
        result = cmd_send(args)
    elif args.cmd == "flood":
        result = cmd_flood(args)
    elif args.cmd == "many":
        result = cmd_many(args)
    elif args.cmd == "spray":
        result = cmd_spray(args)
    elif args.cmd == "qualify":
        result = cmd_qualify(args)
    elif args.cmd == "decode":
        result = decode_teredo(bytes.fromhex(args.payload))
    else:
        ip, port = parse_endpoint(args.client)
        addr = teredo_address(args.server, ip, port, int(args.flags, 0))
        result = {"address": addr, "decoded": decode_teredo_address(addr)}
    return result


def main(argv):
    args = parser().parse_args(argv)
    if args.cmd == "serve":
        return serve()
    result = run(args)
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as e:
        print(f"teredo_probe: {e}", file=sys.stderr)
        sys.exit(2)
