#!/usr/bin/env python3
"""Generate a scenario matrix of real TUF repositories for sigward's TUF client tests.

Usage: tuf-repo.py OUT_DIR --target-a FILE --target-b FILE

Needs python-tuf with pyca/cryptography:
    pip install tuf==7.0.1 'securesystemslib[crypto]==1.6.0'

The repositories are laid out like Sigstore's TUF mirror (tuf-repo-cdn.sigstore.dev):
consistent snapshots, `N.root.json`, `timestamp.json`, `N.snapshot.json` and
`N.targets.json` at the top of each state directory, and targets stored as
`targets/<sha256hex>.<name>`. Keys are ECDSA P-256 (keytype "ecdsa", scheme
"ecdsa-sha2-nistp256", PEM public keys), and snapshot and timestamp share one online
key, as in Sigstore's root. The file `trusted_root.json` is target A in the first
version and target B afterwards. Keys are generated afresh on every run.

OUT_DIR/root.json is the version 1 root a client is bootstrapped with; every other
directory of OUT_DIR is one state of the mirror, served as-is. OUT_DIR/README says
what a correct client must do with each state.
"""

import argparse
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

NAME = "trusted_root.json"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
VALID = NOW + timedelta(days=365)
EXPIRED = NOW - timedelta(days=1)
SERIALIZER = JSONSerializer(compact=False)
# Larger than the 10 MiB a client may allow for any metadata file.
OVERSIZE = 11 * 1024 * 1024

# (state, what a client that has already loaded v1 and then v2 must do)
STATES = [
    ("v1", "bootstrap from root.json: succeed, trusted_root.json = A"),
    ("v2", "succeed, trusted_root.json = B (normal update of targets/snapshot/timestamp)"),
    ("rotated", "succeed, trusted_root.json = B; root and online keys rotated via 2.root.json "
                "(signed by old and new root keys); client must persist root version 2"),
    ("expired-timestamp", "reject: timestamp (version 3) is expired"),
    ("expired-snapshot", "reject: snapshot (version 3) is expired"),
    ("expired-targets", "reject: targets (version 3) is expired"),
    ("expired-root", "reject: the newest root (2.root.json, properly signed) is expired"),
    ("freeze", "reject: timestamp has the same version 2 the client holds but has expired "
               "(signed metadata replayed after its expiry); python-tuf instead keeps its "
               "cached, unexpired timestamp 2, also safe; never trust the expired one"),
    ("rollback", "reject: timestamp/snapshot/targets versions are lower than the client's "
                 "(byte-identical to v1; a fresh client would accept it)"),
    ("rollback-snapshot", "reject: new timestamp (version 3) points at old snapshot version 1"),
    ("rollback-targets", "reject: new snapshot (version 3) lists the old targets version 1"),
    ("mix-and-match", "reject: timestamp lists snapshot version 3 but 3.snapshot.json "
                      "is the (validly signed) version 2 snapshot"),
    ("mix-and-match-targets", "reject: snapshot lists targets version 3 but 3.targets.json "
                              "is the (validly signed) version 2 targets"),
    ("bad-target-hash", "reject the target: served file has the listed length but another sha256"),
    ("bad-target-length", "reject the target: targets lists a length one byte shorter than "
                          "the served file (its sha256 is right)"),
    ("bad-timestamp-signature", "reject: timestamp signed by a key the root does not list"),
    ("bad-root-signature", "reject: 2.root.json is signed only by the new root key, so the "
                           "threshold of the trusted (version 1) root is not met"),
    ("bad-root-signature-new", "reject: 2.root.json is signed only by the old root key, so the "
                               "threshold of the new root itself is not met"),
    ("oversized", "reject without reading it whole: validly signed timestamp.json > 10 MiB"),
    ("oversized-snapshot", "reject without reading it whole: validly signed 3.snapshot.json "
                           "> 10 MiB"),
]


def signed_bytes(signed, *signers):
    """Serialize `signed` as metadata with one signature per signer."""
    md = Metadata(signed)
    for signer in signers:
        md.sign(signer, append=True)
    return md.to_bytes(SERIALIZER)


