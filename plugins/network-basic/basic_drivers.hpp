#pragma once

// Drivers `host` and `null`: the two built-in networks that need no kernel objects.
//   host: the container stays in the host's network namespace (and sees its hostname);
//   null: the container gets its own network namespace with only `lo`, which the runtime
//         brings up.
// Each has exactly one network (`host`, `none`), which cannot be removed, and neither
// supports connect/disconnect.

#include "berth/sdk/driver_context.hpp"
#include "berth/sdk/network_driver.hpp"

namespace berth::net::basic {

class BasicDriver : public sdk::NetworkDriver {
 public:
  BasicDriver(const sdk::DriverContext& ctx, std::string name, bool host);
  static Status validate_options(const sdk::Options& options);

  std::string name() const override { return name_; }
  sdk::NetworkCapabilities capabilities() const override;
  Status init() override { return {}; }
  Status validate_network(const sdk::NetworkSpec& spec) override;
  Status create_network(const sdk::NetworkSpec& spec) override;
  Status delete_network(const sdk::NetworkSpec& spec) override;
  Result<sdk::EndpointInfo> create_endpoint(const sdk::NetworkSpec& network,
                                            const sdk::EndpointSpec& endpoint) override;
  Result<sdk::JoinResult> join(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
                               const sdk::Sandbox& sandbox) override;
  Status leave(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
               const sdk::Sandbox& sandbox) override;
  Status delete_endpoint(const sdk::NetworkSpec& network,
                         const sdk::EndpointSpec& endpoint) override;
  Status restore(const sdk::NetworkSpec& spec) override;

 private:
  std::string name_;
  bool host_;
};

class HostDriver final : public BasicDriver {
 public:
  explicit HostDriver(const sdk::DriverContext& ctx) : BasicDriver(ctx, "host", true) {}
};

class NullDriver final : public BasicDriver {
 public:
  explicit NullDriver(const sdk::DriverContext& ctx) : BasicDriver(ctx, "null", false) {}
};

}  // namespace berth::net::basic
