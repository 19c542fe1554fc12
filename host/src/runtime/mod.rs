//! The wasmtime embedding: compiles the `sigward-policy` component once, pre-links it once,
//! and runs each call in a fresh `Store` under a memory cap and an epoch deadline.
//!
//! Two failures stay apart. What the guest should see ("not found", "registry unavailable")
//! goes back through the WIT `result` of the `fetcher` import. A trap, an exceeded limit or a
//! host fault ends the call with a [`RuntimeError`], which callers turn into "not verified,
//! because ..." and carry on: one bad call never takes the host down.
//!
//! The guest gets WASI's cli/io interfaces (std's baseline imports) with an empty context: no
//! arguments, environment, files, sockets or clocks worth the name. It also imports
//! `wasi:random/insecure-seed`, which std uses to seed `HashMap` hashing (the regex engine keeps
//! capture names in one); the host answers with a fixed seed, so calls stay deterministic. Compiled code is cached on
//! disk by wasmtime's cache (`$SIGWARD_CACHE_DIR`, else `$XDG_CACHE_HOME/sigward`, else
//! `~/.cache/sigward`), so a process pays the ~200 ms compile once per component build.

mod bindings;
mod convert;
mod deadline;

use std::path::{Path, PathBuf};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use sigward_policy::fetch::Fetch;
use sigward_policy::image::VerifyRequest;
use wasmtime::component::{Component, HasData, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder, Trap,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use sigward_policy::verdict::{BundleOutcome, Failure, Report};

use bindings::{Policy, PolicyPre};
use deadline::{Nothing, Until};

/// The components a program carries: each build of the `.wasm`, and its form precompiled for
/// this engine (empty when there is none; empty `.wasm`: not built). The `sigward` executable
/// embeds them (`host/bin`) and [`Embedded::install`]s them first thing; tests, benches and other
/// programs get them from `target/components` ([`Embedded::from_dir`]) on first use.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// The component built for every engine (no post-MVP proposals).
    pub portable: &'static [u8],
    /// `portable` precompiled by this same host at build time.
    pub portable_precompiled: &'static [u8],
    /// The component built with the wide-arithmetic proposal (faster big-integer crypto).
    pub wide: &'static [u8],
    /// `wide` precompiled by this same host at build time.
    pub wide_precompiled: &'static [u8],
}

/// The components [`ComponentSource::EmbeddedWide`] and `EmbeddedPortable` name.
static EMBEDDED: OnceLock<Embedded> = OnceLock::new();

impl Embedded {
    /// Makes these the components of this process (the first call wins).
    pub fn install(self) {
        let _ = EMBEDDED.set(self);
    }

    /// Reads what `make components` and `make build` leave in `dir`: `<name>.wasm` for
    /// `sigward-policy` and `sigward-policy-wide`, and `<name>.cwasm` when its
    /// `<name>.cwasm.sha256` is the hash of that `.wasm` (a stale one is never used). Missing
    /// files read as empty. The bytes are kept for the life of the process.
    pub fn from_dir(dir: &Path) -> Self {
        let read = |file: &str| std::fs::read(dir.join(file)).unwrap_or_default();
        let load = |name: &str| -> (&'static [u8], &'static [u8]) {
            let wasm = read(&format!("{name}.wasm"));
            let hash = sigward_policy::digest::Digest::of(&wasm);
            let fresh = std::fs::read_to_string(dir.join(format!("{name}.cwasm.sha256")))
                .is_ok_and(|stamp| stamp.trim() == hash.hex());
            let precompiled = if fresh && !wasm.is_empty() {
                read(&format!("{name}.cwasm"))
            } else {
                Vec::new()
            };
            (wasm.leak(), precompiled.leak())
        };
        let (portable, portable_precompiled) = load(PORTABLE);
        let (wide, wide_precompiled) = load(WIDE);
        Self {
            portable,
            portable_precompiled,
            wide,
            wide_precompiled,
        }
    }

    /// The installed components, else those in `$SIGWARD_COMPONENT_DIR` or this source tree's
    /// `target/components`.
    fn current() -> Self {
        *EMBEDDED.get_or_init(|| {
            let dir = std::env::var_os("SIGWARD_COMPONENT_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/components"),
                PathBuf::from,
            );
            Self::from_dir(&dir)
        })
    }
}

