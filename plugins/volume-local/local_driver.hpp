#pragma once

// Driver `local`: Docker's local volumes.
//
// On-disk layout, under the volumes root (`<state_root>/volumes` by default, beside the
// driver's own state directory `<state_root>/plugins/volume.local`; the TOML
// option `root` moves it):
//   <root>/<name>/_data       the data, bind-mounted into containers (`Mountpoint`)
//   <root>/<name>/meta        key=value: created, opt.<key>, label.<key>
//   <root>/<name>/refs/<id>   one empty file per container holding the volume mounted
// Volumes with `type` (and `device`, `o`: Docker's options, as for mount(8)) are mounted on
// _data by the first mount() and unmounted by the last unmount(); plain volumes are the
// directory itself. A name is made under <root>/.tmp-* and renamed into place, so a volume
// is there whole or not at all; refs are files so that the count survives the process.

#include <string>

#include "berth/sdk/driver_context.hpp"
#include "berth/sdk/volume_driver.hpp"

namespace berth::vol::local {

class LocalDriver : public sdk::VolumeDriver {
 public:
  explicit LocalDriver(const sdk::DriverContext& ctx);
  static Status validate_options(const sdk::Options& options);  // TOML: root

  std::string name() const override { return "local"; }
  sdk::VolumeCapabilities capabilities() const override { return {}; }
  Status init() override;
  Status validate(const std::string& name, const sdk::Options& options) override;
  Result<sdk::VolumeInfo> create(const std::string& name, const sdk::Options& options,
                                 const sdk::Labels& labels) override;
  Status remove(const std::string& name) override;
  Result<sdk::VolumeInfo> get(const std::string& name) override;
  Result<std::vector<sdk::VolumeInfo>> list() override;
  Result<std::string> path(const std::string& name) override;
  Result<std::string> mount(const std::string& name, const std::string& caller_id) override;
  Status unmount(const std::string& name, const std::string& caller_id) override;
  Status restore(const std::string& name, const std::string& caller_id) override;

 private:
  std::string dir(const std::string& name) const { return root_ + "/" + name; }
  std::string root_;
};

}  // namespace berth::vol::local
