// libFuzzer target: config snapshots as they arrive from the controller (teredo.v1.AgentConfig
// wire bytes). Validation and translation never crash; an accepted config translates back to a
// proto that yields the same config.
#include <cstddef>
#include <cstdint>

#include "config/proto_translate.h"
#include "teredo/v1/config.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  teredo::v1::AgentConfig proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) {
    return 0;
  }
  (void)teredo::config::validateAgentConfig(proto);
  if (proto.has_server()) {
    auto cfg = teredo::config::serverConfigFromProto(proto.server());
    if (cfg.ok()) {
      auto again = teredo::config::serverConfigFromProto(teredo::config::toProto(**cfg));
      if (!again.ok() || !(**again == **cfg)) {
        __builtin_trap();
      }
    }
  }
  if (proto.has_relay()) {
    auto cfg = teredo::config::relayConfigFromProto(proto.relay());
    if (cfg.ok()) {
      auto again = teredo::config::relayConfigFromProto(teredo::config::toProto(**cfg));
      if (!again.ok() || !(**again == **cfg)) {
        __builtin_trap();
      }
    }
  }
  return 0;
}
