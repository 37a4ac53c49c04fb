//! The `[validation]` table: when nights run, how long they may take, and
//! which labelled sets and release notes the gates read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::nights::parse_hh_mm;

/// Settings of quality gates and nights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// Local time (`HH:MM`) the server runs a night when a candidate exists;
    /// empty turns the scheduler off.
    pub nightly_at: String,
    /// How long a night may take, in minutes (the runbook's `--duration 120`).
    pub night_minutes: u64,
    /// Labelled natural-language sets (directories in the CoSQA layout) for `ndcg_at_10`.
    pub labelled: Vec<PathBuf>,
    /// Queries used per labelled set (0 = all).
    pub labelled_max_queries: usize,
    /// The release notes `release_notes` looks in.
    pub release_notes: PathBuf,
    /// `tail_latency` passes when p99 is within 2 × p95 *or* within this many
    /// milliseconds of p95. 0 (the default) is the runbook's ratio alone; a
    /// shared or busy host, where one descheduled search at sub-millisecond
    /// p95 breaks any ratio, may set a floor.
    pub tail_floor_ms: f64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            nightly_at: "02:00".into(),
            night_minutes: 120,
            labelled: Vec::new(),
            labelled_max_queries: 0,
            release_notes: PathBuf::from("UPGRADE.md"),
            tail_floor_ms: 0.0,
        }
    }
}

impl ValidationConfig {
    /// The scheduler's time in minutes after midnight, `None` when off.
    pub fn nightly_at_minute(&self) -> Option<u32> {
        parse_hh_mm(&self.nightly_at)
    }

    /// Every problem, or `Ok`.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut p = Vec::new();
        if !self.nightly_at.is_empty() && self.nightly_at_minute().is_none() {
            p.push(format!(
                "validation.nightly_at = {:?} must be HH:MM (24-hour local time) or empty to turn the scheduler off",
                self.nightly_at
            ));
        }
        if !(self.tail_floor_ms >= 0.0 && self.tail_floor_ms.is_finite()) {
            p.push(format!(
                "validation.tail_floor_ms = {} must be a number of milliseconds, at least 0",
                self.tail_floor_ms
            ));
        }
        if self.night_minutes == 0 {
            p.push("validation.night_minutes must be at least 1".into());
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = ValidationConfig::default();
        assert_eq!(c.nightly_at_minute(), Some(120));
        assert!(c.validate().is_ok());
        let off = ValidationConfig {
            nightly_at: String::new(),
            ..c.clone()
        };
        assert_eq!(off.nightly_at_minute(), None);
        assert!(off.validate().is_ok());
        let bad = ValidationConfig {
            nightly_at: "25:00".into(),
            night_minutes: 0,
            ..c
        };
        assert_eq!(bad.validate().unwrap_err().len(), 2);
        let parsed: ValidationConfig =
            toml::from_str("nightly_at = \"03:15\"\nlabelled = [\"/data/cosqa\"]\n").unwrap();
        assert_eq!(parsed.nightly_at_minute(), Some(195));
        assert_eq!(parsed.labelled, [PathBuf::from("/data/cosqa")]);
        assert!(toml::from_str::<ValidationConfig>("nightly = 1\n").is_err());
    }
}
