//! The rollout state on disk: atomic, checksummed, locked.
//!
//! A state file is one JSON object:
//! `{"format": 1, "checksum": "<16 hex digits>", "state": {…}}` where the
//! checksum is xxh3-64 of the compact JSON serialization of `state`. Writes go
//! to a temp file in the same directory, are fsynced, renamed over the old
//! file and the directory is fsynced, so a crash leaves either the old or the
//! new state. Reading never guesses: anything unreadable, torn, failing its
//! checksum, unparsable or written by a newer format is
//! [`StateRead::Unsafe`], which the server must treat as 0% candidate traffic
//! (the kill switch fails safe) and show in health.
//!
//! [`update`] holds a [`StoreLock`] (an exclusive `flock` on a separate lock
//! file) across read-modify-write, so `lens` CLI commands and a running server
//! serialise their changes and never lose each other's writes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::rollout::RolloutState;

/// The format this code writes and the newest it reads.
pub const FORMAT: u64 = 1;

/// Why a state file cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeReason {
    /// The file exists but could not be read.
    #[error("state file unreadable: {0}")]
    Unreadable(String),
    /// Not valid JSON: typically a torn or truncated write.
    #[error("state file is not valid JSON (torn or truncated?): {0}")]
    NotJson(String),
    /// `format` is missing or not a number.
    #[error("state file has no format number")]
    NoFormat,
    /// Written by a newer lens.
    #[error("state file format {found} is newer than the supported {FORMAT}")]
    NewerFormat {
        /// The file's format.
        found: u64,
    },
    /// `checksum` or `state` is missing, or the checksum does not match.
    #[error("state file checksum {}", match .found { Some(f) => format!("mismatch (file {f}, content {})", .computed), None => "missing".to_string() })]
    Checksum {
        /// The stored checksum, if any.
        found: Option<String>,
        /// The checksum of the stored state.
        computed: String,
    },
    /// The checksum matched but the state does not fit the schema.
    #[error("state file content does not parse as a rollout state: {0}")]
    BadState(String),
}

/// The result of reading a state file.
#[derive(Debug, Clone, PartialEq)]
pub enum StateRead {
    /// A trustworthy state (boxed: it is large and read rarely).
    Ok(Box<RolloutState>),
    /// No file yet: a fresh store.
    Missing,
    /// A file that cannot be trusted; serve 0% candidate traffic.
    Unsafe {
        /// Why, for health output.
        reason: UnsafeReason,
    },
}

/// Failures writing or updating the state.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError<E: std::error::Error + 'static = std::convert::Infallible> {
    /// A filesystem operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The state could not be serialised (not expected for valid states).
    #[error("cannot serialise the rollout state: {0}")]
    Serialize(#[from] serde_json::Error),
    /// [`update`] found an untrustworthy file and will not overwrite it.
    #[error("refusing to update: {0}")]
    Unsafe(UnsafeReason),
    /// The update function refused.
    #[error(transparent)]
    Rejected(E),
}

fn io_err<E: std::error::Error + 'static>(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> StateFileError<E> + use<E> {
    let path = path.to_path_buf();
    move |source| StateFileError::Io { what, path, source }
}

fn checksum_hex(body: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(body))
}

/// Serialises a state into the file layout (compact, newline-terminated):
/// `{"format":N,"checksum":"HEX","state":BODY}` where the checksum is over
/// BODY's exact bytes (re-serialising parsed floats would not reproduce them).
pub fn encode(state: &RolloutState) -> Result<Vec<u8>, serde_json::Error> {
    let body = serde_json::to_vec(state)?;
    let mut out = format!(
        "{{\"format\":{FORMAT},\"checksum\":\"{}\",\"state\":",
        checksum_hex(&body)
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out.extend_from_slice(b"}\n");
    Ok(out)
}

/// The bytes of the `state` value as the writer laid them out.
fn state_body(bytes: &[u8]) -> Option<&[u8]> {
    const KEY: &[u8] = b"\"state\":";
    let start = memchr::memmem::find(bytes, KEY)? + KEY.len();
    let end = bytes.iter().rposition(|&b| b == b'}')?;
    (start <= end).then(|| &bytes[start..end])
}

/// Interprets the bytes of a state file.
pub fn decode(bytes: &[u8]) -> StateRead {
    let unsafe_ = |reason| StateRead::Unsafe { reason };
    let doc: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return unsafe_(UnsafeReason::NotJson(e.to_string())),
    };
    let Some(format) = doc.get("format").and_then(Value::as_u64) else {
        return unsafe_(UnsafeReason::NoFormat);
    };
    if format > FORMAT {
        return unsafe_(UnsafeReason::NewerFormat { found: format });
    }
    if format != FORMAT {
        return unsafe_(UnsafeReason::NoFormat);
    }
    let found = doc
        .get("checksum")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(state_value) = doc.get("state") else {
        return unsafe_(UnsafeReason::Checksum {
            found,
            computed: "(no state)".into(),
        });
    };
    let computed = match state_body(bytes) {
        Some(body) => checksum_hex(body),
        None => "(no state body)".to_string(),
    };
    if found.as_deref() != Some(computed.as_str()) {
        return unsafe_(UnsafeReason::Checksum { found, computed });
    }
    match serde_json::from_value::<RolloutState>(state_value.clone()) {
        Ok(state) => StateRead::Ok(Box::new(state)),
        Err(e) => unsafe_(UnsafeReason::BadState(e.to_string())),
    }
}

