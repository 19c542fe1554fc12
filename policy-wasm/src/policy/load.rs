//! Turns a decoded YAML/JSON document into a checked [`ClusterImagePolicy`], naming the field path
//! of the first problem. Rules follow policy-controller's validation
//! (docs/formats/cluster-image-policy.md, "Validation rules";
//! `pkg/apis/policy/v1beta1/clusterimagepolicy_validation.go`).
//!
//! The document is first decoded into the structs of `raw.rs`, which rejects unknown fields
//! everywhere except inside `metadata` (Kubernetes' ObjectMeta, which `kubectl get -o yaml` fills
//! with server fields) and the ignored top-level `status`: policy-controller decodes strictly,
//! and a misspelt field (`keyles:`) must not silently weaken a policy. Decoding errors therefore
//! come before any rule below.

use regex::Regex;
use serde_json::Value;

use crate::authority::{Identity, Matcher};
use crate::keys::PublicKey;

use super::glob::{GlobError, ImagePattern};
use super::model::{
    Attestation, AuthorityKind, AuthoritySpec, Ctlog, EmbeddedPolicy, HashAlgorithm, KeyRef,
    KeySource, KeylessSpec, LabelExpression, MatchResource, Mode, PolicyInputs, PolicyLanguage,
    PolicySource, SignatureFormat, Source, Spec, StaticAction,
};
use super::raw;
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
    let raw = raw::decode(document)?;
    let root = FieldPath::root();
    let api_version_path = root.field("apiVersion");
    let api_version = match required(raw.api_version, &api_version_path)?.as_str() {
        "policy.sigstore.dev/v1alpha1" => ApiVersion::V1Alpha1,
        "policy.sigstore.dev/v1beta1" => ApiVersion::V1Beta1,
        other => {
            return Err(invalid(
                &api_version_path,
                Problem::UnsupportedApiVersion(other.to_owned()),
            ));
        }
    };
    let kind_path = root.field("kind");
    let kind = required(raw.kind, &kind_path)?;
    if kind != "ClusterImagePolicy" {
        return Err(invalid(&kind_path, Problem::WrongKind(kind)));
    }
    let metadata_path = root.field("metadata");
    let Some(metadata) = raw.metadata else {
        return Err(invalid(&metadata_path, Problem::Missing));
    };
    let name = required(metadata.name, &metadata_path.field("name"))?;
    let spec_path = root.field("spec");
    let Some(spec) = raw.spec else {
        return Err(invalid(&spec_path, Problem::Missing));
    };
    Ok(ClusterImagePolicy {
        api_version,
        name,
        annotations: metadata.annotations.unwrap_or_default(),
        spec: spec_of(spec, &spec_path)?,
    })
}

fn spec_of(spec: raw::Spec, path: &FieldPath) -> Result<Spec, PolicyError> {
    let images_path = path.field("images");
    let images = each(
        non_empty(spec.images, &images_path)?,
        &images_path,
        |image, path| {
            let glob_path = path.field("glob");
            let glob = required(image.glob, &glob_path)?;
            ImagePattern::new(&glob).map_err(|e| match e {
                GlobError::Empty => invalid(&glob_path, Problem::Empty),
                other => invalid(&glob_path, Problem::InvalidGlob(other)),
            })
        },
    )?;
    let authorities_path = path.field("authorities");
    let authorities = non_empty(spec.authorities, &authorities_path)?
        .into_iter()
        .enumerate()
        .map(|(index, entry)| authority(index, entry, &authorities_path.index(index)))
        .collect::<Result<_, _>>()?;
    let mode = match spec.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("warn") => Mode::Warn,
        Some(other) => {
            return Err(invalid(
                &path.field("mode"),
                not_one_of(other, "enforce, warn"),
            ));
        }
    };
    let policy = spec
        .policy
        .map(|policy| policy_of(policy, &path.field("policy"), PolicyLevel::Spec))
        .transpose()?;
    let match_resources = each(spec.match_resources, &path.field("match"), match_resource)?;
    Ok(Spec {
        images,
        authorities,
        mode,
        policy,
        match_resources,
    })
}

