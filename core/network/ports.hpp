#pragma once

// Published ports (`-p`, `-P`, `--expose`): parsing Docker's syntax, and the shapes they
// take in a container's spec (HostConfig.PortBindings, Config.ExposedPorts), in inspect
// (NetworkSettings.Ports), in `ps` (0.0.0.0:8080->80/tcp) and in `port` (80/tcp -> 0.0.0.0:8080).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "berth/sdk/network_driver.hpp"
#include "berth/sdk/result.hpp"

namespace berth::network {

// One `-p`: [[HOSTIP:][HOSTPORT]:]CTRPORT[/PROTO], where either port may be a range
// (8000-8009:80-89) of the same length; a host port of 0 (or none) is chosen at start.
Result<std::vector<sdk::PortMapping>> parse_publish(const std::string& spec);
// `--expose 80`, `--expose 8000-8009/udp`: the "80/tcp" keys of ExposedPorts.
Result<std::vector<std::string>> parse_expose(const std::string& spec);

// "80/tcp"
std::string port_key(const sdk::PortMapping& m);

// HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, and back.
nlohmann::json port_bindings_json(const std::vector<sdk::PortMapping>& ms);
std::vector<sdk::PortMapping> port_bindings_of(const nlohmann::json& bindings);

// A port the kernel has free now for `protocol` on `host_ip` (its ephemeral range).
Result<uint16_t> free_host_port(const std::string& protocol, const std::string& host_ip);

// What `ps` shows: published mappings, then exposed ports nobody published, sorted.
std::string ps_ports(const std::vector<sdk::PortMapping>& published, const nlohmann::json& exposed);

}  // namespace berth::network
