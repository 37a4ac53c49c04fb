//! The rollout state machine.
//!
//! ```text
//! no candidate ── cut ──► ready (0%) ── progress ──► 5% ── progress ──► 25% ── progress ──► 100%
//!                   any phase ── kill switch ──► killed (0%, until progress{restart})
//!                   any stage ── failure_limit failed intervals ──► rolled back (0%, until restart)
//! 100% ── promote (requires sign-off) ──► no candidate, candidate is stable
//! ```
//!
//! [`apply`] is pure: the state, an event, the time as a value and the config
//! go in; the next state and the effects the server should act on (log,
//! alert, reload routing) come out, or a [`Refusal`] listing *every* reason
//! the event cannot apply. Nothing here reads a clock, so a test runs a week
//! of rollout in a millisecond, and the server only persists the state,
//! exposes it and feeds it events.
//!
//! Stage percentages are fixed when a candidate is cut (`CandidateState::
//! stages`), so the persisted state alone decides routing even if the config
//! changes mid-rollout; soak times, approvals and limits are read from the
//! config at each event.

use serde::{Deserialize, Serialize};

use super::canary_config::CanaryConfig;
use super::judge::{Interval, Verdict};
use super::version::Version;

/// History entries kept in the state; older ones live in the event log.
pub const HISTORY_LIMIT: usize = 200;
/// Interval summaries kept per candidate.
pub const INTERVAL_LIMIT: usize = 50;

/// A release that is or was stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRef {
    /// Its version.
    pub version: Version,
    /// When it became stable (ms since the epoch, as passed in).
    pub since_ms: u64,
}

/// Where a candidate is in its rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Cut, serving 0%, waiting for the first progress.
    Ready,
    /// Serving the share of stage `stage_index`.
    Rolling,
    /// Sent back to 0% after `failure_limit` failed intervals in a row.
    RolledBack,
    /// Sent to 0% by the kill switch.
    Killed,
}

impl Phase {
    /// Plain name for status output.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ready => "ready",
            Phase::Rolling => "rolling",
            Phase::RolledBack => "rolled back",
            Phase::Killed => "killed",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who pulled the kill switch, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillInfo {
    /// The operator's words.
    pub reason: String,
    /// When (ms).
    pub at_ms: u64,
    /// Who (API key id, user name, `cli`).
    pub by: String,
}

/// What the state keeps of one judged interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalSummary {
    /// When it was recorded (ms).
    pub at_ms: u64,
    /// The stage it was judged in.
    pub stage_index: usize,
    /// Which entry into a stage it belongs to (see `CandidateState::stage_seq`).
    pub stage_seq: u32,
    /// The outcome.
    pub verdict: Verdict,
    /// Candidate requests in the window.
    pub candidate_requests: u64,
    /// Candidate error rate.
    pub candidate_error_rate: f64,
    /// Candidate p95 / stable p95, where defined.
    pub p95_ratio: Option<f64>,
    /// The judge's reasons.
    pub reasons: Vec<String>,
}

/// The candidate being rolled out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateState {
    /// Its version.
    pub version: Version,
    /// Where it is.
    pub phase: Phase,
    /// The stage it serves in; `Some` exactly when `phase` is `Rolling`.
    pub stage_index: Option<usize>,
    /// The stage shares (percent) fixed when it was cut.
    pub stages: Vec<f64>,
    /// When it entered its current phase or stage (ms).
    pub stage_entered_ms: u64,
    /// Counts stage entries, so intervals of an earlier pass through the
    /// same stage (before a restart) never count for this one.
    pub stage_seq: u32,
    /// When it was cut (ms).
    pub cut_ms: u64,
    /// The last [`INTERVAL_LIMIT`] judged intervals, oldest first.
    pub intervals: Vec<IntervalSummary>,
    /// Failed intervals in a row (an inconclusive one neither counts nor
    /// resets: a quiet spell does not erase evidence).
    pub consecutive_failures: u32,
    /// Times it was rolled back.
    pub rollbacks: u32,
    /// Set while the kill switch holds it at 0%.
    pub killed: Option<KillInfo>,
}

impl CandidateState {
    /// The current stage's share, when rolling.
    fn stage_percent(&self) -> Option<f64> {
        match (self.phase, self.stage_index) {
            (Phase::Rolling, Some(i)) => self.stages.get(i).copied(),
            _ => None,
        }
    }

