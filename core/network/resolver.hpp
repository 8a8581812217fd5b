#pragma once

// The embedded DNS server of one container, run by its monitor (no daemon): a UDP socket
// bound to 127.0.0.11:53 inside the container's network namespace, served from the
// monitor's poll loop. Names of containers on the user-defined networks the container
// shares (names, aliases, short ids) are answered from the state database at each query,
// so answers follow live state; several answers rotate on each query (round robin).
// Other names are relayed to the upstream resolvers from the host's namespace, where the
// host's own resolvers (even 127.0.0.53) answer.

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::network {

// The addresses (host order) a name has for the asking container; `known` false when the
// name is none of berth's (then it is forwarded).
using NameLookup = std::function<std::vector<uint32_t>(const std::string& name, bool* known)>;

class Resolver {
 public:
  // Binds 127.0.0.11:53 in the namespace of process `pid`. `upstreams` are "IP" or
  // "IP:PORT" (port 53 by default).
  static Result<std::unique_ptr<Resolver>> start(pid_t pid, std::vector<std::string> upstreams);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Appends the descriptors to poll; handle() takes the same range back.
  void add_poll_fds(std::vector<struct pollfd>* p) const;
  void handle(const struct pollfd* p, size_t n, const NameLookup& lookup);
  // Milliseconds until the oldest forwarded query gives up; -1 when none is pending.
  int next_timeout_ms() const;

 private:
  Resolver(int sock, std::vector<std::string> upstreams) : sock_(sock), upstreams_(std::move(upstreams)) {}
  void serve(const NameLookup& lookup);
  void forward(const std::string& query, const sockaddr_storage& client, socklen_t client_len);
  void relay(size_t pending_index);
  void expire();

  struct Pending {
    int fd;
    sockaddr_storage client;
    socklen_t client_len;
    int64_t deadline_ms;
    std::string query;
  };
  int sock_;
  std::vector<std::string> upstreams_;
  std::vector<Pending> pending_;
  std::map<std::string, uint32_t> rotation_;
};

// The nameservers of the host's /etc/resolv.conf ("IP" strings).
std::vector<std::string> host_nameservers();

}  // namespace berth::network
