#!/usr/bin/env bash
# Container start-up, interleaved on one machine:
#   berth run --rm --network none busybox true
#   runc run of an equivalent OCI bundle (Debian's runc; same busybox root, same namespaces)
#   unshare of the same namespaces running /bin/true (the floor: no engine at all)
#   bench/floor.c: the same steps as berth's runtime (fork a monitor, clone into the
#     namespaces, overlay root, /proc, /dev, pivot_root, exec) with no engine around them
# and `berth ps -a` with 200 containers. Prints a Markdown block for bench/RESULTS.md and,
# with BERTH_TIMING, where berth's time goes.
# usage: bench/run-bench.sh [ROUNDS]   (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=${1:-30}
berth_bin=$PWD/build/bin/berth
tar=$PWD/build/tests/busybox-rootfs.tar
[ -x "$berth_bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
[ -f "$tar" ] || scripts/make-busybox-rootfs.sh "$tar"
command -v runc >/dev/null || { echo "runc missing: apt-get install runc" >&2; exit 1; }

work=$(mktemp -d /tmp/berth-bench-XXXXXX)
cfg=$work/berth.toml
berth="$berth_bin --config $cfg"
cleanup() {
  for id in $($berth ps -a -q 2>/dev/null); do $berth rm -f "$id" >/dev/null 2>&1 || true; done
  runc delete -f "bench-$$" >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
write_config "$work"
$berth import --change 'CMD ["sh"]' "$tar" busybox >/dev/null

# The runc bundle: the same root file system, `true`, no terminal, runc's default
# namespaces (pid, network, ipc, uts, mount) and mounts.
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$tar"
(cd "$work/bundle" && runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"/"true"/' "$work/bundle/config.json"

# The structural floor (floor.c): a C program doing what berth's runtime does, nothing else.
cc -O2 -o "$work/floor" bench/floor.c
mkdir -p "$work/floor-root/lower" "$work/floor-root/upper" "$work/floor-root/work" "$work/floor-root/merged"
tar -C "$work/floor-root/lower" -xf "$tar"

# Warm up each once (page cache, first-time directories).
$berth run --rm --network none busybox true
runc run --bundle "$work/bundle" "bench-$$" >/dev/null 2>&1 || { echo "runc cannot run the bundle here" >&2; exit 1; }
unshare --mount --uts --ipc --pid --net --fork /bin/true
"$work/floor" "$work/floor-root" || { echo "the floor program failed" >&2; exit 1; }

: >"$work/berth" ; : >"$work/runc" ; : >"$work/unshare" ; : >"$work/floor.ms"
for ((i = 0; i < rounds; i++)); do
  # Rotate the order so no tool always runs first after a sleep.
  for tool in $(printf 'berth\nrunc\nunshare\nfloor\n' | tail -n +$(( i % 4 + 1 )); printf 'berth\nrunc\nunshare\nfloor\n' | head -n $(( i % 4 ))); do
    case $tool in
      berth) ms $berth run --rm --network none busybox true >>"$work/berth" ;;
      runc) ms runc run --bundle "$work/bundle" "bench-$$" >>"$work/runc" ;;
      unshare) ms unshare --mount --uts --ipc --pid --net --fork /bin/true >>"$work/unshare" ;;
      floor) ms "$work/floor" "$work/floor-root" >>"$work/floor.ms" ;;
    esac
  done
done
read -r b_med b_p90 < <(stats <"$work/berth")
read -r r_med r_p90 < <(stats <"$work/runc")
read -r u_med u_p90 < <(stats <"$work/unshare")
read -r f_med f_p90 < <(stats <"$work/floor.ms")

# ps -a with 200 containers.
for ((i = 0; i < 200; i++)); do $berth create busybox true >/dev/null; done
: >"$work/ps"
for ((i = 0; i < rounds; i++)); do ms $berth ps -a >>"$work/ps"; done
read -r p_med p_p90 < <(stats <"$work/ps")
[ "$($berth ps -a -q | wc -l)" -eq 200 ]

# Where berth's time goes: the median of each phase's offset from the CLI's main().
timing=$work/timing
for ((i = 0; i < 15; i++)); do
  BERTH_TIMING=$timing.$i $berth run --rm --network none busybox true
done
# Lines are "<pid> <ns> <phase> [<faults> faults <cpu ns> cpu]". Per line: the offset from
# main(), and that process's page faults and CPU time (ms) since its previous mark (for a
# process's first mark: since it began). Phases are matched by name (the processes'
# lines interleave differently from run to run) and listed by their median offset.
phases=$(for f in "$timing".*; do
  awk 'NR==1{s=$2}
       { pid=$1; c=$(NF-1); pf=$(NF-3); sub(/^\[/,"",pf); line=$0; sub(/ \[[0-9]+ faults [0-9]+ cpu\]$/,"",line);
         dc=(pid in lc)?(c-lc[pid])/1e6:c/1e6; df=(pid in lf)?pf-lf[pid]:pf; lc[pid]=c; lf[pid]=pf;
         printf "%s\t%.2f\t%d\t%.2f\n", substr(line, index(line,$3)), ($2-s)/1e6, df, dc}' "$f"
done | sort -t$'\t' -k1,1 -s | awk -F'\t' '
  function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
  function flush() { if (n) printf "%.2f\t| %s | %.2f | %d | %.2f |\n", med(v, n), name, med(v, n), med(pf, n), med(cp, n) }
  $1 != name { flush(); name=$1; n=0 }
  { v[++n]=$2; pf[n]=$3; cp[n]=$4 }
  END { flush() }' | sort -t$'\t' -k1,1n | cut -f2-)
cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
cat <<MD
### $(date -u +%Y-%m-%d) on $(uname -n): $(nproc) CPUs ($cpu), kernel $(uname -r)

$rounds interleaved rounds each, milliseconds (median / p90):

| command | median | p90 |
|---|---|---|
| \`berth run --rm --network none busybox true\` | $b_med | $b_p90 |
| \`runc run\` (same bundle) | $r_med | $r_p90 |
| \`unshare -muipn --fork /bin/true\` | $u_med | $u_p90 |
| bench/floor.c (berth's runtime steps, no engine) | $f_med | $f_p90 |
| \`berth ps -a\` (200 containers) | $p_med | $p_p90 |

berth vs runc: $(awk -v b="$b_med" -v r="$r_med" 'BEGIN{printf "%.2fx", r/b}') faster.

Where berth's time goes (BERTH_TIMING): each phase's median offset from the CLI's main(),
and the page faults and CPU time its process spent since its previous mark (a process's
first line: since it began, so the CLI's includes exec and everything before main()).
Exit after the last line is not in it.

| phase | ms | page faults | CPU ms |
|---|---|---|---|
$phases
MD
