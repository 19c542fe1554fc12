#!/usr/bin/env bash
# Regenerate the demo in host/demo (run through `make demo-data`; see host/demo/README.md):
#
#   1. build a tiny image (one file) as an OCI image layout, reproducibly;
#   2. push it with skopeo to a throw-away docker-registry on 127.0.0.1:$DEMO_PORT;
#   3. make a fresh cosign key pair, `cosign sign` the image by digest (no transparency log);
#   4. `cosign save` image + signature into host/demo/layout (cosign's own layout format);
#   5. keep only cosign.pub: the private key and its password die with the temp dir;
#   6. check `cosign verify --local-image` accepts the saved layout.
#
# Usage: tests/tools/make-demo.sh [OUT_DIR]   (default host/demo; needs `make tools`)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/host/demo}
tools=${SIGWARD_TOOLS_DIR:-$repo/target/tools}
cosign=${SIGWARD_COSIGN:-$tools/cosign}
skopeo=${SIGWARD_SKOPEO:-$tools/skopeo}
port=${DEMO_PORT:-5000}
image=127.0.0.1:$port/sigward/demo
tag=v1

work=$(mktemp -d)
registry_pid=
cleanup() {
    if [[ -n $registry_pid ]]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Isolated from the caller's configuration, and nothing but loopback is reachable.
export HOME=$work/home DOCKER_CONFIG=$work/home/.docker XDG_CONFIG_HOME=$work/home/.config
export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
export COSIGN_PASSWORD
COSIGN_PASSWORD=$(head -c 24 /dev/urandom | base64)
mkdir -p "$HOME/.docker"

# 1. The image: /hello.txt in a gzip'd tar layer, fixed times and owners.
layout=$work/image
mkdir -p "$layout/blobs/sha256" "$work/rootfs"
blob() { # FILE -> prints sha256:<hex>, stores FILE in the layout
    local hex
    hex=$(sha256sum "$1" | cut -d' ' -f1)
    cp "$1" "$layout/blobs/sha256/$hex"
    echo "sha256:$hex"
}
size() { stat -c %s "$1"; }
printf 'Hello from the sigward demo image.\n' >"$work/rootfs/hello.txt"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=ustar \
    -C "$work/rootfs" -cf "$work/layer.tar" hello.txt
gzip -9 -n -c "$work/layer.tar" >"$work/layer.tar.gz"
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
layer=$(blob "$work/layer.tar.gz")
printf '{"architecture":"amd64","config":{"Cmd":["/hello.txt"]},"created":"1970-01-01T00:00:00Z","os":"linux","rootfs":{"diff_ids":["%s"],"type":"layers"}}' \
    "$diff_id" >"$work/config.json"
config=$(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
    "$config" "$(size "$work/config.json")" "$layer" "$(size "$work/layer.tar.gz")" >"$work/manifest.json"
manifest=$(blob "$work/manifest.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$(size "$work/manifest.json")" "$tag" >"$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

# 2. A registry for the push, loopback only, storage in the temp dir.
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:$port
EOF
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; exit 1; }
    sleep 0.1
done
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
"$skopeo" --policy "$work/policy.json" copy --dest-tls-verify=false \
    "oci:$layout:$tag" "docker://$image:$tag"

# 3. Key pair and signature.
(cd "$work" && "$cosign" generate-key-pair --output-key-prefix cosign)
"$cosign" sign --yes --key "$work/cosign.key" --tlog-upload=false --allow-http-registry \
    "$image@$manifest"

# 4. Save image + signature as an OCI layout; files as plain 0644 for the repository.
rm -rf "$out/layout"
mkdir -p "$out"
"$cosign" save --dir "$out/layout" "$image@$manifest"
find "$out/layout" -type d -exec chmod 755 {} +
find "$out/layout" -type f -exec chmod 644 {} +

# 5. Only the public key leaves the temp dir.
cp "$work/cosign.pub" "$out/cosign.pub"

# 6. cosign itself accepts what was saved.
"$cosign" verify --key "$out/cosign.pub" --insecure-ignore-tlog=true --local-image "$out/layout" \
    >/dev/null
echo "make-demo: $image@$manifest signed and saved to $out/layout ($(du -sh "$out/layout" | cut -f1))"
