#include "net/netlink.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace teredo::net {
namespace {

/// A request buffer: header, family-specific body and a few attributes; setup path only.
struct alignas(NLMSG_ALIGNTO) Request {
  std::array<uint8_t, 512> bytes{};
  struct nlmsghdr* header() {
    return reinterpret_cast<struct nlmsghdr*>(bytes.data());
  }
};

template <class Body>
Body* init(Request& r, uint16_t type, uint16_t flags) {
  struct nlmsghdr* h = r.header();
  h->nlmsg_len = NLMSG_LENGTH(sizeof(Body));
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  return reinterpret_cast<Body*>(NLMSG_DATA(h));
}

void addAttr(Request& r, uint16_t type, const void* data, size_t len) {
  struct nlmsghdr* h = r.header();
  size_t offset = NLMSG_ALIGN(h->nlmsg_len);
  auto* rta = reinterpret_cast<struct rtattr*>(r.bytes.data() + offset);
  rta->rta_type = type;
  rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(rta), data, len);
  h->nlmsg_len = static_cast<uint32_t>(offset + RTA_ALIGN(rta->rta_len));
}

std::string prefixText(const Ipv6Addr& a, uint8_t len) {
  return formatIpv6(a) + "/" + std::to_string(len);
}

}  // namespace

StatusOr<Netlink> Netlink::open() {
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) {
    return Status::fromErrno(errno, "socket(AF_NETLINK, NETLINK_ROUTE)");
  }
  struct timeval tv {
    kReplyTimeoutMs / 1000, (kReplyTimeoutMs % 1000) * 1000
  };
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    return Status::fromErrno(errno, "setsockopt(SO_RCVTIMEO) on rtnetlink socket");
  }
  struct sockaddr_nl local {};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&local), sizeof(local)) != 0) {
    return Status::fromErrno(errno, "bind rtnetlink socket");
  }
  Netlink n;
  n.fd_ = std::move(fd);
  return n;
}

Status Netlink::request(void* buf, const std::string& what) {
  if (!fd_.valid()) {
    return Status::error(StatusCode::kFailedPrecondition, what + ": rtnetlink socket is not open");
  }
  auto* h = static_cast<struct nlmsghdr*>(buf);
  h->nlmsg_seq = ++seq_;
  struct sockaddr_nl kernel {};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(fd_.get(), h, h->nlmsg_len, 0, reinterpret_cast<struct sockaddr*>(&kernel),
                    sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return Status::fromErrno(errno, what + " (rtnetlink send)");
  }
  alignas(NLMSG_ALIGNTO) std::array<uint8_t, 8192> reply;
  // Bounded: stale replies (other sequence numbers) are skipped, at most this many reads.
  for (int reads = 0; reads < 16; ++reads) {
    ssize_t n = ::recv(fd_.get(), reply.data(), reply.size(), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int err = errno == EAGAIN ? ETIMEDOUT : errno;
      return Status::fromErrno(err, what + " (rtnetlink reply)");
    }
    size_t left = static_cast<size_t>(n);
    for (auto* r = reinterpret_cast<struct nlmsghdr*>(reply.data()); NLMSG_OK(r, left);
         r = NLMSG_NEXT(r, left)) {
      if (r->nlmsg_seq != h->nlmsg_seq || r->nlmsg_type != NLMSG_ERROR) {
        continue;
      }
      auto* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(r));
      if (e->error == 0) {
        return {};
      }
      return Status::fromErrno(-e->error, what);
    }
  }
  return Status::error(StatusCode::kInternal, what + ": no rtnetlink acknowledgement");
}

Status Netlink::setMtu(int ifindex, std::string_view ifname, uint32_t mtu) {
  Request r;
  auto* ifi = init<struct ifinfomsg>(r, RTM_NEWLINK, 0);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  addAttr(r, IFLA_MTU, &mtu, sizeof(mtu));
  return request(r.bytes.data(), "set MTU " + std::to_string(mtu) + " on " + std::string(ifname));
}

Status Netlink::setUp(int ifindex, std::string_view ifname, bool up) {
  Request r;
  auto* ifi = init<struct ifinfomsg>(r, RTM_NEWLINK, 0);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = up ? IFF_UP : 0;
  ifi->ifi_change = IFF_UP;
  return request(r.bytes.data(), std::string(up ? "set up " : "set down ") + std::string(ifname));
}

