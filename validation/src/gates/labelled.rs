//! Labelled retrieval sets in the CoSQA layout (`validation/README.md`,
//! `python/cosqa_layout.py`): natural-language queries with graded
//! judgements of which documents answer them. The indexed tree holds one
//! file `<doc_id>.py` per document, so a hit's document id is its file stem.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// One query of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledQuery {
    pub id: String,
    pub text: String,
}

/// A labelled set: its queries in file order and their judgements.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSet {
    /// The directory's name, unless set otherwise.
    pub name: String,
    pub dir: PathBuf,
    pub queries: Vec<LabelledQuery>,
    /// query id → document id → relevance (`> 0` is relevant).
    pub qrels: BTreeMap<String, HashMap<String, u32>>,
    /// Only hits in this repository count (a bundle holding the set's tree
    /// beside other code); `None`: every hit counts.
    pub repo: Option<String>,
    /// At most this many judged queries (the first in file order): a night
    /// bounds its time with it. `None`: all.
    pub max_queries: Option<usize>,
}

/// Why a set could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelledError {
    /// None of the accepted file names exists in the directory.
    Missing {
        dir: PathBuf,
        tried: Vec<String>,
    },
    Io {
        path: PathBuf,
        message: String,
    },
    /// A line that is not what the layout says (1-based line number).
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The files parse but judge no query of the query file.
    Empty {
        dir: PathBuf,
    },
}

impl fmt::Display for LabelledError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelledError::Missing { dir, tried } => {
                write!(f, "none of {} in {}", tried.join(", "), dir.display())
            }
            LabelledError::Io { path, message } => write!(f, "{}: {message}", path.display()),
            LabelledError::BadLine {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            LabelledError::Empty { dir } => {
                write!(
                    f,
                    "{}: no query of the query file has a judgement",
                    dir.display()
                )
            }
        }
    }
}

impl std::error::Error for LabelledError {}

pub const QUERY_FILES: [&str; 2] = ["queries.jsonl", "queries.dev.jsonl"];
pub const QREL_FILES: [&str; 2] = ["qrels.tsv", "qrels.dev.tsv"];

fn first_existing(dir: &Path, names: &[&str]) -> Result<PathBuf, LabelledError> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| LabelledError::Missing {
            dir: dir.to_path_buf(),
            tried: names.iter().map(|s| s.to_string()).collect(),
        })
}

fn read(path: &Path) -> Result<String, LabelledError> {
    std::fs::read_to_string(path).map_err(|e| LabelledError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

impl LabelledSet {
    /// Loads `queries.jsonl` (or `queries.dev.jsonl`: `{query_id, query}`
    /// per line) and `qrels.tsv` (or `qrels.dev.tsv`: `query_id doc_id
    /// relevance` per line, whitespace-separated, an optional header).
    pub fn load(dir: &Path) -> Result<LabelledSet, LabelledError> {
        let qpath = first_existing(dir, &QUERY_FILES)?;
        let rpath = first_existing(dir, &QREL_FILES)?;
        let mut queries = Vec::new();
        for (i, line) in read(&qpath)?.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |message: String| LabelledError::BadLine {
                path: qpath.clone(),
                line: i + 1,
                message,
            };
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
            let field = |k: &str| -> Result<String, LabelledError> {
                match &v[k] {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    _ => Err(bad(format!("no string {k:?}"))),
                }
            };
            queries.push(LabelledQuery {
                id: field("query_id")?,
                text: field("query")?,
            });
        }
        let mut qrels: BTreeMap<String, HashMap<String, u32>> = BTreeMap::new();
        for (i, line) in read(&rpath)?.lines().enumerate() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.is_empty() {
                continue;
            }
            let bad = |message: &str| LabelledError::BadLine {
                path: rpath.clone(),
                line: i + 1,
                message: message.to_string(),
            };
            let [q, d, r] = parts.as_slice() else {
                return Err(bad("expected query_id doc_id relevance"));
            };
            let Ok(rel) = r.parse::<u32>() else {
                if i == 0 {
                    continue; // header
                }
                return Err(bad("relevance is not a non-negative integer"));
            };
            qrels
                .entry(q.to_string())
                .or_default()
                .insert(d.to_string(), rel);
        }
        if !queries.iter().any(|q| qrels.contains_key(&q.id)) {
            return Err(LabelledError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(LabelledSet {
            name,
            dir: dir.to_path_buf(),
            queries,
            qrels,
            repo: None,
            max_queries: None,
        })
    }

    /// Every set of `[validation] labelled`, each capped at `max_queries`
    /// (`labelled_max_queries`: 0 = all); the first set that does not load
    /// is the error.
    pub fn load_configured(
        dirs: &[PathBuf],
        max_queries: usize,
    ) -> Result<Vec<LabelledSet>, LabelledError> {
        dirs.iter()
            .map(|d| {
                LabelledSet::load(d)
                    .map(|s| s.with_max_queries((max_queries > 0).then_some(max_queries)))
            })
            .collect()
    }

    pub fn with_max_queries(mut self, max: Option<usize>) -> LabelledSet {
        self.max_queries = max;
        self
    }

    pub fn in_repo(mut self, repo: impl Into<String>) -> LabelledSet {
        self.repo = Some(repo.into());
        self
    }

    /// The queries that have a judgement with a relevant document, capped at
    /// `max_queries`, with their judgements.
    pub fn judged(&self) -> Vec<(&LabelledQuery, &HashMap<String, u32>)> {
        self.queries
            .iter()
            .filter_map(|q| {
                self.qrels
                    .get(&q.id)
                    .filter(|j| j.values().any(|&r| r > 0))
                    .map(|j| (q, j))
            })
            .take(self.max_queries.unwrap_or(usize::MAX))
            .collect()
    }
}

/// A hit's document id: its file stem (`dir/cosqa-code-01640.py` → `cosqa-code-01640`).
pub fn doc_id(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.').map_or(file, |(stem, _)| stem)
}
