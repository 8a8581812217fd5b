#pragma once

// Image names as Docker reads them: [registry/][repository/]name[:tag][@digest].
// "busybox" is docker.io/library/busybox:latest; "localhost:5000/x" names a registry.

#include <string>

#include "berth/sdk/result.hpp"

namespace berth::images {

struct Reference {
  std::string domain;  // "docker.io"
  std::string path;    // "library/busybox"
  std::string tag;     // "latest" unless a digest alone was given
  std::string digest;  // "sha256:..." or ""

  // docker.io/library/busybox:latest (the key of the tag index)
  std::string full() const;
  // busybox / acme/tool / localhost:5000/x: the repository as `images` shows it
  std::string familiar_name() const;
  // busybox:latest
  std::string familiar() const;
};

Result<Reference> parse_reference(const std::string& text);
// The familiar form of a stored full reference ("docker.io/library/busybox:latest" -> "busybox:latest").
std::string familiar_of(const std::string& full);

}  // namespace berth::images
