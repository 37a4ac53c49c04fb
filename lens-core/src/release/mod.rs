//! Release logic: the pure part of shipping a release step by step.
//!
//! Words as in `RELEASES.md`: a **release** is a versioned unit; **stable**
//! serves users; the **candidate** is rolled out through **stages**; each
//! request is answered by one **arm**; an **interval** judges the candidate
//! against stable; a **night** runs every **gate** on the candidate.
//!
//! Nothing here does HTTP, async or reads a clock: every time is a value
//! passed in, so lens-server wires it to requests, timers and routes, the CLI
//! is thin glue, and tests run a week of rollout in a millisecond.
//!
//! - [`version`]: semver 2.0 [`Version`] with correct pre-release order.
//! - [`routing`]: the pinned client [`bucket`] hash and [`route`] to an [`Arm`].
//! - [`canary_config`]: the `[canary]`/`[drills]` tables and their validation.
//! - [`judge`](mod@judge): one [`Interval`] of candidate vs stable (error rates,
//!   Mann–Whitney, p95 ratio) → [`Verdict`].
//! - [`rollout`]: the state machine [`apply`]`(state, event, now_ms, cfg)`.
//! - [`state_file`]: checksummed atomic persistence, fail-safe reads, and a
//!   lock so CLI and server serialise their changes.
//! - [`nights`]: passing nights in a row, promotability, the night log.
//! - [`validation_config`]: the `[validation]` table (schedule, duration, sets).

pub mod canary_config;
pub mod judge;
pub mod nights;
pub mod rollout;
pub mod routing;
pub mod state_file;
pub mod store;
pub mod validation_config;
pub mod version;

pub use canary_config::{CanaryConfig, ConfigError, ConfigProblem, DrillsConfig, ReleaseSettings};
pub use judge::{
    ArmWindow, Interval, Percentiles, Verdict, judge, mann_whitney_greater, percentile,
};
pub use nights::{
    GateSummary, NightGate, NightLog, NightLogError, NightRecord, NightRefusal, NightReplay,
    REQUIRED_NIGHTS, consecutive_passing, night_number, parse_hh_mm, promotable,
    scheduled_night_due,
};
pub use rollout::{
    CandidateState, Effect, Event, HistoryEntry, IntervalSummary, KillInfo, Phase, Refusal,
    RefusalReason, ReleaseRef, RolloutState, apply,
};
pub use routing::{Arm, BUCKETS, bucket, route};
pub use state_file::{
    StateFileError, StateRead, StoreLock, UnsafeReason, read, update, write_atomic,
};
pub use validation_config::ValidationConfig;
pub use version::{ParseError, Version};
