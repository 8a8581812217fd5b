#include "overlay_driver.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <set>
#include <cstring>
#include <sstream>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/scope_guard.hpp"

namespace berth::storage::overlay {

namespace fs = sdk::fs;
using sdk::SnapshotKind;

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Keys become file names: keep [A-Za-z0-9._:-], escape the rest as %XX.
std::string escape_key(const std::string& key) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

const char* kind_str(SnapshotKind k) { return sdk::snapshot_kind_name(k); }

Result<SnapshotKind> parse_kind(const std::string& s) {
  if (s == "active") return SnapshotKind::Active;
  if (s == "view") return SnapshotKind::View;
  if (s == "committed") return SnapshotKind::Committed;
  return make_error(Code::Internal, "bad snapshot kind '" + s + "'");
}

Status validate_key(const std::string& key) {
  if (key.empty() || key.size() > 200) {
    return make_error(Code::InvalidArgument, "snapshot key must have 1 to 200 characters");
  }
  return {};
}

}  // namespace

OverlayDriver::OverlayDriver(const sdk::DriverContext& ctx)
    : root_(ctx.state_dir), log_(ctx.logger) {
  // validate_options() has accepted the options before the constructor runs.
  if (auto it = ctx.options.find("index"); it != ctx.options.end()) index_ = it->second;
}

// [drivers."storage.overlay"]
//   index = "off" | "on"   overlayfs's inode index (off by default, as in Docker: it makes
//                          lower layers unshareable between mounts that disagree on it)
Status OverlayDriver::validate_options(const sdk::Options& options) {
  sdk::OptionReader r(options, "storage driver 'overlay'");
  BERTH_TRY(r.get_enum("index", "off", {"on", "off"}).status());
  return r.finish();
}

Status OverlayDriver::init() {
  auto filesystems = fs::read_file("/proc/filesystems");
  if (!filesystems || filesystems->find("\toverlay\n") == std::string::npos) {
    return make_error(Code::Unsupported, "the kernel has no overlay file system");
  }
  if (fs::fs_type_name(root_) == "overlayfs") {
    return make_error(Code::Unsupported,
                      "'" + root_ + "' is on overlayfs, which cannot hold overlay upper dirs");
  }
  BERTH_TRY(fs::make_dirs(root_ + "/keys", 0700));
  BERTH_TRY(fs::make_dirs(root_ + "/snapshots", 0700));
  extra_options_.clear();
  if (fs::exists("/sys/module/overlay/parameters/redirect_dir")) extra_options_.push_back("redirect_dir=nofollow");
  if (fs::exists("/sys/module/overlay/parameters/metacopy")) extra_options_.push_back("metacopy=off");
  return {};
}

sdk::Options OverlayDriver::status() const {
  return {{"Backing Filesystem", fs::fs_type_name(root_)}, {"Supports d_type", "true"},
          {"Root Dir", root_}, {"Index", index_}};
}

std::string OverlayDriver::key_path(const std::string& key) const {
  return root_ + "/keys/" + escape_key(key);
}

std::string OverlayDriver::snap_dir(const std::string& id) const {
  return root_ + "/snapshots/" + id;
}

Result<OverlayDriver::Record> OverlayDriver::load_id(const std::string& id) const {
  auto meta = fs::read_file(snap_dir(id) + "/meta");
  if (!meta) {
    return std::move(meta).error().wrap("read snapshot " + id);
  }
  Record rec;
  rec.id = id;
  std::istringstream in(*meta);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::string k = line.substr(0, eq);
    std::string v = line.substr(eq + 1);
    if (k == "key") {
      rec.info.key = v;
    } else if (k == "parent") {
      rec.info.parent = v;
    } else if (k == "kind") {
      BERTH_ASSIGN(rec.info.kind, parse_kind(v));
    } else if (k == "created") {
      rec.info.created_ns = std::stoll(v);
    } else if (k == "updated") {
      rec.info.updated_ns = std::stoll(v);
    } else if (k.rfind("label.", 0) == 0) {
      rec.info.labels[k.substr(6)] = v;
    }
  }
  return rec;
}

