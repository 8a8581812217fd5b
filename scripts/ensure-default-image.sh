#!/usr/bin/env bash
# Makes the embedded default image busybox:latest when the engine does not have it yet.
# usage: ensure-default-image.sh BERTH_BINARY
set -euo pipefail
berth=$1
if ! "$berth" image inspect busybox:latest >/dev/null 2>&1; then
  tar=$(mktemp --suffix=.tar)
  trap 'rm -f "$tar"' EXIT
  "$(dirname "$0")/make-busybox-rootfs.sh" "$tar"
  "$berth" import --change 'CMD ["sh"]' "$tar" busybox:latest >/dev/null
fi
