#include "images/layer.hpp"

#include "util/lazy_libs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <set>
#include <thread>

#include <cstring>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/mount.hpp"
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

// Runs in the chrooted child. Returns an error message, or "" on success.
std::string extract_in_root(int tar_fd, const util::ArchiveApi* la) {
  archive* in = la->archive_read_new();
  la->archive_read_support_format_tar(in);
  la->archive_read_support_format_gnutar(in);
  archive* disk = la->archive_write_disk_new();
  la->archive_write_disk_set_options(
      disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
                ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                ARCHIVE_EXTRACT_UNLINK);
  std::string err;
  if (la->archive_read_open_fd(in, tar_fd, 1 << 20) != ARCHIVE_OK) {
    err = std::string("open layer: ") + la->archive_error_string(in);
  }
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
    if (std::string check = path; !clean_path(&check)) {
      err = "layer entry '" + path + "' climbs out of the layer with ..";
      break;
    }
    std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    std::string dir = path.size() > base.size() ? path.substr(0, path.size() - base.size()) : "";
    if (base == ".wh..wh..opq") {
      // Opaque directory: hide everything lower layers have in it.
      std::string d = "/" + dir;
      if (DIR* dh = ::opendir(d.c_str())) {
        std::vector<std::string> names;
        while (dirent* e = ::readdir(dh)) {
          if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
        }
        ::closedir(dh);
        for (const auto& n : names) (void)sdk::fs::remove_tree(d + n);
      }
      continue;
    }
    if (util::starts_with(base, ".wh.")) {
      Status s = sdk::fs::remove_tree("/" + dir + base.substr(4));
      if (!s) {
        err = "apply whiteout '" + path + "': " + s.error().what();
      }
      continue;
    }
    if (la->archive_read_extract2(in, entry, disk) < ARCHIVE_WARN) {
      err = "extract '" + path + "': " + la->archive_error_string(disk);
    }
  }
  la->archive_write_close(disk);
  la->archive_write_free(disk);
  la->archive_read_free(in);
  return err;
}

}  // namespace

