#include <gtest/gtest.h>

#include "config/config.hpp"

namespace berth::config {
namespace {

TEST(Config, EmbeddedDefaultParses) {
  auto c = parse_config(embedded_default_config(), "<embedded default>");
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->state_root, "/var/lib/berth");
  EXPECT_EQ(c->run_root, "/run/berth");
  EXPECT_EQ(c->storage_driver, "overlay");
  EXPECT_EQ(c->default_network.name, "bridge");
  EXPECT_EQ(c->default_network.subnet, "172.17.0.0/16");
  EXPECT_EQ(c->driver_options["network.bridge"]["bridge_name"], "berth0");
  ASSERT_EQ(c->plugin_dirs.size(), 1u);
  EXPECT_NE(c->plugin_dirs[0].find("/../lib/berth/plugins"), std::string::npos);
}

TEST(Config, FullShape) {
  auto c = parse_config(R"(
[engine]
state_root = "/srv/berth"
run_root = "/run/b"
log_level = "debug"
plugin_dirs = ["/opt/p1", "/opt/p2"]

[[plugins]]
path = "/opt/acme/berth-network-acme.so"

[storage]
driver = "vfs"

[volumes]
default_driver = "nfs"

[networks.default]
name = "bridge"
driver = "bridge"
subnet = "172.17.0.0/16"
gateway = "172.17.0.1"

[drivers."network.bridge"]
bridge_name = "berth0"
mtu = "1400"
)", "t.toml");
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->state_root, "/srv/berth");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->plugin_dirs, (std::vector<std::string>{"/opt/p1", "/opt/p2"}));
  EXPECT_EQ(c->plugin_paths, std::vector<std::string>{"/opt/acme/berth-network-acme.so"});
  EXPECT_EQ(c->storage_driver, "vfs");
  EXPECT_EQ(c->default_volume_driver, "nfs");
  EXPECT_EQ(c->default_network.subnet, "172.17.0.0/16");
  EXPECT_EQ(c->driver_options["network.bridge"], (sdk::Options{{"bridge_name", "berth0"}, {"mtu", "1400"}}));
}

TEST(Config, ErrorsNameFileLineColumn) {
  auto unknown = parse_config("[engine]\n\nbogus = 1\n", "a.toml");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().what().rfind("a.toml:3:1: unknown key 'bogus' in [engine]", 0), 0u) << unknown.error().what();
  auto table = parse_config("[nonsense]\n", "b.toml");
  ASSERT_FALSE(table);
  EXPECT_EQ(table.error().what().rfind("b.toml:1:", 0), 0u) << table.error().what();
  auto syntax = parse_config("[engine\n", "c.toml");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().what().rfind("c.toml:1:", 0), 0u) << syntax.error().what();
  auto relative = parse_config("[engine]\nstate_root = \"relative\"\n", "d.toml");
  ASSERT_FALSE(relative);
  EXPECT_NE(relative.error().what().find("d.toml:2:"), std::string::npos) << relative.error().what();
  // Driver options are strings; numbers and booleans are taken as their text, tables are errors.
  auto number = parse_config("[drivers.\"network.bridge\"]\nmtu = 1400\n", "e.toml");
  ASSERT_TRUE(number) << number.error().what();
  EXPECT_EQ(number->driver_options["network.bridge"]["mtu"], "1400");
  auto nested = parse_config("[drivers.\"network.bridge\"]\nsub = { a = 1 }\n", "e.toml");
  ASSERT_FALSE(nested);
  EXPECT_NE(nested.error().what().find("e.toml:2:"), std::string::npos) << nested.error().what();
  auto badlevel = parse_config("[engine]\nlog_level = \"loud\"\n", "f.toml");
  ASSERT_FALSE(badlevel);
  EXPECT_NE(badlevel.error().what().find("f.toml:2:"), std::string::npos) << badlevel.error().what();
}

TEST(Config, ExplicitFileMustExist) {
  auto c = load_config("/nonexistent/berth.toml");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().what().find("/nonexistent/berth.toml"), std::string::npos);
}

}  // namespace
}  // namespace berth::config
