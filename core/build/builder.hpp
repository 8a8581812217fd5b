#pragma once

// `build`: Docker's classic builder. Every step runs on the previous step's image and
// becomes an image of its own (untagged, its parent recorded), found again by its cache
// key: RUN in a temporary container whose changes are committed as a layer; COPY and ADD
// into a snapshot of the previous step, committed in place; the other instructions change
// only the config. Output as the classic builder's ("Step N/M : ...", " ---> ...").

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth {
class Engine;
}

namespace berth::build {

struct BuildOptions {
  std::string context = ".";                  // the build context directory
  std::string dockerfile;                     // -f; "" is CONTEXT/Dockerfile
  std::vector<std::string> tags;              // -t, as given
  std::map<std::string, std::string> build_args;  // --build-arg K=V
  std::string target;                         // --target STAGE
  bool no_cache = false;
  std::map<std::string, std::string> labels;  // --label, on the final image
  bool quiet = false;                         // -q: only the image id at the end
  std::FILE* out = stdout;
};

// Returns the image id. A RUN that fails sets *run_exit to its exit code.
Result<std::string> build(Engine& e, const BuildOptions& opts, int* run_exit);

}  // namespace berth::build
