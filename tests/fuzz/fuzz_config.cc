// libFuzzer target: operator-written YAML for all three daemons. Whatever the bytes, loading
// returns a config or errors (never a crash); a config that loads renders to YAML that loads
// again to an equal config.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"

namespace {

template <class Load>
void roundTrip(std::string_view text, Load load) {
  auto first = load(text, "fuzz.yaml");
  if (!first.ok()) {
    if (first.status().violations().empty()) {
      __builtin_trap();  // a refusal always says why
    }
    return;
  }
  const std::string rendered = teredo::config::renderYaml(**first);
  auto second = load(rendered, "rendered.yaml");
  if (!second.ok() || !(**second == **first)) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  roundTrip(text, [](std::string_view t, std::string_view n) {
    return teredo::config::loadServerConfigString(t, n);
  });
  roundTrip(text, [](std::string_view t, std::string_view n) {
    return teredo::config::loadRelayConfigString(t, n);
  });
  roundTrip(text, [](std::string_view t, std::string_view n) {
    return teredo::config::loadControllerConfigString(t, n);
  });
  return 0;
}
