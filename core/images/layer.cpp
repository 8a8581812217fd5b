#include "images/layer.hpp"

#include "util/lazy_libs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <set>

#include <cstring>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/mount.hpp"
#include "runtime/spawn.hpp"
#include "util/util.hpp"

namespace berth::images {

namespace {

struct HashingWriter {
  int fd;
  util::Sha256 hash;
  bool failed = false;
};

la_ssize_t write_cb(struct archive*, void* client, const void* buf, size_t n) {
  auto* w = static_cast<HashingWriter*>(client);
  if (!util::write_all(w->fd, std::string_view(static_cast<const char*>(buf), n))) {
    w->failed = true;
    return -1;
  }
  w->hash.update(buf, n);
  return static_cast<la_ssize_t>(n);
}

// "./a/b" -> "a/b", "/etc" -> "etc". Returns false if a ".." component climbs out.
bool clean_path(std::string* p) {
  std::vector<std::string> out;
  for (const auto& c : util::split(*p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      return false;
    }
    out.push_back(c);
  }
  bool dir = !p->empty() && p->back() == '/';
  *p = util::join(out, "/");
  if (dir && !p->empty()) *p += "/";
  return true;
}

}  // namespace

Result<NormalizedLayer> normalize_layer(int in_fd, const std::string& out_path) {
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) return sys_error("create '" + out_path + "'");
  HashingWriter w{out_fd, {}, false};
  archive* in = la->archive_read_new();
  archive* out = la->archive_write_new();
  la->archive_read_support_filter_all(in);
  la->archive_read_support_format_tar(in);
  la->archive_read_support_format_gnutar(in);
  la->archive_write_set_format_pax_restricted(out);
  la->archive_write_set_bytes_per_block(out, 10240);
  NormalizedLayer result;
  auto fail = [&](const std::string& msg) -> Error {
    la->archive_read_free(in);
    la->archive_write_free(out);
    ::close(out_fd);
    ::unlink(out_path.c_str());
    return make_error(Code::InvalidArgument, msg);
  };
  if (la->archive_read_open_fd(in, in_fd, 65536) != ARCHIVE_OK) {
    return fail(std::string("read archive: ") + la->archive_error_string(in));
  }
  if (la->archive_write_open(out, &w, nullptr, write_cb, nullptr) != ARCHIVE_OK) {
    return fail(std::string("write layer: ") + la->archive_error_string(out));
  }
  archive_entry* entry = nullptr;
  std::vector<char> buf(1 << 16);
  std::set<std::string> seen;
  for (;;) {
    int r = la->archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return fail(std::string("read archive: ") + la->archive_error_string(in));
    }
    const char* raw = la->archive_entry_pathname(entry);
    std::string name = raw != nullptr ? raw : "";
    std::string original = name;
    if (!clean_path(&name)) {
      return fail("archive entry '" + original + "' escapes the root with '..'");
    }
    if (name.empty()) continue;  // the root itself
    la->archive_entry_set_pathname(entry, name.c_str());
    if (const char* hl = la->archive_entry_hardlink(entry); hl != nullptr) {
      std::string target = hl;
      if (!clean_path(&target) || target.empty()) {
        return fail("archive entry '" + original + "' is a hard link to '" + hl +
                    "', outside the root");
      }
      // A hard link may only name an entry the archive already holds: anything else
      // would link to whatever the host has at that path, or fail half-way.
      if (seen.count(target) == 0) {
        return fail("archive entry '" + original + "' is a hard link to '" + hl +
                    "', which is not in the archive before it");
      }
      la->archive_entry_set_hardlink(entry, target.c_str());
    }
    seen.insert(name);
    if (la->archive_write_header(out, entry) != ARCHIVE_OK) {
      return fail(std::string("write layer: ") + la->archive_error_string(out));
    }
    if (la->archive_entry_filetype(entry) == AE_IFREG) result.size += la->archive_entry_size(entry);
    for (;;) {
      la_ssize_t n = la->archive_read_data(in, buf.data(), buf.size());
      if (n < 0) return fail(std::string("read archive: ") + la->archive_error_string(in));
      if (n == 0) break;
      if (la->archive_write_data(out, buf.data(), static_cast<size_t>(n)) < 0) {
        return fail(std::string("write layer: ") + la->archive_error_string(out));
      }
    }
  }
  if (la->archive_write_close(out) != ARCHIVE_OK || w.failed) {
    return fail("write layer '" + out_path + "' failed");
  }
  la->archive_read_free(in);
  la->archive_write_free(out);
  if (::fsync(out_fd) != 0) {
    int e = errno;
    ::close(out_fd);
    ::unlink(out_path.c_str());
    return sys_error("fsync '" + out_path + "'", e);
  }
  ::close(out_fd);
  result.diff_id = "sha256:" + w.hash.hex();
  return result;
}

