#pragma once

// `cp`: files between a container and the host, with Docker's rules for where they land.
// The container side runs in a child process that sees the container's file system: a
// running container's own mount namespace (volumes included), or, for a stopped one, its
// root snapshot mounted in a private namespace. Data crosses as a tar stream, extracted
// with libarchive's secure checks (no "..", no writing through symlinks).

#include <string>

#include "berth/sdk/result.hpp"

namespace berth {
class Engine;
}

namespace berth::containers {

struct Container;

struct CopyOptions {
  bool archive = false;       // -a: keep uid/gid (otherwise the files belong to the copier)
  bool follow_link = false;   // -L: copy what a source symlink points to
};

// CTR:src -> host `dest`; dest "-" writes a tar stream to `out_fd`.
Status copy_from(Engine& e, const Container& c, const std::string& src, const std::string& dest, int out_fd,
                 const CopyOptions& opts);
// host `src` -> CTR:dest; src "-" reads a tar stream from `in_fd`.
Status copy_to(Engine& e, const Container& c, const std::string& src, const std::string& dest, int in_fd,
               const CopyOptions& opts);

}  // namespace berth::containers
