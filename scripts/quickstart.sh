#!/usr/bin/env bash
# Fresh Debian 12, as root: install what berth needs, build it, make the default image,
# and run a first container.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/ensure-default-image.sh build/bin/berth
build/bin/berth run --rm busybox echo hello from berth
