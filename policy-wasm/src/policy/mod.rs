//! sigstore policy-controller's `ClusterImagePolicy` (CIP), loaded unchanged from YAML or JSON
//! (docs/formats/cluster-image-policy.md): `policy.sigstore.dev/v1alpha1` and `v1beta1`, whose
//! field sets are identical.
//!
//! [`ClusterImagePolicy::parse`] checks a document the way policy-controller's admission
//! validation does and names the field path of the first problem
//! (`spec.authorities[1].keyless.identities[0]: needs an issuer or issuerRegExp`). Unknown
//! fields are rejected (policy-controller decodes strictly), except inside `metadata` and the
//! top-level `status`, which are Kubernetes' and never affect a decision.
//!
//! # How a later admission module evaluates policies
//!
//! As policy-controller does (docs/formats/cluster-image-policy.md, "Evaluation"), for each
//! container image:
//!
//! 1. Find every CIP whose `images` globs match ([`ClusterImagePolicy::matches`]) and whose
//!    `match` resources fit the workload. With none, the configured no-match behaviour applies.
//! 2. **Every** matching CIP must pass (AND).
//! 3. Within one CIP, **any one** authority passing satisfies it (OR): see
//!    [`ClusterImagePolicy::authorities`]. A [`PolicyAuthority::Static`] passes or fails by
//!    itself. A [`PolicyAuthority::Verify`] passes when every one of its [`RequiredCheck`]s passes: one
//!    signature check, or, when the authority lists attestations, one check per attestation
//!    (all required). A [`PolicyAuthority::HostKey`] needs its key resolved by the host first,
//!    and a [`PolicyAuthority::Unsupported`] never passes.
//! 4. A failing CIP in [`Mode::Warn`] yields a warning and the request is allowed; in
//!    [`Mode::Enforce`] it denies.
//!
//! CUE and Rego `policy` blocks are loaded into the model but evaluated by nothing here yet:
//! an evaluator must treat an authority whose check carries a policy as failing until it can
//! evaluate it, never as passing.
//!
//! # Per-container identities (the appvia webhook's annotations)
//!
//! The annotations are described in docs/formats/admission.md,
//! "Per-container identity annotations". The CRD has no field for this, so a CIP opts in with the
//! metadata annotation [`CONTAINER_IDENTITY_ANNOTATION`]` = "true"`. Then
//! [`ClusterImagePolicy::container_identity`] reads the pod annotations
//! `subject.cosign.sigstore.dev/<container>` and `issuer.cosign.sigstore.dev/<container>`. The
//! identity it returns is an **extra** requirement on top of the CIP's authorities, never a
//! replacement: pod annotations are written by whoever writes the pod, so leaving them out must not
//! weaken the policy (in the appvia webhook it skips the check).
//!
//! This module never performs I/O.

pub mod cue;
mod glob;
mod load;
mod model;
mod raw;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::authority::{Authority, Identity, Keyless, Matcher, NamedAuthority};
use crate::image::{CheckKind, TlogPolicy, predicate_type};
use crate::keys::KeyError;

pub use glob::{GlobError, ImagePattern, qualified_name};
pub use model::{
    Attestation, AuthorityKind, AuthoritySpec, Ctlog, EmbeddedPolicy, HashAlgorithm, KeyRef,
    KeySource, KeylessSpec, LabelExpression, MatchResource, Mode, PolicyInputs, PolicyLanguage,
    PolicySource, SignatureFormat, Source, Spec, StaticAction,
};

/// The CIP metadata annotation that turns on per-container identities from pod annotations.
pub const CONTAINER_IDENTITY_ANNOTATION: &str = "sigward.dev/container-identity-annotations";

/// The pod annotation prefix naming a container's expected certificate subject.
pub const SUBJECT_ANNOTATION_PREFIX: &str = "subject.cosign.sigstore.dev/";

/// The pod annotation prefix naming a container's expected OIDC issuer.
pub const ISSUER_ANNOTATION_PREFIX: &str = "issuer.cosign.sigstore.dev/";

