//! The release store: one directory shared by `lens serve` and the CLI.
//!
//! ```text
//! STATE/
//!   rollout.json            the rollout state (state_file: checksummed, atomic, generation)
//!   rollout.lock            flock held across every read-modify-write of rollout.json
//!   events.jsonl            append-only: every change, refusal-free, with who and why
//!   releases/V/release.json what release V is (atomic write)
//!   releases/V/ranking.toml the ranking config it carries
//!   releases/V/bundle/      its bundle (absent for a release registered from an outside bundle)
//!   compat/V.json           the last compat drill of V
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::version::Version;
use crate::bundle::manifest::{Manifest, Source};
use crate::rank::Ranking;

/// The directory the store lives in: `explicit` (`--state`), else
/// `LENS_STATE_DIR`, else `.lens` in the working directory.
pub fn locate(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os("LENS_STATE_DIR") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(".lens"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("no release {0} in the store")]
    NoSuchRelease(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + use<> {
    let path = path.to_path_buf();
    move |source| StoreError::Io { what, path, source }
}

/// One immutable release: a bundle, a ranking config and a model id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub version: Version,
    /// The bundle directory (absolute, or relative to the release's directory).
    pub bundle: PathBuf,
    /// The model the bundle's embeddings were made with, if it has them.
    pub model_id: Option<String>,
    /// The trees it was built from (`cut-rc` rebuilds from these by default).
    pub sources: Vec<Source>,
    /// The lens version that built the bundle.
    pub built_by: String,
    /// The bundle's format and API versions.
    pub format_version: u32,
    pub api_version: String,
    /// The release it was cut from.
    pub parent: Option<Version>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// How it came to be: `registered` (an outside bundle) or `cut`.
    pub origin: String,
}

impl Release {
    /// The release a bundle's manifest describes.
    pub fn from_manifest(
        version: Version,
        bundle: PathBuf,
        m: &Manifest,
        parent: Option<Version>,
        origin: &str,
    ) -> Release {
        Release {
            version,
            bundle,
            model_id: m
                .build
                .embeddings
                .as_ref()
                .map(|e| format!("{}@{}", e.model.model_id, e.model.sha256)),
            sources: m.sources.clone(),
            built_by: m.lens_version.clone(),
            format_version: m.format_version,
            api_version: m.api_version.clone(),
            parent,
            created_at: now_rfc3339(),
            origin: origin.to_string(),
        }
    }
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    crate::bundle::manifest::rfc3339_utc(secs)
}

/// The store at a directory.
#[derive(Debug, Clone)]
pub struct ReleaseStore {
    root: PathBuf,
}

impl ReleaseStore {
    /// Opens (creating) the store at `root`.
    pub fn open(root: &Path) -> Result<ReleaseStore, StoreError> {
        for d in [
            root.to_path_buf(),
            root.join("releases"),
            root.join("compat"),
        ] {
            std::fs::create_dir_all(&d).map_err(io("create", &d))?;
        }
        let root = root.canonicalize().map_err(io("resolve", root))?;
        Ok(ReleaseStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn rollout_path(&self) -> PathBuf {
        self.root.join("rollout.json")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("rollout.lock")
    }

    pub fn events_path(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    pub fn release_dir(&self, v: &Version) -> PathBuf {
        self.root.join("releases").join(v.to_string())
    }

    pub fn compat_report_path(&self, v: &Version) -> PathBuf {
        self.root.join("compat").join(format!("{v}.json"))
    }

    /// Where a cut release's bundle goes.
    pub fn bundle_dir(&self, v: &Version) -> PathBuf {
        self.release_dir(v).join("bundle")
    }

    /// The bundle directory of `r`, resolved.
    pub fn bundle_of(&self, r: &Release) -> PathBuf {
        if r.bundle.is_absolute() {
            r.bundle.clone()
        } else {
            self.release_dir(&r.version).join(&r.bundle)
        }
    }

    pub fn has_release(&self, v: &Version) -> bool {
        self.release_dir(v).join("release.json").is_file()
    }

    pub fn read_release(&self, v: &Version) -> Result<Release, StoreError> {
        let path = self.release_dir(v).join("release.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchRelease(v.to_string()));
            }
            Err(e) => return Err(io("read", &path)(e)),
        };
        serde_json::from_slice(&text).map_err(|e| StoreError::Malformed {
            path,
            message: e.to_string(),
        })
    }

    /// The ranking config `v` carries (defaults when it has none).
    pub fn read_ranking(&self, v: &Version) -> Result<Ranking, StoreError> {
        let path = self.release_dir(v).join("ranking.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Ranking::from_toml(&text).map_err(|message| StoreError::Malformed { path, message })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ranking::default()),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    /// Writes `r` and its ranking config, each atomically.
    pub fn write_release(&self, r: &Release, ranking: &Ranking) -> Result<(), StoreError> {
        let dir = self.release_dir(&r.version);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        write_file_atomic(&dir.join("ranking.toml"), ranking.to_toml().as_bytes())?;
        let json = serde_json::to_vec_pretty(r).expect("release serialises");
        write_file_atomic(&dir.join("release.json"), &json)
    }

    /// Every release in the store, oldest version first.
    pub fn releases(&self) -> Result<Vec<Release>, StoreError> {
        let dir = self.root.join("releases");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
            let name = e.file_name();
            let Ok(v) = Version::parse(&name.to_string_lossy()) else {
                continue;
            };
            if self.has_release(&v) {
                out.push(self.read_release(&v)?);
            }
        }
        out.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(out)
    }

    /// Appends one event line (JSON) to the event log and syncs it.
    pub fn append_event(&self, event: &serde_json::Value) -> Result<(), StoreError> {
        let path = self.events_path();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("open", &path))?;
        let mut line = serde_json::to_vec(event).expect("event serialises");
        line.push(b'\n');
        f.write_all(&line).map_err(io("append", &path))?;
        f.sync_data().map_err(io("sync", &path))
    }

    /// Writes a file in the store atomically.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        write_file_atomic(path, bytes)
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same directory,
/// fsync, rename, fsync of the directory.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io("rename", path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(v: &str) -> Release {
        Release {
            version: Version::parse(v).unwrap(),
            bundle: PathBuf::from("bundle"),
            model_id: None,
            sources: vec![Source {
                name: "proj".into(),
                path: "/src/proj".into(),
                commit: None,
            }],
            built_by: "0.1.0".into(),
            format_version: 3,
            api_version: "v1".into(),
            parent: None,
            created_at: "2026-12-03T00:00:00Z".into(),
            origin: "cut".into(),
        }
    }

    #[test]
    fn releases_round_trip_in_version_order_with_their_ranking() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReleaseStore::open(&dir.path().join("s")).unwrap();
        let mut ranking = Ranking::default();
        ranking.weights.definition = 55.0;
        for v in ["1.0.0", "1.0.0-rc.2", "1.0.0-rc.10"] {
            store.write_release(&release(v), &ranking).unwrap();
        }
        let got: Vec<String> = store
            .releases()
            .unwrap()
            .iter()
            .map(|r| r.version.to_string())
            .collect();
        assert_eq!(got, ["1.0.0-rc.2", "1.0.0-rc.10", "1.0.0"]);
        let v = Version::parse("1.0.0").unwrap();
        assert_eq!(store.read_release(&v).unwrap(), release("1.0.0"));
        assert_eq!(store.read_ranking(&v).unwrap(), ranking);
        assert_eq!(
            store.bundle_of(&release("1.0.0")),
            store.release_dir(&v).join("bundle")
        );
        assert!(matches!(
            store.read_release(&Version::parse("9.9.9").unwrap()),
            Err(StoreError::NoSuchRelease(_))
        ));
    }

    #[test]
    fn a_damaged_release_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReleaseStore::open(dir.path()).unwrap();
        let v = Version::parse("2.0.0").unwrap();
        std::fs::create_dir_all(store.release_dir(&v)).unwrap();
        std::fs::write(store.release_dir(&v).join("release.json"), b"{\"version\":").unwrap();
        let e = store.read_release(&v).unwrap_err().to_string();
        assert!(e.contains("release.json"), "{e}");
    }

    #[test]
    fn locate_prefers_the_flag_then_the_environment() {
        assert_eq!(locate(Some(Path::new("/x"))), PathBuf::from("/x"));
    }
}
