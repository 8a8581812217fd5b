// Networks with real kernel objects: bridges, veth pairs, addresses, routes, nftables.
// Each test has its own default bridge (device bt<random>, a random 10.x/24 subnet) and
// its own nftables table, so tests never share a kernel object with each other or with a
// berth the host runs; TearDown removes them and checks that the host's interfaces and
// nftables tables are exactly as they were before the test.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

std::set<std::string> host_links() {
  std::set<std::string> out;
  for (const auto& l : lines(exec({"sh", "-c", "ls /sys/class/net"}).out)) out.insert(l);
  return out;
}

std::set<std::string> nft_tables() {
  std::set<std::string> out;
  for (const auto& l : lines(exec({"nft", "list", "tables"}).out)) out.insert(l);
  return out;
}

class Networks : public BerthTest {
 protected:
  void SetUp() override {
    links_before_ = host_links();
    tables_before_ = nft_tables();
    BerthTest::SetUp();
    std::string r = random_suffix();
    bridge_ = "bt" + r.substr(0, 8);
    table_ = "bit_" + r.substr(0, 8);
    // 10.(100-227).(0-255).0/24: a subnet no other test and no host route uses.
    int a = 100 + static_cast<int>(std::stoul(r.substr(0, 2), nullptr, 16) % 128);
    int b = static_cast<int>(std::stoul(r.substr(2, 2), nullptr, 16));
    prefix_ = "10." + std::to_string(a) + "." + std::to_string(b) + ".";
    write_config();
    import_busybox();
  }

  // The test's stack; `dns_upstream` (a resolver the test runs on 127.0.0.1) when set.
  void write_config(const std::string& dns_upstream = "") {
    std::string dns = dns_upstream.empty() ? "" : "[networks]\ndns_upstream = [\"" + dns_upstream + "\"]\n";
    configure(dns + "[networks.default]\nname = \"bridge\"\ndriver = \"bridge\"\nsubnet = \"" + prefix_ +
              "0/24\"\ngateway = \"" + prefix_ + "1\"\n[drivers.\"network.bridge\"]\nbridge_name = \"" + bridge_ +
              "\"\nnft_table = \"" + table_ + "\"\n");
  }

  void TearDown() override {
    std::vector<std::string> ids = all_container_ids();
    for (const auto& id : ids) berth({"rm", "-f", id});
    Output pruned = berth({"network", "prune", "-f"});
    EXPECT_EQ(pruned.code, 0) << pruned.err;
    // The default bridge and the table stay while the engine has networks (as docker0
    // does); a test engine goes away with its state root.
    exec({"ip", "link", "del", bridge_});
    exec({"nft", "delete", "table", "ip", table_});
    BerthTest::TearDown();
    auto links_after = host_links();
    for (const auto& l : links_after) EXPECT_TRUE(links_before_.count(l)) << "interface left: " << l;
    for (const auto& t : nft_tables()) EXPECT_TRUE(tables_before_.count(t)) << "nftables table left: " << t;
  }

