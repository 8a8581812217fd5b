#include "volumes/volumes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/mount.hpp"
#include "runtime/spawn.hpp"

#include "util/util.hpp"

namespace berth::volumes {

using nlohmann::json;

Result<std::vector<sdk::VolumeInfo>> list(Engine& e) {
  std::vector<sdk::VolumeInfo> out;
  for (const auto& d : e.plugins().volume_driver_names()) {
    BERTH_ASSIGN(auto driver, e.plugins().volume(d));
    BERTH_ASSIGN(auto vs, driver->list());
    for (auto& v : vs) {
      v.driver = d;
      out.push_back(std::move(v));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<sdk::VolumeInfo> find(Engine& e, const std::string& name) {
  for (const auto& d : e.plugins().volume_driver_names()) {
    BERTH_ASSIGN(auto driver, e.plugins().volume(d));
    auto v = driver->get(name);
    if (v) {
      v->driver = d;
      return v;
    }
    if (v.error().code != Code::NotFound) return std::move(v).error();
  }
  return make_error(Code::NotFound, "get " + name + ": no such volume");
}

Result<sdk::VolumeInfo> create(Engine& e, const std::string& name, const std::string& driver_name,
                               const sdk::Options& options, const sdk::Labels& labels) {
  std::string d = driver_name.empty() ? e.config().default_volume_driver : driver_name;
  BERTH_ASSIGN(auto driver, e.plugins().volume(d));
  std::string n = name.empty() ? util::random_hex(32) : name;
  BERTH_TRY(driver->validate(n, options));
  // A name is one volume across drivers.
  if (auto other = find(e, n); other) {
    // Docker: creating an existing name is a no-op; without -d (as for -v NAME) it is
    // whichever driver has it.
    if ((driver_name.empty() || other->driver == d) && options.empty()) return other;
    return make_error(Code::Conflict, "create " + n + ": volume name already in use with driver " + other->driver);
  }
  auto made = driver->create(n, options, labels);
  if (!made && made.error().code == Code::AlreadyExists) return find(e, n);
  BERTH_TRY(made.status());
  made->driver = d;
  return made;
}

Result<std::vector<std::string>> users(Engine& e, const std::string& name) {
  BERTH_ASSIGN(auto st, e.db().prepare(
      "SELECT DISTINCT c.name FROM containers c, json_each(c.spec, '$.Mounts') m "
      "WHERE json_extract(m.value, '$.Type') = 'volume' AND json_extract(m.value, '$.Name') = ? ORDER BY c.name"));
  st.bind(1, name);
  std::vector<std::string> out;
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    out.push_back(st.text(0));
  }
  return out;
}

Status remove(Engine& e, const std::string& name) {
  BERTH_ASSIGN(auto v, find(e, name));
  BERTH_ASSIGN(auto who, users(e, name));
  if (!who.empty()) {
    return make_error(Code::Conflict, "remove " + name + ": volume is in use - [" + util::join(who, ", ") + "]");
  }
  BERTH_ASSIGN(auto driver, e.plugins().volume(v.driver));
  return driver->remove(name);
}

Result<std::vector<std::string>> prune(Engine& e) {
  BERTH_ASSIGN(auto all, list(e));
  std::vector<std::string> removed;
  for (const auto& v : all) {
    BERTH_ASSIGN(auto who, users(e, v.name));
    if (!who.empty()) continue;
    Status s = remove(e, v.name);
    if (s) {
      removed.push_back(v.name);
    } else if (s.error().code != Code::Conflict) {
      return std::move(s).error();
    }
  }
  return removed;
}

void remove_anonymous(Engine& e, const std::vector<Use>& uses) {
  for (const auto& u : uses) {
    auto v = find(e, u.name);
    if (v && v->labels.count(kAnonymousLabel)) (void)remove(e, u.name);
  }
}

namespace {

// Copies the tree at `from` into the existing directory `to`: directories, regular files,
// symlinks, owners, modes and times; other file types are skipped. Returns false on error.
bool copy_tree(const std::string& from, const std::string& to) {
  DIR* d = ::opendir(from.c_str());
  if (d == nullptr) return false;
  bool ok = true;
  while (auto* ent = ::readdir(d)) {
    std::string n = ent->d_name;
    if (n == "." || n == "..") continue;
    std::string src = from + "/" + n, dst = to + "/" + n;
    struct stat st {};
    if (::lstat(src.c_str(), &st) != 0) {
      ok = false;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (::mkdir(dst.c_str(), 0700) != 0 && errno != EEXIST) ok = false;
      ok = copy_tree(src, dst) && ok;
    } else if (S_ISREG(st.st_mode)) {
      int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
      int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      char buf[65536];
      ssize_t r = 0;
      while (in >= 0 && out >= 0 && (r = ::read(in, buf, sizeof buf)) > 0) {
        if (::write(out, buf, static_cast<size_t>(r)) != r) ok = false;
      }
      if (in < 0 || out < 0 || r < 0) ok = false;
      if (in >= 0) ::close(in);
      if (out >= 0) ::close(out);
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t len = ::readlink(src.c_str(), target, sizeof target - 1);
      if (len < 0 || ::symlink(std::string(target, static_cast<size_t>(len)).c_str(), dst.c_str()) != 0) ok = false;
    } else {
      continue;
    }
    (void)::lchown(dst.c_str(), st.st_uid, st.st_gid);
    if (!S_ISLNK(st.st_mode)) (void)::chmod(dst.c_str(), st.st_mode & 07777);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    (void)::utimensat(AT_FDCWD, dst.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
  ::closedir(d);
  return ok;
}

}  // namespace

Status copy_up(const json& spec, const std::vector<sdk::Mount>& root_mounts) {
  std::vector<std::pair<std::string, std::string>> todo;  // destination, volume data
  for (const auto& m : spec.value("Mounts", json::array())) {
    if (m.value("Type", "") != "volume" || m.value("NoCopy", false)) continue;
    std::string data = m.value("Source", "");
    if (data.empty() || !sdk::fs::list_dir(data).empty()) continue;
    todo.emplace_back(m.value("Destination", ""), data);
  }
  if (todo.empty()) return {};
  char tmpl[] = "/tmp/berth-copyup-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return sys_error("make a directory for copy-up");
  std::string root = tmpl;
  // The image's root is mounted only in the helper's own mount namespace.
  auto msg = util::run_forked([&]() -> std::string {
    std::string err = runtime::mount_privately(root_mounts, root);
    if (!err.empty()) return err;
    bool ok = true;
    for (const auto& [dst, data] : todo) {
      struct stat st {};
      std::string src = root + dst;
      if (::lstat(src.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;  // nothing there to copy
      ok = copy_tree(src, data) && ok;
      (void)::chown(data.c_str(), st.st_uid, st.st_gid);
      (void)::chmod(data.c_str(), st.st_mode & 07777);
    }
    return ok ? "" : "copying failed";
  });
  ::rmdir(root.c_str());
  if (!msg) return std::move(msg).error().wrap("copy-up");
  if (!msg->empty()) return make_error(Code::Internal, "copy the image's files into a new volume: " + *msg);
  return {};
}

std::vector<Use> uses_of(const json& spec) {
  std::vector<Use> out;
  for (const auto& m : spec.value("Mounts", json::array())) {
    if (m.value("Type", "") == "volume") out.push_back({m.value("Name", ""), m.value("Driver", "")});
  }
  return out;
}

Status mount_all(Engine& e, const std::string& container_id, const std::vector<Use>& uses) {
  std::vector<Use> done;
  for (const auto& u : uses) {
    auto driver = e.plugins().volume(u.driver);
    Status s = driver ? (*driver)->mount(u.name, container_id).status() : Status(driver.error());
    if (!s) {
      unmount_all(e, container_id, done);
      return std::move(s).error().wrap("mount volume " + u.name);
    }
    done.push_back(u);
  }
  return {};
}

void unmount_all(Engine& e, const std::string& container_id, const std::vector<Use>& uses) {
  for (auto it = uses.rbegin(); it != uses.rend(); ++it) {
    if (auto driver = e.plugins().volume(it->driver); driver) (void)(*driver)->unmount(it->name, container_id);
  }
}

}  // namespace berth::volumes
