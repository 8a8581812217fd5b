#pragma once

// The mount flags of `run`/`create` as Docker parses them: -v SOURCE:DEST[:MODE] and
// --mount KEY=VALUE,... Each becomes a MountSpec; nothing is made while parsing.

#include <string>

#include "berth/sdk/options.hpp"
#include "berth/sdk/result.hpp"

namespace berth::volumes {

struct MountSpec {
  std::string source, destination, mode;
  bool rw = true;
  bool volume = false;          // source is a volume's name ("" an anonymous one)
  std::string driver;           // --mount volume-driver= ("" the host's default)
  sdk::Options volume_options;  // --mount volume-opt=, for a volume made now
  bool must_exist = false;      // --mount type=bind: the source is not made
  std::string tmpfs;            // --mount type=tmpfs: its options (is_tmpfs is then true)
  bool is_tmpfs = false;
  bool nocopy = false;          // -v NAME:/p:nocopy, --mount volume-nocopy: no copy-up
  std::string propagation;      // binds: private rprivate shared rshared slave rslave; "" rprivate
};

// A path made absolute-clean: "//a/./b/../c/" -> "/a/c".
std::string clean_path(const std::string& p);
// -v /path (anonymous volume), -v NAME:/path[:opts], -v /host:/path[:opts].
Result<MountSpec> parse_bind(const std::string& spec);
// --mount type=volume|bind|tmpfs,source=,target=,readonly,volume-opt=k=v,volume-driver=,
// volume-nocopy,tmpfs-size=,tmpfs-mode=,bind-propagation=.
Result<MountSpec> parse_mount(const std::string& spec);
// Docker's check for a bind whose propagation reaches the host: shared needs the mount
// holding the source to be shared, slave needs it shared or a slave. A source not made yet
// is judged by its nearest existing parent (where it will be made).
Status check_propagation(const MountSpec& b);

}  // namespace berth::volumes
