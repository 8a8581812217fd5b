#!/usr/bin/env bash
# Writes an OCI image layout with one image made of the given layer tarballs (gzipped
# here), for skopeo to copy into a test registry. Independent of berth on purpose: what a
# test pulls must not be made by the code under test.
#   make-oci-layout.sh OUT_DIR TAG [--arch ARCH] LAYER.tar [LAYER.tar...]
# With several calls on one OUT_DIR the index gains one manifest per call.
set -euo pipefail
out=$1 tag=$2
shift 2
arch=amd64
if [[ ${1:-} == --arch ]]; then arch=$2; shift 2; fi
mkdir -p "$out/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
put() {  # file -> prints its digest hex, stores it as a blob
  local h; h=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$out/blobs/sha256/$h"
  echo "$h"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
diff_ids="" layers=""
for l in "$@"; do
  d=$(sha256sum "$l" | cut -d' ' -f1)
  gzip -n -c "$l" > "$tmp/layer.gz"
  g=$(put "$tmp/layer.gz")
  s=$(stat -c %s "$tmp/layer.gz")
  diff_ids+="${diff_ids:+,}\"sha256:$d\""
  layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$g\",\"size\":$s}"
done
printf '{"architecture":"%s","os":"linux","created":"2026-01-02T03:04:05Z","config":{"Cmd":["sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created":"2026-01-02T03:04:05Z","created_by":"make-oci-layout.sh"}]}' \
  "$arch" "$diff_ids" > "$tmp/config.json"
c=$(put "$tmp/config.json")
cs=$(stat -c %s "$tmp/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$c" "$cs" "$layers" > "$tmp/manifest.json"
m=$(put "$tmp/manifest.json")
ms=$(stat -c %s "$tmp/manifest.json")
entry="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$m\",\"size\":$ms,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"$tag\"}}"
if [[ -f $out/index.json ]]; then
  old=$(sed -e 's/^.*"manifests":\[//' -e 's/\]}$//' "$out/index.json")
  entry="$old,$entry"
fi
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$entry" > "$out/index.json"
echo "sha256:$m"
