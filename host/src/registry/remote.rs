//! The OCI distribution client: manifests, blobs and referrers read from a registry with
//! byte caps and timeouts, and signature images pushed back.
//!
//! oci-client does blob and manifest uploads. Its pull functions buffer whole responses and
//! fall back from the referrers API to the tag schema without saying so, and its token exchange
//! follows any realm and reads the answer whole, so reads and the token exchange (`token`) go
//! through the same `reqwest` stack here instead: every body is read chunk by chunk into a
//! [`Capped`] buffer, and the referrers lookup reports which of the two ways answered (the API's
//! filter and pages are `referrers`'s business).
//!
//! Plain HTTP is used for loopback registries, or for every registry under
//! [`HttpPolicy::AllowHttp`]; everything else is HTTPS only, redirects included.

use std::error::Error as _;
use std::sync::OnceLock;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};

use super::auth::{Authorization, Authorizer};
use super::budget::Budget;
use super::digest::{Attachment, Digest};
use super::limits::{self, Capped, Limits};
use super::manifest::{self, Descriptor, MANIFEST_TYPES, OCI_MANIFEST, SignatureImage};
use super::material::Store;
use super::reference::{self, with_digest, with_tag};
use super::referrers;
use super::token::{self, Challenge};
use super::{Discovery, HttpPolicy, Manifest, Options, RegistryError};

const USER_AGENT: &str = concat!("sigward/", env!("CARGO_PKG_VERSION"));

/// A successful `GET`: the body, read under its cap, and the response headers.
#[derive(Debug)]
pub(super) struct Fetched {
    /// The body.
    pub(super) bytes: Vec<u8>,
    /// The headers (`Link`, `OCI-Filters-Applied`, ...).
    pub(super) headers: HeaderMap,
}

/// A registry client shared by every call: one connection pool per scheme.
#[derive(Debug)]
pub(super) struct Remote {
    limits: Limits,
    http_policy: HttpPolicy,
    /// Built on first use: loading the TLS roots costs tens of milliseconds, which a run
    /// against a loopback registry or a layout never needs.
    https: OnceLock<Transport>,
    http: OnceLock<Transport>,
    authorizer: Authorizer,
    /// Tests: stand-ins for remote hosts.
    #[cfg(test)]
    network: super::tests::TestNetwork,
}

/// The clients for one scheme.
struct Transport {
    scheme: Scheme,
    /// oci-client, for uploads; built when first needed, since its
    /// TLS setup loads the system's root certificates even for plain HTTP.
    registry: OnceLock<oci_client::Client>,
    /// Timeouts for `registry` when it is built.
    limits: Limits,
    /// reqwest, for capped reads.
    reader: reqwest::Client,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// The URL scheme used to reach a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    /// TLS (rustls).
    Https,
    /// Plain HTTP.
    Http,
}

/// Which scheme `registry` (`host[:port]`) is reached with under `policy`.
pub(super) fn scheme_for(policy: HttpPolicy, registry: &str) -> Scheme {
    match policy {
        HttpPolicy::AllowHttp => Scheme::Http,
        HttpPolicy::LoopbackOnly if reference::is_loopback(registry) => Scheme::Http,
        HttpPolicy::LoopbackOnly => Scheme::Https,
    }
}

impl Remote {
    /// Prepares the clients (each is built when first needed).
    pub(super) fn new(options: &Options) -> Result<Self, RegistryError> {
        Ok(Self {
            limits: options.limits,
            http_policy: options.http,
            https: OnceLock::new(),
            http: OnceLock::new(),
            authorizer: Authorizer::new(options.credentials.clone()),
            #[cfg(test)]
            network: options.network.clone(),
        })
    }

    /// The manifest a tag points to (or a digest names, checked against it).
    pub(super) async fn resolve(
        &self,
        image: &Reference,
        budget: &Budget,
    ) -> Result<Manifest, RegistryError> {
        let what = format!("manifest {image}");
        // A reference digest must be one we can check; it also picks the manifest to fetch.
        let expected = image.digest().map(Digest::parse).transpose()?;
        let bytes = self
            .manifest(image, budget)
            .await?
            .ok_or_else(|| RegistryError::NotFound(what.clone()))?;
        // Never trust Docker-Content-Digest: the digest is the hash of the bytes we got.
        if let Some(expected) = expected {
            super::digest::verify(&expected, &bytes, &what)?;
        }
        manifest::served(bytes, &what)
    }

