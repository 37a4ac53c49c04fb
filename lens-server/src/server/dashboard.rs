//! A sliding window of recent searches: the dashboard's percentiles, rates and
//! alerts are computed from the same numbers the metrics export.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Runbook thresholds.
use lens_core::thresholds::thresholds;

#[derive(Debug, Clone, Copy)]
struct Sample {
    stage_a_ms: f64,
    early_terminated: bool,
    error: bool,
}

/// Timestamped values of the last `span` (at most [`MAX_SAMPLES`]): what every dashboard
/// window is built on.
pub struct Recent<T> {
    span: Duration,
    samples: Mutex<VecDeque<(Instant, T)>>,
}

impl<T: Copy> Recent<T> {
    pub fn new(span: Duration) -> Recent<T> {
        Recent {
            span,
            samples: Mutex::new(VecDeque::new()),
        }
    }

    pub fn push(&self, value: T) {
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.push_back((now, value));
        while s
            .front()
            .is_some_and(|x| now.duration_since(x.0) > self.span)
            || s.len() > MAX_SAMPLES
        {
            s.pop_front();
        }
    }

    /// The values still inside the window.
    pub fn snapshot(&self) -> Vec<T> {
        let s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.iter()
            .filter(|x| now.duration_since(x.0) <= self.span)
            .map(|x| x.1)
            .collect()
    }
}

/// Nearest-rank percentile of ascending values; 0 when there are none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `part / whole`, 0 for an empty whole.
pub fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

pub struct Window {
    recent: Recent<Sample>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StageA {
    pub requests: usize,
    pub p50_latency_ms: f64,
    pub p95_latency_ms: f64,
    pub p99_latency_ms: f64,
    pub early_termination_rate: f64,
    pub error_rate: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Alert {
    pub alert: &'static str,
    pub severity: &'static str,
    pub threshold: String,
    pub value: f64,
}

const MAX_SAMPLES: usize = 100_000;

impl Window {
    pub fn new(span: Duration) -> Window {
        Window {
            recent: Recent::new(span),
        }
    }

    pub fn record(&self, stage_a_ms: f64, early_terminated: bool, error: bool) {
        self.recent.push(Sample {
            stage_a_ms,
            early_terminated,
            error,
        });
    }

    /// Percentiles and rates over the window.
    pub fn summary(&self) -> StageA {
        let recent = self.recent.snapshot();
        let mut ok: Vec<f64> = recent
            .iter()
            .filter(|x| !x.error)
            .map(|x| x.stage_a_ms)
            .collect();
        ok.sort_by(f64::total_cmp);
        let n = recent.len();
        let count = |f: &dyn Fn(&Sample) -> bool| recent.iter().filter(|x| f(x)).count();
        StageA {
            requests: n,
            p50_latency_ms: percentile(&ok, 0.50),
            p95_latency_ms: percentile(&ok, 0.95),
            p99_latency_ms: percentile(&ok, 0.99),
            early_termination_rate: ratio(count(&|x| x.early_terminated), n),
            error_rate: ratio(count(&|x| x.error), n),
        }
    }

    /// The runbook's alert table, for the alerts whose inputs exist.
    pub fn alerts(stage_a: &StageA) -> Vec<Alert> {
        let mut out = Vec::new();
        if stage_a.requests == 0 {
            return out;
        }
        let t = thresholds();
        if stage_a.p95_latency_ms > t.stage_a_p95_ms {
            out.push(Alert {
                alert: "Stage-A p95 > 5ms",
                severity: "critical",
                threshold: format!(">{}ms", t.stage_a_p95_ms),
                value: stage_a.p95_latency_ms,
            });
        }
        if !tail_compliant(stage_a) {
            out.push(Alert {
                alert: "Tail latency violation",
                severity: "critical",
                threshold: format!("p99 > {}×p95", t.tail_p99_over_p95),
                value: stage_a.p99_latency_ms,
            });
        }
        if stage_a.error_rate > t.error_rate {
            out.push(Alert {
                alert: "Error rate spike",
                severity: "critical",
                threshold: format!(">{}%", t.error_rate * 100.0),
                value: stage_a.error_rate,
            });
        }
        out
    }
}

/// p99 ≤ 2 × p95 (the factor from `dashboards/thresholds.toml`).
pub fn tail_compliant(s: &StageA) -> bool {
    s.p99_latency_ms <= thresholds().tail_p99_over_p95 * s.p95_latency_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_rates_and_alerts() {
        let w = Window::new(Duration::from_secs(60));
        for i in 1..=100 {
            w.record(i as f64 / 10.0, i % 4 == 0, false);
        }
        let s = w.summary();
        assert_eq!(s.requests, 100);
        assert_eq!(s.p95_latency_ms, 9.5);
        assert_eq!(s.p99_latency_ms, 9.9);
        assert!((s.early_termination_rate - 0.25).abs() < 1e-9);
        assert!(tail_compliant(&s));
        let alerts = Window::alerts(&s);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].alert, "Stage-A p95 > 5ms");
        for _ in 0..10 {
            w.record(0.0, false, true);
        }
        assert!(
            Window::alerts(&w.summary())
                .iter()
                .any(|a| a.alert == "Error rate spike")
        );
    }
}
