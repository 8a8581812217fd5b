#include "runtime/spawn.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/mount.hpp"
#include "runtime/cgroups.hpp"
#include "util/util.hpp"

namespace berth::runtime {

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Errors inside the child are reported as "<exit code>\n<message>" on the error pipe.
[[noreturn]] void child_fail(int errfd, int code, const std::string& msg) {
  std::string out = std::to_string(code) + "\n" + msg;
  (void)util::write_all(errfd, out);
  ::_exit(code);
}

std::string err_str(const std::string& what) { return what + ": " + std::strerror(errno); }

// clone3 with `args`, born in the cgroup v2 group open as `v2_fd` (if >= 0). A kernel
// before 5.7 knows no CLONE_INTO_CGROUP: the child is then born where the caller is, and
// `*v2_late` says it still has to join the group.
long clone_into_group(struct clone_args* args, int v2_fd, bool* v2_late) {
  *v2_late = false;
  if (v2_fd >= 0) {
    args->flags |= CLONE_INTO_CGROUP;
    args->cgroup = static_cast<uint64_t>(v2_fd);
  }
  long pid = ::syscall(SYS_clone3, args, sizeof *args);
  if (pid < 0 && v2_fd >= 0 && (errno == EINVAL || errno == E2BIG)) {
    args->flags &= ~static_cast<uint64_t>(CLONE_INTO_CGROUP);
    args->cgroup = 0;
    pid = ::syscall(SYS_clone3, args, sizeof *args);
    *v2_late = true;
  }
  return pid;
}

bool mount_or(int errfd, const char* src, const std::string& target, const char* type,
              unsigned long flags, const char* data) {
  if (::mount(src, target.c_str(), type, flags, data) != 0) {
    child_fail(errfd, 125, err_str(std::string("mount ") + (type ? type : "bind") + " on '" + target + "'"));
  }
  return true;
}

void ensure_dir(int errfd, const std::string& path) {
  if (Status s = sdk::fs::make_dirs(path, 0755); !s) child_fail(errfd, 125, s.error().what());
}

long openat2_in_root(int root_fd, const std::string& rel, uint64_t flags) {
  struct open_how how {};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
}

// A mount target inside the container's root that the image cannot redirect: every
// component is resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the image (say
// /etc -> /../../host/etc) stays inside the root; missing components are made (never
// through a symlink: mkdirat and O_EXCL do not follow one). Returns /proc/self/fd/N of
// the target, to mount on, as runc does.
std::string safe_target(int errfd, const std::string& root, const std::string& inside, bool dir) {
  static int root_fd = -1;
  static std::string root_path;
  if (root_fd < 0 || root_path != root) {
    root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    root_path = root;
    if (root_fd < 0) child_fail(errfd, 125, err_str("open the root '" + root + "'"));
  }
  std::vector<std::string> parts;
  for (const auto& p : util::split(inside, '/')) {
    if (!p.empty() && p != ".") parts.push_back(p);
  }
  std::string rel = ".";
  for (size_t i = 0; i < parts.size(); ++i) {
    bool last = i + 1 == parts.size();
    std::string next = rel + "/" + parts[i];
    long fd = openat2_in_root(root_fd, next, O_PATH | (last && !dir ? 0 : O_DIRECTORY));
    if (fd < 0 && errno == ENOENT) {
      long parent = openat2_in_root(root_fd, rel, O_PATH | O_DIRECTORY);
      if (parent < 0) child_fail(errfd, 125, err_str("open '" + rel.substr(1) + "' in the container"));
      int made;
      if (last && !dir) {
        made = ::openat(static_cast<int>(parent), parts[i].c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (made >= 0) ::close(made);
      } else {
        made = ::mkdirat(static_cast<int>(parent), parts[i].c_str(), 0755);
      }
      if (made < 0 && errno != EEXIST) child_fail(errfd, 125, err_str("make mount point '" + inside + "'"));
      // A dangling symlink: make what it points to, inside the root, as a directory.
      char link[4096];
      ssize_t n = made < 0 ? ::readlinkat(static_cast<int>(parent), parts[i].c_str(), link, sizeof link - 1) : -1;
      ::close(static_cast<int>(parent));
      if (n > 0 && !(last && !dir)) {
        static int depth = 0;
        if (++depth > 16) child_fail(errfd, 125, "too many levels of symbolic links under '" + inside + "'");
        link[n] = '\0';
        std::string target = link[0] == '/' ? std::string(link) : rel.substr(1) + "/" + link;
        (void)safe_target(errfd, root, target, true);
        --depth;
      }
      fd = openat2_in_root(root_fd, next, O_PATH | (last && !dir ? 0 : O_DIRECTORY));
    }
    if (fd < 0) child_fail(errfd, 125, err_str("mount point '" + inside + "' in the container"));
    if (!last) {
      ::close(static_cast<int>(fd));
      rel = next;
      continue;
    }
    return "/proc/self/fd/" + std::to_string(fd);
  }
  return root;  // "/" itself
}


void setup_dev(int errfd, const std::string& root, const SpawnConfig& cfg) {
  std::string dev = root + "/dev";
  mount_or(errfd, "tmpfs", safe_target(errfd, root, "/dev", true), "tmpfs", MS_NOSUID | MS_STRICTATIME,
           "mode=755,size=65536k");
  struct Node {
    const char* name;
    unsigned major, minor;
  };
  static const Node nodes[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
                               {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  ::umask(0);
  for (const auto& n : nodes) {
    std::string p = dev + "/" + n.name;
    if (::mknod(p.c_str(), S_IFCHR | 0666, makedev(n.major, n.minor)) != 0) {
      child_fail(errfd, 125, err_str("mknod '" + p + "'"));
    }
  }
  ::umask(022);
  ensure_dir(errfd, dev + "/pts");
  mount_or(errfd, "devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620,gid=5");
  ensure_dir(errfd, dev + "/shm");
  std::string shm_opts = "mode=1777,size=" + std::to_string(cfg.shm_size / 1024) + "k";
  mount_or(errfd, "shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, shm_opts.c_str());
  for (const auto& d : cfg.devices) {
    struct stat st {};
    if (::stat(d.host.c_str(), &st) != 0) child_fail(errfd, 125, err_str("error gathering device information while adding custom device \"" + d.host + "\""));
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) child_fail(errfd, 125, "\"" + d.host + "\" is not a device");
    std::string p = root + d.container;
    ensure_dir(errfd, p.substr(0, p.rfind('/')));
    ::umask(0);
    if (::mknod(p.c_str(), (st.st_mode & S_IFMT) | (st.st_mode & 0777), st.st_rdev) != 0) {
      child_fail(errfd, 125, err_str("mknod '" + d.container + "'"));
    }
    ::umask(022);
  }
  ensure_dir(errfd, dev + "/mqueue");
  mount_or(errfd, "mqueue", dev + "/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  static const std::pair<const char*, const char*> links[] = {
      {"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
      {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"}};
  for (const auto& [name, target] : links) {
    std::string p = dev + "/" + name;
    if (::symlink(target, p.c_str()) != 0) child_fail(errfd, 125, err_str("symlink '" + p + "'"));
  }
}

// /proc and /sys, with the kernel knobs a container must not touch made read-only or hidden.
void setup_proc_sys(int errfd, const std::string& root, const SpawnConfig& cfg) {
  std::string proc = root + "/proc";
  mount_or(errfd, "proc", safe_target(errfd, root, "/proc", true), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  // --sysctl before /proc/sys goes read-only (the caller allowed only namespaced ones).
  for (const auto& [key, value] : cfg.sysctls) {
    std::string rel = key;
    std::replace(rel.begin(), rel.end(), '.', '/');
    std::string path = proc + "/sys/" + rel;
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || !util::write_all(fd, value)) child_fail(errfd, 125, err_str("set sysctl " + key + "=" + value));
    ::close(fd);
  }
  if (cfg.privileged) {
    mount_or(errfd, "sysfs", safe_target(errfd, root, "/sys", true), "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    return;
  }
  for (const char* p : {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"}) {
    std::string t = root + p;
    if (::access(t.c_str(), F_OK) != 0) continue;
    mount_or(errfd, t.c_str(), t, nullptr, MS_BIND | MS_REC, nullptr);
    mount_or(errfd, nullptr, t, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  }
  mount_or(errfd, "sysfs", safe_target(errfd, root, "/sys", true), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
           nullptr);
  // moby's masked paths: files read as empty (/dev/null over them), directories as an
  // empty read-only tmpfs.
  for (const char* p : {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                        "/sys/devices/virtual/powercap"}) {
    std::string t = root + p;
    struct stat st {};
    if (::stat(t.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      mount_or(errfd, "tmpfs", t, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k");
    } else {
      mount_or(errfd, (root + "/dev/null").c_str(), t, nullptr, MS_BIND, nullptr);
    }
  }
}

unsigned long propagation_flags(const std::string& p) {
  if (p == "shared") return MS_SHARED;
  if (p == "rshared") return MS_SHARED | MS_REC;
  if (p == "slave") return MS_SLAVE;
  if (p == "rslave") return MS_SLAVE | MS_REC;
  if (p == "private") return MS_PRIVATE;
  return MS_PRIVATE | MS_REC;
}

// What "/" becomes in the container's mount namespace. Private (the usual case) cuts every
// tie to the host's mounts in one call, binds included. A shared or slave bind needs its
// copy of the host's mount to stay in the host's peer group, so then "/" is made shared
// (or a slave) instead, and each bind is given its own propagation after it is mounted.
unsigned long root_propagation(const std::vector<BindMount>& binds) {
  unsigned long flags = MS_PRIVATE | MS_REC;
  for (const auto& b : binds) {
    if (b.propagation == "shared" || b.propagation == "rshared") return MS_SHARED | MS_REC;
    if (b.propagation == "slave" || b.propagation == "rslave") flags = MS_SLAVE | MS_REC;
  }
  return flags;
}

void setup_binds(int errfd, const std::string& root, const std::vector<BindMount>& binds, bool root_private) {
  for (const auto& b : binds) {
    if (b.tmpfs) {
      // Docker's defaults (nosuid, nodev, noexec) unless the options say otherwise.
      unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
      std::string data;
      for (const auto& o : util::split(b.tmpfs_options, ',')) {
        if (o.empty()) continue;
        if (o == "ro") flags |= MS_RDONLY;
        else if (o == "rw") flags &= ~static_cast<unsigned long>(MS_RDONLY);
        else if (o == "exec") flags &= ~static_cast<unsigned long>(MS_NOEXEC);
        else if (o == "noexec") flags |= MS_NOEXEC;
        else if (o == "suid") flags &= ~static_cast<unsigned long>(MS_NOSUID);
        else if (o == "nosuid") flags |= MS_NOSUID;
        else if (o == "dev") flags &= ~static_cast<unsigned long>(MS_NODEV);
        else if (o == "nodev") flags |= MS_NODEV;
        else data += (data.empty() ? "" : ",") + o;
      }
      std::string target = safe_target(errfd, root, b.destination, true);
      mount_or(errfd, "tmpfs", target, "tmpfs", flags, data.empty() ? nullptr : data.c_str());
      continue;
    }
    struct stat st {};
    if (::stat(b.source.c_str(), &st) != 0) {
      child_fail(errfd, 125, err_str("bind source '" + b.source + "'"));
    }
    std::string target = safe_target(errfd, root, b.destination, S_ISDIR(st.st_mode));
    mount_or(errfd, b.source.c_str(), target, nullptr, MS_BIND | MS_REC, nullptr);
    if (!root_private) {
      // A bind of a shared source joins its peer group; each keeps only what it asked for.
      std::string mounted = safe_target(errfd, root, b.destination, S_ISDIR(st.st_mode));
      mount_or(errfd, nullptr, mounted, nullptr, propagation_flags(b.propagation), nullptr);
    }
    if (b.readonly) {
      // (Re-resolved: the old descriptor names what is under the new mount.)
      std::string mounted = safe_target(errfd, root, b.destination, S_ISDIR(st.st_mode));
      mount_or(errfd, nullptr, mounted, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, nullptr);
    }
  }
}

void loopback_up(int errfd) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) child_fail(errfd, 125, err_str("socket for lo"));
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) child_fail(errfd, 125, err_str("get lo flags"));
  ifr.ifr_flags |= IFF_UP;
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) child_fail(errfd, 125, err_str("bring lo up"));
  ::close(s);
}

// Looks `name` up in a passwd/group style file inside the container.
bool lookup_id(const char* file, const std::string& name, uid_t* id, gid_t* gid) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto f = util::split(line, ':');
    if (f.size() >= 3 && f[0] == name) {
      *id = static_cast<uid_t>(std::stoul(f[2]));
      if (gid != nullptr && f.size() >= 4) *gid = static_cast<gid_t>(std::stoul(f[3]));
      return true;
    }
  }
  return false;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// The passwd entry with this uid: its name and primary group. False when there is none.
bool lookup_uid(uid_t uid, std::string* name, gid_t* gid) {
  std::ifstream in("/etc/passwd");
  std::string line;
  while (std::getline(in, line)) {
    auto f = util::split(line, ':');
    if (f.size() >= 4 && all_digits(f[2]) && static_cast<uid_t>(std::stoul(f[2])) == uid) {
      *name = f[0];
      if (all_digits(f[3])) *gid = static_cast<gid_t>(std::stoul(f[3]));
      return true;
    }
  }
  return false;
}

// The home directory /etc/passwd gives `uid`; "/" when it lists none (as runc).
std::string home_of(uid_t uid) {
  std::ifstream in("/etc/passwd");
  std::string line;
  while (std::getline(in, line)) {
    auto f = util::split(line, ':');
    if (f.size() >= 6 && all_digits(f[2]) && static_cast<uid_t>(std::stoul(f[2])) == uid && !f[5].empty()) return f[5];
  }
  return "/";
}

// HOME from the image's passwd for the user the program runs as, unless the image or -e
// set it. (Read before the user switch: /etc/passwd may not be readable after it.)
std::vector<std::string> with_home(const std::vector<std::string>& env, uid_t uid) {
  for (const auto& kv : env) {
    if (util::starts_with(kv, "HOME=")) return env;
  }
  std::vector<std::string> out = env;
  out.push_back("HOME=" + home_of(uid));
  return out;
}

// The groups of /etc/group that list `name` as a member (its supplementary groups).
std::vector<gid_t> member_groups(const std::string& name) {
  std::vector<gid_t> out;
  std::ifstream in("/etc/group");
  std::string line;
  while (std::getline(in, line)) {
    auto f = util::split(line, ':');
    if (f.size() < 4 || !all_digits(f[2])) continue;
    for (const auto& m : util::split(f[3], ',')) {
      if (m == name) out.push_back(static_cast<gid_t>(std::stoul(f[2])));
    }
  }
  return out;
}

// As runc resolves a user: a name or uid from the image's /etc/passwd (a uid it does not
// list runs with group 0), its primary group unless one is given, and the groups that
// list it as a member.
uid_t switch_user(int errfd, const std::string& user, int tty_fd = -1) {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name = "root";
  if (!user.empty()) {
    std::string u = user.substr(0, user.find(':'));
    std::string g = user.find(':') == std::string::npos ? "" : user.substr(user.find(':') + 1);
    if (all_digits(u)) {
      uid = static_cast<uid_t>(std::stoul(u));
      if (!lookup_uid(uid, &name, &gid)) name.clear();
    } else if (lookup_id("/etc/passwd", u, &uid, &gid)) {
      name = u;
    } else {
      child_fail(errfd, 125, "unable to find user " + u + ": no matching entries in passwd file");
    }
    if (!g.empty()) {
      if (all_digits(g)) {
        gid = static_cast<gid_t>(std::stoul(g));
      } else if (!lookup_id("/etc/group", g, &gid, nullptr)) {
        child_fail(errfd, 125, "unable to find group " + g + ": no matching entries in group file");
      }
    }
  }
  // The terminal belongs to the user the program runs as (as runc makes it).
  if (tty_fd >= 0 && ::fchown(tty_fd, uid, gid) != 0) child_fail(errfd, 125, err_str("chown the terminal"));
  std::vector<gid_t> groups = name.empty() ? std::vector<gid_t>{} : member_groups(name);
  if (::setgroups(groups.size(), groups.data()) != 0) child_fail(errfd, 125, err_str("setgroups"));
  if (::setgid(gid) != 0) child_fail(errfd, 125, err_str("setgid"));
  if (::setuid(uid) != 0) child_fail(errfd, 125, err_str("setuid"));
  return uid;
}

// PATH lookup as execvp would, with Docker's messages and exit codes.
std::string find_executable(int errfd, const std::string& name, const std::vector<std::string>& env) {
  auto quoted = "exec: \"" + name + "\"";
  if (name.find('/') != std::string::npos) {
    struct stat st {};
    if (::stat(name.c_str(), &st) != 0) {
      child_fail(errfd, 127, quoted + ": stat " + name + ": no such file or directory");
    }
    if (S_ISDIR(st.st_mode)) child_fail(errfd, 126, quoted + ": is a directory");
    if (::access(name.c_str(), X_OK) != 0) child_fail(errfd, 126, quoted + ": permission denied");
    return name;
  }
  std::string path = kDefaultPath;
  for (const auto& e : env) {
    if (util::starts_with(e, "PATH=")) path = e.substr(5);
  }
  bool denied = false;
  for (const auto& dir : util::split(path, ':')) {
    std::string cand = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (::stat(cand.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    denied = true;
  }
  if (denied) child_fail(errfd, 126, quoted + ": permission denied");
  child_fail(errfd, 127, quoted + ": executable file not found in $PATH");
}

constexpr const char* kCapNames[] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE"};

// Every capability not in `keep` leaves the bounding set, so that nothing the container
// runs can have it (a root program gets exactly the bounding set at exec).
void drop_capabilities(int errfd, const std::vector<int>& keep) {
  for (int cap = 0; cap <= 63; ++cap) {
    if (std::find(keep.begin(), keep.end(), cap) != keep.end()) continue;
    if (::prctl(PR_CAPBSET_READ, cap) != 1) continue;  // unknown to this kernel, or gone
    if (::prctl(PR_CAPBSET_DROP, cap) != 0) child_fail(errfd, 125, err_str("drop capability " + std::to_string(cap)));
  }
}

// In the child, inside the container's root: a new pseudo-terminal from its devpts; the
// master goes to the monitor, the slave becomes the controlling terminal and stdio.
// Returns the slave.
int open_console(int errfd, int sock) {
  int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) child_fail(errfd, 125, err_str("open /dev/ptmx"));
  if (::unlockpt(master) != 0) child_fail(errfd, 125, err_str("unlockpt"));
  char name[64];
  if (::ptsname_r(master, name, sizeof name) != 0) child_fail(errfd, 125, err_str("ptsname"));
  int slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) child_fail(errfd, 125, err_str(std::string("open ") + name));
  char byte = 'c';
  struct iovec iov {&byte, 1};
  char ctl[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &master, sizeof(int));
  if (::sendmsg(sock, &msg, 0) != 1) child_fail(errfd, 125, err_str("send the terminal to the monitor"));
  ::close(master);
  ::close(sock);
  if (::ioctl(slave, TIOCSCTTY, 0) != 0) child_fail(errfd, 125, err_str("make the terminal controlling"));
  for (int fd = 0; fd < 3; ++fd) {
    if (::dup2(slave, fd) < 0) child_fail(errfd, 125, err_str("set up the terminal"));
  }
  return slave;
}

// The last step of every container process: a clean signal state, every descriptor but
// stdio and the error pipe closed by exec, and exec's failures as Docker reports them.
[[noreturn]] void exec_program(int errfd, const std::string& exe, const std::vector<std::string>& args,
                               const std::vector<std::string>& env) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  ::execve(exe.c_str(), argv.data(), envp.data());
  int e = errno;
  std::string quoted = "exec: \"" + args[0] + "\"";
  if (e == ENOENT) child_fail(errfd, 127, quoted + ": no such file or directory");
  if (e == EACCES) child_fail(errfd, 126, quoted + ": permission denied");
  if (e == ENOEXEC) child_fail(errfd, 126, quoted + ": exec format error");
  child_fail(errfd, 126, quoted + ": " + std::strerror(e));
}

// --init: this process stays PID 1 and forks the program: it forwards every signal it
// gets to the program, reaps whatever is orphaned into it, and exits as the program did
// (128 + the signal when it was killed), which is what the monitor records. Returns in
// the program's process.
void run_as_init(int errfd) {
  sigset_t all, old;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, &old);
  pid_t prog = ::fork();
  if (prog < 0) child_fail(errfd, 125, err_str("fork the program under --init"));
  if (prog == 0) {
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return;
  }
  ::close(errfd);  // the program's copy reports exec failures; EOF comes at its exec
  // Inside the container this process must not show the host's berth command line.
  ::prctl(PR_SET_NAME, "berth-init");
  util::set_command_line("/sbin/berth-init");
  for (;;) {
    siginfo_t si {};
    if (::sigwaitinfo(&all, &si) < 0) continue;
    if (si.si_signo != SIGCHLD) {
      ::kill(prog, si.si_signo);
      continue;
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == prog) ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
}

// /dev, /proc and /sys are where the runtime works by path: an image that makes one a
// symlink is refused rather than followed.
void refuse_symlinked_mount_points(int errfd, const std::string& root) {
  for (const char* p : {"/dev", "/proc", "/sys"}) {
    struct stat st {};
    if (::lstat((root + p).c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      child_fail(errfd, 125, std::string("the image's ") + p + " is a symbolic link; refusing to mount over it");
    }
  }
}

// A v1 group the child moves itself into: the hierarchy's root (opened by the parent
// before the clone: after pivot_root the host's /sys/fs/cgroup is out of sight, and the
// descriptor reaches it still) and the group's path below it.
struct V1Group {
  int root_fd = -1;
  std::string mount_point;
  std::string path;
};

[[noreturn]] void child_main(const SpawnConfig& cfg, int syncfd, int errfd, const std::vector<V1Group>& v1) {
  // The parent makes the v1 cgroups meanwhile; we wait for them only before the cgroup
  // namespace and the user's program, which must start inside them.
  ::setsid();
  ::prctl(PR_SET_PDEATHSIG, 0);
  // --network container:X: that container's namespace, entered before /sys is mounted
  // (sysfs shows the interfaces of the namespace that mounts it).
  if (cfg.join_netns_fd >= 0 && ::setns(cfg.join_netns_fd, CLONE_NEWNET) != 0) {
    child_fail(errfd, 125, err_str("join the network namespace of the other container"));
  }

  const unsigned long root_prop = root_propagation(cfg.binds);
  const bool root_private = (root_prop & MS_PRIVATE) != 0;
  if (::mount(nullptr, "/", nullptr, root_prop, nullptr) != 0) {
    child_fail(errfd, 125, err_str("set the propagation of /"));
  }
  const std::string& root = cfg.rootfs;
  if (!root_private) {
    // The container's own mounts (its root, /proc, ...) must not reach the host: the mount
    // that holds the root directory is made private, so nothing mounted on it propagates.
    // (pivot_root also refuses a new root whose parent mount is shared.)
    char real[PATH_MAX];
    if (::realpath(root.c_str(), real) == nullptr) child_fail(errfd, 125, err_str("resolve the root '" + root + "'"));
    auto holder = sdk::mount_holding(real);
    if (!holder) child_fail(errfd, 125, "find the mount holding the root: " + holder.error().what());
    mount_or(errfd, nullptr, holder->point, nullptr, MS_PRIVATE, nullptr);
  }
  if (Status s = sdk::apply_mounts(cfg.root_mounts, root); !s) {
    child_fail(errfd, 125, "mount root file system: " + s.error().what());
  }
  util::timing_mark("child: root mounted");
  refuse_symlinked_mount_points(errfd, root);
  setup_dev(errfd, root, cfg);
  util::timing_mark("child: /dev made");
  setup_proc_sys(errfd, root, cfg);
  util::timing_mark("child: /proc, /sys mounted");
  setup_binds(errfd, root, cfg.binds, root_private);
  util::timing_mark("child: binds mounted");
  // --read-only: the root itself; what is mounted on it (/dev, /proc, volumes) stays as it is.
  if (cfg.readonly_rootfs) {
    mount_or(errfd, root.c_str(), root, nullptr, MS_BIND | MS_REC, nullptr);
    mount_or(errfd, nullptr, root, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr);
  }

  // The old root's mounts may still be peers of the host's (shared or slave binds): they
  // are made slaves before they are detached, so that cannot unmount anything on the host.
  // mount(2) does not look through the old root stacked on "." after pivot_root (umount2
  // does), so the old root is named by a descriptor opened before, as runc does.
  int old_root = root_private ? -1 : ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (!root_private && old_root < 0) child_fail(errfd, 125, err_str("open the old root"));
  if (::chdir(root.c_str()) != 0) child_fail(errfd, 125, err_str("chdir '" + root + "'"));
  if (::syscall(SYS_pivot_root, ".", ".") != 0) child_fail(errfd, 125, err_str("pivot_root"));
  util::timing_mark("child: pivoted");
  if (old_root >= 0) {
    if (::fchdir(old_root) != 0) child_fail(errfd, 125, err_str("enter the old root"));
    ::close(old_root);
    mount_or(errfd, nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr);
  }
  if (::umount2(".", MNT_DETACH) != 0) child_fail(errfd, 125, err_str("detach old root"));
  util::timing_mark("child: old root detached");
  if (::chdir("/") != 0) child_fail(errfd, 125, err_str("chdir /"));

  if (::sethostname(cfg.hostname.data(), cfg.hostname.size()) != 0) {
    child_fail(errfd, 125, err_str("sethostname"));
  }
  if (cfg.new_netns) loopback_up(errfd);
  util::timing_mark("child: lo up");

  int tty = -1;
  if (cfg.console_socket >= 0) {
    tty = open_console(errfd, cfg.console_socket);
  } else {
    int in = cfg.stdin_fd >= 0 ? cfg.stdin_fd : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || ::dup2(in, 0) < 0) child_fail(errfd, 125, err_str("set up stdin"));
    if (cfg.stdout_fd >= 0 && ::dup2(cfg.stdout_fd, 1) < 0) child_fail(errfd, 125, err_str("set up stdout"));
    if (cfg.stderr_fd >= 0 && ::dup2(cfg.stderr_fd, 2) < 0) child_fail(errfd, 125, err_str("set up stderr"));
  }

  // The working directory is made when missing, as Docker does for WORKDIR.
  std::string cwd = cfg.cwd.empty() ? "/" : cfg.cwd;
  if (::chdir(cwd.c_str()) != 0) {
    if (Status s = sdk::fs::make_dirs(cwd, 0755); !s || ::chdir(cwd.c_str()) != 0) {
      child_fail(errfd, 125, err_str("chdir to cwd (\"" + cwd + "\") set in config.json"));
    }
  }
  char go = 0;
  if (::read(syncfd, &go, 1) != 1) ::_exit(125);
  ::close(syncfd);
  for (const auto& g : v1) {
    int fd = ::openat(g.root_fd, (g.path + "/tasks").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || !join_self(fd)) {
      child_fail(errfd, 125, err_str("join cgroup '" + g.mount_point + "/" + g.path + "'"));
    }
    ::close(fd);
    ::close(g.root_fd);
  }
  util::timing_mark("child: in cgroups");
  // (Before switch_user: a process that is no longer root cannot make namespaces.)
  if (::unshare(CLONE_NEWCGROUP) != 0 && errno != EINVAL) {
    child_fail(errfd, 125, err_str("unshare cgroup namespace"));
  }
  for (const auto& l : cfg.rlimits) {
    struct rlimit rl {l.soft, l.hard};
    if (::setrlimit(l.resource, &rl) != 0) child_fail(errfd, 125, err_str("set ulimit " + std::to_string(l.resource)));
  }
  if (!cfg.privileged) drop_capabilities(errfd, cfg.capabilities);
  uid_t uid = switch_user(errfd, cfg.user, tty);
  const std::vector<std::string> env = with_home(cfg.env, uid);
  std::string exe = find_executable(errfd, cfg.argv[0], env);
  util::timing_mark("child: exec");

  if (cfg.init) run_as_init(errfd);  // returns in the program's process only
  exec_program(errfd, exe, cfg.argv, env);
}

// What a child wrote on its error pipe (child_fail's "<exit code>\n<message>"), read
// until every writer has exec'd or exited; the pipe is closed.
std::string read_report(int fd) {
  std::string report;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) report.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return report;
}

// Splits a report into `failure`; a report without a code line is an engine error.
void parse_report(const std::string& report, StartFailure* failure) {
  auto nl = report.find('\n');
  failure->exit_code = nl == std::string::npos ? 125 : std::atoi(report.substr(0, nl).c_str());
  failure->message = nl == std::string::npos ? report : report.substr(nl + 1);
}

}  // namespace

Result<Spawned> spawn_container(const SpawnConfig& cfg, StartFailure* failure) {
  failure->exit_code = 125;
  failure->message.clear();
  if (cfg.argv.empty()) {
    failure->message = "no command specified";
    return make_error(Code::InvalidArgument, failure->message);
  }
  int sync[2], err[2];
  if (::pipe2(sync, O_CLOEXEC) != 0) return sys_error("pipe");
  if (::pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(sync[0]);
    ::close(sync[1]);
    return sys_error("pipe", e);
  }
  std::vector<std::string> made;
  auto fail_early = [&](const Error& why) -> Error {
    for (int fd : {sync[0], sync[1], err[0], err[1]}) ::close(fd);
    (void)destroy_cgroups(made);
    failure->message = why.what();
    return why;
  };
  // The v2 group first: the child is born in it. The v1 hierarchies' roots are opened
  // now for the child, which moves itself into its groups there once they are made.
  int v2_fd = -1;
  std::vector<V1Group> v1;
  if (!cfg.cgroups.empty()) {
    auto r = create_cgroups(cfg.cgroups, true, cfg.limits);
    if (!r) return fail_early(r.error());
    made = std::move(*r);
    if (!made.empty()) {
      v2_fd = ::open(made.front().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (v2_fd < 0) return fail_early(sys_error("open '" + made.front() + "'"));
    }
    for (const auto& c : cfg.cgroups) {
      if (c.hierarchy.v2) continue;
      V1Group g{::open(c.hierarchy.mount_point.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), c.hierarchy.mount_point,
                c.dir.substr(c.hierarchy.mount_point.size() + 1)};
      if (g.root_fd < 0) {
        Error e = sys_error("open '" + c.hierarchy.mount_point + "'");
        for (const auto& o : v1) ::close(o.root_fd);
        if (v2_fd >= 0) ::close(v2_fd);
        return fail_early(e);
      }
      v1.push_back(std::move(g));
    }
  }
  auto close_group_fds = [&] {
    for (auto& g : v1) {
      if (g.root_fd >= 0) ::close(g.root_fd);
      g.root_fd = -1;
    }
    if (v2_fd >= 0) ::close(v2_fd);
    v2_fd = -1;
  };
  struct clone_args args {};
  args.flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_PIDFD;
  if (cfg.new_netns) args.flags |= CLONE_NEWNET;
  int pidfd = -1;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  // (Born outside the v2 group on an old kernel: joined below.)
  bool v2_late = false;
  long pid = clone_into_group(&args, v2_fd, &v2_late);
  if (pid < 0) {
    int e = errno;
    close_group_fds();
    return fail_early(sys_error("create namespaces", e));
  }
  if (pid == 0) {
    ::close(sync[1]);
    ::close(err[0]);
    child_main(cfg, sync[0], err[1], v1);
  }
  close_group_fds();
  ::close(sync[0]);
  ::close(err[1]);
  const int mount_ns = ::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
  auto abort_child = [&](const std::string& why) -> Error {
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
    ::close(sync[1]);
    ::close(err[0]);
    ::close(pidfd);
    if (mount_ns >= 0) ::close(mount_ns);
    (void)destroy_cgroups(made);
    failure->message = why;
    return make_error(Code::Internal, why);
  };
  util::timing_mark("spawn: cloned");
  if (!cfg.cgroups.empty()) {
    auto r = create_cgroups(cfg.cgroups, false, cfg.limits);
    if (!r) return abort_child(r.error().what());
    made.insert(made.end(), r->begin(), r->end());
    util::timing_mark("spawn: cgroups made");
    if (v2_late) {
      std::string procs = made.front() + "/cgroup.procs";
      int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      bool ok = fd >= 0 && util::write_all(fd, std::to_string(pid));
      if (fd >= 0) ::close(fd);
      if (!ok) return abort_child(err_str("add the container to '" + procs + "'"));
    }
  }
  if (cfg.before_start) {
    if (Status s = cfg.before_start(static_cast<pid_t>(pid)); !s) return abort_child(s.error().what());
    util::timing_mark("spawn: networks joined");
  }
  char go = 1;
  // A child that failed before reading this has closed its end (EPIPE); its report below
  // says why.
  bool told = ::write(sync[1], &go, 1) == 1;
  int write_errno = errno;
  ::close(sync[1]);
  std::string report = read_report(err[0]);
  if (report.empty() && !told) {
    report = "125\nstart container process: " + std::string(std::strerror(write_errno));
  }
  if (!report.empty()) {
    ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
    ::close(pidfd);
    if (mount_ns >= 0) ::close(mount_ns);
    (void)destroy_cgroups(made);
    parse_report(report, failure);
    Code code = failure->exit_code == 127 ? Code::NotFound
                : failure->exit_code == 126 ? Code::Forbidden
                                            : Code::Internal;
    return make_error(code, failure->message);
  }
  return Spawned{static_cast<pid_t>(pid), pidfd, mount_ns, std::move(made)};
}

namespace {

// In the intermediate child: enter the namespaces, clone the process that execs (a
// sibling, CLONE_PARENT; detached, the child of a reaper forked for it) and send its pid
// on `pid_out`. Exits with 0 when that process was made; errors go to `errfd` as
// child_fail() writes them.
[[noreturn]] void exec_intermediate(const ExecConfig& cfg, int errfd, int pid_out) {
  if (cfg.detached) {
    // A detached program needs a parent that outlives the CLI and reaps it at once: the
    // host's init would, in its own time, and until then the zombie keeps the
    // container's cgroups busy (rm -f waited 1.3 s here). This process hands over to a
    // child of its own, the reaper, and leaves; the CLI reaps it now. The reaper is in
    // none of the container's groups and holds none of the CLI's descriptors.
    pid_t reaper = ::fork();
    if (reaper < 0) child_fail(errfd, 125, err_str("fork the exec's reaper"));
    if (reaper > 0) ::_exit(0);
    ::setsid();
    // The CLI's stdio (a caller's pipes, say) must not stay open for the program's life.
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(null, 2) < 0) {
      child_fail(errfd, 125, err_str("detach the exec's reaper from the CLI's output"));
    }
    util::close_all_except({errfd, pid_out, cfg.console_socket, cfg.stdin_fd, cfg.stdout_fd, cfg.stderr_fd});
  }
  // Descriptors first: after setns(CLONE_NEWNS) the host's /proc is out of reach.
  static const std::pair<const char*, int> kNamespaces[] = {
      {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
      {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
  std::vector<std::pair<int, int>> fds;
  std::string base = "/proc/" + std::to_string(cfg.target) + "/ns/";
  for (const auto& [name, type] : kNamespaces) {
    int fd = ::open((base + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT && type == CLONE_NEWCGROUP) continue;
      child_fail(errfd, 125, err_str(std::string("open the container's ") + name + " namespace"));
    }
    fds.emplace_back(fd, type);
  }
  // The program enters the container's groups itself, this process none: the v2 group at
  // birth (CLONE_INTO_CGROUP: a write to cgroup.procs takes the kernel's global
  // cgroup_threadgroup_rwsem, whose first writer after a quiet spell waits out RCU grace
  // periods; an exec alone took 22 ms here, 6 ms right after another), the v1 groups by
  // join_self() through their tasks files, opened here while the host's mounts are in view.
  std::vector<int> v1_tasks;
  int v2_fd = -1;
  for (const auto& d : cfg.cgroup_dirs) {
    int fd = ::open((d + "/tasks").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && v2_fd < 0) {
      v2_fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (v2_fd < 0) child_fail(errfd, 125, err_str("open '" + d + "'"));
      continue;
    }
    if (fd < 0) child_fail(errfd, 125, err_str("open '" + d + "/tasks'"));
    v1_tasks.push_back(fd);
  }
  // Every namespace but the cgroup one: a process in a cgroup namespace may only move
  // between groups below its root, and this one is not in the container's group yet
  // (the kernel answers ENOENT). The program enters it once born inside the group.
  int cgroup_ns = -1;
  for (const auto& [fd, type] : fds) {
    if (type == CLONE_NEWCGROUP) {
      cgroup_ns = fd;
      continue;
    }
    // The network namespace of a --network host container is the host's own: nothing to do.
    if (::setns(fd, type) != 0) child_fail(errfd, 125, err_str("enter the container's namespaces"));
    ::close(fd);
  }
  struct clone_args args {};
  // (With CLONE_PARENT the child inherits this process's exit signal, SIGCHLD; clone3
  // wants exit_signal 0 then.)
  // (Attached, the CLI waits for the program: it is the CLI's child. Detached, the reaper's.)
  args.flags = cfg.detached ? 0 : CLONE_PARENT;
  if (cfg.detached) args.exit_signal = SIGCHLD;
  // (On an old kernel the program joins the v2 group itself, before the namespace.)
  bool v2_late = false;
  long pid = clone_into_group(&args, v2_fd, &v2_late);
  if (pid < 0) child_fail(errfd, 125, err_str("clone into the container"));
  if (pid == 0) {
    ::close(pid_out);
    for (int fd : v1_tasks) {
      if (!join_self(fd)) child_fail(errfd, 125, err_str("join the container's cgroups"));
      ::close(fd);
    }
    if (v2_late) {
      int procs = ::openat(v2_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
      bool ok = procs >= 0 && util::write_all(procs, "0");
      if (!ok) child_fail(errfd, 125, err_str("join the container's v2 cgroup"));
      ::close(procs);
    }
    if (v2_fd >= 0) ::close(v2_fd);
    if (cgroup_ns >= 0) {
      if (::setns(cgroup_ns, CLONE_NEWCGROUP) != 0) child_fail(errfd, 125, err_str("enter the container's cgroup namespace"));
      ::close(cgroup_ns);
    }
    int tty = -1;
    if (cfg.console_socket >= 0) {
      // A session of its own, so that the terminal can become its controlling one.
      ::setsid();
      tty = open_console(errfd, cfg.console_socket);
    } else {
      int in = cfg.stdin_fd >= 0 ? cfg.stdin_fd : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (in < 0 || ::dup2(in, 0) < 0) child_fail(errfd, 125, err_str("set up stdin"));
      int out = cfg.stdout_fd >= 0 ? cfg.stdout_fd : ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      int err = cfg.stderr_fd >= 0 ? cfg.stderr_fd : out;
      if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) child_fail(errfd, 125, err_str("set up output"));
    }
    std::string cwd = cfg.cwd.empty() ? "/" : cfg.cwd;
    if (::chdir(cwd.c_str()) != 0) {
      child_fail(errfd, 126, err_str("chdir to cwd (\"" + cwd + "\") set in config.json"));
    }
    for (const auto& l : cfg.rlimits) {
      struct rlimit rl {l.soft, l.hard};
      if (::setrlimit(l.resource, &rl) != 0) child_fail(errfd, 125, err_str("set ulimit " + std::to_string(l.resource)));
    }
    if (!cfg.privileged) drop_capabilities(errfd, cfg.capabilities);
    uid_t uid = switch_user(errfd, cfg.user, tty);
    const std::vector<std::string> env = with_home(cfg.env, uid);
    std::string exe = find_executable(errfd, cfg.argv[0], env);
    exec_program(errfd, exe, cfg.argv, env);
  }
  pid_t child = static_cast<pid_t>(pid);
  (void)!::write(pid_out, &child, sizeof child);
  if (!cfg.detached) ::_exit(0);
  // The reaper: nothing of the CLI's but what the wait needs. (The program's own copy of
  // errfd closes at its exec, which is the CLI's sign that it ran.)
  for (int fd : v1_tasks) ::close(fd);
  for (int fd : {errfd, pid_out, v2_fd, cgroup_ns, cfg.console_socket, cfg.stdin_fd, cfg.stdout_fd, cfg.stderr_fd}) {
    if (fd > 2) ::close(fd);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ::_exit(0);
}

}  // namespace

Result<Spawned> exec_in_container(const ExecConfig& cfg, StartFailure* failure) {
  failure->exit_code = 125;
  failure->message.clear();
  if (cfg.argv.empty()) {
    failure->message = "No exec command specified";
    return make_error(Code::InvalidArgument, failure->message);
  }
  int err[2], pids[2];
  if (::pipe2(err, O_CLOEXEC) != 0) return sys_error("pipe");
  if (::pipe2(pids, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(err[0]);
    ::close(err[1]);
    return sys_error("pipe", e);
  }
  pid_t mid = ::fork();
  if (mid < 0) {
    int e = errno;
    for (int fd : {err[0], err[1], pids[0], pids[1]}) ::close(fd);
    return sys_error("fork", e);
  }
  if (mid == 0) {
    ::close(err[0]);
    ::close(pids[0]);
    exec_intermediate(cfg, err[1], pids[1]);
  }
  ::close(err[1]);
  ::close(pids[1]);
  pid_t child = 0;
  ssize_t got = ::read(pids[0], &child, sizeof child);
  ::close(pids[0]);
  int status = 0;
  ::waitpid(mid, &status, 0);
  // The error pipe closes when the program execs (close-on-exec) or its maker gives up.
  std::string report = read_report(err[0]);
  if (!report.empty() || got != sizeof child || child <= 0) {
    if (got == sizeof child && child > 0) ::waitpid(child, nullptr, 0);
    parse_report(report.empty() ? "125\nthe exec helper exited before starting the program" : report, failure);
    // Docker's exec reports a program it cannot run (missing or not executable) as 126.
    if (failure->exit_code == 127) failure->exit_code = 126;
    return make_error(failure->exit_code == 126 ? Code::NotFound : Code::Internal, failure->message);
  }
  // (A detached program is its reaper's child, which may have reaped it already: its pid
  // could name another process by now, so no pidfd is made for it.)
  int pidfd = cfg.detached ? -1 : static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  return Spawned{child, pidfd};
}

int recv_console(int sock) {
  char byte = 0;
  struct iovec iov {&byte, 1};
  char ctl[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return -1;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

const std::vector<std::string>& default_capabilities() {
  // moby's oci/caps/defaults.go.
  static const std::vector<std::string> kDefault = {"CHOWN",  "DAC_OVERRIDE", "FSETID",           "FOWNER",
                                                    "MKNOD",  "NET_RAW",      "SETGID",           "SETUID",
                                                    "SETFCAP", "SETPCAP",     "NET_BIND_SERVICE", "SYS_CHROOT",
                                                    "KILL",   "AUDIT_WRITE"};
  return kDefault;
}

int capability_number(const std::string& name) {
  std::string n = util::to_upper(name);
  if (util::starts_with(n, "CAP_")) n = n.substr(4);
  for (size_t i = 0; i < sizeof kCapNames / sizeof kCapNames[0]; ++i) {
    if (n == kCapNames[i]) return static_cast<int>(i);
  }
  return -1;
}

std::string mount_privately(const std::vector<sdk::Mount>& mounts, const std::string& dir) {
  if (::unshare(CLONE_NEWNS) != 0) return std::string("unshare mount namespace: ") + std::strerror(errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return std::string("make / private: ") + std::strerror(errno);
  if (Status s = sdk::apply_mounts(mounts, dir); !s) return s.error().what();
  return "";
}

}  // namespace berth::runtime
