#pragma once

// The `overlay` storage driver. On-disk layout, under the driver's state directory:
//
//   lock                    flock held while metadata changes (several berth processes)
//   next-id                 a hint: the last snapshot number handed out (the number is
//                           taken by mkdir of snapshots/<n>, which fails if it is in use)
//   keys/<escaped key>      one file per snapshot key, holding its number: the key index.
//                           A snapshot exists exactly when its key file exists.
//   snapshots/<n>/meta      key, parent key, kind, times, labels (key=value lines)
//   snapshots/<n>/fs        the snapshot's own files (overlay upperdir; a layer's content)
//   snapshots/<n>/work      overlay workdir (active snapshots only)
//   snapshots/<n>/children/<m>  one empty file per child snapshot (the directory is made
//                           with the first): remove() refuses while any is there
//   trash/<n>               removed snapshots, deleted by cleanup()
//
// Numbers, not keys, name directories so that lowerdir= options stay short. The mounts of
// an active snapshot are one overlay whose lowerdirs are its committed ancestors' fs
// directories (nearest first); a snapshot without a parent is a bind mount of its fs.
// An fs directory does not depend on its parent's content (whiteouts and opaque
// directories are overlay's own marks), so commit_onto() only records the new parent.
// Creation builds snapshots/<n> completely before writing the key file; removal deletes the
// key file, then renames the directory into trash/. Deleting a tree costs a few hundred
// microseconds per directory on some file systems, so remove() leaves that to cleanup(),
// which the engine runs off the critical path; a crash anywhere leaves an unreferenced
// directory or a trash entry, which cleanup() deletes too.

#include <string>
#include <vector>

#include "berth/sdk/driver_context.hpp"
#include "berth/sdk/storage_driver.hpp"

namespace berth::storage::overlay {

class OverlayDriver final : public sdk::StorageDriver {
 public:
  explicit OverlayDriver(const sdk::DriverContext& ctx);
  static Status validate_options(const sdk::Options& options);

  std::string name() const override { return "overlay"; }
  Status init() override;
  sdk::Options status() const override;
  Result<sdk::SnapshotInfo> stat(const std::string& key) override;
  Result<sdk::SnapshotInfo> update(const sdk::SnapshotInfo& info) override;
  Result<sdk::Usage> usage(const std::string& key) override;
  Result<std::vector<sdk::Mount>> mounts(const std::string& key) override;
  Result<std::vector<sdk::Mount>> prepare(const std::string& key, const std::string& parent,
                                          const sdk::Labels& labels) override;
  Result<std::vector<sdk::Mount>> view(const std::string& key, const std::string& parent,
                                       const sdk::Labels& labels) override;
  Status commit(const std::string& name, const std::string& key,
                const sdk::Labels& labels) override;
  Status remove(const std::string& key) override;
  Status walk(const std::function<bool(const sdk::SnapshotInfo&)>& fn) override;
  Result<std::string> changes_dir(const std::string& key) override;
  bool can_commit_onto() const override { return true; }
  Status commit_onto(const std::string& name, const std::string& key, const std::string& parent,
                     const sdk::Labels& labels) override;
  Status cleanup() override;

 private:
  struct Record {
    std::string id;
    sdk::SnapshotInfo info;
  };
  Result<std::vector<sdk::Mount>> create(const std::string& key, const std::string& parent,
                                         const sdk::Labels& labels, sdk::SnapshotKind kind);
  Result<Record> load(const std::string& key) const;
  Status freeze(const std::string& name, const std::string& key, const sdk::Labels& labels,
                const std::string* new_parent);
  std::string index_ = "off";
  std::vector<std::string> extra_options_;  // what init() found the kernel takes
  Result<Record> load_id(const std::string& id) const;
  Status store_meta(const Record& rec) const;
  Result<std::vector<sdk::Mount>> mounts_of(const Record& rec) const;
  std::string key_path(const std::string& key) const;
  std::string snap_dir(const std::string& id) const;

  std::string root_;
  sdk::Logger* log_;
};

}  // namespace berth::storage::overlay