  json inspect(const std::string& ref) {
    Output o = berth({"inspect", ref});
    EXPECT_EQ(o.code, 0) << o.err;
    json j = json::parse(o.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : json::object();
  }
  std::string ip_of(const std::string& ctr) { return ok({"inspect", "-f", "{{.NetworkSettings.IPAddress}}", ctr}); }
  std::string ip_on(const std::string& ctr, const std::string& net) {
    return ok({"inspect", "-f", "{{(index .NetworkSettings.Networks \"" + net + "\").IPAddress}}", ctr});
  }
  // Interfaces on the host whose master is `bridge`.
  std::vector<std::string> ports_of(const std::string& bridge) {
    return lines(exec({"sh", "-c", "ls /sys/class/net/" + bridge + "/brif 2>/dev/null"}).out);
  }

  // The number of ports of `bridge` once it has come down to `want` (or after 3 s): the
  // veth of a container that exited goes a moment after the command that stopped it.
  size_t ports_settle(const std::string& bridge, size_t want) {
    size_t n = ports_of(bridge).size();
    for (int i = 0; i < 150 && n != want; ++i) {
      usleep(20000);
      n = ports_of(bridge).size();
    }
    return n;
  }

  std::set<std::string> links_before_, tables_before_;
  std::string bridge_, table_, prefix_;
};

TEST_F(Networks, LsShowsThePredefinedNetworks) {
  auto rows = lines(ok({"network", "ls"}));
  ASSERT_EQ(rows.size(), 4u) << ok({"network", "ls"});
  EXPECT_EQ(split_fields(rows[0]), (std::vector<std::string>{"NETWORK", "ID", "NAME", "DRIVER", "SCOPE"}));
  std::map<std::string, std::string> driver_of;
  for (size_t i = 1; i < rows.size(); ++i) {
    auto f = split_fields(rows[i]);
    ASSERT_EQ(f.size(), 4u);
    EXPECT_EQ(f[0].size(), 12u);
    EXPECT_EQ(f[3], "local");
    driver_of[f[1]] = f[2];
  }
  EXPECT_EQ(driver_of, (std::map<std::string, std::string>{{"bridge", "bridge"}, {"host", "host"}, {"none", "null"}}));
  EXPECT_EQ(lines(ok({"network", "ls", "-q"})).size(), 3u);
  EXPECT_EQ(ok({"network", "ls", "--filter", "driver=null", "--format", "{{.Name}}"}), "none");
  // Predefined networks cannot go.
  Output rm = berth({"network", "rm", "bridge"});
  EXPECT_EQ(rm.code, 1);
  EXPECT_NE(rm.err.find("bridge is a pre-defined network and cannot be removed"), std::string::npos) << rm.err;
}

TEST_F(Networks, DefaultBridgeGivesVethAddressesInOrderAndNat) {
  std::string a = ok({"run", "-d", "--name", unique("a"), "busybox", "sleep", "60"});
  std::string b = ok({"run", "-d", "--name", unique("b"), "busybox", "sleep", "60"});
  EXPECT_EQ(ip_of(a), prefix_ + "2");
  EXPECT_EQ(ip_of(b), prefix_ + "3");
  json ja = inspect(a);
  // The MAC: 02:42 and the address's four bytes.
  char mac[32];
  unsigned x = 0, y = 0;
  sscanf(prefix_.c_str(), "10.%u.%u.", &x, &y);
  snprintf(mac, sizeof mac, "02:42:0a:%02x:%02x:02", x, y);
  EXPECT_EQ(ja["NetworkSettings"]["MacAddress"], mac);
  EXPECT_EQ(ja["NetworkSettings"]["Gateway"], prefix_ + "1");
  EXPECT_EQ(ja["NetworkSettings"]["Networks"]["bridge"]["IPAddress"], prefix_ + "2");
  EXPECT_EQ(ja["NetworkSettings"]["Networks"]["bridge"]["IPPrefixLen"], 24);
  // Inside: eth0 with that address and MAC, and the default route through the bridge.
  EXPECT_EQ(ok({"exec", a, "cat", "/sys/class/net/eth0/address"}), mac);
  EXPECT_NE(ok({"exec", a, "ip", "-4", "addr", "show", "eth0"}).find(prefix_ + "2/24"), std::string::npos);
  EXPECT_EQ(ok({"exec", a, "ip", "route", "show", "default"}).find("default via " + prefix_ + "1 dev eth0"), 0u);
  // One veth per container on the host, enslaved to the bridge.
  EXPECT_EQ(ports_of(bridge_).size(), 2u);
  // Containers reach each other, and the host reaches them, by address.
  EXPECT_EQ(berth({"exec", a, "ping", "-c", "1", "-W", "2", prefix_ + "3"}).code, 0);
  EXPECT_EQ(exec({"/bin/busybox", "ping", "-c", "1", "-W", "2", prefix_ + "2"}).code, 0);
  // On the default bridge names do not resolve: no hosts line, no embedded DNS server, and
  // resolv.conf is the host's. (Nothing here asks a real resolver: no query may leave.)
  std::string bname = inspect(b)["Name"].get<std::string>().substr(1);
  EXPECT_EQ(ok({"exec", a, "cat", "/etc/hosts"}).find(bname), std::string::npos);
  EXPECT_EQ(ok({"exec", a, "cat", "/etc/resolv.conf"}).find("127.0.0.11"), std::string::npos);
  Output by_name = berth({"exec", a, "nslookup", bname, "127.0.0.11"});
  EXPECT_NE(by_name.code, 0) << by_name.out;
  // The container's own line in its hosts file.
  EXPECT_NE(ok({"exec", a, "cat", "/etc/hosts"}).find(prefix_ + "2\t" + a.substr(0, 12)), std::string::npos);
  // Outbound NAT for the subnet, in the driver's own table.
  std::string rules = exec({"nft", "list", "table", "ip", table_}).out;
  EXPECT_NE(rules.find("ip saddr " + prefix_ + "0/24 oifname != \"" + bridge_ + "\" masquerade"), std::string::npos) << rules;
  EXPECT_EQ(read_file("/proc/sys/net/ipv4/ip_forward"), "1\n");
  // Removal takes the veth pairs and the leases with it.
  ok({"rm", "-f", a, b});
  EXPECT_EQ(ports_settle(bridge_, 0), 0u);
  json net = json::parse(ok({"network", "inspect", "bridge"}))[0];
  EXPECT_TRUE(net["Containers"].empty()) << net.dump();
}

TEST_F(Networks, UserDefinedNetworksCreateInspectAndRemove) {
  std::string name = unique("net");
  std::string routes = exec({"ip", "-4", "route"}).out;
  std::string id = ok({"network", "create", "--label", "team=blue", name});
  ASSERT_EQ(id.size(), 64u);
  json n = json::parse(ok({"network", "inspect", name}))[0];
  EXPECT_EQ(n["Name"], name);
  EXPECT_EQ(n["Id"], id);
  EXPECT_EQ(n["Driver"], "bridge");
  EXPECT_EQ(n["Scope"], "local");
  EXPECT_EQ(n["EnableIPv6"], false);
  EXPECT_EQ(n["Internal"], false);
  EXPECT_EQ(n["IPAM"]["Driver"], "default");
  EXPECT_EQ(n["Labels"]["team"], "blue");
  std::string subnet = n["IPAM"]["Config"][0]["Subnet"];
  // Chosen automatically, overlapping no route the host had (the default bridge's included).
  EXPECT_EQ(routes.find(subnet), std::string::npos) << subnet << " was already routed:\n" << routes;
  // Its own bridge device is there, and goes with the network.
  std::string dev = "br-" + id.substr(0, 12);
  std::string c = ok({"run", "-d", "--network", name, "busybox", "sleep", "60"});
  EXPECT_TRUE(exists("/sys/class/net/" + dev));
  json ci = inspect(c);
  EXPECT_EQ(ci["HostConfig"]["NetworkMode"], name);
  EXPECT_EQ(ci["NetworkSettings"]["Networks"][name]["NetworkID"], id);
  json after = json::parse(ok({"network", "inspect", id.substr(0, 10)}))[0];
  ASSERT_EQ(after["Containers"].size(), 1u);
  EXPECT_EQ(after["Containers"][c]["IPv4Address"], ip_on(c, name) + subnet.substr(subnet.find('/')));
  // In use: refused; afterwards removed, bridge and all.
  Output busy = berth({"network", "rm", name});
  EXPECT_EQ(busy.code, 1);
  EXPECT_NE(busy.err.find("has active endpoints"), std::string::npos) << busy.err;
  ok({"rm", "-f", c});
  EXPECT_EQ(ok({"network", "rm", name}), name);
  EXPECT_FALSE(exists("/sys/class/net/" + dev));
  Output gone = berth({"network", "inspect", name});
  EXPECT_EQ(gone.code, 1);
  EXPECT_NE(gone.err.find("network " + name + " not found"), std::string::npos) << gone.err;
}

TEST_F(Networks, BadNetworkSpecsAreRefusedAndMakeNothing) {
  std::string base = prefix_.substr(0, prefix_.size() - 1);  // 10.a.b
  auto refused = [&](std::vector<std::string> args, const std::string& needle) {
    std::vector<std::string> full = {"network", "create"};
    full.insert(full.end(), args.begin(), args.end());
    Output o = berth(full);
    EXPECT_EQ(o.code, 1) << o.out;
    EXPECT_NE(o.err.find(needle), std::string::npos) << o.err;
  };
  // Overlapping the default bridge's subnet.
  refused({"--subnet", prefix_ + "0/25", unique("n")}, "Pool overlaps with other one on this address space");
  refused({"--subnet", "10.250.0.0/24", "--ip-range", "10.251.0.0/25", unique("n")}, "not in subnet");
  refused({"--subnet", "10.250.0.0/24", "--gateway", "10.251.0.1", unique("n")}, "invalid gateway");
  refused({"--subnet", "10.250.0.5/24", unique("n")}, "invalid subnet");
  refused({"-o", "com.example.bogus=1", unique("n")}, "com.example.bogus");
  refused({"-d", "host", unique("n")}, "only one instance of \"host\" network is allowed");
  refused({"-d", "nosuchdriver", unique("n")}, "nosuchdriver");
  refused({"bad name"}, "invalid network name");
  EXPECT_EQ(lines(ok({"network", "ls", "-q"})).size(), 3u);
  std::string name = unique("n");
  ok({"network", "create", name});
  refused({name}, "network with name " + name + " already exists");
}

TEST_F(Networks, StaticAddressesAndRanges) {
  std::string name = unique("net");
  ok({"network", "create", "--subnet", "10.250.7.0/24", "--ip-range", "10.250.7.128/25", "--gateway", "10.250.7.254", name});
  std::string a = ok({"run", "-d", "--network", name, "busybox", "sleep", "60"});
  // Only the default bridge fills the top-level IPAddress, as Docker's.
  EXPECT_EQ(ip_of(a), "");
  EXPECT_EQ(ip_on(a, name), "10.250.7.128");
  std::string b = ok({"run", "-d", "--network", name, "--ip", "10.250.7.9", "busybox", "sleep", "60"});
  EXPECT_EQ(ip_on(b, name), "10.250.7.9");
  EXPECT_EQ(ok({"exec", b, "ip", "route", "show", "default"}).find("default via 10.250.7.254"), 0u);
  // Taken, outside the subnet, or on the default bridge: refused, leaving no container.
  Output taken = berth({"run", "--rm", "--network", name, "--ip", "10.250.7.9", "busybox", "true"});
  EXPECT_EQ(taken.code, 125);
  EXPECT_NE(taken.err.find("Address already in use"), std::string::npos) << taken.err;
  Output outside = berth({"run", "--rm", "--network", name, "--ip", "10.9.9.9", "busybox", "true"});
  EXPECT_EQ(outside.code, 125);
  EXPECT_NE(outside.err.find("does not belong to any of this network's subnets"), std::string::npos) << outside.err;
  Output on_default = berth({"run", "--rm", "--ip", prefix_ + "50", "busybox", "true"});
  EXPECT_EQ(on_default.code, 125);
  EXPECT_NE(on_default.err.find("user defined networks only"), std::string::npos) << on_default.err;
  EXPECT_EQ(all_container_ids().size(), 2u);
  EXPECT_EQ(ports_of("br-" + ok({"network", "inspect", "-f", "{{.Id}}", name}).substr(0, 12)).size(), 2u);
}

TEST_F(Networks, FailedRunsLeaveNoInterfaceOrLease) {
  Output missing = berth({"run", "--rm", "--network", "nosuchnet", "busybox", "true"});
  EXPECT_EQ(missing.code, 125);
  EXPECT_NE(missing.err.find("network nosuchnet not found"), std::string::npos) << missing.err;
  Output notfound = berth({"run", "--rm", "busybox", "/no/such/program"});
  EXPECT_EQ(notfound.code, 127);
  Output failed = berth({"run", "busybox", "/no/such/program"});
  EXPECT_EQ(failed.code, 127);
  EXPECT_EQ(ports_settle(bridge_, 0), 0u);
  json net = json::parse(ok({"network", "inspect", "bridge"}))[0];
  EXPECT_TRUE(net["Containers"].empty()) << net.dump();
  // A stopped container holds no address, and gets one again when started.
  std::string c = ok({"create", "busybox", "sleep", "60"});
  EXPECT_EQ(ip_of(c), "");
  ok({"start", c});
  EXPECT_NE(ip_of(c), "");
  ok({"stop", "-t", "0", c});
  EXPECT_EQ(ip_of(c), "");
  EXPECT_EQ(ports_settle(bridge_, 0), 0u);
}

TEST_F(Networks, ABridgeDeletedByHandIsMadeAgain) {
  ok({"run", "--rm", "busybox", "true"});
  ASSERT_TRUE(exists("/sys/class/net/" + bridge_));
  // As after a reboot: no bridge and no table.
  ASSERT_EQ(exec({"ip", "link", "del", bridge_}).code, 0);
  ASSERT_EQ(exec({"nft", "delete", "table", "ip", table_}).code, 0);
  EXPECT_EQ(ok({"run", "--rm", "busybox", "sh", "-c", "ping -c 1 -W 2 " + prefix_ + "1 >/dev/null && echo up"}), "up");
  EXPECT_TRUE(exists("/sys/class/net/" + bridge_));
  EXPECT_NE(exec({"nft", "list", "table", "ip", table_}).out.find("masquerade"), std::string::npos);
}

TEST_F(Networks, InternalNetworksHaveNoWayOut) {
  std::string name = unique("int");
  ok({"network", "create", "--internal", "--subnet", "10.250.9.0/24", name});
  std::string a = ok({"run", "-d", "--network", name, "busybox", "sleep", "60"});
  std::string b = ok({"run", "-d", "--network", name, "busybox", "sleep", "60"});
  EXPECT_EQ(ok({"exec", a, "sh", "-c", "ip route | grep default || echo none"}), "none");
  EXPECT_EQ(berth({"exec", a, "ping", "-c", "1", "-W", "2", "10.250.9.3"}).code, 0);
  std::string rules = exec({"nft", "list", "table", "ip", table_}).out;
  std::string dev = "br-" + ok({"network", "inspect", "-f", "{{.Id}}", name}).substr(0, 12);
  EXPECT_NE(rules.find("iifname \"" + dev + "\" oifname != \"" + dev + "\" drop"), std::string::npos) << rules;
  EXPECT_EQ(rules.find("ip saddr 10.250.9.0/24 oifname"), std::string::npos) << rules;
}

TEST_F(Networks, FiftyConcurrentRunsGetFiftyAddresses) {
  std::string name = unique("net");
  ok({"network", "create", "--subnet", "10.250.11.0/24", name});
  std::vector<std::string> cmd = {"sh", "-c",
                                  "for i in $(seq 50); do " + std::string(kBerth) + " --config " + config_ +
                                      " run -d --network " + name + " busybox sleep 60 & done; wait"};
  Output o = exec(cmd, "", 300);
  auto ids = lines(o.out);
  ASSERT_EQ(ids.size(), 50u) << o.err;
  std::set<std::string> ips;
  for (const auto& id : ids) {
    ips.insert(ip_on(id, name));
  }
  EXPECT_EQ(ips.size(), 50u);
  EXPECT_EQ(ips.count(""), 0u);
}


// A web server in a container: busybox httpd serving one page.
const char* kWebServer = "mkdir /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";

// A free TCP port on the host, as the kernel picks one.
int free_port() {
  Output o = exec({"sh", "-c", "for p in $(shuf -i 20000-40000 -n 50); do "
                               "ss -Htan \"( sport = :$p )\" | grep -q . || { echo $p; break; }; done"});
  return std::atoi(trim(o.out).c_str());
}

std::string host_address() {
  // The host's first global IPv4 address (not loopback): traffic to it stays on this host.
  Output o = exec({"sh", "-c", "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1"});
  return trim(o.out);
}

std::string fetch(const std::string& url) {
  // (busybox 1.35's wget crashes with -T: the time limit comes from timeout instead.)
  return trim(exec({"timeout", "5", "/bin/busybox", "wget", "-q", "-O", "-", url}).out);
}

TEST_F(Networks, PublishedPortsAnswerOnLoopbackTheHostAndFromContainers) {
  int port = free_port();
  ASSERT_GT(port, 0);
  std::string hp = std::to_string(port);
  std::string web = ok({"run", "-d", "-p", hp + ":80", "busybox", "sh", "-c", kWebServer});
  std::string page = "hello-" + web.substr(0, 12);
  std::string got;
  for (int i = 0; i < 50 && got != page; ++i) {
    got = fetch("http://127.0.0.1:" + hp + "/");
    if (got != page) usleep(50000);
  }
  EXPECT_EQ(got, page) << "through 127.0.0.1";
  std::string addr = host_address();
  if (!addr.empty()) {
    EXPECT_EQ(fetch("http://" + addr + ":" + hp + "/"), page) << "through " << addr;
  }
  // From another container, through the host's bridge address.
  EXPECT_EQ(ok({"run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O", "-", "http://" + prefix_ + "1:" + hp + "/"}), page);
  EXPECT_EQ(ok({"port", web}), "80/tcp -> 0.0.0.0:" + hp);
  EXPECT_EQ(ok({"port", web, "80"}), "0.0.0.0:" + hp);
  Output none = berth({"port", web, "81/udp"});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("No public port '81/udp' published"), std::string::npos) << none.err;
  EXPECT_NE(ok({"ps"}).find("0.0.0.0:" + hp + "->80/tcp"), std::string::npos) << ok({"ps"});
  json j = inspect(web);
  EXPECT_EQ(j["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], hp);
  EXPECT_EQ(j["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"], hp);
  // Kernel NAT, no proxy process: nothing on the host listens on the port.
  EXPECT_EQ(trim(exec({"sh", "-c", "ss -Htln '( sport = :" + hp + " )' | wc -l"}).out), "0");
  // A rule deleted by hand comes back when a container on the network ends (its monitor
  // renders the table again)...
  ASSERT_EQ(exec({"nft", "flush", "chain", "ip", table_, "publish"}).code, 0);
  ASSERT_EQ(fetch("http://127.0.0.1:" + hp + "/"), "");
  ok({"run", "--rm", "busybox", "true"});
  got.clear();
  for (int i = 0; i < 100 && got != page; ++i) {
    got = fetch("http://127.0.0.1:" + hp + "/");
    if (got != page) usleep(30000);
  }
  EXPECT_EQ(got, page) << "the rule was not repaired";
  // ...and with the next container that publishes.
  ASSERT_EQ(exec({"nft", "flush", "chain", "ip", table_, "publish"}).code, 0);
  int port2 = free_port();
  std::string other = ok({"run", "-d", "-p", std::to_string(port2) + ":80", "busybox", "sh", "-c", kWebServer});
  EXPECT_EQ(fetch("http://127.0.0.1:" + hp + "/"), page);
  // rm takes its rules away.
  ok({"rm", "-f", web, other});
  std::string rules = exec({"nft", "list", "chain", "ip", table_, "publish"}).out;
  EXPECT_EQ(rules.find("dport"), std::string::npos) << rules;
}

TEST_F(Networks, ChosenPortsUdpAndExposeAll) {
  ok({"import", "--change", "EXPOSE 443", "--change", "CMD [\"sh\"]", kBusyboxTar, "exposing:1"});
  std::string c = ok({"run", "-d", "-P", "-p", "53/udp", "-p", "127.0.0.1::8080", "--expose", "9000", "exposing:1", "sleep", "60"});
  auto lines_ = lines(ok({"port", c}));
  ASSERT_EQ(lines_.size(), 4u) << ok({"port", c});
  // Sorted by container port: 53/udp, 443/tcp, 8080/tcp (on 127.0.0.1), 9000/tcp.
  EXPECT_EQ(lines_[0].find("53/udp -> 0.0.0.0:"), 0u);
  EXPECT_EQ(lines_[1].find("443/tcp -> 0.0.0.0:"), 0u);
  EXPECT_EQ(lines_[2].find("8080/tcp -> 127.0.0.1:"), 0u);
  EXPECT_EQ(lines_[3].find("9000/tcp -> 0.0.0.0:"), 0u);
  std::string rules = exec({"nft", "list", "chain", "ip", table_, "publish"}).out;
  EXPECT_NE(rules.find("udp dport"), std::string::npos) << rules;
  EXPECT_NE(rules.find("ip daddr 127.0.0.1 tcp dport"), std::string::npos) << rules;
  // Bad specs: nothing made.
  for (std::string bad : {"99999:80", "80/icmp", "1.2.3:80:80", "80-82:90-91", "x"}) {
    Output o = berth({"run", "--rm", "-p", bad, "busybox", "true"});
    EXPECT_EQ(o.code, 125) << bad;
    EXPECT_NE(o.err.find("invalid"), std::string::npos) << bad << ": " << o.err;
  }
  EXPECT_EQ(all_container_ids().size(), 1u);
  // The host network: a warning, and nothing published.
  Output host = berth({"run", "--rm", "--network", "host", "-p", "80:80", "busybox", "true"});
  EXPECT_EQ(host.code, 0);
  EXPECT_NE(host.err.find("Published ports are discarded when using host network mode"), std::string::npos) << host.err;
}

TEST_F(Networks, APortAlreadyPublishedOrBoundIsRefusedAndNothingIsLeft) {
  std::string hp = std::to_string(free_port());
  std::string first = ok({"run", "-d", "-p", hp + ":80", "busybox", "sleep", "60"});
  Output again = berth({"run", "-d", "-p", hp + ":81", "busybox", "sleep", "60"});
  EXPECT_EQ(again.code, 125);
  EXPECT_NE(again.err.find("Bind for 0.0.0.0:" + hp + " failed: port is already allocated"), std::string::npos) << again.err;
  // A program on the host holding a port: refused too.
  std::string held = std::to_string(free_port());
  Output nc = exec({"sh", "-c", "/bin/busybox nc -l -p " + held + " >/dev/null 2>&1 & echo $!"});
  int nc_pid = std::atoi(trim(nc.out).c_str());
  ASSERT_GT(nc_pid, 0);
  for (int i = 0; i < 50; ++i) {
    if (trim(exec({"sh", "-c", "ss -Htln '( sport = :" + held + " )' | wc -l"}).out) != "0") break;
    usleep(20000);
  }
  Output bound = berth({"run", "--rm", "-p", held + ":80", "busybox", "true"});
  kill(nc_pid, SIGKILL);
  waitpid(nc_pid, nullptr, 0);
  EXPECT_EQ(bound.code, 125);
  EXPECT_NE(bound.err.find("address already in use"), std::string::npos) << bound.err;
  // Only the first container, its veth and its rule remain.
  EXPECT_EQ(all_container_ids(), std::vector<std::string>{first});
  EXPECT_EQ(ports_of(bridge_).size(), 1u);
  json net = json::parse(ok({"network", "inspect", "bridge"}))[0];
  EXPECT_EQ(net["Containers"].size(), 1u);
  std::string rules = exec({"nft", "list", "chain", "ip", table_, "publish"}).out;
  EXPECT_EQ(rules.find("dport " + held), std::string::npos) << rules;
  EXPECT_NE(rules.find("dport " + hp), std::string::npos) << rules;
}

TEST_F(Networks, ContainerModeSharesTheOtherContainersNamespace) {
  std::string name = unique("owner");
  std::string owner = ok({"run", "-d", "--name", name, "busybox", "sleep", "60"});
  size_t veths = ports_of(bridge_).size();
  std::string mine = ok({"run", "--rm", "--network", "container:" + name, "busybox", "sh", "-c",
                         "cat /sys/class/net/eth0/address; ip -4 -o addr show eth0 | awk '{print $4}'"});
  EXPECT_EQ(mine, ok({"exec", owner, "cat", "/sys/class/net/eth0/address"}) + "\n" + ip_of(owner) + "/24");
  EXPECT_EQ(ports_of(bridge_).size(), veths) << "no new veth";
  // By id too; and the namespace is really the same one.
  std::string sharer = ok({"run", "-d", "--network", "container:" + owner.substr(0, 12), "busybox", "sleep", "60"});
  json j = inspect(sharer);
  EXPECT_EQ(j["HostConfig"]["NetworkMode"], "container:" + owner.substr(0, 12));
  EXPECT_TRUE(j["NetworkSettings"]["Networks"].empty()) << j["NetworkSettings"].dump();
  std::string ns_owner = trim(exec({"readlink", "/proc/" + std::to_string(inspect(owner)["State"]["Pid"].get<int>()) + "/ns/net"}).out);
  std::string ns_sharer = trim(exec({"readlink", "/proc/" + std::to_string(j["State"]["Pid"].get<int>()) + "/ns/net"}).out);
  EXPECT_EQ(ns_owner, ns_sharer);
  ok({"rm", "-f", sharer});
  // Not running, missing, or with -p: refused, nothing made.
  ok({"stop", "-t", "0", owner});
  Output stopped = berth({"run", "--rm", "--network", "container:" + name, "busybox", "true"});
  EXPECT_EQ(stopped.code, 125);
  EXPECT_NE(stopped.err.find("cannot join network of a non running container"), std::string::npos) << stopped.err;
  Output missing = berth({"run", "--rm", "--network", "container:nosuch" + random_suffix(), "busybox", "true"});
  EXPECT_EQ(missing.code, 125);
  EXPECT_NE(missing.err.find("No such container"), std::string::npos) << missing.err;
  Output ports = berth({"run", "--rm", "--network", "container:" + name, "-p", "80", "busybox", "true"});
  EXPECT_EQ(ports.code, 125);
  EXPECT_NE(ports.err.find("conflicting options"), std::string::npos) << ports.err;
  EXPECT_EQ(all_container_ids().size(), 1u);
}

TEST_F(Networks, ConnectAndDisconnectRunningContainers) {
  std::string n1 = unique("net"), n2 = unique("net");
  ok({"network", "create", "--subnet", "10.250.21.0/24", n1});
  ok({"network", "create", "--subnet", "10.250.22.0/24", n2});
  std::string c = ok({"run", "-d", "--network", n1, "busybox", "sleep", "60"});
  std::string peer = ok({"run", "-d", "--network", n2, "busybox", "sleep", "60"});
  EXPECT_EQ(ok({"exec", c, "ls", "/sys/class/net"}), "eth0\nlo");
  ok({"network", "connect", "--ip", "10.250.22.77", n2, c});
  EXPECT_EQ(ok({"exec", c, "ls", "/sys/class/net"}), "eth0\neth1\nlo");
  EXPECT_NE(ok({"exec", c, "ip", "-4", "addr", "show", "eth1"}).find("10.250.22.77/24"), std::string::npos);
  EXPECT_EQ(ip_on(c, n2), "10.250.22.77");
  // The default route stays on the first network; the new one is reachable directly.
  EXPECT_EQ(ok({"exec", c, "ip", "route", "show", "default"}).find("default via 10.250.21.1 dev eth0"), 0u);
  EXPECT_EQ(berth({"exec", c, "ping", "-c", "1", "-W", "2", ip_on(peer, n2)}).code, 0);
  json net = json::parse(ok({"network", "inspect", n2}))[0];
  EXPECT_EQ(net["Containers"].size(), 2u);
  Output twice = berth({"network", "connect", n2, c});
  EXPECT_EQ(twice.code, 1);
  EXPECT_NE(twice.err.find("already exists in network"), std::string::npos) << twice.err;
  for (const char* special : {"host", "none"}) {
    Output o = berth({"network", "connect", special, c});
    EXPECT_EQ(o.code, 1) << special;
  }
  Output from_none = berth({"network", "connect", n2, ok({"run", "-d", "--network", "none", "busybox", "sleep", "60"})});
  EXPECT_EQ(from_none.code, 1);
  // Disconnect: eth1 goes, its lease and host veth with it.
  ok({"network", "disconnect", n2, c});
  EXPECT_EQ(ok({"exec", c, "ls", "/sys/class/net"}), "eth0\nlo");
  net = json::parse(ok({"network", "inspect", n2}))[0];
  EXPECT_EQ(net["Containers"].size(), 1u);
  EXPECT_EQ(ports_of("br-" + net["Id"].get<std::string>().substr(0, 12)).size(), 1u);
  Output again = berth({"network", "disconnect", n2, c});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("is not connected to network"), std::string::npos) << again.err;
  EXPECT_EQ(berth({"network", "disconnect", "-f", n2, c}).code, 0);
  // A stopped container keeps a connection made while stopped, and joins it at start.
  ok({"stop", "-t", "0", c});
  ok({"network", "connect", n2, c});
  ok({"start", c});
  EXPECT_EQ(ok({"exec", c, "ls", "/sys/class/net"}), "eth0\neth1\nlo");
  EXPECT_NE(ip_on(c, n2), "");
}

// A DNS server for the test on 127.0.0.1 (dnsmasq, answering one name itself and refusing
// the rest), so that forwarded queries never leave the machine.
class UpstreamDns {
 public:
  UpstreamDns() {
    port_ = 20000 + static_cast<int>(std::stoul(random_suffix().substr(0, 4), nullptr, 16) % 20000);
    pid_ = fork();
    if (pid_ == 0) {
      execlp("dnsmasq", "dnsmasq", "--keep-in-foreground", ("--port=" + std::to_string(port_)).c_str(),
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
             "--pid-file=", "--address=/outside.test/192.0.2.77", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (trim(exec({"sh", "-c", "ss -Hlun 'sport = :" + std::to_string(port_) + "' | wc -l"}).out) != "0") break;
      usleep(20000);
    }
  }
  ~UpstreamDns() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

// The addresses nslookup printed for `name` (A records only), in order.
std::vector<std::string> looked_up(const std::string& out) {
  std::vector<std::string> ips;
  bool answers = false;
  for (const auto& l : lines(out)) {
    if (l.rfind("Name:", 0) == 0) answers = true;
    if (answers && l.rfind("Address:", 0) == 0) ips.push_back(trim(l.substr(8)));
  }
  return ips;
}

TEST_F(Networks, EmbeddedDnsAnswersNamesAliasesAndForwardsTheRest) {
  UpstreamDns upstream;
  write_config(upstream.address());
  std::string net = unique("dns");
  ok({"network", "create", "--subnet", "10.250.31.0/24", net});
  std::string n1 = unique("web"), n2 = unique("web");
  std::string w1 = ok({"run", "-d", "--name", n1, "--network", net, "--network-alias", "search", "busybox", "sleep", "60"});
  std::string w2 = ok({"run", "-d", "--name", n2, "--network", net, "--net-alias", "search", "busybox", "sleep", "60"});
  std::string ip1 = ip_on(w1, net), ip2 = ip_on(w2, net);
  std::string client = ok({"run", "-d", "--network", net, "busybox", "sleep", "60"});
  auto ask = [&](const std::string& name) {
    return looked_up(berth({"exec", client, "nslookup", "-type=a", name}).out);
  };
  EXPECT_EQ(ok({"exec", client, "cat", "/etc/resolv.conf"}), "nameserver 127.0.0.11\noptions ndots:0");
  EXPECT_EQ(ask(n1), std::vector<std::string>{ip1});
  EXPECT_EQ(ask(w2.substr(0, 12)), std::vector<std::string>{ip2});
  // The alias answers with both, rotated on each query.
  auto first = ask("search"), second = ask("search");
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(std::set<std::string>(first.begin(), first.end()), (std::set<std::string>{ip1, ip2}));
  EXPECT_NE(first, second);
  // What the programs' resolver sees: ping finds the address by name.
  EXPECT_NE(ok({"exec", client, "ping", "-c", "1", "-W", "2", n1}).find(ip1), std::string::npos);
  // Other names go to the upstream (the test's resolver on 127.0.0.1).
  EXPECT_EQ(ask("outside.test"), std::vector<std::string>{"192.0.2.77"});
  // Live state: a stopped container is gone; a restarted one answers with its address now.
  ok({"stop", "-t", "0", w1});
  EXPECT_EQ(ask("search"), std::vector<std::string>{ip2});
  EXPECT_TRUE(ask(n1).empty());
  ok({"run", "-d", "--network", net, "busybox", "sleep", "60"});  // takes the next address
  ok({"start", w1});
  std::string ip1_now = ip_on(w1, net);
  EXPECT_NE(ip1_now, ip1);
  EXPECT_EQ(ask(n1), std::vector<std::string>{ip1_now});
  // Containers on other networks are not seen.
  std::string other_net = unique("dns");
  ok({"network", "create", "--subnet", "10.250.32.0/24", other_net});
  std::string stranger = ok({"run", "-d", "--network", other_net, "busybox", "sleep", "60"});
  EXPECT_TRUE(looked_up(berth({"exec", stranger, "nslookup", "-type=a", n2}).out).empty());
}

TEST_F(Networks, LinksAndExtraHostsInTheHostsFile) {
  std::string db = unique("db");
  std::string target = ok({"run", "-d", "--name", db, "busybox", "sleep", "60"});
  std::string web = ok({"run", "-d", "--link", db + ":database", "--add-host", "printer.lan:10.9.8.7",
                        "--add-host", "v6.lan:fd00::7", "busybox", "sleep", "60"});
  std::string hosts_path = ok({"inspect", "-f", "{{.HostsPath}}", web});
  std::string hosts = read_file(hosts_path);
  EXPECT_EQ(ok({"exec", web, "cat", "/etc/hosts"}) + "\n", hosts);
  for (const std::string& line : {std::string("127.0.0.1\tlocalhost"), std::string("::1\tlocalhost ip6-localhost ip6-loopback"),
                                  ip_of(web) + "\t" + web.substr(0, 12), std::string("10.9.8.7\tprinter.lan"),
                                  std::string("fd00::7\tv6.lan"),
                                  ip_of(target) + "\tdatabase " + db + " " + target.substr(0, 12)}) {
    EXPECT_NE(hosts.find(line + "\n"), std::string::npos) << line << " in\n" << hosts;
  }
  // The link resolves by alias and by name.
  EXPECT_EQ(berth({"exec", web, "ping", "-c", "1", "-W", "2", "database"}).code, 0);
  json j = inspect(web);
  EXPECT_EQ(j["HostConfig"]["Links"][0], "/" + db + ":/" + j["Name"].get<std::string>().substr(1) + "/database");
  // The linked container restarts with a new address: the line follows it.
  ok({"stop", "-t", "0", db});
  ok({"run", "-d", "busybox", "sleep", "60"});  // takes the address db had
  ok({"start", db});
  std::string now = ip_of(target);
  EXPECT_NE(read_file(hosts_path).find(now + "\tdatabase " + db), std::string::npos) << read_file(hosts_path);
  EXPECT_NE(ok({"exec", web, "cat", "/etc/hosts"}).find(now + "\tdatabase"), std::string::npos);
  // Missing or stopped targets, and bad --add-host values, are refused; nothing is made.
  size_t before = all_container_ids().size();
  Output missing = berth({"run", "--rm", "--link", "nosuch" + random_suffix(), "busybox", "true"});
  EXPECT_EQ(missing.code, 125);
  EXPECT_NE(missing.err.find("No such container"), std::string::npos) << missing.err;
  ok({"stop", "-t", "0", db});
  Output stopped = berth({"run", "--rm", "--link", db, "busybox", "true"});
  EXPECT_EQ(stopped.code, 125);
  EXPECT_NE(stopped.err.find("Cannot link to a non running container"), std::string::npos) << stopped.err;
  Output bad = berth({"run", "--rm", "--add-host", "nocolon", "busybox", "true"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_NE(bad.err.find("--add-host"), std::string::npos) << bad.err;
  EXPECT_EQ(all_container_ids().size(), before);
}
}  // namespace
}  // namespace berth::it
