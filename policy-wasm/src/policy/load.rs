//! Turns a decoded YAML/JSON document into a checked [`ClusterImagePolicy`], naming the field path
//! of the first problem. Rules follow policy-controller's validation
//! (docs/formats/cluster-image-policy.md, "Validation rules";
//! `pkg/apis/policy/v1beta1/clusterimagepolicy_validation.go`).
//!
//! Unknown fields are rejected everywhere except inside `metadata` (Kubernetes' ObjectMeta,
//! which `kubectl get -o yaml` fills with server fields) and the ignored top-level `status`:
//! policy-controller decodes strictly, and a misspelt field (`keyles:`) must not silently
//! weaken a policy.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use crate::authority::{Identity, Matcher};
use crate::keys::PublicKey;

use super::fields::{Item, Object, invalid};
use super::glob::{GlobError, ImagePattern};
use super::model::{
    Attestation, AuthorityKind, AuthoritySpec, Ctlog, EmbeddedPolicy, HashAlgorithm, KeyRef,
    KeySource, KeylessSpec, LabelExpression, MatchResource, Mode, PolicyInputs, PolicyLanguage,
    PolicySource, SignatureFormat, Source, Spec, StaticAction,
};
use super::{ApiVersion, ClusterImagePolicy, FieldPath, PolicyError, Problem};

/// The resources `match[].resource` may name.
const RESOURCES: &[&str] = &[
    "pods",
    "replicasets",
    "deployments",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
];

/// The KMS schemes cosign knows.
const KMS_SCHEMES: &[&str] = &["awskms://", "gcpkms://", "azurekms://", "hashivault://"];

/// Loads one decoded document.
pub(super) fn policy(document: &Value) -> Result<ClusterImagePolicy, PolicyError> {
    let root = FieldPath::root();
    let mut top = Object::new(document, &root)?.known(&[
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "status",
    ])?;
    let api_version = match top.required_string("apiVersion")?.as_str() {
        "policy.sigstore.dev/v1alpha1" => ApiVersion::V1Alpha1,
        "policy.sigstore.dev/v1beta1" => ApiVersion::V1Beta1,
        other => {
            return Err(invalid(
                &root.field("apiVersion"),
                Problem::UnsupportedApiVersion(other.to_owned()),
            ));
        }
    };
    let kind = top.required_string("kind")?;
    if kind != "ClusterImagePolicy" {
        return Err(invalid(&root.field("kind"), Problem::WrongKind(kind)));
    }
    let (name, annotations) = metadata(&mut top)?;
    let spec = match top.object("spec")? {
        Some(spec) => spec_of(spec)?,
        None => return Err(invalid(&root.field("spec"), Problem::Missing)),
    };
    // Written by the API server; nothing here reads it.
    top.skip("status");
    top.finish()?;
    Ok(ClusterImagePolicy {
        api_version,
        name,
        annotations,
        spec,
    })
}

/// `metadata.name` and `metadata.annotations`; other ObjectMeta fields are accepted unread.
fn metadata(top: &mut Object<'_>) -> Result<(String, BTreeMap<String, String>), PolicyError> {
    let path = top.path.field("metadata");
    let Some(mut meta) = top.object("metadata")? else {
        return Err(invalid(&path, Problem::Missing));
    };
    let name = meta.required_string("name")?;
    let annotations = meta.string_map("annotations")?;
    Ok((name, annotations))
}

fn spec_of(spec: Object<'_>) -> Result<Spec, PolicyError> {
    let mut spec = spec.known(&["images", "authorities", "mode", "policy", "match"])?;
    let images = spec.required_list("images", |item| {
        let mut image = Object::new(item.value, &item.path)?.known(&["glob"])?;
        let glob_path = image.path.field("glob");
        let glob = image.required_string("glob")?;
        image.finish()?;
        ImagePattern::new(&glob).map_err(|e| match e {
            GlobError::Empty => invalid(&glob_path, Problem::Empty),
            other => invalid(&glob_path, Problem::InvalidGlob(other)),
        })
    })?;
    let authorities = spec.required_list("authorities", |item| authority(item.index, item))?;
    let mode = match spec.string("mode")?.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("warn") => Mode::Warn,
        Some(other) => {
            return Err(invalid(
                &spec.path.field("mode"),
                not_one_of(other, "enforce, warn"),
            ));
        }
    };
    let policy = match spec.object("policy")? {
        Some(policy) => Some(policy_of(policy, PolicyLevel::Spec)?),
        None => None,
    };
    let match_resources = spec.optional_list("match", match_resource)?;
    spec.finish()?;
    Ok(Spec {
        images,
        authorities,
        mode,
        policy,
        match_resources,
    })
}

