#pragma once

// HTTP/1.1 for registries, through libcurl (loaded on first use). One Http object per
// thread: it keeps its connection open between requests to the same host.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::registry {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent as is (PUT/POST/PATCH)
  // Instead of `body`: `upload_size` bytes of this file from `upload_offset`.
  int upload_fd = -1;
  int64_t upload_offset = 0;
  int64_t upload_size = 0;
  bool follow_redirects = true;
  bool verify_tls = true;
  // For the response body: called with each piece and the status of the response it
  // belongs to; returning false aborts the transfer. Unset, the body is collected in
  // HttpResponse::body.
  std::function<bool(long status, const char*, size_t)> sink;
};

struct HttpResponse {
  long status = 0;
  std::multimap<std::string, std::string> headers;  // names in lower case; last response's
  std::string body;
  std::string effective_url;  // after redirects

  // The first value of a header ("" if absent).
  std::string header(const std::string& lower_name) const;
};

class Http {
 public:
  static Result<Http> open();
  Http(Http&& other) noexcept;
  Http& operator=(Http&& other) noexcept;
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;
  ~Http();

  // A transport failure (refused, TLS, timeout) is an Unavailable error; any HTTP status
  // is a response.
  Result<HttpResponse> send(const HttpRequest& req);

 private:
  Http(const void* api, void* handle) : api_(api), handle_(handle) {}
  const void* api_ = nullptr;
  void* handle_ = nullptr;
};

// application/x-www-form-urlencoded / query component escaping.
std::string url_escape(const std::string& s);
std::string base64_encode(const std::string& s);
Result<std::string> base64_decode(const std::string& s);

}  // namespace berth::registry
