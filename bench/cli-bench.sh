#!/usr/bin/env bash
# The container CLI's latencies (issue 3), on one machine:
#   berth exec CTR true  against  podman exec CTR true  (interleaved; target: 10x faster)
#   berth stats --no-stream with 50 running containers
#   berth ps -a with 1,000 containers (target: under 50 ms)
# Prints a Markdown block for bench/RESULTS.md.
# usage: bench/cli-bench.sh [ROUNDS]   (as root, after scripts/build.sh; installs podman if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=${1:-20}
berth_bin=$PWD/build/bin/berth
tar=$PWD/build/tests/busybox-rootfs.tar
[ -x "$berth_bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
[ -f "$tar" ] || scripts/make-busybox-rootfs.sh "$tar"
if ! command -v podman >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null
fi

work=$(mktemp -d /tmp/berth-clibench-XXXXXX)
cfg=$work/berth.toml
berth="$berth_bin --config $cfg"
# podman with runc and cgroupfs, in a private store: crun refuses this host's hybrid
# cgroups, and no CAP_SYS_RESOURCE means podman's default nofile limit must be lowered.
podman="podman --root $work/podman/root --runroot $work/podman/run --runtime runc --cgroup-manager cgroupfs --events-backend none"
pod_name="clibench-$$"
cleanup() {
  $berth ps -a -q --no-trunc 2>/dev/null | xargs -r $berth rm -f >/dev/null 2>&1 || true
  $podman rm -f -t 0 "$pod_name" >/dev/null 2>&1 || true
  $podman system reset -f >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
write_config "$work"
$berth import --change 'CMD ["sh"]' "$tar" busybox >/dev/null
$podman import "$tar" localhost/busybox >/dev/null

# exec, interleaved.
ctr=$($berth run -d --network none busybox sleep 100000)
$podman run -d --name "$pod_name" --network none --ulimit nofile=1024:"$(ulimit -Hn)" --ulimit nproc=1024:1024 localhost/busybox sleep 100000 >/dev/null
$berth exec "$ctr" true
$podman exec "$pod_name" true
: >"$work/b" ; : >"$work/p"
# podman exec leaves work behind it (its conmon and cleanup processes finish after it
# returns); each command is measured after a pause so that neither pays for the other's.
settle() { sleep 0.3; }
for ((i = 0; i < rounds; i++)); do
  if ((i % 2)); then
    settle; ms $berth exec "$ctr" true >>"$work/b"; settle; ms $podman exec "$pod_name" true >>"$work/p"
  else
    settle; ms $podman exec "$pod_name" true >>"$work/p"; settle; ms $berth exec "$ctr" true >>"$work/b"
  fi
done
read -r be_med be_p90 < <(stats <"$work/b")
read -r pe_med pe_p90 < <(stats <"$work/p")
$podman rm -f -t 0 "$pod_name" >/dev/null
$berth rm -f "$ctr" >/dev/null

# stats --no-stream with 50 running containers.
for ((i = 0; i < 50; i++)); do $berth run -d --network none busybox sleep 100000 >/dev/null; done
: >"$work/s"
for ((i = 0; i < rounds; i++)); do ms $berth stats --no-stream >>"$work/s"; done
read -r st_med st_p90 < <(stats <"$work/s")
[ "$($berth stats --no-stream --format '{{.ID}}' | wc -l)" -eq 50 ]
$berth ps -q --no-trunc | xargs $berth rm -f >/dev/null

# ps -a with 1,000 containers.
for ((i = 0; i < 1000; i++)); do $berth create --network none busybox true >/dev/null; done
: >"$work/ps"
for ((i = 0; i < rounds; i++)); do ms $berth ps -a >>"$work/ps"; done
read -r ps_med ps_p90 < <(stats <"$work/ps")
[ "$($berth ps -a -q | wc -l)" -eq 1000 ]

cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
cat <<MD
### $(date -u +%Y-%m-%d) on $(uname -n): $(nproc) CPUs ($cpu), kernel $(uname -r) — container CLI

$rounds rounds each, milliseconds (median / p90); exec interleaved with podman's, 0.3 s apart:

| command | median | p90 |
|---|---|---|
| \`berth exec CTR true\` | $be_med | $be_p90 |
| \`podman exec CTR true\` (podman $(podman --version | awk '{print $3}'), runc, cgroupfs) | $pe_med | $pe_p90 |
| \`berth stats --no-stream\` (50 running containers) | $st_med | $st_p90 |
| \`berth ps -a\` (1,000 containers) | $ps_med | $ps_p90 |

berth exec vs podman exec: $(awk -v b="$be_med" -v p="$pe_med" 'BEGIN{printf "%.1fx", p/b}') faster.
MD
