#pragma once

// A client of one repository on one registry, speaking the OCI distribution API:
// /v2/ ping, Bearer token (realm/service/scope) and Basic authentication, manifests of
// every media type, blobs verified by digest (resumed with Range), and uploads.
// Credentials are Docker's: $DOCKER_CONFIG/config.json or ~/.docker/config.json, "auths".

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "config/config.hpp"
#include "registry/http.hpp"

namespace berth::registry {

inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";

struct Credentials {
  std::string username;
  std::string password;
};

// Docker's config.json: where it is, and the credentials stored for a registry host
// ("docker.io" is stored under Docker's https://index.docker.io/v1/ key).
std::string docker_config_path();
Result<std::optional<Credentials>> load_credentials(const std::string& host);
Status store_credentials(const std::string& host, const Credentials& creds);
// False if there were none.
Result<bool> erase_credentials(const std::string& host);

struct Manifest {
  std::string media_type;
  std::string digest;  // sha256 of body, checked
  std::string body;
};

class Client {
 public:
  // `host` as in a reference ("docker.io", "127.0.0.1:5000"); `repository` its path
  // ("library/busybox"). `push` asks for push access as well as pull.
  static Result<std::unique_ptr<Client>> connect(const config::HostConfig& cfg, const std::string& host,
                                                 const std::string& repository, bool push,
                                                 std::optional<Credentials> creds = std::nullopt);
  // Another client on the same endpoint and token, with its own connection (one per thread).
  Result<std::unique_ptr<Client>> clone() const;

  // The endpoint in use, "http://127.0.0.1:5000".
  const std::string& base() const { return base_; }

  // By tag or digest; `accept` lists the media types wanted (all four when empty).
  Result<Manifest> get_manifest(const std::string& reference, const std::vector<std::string>& accept = {});
  // Downloads to `path` (resuming a partial download left there), checking the digest;
  // `progress` gets the bytes done so far. On a digest mismatch the partial file goes.
  Status fetch_blob(const std::string& digest, const std::string& path, const std::function<void(int64_t)>& progress);
  Result<std::string> fetch_small_blob(const std::string& digest);  // a config: in memory, checked
  Result<bool> has_blob(const std::string& digest);
  // Uploads `path` (of `size` bytes) as `digest`: monolithic when small, else in chunks.
  Status push_blob(const std::string& digest, const std::string& path, int64_t size,
                   const std::function<void(int64_t)>& progress);
  // Returns the digest the registry stored it under.
  Result<std::string> put_manifest(const std::string& tag, const std::string& media_type, const std::string& body);

  // GET /v2/ with the credentials: for `login`.
  Status check_login();

 private:
  Client() = default;
  Result<HttpResponse> call(HttpRequest req);
  Status authorize(const std::string& challenge);
  Error registry_error(const HttpResponse& resp, const std::string& what) const;

  std::optional<Http> http_;
  std::string host_, repository_, scope_;
  std::string base_;
  bool verify_tls_ = true;
  std::optional<Credentials> creds_;
  std::string authorization_;  // "Bearer ..." or "Basic ..."
};

// The endpoints to try for a host: mirrors first when pulling, then the registry
// (https, then http for an insecure one).
struct Endpoint {
  std::string base;
  bool verify_tls = true;
  bool mirror = false;
};
std::vector<Endpoint> endpoints_for(const config::HostConfig& cfg, const std::string& host, bool pull);

}  // namespace berth::registry