/// A loaded and checked ClusterImagePolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterImagePolicy {
    /// `apiVersion`.
    pub api_version: ApiVersion,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec`.
    pub spec: Spec,
}

/// The API versions read (identical field sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `policy.sigstore.dev/v1alpha1`.
    V1Alpha1,
    /// `policy.sigstore.dev/v1beta1`.
    V1Beta1,
}

/// What one spec authority asks of the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyAuthority {
    /// Verify signatures or attestations with a key or keyless identities.
    Verify {
        /// The authority, named as in the CIP.
        named: NamedAuthority,
        /// All must pass: one signature check, or one per listed attestation.
        checks: Vec<RequiredCheck>,
        /// Transparency log handling (docs/formats/cluster-image-policy.md, "Evaluation").
        tlog: TlogPolicy,
        /// `source`: where the host looks for signatures, when not next to the image.
        source: Option<Source>,
        /// `ctlog.trustRootRef` of a key authority: the trust root holding the log's keys
        /// (keyless authorities use their own `trustRootRef`).
        log_trusted_root: Option<String>,
    },
    /// A `key` the host must resolve (`kms` or `secretRef`) into a PEM public key, after which
    /// it is verified like [`PolicyAuthority::Verify`] with [`Authority::Key`].
    HostKey {
        /// The authority's name.
        name: String,
        /// The KMS reference or Secret.
        key: KeySource,
        /// As for [`PolicyAuthority::Verify`].
        checks: Vec<RequiredCheck>,
        /// As for [`PolicyAuthority::Verify`].
        tlog: TlogPolicy,
        /// As for [`PolicyAuthority::Verify`].
        source: Option<Source>,
    },
    /// `static`: passes or fails without looking at the image.
    Static {
        /// The authority's name.
        name: String,
        /// `action: pass`.
        pass: bool,
        /// `message`, for the denial.
        message: Option<String>,
    },
    /// An authority this verifier cannot check; it never passes.
    Unsupported {
        /// The authority's name.
        name: String,
        /// Why, for the denial.
        reason: &'static str,
    },
}

/// One check an authority requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredCheck {
    /// `signature`, or the attestation's `name`.
    pub name: String,
    /// Signatures, or attestations of one predicate type (shorthands expanded).
    pub kind: CheckKind,
    /// A CUE/Rego policy the attestation's statement must also satisfy.
    pub policy: Option<EmbeddedPolicy>,
}

impl ClusterImagePolicy {
    /// Loads one policy from YAML or JSON.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Syntax`] for text that is not YAML/JSON, [`PolicyError::NoDocument`]
    /// for an empty one, [`PolicyError::Invalid`] (with the field path) for a document that
    /// is not a valid ClusterImagePolicy, [`PolicyError::NotSingle`] when the text holds
    /// several documents (use [`ClusterImagePolicy::parse_all`]), and
    /// [`PolicyError::Document`] when one of several documents is invalid.
    pub fn parse(document: &str) -> Result<Self, PolicyError> {
        let mut all = Self::parse_all(document)?;
        match all.len() {
            1 => all.pop().ok_or(PolicyError::NoDocument),
            0 => Err(PolicyError::NoDocument),
            _ => Err(PolicyError::NotSingle),
        }
    }

    /// Loads every policy of a multi-document YAML stream (`---` separators; empty documents
    /// are skipped) or of one JSON document.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Syntax`] for text that is not YAML/JSON, and [`PolicyError::Document`]
    /// wrapping the first invalid document's [`PolicyError::Invalid`], with its 0-based index
    /// among the non-empty documents.
    pub fn parse_all(text: &str) -> Result<Vec<Self>, PolicyError> {
        let documents: Vec<Value> = if text.trim_start().starts_with('{') {
            vec![serde_json::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?]
        } else {
            serde_saphyr::from_str_multiple::<Value, Vec<Value>>(text)
                .map_err(|e| PolicyError::Syntax(e.to_string()))?
        };
        let single = documents.iter().filter(|d| !d.is_null()).count() == 1;
        documents
            .iter()
            .filter(|document| !document.is_null())
            .enumerate()
            .map(|(index, document)| {
                load::policy(document).map_err(|error| {
                    if single {
                        error
                    } else {
                        PolicyError::Document {
                            index,
                            error: Box::new(error),
                        }
                    }
                })
            })
            .collect()
    }

    /// True when any `spec.images` glob matches `image` (see [`ImagePattern::matches`]).
    pub fn matches(&self, image: &str) -> bool {
        self.spec
            .images
            .iter()
            .any(|pattern| pattern.matches(image))
    }

    /// `spec.mode`.
    pub fn mode(&self) -> Mode {
        self.spec.mode
    }

    /// What each spec authority asks of the verifier, in order; any one passing satisfies the
    /// policy. Keyless authorities without `trustRootRef` use `default_trusted_root` (a name
    /// for the host's `fetcher.trusted-root`).
    ///
    /// Transparency log (docs/formats/cluster-image-policy.md, "Evaluation"): a key authority
    /// without `ctlog` does not consult the log ([`TlogPolicy::InsecureIgnore`]), with `ctlog` it
    /// requires it; keyless always requires it (stricter than policy-controller with
    /// `rfc3161timestamp`, which drops it). `insecureIgnoreSCT` and keyless `url` are not honoured:
    /// SCTs are always checked and the trust root decides which Fulcio CAs count.
    pub fn authorities(&self, default_trusted_root: &str) -> Vec<PolicyAuthority> {
        self.spec
            .authorities
            .iter()
            .map(|authority| map_authority(authority, default_trusted_root))
            .collect()
    }

    /// True when this CIP opted in to per-container identities from pod annotations.
    pub fn uses_container_identities(&self) -> bool {
        self.annotations
            .get(CONTAINER_IDENTITY_ANNOTATION)
            .is_some_and(|value| value == "true")
    }

    /// The identity the pod's annotations demand of `container`'s image signature, when this
    /// CIP opted in and the pod names one: `issuer.cosign.sigstore.dev/<container>` and
    /// `subject.cosign.sigstore.dev/<container>`, compared exactly. When only one is given the
    /// other matches anything (as in the appvia webhook). The result is an additional
    /// requirement on top of the CIP's authorities (see the module docs).
    pub fn container_identity(
        &self,
        pod_annotations: &BTreeMap<String, String>,
        container: &str,
    ) -> Option<Identity> {
        if !self.uses_container_identities() {
            return None;
        }
        let read = |prefix: &str| {
            pod_annotations
                .get(&format!("{prefix}{container}"))
                .map(|value| Matcher::Exact(value.clone()))
        };
        let any = || Matcher::Regexp(String::from(".*"));
        match (
            read(ISSUER_ANNOTATION_PREFIX),
            read(SUBJECT_ANNOTATION_PREFIX),
        ) {
            (None, None) => None,
            (issuer, subject) => Some(Identity::new(
                issuer.unwrap_or_else(any),
                subject.unwrap_or_else(any),
            )),
        }
    }
}

