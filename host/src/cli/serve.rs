//! `sigward serve`: the Kubernetes admission webhook (`/validate`, `/mutate`) and Gatekeeper
//! external-data provider (`/gatekeeper`) over HTTPS, with `/healthz`, `/readyz` and
//! `/metrics`. Logs are JSON lines on stderr (`RUST_LOG` filters them, default `info`: denials,
//! warnings and errors; `RUST_LOG=debug` adds a line for every request).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::admission_args::AdmissionArgs;
use super::trust::TufArgs;
use super::{EXIT_OK, RegistryArgs};
use crate::registry::{Layouts, Sources};
use crate::runtime::{ComponentSource, Limits, Runtime};
use crate::server::{
    self, Admission, AdmissionService, CacheConfig, Metrics, ServerConfig, SlotConfig, VerdictCache,
};
use crate::trust::store::Store;
use crate::trust::tuf::{self, Timeouts};
use crate::trust::{PRODUCTION_NAME, STAGING_NAME, judge_cached};
use crate::watch::Stamp;

/// Serve the admission webhook and Gatekeeper provider over HTTPS.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeCommand {
    #[command(flatten)]
    admission: AdmissionArgs,

    /// The PEM certificate chain to serve (reloaded when the file changes).
    #[arg(long, value_name = "FILE")]
    tls_cert: PathBuf,

    /// The PEM private key of the certificate (reloaded when the file changes).
    #[arg(long, value_name = "FILE")]
    tls_key: PathBuf,

    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0:8443", value_name = "ADDR")]
    listen: SocketAddr,

    /// The budget of one admission request, registry calls included; keep it below the
    /// webhook's timeoutSeconds so that an answer is always sent.
    #[arg(long, default_value_t = 8, value_name = "SECONDS")]
    request_timeout: u64,

    /// How long a verified result is reused.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    cache_ttl: u64,

    /// How long a failed verification is reused.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    cache_failure_ttl: u64,

    /// How many verification results are kept.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    cache_size: usize,

    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = server::DEFAULT_MAX_BODY_BYTES, value_name = "BYTES")]
    max_body_bytes: usize,

    /// How long a client may take to send a request's headers.
    #[arg(long, default_value_t = server::DEFAULT_HEADER_TIMEOUT.as_secs(), value_name = "SECONDS")]
    header_timeout: u64,

    /// How long a client may take to send a request's body (then 408).
    #[arg(long, default_value_t = server::DEFAULT_BODY_TIMEOUT.as_secs(), value_name = "SECONDS")]
    body_timeout: u64,

    /// How long a keep-alive connection may stay open with no request.
    #[arg(long, default_value_t = server::DEFAULT_IDLE_TIMEOUT.as_secs(), value_name = "SECONDS")]
    idle_timeout: u64,

    /// How many client connections may be open at once; at the cap new connections wait and
    /// the connections idle longest are closed to make room.
    #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS, value_name = "N")]
    max_connections: usize,

    /// How many verifications may run at once (each holds a thread); a request that gets no
    /// slot before its deadline is denied with reason `overloaded`, and /readyz fails while
    /// every slot is taken.
    #[arg(long, default_value_t = SlotConfig::default().total, value_name = "N")]
    max_verifications: usize,

    /// How many verifications may run at once against one registry host, so that one slow
    /// registry cannot take every slot.
    #[arg(long, default_value_t = SlotConfig::default().per_registry, value_name = "N")]
    max_verifications_per_registry: usize,

    #[command(flatten)]
    registry: RegistryArgs,

    /// Keep the default trust root (production, or staging with --staging) current from this
    /// TUF mirror, as `sigward trust init` does, in the background; the cache in the trust
    /// directory ($SIGWARD_TRUST_DIR, else ~/.sigward/trust) must be writable. A refresh that
    /// fails leaves the root in force.
    #[arg(long, value_name = "URL")]
    tuf_mirror: Option<String>,

    /// The TUF root.json to start from when the cache holds none from the mirror's repository
    /// (default: the embedded one of Sigstore's repository).
    #[arg(long, value_name = "FILE", requires = "tuf_mirror")]
    tuf_root: Option<PathBuf>,

    /// How often the TUF mirror is checked.
    #[arg(long, default_value = "1h", value_parser = super::timeout::parse_duration, value_name = "DURATION", requires = "tuf_mirror")]
    tuf_refresh: Duration,
}

