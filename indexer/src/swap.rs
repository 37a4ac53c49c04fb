//! Making a finished bundle visible atomically.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::BuildError;

/// The temporary directory a build of `out` writes into.
pub fn temp_dir_for(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    out.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Removes temporary directories left by builds of `out` whose process is gone.
pub fn remove_stale_temps(out: &Path) {
    let Some(parent) = out.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    }) else {
        return;
    };
    let Some(name) = out.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let fname = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = fname.strip_prefix(&prefix) {
            let alive = Path::new("/proc").join(pid).exists();
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Puts `tmp` at `out`. When `out` holds a previous bundle the two are
/// exchanged in one `renameat2(RENAME_EXCHANGE)`, so a reader or a crash sees
/// either the old or the new bundle, never neither; the old one is then removed.
pub fn install(tmp: &Path, out: &Path) -> Result<(), BuildError> {
    let io = |e: std::io::Error| BuildError::Io {
        path: out.to_path_buf(),
        source: e,
    };
    if out.exists() {
        if !out.join(lens_core::bundle::MANIFEST_FILE).is_file()
            && std::fs::read_dir(out).map_err(io)?.next().is_some()
        {
            return Err(BuildError::NotABundle(out.to_path_buf()));
        }
        exchange(tmp, out).map_err(io)?;
        std::fs::remove_dir_all(tmp).map_err(|e| BuildError::Io {
            path: tmp.to_path_buf(),
            source: e,
        })?;
    } else {
        std::fs::rename(tmp, out).map_err(io)?;
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        lens_core::bundle::sync_dir(parent).map_err(BuildError::Core)?;
    }
    Ok(())
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both arguments are valid NUL-terminated paths for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
