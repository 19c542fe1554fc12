//! Entry points for fuzzing every parser of untrusted bytes (the `fuzz/` crate's targets are
//! three lines each, as in rustls). Each function runs the parser and then as much of the
//! verification as the input reaches, against the trust root the harness supplies; results are
//! ignored, because the property fuzzed is "no panic, no hang, bounded memory", never a verdict.
//!
//! Not part of the API: hidden from the docs and free to change.

use serde_json::Value;

use crate::admission::{self, NoMatch, Review, Settings, TagHandling};
use crate::authority::{Identity, Matcher};
use crate::bundle::{self, Artifact, Bundle, BundleAuthority};
use crate::cert::{self, Certificate, Usage};
use crate::dsse::Envelope;
use crate::fetch::{Fetch, FetchError, Kinds, Manifest, Material};
use crate::image::TlogPolicy;
use crate::manifest;
use crate::policy::ClusterImagePolicy;
use crate::policy::cue::Condition;
use crate::simple_signing::Payload;
use crate::time::UnixTime;
use crate::tlog::{self, RekorBundle};
use crate::trust_root::TrustedRoot;
use crate::verdict::Trail;
use crate::{sct, tsa};

/// When the fuzzed material is judged: mid-2025, inside the production root's windows.
const AT: UnixTime = 1_750_000_000;

/// A `trusted_root.json` document.
pub fn trusted_root(data: &[u8]) {
    let _ = TrustedRoot::parse(data);
}

/// Manifest bytes a host serves for a reference: read, and checked as the verifier checks
/// what `resolve` returns (for a tag and for a digest reference); parsed as a manifest and as
/// an index, as the host's registry client parses `.sig` manifests and referrer indexes.
pub fn manifest(data: &[u8]) {
    let _ = manifest::kind(data);
    let _ = manifest::parse_manifest(data);
    let _ = manifest::parse_index(data);
    for media_type in manifest::MANIFEST_TYPES {
        let mut host = Serves(Manifest {
            media_type: media_type.to_owned(),
            bytes: data.to_vec(),
        });
        let _ = crate::image::resolve("registry.test/app:v1", &mut host);
        let pinned = format!("registry.test/app@{}", host.0.digest());
        let _ = crate::image::resolve(&pinned, &mut host);
    }
}

/// A host that serves one manifest for every reference.
struct Serves(Manifest);

impl Fetch for Serves {
    fn resolve(&mut self, _: &str) -> Result<Manifest, FetchError> {
        Ok(self.0.clone())
    }

    fn attached(&mut self, image: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Err(FetchError::Unavailable(image.to_owned()))
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::NotFound(name.to_owned()))
    }
}

/// A Sigstore bundle, parsed and verified over a fixed artifact, keyless and keyed.
pub fn bundle(data: &[u8], trust: &TrustedRoot) {
    let Ok(parsed) = Bundle::parse(data) else {
        return;
    };
    let identities = [Identity {
        issuer: Matcher::Regexp(".*".to_owned()),
        subject: Matcher::Regexp(".*".to_owned()),
        github_workflow: Default::default(),
    }];
    let artifact = Artifact::Bytes(b"artifact");
    for tlog in [TlogPolicy::Require, TlogPolicy::InsecureIgnore] {
        let authority = BundleAuthority::Keyless(&identities);
        let _ = bundle::verify(
            &parsed,
            &artifact,
            &authority,
            trust,
            tlog,
            &mut Trail::default(),
        );
    }
}

/// A DER certificate: parsed, its accessors read, and chained to the trust root's CAs (the
/// leaf and, for its SCT, the path found).
pub fn certificate(data: &[u8], trust: &TrustedRoot) {
    let Ok(leaf) = Certificate::from_der(data) else {
        return;
    };
    let _ = leaf.signer();
    let _ = leaf.public_key();
    let _ = leaf.basic_constraints();
    let _ = leaf.key_usage();
    let _ = leaf.subject();
    let _ = leaf.is_root();
    let _ = leaf.spki_der();
    if let Ok(path) = cert::verify_chain(
        &leaf,
        &[],
        &trust.certificate_authorities,
        AT,
        Usage::CodeSigning,
    ) {
        let _ = sct::verify_embedded_sct(&path, &trust.ctlogs);
    }
}

/// A PEM certificate chain, as cosign's `certificate`/`chain` annotations carry it: the first
/// certificate chained through the rest.
pub fn pem_chain(data: &[u8], trust: &TrustedRoot) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(chain) = cert::parse_pem_chain(text) else {
        return;
    };
    if let Some((leaf, rest)) = chain.split_first() {
        let _ = cert::reject_roots(rest);
        let _ = cert::verify_chain(
            leaf,
            rest,
            &trust.certificate_authorities,
            AT,
            Usage::CodeSigning,
        );
    }
}

