//! Named limits and the `Deadline` every search takes as a value.

use std::time::{Duration, Instant};

/// Default number of results returned by a ranked search.
pub const DEFAULT_LIMIT: usize = 50;
/// Hard cap on matches an exhaustive search collects; hitting it is reported.
pub const MAX_EXHAUSTIVE_MATCHES: usize = 5_000_000;
/// Default longest query a request may carry, in bytes (servers configure their own).
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most lines of context a request may ask for on each side of a hit.
pub const MAX_CONTEXT_LINES: usize = 10;
/// Default and longest search time a request may ask for.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Largest compiled regex (NFA size) a query may build, in bytes.
pub const MAX_REGEX_SIZE_BYTES: usize = 8 << 20;
/// Longest snippet kept for one line; longer lines are windowed around the match.
pub const MAX_SNIPPET_BYTES: usize = 512;
/// Default largest file the indexer accepts (1 MiB); 0 lifts the limit.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 20;
/// When the n-gram plan would visit more than this share of all documents,
/// the searcher scans the content store instead of walking postings.
pub const SCAN_CANDIDATE_SHARE: f64 = 0.35;
/// Docs verified per batch between deadline checks and early-termination checks.
pub const VERIFY_BATCH_DOCS: usize = 256;

/// Limits applied to one search, passed by value into the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Results (matches) returned in ranked mode.
    pub max_results: usize,
    /// Every match is collected (up to `max_matches`), no early termination.
    pub exhaustive: bool,
    /// Cap on matches collected in exhaustive mode.
    pub max_matches: usize,
    /// Cap on compiled regex size.
    pub max_regex_size: usize,
    /// Exhaustive mode: hits per page, the rest left to a resumed search.
    pub page: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_results: DEFAULT_LIMIT,
            exhaustive: false,
            max_matches: MAX_EXHAUSTIVE_MATCHES,
            max_regex_size: MAX_REGEX_SIZE_BYTES,
            page: None,
        }
    }
}

impl Limits {
    /// Ranked search returning at most `n` results.
    pub fn top(n: usize) -> Self {
        Limits {
            max_results: n,
            ..Limits::default()
        }
    }

    /// Every match, up to the exhaustive cap.
    pub fn exhaustive() -> Self {
        Limits {
            exhaustive: true,
            max_results: usize::MAX,
            ..Limits::default()
        }
    }
}

/// A point in time after which a search stops and returns what it has, flagged.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Option<Instant>,
}

impl Deadline {
    /// A deadline that never expires.
    pub fn none() -> Self {
        Deadline { at: None }
    }

    /// Expires `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Deadline {
            at: Some(Instant::now() + budget),
        }
    }

    /// Expires at `at`.
    pub fn at(at: Instant) -> Self {
        Deadline { at: Some(at) }
    }

    /// True once the deadline has passed.
    pub fn expired(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Time left, `None` when unbounded.
    pub fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }
}
