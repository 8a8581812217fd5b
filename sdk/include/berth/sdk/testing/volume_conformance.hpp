#pragma once

// The conformance suite every volume driver runs (GoogleTest, as root). It loads the driver
// from its plugin file as the engine does and checks the contract of volume_driver.hpp:
// validation names unknown options, create/get/list/path agree, mounts are counted per
// caller (a second mount by one caller is a no-op, data stays reachable until the last
// unmount), removal is refused while mounted and leaves nothing, unknown names are NotFound.
//
//   #include "berth/sdk/testing/volume_conformance.hpp"
//   INSTANTIATE_TEST_SUITE_P(Acme, VolumeConformance, ::testing::Values(
//       berth::sdk::testing::VolumeDriverUnderTest{"acme", "/path/berth-volume-acme.so", {}}),
//       berth::sdk::testing::volume_driver_name);

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "berth/sdk/plugin.hpp"

namespace berth::sdk::testing {

struct VolumeDriverUnderTest {
  std::string name;         // as registered: "local"
  std::string plugin_path;  // the .so that provides it
  Options driver_options;   // its TOML table ("root" may be set by the suite, see below)
};

inline std::string volume_driver_name(const ::testing::TestParamInfo<VolumeDriverUnderTest>& info) {
  return info.param.name;
}

class VolumeConformance : public ::testing::TestWithParam<VolumeDriverUnderTest> {
 protected:
  class Quiet : public Logger {
   public:
    void log(LogLevel, std::string_view) override {}
    bool enabled(LogLevel) const override { return false; }
  };

  void SetUp() override {
    const auto& p = GetParam();
    char tmpl[] = "/tmp/berth-volconf-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // The layout the engine gives drivers: <state_root>/plugins/volume.<name>.
    std::string state = dir_ + "/plugins/volume." + p.name;
    std::string cmd = "mkdir -p '" + state + "' '" + dir_ + "/run'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    lib_ = ::dlopen(p.plugin_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib_, nullptr) << ::dlerror();
    auto* alias = static_cast<const void* const*>(::dlsym(lib_, "berth_plugin_v1"));
    ASSERT_NE(alias, nullptr);
    auto entry = reinterpret_cast<PluginEntry*>(reinterpret_cast<intptr_t>(*alias));
    const PluginDescriptor* d = entry();
    ASSERT_EQ(d->abi_version, BERTH_SDK_ABI);
    for (size_t i = 0; i < d->driver_count; ++i) {
      if (std::string(d->drivers[i].kind) != kVolumeKind || d->drivers[i].name != p.name) continue;
      DriverContext ctx;
      ctx.driver_name = p.name;
      ctx.state_dir = state;
      ctx.run_dir = dir_ + "/run";
      ctx.options = p.driver_options;
      ctx.logger = &logger_;
      auto made = d->drivers[i].volume(ctx);
      ASSERT_TRUE(made) << made.error().what();
      driver_ = std::move(*made);
    }
    ASSERT_TRUE(driver_) << "no volume driver '" << p.name << "' in " << p.plugin_path;
    ASSERT_TRUE(driver_->init());
  }

  void TearDown() override {
    driver_.reset();
    std::string cmd = "rm -rf --one-file-system '" + dir_ + "'";
    if (!dir_.empty()) (void)!std::system(cmd.c_str());
  }

  Quiet logger_;
  void* lib_ = nullptr;
  std::unique_ptr<VolumeDriver> driver_;
  std::string dir_;
};

TEST_P(VolumeConformance, ValidationNamesUnknownOptionsAndMakesNothing) {
  Options bad = {{"conformance-no-such-option", "1"}};
  auto s = driver_->validate("conf-vol", bad);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Code::InvalidArgument);
  EXPECT_NE(s.error().what().find("conformance-no-such-option"), std::string::npos) << s.error().what();
  EXPECT_FALSE(driver_->create("conf-vol", bad, {}));
  auto all = driver_->list();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  EXPECT_EQ(driver_->get("conf-vol").error().code, Code::NotFound);
}

TEST_P(VolumeConformance, CreateGetListPathAgree) {
  auto made = driver_->create("conf-vol", {}, {{"k", "v"}});
  ASSERT_TRUE(made) << made.error().what();
  EXPECT_EQ(made->name, "conf-vol");
  EXPECT_EQ(made->labels.at("k"), "v");
  auto again = driver_->create("conf-vol", {}, {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::AlreadyExists);
  auto got = driver_->get("conf-vol");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->mountpoint, made->mountpoint);
  auto path = driver_->path("conf-vol");
  ASSERT_TRUE(path);
  EXPECT_EQ(*path, made->mountpoint);
  auto all = driver_->list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().name, "conf-vol");
  EXPECT_TRUE(driver_->remove("conf-vol"));
  EXPECT_EQ(driver_->get("conf-vol").error().code, Code::NotFound);
  EXPECT_EQ(driver_->remove("conf-vol").error().code, Code::NotFound);
}

TEST_P(VolumeConformance, MountsAreCountedPerCallerAndBlockRemoval) {
  ASSERT_TRUE(driver_->create("conf-vol", {}, {}));
  auto m1 = driver_->mount("conf-vol", "caller-a");
  ASSERT_TRUE(m1) << m1.error().what();
  std::ofstream(*m1 + "/file") << "data\n";
  auto m1again = driver_->mount("conf-vol", "caller-a");
  ASSERT_TRUE(m1again);
  EXPECT_EQ(*m1again, *m1);
  auto m2 = driver_->mount("conf-vol", "caller-b");
  ASSERT_TRUE(m2);
  // One unmount per caller, however often it mounted.
  EXPECT_TRUE(driver_->unmount("conf-vol", "caller-a"));
  EXPECT_EQ(driver_->remove("conf-vol").error().code, Code::Conflict) << "removed while caller-b has it";
  std::ifstream in(*m2 + "/file");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "data");
  EXPECT_TRUE(driver_->unmount("conf-vol", "caller-b"));
  EXPECT_TRUE(driver_->unmount("conf-vol", "caller-b")) << "unmount must be idempotent";
  EXPECT_TRUE(driver_->unmount("conf-vol", "never-mounted"));
  EXPECT_TRUE(driver_->remove("conf-vol"));
  struct stat st {};
  EXPECT_NE(::stat(m1->c_str(), &st), 0) << "data left after remove: " << *m1;
}

}  // namespace berth::sdk::testing
