#!/usr/bin/env bash
# `make bench-webhook`: the admission webhook (`sigward serve`) under load, printed as Markdown
# table rows `| what | value | target |`:
# - warm cache: wrk POSTs one AdmissionReview for a Pod of 3 containers (3 distinct images, each
#   pinned by digest and signed by cosign) to /validate over HTTPS with keep-alive connections;
#   requests/s and p99 latency;
# - first seen: one AdmissionReview per image the server has never verified (a 1-container Pod
#   each), sent one after another on one kept-alive connection; p50 and p99 of those requests,
#   each of which fetches the signature from the registry and verifies it;
# - the server's peak resident memory (VmHWM) after both;
# - soak (SIGWARD_BENCH_SOAK requests, default 1,000,000; 0 skips it): the warm request again in
#   10 s wrk rounds until that many were answered, errors counted, resident memory (VmRSS) at the
#   start, the middle and the end;
# - registry killed mid-load: the registry process is killed while wrk keeps the warm request
#   going, then every image the server has not verified yet (SIGWARD_BENCH_UNSEEN, 50, kept out
#   of the first-seen run) is asked about once: each must be denied, none allowed.
# Everything is local: a real docker-registry on 127.0.0.1, images pushed with skopeo, signed
# with cosign 2.5 (--tlog-upload=false) by a fresh key that a ClusterImagePolicy names, and a
# self-signed certificate for 127.0.0.1.
# Needs: docker-registry, wrk, curl, openssl, python3, $SIGWARD_BIN, $SIGWARD_COSIGN,
# $SIGWARD_SKOPEO. SIGWARD_BENCH_DURATION (15s) and SIGWARD_BENCH_FIRST_SEEN (200) shorten a
# trial run; SIGWARD_BENCH_THREADS (2) and SIGWARD_BENCH_CONNECTIONS (16) set wrk's load.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
sigward=${SIGWARD_BIN:-$repo/target/release/sigward}
cosign=${SIGWARD_COSIGN:-$repo/target/tools/cosign}
skopeo=${SIGWARD_SKOPEO:-$repo/target/tools/skopeo}
registry=${REGISTRY:-/usr/bin/docker-registry}
duration=${SIGWARD_BENCH_DURATION:-15s}
fresh=${SIGWARD_BENCH_FIRST_SEEN:-200}
soak=${SIGWARD_BENCH_SOAK:-1000000}
unseen=${SIGWARD_BENCH_UNSEEN:-50}
jobs=$(($(nproc) * 2)) # parallel pushes and signatures while setting up

# In memory when possible: the registry writes thousands of small files, and deleting them from a
# disk mounted with online discard takes longer than the whole benchmark.
if [[ -d /dev/shm && -w /dev/shm ]]; then
    work=$(mktemp -d /dev/shm/sigward-bench.XXXXXX)
else
    work=$(mktemp -d)
