//! Canary settings: the `[canary]` and `[drills]` tables of the lens config.
//!
//! Every figure has a default matching RELEASES.md (stages 5 → 25 → 100), so
//! an empty table is a valid rollout. [`CanaryConfig::validate`] reports every
//! problem at once so an operator fixes the file in one pass, and the state
//! machine relies on a validated config (it never indexes out of range even
//! when given an invalid one, but its decisions only make sense on a valid one).

use serde::{Deserialize, Serialize};

/// How a candidate is rolled out and judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryConfig {
    /// Candidate share of traffic per stage, in percent, strictly increasing;
    /// the last is 100.
    pub stages: Vec<f64>,
    /// Minimum time in each stage before it may progress, in seconds.
    pub soak_seconds: Vec<u64>,
    /// Whether each stage progresses by itself once its conditions hold;
    /// `false` means an operator must call progress (approval).
    pub auto_progress: Vec<bool>,
    /// Length of one judged interval, in seconds.
    pub interval_seconds: u64,
    /// Candidate requests an interval needs before it can pass.
    pub min_requests: u64,
    /// Highest acceptable candidate error rate, in `[0, 1]`.
    pub max_error_rate: f64,
    /// Highest acceptable candidate p95 / stable p95 when the rank test also
    /// finds the candidate slower.
    pub max_p95_ratio: f64,
    /// Failed intervals in a row that roll the candidate back.
    pub failure_limit: u32,
    /// How far the candidate's error rate may exceed the stable's.
    pub error_rate_margin: f64,
}

impl Default for CanaryConfig {
    fn default() -> Self {
        CanaryConfig {
            stages: vec![5.0, 25.0, 100.0],
            soak_seconds: vec![600, 1800, 0],
            auto_progress: vec![true, false, false],
            interval_seconds: 30,
            min_requests: 200,
            max_error_rate: crate::thresholds::thresholds().canary_error_rate,
            max_p95_ratio: 1.10,
            failure_limit: 3,
            error_rate_margin: 0.01,
        }
    }
}

/// Drill switches (e.g. `force_night`); off unless asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrillsConfig {
    /// Allows drill endpoints such as `POST /validation/nightly {"force_night": N}`.
    pub enabled: bool,
}

/// One thing wrong with a [`CanaryConfig`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigProblem {
    /// `stages` is empty.
    #[error("canary.stages is empty; it needs at least [100]")]
    NoStages,
    /// A per-stage list has a different length than `stages`.
    #[error("canary.{field} has {got} entries but canary.stages has {want}")]
    LengthMismatch {
        /// The list that disagrees.
        field: &'static str,
        /// Its length.
        got: usize,
        /// The number of stages.
        want: usize,
    },
    /// A stage is outside `(0, 100]` or not a number.
    #[error("canary.stages[{index}] = {value} must be above 0 and at most 100")]
    StageOutOfRange {
        /// Position in `stages`.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A stage is not above the one before it.
    #[error("canary.stages[{index}] = {value} must be above the previous stage {previous}")]
    StagesNotIncreasing {
        /// Position in `stages`.
        index: usize,
        /// The value.
        value: f64,
        /// The stage before it.
        previous: f64,
    },
    /// The last stage is not 100.
    #[error("the last canary stage is {0}, it must be 100")]
    LastStageNot100(f64),
    /// A rate is outside `[0, 1]`.
    #[error("canary.{field} = {value} must be between 0 and 1")]
    RateOutOfRange {
        /// `max_error_rate` or `error_rate_margin`.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// `max_p95_ratio` is below 1 (or not a number).
    #[error("canary.max_p95_ratio = {0} must be at least 1")]
    RatioBelowOne(f64),
    /// `failure_limit` is 0.
    #[error("canary.failure_limit must be at least 1")]
    FailureLimitZero,
    /// `interval_seconds` is 0.
    #[error("canary.interval_seconds must be at least 1")]
    IntervalZero,
}

/// Why a config file could not be turned into settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML did not parse or had wrong types or unknown keys.
    #[error("config does not parse: {0}")]
    Parse(#[from] toml::de::Error),
    /// It parsed but the values are unusable.
    #[error("invalid canary config: {}", join(.0))]
    Invalid(Vec<ConfigProblem>),
}

fn join(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The release-related tables of a config file; other tables are ignored so
/// this can read the whole `lens.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ReleaseSettings {
    /// `[canary]`.
    #[serde(default)]
    pub canary: CanaryConfig,
    /// `[drills]`.
    #[serde(default)]
    pub drills: DrillsConfig,
}

impl ReleaseSettings {
    /// Parses `[canary]` and `[drills]` from TOML text and validates them.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let settings: ReleaseSettings = toml::from_str(text)?;
        settings.canary.validate().map_err(ConfigError::Invalid)?;
        Ok(settings)
    }
}

