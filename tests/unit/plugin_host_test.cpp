// The plugin host's handshake, against real shared objects built for these tests.

#include <gtest/gtest.h>

#include "berth/sdk/plugin.hpp"
#include "plugin_host/plugin_host.hpp"
#include "util/util.hpp"

namespace berth {
namespace {

class NullLogger : public sdk::Logger {
 public:
  void log(sdk::LogLevel, std::string_view) override {}
  bool enabled(sdk::LogLevel) const override { return false; }
};

std::string test_plugin(const std::string& name) { return std::string(TEST_PLUGIN_DIR) + "/" + name + ".so"; }
std::string shipped_plugin(const std::string& name) { return std::string(SHIPPED_PLUGIN_DIR) + "/" + name + ".so"; }

class PluginHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_.state_root = "/tmp/berth-unit-" + util::random_hex(6) + "/state";
    cfg_.run_root = cfg_.state_root + "/../run";
    cfg_.plugin_dirs.clear();
    host_ = std::make_unique<plugin_host::PluginHost>(cfg_, &log_);
    ASSERT_TRUE(host_->load_file(shipped_plugin("berth-network-basic")));
  }
  void TearDown() override {
    std::string root = cfg_.state_root.substr(0, cfg_.state_root.rfind('/'));
    std::system(("rm -rf " + root).c_str());
  }
  // Whatever a refused plugin held, the host looks as before: the same plugins, drivers.
  void expect_unchanged() {
    ASSERT_EQ(host_->plugins().size(), 1u);
    EXPECT_EQ(host_->plugins()[0].name, "network-basic");
    EXPECT_EQ(host_->network_driver_names(), (std::vector<std::string>{"host", "null"}));
  }
  config::HostConfig cfg_;
  NullLogger log_;
  std::unique_ptr<plugin_host::PluginHost> host_;
};

TEST_F(PluginHostTest, LoadsAPluginAndItsDrivers) {
  ASSERT_TRUE(host_->load_file(test_plugin("extra-network")));
  ASSERT_EQ(host_->plugins().size(), 2u);
  EXPECT_EQ(host_->plugins()[1].version, "2.5.0");
  auto quiet = host_->network("quiet");
  ASSERT_TRUE(quiet) << quiet.error().what();
  EXPECT_EQ((*quiet)->name(), "quiet");
  // The same file twice (a directory and [[plugins]] may both name it) loads once.
  EXPECT_TRUE(host_->load_file(test_plugin("extra-network")));
  EXPECT_EQ(host_->plugins().size(), 2u);
}

TEST_F(PluginHostTest, MissingFile) {
  Status s = host_->load_file("/nonexistent/x.so");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().what(), "plugin '/nonexistent/x.so': file does not exist");
  expect_unchanged();
}

TEST_F(PluginHostTest, NotABerthPlugin) {
  Status s = host_->load_file(test_plugin("not-berth"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().what().find(test_plugin("not-berth")), std::string::npos);
  EXPECT_NE(s.error().what().find("not a berth plugin (no 'berth_plugin_v1' entry point)"), std::string::npos)
      << s.error().what();
  expect_unchanged();
}

TEST_F(PluginHostTest, WrongAbi) {
  Status s = host_->load_file(test_plugin("wrong-abi"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().what().find("built for SDK ABI version 999, this berth has ABI version " + std::to_string(BERTH_SDK_ABI)), std::string::npos)
      << s.error().what();
  expect_unchanged();
  EXPECT_FALSE(host_->network("wrong-abi-driver"));
}

TEST_F(PluginHostTest, DuplicateDriverNameRegistersNothingOfThePlugin) {
  Status s = host_->load_file(test_plugin("dup-driver"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().what().find("driver name 'null' (berth.network.v1) is already taken"), std::string::npos)
      << s.error().what();
  expect_unchanged();
  auto fresh = host_->network("dup-fresh");
  ASSERT_FALSE(fresh);
  EXPECT_EQ(fresh.error().code, Code::NotFound);
}

TEST_F(PluginHostTest, ThrowingFactoryRegistersNothingOfThePlugin) {
  Status s = host_->load_file(test_plugin("throwing-factory"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().what().find("driver 'halfway-throws': driver constructor failed: boom from the test plugin"),
            std::string::npos)
      << s.error().what();
  expect_unchanged();
  EXPECT_FALSE(host_->network("halfway-fine"));
  // The host still works, and a good plugin still loads after a refusal.
  EXPECT_TRUE(host_->load_file(test_plugin("extra-network")));
  EXPECT_TRUE(host_->network("quiet"));
}

TEST_F(PluginHostTest, UnknownDriverNamesWhatIsLoaded) {
  auto r = host_->network("bridgeless");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(), "network driver 'bridgeless' is not loaded (loaded: host, null)");
}

}  // namespace
}  // namespace berth