fn authority(index: usize, item: Item<'_>) -> Result<AuthoritySpec, PolicyError> {
    let mut entry = Object::new(item.value, &item.path)?.known(&[
        "name",
        "key",
        "keyless",
        "static",
        "source",
        "ctlog",
        "rfc3161timestamp",
        "attestations",
        "signatureFormat",
    ])?;
    let path = item.path.clone();
    let name = entry
        .string("name")?
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("authority-{index}"));
    let key = entry.object("key")?.map(key_ref).transpose()?;
    let keyless = entry.object("keyless")?.map(keyless).transpose()?;
    let static_action = entry.object("static")?.map(static_of).transpose()?;
    let source = match entry.optional_list("source", source_of)?.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [_, _, ..] => {
            return Err(invalid(
                &entry.path.field("source"),
                Problem::TooMany { max: 1 },
            ));
        }
    };
    let ctlog = match entry.object("ctlog")? {
        Some(ctlog) => {
            let mut ctlog = ctlog.known(&["url", "trustRootRef"])?;
            let parsed = Ctlog {
                url: ctlog.string("url")?,
                trust_root_ref: ctlog.string("trustRootRef")?,
            };
            ctlog.finish()?;
            Some(parsed)
        }
        None => None,
    };
    let rfc3161_timestamp = match entry.object("rfc3161timestamp")? {
        Some(timestamp) => {
            let mut timestamp = timestamp.known(&["trustRootRef"])?;
            let reference = timestamp.required_string("trustRootRef")?;
            timestamp.finish()?;
            Some(reference)
        }
        None => None,
    };
    let attestations = entry.optional_list("attestations", attestation)?;
    let signature_format = match entry.string("signatureFormat")?.as_deref() {
        None | Some("legacy") => SignatureFormat::Legacy,
        Some("bundle") => SignatureFormat::Bundle,
        Some(other) => {
            return Err(invalid(
                &entry.path.field("signatureFormat"),
                not_one_of(other, "legacy, bundle"),
            ));
        }
    };
    entry.finish()?;
    let kind = match (key, keyless, static_action) {
        (Some(key), None, None) => AuthorityKind::Key(key),
        (None, Some(keyless), None) => AuthorityKind::Keyless(keyless),
        (None, None, Some(action)) => AuthorityKind::Static(action),
        _ => {
            return Err(invalid(&path, Problem::ExactlyOne("key, keyless, static")));
        }
    };
    // docs/formats/cluster-image-policy.md, "Validation rules": a static authority takes none of
    // the verification settings.
    if matches!(kind, AuthorityKind::Static(_)) {
        for (present, field) in [
            (!attestations.is_empty(), "attestations"),
            (source.is_some(), "source"),
            (ctlog.is_some(), "ctlog"),
            (rfc3161_timestamp.is_some(), "rfc3161timestamp"),
        ] {
            if present {
                return Err(invalid(
                    &path.field(field),
                    Problem::NotAllowedWith("static"),
                ));
            }
        }
    }
    if signature_format == SignatureFormat::Bundle && !matches!(kind, AuthorityKind::Keyless(_)) {
        return Err(invalid(
            &path.field("signatureFormat"),
            Problem::BundleNeedsKeyless,
        ));
    }
    Ok(AuthoritySpec {
        name,
        kind,
        source,
        ctlog,
        rfc3161_timestamp,
        attestations,
        signature_format,
    })
}

fn key_ref(key: Object<'_>) -> Result<KeyRef, PolicyError> {
    let mut key = key.known(&["data", "kms", "secretRef", "hashAlgorithm"])?;
    let source = key_source(&mut key)?;
    let hash_algorithm = match key.string("hashAlgorithm")?.as_deref() {
        None | Some("sha256") => HashAlgorithm::Sha256,
        Some("sha224") => HashAlgorithm::Sha224,
        Some("sha384") => HashAlgorithm::Sha384,
        Some("sha512") => HashAlgorithm::Sha512,
        Some(other) => {
            return Err(invalid(
                &key.path.field("hashAlgorithm"),
                not_one_of(other, "sha224, sha256, sha384, sha512"),
            ));
        }
    };
    key.finish()?;
    Ok(KeyRef {
        source,
        hash_algorithm,
    })
}

/// Exactly one of `data`, `kms`, `secretRef` (a `key`, or keyless `ca-cert`).
fn key_source(key: &mut Object<'_>) -> Result<KeySource, PolicyError> {
    let data = key.string("data")?;
    let kms = key.string("kms")?;
    let secret = match key.object("secretRef")? {
        Some(secret) => {
            let mut secret = secret.known(&["name", "namespace"])?;
            let name = secret.required_string("name")?;
            let namespace = secret.string("namespace")?;
            secret.finish()?;
            Some(KeySource::SecretRef { name, namespace })
        }
        None => None,
    };
    match (data, kms, secret) {
        (Some(pem), None, None) => {
            // Accepted only when the verifier can use it.
            PublicKey::from_pem(&pem)
                .map_err(|e| invalid(&key.path.field("data"), Problem::BadKey(e)))?;
            Ok(KeySource::Data(pem))
        }
        (None, Some(kms), None) => {
            if !KMS_SCHEMES.iter().any(|scheme| kms.starts_with(scheme)) {
                return Err(invalid(&key.path.field("kms"), Problem::UnsupportedKms));
            }
            Ok(KeySource::Kms(kms))
        }
        (None, None, Some(secret)) => Ok(secret),
        _ => Err(invalid(
            &key.path,
            Problem::ExactlyOne("data, kms, secretRef"),
        )),
    }
}

