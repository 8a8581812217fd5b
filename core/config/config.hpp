#pragma once

// The host's configuration: one typed struct, filled from the TOML file (or the embedded
// default) and then overridden by command-line flags. See docs/configuration.md.

#include <map>
#include <string>
#include <vector>

#include "berth/sdk/options.hpp"
#include "berth/sdk/result.hpp"

namespace berth::config {

struct DefaultNetwork {
  // Without [networks.default], containers join `none` (a namespace with only lo).
  std::string name = "none";
  std::string driver = "null";
  std::string subnet;
  std::string gateway;
};

// [registries."HOST[:PORT]"]: how to reach one registry.
struct RegistrySettings {
  // Plain HTTP is allowed (HTTPS is tried first, its certificate not checked), as Docker's
  // insecure-registries. Loopback registries are insecure without saying so, as Docker's.
  bool insecure = false;
  // Tried in order for pulls before the registry itself: "HOST[:PORT]" or a URL with
  // http:// or https://.
  std::vector<std::string> mirrors;
  // Nothing is pulled from or pushed to it (as podman's registries.conf `blocked`).
  bool blocked = false;
};

struct HostConfig {
  std::string source;  // the file it came from, or "<embedded default>"
  std::string state_root = "/var/lib/berth";
  std::string run_root = "/run/berth";
  std::string log_level = "warn";
  std::vector<std::string> plugin_dirs;   // every berth plugin found in these is loaded
  std::vector<std::string> plugin_paths;  // and these, by path
  std::string storage_driver = "overlay";
  std::string default_volume_driver = "local";
  DefaultNetwork default_network;
  // Where the embedded DNS sends names it does not know ("IP" or "IP:PORT"); empty: the
  // nameservers of the host's /etc/resolv.conf. ([networks] dns_upstream)
  std::vector<std::string> dns_upstream;
  std::map<std::string, RegistrySettings> registries;
  // "network.bridge" -> options, from [drivers."network.bridge"]
  std::map<std::string, sdk::Options> driver_options;
};

inline constexpr const char* kDefaultConfigPath = "/etc/berth/berth.toml";

// The TOML text used when no configuration file exists.
const char* embedded_default_config();

// Parses TOML text. `source` names it in errors ("file:line:column: ...").
Result<HostConfig> parse_config(const std::string& text, const std::string& source);

// Finds and loads the configuration: `explicit_path` (--config) if given, else
// $BERTH_CONFIG, else /etc/berth/berth.toml, else the embedded default. An explicitly
// named file that does not exist is an error.
Result<HostConfig> load_config(const std::string& explicit_path);

}  // namespace berth::config
