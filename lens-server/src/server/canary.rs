//! Two releases in one server: the stable engine (in `AppState::engine`) and
//! a candidate, the rollout state from the release store, routing by client
//! bucket, the per-arm windows judged every interval, injected faults for
//! drills, and every change persisted, logged and counted.
//!
//! The decisions are `lens_core::release` (pure, clock passed in); this file
//! only feeds it requests, ticks and operator calls, and keeps what it says.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use lens_core::release::state_file::{self, StateFileError, StateRead};
use lens_core::release::store::{Release, ReleaseStore, StoreError};
use lens_core::release::{
    Arm, ArmWindow, CanaryConfig, Effect, Event, Refusal, RolloutState, Version, apply, bucket,
    judge, percentile, route,
};
use lens_core::{Engine, Model, Searcher};
use serde_json::{Value, json};

use super::metrics::{ArmOutcome, CanaryMetrics, VerdictLabel};

/// Latency samples kept per arm for status percentiles.
const STATUS_SAMPLES: usize = 5000;
/// Rollback events kept for status.
const ROLLBACKS_KEPT: usize = 20;

/// Milliseconds since the epoch: the server's clock, passed to the pure logic.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The candidate's engine, open beside stable's.
pub struct CandidateArm {
    pub version: Version,
    pub engine: Arc<Engine>,
}

/// The rollout state in use, and whether it could be trusted.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: RolloutState,
    /// Why the state file cannot be trusted (the candidate then gets 0%).
    pub unsafe_reason: Option<String>,
}

impl Snapshot {
    pub fn traffic_percent(&self) -> f64 {
        if self.unsafe_reason.is_some() {
            0.0
        } else {
            self.state.traffic_percent()
        }
    }
}

/// Faults injected into one arm's answers (`[drills] enabled` only).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drill {
    pub arm: Arm,
    pub error_rate: f64,
    pub latency_ms: u64,
    pub since_ms: u64,
}

/// Counters of one arm since the candidate entered its stage.
#[derive(Debug, Default)]
struct ArmTotals {
    requests: u64,
    errors: u64,
    latencies: VecDeque<f64>,
}

impl ArmTotals {
    fn record(&mut self, ms: f64, error: bool) {
        self.requests += 1;
        self.errors += u64::from(error);
        if self.latencies.len() == STATUS_SAMPLES {
            self.latencies.pop_front();
        }
        self.latencies.push_back(ms);
    }

    fn json(&self) -> Value {
        let mut sorted: Vec<f64> = self.latencies.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rate = if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        };
        json!({
            "requests": self.requests, "errors": self.errors, "error_rate": rate,
            "p50_ms": percentile(&sorted, 0.50), "p95_ms": percentile(&sorted, 0.95),
            "p99_ms": percentile(&sorted, 0.99),
        })
    }
}

/// What the arms saw: the current interval's windows and the stage's totals.
#[derive(Default)]
struct Observed {
    stable: ArmWindow,
    candidate: ArmWindow,
    totals_stable: ArmTotals,
    totals_candidate: ArmTotals,
    /// The stage entry the totals belong to.
    stage_key: Option<(String, u32)>,
}

/// Who asked for a change.
#[derive(Debug, Clone)]
pub struct Actor {
    pub by: String,
    pub trace_id: String,
}

/// Why a change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Refused(Refusal),
    #[error(
        "the rollout state cannot be trusted ({0}); the candidate is held at 0% until an operator repairs or removes {1}"
    )]
    Unsafe(String, String),
    #[error("{0}")]
    Store(String),
}

/// The release side of the server.
pub struct Releases {
    pub store: ReleaseStore,
    pub cfg: CanaryConfig,
    pub drills_enabled: bool,
    /// The model a release's engine is opened with (the server's).
    model: Box<dyn Fn() -> Model + Send + Sync>,
    snapshot: ArcSwap<Snapshot>,
    candidate: ArcSwapOption<CandidateArm>,
    observed: Mutex<Observed>,
    drill: Mutex<Option<Drill>>,
    rollbacks: Mutex<VecDeque<Value>>,
    fault_seq: AtomicU64,
    /// Serialises this process's changes (the file lock serialises processes).
    changing: Mutex<()>,
}

