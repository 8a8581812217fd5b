#!/usr/bin/env bash
# Pull of a 200 MB, 5-layer image from a registry on 127.0.0.1 (issue 6): berth pull
# against podman pull and skopeo copy (to a dir:, no unpacking) of the same image, in one
# run, each into empty storage every round. Target: berth no slower than the faster of the
# two doing the same work (skopeo to dir: only downloads; to containers-storage: it also
# unpacks, as a pull does: both are shown). Prints a Markdown block for bench/RESULTS.md. Traffic stays on loopback.
# usage: bench/pull-bench.sh [ROUNDS]   (as root, after scripts/build.sh; installs podman if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=${1:-5}
berth_bin=$PWD/build/bin/berth
tar=$PWD/build/tests/busybox-rootfs.tar
[ -x "$berth_bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
[ -f "$tar" ] || scripts/make-busybox-rootfs.sh "$tar"
for p in podman docker-registry skopeo; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

work=$(mktemp -d /tmp/berth-pullbench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 5077)
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
podman="podman --root $work/podman/root --runroot $work/podman/run --storage-driver overlay --events-backend none"
cleanup() {
  kill "$reg_pid" 2>/dev/null || true
  wait "$reg_pid" 2>/dev/null || true
  $podman system reset -f >/dev/null 2>&1 || true
  umount -R "$work/podman" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Five layers of 40 MB of text (base64 of random bytes: gzip gets it to about 3/4, as
# with real binaries), plus busybox at the bottom so that the image runs.
layers=("$tar")
for i in 1 2 3 4 5; do
  mkdir -p "$work/l$i/data$i"
  for f in $(seq 1 8); do head -c 3750000 /dev/urandom | base64 -w 100 >"$work/l$i/data$i/f$f"; done
  tar -C "$work/l$i" -cf "$work/l$i.tar" "data$i"
  layers+=("$work/l$i.tar")
done
tests/registry/make-oci-layout.sh "$work/oci" big "${layers[@]}" >/dev/null
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:big" "docker://127.0.0.1:$port/bench/big:1"
ref=127.0.0.1:$port/bench/big:1
size=$(du -sb "$work/registry" | cut -f1)

: >"$work/b" ; : >"$work/p" ; : >"$work/s" ; : >"$work/c"
for ((r = 0; r < rounds; r++)); do
  rm -rf "$work/bstate"
  mkdir -p "$work/bstate"
  write_config "$work/bstate"
  ms "$berth_bin" --config "$work/bstate/berth.toml" pull "$ref" >>"$work/b"
  "$berth_bin" --config "$work/bstate/berth.toml" run --rm --network none "$ref" test -s /data5/f8
  "$berth_bin" --config "$work/bstate/berth.toml" rmi "$ref" >/dev/null
  $podman system reset -f >/dev/null 2>&1 || true
  ms $podman pull -q --tls-verify=false "$ref" >>"$work/p"
  rm -rf "$work/skopeo"
  ms skopeo copy -q --src-tls-verify=false "docker://$ref" "dir:$work/skopeo" >>"$work/s"
  # The same work as a pull (download and unpack): skopeo into podman's empty storage.
  $podman system reset -f >/dev/null 2>&1 || true
  ms skopeo copy -q --src-tls-verify=false "docker://$ref" \
    "containers-storage:[overlay@$work/podman/root+$work/podman/run]$ref" >>"$work/c"
done
read -r bm bp <<<"$(stats <"$work/b")"
read -r pm pp <<<"$(stats <"$work/p")"
read -r sm sp <<<"$(stats <"$work/s")"
read -r cm cp <<<"$(stats <"$work/c")"
cat <<EOF
### pull of a 6-layer image (5 x 40 MB + busybox, $((size / 1000000)) MB in the registry) from 127.0.0.1 — $(date -u +%F), $(nproc) cores, $(uname -r)
podman $(podman --version | awk '{print $3}') (overlay, fresh root each round), skopeo $(skopeo --version | awk '{print $3}') (to dir:, no unpack); $rounds rounds, ms.

| command | median | p90 |
|---|---|---|
| berth pull | $bm | $bp |
| podman pull | $pm | $pp |
| skopeo copy docker:// dir: (download only) | $sm | $sp |
| skopeo copy docker:// containers-storage: (download and unpack) | $cm | $cp |
EOF
