// The admin API's access list: the file's grammar (every error names file:line), and the
// authorisation decision for every combination of credential and method kind.
#include "access.h"

#include <gtest/gtest.h>

namespace teredo::controller {
namespace {

constexpr const char* kAdminToken = "adm1n-t0ken-0123456789";
constexpr const char* kReadToken = "r3ad-t0ken-0123456789";

AccessList sample() {
  auto list = parseAccessList(std::string("# operators\n") + "alice  admin token " + kAdminToken +
                                  "\n" + "grafana read  token " + kReadToken + "   # dashboards\n" +
                                  "\n" + "oncall admin cert oncall.ops.example\n" +
                                  "auditor read cert audit.ops.example\n",
                              "access");
  EXPECT_TRUE(list.ok()) << list.status().message();
  return list.ok() ? *list : AccessList{};
}

TEST(AccessListTest, ParsesPrincipals) {
  const AccessList list = sample();
  ASSERT_EQ(list.principals.size(), 4u);
  EXPECT_EQ(list.principals[0].name, "alice");
  EXPECT_EQ(list.principals[0].role, AccessRole::kAdmin);
  EXPECT_EQ(list.principals[0].kind, CredentialKind::kToken);
  EXPECT_EQ(list.principals[0].credential, kAdminToken);
  EXPECT_EQ(list.principals[1].role, AccessRole::kRead);
  EXPECT_EQ(list.principals[1].credential, kReadToken) << "the comment is not part of it";
  EXPECT_EQ(list.principals[2].kind, CredentialKind::kCert);
  EXPECT_EQ(list.principals[2].credential, "oncall.ops.example");
  EXPECT_TRUE(parseAccessList("", "f")->principals.empty());
  EXPECT_TRUE(parseAccessList("# nothing\n\n", "f")->principals.empty());
}

TEST(AccessListTest, ErrorsNameFileLineAndProblem) {
  const std::string tok = "0123456789abcdef";
  struct Case {
    const char* name;
    std::string text;
    std::string expected;
  } cases[] = {
      {"too few fields", "alice admin token\n", "f:1: expected \"NAME ROLE KIND CREDENTIAL\""},
      {"too many fields", "\nalice admin token " + tok + " extra\n", "f:2: expected"},
      {"bad role", "alice root token " + tok + "\n", "f:1: role \"root\": must be read or admin"},
      {"bad kind", "alice admin password " + tok + "\n", "f:1: kind \"password\""},
      {"bad name", "al/ice admin token " + tok + "\n", "f:1: name \"al/ice\""},
      {"short token", "alice admin token short\n", "f:1: the token of alice is shorter than 16"},
      {"duplicate name", "a admin token " + tok + "\na read cert x\n",
       "f:2: principal a is defined twice"},
      {"shared token", "a admin token " + tok + "\nb read token " + tok + "\n",
       "f:2: principals a and b share a credential"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto r = parseAccessList(c.text, "f");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos) << r.status().message();
  }
}

TEST(AccessDecisionTest, TokensCertificatesAndRoles) {
  const AccessList list = sample();
  const std::string admin = std::string("Bearer ") + kAdminToken;
  const std::string read = std::string("Bearer ") + kReadToken;
  const std::vector<std::string> none;
  const std::vector<std::string> agentCert = {"relay-1", "relay-1.example"};
  const std::vector<std::string> oncallCert = {"oncall", "oncall.ops.example"};
  const std::vector<std::string> auditorCert = {"audit.ops.example"};
  struct Case {
    const char* name;
    std::optional<std::string> header;
    std::vector<std::string> identities;
    bool write;
    StatusCode code;
    std::string caller;
  } cases[] = {
      {"admin token reads", admin, none, false, StatusCode::kOk, "token:alice"},
      {"admin token writes", admin, none, true, StatusCode::kOk, "token:alice"},
      {"read token reads", read, none, false, StatusCode::kOk, "token:grafana"},
      {"read token cannot write", read, none, true, StatusCode::kPermissionDenied, "token:grafana"},
      {"wrong token", "Bearer nope-nope-nope-nope", none, false, StatusCode::kUnauthenticated,
       "unauthenticated"},
      {"not a bearer header", std::string("Basic ") + kAdminToken, none, false,
       StatusCode::kUnauthenticated, "unauthenticated"},
      {"nothing presented", std::nullopt, none, false, StatusCode::kUnauthenticated,
       "unauthenticated"},
      {"an agent's certificate authorises nothing", std::nullopt, agentCert, false,
       StatusCode::kUnauthenticated, "cert?relay-1"},
      {"an agent's certificate cannot write", std::nullopt, agentCert, true,
       StatusCode::kUnauthenticated, "cert?relay-1"},
      {"listed certificate (a SAN) writes", std::nullopt, oncallCert, true, StatusCode::kOk,
       "cert:oncall"},
      {"read certificate cannot write", std::nullopt, auditorCert, true,
       StatusCode::kPermissionDenied, "cert:auditor"},
      {"a token decides over a certificate", read, oncallCert, true, StatusCode::kPermissionDenied,
       "token:grafana"},
      {"a wrong token is refused even with a listed certificate", "Bearer nope-nope-nope-nope",
       oncallCert, false, StatusCode::kUnauthenticated, "unauthenticated"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::optional<std::string_view> header;
    if (c.header) {
      header = *c.header;
    }
    const AccessDecision d = authorizeCall(list, header, c.identities, c.write);
    EXPECT_EQ(d.code, c.code) << d.message;
    EXPECT_EQ(d.caller, c.caller);
    EXPECT_EQ(d.message.empty(), c.code == StatusCode::kOk) << d.message;
  }
}

TEST(AccessDecisionTest, EmptyListMeansAuthenticationOff) {
  const AccessDecision d = authorizeCall(AccessList{}, std::nullopt, {}, true);
  EXPECT_EQ(d.code, StatusCode::kOk);
  EXPECT_EQ(d.caller, "anonymous");
}

TEST(AccessListTest, AddPrincipalRefusesClashes) {
  AccessList list;
  ASSERT_TRUE(addPrincipal(list, {"admin", AccessRole::kAdmin, CredentialKind::kToken, "t"}).ok());
  EXPECT_FALSE(addPrincipal(list, {"admin", AccessRole::kRead, CredentialKind::kCert, "c"}).ok());
  EXPECT_FALSE(addPrincipal(list, {"b", AccessRole::kRead, CredentialKind::kToken, "t"}).ok());
  EXPECT_TRUE(addPrincipal(list, {"c", AccessRole::kRead, CredentialKind::kCert, "t"}).ok())
      << "a certificate identity may equal a token: different kinds";
  EXPECT_EQ(list.principals.size(), 2u);
}

TEST(BearerTokenTest, ComparesExactly) {
  EXPECT_TRUE(bearerTokenMatches("Bearer abc", "abc"));
  EXPECT_FALSE(bearerTokenMatches("Bearer abd", "abc"));
  EXPECT_FALSE(bearerTokenMatches("Bearer abcd", "abc"));
  EXPECT_FALSE(bearerTokenMatches("Bearer ab", "abc"));
  EXPECT_FALSE(bearerTokenMatches("bearer abc", "abc"));
  EXPECT_FALSE(bearerTokenMatches("abc", "abc"));
  EXPECT_FALSE(bearerTokenMatches("Bearer ", ""));
}

}  // namespace
}  // namespace teredo::controller
