// A Docker token server for tests (the "Bearer realm" of docker-registry's token auth), on
// 127.0.0.1. It checks HTTP Basic credentials and answers {"token": JWT}, the JWT signed
// RS256 with the given key and carrying its certificate in "x5c", which the registry
// checks against its rootcertbundle.
//   token_server PORT_FILE KEY.pem CERT.pem ISSUER SERVICE USER PASSWORD
// Binds an ephemeral port, writes it to PORT_FILE, serves until killed. Anonymous
// requests get a token with no access, as Docker Hub's does.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string b64(const std::string& in, bool url) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += {t[v >> 18], t[(v >> 12) & 63]};
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  if (url) {
    for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!out.empty() && out.back() == '=') out.pop_back();
  }
  return out;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: token_server PORT_FILE KEY CERT ISSUER SERVICE USER PASSWORD\n");
    return 2;
  }
  std::string port_file = argv[1], issuer = argv[4], service = argv[5];
  std::string expected = b64(std::string(argv[6]) + ":" + argv[7], false);
  FILE* kf = std::fopen(argv[2], "r");
  FILE* cf = std::fopen(argv[3], "r");
  if (kf == nullptr || cf == nullptr) return 2;
  EVP_PKEY* key = PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr);
  X509* cert = PEM_read_X509(cf, nullptr, nullptr, nullptr);
  if (key == nullptr || cert == nullptr) return 2;
  unsigned char* der = nullptr;
  int der_len = i2d_X509(cert, &der);
  std::string cert_b64 = b64(std::string(reinterpret_cast<char*>(der), static_cast<size_t>(der_len)), false);

  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 16) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("bind");
    return 2;
  }
  std::ofstream(port_file + ".tmp") << ntohs(a.sin_port) << "\n";
  std::rename((port_file + ".tmp").c_str(), port_file.c_str());

  for (;;) {
    int c = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    std::string target = req.substr(req.find(' ') + 1);
    target = target.substr(0, target.find(' '));
    std::vector<std::string> scopes;
    std::string query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
    std::stringstream qs(query);
    for (std::string kv; std::getline(qs, kv, '&');) {
      if (kv.rfind("scope=", 0) == 0) scopes.push_back(unescape(kv.substr(6)));
    }
    bool authed = false, bad = false;
    auto h = req.find("\r\nAuthorization: Basic ");
    if (h != std::string::npos) {
      std::string got = req.substr(h + 23);
      got = got.substr(0, got.find("\r\n"));
      authed = got == expected;
      bad = !authed;
    }
    std::string resp;
    if (bad) {
      resp = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 29\r\nConnection: close\r\n\r\n"
             "{\"details\":\"incorrect login\"}";
    } else {
      std::string access = "[";
      for (const auto& sc : scopes) {
        // repository:NAME:pull,push
        auto c1 = sc.find(':'), c2 = sc.rfind(':');
        if (c1 == std::string::npos || c2 == c1 || !authed) continue;
        std::string actions, acts = sc.substr(c2 + 1);
        std::stringstream as(acts);
        for (std::string act; std::getline(as, act, ',');) actions += (actions.empty() ? "" : ",") + json_str(act);
        access += std::string(access.size() > 1 ? "," : "") + "{\"type\":" + json_str(sc.substr(0, c1)) +
                  ",\"name\":" + json_str(sc.substr(c1 + 1, c2 - c1 - 1)) + ",\"actions\":[" + actions + "]}";
      }
      access += "]";
      long now = std::time(nullptr);
      std::string header = "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5c\":[" + json_str(cert_b64) + "]}";
      std::string claims = "{\"iss\":" + json_str(issuer) + ",\"sub\":" + json_str(authed ? argv[6] : "") +
                           ",\"aud\":" + json_str(service) + ",\"exp\":" + std::to_string(now + 600) +
                           ",\"nbf\":" + std::to_string(now - 60) + ",\"iat\":" + std::to_string(now) +
                           ",\"jti\":\"" + std::to_string(now) + std::to_string(c) + "\",\"access\":" + access + "}";
      std::string signing = b64(header, true) + "." + b64(claims, true);
      EVP_MD_CTX* md = EVP_MD_CTX_new();
      size_t sig_len = 0;
      EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key);
      EVP_DigestSign(md, nullptr, &sig_len, reinterpret_cast<const unsigned char*>(signing.data()), signing.size());
      std::string sig(sig_len, '\0');
      EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(signing.data()), signing.size());
      EVP_MD_CTX_free(md);
      sig.resize(sig_len);
      std::string body = "{\"token\":" + json_str(signing + "." + b64(sig, true)) + ",\"expires_in\":600}";
      resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\nConnection: close\r\n\r\n" + body;
    }
    size_t off = 0;
    while (off < resp.size()) {
      ssize_t n = ::write(c, resp.data() + off, resp.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(c);
  }
}
