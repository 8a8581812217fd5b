#include "registry/client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "berth/sdk/fs.hpp"
#include "util/util.hpp"

namespace berth::registry {

using nlohmann::json;
namespace fs = sdk::fs;

namespace {

constexpr const char* kDockerHubKey = "https://index.docker.io/v1/";
// Blobs up to this size go up in one PUT; bigger ones in PATCH chunks of it.
constexpr int64_t kChunk = 16 << 20;

std::string auth_key(const std::string& host) { return host == "docker.io" ? kDockerHubKey : host; }

Result<json> read_docker_config() {
  std::string path = docker_config_path();
  if (!fs::exists(path)) return json::object();
  BERTH_ASSIGN(std::string text, fs::read_file(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(Code::InvalidArgument, path + " is not a JSON object");
  return j;
}

bool is_loopback(const std::string& host) {
  std::string h = host;
  if (!h.empty() && h[0] == '[') h = h.substr(1, h.find(']') - 1);
  else h = h.substr(0, h.find(':'));
  return h == "localhost" || util::starts_with(h, "127.") || h == "::1";
}

// WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."
std::map<std::string, std::string> challenge_params(const std::string& header, std::string* scheme) {
  std::map<std::string, std::string> out;
  size_t sp = header.find(' ');
  *scheme = util::to_lower(header.substr(0, sp));
  if (sp == std::string::npos) return out;
  std::string rest = header.substr(sp + 1);
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == ',')) ++i;
    size_t eq = rest.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = util::to_lower(util::trim(rest.substr(i, eq - i)));
    std::string value;
    i = eq + 1;
    if (i < rest.size() && rest[i] == '"') {
      ++i;
      while (i < rest.size() && rest[i] != '"') {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value += rest[i++];
      }
      ++i;
    } else {
      size_t end = rest.find(',', i);
      value = util::trim(rest.substr(i, end == std::string::npos ? std::string::npos : end - i));
      i = end == std::string::npos ? rest.size() : end;
    }
    out[key] = value;
  }
  return out;
}

std::string join_url(const std::string& base, const std::string& location) {
  if (util::starts_with(location, "http://") || util::starts_with(location, "https://")) return location;
  auto scheme_end = base.find("://");
  auto host_end = base.find('/', scheme_end + 3);
  return base.substr(0, host_end) + location;
}

}  // namespace

std::string docker_config_path() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d != nullptr && *d != '\0') return std::string(d) + "/config.json";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/root") + "/.docker/config.json";
}

Result<std::optional<Credentials>> load_credentials(const std::string& host) {
  BERTH_ASSIGN(json cfg, read_docker_config());
  json auths = cfg.value("auths", json::object());
  if (!auths.is_object() || !auths.contains(auth_key(host))) return std::optional<Credentials>();
  std::string encoded = auths[auth_key(host)].value("auth", "");
  if (encoded.empty()) return std::optional<Credentials>();
  BERTH_ASSIGN(std::string plain, base64_decode(encoded));
  auto colon = plain.find(':');
  if (colon == std::string::npos) {
    return make_error(Code::InvalidArgument, docker_config_path() + ": the auth of " + host + " is not user:password");
  }
  return std::optional<Credentials>(Credentials{plain.substr(0, colon), plain.substr(colon + 1)});
}

Status store_credentials(const std::string& host, const Credentials& creds) {
  BERTH_ASSIGN(json cfg, read_docker_config());
  if (!cfg.contains("auths") || !cfg["auths"].is_object()) cfg["auths"] = json::object();
  cfg["auths"][auth_key(host)] = {{"auth", base64_encode(creds.username + ":" + creds.password)}};
  std::string path = docker_config_path();
  BERTH_TRY(fs::make_dirs(path.substr(0, path.rfind('/')), 0700));
  return fs::write_file_atomic(path, cfg.dump(1, '\t') + "\n", 0600);
}

Result<bool> erase_credentials(const std::string& host) {
  BERTH_ASSIGN(json cfg, read_docker_config());
  if (!cfg.contains("auths") || !cfg["auths"].is_object() || !cfg["auths"].contains(auth_key(host))) return false;
  cfg["auths"].erase(auth_key(host));
  BERTH_TRY(fs::write_file_atomic(docker_config_path(), cfg.dump(1, '\t') + "\n", 0600));
  return true;
}