fn store_err(e: StoreError) -> anyhow::Error {
    anyhow::anyhow!("release store: {e}")
}

impl Releases {
    /// Opens the store at `dir`; on first start registers `bundle` (served by
    /// `stable`) as the stable release, versioned from its manifest.
    pub fn open(
        dir: &Path,
        stable: &Engine,
        cfg: CanaryConfig,
        drills_enabled: bool,
        model: Box<dyn Fn() -> Model + Send + Sync>,
    ) -> anyhow::Result<Releases> {
        let store = ReleaseStore::open(dir).map_err(store_err)?;
        let releases = Releases {
            store,
            cfg,
            drills_enabled,
            model,
            snapshot: ArcSwap::from_pointee(Snapshot {
                state: RolloutState::default(),
                unsafe_reason: None,
            }),
            candidate: ArcSwapOption::empty(),
            observed: Mutex::new(Observed::default()),
            drill: Mutex::new(None),
            rollbacks: Mutex::new(VecDeque::new()),
            fault_seq: AtomicU64::new(0),
            changing: Mutex::new(()),
        };
        releases.register_stable(stable)?;
        releases.load_rollbacks();
        Ok(releases)
    }

    fn register_stable(&self, stable: &Engine) -> anyhow::Result<()> {
        let path = self.store.rollout_path();
        match state_file::read(&path) {
            StateRead::Ok(_) => {}
            StateRead::Unsafe { .. } => return Ok(()),
            StateRead::Missing => {
                let m = &stable.describe().manifest;
                let version = Version::parse(&m.bundle_version).map_err(|e| {
                    anyhow::anyhow!(
                        "the bundle's version {:?} is not semver ({e}); rebuild it with --bundle-version",
                        m.bundle_version
                    )
                })?;
                if !self.store.has_release(&version) {
                    let bundle = stable.describe().dir.canonicalize()?;
                    let r = Release::from_manifest(version.clone(), bundle, m, None, "registered");
                    self.store
                        .write_release(&r, stable.ranking())
                        .map_err(store_err)?;
                }
                let now = now_ms();
                state_file::update::<std::convert::Infallible, _>(
                    &path,
                    &self.store.lock_path(),
                    |cur| {
                        let mut next = cur.clone();
                        if next.stable.is_none() {
                            next = RolloutState::with_stable(version.clone(), now);
                            next.generation = cur.generation + 1;
                        }
                        Ok(next)
                    },
                )
                .map_err(|e| anyhow::anyhow!("registering the stable release: {e}"))?;
                let _ = self.store.append_event(&json!({
                    "time": super::audit::now_rfc3339(), "event": "registered_stable",
                    "version": version.to_string(), "by": "lens serve",
                }));
            }
        }
        Ok(())
    }

    fn load_rollbacks(&self) {
        let Ok(text) = std::fs::read_to_string(self.store.events_path()) else {
            return;
        };
        let mut kept = self.rollbacks.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line)
                && v["event"] == "rolled_back"
            {
                if kept.len() == ROLLBACKS_KEPT {
                    kept.pop_front();
                }
                kept.push_back(v);
            }
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn candidate(&self) -> Option<Arc<CandidateArm>> {
        self.candidate.load_full()
    }

    /// The stable release's version, as the state names it.
    pub fn stable_version(&self) -> Option<Version> {
        self.snapshot()
            .state
            .stable
            .as_ref()
            .map(|s| s.version.clone())
    }