namespace {

// A layer blob's uncompressed bytes, piece by piece as the tar reader asks for them, each
// piece hashed on its way (the diff id is the sha256 of the whole uncompressed stream).
// gzip goes through ISA-L when it is there; anything else through libarchive's filters.
class Inflater {
 public:
  Inflater(int fd, const util::IsalApi* isal, const util::ArchiveApi* la, util::Sha256* hash)
      : fd_(fd), isal_(isal), la_(la), hash_(hash) {}
  ~Inflater() {
    if (raw_ != nullptr) la_->archive_read_free(raw_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Bytes at *data (0 at the end, -1 on error: see error()).
  la_ssize_t next(const void** data) {
    la_ssize_t n = isal_ != nullptr ? next_isal() : next_libarchive();
    if (n > 0) {
      hash_->update(out_.data(), static_cast<size_t>(n));
      *data = out_.data();
    }
    return n;
  }
  // Reads (and hashes) what the tar reader left: the end-of-archive blocks and any padding
  // are part of the diff id too.
  bool drain() {
    const void* d = nullptr;
    la_ssize_t n;
    while ((n = next(&d)) > 0) {
    }
    return n == 0;
  }
  const std::string& error() const { return err_; }

 private:
  la_ssize_t next_isal() {
    if (!started_) {
      started_ = true;
      in_.resize(1 << 20);
      out_.resize(1 << 18);
      state_ = std::make_unique<inflate_state>();
      isal_->isal_inflate_init(state_.get());
      state_->crc_flag = ISAL_GZIP;
    }
    for (;;) {
      if (state_->avail_in == 0 && !eof_) {
        ssize_t n = ::read(fd_, in_.data(), in_.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(std::string("read layer: ") + std::strerror(errno));
        eof_ = n == 0;
        state_->next_in = in_.data();
        state_->avail_in = static_cast<uint32_t>(n);
      }
      if (member_done_) {
        if (state_->avail_in == 0 && eof_) return 0;  // the end of the last member
        isal_->isal_inflate_reset(state_.get());     // another member follows
        state_->crc_flag = ISAL_GZIP;
        member_done_ = false;
      }
      state_->next_out = reinterpret_cast<uint8_t*>(out_.data());
      state_->avail_out = static_cast<uint32_t>(out_.size());
      int r = isal_->isal_inflate(state_.get());
      if (r != ISAL_DECOMP_OK && r != ISAL_END_INPUT) {
        return fail("decompress layer: corrupt gzip data (igzip error " + std::to_string(r) + ")");
      }
      size_t produced = out_.size() - state_->avail_out;
      if (state_->block_state == ISAL_BLOCK_FINISH) member_done_ = true;
      if (produced > 0) return static_cast<la_ssize_t>(produced);
      if (member_done_) continue;
      if (state_->avail_in == 0 && eof_) return fail("decompress layer: the gzip stream ends early");
    }
  }

  la_ssize_t next_libarchive() {
    if (raw_ == nullptr) {
      out_.resize(1 << 18);
      raw_ = la_->archive_read_new();
      la_->archive_read_support_filter_all(raw_);
      la_->archive_read_support_format_raw(raw_);
      archive_entry* entry = nullptr;
      if (la_->archive_read_open_fd(raw_, fd_, 1 << 16) != ARCHIVE_OK ||
          la_->archive_read_next_header(raw_, &entry) != ARCHIVE_OK) {
        return fail(std::string("read layer: ") + la_->archive_error_string(raw_));
      }
    }
    la_ssize_t n = la_->archive_read_data(raw_, out_.data(), out_.size());
    if (n < 0) return fail(std::string("decompress layer: ") + la_->archive_error_string(raw_));
    return n;
  }

  la_ssize_t fail(std::string msg) {
    if (err_.empty()) err_ = std::move(msg);
    return -1;
  }

  int fd_;
  const util::IsalApi* isal_;
  const util::ArchiveApi* la_;
  util::Sha256* hash_;
  std::vector<char> out_;
  std::string err_;
  // ISA-L
  bool started_ = false, eof_ = false, member_done_ = false;
  std::vector<uint8_t> in_;
  std::unique_ptr<inflate_state> state_;
  // libarchive
  archive* raw_ = nullptr;
};

la_ssize_t inflater_read(archive*, void* client, const void** buf) {
  return static_cast<Inflater*>(client)->next(buf);
}

// Entries that overlay itself reads: a layer must not carry them (a forged redirect or
// opaque mark would show the layer other files than its own).
bool strip_overlay_xattrs(const util::ArchiveApi* la, archive_entry* entry) {
  struct X {
    std::string name;
    std::string value;
  };
  std::vector<X> keep;
  bool dropped = false;
  la->archive_entry_xattr_reset(entry);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (la->archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    if (util::starts_with(name, "trusted.overlay.")) {
      dropped = true;
    } else {
      keep.push_back({name, std::string(static_cast<const char*>(value), size)});
    }
  }
  if (!dropped) return false;
  la->archive_entry_xattr_clear(entry);
  for (const auto& x : keep) la->archive_entry_xattr_add_entry(entry, x.name.c_str(), x.value.data(), x.value.size());
  return true;
}

// Runs in the chrooted child, reading the tar from `in`. Returns an error message, or "";
// kNeedsLowerLayers when a layer written alone would need what is below it (see layer.hpp).
std::string extract_entries(archive* in, const util::ArchiveApi* la, Whiteouts whiteouts) {
  // Written alone, a layer has only its own entries: a directory it does not list would be
  // made with default attributes that hide the lower layers' (overlay takes a directory's
  // mode and owner from the topmost layer holding it), and a hard link to a lower layer's
  // file has no target. Such layers are left to the caller to unpack on their parents.
  std::set<std::string> listed;
  auto alone_ok = [&](const std::string& dir) { return whiteouts != Whiteouts::Overlay || dir.empty() || listed.count(dir) != 0; };
  archive* disk = la->archive_write_disk_new();
  la->archive_write_disk_set_options(
      disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
                ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                ARCHIVE_EXTRACT_UNLINK);
  std::string err;
  archive_entry* entry = nullptr;
  while (err.empty()) {
    int r = la->archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      err = std::string("read layer: ") + la->archive_error_string(in);
      break;
    }
    std::string path = la->archive_entry_pathname(entry);
    // A ".." component would climb out (the chroot stops it, libarchive would skip it
    // without a word): refused, as import refuses it, so a layer is all or nothing.
    std::string clean = path;
    if (!clean_path(&clean)) {
      err = "layer entry '" + path + "' climbs out of the layer with ..";
      break;
    }
    if (!clean.empty() && clean.back() == '/') clean.pop_back();
    std::string base = clean.substr(clean.rfind('/') == std::string::npos ? 0 : clean.rfind('/') + 1);
    std::string dir = clean.size() > base.size() ? clean.substr(0, clean.size() - base.size() - 1) : "";
    if (!alone_ok(dir)) {
      err = kNeedsLowerLayers;
      break;
    }
    if (base == ".wh..wh..opq") {
      std::string d = "/" + dir;
      if (whiteouts == Whiteouts::Overlay) {
        // The directory hides everything the layers below have in it.
        if (::setxattr(d.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
          err = "mark '" + d + "' opaque: " + std::strerror(errno);
        }
        continue;
      }
      // Applied on the mounted snapshot: delete what the lower layers have in it.
      if (DIR* dh = ::opendir(d.c_str())) {
        std::vector<std::string> names;
        while (dirent* e = ::readdir(dh)) {
          if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
        }
        ::closedir(dh);
        for (const auto& n : names) (void)sdk::fs::remove_tree((d == "/" ? "" : d) + "/" + n);
      }
      continue;
    }
    if (util::starts_with(base, ".wh.")) {
      std::string name = base.substr(4);
      if (name.empty() || name == "." || name == ".." || util::starts_with(name, ".wh.")) {
        err = "layer entry '" + path + "' is a whiteout of no file";
        break;
      }
      std::string target = (dir.empty() ? "" : "/" + dir) + "/" + name;
      if (whiteouts == Whiteouts::Overlay) {
        // overlay's whiteout: a 0/0 character device where the deleted path was.
        (void)sdk::fs::remove_tree(target);
        if (::mknod(target.c_str(), S_IFCHR | 0000, ::makedev(0, 0)) != 0) {
          err = "write whiteout '" + path + "': " + std::strerror(errno);
        }
        continue;
      }
      Status s = sdk::fs::remove_tree(target);
      if (!s) {
        err = "apply whiteout '" + path + "': " + s.error().what();
      }
      continue;
    }
    if (const char* hl = la->archive_entry_hardlink(entry); hl != nullptr && whiteouts == Whiteouts::Overlay) {
      std::string target = hl;
      if (!clean_path(&target) || listed.count(target) == 0) {
        err = kNeedsLowerLayers;
        break;
      }
    }
    strip_overlay_xattrs(la, entry);
    if (la->archive_read_extract2(in, entry, disk) < ARCHIVE_WARN) {
      err = "extract '" + path + "': " + la->archive_error_string(disk);
    }
    if (!clean.empty()) listed.insert(clean);
  }
  la->archive_write_close(disk);
  la->archive_write_free(disk);
  return err;
}

}  // namespace

Result<std::string> unpack_layer_blob(const std::string& blob_path, const LayerTarget& target) {
  // Everything the child needs is loaded, opened and initialised here: it may be forked
  // while other threads (downloads) run, and then must take no lock another thread could
  // hold (the loader's, the crypto library's method store).
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  const util::IsalApi* isal = nullptr;
  int fd = ::open(blob_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("open layer '" + blob_path + "'");
  unsigned char magic[2] = {0, 0};
  if (::pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    if (auto api = util::isal_api(); api) isal = *api;
  }
  util::Sha256 hash;
  // The child's answer (the digest it computed) comes back through a shared page.
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    int e = errno;
    ::close(fd);
    return sys_error("map a page", e);
  }
  char* answer = static_cast<char*>(page);
  answer[0] = '\0';
  pid_t parent = ::getpid();
  auto msg = util::run_forked([&]() -> std::string {
    // Dies with its process: a killed pull must not leave a writer in a snapshot that the
    // next pull removes as garbage.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) return "the process that started this extraction has ended";
    std::string root = target.dir;
    if (!target.mounts.empty()) {
      std::string err = runtime::mount_privately(target.mounts, target.dir);
      if (!err.empty()) return err;
    }
    if (::chroot(root.c_str()) != 0 || ::chdir("/") != 0) {
      return "chroot '" + root + "': " + std::strerror(errno);
    }
    // Listed entries get their own modes (ARCHIVE_EXTRACT_PERM); a directory a layer does
    // not list but needs is made 0755, as Docker makes it.
    ::umask(022);
    Inflater inflater(fd, isal, la, &hash);
    archive* in = la->archive_read_new();
    la->archive_read_support_format_tar(in);
    la->archive_read_support_format_gnutar(in);
    std::string err;
    if (la->archive_read_open(in, &inflater, nullptr, inflater_read, nullptr) != ARCHIVE_OK) {
      err = std::string("open layer: ") + la->archive_error_string(in);
    } else {
      err = extract_entries(in, la, target.whiteouts);
    }
    // A decompression error is the cause of whatever the tar reader then said.
    if (!inflater.error().empty()) err = inflater.error();
    if (err.empty() && !inflater.drain()) err = inflater.error();
    la->archive_read_free(in);
    if (err.empty()) std::snprintf(answer, 4096, "sha256:%s", hash.hex().c_str());
    return err;
  });
  ::close(fd);
  std::string digest = answer;
  ::munmap(page, 4096);
  if (!msg) return std::move(msg).error();
  if (*msg == kNeedsLowerLayers) return make_error(Code::Unsupported, *msg);
  if (!msg->empty()) return make_error(Code::InvalidArgument, *msg);
  if (digest.empty()) return make_error(Code::Internal, "layer extraction gave no digest");
  return digest;
}

}  // namespace berth::images