std::vector<Endpoint> endpoints_for(const config::HostConfig& cfg, const std::string& host, bool pull) {
  std::vector<Endpoint> out;
  auto it = cfg.registries.find(host);
  auto insecure_host = [&](const std::string& h) {
    auto r = cfg.registries.find(h);
    return is_loopback(h) || (r != cfg.registries.end() && r->second.insecure);
  };
  if (pull && it != cfg.registries.end()) {
    for (const auto& m : it->second.mirrors) {
      if (util::starts_with(m, "http://") || util::starts_with(m, "https://")) {
        std::string base = m;
        while (!base.empty() && base.back() == '/') base.pop_back();
        out.push_back({base, !insecure_host(base.substr(base.find("://") + 3)), true});
      } else {
        out.push_back({"https://" + m, !insecure_host(m), true});
        if (insecure_host(m)) out.push_back({"http://" + m, false, true});
      }
    }
  }
  std::string real = host == "docker.io" ? "registry-1.docker.io" : host;
  out.push_back({"https://" + real, !insecure_host(host), false});
  if (insecure_host(host)) out.push_back({"http://" + real, false, false});
  return out;
}

Result<std::unique_ptr<Client>> Client::connect(const config::HostConfig& cfg, const std::string& host,
                                                const std::string& repository, bool push,
                                                std::optional<Credentials> creds) {
  if (auto r = cfg.registries.find(host); r != cfg.registries.end() && r->second.blocked) {
    return make_error(Code::Forbidden, "registry " + host + " is blocked by the host configuration (" + cfg.source + ")");
  }
  std::unique_ptr<Client> c(new Client());
  BERTH_ASSIGN(Http http, Http::open());
  c->http_.emplace(std::move(http));
  c->host_ = host;
  c->repository_ = repository;
  c->scope_ = repository.empty() ? "" : "repository:" + repository + (push ? ":pull,push" : ":pull");
  if (creds) {
    c->creds_ = creds;
  } else {
    BERTH_ASSIGN(c->creds_, load_credentials(host));
  }
  // Docker's order: the first endpoint that answers /v2/ at all (any status) is used.
  std::vector<std::string> failures;
  for (const auto& ep : endpoints_for(cfg, host, !push)) {
    HttpRequest req;
    req.url = ep.base + "/v2/";
    req.verify_tls = ep.verify_tls;
    auto resp = c->http_->send(req);
    if (!resp) {
      failures.push_back(resp.error().what());
      continue;
    }
    if (ep.mirror && resp->status != 200 && resp->status != 401) {
      failures.push_back(req.url + ": HTTP " + std::to_string(resp->status));
      continue;
    }
    c->base_ = ep.base;
    c->verify_tls_ = ep.verify_tls;
    if (resp->status == 401) {
      Status s = c->authorize(resp->header("www-authenticate"));
      if (!s && !ep.mirror) return std::move(s).error();
      if (!s) {
        failures.push_back(s.error().what());
        continue;
      }
    }
    return c;
  }
  return make_error(Code::Unavailable, "Get \"https://" + host + "/v2/\": " + util::join(failures, "; "));
}

Result<std::unique_ptr<Client>> Client::clone() const {
  std::unique_ptr<Client> c(new Client());
  BERTH_ASSIGN(Http http, Http::open());
  c->http_.emplace(std::move(http));
  c->host_ = host_;
  c->repository_ = repository_;
  c->scope_ = scope_;
  c->base_ = base_;
  c->verify_tls_ = verify_tls_;
  c->creds_ = creds_;
  c->authorization_ = authorization_;
  return c;
}

Status Client::authorize(const std::string& challenge) {
  std::string scheme;
  auto params = challenge_params(challenge, &scheme);
  if (scheme == "basic") {
    if (!creds_) return make_error(Code::Forbidden, "unauthorized: authentication required (try `berth login " + host_ + "`)");
    authorization_ = "Basic " + base64_encode(creds_->username + ":" + creds_->password);
    return {};
  }
  if (scheme != "bearer" || params["realm"].empty()) {
    return make_error(Code::Internal, "registry " + host_ + " asks for unknown authentication '" + challenge + "'");
  }
  std::string url = params["realm"];
  std::vector<std::string> query;
  if (!params["service"].empty()) query.push_back("service=" + url_escape(params["service"]));
  std::string scope = params.count("scope") && !params["scope"].empty() && scope_.empty() ? params["scope"] : scope_;
  if (!scope.empty()) query.push_back("scope=" + url_escape(scope));
  if (!query.empty()) url += (url.find('?') == std::string::npos ? "?" : "&") + util::join(query, "&");
  HttpRequest req;
  req.url = url;
  req.verify_tls = verify_tls_;
  if (creds_) req.headers.push_back("Authorization: Basic " + base64_encode(creds_->username + ":" + creds_->password));
  BERTH_ASSIGN(HttpResponse resp, http_->send(req));
  if (resp.status == 401 || resp.status == 403) {
    return make_error(Code::Forbidden, "unauthorized: incorrect username or password");
  }
  if (resp.status != 200) {
    return make_error(Code::Unavailable, "token from " + params["realm"] + ": HTTP " + std::to_string(resp.status));
  }
  json j = json::parse(resp.body, nullptr, false);
  std::string token = j.is_object() ? j.value("token", j.value("access_token", "")) : "";
  if (token.empty()) return make_error(Code::Internal, "token server " + params["realm"] + " sent no token");
  authorization_ = "Bearer " + token;
  return {};
}