fi
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# Isolated from the caller's configuration; nothing but loopback is reachable.
export HOME=$work/home DOCKER_CONFIG=$work/home/.docker SIGWARD_CACHE_DIR=$work/cache
export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
export COSIGN_PASSWORD=
mkdir -p "$DOCKER_CONFIG"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { echo "$EPOCHREALTIME"; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
fail() { # MESSAGE [LOG] -> stderr, exit 1
    echo "bench-webhook: $1" >&2
    if [[ -n ${2:-} && -r $2 ]]; then tail -n 30 "$2" >&2; fi
    exit 1
}

# 1. A registry on a free loopback port, storage in the temp dir.
registry_port=$(free_port)
host=127.0.0.1:$registry_port
cat >"$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: $host}
YML
"$registry" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
    curl -fsS "http://$host/v2/" >/dev/null 2>&1 && break
    kill -0 "${pids[0]}" 2>/dev/null || fail "docker-registry did not start" "$work/registry.log"
    sleep 0.1
done

# 2. Distinct one-layer images in one OCI layout: app-0..2 for the Pod, fresh-0..N-1 for the
#    first-seen requests. Layers are gzip'd so skopeo pushes the manifests unchanged
#    (--preserve-digests checks that), and the digests computed here are the pushed ones.
python3 - "$work/layout" "$((fresh + unseen))" "$host" >"$work/images" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root, fresh, host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(f"{root}/blobs/sha256")
def blob(data):
    hex = hashlib.sha256(data).hexdigest()
    with open(f"{root}/blobs/sha256/{hex}", "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{hex}", "size": len(data)}
def layer_tar(text):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
names = [f"app-{i}" for i in range(3)] + [f"fresh-{i}" for i in range(fresh)]
manifests = []
for name in names:
    tar = layer_tar(f"sigward webhook bench image {name}\n")
    layer = blob(gzip.compress(tar, mtime=0))
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    config = blob(json.dumps({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode())
    manifest = blob(json.dumps({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
    manifests.append(dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
        annotations={"org.opencontainers.image.ref.name": name}))
    # the layout's tag, the push destination, the reference by digest
    print(name, f"{host}/bench/{name}:v1", f"{host}/bench/{name}@{manifest['digest']}")
with open(f"{root}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": manifests}, f)
with open(f"{root}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
PY
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/containers-policy.json"
start=$(now)
awk -v layout="$work/layout" '{print "oci:" layout ":" $1, "docker://" $2}' "$work/images" |
    xargs -n 2 -P "$jobs" "$skopeo" --policy "$work/containers-policy.json" copy -q \
        --preserve-digests --dest-tls-verify=false >"$work/push.log" 2>&1 ||
    fail "skopeo copy failed" "$work/push.log"
echo "bench-webhook: pushed $((fresh + unseen + 3)) images in $(since "$start") s" >&2

# 3. A cosign key pair; every image signed by digest, no transparency log. 25 references per
#    cosign run: each run decrypts the key (scrypt) once, which is most of its time, so signing
#    one image per run is about ten times slower.
(cd "$work" && "$cosign" generate-key-pair >/dev/null 2>&1) || fail "cosign generate-key-pair failed"
start=$(now)
cut -d' ' -f3 "$work/images" |
    xargs -n 25 -P "$jobs" "$cosign" sign -y --key "$work/cosign.key" --tlog-upload=false \
        --allow-http-registry >"$work/sign.log" 2>&1 ||
    fail "cosign sign failed" "$work/sign.log"
echo "bench-webhook: signed $((fresh + unseen + 3)) images with cosign (25 per run, $jobs runs at a time)" \
    "in $(since "$start") s" >&2

# 4. The policy: everything in this registry needs a signature by that key.
{
    cat <<YML
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: bench
spec:
  images:
  - glob: "$host/**"
  authorities:
  - name: bench-key
    key:
      data: |
YML
    sed 's/^/        /' "$work/cosign.pub"
} >"$work/policy.yaml"

# 5. A self-signed serving certificate for 127.0.0.1, then the server.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -noenc -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1 || fail "openssl req failed"
server_port=$(free_port)
url=https://127.0.0.1:$server_port
"$sigward" serve --policy "$work/policy.yaml" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
    --listen "127.0.0.1:$server_port" >"$work/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 100); do
    curl -fsS --cacert "$work/tls.crt" "$url/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || fail "sigward serve exited" "$work/server.log"
    sleep 0.1
done
curl -fsS --cacert "$work/tls.crt" "$url/readyz" >/dev/null 2>&1 ||
    fail "sigward serve not ready after 10 s" "$work/server.log"

# 6. The AdmissionReviews: the 3-container Pod, and a 1-container Pod per fresh image.
python3 - "$work/images" "$work/reviews" <<'PY'
import json, os, sys
images, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
refs = [line.split()[2] for line in open(images)]
def review(uid, images):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"bench-{uid}", "namespace": "default"},
           "spec": {"containers": [{"name": f"c{i}", "image": image}
                                   for i, image in enumerate(images)]}}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": f"00000000-0000-0000-0000-{uid:012d}",
                        "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "namespace": "default", "operation": "CREATE", "object": pod,
                        "userInfo": {"username": "bench"}}}
with open(f"{out}/pod3.json", "w") as f:
    json.dump(review(0, refs[:3]), f)
for i, ref in enumerate(refs[3:]):
    with open(f"{out}/fresh-{i}.json", "w") as f:
        json.dump(review(i + 1, [ref]), f)
PY
allowed() { # RESPONSE_FILE... -> exit status 0 if every AdmissionReview response allows
    python3 - "$@" <<'PY'
import json, sys
for name in sys.argv[1:]:
    with open(name) as f:
        body = f.read()
    try:
        ok = json.loads(body)["response"]["allowed"] is True
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        sys.exit(f"{name}: {body[:500]}")
PY
}

# 7. Warm cache: one request verifies the three images, then wrk.
curl -fsS --cacert "$work/tls.crt" -H 'Content-Type: application/json' \
    --data-binary "@$work/reviews/pod3.json" -o "$work/pod3.response" "$url/validate" ||
    fail "POST /validate failed" "$work/server.log"
allowed "$work/pod3.response" || fail "the 3-container Pod was not allowed" "$work/server.log"
cat >"$work/post.lua" <<'LUA'
-- Every request POSTs the AdmissionReview in $BENCH_BODY; done() prints what the driver reads.
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("bench: requests=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f errors=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
# Saturating load (-c16: wrk's 2 threads and the server's 2 workers share 2 cores, so p99 is
# scheduler queueing), then 4 connections: well over the 10,000 req/s target without
# oversubscribing the cores; the target row.
warm() { # CONNECTIONS OUTPUT -> "requests duration_us p99_us"
    BENCH_BODY=$work/reviews/pod3.json wrk -t"${SIGWARD_BENCH_THREADS:-2}" -c"$1" -d"$duration" \
        --latency -s "$work/post.lua" "$url/validate" >"$2" 2>&1 || fail "wrk failed" "$2"
    local requests duration_us p99_us errors
    read -r requests duration_us p99_us errors < <(
        sed -n 's/^bench: requests=\([0-9]*\) duration_us=\([0-9]*\) p50_us=[0-9]* p99_us=\([0-9]*\) errors=\([0-9]*\)$/\1 \2 \3 \4/p' "$2"
    ) || true
    [[ -n ${errors:-} ]] || fail "no summary from wrk" "$2"
    ((errors == 0)) || fail "wrk saw $errors errors (non-2xx or socket)" "$2"
    echo "$requests $duration_us $p99_us"
}
read -r requests duration_us p99_us < <(warm "${SIGWARD_BENCH_CONNECTIONS:-16}" "$work/wrk.out")
read -r light_requests light_duration_us light_p99_us < <(warm 4 "$work/wrk-light.out")
rss_warm=$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")

# 8. First seen: each fresh image once, in order, on one connection (after a GET that opens it).
{
    printf 'url = "%s/healthz"\ncacert = "%s"\noutput = "/dev/null"\nwrite-out = "warmup %%{http_code}\\n"\n' \
        "$url" "$work/tls.crt"
    for ((i = 0; i < fresh; i++)); do
        printf 'next\nurl = "%s/validate"\ncacert = "%s"\nheader = "Content-Type: application/json"\n' \
            "$url" "$work/tls.crt"
        printf 'data-binary = "@%s/reviews/fresh-%d.json"\noutput = "%s/reviews/fresh-%d.response"\n' \
            "$work" "$i" "$work" "$i"
        printf 'write-out = "%%{http_code} %%{time_total}\\n"\n'
    done
} >"$work/fresh.curl"
curl -sS -K "$work/fresh.curl" >"$work/fresh.times" || fail "first-seen requests failed" "$work/server.log"
allowed "$work"/reviews/fresh-*.response || fail "a first-seen image was not allowed" "$work/server.log"
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$server_pid/status")

# 9. The rows.
python3 - "$requests" "$duration_us" "$p99_us" "$rss_warm" "$hwm" "$work/fresh.times" "$fresh" "$duration" \
    "${SIGWARD_BENCH_THREADS:-2}" "${SIGWARD_BENCH_CONNECTIONS:-16}" \
    "$light_requests" "$light_duration_us" "$light_p99_us" <<'PY'
import math, sys
requests, duration_us, p99_us, rss_warm, hwm = map(int, sys.argv[1:6])
lines = [l.split() for l in open(sys.argv[6]) if not l.startswith("warmup")]
fresh, duration, threads, connections = int(sys.argv[7]), sys.argv[8], sys.argv[9], sys.argv[10]
assert len(lines) == fresh and all(code == "200" for code, _ in lines), lines[:3]
times = sorted(float(t) * 1000 for _, t in lines)
rank = lambda p: times[max(0, math.ceil(p / 100 * len(times)) - 1)]  # nearest rank
mib = lambda kib: f"{kib / 1024:.1f} MiB"
what = "webhook `/validate`, 3-container Pod, warm cache"
light_requests, light_duration_us, light_p99_us = map(int, sys.argv[11:14])
print(f"| {what} (wrk -t{threads} -c4, {duration}): throughput | {light_requests / (light_duration_us / 1e6):,.0f} req/s | ≥ 10,000 req/s |")
print(f"| {what} (wrk -t{threads} -c4): p99 latency | {light_p99_us / 1000:.2f} ms | ≤ 2 ms |")
print(f"| {what}, saturated (wrk -t{threads} -c{connections}, {duration}): throughput | {requests / (duration_us / 1e6):,.0f} req/s | |")
print(f"| {what}, saturated: p99 latency | {p99_us / 1000:.2f} ms | |")
what = f"webhook `/validate`, first-seen image (1-container Pod; {fresh} images signed by cosign, one request each)"
print(f"| {what}: p50 latency | {rank(50):.2f} ms | |")
print(f"| {what}: p99 latency | {rank(99):.2f} ms | ≤ 20 ms |")
print(f"| webhook server resident memory after the warm-cache load (VmRSS) | {mib(rss_warm)} | |")
print(f"| webhook server peak resident memory (VmHWM) | {mib(hwm)} | ≤ 64 MiB |")
PY

# 10. Soak: the warm request in 10 s rounds until $soak were answered; RSS at start, middle, end.
if ((soak > 0)); then
    rss() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
    rss_start=$(rss) rss_middle='' total=0 soak_errors=0 rounds=0
    while ((total < soak)); do
        BENCH_BODY=$work/reviews/pod3.json wrk -t"${SIGWARD_BENCH_THREADS:-2}" -c4 -d10s \
            -s "$work/post.lua" "$url/validate" >"$work/soak.out" 2>&1 || fail "wrk failed" "$work/soak.out"
        read -r requests errors < <(sed -n 's/^bench: requests=\([0-9]*\) .* errors=\([0-9]*\)$/\1 \2/p' "$work/soak.out")
        [[ -n ${errors:-} ]] || fail "no summary from wrk" "$work/soak.out"
        total=$((total + requests)) soak_errors=$((soak_errors + errors)) rounds=$((rounds + 1))
        if [[ -z $rss_middle ]] && ((total >= soak / 2)); then rss_middle=$(rss); fi
    done
    rss_end=$(rss)
    mib() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1024:.1f} MiB')" "$1"; }
    echo "| soak: warm \`/validate\` requests answered ($rounds rounds of 10 s, wrk -c4) | $(printf "%'d" "$total") | ≥ $(printf "%'d" "$soak") |"
    echo "| soak: errors (non-2xx or socket) | $soak_errors | 0 |"
    echo "| soak: server resident memory (VmRSS) at start / middle / end | $(mib "$rss_start") / $(mib "$rss_middle") / $(mib "$rss_end") | flat |"
    ((soak_errors == 0)) || fail "the soak saw $soak_errors errors" "$work/server.log"
fi

# 11. Registry killed mid-load: wrk keeps the warm (cached) request going while the registry is
#     killed; then each image the server has not verified yet is asked about once.
if ((unseen > 0)); then
    BENCH_BODY=$work/reviews/pod3.json wrk -t1 -c2 -d6s -s "$work/post.lua" "$url/validate" \
        >"$work/kill.out" 2>&1 &
    wrk_pid=$!
    sleep 2
    kill "${pids[0]}" && wait "${pids[0]}" 2>/dev/null || true
    {
        printf 'url = "%s/healthz"\ncacert = "%s"\noutput = "/dev/null"\n' "$url" "$work/tls.crt"
        for ((i = fresh; i < fresh + unseen; i++)); do
            printf 'next\nurl = "%s/validate"\ncacert = "%s"\nheader = "Content-Type: application/json"\n' \
                "$url" "$work/tls.crt"
            printf 'data-binary = "@%s/reviews/fresh-%d.json"\noutput = "%s/reviews/unseen-%d.response"\n' \
                "$work" "$i" "$work" "$i"
        done
    } >"$work/unseen.curl"
    curl -sS -K "$work/unseen.curl" || fail "requests after the registry was killed failed" "$work/server.log"
    wait "$wrk_pid" || fail "wrk failed while the registry was killed" "$work/kill.out"
    read -r requests errors < <(sed -n 's/^bench: requests=\([0-9]*\) .* errors=\([0-9]*\)$/\1 \2/p' "$work/kill.out")
    python3 - "$work" "$fresh" "$unseen" "${requests:-0}" "${errors:-0}" <<'PY'
import json, sys
work, fresh, unseen, requests, errors = sys.argv[1], *map(int, sys.argv[2:])
allowed = denied = 0
for i in range(fresh, fresh + unseen):
    response = json.load(open(f"{work}/reviews/unseen-{i}.response"))["response"]
    if response["allowed"]:
        allowed += 1
    else:
        denied += 1
print(f"| registry killed mid-load: never-verified images allowed / denied | {allowed} / {denied} | 0 / {unseen} |")
print(f"| registry killed mid-load: warm (cached) requests meanwhile, errors | {requests:,}, {errors} | errors 0 |")
if allowed:
    sys.exit("an image was allowed after the registry was killed")
PY
fi
