#include "util/lazy_libs.hpp"

#include <dlfcn.h>

#include <mutex>

namespace berth::util {

namespace {

// The sonames the headers we compiled against belong to.
#if ARCHIVE_VERSION_NUMBER >= 3000000
constexpr const char* kArchiveSoname = "libarchive.so.13";
#endif
constexpr const char* kCurlSoname = "libcurl.so.4";
constexpr const char* kIsalSoname = "libisal.so.2";
#if OPENSSL_VERSION_MAJOR == 3
constexpr const char* kCryptoSoname = "libcrypto.so.3";
#endif

template <typename Api, typename Fill>
Result<const Api*> load(const char* soname, Fill fill) {
  static std::once_flag once;
  static Api api;
  static std::string error;
  std::call_once(once, [&] {
    void* h = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* why = ::dlerror();
      error = std::string("load ") + soname + ": " + (why != nullptr ? why : "unknown error");
      return;
    }
    error = fill(h, &api);
  });
  if (!error.empty()) return make_error(Code::Unavailable, error);
  return &api;
}

#define BERTH_RESOLVE(f)                                                     \
  api->f = reinterpret_cast<decltype(api->f)>(::dlsym(handle, #f));          \
  if (api->f == nullptr) return std::string("symbol ") + #f + " missing in " + soname;

}  // namespace

Result<const ArchiveApi*> archive_api() {
  const char* soname = kArchiveSoname;
  return load<ArchiveApi>(soname, [soname](void* handle, ArchiveApi* api) -> std::string {
    BERTH_ARCHIVE_FUNCTIONS(BERTH_RESOLVE)
    return "";
  });
}

Result<const CryptoApi*> crypto_api() {
  const char* soname = kCryptoSoname;
  return load<CryptoApi>(soname, [soname](void* handle, CryptoApi* api) -> std::string {
    BERTH_CRYPTO_FUNCTIONS(BERTH_RESOLVE)
    return "";
  });
}

Result<const IsalApi*> isal_api() {
  const char* soname = kIsalSoname;
  return load<IsalApi>(soname, [soname](void* handle, IsalApi* api) -> std::string {
    BERTH_ISAL_FUNCTIONS(BERTH_RESOLVE)
    return "";
  });
}

Result<const CurlApi*> curl_api() {
  const char* soname = kCurlSoname;
  return load<CurlApi>(soname, [soname](void* handle, CurlApi* api) -> std::string {
    BERTH_CURL_FUNCTIONS(BERTH_RESOLVE)
    if (api->curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return "curl_global_init failed";
    return "";
  });
}

}  // namespace berth::util
