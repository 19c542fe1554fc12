//! Several RFC 3161 timestamps in one bundle, verified with the threshold semantics of
//! sigstore-go (`VerifySignedTimestampWithThreshold`) and sigstore-python: each timestamp is
//! verified on its own, one that does not verify (TSA not trusted, wrong imprint, time outside
//! its TSA's `validFor`, bad signature) is reported in the trail and ignored, and the bundle
//! needs at least one verified time (a timestamp, or a verified SET's integrated time). With
//! none, the bundle is rejected for its first timestamp's failure (`timestamp-invalid`, as
//! `fields.rs` pins too), which says more than `no-verified-time` would. More than 32
//! timestamps, or the same one twice, reject the bundle as malformed.
//!
//! The bundles are real conformance vectors read in place: `rekor2-timestamp-with-embedded-cert`
//! (Rekor v2: no SET, one timestamp) and `happy-path-v0.3` (a SET, no timestamp). Each row
//! swaps in its own list of timestamps: the original and responses that `openssl ts` made
//! for `policy-wasm/tests/data/tsa` (its README), and adds that directory's two TSAs to the
//! case's trust root with the row's `validFor` windows.
//!
//! # Against sigstore-python and sigstore-go
//!
//! Every row of both tests was also run through sigstore-python 4.5.1 (2026-12):
//! `sigstore --trust-config C verify identity --offline --bundle B --cert-identity ID
//! --cert-oidc-issuer ISS a.txt`, with the row's bundle and its trust root wrapped in a client
//! trust config (4.5.1 has no `--trusted-root`; an empty signing config is enough offline).
//! It agrees on every verdict, and its rejections name the causes the reasons here do: "not
//! enough sources of verified time" (`timestamp-invalid`: none counted), "duplicate timestamp
//! found" and "too many signed timestamp: 33 > 32" (`bundle-malformed`), "failed to build
//! timestamp certificate chain" (`certificate-invalid`), except on two rows:
//!
//! - "original + bytes that are not a TimeStampResp": sigstore-python decodes every timestamp
//!   when it reads the bundle and rejects it ("Invalid Timestamp Response"). sigstore-go skips
//!   a timestamp that does not parse like any other that does not verify, as this table does.
//! - "SET + untrusted TSA, no TSA in the trust root": sigstore-python rejects any bundle with
//!   timestamps when the trust root has no TSA ("no Timestamp Authorities have been provided"),
//!   though the SET alone would do. sigstore-go with `WithObserverTimestamps(1)` (a timestamp
//!   or a SET counts) skips the timestamp and counts the SET, as this table does.
//!
//! sigstore-go (read, not run: `pkg/verify/tsa.go` and `signed_entity.go` at 4594ab4,
//! 2026-06) differs on one more: it no longer rejects repeated timestamps, but counts at most
//! one verified timestamp per TSA (by URI) and skips the rest, so "original twice" would verify
//! there with one time. The rows follow sigstore-python: the same timestamp twice is malformed.
//! Both clients check the leaf certificate at every verified time, so a trusted timestamp from
//! after the leaf expired rejects in all three.
//!
//! One difference no row reaches: sigstore-python ends a TSA's `validFor` exclusively
//! (`genTime < end`), where sigstore-go and `trust_root::Validity` include the end; no row's
//! time sits on a window's end.

use base64::Engine as _;
use serde_json::{Value, json};

use super::super::*;
use crate::authority::{Identity, Matcher};
use crate::error::Reason;
use crate::image::TlogPolicy;
use crate::testdata::{conformance_dir, read};
use crate::trust_root::TrustedRoot;
use crate::verdict::{CheckOutcome, Trail};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Our TSAs' certificates date from 2024-01-01 (make.sh `TSA_ISSUED`).
const TRUSTED_FROM: &str = "2024-01-01T00:00:00Z";
/// After make.sh's Rekor v2 time (2025-08-06 18:55 UTC): a window starting here excludes it.
const TRUSTED_FROM_LATER: &str = "2025-08-07T00:00:00Z";

