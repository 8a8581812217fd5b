#pragma once

// The conformance suite every storage driver runs (GoogleTest, as root). It loads the driver
// from its plugin file as the engine does and checks the contract of storage_driver.hpp with
// real mounts (made in a forked child's private mount namespace, as the engine makes them):
// prepare/commit/view build layers whose content stacks, deletions hide what is below, views
// are read-only, a parent with children cannot be removed, keys are unique and errors carry
// the documented codes; and, for drivers that can_commit_onto(), that a layer written
// straight into a parentless snapshot's changes_dir() in overlay's form and committed onto a
// parent shows the parent's content with those changes on top.
//
//   #include "berth/sdk/testing/storage_conformance.hpp"
//   INSTANTIATE_TEST_SUITE_P(Acme, StorageConformance, ::testing::Values(
//       berth::sdk::testing::StorageDriverUnderTest{"acme", "/path/berth-storage-acme.so", {}}),
//       berth::sdk::testing::storage_driver_name);

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "berth/sdk/mount.hpp"
#include "berth/sdk/plugin.hpp"

namespace berth::sdk::testing {

struct StorageDriverUnderTest {
  std::string name;         // as registered: "overlay"
  std::string plugin_path;  // the .so that provides it
  Options driver_options;   // its TOML table
};

inline std::string storage_driver_name(const ::testing::TestParamInfo<StorageDriverUnderTest>& info) {
  return info.param.name;
}

class StorageConformance : public ::testing::TestWithParam<StorageDriverUnderTest> {
 protected:
  class Quiet : public Logger {
   public:
    void log(LogLevel, std::string_view) override {}
    bool enabled(LogLevel) const override { return false; }
  };

  void SetUp() override {
    const auto& p = GetParam();
    char tmpl[] = "/var/tmp/berth-storconf-XXXXXX";  // not tmpfs: overlay needs xattrs
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string state = dir_ + "/plugins/storage." + p.name;
    std::string cmd = "mkdir -p '" + state + "' '" + dir_ + "/run' '" + dir_ + "/mnt'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    lib_ = ::dlopen(p.plugin_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib_, nullptr) << ::dlerror();
    auto* alias = static_cast<const void* const*>(::dlsym(lib_, "berth_plugin_v1"));
    ASSERT_NE(alias, nullptr);
    auto entry = reinterpret_cast<PluginEntry*>(reinterpret_cast<intptr_t>(*alias));
    const PluginDescriptor* d = entry();
    ASSERT_EQ(d->abi_version, BERTH_SDK_ABI);
    for (size_t i = 0; i < d->driver_count; ++i) {
      if (std::string(d->drivers[i].kind) != kStorageKind || d->drivers[i].name != p.name) continue;
      DriverContext ctx;
      ctx.driver_name = p.name;
      ctx.state_dir = state;
      ctx.run_dir = dir_ + "/run";
      ctx.options = p.driver_options;
      ctx.logger = &logger_;
      auto made = d->drivers[i].storage(ctx);
      ASSERT_TRUE(made) << made.error().what();
      driver_ = std::move(*made);
    }
    ASSERT_TRUE(driver_) << "no storage driver '" << p.name << "' in " << p.plugin_path;
    Status init = driver_->init();
    ASSERT_TRUE(init) << init.error().what();
  }

  void TearDown() override {
    if (driver_) {
      // Children before parents: remove what is left until nothing more goes.
      for (int round = 0; round < 8; ++round) {
        std::vector<std::string> keys;
        (void)driver_->walk([&](const SnapshotInfo& i) {
          keys.push_back(i.key);
          return true;
        });
        if (keys.empty()) break;
        for (const auto& k : keys) (void)driver_->remove(k);
      }
      (void)driver_->cleanup();
    }
    driver_.reset();
    std::string cmd = "rm -rf --one-file-system '" + dir_ + "'";
    if (!dir_.empty()) (void)!std::system(cmd.c_str());
  }

  // Runs `fn` with `mounts` applied on an empty directory, in a child with its own mount
  // namespace (nothing reaches the host). True if fn returned true.
  bool with_mounted(const std::vector<Mount>& mounts, const std::function<bool(const std::string&)>& fn) {
    std::string at = dir_ + "/mnt";
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        ::_exit(2);
      }
      if (!apply_mounts(mounts, at)) ::_exit(3);
      ::_exit(fn(at) ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  static bool write(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    return static_cast<bool>(out.flush());
  }
  static bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The names in a directory, "." and ".." left out.
  static std::set<std::string> names(const std::string& dir) {
    std::set<std::string> out;
    std::string cmd = "ls -A '" + dir + "' 2>/dev/null";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char line[4096];
      while (std::fgets(line, sizeof line, p)) {
        std::string s = line;
        if (!s.empty() && s.back() == '\n') s.pop_back();
        out.insert(s);
      }
      ::pclose(p);
    }
    return out;
  }