    /// The store for `image`'s repository.
    pub(super) fn repository<'a>(
        &'a self,
        image: &Reference,
        budget: &'a Budget,
    ) -> Repository<'a> {
        Repository {
            remote: self,
            reference: image.clone(),
            budget,
        }
    }

    /// Pushes a signature image under the `.sig` tag of `digest`, with its payload blob.
    pub(super) async fn push_signature(
        &self,
        image: &Reference,
        digest: &Digest,
        payload: &[u8],
        signature: SignatureImage,
        budget: &Budget,
    ) -> Result<(), RegistryError> {
        let transport = self.transport(image)?;
        let what = format!("pushing signature to {}", reference::repository_name(image));
        let timeout = self.limits.timeout;
        // Each call gets the whole timeout.
        let push = RegistryOperation::Push;
        let authorize = self.authorize(transport, image, push, true, budget);
        let authorization = limits::bounded(timeout, &what, authorize).await?;
        // oci-client uploads with what it is given. A bearer token is stored without any
        // request. Basic credentials make it ask the registry's challenge again; a registry
        // that now answered with a bearer challenge would get oci-client's exchange, but it
        // receives these credentials anyway (it asked for basic authentication first).
        let handed = match authorization {
            Authorization::Anonymous => None,
            Authorization::Basic { user, password } => Some(RegistryAuth::Basic(user, password)),
            Authorization::Bearer(token) => Some(RegistryAuth::Bearer(token)),
        };
        if let Some(handed) = handed {
            let store = transport.registry()?.auth(image, &handed, push);
            limits::bounded(timeout, &what, async {
                store.await.map(drop).map_err(|e| oci_error(e, &what))
            })
            .await?;
        }
        for blob in [payload, signature.config.as_slice()] {
            let blob_digest = Digest::of(blob).to_string();
            let exists = transport.registry()?.blob_exists(image, &blob_digest);
            let present = limits::bounded(timeout, &what, async {
                exists.await.map_err(|e| oci_error(e, &what))
            })
            .await?;
            if !present {
                let upload = transport
                    .registry()?
                    .push_blob(image, blob.to_vec(), &blob_digest);
                limits::bounded(timeout, &what, async {
                    upload.await.map_err(|e| oci_error(e, &what))
                })
                .await?;
            }
        }
        let tag = with_tag(image, digest.attachment_tag(Attachment::Signatures));
        let content_type = HeaderValue::from_static(OCI_MANIFEST);
        let put = transport
            .registry()?
            .push_manifest_raw(&tag, signature.manifest, content_type);
        limits::bounded(timeout, &what, async {
            put.await.map(drop).map_err(|e| oci_error(e, &what))
        })
        .await
    }

    /// The manifest `image` names (by digest if it has one, else by tag); `None` on 404.
    async fn manifest(
        &self,
        image: &Reference,
        budget: &Budget,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let name = image.digest().or(image.tag()).unwrap_or("latest");
        let accept = MANIFEST_TYPES.join(", ");
        self.get(
            image,
            &format!("manifests/{name}"),
            &accept,
            self.limits.manifest_bytes,
            budget,
        )
        .await
    }

    /// The limits every call works under.
    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The URL of `/v2/<repository>/<path>` on `image`'s registry, with the scheme it is
    /// reached with.
    pub(super) fn url(&self, image: &Reference, path: &str) -> Result<String, RegistryError> {
        let transport = self.transport(image)?;
        Ok(format!(
            "{}://{}/v2/{}/{path}",
            transport.scheme.as_str(),
            image.resolve_registry(),
            image.repository()
        ))
    }

    /// `GET /v2/<repository>/<path>`, reading at most `max` bytes; `None` on 404.
    async fn get(
        &self,
        image: &Reference,
        path: &str,
        accept: &str,
        max: u64,
        budget: &Budget,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let url = self.url(image, path)?;
        let what = format!("{}/{path}", reference::repository_name(image));
        let fetched = self.fetch(image, &url, &what, accept, max, budget).await?;
        Ok(fetched.map(|fetched| fetched.bytes))
    }

    /// `GET url`, a URL on `image`'s registry (its caller makes sure of that), with the
    /// credentials for `image`'s repository, reading at most `max` bytes; `None` on 404. `what`
    /// names the request in errors.
    pub(super) async fn fetch(
        &self,
        image: &Reference,
        url: &str,
        what: &str,
        accept: &str,
        max: u64,
        budget: &Budget,
    ) -> Result<Option<Fetched>, RegistryError> {
        let transport = self.transport(image)?;
        let what = what.to_owned();
        limits::bounded(self.limits.timeout, &what, async {
            // Try what is known (anonymous at first): an open registry then costs no challenge
            // round trip; a 401 starts the challenge and token exchange, once.
            let (registry, repository) = (image.resolve_registry(), image.repository());
            let mut authorization = self
                .authorizer
                .granted(registry, repository, RegistryOperation::Pull)
                .unwrap_or(Authorization::Anonymous);
            let mut fresh = false;
            loop {
                let request = transport.reader.get(url).header(ACCEPT, accept);
                let mut response = with_authorization(request, &authorization)
                    .send()
                    .await
                    .map_err(|e| transport_error(&e, &what))?;
                match response.status() {
                    StatusCode::OK => {}
                    StatusCode::NOT_FOUND => return Ok(None),
                    // An expired token: get a new one, once.
                    StatusCode::UNAUTHORIZED if !fresh => {
                        fresh = true;
                        authorization = self
                            .authorize(transport, image, RegistryOperation::Pull, true, budget)
                            .await?;
                        continue;
                    }
                    status => return Err(status_error(status.as_u16(), &what)),
                }
                if let Some(length) = response.content_length()
                    && length > max
                {
                    return Err(RegistryError::TooLarge {
                        what: what.clone(),
                        size: length,
                        limit: max,
                    });
                }
                if let Some(length) = response.content_length() {
                    budget.check_fits(length, &what)?;
                }
                let headers = response.headers().clone();
                let mut body = Capped::new(max, budget);
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| transport_error(&e, &what))?
                {
                    body.push(&chunk, &what)?;
                }
                return Ok(Some(Fetched {
                    bytes: body.into_bytes(),
                    headers,
                }));
            }
        })
        .await
    }

    /// What to send as `Authorization` for `op` on `image`'s repository: remembered, or (when
    /// `fresh` or unknown) obtained from the registry's challenge and, for a bearer challenge,
    /// the token exchange (`token`, which checks the realm before sending anything to it).
    async fn authorize(
        &self,
        transport: &Transport,
        image: &Reference,
        op: RegistryOperation,
        fresh: bool,
        budget: &Budget,
    ) -> Result<Authorization, RegistryError> {
        let (registry, repository) = (image.resolve_registry(), image.repository());
        if !fresh && let Some(known) = self.authorizer.granted(registry, repository, op) {
            return Ok(known);
        }
        let login = self.authorizer.login(registry).await?;
        let basic = match &login {
            RegistryAuth::Basic(user, password) => Some((user.as_str(), password.as_str())),
            RegistryAuth::Anonymous | RegistryAuth::Bearer(_) => None,
        };
        let challenge = token::challenge(&transport.reader, transport.scheme, registry);
        let authorization = match (challenge.await?, &login) {
            // A registry token from the credentials needs no exchange (as in oci-client).
            (_, RegistryAuth::Bearer(token)) => Authorization::Bearer(token.clone()),
            (Challenge::Bearer { realm, service }, _) => {
                let realm = token::check_realm(&realm, registry, transport.scheme)?;
                let realm_scheme = match realm.scheme() {
                    "https" => Scheme::Https,
                    _ => Scheme::Http,
                };
                let scope = token::scope(repository, op);
                let client = &self.transport_for(realm_scheme)?.reader;
                let exchange =
                    token::exchange(client, realm, service.as_deref(), &scope, basic, budget);
                Authorization::Bearer(exchange.await?)
            }
            (Challenge::Basic | Challenge::None, RegistryAuth::Basic(user, password)) => {
                Authorization::Basic {
                    user: user.clone(),
                    password: password.clone(),
                }
            }
            (Challenge::Basic | Challenge::None, RegistryAuth::Anonymous) => {
                Authorization::Anonymous
            }
        };
        self.authorizer
            .grant(registry, repository, op, authorization.clone());
        Ok(authorization)
    }

    fn transport(&self, image: &Reference) -> Result<&Transport, RegistryError> {
        self.transport_for(scheme_for(self.http_policy, image.resolve_registry()))
    }

    fn transport_for(&self, scheme: Scheme) -> Result<&Transport, RegistryError> {
        let cell = match scheme {
            Scheme::Https => &self.https,
            Scheme::Http => &self.http,
        };
        if let Some(transport) = cell.get() {
            return Ok(transport);
        }
        #[cfg(test)]
        let network = self.network.clone();
        let transport = Transport::new(scheme, &self.limits, |builder| {
            #[cfg(test)]
            let builder = network.apply(builder);
            builder
        })?;
        // Another thread may have won the race; either client is as good.
        Ok(cell.get_or_init(|| transport))
    }
}

