#include "berth/sdk/netlink.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace berth::sdk {

namespace {

constexpr size_t kBuf = 8192;

Error nl_error(const std::string& what, int err) {
  Code code = err == ENOENT || err == ENODEV ? Code::NotFound
              : err == EEXIST                ? Code::AlreadyExists
              : err == EPERM || err == EACCES ? Code::Forbidden
                                              : Code::Internal;
  return make_error(code, what + ": " + std::strerror(err));
}

int make_socket() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct sockaddr_nl sa {};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool parse_cidr(const std::string& cidr, in_addr* addr, int* prefix) {
  auto slash = cidr.find('/');
  std::string ip = cidr.substr(0, slash);
  *prefix = slash == std::string::npos ? 32 : std::atoi(cidr.c_str() + slash + 1);
  return ::inet_pton(AF_INET, ip.c_str(), addr) == 1 && *prefix >= 0 && *prefix <= 32;
}

std::string ip_text(const void* a) {
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, a, buf, sizeof buf);
  return buf;
}

bool parse_mac(const std::string& s, unsigned char out[6]) {
  unsigned v[6];
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return false;
  for (int i = 0; i < 6; ++i) out[i] = static_cast<unsigned char>(v[i]);
  return true;
}

// libmnl's iteration macros are C (void* conversions); the same walks, typed.
template <typename F>
void for_each_attr(const nlmsghdr* h, size_t offset, F f) {
  auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(h, offset));
  auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(h));
  for (; mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a)) f(a);
}

template <typename F>
void for_each_nested(const nlattr* nest, F f) {
  auto* a = static_cast<const nlattr*>(mnl_attr_get_payload(nest));
  auto* end = static_cast<const char*>(mnl_attr_get_payload(nest)) + mnl_attr_get_payload_len(nest);
  for (; mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a)) f(a);
}

nlmsghdr* new_msg(char* buf, uint16_t type, uint16_t flags, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  return nlh;
}

ifinfomsg* link_msg(nlmsghdr* nlh, int index = 0) {
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = index;
  return ifm;
}

// One RTM_NEWLINK message into the std::vector<LinkInfo> at `data`.
int link_cb(const nlmsghdr* h, void* data) {
  auto* list = static_cast<std::vector<LinkInfo>*>(data);
  auto* ifm = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(h));
  LinkInfo li;
  li.index = ifm->ifi_index;
  li.up = (ifm->ifi_flags & IFF_UP) != 0;
  for_each_attr(h, sizeof(*ifm), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case IFLA_IFNAME:
        li.name = mnl_attr_get_str(attr);
        break;
      case IFLA_MASTER:
        li.master = static_cast<int>(mnl_attr_get_u32(attr));
        break;
      case IFLA_ADDRESS:
        if (mnl_attr_get_payload_len(attr) == 6) {
          auto* m = static_cast<const unsigned char*>(mnl_attr_get_payload(attr));
          char mac[18];
          std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
          li.mac = mac;
        }
        break;
      case IFLA_LINKINFO:
        for_each_nested(attr, [&](const nlattr* in) {
          if (mnl_attr_get_type(in) == IFLA_INFO_KIND) li.kind = mnl_attr_get_str(in);
        });
        break;
      default:
        break;
    }
  });
  list->push_back(li);
  return MNL_CB_OK;
}

}  // namespace

Result<Netlink> Netlink::open(int netns_fd) {
  int fd = -1;
  int err = 0;
  if (netns_fd < 0) {
    fd = make_socket();
    err = errno;
  } else {
    // setns() of a network namespace is per thread: a thread of our own enters it, makes
    // the socket, and ends; the caller's threads never change namespace.
    std::thread t([&] {
      if (::setns(netns_fd, CLONE_NEWNET) != 0) {
        err = errno;
        return;
      }
      fd = make_socket();
      err = errno;
    });
    t.join();
  }
  if (fd < 0) return nl_error("open a netlink socket", err);
  return Netlink(fd);
}

