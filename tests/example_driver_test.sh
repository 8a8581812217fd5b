#!/usr/bin/env bash
# The SDK as a third party sees it: install berth to a fresh prefix, build the
# out-of-tree example driver (examples/storage-vfs) against that prefix alone with
# find_package(berth-sdk), load it through a TOML file, and run containers on it with the
# installed berth.
# usage: example_driver_test.sh BUILD_DIR SOURCE_DIR BUSYBOX_TAR
set -euo pipefail
build=$1 src=$2 tar=$3
work=$(mktemp -d /tmp/berth-it-example-XXXXXX)
prefix=$work/prefix
berth="$prefix/bin/berth --config $work/berth.toml"
reg_pid=
cleanup() {
  if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
  if [ -x "$prefix/bin/berth" ] && [ -f "$work/berth.toml" ]; then
    for id in $($berth ps -a -q 2>/dev/null); do $berth rm -f "$id" >/dev/null || true; done
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
# The installed tree holds the binary, the shipped plugins and the SDK package.
test -x "$prefix/bin/berth"
ls "$prefix"/lib*/berth/plugins/berth-storage-overlay.so >/dev/null
test -f "$(ls -d "$prefix"/lib*/cmake/berth-sdk)/berth-sdk-config.cmake"

cmake -S "$src/examples/storage-vfs" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/build" >/dev/null
so=$work/build/berth-storage-vfs.so
test -f "$so"
# The SDK's storage conformance suite, built from the installed headers, passes on it.
"$work/build/vfs-conformance" >"$work/conformance.log" 2>&1 || { cat "$work/conformance.log"; exit 1; }

cat >"$work/berth.toml" <<TOML
[engine]
state_root = "$work/state"
run_root = "$work/run"

[[plugins]]
path = "$so"

[storage]
driver = "vfs"

[drivers."storage.vfs"]
copy_xattrs = "false"

[registries."docker.io"]
blocked = true
TOML

info=$($berth info)
grep -q "Storage Driver: vfs" <<<"$info" || { echo "info does not show the vfs driver:"; echo "$info"; exit 1; }
grep -q "Plugin: storage-vfs 1.0.0" <<<"$info" || { echo "info does not list the plugin:"; echo "$info"; exit 1; }

$berth import --change 'CMD ["sh"]' "$tar" busybox >/dev/null
out=$($berth run --rm busybox sh -c 'echo vfs works > /f && cat /f')
[ "$out" = "vfs works" ] || { echo "unexpected output: $out"; exit 1; }
# Each container gets its own copy: /f is gone in the next one.
if $berth run --rm busybox cat /f 2>/dev/null; then echo "/f leaked between containers"; exit 1; fi
id=$($berth create busybox true)
test -d "$work/state/plugins/storage.vfs/snapshots"
$berth rm "$id" >/dev/null

# A pull onto a driver that cannot commit onto a parent: layers unpack one after another
# into mounted snapshots, whiteouts applied (a registry on 127.0.0.1, filled by skopeo).
port=$((20000 + RANDOM % 30000))
while [ -n "$(ss -ltnH "sport = :$port")" ]; do port=$((20000 + RANDOM % 30000)); done
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$work/registry" "$port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
mkdir -p "$work/l1/d" "$work/l2/d"
echo one >"$work/l1/d/old"
echo two >"$work/l2/d/new"
: >"$work/l2/d/.wh.old"
tar -C "$work/l1" -cf "$work/l1.tar" d
tar -C "$work/l2" -cf "$work/l2.tar" d
"$src/tests/registry/make-oci-layout.sh" "$work/oci" img "$tar" "$work/l1.tar" "$work/l2.tar" >/dev/null
for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:img" "docker://127.0.0.1:$port/vfs/img:1"
$berth pull "127.0.0.1:$port/vfs/img:1" >/dev/null
out=$($berth run --rm "127.0.0.1:$port/vfs/img:1" ls /d)
[ "$out" = "new" ] || { echo "pulled onto vfs, /d holds: $out"; exit 1; }
$berth rmi "127.0.0.1:$port/vfs/img:1" >/dev/null

$berth rmi busybox >/dev/null
left=$(ls -A "$work/state/plugins/storage.vfs/snapshots")
[ -z "$left" ] || { echo "snapshots left: $left"; exit 1; }

# The driver validates its own options table.
sed -i 's/copy_xattrs = "false"/copy_xattrs = "true"/' "$work/berth.toml"
set +e
err=$($berth info 2>&1 >/dev/null)
rc=$?
set -e
[ $rc -eq 125 ] || { echo "bad option: exit $rc, want 125"; exit 1; }
grep -q "copy_xattrs" <<<"$err" || { echo "bad option error does not name the key: $err"; exit 1; }
echo "example driver built against the installed SDK and used: ok"