/// Reads the state at `path`; see [`StateRead`].
pub fn read(path: &Path) -> StateRead {
    let mut bytes = Vec::new();
    match File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => decode(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => StateRead::Missing,
        Err(e) => StateRead::Unsafe {
            reason: UnsafeReason::Unreadable(e.to_string()),
        },
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `state` to `path` atomically: temp file in the same directory,
/// fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, state: &RolloutState) -> Result<(), StateFileError> {
    let bytes = encode(state)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(&bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io_err("rename onto", path))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory", &dir))
    })();
    if result.is_err() {
        // Best effort: a leftover temp file is harmless but untidy.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An exclusive advisory lock (`flock(LOCK_EX)`) on a lock file, released
/// when dropped. Every writer of the store takes it, in or out of process.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
}

impl StoreLock {
    /// Blocks until the lock on `lock_path` (created if missing) is held.
    pub fn acquire(lock_path: &Path) -> io::Result<StoreLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(lock_path)?;
        loop {
            // SAFETY: `file` owns a valid open descriptor for this call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(StoreLock { file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock anyway; unlocking first
        // makes the release explicit and immediate.
        // SAFETY: the descriptor is still open; a failure here is harmless.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Read-modify-write under the store lock: reads the state (a missing file
/// is the default state), calls `f`, writes its result atomically and
/// returns it. An unsafe file is left alone (`StateFileError::Unsafe`): the
/// server already serves 0% candidate traffic from it, and an operator must
/// look before anything overwrites the evidence.
pub fn update<E, F>(path: &Path, lock_path: &Path, f: F) -> Result<RolloutState, StateFileError<E>>
where
    E: std::error::Error + 'static,
    F: FnOnce(&RolloutState) -> Result<RolloutState, E>,
{
    let _lock = StoreLock::acquire(lock_path).map_err(io_err("lock", lock_path))?;
    let current = match read(path) {
        StateRead::Ok(s) => *s,
        StateRead::Missing => RolloutState::default(),
        StateRead::Unsafe { reason } => return Err(StateFileError::Unsafe(reason)),
    };
    let next = f(&current).map_err(StateFileError::Rejected)?;
    write_atomic(path, &next).map_err(|e| match e {
        StateFileError::Io { what, path, source } => StateFileError::Io { what, path, source },
        StateFileError::Serialize(e) => StateFileError::Serialize(e),
        StateFileError::Unsafe(r) => StateFileError::Unsafe(r),
        StateFileError::Rejected(never) => match never {},
    })?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::canary_config::CanaryConfig;
    use crate::release::rollout::{Event, apply};
    use crate::release::version::Version;

    fn sample_state() -> RolloutState {
        let cfg = CanaryConfig::default();
        let s = RolloutState::with_stable(Version::parse("1.0.0").unwrap(), 5);
        let (s, _) = apply(
            &s,
            Event::CutCandidate {
                version: Version::parse("1.1.0-rc.1").unwrap(),
            },
            1_000,
            &cfg,
        )
        .unwrap();
        let (s, _) = apply(
            &s,
            Event::Progress {
                restart: false,
                approved_by: Some("alice".into()),
            },
            2_000,
            &cfg,
        )
        .unwrap();
        let (s, _) = apply(
            &s,
            Event::KillSwitch {
                reason: "p95 \"regression\" ✓".into(),
                by: "oncall".into(),
            },
            3_000,
            &cfg,
        )
        .unwrap();
        s
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.json");
        assert_eq!(read(&path), StateRead::Missing);
        let s = sample_state();
        write_atomic(&path, &s).unwrap();
        assert_eq!(read(&path), StateRead::Ok(Box::new(s.clone())));
        // Overwrite, and no temp files are left behind.
        let s2 = RolloutState::default();
        write_atomic(&path, &s2).unwrap();
        assert_eq!(read(&path), StateRead::Ok(Box::new(s2)));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("rollout.json")]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"format\":1,") || text.contains("\"format\":1"));
    }

    /// Floats a judged interval carries (p-values, ratios) do not survive a
    /// parse and re-serialise bit for bit; the checksum is over the written bytes.
    #[test]
    fn judged_intervals_with_awkward_floats_read_back() {
        use crate::release::judge::{ArmWindow, judge};
        let cfg = CanaryConfig::default();
        let s = RolloutState::with_stable(Version::parse("1.0.0").unwrap(), 5);
        let cut = Event::CutCandidate {
            version: Version::parse("1.1.0-rc.1").unwrap(),
        };
        let (s, _) = apply(&s, cut, 1_000, &cfg).unwrap();
        let go = Event::Progress {
            restart: false,
            approved_by: None,
        };
        let (mut s, _) = apply(&s, go, 2_000, &cfg).unwrap();
        let arm = |k: f64| ArmWindow {
            requests: 300,
            errors: 7,
            latencies_ms: (0..300)
                .map(|i| (i as f64 * k).sin().abs() * 3.3 + 0.1)
                .collect(),
        };
        for i in 0..5u64 {
            let interval = judge(&cfg, &arm(0.7), &arm(0.9 + i as f64 / 3.0));
            s = apply(&s, Event::IntervalJudged(interval), 3_000 + i, &cfg)
                .unwrap()
                .0;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.json");
        write_atomic(&path, &s).unwrap();
        assert_eq!(read(&path), StateRead::Ok(Box::new(s)));
    }

    #[test]
    fn every_truncation_is_unsafe_never_a_wrong_state() {
        let s = sample_state();
        let bytes = encode(&s).unwrap();
        for len in 0..bytes.len() {
            match decode(&bytes[..len]) {
                StateRead::Unsafe { .. } => {}
                // Only dropping the trailing newline leaves a whole file.
                StateRead::Ok(got) => {
                    assert_eq!(len, bytes.len() - 1);
                    assert_eq!(*got, s);
                }
                StateRead::Missing => panic!("decode never says missing"),
            }
        }
    }

    #[test]
    fn every_flipped_byte_is_unsafe_or_the_same_state() {
        let s = sample_state();
        let bytes = encode(&s).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            match decode(&b) {
                StateRead::Unsafe { .. } => {}
                // A flip inside insignificant whitespace could still parse;
                // then it must be the same state, never a different one.
                StateRead::Ok(got) => assert_eq!(*got, s, "byte {i}"),
                StateRead::Missing => panic!(),
            }
        }
        // A flip in the middle of the state is caught by the checksum.
        let mut b = bytes.clone();
        let pos = b
            .windows(6)
            .position(|w| w == b"oncall")
            .expect("by field present");
        b[pos] = b'O';
        assert!(matches!(
            decode(&b),
            StateRead::Unsafe {
                reason: UnsafeReason::Checksum { found: Some(_), .. }
            }
        ));
    }

    #[test]
    fn newer_or_missing_format_is_unsafe() {
        let s = sample_state();
        let text = String::from_utf8(encode(&s).unwrap()).unwrap();
        let newer = text.replace("\"format\":1", "\"format\":2");
        assert_eq!(
            decode(newer.as_bytes()),
            StateRead::Unsafe {
                reason: UnsafeReason::NewerFormat { found: 2 }
            }
        );
        let none = text.replace("\"format\":1,", "");
        assert_eq!(
            decode(none.as_bytes()),
            StateRead::Unsafe {
                reason: UnsafeReason::NoFormat
            }
        );
        assert!(matches!(
            decode(br#"{"format":1,"state":{}}"#),
            StateRead::Unsafe {
                reason: UnsafeReason::Checksum { found: None, .. }
            }
        ));
    }

    #[test]
    fn checksum_valid_but_wrong_schema_is_unsafe() {
        let body = br#"{"generation":"x"}"#;
        let doc = format!(
            r#"{{"format":1,"checksum":"{}","state":{}}}"#,
            checksum_hex(body),
            std::str::from_utf8(body).unwrap()
        );
        assert!(matches!(
            decode(doc.as_bytes()),
            StateRead::Unsafe {
                reason: UnsafeReason::BadState(_)
            }
        ));
    }

    #[test]
    fn unreadable_file_is_unsafe() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be cannot be read as a file.
        let path = dir.path().join("rollout.json");
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(
            read(&path),
            StateRead::Unsafe {
                reason: UnsafeReason::Unreadable(_)
            }
        ));
        assert!(read(&path) != StateRead::Ok(Box::default()));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("no")]
    struct No;

    #[test]
    fn update_refuses_unsafe_and_passes_rejection_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.json");
        let lock = dir.path().join("rollout.lock");
        std::fs::write(&path, b"{\"format\":1,").unwrap();
        let r = update::<No, _>(&path, &lock, |s| Ok(s.clone()));
        assert!(matches!(
            r,
            Err(StateFileError::Unsafe(UnsafeReason::NotJson(_)))
        ));
        // The evidence is untouched.
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"format\":1,");

        std::fs::remove_file(&path).unwrap();
        let r = update(&path, &lock, |_| Err::<RolloutState, _>(No));
        assert!(matches!(r, Err(StateFileError::Rejected(No))));
        assert_eq!(read(&path), StateRead::Missing);
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.json");
        let lock = dir.path().join("rollout.lock");
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        update::<No, _>(&path, &lock, |s| {
                            let mut next = s.clone();
                            next.generation += 1;
                            Ok(next)
                        })
                        .unwrap();
                    }
                });
            }
        });
        match read(&path) {
            StateRead::Ok(s) => assert_eq!(s.generation, 400),
            other => panic!("{other:?}"),
        }
    }
}
