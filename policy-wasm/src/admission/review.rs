//! Reading an AdmissionReview v1 request (docs/formats/admission.md, "AdmissionReview v1"): which
//! workload it is and every container image in its pod spec, with the JSON pointer of each `image`
//! field so a patch can pin it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::AdmissionError;

/// The group, version and resource of the object under review (`request.resource`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resource {
    /// API group (`""` for the core group).
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource name (`pods`, `deployments`, ...).
    pub resource: String,
}

/// Which container list of a pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    /// `containers`.
    Containers,
    /// `initContainers`.
    InitContainers,
    /// `ephemeralContainers`.
    EphemeralContainers,
    /// `volumes[].image.reference` (image volumes, Kubernetes 1.31+); the "container" name is
    /// the volume's.
    ImageVolumes,
}

impl ContainerList {
    const ALL: [Self; 3] = [
        Self::InitContainers,
        Self::Containers,
        Self::EphemeralContainers,
    ];

    /// The pod spec field.
    pub fn field(self) -> &'static str {
        match self {
            Self::Containers => "containers",
            Self::InitContainers => "initContainers",
            Self::EphemeralContainers => "ephemeralContainers",
            Self::ImageVolumes => "volumes",
        }
    }
}

/// One container image in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The container's name.
    pub container: String,
    /// The list it is in.
    pub list: ContainerList,
    /// The image reference as written.
    pub image: String,
    /// RFC 6901 JSON pointer of the `image` field within the object.
    pub pointer: String,
}

/// An AdmissionReview request, reduced to what a decision needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Review {
    /// `request.uid`, echoed in the response.
    pub uid: String,
    /// `request.kind.kind` (`Pod`, `Deployment`, ...).
    pub kind: String,
    /// `request.resource`, or one derived from the kind.
    pub resource: Resource,
    /// `request.subResource` (`ephemeralcontainers`, `status`, ...).
    pub sub_resource: Option<String>,
    /// `request.namespace`, else the object's.
    pub namespace: Option<String>,
    /// `request.name`, else the object's.
    pub name: Option<String>,
    /// `request.operation`.
    pub operation: String,
    /// The object's `metadata.labels` (for `match` selectors).
    pub labels: BTreeMap<String, String>,
    /// The pod's annotations: the Pod's own, or the pod template's.
    pub pod_annotations: BTreeMap<String, String>,
    /// Every container image, init containers first.
    pub sites: Vec<Site>,
}

/// The kinds sigward reads pod specs from, with their plural resource, group and where the
/// pod template is.
const KINDS: [(&str, &str, &str, &str); 8] = [
    ("Pod", "pods", "", ""),
    ("Deployment", "deployments", "apps", "/spec/template"),
    ("ReplicaSet", "replicasets", "apps", "/spec/template"),
    ("StatefulSet", "statefulsets", "apps", "/spec/template"),
    ("DaemonSet", "daemonsets", "apps", "/spec/template"),
    ("Job", "jobs", "batch", "/spec/template"),
    (
        "CronJob",
        "cronjobs",
        "batch",
        "/spec/jobTemplate/spec/template",
    ),
    (
        "ReplicationController",
        "replicationcontrollers",
        "",
        "/spec/template",
    ),
];

/// Object size limit is the caller's business (the server caps bodies); lists are capped
/// here so a hostile object cannot make the plan quadratic.
const MAX_CONTAINERS: usize = 1000;

