#!/usr/bin/env bash
# Installs every Debian 12 package berth needs to build, run and test. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  # toolchain
  g++ cmake ninja-build pkg-config git
  # libraries (README lists why each is here)
  libboost-dev libboost-program-options-dev libtomlplusplus-dev libspdlog-dev
  libgtest-dev nlohmann-json3-dev libsqlite3-dev libarchive-dev libssl-dev libmnl-dev libnftables-dev
  libcurl4-openssl-dev libisal-dev
  # the embedded default image's userland, and the benchmark's reference runtime
  busybox-static runc
  # used by tests and benchmarks: iproute2 (leak checks), util-linux (unshare, findmnt)
  iproute2 util-linux procps
  # tests read the kernel's view of berth's NAT rules with nft (berth itself uses libnftables)
  nftables
  # a DNS server on 127.0.0.1 that the embedded DNS tests forward to (nothing leaves the host)
  dnsmasq-base
  # registries on 127.0.0.1 for pull/push tests, an independent client to fill and read
  # them, and htpasswd for their basic-auth users
  docker-registry skopeo apache2-utils
  # tests set and read file capabilities and xattrs that layers must carry
  libcap2-bin attr
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
