#include "access.h"

#include <algorithm>

namespace teredo::controller {

const char* accessRoleName(AccessRole role) {
  return role == AccessRole::kAdmin ? "admin" : "read";
}

bool bearerTokenMatches(std::string_view header, std::string_view token) {
  static constexpr std::string_view kPrefix = "Bearer ";
  // Constant time in the contents: every byte of the longer of header and "Bearer <token>" is
  // visited, whatever matches.
  const size_t expectedSize = kPrefix.size() + token.size();
  const size_t n = std::max(header.size(), expectedSize);
  unsigned char diff = header.size() == expectedSize ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char b = 0;
    if (i < kPrefix.size()) {
      b = static_cast<unsigned char>(kPrefix[i]);
    } else if (i < expectedSize) {
      b = static_cast<unsigned char>(token[i - kPrefix.size()]);
    }
    const unsigned char a = i < header.size() ? static_cast<unsigned char>(header[i]) : 0;
    diff |= a ^ b;
  }
  return diff == 0 && !token.empty();
}

Status addPrincipal(AccessList& list, Principal p) {
  for (const Principal& q : list.principals) {
    if (q.name == p.name) {
      return Status::error(StatusCode::kInvalidArgument,
                           "principal " + p.name + " is defined twice");
    }
    if (q.kind == p.kind && q.credential == p.credential) {
      return Status::error(StatusCode::kInvalidArgument,
                           "principals " + q.name + " and " + p.name + " share a credential");
    }
  }
  list.principals.push_back(std::move(p));
  return Status();
}

namespace {

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
      ++i;
    }
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') {
      ++j;
    }
    if (j > i) {
      out.push_back(line.substr(i, j - i));
    }
    i = j;
  }
  return out;
}

bool validName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '@';
  });
}

}  // namespace

StatusOr<AccessList> parseAccessList(std::string_view text, const std::string& file) {
  AccessList list;
  size_t lineNo = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineNo;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    const std::vector<std::string_view> f = fields(line);
    if (f.empty()) {
      continue;
    }
    const std::string where = file + ":" + std::to_string(lineNo) + ": ";
    auto bad = [&](const std::string& what) {
      return Status::error(StatusCode::kInvalidArgument, where + what);
    };
    if (f.size() != 4) {
      return bad("expected \"NAME ROLE KIND CREDENTIAL\" (4 fields), found " +
                 std::to_string(f.size()));
    }
    Principal p;
    if (!validName(f[0])) {
      return bad("name \"" + std::string(f[0]) +
                 "\": letters, digits, '-', '_', '.', '@', at most 64");
    }
    p.name = std::string(f[0]);
    if (f[1] == "admin") {
      p.role = AccessRole::kAdmin;
    } else if (f[1] == "read") {
      p.role = AccessRole::kRead;
    } else {
      return bad("role \"" + std::string(f[1]) + "\": must be read or admin");
    }
    if (f[2] == "token") {
      p.kind = CredentialKind::kToken;
      if (f[3].size() < kMinTokenLength) {
        return bad("the token of " + p.name + " is shorter than " +
                   std::to_string(kMinTokenLength) + " characters");
      }
    } else if (f[2] == "cert") {
      p.kind = CredentialKind::kCert;
    } else {
      return bad("kind \"" + std::string(f[2]) + "\": must be token or cert");
    }
    p.credential = std::string(f[3]);
    if (Status s = addPrincipal(list, std::move(p)); !s.ok()) {
      return bad(s.message());
    }
  }
  return list;
}

AccessDecision authorizeCall(const AccessList& list, std::optional<std::string_view> authorization,
                             const std::vector<std::string>& identities, bool changesState) {
  AccessDecision d;
  if (list.principals.empty()) {
    d.caller = "anonymous";  // authentication off (tests; the controller's config refuses it)
    return d;
  }
  const Principal* who = nullptr;
  if (authorization) {
    // Every token principal is compared, so the time does not say which one (if any) matched.
    for (const Principal& p : list.principals) {
      if (p.kind == CredentialKind::kToken && bearerTokenMatches(*authorization, p.credential) &&
          who == nullptr) {
        who = &p;
      }
    }
    if (who == nullptr) {
      d.code = StatusCode::kUnauthenticated;
      d.message = "invalid bearer token";
      d.caller = "unauthenticated";
      return d;
    }
    d.caller = "token:" + who->name;
  } else {
    for (const Principal& p : list.principals) {
      if (p.kind == CredentialKind::kCert &&
          std::find(identities.begin(), identities.end(), p.credential) != identities.end()) {
        who = &p;
        break;
      }
    }
    if (who == nullptr) {
      d.code = StatusCode::kUnauthenticated;
      d.message = identities.empty()
                      ? "missing authorization metadata"
                      : "client certificate " + identities.front() +
                            " is not in the access list (agent certificates never authorise "
                            "admin calls); present a token";
      d.caller = identities.empty() ? "unauthenticated" : "cert?" + identities.front();
      return d;
    }
    d.caller = "cert:" + who->name;
  }
  if (changesState && who->role != AccessRole::kAdmin) {
    d.code = StatusCode::kPermissionDenied;
    d.message = "principal " + who->name + " has role " + accessRoleName(who->role) +
                "; changing state needs admin";
  }
  return d;
}

}  // namespace teredo::controller
