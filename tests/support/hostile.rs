//! A hostile registry for fault injection (issue 8, item 15): a raw HTTP/1.1 server on a free
//! loopback port that answers each path with a scripted misbehaviour (never answering, stalling
//! after the headers, trickling, lying about sizes and digests, redirecting in circles or to
//! another host, asking for tokens elsewhere) and records every request. Raw sockets rather
//! than an HTTP library, since most of these are things an HTTP library will not do.
//!
//! Every connection thread ends when the server is dropped (they poll a stop flag), and every
//! endless answer stops when the client goes away.

use std::collections::HashMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How the hostile registry answers one path.
#[derive(Clone)]
pub(crate) enum Act {
    /// A status, headers and a body, sent whole with an honest `Content-Length`.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Reads the request and never answers.
    Hang,
    /// 200 and headers announcing `length` bytes, then nothing.
    StallAfterHeaders { length: u64 },
    /// 200 announcing `body.len()` bytes, then one byte a second.
    Trickle { body: Vec<u8> },
    /// 200 announcing `length` bytes, then filler bytes until the client goes away.
    Announce { length: u64 },
    /// 200 announcing `head.len() + repeat.len() * count + tail.len()` bytes, sent as they are
    /// generated: a body too large to build in memory first.
    Generate {
        head: Vec<u8>,
        repeat: Vec<u8>,
        count: u64,
        tail: Vec<u8>,
    },
    /// Waits `delay`, then acts.
    Delay { delay: Duration, then: Box<Act> },
    /// `then` for requests whose `Authorization` is exactly `authorization`; otherwise 401 with
    /// `WWW-Authenticate: challenge`.
    Guard {
        authorization: String,
        challenge: String,
        then: Box<Act>,
    },
}

impl Act {
    /// 200 with `body`.
    pub(crate) fn ok(body: impl Into<Vec<u8>>) -> Act {
        Act::Respond {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// 200 with `body` and headers.
    pub(crate) fn ok_with(body: impl Into<Vec<u8>>, headers: Vec<(&'static str, String)>) -> Act {
        Act::Respond {
            status: 200,
            headers,
            body: body.into(),
        }
    }

    /// `status` with headers and an empty body.
    pub(crate) fn status(status: u16, headers: Vec<(&'static str, String)>) -> Act {
        Act::Respond {
            status,
            headers,
            body: Vec::new(),
        }
    }
}

/// One request the hostile registry received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// Path and query.
    pub(crate) target: String,
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<String>,
}

/// A running hostile registry, stopped when dropped.
pub(crate) struct HostileRegistry {
    /// `127.0.0.1:PORT`.
    pub(crate) host: String,
    requests: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl HostileRegistry {
    /// Serves `routes` (path without query → act); `GET /v2/` answers 200 unless routed, any
    /// other path 404.
    pub(crate) fn start(routes: HashMap<String, Act>) -> HostileRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let host = listener.local_addr().expect("local address").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let routes = Arc::new(routes);
        {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (routes, requests, stop) = (
                                Arc::clone(&routes),
                                Arc::clone(&requests),
                                Arc::clone(&stop),
                            );
                            thread::spawn(move || serve(stream, &routes, &requests, &stop));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        HostileRegistry {
            host,
            requests,
            stop,
        }
    }

    /// The requests received so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.requests.lock().expect("request log").clone()
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Answers the requests of one connection until it closes or the server stops.
fn serve(
    mut stream: TcpStream,
    routes: &HashMap<String, Act>,
    requests: &Mutex<Vec<Seen>>,
    stop: &AtomicBool,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    loop {
        let Some(head) = read_head(&mut stream, stop) else {
            return;
        };
        let target = head
            .lines()
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .unwrap_or("/")
            .to_owned();
        let authorization = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().to_owned())
        });
        requests.lock().expect("request log").push(Seen {
            target: target.clone(),
            authorization: authorization.clone(),
        });
        let path = target.split('?').next().unwrap_or_default();
        let act = match routes.get(path) {
            Some(act) => act.clone(),
            None if path == "/v2/" => Act::ok("{}"),
            None => Act::Respond {
                status: 404,
                headers: Vec::new(),
                body: br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#.to_vec(),
            },
        };
        if !act_on(&mut stream, act, authorization.as_deref(), stop) {
            return;
        }
    }
}

/// Carries out `act`; false when the connection is done with.
fn act_on(
    stream: &mut TcpStream,
    act: Act,
    authorization: Option<&str>,
    stop: &AtomicBool,
) -> bool {
    match act {
        Act::Respond {
            status,
            headers,
            body,
        } => {
            let length = body.len() as u64;
            write_head(stream, status, &headers, length)
                && stream.write_all(&body).is_ok()
                && stream.flush().is_ok()
        }
        Act::Hang => {
            wait(stop, Duration::from_secs(3600));
            false
        }
        Act::StallAfterHeaders { length } => {
            write_head(stream, 200, &[], length);
            wait(stop, Duration::from_secs(3600));
            false
        }
        Act::Trickle { body } => {
            if !write_head(stream, 200, &[], body.len() as u64) {
                return false;
            }
            for byte in body {
                if stop.load(Ordering::Relaxed) || stream.write_all(&[byte]).is_err() {
                    return false;
                }
                let _ = stream.flush();
                wait(stop, Duration::from_secs(1));
            }
            true
        }
        Act::Announce { length } => {
            if !write_head(stream, 200, &[], length) {
                return false;
            }
            let filler = vec![b'x'; 64 * 1024];
            while !stop.load(Ordering::Relaxed) && stream.write_all(&filler).is_ok() {}
            false
        }
        Act::Generate {
            head,
            repeat,
            count,
            tail,
        } => {
            let length = head.len() as u64 + repeat.len() as u64 * count + tail.len() as u64;
            if !write_head(stream, 200, &[], length) || stream.write_all(&head).is_err() {
                return false;
            }
            for _ in 0..count {
                if stop.load(Ordering::Relaxed) || stream.write_all(&repeat).is_err() {
                    return false;
                }
            }
            stream.write_all(&tail).is_ok()
        }
        Act::Delay { delay, then } => {
            wait(stop, delay);
            !stop.load(Ordering::Relaxed) && act_on(stream, *then, authorization, stop)
        }
        Act::Guard {
            authorization: wanted,
            challenge,
            then,
        } => {
            if authorization == Some(wanted.as_str()) {
                act_on(stream, *then, authorization, stop)
            } else {
                let headers = [("WWW-Authenticate", challenge)];
                write_head(stream, 401, &headers, 0)
            }
        }
    }
}

/// Reads one request head (and discards any body: these requests are GETs). None when the
/// connection closed or the server stopped.
fn read_head(stream: &mut TcpStream, stop: &AtomicBool) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stop.load(Ordering::Relaxed) || head.len() > 64 * 1024 {
            return None;
        }
        match stream.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) => head.push(byte[0]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn write_head(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&'static str, String)],
    length: u64,
) -> bool {
    let mut head = format!("HTTP/1.1 {status} Hostile\r\nContent-Length: {length}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).is_ok() && stream.flush().is_ok()
}

/// Sleeps up to `duration`, returning early when the server stops.
fn wait(stop: &AtomicBool, duration: Duration) {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < duration && !stop.load(Ordering::Relaxed) {
        thread::sleep(step);
        waited += step;
    }
}
