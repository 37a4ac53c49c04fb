//! Nights and promotability.
//!
//! A candidate is promotable after [`REQUIRED_NIGHTS`] passing nights in a
//! row on that same candidate. Each candidate numbers its nights from 1.
//! Counting walks from the newest night back and stops at the first failing
//! night, night of another candidate, or night that does not follow the one
//! before it:
//! - a **scheduled** night follows the night before it when its local date is
//!   exactly one day later; a second night on a date already counted (a
//!   manual run the same day) adds nothing, so reruns cannot compress three
//!   days into one;
//! - a **forced** night (a drill, `force_night: N`, only with `[drills]
//!   enabled`) claims to be night N: it follows the night before it when that
//!   one is night N−1. Forcing night 1 again starts the count over.
//!
//! The log of nights is one JSON file written atomically ([`NightLog`]), so a
//! night killed half way leaves the history as it was.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::version::Version;

/// Passing nights in a row needed for promotion.
pub const REQUIRED_NIGHTS: u32 = 3;
/// Nights kept in the log (older ones are dropped; the event log keeps a line each).
pub const NIGHTS_KEPT: usize = 200;

/// Counts of gate outcomes in a night.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateSummary {
    /// Gates that passed.
    pub passed: u32,
    /// Gates that failed.
    pub failed: u32,
    /// Gates that could not run (count as not passed).
    pub skipped: u32,
}

/// One gate's outcome as a night keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NightGate {
    /// The gate's name, e.g. `span_coverage`.
    pub gate: String,
    /// `pass`, `fail` or `skipped`.
    pub status: String,
    /// The measured value, when it ran.
    pub value: Option<f64>,
    /// What it was held to.
    pub threshold: Option<f64>,
    /// Why it failed or was skipped.
    #[serde(default)]
    pub reason: Option<String>,
    /// Skipped as not applicable to this release (does not block).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_applicable: bool,
}

/// The query-log replay of a night.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NightReplay {
    /// Where the queries came from (`query log` or `golden set`).
    pub source: String,
    /// Searches replayed.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Latency percentiles of the replay, ms.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Whether the night's duration ended the replay.
    pub stopped_by_budget: bool,
}

/// One nightly validation of a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NightRecord {
    /// The candidate's night number, from 1.
    pub night: u32,
    /// Local calendar date, `YYYY-MM-DD`.
    pub date: String,
    /// The candidate validated.
    pub candidate_version: Version,
    /// Whether every gate passed (a skipped gate is not a pass).
    pub passed: bool,
    /// Gate outcomes.
    pub gates: GateSummary,
    /// A drill's `force_night` rather than the schedule or an operator's run.
    #[serde(default)]
    pub forced: bool,
    /// Who or what ran it (`scheduler`, `cli:USER`, an API key id).
    #[serde(default)]
    pub by: String,
    /// RFC 3339 UTC.
    #[serde(default)]
    pub started_at: String,
    /// How long it took and what it was allowed, ms.
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub budget_ms: u64,
    /// Each gate.
    #[serde(default)]
    pub results: Vec<NightGate>,
    /// The replay.
    #[serde(default)]
    pub replay: Option<NightReplay>,
    /// The stable it was compared with.
    #[serde(default)]
    pub baseline: Option<Version>,
}

/// Why a night cannot be recorded as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NightRefusal {
    #[error("force_night must be at least 1")]
    ZeroNight,
    #[error(
        "night {asked} cannot be forced before night {missing} of {version}: the next night is {next}"
    )]
    Skipped {
        asked: u32,
        missing: u32,
        next: u32,
        version: Version,
    },
}

/// The number the next night of `version` gets, or the forced number
/// checked: a drill may rerun a night or run the next, never skip ahead.
pub fn night_number(
    records: &[NightRecord],
    version: &Version,
    forced: Option<u32>,
) -> Result<u32, NightRefusal> {
    let next = records
        .iter()
        .filter(|r| &r.candidate_version == version)
        .map(|r| r.night)
        .max()
        .unwrap_or(0)
        + 1;
    match forced {
        None => Ok(next),
        Some(0) => Err(NightRefusal::ZeroNight),
        Some(n) if n > next => Err(NightRefusal::Skipped {
            asked: n,
            missing: next,
            next,
            version: version.clone(),
        }),
        Some(n) => Ok(n),
    }
}

