#!/usr/bin/env bash
# Writes a root file system tarball for the embedded default image busybox:latest,
# from Debian's busybox-static: one static binary plus a link per applet.
# usage: make-busybox-rootfs.sh OUT.tar
set -euo pipefail
out=$1
bb=/bin/busybox
[ -x "$bb" ] || { echo "make-busybox-rootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var,home,proc,sys,dev}
chmod 1777 "$tmp/tmp"
cp "$bb" "$tmp/bin/busybox"
for applet in $("$bb" --list-full); do
  [ -e "$tmp/$applet" ] || ln -s /bin/busybox "$tmp/$applet"
done
cat > "$tmp/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat > "$tmp/etc/group" <<'G'
root:x:0:
daemon:x:1:
nogroup:x:65534:
G
tar --numeric-owner --owner=0 --group=0 -C "$tmp" -cf "$out" .
