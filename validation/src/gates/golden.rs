//! Golden sets sampled from a bundle's own content, with the truth of every
//! lexical query from a brute-force scan (the `regex` crate, line by line —
//! the same reference `lens-core/tests/differential.rs` uses), so a gate
//! never trusts the engine it is checking.

use std::collections::{BTreeMap, BTreeSet};

use lens_core::Engine;
use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// One match: 1-based line, byte offsets within the line (end exclusive).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    pub repo: String,
    pub path: String,
    pub line: u64,
    pub start: usize,
    pub end: usize,
}

/// What a lexical golden query exercises (one of each is sampled in turn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// `case:yes "ident"`
    IdentLiteral,
    /// `case:yes /\bident\b/`
    WholeWord,
    /// `case:no "IDENT"`
    CaseInsensitive,
    /// `case:yes "text of a string literal"`
    StringLiteral,
    /// `case:yes /ident\s*\(/`
    RegexLiteral,
    /// `case:yes "ident" file:dir/`
    PathFiltered,
    /// An identifier with a suffix that appears nowhere: the truth is empty.
    NoMatch,
}

impl QueryKind {
    pub const ALL: [QueryKind; 7] = [
        QueryKind::IdentLiteral,
        QueryKind::WholeWord,
        QueryKind::CaseInsensitive,
        QueryKind::StringLiteral,
        QueryKind::RegexLiteral,
        QueryKind::PathFiltered,
        QueryKind::NoMatch,
    ];
}

/// The semantics of a query restated for the brute-force scan, so the truth
/// can be recomputed on any bundle's content (the candidate's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    /// Regex applied to each line (split at `\n`).
    pub regex: String,
    pub case_insensitive: bool,
    /// Regex the path must match (unanchored, case-sensitive), if filtered.
    pub path_regex: Option<String>,
}

/// A lexical golden query and its truth on the bundle it was sampled from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LexicalQuery {
    pub kind: QueryKind,
    /// Query-language text, as a user would type it.
    pub query: String,
    pub scan: Scan,
    /// Every span the query must return, sorted.
    pub truth: Vec<Span>,
}

/// A definition that should rank first for a search of its bare name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionQuery {
    pub name: String,
    pub repo: String,
    pub path: String,
    /// 1-based line of the name.
    pub line: u64,
}

/// The golden queries of a release, kept as JSON in the release store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldenSet {
    pub lexical: Vec<LexicalQuery>,
    pub definitions: Vec<DefinitionQuery>,
}

/// Default sizes: a few seconds on a small bundle.
pub const DEFAULT_LEXICAL: usize = 60;
pub const DEFAULT_DEFINITIONS: usize = 30;

/// The documents of a bundle, read once: the reference every scan walks.
pub struct Corpus<'a> {
    pub docs: Vec<CorpusDoc<'a>>,
}

/// One indexed file.
pub struct CorpusDoc<'a> {
    pub repo: &'a str,
    pub path: String,
    pub content: &'a [u8],
}

impl<'a> Corpus<'a> {
    pub fn of(engine: &'a Engine) -> Corpus<'a> {
        let r = engine.reader();
        let docs = r.docs();
        let docs = (0..r.doc_count() as u32)
            .map(|d| {
                let rec = docs.get(d);
                CorpusDoc {
                    repo: r.repo_name(&rec),
                    path: r.path(&rec).into_owned(),
                    content: r.content(&rec),
                }
            })
            .collect();
        Corpus { docs }
    }

    /// Every span of `scan` over the corpus, sorted (None if the regex is invalid).
    pub fn scan(&self, scan: &Scan) -> Option<Vec<Span>> {
        let re = RegexBuilder::new(&scan.regex)
            .case_insensitive(scan.case_insensitive)
            .build()
            .ok()?;
        let path_re = match &scan.path_regex {
            Some(p) => Some(regex::Regex::new(p).ok()?),
            None => None,
        };
        let mut out = Vec::new();
        for d in &self.docs {
            if path_re.as_ref().is_some_and(|p| !p.is_match(&d.path)) {
                continue;
            }
            scan_doc(&re, d, &mut out);
        }
        out.sort();
        Some(out)
    }
}

fn scan_doc(re: &Regex, d: &CorpusDoc<'_>, out: &mut Vec<Span>) {
    for (i, line) in d.content.split(|&b| b == b'\n').enumerate() {
        for m in re.find_iter(line) {
            out.push(Span {
                repo: d.repo.to_string(),
                path: d.path.clone(),
                line: i as u64 + 1,
                start: m.start(),
                end: m.end(),
            });
        }
    }
}

/// SplitMix64: deterministic for a seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'v, T>(&mut self, v: &'v [T]) -> Option<&'v T> {
        (!v.is_empty()).then(|| &v[self.below(v.len())])
    }
}

