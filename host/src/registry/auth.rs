//! Registry credentials: where they come from (the Docker config file and its credential
//! helpers, through the `docker_credential` crate) and how long what they buy is reused.
//!
//! This module performs no network I/O: the bearer-token exchange is oci-client's, called from
//! `remote`. Credentials never appear in `Debug` output, logs or error messages.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::RegistryOperation;
use oci_client::secrets::RegistryAuth;
use sigward_policy::reference::is_docker_hub_host;

use super::RegistryError;

/// Where registry credentials come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, including `credHelpers` and
    /// `credsStore`. A missing file or entry means anonymous access.
    #[default]
    DockerConfig,
    /// `DIR/config.json`, read the same way.
    DockerConfigDir(PathBuf),
    /// Never send credentials.
    Anonymous,
}

/// What goes into the `Authorization` header of one request.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Authorization {
    /// Nothing.
    Anonymous,
    /// HTTP basic authentication (a registry with a `Basic` challenge).
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// A bearer token from the registry's token service.
    Bearer(String),
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Anonymous => "Anonymous",
            Self::Basic { .. } => "Basic(<redacted>)",
            Self::Bearer(_) => "Bearer(<redacted>)",
        })
    }
}

/// Remembers each registry's credentials and each repository's authorization.
#[derive(Debug)]
pub(super) struct Authorizer {
    credentials: Credentials,
    logins: Mutex<HashMap<String, RegistryAuth>>,
    grants: Mutex<BTreeMap<GrantKey, Grant>>,
}

type GrantKey = (String, String, RegistryOperation);

#[derive(Debug)]
struct Grant {
    authorization: Authorization,
    obtained: Instant,
}

/// How long a bearer token is reused before asking for a new one. Token services hand out
/// tokens for at least 60 s (Docker Hub: 300 s); a 401 also forces a new one.
const GRANT_TTL: Duration = Duration::from_secs(50);

/// Docker Hub's key in `config.json`.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

impl Authorizer {
    /// Uses `credentials` for every registry.
    pub(super) fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            logins: Mutex::new(HashMap::new()),
            grants: Mutex::new(BTreeMap::new()),
        }
    }

    /// The credentials for `registry` (`host[:port]`), looked up once per registry.
    pub(super) async fn login(&self, registry: &str) -> Result<RegistryAuth, RegistryError> {
        if let Some(known) = lock(&self.logins).get(registry) {
            return Ok(known.clone());
        }
        let file = match &self.credentials {
            Credentials::Anonymous => None,
            Credentials::DockerConfigDir(dir) => Some(dir.join("config.json")),
            Credentials::DockerConfig => {
                config_file(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
            }
        };
        let owned = registry.to_owned();
        // Credential helpers are processes; reading them blocks.
        let login = tokio::task::spawn_blocking(move || match file {
            Some(file) => read_login(&file, &owned),
            None => Ok(RegistryAuth::Anonymous),
        })
        .await
        .map_err(|e| RegistryError::Unavailable(format!("credential lookup stopped: {e}")))??;
        lock(&self.logins).insert(registry.to_owned(), login.clone());
        Ok(login)
    }

    /// A recent authorization for `op` on `repository` of `registry`, if one is remembered.
    pub(super) fn granted(
        &self,
        registry: &str,
        repository: &str,
        op: RegistryOperation,
    ) -> Option<Authorization> {
        let key = (registry.to_owned(), repository.to_owned(), op);
        lock(&self.grants)
            .get(&key)
            .filter(|grant| grant.obtained.elapsed() < GRANT_TTL)
            .map(|grant| grant.authorization.clone())
    }

    /// Remembers `authorization` for `op` on `repository` of `registry`.
    pub(super) fn grant(
        &self,
        registry: &str,
        repository: &str,
        op: RegistryOperation,
        authorization: Authorization,
    ) {
        let key = (registry.to_owned(), repository.to_owned(), op);
        let grant = Grant {
            authorization,
            obtained: Instant::now(),
        };
        lock(&self.grants).insert(key, grant);
    }
}

/// The Docker config file: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
fn config_file(docker_config: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    match (docker_config, home) {
        (Some(dir), _) => Some(PathBuf::from(dir).join("config.json")),
        (None, Some(home)) => Some(PathBuf::from(home).join(".docker").join("config.json")),
        (None, None) => None,
    }
}

