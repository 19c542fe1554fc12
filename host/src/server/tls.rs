//! The server's TLS: a rustls configuration (aws-lc-rs provider, the one reqwest already uses;
//! ALPN `http/1.1`) whose certificate comes from two PEM files and follows them when they
//! change, as cert-manager and Kubernetes secret volumes rotate them.
//!
//! Reloading is done by a background tokio task ([`CertFiles::watch`], on `crate::watch`) that
//! polls once per second: it compares each file's modification time and length with what it saw
//! last and reloads both files when either differs. Handshakes never touch the file system; they take
//! the current certificate from [`CertResolver`]. A reload that fails (unreadable file, bad
//! PEM, a key that does not match the certificate, e.g. halfway through a rotation) keeps the
//! previous certificate, logs a warning and is retried when the files change again. Only the
//! first load is an error.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

pub(crate) use crate::watch::Stamp;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How often the certificate files are checked for changes.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why the TLS certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it returned.
        source: io::Error,
    },
    /// A file is not valid PEM, or holds no item of the kind expected.
    #[error("parsing PEM in {}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser returned.
        source: pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("no certificate in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key is unsupported or does not belong to the certificate.
    #[error("key {} does not fit certificate {}: {source}", key.display(), cert.display())]
    Key {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls returned.
        source: rustls::Error,
    },
    /// rustls refused the protocol versions for the provider (a build problem, not a file one).
    #[error("building the TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The certificate and key files, and how to turn them into a [`CertifiedKey`].
#[derive(Debug, Clone)]
pub(crate) struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
}

/// Serves the current certificate to every handshake; [`CertFiles::watch`] replaces it.
#[derive(Debug)]
pub(crate) struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

/// A rustls server configuration over `resolver`, with ALPN `http/1.1`.
pub(crate) fn server_config(
    files: &CertFiles,
    resolver: Arc<CertResolver>,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&files.provider))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl CertFiles {
    /// The files at `cert` (a PEM certificate chain, leaf first) and `key` (a PEM private key:
    /// PKCS#8, PKCS#1 or SEC1).
    pub(crate) fn new(cert: PathBuf, key: PathBuf) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Self {
            cert,
            key,
            provider,
        }
    }

    /// Loads the files for the first time.
    pub(crate) fn load_resolver(&self) -> Result<(CertResolver, Stamp), TlsError> {
        // Stamp before reading: a change during the read shows up as a new stamp next poll.
        let stamp = self.stamp();
        let key = self.load()?;
        Ok((
            CertResolver {
                current: RwLock::new(Arc::new(key)),
            },
            stamp,
        ))
    }

    /// Polls the files every [`POLL_INTERVAL`] and puts each successfully reloaded
    /// certificate into `resolver`. Runs until the task is aborted.
    pub(crate) async fn watch(self, resolver: Arc<CertResolver>, seen: Stamp) {
        let files = self.clone();
        crate::watch::watch(
            POLL_INTERVAL,
            seen,
            move || files.stamp(),
            |stamp| {
                if let Some(err) = stamp.unreadable() {
                    tracing::warn!(
                        cert = %self.cert.display(),
                        key = %self.key.display(),
                        error = %err,
                        "TLS certificate files unreadable; keeping the previous certificate",
                    );
                    return;
                }
                match self.load() {
                    Ok(key) => {
                        resolver.set(Arc::new(key));
                        tracing::info!(cert = %self.cert.display(), "reloaded TLS certificate");
                    }
                    Err(err) => tracing::warn!(
                        error = %err,
                        "reloading TLS certificate failed; keeping the previous certificate",
                    ),
                }
            },
        )
        .await;
    }

    fn load(&self) -> Result<CertifiedKey, TlsError> {
        let cert_pem = read(&self.cert)?;
        let key_pem = read(&self.key)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Pem {
                path: self.cert.clone(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: self.cert.clone(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| TlsError::Pem {
            path: self.key.clone(),
            source,
        })?;
        CertifiedKey::from_der(chain, key, &self.provider).map_err(|source| TlsError::Key {
            cert: self.cert.clone(),
            key: self.key.clone(),
            source,
        })
    }

    fn stamp(&self) -> Stamp {
        Stamp::of(Ok(vec![self.cert.clone(), self.key.clone()]))
    }
}

impl CertResolver {
    fn current(&self) -> Arc<CertifiedKey> {
        // A poisoned lock still holds a complete Arc: writers only swap it.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}
