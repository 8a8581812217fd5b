#pragma once

// Drives the real `berth` binary against a private state root. Every test gets its own
// root under /tmp/berth-it-<random>/ with its own TOML file, so tests never see each
// other's containers and can run twice in a row. TearDown removes every container the
// test made, then checks that nothing of them is left: no record, no directory, no
// snapshot, no cgroup, no mount, no monitor process.

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::it {

struct Output {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs argv with an optional stdin text; kills it after `timeout_s`.
Output exec(const std::vector<std::string>& argv, const std::string& input = "", int timeout_s = 120,
            const std::vector<std::string>& extra_env = {});

std::string trim(const std::string& s);
std::vector<std::string> lines(const std::string& s);
// Fields separated by runs of blanks.
std::vector<std::string> split_fields(const std::string& s);
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);
std::string random_suffix();
bool exists(const std::string& path);

// Cgroup directories that exist for a container id, in every hierarchy.
std::vector<std::string> cgroup_dirs_of(const std::string& id);
// Live processes whose executable is the berth binary under test.
std::vector<int> berth_processes();
// Lines of /proc/self/mountinfo that contain `needle`.
std::vector<std::string> mounts_containing(const std::string& needle);

extern const char* const kBerth;        // the binary under test
extern const char* const kBusyboxTar;   // rootfs tarball made at build time
extern const char* const kTestPlugins;  // directory of the test plugins
extern const char* const kLedger;       // container ids ever made by tests, for the leak check

class BerthTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // berth --config <this test's file> args...
  Output berth(const std::vector<std::string>& args, const std::string& input = "");
  // Runs, asserts exit 0, returns trimmed stdout.
  std::string ok(const std::vector<std::string>& args);
  // A unique name for anything this test makes.
  std::string unique(const std::string& prefix);
  // Rewrites the TOML file: the base settings plus `extra`.
  void configure(const std::string& extra);
  void import_busybox(const std::string& ref = "busybox:latest");
  std::vector<std::string> all_container_ids();
  std::string snapshot_count();

  std::string root_;    // /tmp/berth-it-xxxx
  std::string state_;   // root_/state
  std::string run_;     // root_/run
  std::string config_;  // root_/berth.toml
};

}  // namespace berth::it