fn map_authority(authority: &AuthoritySpec, default_trusted_root: &str) -> PolicyAuthority {
    let name = authority.name.clone();
    let checks = checks(authority);
    let source = authority.source.clone();
    match &authority.kind {
        AuthorityKind::Static(action) => PolicyAuthority::Static {
            name,
            pass: action.pass,
            message: action.message.clone(),
        },
        _ if source.as_ref().is_some_and(|s| s.tag_prefix.is_some()) => {
            PolicyAuthority::Unsupported {
                name,
                reason: "source.tagPrefix is not supported; store signatures under the default \
                         sha256-<hex>.sig tags",
            }
        }
        AuthorityKind::Key(key) if key.hash_algorithm != HashAlgorithm::Sha256 => {
            PolicyAuthority::Unsupported {
                name,
                reason: "key.hashAlgorithm other than sha256 is not supported",
            }
        }
        AuthorityKind::Key(key) => {
            let tlog = if authority.ctlog.is_some() {
                TlogPolicy::Require
            } else {
                TlogPolicy::InsecureIgnore
            };
            match &key.source {
                KeySource::Data(pem) => PolicyAuthority::Verify {
                    named: NamedAuthority {
                        name,
                        authority: Authority::Key(pem.clone()),
                    },
                    checks,
                    tlog,
                    source,
                    log_trusted_root: authority
                        .ctlog
                        .as_ref()
                        .and_then(|ctlog| ctlog.trust_root_ref.clone()),
                },
                host @ (KeySource::Kms(_) | KeySource::SecretRef { .. }) => {
                    PolicyAuthority::HostKey {
                        name,
                        key: host.clone(),
                        checks,
                        tlog,
                        source,
                    }
                }
            }
        }
        AuthorityKind::Keyless(keyless) if keyless.ca_cert.is_some() => {
            PolicyAuthority::Unsupported {
                name,
                reason: "keyless.ca-cert is not supported; reference a trust root with keyless.trustRootRef",
            }
        }
        AuthorityKind::Keyless(keyless) => PolicyAuthority::Verify {
            named: NamedAuthority {
                name,
                authority: Authority::Keyless(Keyless {
                    identities: keyless.identities.clone(),
                    trusted_root: keyless
                        .trust_root_ref
                        .clone()
                        .unwrap_or_else(|| default_trusted_root.to_owned()),
                }),
            },
            checks,
            tlog: TlogPolicy::Require,
            source,
            log_trusted_root: None,
        },
    }
}

