//! Ranking signals (after Zoekt): static per-file priors computed at build
//! time, and per-query signals combined into one file score; [`Ranking`] is
//! all of it as one value a release carries.

use serde::{Deserialize, Serialize};

use crate::semantic::Fusion;

/// Static prior of a file in (0, 1] under the default priors.
pub fn static_rank(path: &str, size: u64) -> f32 {
    Priors::default().static_rank(path, size)
}

/// Build-time path and size priors: tests, vendored and generated files
/// down, short paths and small files up. Docs are stored in descending order
/// of the prior, so early termination keeps the best files.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Priors {
    pub vendored: f32,
    pub generated: f32,
    pub test: f32,
    /// Each directory level divides by `1 + depth × this`.
    pub depth: f32,
    /// Size divides by `1 + ln(1 + size / 16 KiB) × this`.
    pub size: f32,
}

impl Default for Priors {
    fn default() -> Self {
        Priors {
            vendored: 0.3,
            generated: 0.3,
            test: 0.5,
            depth: 0.08,
            size: 0.25,
        }
    }
}

impl Priors {
    pub fn static_rank(&self, path: &str, size: u64) -> f32 {
        let lower = path.to_ascii_lowercase();
        let mut r = 1.0f32;
        if is_vendored(&lower) {
            r *= self.vendored;
        }
        if is_generated(&lower) {
            r *= self.generated;
        }
        if is_test(&lower) {
            r *= self.test;
        }
        let depth = path.matches('/').count() as f32;
        r *= 1.0 / (1.0 + self.depth * depth);
        r *= 1.0 / (1.0 + (1.0 + size as f32 / 16_384.0).ln() * self.size);
        r.max(f32::MIN_POSITIVE)
    }
}

fn is_vendored(p: &str) -> bool {
    [
        "vendor/",
        "third_party/",
        "third-party/",
        "node_modules/",
        "external/",
        "deps/",
    ]
    .iter()
    .any(|d| p.starts_with(d) || p.contains(&format!("/{d}")))
}

fn is_generated(p: &str) -> bool {
    p.ends_with(".min.js")
        || p.ends_with(".pb.go")
        || p.ends_with("_pb2.py")
        || p.contains("generated")
        || p.ends_with(".lock")
}

fn is_test(p: &str) -> bool {
    let name = p.rsplit('/').next().unwrap_or(p);
    p.split('/').any(|c| {
        matches!(
            c,
            "test" | "tests" | "testing" | "testdata" | "__tests__" | "spec" | "selftests"
        )
    }) || name.starts_with("test_")
        || name.contains("_test.")
        || name.contains(".test.")
        || name.contains(".spec.")
}

/// Weights of the query-time signals of a lexical result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub static_rank: f32,
    pub whole_word: f32,
    pub word_edge: f32,
    pub file_name: f32,
    pub match_count: f32,
    pub bm25: f32,
    /// A match on a definition's name (Stage-B): above any use of it.
    pub definition: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            static_rank: 10.0,
            whole_word: 20.0,
            word_edge: 6.0,
            file_name: 15.0,
            match_count: 2.0,
            bm25: 20.0,
            definition: 40.0,
        }
    }
}

/// Everything that orders results, as a release carries it (`ranking.toml`):
/// build-time priors, query-time weights, and the natural-language fusion
/// weights and confidence cutoff. A ranking change ships as a release.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ranking {
    pub priors: Priors,
    pub weights: Weights,
    pub fusion: Fusion,
}

impl Ranking {
    /// Parses a `ranking.toml`; absent fields take their defaults.
    pub fn from_toml(text: &str) -> std::result::Result<Ranking, String> {
        let r: Ranking = toml::from_str(text).map_err(|e| e.to_string())?;
        r.check()?;
        Ok(r)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("ranking serialises")
    }

