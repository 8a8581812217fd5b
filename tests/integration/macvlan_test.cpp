// macvlan networks (S-NET-12) on a real parent. This kernel has no dummy interfaces: the
// parent is the host's end of a veth pair (mvp<random>) whose other end sits in a network
// namespace the test made (mvn<random>), which plays another machine on the LAN with
// 10.252.X.1/24. TearDown removes both and checks that the host's interfaces are exactly
// as they were before the test.

#include <unistd.h>

#include <cstdio>
#include <set>

#include "harness.hpp"

namespace berth::it {
namespace {

std::set<std::string> host_links() {
  std::set<std::string> out;
  for (const auto& l : lines(exec({"sh", "-c", "ls /sys/class/net"}).out)) out.insert(l);
  return out;
}

// A macvlan link's name before join() renames it: "mv" and eight hex digits (never the
// tests' mvp/mvl veth ends: p and l are not hex digits).
bool temporary_macvlan_name(const std::string& name) {
  return name.size() == 10 && name.rfind("mv", 0) == 0 &&
         name.find_first_not_of("0123456789abcdef", 2) == std::string::npos;
}

class Macvlan : public BerthTest {
 protected:
  void SetUp() override {
    links_before_ = host_links();
    BerthTest::SetUp();
    std::string r = random_suffix();
    parent_ = "mvp" + r.substr(0, 8);
    lan_end_ = "mvl" + r.substr(0, 8);
    lan_ns_ = "mvn" + r.substr(0, 8);
    x_ = std::to_string(std::stoul(r.substr(8, 2), nullptr, 16));
    prefix_ = "10.252." + x_ + ".";
    ASSERT_EQ(exec({"ip", "netns", "add", lan_ns_}).code, 0);
    ASSERT_EQ(exec({"ip", "link", "add", parent_, "type", "veth", "peer", "name", lan_end_}).code, 0);
    ASSERT_EQ(exec({"ip", "link", "set", lan_end_, "netns", lan_ns_}).code, 0);
    ASSERT_EQ(exec({"ip", "link", "set", parent_, "up"}).code, 0);
    ASSERT_EQ(in_lan({"ip", "link", "set", "lo", "up"}).code, 0);
    ASSERT_EQ(in_lan({"ip", "addr", "add", prefix_ + "1/24", "dev", lan_end_}).code, 0);
    ASSERT_EQ(in_lan({"ip", "link", "set", lan_end_, "up"}).code, 0);
    import_busybox();
  }

  void TearDown() override {
    for (const auto& id : all_container_ids()) berth({"rm", "-f", id});
    Output pruned = berth({"network", "prune", "-f"});
    EXPECT_EQ(pruned.code, 0) << pruned.err;
    // The LAN's end of the pair goes with its namespace, and the parent with it.
    exec({"ip", "netns", "del", lan_ns_});
    exec({"ip", "link", "del", parent_});
    BerthTest::TearDown();
    auto links_after = host_links();
    for (int i = 0; i < 100 && links_after != links_before_; ++i) {
      usleep(20000);
      links_after = host_links();
    }
    for (const auto& l : links_after) EXPECT_TRUE(links_before_.count(l)) << "interface left: " << l;
  }

  // Runs argv inside the LAN machine's namespace.
  Output in_lan(const std::vector<std::string>& argv) {
    std::vector<std::string> full = {"ip", "netns", "exec", lan_ns_};
    full.insert(full.end(), argv.begin(), argv.end());
    return exec(full);
  }

  // A macvlan network on the parent: 10.252.X.0/24, addresses from .64/28, the LAN machine
  // as gateway.
  std::string create_network(const std::string& mode = "bridge") {
    std::string name = unique("mv");
    ok({"network", "create", "-d", "macvlan", "--subnet", prefix_ + "0/24", "--ip-range", prefix_ + "64/28",
        "--gateway", prefix_ + "1", "-o", "parent=" + parent_, "-o", "macvlan_mode=" + mode, name});
    return name;
  }
  std::string ip_on(const std::string& ctr, const std::string& net) {
    return ok({"inspect", "-f", "{{(index .NetworkSettings.Networks \"" + net + "\").IPAddress}}", ctr});
  }
  std::string mac_on(const std::string& ctr, const std::string& net) {
    return ok({"inspect", "-f", "{{(index .NetworkSettings.Networks \"" + net + "\").MacAddress}}", ctr});
  }