/// The conformance bundle a row starts from.
#[derive(Clone, Copy)]
enum Base {
    /// `rekor2-timestamp-with-embedded-cert`, with its own (staging) trust root.
    Rekor2,
    /// `happy-path-v0.3`, with the production trust root.
    HappyV03,
}

/// One entry of a row's `rfc3161Timestamps`.
#[derive(Clone, Copy)]
enum Stamp {
    /// The base bundle's own first timestamp.
    Original,
    /// A `TimeStampResp` file of the vector directory.
    File(&'static str),
    /// Line `n` of the vector directory's `many.b64`.
    Many(usize),
    /// Bytes that are not a `TimeStampResp` at all.
    Bytes(&'static [u8]),
}

/// When the trust root trusts our two TSAs.
#[derive(Clone, Copy)]
enum Window {
    /// Both from [`TRUSTED_FROM`], with no end.
    Covering,
    /// Both from [`TRUSTED_FROM_LATER`].
    Later,
    /// The ECDSA TSA from [`TRUSTED_FROM_LATER`], the RSA TSA (same CA) from [`TRUSTED_FROM`].
    EcdsaLater,
    /// Neither, nor any other TSA: the trust root has no timestamp authority.
    NoTsas,
}

/// What a row expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Verified with this many verified times and this many ignored timestamps.
    Verified { times: usize, ignored: usize },
    /// Rejected for this reason.
    Rejected(Reason),
}

struct Row {
    what: &'static str,
    base: Base,
    stamps: Vec<Stamp>,
    window: Window,
    expect: Expect,
}

fn rows() -> Vec<Row> {
    use Base::{HappyV03, Rekor2};
    use Expect::{Rejected, Verified};
    use Stamp::{File, Original};
    use Window::{Covering, Later, NoTsas};
    let row = |what, base, stamps, window, expect| Row {
        what,
        base,
        stamps,
        window,
        expect,
    };
    let verified = |times, ignored| Verified { times, ignored };
    vec![
        row(
            "original alone",
            Rekor2,
            vec![Original],
            Covering,
            verified(1, 0),
        ),
        row(
            "original + ECDSA SHA-384",
            Rekor2,
            vec![Original, File("ecdsa-sha384.tsr")],
            Covering,
            verified(2, 0),
        ),
        row(
            "ECDSA SHA-256 instead of the original",
            Rekor2,
            vec![File("ecdsa-sha256.tsr")],
            Covering,
            verified(1, 0),
        ),
        row(
            "RSA SHA-512 instead of the original",
            Rekor2,
            vec![File("rsa-sha512.tsr")],
            Covering,
            verified(1, 0),
        ),
        row(
            "original + untrusted TSA (ignored)",
            Rekor2,
            vec![Original, File("untrusted.tsr")],
            Covering,
            verified(1, 1),
        ),
        row(
            "original + wrong imprint (ignored)",
            Rekor2,
            vec![Original, File("wrong-imprint.tsr")],
            Covering,
            verified(1, 1),
        ),
        row(
            "untrusted TSA alone",
            Rekor2,
            vec![File("untrusted.tsr")],
            Covering,
            Rejected(Reason::TimestampInvalid),
        ),
        row(
            "wrong imprint alone",
            Rekor2,
            vec![File("wrong-imprint.tsr")],
            Covering,
            Rejected(Reason::TimestampInvalid),
        ),
        row(
            "original + ECDSA outside its TSA's validFor (ignored)",
            Rekor2,
            vec![Original, File("ecdsa-sha256.tsr")],
            Later,
            verified(1, 1),
        ),
        row(
            "ECDSA outside its TSA's validFor alone",
            Rekor2,
            vec![File("ecdsa-sha256.tsr")],
            Later,
            Rejected(Reason::TimestampInvalid),
        ),
        row(
            "original + bytes that are not a TimeStampResp (ignored)",
            Rekor2,
            vec![Original, Stamp::Bytes(b"not a timestamp response")],
            Covering,
            verified(1, 1),
        ),
        row(
            "original twice",
            Rekor2,
            vec![Original, Original],
            Covering,
            Rejected(Reason::BundleMalformed),
        ),
        row(
            "original + the untrusted one twice",
            Rekor2,
            vec![Original, File("untrusted.tsr"), File("untrusted.tsr")],
            Covering,
            Rejected(Reason::BundleMalformed),
        ),
        row(
            "33 distinct trusted timestamps",
            Rekor2,
            (0..33).map(Stamp::Many).collect(),
            Covering,
            Rejected(Reason::BundleMalformed),
        ),
        row(
            "original + a trusted timestamp after the leaf expired",
            Rekor2,
            vec![Original, File("ecdsa-sha256-now.tsr")],
            Covering,
            Rejected(Reason::CertificateInvalid),
        ),
        row(
            "SET + untrusted TSA (the SET's time suffices)",
            HappyV03,
            vec![File("v03-untrusted.tsr")],
            Covering,
            verified(1, 1),
        ),
        row(
            "SET + ECDSA SHA-256",
            HappyV03,
            vec![File("v03-ecdsa-sha256.tsr")],
            Covering,
            verified(2, 0),
        ),
        row(
            "SET + untrusted TSA, no TSA in the trust root (the SET's time suffices)",
            HappyV03,
            vec![File("v03-untrusted.tsr")],
            NoTsas,
            verified(1, 1),
        ),
    ]
}

#[test]
fn each_timestamp_counts_on_its_own() {
    let mut failures = Vec::new();
    for row in rows() {
        let (got, trail) = outcome(&row);
        if got != row.expect {
            let notes: Vec<String> = trail
                .checks
                .iter()
                .filter(|check| check.outcome != CheckOutcome::Pass)
                .map(|check| format!("{} {:?}: {}", check.name, check.outcome, check.detail))
                .collect();
            failures.push(format!(
                "{}: expected {:?}, got {got:?} [{}]",
                row.what,
                row.expect,
                notes.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A TSA's `validFor` bounds its own certificate: a timestamp outside it is ignored even when
/// another trusted TSA under the same CA is trusted at that time. sigstore-python and
/// sigstore-go verify a timestamp against each authority's own signing certificate
/// (`certChain[0]`); `tsa::verify_timestamp` takes any path to an authority's root, so this
/// fails until `tsa.rs` binds the signer to the authority whose window it uses.
#[test]
fn a_tsa_window_binds_only_that_tsas_certificate() {
    let row = Row {
        what: "ECDSA outside its TSA's validFor, the RSA TSA's (same CA) covering it",
        base: Base::Rekor2,
        stamps: vec![Stamp::File("ecdsa-sha256.tsr")],
        window: Window::EcdsaLater,
        expect: Expect::Rejected(Reason::TimestampInvalid),
    };
    let (got, trail) = outcome(&row);
    assert_eq!(got, row.expect, "{}: {:?}", row.what, trail.checks);
}

/// Verifies a row and sums up what happened: the times a verified bundle has and the
/// `timestamp` checks of its trail that did not pass, or the reason it was rejected for; and
/// the trail.
fn outcome(row: &Row) -> (Expect, Trail) {
    let (bundle, root) = materials(row);
    let trust = TrustedRoot::parse(root.to_string().as_bytes()).unwrap();
    let artifact = read(conformance_dir().join("bundle-verify/a.txt"));
    let identities = [Identity {
        issuer: Matcher::Exact(ISSUER.to_owned()),
        subject: Matcher::Exact(IDENTITY.to_owned()),
        github_workflow: Default::default(),
    }];
    let mut trail = Trail::default();
    let result = Bundle::parse(bundle.to_string().as_bytes())
        .map_err(BundleError::from)
        .and_then(|bundle| {
            verify(
                &bundle,
                &Artifact::Bytes(&artifact),
                &BundleAuthority::Keyless(&identities),
                &trust,
                TlogPolicy::Require,
                &mut trail,
            )
        });
    let expect = match result {
        Ok(verified) => Expect::Verified {
            times: verified.times.len(),
            ignored: trail
                .checks
                .iter()
                .filter(|check| check.name == "timestamp" && check.outcome != CheckOutcome::Pass)
                .count(),
        },
        Err(err) => Expect::Rejected(err.reason()),
    };
    (expect, trail)
}

/// The row's bundle (its base with the row's timestamps) and trust root (the base's, with our
/// two TSAs added under the row's windows).
fn materials(row: &Row) -> (Value, Value) {
    let (case, root_path) = match row.base {
        Base::Rekor2 => (
            "rekor2-timestamp-with-embedded-cert",
            conformance_dir()
                .join("bundle-verify/rekor2-timestamp-with-embedded-cert/trusted_root.json"),
        ),
        Base::HappyV03 => (
            "happy-path-v0.3",
            conformance_dir().join("trust/production/trusted_root.json"),
        ),
    };
    let mut bundle: Value = serde_json::from_slice(&read(
        conformance_dir()
            .join("bundle-verify")
            .join(case)
            .join("bundle.sigstore.json"),
    ))
    .unwrap();
    let stamps: Vec<Value> = row
        .stamps
        .iter()
        .map(|stamp| json!({ "signedTimestamp": stamp_base64(stamp, &bundle) }))
        .collect();
    bundle["verificationMaterial"]["timestampVerificationData"] =
        json!({ "rfc3161Timestamps": stamps });

    let mut root: Value = serde_json::from_slice(&read(root_path)).unwrap();
    let (ecdsa_from, rsa_from) = match row.window {
        Window::Covering => (TRUSTED_FROM, TRUSTED_FROM),
        Window::Later => (TRUSTED_FROM_LATER, TRUSTED_FROM_LATER),
        Window::EcdsaLater => (TRUSTED_FROM_LATER, TRUSTED_FROM),
        Window::NoTsas => {
            root["timestampAuthorities"] = json!([]);
            return (bundle, root);
        }
    };
    let authorities = root["timestampAuthorities"].as_array_mut().unwrap();
    authorities.push(authority("tsa-ecdsa.pem", ecdsa_from));
    authorities.push(authority("tsa-rsa.pem", rsa_from));
    (bundle, root)
}

/// A trust root `timestampAuthorities` entry: our TSA certificate `tsa_pem` and our CA.
fn authority(tsa_pem: &str, from: &str) -> Value {
    let der = |name: &str| {
        let pem = String::from_utf8(read(vectors().join(name))).unwrap();
        let (_, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).unwrap();
        json!({ "rawBytes": base64(&der) })
    };
    let name = tsa_pem.trim_end_matches(".pem");
    json!({
        "subject": { "organization": "sigward test", "commonName": name },
        "uri": format!("https://{name}.sigward.test"),
        "certChain": { "certificates": [der(tsa_pem), der("ca.pem")] },
        "validFor": { "start": from },
    })
}

fn stamp_base64(stamp: &Stamp, bundle: &Value) -> String {
    match stamp {
        Stamp::Original => bundle["verificationMaterial"]["timestampVerificationData"]
            ["rfc3161Timestamps"][0]["signedTimestamp"]
            .as_str()
            .unwrap()
            .to_owned(),
        Stamp::File(name) => base64(&read(vectors().join(name))),
        Stamp::Many(line) => String::from_utf8(read(vectors().join("many.b64")))
            .unwrap()
            .lines()
            .nth(*line)
            .unwrap()
            .to_owned(),
        Stamp::Bytes(bytes) => base64(bytes),
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `policy-wasm/tests/data/tsa`: what make.sh made (its README).
fn vectors() -> std::path::PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests/data/tsa"]
        .iter()
        .collect()
}