impl CanaryConfig {
    /// Every problem with this config, or `Ok` when it is usable.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let n = self.stages.len();
        if n == 0 {
            problems.push(ConfigProblem::NoStages);
        }
        if self.soak_seconds.len() != n {
            problems.push(ConfigProblem::LengthMismatch {
                field: "soak_seconds",
                got: self.soak_seconds.len(),
                want: n,
            });
        }
        if self.auto_progress.len() != n {
            problems.push(ConfigProblem::LengthMismatch {
                field: "auto_progress",
                got: self.auto_progress.len(),
                want: n,
            });
        }
        for (index, &value) in self.stages.iter().enumerate() {
            // Written so NaN falls into the error branch.
            let in_range = value > 0.0 && value <= 100.0;
            if !in_range {
                problems.push(ConfigProblem::StageOutOfRange { index, value });
            }
            if index > 0 {
                let previous = self.stages[index - 1];
                if value.partial_cmp(&previous) != Some(std::cmp::Ordering::Greater) {
                    problems.push(ConfigProblem::StagesNotIncreasing {
                        index,
                        value,
                        previous,
                    });
                }
            }
        }
        if let Some(&last) = self.stages.last()
            && last != 100.0
        {
            problems.push(ConfigProblem::LastStageNot100(last));
        }
        for (field, value) in [
            ("max_error_rate", self.max_error_rate),
            ("error_rate_margin", self.error_rate_margin),
        ] {
            if !(0.0..=1.0).contains(&value) {
                problems.push(ConfigProblem::RateOutOfRange { field, value });
            }
        }
        if self.max_p95_ratio.is_nan() || self.max_p95_ratio < 1.0 {
            problems.push(ConfigProblem::RatioBelowOne(self.max_p95_ratio));
        }
        if self.failure_limit == 0 {
            problems.push(ConfigProblem::FailureLimitZero);
        }
        if self.interval_seconds == 0 {
            problems.push(ConfigProblem::IntervalZero);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The stage's soak time in milliseconds (0 when the index is unknown).
    pub fn soak_ms(&self, stage: usize) -> u64 {
        self.soak_seconds
            .get(stage)
            .map_or(0, |s| s.saturating_mul(1000))
    }

    /// Whether the stage progresses without an operator (false when unknown:
    /// an unknown stage needs a human).
    pub fn auto(&self, stage: usize) -> bool {
        self.auto_progress.get(stage).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_from_empty_table() {
        let s = ReleaseSettings::from_toml("[canary]\n").unwrap();
        assert_eq!(s.canary, CanaryConfig::default());
        assert!(!s.drills.enabled);
        let s = ReleaseSettings::from_toml("").unwrap();
        assert_eq!(s.canary.stages, vec![5.0, 25.0, 100.0]);
        assert_eq!(s.canary.soak_seconds, vec![600, 1800, 0]);
        assert_eq!(s.canary.auto_progress, vec![true, false, false]);
        assert_eq!(s.canary.interval_seconds, 30);
        assert_eq!(s.canary.min_requests, 200);
        assert_eq!(s.canary.max_error_rate, 0.03);
        assert_eq!(s.canary.max_p95_ratio, 1.10);
        assert_eq!(s.canary.failure_limit, 3);
        assert_eq!(s.canary.error_rate_margin, 0.01);
        assert!(CanaryConfig::default().validate().is_ok());
    }

    #[test]
    fn partial_table_keeps_other_defaults_and_ignores_other_tables() {
        let s = ReleaseSettings::from_toml(
            "[server]\nport = 3000\n[canary]\nstages = [10.0, 100.0]\nsoak_seconds = [60, 0]\n\
             auto_progress = [true, false]\nmin_requests = 50\n[drills]\nenabled = true\n",
        )
        .unwrap();
        assert_eq!(s.canary.stages, vec![10.0, 100.0]);
        assert_eq!(s.canary.min_requests, 50);
        assert_eq!(s.canary.failure_limit, 3);
        assert!(s.drills.enabled);
    }

    #[test]
    fn unknown_canary_key_is_an_error() {
        let e = ReleaseSettings::from_toml("[canary]\nstage = [5.0]\n").unwrap_err();
        assert!(matches!(e, ConfigError::Parse(_)), "{e}");
    }

    #[test]
    fn integer_stages_are_read_as_percent() {
        // Operators write `[5, 25, 100]`; toml reads integers into f64 fields.
        let s = ReleaseSettings::from_toml("[canary]\nstages = [5, 25, 100]\n").unwrap();
        assert_eq!(s.canary.stages, vec![5.0, 25.0, 100.0]);
    }

    #[test]
    fn validate_reports_every_problem() {
        let cfg = CanaryConfig {
            stages: vec![50.0, 25.0, 0.0, 90.0],
            soak_seconds: vec![1],
            auto_progress: vec![],
            interval_seconds: 0,
            min_requests: 0,
            max_error_rate: 1.5,
            max_p95_ratio: 0.9,
            failure_limit: 0,
            error_rate_margin: -0.1,
        };
        let problems = cfg.validate().unwrap_err();
        let expect = [
            ConfigProblem::LengthMismatch {
                field: "soak_seconds",
                got: 1,
                want: 4,
            },
            ConfigProblem::LengthMismatch {
                field: "auto_progress",
                got: 0,
                want: 4,
            },
            ConfigProblem::StagesNotIncreasing {
                index: 1,
                value: 25.0,
                previous: 50.0,
            },
            ConfigProblem::StageOutOfRange {
                index: 2,
                value: 0.0,
            },
            ConfigProblem::StagesNotIncreasing {
                index: 2,
                value: 0.0,
                previous: 25.0,
            },
            ConfigProblem::LastStageNot100(90.0),
            ConfigProblem::RateOutOfRange {
                field: "max_error_rate",
                value: 1.5,
            },
            ConfigProblem::RateOutOfRange {
                field: "error_rate_margin",
                value: -0.1,
            },
            ConfigProblem::RatioBelowOne(0.9),
            ConfigProblem::FailureLimitZero,
            ConfigProblem::IntervalZero,
        ];
        assert_eq!(problems, expect);
        let e = ReleaseSettings::from_toml(
            "[canary]\nstages=[5.0, 100.0]\nsoak_seconds=[1,2]\nauto_progress=[true,true]\nfailure_limit=0\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("failure_limit"), "{e}");
    }

    #[test]
    fn empty_and_nan_stages() {
        let cfg = CanaryConfig {
            stages: vec![],
            soak_seconds: vec![],
            auto_progress: vec![],
            ..CanaryConfig::default()
        };
        assert_eq!(cfg.validate().unwrap_err(), vec![ConfigProblem::NoStages]);
        let cfg = CanaryConfig {
            stages: vec![f64::NAN, 100.0],
            soak_seconds: vec![0, 0],
            auto_progress: vec![false, false],
            max_p95_ratio: f64::NAN,
            ..CanaryConfig::default()
        };
        let p = cfg.validate().unwrap_err();
        assert!(
            p.iter()
                .any(|p| matches!(p, ConfigProblem::StageOutOfRange { index: 0, .. }))
        );
        assert!(
            p.iter()
                .any(|p| matches!(p, ConfigProblem::RatioBelowOne(_)))
        );
        assert!(
            p.iter()
                .any(|p| matches!(p, ConfigProblem::StagesNotIncreasing { .. }))
        );
    }

    #[test]
    fn soak_and_auto_lookups_are_total() {
        let cfg = CanaryConfig::default();
        assert_eq!(cfg.soak_ms(0), 600_000);
        assert_eq!(cfg.soak_ms(9), 0);
        assert!(cfg.auto(0));
        assert!(!cfg.auto(1));
        assert!(!cfg.auto(9));
    }
}