fn authority(
    index: usize,
    entry: raw::Authority,
    path: &FieldPath,
) -> Result<AuthoritySpec, PolicyError> {
    let name = entry
        .name
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("authority-{index}"));
    let key = entry
        .key
        .map(|key| key_ref(key, &path.field("key")))
        .transpose()?;
    let keyless = entry
        .keyless
        .map(|spec| keyless(spec, &path.field("keyless")))
        .transpose()?;
    let static_action = entry
        .static_action
        .map(|action| static_of(action, &path.field("static")))
        .transpose()?;
    let source_path = path.field("source");
    let mut sources = each(entry.source, &source_path, source_of)?;
    if sources.len() > 1 {
        return Err(invalid(&source_path, Problem::TooMany { max: 1 }));
    }
    let source = sources.pop();
    let ctlog = entry.ctlog.map(|ctlog| Ctlog {
        url: ctlog.url,
        trust_root_ref: ctlog.trust_root_ref,
    });
    let rfc3161_timestamp = entry
        .rfc3161_timestamp
        .map(|timestamp| {
            let path = path.field("rfc3161timestamp").field("trustRootRef");
            required(timestamp.trust_root_ref, &path)
        })
        .transpose()?;
    let attestations = each(entry.attestations, &path.field("attestations"), attestation)?;
    let signature_format = match entry.signature_format.as_deref() {
        None | Some("legacy") => SignatureFormat::Legacy,
        Some("bundle") => SignatureFormat::Bundle,
        Some(other) => {
            return Err(invalid(
                &path.field("signatureFormat"),
                not_one_of(other, "legacy, bundle"),
            ));
        }
    };
    let kind = match (key, keyless, static_action) {
        (Some(key), None, None) => AuthorityKind::Key(key),
        (None, Some(keyless), None) => AuthorityKind::Keyless(keyless),
        (None, None, Some(action)) => AuthorityKind::Static(action),
        _ => {
            return Err(invalid(path, Problem::ExactlyOne("key, keyless, static")));
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

fn key_ref(key: raw::Key, path: &FieldPath) -> Result<KeyRef, PolicyError> {
    let source = key_source(key.data, key.kms, key.secret_ref, path)?;
    let hash_algorithm = match key.hash_algorithm.as_deref() {
        None | Some("sha256") => HashAlgorithm::Sha256,
        Some("sha224") => HashAlgorithm::Sha224,
        Some("sha384") => HashAlgorithm::Sha384,
        Some("sha512") => HashAlgorithm::Sha512,
        Some(other) => {
            return Err(invalid(
                &path.field("hashAlgorithm"),
                not_one_of(other, "sha224, sha256, sha384, sha512"),
            ));
        }
    };
    Ok(KeyRef {
        source,
        hash_algorithm,
    })
}

/// Exactly one of `data`, `kms`, `secretRef` (a `key`, or keyless `ca-cert`, at `path`).
fn key_source(
    data: Option<String>,
    kms: Option<String>,
    secret_ref: Option<raw::SecretRef>,
    path: &FieldPath,
) -> Result<KeySource, PolicyError> {
    let secret = secret_ref
        .map(|secret| {
            Ok(KeySource::SecretRef {
                name: required(secret.name, &path.field("secretRef").field("name"))?,
                namespace: secret.namespace,
            })
        })
        .transpose()?;
    match (data, kms, secret) {
        (Some(pem), None, None) => {
            // Accepted only when the verifier can use it.
            PublicKey::from_pem(&pem)
                .map_err(|e| invalid(&path.field("data"), Problem::BadKey(e)))?;
            Ok(KeySource::Data(pem))
        }
        (None, Some(kms), None) => {
            if !KMS_SCHEMES.iter().any(|scheme| kms.starts_with(scheme)) {
                return Err(invalid(&path.field("kms"), Problem::UnsupportedKms));
            }
            Ok(KeySource::Kms(kms))
        }
        (None, None, Some(secret)) => Ok(secret),
        _ => Err(invalid(path, Problem::ExactlyOne("data, kms, secretRef"))),
    }
}

fn keyless(keyless: raw::Keyless, path: &FieldPath) -> Result<KeylessSpec, PolicyError> {
    let ca_cert = keyless
        .ca_cert
        .map(|ca| key_source(ca.data, ca.kms, ca.secret_ref, &path.field("ca-cert")))
        .transpose()?;
    if keyless.url.is_some() && ca_cert.is_some() {
        return Err(invalid(path, Problem::AtMostOne("url, ca-cert")));
    }
    let identities_path = path.field("identities");
    let identities = each(
        non_empty(keyless.identities, &identities_path)?,
        &identities_path,
        identity,
    )?;
    Ok(KeylessSpec {
        url: keyless.url,
        ca_cert,
        trust_root_ref: keyless.trust_root_ref,
        identities,
        insecure_ignore_sct: keyless.insecure_ignore_sct.unwrap_or(false),
    })
}

fn identity(entry: raw::Identity, path: &FieldPath) -> Result<Identity, PolicyError> {
    let issuer = matcher(
        entry.issuer,
        entry.issuer_reg_exp,
        path,
        "issuer",
        Problem::NoIssuer,
    )?;
    let subject = matcher(
        entry.subject,
        entry.subject_reg_exp,
        path,
        "subject",
        Problem::NoSubject,
    )?;
    // policy-controller's `Identity` has no GitHub workflow fields; cosign's flags have no
    // policy counterpart.
    Ok(Identity::new(issuer, subject))
}

/// `<field>` or `<field>RegExp`, not both, not neither.
fn matcher(
    exact: Option<String>,
    regexp: Option<String>,
    path: &FieldPath,
    field: &'static str,
    missing: Problem,
) -> Result<Matcher, PolicyError> {
    match (exact, regexp) {
        (Some(value), None) => Ok(Matcher::Exact(value)),
        (None, Some(pattern)) => {
            Regex::new(&pattern).map_err(|e| {
                invalid(
                    &path.field(&format!("{field}RegExp")),
                    Problem::BadRegexp(e.to_string()),
                )
            })?;
            Ok(Matcher::Regexp(pattern))
        }
        (None, None) => Err(invalid(path, missing)),
        (Some(_), Some(_)) => Err(invalid(path, Problem::ExactAndRegexp(field))),
    }
}

fn static_of(action: raw::Static, path: &FieldPath) -> Result<StaticAction, PolicyError> {
    let action_path = path.field("action");
    let pass = match required(action.action, &action_path)?.as_str() {
        "pass" => true,
        "fail" => false,
        other => return Err(invalid(&action_path, not_one_of(other, "pass, fail"))),
    };
    Ok(StaticAction {
        pass,
        message: action.message,
    })
}

fn source_of(entry: raw::Source, path: &FieldPath) -> Result<Source, PolicyError> {
    Ok(Source {
        oci: required(entry.oci, &path.field("oci"))?,
        signature_pull_secrets: each(
            entry.signature_pull_secrets,
            &path.field("signaturePullSecrets"),
            |secret, path| required(secret.name, &path.field("name")),
        )?,
        tag_prefix: entry.tag_prefix,
    })
}

fn attestation(entry: raw::Attestation, path: &FieldPath) -> Result<Attestation, PolicyError> {
    Ok(Attestation {
        name: required(entry.name, &path.field("name"))?,
        predicate_type: required(entry.predicate_type, &path.field("predicateType"))?,
        policy: entry
            .policy
            .map(|policy| policy_of(policy, &path.field("policy"), PolicyLevel::Attestation))
            .transpose()?,
    })
}

/// Where a `policy` sits: the include*/fetch inputs exist only at `spec.policy`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PolicyLevel {
    Spec,
    Attestation,
}

fn policy_of(
    policy: raw::Policy,
    path: &FieldPath,
    level: PolicyLevel,
) -> Result<EmbeddedPolicy, PolicyError> {
    let type_path = path.field("type");
    let language = match required(policy.language, &type_path)?.as_str() {
        "cue" => PolicyLanguage::Cue,
        "rego" => PolicyLanguage::Rego,
        other => return Err(invalid(&type_path, not_one_of(other, "cue, rego"))),
    };
    let config_map = policy
        .config_map_ref
        .map(|reference| {
            Ok(PolicySource::ConfigMap {
                name: required(reference.name, &path.field("configMapRef").field("name"))?,
                namespace: reference.namespace,
                key: reference.key,
            })
        })
        .transpose()?;
    let remote = policy
        .remote
        .map(|remote| {
            let url_path = path.field("remote").field("url");
            let url = required(remote.url, &url_path)?;
            if !url.starts_with("https://") {
                return Err(invalid(&url_path, Problem::NotHttps));
            }
            Ok(PolicySource::Remote {
                url,
                sha256sum: remote.sha256sum,
            })
        })
        .transpose()?;
    let source = match (policy.data, config_map, remote) {
        (Some(text), None, None) => PolicySource::Inline(text),
        (None, Some(source), None) | (None, None, Some(source)) => source,
        _ => {
            return Err(invalid(
                path,
                Problem::ExactlyOne("data, configMapRef, remote"),
            ));
        }
    };
    let mut include = PolicyInputs::default();
    for (field, value, flag) in [
        (
            "fetchConfigFile",
            policy.fetch_config_file,
            &mut include.config_file,
        ),
        ("includeSpec", policy.include_spec, &mut include.spec),
        (
            "includeObjectMeta",
            policy.include_object_meta,
            &mut include.object_meta,
        ),
        (
            "includeTypeMeta",
            policy.include_type_meta,
            &mut include.type_meta,
        ),
    ] {
        if let Some(value) = value {
            if level == PolicyLevel::Attestation {
                return Err(invalid(&path.field(field), Problem::OnlyInSpecPolicy));
            }
            *flag = value;
        }
    }
    Ok(EmbeddedPolicy {
        language,
        source,
        include,
    })
}

fn match_resource(
    entry: raw::MatchResource,
    path: &FieldPath,
) -> Result<MatchResource, PolicyError> {
    let resource_path = path.field("resource");
    if let Some(name) = &entry.resource
        && !RESOURCES.contains(&name.as_str())
    {
        return Err(invalid(
            &resource_path,
            not_one_of(
                name,
                "pods, replicasets, deployments, statefulsets, daemonsets, jobs, cronjobs",
            ),
        ));
    }
    let mut resource = MatchResource {
        group: entry.group,
        version: entry.version,
        resource: entry.resource,
        ..MatchResource::default()
    };
    if let Some(selector) = entry.selector {
        if resource.resource.is_none() {
            return Err(invalid(&resource_path, Problem::Missing));
        }
        resource.match_labels = selector.match_labels.unwrap_or_default();
        resource.match_expressions = each(
            selector.match_expressions,
            &path.field("selector").field("matchExpressions"),
            |expression, path| {
                Ok(LabelExpression {
                    key: required(expression.key, &path.field("key"))?,
                    operator: required(expression.operator, &path.field("operator"))?,
                    values: expression.values.unwrap_or_default(),
                })
            },
        )?;
    }
    Ok(resource)
}

/// A [`PolicyError::Invalid`] at `path`.
fn invalid(path: &FieldPath, problem: Problem) -> PolicyError {
    PolicyError::Invalid {
        path: path.clone(),
        problem,
    }
}

/// A string that must be present and non-empty.
fn required(value: Option<String>, path: &FieldPath) -> Result<String, PolicyError> {
    value
        .filter(|text| !text.is_empty())
        .ok_or_else(|| invalid(path, Problem::Missing))
}

/// A list that needs at least one entry.
fn non_empty<T>(list: Vec<T>, path: &FieldPath) -> Result<Vec<T>, PolicyError> {
    if list.is_empty() {
        return Err(invalid(path, Problem::Empty));
    }
    Ok(list)
}

/// Checks every entry of the list at `path`, each with its own path.
fn each<T, U>(
    list: Vec<T>,
    path: &FieldPath,
    mut check: impl FnMut(T, &FieldPath) -> Result<U, PolicyError>,
) -> Result<Vec<U>, PolicyError> {
    list.into_iter()
        .enumerate()
        .map(|(index, entry)| check(entry, &path.index(index)))
        .collect()
}

fn not_one_of(value: &str, allowed: &'static str) -> Problem {
    Problem::NotOneOf {
        value: value.to_owned(),
        allowed,
    }
}