Result<OverlayDriver::Record> OverlayDriver::load(const std::string& key) const {
  auto id = fs::read_file(key_path(key));
  if (!id) {
    if (id.error().code == Code::NotFound) {
      return make_error(Code::NotFound, "snapshot '" + key + "' does not exist");
    }
    return std::move(id).error();
  }
  return load_id(*id);
}

namespace {
fs::Durability durability(SnapshotKind kind) {
  return kind == SnapshotKind::Committed ? fs::Durability::Synced : fs::Durability::Atomic;
}
}  // namespace

Status OverlayDriver::store_meta(const Record& rec) const {
  std::string out = "key=" + rec.info.key + "\nparent=" + rec.info.parent +
                    "\nkind=" + kind_str(rec.info.kind) +
                    "\ncreated=" + std::to_string(rec.info.created_ns) +
                    "\nupdated=" + std::to_string(rec.info.updated_ns) + "\n";
  for (const auto& [k, v] : rec.info.labels) {
    if (k.find_first_of("=\n") != std::string::npos || v.find('\n') != std::string::npos) {
      return make_error(Code::InvalidArgument, "label '" + k + "' has a newline or '='");
    }
    out += "label." + k + "=" + v + "\n";
  }
  // Committed layers must survive a power loss; an active snapshot (a container's root)
  // is as durable as the container record that names it, which is not synced either.
  return fs::write_file_atomic(snap_dir(rec.id) + "/meta", out, 0600, durability(rec.info.kind));
}

Result<sdk::SnapshotInfo> OverlayDriver::stat(const std::string& key) {
  BERTH_ASSIGN(Record rec, load(key));
  return rec.info;
}

Result<sdk::SnapshotInfo> OverlayDriver::update(const sdk::SnapshotInfo& info) {
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(root_ + "/lock"));
  BERTH_ASSIGN(Record rec, load(info.key));
  rec.info.labels = info.labels;
  rec.info.updated_ns = now_ns();
  BERTH_TRY(store_meta(rec));
  return rec.info;
}

Result<sdk::Usage> OverlayDriver::usage(const std::string& key) {
  BERTH_ASSIGN(Record rec, load(key));
  sdk::Usage u;
  BERTH_TRY(fs::disk_usage(snap_dir(rec.id) + "/fs", &u.size, &u.inodes));
  return u;
}

Result<std::vector<sdk::Mount>> OverlayDriver::mounts_of(const Record& rec) const {
  std::vector<std::string> lowers;
  std::string parent = rec.info.parent;
  while (!parent.empty()) {
    BERTH_ASSIGN(Record p, load(parent));
    lowers.push_back(snap_dir(p.id) + "/fs");
    parent = p.info.parent;
  }
  std::string fsdir = snap_dir(rec.id) + "/fs";
  sdk::Mount m;
  if (rec.info.kind == SnapshotKind::View) {
    if (lowers.empty()) {
      return std::vector<sdk::Mount>{{"bind", fsdir, "", {"ro"}}};
    }
    if (lowers.size() == 1) {
      return std::vector<sdk::Mount>{{"bind", lowers[0], "", {"ro"}}};
    }
    std::string opt = "lowerdir=";
    for (size_t i = 0; i < lowers.size(); ++i) {
      opt += (i ? ":" : "") + lowers[i];
    }
    return std::vector<sdk::Mount>{{"overlay", "overlay", "", {opt, "ro"}}};
  }
  if (lowers.empty()) {
    return std::vector<sdk::Mount>{{"bind", fsdir, "", {"rw"}}};
  }
  std::string opt = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) {
    opt += (i ? ":" : "") + lowers[i];
  }
  std::vector<sdk::Mount> out{
      {"overlay", "overlay", "",
       {opt, "upperdir=" + fsdir, "workdir=" + snap_dir(rec.id) + "/work", "index=" + index_}}};
  // Renamed directories and metadata-only copy-ups would leave changes that the upper
  // directory alone does not show (the core's diff reads it), and redirects in a layer
  // are never followed, whatever the kernel's default: said where the kernel knows the
  // options (metacopy= came in 4.19).
  for (const auto& o : extra_options_) out[0].options.push_back(o);
  return out;
}