    /// The last interval judged in the current stage entry.
    fn last_stage_interval(&self) -> Option<&IntervalSummary> {
        let stage = self.stage_index?;
        self.intervals
            .last()
            .filter(|s| s.stage_seq == self.stage_seq && s.stage_index == stage)
    }

    fn is_last_stage(&self, i: usize) -> bool {
        i + 1 >= self.stages.len()
    }

    fn enter_stage(&mut self, i: usize, now_ms: u64) {
        self.phase = Phase::Rolling;
        self.stage_index = Some(i);
        self.stage_entered_ms = now_ms;
        self.stage_seq = self.stage_seq.saturating_add(1);
        self.consecutive_failures = 0;
    }
}

/// One line of what happened, newest last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The generation this change produced.
    pub generation: u64,
    /// When (ms).
    pub at_ms: u64,
    /// Event kind: `cut`, `progress`, `interval`, `killswitch`, `promote`,
    /// `rollback`, `abandon`.
    pub event: String,
    /// Plain-words detail.
    pub detail: String,
}

/// Everything the rollout remembers; persisted by `state_file`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    /// Increments on every applied change; lets readers and writers notice
    /// each other's updates.
    pub generation: u64,
    /// The release serving users.
    pub stable: Option<ReleaseRef>,
    /// The stable before the last promotion, for rollback.
    pub previous: Option<ReleaseRef>,
    /// The release being rolled out, if any.
    pub candidate: Option<CandidateState>,
    /// The last [`HISTORY_LIMIT`] changes.
    pub history: Vec<HistoryEntry>,
}

impl RolloutState {
    /// A store with `stable` serving and no candidate.
    pub fn with_stable(version: Version, since_ms: u64) -> Self {
        RolloutState {
            stable: Some(ReleaseRef { version, since_ms }),
            ..RolloutState::default()
        }
    }

    /// The candidate's share of traffic in percent: 0 without a candidate and
    /// when it is ready, rolled back or killed.
    pub fn traffic_percent(&self) -> f64 {
        self.candidate
            .as_ref()
            .and_then(CandidateState::stage_percent)
            .unwrap_or(0.0)
    }

    /// Short status, e.g. `25% (stage 2 of 3)`, `killed (0%)`, `no candidate`.
    pub fn stage_label(&self) -> String {
        let Some(c) = &self.candidate else {
            return "no candidate".to_string();
        };
        match (c.phase, c.stage_index) {
            (Phase::Rolling, Some(i)) => format!(
                "{}% (stage {} of {})",
                c.stages.get(i).copied().unwrap_or(0.0),
                i + 1,
                c.stages.len()
            ),
            (phase, _) => format!("{phase} (0%)"),
        }
    }

    /// The share a successful progress would move to: the first stage from
    /// ready, rolled back or killed (with restart), the next stage while
    /// rolling, `None` at the last stage or without a candidate.
    pub fn next_stage(&self) -> Option<f64> {
        let c = self.candidate.as_ref()?;
        match (c.phase, c.stage_index) {
            (Phase::Rolling, Some(i)) => c.stages.get(i + 1).copied(),
            (Phase::Rolling, None) => None,
            _ => c.stages.first().copied(),
        }
    }
}

/// Something that happened to the rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Make `version` the candidate at 0%.
    CutCandidate {
        /// The release to roll out.
        version: Version,
    },
    /// Move to the next stage (an operator's `/canary/progress`).
    Progress {
        /// Required to leave rolled back or killed; starts again at the
        /// first stage.
        restart: bool,
        /// The operator approving, required for stages without
        /// auto-progress and for a restart.
        approved_by: Option<String>,
    },
    /// The server judged an interval of candidate against stable.
    IntervalJudged(Interval),
    /// Send the candidate to 0% at once.
    KillSwitch {
        /// Why.
        reason: String,
        /// Who.
        by: String,
    },
    /// Make the candidate at 100% the stable. Sign-off is checked by the
    /// caller (lens-server) and passed as a flag.
    Promote {
        /// Whether the required sign-off is present.
        signed_off: bool,
    },
    /// Make the previous stable the stable again.
    Rollback,
    /// Drop the candidate.
    Abandon,
}

impl Event {
    /// The event's name in history and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::CutCandidate { .. } => "cut",
            Event::Progress { .. } => "progress",
            Event::IntervalJudged(_) => "interval",
            Event::KillSwitch { .. } => "killswitch",
            Event::Promote { .. } => "promote",
            Event::Rollback => "rollback",
            Event::Abandon => "abandon",
        }
    }
}

