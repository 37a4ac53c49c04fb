//! The server's side of quality gates and nights: which releases the gates
//! compare, where reports and nights are kept in the store, the scheduler,
//! and the validation metrics. The decisions are `validation::{gates,
//! nightly, signoff}` and `lens_core::release::nights`.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use lens_core::Searcher;
use lens_core::release::{NightLog, NightRecord, Version};
use serde_json::{Value, json};
use validation::gates::{self, GateReport, GateStatus};
use validation::nightly::{self, NightPlan};

use super::AppState;
use super::canary::now_ms;
use super::metrics::GateLabel;

/// Local date (`YYYY-MM-DD`) and minute of the day of `epoch_secs`, in the
/// server's time zone (`TZ`, else the system's).
pub fn local_time(epoch_secs: u64) -> (String, u32) {
    let t = epoch_secs as libc::time_t;
    // SAFETY: `tm` is plain data; localtime_r writes it and reads only `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        let d = lens_core::bundle::manifest::rfc3339_utc(epoch_secs);
        return (d[..10].to_string(), ((epoch_secs / 60) % 1440) as u32);
    }
    (
        format!(
            "{:04}-{:02}-{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday
        ),
        (tm.tm_hour * 60 + tm.tm_min) as u32,
    )
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ` (what `now_rfc3339` writes).
fn rfc3339_secs(t: &str) -> Option<u64> {
    let day = lens_core::release::nights::day_number(t.get(..10)?)?;
    let b = t.as_bytes();
    if b.get(10) != Some(&b'T') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let secs = day * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    u64::try_from(secs).ok()
}

/// One night at a time per server.
#[derive(Default)]
pub struct NightGuard {
    running: Mutex<Option<String>>,
}

/// What a gate run compared.
pub struct GateRun {
    pub report: GateReport,
    /// `candidate`, or `stable` when there is no candidate.
    pub arm: &'static str,
    pub version: Version,
    pub baseline: Version,
    pub golden: gates::GoldenSet,
    pub started_at: String,
}

impl GateRun {
    /// The `quality_gates_report` document.
    pub fn document(&self) -> Value {
        nightly::gate_document(
            &self.report,
            &self.version,
            self.arm,
            &self.baseline,
            &self.started_at,
            &self.golden,
        )
    }
}

fn stable_version(st: &AppState) -> Version {
    st.releases
        .as_ref()
        .and_then(|r| r.stable_version())
        .unwrap_or_else(|| {
            Version::parse(&st.engine.load().describe().manifest.bundle_version)
                .unwrap_or(Version::new(0, 0, 0))
        })
}

/// Every gate on the candidate (or on stable when there is none) against stable.
pub fn run_gates(st: &AppState) -> GateRun {
    let started_at = super::audit::now_rfc3339();
    let stable = st.engine.load_full();
    let baseline = stable_version(st);
    let candidate = st.releases.as_ref().and_then(|r| r.candidate());
    let (arm, version, engine) = match &candidate {
        Some(c) => ("candidate", c.version.clone(), c.engine.clone()),
        None => ("stable", baseline.clone(), stable.clone()),
    };
    let golden = match &st.releases {
        Some(r) => gates::golden::for_release(&r.store, &version, &stable),
        None => gates::golden::sample(&stable, 1, gates::golden::DEFAULT_LEXICAL),
    };
    let record = |v: &Version| {
        st.releases
            .as_ref()
            .and_then(|r| r.store.read_release(v).ok())
    };
    let cand_rec = candidate.as_ref().and_then(|c| record(&c.version));
    let stable_rec = record(&baseline);
    let report = nightly::release_gates(
        &nightly::GateSides {
            candidate: &engine,
            stable: &stable,
            candidate_release: cand_rec.as_ref(),
            stable_release: stable_rec.as_ref(),
        },
        &golden,
        &st.config.validation,
    );
    set_gate_metrics(st, &report);
    GateRun {
        report,
        arm,
        version,
        baseline,
        golden,
        started_at,
    }
}

fn set_gate_metrics(st: &AppState, report: &GateReport) {
    for g in &report.gates {
        let v = match g.status {
            GateStatus::Pass => 1,
            GateStatus::Fail => 0,
            GateStatus::Skipped => -1,
        };
        st.metrics
            .quality_gate_status
            .get_or_create(&GateLabel {
                gate: g.gate.clone(),
            })
            .set(v);
        st.metrics
            .quality_gate_value
            .get_or_create(&GateLabel {
                gate: g.gate.clone(),
            })
            .set(g.value.unwrap_or(f64::NAN));
    }
}

/// The store's validation directory.
pub fn dir(st: &AppState) -> Option<PathBuf> {
    st.releases
        .as_ref()
        .map(|r| nightly::validation_dir(r.store.root()))
}

/// Where the last quality-gate report is kept.
pub fn report_path(st: &AppState) -> Option<PathBuf> {
    dir(st).map(|d| d.join("quality-gates.json"))
}

/// Keeps `doc` as the last quality-gate report (atomically).
pub fn keep_report(st: &AppState, doc: &Value) -> Result<(), String> {
    let (Some(p), Some(r)) = (report_path(st), &st.releases) else {
        return Ok(());
    };
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    r.store
        .write_file(
            &p,
            serde_json::to_string_pretty(doc)
                .unwrap_or_default()
                .as_bytes(),
        )
        .map_err(|e| e.to_string())
}

pub fn last_report(st: &AppState) -> Option<Value> {
    report_path(st)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
}

pub fn night_log(st: &AppState) -> Option<NightLog> {
    dir(st).map(|d| NightLog::in_dir(&d))
}

/// The nights, or why they cannot be read.
pub fn nights(st: &AppState) -> Result<Vec<NightRecord>, String> {
    match night_log(st) {
        Some(l) => l.read().map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    }
}

/// Logs a search for replay (best effort; only with a release store).
pub fn log_query(st: &AppState, q: &nightly::LoggedQuery) {
    if let Some(d) = dir(st)
        && let Err(e) = nightly::append_query(&d, q)
    {
        tracing::debug!(target: "lens::http", cause = %e, "query log append failed");
    }
}

/// Why a night did not run.
#[derive(Debug, thiserror::Error)]
pub enum NightFailure {
    #[error("there is no candidate to validate (lens cut-rc makes one)")]
    NoCandidate,
    #[error("a night is already running ({0})")]
    Running(String),
    #[error("force_night is a drill: it needs [drills] enabled = true in the server's config")]
    DrillsDisabled,
    #[error("{0}")]
    Refused(String),
    #[error("this server runs without a release store")]
    NoStore,
    #[error("{0}")]
    Store(String),
}

/// Runs a night on the candidate and records it. `forced`: a drill's night
/// number. Blocking (it runs every gate and replays the log).
pub fn run_night(
    st: &AppState,
    guard: &NightGuard,
    forced: Option<u32>,
    budget: Duration,
    by: &str,
) -> Result<(NightRecord, Value), NightFailure> {
    let releases = st.releases.as_ref().ok_or(NightFailure::NoStore)?;
    if forced.is_some() && !st.config.drills.enabled {
        return Err(NightFailure::DrillsDisabled);
    }
    let candidate = releases.candidate().ok_or(NightFailure::NoCandidate)?;
    let _running = {
        let mut r = guard.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(what) = r.as_ref() {
            return Err(NightFailure::Running(what.clone()));
        }
        *r = Some(format!("{} by {by}", candidate.version));
        NightRunning(guard)
    };
    let log = night_log(st).ok_or(NightFailure::NoStore)?;
    let now = now_ms();
    let (local_date, _) = local_time(now / 1000);
    let plan = NightPlan {
        candidate_version: candidate.version.clone(),
        baseline: stable_version(st),
        forced,
        by: by.to_string(),
        local_date,
        started_at: super::audit::now_rfc3339(),
        budget,
    };
    nightly::check_plan(&log, &plan).map_err(|e| match e {
        nightly::NightError::Refused(r) => NightFailure::Refused(r.to_string()),
        nightly::NightError::Log(l) => NightFailure::Store(l.to_string()),
    })?;
    let vdir = dir(st).ok_or(NightFailure::NoStore)?;
    let mut gate_doc = Value::Null;
    let run = {
        let golden =
            gates::golden::for_release(&releases.store, &candidate.version, &st.engine.load_full());
        let (queries, source) = nightly::replay_queries(&vdir, &golden);
        nightly::run_night(
            candidate.engine.as_ref() as &dyn Searcher,
            || {
                let g = run_gates(st);
                gate_doc = g.document();
                g.report
            },
            &queries,
            source,
            budget,
        )
    };
    let _ = keep_report(st, &gate_doc);
    let record = nightly::record(&log, &plan, &run).map_err(|e| match e {
        nightly::NightError::Refused(r) => NightFailure::Refused(r.to_string()),
        nightly::NightError::Log(l) => NightFailure::Store(l.to_string()),
    })?;
    let _ = releases.store.append_event(&json!({
        "time": super::audit::now_rfc3339(), "event": "night_recorded", "by": by,
        "version": record.candidate_version.to_string(), "night": record.night,
        "date": record.date, "forced": record.forced, "passed": record.passed,
        "gates": record.gates,
    }));
    tracing::info!(target: "lens::http", night = record.night, version = %record.candidate_version,
        passed = record.passed, forced = record.forced, "night recorded");
    update_metrics(st);
    Ok((record, gate_doc))
}

/// Marks the night as running until dropped (also on a panic).
struct NightRunning<'a>(&'a NightGuard);

impl Drop for NightRunning<'_> {
    fn drop(&mut self) {
        *self.0.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Runs the scheduled night when it is due (called every minute).
pub fn scheduler_tick(st: &AppState, guard: &NightGuard) {
    let Some(at) = st.config.validation.nightly_at_minute() else {
        return;
    };
    let Some(cand) = st.releases.as_ref().and_then(|r| r.candidate()) else {
        return;
    };
    let Ok(records) = nights(st) else { return };
    let (date, minute) = local_time(now_ms() / 1000);
    if !lens_core::release::scheduled_night_due(&records, &cand.version, &date, minute, at) {
        return;
    }
    let budget = Duration::from_secs(st.config.validation.night_minutes.max(1) * 60);
    match run_night(st, guard, None, budget, "scheduler") {
        Ok(_) => {}
        Err(NightFailure::Running(_)) => {}
        Err(e) => tracing::warn!(target: "lens::http", cause = %e, "scheduled night did not run"),
    }
}

/// `lens_validation_consecutive_passes` and `lens_promotion_ready`.
pub fn update_metrics(st: &AppState) {
    let Some(r) = &st.releases else { return };
    let snap = r.snapshot();
    let n = nights(st);
    let s = snap
        .state
        .candidate
        .as_ref()
        .map(|c| validation::signoff::signoff(&snap.state, &n, &c.version, now_ms(), &r.cfg));
    let m = &st.metrics.validation;
    m.consecutive_passes
        .set(s.as_ref().map_or(0, |s| i64::from(s.consecutive_passes)));
    m.promotion_ready
        .set(i64::from(s.as_ref().is_some_and(|s| s.promotable)));
    m.nights_recorded
        .set(n.as_ref().map_or(0, |n| n.len() as i64));
    let now_s = now_ms() / 1000;
    let (since, last_passed) = match snap.state.candidate.as_ref() {
        None => (-1, -1),
        Some(c) => {
            let last = n.as_ref().ok().and_then(|n| {
                n.iter()
                    .rev()
                    .find(|r| r.candidate_version == c.version)
                    .cloned()
            });
            let from = last
                .as_ref()
                .and_then(|r| rfc3339_secs(&r.started_at))
                .unwrap_or(c.cut_ms / 1000);
            (
                now_s.saturating_sub(from) as i64,
                last.map_or(-1, |r| i64::from(r.passed)),
            )
        }
    };
    m.seconds_since_night.set(since);
    m.last_night_passed.set(last_passed);
}

/// The scheduler's settings and next due time, for `/validation/status`.
pub fn schedule_json(st: &AppState) -> Value {
    let v = &st.config.validation;
    let (date, minute) = local_time(now_ms() / 1000);
    json!({"nightly_at": v.nightly_at, "enabled": v.nightly_at_minute().is_some(),
        "night_minutes": v.night_minutes, "local_date": date,
        "local_time": format!("{:02}:{:02}", minute / 60, minute % 60),
        "forced_nights_allowed": st.config.drills.enabled})
}
