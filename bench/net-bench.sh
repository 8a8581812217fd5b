#!/usr/bin/env bash
# Networking's costs (issue 4), berth against podman (netavark + aardvark-dns) in one run:
#   run --rm on the default bridge against --network none: networking's own cost per run
#     (target: under 5 ms), interleaved;
#   100 containers started one after another on one user-defined network, then removed;
#   DNS answer latency from inside a container, 100 names on the network (p50, p99).
# Prints a Markdown block for bench/RESULTS.md. Traffic goes only to the containers' own
# addresses and their namespaces' DNS servers.
# usage: bench/net-bench.sh [ROUNDS]   (as root, after scripts/build.sh; installs podman if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=${1:-20}
berth_bin=$PWD/build/bin/berth
tar=$PWD/build/tests/busybox-rootfs.tar
[ -x "$berth_bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
[ -f "$tar" ] || scripts/make-busybox-rootfs.sh "$tar"
for p in podman netavark aardvark-dns; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

work=$(mktemp -d /tmp/berth-netbench-XXXXXX)
cc -O2 -o "$work/dnsq" bench/dnsq.c
cfg=$work/berth.toml
berth="$berth_bin --config $cfg"
tag=${work##*-}
bridge="bb${tag:0:8}"
# A private stack: its own default bridge, subnet and nftables table.
write_config "$work"
cat >>"$cfg" <<TOML
[networks.default]
name = "bridge"
driver = "bridge"
subnet = "10.253.0.0/24"
gateway = "10.253.0.1"
[drivers."network.bridge"]
bridge_name = "$bridge"
nft_table = "bench_$tag"
TOML
podman="podman --root $work/podman/root --runroot $work/podman/run --runtime runc --cgroup-manager cgroupfs --events-backend none --network-backend netavark"
plimits=(--ulimit nofile=1024:"$(ulimit -Hn)" --ulimit nproc=1024:1024)
cleanup() {
  $berth ps -a -q --no-trunc 2>/dev/null | xargs -r $berth rm -f >/dev/null 2>&1 || true
  $berth network prune -f >/dev/null 2>&1 || true
  ip link del "$bridge" 2>/dev/null || true
  nft delete table ip "bench_$tag" 2>/dev/null || true
  $podman rm -a -f -t 0 >/dev/null 2>&1 || true
  $podman network rm -f benchnet >/dev/null 2>&1 || true
  $podman system reset -f >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
$berth import --change 'CMD ["sh"]' "$tar" busybox >/dev/null
$podman import "$tar" localhost/busybox >/dev/null

# 1. run --rm: bridge against none, interleaved (and podman's, for scale).
$berth run --rm busybox true; $berth run --rm --network none busybox true
: >"$work/bb"; : >"$work/bn"; : >"$work/pb"; : >"$work/pn"
for ((i = 0; i < rounds; i++)); do
  ms $berth run --rm busybox true >>"$work/bb"
  ms $berth run --rm --network none busybox true >>"$work/bn"
done
for ((i = 0; i < rounds / 2; i++)); do
  ms $podman run --rm "${plimits[@]}" localhost/busybox true >>"$work/pb"
  ms $podman run --rm "${plimits[@]}" --network none localhost/busybox true >>"$work/pn"
done
read -r bb_med bb_p90 < <(stats <"$work/bb")
read -r bn_med bn_p90 < <(stats <"$work/bn")
read -r pb_med pb_p90 < <(stats <"$work/pb")
read -r pn_med pn_p90 < <(stats <"$work/pn")

# 2. 100 containers on one user-defined network, started one after another, then removed.
$berth network create --subnet 10.253.4.0/22 benchnet >/dev/null
$podman network create --subnet 10.253.8.0/22 benchnet >/dev/null
s=$EPOCHREALTIME
for ((i = 0; i < 100; i++)); do $berth run -d --name "n$i" --network benchnet busybox sleep 100000 >/dev/null; done
e=$EPOCHREALTIME; b_start=$(( (10#${e/./} - 10#${s/./}) / 1000 ))
s=$EPOCHREALTIME
for ((i = 0; i < 100; i++)); do $podman run -d --name "n$i" "${plimits[@]}" --network benchnet localhost/busybox sleep 100000 >/dev/null; done
e=$EPOCHREALTIME; p_start=$(( (10#${e/./} - 10#${s/./}) / 1000 ))

# 3. DNS from inside a container: 100 names on the network, 2,000 queries.
names=(); for ((i = 0; i < 100; i++)); do names+=("n$i"); done
bpid=$($berth inspect -f '{{.State.Pid}}' n0)
read -r bd50 bd99 bfail < <(nsenter --net=/proc/$bpid/ns/net "$work/dnsq" 127.0.0.11 2000 "${names[@]}")
ppid_=$($podman inspect -f '{{.State.Pid}}' n0)
pdns=$(nsenter --mount=/proc/$ppid_/ns/mnt cat /etc/resolv.conf | awk '/^nameserver/{print $2; exit}')
read -r pd50 pd99 pfail < <(nsenter --net=/proc/$ppid_/ns/net "$work/dnsq" "$pdns" 2000 "${names[@]}")

s=$EPOCHREALTIME
$berth rm -f $(for ((i = 0; i < 100; i++)); do echo "n$i"; done) >/dev/null
e=$EPOCHREALTIME; b_rm=$(( (10#${e/./} - 10#${s/./}) / 1000 ))
s=$EPOCHREALTIME
$podman rm -f -t 0 $(for ((i = 0; i < 100; i++)); do echo "n$i"; done) >/dev/null
e=$EPOCHREALTIME; p_rm=$(( (10#${e/./} - 10#${s/./}) / 1000 ))

cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
cat <<MD
### $(date -u +%Y-%m-%d) on $(uname -n): $(nproc) CPUs ($cpu), kernel $(uname -r) — networking

podman $(podman --version | awk '{print $3}') with netavark $(dpkg-query -W -f='${Version}' netavark), aardvark-dns $(dpkg-query -W -f='${Version}' aardvark-dns), runc, cgroupfs.

| figure | berth | podman |
|---|---|---|
| \`run --rm busybox true\`, default bridge (median / p90 ms, $rounds and $((rounds / 2)) runs) | $bb_med / $bb_p90 | $pb_med / $pb_p90 |
| the same with \`--network none\` | $bn_med / $bn_p90 | $pn_med / $pn_p90 |
| networking's cost per run (bridge − none, medians) | $(awk -v a="$bb_med" -v b="$bn_med" 'BEGIN{printf "%.1f ms", a-b}') | $(awk -v a="$pb_med" -v b="$pn_med" 'BEGIN{printf "%.1f ms", a-b}') |
| 100 \`run -d\` on one user-defined network, one after another | $b_start ms | $p_start ms |
| removing those 100 (\`rm -f\`, one command) | $b_rm ms | $p_rm ms |
| DNS answer from inside a container, 100 names, 2,000 queries (p50 / p99 µs; unanswered) | $bd50 / $bd99; $bfail | $pd50 / $pd99; $pfail |
MD