impl ServeCommand {
    pub(crate) fn run(self, component: &ComponentSource) -> anyhow::Result<ExitCode> {
        init_json_logs();
        // Stamp first: a change made while loading is then seen by the watcher.
        let stamp = self.admission.stamp();
        let loaded = self.admission.load()?;
        tracing::info!(policies = loaded.policies.len(), "policies loaded");
        for note in loaded.trust.notes() {
            tracing::warn!("{note}");
        }
        let tuf = match &self.tuf_mirror {
            Some(mirror) => Some(self.tuf_refresher(mirror, &loaded.settings.trusted_root)?),
            None => None,
        };
        let deadline = Duration::from_secs(self.request_timeout.max(1));
        let mut options = self.registry.options();
        // Each registry call must end well inside the request's budget.
        options.limits.timeout = options.limits.timeout.min(deadline / 2);
        // Images named by the cluster never open files here (issue 8, item 6).
        options.layouts = Layouts::Refuse;
        let sources = Arc::new(Sources::new(options)?);
        let limits = Limits {
            deadline,
            // Every verification slot, a readiness check, and room to spare.
            instances: u32::try_from(self.max_verifications.saturating_add(4)).unwrap_or(u32::MAX),
            ..Limits::default()
        };
        let runtime = Arc::new(Runtime::new(component, limits)?);
        let metrics = Arc::new(Metrics::new());
        let cache = VerdictCache::new(CacheConfig {
            ttl: Duration::from_secs(self.cache_ttl),
            failure_ttl: Duration::from_secs(self.cache_failure_ttl),
            capacity: self.cache_size,
        });
        let service = Arc::new(AdmissionService::new(
            Admission {
                policies: loaded.policies,
                settings: loaded.settings,
                deadline,
                slots: SlotConfig {
                    total: self.max_verifications,
                    per_registry: self.max_verifications_per_registry,
                },
            },
            runtime,
            sources,
            Arc::new(loaded.trust),
            cache,
            Arc::clone(&metrics),
        ));
        let config = ServerConfig {
            max_body_bytes: self.max_body_bytes,
            request_timeout: deadline,
            header_timeout: Duration::from_secs(self.header_timeout.max(1)),
            body_timeout: Duration::from_secs(self.body_timeout.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout.max(1)),
            max_connections: self.max_connections.max(1),
            ..ServerConfig::new(self.listen, self.tls_cert, self.tls_key)
        };
        let io = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the I/O runtime")?;
        let reload = io.spawn(watch_policies(self.admission, stamp, Arc::clone(&service)));
        let refresh = tuf
            .map(|refresher| io.spawn(refresher.run(Arc::clone(&service), Arc::clone(&metrics))));
        io.block_on(async move {
            let bound = server::bind(config).await?;
            bound.run(service, metrics, server::shutdown_signal()).await;
            anyhow::Ok(())
        })?;
        reload.abort();
        if let Some(refresh) = refresh {
            refresh.abort();
        }
        Ok(ExitCode::from(EXIT_OK))
    }

