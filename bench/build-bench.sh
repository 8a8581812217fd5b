#!/usr/bin/env bash
# Builds (issue 6): a 10-step Dockerfile built from nothing by berth and by podman (its
# classic-style builder, buildah, with --layers), then rebuilt fully cached by both
# (target for berth: under 100 ms), in one run, interleaved. Prints a Markdown block for
# bench/RESULTS.md. No network: the base image is busybox, made locally.
# usage: bench/build-bench.sh [ROUNDS]   (as root, after scripts/build.sh; installs podman if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=${1:-10}
berth_bin=$PWD/build/bin/berth
tar=$PWD/build/tests/busybox-rootfs.tar
[ -x "$berth_bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
[ -f "$tar" ] || scripts/make-busybox-rootfs.sh "$tar"
dpkg-query -W -f='${Status}' podman 2>/dev/null | grep -q 'install ok installed' ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null

work=$(mktemp -d /tmp/berth-buildbench-XXXXXX)
write_config "$work"
berth="$berth_bin --config $work/berth.toml"
podman="podman --root $work/podman/root --runroot $work/podman/run --storage-driver overlay --events-backend none --cgroup-manager cgroupfs"
cleanup() {
  $podman system reset -f >/dev/null 2>&1 || true
  umount -R "$work/podman" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
$berth import --change 'CMD ["sh"]' "$tar" busybox:latest >/dev/null
$podman import "$tar" localhost/busybox:latest >/dev/null

ctx=$work/ctx
mkdir -p "$ctx/src"
for i in $(seq 1 20); do head -c 20000 /dev/urandom | base64 >"$ctx/src/file$i"; done
echo "config" >"$ctx/app.conf"
# 10 steps: FROM, 3 config steps, 2 COPY, 3 RUN, CMD.
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox
LABEL bench=build
ENV APP=/app
WORKDIR /app
COPY src/ /app/src/
COPY app.conf /etc/app.conf
RUN cat /app/src/* | wc -c > /app/size
RUN mkdir -p /app/data && echo ready > /app/data/state
RUN ln -s /app/size /app/size.link && chmod 0640 /etc/app.conf
CMD ["cat", "/app/size"]
EOF
sed 's/^FROM busybox$/FROM localhost\/busybox/' "$ctx/Dockerfile" >"$ctx/Containerfile"

: >"$work/bc"; : >"$work/pc"; : >"$work/bu"; : >"$work/pu"
for ((r = 0; r < rounds; r++)); do
  # From nothing (--no-cache), then fully cached.
  ms $berth build --no-cache -t bench/app:1 "$ctx" >>"$work/bu"
  ms $berth build -t bench/app:1 "$ctx" >>"$work/bc"
  ms $podman build --network none --no-cache --layers -f "$ctx/Containerfile" -t bench/app:1 "$ctx" >>"$work/pu"
  ms $podman build --network none --layers -f "$ctx/Containerfile" -t bench/app:1 "$ctx" >>"$work/pc"
done
$berth build -t bench/app:1 "$ctx" | grep -c 'Using cache' | grep -qx 9 || { echo "berth rebuild was not fully cached" >&2; exit 1; }
[ "$($berth run --rm --network none bench/app:1)" = "$(cat "$ctx"/src/* | wc -c)" ] || { echo "berth's image is wrong" >&2; exit 1; }
read -r bum bup <<<"$(stats <"$work/bu")"
read -r bcm bcp <<<"$(stats <"$work/bc")"
read -r pum pup <<<"$(stats <"$work/pu")"
read -r pcm pcp <<<"$(stats <"$work/pc")"
cat <<EOF
### build of a 10-step Dockerfile (3 RUN, 2 COPY of 21 files) — $(date -u +%F), $(nproc) cores, $(uname -r)
podman $(podman --version | awk '{print $3}') (buildah, --layers, overlay, cgroupfs, runc); $rounds rounds each, interleaved, ms.

| command | median | p90 |
|---|---|---|
| berth build --no-cache | $bum | $bup |
| podman build --no-cache --layers | $pum | $pup |
| berth build, fully cached | $bcm | $bcp |
| podman build --layers, fully cached | $pcm | $pcp |
EOF
