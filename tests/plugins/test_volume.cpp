// A third-party-style volume driver, `testvol`, for the tests: volumes are directories under
// its own state directory (<state_dir>/vols/NAME/data), each mount by a container a file in
// <state_dir>/vols/NAME/refs/, so tests can watch the engine's mount/unmount calls. Only
// the option `tag` is known (kept, shown in inspect).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/options.hpp"
#include "berth/sdk/plugin.hpp"
#include "berth/sdk/volume_driver.hpp"

namespace berth_test {

namespace fs = berth::sdk::fs;
using berth::Code;
using berth::make_error;
using berth::Result;
using berth::Status;

class TestVolumeDriver : public berth::sdk::VolumeDriver {
 public:
  explicit TestVolumeDriver(const berth::sdk::DriverContext& ctx) : root_(ctx.state_dir + "/vols") {}
  std::string name() const override { return "testvol"; }
  berth::sdk::VolumeCapabilities capabilities() const override { return {}; }
  Status init() override { return fs::make_dirs(root_, 0700); }
  Status validate(const std::string& name, const berth::sdk::Options& options) override {
    if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
      return make_error(Code::InvalidArgument, "testvol: bad name '" + name + "'");
    }
    berth::sdk::OptionReader r(options, "volume driver 'testvol'");
    (void)r.get("tag");
    return r.finish();
  }
  Result<berth::sdk::VolumeInfo> create(const std::string& name, const berth::sdk::Options& options,
                                        const berth::sdk::Labels& labels) override {
    BERTH_TRY(validate(name, options));
    if (fs::exists(root_ + "/" + name)) return make_error(Code::AlreadyExists, "testvol: " + name + " exists");
    BERTH_TRY(fs::make_dirs(root_ + "/" + name + "/data", 0755));
    BERTH_TRY(fs::make_dirs(root_ + "/" + name + "/refs", 0700));
    std::string meta;
    for (const auto& [k, v] : options) meta += "opt " + k + " " + v + "\n";
    for (const auto& [k, v] : labels) meta += "label " + k + " " + v + "\n";
    BERTH_TRY(fs::write_file_atomic(root_ + "/" + name + "/meta", meta, 0600));
    return get(name);
  }
  Status remove(const std::string& name) override {
    if (!fs::exists(root_ + "/" + name + "/meta")) return make_error(Code::NotFound, "testvol: no volume " + name);
    if (!fs::list_dir(root_ + "/" + name + "/refs").empty()) return make_error(Code::Conflict, "testvol: " + name + " is mounted");
    return fs::remove_tree(root_ + "/" + name);
  }
  Result<berth::sdk::VolumeInfo> get(const std::string& name) override {
    auto meta = fs::read_file(root_ + "/" + name + "/meta");
    if (!meta) return make_error(Code::NotFound, "get " + name + ": no such volume");
    berth::sdk::VolumeInfo v;
    v.name = name;
    v.driver = "testvol";
    v.mountpoint = root_ + "/" + name + "/data";
    v.created_at = "2026-01-01T00:00:00Z";
    std::istringstream in(*meta);
    std::string kind, k, val;
    while (in >> kind >> k >> val) (kind == "opt" ? v.options : v.labels)[k] = val;
    return v;
  }
  Result<std::vector<berth::sdk::VolumeInfo>> list() override {
    std::vector<berth::sdk::VolumeInfo> out;
    for (const auto& n : fs::list_dir(root_)) {
      if (auto v = get(n); v) out.push_back(*v);
    }
    return out;
  }
  Result<std::string> path(const std::string& name) override {
    BERTH_ASSIGN(auto v, get(name));
    return v.mountpoint;
  }
  Result<std::string> mount(const std::string& name, const std::string& caller_id) override {
    BERTH_ASSIGN(auto v, get(name));
    int fd = ::open((root_ + "/" + name + "/refs/" + caller_id).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return berth::sys_error("testvol: record mount");
    ::close(fd);
    return v.mountpoint;
  }
  Status unmount(const std::string& name, const std::string& caller_id) override {
    ::unlink((root_ + "/" + name + "/refs/" + caller_id).c_str());
    return {};
  }

 private:
  std::string root_;
};

}  // namespace berth_test

namespace {

const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::volume_driver<berth_test::TestVolumeDriver>("testvol"),
  };
  static const berth::sdk::PluginDescriptor plugin = berth::sdk::make_plugin("test-volume", "0.0.1", drivers);
  return &plugin;
}

}  // namespace

BERTH_PLUGIN_ENTRY(describe)