/// What the server should do or tell people after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// A candidate was cut at 0%.
    CandidateCut {
        /// Its version.
        version: Version,
    },
    /// The candidate's share changed upwards.
    Progressed {
        /// Share before (0 from ready, rolled back or killed).
        from_percent: f64,
        /// Share now.
        to_percent: f64,
        /// The stage entered.
        stage_index: usize,
        /// True when interval judgement moved it, false for an operator.
        auto: bool,
    },
    /// An interval was recorded.
    IntervalRecorded {
        /// Its verdict.
        verdict: Verdict,
        /// Failed intervals in a row after it.
        consecutive_failures: u32,
    },
    /// The candidate went back to 0% after failed intervals.
    RolledBack {
        /// Its version.
        version: Version,
        /// The failed intervals that caused it, oldest first.
        evidence: Vec<IntervalSummary>,
    },
    /// The kill switch sent the candidate to 0%.
    Killed {
        /// Its version.
        version: Version,
        /// Why.
        reason: String,
        /// Who.
        by: String,
    },
    /// The candidate is now stable.
    Promoted {
        /// The new stable.
        version: Version,
        /// The stable it replaced, kept for rollback.
        previous: Option<Version>,
    },
    /// The previous stable serves again.
    StableRestored {
        /// The stable now.
        version: Version,
        /// The stable it replaced.
        replaced: Option<Version>,
    },
    /// The candidate was dropped.
    Abandoned {
        /// Its version.
        version: Version,
    },
}

/// One reason an event was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RefusalReason {
    /// The stage has not soaked long enough.
    #[error("the stage needs {seconds} more seconds of soak time")]
    SoakTimeLeft {
        /// Seconds left, rounded up.
        seconds: u64,
    },
    /// The stage has not seen enough candidate requests in its last interval.
    #[error("{n} more candidate requests are needed in an interval")]
    RequestsNeeded {
        /// Requests still needed.
        n: u64,
    },
    /// The stage's last interval did not pass (`None`: none judged yet).
    #[error("{}", match .verdict { Some(v) => format!("the last interval was {v}, not a pass"), None => "no interval has been judged in this stage yet".to_string() })]
    LastIntervalNot {
        /// Its verdict, if any.
        verdict: Option<Verdict>,
    },
    /// The kill switch holds the candidate at 0%.
    #[error("the kill switch is active ({reason}); progress with restart to roll out again")]
    KillSwitchActive {
        /// Why it was pulled.
        reason: String,
    },
    /// The candidate was rolled back; a restart is needed.
    #[error(
        "the candidate was rolled back after failed intervals; progress with restart to roll out again"
    )]
    RestartRequired,
    /// There is no candidate.
    #[error("there is no candidate")]
    NoCandidate,
    /// A candidate already exists.
    #[error("candidate {version} is already being rolled out; promote or abandon it first")]
    CandidateActive {
        /// Its version.
        version: Version,
    },
    /// The proposed candidate is not newer than stable.
    #[error("{version} is not newer than stable {stable}")]
    NotNewer {
        /// The proposed candidate.
        version: Version,
        /// The stable.
        stable: Version,
    },
    /// The stage needs an operator's approval.
    #[error("this stage needs an operator's approval")]
    ApprovalMissing,
    /// Progress at the last stage.
    #[error("already at 100%; promote instead")]
    AtLastStage,
    /// Promotion needs the candidate at its last stage.
    #[error("the candidate serves {percent}%, promotion needs it at 100%")]
    NotAtLastStage {
        /// Its share now.
        percent: f64,
    },
    /// The candidate is not serving a stage, so intervals mean nothing.
    #[error("the candidate is {phase}, not rolling; no interval to judge")]
    NotRolling {
        /// Its phase.
        phase: Phase,
    },
    /// Promotion without sign-off.
    #[error("promotion needs sign-off")]
    SignOffMissing,
    /// Rollback with nothing to roll back to.
    #[error("there is no previous stable to roll back to")]
    NoPrevious,
}

/// Why an event was not applied: every reason at once, so an operator fixes
/// them all before retrying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("refused: {}", .reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Refusal {
    /// The reasons, never empty.
    pub reasons: Vec<RefusalReason>,
}

