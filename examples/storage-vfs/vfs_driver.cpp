// berth-storage-vfs: a storage driver without any kernel help. Every snapshot is a full
// copy of its parent, and its "mount" is a bind mount of that copy, like Docker's vfs
// driver. Slow and large, but it runs on any file system, and it shows how little a
// storage driver needs: about two hundred lines against the SDK alone.
//
// Layout under the driver's state directory:
//   lock                     serialises every change between berth processes
//   snapshots/<hex of key>/  info (kind, parent, created, updated, then label lines) and fs/
//
// Options ([drivers."storage.vfs"] in berth.toml):
//   copy_xattrs = "false"    accepted for illustration; only "false" is supported

#include <filesystem>
#include <sstream>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/plugin.hpp"
#include "berth/sdk/storage_driver.hpp"

namespace {

namespace sdk = berth::sdk;
namespace stdfs = std::filesystem;
using berth::Code;
using berth::make_error;
using berth::Result;
using berth::Status;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

class VfsDriver final : public sdk::StorageDriver {
 public:
  explicit VfsDriver(const sdk::DriverContext& ctx) : root_(ctx.state_dir) {}

  static Status validate_options(const sdk::Options& options) {
    sdk::OptionReader r(options, "storage driver 'vfs'");
    BERTH_TRY(r.get_enum("copy_xattrs", "false", {"false"}).status());
    return r.finish();
  }

  std::string name() const override { return "vfs"; }

  Status init() override {
    BERTH_TRY(sdk::fs::make_dirs(root_ + "/snapshots", 0700));
    return {};
  }

  sdk::Options status() const override {
    return {{"Backing Filesystem", sdk::fs::fs_type_name(root_)}, {"Copies per snapshot", "full"}};
  }

  Result<sdk::SnapshotInfo> stat(const std::string& key) override { return load(key); }

  Result<sdk::SnapshotInfo> update(const sdk::SnapshotInfo& info) override {
    BERTH_ASSIGN(auto lock, sdk::fs::FileLock::exclusive(root_ + "/lock"));
    BERTH_ASSIGN(sdk::SnapshotInfo cur, load(info.key));
    cur.labels = info.labels;
    cur.updated_ns = now_ns();
    BERTH_TRY(save(cur));
    return cur;
  }

  Result<sdk::Usage> usage(const std::string& key) override {
    BERTH_TRY(load(key).status());
    sdk::Usage u;
    BERTH_TRY(sdk::fs::disk_usage(dir(key) + "/fs", &u.size, &u.inodes));
    return u;
  }

  Result<std::vector<sdk::Mount>> mounts(const std::string& key) override {
    BERTH_ASSIGN(sdk::SnapshotInfo info, load(key));
    if (info.kind == sdk::SnapshotKind::Committed) {
      return make_error(Code::InvalidArgument, "snapshot '" + key + "' is committed and has no mounts");
    }
    return mounts_of(info);
  }

  Result<std::vector<sdk::Mount>> prepare(const std::string& key, const std::string& parent,
                                          const sdk::Labels& labels) override {
    return create(key, parent, labels, sdk::SnapshotKind::Active);
  }

  Result<std::vector<sdk::Mount>> view(const std::string& key, const std::string& parent,
                                       const sdk::Labels& labels) override {
    return create(key, parent, labels, sdk::SnapshotKind::View);
  }

  Status commit(const std::string& name, const std::string& key, const sdk::Labels& labels) override {
    BERTH_ASSIGN(auto lock, sdk::fs::FileLock::exclusive(root_ + "/lock"));
    BERTH_ASSIGN(sdk::SnapshotInfo info, load(key));
    if (info.kind != sdk::SnapshotKind::Active) {
      return make_error(Code::InvalidArgument, "snapshot '" + key + "' is not active");
    }
    if (sdk::fs::exists(dir(name))) return make_error(Code::AlreadyExists, "snapshot '" + name + "' exists");
    info.key = name;
    info.kind = sdk::SnapshotKind::Committed;
    info.labels = labels;
    info.updated_ns = now_ns();
    BERTH_TRY(save(info, dir(key)));
    if (::rename(dir(key).c_str(), dir(name).c_str()) != 0) return berth::sys_error("commit '" + key + "'");
    return {};
  }

  Status remove(const std::string& key) override {
    BERTH_ASSIGN(auto lock, sdk::fs::FileLock::exclusive(root_ + "/lock"));
    BERTH_TRY(load(key).status());
    bool has_children = false;
    BERTH_TRY(walk_unlocked([&](const sdk::SnapshotInfo& s) {
      has_children |= s.parent == key;
      return !has_children;
    }));
    if (has_children) return make_error(Code::Conflict, "snapshot '" + key + "' has children");
    return sdk::fs::remove_tree(dir(key));
  }

