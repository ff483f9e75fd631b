#include "validation.h"

#include "config/proto_translate.h"

namespace teredo::controller {

// The same function an agent runs before it ACKs or NACKs a snapshot, so the admin API rejects
// exactly what agents would reject, with the same keys and messages.
std::vector<Violation> validateAgentConfig(const teredo::v1::AgentConfig& config) {
  return teredo::config::validateAgentConfig(config).violations();
}

}  // namespace teredo::controller
