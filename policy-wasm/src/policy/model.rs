//! The ClusterImagePolicy `spec`, field for field (docs/formats/cluster-image-policy.md,
//! "Spec fields"), as loaded and checked by `load.rs`. Every value here has passed
//! policy-controller's validation rules.

use std::collections::BTreeMap;

use crate::authority::Identity;

use super::glob::ImagePattern;

/// `spec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `images`: at least one.
    pub images: Vec<ImagePattern>,
    /// `authorities`: at least one.
    pub authorities: Vec<AuthoritySpec>,
    /// `mode` (default [`Mode::Enforce`]).
    pub mode: Mode,
    /// `policy`: a CIP-level CUE or Rego policy over the authorities' results.
    pub policy: Option<EmbeddedPolicy>,
    /// `match`: the resources the policy applies to (empty: all).
    pub match_resources: Vec<MatchResource>,
}

/// `spec.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Failures deny the request.
    #[default]
    Enforce,
    /// Failures become admission warnings; the request is allowed.
    Warn,
}

/// One `spec.authorities[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthoritySpec {
    /// `name` (default `authority-<index>`).
    pub name: String,
    /// Exactly one of `key`, `keyless`, `static`.
    pub kind: AuthorityKind,
    /// `source`: where signatures are looked up (at most one entry).
    pub source: Option<Source>,
    /// `ctlog`.
    pub ctlog: Option<Ctlog>,
    /// `rfc3161timestamp.trustRootRef`.
    pub rfc3161_timestamp: Option<String>,
    /// `attestations`: all are required when present.
    pub attestations: Vec<Attestation>,
    /// `signatureFormat` (default [`SignatureFormat::Legacy`]).
    pub signature_format: SignatureFormat,
}

/// What an authority trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityKind {
    /// `key`.
    Key(KeyRef),
    /// `keyless`.
    Keyless(KeylessSpec),
    /// `static`.
    Static(StaticAction),
}

/// `key` (and keyless `ca-cert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// Exactly one of `data`, `kms`, `secretRef`.
    pub source: KeySource,
    /// `hashAlgorithm` (default [`HashAlgorithm::Sha256`]).
    pub hash_algorithm: HashAlgorithm,
}

/// Where a key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `data`: an inline PEM public key (already checked to parse).
    Data(String),
    /// `kms`: a KMS reference (`awskms://`, `gcpkms://`, `azurekms://`, `hashivault://`),
    /// resolved by the host; the core never contacts a KMS.
    Kms(String),
    /// `secretRef`: a Kubernetes Secret holding the key, resolved by the host.
    SecretRef {
        /// The Secret's name.
        name: String,
        /// The Secret's namespace (policy-controller requires its own namespace).
        namespace: Option<String>,
    },
}

/// `key.hashAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgorithm {
    /// `sha224`.
    Sha224,
    /// `sha256`.
    #[default]
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
}

/// `keyless`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessSpec {
    /// `url`: the Fulcio URL (informational here: the trust root decides which CAs count).
    pub url: Option<String>,
    /// `ca-cert`: a custom CA instead of Fulcio's.
    pub ca_cert: Option<KeySource>,
    /// `trustRootRef`: the name of a TrustRoot.
    pub trust_root_ref: Option<String>,
    /// `identities`: at least one; any one must match.
    pub identities: Vec<Identity>,
    /// `insecureIgnoreSCT`.
    pub insecure_ignore_sct: bool,
}

/// `static`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticAction {
    /// `action`: `pass` (true) or `fail` (false).
    pub pass: bool,
    /// `message`, shown when the action is `fail`.
    pub message: Option<String>,
}

/// `source[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `oci`: the repository holding the signatures.
    pub oci: String,
    /// `signaturePullSecrets[].name` (secrets in the workload's namespace).
    pub signature_pull_secrets: Vec<String>,
    /// `tagPrefix`: signatures are `<prefix>sha256-<hex>.sig`.
    pub tag_prefix: Option<String>,
}

/// `ctlog`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ctlog {
    /// `url`: the Rekor URL.
    pub url: Option<String>,
    /// `trustRootRef`.
    pub trust_root_ref: Option<String>,
}

/// `signatureFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureFormat {
    /// `legacy`: signatures as `.sig`/`.att` tags.
    #[default]
    Legacy,
    /// `bundle`: Sigstore bundles (keyless only).
    Bundle,
}

/// One `attestations[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// `name`.
    pub name: String,
    /// `predicateType` as written (a URI or a cosign shorthand such as `spdxjson`).
    pub predicate_type: String,
    /// `policy` over the decoded in-toto statement.
    pub policy: Option<EmbeddedPolicy>,
}

/// A CUE or Rego `policy` (evaluated by no code in sigward yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedPolicy {
    /// `type`.
    pub language: PolicyLanguage,
    /// Exactly one of `data`, `configMapRef`, `remote`.
    pub source: PolicySource,
    /// `fetchConfigFile`, `includeSpec`, `includeObjectMeta`, `includeTypeMeta` (only at
    /// `spec.policy`).
    pub include: PolicyInputs,
}

/// `policy.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyLanguage {
    /// `cue`.
    Cue,
    /// `rego`.
    Rego,
}

/// Where a policy's text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// `data`: inline.
    Inline(String),
    /// `configMapRef`.
    ConfigMap {
        /// `name`.
        name: String,
        /// `namespace`.
        namespace: Option<String>,
        /// `key`.
        key: Option<String>,
    },
    /// `remote`.
    Remote {
        /// `url` (https).
        url: String,
        /// `sha256sum`.
        sha256sum: Option<String>,
    },
}

/// What a CIP-level policy sees besides the authorities' results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyInputs {
    /// `fetchConfigFile`.
    pub config_file: bool,
    /// `includeSpec`.
    pub spec: bool,
    /// `includeObjectMeta`.
    pub object_meta: bool,
    /// `includeTypeMeta`.
    pub type_meta: bool,
}

/// One `match[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatchResource {
    /// `group`.
    pub group: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `resource` (one of pods, replicasets, deployments, statefulsets, daemonsets, jobs,
    /// cronjobs).
    pub resource: Option<String>,
    /// `selector.matchLabels`.
    pub match_labels: BTreeMap<String, String>,
    /// `selector.matchExpressions`.
    pub match_expressions: Vec<LabelExpression>,
}

/// One `selector.matchExpressions[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelExpression {
    /// `key`.
    pub key: String,
    /// `operator`: In, NotIn, Exists, DoesNotExist.
    pub operator: String,
    /// `values`.
    pub values: Vec<String>,
}
