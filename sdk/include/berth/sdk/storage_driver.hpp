#pragma once

// Storage drivers keep image layers and container root file systems as snapshots, in the
// shape of containerd's snapshotter:
//   - a committed snapshot is an immutable layer, named by the core (a layer's chain id);
//   - an active snapshot is a writable file system on top of a committed parent (a
//     container's root, a build step, a layer being unpacked);
//   - a view is a read-only active snapshot.
// Drivers never mount on the host: they return mount descriptors and the runtime performs
// the mounts inside the container's mount namespace (or a private one, to unpack a layer),
// so a crash never leaves a mount behind. The core computes diffs and applies tar layers.
//
// Concurrency: several berth processes may call one driver's methods at once on the same
// state directory; drivers serialise what must be serialised (a file lock).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "berth/sdk/options.hpp"
#include "berth/sdk/result.hpp"
#include "berth/sdk/visibility.hpp"

namespace berth::sdk {

enum class SnapshotKind { View, Active, Committed };
const char* snapshot_kind_name(SnapshotKind kind);

// One mount, as mount(2) takes it. `target` is relative to the snapshot's root ("" = root).
// Types in use: "overlay" (options lowerdir=, upperdir=, workdir=) and "bind" (source is a
// directory; options may hold "ro").
struct Mount {
  std::string type;
  std::string source;
  std::string target;
  std::vector<std::string> options;
};

struct SnapshotInfo {
  std::string key;     // the name the core gave it
  std::string parent;  // key of the committed parent, "" for none
  SnapshotKind kind = SnapshotKind::Active;
  Labels labels;
  int64_t created_ns = 0;  // Unix time, nanoseconds
  int64_t updated_ns = 0;
};

struct Usage {
  int64_t size = 0;    // bytes this snapshot adds, parents excluded
  int64_t inodes = 0;
};

class BERTH_SDK_VISIBLE StorageDriver {
 public:
  virtual ~StorageDriver() = default;

  virtual std::string name() const = 0;

  // Checks that this host can run the driver (kernel support, file system of the state
  // directory) and creates its layout. Called once per process before any other method;
  // an Unsupported error means "skip this driver here". Idempotent.
  virtual Status init() = 0;

  // Facts for `berth info`, e.g. {"Backing Filesystem": "extfs"}.
  virtual Options status() const = 0;

  // The snapshot's metadata. NotFound if the key is unknown.
  virtual Result<SnapshotInfo> stat(const std::string& key) = 0;

  // Replaces the labels of `info.key` (the only mutable field); returns the new metadata.
  virtual Result<SnapshotInfo> update(const SnapshotInfo& info) = 0;

  // Disk usage of the snapshot alone. For an active snapshot this walks its writable layer.
  virtual Result<Usage> usage(const std::string& key) = 0;

  // The mounts of an existing active snapshot or view (used after a restart to mount a
  // container's root again). NotFound if unknown; InvalidArgument for a committed one.
  virtual Result<std::vector<Mount>> mounts(const std::string& key) = 0;

  // Creates a writable active snapshot `key` on the committed `parent` ("" for an empty
  // one) and returns its mounts. AlreadyExists if `key` is taken; NotFound if `parent` is
  // unknown; InvalidArgument if `parent` is not committed. On failure nothing is left.
  virtual Result<std::vector<Mount>> prepare(const std::string& key, const std::string& parent,
                                             const Labels& labels) = 0;

  // As prepare(), but the mounts are read-only.
  virtual Result<std::vector<Mount>> view(const std::string& key, const std::string& parent,
                                          const Labels& labels) = 0;

  // Freezes the active snapshot `key` into the committed snapshot `name`; `key` ceases to
  // exist. Nothing may have the snapshot mounted while it is committed. AlreadyExists if
  // `name` is taken (the active snapshot is then left as it was).
  virtual Status commit(const std::string& name, const std::string& key, const Labels& labels) = 0;

  // Removes a snapshot: once it returns, the key is free and neither stat() nor walk()
  // sees it. Freeing its data may be left to cleanup(), which the engine calls soon after,
  // outside any user-visible wait. Conflict while children exist. NotFound if unknown.
  virtual Status remove(const std::string& key) = 0;

  // Calls `fn` for every snapshot, in no particular order, until it returns false.
  virtual Status walk(const std::function<bool(const SnapshotInfo&)>& fn) = 0;

  // The directory that holds an active snapshot's changes against its parent (overlay's
  // upper directory), for the core's fast diff. Deletions and opaque directories are in
  // overlayfs's form: a deleted path is a character device 0/0, a directory that hides all
  // its parent's entries has the xattr trusted.overlay.opaque = "y". NotImplemented where
  // the driver has no such directory.
  virtual Result<std::string> changes_dir(const std::string& key) {
    (void)key;
    return make_error(Code::NotImplemented, "changes_dir is not implemented by this driver");
  }

  // Optional, so that layers unpack in parallel (containerd's "rebase" capability): true
  // when the driver supports commit_onto(). The core then unpacks each layer of a pull into
  // the changes_dir() of its own active snapshot made with no parent, writing the directory
  // directly (it is never mounted) with deletions in the form above, all layers at once,
  // and commits them in order, each onto the layer below.
  virtual bool can_commit_onto() const { return false; }

  // As commit(), and the committed snapshot's parent becomes `parent` (a committed
  // snapshot): its content is then `parent`'s with the changes directory's changes on top.
  // `key` must have been prepared with no parent. NotFound if `parent` is unknown;
  // InvalidArgument if it is not committed or if `key` has a parent; AlreadyExists if `name`
  // is taken (nothing changes then). NotImplemented unless can_commit_onto().
  virtual Status commit_onto(const std::string& name, const std::string& key, const std::string& parent,
                             const Labels& labels) {
    (void)name, (void)key, (void)parent, (void)labels;
    return make_error(Code::NotImplemented, "commit_onto is not implemented by this driver");
  }

  // Frees the data of removed snapshots and reclaims what an interrupted operation left
  // (half-made snapshot directories). Safe to call at any time, from several processes at
  // once; never touches a snapshot that stat() can see.
  virtual Status cleanup() { return {}; }
};

}  // namespace berth::sdk
