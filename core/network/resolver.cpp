#include "network/resolver.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "berth/sdk/fs.hpp"
#include "network/dns.hpp"
#include "util/util.hpp"

namespace berth::network {

namespace {

constexpr size_t kMaxPending = 64;
constexpr int kForwardTimeoutMs = 3000;

int64_t now_ms() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

bool parse_upstream(const std::string& s, sockaddr_in* out) {
  std::string ip = s;
  int port = 53;
  if (auto colon = s.rfind(':'); colon != std::string::npos && s.find(':') == colon) {
    ip = s.substr(0, colon);
    port = std::atoi(s.c_str() + colon + 1);
  }
  *out = {};
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(port));
  return port > 0 && port < 65536 && ::inet_pton(AF_INET, ip.c_str(), &out->sin_addr) == 1;
}

}  // namespace

std::vector<std::string> host_nameservers() {
  std::vector<std::string> out;
  auto text = sdk::fs::read_file("/etc/resolv.conf");
  if (!text) return out;
  for (const auto& line : util::split(*text, '\n')) {
    auto f = util::split_ws(line);
    if (f.size() >= 2 && f[0] == "nameserver" && f[1].find(':') == std::string::npos) out.push_back(f[1]);
  }
  return out;
}

Result<std::unique_ptr<Resolver>> Resolver::start(pid_t pid, std::vector<std::string> upstreams) {
  std::string ns = "/proc/" + std::to_string(pid) + "/ns/net";
  int nsfd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return sys_error("open " + ns);
  // setns() is per thread: a thread of our own makes the socket there; the socket keeps
  // the namespace it was made in, and this process never changes its own.
  int sock = -1, err = 0;
  std::thread t([&] {
    if (::setns(nsfd, CLONE_NEWNET) != 0) {
      err = errno;
      return;
    }
    sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sock < 0) {
      err = errno;
      return;
    }
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    ::inet_pton(AF_INET, "127.0.0.11", &a.sin_addr);
    if (::bind(sock, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      err = errno;
      ::close(sock);
      sock = -1;
    }
  });
  t.join();
  ::close(nsfd);
  if (sock < 0) return sys_error("start the embedded DNS server on 127.0.0.11:53", err);
  return std::unique_ptr<Resolver>(new Resolver(sock, std::move(upstreams)));
}

Resolver::~Resolver() {
  for (const auto& p : pending_) ::close(p.fd);
  if (sock_ >= 0) ::close(sock_);
}

void Resolver::add_poll_fds(std::vector<struct pollfd>* p) const {
  p->push_back({sock_, POLLIN, 0});
  for (const auto& q : pending_) p->push_back({q.fd, POLLIN, 0});
}

int Resolver::next_timeout_ms() const {
  if (pending_.empty()) return -1;
  int64_t first = pending_.front().deadline_ms;
  for (const auto& q : pending_) first = std::min(first, q.deadline_ms);
  return static_cast<int>(std::max<int64_t>(0, first - now_ms()));
}

void Resolver::handle(const struct pollfd* p, size_t n, const NameLookup& lookup) {
  // Replies first (their indexes are those of add_poll_fds), then new queries.
  std::vector<size_t> ready;
  for (size_t i = 1; i < n && i - 1 < pending_.size(); ++i) {
    if (p[i].revents & (POLLIN | POLLERR | POLLHUP)) ready.push_back(i - 1);
  }
  for (auto it = ready.rbegin(); it != ready.rend(); ++it) relay(*it);
  if (n > 0 && (p[0].revents & POLLIN)) serve(lookup);
  expire();
}

void Resolver::serve(const NameLookup& lookup) {
  for (int budget = 0; budget < 64; ++budget) {
    char buf[1500];
    sockaddr_storage from {};
    socklen_t from_len = sizeof from;
    ssize_t n = ::recvfrom(sock_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) return;
    std::string_view msg(buf, static_cast<size_t>(n));
    auto q = dns::parse_query(msg);
    if (!q) continue;
    bool known = false;
    std::vector<uint32_t> ips;
    if (q->qclass == dns::kClassIN && !q->name.empty()) ips = lookup(q->name, &known);
    std::string reply;
    if (known) {
      if (ips.size() > 1) {
        uint32_t turn = rotation_[q->name]++;
        std::rotate(ips.begin(), ips.begin() + static_cast<long>(turn % ips.size()), ips.end());
      }
      reply = dns::answer(msg, *q, ips);
    } else if (upstreams_.empty()) {
      reply = dns::servfail(msg, *q);
    } else {
      forward(std::string(msg), from, from_len);
      continue;
    }
    (void)::sendto(sock_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

void Resolver::forward(const std::string& query, const sockaddr_storage& client, socklen_t client_len) {
  auto q = dns::parse_query(query);
  auto fail = [&] {
    if (!q) return;
    std::string r = dns::servfail(query, *q);
    (void)::sendto(sock_, r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&client), client_len);
  };
  if (pending_.size() >= kMaxPending) return fail();
  sockaddr_in up {};
  if (!parse_upstream(upstreams_.front(), &up)) return fail();
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&up), sizeof up) != 0 ||
      ::send(fd, query.data(), query.size(), 0) != static_cast<ssize_t>(query.size())) {
    ::close(fd);
    return fail();
  }
  pending_.push_back({fd, client, client_len, now_ms() + kForwardTimeoutMs, query});
}

void Resolver::relay(size_t i) {
  char buf[4096];
  ssize_t n = ::recv(pending_[i].fd, buf, sizeof buf, 0);
  if (n > 0) {
    (void)::sendto(sock_, buf, static_cast<size_t>(n), 0, reinterpret_cast<const sockaddr*>(&pending_[i].client),
                   pending_[i].client_len);
  } else if (auto q = dns::parse_query(pending_[i].query)) {
    std::string r = dns::servfail(pending_[i].query, *q);
    (void)::sendto(sock_, r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&pending_[i].client),
                   pending_[i].client_len);
  }
  ::close(pending_[i].fd);
  pending_.erase(pending_.begin() + static_cast<long>(i));
}

void Resolver::expire() {
  int64_t now = now_ms();
  for (size_t i = pending_.size(); i-- > 0;) {
    if (pending_[i].deadline_ms > now) continue;
    if (auto q = dns::parse_query(pending_[i].query)) {
      std::string r = dns::servfail(pending_[i].query, *q);
      (void)::sendto(sock_, r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&pending_[i].client),
                     pending_[i].client_len);
    }
    ::close(pending_[i].fd);
    pending_.erase(pending_.begin() + static_cast<long>(i));
  }
}

}  // namespace berth::network
