#include "build/builder.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/mount.hpp"
#include "berth/sdk/scope_guard.hpp"
#include "build/dockerfile.hpp"
#include "build/dockerignore.hpp"
#include "containers/container.hpp"
#include "engine.hpp"
#include "images/commit.hpp"
#include "images/image_store.hpp"
#include "images/layer.hpp"
#include "runtime/spawn.hpp"
#include "images/pull.hpp"
#include "images/reference.hpp"
#include "registry/http.hpp"
#include "util/lazy_libs.hpp"
#include "util/util.hpp"

namespace berth::build {

using nlohmann::json;
namespace fs = sdk::fs;

namespace {

std::string short_id(const std::string& id) { return id.substr(id.find(':') + 1, 12); }

long open_beneath(int root_fd, const std::string& rel, int flags, bool in_root) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = in_root ? RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS : RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return ::syscall(SYS_openat2, root_fd, rel.empty() ? "." : rel.c_str(), &how, sizeof how);
}

// lstat of `rel` under `root_fd` (parents resolved inside it).
bool stat_beneath(int root_fd, const std::string& rel, bool in_root, struct stat* st) {
  std::string dir = rel.find('/') == std::string::npos ? "" : rel.substr(0, rel.rfind('/'));
  std::string base = rel.substr(dir.empty() ? 0 : dir.size() + 1);
  if (base.empty()) return ::fstat(root_fd, st) == 0;
  long d = open_beneath(root_fd, dir, O_PATH | O_DIRECTORY, in_root);
  if (d < 0) return false;
  bool ok = ::fstatat(static_cast<int>(d), base.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0;
  ::close(static_cast<int>(d));
  return ok;
}

std::vector<std::string> dir_entries(int dirfd) {
  std::vector<std::string> out;
  int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return out;
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return out;
  }
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// A COPY source: relative to its root, cleaned; ".." may not climb out.
Result<std::string> clean_source(const std::string& s) {
  std::vector<std::string> parts;
  for (const auto& p : util::split(s, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (parts.empty()) return make_error(Code::InvalidArgument, "forbidden path outside the build context: " + s);
      parts.pop_back();
      continue;
    }
    parts.push_back(p);
  }
  return util::join(parts, "/");
}

// The paths a source names: itself, or the entries of its directory that its last
// component matches (Go's filepath.Match, through fnmatch).
std::vector<std::string> expand_source(int root_fd, const std::string& rel, bool in_root) {
  std::string dir = rel.find('/') == std::string::npos ? "" : rel.substr(0, rel.rfind('/'));
  std::string base = rel.substr(dir.empty() ? 0 : dir.size() + 1);
  if (base.find_first_of("*?[") == std::string::npos) {
    struct stat st {};
    if (stat_beneath(root_fd, rel, in_root, &st)) return {rel};
    return {};
  }
  std::vector<std::string> out;
  long d = open_beneath(root_fd, dir, O_RDONLY | O_DIRECTORY, in_root);
  if (d < 0) return out;
  for (const auto& name : dir_entries(static_cast<int>(d))) {
    if (::fnmatch(base.c_str(), name.c_str(), FNM_PERIOD) == 0) out.push_back(dir.empty() ? name : dir + "/" + name);
  }
  ::close(static_cast<int>(d));
  return out;
}

// Content and metadata of what a COPY takes from the context, for its cache key: names,
// modes, owners, sizes, link targets and bytes; not times (as Docker's).
void hash_tree(int root_fd, const std::string& rel, const dockerignore::Matcher* ignore, util::Sha256* h) {
  if (ignore != nullptr && !rel.empty() && ignore->excluded(rel)) return;
  struct stat st {};
  if (!stat_beneath(root_fd, rel, false, &st)) return;
  std::string meta = rel + "\n" + std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + " " +
                     std::to_string(st.st_gid) + " " + std::to_string(S_ISREG(st.st_mode) ? st.st_size : 0) + "\n";
  h->update(meta.data(), meta.size());
  if (S_ISLNK(st.st_mode)) {
    std::string dir = rel.find('/') == std::string::npos ? "" : rel.substr(0, rel.rfind('/'));
    long d = open_beneath(root_fd, dir, O_PATH | O_DIRECTORY, false);
    char t[4096];
    ssize_t n = d >= 0 ? ::readlinkat(static_cast<int>(d), rel.substr(dir.empty() ? 0 : dir.size() + 1).c_str(), t, sizeof t) : -1;
    if (d >= 0) ::close(static_cast<int>(d));
    if (n > 0) h->update(t, static_cast<size_t>(n));
  } else if (S_ISREG(st.st_mode)) {
    long fd = open_beneath(root_fd, rel, O_RDONLY, false);
    if (fd >= 0) {
      std::vector<char> buf(1 << 16);
      for (ssize_t n; (n = ::read(static_cast<int>(fd), buf.data(), buf.size())) > 0;) h->update(buf.data(), static_cast<size_t>(n));
      ::close(static_cast<int>(fd));
    }
  } else if (S_ISDIR(st.st_mode)) {
    if (ignore != nullptr && !rel.empty() && ignore->can_skip_dir(rel)) return;
    long d = open_beneath(root_fd, rel, O_RDONLY | O_DIRECTORY, false);
    if (d < 0) return;
    auto names = dir_entries(static_cast<int>(d));
    ::close(static_cast<int>(d));
    for (const auto& n : names) hash_tree(root_fd, rel.empty() ? n : rel + "/" + n, ignore, h);
  }
}

// ---- What the child does inside the new snapshot (chrooted there) ----

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// --chown USER[:GROUP], names looked up in the image's own /etc/passwd and /etc/group.
Result<Owner> resolve_chown(const std::string& spec) {
  Owner o;
  if (spec.empty()) return o;
  std::string user = spec.substr(0, spec.find(':'));
  std::string group = spec.find(':') == std::string::npos ? "" : spec.substr(spec.find(':') + 1);
  auto lookup = [](const char* file, const std::string& name, unsigned* id, unsigned* gid) -> bool {
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
      *id = static_cast<unsigned>(std::stoul(name));
      return true;
    }
    auto text = fs::read_file(file);
    if (!text) return false;
    for (const auto& line : util::split(*text, '\n')) {
      auto f = util::split(line, ':');
      if (f.size() >= 3 && f[0] == name) {
        *id = static_cast<unsigned>(std::stoul(f[2]));
        if (gid != nullptr && f.size() >= 4) *gid = static_cast<unsigned>(std::stoul(f[3]));
        return true;
      }
    }
    return false;
  };
  unsigned uid = 0, primary = 0, gid = 0;
  if (!lookup("/etc/passwd", user, &uid, &primary)) return make_error(Code::InvalidArgument, "unable to find user " + user);
  gid = user.find_first_not_of("0123456789") == std::string::npos ? uid : primary;
  if (!group.empty() && !lookup("/etc/group", group, &gid, nullptr)) return make_error(Code::InvalidArgument, "unable to find group " + group);
  o.uid = uid;
  o.gid = gid;
  return o;
}

Status make_parents(const std::string& path, const Owner& owner) {
  std::string at;
  for (const auto& part : util::split(path, '/')) {
    if (part.empty()) continue;
    at += "/" + part;
    struct stat st {};
    if (::lstat(at.c_str(), &st) == 0) continue;
    if (::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir " + at);
    (void)::lchown(at.c_str(), owner.uid, owner.gid);
  }
  return {};
}

// Copies `rel` (under src_root) to `dest` in this root; a directory's contents go into dest.
Status copy_entry(int src_root, bool in_root, const std::string& rel, const std::string& dest, const Owner& owner,
                  bool keep_owner, const dockerignore::Matcher* ignore) {
  if (ignore != nullptr && !rel.empty() && ignore->excluded(rel)) return {};
  struct stat st {};
  if (!stat_beneath(src_root, rel, in_root, &st)) return sys_error("stat " + rel);
  uid_t uid = keep_owner ? st.st_uid : owner.uid;
  gid_t gid = keep_owner ? st.st_gid : owner.gid;
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (S_ISDIR(st.st_mode)) {
    struct stat d {};
    if (::lstat(dest.c_str(), &d) != 0) {
      if (::mkdir(dest.c_str(), st.st_mode & 07777) != 0) return sys_error("mkdir " + dest);
    } else if (!S_ISDIR(d.st_mode)) {
      return make_error(Code::InvalidArgument, "cannot copy to non-directory: " + dest);
    }
    long dfd = open_beneath(src_root, rel, O_RDONLY | O_DIRECTORY, in_root);
    if (dfd < 0) return sys_error("open " + rel);
    auto names = dir_entries(static_cast<int>(dfd));
    ::close(static_cast<int>(dfd));
    for (const auto& n : names) {
      BERTH_TRY(copy_entry(src_root, in_root, rel.empty() ? n : rel + "/" + n, dest + "/" + n, owner, keep_owner, ignore));
    }
    (void)::lchown(dest.c_str(), uid, gid);
    (void)::chmod(dest.c_str(), st.st_mode & 07777);
    (void)::utimensat(AT_FDCWD, dest.c_str(), times, AT_SYMLINK_NOFOLLOW);
    return {};
  }
  struct stat old {};
  if (::lstat(dest.c_str(), &old) == 0 && S_ISDIR(old.st_mode)) {
    return make_error(Code::InvalidArgument, "cannot overwrite directory " + dest + " with a file");
  }
  ::unlink(dest.c_str());
  if (S_ISLNK(st.st_mode)) {
    std::string dir = rel.find('/') == std::string::npos ? "" : rel.substr(0, rel.rfind('/'));
    long d = open_beneath(src_root, dir, O_PATH | O_DIRECTORY, in_root);
    char t[4096];
    ssize_t n = d >= 0 ? ::readlinkat(static_cast<int>(d), rel.substr(dir.empty() ? 0 : dir.size() + 1).c_str(), t, sizeof t - 1) : -1;
    if (d >= 0) ::close(static_cast<int>(d));
    if (n < 0) return sys_error("readlink " + rel);
    t[n] = '\0';
    if (::symlink(t, dest.c_str()) != 0) return sys_error("symlink " + dest);
    (void)::lchown(dest.c_str(), uid, gid);
    (void)::utimensat(AT_FDCWD, dest.c_str(), times, AT_SYMLINK_NOFOLLOW);
    return {};
  }
  if (!S_ISREG(st.st_mode)) return {};  // devices, sockets and fifos are not copied
  long in = open_beneath(src_root, rel, O_RDONLY, in_root);
  if (in < 0) return sys_error("open " + rel);
  int out = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
  if (out < 0) {
    ::close(static_cast<int>(in));
    return sys_error("create " + dest);
  }
  std::vector<char> buf(1 << 17);
  bool ok = true;
  for (ssize_t n; (n = ::read(static_cast<int>(in), buf.data(), buf.size())) > 0;) {
    if (!util::write_all(out, std::string_view(buf.data(), static_cast<size_t>(n)))) ok = false;
  }
  ::close(static_cast<int>(in));
  (void)::fchown(out, uid, gid);
  (void)::fchmod(out, st.st_mode & 07777);
  (void)::futimens(out, times);
  ::close(out);
  return ok ? Status() : sys_error("write " + dest);
}

// ADD of a local tar archive (plain, gzip, bzip2, xz): unpacked into `dest`.
Result<bool> try_unpack(const util::ArchiveApi* la, int src_root, const std::string& rel, const std::string& dest) {
  long fd = open_beneath(src_root, rel, O_RDONLY, false);
  if (fd < 0) return false;
  sdk::ScopeGuard closer([&] { ::close(static_cast<int>(fd)); });
  archive* in = la->archive_read_new();
  la->archive_read_support_filter_all(in);
  la->archive_read_support_format_tar(in);
  la->archive_read_support_format_gnutar(in);
  sdk::ScopeGuard free_in([&] { la->archive_read_free(in); });
  archive_entry* e = nullptr;
  if (la->archive_read_open_fd(in, static_cast<int>(fd), 1 << 16) != ARCHIVE_OK || la->archive_read_next_header(in, &e) != ARCHIVE_OK) {
    return false;  // not an archive: copied as a file
  }
  BERTH_TRY(make_parents(dest, {}));
  archive* disk = la->archive_write_disk_new();
  sdk::ScopeGuard free_disk([&] {
    la->archive_write_close(disk);
    la->archive_write_free(disk);
  });
  la->archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
                                               ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                               ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_UNLINK);
  if (::chdir(dest.c_str()) != 0) return sys_error("chdir " + dest);
  do {
    if (la->archive_read_extract2(in, e, disk) < ARCHIVE_WARN) {
      return make_error(Code::InvalidArgument, std::string("unpack ") + rel + ": " + la->archive_error_string(disk));
    }
  } while (la->archive_read_next_header(in, &e) == ARCHIVE_OK);
  (void)::chdir("/");
  return true;
}

struct CopyJob {
  std::vector<std::string> sources;  // cleaned, relative to the source root
  std::string dest;                  // absolute in the image
  std::string chown;
  bool add = false;                  // ADD: local archives are unpacked
  bool from_image = false;           // sources in another image's root (symlinks resolved there)
  std::string keyword = "COPY";
};

std::string run_copy_in_child(const util::ArchiveApi* la, const CopyJob& job, int src_root, const dockerignore::Matcher* ignore) {
  auto owner = resolve_chown(job.chown);
  if (!owner) return owner.error().what();
  std::vector<std::string> paths;
  for (const auto& s : job.sources) {
    auto found = expand_source(src_root, s, job.from_image);
    std::vector<std::string> kept;
    for (const auto& f : found) {
      if (ignore == nullptr || f.empty() || !ignore->excluded(f)) kept.push_back(f);
    }
    if (kept.empty()) {
      return job.keyword + " failed: file not found in build context or excluded by .dockerignore: stat " + (s.empty() ? "." : s) +
             ": file does not exist";
    }
    paths.insert(paths.end(), kept.begin(), kept.end());
  }
  bool dest_slash = !job.dest.empty() && job.dest.back() == '/';
  std::string dest = job.dest;
  while (dest.size() > 1 && dest.back() == '/') dest.pop_back();
  struct stat dst {};
  bool dest_dir = dest_slash || (::stat(dest.c_str(), &dst) == 0 && S_ISDIR(dst.st_mode));
  if (paths.size() > 1 && !dest_slash && !dest_dir) {
    return "When using " + job.keyword + " with more than one source file, the destination must be a directory and end with a /";
  }
  dest_dir = dest_dir || paths.size() > 1;
  for (const auto& p : paths) {
    struct stat st {};
    if (!stat_beneath(src_root, p, job.from_image, &st)) return "stat " + p + ": " + std::strerror(errno);
    if (job.add && S_ISREG(st.st_mode)) {
      auto unpacked = try_unpack(la, src_root, p, dest);
      if (!unpacked) return unpacked.error().what();
      if (*unpacked) continue;
    }
    std::string target;
    if (S_ISDIR(st.st_mode)) {
      target = dest;
      if (Status s = make_parents(dest, *owner); !s) return s.error().what();
    } else {
      target = dest_dir ? dest + "/" + p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1) : dest;
      std::string parent = target.substr(0, target.rfind('/'));
      if (Status s = make_parents(parent.empty() ? "/" : parent, *owner); !s) return s.error().what();
    }
    if (Status s = copy_entry(src_root, job.from_image, p, target, *owner, false, job.from_image ? nullptr : ignore); !s) {
      return s.error().what();
    }
    if (S_ISDIR(st.st_mode) && job.chown.empty()) (void)::lchown(target.c_str(), 0, 0);
  }
  return "";
}