/// One signature check, or one check per attestation.
fn checks(authority: &AuthoritySpec) -> Vec<RequiredCheck> {
    if authority.attestations.is_empty() {
        return vec![RequiredCheck {
            name: String::from("signature"),
            kind: CheckKind::Signature,
            policy: None,
        }];
    }
    authority
        .attestations
        .iter()
        .map(|attestation| RequiredCheck {
            name: attestation.name.clone(),
            kind: CheckKind::Attestation(predicate_type(&attestation.predicate_type).to_owned()),
            policy: attestation.policy.clone(),
        })
        .collect()
}

/// Where in a document a problem is, written as policy-controller does
/// (`spec.authorities[1].keyless.identities[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// The document root.
    fn root() -> Self {
        Self(String::new())
    }

    /// A field below this one.
    fn field(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// A list element below this one.
    fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(document)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not YAML or JSON.
    #[error("not a YAML or JSON document: {0}")]
    Syntax(String),
    /// The text holds no document.
    #[error("no ClusterImagePolicy document")]
    NoDocument,
    /// [`ClusterImagePolicy::parse`] was given several documents.
    #[error("expected one document; use parse_all for several")]
    NotSingle,
    /// A field is wrong.
    #[error("{path}: {problem}")]
    Invalid {
        /// Where.
        path: FieldPath,
        /// What.
        problem: Problem,
    },
    /// A problem in one document of a multi-document stream.
    #[error("document {index}: {error}")]
    Document {
        /// 0-based, among the non-empty documents.
        index: usize,
        /// The problem.
        error: Box<PolicyError>,
    },
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A required field is absent or empty.
    #[error("is required")]
    Missing,
    /// A field the schema does not have.
    #[error("unknown field")]
    UnknownField,
    /// A document serde could not decode into the schema's types (a string where a list
    /// belongs, a list where an object belongs, ...): serde's message.
    #[error("{0}")]
    Decode(String),
    /// A list that needs at least one entry has none.
    #[error("needs at least one entry")]
    Empty,
    /// A list with more entries than allowed.
    #[error("allows at most {max} entry")]
    TooMany {
        /// The maximum.
        max: usize,
    },
    /// `apiVersion` is not `policy.sigstore.dev/v1alpha1` or `v1beta1`.
    #[error("unsupported apiVersion {0:?} (expected policy.sigstore.dev/v1alpha1 or v1beta1)")]
    UnsupportedApiVersion(String),
    /// `kind` is not `ClusterImagePolicy`.
    #[error("kind {0:?} is not ClusterImagePolicy")]
    WrongKind(String),
    /// An image glob that does not compile.
    #[error("{0}")]
    InvalidGlob(GlobError),
    /// Exactly one of these fields must be set.
    #[error("needs exactly one of {0}")]
    ExactlyOne(&'static str),
    /// At most one of these fields may be set.
    #[error("allows at most one of {0}")]
    AtMostOne(&'static str),
    /// A keyless identity without `issuer` or `issuerRegExp`.
    #[error("needs an issuer or issuerRegExp")]
    NoIssuer,
    /// A keyless identity without `subject` or `subjectRegExp`.
    #[error("needs a subject or subjectRegExp")]
    NoSubject,
    /// Both the exact and the regexp form of a field (`issuer` and `issuerRegExp`).
    #[error("sets both {0} and {0}RegExp")]
    ExactAndRegexp(&'static str),
    /// A regular expression that does not compile.
    #[error("is not a valid regular expression: {0}")]
    BadRegexp(String),
    /// `key.data` is not a public key the verifier can use.
    #[error("is not a usable PEM public key: {0}")]
    BadKey(KeyError),
    /// A `kms` reference with an unknown scheme.
    #[error(
        "unsupported KMS reference (expected awskms://, gcpkms://, azurekms:// or hashivault://)"
    )]
    UnsupportedKms,
    /// A value outside an enumeration.
    #[error("{value:?} is not one of {allowed}")]
    NotOneOf {
        /// The value given.
        value: String,
        /// The allowed values.
        allowed: &'static str,
    },
    /// A field a `static` authority may not have.
    #[error("is not allowed with {0}")]
    NotAllowedWith(&'static str),
    /// `signatureFormat: bundle` on a non-keyless authority.
    #[error("bundle is only supported with keyless")]
    BundleNeedsKeyless,
    /// An include/fetch flag on an attestation policy.
    #[error("is only allowed in spec.policy")]
    OnlyInSpecPolicy,
    /// A remote policy URL that is not https.
    #[error("must be an https URL")]
    NotHttps,
}

#[cfg(test)]
mod tests;