/// A leaf whose embedded SCT list is checked against the trust root's CT logs, with every
/// trusted CA certificate tried as its issuer (the SCT signs over the issuer's key).
pub fn sct(data: &[u8], trust: &TrustedRoot) {
    let Ok(leaf) = Certificate::from_der(data) else {
        return;
    };
    for ca in &trust.certificate_authorities {
        if let Some(Ok(issuer)) = ca.chain.first().map(|der| Certificate::from_der(der)) {
            let _ = sct::verify_embedded_sct(&[leaf.clone(), issuer], &trust.ctlogs);
        }
    }
}

/// An RFC 3161 `TimeStampResp` over a fixed signature, against the trust root's TSAs.
pub fn timestamp(data: &[u8], trust: &TrustedRoot) {
    let _ = tsa::verify_timestamp(data, b"signature", &trust.timestamp_authorities);
}

/// A signed checkpoint (C2SP signed note), against the trust root's logs.
pub fn checkpoint(data: &[u8], trust: &TrustedRoot) {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = tlog::verify_checkpoint(text, &trust.tlogs, Some(AT));
    }
}

/// A Rekor entry body (`canonicalizedBody`) compared with fixed material, and cosign's
/// `dev.sigstore.cosign/bundle` annotation.
pub fn tlog_entry(data: &[u8], trust: &TrustedRoot) {
    let signed = tlog::Signed::Message {
        sha256: &[0; 32],
        signature: b"signature",
    };
    let _ = tlog::check_body(data, &signed, &tlog::Verifier::PublicKey(b"key"));
    let dsse = tlog::Signed::Dsse {
        payload: b"{}",
        payload_type: crate::dsse::IN_TOTO,
        signatures: &[],
        envelope_json: Some(data),
    };
    let _ = tlog::check_body(data, &dsse, &tlog::Verifier::Certificate(b"cert"));
    if let Ok(text) = core::str::from_utf8(data)
        && let Ok(rekor) = RekorBundle::parse(text)
    {
        let _ = rekor.verify(&trust.tlogs);
        let _ = rekor.body_bytes();
    }
}

/// A DSSE envelope and the in-toto statement inside it.
pub fn dsse(data: &[u8]) {
    if let Ok(envelope) = Envelope::parse(data) {
        let _ = envelope.signed_bytes();
        let _ = bundle::verify::statement_subjects(&envelope.payload);
    }
    let _ = bundle::verify::statement_subjects(data);
}

/// A cosign simple-signing payload.
pub fn simple_signing(data: &[u8]) {
    let _ = Payload::parse(data);
}

/// ClusterImagePolicy documents (YAML or JSON, several per file), matched against an image.
pub fn policy(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(policies) = ClusterImagePolicy::parse_all(text) {
        for policy in &policies {
            let _ = policy.matches("registry.test/team/app:v1");
            let _ = policy.authorities("production");
        }
    }
}

/// A CUE condition, checked against a fixed in-toto statement.
pub fn cue(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(condition) = Condition::parse(text) {
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": "https://slsa.dev/provenance/v1",
            "subject": [{ "name": "x", "digest": { "sha256": "00" } }],
            "predicate": { "builder": { "id": "https://example.test" }, "n": 1, "ok": true },
        });
        let _ = condition.check(&statement);
    }
}

/// An AdmissionReview, planned and decided against `policies` (parsed once by the harness)
/// with a host that answers nothing: every phase up to the response runs.
pub fn admission_review(data: &[u8], policies: &[ClusterImagePolicy]) {
    let Ok(review) = Review::parse(data) else {
        return;
    };
    let decision = admission::evaluate(review, policies, settings(), &mut Unreachable);
    let _ = decision.review_response(true);
}

/// A Gatekeeper ProviderRequest, decided like an AdmissionReview.
pub fn gatekeeper(data: &[u8], policies: &[ClusterImagePolicy]) {
    let Ok(keys) = admission::provider_keys(data) else {
        return;
    };
    let decision = admission::evaluate(
        Review::of_images("fuzz", &keys),
        policies,
        settings(),
        &mut Unreachable,
    );
    let _ = decision.review_response(false);
}

/// Parses a JSON value with serde_json's default recursion limit (what every JSON parser in
/// the core relies on for deep nesting).
pub fn json(data: &[u8]) {
    let _ = serde_json::from_slice::<Value>(data);
}

fn settings() -> Settings {
    Settings {
        no_match: NoMatch::Deny,
        tags: TagHandling::VerifyResolved,
        trusted_root: "production".to_owned(),
        at: AT,
    }
}

/// A host with nothing to give.
struct Unreachable;

impl Fetch for Unreachable {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        Err(FetchError::Unavailable(image.to_owned()))
    }

    fn attached(&mut self, image: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Err(FetchError::Unavailable(image.to_owned()))
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::NotFound(name.to_owned()))
    }
}