    /// The background refresh of the default trust root from `mirror`.
    fn tuf_refresher(&self, mirror: &str, root_name: &str) -> anyhow::Result<TufRefresher> {
        anyhow::ensure!(
            [PRODUCTION_NAME, STAGING_NAME].contains(&root_name),
            "--tuf-mirror keeps the production or staging root current; it cannot be combined \
             with --trusted-root"
        );
        let args = TufArgs {
            mirror: Some(mirror.to_owned()),
            root: self.tuf_root.clone(),
        };
        let dir = crate::trust::trust_dir()
            .context("--tuf-mirror needs a trust directory: set SIGWARD_TRUST_DIR or HOME")?;
        Ok(TufRefresher {
            name: root_name.to_owned(),
            repository: args.repository(root_name)?,
            store: Store::new(&dir, root_name),
            every: self.tuf_refresh.max(Duration::from_secs(1)),
        })
    }
}

/// Keeps one trust root current from its TUF repository while the server runs.
struct TufRefresher {
    name: String,
    repository: tuf::Repository,
    store: Store,
    every: Duration,
}

/// How often the trust root's age is updated in the metrics between refreshes.
const AGE_TICK: Duration = Duration::from_secs(30);

impl TufRefresher {
    /// Refreshes now and then every `every`: a verified new root goes in force at once (and
    /// the verdict cache is emptied); a failure is logged and the root in force stays. Between
    /// refreshes the age of the root in force is kept in the metrics.
    async fn run(self, service: Arc<AdmissionService>, metrics: Arc<Metrics>) {
        let name = self.name.as_str();
        loop {
            let result =
                match tuf::refresh(&self.store, &self.repository, Timeouts::default()).await {
                    Ok(refreshed) => self.put_in_force(&refreshed, &service),
                    Err(err) => {
                        tracing::warn!(
                            root = name,
                            "trust root not refreshed, the one in force stays: {err}"
                        );
                        "failed"
                    }
                };
            metrics.trust_root_refresh(name, result);
            let next = tokio::time::Instant::now() + self.every;
            loop {
                if let Ok(Some(cached)) = self.store.current() {
                    let age = crate::fetcher::unix_now() - cached.state.refreshed;
                    metrics.trust_root_age(name, age);
                }
                let now = tokio::time::Instant::now();
                if now >= next {
                    break;
                }
                tokio::time::sleep((next - now).min(AGE_TICK)).await;
            }
        }
    }

    /// Puts the refreshed root in force if the cache rules allow it; the metrics result.
    fn put_in_force(&self, refreshed: &tuf::Refreshed, service: &AdmissionService) -> &'static str {
        let name = self.name.as_str();
        let Ok(Some(cached)) = self.store.current() else {
            tracing::warn!(
                root = name,
                "trust root refreshed but the cache cannot be read back"
            );
            return "failed";
        };
        match judge_cached(name, &cached, crate::fetcher::unix_now()) {
            Ok(_) if service.replace_trust_root(name, cached.trusted_root) => {
                tracing::info!(
                    root = name,
                    mirror = %refreshed.state.mirror,
                    sha256 = %refreshed.state.trusted_root_sha256,
                    "trust root updated from TUF"
                );
                "updated"
            }
            Ok(_) => "unchanged",
            Err(refused) => {
                tracing::warn!(root = name, "{refused}");
                "failed"
            }
        }
    }
}

/// How often the policy files are checked for changes.
const POLICY_POLL: Duration = Duration::from_secs(2);

/// Puts changed policies in force: checks the files every [`POLICY_POLL`]; a set that does not
/// load is refused with an error log and the policies in force stay.
async fn watch_policies(args: AdmissionArgs, seen: Stamp, service: Arc<AdmissionService>) {
    crate::watch::watch(
        POLICY_POLL,
        seen,
        || args.stamp(),
        |_| match args.load_policies() {
            Ok(policies) => {
                tracing::info!(policies = policies.len(), "policies reloaded");
                service.replace_policies(policies);
            }
            Err(err) => {
                tracing::error!("policies not reloaded, the previous ones stay in force: {err:#}");
            }
        },
    )
    .await;
}

/// JSON log lines on stderr, filtered by `RUST_LOG` (default `info`).
fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Another subscriber (a test harness) may already be set; keep it.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
