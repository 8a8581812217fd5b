// macvlan networks (S-NET-12) on a real parent. This kernel has no dummy interfaces: the
// parent is one end of a veth pair whose other end sits in a network namespace the test
// made, which plays another machine on the LAN (10.252.X.1).

#include <set>

#include "harness.hpp"

namespace berth::it {
namespace {

std::set<std::string> host_links() {
  std::set<std::string> out;
  for (const auto& l : lines(exec({"sh", "-c", "ls /sys/class/net"}).out)) out.insert(l);
  return out;
}

class Macvlan : public BerthTest {
 protected:
  void SetUp() override {
    links_before_ = host_links();
    BerthTest::SetUp();
    std::string r = random_suffix();
    parent_ = "mvp" + r.substr(0, 8);
    lan_ns_ = "mvn" + r.substr(0, 8);
    x_ = std::to_string(std::stoul(r.substr(8, 2), nullptr, 16));
    subnet_ = "10.252." + x_ + ".0/24";
    ASSERT_EQ(exec({"ip", "netns", "add", lan_ns_}).code, 0);
    ASSERT_EQ(exec({"ip", "link", "add", parent_, "type", "veth", "peer", "name", "mvl" + r.substr(0, 8)}).code, 0);
    ASSERT_EQ(exec({"ip", "link", "set", "mvl" + r.substr(0, 8), "netns", lan_ns_}).code, 0);
    ASSERT_EQ(exec({"ip", "link", "set", parent_, "up"}).code, 0);
    auto in_lan = [&](std::vector<std::string> args) {
      std::vector<std::string> full = {"ip", "netns", "exec", lan_ns_};
      full.insert(full.end(), args.begin(), args.end());
      return exec(full);
    };
    ASSERT_EQ(in_lan({"ip", "link", "set", "lo", "up"}).code, 0);
    ASSERT_EQ(in_lan({"ip", "addr", "add", "10.252." + x_ + ".1/24", "dev", "mvl" + r.substr(0, 8)}).code, 0);
    ASSERT_EQ(in_lan({"ip", "link", "set", "mvl" + r.substr(0, 8), "up"}).code, 0);
    import_busybox();
  }

  void TearDown() override {
    for (const auto& id : all_container_ids()) berth({"rm", "-f", id});
    berth({"network", "prune", "-f"});
    BerthTest::TearDown();
    exec({"ip", "netns", "del", lan_ns_});
    exec({"ip", "link", "del", parent_});
    // (The veth's other end went with the namespace.)
    for (int i = 0; i < 100 && host_links() != links_before_; ++i) usleep(20000);
    for (const auto& l : host_links()) EXPECT_TRUE(links_before_.count(l)) << "interface left: " << l;
  }

  std::string create_network(const std::string& mode = "bridge") {
    std::string name = unique("mv");
    ok({"network", "create", "-d", "macvlan", "--subnet", subnet_, "--ip-range", "10.252." + x_ + ".64/28",
        "--gateway", "10.252." + x_ + ".1", "-o", "parent=" + parent_, "-o", "macvlan_mode=" + mode, name});
    return name;
  }
  std::string ip_on(const std::string& ctr, const std::string& net) {
    return ok({"inspect", "-f", "{{(index .NetworkSettings.Networks \"" + net + "\").IPAddress}}", ctr});
  }