    /// Re-reads the state file; adopts it when its generation changed (or
    /// it became unsafe), opening a new candidate's engine. Returns whether
    /// anything changed.
    pub fn refresh(&self, metrics: &CanaryMetrics) -> bool {
        let read = state_file::read(&self.store.rollout_path());
        let current = self.snapshot();
        let next = match read {
            StateRead::Ok(s) => Snapshot {
                state: *s,
                unsafe_reason: None,
            },
            StateRead::Missing => Snapshot {
                state: RolloutState::default(),
                unsafe_reason: Some("the rollout state file is missing".into()),
            },
            StateRead::Unsafe { reason } => Snapshot {
                state: current.state.clone(),
                unsafe_reason: Some(reason.to_string()),
            },
        };
        let changed = next.state.generation != current.state.generation
            || next.unsafe_reason != current.unsafe_reason;
        if changed {
            self.adopt(next, metrics);
        } else {
            self.ensure_candidate_engine(&current);
        }
        changed
    }

    fn adopt(&self, next: Snapshot, metrics: &CanaryMetrics) {
        self.ensure_candidate_engine(&next);
        let killed = next
            .state
            .candidate
            .as_ref()
            .is_some_and(|c| c.killed.is_some());
        metrics.traffic_percent.set(next.traffic_percent());
        metrics.killswitch_active.set(i64::from(killed));
        metrics
            .state_unsafe
            .set(i64::from(next.unsafe_reason.is_some()));
        metrics.state_generation.set(next.state.generation as i64);
        self.snapshot.store(Arc::new(next));
    }

    /// Opens the candidate's engine when the state names one not yet open;
    /// drops it when there is none. A candidate that cannot be opened gets
    /// no traffic (routing needs its engine).
    fn ensure_candidate_engine(&self, snap: &Snapshot) {
        let want = snap.state.candidate.as_ref().map(|c| c.version.clone());
        let have = self.candidate().map(|c| c.version.clone());
        if want == have {
            return;
        }
        let Some(version) = want else {
            self.candidate.store(None);
            return;
        };
        match self.open_release(&version) {
            Ok(engine) => self.candidate.store(Some(Arc::new(CandidateArm {
                version,
                engine: Arc::new(engine),
            }))),
            Err(e) => {
                tracing::error!(target: "lens::http", version = %version, cause = %e, "candidate cannot be opened; it gets no traffic");
                self.candidate.store(None);
            }
        }
    }

    /// Opens release `v`'s bundle with its ranking config, tied to its version.
    pub fn open_release(&self, v: &Version) -> anyhow::Result<Engine> {
        let r = self.store.read_release(v).map_err(store_err)?;
        let ranking = self.store.read_ranking(v).map_err(store_err)?;
        let engine = Engine::open(&self.store.bundle_of(&r), (self.model)())?;
        Ok(engine.with_ranking(ranking).for_release(&v.to_string()))
    }

    /// Which arm answers `client`: the candidate iff its engine is open and
    /// the client's bucket is under its share.
    pub fn pick(&self, client: &str) -> Option<Arc<CandidateArm>> {
        let snap = self.snapshot();
        let share = snap.traffic_percent();
        if share <= 0.0 {
            return None;
        }
        let cand = self.candidate()?;
        if snap.state.candidate.as_ref().map(|c| &c.version) != Some(&cand.version) {
            return None;
        }
        match route(bucket(&cand.version.to_string(), client), share) {
            Arm::Candidate => Some(cand),
            Arm::Stable => None,
        }
    }

    /// Records one search's outcome for its arm (5xx and timeouts are errors).
    pub fn observe(&self, arm: Arm, ms: f64, error: bool, metrics: &CanaryMetrics) {
        metrics
            .requests
            .get_or_create(&ArmOutcome {
                arm: arm.as_str().into(),
                outcome: if error { "error" } else { "ok" }.into(),
            })
            .inc();
        let snap = self.snapshot();
        let key = snap
            .state
            .candidate
            .as_ref()
            .map(|c| (c.version.to_string(), c.stage_seq));
        let mut guard = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        let o = &mut *guard;
        if o.stage_key != key {
            o.totals_stable = ArmTotals::default();
            o.totals_candidate = ArmTotals::default();
            o.stage_key = key;
        }
        let (w, t) = match arm {
            Arm::Stable => (&mut o.stable, &mut o.totals_stable),
            Arm::Candidate => (&mut o.candidate, &mut o.totals_candidate),
        };
        w.requests += 1;
        w.errors += u64::from(error);
        w.latencies_ms.push(ms);
        t.record(ms, error);
    }

