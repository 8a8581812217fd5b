#include "containers/copy.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <thread>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/mount.hpp"
#include "berth/sdk/scope_guard.hpp"
#include "containers/container.hpp"
#include "engine.hpp"
#include "images/diff.hpp"
#include "runtime/spawn.hpp"
#include "util/lazy_libs.hpp"
#include "volumes/volumes.hpp"
#include "util/util.hpp"

namespace berth::containers {

namespace fs = sdk::fs;

namespace {

std::string base_name(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

std::string dir_name(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  auto slash = s.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : s.substr(0, slash);
}

// "dir/." asks for the directory's contents rather than the directory.
bool contents_of(const std::string& p) { return p.size() >= 2 && p.compare(p.size() - 2, 2, "/.") == 0; }

// Writes `path` (a file or a tree) as tar entries named `base`, `base/...`.
Status write_tree(const util::ArchiveApi* la, int fd, const std::string& path, const std::string& base, bool follow) {
  archive* a = la->archive_write_new();
  sdk::ScopeGuard free_a([&] { la->archive_write_free(a); });
  la->archive_write_set_format_pax_restricted(a);
  if (la->archive_write_open_fd(a, fd) != ARCHIVE_OK) return make_error(Code::Internal, "start the tar stream");
  images::HardLinks seen;
  std::function<Status(const std::string&, const std::string&, bool)> add = [&](const std::string& p, const std::string& name,
                                                                               bool top) -> Status {
    struct stat st {};
    if ((top && follow ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st)) != 0) return sys_error("stat '" + p + "'");
    BERTH_TRY(images::tar_add(la, a, name, p, st, &seen).status());
    if (!S_ISDIR(st.st_mode)) return {};
    for (const auto& child : fs::list_dir(p)) BERTH_TRY(add(p + "/" + child, name + "/" + child, false));
    return {};
  };
  BERTH_TRY(add(path, base, true));
  if (la->archive_write_close(a) != ARCHIVE_OK) return make_error(Code::Internal, "finish the tar stream");
  return {};
}

// Extracts a tar stream into directory `into`, renaming the leading `base` of every entry
// to `leaf` ("" puts what was under `base` straight into `into`, dropping `base` itself).
// An empty `base` keeps the names as they are (a user's tar stream).
Status extract_tree(const util::ArchiveApi* la, int fd, const std::string& into, const std::string& base,
                    const std::string& leaf, bool keep_owner, bool onto_host) {
  int here = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (::chdir(into.c_str()) != 0) {
    if (here >= 0) ::close(here);
    return sys_error("no such directory: " + into);
  }
  sdk::ScopeGuard back([&] {
    if (here >= 0) {
      (void)::fchdir(here);
      ::close(here);
    }
  });
  archive* in = la->archive_read_new();
  la->archive_read_support_filter_all(in);
  la->archive_read_support_format_tar(in);
  la->archive_read_support_format_gnutar(in);
  archive* disk = la->archive_write_disk_new();
  sdk::ScopeGuard free_all([&] {
    la->archive_read_free(in);
    la->archive_write_close(disk);
    la->archive_write_free(disk);
  });
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
              ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_UNLINK;
  if (keep_owner) flags |= ARCHIVE_EXTRACT_OWNER;
  la->archive_write_disk_set_options(disk, flags);
  if (la->archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK) {
    return make_error(Code::InvalidArgument, std::string("read the tar stream: ") + la->archive_error_string(in));
  }
  for (;;) {
    archive_entry* e = nullptr;
    int r = la->archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return make_error(Code::InvalidArgument, std::string("read the tar stream: ") + la->archive_error_string(in));
    std::string name = la->archive_entry_pathname(e);
    while (util::starts_with(name, "./") && name.size() > 2) name = name.substr(2);
    if (!base.empty()) {
      std::string rest;
      if (name == base || name == base + "/") {
        rest = "";
      } else if (util::starts_with(name, base + "/")) {
        rest = name.substr(base.size());
      } else if (base == ".") {
        rest = "/" + name;
      } else {
        continue;  // not ours
      }
      name = leaf.empty() ? (rest.empty() ? "" : rest.substr(1)) : leaf + rest;
      if (name.empty() || name == "/") continue;
    }
    la->archive_entry_set_pathname(e, name.c_str());
    if (onto_host) {
      // What a container hands the host: no device nodes, no set-id bits (a container's
      // root could otherwise plant a writable disk node or a setuid binary here).
      auto t = la->archive_entry_filetype(e);
      if (t == AE_IFCHR || t == AE_IFBLK) continue;
      la->archive_entry_set_perm(e, la->archive_entry_perm(e) & ~static_cast<mode_t>(06000));
    }
    if (const char* hl = la->archive_entry_hardlink(e); hl != nullptr && !base.empty()) {
      std::string h = hl;
      std::string hrest = h == base ? "" : util::starts_with(h, base + "/") ? h.substr(base.size()) : "/" + h;
      std::string mapped = leaf.empty() ? hrest.substr(hrest.empty() ? 0 : 1) : leaf + hrest;
      la->archive_entry_set_hardlink(e, mapped.c_str());
    }
    if (la->archive_read_extract2(in, e, disk) < ARCHIVE_WARN) {
      return make_error(Code::InvalidArgument, "extract '" + name + "': " + la->archive_error_string(disk));
    }
  }
  return {};
}

// Where a copy lands (Docker's rules): in directory `into`, named `leaf` ("" = into it).
Status place(const std::string& dest, bool src_is_dir, bool contents, const std::string& src_base, std::string* into,
             std::string* leaf) {
  struct stat st {};
  bool exists = ::stat(dest.c_str(), &st) == 0;
  bool dest_dir = exists && S_ISDIR(st.st_mode);
  if (src_is_dir) {
    if (exists && !dest_dir) return make_error(Code::InvalidArgument, "cannot copy a directory to a file: " + dest);
    if (dest_dir) {
      *into = dest;
      *leaf = contents ? "" : src_base;
      return {};
    }
  } else {
    if (dest_dir) {
      *into = dest;
      *leaf = src_base;
      return {};
    }
    if (!dest.empty() && dest.back() == '/') {
      return make_error(Code::NotFound, "destination directory " + dest + " does not exist");
    }
  }
  *into = dir_name(dest);
  *leaf = base_name(dest);
  struct stat pst {};
  if (::stat(into->c_str(), &pst) != 0 || !S_ISDIR(pst.st_mode)) {
    return make_error(Code::NotFound, "no such directory: " + *into);
  }
  return {};
}

// A volume or bind of a stopped container, as its spec records it.
struct Bind {
  std::string source, destination;
  bool rw = true;
};

// In the forked helper: the stopped container's root mounted at `scratch` in a private
// mount namespace, entered with chroot, its binds and volumes over it. Each source is taken
// before the chroot and placed after it, so that a symlink in the container's file system
// resolves inside it, never to a host path. "" or why not.
std::string enter_stopped_root(const std::vector<sdk::Mount>& mounts, const std::string& scratch,
                               const std::vector<Bind>& binds) {
  std::string err = runtime::mount_privately(mounts, scratch);
  if (!err.empty()) return err;
  std::vector<int> trees;
  for (const auto& b : binds) {
    int t = ::open_tree(AT_FDCWD, b.source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (t < 0) return "mount " + b.source + ": " + std::strerror(errno);
    trees.push_back(t);
  }
  if (::chroot(scratch.c_str()) != 0 || ::chdir("/") != 0) {
    return std::string("enter the container's root: ") + std::strerror(errno);
  }
  for (size_t i = 0; i < binds.size(); ++i) {
    const std::string& at = binds[i].destination;
    struct stat st {};
    if (::fstat(trees[i], &st) == 0 && !S_ISDIR(st.st_mode)) {
      (void)fs::make_dirs(dir_name(at), 0755);
      int fd = ::open(at.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) ::close(fd);
    } else {
      (void)fs::make_dirs(at, 0755);
    }
    if (::move_mount(trees[i], "", AT_FDCWD, at.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0 ||
        (!binds[i].rw && ::mount(nullptr, at.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)) {
      return "mount " + binds[i].source + " on " + at + ": " + std::strerror(errno);
    }
  }
  return "";
}

// Runs `work` in a child that sees the container's file system at "/". Its error text comes
// back through a pipe.
// `after_fork` runs in this process once the child exists (threads are started only
// then: a fork while another thread holds a lock would leave the child stuck on it).
Status in_container(Engine& e, const Container& c, const std::function<std::string()>& work,
                    const std::function<void()>& after_fork) {
  int ns = -1;
  std::vector<sdk::Mount> mounts;
  std::string scratch;
  // A stopped container's volumes and binds, mounted over its root as a run would.
  std::vector<Bind> binds;
  std::vector<volumes::Use> uses;
  // The volumes are mounted in the container's own name (a no-op for a driver that counts
  // it already): should this process die before unmounting, removing the container drops
  // the reference, where a caller of its own would hold the volume forever.
  const std::string& caller = c.id;
  if (c.running() && c.pid > 0) {
    ns = ::open(("/proc/" + std::to_string(c.pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return sys_error("open the mount namespace of " + c.short_id());
    // The pid is the container's only while its monitor is alive and is its parent: once
    // the namespace is open, a recycled pid would be somebody else's file system.
    if (!util::process_alive(c.monitor_pid, c.monitor_start) || util::parent_pid(c.pid) != c.monitor_pid) {
      ::close(ns);
      return make_error(Code::Conflict, "container " + c.short_id() + " stopped while it was being copied from");
    }
  } else {
    BERTH_ASSIGN(mounts, e.storage().mounts(c.id));
    for (const auto& m : c.spec.value("Mounts", nlohmann::json::array())) {
      std::string type = m.value("Type", "");
      if (type != "bind" && type != "volume") continue;  // tmpfs holds nothing once stopped
      binds.push_back({m.value("Source", ""), m.value("Destination", ""), m.value("RW", true)});
    }
    uses = volumes::uses_of(c.spec);
    BERTH_TRY(volumes::mount_all(e, caller, uses));
    scratch = e.config().run_root + "/cp-" + util::random_hex(6);
    if (Status s = fs::make_dirs(scratch, 0700); !s) {
      volumes::unmount_all(e, caller, uses);
      return s;
    }
  }
  sdk::ScopeGuard cleanup([&] {
    if (ns >= 0) ::close(ns);
    if (!scratch.empty()) ::rmdir(scratch.c_str());
    if (!uses.empty()) volumes::unmount_all(e, caller, uses);
  });
  BERTH_ASSIGN(std::string msg, util::run_forked(
                                    [&]() -> std::string {
                                      if (ns >= 0) {
                                        if (::setns(ns, CLONE_NEWNS) != 0 || ::chdir("/") != 0) {
                                          return std::string("enter the container: ") + std::strerror(errno);
                                        }
                                      } else if (std::string err = enter_stopped_root(mounts, scratch, binds); !err.empty()) {
                                        return err;
                                      }
                                      return work();
                                    },
                                    after_fork));
  if (!msg.empty()) return make_error(msg.rfind("Could not find", 0) == 0 ? Code::NotFound : Code::InvalidArgument, msg);
  return {};
}

// A path in the container: relative ones start at its working directory, as Docker's.
std::string container_path(const Container& c, const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  std::string wd = c.spec.value("Config", nlohmann::json::object()).value("WorkingDir", "");
  if (wd.empty()) wd = "/";
  return wd + (wd.back() == '/' ? "" : "/") + p;
}

}  // namespace

Status copy_from(Engine& e, const Container& c, const std::string& src_in, const std::string& dest, int out_fd,
                 const CopyOptions& opts) {
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  ::signal(SIGPIPE, SIG_IGN);  // a side that stops early is an error, not a kill
  std::string src = container_path(c, src_in);
  bool contents = contents_of(src);
  std::string path = contents ? src.substr(0, src.size() - 2) : src;
  std::string base = contents ? "." : base_name(src);
  if (base == "/" || base.empty()) base = ".";
  int data[2];
  if (::pipe2(data, O_CLOEXEC) != 0) return sys_error("pipe");
  sdk::ScopeGuard close_read([&] { ::close(data[0]); });
  // The child says first what the source is ('d' or 'f'), then sends the tar.
  std::string name = c.name;
  std::thread reader;
  Status extracted;
  char kind = 0;
  std::string into, leaf;
  Status placed;
  auto read_side = [&] {
    if (::read(data[0], &kind, 1) != 1) return;
    if (dest == "-") {
      char buf[1 << 16];
      for (ssize_t n; (n = ::read(data[0], buf, sizeof buf)) > 0;) {
        if (!util::write_all(out_fd, std::string_view(buf, static_cast<size_t>(n)))) {
          extracted = sys_error("write the tar stream");
          break;
        }
      }
      return;
    }
    placed = place(dest, kind == 'd', contents, base == "." ? base_name(path) : base, &into, &leaf);
    if (!placed) {
      char buf[1 << 16];
      while (::read(data[0], buf, sizeof buf) > 0) {
      }
      return;
    }
    extracted = extract_tree(la, data[0], into, base, leaf, opts.archive, true);
    char buf[1 << 16];
    while (::read(data[0], buf, sizeof buf) > 0) {
    }
  };
  Status s = in_container(e, c, [&]() -> std::string {
    ::close(data[0]);
    struct stat st {};
    if ((opts.follow_link ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) {
      return "Could not find the file " + src_in + " in container " + name;
    }
    if (!S_ISDIR(st.st_mode) && (contents || (!src.empty() && src.back() == '/'))) return src_in + ": not a directory";
    char k = S_ISDIR(st.st_mode) ? 'd' : 'f';
    if (::write(data[1], &k, 1) != 1) return "write";
    Status w = write_tree(la, data[1], path, base, opts.follow_link);
    ::close(data[1]);
    return w ? "" : w.error().what();
  }, [&] {
    ::close(data[1]);
    data[1] = -1;
    reader = std::thread(read_side);
  });
  if (data[1] >= 0) ::close(data[1]);
  if (reader.joinable()) reader.join();
  BERTH_TRY(s);
  BERTH_TRY(placed);
  return extracted;
}

Status copy_to(Engine& e, const Container& c, const std::string& src, const std::string& dest_in, int in_fd,
               const CopyOptions& opts) {
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  ::signal(SIGPIPE, SIG_IGN);
  std::string dest = container_path(c, dest_in);
  bool stream = src == "-";
  bool contents = !stream && contents_of(src);
  std::string path = contents ? src.substr(0, src.size() - 2) : src;
  struct stat st {};
  if (!stream && (opts.follow_link ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) {
    return sys_error("stat " + src);
  }
  bool is_dir = !stream && S_ISDIR(st.st_mode);
  std::string base = contents ? "." : base_name(path);
  int data[2];
  if (::pipe2(data, O_CLOEXEC) != 0) return sys_error("pipe");
  sdk::ScopeGuard close_write([&] {
    if (data[1] >= 0) ::close(data[1]);
  });
  Status written;
  std::thread writer;
  auto write_side = [&] {
    if (stream) {
      char buf[1 << 16];
      for (ssize_t n; (n = ::read(in_fd, buf, sizeof buf)) > 0;) {
        if (!util::write_all(data[1], std::string_view(buf, static_cast<size_t>(n)))) break;
      }
    } else {
      written = write_tree(la, data[1], path, base, opts.follow_link);
    }
    ::close(data[1]);
    data[1] = -1;
  };
  Status s = in_container(e, c, [&]() -> std::string {
    ::close(data[1]);
    std::string into, leaf;
    if (stream) {
      struct stat d {};
      if (::stat(dest.c_str(), &d) != 0 || !S_ISDIR(d.st_mode)) return "destination \"" + dest_in + "\" must be a directory";
      Status x = extract_tree(la, data[0], dest, "", "", opts.archive, false);
      return x ? "" : x.error().what();
    }
    Status p = place(dest, is_dir, contents, base == "." ? base_name(path) : base, &into, &leaf);
    if (!p) return p.error().what();
    // (libarchive only warns when it cannot write there: Docker's refusal, said first.)
    if (struct statvfs vfs {}; ::statvfs(into.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) {
      return "mounted volume is marked read-only";
    }
    // (Not -a: the files belong to the container's root, as Docker's.)
    Status x = extract_tree(la, data[0], into, base, leaf, opts.archive, false);
    return x ? "" : x.error().what();
  }, [&] { writer = std::thread(write_side); });
  ::close(data[0]);
  if (writer.joinable()) {
    writer.join();
  } else {
    ::close(data[1]);
    data[1] = -1;
  }
  BERTH_TRY(s);
  return written;
}

}  // namespace berth::containers
