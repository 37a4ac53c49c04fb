//! # validation
//!
//! Retrieval metrics for golden sets: nDCG@k (gain 2^rel − 1, log2 discount),
//! recall@k and MRR@k, computed per query and averaged over a set.

pub mod ctags;
pub mod gates;
pub mod nightly;
pub mod sbom;
pub mod signoff;

use std::collections::HashMap;
use std::hash::Hash;

/// nDCG@k of a ranked list against graded judgements (`rel > 0` is relevant).
pub fn ndcg_at_k<D: Eq + Hash>(ranked: &[D], judged: &HashMap<D, u32>, k: usize) -> f64 {
    let gain = |rel: u32| 2f64.powi(rel as i32) - 1.0;
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| gain(judged.get(d).copied().unwrap_or(0)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<u32> = judged.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &r)| gain(r) / (i as f64 + 2.0).log2())
        .sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// Share of the relevant documents found in the first `k`.
pub fn recall_at_k<D: Eq + Hash>(ranked: &[D], judged: &HashMap<D, u32>, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&r| r > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| judged.get(*d).is_some_and(|&r| r > 0))
        .count();
    found as f64 / relevant as f64
}

/// Reciprocal rank of the first relevant document within the first `k`, else 0.
pub fn mrr_at_k<D: Eq + Hash>(ranked: &[D], judged: &HashMap<D, u32>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| judged.get(d).is_some_and(|&r| r > 0))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// Mean of per-query values (0 for an empty set).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&'static str, u32)]) -> HashMap<&'static str, u32> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn hand_computed_values() {
        let j = judged(&[("a", 1), ("b", 1)]);
        // a at rank 2, b at rank 4: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3).
        let got = ndcg_at_k(&["x", "a", "y", "b"], &j, 10);
        let want = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((got - want).abs() < 1e-12);
        assert_eq!(recall_at_k(&["x", "a", "y", "b"], &j, 2), 0.5);
        assert_eq!(mrr_at_k(&["x", "a", "y", "b"], &j, 10), 0.5);
        assert_eq!(mrr_at_k(&["x", "a"], &j, 1), 0.0);
        assert_eq!(ndcg_at_k(&["a", "b"], &j, 10), 1.0);
        assert_eq!(ndcg_at_k::<&str>(&[], &judged(&[]), 10), 0.0);
        // Graded: a perfect order of rel 2 then 1 scores 1; the reverse less.
        let g = judged(&[("a", 2), ("b", 1)]);
        assert_eq!(ndcg_at_k(&["a", "b"], &g, 10), 1.0);
        assert!(ndcg_at_k(&["b", "a"], &g, 10) < 1.0);
        assert_eq!(mean(&[1.0, 0.0, 0.5]), 0.5);
    }
}