  // A committed layer "base" holding keep, gone and dir/{x,y}.
  void make_base() {
    auto m = driver_->prepare("conf-base-active", "", {});
    ASSERT_TRUE(m) << m.error().what();
    ASSERT_TRUE(with_mounted(*m, [](const std::string& r) {
      return write(r + "/keep", "keep\n") && write(r + "/gone", "gone\n") && ::mkdir((r + "/dir").c_str(), 0755) == 0 &&
             write(r + "/dir/x", "x\n") && write(r + "/dir/y", "y\n");
    }));
    Status c = driver_->commit("conf-base", "conf-base-active", {{"layer", "base"}});
    ASSERT_TRUE(c) << c.error().what();
  }

  Quiet logger_;
  void* lib_ = nullptr;
  std::unique_ptr<StorageDriver> driver_;
  std::string dir_;
};

TEST_P(StorageConformance, LayersStackAndDeletionsHideWhatIsBelow) {
  ASSERT_NO_FATAL_FAILURE(make_base());
  auto base = driver_->stat("conf-base");
  ASSERT_TRUE(base);
  EXPECT_EQ(base->kind, SnapshotKind::Committed);
  EXPECT_EQ(base->labels.at("layer"), "base");
  EXPECT_EQ(driver_->stat("conf-base-active").error().code, Code::NotFound) << "commit consumes the active key";

  auto top = driver_->prepare("conf-top", "conf-base", {});
  ASSERT_TRUE(top) << top.error().what();
  EXPECT_EQ(driver_->stat("conf-top")->parent, "conf-base");
  ASSERT_TRUE(with_mounted(*top, [](const std::string& r) {
    return read(r + "/keep") == "keep\n" && ::unlink((r + "/gone").c_str()) == 0 && write(r + "/new", "new\n") &&
           write(r + "/dir/x", "changed\n");
  }));
  ASSERT_TRUE(driver_->commit("conf-top-layer", "conf-top", {}));
  auto view = driver_->view("conf-view", "conf-top-layer", {});
  ASSERT_TRUE(view) << view.error().what();
  EXPECT_TRUE(with_mounted(*view, [](const std::string& r) {
    return read(r + "/keep") == "keep\n" && !exists(r + "/gone") && read(r + "/new") == "new\n" &&
           read(r + "/dir/x") == "changed\n" && read(r + "/dir/y") == "y\n";
  })) << "the view shows the layers stacked, the deletion applied";
  EXPECT_TRUE(with_mounted(*view, [](const std::string& r) { return !write(r + "/w", "w"); })) << "views are read-only";
  // The lower layer is untouched.
  auto again = driver_->view("conf-base-view", "conf-base", {});
  ASSERT_TRUE(again);
  EXPECT_TRUE(with_mounted(*again, [](const std::string& r) {
    return read(r + "/gone") == "gone\n" && read(r + "/dir/x") == "x\n" && !exists(r + "/new");
  }));

  EXPECT_EQ(driver_->remove("conf-base").error().code, Code::Conflict) << "a parent with children";
  ASSERT_TRUE(driver_->remove("conf-base-view"));
  ASSERT_TRUE(driver_->remove("conf-view"));
  ASSERT_TRUE(driver_->remove("conf-top-layer"));
  ASSERT_TRUE(driver_->remove("conf-base"));
  int left = 0;
  ASSERT_TRUE(driver_->walk([&](const SnapshotInfo&) { return ++left, true; }));
  EXPECT_EQ(left, 0);
  EXPECT_TRUE(driver_->cleanup());
}

TEST_P(StorageConformance, ErrorsCarryTheirCodesAndChangeNothing) {
  ASSERT_NO_FATAL_FAILURE(make_base());
  ASSERT_TRUE(driver_->prepare("conf-a", "conf-base", {}));
  EXPECT_EQ(driver_->prepare("conf-a", "", {}).error().code, Code::AlreadyExists);
  EXPECT_EQ(driver_->prepare("conf-b", "conf-no-such", {}).error().code, Code::NotFound);
  EXPECT_EQ(driver_->prepare("conf-b", "conf-a", {}).error().code, Code::InvalidArgument) << "an active parent";
  EXPECT_EQ(driver_->stat("conf-b").error().code, Code::NotFound) << "a refused prepare leaves nothing";
  EXPECT_EQ(driver_->commit("conf-base", "conf-a", {}).error().code, Code::AlreadyExists);
  EXPECT_EQ(driver_->stat("conf-a")->kind, SnapshotKind::Active) << "a refused commit leaves the snapshot as it was";
  EXPECT_EQ(driver_->commit("conf-c", "conf-base", {}).error().code, Code::InvalidArgument) << "commit of a committed";
  EXPECT_EQ(driver_->mounts("conf-base").error().code, Code::InvalidArgument);
  EXPECT_EQ(driver_->mounts("conf-no-such").error().code, Code::NotFound);
  EXPECT_EQ(driver_->remove("conf-no-such").error().code, Code::NotFound);
  auto m = driver_->mounts("conf-a");
  ASSERT_TRUE(m) << m.error().what();
  EXPECT_TRUE(with_mounted(*m, [](const std::string& r) { return read(r + "/keep") == "keep\n"; }))
      << "mounts() of an active snapshot mount it again";
}

TEST_P(StorageConformance, ALayerWrittenAloneCommitsOntoItsParent) {
  if (!driver_->can_commit_onto()) GTEST_SKIP() << "the driver cannot commit onto a parent (optional)";
  ASSERT_NO_FATAL_FAILURE(make_base());
  ASSERT_TRUE(driver_->prepare("conf-alone", "", {}));
  auto changes = driver_->changes_dir("conf-alone");
  ASSERT_TRUE(changes) << "commit_onto needs changes_dir: " << changes.error().what();
  // What an unpacked layer writes: a new file, a deletion, an opaque directory.
  const std::string& c = *changes;
  ASSERT_TRUE(write(c + "/added", "added\n"));
  ASSERT_EQ(::mknod((c + "/gone").c_str(), S_IFCHR, ::makedev(0, 0)), 0);
  ASSERT_EQ(::mkdir((c + "/dir").c_str(), 0755), 0);
  ASSERT_EQ(::setxattr((c + "/dir").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  ASSERT_TRUE(write(c + "/dir/z", "z\n"));

  // Refusals first; each leaves the snapshot as it was.
  ASSERT_TRUE(driver_->prepare("conf-child", "conf-base", {}));
  EXPECT_EQ(driver_->commit_onto("conf-l", "conf-alone", "conf-no-such", {}).error().code, Code::NotFound);
  EXPECT_EQ(driver_->commit_onto("conf-l", "conf-alone", "conf-child", {}).error().code, Code::InvalidArgument)
      << "onto an active snapshot";
  EXPECT_EQ(driver_->commit_onto("conf-l", "conf-child", "conf-base", {}).error().code, Code::InvalidArgument)
      << "a snapshot that has a parent";
  EXPECT_EQ(driver_->commit_onto("conf-base", "conf-alone", "conf-base", {}).error().code, Code::AlreadyExists);
  EXPECT_EQ(driver_->stat("conf-alone")->kind, SnapshotKind::Active);
  EXPECT_EQ(driver_->stat("conf-alone")->parent, "");

  Status s = driver_->commit_onto("conf-l", "conf-alone", "conf-base", {{"layer", "alone"}});
  ASSERT_TRUE(s) << s.error().what();
  auto info = driver_->stat("conf-l");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->parent, "conf-base");
  EXPECT_EQ(info->kind, SnapshotKind::Committed);
  EXPECT_EQ(driver_->stat("conf-alone").error().code, Code::NotFound);
  auto view = driver_->view("conf-lv", "conf-l", {});
  ASSERT_TRUE(view) << view.error().what();
  EXPECT_TRUE(with_mounted(*view, [](const std::string& r) {
    return read(r + "/keep") == "keep\n" && read(r + "/added") == "added\n" && !exists(r + "/gone") &&
           names(r + "/dir") == std::set<std::string>{"z"};
  })) << "the parent's content with the layer's changes on top";
  // Only the new child is left to hold its parent now.
  ASSERT_TRUE(driver_->remove("conf-child"));
  ASSERT_TRUE(driver_->remove("conf-lv"));
  Status held = driver_->remove("conf-base");
  ASSERT_FALSE(held) << "removed a parent that commit_onto gave a child";
  EXPECT_EQ(held.error().code, Code::Conflict);
}

}  // namespace berth::sdk::testing
