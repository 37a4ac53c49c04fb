//! Interval judgement: is the candidate worse than stable on the last window?
//!
//! The rules are RELEASES.md's "Judging a stage":
//! - fewer than `min_requests` candidate requests → **inconclusive** (never a
//!   pass: silence is not evidence);
//! - **fail** when the candidate's error rate is above `max_error_rate`, or
//!   above the stable's by more than `error_rate_margin`;
//! - **fail** when the candidate is slower in a one-sided Mann–Whitney rank
//!   test (p < [`LATENCY_P_THRESHOLD`]) *and* its p95 is more than
//!   `max_p95_ratio` times the stable's. Requiring both means one slow
//!   sample (which moves neither the ranks nor the p95 much) and a
//!   statistically real but tiny slowdown both pass;
//! - otherwise **pass**.

use serde::{Deserialize, Serialize};

use super::canary_config::CanaryConfig;

/// Significance level of the latency rank test.
pub const LATENCY_P_THRESHOLD: f64 = 0.01;

/// Both samples at most this large and free of ties use the exact U
/// distribution; otherwise the normal approximation.
const EXACT_MAX: usize = 20;

/// What one arm saw during an interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmWindow {
    /// Requests answered by the arm.
    pub requests: u64,
    /// Of those, errors (5xx and timeouts).
    pub errors: u64,
    /// Latency of each sampled request, in milliseconds, any order.
    pub latencies_ms: Vec<f64>,
}

impl ArmWindow {
    /// `errors / requests`, 0 with no requests, never above 1 even if the
    /// counters disagree.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            (self.errors as f64 / self.requests as f64).min(1.0)
        }
    }

    /// The latencies sorted ascending, NaN samples dropped.
    fn sorted_latencies(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .latencies_ms
            .iter()
            .copied()
            .filter(|x| !x.is_nan())
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }
}

/// The outcome of one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The candidate is no worse than stable.
    Pass,
    /// The candidate is worse; see the reasons.
    Fail,
    /// Not enough candidate traffic to tell.
    Inconclusive,
}

impl Verdict {
    /// `pass`, `fail` or `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Latency percentiles of one arm, `None` without samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

impl Percentiles {
    fn of(sorted: &[f64]) -> Self {
        Percentiles {
            p50: percentile(sorted, 0.50),
            p95: percentile(sorted, 0.95),
            p99: percentile(sorted, 0.99),
        }
    }
}

/// One judged interval with the figures behind the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The outcome.
    pub verdict: Verdict,
    /// Why, in plain words; empty for a clean pass.
    pub reasons: Vec<String>,
    /// Candidate requests in the window.
    pub candidate_requests: u64,
    /// Stable requests in the window.
    pub stable_requests: u64,
    /// Candidate errors / requests.
    pub candidate_error_rate: f64,
    /// Stable errors / requests.
    pub stable_error_rate: f64,
    /// Candidate latency percentiles (ms).
    pub candidate_latency: Percentiles,
    /// Stable latency percentiles (ms).
    pub stable_latency: Percentiles,
    /// Candidate p95 / stable p95; `None` when either is missing or the
    /// stable's is not positive.
    pub p95_ratio: Option<f64>,
    /// One-sided Mann–Whitney p-value that the candidate is slower (1 when
    /// there is nothing to compare).
    pub mw_p_value: f64,
}

