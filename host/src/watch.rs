//! Following files that change while `sigward serve` runs (TLS certificates as cert-manager
//! rotates them, policies in a mounted ConfigMap): poll, compare each file's length and
//! modification time with what was seen last (following symbolic links, so the `..data` swap of
//! a Kubernetes volume counts), and call back when anything differs. The callback decides what
//! a change means and keeps what is in force when the new files do not load.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// What a set of files looked like when checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp(Result<Vec<FileStamp>, io::ErrorKind>);

/// One file's path, length and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    /// The stamp of `paths` (the list itself may have failed, e.g. an unreadable directory).
    pub(crate) fn of(paths: io::Result<Vec<PathBuf>>) -> Stamp {
        let stamps = paths.and_then(|paths| {
            paths
                .into_iter()
                .map(|path| {
                    let meta = std::fs::metadata(&path)?;
                    Ok(FileStamp {
                        len: meta.len(),
                        modified: meta.modified().ok(),
                        path,
                    })
                })
                .collect()
        });
        Stamp(stamps.map_err(|err| err.kind()))
    }

    /// Why the files could not be looked at, if they could not.
    pub(crate) fn unreadable(&self) -> Option<io::ErrorKind> {
        self.0.as_ref().err().copied()
    }
}

/// Every `every`, stamps the files (`stamp`) and calls `changed` with the new stamp when it
/// differs from the last one (`seen` at first: take it before loading, so a change made while
/// loading is noticed). Runs until its task is aborted.
pub(crate) async fn watch(
    every: Duration,
    mut seen: Stamp,
    mut stamp: impl FnMut() -> Stamp,
    mut changed: impl FnMut(&Stamp),
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = stamp();
        if now != seen {
            seen = now;
            changed(&seen);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn a_stamp_changes_with_length_time_list_or_readability() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, b"one").unwrap();
        let stamp = || Stamp::of(Ok(vec![file.clone()]));
        let first = stamp();
        assert_eq!(first, stamp());
        assert_eq!(first.unreadable(), None);
        std::fs::write(&file, b"three").unwrap();
        assert_ne!(first, stamp());
        assert_ne!(stamp(), Stamp::of(Ok(vec![])));
        let missing = Stamp::of(Ok(vec![dir.path().join("missing")]));
        assert_eq!(missing.unreadable(), Some(io::ErrorKind::NotFound));
        let listed = Stamp::of(Err(io::Error::from(io::ErrorKind::PermissionDenied)));
        assert_eq!(listed.unreadable(), Some(io::ErrorKind::PermissionDenied));
    }

    #[tokio::test]
    async fn calls_back_once_per_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, b"one").unwrap();
        let paths = {
            let file = file.clone();
            move || Stamp::of(Ok(vec![file.clone()]))
        };
        let calls = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&calls);
        let every = Duration::from_millis(20);
        let task = tokio::spawn(watch(every, paths(), paths, move |_| {
            *counter.lock().unwrap() += 1;
        }));
        tokio::time::sleep(every * 5).await;
        assert_eq!(*calls.lock().unwrap(), 0, "no change, no call");
        std::fs::write(&file, b"three").unwrap();
        for _ in 0..500 {
            if *calls.lock().unwrap() > 0 {
                break;
            }
            tokio::time::sleep(every).await;
        }
        tokio::time::sleep(every * 5).await;
        assert_eq!(*calls.lock().unwrap(), 1, "one change, one call");
        task.abort();
    }
}