/// Reads the credentials for `registry` from the Docker config `file`.
fn read_login(file: &Path, registry: &str) -> Result<RegistryAuth, RegistryError> {
    let reader = match File::open(file) {
        Ok(reader) => BufReader::new(reader),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
        Err(e) => {
            return Err(RegistryError::Invalid(format!(
                "reading Docker config {}: {e}",
                file.display()
            )));
        }
    };
    let key = if is_docker_hub_host(registry) {
        DOCKER_HUB_KEY
    } else {
        registry
    };
    match docker_credential::get_credential_from_reader(reader, key) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        Ok(DockerCredential::IdentityToken(_)) => {
            tracing::warn!(
                registry,
                "Docker config holds an identity token, which sigward cannot use; \
                 trying anonymous access"
            );
            Ok(RegistryAuth::Anonymous)
        }
        Err(CredentialRetrievalError::NoCredentialConfigured)
        | Err(CredentialRetrievalError::ConfigNotFound) => Ok(RegistryAuth::Anonymous),
        // docker-credential-helpers report an unknown registry this way; go-containerregistry
        // treats it as anonymous too. The helper's output is not copied into our error.
        Err(CredentialRetrievalError::HelperFailure { stdout, stderr, .. })
            if (stdout.contains("credentials not found")
                || stderr.contains("credentials not found")) =>
        {
            Ok(RegistryAuth::Anonymous)
        }
        Err(
            CredentialRetrievalError::HelperFailure { .. }
            | CredentialRetrievalError::HelperCommunicationError
            | CredentialRetrievalError::MalformedHelperResponse,
        ) => Err(RegistryError::Denied(format!(
            "the credential helper for {registry} failed"
        ))),
        Err(CredentialRetrievalError::ConfigReadError) => Err(RegistryError::Invalid(format!(
            "Docker config {} is not valid JSON",
            file.display()
        ))),
        Err(
            CredentialRetrievalError::CredentialDecodingError
            | CredentialRetrievalError::CredentialMismatchError,
        ) => Err(RegistryError::Invalid(format!(
            "Docker config {}: malformed entry for {registry}",
            file.display()
        ))),
    }
}

/// Locks `mutex`; a panic elsewhere cannot leave these maps half-written, so poison is ignored.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn config_dir(json: &serde_json::Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json.to_string()).unwrap();
        dir
    }

    #[test]
    fn finds_the_config_file_like_docker() {
        assert_eq!(
            config_file(Some("/cfg".into()), Some("/home/u".into())),
            Some(PathBuf::from("/cfg/config.json"))
        );
        assert_eq!(
            config_file(None, Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(config_file(None, None), None);
    }

    #[tokio::test]
    async fn reads_basic_credentials_by_registry() {
        let auth = STANDARD.encode("alice:s3cret");
        let dir = config_dir(&serde_json::json!({
            "auths": {
                "127.0.0.1:5000": {"auth": auth},
                "https://index.docker.io/v1/": {"auth": STANDARD.encode("hub:pw")},
            }
        }));
        let authorizer = Authorizer::new(Credentials::DockerConfigDir(dir.path().into()));
        assert_eq!(
            authorizer.login("127.0.0.1:5000").await.unwrap(),
            RegistryAuth::Basic("alice".into(), "s3cret".into())
        );
        assert_eq!(
            authorizer.login("index.docker.io").await.unwrap(),
            RegistryAuth::Basic("hub".into(), "pw".into())
        );
        assert_eq!(
            authorizer.login("ghcr.io").await.unwrap(),
            RegistryAuth::Anonymous
        );
    }

    #[tokio::test]
    async fn missing_config_means_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let authorizer = Authorizer::new(Credentials::DockerConfigDir(dir.path().into()));
        assert_eq!(
            authorizer.login("127.0.0.1:5000").await.unwrap(),
            RegistryAuth::Anonymous
        );
    }

    #[tokio::test]
    async fn broken_config_is_an_error_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
        let authorizer = Authorizer::new(Credentials::DockerConfigDir(dir.path().into()));
        assert!(matches!(
            authorizer.login("r.example").await,
            Err(RegistryError::Invalid(_))
        ));

        let dir = config_dir(&serde_json::json!({
            "auths": {"r.example": {"auth": STANDARD.encode("alice:s3cret"),
                                     "username": "alice", "password": "other"}}
        }));
        let authorizer = Authorizer::new(Credentials::DockerConfigDir(dir.path().into()));
        let error = authorizer.login("r.example").await.unwrap_err();
        assert!(matches!(error, RegistryError::Invalid(_)));
        assert!(!error.to_string().contains("s3cret"));
    }

    #[test]
    fn authorization_debug_output_is_redacted() {
        let basic = Authorization::Basic {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        let bearer = Authorization::Bearer("tok3n".into());
        assert!(!format!("{basic:?}{bearer:?}").contains("s3cret"));
        assert!(!format!("{bearer:?}").contains("tok3n"));
    }

    #[test]
    fn grants_are_remembered_per_repository_and_operation() {
        let authorizer = Authorizer::new(Credentials::Anonymous);
        let token = Authorization::Bearer("t".into());
        authorizer.grant("r", "a", RegistryOperation::Pull, token.clone());
        assert_eq!(
            authorizer.granted("r", "a", RegistryOperation::Pull),
            Some(token)
        );
        assert_eq!(authorizer.granted("r", "a", RegistryOperation::Push), None);
        assert_eq!(authorizer.granted("r", "b", RegistryOperation::Pull), None);
    }
}