def make_root(version, root_signers, targets_signer, online_signer, expires=VALID):
    root = Root(version=version, expires=expires, consistent_snapshot=True)
    for signer in root_signers:
        root.add_key(signer.public_key, "root")
    root.add_key(targets_signer.public_key, "targets")
    # Sigstore's snapshot and timestamp roles share one online key.
    root.add_key(online_signer.public_key, "snapshot")
    root.add_key(online_signer.public_key, "timestamp")
    return root


def make_targets(version, content, signer, expires=VALID, length=None):
    """Signed targets metadata listing `content` as trusted_root.json, and its target path."""
    target = TargetFile.from_data(NAME, content, ["sha256"])
    if length is not None:
        target.length = length
    meta = Targets(version=version, expires=expires, targets={NAME: target})
    path = f"targets/{target.hashes['sha256']}.{NAME}"
    return signed_bytes(meta, signer), path


def make_snapshot(version, targets_version, signer, expires=VALID, extra=None):
    meta = Snapshot(version=version, expires=expires,
                    meta={"targets.json": MetaFile(version=targets_version)},
                    unrecognized_fields=extra)
    return signed_bytes(meta, signer)


def make_timestamp(version, snapshot_version, signer, expires=VALID, extra=None):
    meta = Timestamp(version=version, expires=expires,
                     snapshot_meta=MetaFile(version=snapshot_version),
                     unrecognized_fields=extra)
    return signed_bytes(meta, signer)


def padding():
    """An unrecognized (so still validly signed) field that makes metadata oversized."""
    return {"x-padding": "A" * OVERSIZE}


