#pragma once
// A do-nothing network driver the broken test plugins wrap; what matters in each of them is
// the descriptor, not the driver.
#include <stdexcept>

#include "berth/sdk/network_driver.hpp"
#include "berth/sdk/plugin.hpp"

namespace berth_test {

class QuietDriver : public berth::sdk::NetworkDriver {
 public:
  explicit QuietDriver(const berth::sdk::DriverContext&) {}
  std::string name() const override { return "quiet"; }
  berth::sdk::NetworkCapabilities capabilities() const override { return {}; }
  berth::Status init() override { return {}; }
  berth::Status validate_network(const berth::sdk::NetworkSpec&) override { return {}; }
  berth::Status create_network(const berth::sdk::NetworkSpec&) override { return {}; }
  berth::Status delete_network(const berth::sdk::NetworkSpec&) override { return {}; }
  berth::Result<berth::sdk::EndpointInfo> create_endpoint(const berth::sdk::NetworkSpec&,
                                                          const berth::sdk::EndpointSpec&) override {
    return berth::sdk::EndpointInfo{};
  }
  berth::Result<berth::sdk::JoinResult> join(const berth::sdk::NetworkSpec&, const berth::sdk::EndpointSpec&,
                                             const berth::sdk::Sandbox&) override {
    return berth::sdk::JoinResult{};
  }
  berth::Status leave(const berth::sdk::NetworkSpec&, const berth::sdk::EndpointSpec&,
                      const berth::sdk::Sandbox&) override {
    return {};
  }
  berth::Status delete_endpoint(const berth::sdk::NetworkSpec&, const berth::sdk::EndpointSpec&) override {
    return {};
  }
  berth::Status restore(const berth::sdk::NetworkSpec&) override { return {}; }
};

class ThrowingDriver : public QuietDriver {
 public:
  explicit ThrowingDriver(const berth::sdk::DriverContext& ctx) : QuietDriver(ctx) {
    throw std::runtime_error("boom from the test plugin");
  }
};

}  // namespace berth_test
