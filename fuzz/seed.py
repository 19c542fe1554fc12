#!/usr/bin/env python3
"""Builds the seed corpus of every fuzz target from real vectors, read in place (never copied
into the repository): the Sigstore conformance cases and legacy-keyless fixtures in
../shared (SIGWARD_CONFORMANCE_DIR), the repository's own test vectors, demo layout and example policies.

usage: seed.py CORPUS_DIR   (one sub-directory per target; existing files are kept)
"""

import base64
import hashlib
import json
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
CONFORMANCE = pathlib.Path(
    os.environ.get("SIGWARD_CONFORMANCE_DIR", REPO.parent / "shared" / "conformance")
)
FIXTURES = CONFORMANCE.parent / "fixtures"


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    seeds: dict[str, list[bytes]] = {}

    def add(target: str, data: bytes) -> None:
        seeds.setdefault(target, []).append(data)

    for root in sorted(CONFORMANCE.glob("**/trusted_root.json")):
        add("trusted_root", root.read_bytes())
    for path in sorted(CONFORMANCE.glob("bundle-verify/*/bundle.sigstore.json")):
        raw = path.read_bytes()
        add("bundle", raw)
        add("json", raw)
        try:
            bundle = json.loads(raw)
        except ValueError:
            continue
        material = bundle.get("verificationMaterial", {})
        certs = [material.get("certificate", {}).get("rawBytes")]
        certs += [c.get("rawBytes") for c in material.get("x509CertificateChain", {}).get("certificates", [])]
        for cert in filter(None, certs):
            der = base64.b64decode(cert)
            add("certificate", der)
            add("sct", der)
            pem = "-----BEGIN CERTIFICATE-----\n" + cert + "\n-----END CERTIFICATE-----\n"
            add("pem_chain", pem.encode())
        for ts in material.get("timestampVerificationData", {}).get("rfc3161Timestamps", []):
            add("timestamp", base64.b64decode(ts["signedTimestamp"]))
        for entry in material.get("tlogEntries", []):
            add("tlog_entry", base64.b64decode(entry["canonicalizedBody"]))
            checkpoint = entry.get("inclusionProof", {}).get("checkpoint", {}).get("envelope")
            if checkpoint:
                add("checkpoint", checkpoint.encode())
        if "dsseEnvelope" in bundle:
            envelope = bundle["dsseEnvelope"]
            add("dsse", json.dumps(envelope).encode())
            add("dsse", base64.b64decode(envelope["payload"]))
    for annotations in sorted(FIXTURES.glob("legacy-keyless/*/annotations.json")):
        values = json.loads(annotations.read_text())
        chain = values.get("dev.sigstore.cosign/certificate", "") + values.get("dev.sigstore.cosign/chain", "")
        add("pem_chain", chain.encode())
        if "dev.sigstore.cosign/bundle" in values:
            add("tlog_entry", values["dev.sigstore.cosign/bundle"].encode())
    for payload in sorted((REPO / "policy-wasm/tests/data/image").glob("*/payload")):
        add("simple_signing", payload.read_bytes())
    for policy in sorted(REPO.glob("policies/*.yaml")) + sorted(REPO.glob("policy-wasm/tests/data/policy/*/*.y*ml")):
        add("policy", policy.read_bytes())
    for condition in [
        'predicateType: "https://slsa.dev/provenance/v1"',
        'predicate: { builder: { id: =~"^https://example" } }',
        'predicate: { n: >0 & <10, ok: true | false }',
        'predicate: { n: int, ok: bool }',
        '_|_',
    ]:
        add("cue", condition.encode())
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "registry.test/team/app:v1"}],
                    "initContainers": [{"name": "i", "image": "ghcr.io/org/app@sha256:" + "a" * 64}]}}
    for kind, obj in [("Pod", pod), ("Deployment", {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "d"}, "spec": {"template": {"spec": pod["spec"]}}})]:
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                  "request": {"uid": "u", "operation": "CREATE",
                              "kind": {"group": "" if kind == "Pod" else "apps", "version": "v1", "kind": kind},
                              "resource": {"group": "", "version": "v1", "resource": kind.lower() + "s"},
                              "namespace": "default", "object": obj}}
        add("admission_review", json.dumps(review).encode())
    add("gatekeeper", json.dumps({"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
                                  "request": {"keys": ["registry.test/team/app:v1", "nginx"]}}).encode())
    add("json", b"[" * 100_000)
    add("manifest", (REPO / "policy-wasm/tests/data/image/manifest.json").read_bytes())
    for layout_index in sorted(REPO.glob("host/demo/layout/**/index.json")):
        add("manifest", layout_index.read_bytes())
    for blob in sorted(REPO.glob("host/demo/layout/blobs/sha256/*")):
        if blob.stat().st_size < 65536 and blob.read_bytes().lstrip().startswith(b"{"):
            add("manifest", blob.read_bytes())
    add("manifest", json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                                "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                               "digest": "sha256:" + "a" * 64, "size": 1}]}).encode())

    for target, items in seeds.items():
        directory = out / target
        directory.mkdir(parents=True, exist_ok=True)
        for data in items:
            (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)
    print(" ".join(f"{t}:{len(v)}" for t, v in sorted(seeds.items())))


if __name__ == "__main__":
    main()
