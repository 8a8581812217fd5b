#include "registry/http.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <utility>

#include "util/lazy_libs.hpp"

namespace berth::registry {

namespace {

const util::CurlApi* api_of(const void* p) { return static_cast<const util::CurlApi*>(p); }

struct Transfer {
  const HttpRequest* req;
  HttpResponse* resp;
  bool aborted = false;
  int64_t sent = 0;
  long status = 0;  // of the response being received
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->req->sink) {
    if (!t->req->sink(t->status, data, len)) {
      t->aborted = true;
      return 0;
    }
  } else {
    t->resp->body.append(data, len);
  }
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  // A new status line starts the headers of the next response (after a redirect or a
  // 100 Continue): only the last response's headers are kept.
  if (line.rfind("HTTP/", 0) == 0) {
    t->resp->headers.clear();
    auto sp = line.find(' ');
    t->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t b = colon + 1;
  while (b < line.size() && (line[b] == ' ' || line[b] == '\t')) ++b;
  size_t e = line.size();
  while (e > b && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' ')) --e;
  t->resp->headers.emplace(name, line.substr(b, e - b));
  return size * n;
}

size_t on_upload(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  int64_t left = t->req->upload_size - t->sent;
  if (left <= 0) return 0;
  size_t want = std::min<size_t>(size * n, static_cast<size_t>(left));
  ssize_t got = ::pread(t->req->upload_fd, buf, want, t->req->upload_offset + t->sent);
  if (got < 0) return CURL_READFUNC_ABORT;
  t->sent += got;
  return static_cast<size_t>(got);
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

Result<Http> Http::open() {
  BERTH_ASSIGN(const util::CurlApi* api, util::curl_api());
  CURL* h = api->curl_easy_init();
  if (h == nullptr) return make_error(Code::Internal, "curl_easy_init failed");
  return Http(api, h);
}

Http::Http(Http&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)), handle_(std::exchange(other.handle_, nullptr)) {}

Http& Http::operator=(Http&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) api_of(api_)->curl_easy_cleanup(handle_);
    api_ = std::exchange(other.api_, nullptr);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

Http::~Http() {
  if (handle_ != nullptr) api_of(api_)->curl_easy_cleanup(handle_);
}

Result<HttpResponse> Http::send(const HttpRequest& req) {
  const util::CurlApi* api = api_of(api_);
  CURL* h = handle_;
  // Reset keeps the connection cache: the next request to the same host reuses it.
  api->curl_easy_reset(h);
  HttpResponse resp;
  Transfer t{&req, &resp};
  char errbuf[CURL_ERROR_SIZE] = {0};
  api->curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  api->curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  api->curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  api->curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled transfer (under 1 byte/s for a minute) fails instead of hanging.
  api->curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  api->curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
  api->curl_easy_setopt(h, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
  api->curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
  api->curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  api->curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  api->curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (!req.verify_tls) {
    api->curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    api->curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  api->curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  api->curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  api->curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  api->curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_slist* headers = nullptr;
  for (const auto& hd : req.headers) headers = api->curl_slist_append(headers, hd.c_str());
  if (req.method == "HEAD") {
    api->curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET") {
    api->curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.upload_fd >= 0) {
      api->curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      api->curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
      api->curl_easy_setopt(h, CURLOPT_READDATA, &t);
      api->curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.upload_size));
      // curl's UPLOAD means PUT; the custom method above keeps PATCH a PATCH.
      headers = api->curl_slist_append(headers, "Expect:");
    } else {
      api->curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      api->curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }
  if (headers != nullptr) api->curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = api->curl_easy_perform(h);
  api->curl_slist_free_all(headers);
  if (t.aborted) return make_error(Code::Internal, req.method + " " + req.url + ": transfer stopped");
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] != '\0' ? errbuf : api->curl_easy_strerror(rc);
    return make_error(Code::Unavailable, req.method + " " + req.url + ": " + why);
  }
  api->curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  char* eff = nullptr;
  api->curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
  if (eff != nullptr) resp.effective_url = eff;
  return resp;
}

std::string url_escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string base64_encode(const std::string& s) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(s[i]) << 16) | (static_cast<uint8_t>(s[i + 1]) << 8) | static_cast<uint8_t>(s[i + 2]);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i < s.size()) {
    uint32_t v = static_cast<uint8_t>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<uint8_t>(s[i + 1]) << 8;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += i + 1 < s.size() ? tbl[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(const std::string& s) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else if (c == '=' || c == '\n' || c == '\r') continue;
    else return make_error(Code::InvalidArgument, "invalid base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace berth::registry
