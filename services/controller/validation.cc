#include "validation.h"

#include "config/proto_translate.h"

namespace teredo::controller {

// The same function an agent runs before it ACKs or NACKs a snapshot, so the admin API rejects
// exactly what agents would reject, with the same keys and messages.
std::vector<Violation> validateAgentConfig(const teredo::v1::AgentConfig& config) {
  std::vector<Violation> out;
  for (const auto& e : teredo::config::validateAgentConfig(config)) {
    Violation v;
    v.file = e.file;
    v.line = e.line;
    v.column = e.column;
    v.key = e.key;
    v.message = e.message;
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace teredo::controller
