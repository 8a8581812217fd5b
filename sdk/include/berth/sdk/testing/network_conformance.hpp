#pragma once

// The conformance suite every network driver runs (GoogleTest, as root). It loads the
// driver from its plugin file exactly as the engine does (the berth_plugin_v1 entry and the
// descriptor's factory), and plays the core: it validates, creates a network, leases an
// address itself, joins an endpoint into a network namespace it made (a child process in
// a new namespace), leaves, and deletes everything, checking after each case that the
// host has exactly the interfaces it had before and the namespace only `lo`.
//
// In a driver's test file:
//
//   #include "berth/sdk/testing/network_conformance.hpp"
//   INSTANTIATE_TEST_SUITE_P(Acme, NetworkConformance, ::testing::Values(
//       berth::sdk::testing::DriverUnderTest{"acme", "/path/berth-network-acme.so",
//           {/* TOML options */}, {/* network -o options */}, "10.77.0.0/24", "10.77.0.1"}),
//       berth::sdk::testing::driver_name);
//
// and link GTest::gtest_main and berth::sdk. Drivers without addresses (subnet "") are
// checked for what they promise: no kernel objects, nothing in the namespace.

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "berth/sdk/netlink.hpp"
#include "berth/sdk/plugin.hpp"

namespace berth::sdk::testing {

struct DriverUnderTest {
  std::string name;         // as registered: "bridge"
  std::string plugin_path;  // the .so that provides it
  Options driver_options;   // its TOML table
  Options network_options;  // `network create -o`
  std::string subnet;       // "" for drivers without addresses
  std::string gateway;
};

inline std::string driver_name(const ::testing::TestParamInfo<DriverUnderTest>& info) { return info.param.name; }

class QuietLogger : public Logger {
 public:
  void log(LogLevel, std::string_view) override {}
  bool enabled(LogLevel) const override { return false; }
};

// A process in a network namespace of its own, until destroyed.
class TestNamespace {
 public:
  TestNamespace() {
    int ready[2];
    if (::pipe(ready) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      char ok = ::unshare(CLONE_NEWNET) == 0 ? 1 : 0;
      (void)!::write(ready[1], &ok, 1);
      ::pause();
      ::_exit(0);
    }
    ::close(ready[1]);
    char ok = 0;
    (void)!::read(ready[0], &ok, 1);
    ::close(ready[0]);
    if (ok) fd_ = ::open(("/proc/" + std::to_string(pid_) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
  }
  ~TestNamespace() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int fd() const { return fd_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

inline std::set<std::string> link_names(int netns_fd = -1) {
  std::set<std::string> out;
  auto nl = Netlink::open(netns_fd);
  if (!nl) return out;
  auto links = nl->links();
  if (!links) return out;
  for (const auto& l : *links) out.insert(l.name);
  return out;
}

inline std::string random_hex(size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kHex[static_cast<unsigned>(std::rand()) % 16];
  return s;
}

class NetworkConformance : public ::testing::TestWithParam<DriverUnderTest> {
 protected:
  void SetUp() override {
    std::srand(static_cast<unsigned>(::getpid() ^ ::time(nullptr)));
    const auto& p = GetParam();
    links_before_ = link_names();
    char tmpl[] = "/tmp/berth-conformance-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    lib_ = ::dlopen(p.plugin_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib_, nullptr) << ::dlerror();
    auto* alias = static_cast<const void* const*>(::dlsym(lib_, "berth_plugin_v1"));
    ASSERT_NE(alias, nullptr) << p.plugin_path << " is not a berth plugin";
    auto entry = reinterpret_cast<PluginEntry*>(reinterpret_cast<intptr_t>(*alias));
    const PluginDescriptor* d = entry();
    ASSERT_EQ(d->abi_version, BERTH_SDK_ABI);
    for (size_t i = 0; i < d->driver_count; ++i) {
      if (std::string(d->drivers[i].kind) == kNetworkKind && d->drivers[i].name == p.name) {
        DriverContext ctx;
        ctx.driver_name = p.name;
        ctx.state_dir = dir_ + "/state";
        ctx.run_dir = dir_ + "/run";
        ::mkdir(ctx.state_dir.c_str(), 0700);
        ::mkdir(ctx.run_dir.c_str(), 0700);
        ctx.options = p.driver_options;
        ctx.logger = &logger_;
        auto made = d->drivers[i].network(ctx);
        ASSERT_TRUE(made) << made.error().what();
        driver_ = std::move(*made);
      }
    }
    ASSERT_TRUE(driver_) << p.plugin_path << " has no network driver '" << p.name << "'";
    ASSERT_TRUE(driver_->init()) << "init";
    spec_.id = random_hex(64);
    spec_.name = "conformance-" + spec_.id.substr(0, 8);
    spec_.options = p.network_options;
    if (!p.subnet.empty()) spec_.ipv4.push_back({p.subnet, "", p.gateway});
  }

  void TearDown() override {
    driver_.reset();
    // (The library stays loaded: nothing it made may outlive it, and dlclose is not tested here.)
    std::string cmd = "rm -rf --one-file-system '" + dir_ + "'";
    if (!dir_.empty()) (void)!std::system(cmd.c_str());
    auto after = link_names();
    for (const auto& l : after) EXPECT_TRUE(links_before_.count(l)) << "interface left on the host: " << l;
  }

  // An endpoint with the subnet's .10 (the core's job, done here by hand).
  EndpointSpec endpoint(const std::string& ifname = "eth0") {
    EndpointSpec ep;
    ep.network_id = spec_.id;
    ep.endpoint_id = random_hex(64);
    ep.container_id = random_hex(64);
    ep.interface_name = ifname;
    if (!GetParam().subnet.empty()) {
      std::string base = GetParam().subnet.substr(0, GetParam().subnet.rfind('.'));
      ep.ipv4.push_back(base + ".10/" + GetParam().subnet.substr(GetParam().subnet.find('/') + 1));
      ep.mac = "02:42:0a:4d:00:0a";
    }
    return ep;
  }
  bool takes_addresses() const { return !GetParam().subnet.empty(); }
  // Built-in networks (single-instance drivers: host, null) refuse removal; others succeed.
  void expect_network_deleted(const NetworkCapabilities& caps) {
    auto del = driver_->delete_network(spec_);
    if (caps.single_instance) {
      ASSERT_FALSE(del);
      EXPECT_EQ(del.error().code, Code::Forbidden);
    } else {
      EXPECT_TRUE(del) << del.error().what();
    }
  }

  QuietLogger logger_;
  void* lib_ = nullptr;
  std::unique_ptr<NetworkDriver> driver_;
  NetworkSpec spec_;
  std::string dir_;
  std::set<std::string> links_before_;
};

TEST_P(NetworkConformance, ValidationRefusesUnknownOptionsAndChangesNothing) {
  NetworkSpec bad = spec_;
  bad.options["conformance.no-such-option"] = "1";
  auto s = driver_->validate_network(bad);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Code::InvalidArgument);
  EXPECT_NE(s.error().what().find("conformance.no-such-option"), std::string::npos) << s.error().what();
  EXPECT_TRUE(driver_->validate_network(spec_)) << "the suite's own spec must be valid";
  EXPECT_EQ(link_names(), links_before_);
}

TEST_P(NetworkConformance, AnEndpointJoinsLeavesAndLeavesNothing) {
  auto caps = driver_->capabilities();
  ASSERT_TRUE(driver_->validate_network(spec_));
  auto created = driver_->create_network(spec_);
  if (!created && created.error().code == Code::Forbidden) {
    GTEST_SKIP() << "built-in network only (" << created.error().what() << ")";
  }
  ASSERT_TRUE(created) << created.error().what();
  ASSERT_TRUE(driver_->restore(spec_)) << "restore of a complete network";
  TestNamespace ns;
  ASSERT_GE(ns.fd(), 0);
  EndpointSpec ep = endpoint();
  auto info = driver_->create_endpoint(spec_, ep);
  ASSERT_TRUE(info) << info.error().what();
  Sandbox sb;
  sb.container_id = ep.container_id;
  sb.host_netns_fd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  sb.sandbox_netns_fd = ns.fd();
  sb.pid = ns.pid();
  auto joined = driver_->join(spec_, ep, sb);
  ASSERT_TRUE(joined) << joined.error().what();
  auto inside = link_names(ns.fd());
  if (takes_addresses() && caps.needs_ipam) {
    EXPECT_TRUE(inside.count(ep.interface_name)) << "no " << ep.interface_name << " in the namespace";
    auto nl = Netlink::open(ns.fd());
    ASSERT_TRUE(nl);
    auto addrs = nl->addresses(ep.interface_name);
    ASSERT_TRUE(addrs);
    EXPECT_EQ(*addrs, ep.ipv4);
    auto l = nl->link(ep.interface_name);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->mac, info->mac.empty() ? ep.mac : info->mac);
    EXPECT_TRUE(l->up);
    if (!spec_.internal && !GetParam().gateway.empty()) EXPECT_EQ(joined->gateway, GetParam().gateway);
  } else {
    EXPECT_EQ(inside, std::set<std::string>{"lo"}) << "a driver without addresses put something in the namespace";
  }
  EXPECT_TRUE(driver_->leave(spec_, ep, sb));
  EXPECT_EQ(link_names(ns.fd()), std::set<std::string>{"lo"}) << "leave() left an interface in the namespace";
  EXPECT_TRUE(driver_->delete_endpoint(spec_, ep));
  EXPECT_TRUE(driver_->delete_endpoint(spec_, ep)) << "delete_endpoint must be idempotent";
  ::close(sb.host_netns_fd);
  expect_network_deleted(caps);
}

TEST_P(NetworkConformance, TeardownSucceedsAfterTheContainerIsGone) {
  ASSERT_TRUE(driver_->validate_network(spec_));
  auto created = driver_->create_network(spec_);
  if (!created && created.error().code == Code::Forbidden) GTEST_SKIP() << "built-in network only";
  ASSERT_TRUE(created) << created.error().what();
  EndpointSpec ep = endpoint();
  ASSERT_TRUE(driver_->create_endpoint(spec_, ep));
  Sandbox sb;
  sb.container_id = ep.container_id;
  {
    TestNamespace ns;
    sb.sandbox_netns_fd = ns.fd();
    sb.pid = ns.pid();
    ASSERT_TRUE(driver_->join(spec_, ep, sb));
  }
  // The namespace died with its process (as at a container's exit): teardown is best
  // effort and must not fail for what the kernel already removed.
  sb.sandbox_netns_fd = -1;
  sb.pid = 0;
  EXPECT_TRUE(driver_->leave(spec_, ep, sb));
  EXPECT_TRUE(driver_->delete_endpoint(spec_, ep));
  expect_network_deleted(driver_->capabilities());
}

}  // namespace berth::sdk::testing
