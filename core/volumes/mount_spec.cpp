#include "volumes/mount_spec.hpp"

#include <cctype>
#include <climits>
#include <cstdlib>
#include <set>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/mount.hpp"
#include "util/util.hpp"

namespace berth::volumes {

namespace fs = sdk::fs;

namespace {

const std::set<std::string>& propagation_modes() {
  static const std::set<std::string> kModes = {"private", "rprivate", "shared", "rshared", "slave", "rslave"};
  return kModes;
}

}  // namespace

Result<MountSpec> parse_mount(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    return make_error(Code::InvalidArgument, "invalid argument \"" + spec + "\" for \"--mount\" flag: " + why);
  };
  MountSpec b;
  b.volume = true;
  std::string type = "volume";
  std::vector<std::string> tmpfs_opts;
  std::string family_seen;  // "bind", "volume", "tmpfs": which type's own keys were given
  for (const auto& field : util::split(spec, ',')) {
    if (field.empty()) continue;
    auto eq = field.find('=');
    std::string key = util::to_lower(field.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : field.substr(eq + 1);
    bool flag = eq == std::string::npos;
    for (const char* f : {"bind", "volume", "tmpfs"}) {
      if (key.rfind(std::string(f) + "-", 0) == 0) family_seen = f;
    }
    if (key == "type") {
      type = value;
      if (type != "volume" && type != "bind" && type != "tmpfs") return bad("invalid type '" + type + "' (volume, bind or tmpfs)");
    } else if (key == "source" || key == "src") {
      b.source = value;
    } else if (key == "target" || key == "dst" || key == "destination") {
      b.destination = value;
    } else if (key == "readonly" || key == "ro") {
      if (!flag && value != "true" && value != "1" && value != "false" && value != "0") return bad("invalid value for " + key + ": " + value);
      b.rw = !(flag || value == "true" || value == "1");
      b.mode = b.rw ? "" : "ro";
    } else if (key == "volume-opt") {
      auto veq = value.find('=');
      if (veq == std::string::npos || veq == 0) return bad("volume-opt needs KEY=VALUE");
      b.volume_options[value.substr(0, veq)] = value.substr(veq + 1);
    } else if (key == "volume-driver") {
      b.driver = value;
    } else if (key == "volume-nocopy") {
      if (!flag && value != "true" && value != "1" && value != "false" && value != "0") return bad("invalid value for volume-nocopy: " + value);
      b.nocopy = flag || value == "true" || value == "1";
    } else if (key == "tmpfs-size") {
      if (value.empty() || value.find_first_not_of("0123456789kKmMgG") != std::string::npos) return bad("invalid tmpfs-size " + value);
      tmpfs_opts.push_back("size=" + value);
    } else if (key == "tmpfs-mode") {
      if (value.empty() || value.find_first_not_of("01234567") != std::string::npos) return bad("invalid tmpfs-mode " + value);
      tmpfs_opts.push_back("mode=" + value);
    } else if (key == "bind-propagation") {
      if (!propagation_modes().count(value)) return bad("invalid bind-propagation " + value);
      b.propagation = value;
    } else {
      return bad("unexpected key '" + key + "' in '" + field + "'");
    }
  }
  // Docker's rule: a type's own options only with that type.
  if (!family_seen.empty() && family_seen != type) {
    return bad("cannot mix '" + family_seen + "-*' options with mount type '" + type + "'");
  }
  if (b.destination.empty()) return bad("target is required");
  if (b.destination[0] != '/') return bad("invalid mount path: '" + b.destination + "' mount path must be absolute");
  b.destination = clean_path(b.destination);
  if (b.destination == "/") return bad("invalid mount path: '/' is not allowed");
  if (type == "bind") {
    b.volume = false;
    b.must_exist = true;
    if (b.source.empty()) return bad("source is required when type is bind");
    if (b.source[0] != '/') return bad("invalid mount config for type \"bind\": invalid mount path: '" + b.source + "' mount path must be absolute");
    b.source = clean_path(b.source);
    if (!fs::exists(b.source)) {
      return make_error(Code::InvalidArgument, "invalid mount config for type \"bind\": bind source path does not exist: " + b.source);
    }
  } else if (type == "tmpfs") {
    b.volume = false;
    b.is_tmpfs = true;
    if (!b.source.empty()) return bad("source is not allowed when type is tmpfs");
    if (!b.rw) tmpfs_opts.push_back("ro");
    b.tmpfs = util::join(tmpfs_opts, ",");
  } else if (!b.source.empty()) {
    // A volume's name, as for -v.
    BERTH_ASSIGN(auto as_v, parse_bind(b.source + ":" + b.destination));
    (void)as_v;
  }
  return b;
}

std::string clean_path(const std::string& p) {
  std::vector<std::string> parts;
  for (const auto& part : util::split(p, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  return "/" + util::join(parts, "/");
}

Result<MountSpec> parse_bind(const std::string& spec) {
  auto parts = util::split(spec, ':');
  auto invalid = [&](const std::string& why) {
    return make_error(Code::InvalidArgument, "invalid volume specification: '" + spec + "': " + why);
  };
  if (parts.size() == 1 && !spec.empty() && spec[0] == '/') {
    // -v /path: an anonymous volume, named when the container is made.
    MountSpec b;
    b.volume = true;
    b.destination = clean_path(spec);
    if (b.destination == "/") return invalid("invalid mount path: '/' is not allowed");
    return b;
  }
  if (parts.size() < 2 || parts.size() > 3) return invalid("expected SOURCE:DESTINATION[:OPTIONS]");
  MountSpec b;
  b.source = parts[0];
  b.destination = parts[1];
  if (b.source.empty()) return invalid("empty source");
  if (b.source[0] != '/') {
    // A named volume, made on first use. (Docker's rule for names.)
    b.volume = true;
    if (b.source.size() < 2 || !std::isalnum(static_cast<unsigned char>(b.source[0])) ||
        b.source.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            std::string::npos) {
      return make_error(Code::InvalidArgument, "create " + b.source + ": \"" + b.source +
                                                   "\" includes invalid characters for a local volume name, only "
                                                   "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a "
                                                   "host directory, use absolute path");
    }
  }
  if (b.destination.empty() || b.destination[0] != '/') {
    return invalid("invalid mount path: '" + b.destination + "' mount path must be absolute");
  }
  b.destination = clean_path(b.destination);
  if (b.destination == "/") return invalid("invalid mount path: '/' is not allowed");
  if (!b.volume) b.source = clean_path(b.source);
  if (parts.size() == 3) {
    b.mode = parts[2];
    for (const auto& opt : util::split(parts[2], ',')) {
      if (opt == "ro") {
        b.rw = false;
      } else if (opt == "nocopy") {
        b.nocopy = true;
      } else if (opt == "rw" || opt == "z" || opt == "Z") {
      } else if (propagation_modes().count(opt)) {
        // Propagation is a property of binds; a volume's mount is always private.
        if (b.volume) return invalid("invalid mode: " + opt);
        if (!b.propagation.empty()) return invalid("invalid mode: " + parts[2]);
        b.propagation = opt;
      } else {
        return invalid("invalid mode: " + opt);
      }
    }
  }
  return b;
}


Status check_propagation(const MountSpec& b) {
  const std::string& p = b.propagation;
  bool shared = p == "shared" || p == "rshared";
  bool slave = p == "slave" || p == "rslave";
  if (b.volume || b.is_tmpfs || (!shared && !slave)) return {};
  std::string at = b.source;
  while (at.size() > 1 && !fs::exists(at)) at = at.substr(0, std::max<size_t>(1, at.rfind('/')));
  char real[PATH_MAX];
  if (::realpath(at.c_str(), real) == nullptr) return sys_error("resolve '" + at + "'");
  BERTH_ASSIGN(auto m, sdk::mount_holding(real));
  if (shared && !m.shared()) {
    return make_error(Code::InvalidArgument, "path " + b.source + " is mounted on " + m.point + " but it is not a shared mount");
  }
  if (slave && !m.shared() && !m.slave()) {
    return make_error(Code::InvalidArgument,
                      "path " + b.source + " is mounted on " + m.point + " but it is not a shared or slave mount");
  }
  return {};
}

}  // namespace berth::volumes
