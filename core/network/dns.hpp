#pragma once

// The embedded DNS server's wire format (RFC 1035): parsing a query's question, and
// building the answers berth gives itself. Forwarded queries are relayed byte for byte.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::network::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kClassIN = 1;

struct Question {
  uint16_t id = 0;
  std::string name;        // lower case, without the trailing dot: "web", "db.example"
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t end = 0;          // offset just past the question in the message
};

// The first question of a standard query; nullopt for anything else (responses, other
// opcodes, malformed or compressed questions).
std::optional<Question> parse_query(std::string_view msg);

// A response to `query` (the original message) with A records for `ipv4` (host order),
// or, when empty, NOERROR with no answers (`nxdomain`: NXDOMAIN instead).
std::string answer(std::string_view query, const Question& q, const std::vector<uint32_t>& ipv4,
                   bool nxdomain = false, uint32_t ttl = 600);

// SERVFAIL for `query` (no upstream answered, or none is configured).
std::string servfail(std::string_view query, const Question& q);

}  // namespace berth::network::dns
