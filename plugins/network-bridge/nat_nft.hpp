#pragma once

// The bridge driver's nftables table: NAT for outbound traffic, port publishing, and the
// isolation of internal networks, all in one table the driver owns (`ip berth` unless the
// host's TOML names another). The table is rendered whole from the driver's state files
// and replaced in one nftables transaction, so a rule deleted or added by hand is put
// right by the next change, and no reader ever sees half a table:
//
//   table ip berth {
//     chain prerouting  { nat hook prerouting;  fib daddr type local jump publish }
//     chain output      { nat hook output;      fib daddr type local jump publish }
//     chain publish     { [ip daddr HOSTIP] tcp dport 8080 dnat to 172.17.0.2:80 comment "container ID" ... }
//     chain postrouting { nat hook postrouting;
//                         ip saddr SUBNET oifname != BRIDGE masquerade comment "network ID"
//                         oifname BRIDGE ip saddr 127.0.0.0/8 masquerade    (localhost -> published port)
//                         oifname BRIDGE ct status dnat ip saddr SUBNET masquerade  (hairpin) }
//     chain forward     { filter hook forward;  internal networks: nothing in or out }
//   }

#include <cstdint>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::net::bridge {

struct NatNetwork {
  std::string id;
  std::string bridge;
  std::string subnet;  // CIDR
  bool internal = false;
  bool masquerade = true;
};

struct NatPort {
  std::string container_id;
  std::string protocol;  // tcp, udp, sctp
  std::string host_ip;   // "" or "0.0.0.0": every local address
  uint16_t host_port = 0;
  std::string container_ip;
  uint16_t container_port = 0;
};

// The script that replaces `table` with the rules for `networks` and `ports` (or deletes
// the table when there are no networks).
std::string render_table(const std::string& table, const std::vector<NatNetwork>& networks,
                         const std::vector<NatPort>& ports);

// Runs an nft script through libnftables; the error names what nftables said.
Status run_nft(const std::string& script);

}  // namespace berth::net::bridge
