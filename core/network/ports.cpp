#include "network/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "util/util.hpp"

namespace berth::network {

using nlohmann::json;

namespace {

Result<std::pair<int, int>> parse_range(const std::string& text, const std::string& spec, bool allow_zero) {
  auto bad = [&] { return make_error(Code::InvalidArgument, "invalid port specification: \"" + spec + "\""); };
  auto dash = text.find('-');
  std::string a = text.substr(0, dash), b = dash == std::string::npos ? a : text.substr(dash + 1);
  if (a.empty() || b.empty() || a.find_first_not_of("0123456789") != std::string::npos ||
      b.find_first_not_of("0123456789") != std::string::npos || a.size() > 5 || b.size() > 5) {
    return bad();
  }
  int lo = std::stoi(a), hi = std::stoi(b);
  if (hi < lo || hi > 65535 || (lo == 0 && !allow_zero)) return bad();
  return std::pair{lo, hi};
}

Result<std::string> parse_proto(const std::string& p, const std::string& spec) {
  std::string proto = util::to_lower(p);
  if (proto != "tcp" && proto != "udp" && proto != "sctp") {
    return make_error(Code::InvalidArgument, "invalid proto: " + p + " in \"" + spec + "\"");
  }
  return proto;
}

}  // namespace

Result<std::vector<sdk::PortMapping>> parse_publish(const std::string& spec) {
  std::string rest = spec;
  std::string proto = "tcp";
  if (auto slash = rest.rfind('/'); slash != std::string::npos) {
    BERTH_ASSIGN(proto, parse_proto(rest.substr(slash + 1), spec));
    rest = rest.substr(0, slash);
  }
  std::string host_ip, host_ports, ctr_ports;
  auto last = rest.rfind(':');
  if (last == std::string::npos) {
    ctr_ports = rest;
  } else {
    ctr_ports = rest.substr(last + 1);
    std::string front = rest.substr(0, last);
    auto colon = front.rfind(':');
    if (colon == std::string::npos) {
      host_ports = front;
    } else {
      host_ip = front.substr(0, colon);
      host_ports = front.substr(colon + 1);
      if (host_ip.size() > 2 && host_ip.front() == '[' && host_ip.back() == ']') {
        return make_error(Code::InvalidArgument, "IPv6 host addresses are not supported yet: \"" + spec + "\"");
      }
      in_addr a {};
      if (::inet_pton(AF_INET, host_ip.c_str(), &a) != 1) {
        return make_error(Code::InvalidArgument, "invalid IP address: " + host_ip);
      }
    }
  }
  BERTH_ASSIGN(auto ctr, parse_range(ctr_ports, spec, false));
  std::pair<int, int> host{0, 0};
  if (!host_ports.empty()) {
    BERTH_ASSIGN(host, parse_range(host_ports, spec, true));
  }
  int count = ctr.second - ctr.first + 1;
  bool host_range = !host_ports.empty() && host.first != 0;
  if (host_range && host.second - host.first + 1 != count) {
    return make_error(Code::InvalidArgument, "invalid ranges specified for container and host Ports: \"" + spec + "\"");
  }
  std::vector<sdk::PortMapping> out;
  for (int i = 0; i < count; ++i) {
    sdk::PortMapping m;
    m.protocol = proto;
    m.host_ip = host_ip == "0.0.0.0" ? "" : host_ip;
    m.container_port = static_cast<uint16_t>(ctr.first + i);
    m.host_port = host_range ? static_cast<uint16_t>(host.first + i) : 0;
    out.push_back(m);
  }
  return out;
}

Result<std::vector<std::string>> parse_expose(const std::string& spec) {
  std::string rest = spec, proto = "tcp";
  if (auto slash = rest.rfind('/'); slash != std::string::npos) {
    BERTH_ASSIGN(proto, parse_proto(rest.substr(slash + 1), spec));
    rest = rest.substr(0, slash);
  }
  BERTH_ASSIGN(auto r, parse_range(rest, spec, false));
  std::vector<std::string> out;
  for (int p = r.first; p <= r.second; ++p) out.push_back(std::to_string(p) + "/" + proto);
  return out;
}

std::string port_key(const sdk::PortMapping& m) { return std::to_string(m.container_port) + "/" + m.protocol; }

json port_bindings_json(const std::vector<sdk::PortMapping>& ms) {
  json j = json::object();
  for (const auto& m : ms) {
    j[port_key(m)].push_back({{"HostIp", m.host_ip}, {"HostPort", m.host_port ? std::to_string(m.host_port) : ""}});
  }
  return j;
}

std::vector<sdk::PortMapping> port_bindings_of(const json& bindings) {
  std::vector<sdk::PortMapping> out;
  if (!bindings.is_object()) return out;
  for (auto it = bindings.begin(); it != bindings.end(); ++it) {
    auto slash = it.key().find('/');
    int port = std::atoi(it.key().c_str());
    std::string proto = slash == std::string::npos ? "tcp" : it.key().substr(slash + 1);
    if (!it->is_array()) continue;
    for (const auto& b : *it) {
      sdk::PortMapping m;
      m.protocol = proto;
      m.container_port = static_cast<uint16_t>(port);
      m.host_ip = b.value("HostIp", "");
      m.host_port = static_cast<uint16_t>(std::atoi(b.value("HostPort", "0").c_str()));
      out.push_back(m);
    }
  }
  return out;
}

Result<uint16_t> free_host_port(const std::string& protocol, const std::string& host_ip) {
  int s = ::socket(AF_INET, (protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (s < 0) return sys_error("socket");
  sockaddr_in a {};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, host_ip.empty() ? "0.0.0.0" : host_ip.c_str(), &a.sin_addr);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int e = errno;
    ::close(s);
    return sys_error("choose a free host port", e);
  }
  ::close(s);
  return ntohs(a.sin_port);
}

std::string ps_ports(const std::vector<sdk::PortMapping>& published, const json& exposed) {
  std::vector<std::string> parts;
  std::set<std::string> seen;
  std::vector<sdk::PortMapping> sorted = published;
  std::sort(sorted.begin(), sorted.end(), [](const sdk::PortMapping& a, const sdk::PortMapping& b) {
    return std::tie(a.container_port, a.protocol, a.host_port) < std::tie(b.container_port, b.protocol, b.host_port);
  });
  for (const auto& m : sorted) {
    parts.push_back((m.host_ip.empty() ? std::string("0.0.0.0") : m.host_ip) + ":" + std::to_string(m.host_port) + "->" +
                    port_key(m));
    seen.insert(port_key(m));
  }
  if (exposed.is_object()) {
    for (auto it = exposed.begin(); it != exposed.end(); ++it) {
      if (!seen.count(it.key())) parts.push_back(it.key());
    }
  }
  return util::join(parts, ", ");
}

}  // namespace berth::network
