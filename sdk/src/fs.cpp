#include "berth/sdk/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>
#include <utility>

namespace berth::sdk::fs {

Status make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) {
    return {};
  }
  // Most calls make one new directory in one that exists: try that first (walking from
  // the root is a syscall per component, and cgroup trees are deep).
  if (::mkdir(path.c_str(), mode) == 0) {
    return {};
  }
  if (errno == ENOENT) {
    std::string cur;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      cur = path.substr(0, pos);
      if (cur.empty()) {
        continue;
      }
      if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
        return sys_error("create directory '" + cur + "'");
      }
    }
  } else if (errno != EEXIST) {
    return sys_error("create directory '" + path + "'");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return sys_error("stat '" + path + "'");
  }
  if (!S_ISDIR(st.st_mode)) {
    return make_error(Code::Conflict, "'" + path + "' exists and is not a directory");
  }
  return {};
}

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return sys_error("open '" + path + "'");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      ::close(fd);
      return sys_error("read '" + path + "'", e);
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status write_file_atomic(const std::string& path, const std::string& content, unsigned mode,
                         Durability durability) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return sys_error("create '" + tmp + "'");
  }
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return sys_error("write '" + tmp + "'", e);
    }
    off += static_cast<size_t>(n);
  }
  if (durability == Durability::Synced && ::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return sys_error("fsync '" + tmp + "'", e);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return sys_error("rename '" + tmp + "' to '" + path + "'", e);
  }
  return {};
}

namespace {

Status remove_at(int dirfd, const char* name, dev_t dev, const std::string& shown) {
  struct stat st {};
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status{} : sys_error("stat '" + shown + "'");
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) {
      return sys_error("remove '" + shown + "'");
    }
    return {};
  }
  if (st.st_dev != dev) {
    return make_error(Code::Conflict, "'" + shown + "' is a mount point; not removing it");
  }
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return sys_error("open '" + shown + "'");
  }
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    int e = errno;
    ::close(fd);
    return sys_error("open '" + shown + "'", e);
  }
  Status result;
  std::vector<std::string> names;
  while (dirent* ent = ::readdir(d)) {
    if (std::strcmp(ent->d_name, ".") != 0 && std::strcmp(ent->d_name, "..") != 0) {
      names.emplace_back(ent->d_name);
    }
  }
  for (const auto& n : names) {
    Status s = remove_at(::dirfd(d), n.c_str(), dev, shown + "/" + n);
    if (!s && result) {
      result = std::move(s);
    }
  }
  ::closedir(d);
  if (!result) {
    return result;
  }
  if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return sys_error("remove '" + shown + "'");
  }
  return {};
}

}  // namespace

Status remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status{} : sys_error("stat '" + path + "'");
  }
  return remove_at(AT_FDCWD, path.c_str(), st.st_dev, path);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

namespace {
void usage_walk(int dirfd, dev_t dev, std::set<std::pair<dev_t, ino_t>>* seen, int64_t* bytes,
                int64_t* inodes) {
  DIR* d = ::fdopendir(dirfd);
  if (d == nullptr) {
    ::close(dirfd);
    return;
  }
  while (dirent* ent = ::readdir(d)) {
    if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) {
      continue;
    }
    struct stat st {};
    if (::fstatat(::dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_dev != dev) {
      continue;
    }
    if (st.st_nlink > 1 && !seen->insert({st.st_dev, st.st_ino}).second) {
      continue;
    }
    *inodes += 1;
    // Apparent sizes, directories left out, as Docker's directory.Size: the same files
    // weigh the same whether they were imported, pulled or committed, on any file system.
    if (!S_ISDIR(st.st_mode)) *bytes += static_cast<int64_t>(st.st_size);
    if (S_ISDIR(st.st_mode)) {
      int fd = ::openat(::dirfd(d), ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) {
        usage_walk(fd, dev, seen, bytes, inodes);
      }
    }
  }
  ::closedir(d);
}
}  // namespace

Status disk_usage(const std::string& path, int64_t* bytes, int64_t* inodes) {
  *bytes = 0;
  *inodes = 0;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return sys_error("stat '" + path + "'");
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return sys_error("open '" + path + "'");
  }
  std::set<std::pair<dev_t, ino_t>> seen;
  usage_walk(fd, st.st_dev, &seen, bytes, inodes);
  return {};
}

std::string fs_type_name(const std::string& path) {
  struct statfs sf {};
  if (::statfs(path.c_str(), &sf) != 0) {
    return "unknown";
  }
  switch (static_cast<unsigned long>(sf.f_type)) {
    case EXT4_SUPER_MAGIC: return "extfs";
    case 0x58465342: return "xfs";
    case TMPFS_MAGIC: return "tmpfs";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
    default: return "unknown";
  }
}

Result<FileLock> FileLock::exclusive(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EISDIR) fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return sys_error("open lock '" + path + "'");
  }
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int e = errno;
      ::close(fd);
      return sys_error("lock '" + path + "'", e);
    }
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}
FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  return out;
}

namespace {
std::string unique_suffix() {
  static unsigned counter = 0;
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::to_string(::getpid()) + "-" + std::to_string(ts.tv_sec * 1000000000LL + ts.tv_nsec) + "-" +
         std::to_string(++counter);
}
}  // namespace

Status move_to_trash(const std::string& path, const std::string& trash_dir, const std::string& name) {
  if (!exists(path)) return {};
  BERTH_TRY(make_dirs(trash_dir, 0700));
  std::string to = trash_dir + "/" + name + "." + unique_suffix();
  if (::rename(path.c_str(), to.c_str()) != 0) {
    // (EXDEV and the like: delete in place.)
    return remove_tree(path);
  }
  return {};
}

Status empty_trash(const std::string& trash_dir) {
  std::vector<std::string> claimed;
  const std::string mine = "." + std::to_string(::getpid()) + ".";
  for (const auto& name : list_dir(trash_dir)) {
    if (name[0] == '.') {
      // ".<pid>.<name>": claimed by another process; take it over only if that one died.
      pid_t owner = static_cast<pid_t>(std::atoi(name.c_str() + 1));
      if (owner > 0 && (::kill(owner, 0) == 0 || errno != ESRCH)) continue;
    }
    std::string to = trash_dir + "/" + mine + (name[0] == '.' ? name.substr(name.find('.', 1) + 1) : name);
    if (::rename((trash_dir + "/" + name).c_str(), to.c_str()) == 0) claimed.push_back(to);
  }
  Status result;
  for (const auto& path : claimed) {
    if (Status s = remove_tree(path); !s && result) result = s;
  }
  return result;
}

}  // namespace berth::sdk::fs