fn keyless(keyless: Object<'_>) -> Result<KeylessSpec, PolicyError> {
    let mut keyless = keyless.known(&[
        "url",
        "ca-cert",
        "trustRootRef",
        "identities",
        "insecureIgnoreSCT",
    ])?;
    let url = keyless.string("url")?;
    let ca_cert = match keyless.object("ca-cert")? {
        Some(ca) => {
            let mut ca = ca.known(&["data", "kms", "secretRef"])?;
            let source = key_source(&mut ca)?;
            ca.finish()?;
            Some(source)
        }
        None => None,
    };
    if url.is_some() && ca_cert.is_some() {
        return Err(invalid(&keyless.path, Problem::AtMostOne("url, ca-cert")));
    }
    let trust_root_ref = keyless.string("trustRootRef")?;
    let identities = keyless.required_list("identities", identity)?;
    let insecure_ignore_sct = keyless.bool("insecureIgnoreSCT")?.unwrap_or(false);
    keyless.finish()?;
    Ok(KeylessSpec {
        url,
        ca_cert,
        trust_root_ref,
        identities,
        insecure_ignore_sct,
    })
}

fn identity(item: Item<'_>) -> Result<Identity, PolicyError> {
    let mut entry = Object::new(item.value, &item.path)?.known(&[
        "issuer",
        "issuerRegExp",
        "subject",
        "subjectRegExp",
    ])?;
    let issuer = matcher(&mut entry, "issuer", "issuerRegExp", Problem::NoIssuer)?;
    let subject = matcher(&mut entry, "subject", "subjectRegExp", Problem::NoSubject)?;
    entry.finish()?;
    // policy-controller's `Identity` has no GitHub workflow fields; cosign's flags have no
    // policy counterpart.
    Ok(Identity::new(issuer, subject))
}

/// `<exact>` or `<regexp>`, not both, not neither.
fn matcher(
    entry: &mut Object<'_>,
    exact: &'static str,
    regexp: &'static str,
    missing: Problem,
) -> Result<Matcher, PolicyError> {
    let exact_value = entry.string(exact)?;
    let regexp_value = entry.string(regexp)?;
    match (exact_value, regexp_value) {
        (Some(value), None) => Ok(Matcher::Exact(value)),
        (None, Some(pattern)) => {
            Regex::new(&pattern).map_err(|e| {
                invalid(&entry.path.field(regexp), Problem::BadRegexp(e.to_string()))
            })?;
            Ok(Matcher::Regexp(pattern))
        }
        (None, None) => Err(invalid(&entry.path, missing)),
        (Some(_), Some(_)) => Err(invalid(&entry.path, Problem::ExactAndRegexp(exact))),
    }
}

fn static_of(action: Object<'_>) -> Result<StaticAction, PolicyError> {
    let mut action = action.known(&["action", "message"])?;
    let pass = match action.required_string("action")?.as_str() {
        "pass" => true,
        "fail" => false,
        other => {
            return Err(invalid(
                &action.path.field("action"),
                not_one_of(other, "pass, fail"),
            ));
        }
    };
    let message = action.string("message")?;
    action.finish()?;
    Ok(StaticAction { pass, message })
}

fn source_of(item: Item<'_>) -> Result<Source, PolicyError> {
    let mut entry = Object::new(item.value, &item.path)?.known(&[
        "oci",
        "signaturePullSecrets",
        "tagPrefix",
    ])?;
    let oci = entry.required_string("oci")?;
    let signature_pull_secrets = entry.optional_list("signaturePullSecrets", |secret| {
        let mut secret = Object::new(secret.value, &secret.path)?.known(&["name"])?;
        let name = secret.required_string("name")?;
        secret.finish()?;
        Ok(name)
    })?;
    let tag_prefix = entry.string("tagPrefix")?;
    entry.finish()?;
    Ok(Source {
        oci,
        signature_pull_secrets,
        tag_prefix,
    })
}

