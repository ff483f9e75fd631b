// Validated, immutable configuration of teredo-server, teredo-relay and teredo-controller.
//
// One config struct, two sources: YAML files (this header) and the controller's
// teredo.v1 protos (config/proto_translate.h) build the same structs through the same
// validation. Every key is documented in docs/configuration.md; the YAML key `a.b_c` is the
// struct member `a.bC` and the proto field `a.b_c`.
//
// Byte order: IPv4 addresses are uint32_t in HOST byte order (as in teredo/address.h); IPv6
// addresses and Teredo prefixes are teredo::Ipv6Addr / the prefix's first 32 bits (host order).
// Thread-safety: loading functions are reentrant; a loaded config is immutable
// (std::shared_ptr<const T>) and may be shared freely between threads.
// Ownership: a load result shares ownership of the config.
// Errors: teredo::Status (base/status.h) with one Violation per problem; no exceptions escape
// this API (yaml-cpp's are caught at the loader boundary).
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "teredo/address.h"

namespace teredo::config {

// ----- Defaults (docs/configuration.md lists each with its reason) ------------------------------

inline constexpr uint16_t kDefaultServerAdminPort = 9544;
inline constexpr uint16_t kDefaultRelayAdminPort = 9545;
inline constexpr uint16_t kDefaultControllerAgentPort = 9546;
inline constexpr uint16_t kDefaultControllerAdminPort = 9547;
inline constexpr uint16_t kDefaultControllerApiPort = 9548;
inline constexpr uint32_t kLoopback = 0x7f000001;  // 127.0.0.1
inline constexpr const char* kDefaultStateDir = "/var/lib/teredo";
inline constexpr const char* kDefaultControllerStateDir = "/var/lib/teredo-controller";

/// RFC 4380 §2.7: servers listen on UDP 3544.
inline constexpr uint16_t kDefaultServerPort = teredo::kTeredoPort;
/// RFC 4380 §5.1.2: the default link MTU of a Teredo interface, and the minimum (RFC 8200 §5).
inline constexpr uint32_t kDefaultMtu = 1280;
inline constexpr uint32_t kMinMtu = 1280;
inline constexpr uint32_t kMaxMtu = 65535;
inline constexpr uint32_t kMaxWorkers = 1024;
inline constexpr uint32_t kMaxSocketBufferBytes = 1u << 30;

inline constexpr uint32_t kDefaultRsPerSecond = 100;
inline constexpr uint32_t kDefaultRsBurst = 200;
inline constexpr uint32_t kDefaultRateLimitTableSize = 65536;
inline constexpr uint32_t kDefaultForwardPerSecond = 200;
inline constexpr uint32_t kDefaultForwardBurst = 400;
/// The server's forwarding budget over all sources together (bubbles and ICMPv6, over UDP and
/// onto IPv6): what a flood of spoofed sources can make the server send, whatever their number.
inline constexpr uint32_t kDefaultForwardGlobalPerSecond = 20000;
inline constexpr uint32_t kDefaultForwardGlobalBurst = 40000;
/// Largest bubble the server relays: the 40-byte header plus 88 bytes of RFC 6081 trailers (the
/// four defined trailers need at most 44).
inline constexpr uint32_t kDefaultMaxBubbleBytes = 128;
/// Miredo's cap on server-forwarded packets: a 128-byte IPv6 packet (88-byte payload + header).
inline constexpr uint32_t kDefaultMaxForwardPacketBytes = 128;
/// An IPv6 header plus an 8-byte ICMPv6 header.
inline constexpr uint32_t kMinForwardPacketBytes = 48;
inline constexpr uint32_t kDefaultNatTableSize = 262144;
inline constexpr std::chrono::milliseconds kDefaultNatWindow{60000};

/// The relay's fixed UDP port: one port for every worker's SO_REUSEPORT socket, stable across
/// restarts (firewall rules, peers' learned mappings), and not 3544 so that a server and a relay
/// can share one IPv4 address. Clients learn it from origin indications (RFC 4380 §5.4.1).
inline constexpr uint16_t kDefaultRelayPort = 3545;
inline constexpr const char* kDefaultInterface = "teredo";
inline constexpr uint32_t kDefaultMaxPeers = 1u << 20;  // Miredo's MAX_PEERS with libJudy.
inline constexpr uint32_t kMaxMaxPeers = 100'000'000;
/// relay.batch_delay_us: interrupt moderation for the relay's workers (docs/configuration.md).
inline constexpr uint32_t kDefaultBatchDelayUs = 200;
inline constexpr uint32_t kMaxBatchDelayUs = 10'000;
/// relay.socket_receive_buffer_bytes: what a worker's socket holds while the worker is not
/// running (a preempted vCPU, a burst of page faults, the batch delay). The kernel default
/// (net.core.rmem_default, about 208 KiB) is fewer than 100 full-size datagrams at their kernel
/// size, lost when a worker stalls for a few milliseconds at 20,000 pkt/s; 4 MiB holds a few
/// thousand. It is a limit, not an allocation: only what waits is charged.
inline constexpr uint32_t kDefaultRelayReceiveBufferBytes = 4u << 20;
inline constexpr uint32_t kDefaultQueueBytesPerPeer = 4096;
inline constexpr uint32_t kMaxQueueBytesPerPeer = 65536;
inline constexpr uint64_t kDefaultQueueBytesTotal = 64ull << 20;
inline constexpr uint64_t kMaxQueueBytesTotal = 64ull << 30;
/// RFC 4380 §5.2.4: a peer entry is valid while its last reception is at most 30 s old.
inline constexpr std::chrono::milliseconds kDefaultTrustTimeout{30000};
/// RFC 4380 §5.2.6 (as applied by Miredo to relays): >= 2 s apart, at most 4 per 300 s.
inline constexpr std::chrono::milliseconds kDefaultBubbleMinInterval{2000};
inline constexpr uint32_t kDefaultBubbleMaxPerWindow = 4;
inline constexpr std::chrono::milliseconds kDefaultBubbleWindow{300000};
/// Miredo: ICMPv6 errors at most every 100 ms.
inline constexpr uint32_t kDefaultIcmpErrorsPerSecond = 10;
inline constexpr uint32_t kDefaultIcmpErrorsBurst = 10;
inline constexpr size_t kMaxListEntries = 1024;
/// relay.announce: the kernel table a BGP speaker reads the relay's announcement from, the route
/// protocol number that marks the routes as the relay's, their metric, and how long SIGTERM keeps
/// forwarding after the withdrawal so that the Internet can move to another relay.
inline constexpr uint32_t kDefaultAnnounceTable = 100;
inline constexpr uint32_t kDefaultAnnounceProtocol = 199;
inline constexpr uint32_t kDefaultAnnounceMetric = 1024;
inline constexpr std::chrono::milliseconds kDefaultWithdrawGrace{10000};
/// A relay announces a handful of prefixes at most (the speaker's export limit matches).
inline constexpr size_t kMaxAnnouncePrefixes = 8;
/// Larger inputs are refused before parsing (a config file is a few KiB).
inline constexpr size_t kMaxConfigBytes = 1u << 20;

inline constexpr std::chrono::milliseconds kDefaultDebounce{500};
inline constexpr std::chrono::milliseconds kDefaultStatsInterval{10000};

// ----- Shared pieces ---------------------------------------------------------------------------

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

/// admin.*
struct AdminConfig {
  /// "ipv4:port" or "[ipv6]:port" (base/socket_address.h).
  std::string listen = "127.0.0.1:" + std::to_string(kDefaultServerAdminPort);
  friend bool operator==(const AdminConfig&, const AdminConfig&) = default;
};

/// log.*
struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

/// agent.*
struct AgentIdentity {
  std::string id;  ///< Default: the host name.
  std::string stateDir = kDefaultStateDir;
  friend bool operator==(const AgentIdentity&, const AgentIdentity&) = default;
};

/// controller.tls.* (agent side). mTLS when certFile and keyFile are set.
struct ClientTls {
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  std::string serverName;
  /// TLS is on when any of the four is set (system roots when caFile is empty).
  bool enabled() const {
    return !caFile.empty() || !certFile.empty() || !keyFile.empty() || !serverName.empty();
  }
  bool mutual() const { return !certFile.empty() && !keyFile.empty(); }
  friend bool operator==(const ClientTls&, const ClientTls&) = default;
};

/// controller.* in a server or relay file.
struct ControllerClient {
  std::string address;  ///< gRPC target "host:port" or "unix:/path"; empty = standalone.
  ClientTls tls;
  bool enabled() const { return !address.empty(); }
  friend bool operator==(const ControllerClient&, const ControllerClient&) = default;
};

// ----- Server ----------------------------------------------------------------------------------

enum class OtherServerClients { kForward, kDrop };

struct ServerRateLimit {
  uint32_t rsPerSecond = kDefaultRsPerSecond;  ///< 0 = unlimited.
  uint32_t rsBurst = kDefaultRsBurst;
  uint32_t tableSize = kDefaultRateLimitTableSize;
  uint32_t forwardPerSecond = kDefaultForwardPerSecond;  ///< 0 = unlimited.
  uint32_t forwardBurst = kDefaultForwardBurst;
  uint32_t forwardGlobalPerSecond = kDefaultForwardGlobalPerSecond;  ///< 0 = unlimited.
  uint32_t forwardGlobalBurst = kDefaultForwardGlobalBurst;
  friend bool operator==(const ServerRateLimit&, const ServerRateLimit&) = default;
};

struct Ipv6Forward {
  bool enabled = true;
  bool echoOnly = true;
  /// Non-bubbles: the IPv6 packet plus its RFC 6081 trailers, as relayed.
  uint32_t maxPacketBytes = kDefaultMaxForwardPacketBytes;
  friend bool operator==(const Ipv6Forward&, const Ipv6Forward&) = default;
};

struct NatObservation {
  bool enabled = true;
  uint32_t tableSize = kDefaultNatTableSize;
  std::chrono::milliseconds window = kDefaultNatWindow;
  friend bool operator==(const NatObservation&, const NatObservation&) = default;
};

/// server.*
struct ServerSettings {
  uint32_t primaryAddress = 0;    ///< Host order; required, global unicast.
  uint32_t secondaryAddress = 0;  ///< Host order; default primaryAddress + 1.
  bool allowNonconsecutive = false;
  uint16_t port = kDefaultServerPort;
  uint32_t prefix = teredo::kDefaultPrefix;  ///< First 32 bits of the /32, host order.
  uint32_t mtu = kDefaultMtu;
  bool advertiseMtu = true;
  bool strictRs = true;
  uint32_t workers = 0;                   ///< 0 = one per core.
  uint32_t socketReceiveBufferBytes = 0;  ///< 0 = kernel default.
  uint32_t socketSendBufferBytes = 0;
  ServerRateLimit rateLimit;
  Ipv6Forward ipv6Forward;
  OtherServerClients otherServerClients = OtherServerClients::kForward;
  uint32_t maxBubbleBytes = kDefaultMaxBubbleBytes;  ///< Header plus trailers, as relayed.
  NatObservation natObservation;
  friend bool operator==(const ServerSettings&, const ServerSettings&) = default;
};

struct ServerConfig {
  AdminConfig admin;
  LogConfig log;
  AgentIdentity agent;
  ControllerClient controller;
  teredo::GlobalPolicy globalPolicy;
  ServerSettings server;
  friend bool operator==(const ServerConfig&, const ServerConfig&) = default;
};

// ----- Relay -----------------------------------------------------------------------------------

enum class RelayMode { kRelay, kHostSpecific };

/// An IPv6 prefix; bits beyond `length` are zero.
struct Ipv6Prefix {
  teredo::Ipv6Addr addr;
  uint8_t length = 0;
  bool contains(const teredo::Ipv6Addr& a) const;
  friend bool operator==(const Ipv6Prefix&, const Ipv6Prefix&) = default;
};
/// "2001::/32".
std::string formatIpv6Prefix(const Ipv6Prefix& p);

struct RelayBubble {
  std::chrono::milliseconds minInterval = kDefaultBubbleMinInterval;
  uint32_t maxPerWindow = kDefaultBubbleMaxPerWindow;
  std::chrono::milliseconds window = kDefaultBubbleWindow;
  friend bool operator==(const RelayBubble&, const RelayBubble&) = default;
};

/// relay.announce.*: the anycast announcement, as routes through the relay's tun in a kernel
/// table that the host's BGP speaker exports (docs/anycast.md).
struct RelayAnnounce {
  bool enabled = false;
  /// The loader fills in relay.prefix/32 when the key is absent; never empty after loading.
  std::vector<Ipv6Prefix> prefixes;
  uint32_t table = kDefaultAnnounceTable;
  uint32_t protocol = kDefaultAnnounceProtocol;
  uint32_t metric = kDefaultAnnounceMetric;
  std::chrono::milliseconds withdrawGrace = kDefaultWithdrawGrace;
  friend bool operator==(const RelayAnnounce&, const RelayAnnounce&) = default;
};

/// relay.*
struct RelaySettings {
  uint32_t bindAddress = 0;  ///< Host order; 0 = any.
  uint16_t port = kDefaultRelayPort;
  std::string interface = kDefaultInterface;
  uint32_t mtu = kDefaultMtu;
  uint32_t prefix = teredo::kDefaultPrefix;
  RelayMode mode = RelayMode::kRelay;
  std::vector<teredo::Ipv6Addr> hostAddresses;           ///< Non-empty iff mode == kHostSpecific.
  std::vector<Ipv6Prefix> servedPrefixes{Ipv6Prefix{}};  ///< Default ::/0.
  bool behindNat = false;
  uint32_t workers = 0;
  uint32_t socketReceiveBufferBytes = kDefaultRelayReceiveBufferBytes;  ///< 0 = kernel default.
  uint32_t socketSendBufferBytes = 0;
  uint32_t maxPeers = kDefaultMaxPeers;
  uint32_t queueBytesPerPeer = kDefaultQueueBytesPerPeer;
  uint64_t queueBytesTotal = kDefaultQueueBytesTotal;
  std::chrono::milliseconds trustTimeout = kDefaultTrustTimeout;
  RelayBubble bubble;
  uint32_t icmpErrorsPerSecond = kDefaultIcmpErrorsPerSecond;
  uint32_t icmpErrorsBurst = kDefaultIcmpErrorsBurst;
  uint32_t batchDelayUs = kDefaultBatchDelayUs;
  bool offloads = true;
  bool ioUring = true;  ///< relay.io_uring: tun I/O through an io_uring (net/tun_ring.h)
  bool acceptUnknownPeers = false;
  bool coneShortcut = false;
  RelayAnnounce announce;
  friend bool operator==(const RelaySettings&, const RelaySettings&) = default;
};

struct RelayConfig {
  AdminConfig admin{"127.0.0.1:" + std::to_string(kDefaultRelayAdminPort)};
  LogConfig log;
  AgentIdentity agent;
  ControllerClient controller;
  teredo::GlobalPolicy globalPolicy;
  RelaySettings relay;
  friend bool operator==(const RelayConfig&, const RelayConfig&) = default;
};

// ----- Controller ------------------------------------------------------------------------------

/// controller.* in the controller's own file.
struct ControllerSettings {
  /// gRPC listen address: "ipv4:port", "[ipv6]:port" or "unix:/path".
  std::string agentListen = "0.0.0.0:9546";
  std::string adminListen = "127.0.0.1:9548";
  std::string stateDir = kDefaultControllerStateDir;
  std::string authTokenFile;   ///< controller.auth.token_file
  std::string authAccessFile;  ///< controller.auth.access_file
  std::chrono::milliseconds debounce = kDefaultDebounce;
  std::chrono::milliseconds statsInterval = kDefaultStatsInterval;
  friend bool operator==(const ControllerSettings&, const ControllerSettings&) = default;
};

/// tls.* (controller side).
struct ServerTls {
  std::string certFile;
  std::string keyFile;
  std::string caFile;
  bool requireClientCert = false;
  bool enabled() const { return !certFile.empty(); }
  friend bool operator==(const ServerTls&, const ServerTls&) = default;
};

struct ControllerConfig {
  AdminConfig admin{"127.0.0.1:" + std::to_string(kDefaultControllerAdminPort)};
  LogConfig log;
  ControllerSettings controller;
  ServerTls tls;
  friend bool operator==(const ControllerConfig&, const ControllerConfig&) = default;
};

// ----- Loading ---------------------------------------------------------------------------------

/// Loading returns the validated, immutable config, or Status::invalid(every error found):
/// code kInvalidArgument, violations() = one teredo::Violation per error (file, 1-based line and
/// column, 0 when unknown, e.g. a missing key or a proto source; file empty for proto sources;
/// key = the dotted YAML key / proto field path, e.g. "server.mtu"), and message() = every
/// violation formatted ("file:line:column: key: message"), one per line.
StatusOr<std::shared_ptr<const ServerConfig>> loadServerConfigFile(const std::string& path);
StatusOr<std::shared_ptr<const ServerConfig>> loadServerConfigString(std::string_view text,
                                                                     std::string_view name);
StatusOr<std::shared_ptr<const RelayConfig>> loadRelayConfigFile(const std::string& path);
StatusOr<std::shared_ptr<const RelayConfig>> loadRelayConfigString(std::string_view text,
                                                                   std::string_view name);
StatusOr<std::shared_ptr<const ControllerConfig>> loadControllerConfigFile(const std::string& path);
StatusOr<std::shared_ptr<const ControllerConfig>> loadControllerConfigString(std::string_view text,
                                                                             std::string_view name);

/// The effective config as YAML: every key with its value (defaults filled in), loadable again
/// and yielding an equal struct.
std::string renderYaml(const ServerConfig& config);
std::string renderYaml(const RelayConfig& config);
std::string renderYaml(const ControllerConfig& config);

/// Keys whose change between `before` and `after` cannot be applied by a live reload (SIGHUP or a
/// controller push): sockets, addresses, ports, interface, workers, identity, controller
/// connection. Empty = `after` can be swapped in atomically.
std::vector<std::string> restartRequired(const ServerConfig& before, const ServerConfig& after);
std::vector<std::string> restartRequired(const RelayConfig& before, const RelayConfig& after);
std::vector<std::string> restartRequired(const ControllerConfig& before,
                                         const ControllerConfig& after);

enum class Role { kServer, kRelay, kController };

/// The `--check-config FILE` mode shared by the three daemons: prints the effective config to
/// `out` and returns 0, or prints every error (one per line, each ending in a newline) to `err`
/// and returns 1.
int checkConfig(Role role, const std::string& path, std::ostream& out, std::ostream& err);

/// Text names used in YAML, e.g. "info", "json", "host-specific", "forward".
std::string_view toString(LogLevel v);
std::string_view toString(LogFormat v);
std::string_view toString(RelayMode v);
std::string_view toString(OtherServerClients v);

}  // namespace teredo::config