def write_state(out, name, files):
    base = out / name
    for rel, data in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--target-a", type=Path, required=True, help="trusted_root.json of v1")
    parser.add_argument("--target-b", type=Path, required=True, help="trusted_root.json later")
    args = parser.parse_args()
    a, b = args.target_a.read_bytes(), args.target_b.read_bytes()
    if a == b:
        parser.error("--target-a and --target-b must differ")
    out = args.out_dir
    if out.exists() and any(out.iterdir()):
        # Only ever wipe a directory this script made (it always writes a README).
        if not (out / "README").is_file():
            parser.error(f"{out} is not empty and was not made by this script")
        shutil.rmtree(out)
    out.mkdir(parents=True)

    root_key, targets_key, online_key = (CryptoSigner.generate_ecdsa() for _ in range(3))
    new_root_key, new_online_key, stranger = (CryptoSigner.generate_ecdsa() for _ in range(3))

    # v1: root 1, timestamp 1 -> snapshot 1 -> targets 1 (A).
    root1 = signed_bytes(make_root(1, [root_key], targets_key, online_key), root_key)
    (out / "root.json").write_bytes(root1)
    targets1, path_a = make_targets(1, a, targets_key)
    v1 = {
        "1.root.json": root1,
        "timestamp.json": make_timestamp(1, 1, online_key),
        "1.snapshot.json": make_snapshot(1, 1, online_key),
        "1.targets.json": targets1,
        path_a: a,
    }
    states = {"v1": v1, "rollback": dict(v1)}

    # v2: timestamp 2 -> snapshot 2 -> targets 2 (B). Older files stay, as on a real mirror.
    targets2, path_b = make_targets(2, b, targets_key)
    snapshot2 = make_snapshot(2, 2, online_key)
    v2 = dict(v1, **{
        "timestamp.json": make_timestamp(2, 2, online_key),
        "2.snapshot.json": snapshot2,
        "2.targets.json": targets2,
        path_b: b,
    })
    states["v2"] = v2

    # Healthy version 3 metadata on top of v2 (same target B), used by several states.
    targets3, _ = make_targets(3, b, targets_key)
    ts3, snap3 = make_timestamp(3, 3, online_key), make_snapshot(3, 3, online_key)

    # Root rotation: new root key and new online key; 2.root.json signed by old and new.
    root2 = make_root(2, [new_root_key], targets_key, new_online_key)
    states["rotated"] = dict(v2, **{
        "2.root.json": signed_bytes(root2, root_key, new_root_key),
        "timestamp.json": make_timestamp(3, 3, new_online_key),
        "3.snapshot.json": make_snapshot(3, 3, new_online_key),
        "3.targets.json": targets3,
    })
    states["bad-root-signature"] = dict(states["rotated"],
                                        **{"2.root.json": signed_bytes(root2, new_root_key)})
    states["bad-root-signature-new"] = dict(states["rotated"],
                                            **{"2.root.json": signed_bytes(root2, root_key)})
    expired_root2 = make_root(2, [root_key], targets_key, online_key, expires=EXPIRED)
    states["expired-root"] = dict(v2, **{"2.root.json": signed_bytes(expired_root2, root_key)})

    # Expiry and freeze: properly signed metadata whose `expires` is in the past.
    states["expired-timestamp"] = dict(v2, **{
        "timestamp.json": make_timestamp(3, 2, online_key, expires=EXPIRED)})
    states["expired-snapshot"] = dict(v2, **{
        "timestamp.json": ts3,
        "3.snapshot.json": make_snapshot(3, 2, online_key, expires=EXPIRED)})
    states["expired-targets"] = dict(v2, **{
        "timestamp.json": ts3, "3.snapshot.json": snap3,
        "3.targets.json": make_targets(3, b, targets_key, expires=EXPIRED)[0]})
    states["freeze"] = dict(v2, **{
        "timestamp.json": make_timestamp(2, 2, online_key, expires=EXPIRED)})

    # Rollback behind a fresh timestamp: older snapshot, or older targets.
    states["rollback-snapshot"] = dict(v2, **{"timestamp.json": make_timestamp(3, 1, online_key)})
    states["rollback-targets"] = dict(v2, **{
        "timestamp.json": ts3, "3.snapshot.json": make_snapshot(3, 1, online_key)})

    # Mix-and-match: the file served under a version's name is another (signed) version.
    states["mix-and-match"] = dict(v2, **{"timestamp.json": ts3, "3.snapshot.json": snapshot2})
    states["mix-and-match-targets"] = dict(v2, **{
        "timestamp.json": ts3, "3.snapshot.json": snap3, "3.targets.json": targets2})

    # Bad targets: listed hash or length disagrees with the served file.
    tampered = bytes([b[0] ^ 0x01]) + b[1:]  # same length, different sha256
    states["bad-target-hash"] = dict(v2, **{path_b: tampered})
    short_targets, _ = make_targets(3, b, targets_key, length=len(b) - 1)
    states["bad-target-length"] = dict(v2, **{
        "timestamp.json": ts3, "3.snapshot.json": snap3, "3.targets.json": short_targets})

    states["bad-timestamp-signature"] = dict(v2, **{
        "timestamp.json": make_timestamp(3, 2, stranger)})

    # Endless-data attacks: validly signed, padded past any sane size limit.
    states["oversized"] = dict(v2, **{
        "timestamp.json": make_timestamp(3, 2, online_key, extra=padding())})
    states["oversized-snapshot"] = dict(v2, **{
        "timestamp.json": ts3,
        "3.snapshot.json": make_snapshot(3, 2, online_key, extra=padding())})

    for name, _ in STATES:
        write_state(out, name, states[name])

    lines = [
        "TUF scenario repositories generated by tests/tools/tuf-repo.py (keys are fresh per run).",
        "Bootstrap a client with root.json (version 1). Each directory below is a complete",
        "mirror (metadata at its top, targets/<sha256>.<name> below). Unless said otherwise a",
        "state is meant for a client whose persistent cache has already loaded v1, then v2.",
        f"Target A = {args.target_a}", f"Target B = {args.target_b}", "",
    ]
    lines += [f"{name:24} {expect}" for name, expect in STATES]
    lines += ["", "After `rotated` has been loaded, serving v2/ or v1/ again must be rejected:",
              "the client must bootstrap from the root it persisted (version 2), not root.json."]
    (out / "README").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
