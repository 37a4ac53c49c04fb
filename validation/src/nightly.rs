//! A night (RELEASES.md, "Nights"): every quality gate on the candidate, then a
//! replay of the query log against it for what is left of the night's
//! duration, recorded in the night log ([`lens_core::release::NightLog`]).
//!
//! The gates and the replay run outside any lock; only the append is locked,
//! and the night's number is decided there, so two nights started at once
//! cannot both claim the same number. A night killed half way records nothing.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lens_core::release::{
    GateSummary, NightGate, NightLog, NightLogError, NightRecord, NightRefusal, NightReplay,
    Version, night_number,
};
use lens_core::{Deadline, Options, QueryInput, Request, RequestLimits, Searcher};
use serde::{Deserialize, Serialize};

use crate::gates::{GateReport, GateStatus, GoldenSet, percentile};

/// The query-log file in the store's `validation/` directory.
pub const QUERY_LOG: &str = "query-log.jsonl";
/// The log is rotated (to `.1`) past this size, so it stays a recent sample.
pub const QUERY_LOG_MAX_BYTES: u64 = 4 << 20;
/// Queries of the log a replay reads (the newest).
pub const REPLAY_MAX_QUERIES: usize = 5000;

/// One search as the server logs it for replay.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoggedQuery {
    /// `search` or `symbols`.
    pub route: String,
    pub q: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl LoggedQuery {
    /// The request the server would have made of it.
    pub fn request(&self) -> lens_core::Result<Request> {
        let query = match self.route.as_str() {
            "symbols" => QueryInput::Symbols {
                text: self.q.clone(),
            },
            _ => QueryInput::Text {
                text: self.q.clone(),
                stages: match &self.stages {
                    Some(s) => lens_core::request::parse_stages(s)?,
                    None => Some(lens_core::semantic::Stages::default()),
                },
            },
        };
        Request::new(
            query,
            Options {
                limit: self.limit,
                ..Options::default()
            },
            &RequestLimits::default(),
        )
    }
}

/// Appends searches to `dir/query-log.jsonl`, rotating past
/// [`QUERY_LOG_MAX_BYTES`]. Writes are best effort: the log is evidence,
/// never a reason to fail a search.
pub fn append_query(dir: &Path, q: &LoggedQuery) -> std::io::Result<()> {
    let path = dir.join(QUERY_LOG);
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
    };
    let mut f = match open() {
        Ok(f) => f,
        // The directory is made on the first search, not checked on every one.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            open()?
        }
        Err(e) => return Err(e),
    };
    if f.metadata().is_ok_and(|m| m.len() > QUERY_LOG_MAX_BYTES) {
        std::fs::rename(&path, dir.join(format!("{QUERY_LOG}.1")))?;
        f = open()?;
    }
    let mut line = serde_json::to_vec(q).map_err(std::io::Error::other)?;
    line.push(b'\n');
    // One write of one line with O_APPEND: concurrent appenders do not interleave.
    f.write_all(&line)
}

