// libFuzzer target: every byte string a Teredo socket can receive goes through the parser, the
// server decision, the RA builder and the RS checks. Any crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>

#include "teredo/packet.h"
#include "teredo/server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace teredo;
  if (size < 1) {
    return 0;
  }
  // The first byte picks the socket, the source and policy switches, so all paths are reached.
  const uint8_t sel = data[0];
  const Bytes datagram(data + 1, size - 1);
  const Result<TeredoPacket> p = parsePacket(datagram);
  if (!p) {
    return 0;
  }
  ServerPolicy policy;
  policy.primary = 0xC6336400 | 10;
  policy.secondary = policy.primary + 1;
  policy.strictRs = (sel & 1) != 0;
  policy.echoOnly = (sel & 2) != 0;
  policy.forwardToOtherServers = (sel & 4) != 0;
  policy.maxForwardBytes = (sel & 8) != 0 ? 128 : 0;
  Endpoint source{(sel & 16) != 0 ? 0xCB007102u : 0x0A000001u, static_cast<uint16_t>(sel * 257)};
  if ((sel & 32) != 0 && isTeredo(p->ip.src, policy.prefix)) {
    source = decodeTeredo(p->ip.src).mapped();  // reach the accept paths of case 5
  }
  const ServerSocket socket = (sel & 64) != 0 ? ServerSocket::Secondary : ServerSocket::Primary;
  const ServerAction a = decideServer(*p, source, socket, policy);
  uint8_t out[256];
  if (a.kind == ServerAction::Kind::SendRa) {
    const size_t n = buildServerRa(out, *p, source, policy, (sel & 128) != 0 ? 1280 : 0);
    if (n == 0 || !parsePacket(Bytes(out, n))) {
      __builtin_trap();  // an RA we build must always parse
    }
  }
  (void)checkRouterSolicitation(*p, true);
  (void)dropReasonLabel(a.reason);
  return 0;
}