  Status walk(const std::function<bool(const sdk::SnapshotInfo&)>& fn) override { return walk_unlocked(fn); }

 private:
  std::string dir(const std::string& key) const { return root_ + "/snapshots/" + hex(key); }

  Result<std::vector<sdk::Mount>> create(const std::string& key, const std::string& parent,
                                         const sdk::Labels& labels, sdk::SnapshotKind kind) {
    BERTH_ASSIGN(auto lock, sdk::fs::FileLock::exclusive(root_ + "/lock"));
    if (sdk::fs::exists(dir(key))) return make_error(Code::AlreadyExists, "snapshot '" + key + "' exists");
    if (!parent.empty()) {
      BERTH_ASSIGN(sdk::SnapshotInfo p, load(parent));
      if (p.kind != sdk::SnapshotKind::Committed) {
        return make_error(Code::InvalidArgument, "parent '" + parent + "' is not committed");
      }
    }
    // Build under a temporary name so that a crash leaves nothing stat() can see.
    std::string tmp = root_ + "/snapshots/.tmp-" + hex(key);
    std::error_code ec;
    stdfs::remove_all(tmp, ec);
    stdfs::create_directories(tmp + "/fs", ec);
    if (!ec && !parent.empty()) {
      stdfs::copy(dir(parent) + "/fs", tmp + "/fs",
                  stdfs::copy_options::recursive | stdfs::copy_options::copy_symlinks, ec);
    }
    if (ec) {
      stdfs::remove_all(tmp, ec);
      return make_error(Code::Internal, "copy snapshot '" + parent + "': " + ec.message());
    }
    sdk::SnapshotInfo info{key, parent, kind, labels, now_ns(), now_ns()};
    Status saved = save(info, tmp);
    if (!saved) {
      stdfs::remove_all(tmp, ec);
      return std::move(saved).error();
    }
    if (::rename(tmp.c_str(), dir(key).c_str()) != 0) {
      auto err = berth::sys_error("create snapshot '" + key + "'");
      stdfs::remove_all(tmp, ec);
      return err;
    }
    return mounts_of(info);
  }

  std::vector<sdk::Mount> mounts_of(const sdk::SnapshotInfo& info) const {
    std::string mode = info.kind == sdk::SnapshotKind::View ? "ro" : "rw";
    return {{"bind", dir(info.key) + "/fs", "", {mode}}};
  }

  Status save(const sdk::SnapshotInfo& info, const std::string& where = "") const {
    std::ostringstream out;
    out << static_cast<int>(info.kind) << "\n" << info.parent << "\n" << info.created_ns << "\n"
        << info.updated_ns << "\n";
    for (const auto& [k, v] : info.labels) out << k << "=" << v << "\n";
    return sdk::fs::write_file_atomic((where.empty() ? dir(info.key) : where) + "/info", out.str());
  }

  Result<sdk::SnapshotInfo> load(const std::string& key) const {
    auto text = sdk::fs::read_file(dir(key) + "/info");
    if (!text) return make_error(Code::NotFound, "snapshot '" + key + "' does not exist");
    std::istringstream in(*text);
    sdk::SnapshotInfo info;
    info.key = key;
    std::string line;
    std::getline(in, line);
    info.kind = static_cast<sdk::SnapshotKind>(std::stoi(line));
    std::getline(in, info.parent);
    std::getline(in, line);
    info.created_ns = std::stoll(line);
    std::getline(in, line);
    info.updated_ns = std::stoll(line);
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq != std::string::npos) info.labels[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return info;
  }

  Status walk_unlocked(const std::function<bool(const sdk::SnapshotInfo&)>& fn) const {
    std::error_code ec;
    for (const auto& entry : stdfs::directory_iterator(root_ + "/snapshots", ec)) {
      std::string h = entry.path().filename();
      if (h.empty() || h[0] == '.') continue;
      std::string key;
      for (size_t i = 0; i + 1 < h.size(); i += 2) key += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
      auto info = load(key);
      if (info && !fn(*info)) break;
    }
    return {};
  }

  std::string root_;
};

const sdk::PluginDescriptor* describe() {
  static const sdk::DriverDescriptor drivers[] = {sdk::storage_driver<VfsDriver>("vfs")};
  static const sdk::PluginDescriptor plugin = sdk::make_plugin("storage-vfs", VFS_VERSION, drivers);
  return &plugin;
}

}  // namespace

BERTH_PLUGIN_ENTRY(describe)