/// Nearest-rank percentile of an ascending slice: the smallest sample such
/// that at least `q` of the samples are at or below it, i.e. element
/// `ceil(q·n)` (1-based, at least 1). It always returns an observed value,
/// which keeps p95 honest on small windows (no interpolation inventing a
/// latency nobody saw). `q` is clamped to `[0, 1]`; `None` when empty or `q`
/// is NaN.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || q.is_nan() {
        return None;
    }
    let n = sorted.len();
    let q = q.clamp(0.0, 1.0);
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// One-sided Mann–Whitney U test: the p-value of seeing a candidate at least
/// this slow if both arms had the same latency distribution. Small p means
/// the candidate is slower.
///
/// Ties get mid-ranks. With both samples of at most 20 and no ties, the exact
/// distribution of U is used; otherwise the normal approximation with tie
/// correction and a 0.5 continuity correction. Either side empty, or every
/// value tied, gives 1 (no evidence). NaN samples are ignored.
pub fn mann_whitney_greater(candidate: &[f64], stable: &[f64]) -> f64 {
    let c: Vec<f64> = candidate.iter().copied().filter(|x| !x.is_nan()).collect();
    let s: Vec<f64> = stable.iter().copied().filter(|x| !x.is_nan()).collect();
    let (m, n) = (c.len(), s.len());
    if m == 0 || n == 0 {
        return 1.0;
    }
    // Pool, sort, mid-rank.
    let mut pooled: Vec<(f64, bool)> = c
        .iter()
        .map(|&x| (x, true))
        .chain(s.iter().map(|&x| (x, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = pooled.len();
    let mut rank_sum_c = 0.0;
    let mut tie_term = 0.0; // Σ (t³ − t)
    let mut i = 0;
    while i < total {
        let mut j = i + 1;
        while j < total && pooled[j].0 == pooled[i].0 {
            j += 1;
        }
        let t = (j - i) as f64;
        let mid_rank = (i + 1 + j) as f64 / 2.0; // mean of ranks i+1..=j
        for item in &pooled[i..j] {
            if item.1 {
                rank_sum_c += mid_rank;
            }
        }
        tie_term += t * t * t - t;
        i = j;
    }
    let (mf, nf) = (m as f64, n as f64);
    let u_c = rank_sum_c - mf * (mf + 1.0) / 2.0;

    if tie_term == 0.0 && m <= EXACT_MAX && n <= EXACT_MAX {
        return exact_upper_tail(m, n, u_c.round() as usize);
    }
    let nn = mf + nf;
    let variance = mf * nf / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if variance <= 0.0 || !variance.is_finite() {
        return 1.0;
    }
    let z = (u_c - mf * nf / 2.0 - 0.5) / variance.sqrt();
    upper_normal_tail(z).clamp(0.0, 1.0)
}

/// P(U ≥ u) for U the Mann–Whitney count of (candidate > stable) pairs with
/// `m` candidate and `n` stable samples, no ties, under the null.
fn exact_upper_tail(m: usize, n: usize, u: usize) -> f64 {
    // counts[i][j] = distribution of U for i candidate, j stable samples,
    // built by adding the largest element: if it is a candidate it beats all
    // j stable samples (U += j), otherwise U is unchanged.
    let mut prev: Vec<Vec<f64>> = (0..=n).map(|_| vec![1.0]).collect(); // i = 0
    for i in 1..=m {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
        cur.push(vec![1.0]); // j = 0
        for j in 1..=n {
            let mut dist = vec![0.0; i * j + 1];
            for (k, &w) in prev[j].iter().enumerate() {
                dist[k + j] += w;
            }
            for (k, &w) in cur[j - 1].iter().enumerate() {
                dist[k] += w;
            }
            cur.push(dist);
        }
        prev = cur;
    }
    let dist = &prev[n];
    let total: f64 = dist.iter().sum();
    let tail: f64 = dist.iter().skip(u).sum();
    (tail / total).clamp(0.0, 1.0)
}

/// P(Z ≥ z) for a standard normal Z.
fn upper_normal_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function, Chebyshev fit (Numerical Recipes `erfcc`),
/// relative error below 1.2e-7 everywhere: ample for a 0.01 threshold.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Judges one interval of candidate against stable under `cfg`.
pub fn judge(cfg: &CanaryConfig, stable: &ArmWindow, candidate: &ArmWindow) -> Interval {
    let cs = candidate.sorted_latencies();
    let ss = stable.sorted_latencies();
    let candidate_latency = Percentiles::of(&cs);
    let stable_latency = Percentiles::of(&ss);
    let p95_ratio = match (candidate_latency.p95, stable_latency.p95) {
        (Some(c), Some(s)) if s > 0.0 => Some(c / s),
        _ => None,
    };
    let mw_p_value = mann_whitney_greater(&cs, &ss);
    let candidate_error_rate = candidate.error_rate();
    let stable_error_rate = stable.error_rate();

    let mut reasons = Vec::new();
    let verdict = if candidate.requests < cfg.min_requests {
        reasons.push(format!(
            "candidate served {} requests, {} needed to judge",
            candidate.requests, cfg.min_requests
        ));
        Verdict::Inconclusive
    } else {
        if candidate_error_rate > cfg.max_error_rate {
            reasons.push(format!(
                "candidate error rate {:.2}% is above the {:.2}% limit",
                candidate_error_rate * 100.0,
                cfg.max_error_rate * 100.0
            ));
        }
        if candidate_error_rate > stable_error_rate + cfg.error_rate_margin {
            reasons.push(format!(
                "candidate error rate {:.2}% exceeds stable's {:.2}% by more than {:.2} points",
                candidate_error_rate * 100.0,
                stable_error_rate * 100.0,
                cfg.error_rate_margin * 100.0
            ));
        }
        if let Some(ratio) = p95_ratio
            && mw_p_value < LATENCY_P_THRESHOLD
            && ratio > cfg.max_p95_ratio
        {
            reasons.push(format!(
                "candidate is slower (rank test p = {mw_p_value:.2e}) and its p95 is {ratio:.2}× stable's, above {:.2}×",
                cfg.max_p95_ratio
            ));
        }
        if reasons.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    };
    Interval {
        verdict,
        reasons,
        candidate_requests: candidate.requests,
        stable_requests: stable.requests,
        candidate_error_rate,
        stable_error_rate,
        candidate_latency,
        stable_latency,
        p95_ratio,
        mw_p_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: tiny, deterministic, good enough for test data.
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
        /// A skewed latency: 10 ms plus an exponential with mean 15 ms.
        fn latency(&mut self) -> f64 {
            10.0 - 15.0 * (1.0 - self.unit()).ln()
        }
    }

    fn window(rng: &mut Rng, n: usize, errors: u64, shift_ms: f64) -> ArmWindow {
        ArmWindow {
            requests: n as u64,
            errors,
            latencies_ms: (0..n).map(|_| rng.latency() + shift_ms).collect(),
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.95), Some(95.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
        // 5 samples: rank ceil(0.95*5) = 5, ceil(0.5*5) = 3.
        let w = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&w, 0.95), Some(5.0));
        assert_eq!(percentile(&w, 0.5), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&w, f64::NAN), None);
        assert_eq!(percentile(&w, 7.0), Some(5.0));
    }

    #[test]
    fn mann_whitney_exact_small_samples() {
        // All 3 candidates above all 3 stables: 1 arrangement of C(6,3)=20.
        let p = mann_whitney_greater(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]);
        assert!((p - 0.05).abs() < 1e-12, "{p}");
        // All below: every arrangement has U >= 0.
        let p = mann_whitney_greater(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert!((p - 1.0).abs() < 1e-12, "{p}");
        // A single sample each way.
        assert!((mann_whitney_greater(&[2.0], &[1.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn mann_whitney_degenerate_inputs() {
        assert_eq!(mann_whitney_greater(&[], &[1.0]), 1.0);
        assert_eq!(mann_whitney_greater(&[1.0], &[]), 1.0);
        assert_eq!(mann_whitney_greater(&[5.0; 50], &[5.0; 50]), 1.0);
        assert_eq!(mann_whitney_greater(&[f64::NAN], &[1.0]), 1.0);
        let p = mann_whitney_greater(&[1.0, f64::INFINITY], &[0.5, 0.7]);
        assert!((0.0..=1.0).contains(&p));
    }

    #[test]
    fn mann_whitney_normal_approximation_agrees_with_exact() {
        // 20 v 20 (exact) against 21 v 20 (normal) on similar data: both
        // strongly significant for a clear shift, both near 0.5 for none.
        let mut rng = Rng(7);
        let s: Vec<f64> = (0..20).map(|_| rng.latency()).collect();
        let c: Vec<f64> = s.iter().map(|x| x + 30.0).collect();
        let exact = mann_whitney_greater(&c, &s);
        let mut c21 = c.clone();
        c21.push(c[0] + 0.001);
        let approx = mann_whitney_greater(&c21, &s);
        assert!(exact < 0.01 && approx < 0.01, "{exact} {approx}");
        // Symmetric: candidate equal to stable shuffled.
        let mut big_rng = Rng(9);
        let a: Vec<f64> = (0..400).map(|_| big_rng.latency()).collect();
        let p = mann_whitney_greater(&a[..200], &a[200..]);
        assert!(p > 0.01 && p < 0.99, "{p}");
    }

    #[test]
    fn mann_whitney_ties_use_correction() {
        // Heavily tied but clearly shifted: still significant, finite.
        let c: Vec<f64> = (0..100).map(|i| f64::from(i % 5 + 3)).collect();
        let s: Vec<f64> = (0..100).map(|i| f64::from(i % 5)).collect();
        let p = mann_whitney_greater(&c, &s);
        assert!(p < 1e-6, "{p}");
    }

    #[test]
    fn same_distribution_passes_over_many_seeds() {
        let cfg = CanaryConfig::default();
        for seed in 0..100 {
            let mut rng = Rng(seed);
            let stable = window(&mut rng, 4000, 40, 0.0);
            let candidate = window(&mut rng, 400, 4, 0.0);
            let i = judge(&cfg, &stable, &candidate);
            assert_eq!(i.verdict, Verdict::Pass, "seed {seed}: {:?}", i.reasons);
            assert!(i.reasons.is_empty());
        }
    }

    #[test]
    fn planted_latency_fails() {
        let cfg = CanaryConfig::default();
        for seed in 0..20 {
            let mut rng = Rng(seed);
            let stable = window(&mut rng, 4000, 0, 0.0);
            let candidate = window(&mut rng, 400, 0, 50.0);
            let i = judge(&cfg, &stable, &candidate);
            assert_eq!(i.verdict, Verdict::Fail, "seed {seed}");
            assert!(i.mw_p_value < LATENCY_P_THRESHOLD);
            assert!(i.p95_ratio.unwrap() > cfg.max_p95_ratio);
            assert!(i.reasons[0].contains("slower"), "{:?}", i.reasons);
        }
    }

    #[test]
    fn planted_errors_fail() {
        let cfg = CanaryConfig::default();
        let mut rng = Rng(3);
        let stable = window(&mut rng, 4000, 40, 0.0);
        let candidate = window(&mut rng, 400, 80, 0.0);
        let i = judge(&cfg, &stable, &candidate);
        assert_eq!(i.verdict, Verdict::Fail);
        assert!((i.candidate_error_rate - 0.2).abs() < 1e-12);
        // Both error rules fire and both are named.
        assert_eq!(i.reasons.len(), 2, "{:?}", i.reasons);
    }

    #[test]
    fn error_margin_over_stable_fails_below_the_absolute_limit() {
        let cfg = CanaryConfig {
            max_error_rate: 0.5,
            ..CanaryConfig::default()
        };
        let mut rng = Rng(4);
        let stable = window(&mut rng, 1000, 10, 0.0); // 1%
        let candidate = window(&mut rng, 1000, 30, 0.0); // 3% > 1% + 1%
        let i = judge(&cfg, &stable, &candidate);
        assert_eq!(i.verdict, Verdict::Fail);
        assert_eq!(i.reasons.len(), 1);
        assert!(i.reasons[0].contains("stable"), "{:?}", i.reasons);
    }

    #[test]
    fn too_few_requests_is_inconclusive_even_when_bad() {
        let cfg = CanaryConfig::default();
        let mut rng = Rng(5);
        let stable = window(&mut rng, 4000, 0, 0.0);
        let good = window(&mut rng, 199, 0, 0.0);
        let i = judge(&cfg, &stable, &good);
        assert_eq!(i.verdict, Verdict::Inconclusive);
        assert!(i.reasons[0].contains("199"));
        let bad = window(&mut rng, 199, 199, 500.0);
        assert_eq!(judge(&cfg, &stable, &bad).verdict, Verdict::Inconclusive);
        let exactly = window(&mut rng, 200, 0, 0.0);
        assert_eq!(judge(&cfg, &stable, &exactly).verdict, Verdict::Pass);
        let empty = ArmWindow::default();
        assert_eq!(judge(&cfg, &stable, &empty).verdict, Verdict::Inconclusive);
    }

    #[test]
    fn one_slow_outlier_does_not_fail() {
        let cfg = CanaryConfig::default();
        for seed in 0..20 {
            let mut rng = Rng(100 + seed);
            let stable = window(&mut rng, 4000, 0, 0.0);
            let mut candidate = window(&mut rng, 300, 0, 0.0);
            candidate.latencies_ms[0] = 60_000.0;
            let i = judge(&cfg, &stable, &candidate);
            assert_eq!(i.verdict, Verdict::Pass, "seed {seed}: {:?}", i.reasons);
        }
    }

    #[test]
    fn slower_in_ranks_but_p95_within_ratio_passes() {
        // +1 ms everywhere: significant in ranks, p95 ratio ~1.02.
        let cfg = CanaryConfig::default();
        let mut rng = Rng(11);
        let stable = window(&mut rng, 4000, 0, 0.0);
        let candidate = window(&mut rng, 4000, 0, 1.0);
        let i = judge(&cfg, &stable, &candidate);
        assert_eq!(i.verdict, Verdict::Pass, "{:?}", i.reasons);
        assert!(i.p95_ratio.unwrap() < cfg.max_p95_ratio);
    }

    #[test]
    fn bad_counters_and_missing_latencies_are_handled() {
        let cfg = CanaryConfig::default();
        let stable = ArmWindow {
            requests: 1000,
            errors: 0,
            latencies_ms: vec![],
        };
        let candidate = ArmWindow {
            requests: 300,
            errors: 9000,
            latencies_ms: vec![f64::NAN, 1.0],
        };
        let i = judge(&cfg, &stable, &candidate);
        assert_eq!(i.candidate_error_rate, 1.0);
        assert_eq!(i.p95_ratio, None);
        assert_eq!(i.mw_p_value, 1.0);
        assert_eq!(i.verdict, Verdict::Fail);
        assert_eq!(i.candidate_latency.p50, Some(1.0));
    }

    #[test]
    fn interval_serializes() {
        let cfg = CanaryConfig::default();
        let i = judge(&cfg, &ArmWindow::default(), &ArmWindow::default());
        let json = serde_json::to_value(&i).unwrap();
        assert_eq!(json["verdict"], "inconclusive");
        let back: Interval = serde_json::from_value(json).unwrap();
        assert_eq!(back, i);
    }
}
