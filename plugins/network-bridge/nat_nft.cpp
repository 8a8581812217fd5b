#include "nat_nft.hpp"

#include <dlfcn.h>
#include <nftables/libnftables.h>

#include <mutex>

namespace berth::net::bridge {

namespace {

struct NftApi {
  decltype(&::nft_ctx_new) ctx_new = nullptr;
  decltype(&::nft_ctx_free) ctx_free = nullptr;
  decltype(&::nft_ctx_buffer_output) buffer_output = nullptr;
  decltype(&::nft_ctx_buffer_error) buffer_error = nullptr;
  decltype(&::nft_ctx_get_error_buffer) get_error_buffer = nullptr;
  decltype(&::nft_run_cmd_from_buffer) run_cmd = nullptr;
};

Result<const NftApi*> nft_api() {
  static std::once_flag once;
  static NftApi api;
  static std::string error;
  std::call_once(once, [] {
    constexpr const char* kSoname = "libnftables.so.1";
    void* h = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* why = ::dlerror();
      error = std::string("load ") + kSoname + " (Debian's libnftables1): " + (why ? why : "unknown error");
      return;
    }
    auto sym = [&](const char* name) {
      void* p = ::dlsym(h, name);
      if (p == nullptr && error.empty()) error = std::string("symbol ") + name + " missing in " + kSoname;
      return p;
    };
    api.ctx_new = reinterpret_cast<decltype(api.ctx_new)>(sym("nft_ctx_new"));
    api.ctx_free = reinterpret_cast<decltype(api.ctx_free)>(sym("nft_ctx_free"));
    api.buffer_output = reinterpret_cast<decltype(api.buffer_output)>(sym("nft_ctx_buffer_output"));
    api.buffer_error = reinterpret_cast<decltype(api.buffer_error)>(sym("nft_ctx_buffer_error"));
    api.get_error_buffer = reinterpret_cast<decltype(api.get_error_buffer)>(sym("nft_ctx_get_error_buffer"));
    api.run_cmd = reinterpret_cast<decltype(api.run_cmd)>(sym("nft_run_cmd_from_buffer"));
  });
  if (!error.empty()) return make_error(Code::Unavailable, error);
  return &api;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

std::string render_table(const std::string& table, const std::vector<NatNetwork>& networks,
                         const std::vector<NatPort>& ports) {
  // "add" then "delete" makes the delete succeed whether or not the table exists; the
  // whole script is one transaction.
  std::string s = "add table ip " + table + "\ndelete table ip " + table + "\n";
  if (networks.empty()) return s;
  s += "table ip " + table + " {\n";
  s += "  chain publish {\n";
  for (const auto& p : ports) {
    s += "    ";
    if (!p.host_ip.empty() && p.host_ip != "0.0.0.0") s += "ip daddr " + p.host_ip + " ";
    s += p.protocol + " dport " + std::to_string(p.host_port) + " dnat to " + p.container_ip + ":" +
         std::to_string(p.container_port) + " comment " + quoted("container " + p.container_id) + "\n";
  }
  s += "  }\n";
  s += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
       "    fib daddr type local jump publish\n  }\n";
  s += "  chain output {\n    type nat hook output priority -100; policy accept;\n"
       "    fib daddr type local jump publish\n  }\n";
  s += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  for (const auto& n : networks) {
    std::string tag = " comment " + quoted("network " + n.id);
    if (n.masquerade && !n.internal) {
      s += "    ip saddr " + n.subnet + " oifname != " + quoted(n.bridge) + " masquerade" + tag + "\n";
    }
    s += "    oifname " + quoted(n.bridge) + " ip saddr 127.0.0.0/8 masquerade" + tag + "\n";
    s += "    oifname " + quoted(n.bridge) + " ct status dnat ip saddr " + n.subnet + " masquerade" + tag + "\n";
  }
  s += "  }\n";
  s += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  for (const auto& n : networks) {
    if (!n.internal) continue;
    std::string tag = " comment " + quoted("network " + n.id);
    s += "    iifname " + quoted(n.bridge) + " oifname != " + quoted(n.bridge) + " drop" + tag + "\n";
    s += "    oifname " + quoted(n.bridge) + " iifname != " + quoted(n.bridge) + " drop" + tag + "\n";
  }
  s += "  }\n}\n";
  return s;
}

Status run_nft(const std::string& script) {
  BERTH_ASSIGN(const NftApi* api, nft_api());
  nft_ctx* ctx = api->ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return make_error(Code::Internal, "nftables: cannot make a context");
  api->buffer_output(ctx);
  api->buffer_error(ctx);
  int rc = api->run_cmd(ctx, script.c_str());
  std::string err = rc != 0 ? std::string(api->get_error_buffer(ctx)) : "";
  api->ctx_free(ctx);
  if (rc != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return make_error(Code::Internal, "nftables refused the rules of the bridge driver: " + err);
  }
  return {};
}

}  // namespace berth::net::bridge