Result<HttpResponse> Client::call(HttpRequest req) {
  req.verify_tls = verify_tls_;
  for (int attempt = 0;; ++attempt) {
    HttpRequest r = req;
    if (!authorization_.empty()) r.headers.push_back("Authorization: " + authorization_);
    BERTH_ASSIGN(HttpResponse resp, http_->send(r));
    if (resp.status != 401 || attempt > 0) return resp;
    // A token expired or never had this scope: ask again, once.
    BERTH_TRY(authorize(resp.header("www-authenticate")));
  }
}

Error Client::registry_error(const HttpResponse& resp, const std::string& what) const {
  // {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":...}]}
  json j = json::parse(resp.body, nullptr, false);
  std::vector<std::string> parts;
  if (j.is_object() && j.contains("errors") && j["errors"].is_array()) {
    for (const auto& e : j["errors"]) {
      std::string code = util::to_lower(e.value("code", ""));
      for (auto& ch : code) ch = ch == '_' ? ' ' : ch;
      parts.push_back(code + ": " + e.value("message", ""));
    }
  }
  Code code = resp.status == 404 ? Code::NotFound
              : resp.status == 401 || resp.status == 403 ? Code::Forbidden
                                                         : Code::Unavailable;
  std::string msg = what + ": " + (parts.empty() ? "HTTP " + std::to_string(resp.status) : util::join(parts, "; "));
  return make_error(code, msg);
}

Result<Manifest> Client::get_manifest(const std::string& reference, const std::vector<std::string>& accept) {
  HttpRequest req;
  req.url = base_ + "/v2/" + repository_ + "/manifests/" + reference;
  std::vector<std::string> types = accept.empty() ? std::vector<std::string>{kDockerManifest, kDockerManifestList, kOciManifest, kOciIndex} : accept;
  req.headers.push_back("Accept: " + util::join(types, ", "));
  BERTH_ASSIGN(HttpResponse resp, call(req));
  std::string shown = host_ + "/" + repository_ + (util::starts_with(reference, "sha256:") ? "@" : ":") + reference;
  if (resp.status == 404) {
    Error e = registry_error(resp, "manifest for " + shown + " not found");
    e.code = Code::NotFound;
    return e;
  }
  if (resp.status != 200) return registry_error(resp, "manifest for " + shown);
  Manifest m;
  m.body = std::move(resp.body);
  m.digest = util::sha256_digest(m.body);
  if (util::starts_with(reference, "sha256:") && reference != m.digest) {
    return make_error(Code::InvalidArgument, "manifest for " + shown + ": digest mismatch (got " + m.digest + ")");
  }
  m.media_type = resp.header("content-type");
  m.media_type = m.media_type.substr(0, m.media_type.find(';'));
  // Some registries send text/plain or nothing: the document says what it is.
  json j = json::parse(m.body, nullptr, false);
  if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string()) m.media_type = j["mediaType"];
  if (m.media_type.empty() || m.media_type == "application/json" || m.media_type == "text/plain") {
    m.media_type = j.is_object() && j.contains("manifests") ? kOciIndex : kOciManifest;
  }
  return m;
}

Status Client::fetch_blob(const std::string& digest, const std::string& path,
                          const std::function<void(int64_t)>& progress) {
  // What an earlier, interrupted download left is kept and hashed again, and only the
  // rest is asked for (Range); a registry that answers 200 sends it all again.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("open '" + path + "'");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto hash = std::make_unique<util::Sha256>();
  int64_t have = 0;
  char buf[1 << 16];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
    hash->update(buf, static_cast<size_t>(n));
    have += n;
  }
  HttpRequest req;
  req.url = base_ + "/v2/" + repository_ + "/blobs/" + digest;
  if (have > 0) req.headers.push_back("Range: bytes=" + std::to_string(have) + "-");
  bool write_failed = false, fresh = false;
  int64_t done = have;
  std::string error_body;
  req.sink = [&](long status, const char* data, size_t n) {
    if (status != 200 && status != 206) {
      error_body.append(data, n);  // a 401 before the retry, a 404, ...
      return true;
    }
    if (status == 200 && !fresh) {
      fresh = true;
      if (done > 0 && (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)) {
        write_failed = true;
        return false;
      }
      hash = std::make_unique<util::Sha256>();
      done = 0;
    }
    if (!util::write_all(fd, std::string_view(data, n))) {
      write_failed = true;
      return false;
    }
    hash->update(data, n);
    done += static_cast<int64_t>(n);
    if (progress) progress(done);
    return true;
  };
  auto resp = call(req);
  if (write_failed) return sys_error("write '" + path + "'");
  if (!resp) return std::move(resp).error();  // the partial file stays, to resume
  // 416: nothing past what we have; the digest says whether that is all of it.
  if (resp->status != 200 && resp->status != 206 && !(resp->status == 416 && have > 0)) {
    HttpResponse shown = *resp;
    shown.body = error_body;
    return registry_error(shown, "blob " + digest);
  }
  if ("sha256:" + hash->hex() != digest) {
    ::unlink(path.c_str());
    return make_error(Code::InvalidArgument, "blob " + digest + ": digest mismatch: the registry sent other content");
  }
  return {};
}

