//! What bounds the connections of `sigward serve`: a cap on how many are open, the phase of each
//! ([`Phase`]: idle, receiving a request's headers, or busy with a request) and how idle ones
//! are closed, on their idle timeout or early when the cap is reached.
//!
//! The phase is followed from the bytes themselves ([`Watched`] sees every plaintext byte read
//! from the client), because hyper's own header timer starts when it begins waiting for a
//! request and so cannot tell an idle keep-alive connection from one that trickles headers.
//!
//! Back-pressure: when [`ServerConfig::max_connections`](super::ServerConfig::max_connections)
//! connections are open, the accept loop stops accepting (new connections wait in the kernel's
//! listen backlog, as Go's `netutil.LimitListener` and nginx's `worker_connections` make them)
//! and asks the connections idle longest — keep-alive connections between requests, or
//! connections that finished their TLS handshake and sent nothing yet — to close, at most
//! [`SHED_BATCH`] at a time (nginx drains its idle keep-alive connections the same way when it
//! runs out). A flood of idle connections therefore never keeps a new request waiting for longer
//! than it takes to close some of them; connections that are busy are bounded by the handshake,
//! header and body timeouts instead, and by the request deadline.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How many idle connections are asked to close each time the cap is hit.
pub(crate) const SHED_BATCH: usize = 32;

/// How often idle connections are asked to close while the cap is reached.
pub(crate) const SHED_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// The open connections and the cap on them.
pub(crate) struct Connections {
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnectionState>>>,
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// In its TLS handshake, or answering a request (headers complete).
    Busy,
    /// Waiting for a request, with nothing received since the given time.
    Idle(Instant),
    /// Receiving a request's headers, since the first byte arrived at the given time.
    Headers(Instant),
}

/// One connection's state, shared by its task, its request handler and [`Connections`].
pub(crate) struct ConnectionState {
    phase: Mutex<Phase>,
    /// Woken when the connection should close as soon as it is idle.
    pub(crate) shed: Notify,
    /// Whether it was asked to close and has not declined (being busy) yet.
    asked: AtomicBool,
}

/// A connection's place under the cap; dropping it frees the place and forgets the connection.
pub(crate) struct Slot {
    id: u64,
    connections: Arc<Connections>,
    _permit: OwnedSemaphorePermit,
}

/// Marks a connection busy while it lives (one request being answered); idle again on drop.
pub(crate) struct Busy(Arc<ConnectionState>);

impl Connections {
    /// Room for `max` open connections (at least one).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(max.max(1))),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for room for one more connection. While there is none, the connections idle
    /// longest are asked to close (see the module docs), again every [`SHED_RETRY`] as long as
    /// the wait lasts (connections still in their handshake become idle meanwhile); `on_shed`
    /// is told how many each time.
    pub(crate) async fn reserve(self: &Arc<Self>, on_shed: impl Fn(usize)) -> Reservation {
        let permit = loop {
            if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
                break permit;
            }
            on_shed(self.shed_idle());
            match tokio::time::timeout(SHED_RETRY, Arc::clone(&self.slots).acquire_owned()).await {
                Ok(Ok(permit)) => break permit,
                Ok(Err(_)) => {
                    // The semaphore is never closed; if it were, nothing more is accepted.
                    std::future::pending::<()>().await;
                }
                Err(_) => {}
            }
        };
        Reservation {
            connections: Arc::clone(self),
            permit,
        }
    }

    /// How many connections are open (accepted and not yet closed).
    pub(crate) fn open(&self) -> usize {
        self.lock().len()
    }

    /// Asks up to [`SHED_BATCH`] of the connections idle longest to close; returns how many.
    fn shed_idle(&self) -> usize {
        let open = self.lock();
        let mut idle: Vec<(Instant, &Arc<ConnectionState>)> = open
            .values()
            .filter(|state| !state.asked.load(Ordering::SeqCst))
            .filter_map(|state| match state.phase() {
                Phase::Idle(since) => Some((since, state)),
                Phase::Busy | Phase::Headers(_) => None,
            })
            .collect();
        idle.sort_by_key(|(since, _)| *since);
        let shed = idle.len().min(SHED_BATCH);
        for (_, state) in idle.into_iter().take(SHED_BATCH) {
            state.asked.store(true, Ordering::SeqCst);
            state.shed.notify_one();
        }
        shed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnectionState>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Room reserved by [`Connections::reserve`], not yet given to a connection.
pub(crate) struct Reservation {
    connections: Arc<Connections>,
    permit: OwnedSemaphorePermit,
}

impl Reservation {
    /// Gives the room to a newly accepted connection (busy until [`ConnectionState::idle`]).
    pub(crate) fn admit(self) -> (Slot, Arc<ConnectionState>) {
        let id = self.connections.next_id.fetch_add(1, Ordering::Relaxed);
        // Busy until its TLS handshake is done: a connection still handshaking is not idle, and
        // must not be shed the moment it could send its first request.
        let state = Arc::new(ConnectionState {
            phase: Mutex::new(Phase::Busy),
            shed: Notify::new(),
            asked: AtomicBool::new(false),
        });
        self.connections.lock().insert(id, Arc::clone(&state));
        let slot = Slot {
            id,
            connections: self.connections,
            _permit: self.permit,
        };
        (slot, state)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
    }
}

impl ConnectionState {
    /// The connection's phase now.
    pub(crate) fn phase(&self) -> Phase {
        *self.lock()
    }

    /// Marks the connection idle from now on (its handshake is done, or its request answered).
    pub(crate) fn idle(&self) {
        *self.lock() = Phase::Idle(Instant::now());
    }

    /// Declines a request to close (the connection became busy meanwhile); it may be asked
    /// again.
    pub(crate) fn decline(&self) {
        self.asked.store(false, Ordering::SeqCst);
    }

    /// Marks the connection busy until the returned guard is dropped.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        *self.lock() = Phase::Busy;
        Busy(Arc::clone(self))
    }

    /// Bytes arrived: an idle connection is now receiving a request's headers.
    fn received(&self) {
        let mut phase = self.lock();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Headers(Instant::now());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle();
    }
}

/// A client stream that tells its [`ConnectionState`] when bytes arrive.
pub(crate) struct Watched<T> {
    io: T,
    state: Arc<ConnectionState>,
}

impl<T> Watched<T> {
    /// Watches `io` for `state`.
    pub(crate) fn new(io: T, state: Arc<ConnectionState>) -> Self {
        Self { io, state }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() > before
        {
            self.state.received();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