Netlink::Netlink(Netlink&& other) noexcept : fd_(other.fd_), seq_(other.seq_) { other.fd_ = -1; }

Netlink& Netlink::operator=(Netlink&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    seq_ = other.seq_;
    other.fd_ = -1;
  }
  return *this;
}

Netlink::~Netlink() {
  if (fd_ >= 0) ::close(fd_);
}

Status Netlink::request(void* msg, const std::string& what) {
  static_cast<nlmsghdr*>(msg)->nlmsg_flags |= NLM_F_ACK;
  return exchange(msg, what, nullptr, nullptr);
}

Status Netlink::exchange(void* msg, const std::string& what, int (*cb)(const nlmsghdr*, void*), void* data) {
  auto* nlh = static_cast<nlmsghdr*>(msg);
  if (::send(fd_, nlh, nlh->nlmsg_len, 0) < 0) return nl_error(what, errno);
  char buf[kBuf];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return nl_error(what, errno);
    int r = mnl_cb_run(buf, static_cast<size_t>(n), nlh->nlmsg_seq, 0, cb, data);
    if (r == MNL_CB_ERROR) {
      int err = errno;
      Error e = nl_error(what, err);
      e.sys_errno = err;
      return e;
    }
    if (r <= MNL_CB_STOP) return {};
  }
}

Status Netlink::dump(void* msg, const std::string& what, int (*cb)(const nlmsghdr*, void*), void* data,
                     void (*reset)(void*)) {
  auto* nlh = static_cast<nlmsghdr*>(msg);
  for (int attempt = 0;; ++attempt) {
    Status s = exchange(msg, what, cb, data);
    if (s || s.error().sys_errno != EINTR || attempt >= 50) return s;
    // The kernel flagged the dump inconsistent (NLM_F_DUMP_INTR: links or addresses
    // changed under it). The rest of it is still queued: drain it, then ask again.
    char buf[kBuf];
    bool done = false;
    while (!done) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      int len = static_cast<int>(n);
      for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(h, len);
           h = static_cast<const nlmsghdr*>(mnl_nlmsg_next(h, &len))) {
        if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) done = true;
      }
    }
    reset(data);
    nlh->nlmsg_seq = ++seq_;
  }
}

Result<std::vector<LinkInfo>> Netlink::links() {
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_GETLINK, NLM_F_DUMP, ++seq_);
  link_msg(nlh);
  std::vector<LinkInfo> out;
  BERTH_TRY(dump(nlh, "list links", link_cb, &out, [](void* d) { static_cast<std::vector<LinkInfo>*>(d)->clear(); }));
  return out;
}

Result<LinkInfo> Netlink::link(const std::string& name) {
  // A request for the one link, not a dump: cheaper with many veths, and a dump can be
  // interrupted by other commands changing links meanwhile.
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_GETLINK, NLM_F_ACK, ++seq_);
  link_msg(nlh);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  std::vector<LinkInfo> out;
  Status s = exchange(nlh, "look up interface '" + name + "'", link_cb, &out);
  if (!s && s.error().code == Code::NotFound) {
    return make_error(Code::NotFound, "no network interface named '" + name + "'");
  }
  BERTH_TRY(std::move(s));
  if (out.empty()) return make_error(Code::NotFound, "no network interface named '" + name + "'");
  return out.front();
}

Status Netlink::create_bridge(const std::string& name) {
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ++seq_);
  link_msg(nlh);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
  mnl_attr_nest_end(nlh, info);
  return request(nlh, "create bridge '" + name + "'");
}

Status Netlink::create_veth(const std::string& name, const std::string& peer, int peer_netns_fd) {
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ++seq_);
  link_msg(nlh);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer_attr = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  // The peer's attributes follow an ifinfomsg of its own.
  auto* pifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  std::memset(pifm, 0, sizeof *pifm);
  pifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, peer.c_str());
  if (peer_netns_fd >= 0) mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
  mnl_attr_nest_end(nlh, peer_attr);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return request(nlh, "create veth pair '" + name + "'/'" + peer + "'");
}

