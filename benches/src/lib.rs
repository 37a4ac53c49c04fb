//! Benchmark support: the fixed query sets and statistics shared by the
//! harness (`lens-bench`) and the criterion benches.

use serde::Deserialize;

/// One benchmark query.
#[derive(Debug, Clone, Deserialize)]
pub struct BenchQuery {
    pub id: String,
    /// `selective_literal`, `regex_literal`, `exhaustive_count` or `nonselective_regex`.
    pub class: String,
    pub pattern: String,
    #[serde(default)]
    pub fixed: bool,
    #[serde(default)]
    pub exhaustive: bool,
}

/// Reads a JSON-lines query file.
pub fn read_queries(path: &std::path::Path) -> anyhow::Result<Vec<BenchQuery>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| anyhow::anyhow!("{}: {e}: {l}", path.display()))
        })
        .collect()
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median and p95 of samples (sorted in place).
pub fn summarize(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (percentile(samples, 0.5), percentile(samples, 0.95))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let s: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&s, 0.5), 10.0);
        assert_eq!(percentile(&s, 0.95), 19.0);
        assert_eq!(percentile(&s, 1.0), 20.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
