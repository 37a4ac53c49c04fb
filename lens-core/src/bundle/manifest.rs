//! `manifest.json`: versions, sources, counts, skips and checksums of every file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bundle format written by this build (3: next-byte masks in `ngram.next`).
pub const FORMAT_VERSION: u32 = 3;
/// Oldest bundle format this build reads.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Search API version served over this bundle.
pub const API_VERSION: &str = "v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub api_version: String,
    /// Semver of the bundle itself, e.g. `1.0.0-rc.1`.
    pub bundle_version: String,
    /// RFC 3339 UTC time of the build.
    pub created_at: String,
    pub lens_version: String,
    pub sources: Vec<Source>,
    /// Language names; a doc's language index points here.
    pub languages: Vec<String>,
    pub counts: Counts,
    /// Every file the walk saw but did not index, with the reason.
    pub skipped: Vec<Skip>,
    /// Every file of the bundle (relative path) with its size and xxh3-64 checksum.
    pub files: Vec<FileChecksum>,
    /// Build settings that shaped the bundle.
    pub build: BuildSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub files: u64,
    pub bytes: u64,
    pub skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    pub trigrams: u64,
    pub postings: u64,
    /// Definitions in the symbol table.
    #[serde(default)]
    pub symbols: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Skip {
    pub repo: String,
    pub path: String,
    pub reason: SkipReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Contains a NUL byte.
    Binary,
    /// Larger than `--max-file-size`.
    TooLarge,
    /// Could not be read (permissions, vanished, special file).
    Unreadable,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::TooLarge => "too_large",
            SkipReason::Unreadable => "unreadable",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileChecksum {
    pub path: String,
    pub bytes: u64,
    pub xxh3: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BuildSettings {
    pub respect_ignore_files: bool,
    pub include_hidden: bool,
    /// 0 means no limit.
    pub max_file_size: u64,
    /// Whether the bundle has a tantivy text index (BM25).
    #[serde(default = "default_true")]
    pub text_index: bool,
    /// Whether the bundle has a symbol table (Stage-B).
    #[serde(default)]
    pub symbols: bool,
    /// Time to compile the tree-sitter tags queries, in microseconds.
    #[serde(default)]
    pub tags_query_compile_us: u64,
    /// Imported SCIP indexes and LSIF dumps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub precise: Vec<PreciseSource>,
    /// Chunk embeddings (Stage-C) and the model that made them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<EmbeddingsInfo>,
    /// The sparse n-gram index (`ngram.sparse.*`), if the bundle has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_grams: Option<SparseGramsInfo>,
}

/// How the sparse n-grams were made: a search uses them only when it makes
/// grams the same way (`crate::ngram::sparse`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SparseGramsInfo {
    pub min_len: u32,
    pub max_len: u32,
    /// xxh3 of the bigram weight table.
    pub weights: String,
    /// Lists of more documents than this were counted, not written.
    pub max_list_docs: u32,
    /// Distinct grams and (doc, gram) postings written.
    pub grams: u64,
    pub postings: u64,
}

/// What the bundle's embeddings are: a bundle and its model are released together.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmbeddingsInfo {
    pub model: crate::semantic::ModelId,
    pub chunks: u64,
    /// `int8`: one signed byte per dimension, one f32 scale per vector.
    pub quantisation: String,
    /// Wall time of the embedding pass, in milliseconds.
    pub build_ms: u64,
}

/// One imported SCIP index or LSIF dump.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PreciseSource {
    /// `scip` or `lsif`.
    pub format: String,
    pub file: String,
    /// The indexer's name and version, as it recorded them.
    pub tool: String,
    /// Documents in the index, and those matched to bundle files.
    pub documents: u64,
    pub documents_matched: u64,
    pub occurrences: u64,
    pub symbols: u64,
}

fn default_true() -> bool {
    true
}

/// Formats unix seconds as RFC 3339 UTC (no external time crate needed).
pub fn rfc3339_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339() {
        assert_eq!(super::rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339_utc(1_795_441_507), "2026-11-23T13:45:07Z");
        assert_eq!(super::rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