Result<std::vector<sdk::Mount>> OverlayDriver::mounts(const std::string& key) {
  BERTH_ASSIGN(Record rec, load(key));
  if (rec.info.kind == SnapshotKind::Committed) {
    return make_error(Code::InvalidArgument,
                      "snapshot '" + key + "' is committed; only active snapshots have mounts");
  }
  return mounts_of(rec);
}

Result<std::vector<sdk::Mount>> OverlayDriver::prepare(const std::string& key,
                                                       const std::string& parent,
                                                       const sdk::Labels& labels) {
  return create(key, parent, labels, SnapshotKind::Active);
}

Result<std::vector<sdk::Mount>> OverlayDriver::view(const std::string& key,
                                                    const std::string& parent,
                                                    const sdk::Labels& labels) {
  return create(key, parent, labels, SnapshotKind::View);
}

Result<std::vector<sdk::Mount>> OverlayDriver::create(const std::string& key,
                                                      const std::string& parent,
                                                      const sdk::Labels& labels,
                                                      SnapshotKind kind) {
  BERTH_TRY(validate_key(key));
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(root_ + "/lock"));
  if (fs::exists(key_path(key))) {
    return make_error(Code::AlreadyExists, "snapshot '" + key + "' already exists");
  }
  std::string parent_id;
  if (!parent.empty()) {
    BERTH_ASSIGN(Record p, load(parent));
    if (p.info.kind != SnapshotKind::Committed) {
      return make_error(Code::InvalidArgument, "parent snapshot '" + parent + "' is not committed");
    }
    parent_id = p.id;
  }
  // The number is claimed by making its directory; next-id only saves the search, so it
  // needs no fsync (after a crash, mkdir skips numbers still in use).
  int64_t next = 1;
  if (auto s = fs::read_file(root_ + "/next-id"); s) {
    next = std::atoll(s->c_str()) + 1;
  }
  std::string dir;
  for (;; ++next) {
    dir = snap_dir(std::to_string(next));
    if (::mkdir(dir.c_str(), 0700) == 0) break;
    if (errno != EEXIST) return sys_error("make '" + dir + "'");
  }
  {
    // Rewritten in place, not renamed over: on ext4 a rename that replaces a file flushes
    // the new one's data first (auto_da_alloc), a wait on every create. The lock above
    // keeps readers out, and the fixed width means the file never needs truncating.
    char num[21];
    std::snprintf(num, sizeof num, "%020lld", static_cast<long long>(next));
    int fd = ::open((root_ + "/next-id").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("open '" + root_ + "/next-id'");
    ssize_t n = ::pwrite(fd, num, 20, 0);
    int saved = errno;
    ::close(fd);
    if (n != 20) {
      errno = n < 0 ? saved : EIO;
      return sys_error("write '" + root_ + "/next-id'");
    }
  }
  Record rec;
  rec.id = std::to_string(next);
  rec.info.key = key;
  rec.info.parent = parent;
  rec.info.kind = kind;
  rec.info.labels = labels;
  rec.info.created_ns = rec.info.updated_ns = now_ns();

  sdk::ScopeGuard undo([&] { (void)fs::remove_tree(dir); });
  BERTH_TRY(fs::make_dirs(dir + "/fs", 0755));
  BERTH_TRY(fs::make_dirs(dir + "/work", 0700));
  BERTH_TRY(store_meta(rec));
  if (!parent_id.empty()) {
    BERTH_TRY(fs::make_dirs(snap_dir(parent_id) + "/children", 0700));
    BERTH_TRY(fs::write_file_atomic(snap_dir(parent_id) + "/children/" + rec.id, "", 0600, durability(kind)));
  }
  sdk::ScopeGuard undo_child([&] {
    if (!parent_id.empty()) {
      ::unlink((snap_dir(parent_id) + "/children/" + rec.id).c_str());
    }
  });
  BERTH_TRY(fs::write_file_atomic(key_path(key), rec.id, 0600, durability(kind)));
  BERTH_ASSIGN(auto mounts, mounts_of(rec));
  undo_child.dismiss();
  undo.dismiss();
  return mounts;
}