/// Samples `n` lexical queries (the kinds in turn) and `n / 2` definition
/// queries from the bundle's own content and symbol table; the same seed on
/// the same bundle gives the same set.
pub fn sample(engine: &Engine, seed: u64, n: usize) -> GoldenSet {
    sample_sized(engine, seed, n, n / 2)
}

/// [`sample`] with the number of definition queries given.
pub fn sample_sized(engine: &Engine, seed: u64, lexical: usize, definitions: usize) -> GoldenSet {
    let corpus = Corpus::of(engine);
    let mut rng = Rng(seed);
    let idents = identifiers(&corpus);
    let common: Vec<&str> = idents
        .iter()
        .filter(|(_, c)| **c >= 2)
        .map(|(s, _)| s.as_str())
        .collect();
    let all: Vec<&str> = idents.keys().map(String::as_str).collect();
    let pool = if common.len() >= 8 { &common } else { &all };
    let strings = string_literals(&corpus);
    let mut out = GoldenSet::default();
    let mut seen = BTreeSet::new();
    let mut attempts = 0;
    while out.lexical.len() < lexical && attempts < lexical * 20 && !pool.is_empty() {
        let kind = QueryKind::ALL[attempts % QueryKind::ALL.len()];
        attempts += 1;
        let Some(q) = lexical_query(kind, &corpus, pool, &strings, &mut rng) else {
            continue;
        };
        if !seen.insert(q.query.clone()) {
            continue;
        }
        let Some(truth) = corpus.scan(&q.scan) else {
            continue;
        };
        // Every kind but NoMatch must match something; NoMatch must match nothing.
        if truth.is_empty() != (kind == QueryKind::NoMatch) {
            continue;
        }
        out.lexical.push(LexicalQuery { truth, ..q });
    }
    out.definitions = definition_queries(engine, &idents, definitions, &mut rng);
    out
}