fn attestation(item: Item<'_>) -> Result<Attestation, PolicyError> {
    let mut entry =
        Object::new(item.value, &item.path)?.known(&["name", "predicateType", "policy"])?;
    let name = entry.required_string("name")?;
    let predicate_type = entry.required_string("predicateType")?;
    let policy = match entry.object("policy")? {
        Some(policy) => Some(policy_of(policy, PolicyLevel::Attestation)?),
        None => None,
    };
    entry.finish()?;
    Ok(Attestation {
        name,
        predicate_type,
        policy,
    })
}

/// Where a `policy` sits: the include*/fetch inputs exist only at `spec.policy`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PolicyLevel {
    Spec,
    Attestation,
}

fn policy_of(policy: Object<'_>, level: PolicyLevel) -> Result<EmbeddedPolicy, PolicyError> {
    let mut policy = policy.known(&[
        "type",
        "data",
        "configMapRef",
        "remote",
        "fetchConfigFile",
        "includeSpec",
        "includeObjectMeta",
        "includeTypeMeta",
    ])?;
    let language = match policy.required_string("type")?.as_str() {
        "cue" => PolicyLanguage::Cue,
        "rego" => PolicyLanguage::Rego,
        other => {
            return Err(invalid(
                &policy.path.field("type"),
                not_one_of(other, "cue, rego"),
            ));
        }
    };
    let data = policy.string("data")?;
    let config_map = match policy.object("configMapRef")? {
        Some(reference) => {
            let mut reference = reference.known(&["name", "namespace", "key"])?;
            let source = PolicySource::ConfigMap {
                name: reference.required_string("name")?,
                namespace: reference.string("namespace")?,
                key: reference.string("key")?,
            };
            reference.finish()?;
            Some(source)
        }
        None => None,
    };
    let remote = match policy.object("remote")? {
        Some(remote) => {
            let mut remote = remote.known(&["url", "sha256sum"])?;
            let url_path = remote.path.field("url");
            let url = remote.required_string("url")?;
            if !url.starts_with("https://") {
                return Err(invalid(&url_path, Problem::NotHttps));
            }
            let sha256sum = remote.string("sha256sum")?;
            remote.finish()?;
            Some(PolicySource::Remote { url, sha256sum })
        }
        None => None,
    };
    let source = match (data, config_map, remote) {
        (Some(text), None, None) => PolicySource::Inline(text),
        (None, Some(source), None) | (None, None, Some(source)) => source,
        _ => {
            return Err(invalid(
                &policy.path,
                Problem::ExactlyOne("data, configMapRef, remote"),
            ));
        }
    };
    let mut include = PolicyInputs::default();
    for (field, flag) in [
        ("fetchConfigFile", &mut include.config_file),
        ("includeSpec", &mut include.spec),
        ("includeObjectMeta", &mut include.object_meta),
        ("includeTypeMeta", &mut include.type_meta),
    ] {
        if let Some(value) = policy.bool(field)? {
            if level == PolicyLevel::Attestation {
                return Err(invalid(
                    &policy.path.field(field),
                    Problem::OnlyInSpecPolicy,
                ));
            }
            *flag = value;
        }
    }
    policy.finish()?;
    Ok(EmbeddedPolicy {
        language,
        source,
        include,
    })
}

fn match_resource(item: Item<'_>) -> Result<MatchResource, PolicyError> {
    let mut entry = Object::new(item.value, &item.path)?
        .known(&["group", "version", "resource", "selector"])?;
    let mut resource = MatchResource {
        group: entry.string("group")?,
        version: entry.string("version")?,
        resource: entry.string("resource")?,
        ..MatchResource::default()
    };
    if let Some(name) = &resource.resource
        && !RESOURCES.contains(&name.as_str())
    {
        return Err(invalid(
            &entry.path.field("resource"),
            not_one_of(
                name,
                "pods, replicasets, deployments, statefulsets, daemonsets, jobs, cronjobs",
            ),
        ));
    }
    if let Some(selector) = entry.object("selector")? {
        let mut selector = selector.known(&["matchLabels", "matchExpressions"])?;
        if resource.resource.is_none() {
            return Err(invalid(&entry.path.field("resource"), Problem::Missing));
        }
        resource.match_labels = selector.string_map("matchLabels")?;
        resource.match_expressions = selector.optional_list("matchExpressions", |item| {
            let mut expression =
                Object::new(item.value, &item.path)?.known(&["key", "operator", "values"])?;
            let key = expression.required_string("key")?;
            let operator = expression.required_string("operator")?;
            let values = expression.optional_list("values", |value| {
                value.value.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid(
                        &value.path,
                        Problem::WrongType {
                            expected: "a string",
                        },
                    )
                })
            })?;
            expression.finish()?;
            Ok(LabelExpression {
                key,
                operator,
                values,
            })
        })?;
        selector.finish()?;
    }
    entry.finish()?;
    Ok(resource)
}

fn not_one_of(value: &str, allowed: &'static str) -> Problem {
    Problem::NotOneOf {
        value: value.to_owned(),
        allowed,
    }
}
