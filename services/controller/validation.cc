#include "validation.h"

#include "config/proto_translate.h"

namespace teredo::controller {

// The same function an agent runs before it ACKs or NACKs a snapshot, so the admin API rejects
// exactly what agents would reject, with the same keys and messages.
std::vector<teredo::v1::FieldViolation> validateAgentConfig(const teredo::v1::AgentConfig& config) {
  const auto detail = teredo::config::toProto(teredo::config::validateAgentConfig(config));
  return {detail.field_violations().begin(), detail.field_violations().end()};
}

}  // namespace teredo::controller