// Runs `job` in a child with the snapshot's mounts at `scratch` (its root) and the source
// root open; the child chroots into the snapshot so every destination stays inside.
Status copy_into_snapshot(const std::vector<sdk::Mount>& mounts, const std::string& scratch, const std::string& src_dir,
                          const std::vector<sdk::Mount>& src_mounts, const std::string& src_scratch, const CopyJob& job,
                          const dockerignore::Matcher* ignore) {
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  BERTH_ASSIGN(std::string msg, util::run_forked([&]() -> std::string {
    std::string err = runtime::mount_privately(mounts, scratch);
    if (!err.empty()) return err;
    if (Status m = sdk::apply_mounts(src_mounts, src_scratch); !m) return m.error().what();
    // The source is opened before the chroot: afterwards only the snapshot is reachable.
    int src_root = ::open(src_mounts.empty() ? src_dir.c_str() : src_scratch.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (src_root < 0) return std::string("open the copy's source: ") + std::strerror(errno);
    if (::chroot(scratch.c_str()) != 0 || ::chdir("/") != 0) return std::string("enter the snapshot: ") + std::strerror(errno);
    ::umask(0);
    return run_copy_in_child(la, job, src_root, ignore);
  }));
  if (!msg.empty()) return make_error(Code::InvalidArgument, msg);
  return {};
}

// ---- The executor ----

struct StageState {
  std::optional<images::ImageRecord> image;  // nullopt: scratch with nothing yet
  json config;                               // the whole image config
  Env args;                                  // ARGs in scope, with their values
  bool cmd_set = false;                      // CMD given in this stage (ENTRYPOINT keeps it)
};

json& cfg(StageState& s) {
  if (!s.config.contains("config") || !s.config["config"].is_object()) s.config["config"] = json::object();
  return s.config["config"];
}

// Variables for expansion: ARGs, then ENV over them (ENV wins, as Docker's).
Env expansion_env(StageState& s) {
  Env env = s.args;
  for (const auto& kv : cfg(s).value("Env", json::array())) {
    std::string v = kv.get<std::string>();
    auto eq = v.find('=');
    env[v.substr(0, eq)] = eq == std::string::npos ? "" : v.substr(eq + 1);
  }
  return env;
}

void set_env(json& c, const std::string& key, const std::string& value) {
  json env = c.value("Env", json::array());
  bool done = false;
  for (auto& e : env) {
    if (util::starts_with(e.get<std::string>(), key + "=")) {
      e = key + "=" + value;
      done = true;
    }
  }
  if (!done) env.push_back(key + "=" + value);
  c["Env"] = env;
}

std::vector<std::string> shell_of(StageState& s) {
  json sh = cfg(s).value("Shell", json::array());
  std::vector<std::string> out;
  for (const auto& x : sh) out.push_back(x.get<std::string>());
  if (out.empty()) out = {"/bin/sh", "-c"};
  return out;
}

class Builder {
 public:
  Builder(Engine& e, const BuildOptions& o, int* run_exit) : e_(e), o_(o), run_exit_(run_exit) {}

  Result<std::string> run() {
    context_ = o_.context;
    char real[PATH_MAX];
    if (::realpath(context_.c_str(), real) == nullptr) return sys_error("unable to prepare context: path \"" + o_.context + "\" not found");
    context_ = real;
    std::string file = o_.dockerfile.empty() ? context_ + "/Dockerfile" : o_.dockerfile;
    auto text = fs::read_file(file);
    if (!text) return make_error(Code::NotFound, "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat " + file + ": no such file or directory");
    BERTH_ASSIGN(df_, parse_dockerfile(*text));
    if (fs::exists(context_ + "/.dockerignore")) {
      BERTH_ASSIGN(std::string ig, fs::read_file(context_ + "/.dockerignore"));
      BERTH_ASSIGN(auto m, dockerignore::parse(ig));
      ignore_ = std::move(m);
    }
    for (const auto& t : o_.tags) BERTH_TRY(images::parse_reference(t).status());
    BERTH_ASSIGN(size_t last, resolve_target(df_, o_.target));
    total_ = step_count(df_, last);
    context_fd_ = ::open(context_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (context_fd_ < 0) return sys_error("open the context " + context_);
    sdk::ScopeGuard close_ctx([&] { ::close(context_fd_); });
    say("Sending build context to Docker daemon  " + util::human_size(context_size()));
    say("");

    Env global;
    for (const auto& a : df_.global_args) {
      step(a.original);
      BERTH_ASSIGN(Instruction x, expand_instruction(a, global, df_.escape));
      for (const auto& d : arg_decls(x)) {
        used_args_.insert(d.name);
        if (o_.build_args.count(d.name)) global[d.name] = o_.build_args.at(d.name);
        else if (d.value) global[d.name] = *d.value;
        global_defaults_[d.name] = global.count(d.name) ? std::optional<std::string>(global[d.name]) : std::nullopt;
      }
    }
    std::vector<std::optional<images::ImageRecord>> done(df_.stages.size());
    for (size_t si = 0; si <= last; ++si) {
      const Stage& stage = df_.stages[si];
      step(stage.from.original);
      BERTH_ASSIGN(Instruction from, expand_instruction(stage.from, global, df_.escape));
      std::string base = from.args.empty() ? "" : from.args[0];
      StageState st;
      if (auto earlier = base_stage(df_, base, si); earlier) {
        st.image = done[*earlier];
      } else if (util::to_lower(base) != "scratch") {
        BERTH_ASSIGN(st.image, base_image(base));
      }
      if (st.image) {
        BERTH_ASSIGN(st.config, e_.images().config(*st.image));
        say(" ---> " + short_id(st.image->id));
      } else {
        st.config = {{"architecture", "amd64"}, {"os", "linux"}, {"config", json::object()},
                     {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}, {"history", json::array()}};
      }
      // The base's ONBUILD triggers run first, then are not inherited.
      json triggers = cfg(st).value("OnBuild", json::array());
      cfg(st)["OnBuild"] = nullptr;
      if (triggers.is_array() && !triggers.empty()) {
        say("# Executing " + std::to_string(triggers.size()) + " build trigger" + (triggers.size() > 1 ? "s" : ""));
        for (const auto& t : triggers) {
          BERTH_ASSIGN(Instruction ins, parse_trigger(t.get<std::string>()));
          BERTH_TRY(execute(st, ins, si, done));
        }
      }
      for (const auto& ins : stage.instructions) {
        step(ins.original);
        BERTH_TRY(execute(st, ins, si, done));
      }
      if (si == last && !o_.labels.empty()) {
        // --label: on the final image, as one more config change.
        std::string what = "LABEL " + json(o_.labels).dump();
        pending_key_ = key_of(st, what);
        BERTH_ASSIGN(bool hit, use_cache(st, pending_key_));
        if (!hit) {
          for (const auto& [k, v] : o_.labels) cfg(st)["Labels"][k] = v;
          BERTH_TRY(commit_config(st, what));
        }
      }
      if (!st.image) return make_error(Code::InvalidArgument, "No image was generated. Is your Dockerfile empty?");
      done[si] = st.image;
    }
    const images::ImageRecord& img = *done[last];
    std::vector<std::string> unused;
    for (const auto& [k, v] : o_.build_args) {
      if (!used_args_.count(k)) unused.push_back(k);
    }
    if (!unused.empty()) say("[Warning] One or more build-args [" + util::join(unused, " ") + "] were not consumed");
    say("Successfully built " + short_id(img.id));
    for (const auto& t : o_.tags) {
      BERTH_TRY(e_.images().tag(img.id, t));
      auto ref = images::parse_reference(t);
      say("Successfully tagged " + (ref ? ref->familiar() : t));
    }
    if (o_.quiet) std::fprintf(o_.out, "%s\n", img.id.c_str());
    return img.id;
  }

 private:
  void say(const std::string& line) {
    if (o_.quiet) return;
    std::fprintf(o_.out, "%s\n", line.c_str());
    std::fflush(o_.out);
  }
  void step(const std::string& original) { say("Step " + std::to_string(++step_) + "/" + std::to_string(total_) + " : " + original); }

  int64_t context_size() {
    int64_t total = 0;
    std::function<void(const std::string&)> walk = [&](const std::string& rel) {
      if (!rel.empty() && ignore_ && ignore_->excluded(rel) && !ignore_->has_exclusions()) return;
      struct stat st {};
      if (!stat_beneath(context_fd_, rel, false, &st)) return;
      if (S_ISREG(st.st_mode) && (rel.empty() || !ignore_ || !ignore_->excluded(rel))) total += st.st_size;
      if (!S_ISDIR(st.st_mode)) return;
      long d = open_beneath(context_fd_, rel, O_RDONLY | O_DIRECTORY, false);
      if (d < 0) return;
      auto names = dir_entries(static_cast<int>(d));
      ::close(static_cast<int>(d));
      for (const auto& n : names) walk(rel.empty() ? n : rel + "/" + n);
    };
    walk("");
    return total;
  }

  Result<std::optional<images::ImageRecord>> base_image(const std::string& name) {
    auto img = e_.images().resolve(name);
    if (!img && img.error().code == Code::NotFound) {
      images::TransferOptions t;
      t.out = o_.quiet ? stderr : o_.out;
      t.quiet = o_.quiet;
      BERTH_TRY(images::pull(e_, name, t).status());
      img = e_.images().resolve(name);
    }
    if (!img) return std::move(img).error();
    return std::optional<images::ImageRecord>(*img);
  }

  // The cache key of a step: its parent, what it does, and the config it starts from.
  std::string key_of(StageState& st, const std::string& what) {
    return util::sha256_digest((st.image ? st.image->id : "scratch") + "\n" + what + "\n" + st.config.value("config", json::object()).dump());
  }

  // A cached image for this step, if the cache may be used.
  Result<bool> use_cache(StageState& st, const std::string& key) {
    if (o_.no_cache) return false;
    BERTH_ASSIGN(auto hit, e_.images().cached(st.image ? st.image->id : "", key));
    if (!hit) return false;
    auto img = e_.images().resolve(*hit);
    if (!img) return false;
    BERTH_ASSIGN(st.config, e_.images().config(*img));
    st.image = *img;
    say(" ---> Using cache");
    say(" ---> " + short_id(img->id));
    return true;
  }

  Status record_step(StageState& st, const std::string& created_by, const std::string& key, const std::string& diff_id) {
    images::ImageSpec spec;
    spec.config = st.config;
    spec.history = {{"created_by", created_by}};
    spec.build_key = key;
    BERTH_ASSIGN(std::string id, images::make_image(e_, st.image ? &*st.image : nullptr, spec, diff_id));
    BERTH_ASSIGN(auto img, e_.images().resolve(id));
    BERTH_ASSIGN(st.config, e_.images().config(img));
    st.image = img;
    say(" ---> " + short_id(id));
    return {};
  }

  // A step that changes only the config: `apply` has changed st.config already; the key
  // was taken before.
  // As the classic builder, a config step too gets a container ("Running in ID") that is
  // made from the previous image, never started, and removed; its changes are none.
  Status commit_config(StageState& st, const std::string& what) {
    std::string created_by = "/bin/sh -c #(nop) " + what;
    if (st.image) {
      containers::CreateRequest req;
      req.image = st.image->id;
      req.command = {"/bin/sh", "-c", "#(nop) " + what};
      req.entrypoint_set = true;
      req.network = "none";
      BERTH_ASSIGN(containers::Container c, containers::create(e_, req));
      say(" ---> Running in " + c.short_id());
      BERTH_TRY(containers::remove(e_, c, true, true));
      say("Removing intermediate container " + c.short_id());
    }
    return record_step(st, created_by, pending_key_, "");
  }

  Status execute(StageState& st, const Instruction& raw, size_t si, const std::vector<std::optional<images::ImageRecord>>& done) {
    BERTH_TRY(check_classic_support(raw));
    Env env = expansion_env(st);
    BERTH_ASSIGN(Instruction ins, expand_instruction(raw, env, df_.escape));
    const std::string& k = ins.keyword;
    if (k == "RUN") return run_step(st, ins);
    if (k == "COPY" || k == "ADD") return copy_step(st, ins, si, done);
    // Config only. The key is what the instruction says, expanded, on the old config.
    // (The arguments as JSON with the form: CMD a b and CMD ["a","b"] are not one key.)
    std::string what = k + (ins.json ? " json " : " ") + json(ins.args).dump();
    if (k == "CMD") st.cmd_set = true;  // before the cache: a hit must count too
    if (k == "ARG") {
      for (const auto& d : arg_decls(ins)) {
        used_args_.insert(d.name);
        std::optional<std::string> v;
        if (o_.build_args.count(d.name)) v = o_.build_args.at(d.name);
        else if (d.value) v = *d.value;
        else if (global_defaults_.count(d.name)) v = global_defaults_[d.name];
        if (v) st.args[d.name] = *v;
        what += v ? " " + d.name + "=" + *v : "";
      }
    }
    pending_key_ = key_of(st, what);
    BERTH_ASSIGN(bool hit, use_cache(st, pending_key_));
    if (hit) return {};
    json& c = cfg(st);
    if (k == "ENV") {
      for (size_t i = 0; i + 1 < ins.args.size(); i += 2) set_env(c, ins.args[i], ins.args[i + 1]);
    } else if (k == "LABEL") {
      for (size_t i = 0; i + 1 < ins.args.size(); i += 2) c["Labels"][ins.args[i]] = ins.args[i + 1];
    } else if (k == "MAINTAINER") {
      st.config["author"] = ins.args.empty() ? "" : ins.args[0];
    } else if (k == "EXPOSE") {
      for (const auto& p : ins.args) c["ExposedPorts"][p.find('/') == std::string::npos ? p + "/tcp" : p] = json::object();
    } else if (k == "VOLUME") {
      for (const auto& p : ins.args) {
        if (p.empty()) return make_error(Code::InvalidArgument, "VOLUME specified can not be an empty string");
        c["Volumes"][p] = json::object();
      }
    } else if (k == "USER") {
      c["User"] = ins.args.empty() ? "" : ins.args[0];
    } else if (k == "WORKDIR") {
      std::string w = ins.args.empty() ? "" : ins.args[0];
      std::string cur = c.value("WorkingDir", "");
      if (!w.empty() && w[0] != '/') w = (cur.empty() ? "/" : cur + "/") + w;
      c["WorkingDir"] = w;
    } else if (k == "CMD" || k == "ENTRYPOINT") {
      json v = json::array();
      if (ins.json) {
        for (const auto& a : ins.args) v.push_back(a);
      } else {
        for (const auto& a : shell_of(st)) v.push_back(a);
        v.push_back(ins.args.empty() ? "" : ins.args[0]);
      }
      c[k == "CMD" ? "Cmd" : "Entrypoint"] = v;
      if (k == "CMD") st.cmd_set = true;
      if (k == "ENTRYPOINT" && !st.cmd_set) c["Cmd"] = nullptr;
    } else if (k == "SHELL") {
      c["Shell"] = ins.args;
    } else if (k == "STOPSIGNAL") {
      c["StopSignal"] = ins.args.empty() ? "" : ins.args[0];
    } else if (k == "HEALTHCHECK") {
      BERTH_ASSIGN(HealthConfig h, health_config(ins));
      json hc = {{"Test", h.test}};
      if (h.interval_ns) hc["Interval"] = h.interval_ns;
      if (h.timeout_ns) hc["Timeout"] = h.timeout_ns;
      if (h.start_period_ns) hc["StartPeriod"] = h.start_period_ns;
      if (h.retries) hc["Retries"] = h.retries;
      c["Healthcheck"] = hc;
    } else if (k == "ONBUILD") {
      if (!c.contains("OnBuild") || !c["OnBuild"].is_array()) c["OnBuild"] = json::array();
      c["OnBuild"].push_back(ins.args.empty() ? "" : ins.args[0]);
    } else if (k != "ARG") {
      return make_error(Code::InvalidArgument, "unknown instruction: " + k);
    }
    return commit_config(st, what);
  }

  Status run_step(StageState& st, const Instruction& ins) {
    std::vector<std::string> cmd;
    if (ins.json) {
      cmd = ins.args;
    } else {
      cmd = shell_of(st);
      cmd.push_back(ins.args.empty() ? "" : ins.args[0]);
    }
    // ARG values reach RUN as environment (not kept in the image), and are part of its
    // key and history, as Docker's "|N K=V ... cmd".
    std::vector<std::string> arg_env;
    Env image_env = expansion_env(st);
    for (const auto& [k, v] : st.args) {
      bool shadowed = false;
      for (const auto& kv : cfg(st).value("Env", json::array())) shadowed |= util::starts_with(kv.get<std::string>(), k + "=");
      if (!shadowed) arg_env.push_back(k + "=" + v);
    }
    std::string created_by = (arg_env.empty() ? "" : "|" + std::to_string(arg_env.size()) + " " + util::join(arg_env, " ") + " ") +
                             util::join(cmd, " ");
    std::string key = key_of(st, "RUN " + json(cmd).dump() + " " + json(arg_env).dump());
    BERTH_ASSIGN(bool hit, use_cache(st, key));
    if (hit) return {};
    if (!st.image) return make_error(Code::InvalidArgument, "RUN on an empty image (FROM scratch) has no program to run");
    containers::CreateRequest req;
    req.image = st.image->id;
    req.command = cmd;
    req.entrypoint_set = true;
    req.env = arg_env;
    BERTH_ASSIGN(containers::Container c, containers::create(e_, req));
    sdk::ScopeGuard drop([&] { (void)containers::remove(e_, c, true, true); });
    say(" ---> Running in " + c.short_id());
    std::fflush(o_.out);
    containers::AttachOptions a;
    a.output = !o_.quiet;
    BERTH_ASSIGN(containers::StartReport r, containers::start(e_, c, a));
    int code = r.exit_code;
    if (!a.output) {
      // -q: wait for it without its output.
      for (;;) {
        auto now = containers::find(e_, c.id);
        if (!now || !now->monitored()) {
          if (now) code = now->exit_code;
          break;
        }
        ::usleep(20'000);
      }
    }
    if (!r.started) return make_error(Code::InvalidArgument, r.error);
    if (code != 0) {
      if (run_exit_ != nullptr) *run_exit_ = code;
      return make_error(Code::InvalidArgument, "The command '" + util::join(cmd, " ") + "' returned a non-zero code: " + std::to_string(code));
    }
    BERTH_ASSIGN(auto stopped, containers::find(e_, c.id));
    BERTH_ASSIGN(std::string diff_id, images::commit_container_layer(e_, stopped, *st.image));
    drop.dismiss();
    BERTH_TRY(containers::remove(e_, stopped, true, true));
    say("Removing intermediate container " + c.short_id());
    std::string parent_chain = st.image->top_chain_id;
    Status s = record_step(st, created_by, key, diff_id);
    if (!s) e_.images().forget_unused({images::ImageStore::chain_of(parent_chain, diff_id)}, {diff_id});
    return s;
  }

  Status copy_step(StageState& st, const Instruction& ins, size_t si, const std::vector<std::optional<images::ImageRecord>>& done) {
    if (ins.args.size() < 2) return make_error(Code::InvalidArgument, ins.keyword + " requires at least two arguments");
    CopyJob job;
    job.keyword = ins.keyword;
    job.add = ins.keyword == "ADD";
    job.chown = ins.flag("chown").value_or("");
    std::string dest = ins.args.back();
    std::string wd = cfg(st).value("WorkingDir", "");
    if (dest.empty() || dest[0] != '/') dest = (wd.empty() ? "/" : wd + "/") + dest;
    // "." and a trailing "/" (or "/.") mean a directory; the path itself is cleaned.
    bool as_dir = dest.back() == '/' || dest == "." || (dest.size() >= 2 && dest.compare(dest.size() - 2, 2, "/.") == 0);
    BERTH_ASSIGN(std::string cleaned, clean_source(dest));
    dest = "/" + cleaned + (as_dir && !cleaned.empty() ? "/" : "");
    job.dest = dest;
    // Where the sources are: the context, another stage's image, an image, or downloads.
    std::optional<images::ImageRecord> from;
    std::string src_label = "context";
    if (auto f = ins.flag("from"); f && !job.add) {
      BERTH_ASSIGN(auto stage, copy_from_stage(df_, *f, si));
      if (stage) {
        from = done[*stage];
        if (!from) return make_error(Code::InvalidArgument, "stage " + *f + " produced no image");
      } else {
        BERTH_ASSIGN(from, base_image(*f));
      }
      job.from_image = true;
      src_label = from->id;
    }
    std::string staging;
    sdk::ScopeGuard drop_staging([&] {
      if (!staging.empty()) (void)fs::remove_tree(staging);
    });
    util::Sha256 h;
    for (size_t i = 0; i + 1 < ins.args.size(); ++i) {
      const std::string& s = ins.args[i];
      if (job.add && (util::starts_with(s, "http://") || util::starts_with(s, "https://"))) {
        // ADD URL: fetched now; its bytes are what the cache compares.
        if (staging.empty()) {
          staging = e_.config().state_root + "/images/tmp/add-" + util::random_hex(6);
          BERTH_TRY(fs::make_dirs(staging, 0700));
        }
        std::string name = s.substr(s.rfind('/') + 1);
        name = name.substr(0, name.find('?'));
        if (name.empty()) name = "index.html";
        BERTH_TRY(fetch_url(s, staging + "/" + name));
        job.sources.push_back(name);
        continue;
      }
      BERTH_ASSIGN(std::string rel, clean_source(s));
      job.sources.push_back(rel);
    }
    // Docker unpacks only local archives; a downloaded one is kept as it came.
    if (!staging.empty()) job.add = false;
    if (!staging.empty() && job.sources.size() != ins.args.size() - 1) {
      return make_error(Code::InvalidArgument, "ADD of URLs and local files together is not supported by berth");
    }
    std::string src_dir = staging.empty() ? context_ : staging;
    if (!job.from_image) {
      int root = ::open(src_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root < 0) return sys_error("open " + src_dir);
      for (const auto& rel : job.sources) {
        auto found = expand_source(root, rel, false);
        for (const auto& f : found) hash_tree(root, f, staging.empty() && ignore_ ? &*ignore_ : nullptr, &h);
        if (found.empty()) {
          ::close(root);
          return make_error(Code::NotFound, ins.keyword + " failed: file not found in build context or excluded by .dockerignore: stat " +
                                                (rel.empty() ? "." : rel) + ": file does not exist");
        }
      }
      ::close(root);
    }
    std::string sum = job.from_image ? src_label : "sha256:" + h.hex();
    std::string what = ins.keyword + " " + sum + " " + json(job.sources).dump() + " in " + dest + " " + job.chown;
    std::string key = key_of(st, what);
    BERTH_ASSIGN(bool hit, use_cache(st, key));
    if (hit) return {};

    // The copy: into a new snapshot on this step's top layer, committed as it is.
    std::string parent_chain = st.image ? st.image->top_chain_id : "";
    std::string snap = "build-" + util::random_hex(8);
    BERTH_ASSIGN(auto mounts, e_.storage().prepare(snap, parent_chain, {}));
    sdk::ScopeGuard drop_snap([&] { (void)e_.storage().remove(snap); });
    std::string scratch = e_.config().run_root + "/" + snap;
    BERTH_TRY(fs::make_dirs(scratch, 0700));
    sdk::ScopeGuard drop_scratch([&] { ::rmdir(scratch.c_str()); });
    std::vector<sdk::Mount> src_mounts;
    std::string src_key, src_scratch;
    sdk::ScopeGuard drop_src([&] {
      if (!src_key.empty()) (void)e_.storage().remove(src_key);
      if (!src_scratch.empty()) ::rmdir(src_scratch.c_str());
    });
    if (job.from_image) {
      src_key = "build-from-" + util::random_hex(8);
      BERTH_ASSIGN(src_mounts, e_.storage().view(src_key, from->top_chain_id, {}));
      src_scratch = scratch + "-from";
      BERTH_TRY(fs::make_dirs(src_scratch, 0700));
    }
    BERTH_TRY(copy_into_snapshot(mounts, scratch, src_dir, src_mounts, src_scratch, job,
                                 staging.empty() && !job.from_image && ignore_ ? &*ignore_ : nullptr));
    BERTH_ASSIGN(std::string diff_id, images::commit_snapshot(e_, parent_chain, snap));
    drop_snap.dismiss();
    std::string created_by = "/bin/sh -c #(nop) " + ins.keyword + " " + (job.from_image ? "from " + src_label.substr(7, 12) : sum) +
                             " in " + dest;
    Status s = record_step(st, created_by, key, diff_id);
    if (!s) e_.images().forget_unused({images::ImageStore::chain_of(parent_chain, diff_id)}, {diff_id});
    return s;
  }

  Status fetch_url(const std::string& url, const std::string& path) {
    BERTH_ASSIGN(registry::Http http, registry::Http::open());
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("create " + path);
    sdk::ScopeGuard closer([&] { ::close(fd); });
    registry::HttpRequest req;
    req.url = url;
    bool failed = false;
    req.sink = [&](long status, const char* d, size_t n) {
      if (status != 200) return true;
      if (!util::write_all(fd, std::string_view(d, n))) failed = true;
      return !failed;
    };
    BERTH_ASSIGN(registry::HttpResponse resp, http.send(req));
    if (resp.status != 200) return make_error(Code::Unavailable, "ADD failed: " + url + ": HTTP " + std::to_string(resp.status));
    if (failed) return sys_error("write " + path);
    // Docker keeps the server's Last-Modified as the file's time; 0600 as its mode.
    return {};
  }

  Engine& e_;
  const BuildOptions& o_;
  int* run_exit_;
  std::string context_;
  int context_fd_ = -1;
  Dockerfile df_;
  std::optional<dockerignore::Matcher> ignore_;
  size_t step_ = 0, total_ = 0;
  std::set<std::string> used_args_;
  std::map<std::string, std::optional<std::string>> global_defaults_;
  std::string pending_key_;
};

}  // namespace

Result<std::string> build(Engine& e, const BuildOptions& opts, int* run_exit) {
  Builder b(e, opts, run_exit);
  return b.run();
}

}  // namespace berth::build