impl Review {
    /// Reads an AdmissionReview v1 JSON document.
    ///
    /// # Errors
    ///
    /// [`AdmissionError::Json`] for text that is not JSON, [`AdmissionError::NotAReview`] for
    /// JSON that is not an `admission.k8s.io/v1` AdmissionReview with a `request`, and
    /// [`AdmissionError::Object`] (with the uid, so a response can still be made) for a request
    /// whose object is of an unknown kind or malformed.
    pub fn parse(body: &[u8]) -> Result<Self, AdmissionError> {
        let review: Value =
            serde_json::from_slice(body).map_err(|e| AdmissionError::Json(e.to_string()))?;
        let api_version = review.get("apiVersion").and_then(Value::as_str);
        if api_version != Some("admission.k8s.io/v1")
            || review.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
        {
            return Err(AdmissionError::NotAReview(
                "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview".to_owned(),
            ));
        }
        let request = review
            .get("request")
            .filter(|r| r.is_object())
            .ok_or_else(|| AdmissionError::NotAReview("no request".to_owned()))?;
        let text = |pointer: &str| {
            request
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let uid = text("/uid")
            .filter(|uid| !uid.is_empty())
            .ok_or_else(|| AdmissionError::NotAReview("request.uid is missing".to_owned()))?;
        let fail = |message: String| AdmissionError::Object {
            uid: uid.clone(),
            message,
        };
        let kind = text("/kind/kind").ok_or_else(|| fail("request.kind.kind is missing".into()))?;
        let operation = text("/operation").unwrap_or_default();
        let mut parsed = Self {
            uid: uid.clone(),
            kind: kind.clone(),
            resource: Resource {
                group: text("/resource/group").unwrap_or_default(),
                version: text("/resource/version").unwrap_or_default(),
                resource: text("/resource/resource").unwrap_or_default(),
            },
            sub_resource: text("/subResource").filter(|s| !s.is_empty()),
            namespace: text("/namespace"),
            name: text("/name"),
            operation,
            ..Self::default()
        };
        // DELETE and CONNECT carry no new object, and subresources other than
        // `ephemeralcontainers` (status, scale, binding, ...) change no image: nothing to check.
        let other_subresource = parsed
            .sub_resource
            .as_deref()
            .is_some_and(|sub| sub != "ephemeralcontainers");
        if other_subresource || matches!(parsed.operation.as_str(), "DELETE" | "CONNECT") {
            return Ok(parsed);
        }
        // Every other operation (CREATE, UPDATE, and any the API server may add) brings the
        // object to admit: without one there is nothing to check, so it is denied, never
        // allowed as "no images" (issue 8, item 12).
        let object = match request.get("object") {
            None | Some(Value::Null) => {
                return Err(fail(format!(
                    "request.object is {} for a {} of a {kind}: the object cannot be checked",
                    if request.get("object").is_some() {
                        "null"
                    } else {
                        "missing"
                    },
                    if parsed.operation.is_empty() {
                        "request without operation"
                    } else {
                        parsed.operation.as_str()
                    },
                )));
            }
            Some(object) => object,
        };
        parsed.read_object(&kind, object).map_err(fail)?;
        Ok(parsed)
    }

    /// Wraps a bare object (a manifest file) in the AdmissionReview v1 the API server would
    /// send for its CREATE, with `uid`.
    ///
    /// # Errors
    ///
    /// [`AdmissionError::Object`] for an object without `kind` or of a kind sigward does not
    /// check.
    pub fn wrap_object(uid: &str, object: &Value) -> Result<Value, AdmissionError> {
        let fail = |message: String| AdmissionError::Object {
            uid: uid.to_owned(),
            message,
        };
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("the object has no kind".to_owned()))?;
        let (plural, group, _) = workload(kind).map_err(fail)?;
        let version = api_version(object);
        let meta = |field: &str| object.pointer(&format!("/metadata/{field}")).cloned();
        Ok(serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": { "group": group, "version": version, "kind": kind },
                "resource": { "group": group, "version": version, "resource": plural },
                "namespace": meta("namespace").unwrap_or(Value::from("default")),
                "name": meta("name"),
                "operation": "CREATE",
                "userInfo": { "username": "sigward-evaluate" },
                "object": object,
                "dryRun": true,
            }
        }))
    }

    /// Makes a review that holds only images (a Gatekeeper ProviderRequest's keys), each as a
    /// container named after its position.
    pub fn of_images(uid: &str, images: &[String]) -> Self {
        Self {
            uid: uid.to_owned(),
            sites: images
                .iter()
                .enumerate()
                .map(|(index, image)| Site {
                    container: format!("key-{index}"),
                    list: ContainerList::Containers,
                    image: image.clone(),
                    pointer: String::new(),
                })
                .collect(),
            ..Self::default()
        }
    }

    fn read_object(&mut self, kind: &str, object: &Value) -> Result<(), String> {
        let (plural, group, template) = workload(kind)?;
        if !object.is_object() {
            return Err("the object is not a JSON object".to_owned());
        }
        // The pointers below depend on the kind: an object of another kind than the request
        // names would be read at the wrong places and seem to have no images.
        match object.get("kind") {
            None | Some(Value::Null) => {}
            Some(Value::String(own)) if own == kind => {}
            Some(other) => {
                return Err(format!(
                    "the object's kind {other} is not the request's kind {kind:?}"
                ));
            }
        }
        if self.resource.resource.is_empty() {
            self.resource = Resource {
                group: group.to_owned(),
                version: api_version(object).to_owned(),
                resource: plural.to_owned(),
            };
        }
        let meta = |pointer: &str| string_map(object.pointer(pointer));
        self.labels = meta("/metadata/labels")?;
        self.pod_annotations = meta(&format!("{template}/metadata/annotations"))?;
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        self.namespace = self
            .namespace
            .take()
            .or_else(|| text("/metadata/namespace"));
        self.name = self.name.take().or_else(|| text("/metadata/name"));
        let spec = format!("{template}/spec");
        let Some(pod_spec) = object.pointer(&spec) else {
            return Err(format!("the {kind} has no pod spec at {spec}"));
        };
        if !pod_spec.is_object() {
            return Err(format!("{spec} is not an object"));
        }
        for list in ContainerList::ALL {
            self.read_list(pod_spec, &spec, list)?;
        }
        // Every pod has a container (the API server's validation says so, but it runs after
        // mutating webhooks): a spec without one was not read where the images are.
        if !self
            .sites
            .iter()
            .any(|site| site.list == ContainerList::Containers)
        {
            return Err(format!("{spec}/containers is missing or empty"));
        }
        self.read_image_volumes(pod_spec, &spec)
    }

    /// `volumes[].image.reference`: images mounted as volumes are run-time content too.
    fn read_image_volumes(&mut self, pod_spec: &Value, spec: &str) -> Result<(), String> {
        let Some(volumes) = pod_spec.get("volumes").and_then(Value::as_array) else {
            return Ok(());
        };
        for (index, volume) in volumes.iter().enumerate() {
            let Some(image) = volume.get("image").filter(|image| !image.is_null()) else {
                continue;
            };
            let at = format!("{spec}/volumes/{index}");
            let reference = image
                .get("reference")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| format!("{at}/image/reference is missing"))?;
            if self.sites.len() >= MAX_CONTAINERS {
                return Err(format!(
                    "more than {MAX_CONTAINERS} containers and image volumes"
                ));
            }
            self.sites.push(Site {
                container: volume
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                list: ContainerList::ImageVolumes,
                image: reference.to_owned(),
                pointer: format!("{at}/image/reference"),
            });
        }
        Ok(())
    }

    fn read_list(
        &mut self,
        pod_spec: &Value,
        spec: &str,
        list: ContainerList,
    ) -> Result<(), String> {
        let containers = match pod_spec.get(list.field()) {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(containers)) => containers,
            Some(_) => return Err(format!("{spec}/{} is not a list", list.field())),
        };
        if self.sites.len() + containers.len() > MAX_CONTAINERS {
            return Err(format!("more than {MAX_CONTAINERS} containers"));
        }
        for (index, container) in containers.iter().enumerate() {
            let at = format!("{spec}/{}/{index}", list.field());
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{at}/name is missing"))?;
            let image = container
                .get("image")
                .and_then(Value::as_str)
                .filter(|image| !image.is_empty())
                .ok_or_else(|| format!("{at}/image is missing (container {name:?})"))?;
            self.sites.push(Site {
                container: name.to_owned(),
                list,
                image: image.to_owned(),
                pointer: format!("{at}/image"),
            });
        }
        Ok(())
    }
}

/// The plural resource, group and pod template pointer of a workload kind.
fn workload(kind: &str) -> Result<(&'static str, &'static str, &'static str), String> {
    KINDS
        .iter()
        .find(|(name, ..)| *name == kind)
        .map(|&(_, plural, group, template)| (plural, group, template))
        .ok_or_else(|| {
            format!(
                "kind {kind:?} is not a workload sigward checks (Pod, Deployment, ReplicaSet, \
                 StatefulSet, DaemonSet, Job, CronJob, ReplicationController)"
            )
        })
}

/// The version part of the object's `apiVersion` (`apps/v1` → `v1`).
fn api_version(object: &Value) -> &str {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit('/').next())
        .unwrap_or("v1")
}

/// A `map[string]string` field (labels, annotations); absent is empty.
fn string_map(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key.clone(), text.clone())),
                _ => Err(format!("label or annotation {key:?} is not a string")),
            })
            .collect(),
        Some(_) => Err("labels or annotations are not a map".to_owned()),
    }
}