  std::set<std::string> links_before_;
  std::string parent_, lan_end_, lan_ns_, x_, prefix_;
};

TEST_F(Macvlan, TwoContainersReachEachOtherAndTheLanNotTheHost) {
  std::string net = create_network("bridge");
  std::string a = ok({"run", "-d", "--network", net, "busybox", "sleep", "60"});
  std::string b = ok({"run", "-d", "--network", net, "busybox", "sleep", "60"});
  // The ip-range's first addresses, in order.
  std::string ip_a = ip_on(a, net), ip_b = ip_on(b, net);
  EXPECT_EQ(ip_a, prefix_ + "64");
  EXPECT_EQ(ip_b, prefix_ + "65");
  // Their own MACs (02:42 and the address), the ones inspect shows, not the parent's.
  std::string mac_a = ok({"exec", a, "cat", "/sys/class/net/eth0/address"});
  std::string mac_b = ok({"exec", b, "cat", "/sys/class/net/eth0/address"});
  std::string parent_mac = trim(read_file("/sys/class/net/" + parent_ + "/address"));
  char want[32];
  std::snprintf(want, sizeof want, "02:42:0a:fc:%02x:40", static_cast<unsigned>(std::stoul(x_)));
  EXPECT_EQ(mac_a, want);
  EXPECT_EQ(mac_a, mac_on(a, net));
  EXPECT_EQ(mac_b, mac_on(b, net));
  EXPECT_NE(mac_a, parent_mac);
  EXPECT_NE(mac_b, parent_mac);
  EXPECT_NE(mac_a, mac_b);
  EXPECT_EQ(ok({"exec", a, "ls", "/sys/class/net"}), "eth0\nlo");
  EXPECT_EQ(ok({"exec", a, "ip", "route", "show", "default"}).find("default via " + prefix_ + "1 dev eth0"), 0u);
  // Each other, the machine on the LAN, and back from it.
  EXPECT_EQ(berth({"exec", a, "ping", "-c", "1", "-W", "2", ip_b}).code, 0);
  EXPECT_EQ(berth({"exec", a, "ping", "-c", "1", "-W", "2", prefix_ + "1"}).code, 0);
  EXPECT_EQ(in_lan({"/bin/busybox", "ping", "-c", "1", "-W", "2", ip_a}).code, 0);
  // Not the host: it has no address on that network, and macvlan keeps it apart anyway.
  EXPECT_NE(exec({"/bin/busybox", "ping", "-c", "1", "-W", "1", ip_a}).code, 0);
  // Nothing new on the host but the parent.
  for (const auto& l : host_links()) EXPECT_TRUE(links_before_.count(l) || l == parent_) << "new interface: " << l;
}

TEST_F(Macvlan, MissingOrAbsentParentIsRefused) {
  // No [networks.default]: the default is `none`, so only host and none are listed.
  size_t before = lines(ok({"network", "ls", "-q"})).size();
  EXPECT_EQ(before, 2u);
  auto refused = [&](const std::vector<std::string>& opts, const std::string& needle) {
    std::vector<std::string> args = {"network", "create", "-d", "macvlan", "--subnet", prefix_ + "0/24"};
    args.insert(args.end(), opts.begin(), opts.end());
    args.push_back(unique("mv"));
    Output o = berth(args);
    EXPECT_EQ(o.code, 1) << needle << "\nstdout: " << o.out << "\nstderr: " << o.err;
    EXPECT_NE(o.err.find(needle), std::string::npos) << o.err;
  };
  refused({}, "parent");
  refused({"-o", "parent=nosuchif0"}, "nosuchif0");
  refused({"-o", "parent=" + parent_, "-o", "macvlan_mode=weird"}, "weird");
  refused({"-o", "parent=" + parent_, "-o", "bogus=1"}, "bogus");
  EXPECT_EQ(lines(ok({"network", "ls", "-q"})).size(), before);
}

TEST_F(Macvlan, RemovalLeavesNothing) {
  std::string net = create_network("private");
  // A second network on the same parent, for connect and disconnect.
  std::string other = unique("mv");
  ok({"network", "create", "-d", "macvlan", "--subnet", "10.253." + x_ + ".0/24", "-o", "parent=" + parent_, other});
  std::string a = ok({"run", "-d", "--network", net, "busybox", "sleep", "60"});
  std::string b = ok({"run", "-d", "--network", net, "busybox", "sleep", "60"});
  ok({"network", "connect", other, a});
  EXPECT_EQ(ok({"exec", a, "ls", "/sys/class/net"}), "eth0\neth1\nlo");
  EXPECT_EQ(ok({"exec", a, "cat", "/sys/class/net/eth1/address"}), mac_on(a, other));
  ok({"network", "disconnect", other, a});
  EXPECT_EQ(ok({"exec", a, "ls", "/sys/class/net"}), "eth0\nlo");
  // No link ever shows on the host, not even under its temporary name.
  for (const auto& l : host_links()) EXPECT_FALSE(temporary_macvlan_name(l)) << "macvlan on the host: " << l;
  ok({"rm", "-f", a, b});
  for (const auto& l : host_links()) EXPECT_FALSE(temporary_macvlan_name(l)) << "macvlan on the host: " << l;
  EXPECT_EQ(ok({"network", "rm", net}), net);
  EXPECT_EQ(ok({"network", "rm", other}), other);
  EXPECT_EQ(lines(ok({"network", "ls", "-q"})).size(), 2u);
}

}  // namespace
}  // namespace berth::it