/// How long one epoch tick lasts; deadlines are counted in ticks.
const TICK: Duration = Duration::from_millis(10);

/// An admission decision to make in the component (`admission.evaluate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The AdmissionReview v1 JSON.
    pub review: String,
    /// ClusterImagePolicy texts (YAML or JSON; several documents each allowed).
    pub policies: Vec<String>,
    /// Images no policy matches, tag handling, trust root and time.
    pub settings: sigward_policy::admission::Settings,
    /// Answer as the mutating webhook (pin verified tags).
    pub mutate: bool,
}

/// Which component to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// The wide-arithmetic build embedded in this binary (the default).
    EmbeddedWide,
    /// The portable build embedded in this binary.
    EmbeddedPortable,
    /// A `.wasm` component file.
    File(PathBuf),
}

/// Resource limits for one call into the component, and how many calls may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory the guest may grow to.
    pub memory_bytes: usize,
    /// Wall-clock budget of one call, host fetches included.
    pub deadline: Duration,
    /// How many instances may be alive at once: the slots of wasmtime's pooling allocator,
    /// which reuses their memory between calls (zeroed, so each call still starts from a fresh
    /// instance). A call beyond it fails to instantiate, so keep it above the caller's own
    /// concurrency limit.
    pub instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            deadline: Duration::from_secs(30),
            // The admission pipeline's default verification slots (16), a readiness check,
            // and room to spare.
            instances: 20,
        }
    }
}

/// How much of a released pooled memory or table is reset in place (memset) instead of being
/// decommitted.
const KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// The most memory any pooled slot is sized for; [`Limits::memory_bytes`] caps each call
/// below it through the store's limiter.
const POOLED_MEMORY_BYTES: usize = 256 << 20;

/// Why a call into the component did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The binary was built without its component and no file was given.
    #[error(
        "this sigward was built without its component: run `make components`, or pass --component FILE"
    )]
    NotEmbedded,
    /// The component file could not be read.
    #[error("reading component {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, not chained, so it reads once).
        error: std::io::Error,
    },
    /// wasmtime refused the component (not a component, wrong world, compile failure).
    #[error("loading component: {0:#}")]
    Load(wasmtime::Error),
    /// The guest ran past its deadline.
    #[error("the verifier ran past its {0:?} deadline")]
    Deadline(Duration),
    /// The guest trapped (a panic, a memory limit, an out-of-bounds access). The message
    /// carries wasmtime's wasm backtrace: log it, show [`RuntimeError::summary`] to clients.
    #[error("the verifier trapped: {0:#}")]
    Trap(wasmtime::Error),
}

impl RuntimeError {
    /// A one-line description without internals (no wasm backtrace, no file paths), for
    /// answers sent to clients such as the API server; the full error belongs in the log.
    pub fn summary(&self) -> String {
        match self {
            Self::Trap(err) => match err.downcast_ref::<Trap>() {
                Some(trap) => format!("the verifier trapped: {trap}"),
                None => "the verifier trapped".to_owned(),
            },
            Self::Deadline(budget) => format!("the verifier ran past its {budget:?} deadline"),
            Self::NotEmbedded | Self::Read { .. } | Self::Load(_) => {
                "the verifier could not be loaded".to_owned()
            }
        }
    }
}

/// The file stems of the portable and the wide-arithmetic component in `target/components`.
const PORTABLE: &str = "sigward-policy";
const WIDE: &str = "sigward-policy-wide";

/// A component compiled ahead of time.
#[derive(Debug)]
pub struct Precompiled {
    /// The file stem (`sigward-policy-wide`, `sigward-policy`).
    pub name: &'static str,
    /// The component it was compiled from.
    pub wasm: Vec<u8>,
    /// wasmtime's precompiled artifact.
    pub native: Vec<u8>,
}

/// A compiled, pre-linked component ready for calls.
pub struct Runtime {
    engine: Engine,
    component: Component,
    pre: PolicyPre<HostState>,
    limits: Limits,
    _ticker: mpsc::Sender<()>,
}