/// One repository of a registry, as a [`Store`] of attached material.
#[derive(Debug)]
pub(super) struct Repository<'a> {
    remote: &'a Remote,
    reference: Reference,
    /// What every read of this repository is taken from.
    budget: &'a Budget,
}

impl Store for Repository<'_> {
    async fn attachment(
        &self,
        digest: &Digest,
        kind: Attachment,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let tag = with_tag(&self.reference, digest.attachment_tag(kind));
        self.remote.manifest(&tag, self.budget).await
    }

    async fn referrers(
        &self,
        digest: &Digest,
    ) -> Result<(Vec<Descriptor>, Discovery), RegistryError> {
        // docs/formats/oci.md, "Finding bundles": the referrers API (every page), then on 404
        // the tag schema.
        if let Some(manifests) =
            referrers::list(self.remote, &self.reference, digest, self.budget).await?
        {
            return Ok((manifests, Discovery::ReferrersApi));
        }
        let tag = with_tag(&self.reference, digest.referrers_tag());
        let manifests = match self.remote.manifest(&tag, self.budget).await? {
            Some(bytes) => {
                manifest::parse_index(&bytes, &format!("tag {}", digest.referrers_tag()))?.manifests
            }
            None => Vec::new(),
        };
        Ok((manifests, Discovery::ReferrersTag))
    }

    async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let by_digest = with_digest(&self.reference, digest);
        self.remote
            .manifest(&by_digest, self.budget)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("manifest {by_digest}")))
    }

    async fn blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, RegistryError> {
        let path = format!("blobs/{digest}");
        self.remote
            .get(&self.reference, &path, "*/*", max, self.budget)
            .await?
            .ok_or_else(|| {
                let name = reference::repository_name(&self.reference);
                RegistryError::NotFound(format!("blob {digest} in {name}"))
            })
    }
}