/// Whether a scheduled night is due: the local time has reached
/// `nightly_at_minute` (minutes after midnight) and no scheduled night of
/// `version` ran on `local_date` yet.
pub fn scheduled_night_due(
    records: &[NightRecord],
    version: &Version,
    local_date: &str,
    local_minute: u32,
    nightly_at_minute: u32,
) -> bool {
    local_minute >= nightly_at_minute
        && !records
            .iter()
            .any(|r| &r.candidate_version == version && !r.forced && r.date == local_date)
}

/// `HH:MM` as minutes after midnight.
pub fn parse_hh_mm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Days since 1970-01-01 of a proleptic Gregorian `YYYY-MM-DD` date, or
/// `None` if it is not exactly that shape or not a real date.
pub fn day_number(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max_day = *month_days.get(usize::try_from(m).ok()?.checked_sub(1)?)?;
    if d < 1 || d > max_day {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Passing nights in a row for `candidate_version`, counted back from the
/// newest record (records may come in any order; the log's order is the
/// order they were recorded in, kept by position). See the module docs for
/// when a night follows the one before it; anything else, including an
/// unreadable date, ends the streak: fail safe.
pub fn consecutive_passing(records: &[NightRecord], candidate_version: &Version) -> u32 {
    let mut count = 0;
    let mut newer: Option<&NightRecord> = None;
    for r in records.iter().rev() {
        if &r.candidate_version != candidate_version || !r.passed {
            break;
        }
        let Some(day) = day_number(&r.date) else {
            break;
        };
        match newer {
            None => count += 1,
            Some(n) if n.forced => {
                if n.night != r.night + 1 {
                    break;
                }
                count += 1;
            }
            Some(n) => match day_number(&n.date) {
                Some(d) if d == day => {} // another night on a counted date
                Some(d) if d - 1 == day => count += 1,
                _ => break,
            },
        }
        // A forced night 1 starts the count: nothing before it belongs.
        if r.forced && r.night == 1 {
            break;
        }
        newer = Some(r);
    }
    count
}

/// Whether `version` has at least `required` passing nights in a row.
pub fn promotable(records: &[NightRecord], version: &Version, required: u32) -> bool {
    consecutive_passing(records, version) >= required
}

/// Why the night log cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NightLogError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the night log {} is damaged ({message}); no night counts until an operator repairs or removes it", path.display())]
    Damaged { path: PathBuf, message: String },
}

#[derive(Serialize, Deserialize)]
struct NightLogFile {
    nights: Vec<NightRecord>,
}

/// The nights, in the order they were recorded, in one file
/// (`STATE/validation/nights.json`) replaced atomically under a lock.
#[derive(Debug, Clone)]
pub struct NightLog {
    path: PathBuf,
    lock: PathBuf,
}

impl NightLog {
    /// The log in `dir` (created when first written).
    pub fn in_dir(dir: &Path) -> NightLog {
        NightLog {
            path: dir.join("nights.json"),
            lock: dir.join("nights.lock"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every night; an absent log is empty, a damaged one an error (fail safe:
    /// a log that cannot be read makes nothing promotable).
    pub fn read(&self) -> Result<Vec<NightRecord>, NightLogError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(NightLogError::Io {
                    what: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        serde_json::from_slice::<NightLogFile>(&bytes)
            .map(|f| f.nights)
            .map_err(|e| NightLogError::Damaged {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }

    /// Appends the night `make` builds from the current records (so its
    /// number is decided under the lock), keeping [`NIGHTS_KEPT`].
    pub fn append<E>(
        &self,
        make: impl FnOnce(&[NightRecord]) -> Result<NightRecord, E>,
    ) -> Result<Result<NightRecord, E>, NightLogError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| NightLogError::Io {
            what: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        let _lock = super::state_file::StoreLock::acquire(&self.lock).map_err(|source| {
            NightLogError::Io {
                what: "lock",
                path: self.lock.clone(),
                source,
            }
        })?;
        let mut nights = self.read()?;
        let record = match make(&nights) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        nights.push(record.clone());
        if nights.len() > NIGHTS_KEPT {
            let extra = nights.len() - NIGHTS_KEPT;
            nights.drain(..extra);
        }
        let bytes = serde_json::to_vec_pretty(&NightLogFile { nights }).expect("nights serialise");
        crate::release::store::write_file_atomic(&self.path, &bytes).map_err(|e| match e {
            crate::release::store::StoreError::Io { what, path, source } => {
                NightLogError::Io { what, path, source }
            }
            other => NightLogError::Damaged {
                path: self.path.clone(),
                message: other.to_string(),
            },
        })?;
        Ok(Ok(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(night: u32, date: &str, version: &str, passed: bool) -> NightRecord {
        NightRecord {
            night,
            date: date.into(),
            candidate_version: Version::parse(version).unwrap(),
            passed,
            gates: GateSummary {
                passed: if passed { 6 } else { 5 },
                failed: u32::from(!passed),
                skipped: 0,
            },
            forced: false,
            by: "test".into(),
            started_at: String::new(),
            duration_ms: 0,
            budget_ms: 0,
            results: Vec::new(),
            replay: None,
            baseline: None,
        }
    }

    fn forced(night: u32, date: &str, version: &str, passed: bool) -> NightRecord {
        NightRecord {
            forced: true,
            ..rec(night, date, version, passed)
        }
    }

    fn rc1() -> Version {
        Version::parse("1.0.0-rc.1").unwrap()
    }

    #[test]
    fn day_numbers() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("1970-01-02"), Some(1));
        assert_eq!(day_number("1969-12-31"), Some(-1));
        assert_eq!(day_number("2000-03-01"), Some(11_017));
        assert_eq!(
            day_number("2024-02-29").map(|d| d + 1),
            day_number("2024-03-01")
        );
        assert_eq!(
            day_number("2023-12-31").map(|d| d + 1),
            day_number("2024-01-01")
        );
        assert_eq!(day_number("2023-02-29"), None);
        assert_eq!(day_number("1900-02-29"), None);
        assert!(day_number("2000-02-29").is_some());
        for bad in [
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-1-01",
            "2024/01/01",
            "",
            "abcd-ef-gh",
            "2024-01-01T",
        ] {
            assert_eq!(day_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn three_consecutive_passing_nights_promote() {
        let r = vec![
            rec(1, "2024-02-28", "1.0.0-rc.1", true),
            rec(2, "2024-02-29", "1.0.0-rc.1", true),
            rec(3, "2024-03-01", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 3);
        assert!(promotable(&r, &rc1(), REQUIRED_NIGHTS));
        assert!(!promotable(&r[..2], &rc1(), REQUIRED_NIGHTS));
        // The log's order is the order of record: reversed, the newest is night 1.
        let mut rev = r.clone();
        rev.reverse();
        assert_eq!(consecutive_passing(&rev, &rc1()), 1);
    }

    #[test]
    fn failing_night_resets() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "2024-01-03", "1.0.0-rc.1", false),
            rec(4, "2024-01-04", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 1);
        assert_eq!(consecutive_passing(&r[..3], &rc1()), 0);
    }

    #[test]
    fn gap_in_dates_resets() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "2024-01-04", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 1);
    }

    #[test]
    fn different_candidate_resets() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "2024-01-03", "1.0.0-rc.2", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 0);
        let rc2 = Version::parse("1.0.0-rc.2").unwrap();
        assert_eq!(consecutive_passing(&r, &rc2), 1);
        // Build metadata is not a different candidate.
        let r2 = vec![rec(1, "2024-01-01", "1.0.0-rc.1+b1", true)];
        assert_eq!(consecutive_passing(&r2, &rc1()), 1);
    }

    #[test]
    fn drills_on_one_date_count_once() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-01", "1.0.0-rc.1", true),
            rec(3, "2024-01-01", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 1);
        // A failing drill later the same day still resets.
        let mut r2 = r.clone();
        r2.push(rec(4, "2024-01-01", "1.0.0-rc.1", false));
        assert_eq!(consecutive_passing(&r2, &rc1()), 0);
    }

    #[test]
    fn unreadable_date_breaks_the_streak() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "yesterday", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 0);
        // An old unreadable record no longer matters once a streak follows it.
        let r2 = vec![
            rec(1, "garbage", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "2024-01-03", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r2, &rc1()), 2);
        assert_eq!(consecutive_passing(&[], &rc1()), 0);
    }

    #[test]
    fn dates_going_forward_when_walking_back_break() {
        // Night 2 claims a later date than night 3: inconsistent, not counted.
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-05", "1.0.0-rc.1", true),
            rec(3, "2024-01-02", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 1);
    }

    #[test]
    fn forced_nights_count_by_number() {
        let r = vec![
            forced(1, "2024-01-01", "1.0.0-rc.1", true),
            forced(2, "2024-01-01", "1.0.0-rc.1", true),
            forced(3, "2024-01-01", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 3);
        // Forcing night 1 again starts over.
        let mut again = r.clone();
        again.push(forced(1, "2024-01-01", "1.0.0-rc.1", true));
        assert_eq!(consecutive_passing(&again, &rc1()), 1);
        // Forcing night 3 twice does not make four.
        let mut twice = r.clone();
        twice.push(forced(3, "2024-01-01", "1.0.0-rc.1", true));
        assert_eq!(consecutive_passing(&twice, &rc1()), 1);
        // A failing forced night resets like any other.
        let mut failed = r[..2].to_vec();
        failed.push(forced(3, "2024-01-01", "1.0.0-rc.1", false));
        assert_eq!(consecutive_passing(&failed, &rc1()), 0);
        // A forced night 3 after scheduled nights 1 and 2 follows night 2.
        let mixed = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            forced(3, "2024-01-02", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&mixed, &rc1()), 3);
        // A forced night 1 is a start: scheduled nights before it do not count.
        let restart = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            forced(1, "2024-01-03", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&restart, &rc1()), 1);
    }

    #[test]
    fn night_numbers_and_forcing_rules() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(1, "2024-01-01", "1.0.0-rc.2", true),
        ];
        assert_eq!(night_number(&r, &rc1(), None), Ok(2));
        assert_eq!(night_number(&[], &rc1(), None), Ok(1));
        assert_eq!(night_number(&r, &rc1(), Some(1)), Ok(1));
        assert_eq!(night_number(&r, &rc1(), Some(2)), Ok(2));
        assert!(matches!(
            night_number(&r, &rc1(), Some(3)),
            Err(NightRefusal::Skipped {
                asked: 3,
                next: 2,
                ..
            })
        ));
        assert_eq!(
            night_number(&r, &rc1(), Some(0)),
            Err(NightRefusal::ZeroNight)
        );
    }

    #[test]
    fn schedule_runs_once_a_day_after_its_time() {
        let at = parse_hh_mm("02:30").unwrap();
        assert_eq!(at, 150);
        let r = vec![rec(1, "2024-01-01", "1.0.0-rc.1", true)];
        assert!(!scheduled_night_due(&r, &rc1(), "2024-01-02", 149, at));
        assert!(scheduled_night_due(&r, &rc1(), "2024-01-02", 150, at));
        assert!(!scheduled_night_due(&r, &rc1(), "2024-01-01", 600, at));
        // A forced night that day does not stand in for the scheduled one.
        let f = vec![forced(1, "2024-01-02", "1.0.0-rc.1", true)];
        assert!(scheduled_night_due(&f, &rc1(), "2024-01-02", 600, at));
        // Another candidate's night does not count for this one.
        let other = vec![rec(1, "2024-01-02", "1.0.0-rc.2", true)];
        assert!(scheduled_night_due(&other, &rc1(), "2024-01-02", 600, at));
        for bad in ["2:30", "24:00", "12:60", "", "ab:cd", "12-30"] {
            assert_eq!(parse_hh_mm(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_log_appends_atomically_and_a_damaged_log_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = NightLog::in_dir(&dir.path().join("validation"));
        assert!(log.read().unwrap().is_empty());
        for d in ["2024-01-01", "2024-01-02"] {
            let got = log
                .append(|cur| {
                    let n = night_number(cur, &rc1(), None)?;
                    Ok::<_, NightRefusal>(rec(n, d, "1.0.0-rc.1", true))
                })
                .unwrap()
                .unwrap();
            assert_eq!(got.date, d);
        }
        let nights = log.read().unwrap();
        assert_eq!(nights.iter().map(|r| r.night).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(consecutive_passing(&nights, &rc1()), 2);
        // A refusal writes nothing.
        let refused = log
            .append(|cur| {
                night_number(cur, &rc1(), Some(9)).map(|n| rec(n, "x", "1.0.0-rc.1", true))
            })
            .unwrap();
        assert!(refused.is_err());
        assert_eq!(log.read().unwrap().len(), 2);
        std::fs::write(log.path(), b"{\"nights\": [").unwrap();
        assert!(matches!(log.read(), Err(NightLogError::Damaged { .. })));
    }

    #[test]
    fn record_serde() {
        let r = rec(7, "2024-01-01", "1.0.0-rc.1", true);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["candidate_version"], "1.0.0-rc.1");
        let back: NightRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