impl Runtime {
    /// Compiles (or loads from the cache) and links the component.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NotEmbedded`], [`RuntimeError::Read`] or [`RuntimeError::Load`].
    pub fn new(source: &ComponentSource, limits: Limits) -> Result<Self, RuntimeError> {
        let mut config = config();
        config.allocation_strategy(pooling(limits));
        if let Some(cache) = cache() {
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config).map_err(RuntimeError::Load)?;
        let components = Embedded::current();
        let component = match source {
            ComponentSource::EmbeddedWide => {
                embedded(&engine, components.wide, components.wide_precompiled)?
            }
            ComponentSource::EmbeddedPortable => embedded(
                &engine,
                components.portable,
                components.portable_precompiled,
            )?,
            ComponentSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|error| RuntimeError::Read {
                    path: path.clone(),
                    error,
                })?;
                Component::new(&engine, bytes).map_err(RuntimeError::Load)?
            }
        };
        let mut linker = Linker::<HostState>::new(&engine);
        add_wasi(&mut linker).map_err(RuntimeError::Load)?;
        Policy::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(RuntimeError::Load)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(RuntimeError::Load)?;
        let pre = PolicyPre::new(pre).map_err(RuntimeError::Load)?;
        Ok(Self {
            _ticker: ticker(&engine),
            engine,
            component,
            pre,
            limits,
        })
    }

    /// Compiles both components in `dir` (`<name>.wasm`, as `make components` leaves them) ahead
    /// of time for this engine configuration, for `make build` to embed (`sigward precompile`).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Read`] (a component is missing) or [`RuntimeError::Load`].
    pub fn precompile(dir: &Path) -> Result<Vec<Precompiled>, RuntimeError> {
        let engine = Engine::new(&config()).map_err(RuntimeError::Load)?;
        [WIDE, PORTABLE]
            .into_iter()
            .map(|name| {
                let path = dir.join(format!("{name}.wasm"));
                let wasm =
                    std::fs::read(&path).map_err(|error| RuntimeError::Read { path, error })?;
                let native = engine
                    .precompile_component(&wasm)
                    .map_err(RuntimeError::Load)?;
                Ok(Precompiled { name, wasm, native })
            })
            .collect()
    }

    /// The names of the component's imports (interfaces), for auditing what it may call.
    pub fn imports(&self) -> Vec<String> {
        self.component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// Verifies one image in a fresh instance, fetching through `source`.
    ///
    /// The inner `Result` is the component's answer: a report, or a denial when the request
    /// could not be decided.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Deadline`] or [`RuntimeError::Trap`] when the guest gave no answer.
    pub fn verify_image(
        &self,
        request: &VerifyRequest,
        source: Box<dyn Fetch + Send>,
    ) -> Result<Result<Report, Failure>, RuntimeError> {
        let request = convert::verify_request(request);
        self.call(source, |policy, store| {
            policy
                .sigward_policy_verifier()
                .call_verify_image(store, &request)
        })
        .map(|answer| answer.map(convert::report).map_err(convert::failure))
    }

    /// [`Runtime::verify_image`] that also ends at `until` (a request's deadline): the guest's
    /// time limit is the smaller of [`Limits::deadline`] and the time left, and every fetch
    /// the guest asks for after `until` fails at once instead of reaching the registry.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Deadline`] or [`RuntimeError::Trap`] when the guest gave no answer.
    pub fn verify_image_until(
        &self,
        request: &VerifyRequest,
        source: Box<dyn Fetch + Send>,
        until: Instant,
    ) -> Result<Result<Report, Failure>, RuntimeError> {
        let request = convert::verify_request(request);
        let source = Box::new(Until {
            inner: source,
            until,
        });
        self.call_until(source, Some(until), |policy, store| {
            policy
                .sigward_policy_verifier()
                .call_verify_image(store, &request)
        })
        .map(|answer| answer.map(convert::report).map_err(convert::failure))
    }

    /// Whether a fresh instance of the component can be made now (for readiness probes).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Trap`] with wasmtime's reason when instantiation fails.
    pub fn check(&self) -> Result<(), RuntimeError> {
        self.call_until(Box::new(Nothing), None, |_, _| Ok(()))
    }

    /// Verifies a standalone Sigstore bundle in a fresh instance; trust roots come through
    /// `source`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Deadline`] or [`RuntimeError::Trap`] when the guest gave no answer.
    pub fn verify_bundle(
        &self,
        request: &sigward_policy::bundle::BundleRequest,
        source: Box<dyn Fetch + Send>,
    ) -> Result<Result<BundleOutcome, Failure>, RuntimeError> {
        let request = convert::bundle_request(request);
        self.call(source, |policy, store| {
            policy
                .sigward_policy_verifier()
                .call_verify_bundle(store, &request)
        })
        .map(|answer| {
            answer
                .map(convert::bundle_outcome)
                .map_err(convert::failure)
        })
    }

    /// Decides an AdmissionReview in a fresh instance through the component's
    /// `admission.evaluate` export, fetching through `source`. The answer is the
    /// AdmissionReview response JSON and the explanation lines.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Deadline`] or [`RuntimeError::Trap`] when the guest gave no answer.
    pub fn evaluate(
        &self,
        request: &Evaluation,
        source: Box<dyn Fetch + Send>,
    ) -> Result<Result<(String, Vec<String>), Failure>, RuntimeError> {
        let request = convert::admission_request(request);
        self.call(source, |policy, store| {
            policy
                .sigward_policy_admission()
                .call_evaluate(store, &request)
        })
        .map(|answer| {
            answer
                .map(|result| (result.response, result.explanation))
                .map_err(convert::failure)
        })
    }

    fn call<R>(
        &self,
        source: Box<dyn Fetch + Send>,
        f: impl FnOnce(&Policy, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, RuntimeError> {
        self.call_until(source, None, f)
    }

    /// Runs `f` in a fresh instance under the limits, and by `until` when given.
    fn call_until<R>(
        &self,
        source: Box<dyn Fetch + Send>,
        until: Option<Instant>,
        f: impl FnOnce(&Policy, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, RuntimeError> {
        let budget = match until {
            Some(until) => self
                .limits
                .deadline
                .min(until.saturating_duration_since(Instant::now())),
            None => self.limits.deadline,
        };
        if budget.is_zero() {
            return Err(RuntimeError::Deadline(budget));
        }
        let state = HostState {
            // Nothing inherited; std's HashMap seed (the regex engine keys capture names by
            // it) is fixed, so every call is deterministic.
            wasi: WasiCtx::builder().insecure_random_seed(0).build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            source,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        let ticks = budget.as_millis().div_ceil(TICK.as_millis()).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|policy| f(&policy, &mut store));
        outcome.map_err(|err| match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => RuntimeError::Deadline(budget),
            _ => RuntimeError::Trap(err),
        })
    }
}

fn embedded(engine: &Engine, wasm: &[u8], precompiled: &[u8]) -> Result<Component, RuntimeError> {
    if wasm.is_empty() {
        return Err(RuntimeError::NotEmbedded);
    }
    if !precompiled.is_empty()
        && let Ok(component) = deserialize_embedded(engine, precompiled)
    {
        return Ok(component);
    }
    // No precompiled form, or one for another engine configuration: compile (cached).
    Component::new(engine, wasm).map_err(RuntimeError::Load)
}

/// Loads the component precompiled at build time (no compilation, no cache file, ~1 ms).
#[allow(
    unsafe_code,
    reason = "wasmtime cannot check native code it deserializes; these bytes were made by this \
              same binary's wasmtime from the embedded component during `make build` \
              (host/bin/build.rs embeds them only when their recorded source hash matches) and \
              ship inside the binary, so they are as trusted as the binary itself (tests read \
              them from target/components under the same hash rule); wasmtime still refuses \
              artifacts from another version or configuration"
)]
fn deserialize_embedded(engine: &Engine, precompiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see the reason above: the bytes are this build's own `precompile_component`
    // output, embedded read-only in the executable.
    unsafe { Component::deserialize(engine, precompiled) }
}

/// wasmtime's pooling allocator sized for `limits.instances` live instances of the component
/// (a few core instances, memories and tables each). Instantiating from a pool takes a slot
/// whose memory was zeroed when it was last released, instead of mapping new memory.
fn pooling(limits: Limits) -> InstanceAllocationStrategy {
    let instances = limits.instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(4))
        .total_tables(instances.saturating_mul(8))
        .total_stacks(instances)
        .max_memory_size(limits.memory_bytes.max(POOLED_MEMORY_BYTES))
        // Reset the first pages of a released slot with memset rather than a system call
        // (still zeroed or re-initialised: each call sees a fresh instance).
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);
    InstanceAllocationStrategy::Pooling(pool)
}

