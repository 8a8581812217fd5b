# Shared by the bench scripts (sourced, not run).

# Milliseconds of one command, from bash's clock (no extra process per sample).
ms() {
  local s=$EPOCHREALTIME
  "$@" >/dev/null 2>&1
  local e=$EPOCHREALTIME
  echo $(( (10#${e/./} - 10#${s/./}) / 1000 )).$(( ((10#${e/./} - 10#${s/./}) % 1000) / 100 ))
}

# Median and p90 of the numbers on stdin.
stats() {
  sort -n | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; p=v[int(NR*0.9+0.5)]; printf "%.1f %.1f\n", m, p}'
}

# A private berth configuration under $1 (state and run roots), for a bench's own state.
# docker.io is blocked: a mistyped image name fails at once instead of resolving an
# outside name (benchmarks talk to loopback only).
write_config() {
  cat >"$1/berth.toml" <<TOML
[engine]
state_root = "$1/state"
run_root = "$1/run"

[registries."docker.io"]
blocked = true
TOML
}
