#pragma once

// Volume drivers, in the shape of Docker's volume plugin API. The core keeps which
// containers use which volume; the driver keeps the data, and a per-caller mount refcount
// that survives the process (a container keeps its volume mounted after the CLI exits).
//
// Concurrency: several berth processes may call one driver at once on the same state
// directory.

#include <string>
#include <vector>

#include "berth/sdk/options.hpp"
#include "berth/sdk/result.hpp"
#include "berth/sdk/visibility.hpp"

namespace berth::sdk {

struct VolumeInfo {
  std::string name;
  std::string driver;
  std::string mountpoint;   // where the data is on the host (`Mountpoint` in inspect)
  std::string created_at;   // RFC 3339
  Options options;          // as given to create()
  Labels labels;
  Options status;           // driver-specific facts (`Status` in inspect)
  std::string scope = "local";
};

struct VolumeCapabilities {
  std::string scope = "local";  // "local" or "global"
};

class BERTH_SDK_VISIBLE VolumeDriver {
 public:
  virtual ~VolumeDriver() = default;

  virtual std::string name() const = 0;
  virtual VolumeCapabilities capabilities() const = 0;

  // Creates the layout in the state directory. Called once per process before any other
  // method; Unsupported means "skip here". Idempotent.
  virtual Status init() = 0;

  // Checks every option for create() without changing anything: unknown keys and bad values
  // are InvalidArgument errors naming them. The core calls it before create().
  virtual Status validate(const std::string& name, const Options& options) = 0;

  // Makes the volume. AlreadyExists if it exists. On failure nothing is left.
  virtual Result<VolumeInfo> create(const std::string& name, const Options& options,
                                    const Labels& labels) = 0;

  // Deletes the volume and its data. Conflict while any caller has it mounted; NotFound if
  // unknown. The core has already checked that no container refers to it.
  virtual Status remove(const std::string& name) = 0;

  virtual Result<VolumeInfo> get(const std::string& name) = 0;
  virtual Result<std::vector<VolumeInfo>> list() = 0;

  // Where the data is, without mounting anything.
  virtual Result<std::string> path(const std::string& name) = 0;

  // Makes the data available for `caller_id` (a container id) and returns the host path to
  // bind into the container. Refcounted per caller: a second mount by the same caller is a
  // no-op. Mounts on first use when the volume needs it (tmpfs, device).
  virtual Result<std::string> mount(const std::string& name, const std::string& caller_id) = 0;

  // Drops `caller_id`'s reference; unmounts at zero. Idempotent: unknown callers are ignored.
  virtual Status unmount(const std::string& name, const std::string& caller_id) = 0;

  // After a restart, re-takes `caller_id`'s reference for a container found running.
  virtual Status restore(const std::string& name, const std::string& caller_id) {
    (void)name;
    (void)caller_id;
    return {};
  }
};

}  // namespace berth::sdk
