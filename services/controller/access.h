// Who may call the admin API, and what they may do: named principals with a role, authenticated
// by a bearer token or by a client certificate identity. Pure: parsing the access file and the
// authorisation decision take strings and return values; the gRPC edge (grpc_services.cc) feeds
// them the call's metadata and certificate identities.
//
// The access file (controller.auth.access_file), one principal per line:
//
//   # name     role   kind   credential
//   alice      admin  token  9f2c...          (a bearer token, at least 16 characters)
//   grafana    read   token  41d7...
//   oncall     admin  cert   oncall.ops.example.net   (a client certificate CN or SAN)
//
// Roles: `read` may call every read-only method; `admin` may also change state (SetConfig,
// Rollback, Drain, Undrain). controller.auth.token_file adds the principal `admin` (role admin,
// kind token). A client certificate alone authorises nothing unless its identity is listed: the
// agents' certificates come from the same CA and must never change the fleet.
//
// Thread-safety: AccessList is an immutable value once built; share it as
// shared_ptr<const AccessList> and swap it atomically on reload.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace teredo::controller {

enum class AccessRole { kRead, kAdmin };
enum class CredentialKind { kToken, kCert };

const char* accessRoleName(AccessRole role);

struct Principal {
  std::string name;
  AccessRole role = AccessRole::kRead;
  CredentialKind kind = CredentialKind::kToken;
  /// The token, or the certificate identity.
  std::string credential;
};

struct AccessList {
  std::vector<Principal> principals;
};

/// Minimum length of a token in the access file.
inline constexpr size_t kMinTokenLength = 16;

/// Parses an access file's text. Errors name `file:line` and what is wrong (unknown role or
/// kind, missing fields, a duplicate name or credential, a short token).
StatusOr<AccessList> parseAccessList(std::string_view text, const std::string& file);

/// Appends `p` unless its name or credential is already taken (the error names which).
Status addPrincipal(AccessList& list, Principal p);

/// The outcome of authorising one admin call.
struct AccessDecision {
  /// OK, UNAUTHENTICATED (no or unknown credential) or PERMISSION_DENIED (role too low).
  StatusCode code = StatusCode::kOk;
  std::string message;
  /// For the audit log: "token:<name>", "cert:<name>", or "unauthenticated" / the presented
  /// certificate identity ("cert?<identity>") when nothing matched.
  std::string caller;
};

/// Decides one call. An empty list turns authentication off (every call allowed, caller
/// "anonymous"): in-process tests use it; teredo-controller's config validation never allows it.
/// `authorization` is the "authorization" metadata if present; `identities` the verified client
/// certificate's CN and SANs. A presented token must match (a wrong token is refused even with a
/// listed certificate); without a token, a listed certificate identity authenticates. Tokens are
/// compared in constant time against every token principal.
AccessDecision authorizeCall(const AccessList& list, std::optional<std::string_view> authorization,
                             const std::vector<std::string>& identities, bool changesState);

/// True if `header` is exactly "Bearer <token>" (constant time in the contents).
bool bearerTokenMatches(std::string_view header, std::string_view token);

}  // namespace teredo::controller
