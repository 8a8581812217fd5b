#!/usr/bin/env bash
# Fresh Debian 12, as root: install what berth needs, build it, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure -j1 "$@"