std::string mount_privately(const std::vector<sdk::Mount>& mounts, const std::string& dir) {
  if (::unshare(CLONE_NEWNS) != 0) return std::string("unshare mount namespace: ") + std::strerror(errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return std::string("make / private: ") + std::strerror(errno);
  if (Status s = sdk::apply_mounts(mounts, dir); !s) return s.error().what();
  return "";
}

namespace {

// Extracts the tar stream on `tar_fd` into the snapshot, in a child process (see the header).
Status extract_stream(int tar_fd, const std::vector<sdk::Mount>& mounts, const std::string& scratch_dir,
                      const std::function<void()>& after_fork = [] {}) {
  // Loaded before the fork: the child chroots into the layer, where no library can be found.
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  BERTH_ASSIGN(std::string msg, util::run_forked(
                                    [&]() -> std::string {
                                      std::string err = mount_privately(mounts, scratch_dir);
                                      if (!err.empty()) return err;
                                      if (::chroot(scratch_dir.c_str()) != 0 || ::chdir("/") != 0) {
                                        return "chroot '" + scratch_dir + "': " + std::strerror(errno);
                                      }
                                      ::umask(0);
                                      return extract_in_root(tar_fd, la);
                                    },
                                    after_fork));
  if (!msg.empty()) return make_error(Code::InvalidArgument, msg);
  return {};
}

}  // namespace

Status apply_layer(const std::string& tar_path, const std::vector<sdk::Mount>& mounts,
                   const std::string& scratch_dir) {
  int tar_fd = ::open(tar_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (tar_fd < 0) return sys_error("open layer '" + tar_path + "'");
  Status s = extract_stream(tar_fd, mounts, scratch_dir);
  ::close(tar_fd);
  return s;
}

namespace {

bool is_gzip(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  unsigned char m[2] = {0, 0};
  bool z = fd >= 0 && ::read(fd, m, 2) == 2 && m[0] == 0x1f && m[1] == 0x8b;
  if (fd >= 0) ::close(fd);
  return z;
}

// gzip (every member of it) through ISA-L, each piece of output to `out`.
std::string inflate_with_isal(const util::IsalApi* api, const std::string& path,
                              const std::function<bool(const char*, size_t)>& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string("read layer: ") + std::strerror(errno);
  std::vector<uint8_t> in(1 << 20), buf(1 << 18);
  auto state = std::make_unique<inflate_state>();
  api->isal_inflate_init(state.get());
  state->crc_flag = ISAL_GZIP;
  bool eof = false, member_done = false;
  std::string err;
  for (;;) {
    if (state->avail_in == 0 && !eof) {
      ssize_t n = ::read(fd, in.data(), in.size());
      if (n < 0) {
        err = std::string("read layer: ") + std::strerror(errno);
        break;
      }
      eof = n == 0;
      state->next_in = in.data();
      state->avail_in = static_cast<uint32_t>(n);
    }
    if (member_done) {
      if (state->avail_in == 0 && eof) break;  // the end of the last member
      api->isal_inflate_reset(state.get());    // another member follows
      state->crc_flag = ISAL_GZIP;
      member_done = false;
    }
    state->next_out = buf.data();
    state->avail_out = static_cast<uint32_t>(buf.size());
    int r = api->isal_inflate(state.get());
    if (r != ISAL_DECOMP_OK && r != ISAL_END_INPUT) {
      err = "decompress layer: corrupt gzip data (igzip error " + std::to_string(r) + ")";
      break;
    }
    size_t produced = buf.size() - state->avail_out;
    if (produced > 0 && !out(reinterpret_cast<const char*>(buf.data()), produced)) break;
    if (state->block_state == ISAL_BLOCK_FINISH) {
      member_done = true;
      continue;
    }
    if (produced == 0 && state->avail_in == 0 && eof) {
      err = "decompress layer: the gzip stream ends early";
      break;
    }
  }
  ::close(fd);
  return err;
}

// Any compression libarchive knows (and none), its output to `out`.
std::string inflate_with_libarchive(const util::ArchiveApi* la, const std::string& path,
                                    const std::function<bool(const char*, size_t)>& out) {
  archive* in = la->archive_read_new();
  la->archive_read_support_filter_all(in);
  la->archive_read_support_format_raw(in);
  archive_entry* entry = nullptr;
  std::string err;
  if (la->archive_read_open_filename(in, path.c_str(), 1 << 16) != ARCHIVE_OK ||
      la->archive_read_next_header(in, &entry) != ARCHIVE_OK) {
    err = std::string("read layer: ") + la->archive_error_string(in);
  } else {
    std::vector<char> buf(1 << 17);
    for (;;) {
      la_ssize_t n = la->archive_read_data(in, buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) {
        err = std::string("decompress layer: ") + la->archive_error_string(in);
        break;
      }
      if (!out(buf.data(), static_cast<size_t>(n))) break;
    }
  }
  la->archive_read_free(in);
  return err;
}

}  // namespace

Result<std::string> apply_compressed_layer(const std::string& blob_path, const std::vector<sdk::Mount>& mounts,
                                           const std::string& scratch_dir) {
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  // This thread decompresses (and hashes what it hands on), the child extracts: the two
  // halves of the work run on two cores, and the blob is read once.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return sys_error("socketpair");
  // Room for a few MiB in flight, so neither side waits on the other for every piece.
  int room = 4 << 20;
  (void)::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
  (void)::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
  std::string feed_error;
  util::Sha256 hash;
  // Hands `n` bytes of the uncompressed tar on; false when the extractor has stopped.
  auto hand_on = [&](const char* data, size_t n) {
    hash.update(data, n);
    size_t off = 0;
    while (off < n) {
      ssize_t w = ::send(sv[0], data + off, n - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return false;  // the extractor stopped; its error says why
      off += static_cast<size_t>(w);
    }
    return true;
  };
  // (Loaded here, and the thread started only once the child exists: a fork while this
  // thread held the loader's lock in dlopen would leave the child stuck on it.)
  auto isal = util::isal_api();
  bool gzip = is_gzip(blob_path);
  std::thread feeder;
  Status s = extract_stream(sv[1], mounts, scratch_dir, [&] {
    feeder = std::thread([&] {
      if (isal && gzip) {
        feed_error = inflate_with_isal(*isal, blob_path, hand_on);
      } else {
        feed_error = inflate_with_libarchive(la, blob_path, hand_on);
      }
      ::shutdown(sv[0], SHUT_WR);
    });
  });
  ::close(sv[1]);
  if (feeder.joinable()) feeder.join();
  ::close(sv[0]);
  if (!feed_error.empty()) return make_error(Code::InvalidArgument, feed_error);
  if (!s) return std::move(s).error();
  return "sha256:" + hash.hex();
}

}  // namespace berth::images
