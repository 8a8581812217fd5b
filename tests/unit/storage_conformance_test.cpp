// The SDK's storage driver conformance suite, run by every shipped storage driver, and the
// overlay driver's own crash recovery, which depends on its on-disk layout.

#include "berth/sdk/testing/storage_conformance.hpp"

#include <dirent.h>

#include <vector>

namespace berth::sdk::testing {
namespace {

const StorageDriverUnderTest kOverlay{"overlay", std::string(SHIPPED_PLUGIN_DIR) + "/berth-storage-overlay.so", {}};

INSTANTIATE_TEST_SUITE_P(Shipped, StorageConformance, ::testing::Values(kOverlay), storage_driver_name);

// What a process killed in the middle of a create or a commit leaves in overlay's state
// directory (overlay_driver.hpp has the layout), and what cleanup() must make of it.
class OverlayRecovery : public StorageConformance {
 protected:
  std::string state() const { return dir_ + "/plugins/storage.overlay"; }
  std::string number_of(const std::string& key) const { return read(state() + "/keys/" + key); }
  static std::vector<std::string> fs_list(const std::string& path) {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        if (std::string n = e->d_name; n != "." && n != "..") out.push_back(n);
      }
      ::closedir(d);
    }
    return out;
  }
};

TEST_P(OverlayRecovery, CleanupReclaimsInterruptedCreatesAndKeepsEveryLiveSnapshot) {
  ASSERT_NO_FATAL_FAILURE(make_base());
  ASSERT_TRUE(driver_->prepare("rec-live", "conf-base", {}));
  ASSERT_TRUE(driver_->prepare("rec-renamed", "conf-base", {}));
  const std::string base = number_of("conf-base");
  const std::string snaps = state() + "/snapshots/";
  ASSERT_FALSE(base.empty());

  // A create killed after its metadata and child link, before its key file...
  ASSERT_EQ(::mkdir((snaps + "900").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((snaps + "900/fs").c_str(), 0755), 0);
  ASSERT_TRUE(write(snaps + "900/meta", "key=rec-ghost\nparent=conf-base\nkind=active\ncreated=1\nupdated=1\n"));
  ASSERT_TRUE(write(snaps + base + "/children/900", ""));
  // ...one killed while writing that key file (the temporary name write_file_atomic uses)...
  ASSERT_EQ(::mkdir((snaps + "901").c_str(), 0700), 0);
  ASSERT_TRUE(write(snaps + "901/meta", "key=rec-ghost2\nparent=\nkind=active\ncreated=1\nupdated=1\n"));
  ASSERT_TRUE(write(state() + "/keys/rec-ghost2.tmp.4242", "901"));
  // ...one killed before anything but its directory...
  ASSERT_EQ(::mkdir((snaps + "902").c_str(), 0700), 0);
  // ...and a commit killed between writing the new key into the metadata and writing the
  // new key file: the old key still names the snapshot, which must survive.
  const std::string renamed = number_of("rec-renamed");
  const std::string meta_before = read(snaps + renamed + "/meta");
  std::string meta_after = meta_before;
  meta_after.replace(meta_after.find("key=rec-renamed"), 15, "key=rec-renamed-new");
  ASSERT_TRUE(write(snaps + renamed + "/meta", meta_after));

  Status c = driver_->cleanup();
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_FALSE(exists(snaps + "900"));
  EXPECT_FALSE(exists(snaps + "901"));
  EXPECT_FALSE(exists(snaps + "902"));
  EXPECT_FALSE(exists(snaps + base + "/children/900")) << "a dangling child link blocks the parent's removal";
  EXPECT_TRUE(exists(snaps + renamed)) << "a snapshot named by a key file is live, whatever its metadata says";
  EXPECT_TRUE(fs_list(state() + "/trash").empty()) << "reclaimed directories are deleted, not only moved";
  ASSERT_TRUE(write(snaps + renamed + "/meta", meta_before));
  ::unlink((state() + "/keys/rec-ghost2.tmp.4242").c_str());

  // Every live snapshot still works, and the parent goes once its real children have.
  auto live = driver_->mounts("rec-live");
  ASSERT_TRUE(live) << live.error().what();
  EXPECT_TRUE(with_mounted(*live, [](const std::string& r) { return read(r + "/keep") == "keep\n"; }));
  EXPECT_TRUE(driver_->stat("rec-renamed"));
  ASSERT_TRUE(driver_->remove("rec-live"));
  ASSERT_TRUE(driver_->remove("rec-renamed"));
  Status gone = driver_->remove("conf-base");
  EXPECT_TRUE(gone) << gone.error().what();
}

INSTANTIATE_TEST_SUITE_P(Shipped, OverlayRecovery, ::testing::Values(kOverlay), storage_driver_name);

}  // namespace
}  // namespace berth::sdk::testing
