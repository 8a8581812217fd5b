// The plugin host's handshake, against real shared objects built for these tests.

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "berth/sdk/plugin.hpp"
#include "berth/sdk/fs.hpp"
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

TEST_F(PluginHostTest, WrongBuildFingerprint) {
  Status s = host_->load_file(test_plugin("wrong-fingerprint"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().what().find(test_plugin("wrong-fingerprint")), std::string::npos) << s.error().what();
  EXPECT_NE(s.error().what().find(std::string("built with 'clang-3.4/libc++-1', this berth with '") +
                                  BERTH_SDK_BUILD_FINGERPRINT + "' (rebuild the plugin)"),
            std::string::npos)
      << s.error().what();
  expect_unchanged();
  EXPECT_FALSE(host_->network("wrong-fingerprint-driver"));
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

// The listing cache (plugin_host.hpp). A plugin's file is copied into a directory of the
// test's own so that replacing it touches nothing shared.
class PluginCacheTest : public PluginHostTest {
 protected:
  void SetUp() override {
    PluginHostTest::SetUp();
    dir_ = cfg_.run_root + "/../plugins";
    std::filesystem::create_directories(dir_);
    copy_ = dir_ + "/extra.so";
    std::filesystem::copy_file(test_plugin("extra-network"), copy_);
    cfg_.plugin_dirs = {dir_};
  }
  // Whether the library is mapped in this process now.
  bool mapped(const std::string& path) {
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (h != nullptr) ::dlclose(h);
    return h != nullptr;
  }
  // A command's host: loads what the configuration names, as Engine::open does.
  std::unique_ptr<plugin_host::PluginHost> command_host(Status* loaded) {
    auto h = std::make_unique<plugin_host::PluginHost>(cfg_, &log_);
    *loaded = h->load_configured();
    return h;
  }
  // A first command (which caches the plugin), then a second one's host with the plugin
  // listed, not opened.
  std::unique_ptr<plugin_host::PluginHost> listed_host() {
    Status first;
    (void)command_host(&first);
    EXPECT_TRUE(first) << first.error().what();
    Status second;
    auto h = command_host(&second);
    EXPECT_TRUE(second) << second.error().what();
    EXPECT_FALSE(h->plugins().empty() || h->plugins()[0].opened);
    return h;
  }
  // Replaced as an upgrade replaces a file: a new inode renamed over the old name.
  void replace_with(const std::string& source) {
    std::filesystem::copy_file(source, copy_ + ".new");
    std::filesystem::rename(copy_ + ".new", copy_);
  }
  std::string dir_, copy_;
};

TEST_F(PluginCacheTest, AKnownPluginIsListedAndOpenedOnFirstUse) {
  Status first;
  auto a = command_host(&first);
  ASSERT_TRUE(first) << first.error().what();
  ASSERT_TRUE(a->plugins()[0].opened);  // new to the cache: loaded in full
  EXPECT_TRUE(mapped(copy_));
  a.reset();
  ASSERT_FALSE(mapped(copy_));
  ASSERT_TRUE(std::filesystem::exists(cfg_.run_root + "/plugins.json"));

  Status second;
  auto b = command_host(&second);
  ASSERT_TRUE(second) << second.error().what();
  ASSERT_EQ(b->plugins().size(), 1u);
  EXPECT_EQ(b->plugins()[0].name, "extra-network");
  EXPECT_EQ(b->plugins()[0].version, "2.5.0");
  EXPECT_FALSE(b->plugins()[0].opened);
  EXPECT_EQ(b->network_driver_names(), (std::vector<std::string>{"quiet"}));
  EXPECT_FALSE(mapped(copy_)) << "a listed plugin's library was opened at load";
  auto quiet = b->network("quiet");
  ASSERT_TRUE(quiet) << quiet.error().what();
  EXPECT_EQ((*quiet)->name(), "quiet");
  EXPECT_TRUE(b->plugins()[0].opened);
  EXPECT_TRUE(mapped(copy_));
}

TEST_F(PluginCacheTest, AReplacedFileIsCheckedAgainAtLoad) {
  Status first;
  (void)command_host(&first);
  ASSERT_TRUE(first) << first.error().what();
  replace_with(test_plugin("not-berth"));
  Status second;
  auto b = command_host(&second);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().what().find("plugin '" + copy_ + "': not a berth plugin"), std::string::npos)
      << second.error().what();
  EXPECT_TRUE(b->network_driver_names().empty());
}

TEST_F(PluginCacheTest, ADriverNameTakenSinceIsRefusedAtLoad) {
  Status first;
  (void)command_host(&first);
  ASSERT_TRUE(first) << first.error().what();
  // Another plugin, sorted before it, now provides "quiet" too.
  std::filesystem::copy_file(test_plugin("extra-network"), dir_ + "/another.so");
  Status second;
  (void)command_host(&second);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().what().find("plugin '" + copy_ + "': driver name 'quiet' (berth.network.v1) is already taken"),
            std::string::npos)
      << second.error().what();
}

TEST_F(PluginCacheTest, AListedPluginThatNoLongerOpensSaysWhyAndLeavesTheCache) {
  auto b = listed_host();
  ASSERT_FALSE(HasFailure());
  // Replaced between this command's load and its first use of the driver.
  replace_with(test_plugin("wrong-abi"));
  auto quiet = b->network("quiet");
  ASSERT_FALSE(quiet);
  EXPECT_NE(quiet.error().what().find("plugin '" + copy_ + "': built for SDK ABI version 999"), std::string::npos)
      << quiet.error().what();
  EXPECT_TRUE(b->network_driver_names().empty());
  auto text = sdk::fs::read_file(cfg_.run_root + "/plugins.json");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->find(copy_), std::string::npos) << *text;
}

TEST_F(PluginCacheTest, AListedFileThatNowProvidesOtherDriversRegistersNoneOfThem) {
  auto b = listed_host();
  ASSERT_FALSE(HasFailure());
  // A valid plugin, but with other drivers, renamed over the listed file before its use.
  replace_with(test_plugin("test-volume"));
  auto quiet = b->network("quiet");
  ASSERT_FALSE(quiet);
  EXPECT_NE(quiet.error().what().find("its drivers changed while berth was running"), std::string::npos)
      << quiet.error().what();
  EXPECT_TRUE(b->network_driver_names().empty());
  EXPECT_TRUE(b->volume_driver_names().empty()) << "a refused plugin's driver was registered";
}

TEST_F(PluginCacheTest, AMalformedOrForeignCacheIsIgnored) {
  for (const std::string& text : {std::string("{\"format\": \"one\"}"), std::string("[1, 2]"),
                                  std::string("{\"format\": 1, \"build\": 7, \"plugins\": {}}")}) {
    ASSERT_TRUE(sdk::fs::write_file_atomic(cfg_.run_root + "/plugins.json", text, 0600));
    Status loaded;
    auto h = command_host(&loaded);
    ASSERT_TRUE(loaded) << text << ": " << loaded.error().what();
    EXPECT_TRUE(h->plugins()[0].opened) << text;  // loaded in full
  }
}

TEST_F(PluginHostTest, UnknownDriverNamesWhatIsLoaded) {
  auto r = host_->network("bridgeless");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what(), "network driver 'bridgeless' is not loaded (loaded: host, null)");
}

}  // namespace
}  // namespace berth
