//! Ranking signals (after Zoekt): static per-file priors computed at build
//! time, and per-query signals combined into one file score.

/// Static prior of a file in (0, 1]: tests, vendored and generated files down,
/// short paths and small files up. Docs are stored in descending order of it,
/// so early termination keeps the best files.
pub fn static_rank(path: &str, size: u64) -> f32 {
    let lower = path.to_ascii_lowercase();
    let mut r = 1.0f32;
    if is_vendored(&lower) {
        r *= 0.3;
    }
    if is_generated(&lower) {
        r *= 0.3;
    }
    if is_test(&lower) {
        r *= 0.5;
    }
    let depth = path.matches('/').count() as f32;
    r *= 1.0 / (1.0 + 0.08 * depth);
    r *= 1.0 / (1.0 + (1.0 + size as f32 / 16_384.0).ln() * 0.25);
    r
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

/// Weights of the query-time signals.
pub mod weights {
    pub const STATIC_RANK: f32 = 10.0;
    pub const WHOLE_WORD: f32 = 20.0;
    pub const WORD_EDGE: f32 = 6.0;
    pub const FILE_NAME: f32 = 15.0;
    pub const MATCH_COUNT: f32 = 2.0;
    pub const BM25: f32 = 20.0;
    /// A match on a definition's name (Stage-B): above any use of it.
    pub const DEFINITION: f32 = 40.0;
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
    static_rank: f32,
    best_word: u8,
    file_name_match: bool,
    matches: usize,
    bm25_norm: f32,
) -> f32 {
    use weights::*;
    let word = match best_word {
        2 => WHOLE_WORD,
        1 => WORD_EDGE,
        _ => 0.0,
    };
    STATIC_RANK * static_rank
        + word
        + if file_name_match { FILE_NAME } else { 0.0 }
        + MATCH_COUNT * (1.0 + matches.min(1000) as f32).ln()
        + BM25 * bm25_norm
}

#[cfg(test)]
mod tests {
    use super::*;

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