    /// Judges the interval that just ended (when the candidate is rolling)
    /// and starts the next. Returns the effects of the judgement.
    pub fn tick(&self, metrics: &CanaryMetrics) -> Vec<Effect> {
        let (stable, candidate) = {
            let mut o = self.observed.lock().unwrap_or_else(|p| p.into_inner());
            (
                std::mem::take(&mut o.stable),
                std::mem::take(&mut o.candidate),
            )
        };
        let snap = self.snapshot();
        let rolling = snap.unsafe_reason.is_none()
            && snap
                .state
                .candidate
                .as_ref()
                .is_some_and(|c| c.phase == lens_core::release::Phase::Rolling);
        if !rolling {
            return Vec::new();
        }
        let interval = judge(&self.cfg, &stable, &candidate);
        metrics
            .intervals
            .get_or_create(&VerdictLabel {
                verdict: interval.verdict.as_str().into(),
            })
            .inc();
        let actor = Actor {
            by: "canary judge".into(),
            trace_id: String::new(),
        };
        match self.change(Event::IntervalJudged(interval), &actor, metrics) {
            Ok((_, effects)) => effects,
            Err(e) => {
                tracing::warn!(target: "lens::http", cause = %e, "interval not recorded");
                Vec::new()
            }
        }
    }

    /// Applies `event` to the stored state under the store lock, adopts the
    /// result and records it (event log, metrics). The caller audits.
    pub fn change(
        &self,
        event: Event,
        actor: &Actor,
        metrics: &CanaryMetrics,
    ) -> Result<(RolloutState, Vec<Effect>), ChangeError> {
        let _one = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        let before = self.snapshot().state.clone();
        let mut effects = Vec::new();
        let kind = event.kind();
        let result =
            state_file::update(&self.store.rollout_path(), &self.store.lock_path(), |cur| {
                let (next, e) = apply(cur, event, now, &self.cfg)?;
                effects = e;
                Ok::<_, Refusal>(next)
            });
        let next = match result {
            Ok(next) => next,
            Err(StateFileError::Rejected(r)) => return Err(ChangeError::Refused(r)),
            Err(StateFileError::Unsafe(r)) => {
                self.refresh(metrics);
                return Err(ChangeError::Unsafe(
                    r.to_string(),
                    self.store.rollout_path().display().to_string(),
                ));
            }
            Err(e) => return Err(ChangeError::Store(e.to_string())),
        };
        self.adopt(
            Snapshot {
                state: next.clone(),
                unsafe_reason: None,
            },
            metrics,
        );
        for e in &effects {
            self.record_effect(e, actor, &before, &next, metrics);
        }
        if effects.is_empty() && kind != "interval" {
            let _ = self.store.append_event(&json!({
                "time": super::audit::now_rfc3339(), "event": kind, "by": actor.by,
                "trace_id": actor.trace_id, "generation": next.generation,
            }));
        }
        Ok((next, effects))
    }

    fn record_effect(
        &self,
        e: &Effect,
        actor: &Actor,
        before: &RolloutState,
        after: &RolloutState,
        metrics: &CanaryMetrics,
    ) {
        let name = match e {
            Effect::CandidateCut { .. } => "candidate_cut",
            Effect::Progressed { .. } => "progressed",
            Effect::IntervalRecorded { .. } => return,
            Effect::RolledBack { .. } => "rolled_back",
            Effect::Killed { .. } => "killed",
            Effect::Promoted { .. } => "promoted",
            Effect::StableRestored { .. } => "stable_restored",
            Effect::Abandoned { .. } => "abandoned",
        };
        let line = json!({
            "time": super::audit::now_rfc3339(), "event": name, "by": actor.by,
            "trace_id": actor.trace_id, "generation": after.generation,
            "before": {"traffic_percent": before.traffic_percent(), "stage": before.stage_label()},
            "after": {"traffic_percent": after.traffic_percent(), "stage": after.stage_label()},
            "effect": e,
        });
        match e {
            Effect::RolledBack { .. } => {
                metrics.rollbacks.inc();
                let mut kept = self.rollbacks.lock().unwrap_or_else(|p| p.into_inner());
                if kept.len() == ROLLBACKS_KEPT {
                    kept.pop_front();
                }
                kept.push_back(line.clone());
                tracing::warn!(target: "lens::http", event = %line, "candidate rolled back");
            }
            Effect::Killed { .. } => {
                metrics.killswitch_activations.inc();
                tracing::warn!(target: "lens::http", event = %line, "kill switch activated");
            }
            _ => tracing::info!(target: "lens::http", event = %line, "rollout changed"),
        }
        if let Err(err) = self.store.append_event(&line) {
            tracing::error!(target: "lens::http", cause = %err, "event log write failed");
        }
    }