Status Netlink::addAddress(int ifindex, std::string_view ifname, const Ipv6Addr& addr,
                           uint8_t prefixLen) {
  Request r;
  auto* ifa = init<struct ifaddrmsg>(r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  ifa->ifa_family = AF_INET6;
  ifa->ifa_prefixlen = prefixLen;
  ifa->ifa_flags = IFA_F_NODAD;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  addAttr(r, IFA_LOCAL, addr.bytes.data(), 16);
  addAttr(r, IFA_ADDRESS, addr.bytes.data(), 16);
  uint32_t flags = IFA_F_NODAD;
  addAttr(r, IFA_FLAGS, &flags, sizeof(flags));
  return request(r.bytes.data(),
                 "add address " + prefixText(addr, prefixLen) + " to " + std::string(ifname));
}

namespace {

void fillRoute(Request& r, uint16_t type, uint16_t flags, int ifindex, const Ipv6Addr& prefix,
               uint8_t len, const Ipv6Addr& from, uint8_t fromLen, const RouteAttributes& attrs) {
  auto* rtm = init<struct rtmsg>(r, type, flags);
  rtm->rtm_family = AF_INET6;
  rtm->rtm_dst_len = len;
  // Table ids above 255 only fit the RTA_TABLE attribute; the kernel prefers it when present.
  rtm->rtm_table =
      attrs.table < 256 ? static_cast<uint8_t>(attrs.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  rtm->rtm_protocol = attrs.protocol;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  addAttr(r, RTA_TABLE, &attrs.table, sizeof(attrs.table));
  addAttr(r, RTA_DST, prefix.bytes.data(), 16);
  if (fromLen != 0) {
    rtm->rtm_src_len = fromLen;  // source-specific (IPv6 subtrees)
    addAttr(r, RTA_SRC, from.bytes.data(), 16);
  }
  uint32_t oif = static_cast<uint32_t>(ifindex);
  addAttr(r, RTA_OIF, &oif, sizeof(oif));
  if (attrs.metric != 0) {
    addAttr(r, RTA_PRIORITY, &attrs.metric, sizeof(attrs.metric));
  }
}

std::string attrsText(const RouteAttributes& attrs) {
  std::string out;
  if (attrs.table != RouteAttributes{}.table) {
    out += " table " + std::to_string(attrs.table);
  }
  if (attrs.protocol != RouteAttributes{}.protocol) {
    out += " proto " + std::to_string(attrs.protocol);
  }
  if (attrs.metric != 0) {
    out += " metric " + std::to_string(attrs.metric);
  }
  return out;
}

}  // namespace

std::string routeText(const Ipv6Addr& prefix, uint8_t len, const Ipv6Addr& from, uint8_t fromLen,
                      std::string_view ifname) {
  return prefixText(prefix, len) + (fromLen != 0 ? " from " + prefixText(from, fromLen) : "") +
         " dev " + std::string(ifname);
}

Status Netlink::addRoute(int ifindex, std::string_view ifname, const Ipv6Addr& prefix, uint8_t len,
                         const Ipv6Addr& from, uint8_t fromLen) {
  Request r;
  fillRoute(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, prefix, len, from, fromLen, {});
  return request(r.bytes.data(), "add route " + routeText(prefix, len, from, fromLen, ifname));
}

Status Netlink::deleteRoute(int ifindex, std::string_view ifname, const Ipv6Addr& prefix,
                            uint8_t len, const Ipv6Addr& from, uint8_t fromLen) {
  Request r;
  fillRoute(r, RTM_DELROUTE, 0, ifindex, prefix, len, from, fromLen, {});
  return request(r.bytes.data(), "delete route " + routeText(prefix, len, from, fromLen, ifname));
}

Status Netlink::replaceRoute(int ifindex, std::string_view ifname, const Ipv6Addr& prefix,
                             uint8_t len, const RouteAttributes& attrs) {
  Request r;
  fillRoute(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, ifindex, prefix, len, {}, 0, attrs);
  return request(r.bytes.data(),
                 "replace route " + routeText(prefix, len, {}, 0, ifname) + attrsText(attrs));
}

Status Netlink::deleteRoute(int ifindex, std::string_view ifname, const Ipv6Addr& prefix,
                            uint8_t len, const RouteAttributes& attrs) {
  Request r;
  fillRoute(r, RTM_DELROUTE, 0, ifindex, prefix, len, {}, 0, attrs);
  return request(r.bytes.data(),
                 "delete route " + routeText(prefix, len, {}, 0, ifname) + attrsText(attrs));
}

}  // namespace teredo::net
