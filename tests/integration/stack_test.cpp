// The per-host stack through the CLI: plugins the TOML names, refusals, `info`, `version`,
// configuration files and their errors.

#include <filesystem>
#include <regex>

#include "harness.hpp"
#include "berth/sdk/plugin.hpp"

namespace berth::it {
namespace {

class Stack : public BerthTest {
 protected:
  std::string plugin(const std::string& name) { return std::string(kTestPlugins) + "/" + name + ".so"; }
  // A refused plugin: exit 125, and stderr names the file and the reason.
  void expect_refused(const std::string& path, const std::string& reason) {
    configure("\n[[plugins]]\npath = \"" + path + "\"\n");
    for (const auto& cmd : std::vector<std::vector<std::string>>{{"info"}, {"ps", "-a"}, {"run", "--rm", "busybox", "true"}}) {
      Output o = berth(cmd);
      EXPECT_EQ(o.code, 125) << cmd[0] << ": " << o.out << o.err;
      EXPECT_NE(o.err.find(path), std::string::npos) << o.err;
      EXPECT_NE(o.err.find(reason), std::string::npos) << o.err;
    }
  }
};

TEST_F(Stack, RefusesAMissingPluginFile) {
  expect_refused(root_ + "/no-such-plugin.so", "file does not exist");
}

TEST_F(Stack, RefusesASharedObjectThatIsNotABerthPlugin) {
  expect_refused(plugin("not-berth"), "not a berth plugin");
  // Not even an ELF file.
  std::string text = root_ + "/text.so";
  write_file(text, "just text\n");
  expect_refused(text, "not a berth plugin");
}

TEST_F(Stack, RefusesAPluginBuiltForAnotherAbi) {
  expect_refused(plugin("wrong-abi"), "built for SDK ABI version 999");
}

TEST_F(Stack, RefusesAPluginBuiltByAnotherCompilerOrLibrary) {
  expect_refused(plugin("wrong-fingerprint"), "built with 'clang-3.4/libc++-1', this berth with '");
}

TEST_F(Stack, RefusesADriverNameAlreadyTaken) {
  expect_refused(plugin("dup-driver"), "driver name 'null' (berth.network.v1) is already taken");
}

TEST_F(Stack, RefusesAPluginWhoseFactoryThrows) {
  expect_refused(plugin("throwing-factory"), "boom from the test plugin");
}

// Commands after the first list known plugins from a cache and open them on use
// (plugin_host.hpp); a file replaced since is checked in full again, at load.
TEST_F(Stack, APluginReplacedBetweenCommandsIsRefusedAtLoad) {
  std::string copy = root_ + "/extra.so";
  std::filesystem::copy_file(plugin("extra-network"), copy);
  configure("\n[[plugins]]\npath = \"" + copy + "\"\n");
  for (int i = 0; i < 2; ++i) {
    std::string info = ok({"info"});
    EXPECT_NE(info.find(copy + "\n   Plugin: extra-network 2.5.0\n   network: quiet"), std::string::npos) << info;
  }
  EXPECT_TRUE(exists(run_ + "/plugins.json"));
  std::filesystem::copy_file(plugin("not-berth"), copy + ".new");
  std::filesystem::rename(copy + ".new", copy);
  expect_refused(copy, "not a berth plugin");
}

TEST_F(Stack, InfoShowsTheStack) {
  configure("\n[[plugins]]\npath = \"" + plugin("extra-network") + "\"\n");
  std::string info = ok({"info"});
  EXPECT_NE(info.find("Storage Driver: overlay"), std::string::npos) << info;
  EXPECT_NE(info.find("berth-network-basic.so\n   Plugin: network-basic 0.1.0\n   network: host null"), std::string::npos)
      << info;
  EXPECT_NE(info.find("berth-storage-overlay.so"), std::string::npos) << info;
  EXPECT_NE(info.find("storage: overlay"), std::string::npos) << info;
  EXPECT_NE(info.find(plugin("extra-network") + "\n   Plugin: extra-network 2.5.0\n   network: quiet"),
            std::string::npos)
      << info;
  EXPECT_NE(info.find("Cgroup Version: "), std::string::npos) << info;
  EXPECT_NE(info.find("Config: " + config_), std::string::npos) << info;
}

TEST_F(Stack, VersionShowsClientAndEngine) {
  std::string v = ok({"version"});
  EXPECT_TRUE(std::regex_search(v, std::regex("Client:\n Version: +[0-9]+\\.[0-9]+\\.[0-9]+"))) << v;
  EXPECT_TRUE(std::regex_search(v, std::regex("Server: berth Engine\n Engine:\n  Version: +[0-9]+\\.[0-9]+"))) << v;
  EXPECT_NE(v.find("SDK ABI version:  " + std::to_string(BERTH_SDK_ABI)), std::string::npos) << v;
}

TEST_F(Stack, ConfigErrorsNameFileLineAndColumn) {
  write_file(config_, "[engine]\nstate_root = \"" + state_ + "\"\ncolour = \"blue\"\n");
  Output o = berth({"info"});
  EXPECT_EQ(o.code, 125);
  EXPECT_NE(o.err.find(config_ + ":3:1: unknown key 'colour' in [engine]"), std::string::npos) << o.err;
  write_file(config_, "[engine]\nstate_root = \"" + state_ + "\n");
  Output syntax = berth({"info"});
  EXPECT_EQ(syntax.code, 125);
  EXPECT_TRUE(std::regex_search(syntax.err, std::regex(config_ + ":2:[0-9]+: "))) << syntax.err;
  write_file(config_, "[engine]\nstate_root = 7\n");
  Output type = berth({"info"});
  EXPECT_EQ(type.code, 125);
  EXPECT_NE(type.err.find(config_ + ":2:14: 'state_root' must be a string"), std::string::npos) << type.err;
  Output missing = exec({kBerth, "--config", root_ + "/nope.toml", "info"});
  EXPECT_EQ(missing.code, 125);
  EXPECT_NE(missing.err.find(root_ + "/nope.toml"), std::string::npos) << missing.err;
}

TEST_F(Stack, BerthConfigEnvironmentVariableIsUsed) {
  Output o = exec({kBerth, "info"}, "", 60, {"BERTH_CONFIG=" + config_});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("Config: " + config_), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Berth Root Dir: " + state_), std::string::npos) << o.out;
  // --config wins over the variable, which here names a file that would not even parse.
  std::string broken = root_ + "/broken.toml";
  write_file(broken, "[engine\n");
  Output env_only = exec({kBerth, "info"}, "", 60, {"BERTH_CONFIG=" + broken});
  EXPECT_EQ(env_only.code, 125);
  EXPECT_NE(env_only.err.find(broken), std::string::npos) << env_only.err;
  Output both = exec({kBerth, "--config", config_, "info"}, "", 60, {"BERTH_CONFIG=" + broken});
  EXPECT_EQ(both.code, 0) << both.err;
  EXPECT_NE(both.out.find("Config: " + config_), std::string::npos) << both.out;
}

TEST_F(Stack, DriverOptionsReachTheDriverWhichValidatesThem) {
  configure("\n[drivers.\"storage.overlay\"]\nindex = \"on\"\n");
  EXPECT_NE(ok({"info"}).find("Index: on"), std::string::npos);
  configure("\n[drivers.\"storage.overlay\"]\nindex = \"sideways\"\n");
  Output bad = berth({"info"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_NE(bad.err.find("index"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("sideways"), std::string::npos) << bad.err;
  configure("\n[drivers.\"storage.overlay\"]\nflavour = \"x\"\n");
  Output unknown = berth({"info"});
  EXPECT_EQ(unknown.code, 125);
  EXPECT_NE(unknown.err.find("flavour"), std::string::npos) << unknown.err;
}

TEST_F(Stack, TheEmbeddedDefaultServesWithoutAnyFile) {
  if (exists("/etc/berth/berth.toml")) GTEST_SKIP() << "/etc/berth/berth.toml exists on this host";
  Output o = exec({kBerth, "version"}, "", 60, {"BERTH_CONFIG="});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("Config:           <embedded default>"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace berth::it