/// The newest `max` distinct logged queries (the rotated file first, then
/// the current; a repeated query counts once, where it was last seen);
/// unreadable lines (a torn last line) are skipped.
pub fn read_query_log(dir: &Path, max: usize) -> Vec<LoggedQuery> {
    let mut out: Vec<LoggedQuery> = Vec::new();
    for name in [format!("{QUERY_LOG}.1"), QUERY_LOG.to_string()] {
        let Ok(f) = std::fs::File::open(dir.join(name)) else {
            continue;
        };
        for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            if let Ok(q) = serde_json::from_str::<LoggedQuery>(&line) {
                out.push(q);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut distinct: Vec<LoggedQuery> = out
        .into_iter()
        .rev()
        .filter(|q| seen.insert(q.clone()))
        .take(max)
        .collect();
    distinct.reverse();
    distinct
}

/// The golden set's queries as a log, for a store that has not served yet
/// (the "shipped" log: ranked lexical searches and definition lookups).
pub fn golden_as_log(golden: &GoldenSet) -> Vec<LoggedQuery> {
    let lexical = golden.lexical.iter().map(|q| LoggedQuery {
        route: "search".into(),
        q: q.query.clone(),
        stages: None,
        limit: Some(50),
    });
    let defs = golden.definitions.iter().map(|d| LoggedQuery {
        route: "symbols".into(),
        q: d.name.clone(),
        stages: None,
        limit: Some(10),
    });
    lexical.chain(defs).collect()
}

/// What a night replays: the server's query log, or the golden set's
/// queries when it has logged none yet; and which it was.
pub fn replay_queries(dir: &Path, golden: &GoldenSet) -> (Vec<LoggedQuery>, &'static str) {
    let logged = read_query_log(dir, REPLAY_MAX_QUERIES);
    if logged.is_empty() {
        (golden_as_log(golden), "golden set (no query log yet)")
    } else {
        (logged, "query log")
    }
}

/// The `quality_gates_report` document of a run: the report with the
/// release it judged (`arm` `candidate`, or `stable` without one), its
/// baseline, when it started and the golden set's size.
pub fn gate_document(
    report: &GateReport,
    version: &Version,
    arm: &str,
    baseline: &Version,
    started_at: &str,
    golden: &GoldenSet,
) -> serde_json::Value {
    let mut doc = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    doc["release"] = serde_json::json!({"version": version.to_string(), "arm": arm,
        "baseline": baseline.to_string()});
    doc["started_at"] = serde_json::json!(started_at);
    doc["passed"] = serde_json::json!(report.passed());
    doc["golden_set"] = serde_json::json!({"lexical": golden.lexical.len(),
        "definitions": golden.definitions.len()});
    serde_json::json!({"quality_gates_report": doc})
}

/// Replays `log` against `s`, up to three rounds while `budget` lasts (at
/// least one full round, so a short night still replays every query).
pub fn replay(
    s: &dyn Searcher,
    log: &[LoggedQuery],
    source: &str,
    budget: Duration,
) -> NightReplay {
    let started = Instant::now();
    let requests: Vec<Request> = log.iter().filter_map(|q| q.request().ok()).collect();
    let unparsable = (log.len() - requests.len()) as u64;
    let mut ms = Vec::new();
    let mut errors = 0u64;
    let mut stopped_by_budget = false;
    if !requests.is_empty() {
        'rounds: for round in 0.. {
            for r in &requests {
                if round > 0 && started.elapsed() >= budget {
                    stopped_by_budget = true;
                    break 'rounds;
                }
                let t = Instant::now();
                let ok = s
                    .search(r, &Deadline::after(r.timeout))
                    .is_ok_and(|resp| !resp.stats.timed_out());
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                errors += u64::from(!ok);
            }
            // More rounds of the same queries add little: three give a stable p99.
            if round >= 2 {
                break;
            }
        }
    }
    ms.sort_by(f64::total_cmp);
    NightReplay {
        source: if unparsable > 0 {
            format!("{source} ({unparsable} lines not replayable)")
        } else {
            source.to_string()
        },
        requests: ms.len() as u64,
        errors,
        p50_ms: percentile(&ms, 50.0),
        p95_ms: percentile(&ms, 95.0),
        p99_ms: percentile(&ms, 99.0),
        stopped_by_budget,
    }
}

/// Whether a night with this report and replay passes: every gate passed
/// (a skipped gate is not a pass) and the replay ran without errors.
pub fn night_passes(report: &GateReport, replay: &NightReplay) -> bool {
    report.passed() && replay.errors == 0 && replay.requests > 0
}

/// Who runs a night and how.
#[derive(Debug, Clone)]
pub struct NightPlan {
    pub candidate_version: Version,
    pub baseline: Version,
    /// `Some(N)` for a drill's `force_night: N`.
    pub forced: Option<u32>,
    pub by: String,
    /// The local date the night is recorded under.
    pub local_date: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub budget: Duration,
}

/// A night that ran, before it is recorded.
#[derive(Debug, Clone)]
pub struct NightRun {
    pub report: GateReport,
    pub replay: NightReplay,
    pub duration: Duration,
}

/// The record a night makes, numbered `night`.
pub fn record_for(plan: &NightPlan, run: &NightRun, night: u32) -> NightRecord {
    let mut gates = GateSummary::default();
    let mut results = Vec::new();
    for g in &run.report.gates {
        match g.status {
            GateStatus::Pass => gates.passed += 1,
            GateStatus::Fail => gates.failed += 1,
            GateStatus::Skipped => gates.skipped += 1,
        }
        results.push(NightGate {
            gate: g.gate.clone(),
            status: match g.status {
                GateStatus::Pass => "pass",
                GateStatus::Fail => "fail",
                GateStatus::Skipped => "skipped",
            }
            .into(),
            value: g.value,
            threshold: g.threshold,
            reason: g.reason.clone(),
            not_applicable: g.not_applicable,
        });
    }
    NightRecord {
        night,
        date: plan.local_date.clone(),
        candidate_version: plan.candidate_version.clone(),
        passed: night_passes(&run.report, &run.replay),
        gates,
        forced: plan.forced.is_some(),
        by: plan.by.clone(),
        started_at: plan.started_at.clone(),
        duration_ms: run.duration.as_millis() as u64,
        budget_ms: plan.budget.as_millis() as u64,
        results,
        replay: Some(run.replay.clone()),
        baseline: Some(plan.baseline.clone()),
    }
}

/// Why a night was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum NightError {
    #[error("{0}")]
    Refused(#[from] NightRefusal),
    #[error("{0}")]
    Log(#[from] NightLogError),
}

/// Checks a forced night's number against the log before spending a night on it.
pub fn check_plan(log: &NightLog, plan: &NightPlan) -> Result<u32, NightError> {
    Ok(night_number(
        &log.read()?,
        &plan.candidate_version,
        plan.forced,
    )?)
}

/// Runs a night: `gates` (every quality gate, supplied by the caller, which
/// knows the releases and the config) then the replay for the time left.
pub fn run_night(
    candidate: &dyn Searcher,
    gates: impl FnOnce() -> GateReport,
    log: &[LoggedQuery],
    log_source: &str,
    budget: Duration,
) -> NightRun {
    let started = Instant::now();
    let report = gates();
    let left = budget.saturating_sub(started.elapsed());
    let replay = replay(candidate, log, log_source, left);
    NightRun {
        report,
        replay,
        duration: started.elapsed(),
    }
}

/// Appends the night, numbered under the log's lock.
pub fn record(log: &NightLog, plan: &NightPlan, run: &NightRun) -> Result<NightRecord, NightError> {
    let r = log.append(|cur| {
        let n = night_number(cur, &plan.candidate_version, plan.forced)?;
        Ok::<_, NightRefusal>(record_for(plan, run, n))
    })??;
    Ok(r)
}

/// The store's validation directory.
pub fn validation_dir(store_root: &Path) -> PathBuf {
    store_root.join("validation")
}

/// The two releases the gates compare, as opened engines and store records.
pub struct GateSides<'a> {
    pub candidate: &'a lens_core::Engine,
    pub stable: &'a lens_core::Engine,
    pub candidate_release: Option<&'a lens_core::release::store::Release>,
    pub stable_release: Option<&'a lens_core::release::store::Release>,
}

/// Every gate (`gates::run_all`) with the inputs the config names: the
/// labelled sets, the release notes and this binary's dependency list. A
/// labelled set that cannot be loaded fails `ndcg_at_10` with the reason.
pub fn release_gates(
    sides: &GateSides<'_>,
    golden: &GoldenSet,
    cfg: &lens_core::release::ValidationConfig,
) -> GateReport {
    use crate::gates::{self, LabelledSet, ReleaseInputs, Target, Thresholds};
    let labelled = LabelledSet::load_configured(&cfg.labelled, cfg.labelled_max_queries);
    let notes = cfg.release_notes.clone();
    let (sets, load_error) = match labelled {
        Ok(s) => (s, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let inputs = ReleaseInputs {
        candidate_release: sides.candidate_release,
        stable_release: sides.stable_release,
        labelled: &sets,
        release_notes: Some(&notes),
        dependencies: Some(crate::sbom::dependencies()),
        ..ReleaseInputs::default()
    };
    let mut report = gates::run_all(
        Target::engine(sides.candidate),
        Target::engine(sides.stable),
        golden,
        &Thresholds {
            tail_floor_ms: cfg.tail_floor_ms,
            ..Thresholds::default()
        },
        &inputs,
    );
    if let Some(e) = load_error {
        let mut g = report.gates.clone();
        for r in g.iter_mut().filter(|r| r.gate == gates::NDCG_AT_10) {
            *r = crate::gates::GateResult {
                status: GateStatus::Fail,
                not_applicable: false,
                reason: Some(format!("a configured labelled set cannot be loaded: {e}")),
                ..r.clone()
            };
        }
        report = GateReport::new(g, report.duration_ms);
    }
    report
}