impl Transport {
    /// The clients for `scheme`; `configure` gets the last word on the reader's settings.
    fn new(
        scheme: Scheme,
        limits: &Limits,
        configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, RegistryError> {
        let mut reader = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(limits.timeout)
            .read_timeout(limits.timeout)
            .https_only(scheme == Scheme::Https);
        if scheme == Scheme::Http {
            // Never speaks TLS: skip loading the system's root certificates (tens of ms).
            reader = reader.tls_certs_only(Vec::new());
        }
        let reader = configure(reader).build().map_err(|e| setup(&e))?;
        Ok(Self {
            scheme,
            registry: OnceLock::new(),
            limits: *limits,
            reader,
        })
    }

    /// The oci-client client, built on first use.
    fn registry(&self) -> Result<&oci_client::Client, RegistryError> {
        if let Some(client) = self.registry.get() {
            return Ok(client);
        }
        let (scheme, limits) = (self.scheme, &self.limits);
        let client = oci_client::Client::try_from(ClientConfig {
            protocol: match scheme {
                Scheme::Https => ClientProtocol::Https,
                Scheme::Http => ClientProtocol::Http,
            },
            read_timeout: Some(limits.timeout),
            connect_timeout: Some(limits.timeout),
            user_agent: USER_AGENT,
            platform_resolver: None,
            ..ClientConfig::default()
        })
        .map_err(|e| setup(&e))?;
        // Another thread may have won the race; either client is as good.
        Ok(self.registry.get_or_init(|| client))
    }
}

fn setup(e: &dyn std::fmt::Display) -> RegistryError {
    RegistryError::Unavailable(format!("setting up the registry client: {e}"))
}

impl Scheme {
    /// `https` or `http`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Http => "http",
        }
    }
}