Status OverlayDriver::commit(const std::string& name, const std::string& key,
                             const sdk::Labels& labels) {
  return freeze(name, key, labels, nullptr);
}

Status OverlayDriver::commit_onto(const std::string& name, const std::string& key,
                                  const std::string& parent, const sdk::Labels& labels) {
  return freeze(name, key, labels, &parent);
}

Status OverlayDriver::freeze(const std::string& name, const std::string& key,
                             const sdk::Labels& labels, const std::string* new_parent) {
  BERTH_TRY(validate_key(name));
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(root_ + "/lock"));
  BERTH_ASSIGN(Record rec, load(key));
  if (rec.info.kind != SnapshotKind::Active) {
    return make_error(Code::InvalidArgument, "snapshot '" + key + "' is not active");
  }
  if (fs::exists(key_path(name))) {
    return make_error(Code::AlreadyExists, "snapshot '" + name + "' already exists");
  }
  std::string parent_id;
  if (new_parent != nullptr) {
    if (!rec.info.parent.empty()) {
      return make_error(Code::InvalidArgument, "snapshot '" + key + "' already has the parent '" +
                                                   rec.info.parent + "'");
    }
    if (!new_parent->empty()) {
      BERTH_ASSIGN(Record p, load(*new_parent));
      if (p.info.kind != SnapshotKind::Committed) {
        return make_error(Code::InvalidArgument, "parent snapshot '" + *new_parent + "' is not committed");
      }
      parent_id = p.id;
    }
  }
  if (!parent_id.empty()) {
    // The child link first: remove() of the parent must refuse from now on.
    BERTH_TRY(fs::make_dirs(snap_dir(parent_id) + "/children", 0700));
    BERTH_TRY(fs::write_file_atomic(snap_dir(parent_id) + "/children/" + rec.id, "", 0600, fs::Durability::Synced));
  }
  sdk::ScopeGuard undo_child([&] {
    if (!parent_id.empty()) ::unlink((snap_dir(parent_id) + "/children/" + rec.id).c_str());
  });
  const Record before = rec;
  if (new_parent != nullptr) rec.info.parent = *new_parent;
  rec.info.key = name;
  rec.info.kind = SnapshotKind::Committed;
  for (const auto& [k, v] : labels) {
    rec.info.labels[k] = v;
  }
  rec.info.updated_ns = now_ns();
  BERTH_TRY(store_meta(rec));
  // Until the new key exists the snapshot is still `key`, active: its metadata says so again.
  sdk::ScopeGuard undo_meta([&] { (void)store_meta(before); });
  BERTH_TRY(fs::write_file_atomic(key_path(name), rec.id, 0600));
  undo_meta.dismiss();
  undo_child.dismiss();
  if (::unlink(key_path(key).c_str()) != 0) {
    return sys_error("remove key file of '" + key + "'");
  }
  (void)fs::remove_tree(snap_dir(rec.id) + "/work");
  return {};
}

Status OverlayDriver::remove(const std::string& key) {
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(root_ + "/lock"));
  BERTH_ASSIGN(Record rec, load(key));
  std::string dir = snap_dir(rec.id);
  if (DIR* d = ::opendir((dir + "/children").c_str())) {
    int children = 0;
    while (dirent* e = ::readdir(d)) {
      children += e->d_name[0] != '.';
    }
    ::closedir(d);
    if (children > 0) {
      return make_error(Code::Conflict, "snapshot '" + key + "' has " +
                                            std::to_string(children) + " child snapshot(s)");
    }
  }
  if (::unlink(key_path(key).c_str()) != 0) {
    return sys_error("remove key file of '" + key + "'");
  }
  if (!rec.info.parent.empty()) {
    if (auto p = load(rec.info.parent); p) {
      ::unlink((snap_dir(p->id) + "/children/" + rec.id).c_str());
    }
  }
  return fs::move_to_trash(dir, root_ + "/trash", rec.id);
}