/// The engine configuration every component runs under (precompiled artifacts must match it).
fn config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true).wasm_wide_arithmetic(true);
    config
}

/// wasmtime's on-disk compilation cache in sigward's own directory, when one can be made.
fn cache() -> Option<wasmtime::Cache> {
    let dir = cache_dir()?;
    std::fs::create_dir_all(&dir).ok()?;
    restrict_to_owner(&dir);
    let mut config = wasmtime::CacheConfig::new();
    config.with_directory(dir);
    match wasmtime::Cache::new(config) {
        Ok(cache) => Some(cache),
        Err(err) => {
            tracing::warn!("compilation cache disabled: {err:#}");
            None
        }
    }
}

fn cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("SIGWARD_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("sigward")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/sigward")))
}

#[cfg(unix)]
fn restrict_to_owner(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    // Compiled code is loaded from here: nobody else may write it.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn restrict_to_owner(_: &Path) {}

/// Advances the engine's epoch every [`TICK`] until the returned sender is dropped.
fn ticker(engine: &Engine) -> mpsc::Sender<()> {
    let (stop, ticks) = mpsc::channel::<()>();
    let engine = engine.clone();
    std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = ticks.recv_timeout(TICK) {
            engine.increment_epoch();
        }
    });
    stop
}

/// Links the WASI interfaces the component imports (Rust's standard library asks for them) and
/// no others: streams, the command-line interfaces (an empty environment and argument list, no
/// stdin, stdout and stderr discarded) and the insecure seed (fixed). A component that asks for
/// anything else, a clock, randomness, files or sockets, fails to link with the name of what it
/// asked for, so the verifier cannot read time or entropy from the host, and whatever it
/// decides follows from its request and what the fetcher returned. Linking only these also
/// keeps the other interfaces' host functions out of the binary.
fn add_wasi(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::WasiCli;
    use wasmtime_wasi::cli::WasiCliView as _;
    use wasmtime_wasi::p2::bindings::{cli, random, sync::io};
    use wasmtime_wasi::random::WasiRandom;

    let table: fn(&mut HostState) -> &mut ResourceTable = |state| &mut state.table;
    io::error::add_to_linker::<_, Table>(linker, table)?;
    io::poll::add_to_linker::<_, Table>(linker, table)?;
    io::streams::add_to_linker::<_, Table>(linker, table)?;
    cli::environment::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::exit::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::stdin::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::stdout::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::stderr::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(linker, HostState::cli)?;
    random::insecure_seed::add_to_linker::<_, WasiRandom>(linker, |state| state.wasi.random())?;
    Ok(())
}

/// The resource table, for the `wasi:io` interfaces.
struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

/// Per-call state: an empty WASI context, limits, and where imports fetch from.
struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    source: Box<dyn Fetch + Send>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::sigward::policy::types::Host for HostState {}

impl bindings::sigward::policy::fetcher::Host for HostState {
    fn resolve(
        &mut self,
        image: String,
    ) -> Result<
        bindings::sigward::policy::types::Manifest,
        bindings::sigward::policy::types::FetchError,
    > {
        self.source
            .resolve(&image)
            .map(convert::manifest)
            .map_err(convert::fetch_error)
    }

    fn attached(
        &mut self,
        image: String,
        digest: String,
        kinds: bindings::sigward::policy::types::MaterialKinds,
    ) -> Result<
        bindings::sigward::policy::types::SignatureMaterial,
        bindings::sigward::policy::types::FetchError,
    > {
        self.source
            .attached(&image, &digest, convert::kinds(kinds))
            .map(convert::material)
            .map_err(convert::fetch_error)
    }

    fn trusted_root(
        &mut self,
        name: String,
    ) -> Result<Vec<u8>, bindings::sigward::policy::types::FetchError> {
        self.source
            .trusted_root(&name)
            .map_err(convert::fetch_error)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod lying;