    fn check(&self) -> std::result::Result<(), String> {
        let p = &self.priors;
        let w = &self.weights;
        let f = &self.fusion;
        let named = [
            ("priors.vendored", p.vendored),
            ("priors.generated", p.generated),
            ("priors.test", p.test),
            ("priors.depth", p.depth),
            ("priors.size", p.size),
            ("weights.static_rank", w.static_rank),
            ("weights.whole_word", w.whole_word),
            ("weights.word_edge", w.word_edge),
            ("weights.file_name", w.file_name),
            ("weights.match_count", w.match_count),
            ("weights.bm25", w.bm25),
            ("weights.definition", w.definition),
            ("fusion.cosine", f.cosine),
            ("fusion.bm25", f.bm25),
            ("fusion.symbol", f.symbol),
            ("fusion.fallback_symbol", f.fallback_symbol),
        ];
        let bad: Vec<&str> = named
            .iter()
            .filter(|(_, v)| !v.is_finite() || *v < 0.0)
            .map(|(n, _)| *n)
            .collect();
        if !bad.is_empty() {
            return Err(format!("must be finite and ≥ 0: {}", bad.join(", ")));
        }
        for (n, v) in [
            ("priors.vendored", p.vendored),
            ("priors.generated", p.generated),
            ("priors.test", p.test),
        ] {
            if v <= 0.0 || v > 1.0 {
                return Err(format!("{n} must be in (0, 1]"));
            }
        }
        if !(0.0..=1.0).contains(&f.min_confidence) {
            return Err("fusion.min_confidence must be in [0, 1]".into());
        }
        Ok(())
    }
}

/// How well a match sits on word boundaries: 2 whole word, 1 one edge, 0 inside a word.
pub fn word_quality(content: &[u8], start: usize, end: usize) -> u8 {
    if start >= end || end > content.len() {
        return 0;
    }
    let before = start == 0 || !is_word_byte(content[start - 1]) || !is_word_byte(content[start]);
    let after =
        end == content.len() || !is_word_byte(content[end]) || !is_word_byte(content[end - 1]);
    u8::from(before) + u8::from(after)
}

#[inline]
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Combines a file's signals into its score.
pub fn file_score(
    w: &Weights,
    static_rank: f32,
    best_word: u8,
    file_name_match: bool,
    matches: usize,
    bm25_norm: f32,
) -> f32 {
    let word = match best_word {
        2 => w.whole_word,
        1 => w.word_edge,
        _ => 0.0,
    };
    w.static_rank * static_rank
        + word
        + if file_name_match { w.file_name } else { 0.0 }
        + w.match_count * (1.0 + matches.min(1000) as f32).ln()
        + w.bm25 * bm25_norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_defaults_round_trip_and_bad_values_are_named() {
        let r = Ranking::default();
        assert_eq!(Ranking::from_toml(&r.to_toml()).unwrap(), r);
        assert_eq!(Ranking::from_toml("").unwrap(), r);
        let custom = Ranking::from_toml("[weights]\ndefinition = 80.0\n").unwrap();
        assert_eq!(custom.weights.definition, 80.0);
        assert_eq!(custom.weights.bm25, r.weights.bm25);
        let e = Ranking::from_toml("[weights]\nbm25 = -1.0\n").unwrap_err();
        assert!(e.contains("weights.bm25"), "{e}");
        assert!(Ranking::from_toml("[priors]\ntest = 0.0\n").is_err());
        assert!(Ranking::from_toml("[weights]\nbogus = 1.0\n").is_err());
    }

    #[test]
    fn priors_order_paths() {
        assert!(static_rank("src/lib.rs", 1000) > static_rank("src/tests/lib.rs", 1000));
        assert!(static_rank("src/lib.rs", 1000) > static_rank("vendor/x/lib.rs", 1000));
        assert!(static_rank("a.rs", 1000) > static_rank("a/b/c/d/e.rs", 1000));
        assert!(static_rank("a.rs", 1000) > static_rank("a.rs", 10_000_000));
        assert!(static_rank("x/foo_test.go", 10) < static_rank("x/foo.go", 10));
    }

    #[test]
    fn word_quality_edges() {
        let t = b"foo foobar xfoo";
        assert_eq!(word_quality(t, 0, 3), 2);
        assert_eq!(word_quality(t, 4, 7), 1);
        assert_eq!(word_quality(t, 12, 15), 1);
        assert_eq!(word_quality(b"afoob", 1, 4), 0);
        assert_eq!(word_quality(b"0", 1, 1), 0);
    }
}
