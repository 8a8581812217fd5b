#pragma once

// libarchive, libcrypto and libcurl are loaded on first use rather than at start-up. Only image
// import, layer application and registries need them, and on this project's reference machine each
// shared library mapped at start costs every berth process (and every fork of it) time in
// page faults: linking them made `run` 7 ms slower before its first line ran
// (bench/RESULTS.md). The function pointers keep the libraries' own declared types.

// The calls go through pointers: curl's type-checking macro would rewrite them.
#define CURL_DISABLE_TYPECHECK 1
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>

#include "berth/sdk/result.hpp"

namespace berth::util {

#define BERTH_ARCHIVE_FUNCTIONS(X)                                                         \
  X(archive_error_string) X(archive_read_new) X(archive_read_free)                         \
  X(archive_read_support_filter_all) X(archive_read_support_format_tar)                    \
  X(archive_read_support_format_gnutar) X(archive_read_open_fd) X(archive_read_next_header) \
  X(archive_read_data) X(archive_read_extract2) X(archive_write_new) X(archive_write_free)  \
  X(archive_write_close) X(archive_write_open) X(archive_write_header) X(archive_write_data) \
  X(archive_write_set_format_pax_restricted) X(archive_write_set_bytes_per_block)          \
  X(archive_write_disk_new) X(archive_write_disk_set_options) X(archive_entry_pathname)    \
  X(archive_entry_set_pathname) X(archive_entry_hardlink) X(archive_entry_set_hardlink)    \
  X(archive_entry_size) X(archive_entry_filetype) X(archive_read_support_format_raw)        \
  X(archive_read_open_filename) X(archive_entry_new) X(archive_entry_free)                    \
  X(archive_entry_set_size) X(archive_entry_set_filetype) X(archive_entry_set_perm)          \
  X(archive_entry_set_mtime) X(archive_write_open_fd) X(archive_entry_set_uid)              \
  X(archive_entry_set_gid) X(archive_entry_set_symlink) X(archive_entry_set_rdev)            \
  X(archive_write_open_filename) X(archive_entry_perm) X(archive_read_open)                \
  X(archive_entry_xattr_clear) X(archive_entry_xattr_reset) X(archive_entry_xattr_next)     \
  X(archive_entry_xattr_add_entry)

#define BERTH_CRYPTO_FUNCTIONS(X)                                                          \
  X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_sha256) X(EVP_DigestInit_ex) X(EVP_DigestUpdate) \
  X(EVP_DigestFinal_ex)

#define BERTH_CURL_FUNCTIONS(X)                                                            \
  X(curl_global_init) X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_setopt)             \
  X(curl_easy_perform) X(curl_easy_getinfo) X(curl_easy_strerror) X(curl_easy_reset)         \
  X(curl_slist_append) X(curl_slist_free_all)

#define BERTH_ISAL_FUNCTIONS(X) X(isal_inflate_init) X(isal_inflate_reset) X(isal_inflate)

#define BERTH_DECLARE_POINTER(f) decltype(&::f) f = nullptr;

struct ArchiveApi {
  BERTH_ARCHIVE_FUNCTIONS(BERTH_DECLARE_POINTER)
};
struct CryptoApi {
  BERTH_CRYPTO_FUNCTIONS(BERTH_DECLARE_POINTER)
};
struct CurlApi {
  BERTH_CURL_FUNCTIONS(BERTH_DECLARE_POINTER)
};
struct IsalApi {
  BERTH_ISAL_FUNCTIONS(BERTH_DECLARE_POINTER)
};

// Loaded once per process; an error names the library and the missing symbol.
Result<const ArchiveApi*> archive_api();
Result<const CryptoApi*> crypto_api();
// libcurl, for registries; curl_global_init has run.
Result<const CurlApi*> curl_api();
// ISA-L's igzip: gzip decompression about three times zlib's speed, for pulled layers
// (whose decompression is the sequential part of a pull). Optional: zlib is the fallback.
Result<const IsalApi*> isal_api();

}  // namespace berth::util