  std::set<std::string> links_before_;
  std::string parent_, lan_ns_, x_, subnet_;
};

TEST_F(Macvlan, TwoContainersReachEachOtherAndTheLanNotTheHost) {
  std::string net = create_network();
  std::string a = ok({"run", "-d", "--network", net, "busybox", "sleep", "60"});
  std::string b = ok({"run", "-d", "--network", net, "busybox", "sleep", "60"});
  std::string ip_a = ip_on(a, net), ip_b = ip_on(b, net);
  // Addresses from the ip-range.
  EXPECT_EQ(ip_a, "10.252." + x_ + ".64");
  EXPECT_EQ(ip_b, "10.252." + x_ + ".65");
  // Their own MACs, not the parent's.
  std::string mac_a = ok({"exec", a, "cat", "/sys/class/net/eth0/address"});
  std::string parent_mac = trim(read_file("/sys/class/net/" + parent_ + "/address"));
  EXPECT_EQ(mac_a, ok({"inspect", "-f", "{{(index .NetworkSettings.Networks \"" + net + "\").MacAddress}}", a}));
  EXPECT_NE(mac_a, parent_mac);
  EXPECT_NE(mac_a, ok({"exec", b, "cat", "/sys/class/net/eth0/address"}));
  // Each other, and the machine on the LAN, both ways.
  EXPECT_EQ(berth({"exec", a, "ping", "-c", "1", "-W", "2", ip_b}).code, 0);
  EXPECT_EQ(berth({"exec", a, "ping", "-c", "1", "-W", "2", "10.252." + x_ + ".1"}).code, 0);
  EXPECT_EQ(exec({"ip", "netns", "exec", lan_ns_, "/bin/busybox", "ping", "-c", "1", "-W", "2", ip_a}).code, 0);
  EXPECT_EQ(ok({"exec", a, "ip", "route", "show", "default"}).find("default via 10.252." + x_ + ".1"), 0u);
  // Not the host: it has no address on that network and macvlan keeps it apart.
  EXPECT_NE(exec({"/bin/busybox", "ping", "-c", "1", "-W", "1", ip_a}).code, 0);
  // Nothing on the host but the parent.
  for (const auto& l : host_links()) EXPECT_TRUE(links_before_.count(l) || l == parent_) << "new interface: " << l;
}

TEST_F(Macvlan, MissingOrAbsentParentAndBadOptionsAreRefused) {
  size_t before = lines(ok({"network", "ls", "-q"})).size();
  auto refused = [&](std::vector<std::string> opts, const std::string& needle) {
    std::vector<std::string> args = {"network", "create", "-d", "macvlan", "--subnet", subnet_};
    args.insert(args.end(), opts.begin(), opts.end());
    args.push_back(unique("mv"));
    Output o = berth(args);
    EXPECT_EQ(o.code, 1) << o.out;
    EXPECT_NE(o.err.find(needle), std::string::npos) << o.err;
  };
  refused({}, "parent");
  refused({"-o", "parent=nosuchif0"}, "nosuchif0");
  refused({"-o", "parent=" + parent_, "-o", "macvlan_mode=weird"}, "weird");
  refused({"-o", "parent=" + parent_, "-o", "bogus=1"}, "bogus");
  EXPECT_EQ(lines(ok({"network", "ls", "-q"})).size(), before);
}

TEST_F(Macvlan, RemovalLeavesNothingAndDisconnectTakesTheInterface) {
  std::string net = create_network("private");
  std::string bridge_net = unique("br");
  ok({"network", "create", "--subnet", "10.250.41.0/24", bridge_net});
  std::string c = ok({"run", "-d", "--network", bridge_net, "busybox", "sleep", "60"});
  ok({"network", "connect", net, c});
  EXPECT_EQ(ok({"exec", c, "ls", "/sys/class/net"}), "eth0\neth1\nlo");
  EXPECT_EQ(ok({"exec", c, "cat", "/sys/class/net/eth1/address"}),
            ok({"inspect", "-f", "{{(index .NetworkSettings.Networks \"" + net + "\").MacAddress}}", c}));
  ok({"network", "disconnect", net, c});
  EXPECT_EQ(ok({"exec", c, "ls", "/sys/class/net"}), "eth0\nlo");
  ok({"rm", "-f", c});
  EXPECT_EQ(trim(exec({"sh", "-c", "ls /sys/class/net | grep '^mv' | grep -v " + parent_ + " || true"}).out), "");
  EXPECT_EQ(ok({"network", "rm", net}), net);
}

}  // namespace
}  // namespace berth::it
