#!/usr/bin/env bash
# `make bench`, whole-process timings by hyperfine, printed as Markdown table rows:
# - `sigward verify --key` against `cosign verify --key --insecure-ignore-tlog=true` on the same
#   cosign-signed image in a real loopback registry;
# - `sigward verify-bundle` against sigstore-python's `sigstore verify identity --offline` on the
#   conformance bundle happy-path-v0.3 (production trust root, no network).
# Needs: docker-registry, hyperfine, python3, $SIGWARD_BIN, $SIGWARD_COSIGN, $SIGWARD_SKOPEO,
# $SIGSTORE_PY (the `sigstore` CLI from PyPI), $SIGWARD_SHARED_DIR.
set -euo pipefail
work=$(mktemp -d)
trap 'kill "$registry_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

# A one-layer OCI image layout, pushed with skopeo.
python3 - "$work/image" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]; os.makedirs(f"{root}/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}
layer = blob(b"bench layer\n")
config = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar")]}).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
    annotations={"org.opencontainers.image.ref.name": "v1"})]}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
image=127.0.0.1:$port/bench/app:v1
# skopeo refuses to copy without a signature policy; this one accepts anything (it only pushes).
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$work/policy.json"
"$SIGWARD_SKOPEO" --policy "$work/policy.json" copy -q --dest-tls-verify=false \
  "oci:$work/image:v1" "docker://$image"
export COSIGN_PASSWORD=bench
(cd "$work" && "$SIGWARD_COSIGN" generate-key-pair >/dev/null 2>&1)
"$SIGWARD_COSIGN" sign -y --key "$work/cosign.key" --tlog-upload=false --allow-http-registry "$image" >/dev/null 2>&1

sigward="$SIGWARD_BIN verify --insecure-ignore-tlog=true --key $work/cosign.pub $image"
cosign="$SIGWARD_COSIGN verify --insecure-ignore-tlog=true --allow-http-registry --key $work/cosign.pub $image"
$sigward >/dev/null   # fills wasmtime's compilation cache
$cosign >/dev/null 2>&1
hyperfine -N --warmup 3 --runs 31 --style none --export-json "$work/times.json" \
  -n "sigward verify --key" "$sigward" -n "cosign verify --key" "$cosign" >/dev/null 2>&1
python3 - "$work/times.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
s, c = r["sigward verify --key"], r["cosign verify --key"]
ms = lambda x: f"{x * 1000:.1f} ms"
print(f"| whole process: `sigward verify --key` (median of 31) | {ms(s['median'])} | {s['median'] / c['median']:.2f}× cosign |")
print(f"| whole process: `cosign verify --key --insecure-ignore-tlog=true` (median of 31) | {ms(c['median'])} | |")
PY

cases=${SIGWARD_CONFORMANCE_DIR:-${SIGWARD_SHARED_DIR:-../shared}/conformance}/bundle-verify
identity=https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main
issuer=https://token.actions.githubusercontent.com
bundle_args="--bundle $cases/happy-path-v0.3/bundle.sigstore.json"
sw="$SIGWARD_BIN verify-bundle $bundle_args --certificate-identity $identity --certificate-oidc-issuer $issuer $cases/a.txt"
py="$SIGSTORE_PY verify identity --offline $bundle_args --cert-identity $identity --cert-oidc-issuer $issuer $cases/a.txt"
$sw 2>/dev/null && $py >/dev/null 2>&1
hyperfine -N --warmup 2 --runs 15 --style none --export-json "$work/bundle.json" \
  -n sigward "$sw" -n sigstore-python "$py" >/dev/null 2>&1
python3 - "$work/bundle.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
s, p = r["sigward"], r["sigstore-python"]
ms = lambda x: f"{x * 1000:.1f} ms"
print(f"| whole process: `sigward verify-bundle` keyless (median of 15) | {ms(s['median'])} | {p['median'] / s['median']:.0f}× faster than sigstore-python |")
print(f"| whole process: `sigstore verify identity --offline` (sigstore-python 4.5.1, median of 15) | {ms(p['median'])} | |")
PY
