#pragma once

// `pull` and `push`: images between the local store and a registry (OCI distribution).

#include <cstdio>
#include <string>

#include "berth/sdk/result.hpp"

namespace berth {
class Engine;
}

namespace berth::images {

struct TransferOptions {
  bool quiet = false;     // -q: only the reference at the end
  std::string platform;   // "os/arch[/variant]"; "" the host's
  std::FILE* out = stdout;
  bool tty = false;       // progress bars instead of lines
};

// Pulls NAME[:TAG|@DIGEST]: Docker's output, then the full reference. Returns the image id.
Result<std::string> pull(Engine& e, const std::string& name, const TransferOptions& opts);
// Pushes NAME[:TAG]: missing blobs, then the manifest. Returns the manifest digest.
Result<std::string> push(Engine& e, const std::string& name, const TransferOptions& opts);

// "linux/amd64" on x86_64 hosts, "linux/arm64" on aarch64, ...
std::string host_platform();

}  // namespace berth::images