Result<std::string> Client::fetch_small_blob(const std::string& digest) {
  HttpRequest req;
  req.url = base_ + "/v2/" + repository_ + "/blobs/" + digest;
  BERTH_ASSIGN(HttpResponse resp, call(req));
  if (resp.status != 200) return registry_error(resp, "blob " + digest);
  if (util::sha256_digest(resp.body) != digest) {
    return make_error(Code::InvalidArgument, "blob " + digest + ": digest mismatch: the registry sent other content");
  }
  return resp.body;
}

Result<bool> Client::has_blob(const std::string& digest) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = base_ + "/v2/" + repository_ + "/blobs/" + digest;
  BERTH_ASSIGN(HttpResponse resp, call(req));
  if (resp.status == 200) return true;
  if (resp.status == 404) return false;
  return registry_error(resp, "blob " + digest);
}

Status Client::push_blob(const std::string& digest, const std::string& path, int64_t size,
                         const std::function<void(int64_t)>& progress) {
  HttpRequest start;
  start.method = "POST";
  start.url = base_ + "/v2/" + repository_ + "/blobs/uploads/";
  start.headers.push_back("Content-Length: 0");
  BERTH_ASSIGN(HttpResponse began, call(start));
  if (began.status != 202) return registry_error(began, "start upload of " + digest);
  std::string location = join_url(base_, began.header("location"));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("open '" + path + "'");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  int64_t offset = 0;
  // Chunks for big blobs: each PATCH carries Content-Range, and the registry's Location
  // says where the next one goes.
  while (size > kChunk && offset < size) {
    int64_t n = std::min(kChunk, size - offset);
    HttpRequest patch;
    patch.method = "PATCH";
    patch.url = location;
    patch.upload_fd = fd;
    patch.upload_offset = offset;
    patch.upload_size = n;
    patch.headers.push_back("Content-Type: application/octet-stream");
    patch.headers.push_back("Content-Range: " + std::to_string(offset) + "-" + std::to_string(offset + n - 1));
    BERTH_ASSIGN(HttpResponse r, call(patch));
    if (r.status != 202) return registry_error(r, "upload of " + digest);
    location = join_url(base_, r.header("location"));
    offset += n;
    if (progress) progress(offset);
  }
  HttpRequest put;
  put.method = "PUT";
  put.url = location + (location.find('?') == std::string::npos ? "?" : "&") + "digest=" + url_escape(digest);
  put.upload_fd = fd;
  put.upload_offset = offset;
  put.upload_size = size - offset;
  put.headers.push_back("Content-Type: application/octet-stream");
  BERTH_ASSIGN(HttpResponse done, call(put));
  if (done.status != 201) return registry_error(done, "finish upload of " + digest);
  if (progress) progress(size);
  return {};
}

Result<std::string> Client::put_manifest(const std::string& tag, const std::string& media_type, const std::string& body) {
  HttpRequest req;
  req.method = "PUT";
  req.url = base_ + "/v2/" + repository_ + "/manifests/" + tag;
  req.headers.push_back("Content-Type: " + media_type);
  req.body = body;
  BERTH_ASSIGN(HttpResponse resp, call(req));
  if (resp.status != 201) return registry_error(resp, "manifest " + host_ + "/" + repository_ + ":" + tag);
  std::string d = resp.header("docker-content-digest");
  return d.empty() ? util::sha256_digest(body) : d;
}

Status Client::check_login() {
  HttpRequest req;
  req.url = base_ + "/v2/";
  BERTH_ASSIGN(HttpResponse resp, call(req));
  if (resp.status == 401 || resp.status == 403) return make_error(Code::Forbidden, "unauthorized: incorrect username or password");
  if (resp.status != 200) return registry_error(resp, "login to " + host_);
  return {};
}

}  // namespace berth::registry