Status Netlink::create_macvlan(const std::string& name, const std::string& parent, const std::string& mode,
                               int netns_fd) {
  static const std::pair<const char*, uint32_t> kModes[] = {{"private", MACVLAN_MODE_PRIVATE},
                                                            {"vepa", MACVLAN_MODE_VEPA},
                                                            {"bridge", MACVLAN_MODE_BRIDGE},
                                                            {"passthru", MACVLAN_MODE_PASSTHRU}};
  uint32_t m = 0;
  for (const auto& [n, v] : kModes) {
    if (mode == n) m = v;
  }
  if (m == 0) return make_error(Code::InvalidArgument, "macvlan mode '" + mode + "' is not one of bridge, private, vepa, passthru");
  BERTH_ASSIGN(LinkInfo p, link(parent));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ++seq_);
  link_msg(nlh);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  mnl_attr_put_u32(nlh, IFLA_LINK, static_cast<uint32_t>(p.index));
  if (netns_fd >= 0) mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(netns_fd));
  nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macvlan");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  mnl_attr_put_u32(nlh, IFLA_MACVLAN_MODE, m);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return request(nlh, "create macvlan '" + name + "' on '" + parent + "'");
}

Status Netlink::delete_link(const std::string& name) {
  BERTH_ASSIGN(LinkInfo l, link(name));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_DELLINK, 0, ++seq_);
  link_msg(nlh, l.index);
  return request(nlh, "delete link '" + name + "'");
}

Status Netlink::set_up(const std::string& name) {
  BERTH_ASSIGN(LinkInfo l, link(name));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWLINK, 0, ++seq_);
  ifinfomsg* ifm = link_msg(nlh, l.index);
  ifm->ifi_flags = IFF_UP;
  ifm->ifi_change = IFF_UP;
  return request(nlh, "set '" + name + "' up");
}

Status Netlink::set_master(const std::string& name, const std::string& master) {
  BERTH_ASSIGN(LinkInfo l, link(name));
  BERTH_ASSIGN(LinkInfo m, link(master));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWLINK, 0, ++seq_);
  link_msg(nlh, l.index);
  mnl_attr_put_u32(nlh, IFLA_MASTER, static_cast<uint32_t>(m.index));
  return request(nlh, "attach '" + name + "' to '" + master + "'");
}

Status Netlink::set_mac(const std::string& name, const std::string& mac) {
  unsigned char bytes[6];
  if (!parse_mac(mac, bytes)) return make_error(Code::InvalidArgument, "invalid MAC address '" + mac + "'");
  BERTH_ASSIGN(LinkInfo l, link(name));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWLINK, 0, ++seq_);
  link_msg(nlh, l.index);
  mnl_attr_put(nlh, IFLA_ADDRESS, 6, bytes);
  return request(nlh, "set the MAC of '" + name + "'");
}

Status Netlink::rename(const std::string& name, const std::string& new_name) {
  BERTH_ASSIGN(LinkInfo l, link(name));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWLINK, 0, ++seq_);
  link_msg(nlh, l.index);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, new_name.c_str());
  return request(nlh, "rename '" + name + "' to '" + new_name + "'");
}

Status Netlink::move_to_netns(const std::string& name, int netns_fd) {
  BERTH_ASSIGN(LinkInfo l, link(name));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWLINK, 0, ++seq_);
  link_msg(nlh, l.index);
  mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(netns_fd));
  return request(nlh, "move '" + name + "' to another network namespace");
}

Status Netlink::add_address(const std::string& name, const std::string& cidr) {
  in_addr addr {};
  int prefix = 0;
  if (!parse_cidr(cidr, &addr, &prefix)) return make_error(Code::InvalidArgument, "invalid address '" + cidr + "'");
  BERTH_ASSIGN(LinkInfo l, link(name));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ++seq_);
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = static_cast<unsigned char>(prefix);
  ifa->ifa_index = static_cast<unsigned>(l.index);
  mnl_attr_put(nlh, IFA_LOCAL, sizeof addr, &addr);
  mnl_attr_put(nlh, IFA_ADDRESS, sizeof addr, &addr);
  if (prefix < 31) {
    in_addr bcast = addr;
    uint32_t host_mask = prefix == 0 ? 0xffffffffu : (0xffffffffu >> prefix);
    bcast.s_addr = htonl(ntohl(addr.s_addr) | host_mask);
    mnl_attr_put(nlh, IFA_BROADCAST, sizeof bcast, &bcast);
  }
  return request(nlh, "add address " + cidr + " to '" + name + "'");
}

