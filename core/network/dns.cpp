#include "network/dns.hpp"

#include <cctype>

namespace berth::network::dns {

namespace {

uint16_t u16(std::string_view m, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) | static_cast<uint8_t>(m[at + 1]));
}

void put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

void put32(std::string* out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}

// Header and question of the response: the query's id, QR set, opcode and RD kept, RA set.
std::string response_head(std::string_view query, const Question& q, uint8_t rcode, uint16_t answers) {
  std::string out;
  put16(&out, q.id);
  uint8_t flags1 = static_cast<uint8_t>(0x80 | (static_cast<uint8_t>(query[2]) & 0x79));  // QR, opcode, RD
  out.push_back(static_cast<char>(flags1));
  out.push_back(static_cast<char>(0x80 | (rcode & 0x0f)));  // RA
  put16(&out, 1);
  put16(&out, answers);
  put16(&out, 0);
  put16(&out, 0);
  out.append(query.substr(12, q.end - 12));
  return out;
}

}  // namespace

std::optional<Question> parse_query(std::string_view m) {
  if (m.size() < 12 + 5) return std::nullopt;
  uint8_t flags1 = static_cast<uint8_t>(m[2]);
  if ((flags1 & 0x80) != 0 || ((flags1 >> 3) & 0x0f) != 0) return std::nullopt;  // a response, or not QUERY
  if (u16(m, 4) < 1) return std::nullopt;
  Question q;
  q.id = u16(m, 0);
  size_t at = 12;
  for (;;) {
    if (at >= m.size()) return std::nullopt;
    uint8_t len = static_cast<uint8_t>(m[at]);
    if (len == 0) {
      ++at;
      break;
    }
    if ((len & 0xc0) != 0 || at + 1 + len > m.size() || q.name.size() + len > 253) return std::nullopt;
    if (!q.name.empty()) q.name += '.';
    for (size_t i = 0; i < len; ++i) q.name += static_cast<char>(std::tolower(static_cast<unsigned char>(m[at + 1 + i])));
    at += 1 + len;
  }
  if (at + 4 > m.size()) return std::nullopt;
  q.qtype = u16(m, at);
  q.qclass = u16(m, at + 2);
  q.end = at + 4;
  return q;
}

std::string answer(std::string_view query, const Question& q, const std::vector<uint32_t>& ipv4, bool nxdomain,
                   uint32_t ttl) {
  bool with_a = q.qtype == kTypeA && !ipv4.empty();
  std::string out = response_head(query, q, nxdomain ? 3 : 0, with_a ? static_cast<uint16_t>(ipv4.size()) : 0);
  out[2] = static_cast<char>(out[2] | 0x04);  // AA: these names are ours
  if (!with_a) return out;
  for (uint32_t ip : ipv4) {
    put16(&out, 0xc00c);  // the name: a pointer to the question's
    put16(&out, kTypeA);
    put16(&out, kClassIN);
    put32(&out, ttl);
    put16(&out, 4);
    put32(&out, ip);
  }
  return out;
}

std::string servfail(std::string_view query, const Question& q) { return response_head(query, q, 2, 0); }

}  // namespace berth::network::dns
