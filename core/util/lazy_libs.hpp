#pragma once

// libarchive and libcrypto are loaded on first use rather than at start-up. Only image
// import and layer application need them, and on this project's reference machine each
// shared library mapped at start costs every berth process (and every fork of it) time in
// page faults: linking them made `run` 7 ms slower before its first line ran
// (bench/RESULTS.md). The function pointers keep the libraries' own declared types.

#include <archive.h>
#include <archive_entry.h>
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
  X(archive_entry_size) X(archive_entry_filetype)

#define BERTH_CRYPTO_FUNCTIONS(X)                                                          \
  X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_sha256) X(EVP_DigestInit_ex) X(EVP_DigestUpdate) \
  X(EVP_DigestFinal_ex)

#define BERTH_DECLARE_POINTER(f) decltype(&::f) f = nullptr;

struct ArchiveApi {
  BERTH_ARCHIVE_FUNCTIONS(BERTH_DECLARE_POINTER)
};
struct CryptoApi {
  BERTH_CRYPTO_FUNCTIONS(BERTH_DECLARE_POINTER)
};

// Loaded once per process; an error names the library and the missing symbol.
Result<const ArchiveApi*> archive_api();
Result<const CryptoApi*> crypto_api();

}  // namespace berth::util