Status OverlayDriver::walk(const std::function<bool(const sdk::SnapshotInfo&)>& fn) {
  DIR* d = ::opendir((root_ + "/keys").c_str());
  if (d == nullptr) {
    return sys_error("open '" + root_ + "/keys'");
  }
  std::vector<std::string> ids;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') {
      continue;
    }
    if (auto id = fs::read_file(root_ + "/keys/" + e->d_name); id) {
      ids.push_back(*id);
    }
  }
  ::closedir(d);
  for (const auto& id : ids) {
    auto rec = load_id(id);
    if (rec && !fn(rec->info)) {
      break;
    }
  }
  return {};
}

Result<std::string> OverlayDriver::changes_dir(const std::string& key) {
  BERTH_ASSIGN(Record rec, load(key));
  return snap_dir(rec.id) + "/fs";
}

Status OverlayDriver::cleanup() {
  // The engine calls this after every removal (a monitor, after each `run --rm`), so the
  // common case must not hold the lock while it looks at every snapshot: that made the
  // next `run` wait for a survey of all of them (5 ms with 200 containers). The survey
  // runs unlocked (key files name the live numbers: one small read each); only what it
  // cannot account for, a directory or child link with no key naming it, is checked
  // again under the lock, where no create is half-done.
  // False when a key could not be read (not merely gone): then nothing is reclaimed,
  // since any unaccounted directory might be the one it names.
  bool complete = true;
  auto live_numbers = [&] {
    std::set<std::string> live;
    DIR* d = ::opendir((root_ + "/keys").c_str());
    if (d == nullptr) {
      if (errno != ENOENT) complete = false;
      return live;
    }
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name[0] == '.') continue;
      // (Not a key file being written, "<key>.tmp.<pid>": a create killed there has no key.
      // A real key of that shape is found again by is_live below.)
      auto tmp = name.rfind(".tmp.");
      if (tmp != std::string::npos && name.find_first_not_of("0123456789", tmp + 5) == std::string::npos) continue;
      if (auto id = fs::read_file(root_ + "/keys/" + name); id) {
        live.insert(*id);
      } else if (id.error().code != Code::NotFound) {
        complete = false;
      }
    }
    ::closedir(d);
    return live;
  };
  std::set<std::string> live = live_numbers();
  std::vector<std::string> dirs;
  std::vector<std::pair<std::string, std::string>> links;  // (parent number, child number)
  for (const auto& id : fs::list_dir(root_ + "/snapshots")) {
    if (live.count(id) == 0) {
      dirs.push_back(id);
      continue;
    }
    // A child link whose child never got (or lost) its key would block remove().
    for (const auto& child : fs::list_dir(snap_dir(id) + "/children")) {
      if (live.count(child) == 0) links.emplace_back(id, child);
    }
  }
  if (complete && (!dirs.empty() || !links.empty())) {
    BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(root_ + "/lock"));
    // Usually a snapshot made since the survey: its metadata names a key that names it.
    // Otherwise (a commit renames keys) only a fresh survey, under the lock, can tell.
    bool resurveyed = false;
    auto is_live = [&](const std::string& id) {
      if (auto rec = load_id(id); rec) {
        if (auto named = fs::read_file(key_path(rec->info.key)); named && *named == id) return true;
      }
      if (!resurveyed) live = live_numbers(), resurveyed = true;
      return live.count(id) != 0;
    };
    for (const auto& id : dirs) {
      if (!fs::exists(snap_dir(id)) || is_live(id) || !complete) continue;
      log_->info("overlay: removing orphaned snapshot directory " + id);
      BERTH_TRY(fs::move_to_trash(snap_dir(id), root_ + "/trash", id));
    }
    for (const auto& [parent, child] : links) {
      if (!is_live(child) && complete) ::unlink((snap_dir(parent) + "/children/" + child).c_str());
    }
  }
  return fs::empty_trash(root_ + "/trash");
}

}  // namespace berth::storage::overlay
