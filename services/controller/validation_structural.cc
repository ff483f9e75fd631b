#include "validation.h"

namespace teredo::controller {

// Fallback used when lib/config has no proto translation (teredo_config_proto) in this build;
// until then only the structure is checked and agents remain the final judges (they NACK).
std::vector<teredo::v1::FieldViolation> validateAgentConfig(const teredo::v1::AgentConfig& config) {
  std::vector<teredo::v1::FieldViolation> out;
  if (config.role_case() == teredo::v1::AgentConfig::ROLE_NOT_SET) {
    teredo::v1::FieldViolation v;
    v.set_field("role");
    v.set_description("set `server` or `relay`");
    out.push_back(v);
  }
  return out;
}

}  // namespace teredo::controller
