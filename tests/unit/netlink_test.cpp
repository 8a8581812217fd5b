// The SDK's rtnetlink helpers against the real kernel: a bridge, a veth pair into a
// network namespace the test makes, addresses, routes, a macvlan, and traffic between the
// two ends. Every object has a name unique to the run and is gone afterwards.

#include "berth/sdk/netlink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

namespace berth::sdk {
namespace {

class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    unsigned r = rd() & 0xffffff;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%06x", r);
    tag_ = buf;
    octet_ = static_cast<int>(16 + (r % 200));
    // A network namespace held by a child that only waits to be ended.
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    holder_ = fork();
    if (holder_ == 0) {
      char ok = unshare(CLONE_NEWNET) == 0 ? 1 : 0;
      (void)!write(ready[1], &ok, 1);
      pause();
      _exit(0);
    }
    char ok = 0;
    ASSERT_EQ(read(ready[0], &ok, 1), 1);
    close(ready[0]);
    close(ready[1]);
    ASSERT_EQ(ok, 1);
    netns_ = open(("/proc/" + std::to_string(holder_) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(netns_, 0);
  }
  void TearDown() override {
    auto nl = Netlink::open();
    if (nl) {
      for (const char* p : {"btb", "btv", "btq", "btm"}) (void)nl->delete_link(p + tag_);
    }
    if (netns_ >= 0) close(netns_);
    if (holder_ > 0) {
      kill(holder_, SIGKILL);
      waitpid(holder_, nullptr, 0);
    }
    // Nothing of this test is left on the host.
    auto again = Netlink::open();
    ASSERT_TRUE(again);
    auto links = again->links();
    ASSERT_TRUE(links);
    for (const auto& l : *links) EXPECT_EQ(l.name.find(tag_), std::string::npos) << "left behind: " << l.name;
  }
  std::string net(int host) { return "10.251." + std::to_string(octet_) + "." + std::to_string(host); }

  std::string tag_;
  int octet_ = 0;
  pid_t holder_ = -1;
  int netns_ = -1;
};

TEST_F(NetlinkTest, BridgeVethIntoANamespaceAddressesRoutesAndTraffic) {
  auto host = Netlink::open();
  ASSERT_TRUE(host) << host.error().what();
  const std::string bridge = "btb" + tag_, veth = "btv" + tag_, peer = "btp" + tag_;
  ASSERT_TRUE(host->create_bridge(bridge));
  EXPECT_EQ(host->create_bridge(bridge).error().code, Code::AlreadyExists);
  ASSERT_TRUE(host->add_address(bridge, net(1) + "/24"));
  ASSERT_TRUE(host->set_up(bridge));
  ASSERT_TRUE(host->create_veth(veth, peer, netns_));
  ASSERT_TRUE(host->set_master(veth, bridge));
  ASSERT_TRUE(host->set_up(veth));
  auto b = host->link(bridge);
  auto v = host->link(veth);
  ASSERT_TRUE(b && v);
  EXPECT_EQ(b->kind, "bridge");
  EXPECT_EQ(v->kind, "veth");
  EXPECT_EQ(v->master, b->index);
  EXPECT_EQ(host->link(peer).error().code, Code::NotFound) << "the peer belongs to the other namespace";

  auto inside = Netlink::open(netns_);
  ASSERT_TRUE(inside) << inside.error().what();
  ASSERT_TRUE(inside->rename(peer, "eth0"));
  ASSERT_TRUE(inside->set_mac("eth0", "02:42:0a:fb:00:02"));
  ASSERT_TRUE(inside->add_address("eth0", net(2) + "/24"));
  ASSERT_TRUE(inside->set_up("lo"));
  ASSERT_TRUE(inside->set_up("eth0"));
  ASSERT_TRUE(inside->add_route({"0.0.0.0/0", net(1), 0}));
  auto eth0 = inside->link("eth0");
  ASSERT_TRUE(eth0);
  EXPECT_EQ(eth0->mac, "02:42:0a:fb:00:02");
  EXPECT_TRUE(eth0->up);
  EXPECT_EQ(*inside->addresses("eth0"), std::vector<std::string>{net(2) + "/24"});
  bool has_default = false;
  std::string seen;
  auto routes = inside->routes();
  ASSERT_TRUE(routes);
  for (const auto& r : *routes) {
    has_default |= r.destination == "0.0.0.0/0" && r.gateway == net(1);
    seen += r.destination + " via " + r.gateway + "; ";
  }
  EXPECT_TRUE(has_default) << seen;

  // A datagram from the namespace reaches the bridge's address on the host.
  int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa {};
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, net(1).c_str(), &sa.sin_addr);
  ASSERT_EQ(bind(rx, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  getsockname(rx, reinterpret_cast<sockaddr*>(&sa), &len);
  std::thread sender([&] {
    setns(netns_, CLONE_NEWNET);  // this test thread only
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (int i = 0; i < 20; ++i) {
      sendto(tx, "hello", 5, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      usleep(50000);
    }
    close(tx);
  });
  struct timeval tv {5, 0};
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[16] = {};
  sockaddr_in from {};
  socklen_t flen = sizeof from;
  ssize_t n = recvfrom(rx, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
  sender.join();
  close(rx);
  ASSERT_EQ(n, 5);
  char fromtxt[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &from.sin_addr, fromtxt, sizeof fromtxt);
  EXPECT_EQ(std::string(fromtxt), net(2));

  ASSERT_TRUE(host->delete_link(veth));  // its peer goes with it
  EXPECT_EQ(inside->link("eth0").error().code, Code::NotFound);
  ASSERT_TRUE(host->delete_link(bridge));
  EXPECT_EQ(host->delete_link(bridge).error().code, Code::NotFound);
}

TEST_F(NetlinkTest, MacvlanOnAParentWithModesChecked) {
  auto host = Netlink::open();
  ASSERT_TRUE(host);
  const std::string parent = "btq" + tag_, other = "btr" + tag_, mv = "btm" + tag_;
  ASSERT_TRUE(host->create_veth(parent, other, netns_));
  ASSERT_TRUE(host->set_up(parent));
  EXPECT_EQ(host->create_macvlan(mv, parent, "sideways").error().code, Code::InvalidArgument);
  EXPECT_EQ(host->create_macvlan(mv, "btnone" + tag_, "bridge").error().code, Code::NotFound);
  // Made on the host's parent, then placed straight into the namespace.
  ASSERT_TRUE(host->create_macvlan(mv, parent, "bridge", netns_));
  auto inside = Netlink::open(netns_);
  ASSERT_TRUE(inside);
  auto m = inside->link(mv);
  ASSERT_TRUE(m) << m.error().what();
  EXPECT_EQ(m->kind, "macvlan");
  EXPECT_EQ(host->link(mv).error().code, Code::NotFound);
  ASSERT_TRUE(host->delete_link(parent));
}

}  // namespace
}  // namespace berth::sdk
