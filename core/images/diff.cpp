#include "images/diff.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "berth/sdk/scope_guard.hpp"
#include "util/lazy_libs.hpp"
#include "util/util.hpp"

namespace berth::images {

namespace {

enum class What { Present, Whiteout, Opaque };

struct Item {
  std::string rel;  // "etc/hosts"
  What what = What::Present;
  std::string src;  // the file as it is now (Present)
  struct stat st {};
  char report = 0;  // 'A', 'C', 'D' for `diff`; 0: not reported (a directory only carried)
  bool hidden = false;  // a deletion an opaque directory already carries in a layer
};

std::vector<std::string> children(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// The engine's own files, bind-mounted over whatever is there: the empty mount points it
// made are not the container's changes (Docker hides them the same way).
bool engine_file(const std::string& rel) {
  return rel == "etc/hostname" || rel == "etc/hosts" || rel == "etc/resolv.conf" || rel == ".dockerenv";
}

// A directory's own change: its mode or owner (its time changes with whatever happens in
// it, which is reported for itself).
bool same_dir_meta(const struct stat& a, const struct stat& b) {
  return a.st_mode == b.st_mode && a.st_uid == b.st_uid && a.st_gid == b.st_gid;
}

bool same_meta(const struct stat& a, const struct stat& b) {
  return a.st_mode == b.st_mode && a.st_uid == b.st_uid && a.st_gid == b.st_gid &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         (S_ISDIR(a.st_mode) || a.st_size == b.st_size) && a.st_rdev == b.st_rdev;
}

std::string option(const sdk::Mount& m, const std::string& key) {
  for (const auto& o : m.options) {
    if (util::starts_with(o, key + "=")) return o.substr(key.size() + 1);
  }
  return "";
}

class Walker {
 public:
  std::vector<Item> items;

  // Overlay: the upper directory against the lower ones (top first).
  void overlay(const std::string& upper, const std::vector<std::string>& lowers) {
    upper_ = upper;
    lowers_ = lowers;
    walk_upper("");
  }

  // Two plain trees.
  void trees(const std::string& now, const std::string& before) { walk_pair(now, before, ""); }

 private:
  bool lower_stat(const std::string& rel, struct stat* st) const {
    for (const auto& l : lowers_) {
      if (::lstat((l + "/" + rel).c_str(), st) == 0) return !(S_ISCHR(st->st_mode) && st->st_rdev == 0);
    }
    return false;
  }

  // Returns whether anything under `rel` is reported.
  bool walk_upper(const std::string& rel) {
    bool any = false;
    for (const auto& name : children(upper_ + (rel.empty() ? "" : "/" + rel))) {
      std::string r = rel.empty() ? name : rel + "/" + name;
      if (engine_file(r)) continue;
      Item it;
      it.rel = r;
      it.src = upper_ + "/" + r;
      if (::lstat(it.src.c_str(), &it.st) != 0) continue;
      struct stat below {};
      bool in_lower = lower_stat(r, &below);
      if (S_ISCHR(it.st.st_mode) && it.st.st_rdev == 0) {
        it.what = What::Whiteout;
        it.report = in_lower ? 'D' : 0;
        any = any || in_lower;
        items.push_back(it);
        continue;
      }
      size_t at = items.size();
      items.push_back(it);
      if (!S_ISDIR(it.st.st_mode)) {
        items[at].report = in_lower ? 'C' : 'A';
        any = true;
        continue;
      }
      char v[4] = {0};
      bool opaque = ::lgetxattr(it.src.c_str(), "trusted.overlay.opaque", v, sizeof v) > 0 && v[0] == 'y';
      if (opaque) {
        Item o;
        o.rel = r;
        o.what = What::Opaque;
        items.push_back(o);
        // What the lower layers had here is gone, but for what the upper has again.
        if (in_lower) {
          auto now = children(it.src);
          for (const auto& l : lowers_) {
            for (const auto& c : children(l + "/" + r)) {
              if (!std::binary_search(now.begin(), now.end(), c)) {
                Item d;
                d.rel = r + "/" + c;
                d.what = What::Whiteout;
                d.report = 'D';
                d.hidden = true;
                items.push_back(d);
                any = true;
              }
            }
          }
        }
      }
      bool inside = walk_upper(r);
      if (!in_lower) {
        items[at].report = 'A';
      } else if (inside || opaque || !same_dir_meta(it.st, below)) {
        items[at].report = 'C';
      }
      any = any || items[at].report != 0;
    }
    return any;
  }

  // Only reported items are kept: an unchanged file or directory (with nothing changed
  // under it) leaves no trace.
  bool walk_pair(const std::string& now, const std::string& before, const std::string& rel) {
    bool any = false;
    auto n = children(now + (rel.empty() ? "" : "/" + rel));
    auto b = children(before + (rel.empty() ? "" : "/" + rel));
    for (const auto& name : n) {
      std::string r = rel.empty() ? name : rel + "/" + name;
      if (engine_file(r)) continue;
      Item it;
      it.rel = r;
      it.src = now + "/" + r;
      if (::lstat(it.src.c_str(), &it.st) != 0) continue;
      struct stat old {};
      bool had = ::lstat((before + "/" + r).c_str(), &old) == 0;
      bool type_same = had && (old.st_mode & S_IFMT) == (it.st.st_mode & S_IFMT);
      size_t at = items.size();
      items.push_back(it);
      if (S_ISDIR(it.st.st_mode)) {
        // A new directory (or one that was a file): everything in it is new.
        bool inside = walk_pair(now, type_same ? before : "/nonexistent-berth", r);
        items[at].report = !had ? 'A' : (!type_same || inside || !same_dir_meta(it.st, old)) ? 'C' : 0;
      } else {
        items[at].report = !had ? 'A' : (!type_same || !same_meta(it.st, old)) ? 'C' : 0;
      }
      if (items[at].report == 0) {
        items.erase(items.begin() + static_cast<long>(at));
      } else {
        any = true;
      }
    }
    for (const auto& name : b) {
      if (std::binary_search(n.begin(), n.end(), name)) continue;
      Item d;
      d.rel = rel.empty() ? name : rel + "/" + name;
      d.what = What::Whiteout;
      d.report = 'D';
      items.push_back(d);
      any = true;
    }
    return any;
  }

  std::string upper_;
  std::vector<std::string> lowers_;
};

Result<std::vector<Item>> collect(const std::vector<sdk::Mount>& mounts, const std::vector<sdk::Mount>& parent_mounts) {
  Walker w;
  if (mounts.size() == 1 && mounts[0].type == "overlay" && !option(mounts[0], "upperdir").empty()) {
    w.overlay(option(mounts[0], "upperdir"), util::split(option(mounts[0], "lowerdir"), ':'));
  } else if (mounts.size() == 1 && mounts[0].type == "bind" && mounts[0].target.empty()) {
    std::string before = "/nonexistent-berth";
    if (parent_mounts.size() == 1 && parent_mounts[0].type == "bind") {
      before = parent_mounts[0].source;
    } else if (!parent_mounts.empty()) {
      return make_error(Code::Unsupported, "cannot compare with a parent mounted as " + parent_mounts[0].type);
    }
    w.trees(mounts[0].source, before);
  } else {
    return make_error(Code::Unsupported, "the storage driver's mounts cannot be compared (" +
                                             (mounts.empty() ? std::string("none") : mounts[0].type) + ")");
  }
  std::stable_sort(w.items.begin(), w.items.end(), [](const Item& a, const Item& b) { return a.rel < b.rel; });
  return w.items;
}

}  // namespace

namespace {

// The file's extended attributes, as a layer carries them (security.capability above all:
// setcap'd binaries need it). trusted.* is the kernel's and overlay's bookkeeping and
// security.selinux the host's labels: neither belongs in an image.
void add_xattrs(const util::ArchiveApi* la, archive_entry* e, const std::string& path) {
  std::vector<char> names(1024);
  ssize_t n;
  while ((n = ::llistxattr(path.c_str(), names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (n <= 0) return;
  std::vector<char> value(256);
  for (const char* name = names.data(); name < names.data() + n; name += std::strlen(name) + 1) {
    if (util::starts_with(name, "trusted.") || std::strcmp(name, "security.selinux") == 0) continue;
    ssize_t v;
    while ((v = ::lgetxattr(path.c_str(), name, value.data(), value.size())) < 0 && errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (v >= 0) la->archive_entry_xattr_add_entry(e, name, value.data(), static_cast<size_t>(v));
  }
}

}  // namespace

Result<int64_t> tar_add(const util::ArchiveApi* la, archive* a, const std::string& name_in, const std::string& path,
                        const struct stat& st, HardLinks* seen) {
  auto fail = [&](const std::string& what) {
    return make_error(Code::Internal, what + ": " + (la->archive_error_string(a) ? la->archive_error_string(a) : "?"));
  };
  archive_entry* e = la->archive_entry_new();
  sdk::ScopeGuard free_e([&] { la->archive_entry_free(e); });
  std::string name = S_ISDIR(st.st_mode) ? name_in + "/" : name_in;
  la->archive_entry_set_pathname(e, name.c_str());
  la->archive_entry_set_perm(e, st.st_mode & 07777);
  la->archive_entry_set_uid(e, st.st_uid);
  la->archive_entry_set_gid(e, st.st_gid);
  la->archive_entry_set_mtime(e, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  bool data = false;
  if (S_ISREG(st.st_mode) && st.st_nlink > 1 && seen->count({st.st_dev, st.st_ino})) {
    la->archive_entry_set_filetype(e, AE_IFREG);
    la->archive_entry_set_hardlink(e, (*seen)[{st.st_dev, st.st_ino}].c_str());
    la->archive_entry_set_size(e, 0);
  } else if (S_ISREG(st.st_mode)) {
    if (st.st_nlink > 1) (*seen)[{st.st_dev, st.st_ino}] = name_in;
    la->archive_entry_set_filetype(e, AE_IFREG);
    la->archive_entry_set_size(e, st.st_size);
    data = true;
  } else if (S_ISDIR(st.st_mode)) {
    la->archive_entry_set_filetype(e, AE_IFDIR);
  } else if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    if (n < 0) return sys_error("read link '" + path + "'");
    target[n] = '\0';
    la->archive_entry_set_filetype(e, AE_IFLNK);
    la->archive_entry_set_symlink(e, target);
  } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    la->archive_entry_set_filetype(e, S_ISCHR(st.st_mode) ? AE_IFCHR : AE_IFBLK);
    la->archive_entry_set_rdev(e, st.st_rdev);
  } else if (S_ISFIFO(st.st_mode)) {
    la->archive_entry_set_filetype(e, AE_IFIFO);
  } else {
    return int64_t{0};  // sockets are not carried
  }
  add_xattrs(la, e, path);
  if (la->archive_write_header(a, e) != ARCHIVE_OK) return fail("write " + name);
  int64_t total = 0;
  if (data) {
    int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return sys_error("read '" + path + "'");
    sdk::ScopeGuard close_in([&] { ::close(in); });
    std::vector<char> buf(1 << 17);
    for (ssize_t n; (n = ::read(in, buf.data(), buf.size())) > 0;) {
      if (la->archive_write_data(a, buf.data(), static_cast<size_t>(n)) < 0) return fail("write " + name);
      total += n;
    }
  }
  return total;
}

Result<std::vector<Change>> changes(const std::vector<sdk::Mount>& mounts, const std::vector<sdk::Mount>& parent_mounts) {
  BERTH_ASSIGN(auto items, collect(mounts, parent_mounts));
  std::vector<Change> out;
  for (const auto& it : items) {
    if (it.report != 0) out.push_back({it.report, "/" + it.rel});
  }
  return out;
}

Result<NormalizedLayer> write_changes(const std::vector<sdk::Mount>& mounts, const std::vector<sdk::Mount>& parent_mounts,
                                      const std::string& out_path) {
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  BERTH_ASSIGN(auto items, collect(mounts, parent_mounts));
  int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("create '" + out_path + "'");
  sdk::ScopeGuard closer([&] { ::close(fd); });
  util::Sha256 hash;
  int64_t total = 0;
  struct Sink {
    int fd;
    util::Sha256* hash;
    bool failed = false;
  } sink{fd, &hash};
  archive* a = la->archive_write_new();
  sdk::ScopeGuard free_a([&] { la->archive_write_free(a); });
  la->archive_write_set_format_pax_restricted(a);
  la->archive_write_set_bytes_per_block(a, 10240);
  auto write_cb = [](archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
    auto* s = static_cast<Sink*>(client);
    if (!util::write_all(s->fd, std::string_view(static_cast<const char*>(buf), n))) {
      s->failed = true;
      return -1;
    }
    s->hash->update(buf, n);
    return static_cast<la_ssize_t>(n);
  };
  if (la->archive_write_open(a, &sink, nullptr, write_cb, nullptr) != ARCHIVE_OK) {
    return make_error(Code::Internal, std::string("start the layer: ") + la->archive_error_string(a));
  }
  HardLinks seen;
  auto fail = [&](const std::string& what) {
    return make_error(Code::Internal, what + ": " + (la->archive_error_string(a) ? la->archive_error_string(a) : "?"));
  };
  for (const auto& it : items) {
    archive_entry* e = la->archive_entry_new();
    sdk::ScopeGuard free_e([&] { la->archive_entry_free(e); });
    std::string dir = it.rel.find('/') == std::string::npos ? "" : it.rel.substr(0, it.rel.rfind('/') + 1);
    std::string base = it.rel.substr(dir.size());
    if (it.what != What::Present) {
      // A deletion hidden by an opaque directory needs no whiteout of its own.
      if (it.hidden) continue;
      std::string name = it.what == What::Opaque ? it.rel + "/.wh..wh..opq" : dir + ".wh." + base;
      la->archive_entry_set_pathname(e, name.c_str());
      la->archive_entry_set_filetype(e, AE_IFREG);
      la->archive_entry_set_perm(e, 0644);
      la->archive_entry_set_size(e, 0);
      if (la->archive_write_header(a, e) != ARCHIVE_OK) return fail("write " + name);
      continue;
    }
    if (it.report == 0) continue;  // a directory nothing in it changed
    BERTH_ASSIGN(int64_t n, tar_add(la, a, it.rel, it.src, it.st, &seen));
    total += n;
  }
  if (la->archive_write_close(a) != ARCHIVE_OK || sink.failed) return fail("finish the layer");
  return NormalizedLayer{"sha256:" + hash.hex(), total};
}

}  // namespace berth::images
