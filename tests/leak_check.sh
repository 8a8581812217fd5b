#!/usr/bin/env bash
# Runs after every integration test: nothing that any of them made may remain on the host.
# usage: leak_check.sh BERTH_BINARY LEDGER_FILE
set -uo pipefail
berth=$(readlink -f "$1")
ledger=$2
fail=0
leak() { echo "LEAK: $*"; fail=1; }

# Test state roots are /tmp/berth-it-*; each test removes its own.
for d in /tmp/berth-it-*; do
  [ -e "$d" ] && leak "test state root left: $d"
done
# No mount of a test root, container root or overlay of ours.
if grep -E 'berth-it-' /proc/self/mountinfo; then leak "mounts of test roots (above)"; fi
# No berth process (CLI or monitor) of the binary under test.
for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  if [ "$exe" = "$berth" ]; then
    leak "berth process ${p#/proc/} still running: $(tr '\0' ' ' <"$p/cmdline")"
  fi
done
# No bridge of a test's default network (bt<hex>), no veth of an endpoint, no nftables
# table of a test engine (bit_<hex>).
for l in /sys/class/net/*; do
  n=$(basename "$l")
  case "$n" in bt[0-9a-f]*|veth*) leak "interface left: $n" ;; esac
done
if command -v nft >/dev/null && nft list tables 2>/dev/null | grep -E 'table ip bit_'; then
  leak "nftables tables of test engines (above)"
fi
# No cgroup of any container a test made; and no namespace held by one (a leaked
# namespace needs a process or a mount, both checked above).
if [ -s "$ledger" ]; then
  sort -u "$ledger" >"$ledger.sorted"
  while read -r dir; do
    name=$(basename "$dir")
    if grep -qx "$name" "$ledger.sorted"; then leak "cgroup left: $dir"; fi
  done < <(find /sys/fs/cgroup -maxdepth 6 -type d -path '*/berth/*' 2>/dev/null)
  echo "checked $(wc -l <"$ledger.sorted") container ids"
  rm -f "$ledger.sorted"
fi
[ $fail -eq 0 ] && echo "no leaks"
exit $fail
