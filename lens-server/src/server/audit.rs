//! Append-only JSON-lines audit log: every denial and every operations call.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub struct AuditLog {
    file: Mutex<File>,
}

#[derive(Debug, serde::Serialize)]
pub struct AuditEvent<'a> {
    pub time: String,
    pub trace_id: &'a str,
    /// The key's id, never the key.
    pub key_id: Option<&'a str>,
    pub route: &'a str,
    pub method: &'a str,
    /// `allow`, `deny` or `would_deny` (permissive policy).
    pub decision: &'a str,
    pub reasons: Vec<&'a str>,
    pub status: u16,
    /// For a change: its reason and the state before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<serde_json::Value>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog {
            file: Mutex::new(file),
        })
    }

    /// One line per event, written with a single `write_all` on an append-only file.
    pub fn record(&self, event: &AuditEvent<'_>) {
        let mut line = serde_json::to_vec(event).expect("audit event serialises");
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(&line) {
            eprintln!("lens: audit log write failed: {e}");
        }
    }
}

pub use lens_core::release::store::now_rfc3339;