fn lexical_query(
    kind: QueryKind,
    corpus: &Corpus<'_>,
    pool: &[&str],
    strings: &[String],
    rng: &mut Rng,
) -> Option<LexicalQuery> {
    let id = *rng.pick(pool)?;
    let exact = |regex: String| Scan {
        regex,
        case_insensitive: false,
        path_regex: None,
    };
    let (query, scan) = match kind {
        QueryKind::IdentLiteral => (format!("case:yes \"{id}\""), exact(regex::escape(id))),
        QueryKind::WholeWord => (
            format!(r"case:yes /\b{id}\b/"),
            exact(format!(r"\b{}\b", regex::escape(id))),
        ),
        QueryKind::CaseInsensitive => (
            format!("case:no \"{}\"", swap_case(id)),
            Scan {
                case_insensitive: true,
                ..exact(regex::escape(id))
            },
        ),
        QueryKind::StringLiteral => {
            let s = rng.pick(strings)?;
            (format!("case:yes \"{s}\""), exact(regex::escape(s)))
        }
        QueryKind::RegexLiteral => (
            format!(r"case:yes /{id}\s*\(/"),
            exact(format!(r"{}\s*\(", regex::escape(id))),
        ),
        QueryKind::PathFiltered => {
            let needle = id.as_bytes();
            let dirs: Vec<&str> = corpus
                .docs
                .iter()
                .filter(|d| d.content.windows(needle.len()).any(|w| w == needle))
                .filter_map(|d| d.path.rsplit_once('/').map(|(dir, _)| dir))
                .filter(|dir| {
                    dir.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/')
                })
                .collect();
            let dir = *rng.pick(&dirs)?;
            (
                format!("case:yes \"{id}\" file:{dir}/"),
                Scan {
                    path_regex: Some(format!("{dir}/")),
                    ..exact(regex::escape(id))
                },
            )
        }
        QueryKind::NoMatch => {
            let suffix: String = (0..8)
                .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.below(36)]))
                .collect();
            let id = format!("{id}_zq{suffix}");
            (format!("case:yes \"{id}\""), exact(regex::escape(&id)))
        }
    };
    Some(LexicalQuery {
        kind,
        query,
        scan,
        truth: Vec::new(),
    })
}

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// ASCII identifiers of 4–40 characters and how often each occurs.
fn identifiers(corpus: &Corpus<'_>) -> BTreeMap<String, usize> {
    let re = Regex::new(r"\b[A-Za-z_][A-Za-z0-9_]{3,39}\b").expect("valid");
    let mut out = BTreeMap::new();
    for d in &corpus.docs {
        for m in re.find_iter(d.content) {
            if let Ok(s) = std::str::from_utf8(m.as_bytes()) {
                *out.entry(s.to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// Contents of `"..."` string literals made of letters, digits, `_` and spaces.
fn string_literals(corpus: &Corpus<'_>) -> Vec<String> {
    let re = Regex::new(r#""([A-Za-z0-9_][A-Za-z0-9_ ]{2,38}[A-Za-z0-9_])""#).expect("valid");
    let mut out = BTreeSet::new();
    for d in &corpus.docs {
        for c in re.captures_iter(d.content) {
            if let Ok(s) = std::str::from_utf8(&c[1]) {
                out.insert(s.to_string());
            }
        }
    }
    out.into_iter().collect()
}

/// Names defined exactly once (so "the" definition is unambiguous) that also
/// occur elsewhere (so ranking has something to put below it).
fn definition_queries(
    engine: &Engine,
    idents: &BTreeMap<String, usize>,
    n: usize,
    rng: &mut Rng,
) -> Vec<DefinitionQuery> {
    let r = engine.reader();
    let Some(table) = r.symbols() else {
        return Vec::new();
    };
    let docs = r.docs();
    let mut candidates = Vec::new();
    for e in table.name_entries() {
        let Ok(name) = std::str::from_utf8(table.name_bytes(&e)) else {
            continue;
        };
        let ids: Vec<u32> = table.ids(&e).collect();
        if ids.len() != 1 || name.len() < 4 || idents.get(name).copied().unwrap_or(0) < 2 {
            continue;
        }
        let rec = table.record(ids[0]);
        let d = docs.get(rec.doc);
        candidates.push(DefinitionQuery {
            name: name.to_string(),
            repo: r.repo_name(&d).to_string(),
            path: r.path(&d).into_owned(),
            line: rec.line as u64,
        });
    }
    let mut out = Vec::new();
    while out.len() < n && !candidates.is_empty() {
        let i = rng.below(candidates.len());
        out.push(candidates.swap_remove(i));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The golden set of release `version`: `releases/V/golden.json` in the
/// store, else sampled from `stable`'s content (seeded by the version, so a
/// release always gets the same set) and kept there.
pub fn for_release(
    store: &lens_core::release::store::ReleaseStore,
    version: &lens_core::release::Version,
    stable: &Engine,
) -> GoldenSet {
    let path = store.release_dir(version).join("golden.json");
    if let Some(g) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        return g;
    }
    let digest = lens_core::bundle::checksum(version.to_string().as_bytes());
    let seed = u64::from_str_radix(&digest[..16], 16).unwrap_or(1);
    let g = sample(stable, seed, DEFAULT_LEXICAL);
    if let Ok(bytes) = serde_json::to_vec(&g) {
        let _ = store.write_file(&path, &bytes);
    }
    g
}