Result<std::vector<std::string>> Netlink::addresses(const std::string& name) {
  BERTH_ASSIGN(LinkInfo l, link(name));
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_GETADDR, NLM_F_DUMP, ++seq_);
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET;
  struct Ctx {
    int index;
    std::vector<std::string> out;
  } ctx{l.index, {}};
  auto cb = [](const nlmsghdr* h, void* data) -> int {
    auto* c = static_cast<Ctx*>(data);
    auto* a = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(h));
    if (static_cast<int>(a->ifa_index) != c->index || a->ifa_family != AF_INET) return MNL_CB_OK;
    for_each_attr(h, sizeof(*a), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) == IFA_LOCAL) {
        c->out.push_back(ip_text(mnl_attr_get_payload(attr)) + "/" + std::to_string(a->ifa_prefixlen));
      }
    });
    return MNL_CB_OK;
  };
  BERTH_TRY(dump(nlh, "list addresses", cb, &ctx, [](void* d) { static_cast<Ctx*>(d)->out.clear(); }));
  return ctx.out;
}

Status Netlink::add_route(const RouteInfo& route) {
  in_addr dst {};
  int prefix = 0;
  if (!parse_cidr(route.destination, &dst, &prefix)) {
    return make_error(Code::InvalidArgument, "invalid route destination '" + route.destination + "'");
  }
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ++seq_);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = static_cast<unsigned char>(prefix);
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = route.gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  if (prefix > 0) mnl_attr_put(nlh, RTA_DST, sizeof dst, &dst);
  if (!route.gateway.empty()) {
    in_addr gw {};
    if (::inet_pton(AF_INET, route.gateway.c_str(), &gw) != 1) {
      return make_error(Code::InvalidArgument, "invalid gateway '" + route.gateway + "'");
    }
    mnl_attr_put(nlh, RTA_GATEWAY, sizeof gw, &gw);
  }
  if (route.oif > 0) mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(route.oif));
  return request(nlh, "add route to " + route.destination);
}

Result<std::vector<RouteInfo>> Netlink::routes() {
  char buf[kBuf];
  nlmsghdr* nlh = new_msg(buf, RTM_GETROUTE, NLM_F_DUMP, ++seq_);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  std::vector<RouteInfo> out;
  auto cb = [](const nlmsghdr* h, void* data) -> int {
    auto* list = static_cast<std::vector<RouteInfo>*>(data);
    auto* r = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(h));
    if (r->rtm_family != AF_INET || r->rtm_table != RT_TABLE_MAIN) return MNL_CB_OK;
    RouteInfo ri;
    ri.destination = "0.0.0.0/" + std::to_string(r->rtm_dst_len);
    for_each_attr(h, sizeof(*r), [&](const nlattr* attr) {
      switch (mnl_attr_get_type(attr)) {
        case RTA_DST:
          ri.destination = ip_text(mnl_attr_get_payload(attr)) + "/" + std::to_string(r->rtm_dst_len);
          break;
        case RTA_GATEWAY:
          ri.gateway = ip_text(mnl_attr_get_payload(attr));
          break;
        case RTA_OIF:
          ri.oif = static_cast<int>(mnl_attr_get_u32(attr));
          break;
        default:
          break;
      }
    });
    list->push_back(ri);
    return MNL_CB_OK;
  };
  BERTH_TRY(dump(nlh, "list routes", cb, &out, [](void* d) { static_cast<std::vector<RouteInfo>*>(d)->clear(); }));
  return out;
}

}  // namespace berth::sdk
