#!/usr/bin/env bash
# Volumes' costs (issue 5), on one machine:
#   run --rm with 10 named volumes against run --rm with none (mount cost per volume), interleaved;
#   volume ls with 1,000 volumes (target: under 50 ms).
# Prints a Markdown block for bench/RESULTS.md.
# usage: bench/volume-bench.sh [ROUNDS]   (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=${1:-20}
berth_bin=$PWD/build/bin/berth
tar=$PWD/build/tests/busybox-rootfs.tar
[ -x "$berth_bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
[ -f "$tar" ] || scripts/make-busybox-rootfs.sh "$tar"
work=$(mktemp -d /tmp/berth-volbench-XXXXXX)
berth="$berth_bin --config $work/berth.toml"
cleanup() {
  $berth ps -a -q --no-trunc 2>/dev/null | xargs -r $berth rm -f >/dev/null 2>&1 || true
  $berth volume prune -f >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
write_config "$work"
$berth import --change 'CMD ["sh"]' "$tar" busybox >/dev/null
vols=(); for ((i = 0; i < 10; i++)); do $berth volume create "v$i" >/dev/null; vols+=(-v "v$i:/v$i"); done
$berth run --rm --network none "${vols[@]}" busybox true
: >"$work/v"; : >"$work/n"
for ((i = 0; i < rounds; i++)); do
  ms $berth run --rm --network none "${vols[@]}" busybox true >>"$work/v"
  ms $berth run --rm --network none busybox true >>"$work/n"
done
read -r v_med v_p90 < <(stats <"$work/v")
read -r n_med n_p90 < <(stats <"$work/n")
for ((i = 10; i < 1000; i++)); do $berth volume create "v$i" >/dev/null; done
[ "$($berth volume ls -q | wc -l)" -eq 1000 ]
: >"$work/ls"
for ((i = 0; i < rounds; i++)); do ms $berth volume ls >>"$work/ls"; done
read -r ls_med ls_p90 < <(stats <"$work/ls")
cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
cat <<MD
### $(date -u +%Y-%m-%d) on $(uname -n): $(nproc) CPUs ($cpu), kernel $(uname -r) — volumes

$rounds rounds each, milliseconds (median / p90), interleaved:

| command | median | p90 |
|---|---|---|
| \`run --rm --network none\` with 10 named volumes | $v_med | $v_p90 |
| the same with none | $n_med | $n_p90 |
| per volume (difference of medians / 10) | $(awk -v a="$v_med" -v b="$n_med" 'BEGIN{printf "%.2f", (a-b)/10}') | |
| \`volume ls\` with 1,000 volumes | $ls_med | $ls_p90 |
MD