    /// Sets or clears the injected faults.
    pub fn set_drill(&self, drill: Option<Drill>) {
        *self.drill.lock().unwrap_or_else(|p| p.into_inner()) = drill;
    }

    pub fn drill(&self) -> Option<Drill> {
        self.drill.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The fault to inject into one answer of `arm`: whether it fails and
    /// how long it is held. Deterministic: every k-th answer fails for a rate of 1/k.
    pub fn fault(&self, arm: Arm) -> Option<(bool, Duration)> {
        let d = self.drill()?;
        if d.arm != arm {
            return None;
        }
        let n = self.fault_seq.fetch_add(1, Ordering::Relaxed);
        // Spread failures evenly: fail when the running count of failures owed grows.
        let owed = |k: u64| (k as f64 * d.error_rate).floor() as u64;
        let fail = owed(n + 1) > owed(n);
        Some((fail, Duration::from_millis(d.latency_ms)))
    }

    /// `/canary/status`'s document.
    pub fn status_json(&self) -> Value {
        let snap = self.snapshot();
        let s = &snap.state;
        let c = s.candidate.as_ref();
        let now = now_ms();
        let o = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        let soak = c.and_then(|c| {
            let i = c.stage_index?;
            let need = self.cfg.soak_ms(i) / 1000;
            let elapsed = now.saturating_sub(c.stage_entered_ms) / 1000;
            Some(json!({"required_s": need, "elapsed_s": elapsed, "left_s": need.saturating_sub(elapsed)}))
        });
        let intervals: Vec<&lens_core::release::IntervalSummary> = c
            .map(|c| c.intervals.iter().rev().take(10).collect())
            .unwrap_or_default();
        json!({
            "canary_deployment": {
                "trafficPercentage": snap.traffic_percent(),
                "stage": s.stage_label(),
                "stageIndex": c.and_then(|c| c.stage_index),
                "nextStage": s.next_stage(),
                "stages": c.map(|c| c.stages.clone()).unwrap_or_else(|| self.cfg.stages.clone()),
                "phase": c.map(|c| c.phase.as_str()),
                "candidate": c.map(|c| c.version.to_string()),
                "candidate_loaded": self.candidate().is_some(),
                "stable": s.stable.as_ref().map(|r| r.version.to_string()),
                "generation": s.generation,
                "killSwitch": {
                    "active": c.is_some_and(|c| c.killed.is_some()),
                    "reason": c.and_then(|c| c.killed.as_ref().map(|k| k.reason.clone())),
                    "by": c.and_then(|c| c.killed.as_ref().map(|k| k.by.clone())),
                    "at_ms": c.and_then(|c| c.killed.as_ref().map(|k| k.at_ms)),
                },
                "state": {"trusted": snap.unsafe_reason.is_none(), "reason": snap.unsafe_reason},
                "soak": soak,
                "consecutive_failures": c.map(|c| c.consecutive_failures),
                "arms": {"stable": o.totals_stable.json(), "candidate": o.totals_candidate.json()},
                "current_interval": {
                    "stable_requests": o.stable.requests, "candidate_requests": o.candidate.requests,
                },
                "intervals": intervals,
                "rollback_events": self.rollbacks.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect::<Vec<_>>(),
                "drill": self.drill(),
                "config": self.cfg,
            }
        })
    }
}