impl Refusal {
    fn one(reason: RefusalReason) -> Self {
        Refusal {
            reasons: vec![reason],
        }
    }
}

fn check(reasons: Vec<RefusalReason>) -> Result<(), Refusal> {
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Refusal { reasons })
    }
}

fn approved(by: &Option<String>) -> bool {
    by.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// Seconds of soak left in the candidate's current stage (0 when done).
fn soak_left_seconds(c: &CandidateState, now_ms: u64, cfg: &CanaryConfig) -> u64 {
    let Some(i) = c.stage_index else { return 0 };
    let elapsed = now_ms.saturating_sub(c.stage_entered_ms);
    cfg.soak_ms(i).saturating_sub(elapsed).div_ceil(1000)
}

/// Applies `event` at `now_ms` under `cfg`. On success the new state has
/// `generation + 1` and one more history entry; on refusal nothing changes.
pub fn apply(
    state: &RolloutState,
    event: Event,
    now_ms: u64,
    cfg: &CanaryConfig,
) -> Result<(RolloutState, Vec<Effect>), Refusal> {
    let mut next = state.clone();
    let kind = event.kind();
    let (effects, detail) = match event {
        Event::CutCandidate { version } => cut(&mut next, version, now_ms, cfg)?,
        Event::Progress {
            restart,
            approved_by,
        } => progress(&mut next, restart, approved_by, now_ms, cfg)?,
        Event::IntervalJudged(interval) => interval_judged(&mut next, interval, now_ms, cfg)?,
        Event::KillSwitch { reason, by } => kill(&mut next, reason, by, now_ms)?,
        Event::Promote { signed_off } => promote(&mut next, signed_off, now_ms)?,
        Event::Rollback => rollback(&mut next, now_ms)?,
        Event::Abandon => abandon(&mut next)?,
    };
    next.generation = state.generation.saturating_add(1);
    next.history.push(HistoryEntry {
        generation: next.generation,
        at_ms: now_ms,
        event: kind.to_string(),
        detail,
    });
    if next.history.len() > HISTORY_LIMIT {
        let extra = next.history.len() - HISTORY_LIMIT;
        next.history.drain(..extra);
    }
    Ok((next, effects))
}

type Applied = Result<(Vec<Effect>, String), Refusal>;

fn cut(s: &mut RolloutState, version: Version, now_ms: u64, cfg: &CanaryConfig) -> Applied {
    let mut reasons = Vec::new();
    if let Some(c) = &s.candidate {
        reasons.push(RefusalReason::CandidateActive {
            version: c.version.clone(),
        });
    }
    if let Some(stable) = &s.stable
        && version <= stable.version
    {
        reasons.push(RefusalReason::NotNewer {
            version: version.clone(),
            stable: stable.version.clone(),
        });
    }
    check(reasons)?;
    s.candidate = Some(CandidateState {
        version: version.clone(),
        phase: Phase::Ready,
        stage_index: None,
        stages: cfg.stages.clone(),
        stage_entered_ms: now_ms,
        stage_seq: 0,
        cut_ms: now_ms,
        intervals: Vec::new(),
        consecutive_failures: 0,
        rollbacks: 0,
        killed: None,
    });
    Ok((
        vec![Effect::CandidateCut {
            version: version.clone(),
        }],
        format!("candidate {version} cut at 0%"),
    ))
}

fn progress(
    s: &mut RolloutState,
    restart: bool,
    approved_by: Option<String>,
    now_ms: u64,
    cfg: &CanaryConfig,
) -> Applied {
    let Some(c) = s.candidate.as_mut() else {
        return Err(Refusal::one(RefusalReason::NoCandidate));
    };
    let from_percent = c.stage_percent().unwrap_or(0.0);
    let mut reasons = Vec::new();
    let target = match (c.phase, c.stage_index) {
        (Phase::Ready, _) => Some(0),
        (Phase::Killed, _) | (Phase::RolledBack, _) => {
            if !restart {
                reasons.push(match &c.killed {
                    Some(k) => RefusalReason::KillSwitchActive {
                        reason: k.reason.clone(),
                    },
                    None => RefusalReason::RestartRequired,
                });
            }
            if !approved(&approved_by) {
                reasons.push(RefusalReason::ApprovalMissing);
            }
            Some(0)
        }
        (Phase::Rolling, Some(i)) if c.is_last_stage(i) => {
            reasons.push(RefusalReason::AtLastStage);
            None
        }
        (Phase::Rolling, Some(i)) => {
            reasons.extend(stage_conditions(c, now_ms, cfg));
            if !cfg.auto(i) && !approved(&approved_by) {
                reasons.push(RefusalReason::ApprovalMissing);
            }
            Some(i + 1)
        }
        // Rolling without a stage cannot be produced by `apply`; treat a
        // hand-edited state like ready rather than guess a share.
        (Phase::Rolling, None) => Some(0),
    };
    if c.stages.is_empty() {
        // A candidate cut under an empty stage list has nowhere to go.
        reasons.push(RefusalReason::AtLastStage);
    }
    check(reasons)?;
    let to = target.unwrap_or(0);
    if matches!(c.phase, Phase::Killed | Phase::RolledBack) {
        c.killed = None;
    }
    c.enter_stage(to, now_ms);
    let to_percent = c.stages.get(to).copied().unwrap_or(0.0);
    let who = approved_by.unwrap_or_else(|| "operator".to_string());
    Ok((
        vec![Effect::Progressed {
            from_percent,
            to_percent,
            stage_index: to,
            auto: false,
        }],
        format!(
            "{} {}% → {}% by {who}",
            if restart { "restart" } else { "progress" },
            from_percent,
            to_percent
        ),
    ))
}

/// Soak, last-interval and request conditions for leaving the current stage.
fn stage_conditions(c: &CandidateState, now_ms: u64, cfg: &CanaryConfig) -> Vec<RefusalReason> {
    let mut reasons = Vec::new();
    let left = soak_left_seconds(c, now_ms, cfg);
    if left > 0 {
        reasons.push(RefusalReason::SoakTimeLeft { seconds: left });
    }
    match c.last_stage_interval() {
        Some(last) if last.verdict == Verdict::Pass => {}
        Some(last) => {
            reasons.push(RefusalReason::LastIntervalNot {
                verdict: Some(last.verdict),
            });
            if last.candidate_requests < cfg.min_requests {
                reasons.push(RefusalReason::RequestsNeeded {
                    n: cfg.min_requests - last.candidate_requests,
                });
            }
        }
        None => {
            reasons.push(RefusalReason::LastIntervalNot { verdict: None });
            if cfg.min_requests > 0 {
                reasons.push(RefusalReason::RequestsNeeded {
                    n: cfg.min_requests,
                });
            }
        }
    }
    reasons
}

fn interval_judged(
    s: &mut RolloutState,
    interval: Interval,
    now_ms: u64,
    cfg: &CanaryConfig,
) -> Applied {
    let Some(c) = s.candidate.as_mut() else {
        return Err(Refusal::one(RefusalReason::NoCandidate));
    };
    let (Phase::Rolling, Some(stage)) = (c.phase, c.stage_index) else {
        return Err(Refusal::one(RefusalReason::NotRolling { phase: c.phase }));
    };
    c.intervals.push(IntervalSummary {
        at_ms: now_ms,
        stage_index: stage,
        stage_seq: c.stage_seq,
        verdict: interval.verdict,
        candidate_requests: interval.candidate_requests,
        candidate_error_rate: interval.candidate_error_rate,
        p95_ratio: interval.p95_ratio,
        reasons: interval.reasons,
    });
    if c.intervals.len() > INTERVAL_LIMIT {
        let extra = c.intervals.len() - INTERVAL_LIMIT;
        c.intervals.drain(..extra);
    }
    match interval.verdict {
        Verdict::Fail => c.consecutive_failures = c.consecutive_failures.saturating_add(1),
        Verdict::Pass => c.consecutive_failures = 0,
        Verdict::Inconclusive => {}
    }
    let mut effects = vec![Effect::IntervalRecorded {
        verdict: interval.verdict,
        consecutive_failures: c.consecutive_failures,
    }];
    let mut detail = format!(
        "interval {} at stage {} ({} in a row failed)",
        interval.verdict,
        stage + 1,
        c.consecutive_failures
    );
    if c.consecutive_failures >= cfg.failure_limit.max(1) {
        let mut evidence: Vec<IntervalSummary> = c
            .intervals
            .iter()
            .filter(|i| i.verdict == Verdict::Fail && i.stage_seq == c.stage_seq)
            .cloned()
            .collect();
        let keep = c.consecutive_failures as usize;
        if evidence.len() > keep {
            evidence.drain(..evidence.len() - keep);
        }
        c.phase = Phase::RolledBack;
        c.stage_index = None;
        c.stage_entered_ms = now_ms;
        c.rollbacks = c.rollbacks.saturating_add(1);
        c.consecutive_failures = 0;
        detail.push_str("; rolled back to 0%");
        effects.push(Effect::RolledBack {
            version: c.version.clone(),
            evidence,
        });
    } else if interval.verdict == Verdict::Pass
        && cfg.auto(stage)
        && !c.is_last_stage(stage)
        && stage_conditions(c, now_ms, cfg).is_empty()
    {
        let from_percent = c.stage_percent().unwrap_or(0.0);
        c.enter_stage(stage + 1, now_ms);
        let to_percent = c.stages.get(stage + 1).copied().unwrap_or(0.0);
        detail.push_str(&format!(
            "; auto-progressed {from_percent}% → {to_percent}%"
        ));
        effects.push(Effect::Progressed {
            from_percent,
            to_percent,
            stage_index: stage + 1,
            auto: true,
        });
    }
    Ok((effects, detail))
}

fn kill(s: &mut RolloutState, reason: String, by: String, now_ms: u64) -> Applied {
    let Some(c) = s.candidate.as_mut() else {
        return Err(Refusal::one(RefusalReason::NoCandidate));
    };
    c.phase = Phase::Killed;
    c.stage_index = None;
    c.stage_entered_ms = now_ms;
    c.consecutive_failures = 0;
    c.killed = Some(KillInfo {
        reason: reason.clone(),
        at_ms: now_ms,
        by: by.clone(),
    });
    let detail = format!("kill switch by {by}: {reason}");
    Ok((
        vec![Effect::Killed {
            version: c.version.clone(),
            reason,
            by,
        }],
        detail,
    ))
}

fn promote(s: &mut RolloutState, signed_off: bool, now_ms: u64) -> Applied {
    let Some(c) = s.candidate.as_ref() else {
        return Err(Refusal::one(RefusalReason::NoCandidate));
    };
    let mut reasons = Vec::new();
    if let Some(k) = &c.killed {
        reasons.push(RefusalReason::KillSwitchActive {
            reason: k.reason.clone(),
        });
    }
    let at_last =
        matches!((c.phase, c.stage_index), (Phase::Rolling, Some(i)) if c.is_last_stage(i));
    if !at_last {
        reasons.push(RefusalReason::NotAtLastStage {
            percent: c.stage_percent().unwrap_or(0.0),
        });
    }
    if !signed_off {
        reasons.push(RefusalReason::SignOffMissing);
    }
    check(reasons)?;
    let version = c.version.clone();
    let old = s.stable.take();
    let previous = old.as_ref().map(|r| r.version.clone());
    s.previous = old;
    s.stable = Some(ReleaseRef {
        version: version.clone(),
        since_ms: now_ms,
    });
    s.candidate = None;
    let detail = match &previous {
        Some(p) => format!("{version} promoted to stable, replacing {p}"),
        None => format!("{version} promoted to stable"),
    };
    Ok((vec![Effect::Promoted { version, previous }], detail))
}

fn rollback(s: &mut RolloutState, now_ms: u64) -> Applied {
    let mut reasons = Vec::new();
    if let Some(c) = &s.candidate {
        reasons.push(RefusalReason::CandidateActive {
            version: c.version.clone(),
        });
    }
    if s.previous.is_none() {
        reasons.push(RefusalReason::NoPrevious);
    }
    check(reasons)?;
    let Some(mut restored) = s.previous.take() else {
        return Err(Refusal::one(RefusalReason::NoPrevious));
    };
    restored.since_ms = now_ms;
    let version = restored.version.clone();
    let replaced = s.stable.replace(restored).map(|r| r.version);
    let detail = match &replaced {
        Some(r) => format!("stable rolled back from {r} to {version}"),
        None => format!("stable restored to {version}"),
    };
    Ok((vec![Effect::StableRestored { version, replaced }], detail))
}

fn abandon(s: &mut RolloutState) -> Applied {
    let Some(c) = s.candidate.take() else {
        return Err(Refusal::one(RefusalReason::NoCandidate));
    };
    let detail = format!("candidate {} abandoned", c.version);
    Ok((vec![Effect::Abandoned { version: c.version }], detail))
}

#[cfg(test)]
mod tests;