fn with_authorization(
    request: reqwest::RequestBuilder,
    authorization: &Authorization,
) -> reqwest::RequestBuilder {
    match authorization {
        Authorization::Anonymous => request,
        Authorization::Basic { user, password } => request.basic_auth(user, Some(password)),
        Authorization::Bearer(token) => request.bearer_auth(token),
    }
}

/// Maps an HTTP status other than 200 to an error.
fn status_error(status: u16, what: &str) -> RegistryError {
    match status {
        404 => RegistryError::NotFound(what.to_owned()),
        401 | 403 => RegistryError::Denied(format!("{what}: HTTP {status}")),
        429 | 500..=599 => RegistryError::Unavailable(format!("{what}: HTTP {status}")),
        _ => RegistryError::Invalid(format!("{what}: unexpected HTTP {status}")),
    }
}

/// A failure to talk to the registry at all (connect, TLS, timeout, broken body).
pub(super) fn transport_error(error: &reqwest::Error, what: &str) -> RegistryError {
    // reqwest's own message stops at "error sending request"; the cause is further down.
    let mut message = format!("{what}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    RegistryError::Unavailable(message)
}

/// Maps oci-client's errors. Response bodies it carries (e.g. a token service's answer) are
/// not copied into ours.
fn oci_error(error: OciDistributionError, what: &str) -> RegistryError {
    match error {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => {
            RegistryError::Denied(format!("{what}: authentication failed"))
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let has = |wanted: &[OciErrorCode]| codes.iter().any(|code| wanted.contains(code));
            if has(&[OciErrorCode::Denied, OciErrorCode::Unauthorized]) {
                RegistryError::Denied(format!("{what}: {codes:?}"))
            } else if has(&[
                OciErrorCode::NameUnknown,
                OciErrorCode::ManifestUnknown,
                OciErrorCode::BlobUnknown,
                OciErrorCode::NotFound,
            ]) {
                RegistryError::NotFound(format!("{what}: {codes:?}"))
            } else if has(&[OciErrorCode::Toomanyrequests]) {
                RegistryError::Unavailable(format!("{what}: {codes:?}"))
            } else {
                RegistryError::Invalid(format!("{what}: registry refused: {codes:?}"))
            }
        }
        OciDistributionError::ServerError { code, .. } => status_error(code, what),
        OciDistributionError::RequestError(error) => transport_error(&error, what),
        OciDistributionError::DigestError(error) => {
            RegistryError::Invalid(format!("{what}: {error}"))
        }
        other => RegistryError::Unavailable(format!("{what}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_unless_allowed() {
        let loopback_only = HttpPolicy::LoopbackOnly;
        assert_eq!(scheme_for(loopback_only, "127.0.0.1:5000"), Scheme::Http);
        assert_eq!(scheme_for(loopback_only, "localhost:5000"), Scheme::Http);
        assert_eq!(scheme_for(loopback_only, "[::1]:5000"), Scheme::Http);
        assert_eq!(scheme_for(loopback_only, "index.docker.io"), Scheme::Https);
        assert_eq!(scheme_for(loopback_only, "10.1.2.3:5000"), Scheme::Https);
        assert_eq!(
            scheme_for(HttpPolicy::AllowHttp, "registry.internal:5000"),
            Scheme::Http
        );
    }

    #[test]
    fn maps_statuses_to_error_kinds() {
        assert!(matches!(status_error(404, "m"), RegistryError::NotFound(_)));
        assert!(matches!(status_error(401, "m"), RegistryError::Denied(_)));
        assert!(matches!(status_error(403, "m"), RegistryError::Denied(_)));
        assert!(matches!(
            status_error(503, "m"),
            RegistryError::Unavailable(_)
        ));
        assert!(matches!(
            status_error(429, "m"),
            RegistryError::Unavailable(_)
        ));
        assert!(matches!(status_error(400, "m"), RegistryError::Invalid(_)));
    }

    #[test]
    fn authentication_failures_do_not_echo_the_token_service() {
        let error = oci_error(
            OciDistributionError::AuthenticationFailure("password=hunter2".into()),
            "auth",
        );
        assert!(matches!(error, RegistryError::Denied(_)));
        assert!(!error.to_string().contains("hunter2"));
    }
}
