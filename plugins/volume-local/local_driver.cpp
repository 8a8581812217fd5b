#include "local_driver.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <map>
#include <sstream>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/mount.hpp"
#include "berth/sdk/options.hpp"
#include "berth/sdk/plugin.hpp"

namespace berth::vol::local {

namespace fs = sdk::fs;

namespace {

bool valid_name(const std::string& n) {
  if (n.size() < 2 || n.size() > 255 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

std::string now_rfc3339() {
  char buf[64];
  time_t t = ::time(nullptr);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::map<std::string, std::string> read_kv(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

// mount(8)'s `o=` split into flags the kernel takes as bits and the rest as data.
struct MountOpts {
  unsigned long flags = 0;
  std::string data;
};
MountOpts parse_o(const std::string& o) {
  static const std::map<std::string, unsigned long> kFlags = {
      {"ro", MS_RDONLY}, {"rw", 0},           {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV},
      {"noexec", MS_NOEXEC}, {"bind", MS_BIND}, {"rbind", MS_BIND | MS_REC}, {"noatime", MS_NOATIME}};
  MountOpts m;
  std::string item;
  std::istringstream in(o);
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    auto it = kFlags.find(item);
    if (it != kFlags.end()) {
      m.flags |= it->second;
    } else {
      m.data += (m.data.empty() ? "" : ",") + item;
    }
  }
  return m;
}


// Whether `path` is a mount point now, by the kernel's own list (a bind of a directory on
// the same file system has the same device number as its parent).
bool mounted_now(const std::string& path) {
  auto table = sdk::mount_table();
  if (!table) return true;  // unknown: assume the worst
  return std::any_of(table->begin(), table->end(), [&](const sdk::MountEntry& m) { return m.point == path; });
}

// Whether the volume's data is a mount of its own (type=, or device= with o=bind).
bool mounted_type(const sdk::VolumeInfo& v) { return v.options.count("type") != 0 || v.options.count("device") != 0; }

}  // namespace

LocalDriver::LocalDriver(const sdk::DriverContext& ctx) {
  auto it = ctx.options.find("root");
  if (it != ctx.options.end()) {
    root_ = it->second;
  } else {
    // <state_root>/plugins/volume.local -> <state_root>/volumes
    std::string s = ctx.state_dir;
    for (int i = 0; i < 2 && s.rfind('/') != std::string::npos; ++i) s = s.substr(0, s.rfind('/'));
    root_ = s + "/volumes";
  }
}

Status LocalDriver::validate_options(const sdk::Options& options) {
  sdk::OptionReader r(options, "driver 'local'");
  std::string root = r.get("root", "");
  BERTH_TRY(r.finish());
  if (r.has("root") && (root.empty() || root[0] != '/')) {
    return make_error(Code::InvalidArgument, "driver 'local': root '" + root + "' must be an absolute path");
  }
  return {};
}

Status LocalDriver::init() { return fs::make_dirs(root_, 0701); }

Status LocalDriver::validate(const std::string& name, const sdk::Options& options) {
  if (!valid_name(name)) {
    return make_error(Code::InvalidArgument, "create " + name + ": \"" + name +
                                                 "\" includes invalid characters for a local volume name, only "
                                                 "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed");
  }
  sdk::OptionReader r(options, "volume driver 'local'");
  std::string type = r.get("type");
  std::string device = r.get("device");
  std::string o = r.get("o");
  BERTH_TRY(r.finish());
  if (!type.empty() && device.empty() && type != "tmpfs") {
    return make_error(Code::InvalidArgument, "volume driver 'local': type=" + type + " needs device=");
  }
  if (type.empty() && !device.empty() && parse_o(o).flags & MS_BIND) return {};
  if (type.empty() && (!device.empty() || !o.empty())) {
    return make_error(Code::InvalidArgument, "volume driver 'local': device and o need type= (or o=bind)");
  }
  return {};
}

Result<sdk::VolumeInfo> LocalDriver::create(const std::string& name, const sdk::Options& options,
                                            const sdk::Labels& labels) {
  BERTH_TRY(validate(name, options));
  if (fs::exists(dir(name))) return make_error(Code::AlreadyExists, "volume " + name + " already exists");
  std::string tmp = root_ + "/.tmp-" + name;
  (void)fs::remove_tree(tmp);
  BERTH_TRY(fs::make_dirs(tmp + "/_data", 0755));
  BERTH_TRY(fs::make_dirs(tmp + "/refs", 0700));
  std::string meta = "created=" + now_rfc3339() + "\n";
  for (const auto& [k, v] : options) meta += "opt." + k + "=" + v + "\n";
  for (const auto& [k, v] : labels) meta += "label." + k + "=" + v + "\n";
  Status s = fs::write_file_atomic(tmp + "/meta", meta, 0600);
  if (s && ::rename(tmp.c_str(), dir(name).c_str()) != 0) {
    s = errno == EEXIST || errno == ENOTEMPTY ? Status(make_error(Code::AlreadyExists, "volume " + name + " already exists"))
                                              : Status(sys_error("create volume " + name));
  }
  if (!s) {
    (void)fs::remove_tree(tmp);
    return std::move(s).error();
  }
  return get(name);
}

Result<sdk::VolumeInfo> LocalDriver::get(const std::string& name) {
  if (!valid_name(name)) return make_error(Code::NotFound, "get " + name + ": no such volume");
  auto meta = fs::read_file(dir(name) + "/meta");
  if (!meta) return make_error(Code::NotFound, "get " + name + ": no such volume");
  sdk::VolumeInfo v;
  v.name = name;
  v.driver = "local";
  v.mountpoint = dir(name) + "/_data";
  for (const auto& [k, val] : read_kv(*meta)) {
    if (k == "created") v.created_at = val;
    if (k.rfind("opt.", 0) == 0) v.options[k.substr(4)] = val;
    if (k.rfind("label.", 0) == 0) v.labels[k.substr(6)] = val;
  }
  return v;
}

Result<std::vector<sdk::VolumeInfo>> LocalDriver::list() {
  std::vector<sdk::VolumeInfo> out;
  for (const auto& n : fs::list_dir(root_)) {
    if (n.rfind(".tmp-", 0) == 0) continue;
    if (auto v = get(n); v) out.push_back(*v);
  }
  return out;
}

Result<std::string> LocalDriver::path(const std::string& name) {
  BERTH_ASSIGN(auto v, get(name));
  return v.mountpoint;
}

Result<std::string> LocalDriver::mount(const std::string& name, const std::string& caller_id) {
  BERTH_ASSIGN(auto v, get(name));
  // Mount counting is a read-modify-write shared by every berth process: under the
  // volume directory's lock.
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(dir(name)));
  std::string ref = dir(name) + "/refs/" + caller_id;
  bool first = fs::list_dir(dir(name) + "/refs").empty();
  auto type = v.options.find("type");
  auto device = v.options.find("device");
  bool bind_only = type == v.options.end() && device != v.options.end();
  if (first && (type != v.options.end() || bind_only)) {
    std::string o = v.options.count("o") ? v.options.at("o") : "";
    MountOpts m = parse_o(o);
    std::string dev = device != v.options.end() ? device->second : type->second;
    const char* fstype = bind_only || (m.flags & MS_BIND) ? nullptr : type->second.c_str();
    if (::mount(dev.c_str(), v.mountpoint.c_str(), fstype, m.flags, m.data.empty() ? nullptr : m.data.c_str()) != 0) {
      return sys_error("mount volume " + name + " (" + dev + ")");
    }
  }
  if (!fs::exists(ref)) {
    int fd = ::open(ref.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("record a mount of volume " + name);
    ::close(fd);
  }
  return v.mountpoint;
}

Status LocalDriver::unmount(const std::string& name, const std::string& caller_id) {
  auto v = get(name);
  if (!v) return {};
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(dir(name)));
  std::string ref = dir(name) + "/refs/" + caller_id;
  if (::unlink(ref.c_str()) != 0) return {};  // not this caller's: nothing to drop
  if (!fs::list_dir(dir(name) + "/refs").empty()) return {};
  // (A bind of a directory on the same file system keeps the device number, so whether
  // _data is mounted is what the volume's options say; EINVAL: it was not.)
  if (mounted_type(*v) && ::umount2(v->mountpoint.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
    return sys_error("unmount volume " + name);
  }
  return {};
}

Status LocalDriver::restore(const std::string& name, const std::string& caller_id) {
  return mount(name, caller_id).status();
}

Status LocalDriver::remove(const std::string& name) {
  BERTH_ASSIGN(auto v, get(name));
  {
    BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(dir(name)));
    if (!fs::list_dir(dir(name) + "/refs").empty()) {
      return make_error(Code::Conflict, "remove " + name + ": volume is in use");
    }
    if (mounted_type(v)) (void)::umount2(v.mountpoint.c_str(), MNT_DETACH);
    // Deleting through a mount would delete what it shows (a bound host directory).
    if (mounted_now(v.mountpoint)) {
      return make_error(Code::Conflict, "remove " + name + ": its data is still mounted at " + v.mountpoint);
    }
  }
  // Renamed first: a half-deleted volume is never listed.
  std::string gone = root_ + "/.tmp-rm-" + name;
  if (::rename(dir(name).c_str(), gone.c_str()) != 0) return sys_error("remove volume " + name);
  return fs::remove_tree(gone);
}

}  // namespace berth::vol::local

namespace {

const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::volume_driver<berth::vol::local::LocalDriver>("local"),
  };
  static const berth::sdk::PluginDescriptor plugin = berth::sdk::make_plugin("volume-local", "0.1.0", drivers);
  return &plugin;
}

}  // namespace

BERTH_PLUGIN_ENTRY(describe)
