//! The one interface every caller searches through: the CLI, the HTTP
//! server, and the release router that sends each request to stable or
//! candidate. [`Engine`] is a loaded bundle (with its Stage-C model)
//! implementing it; a release or a set of shards can implement it too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::Serialize;

use crate::bundle::{BundleReader, Manifest};
use crate::engine::{Outcome, Planned, execute_with};
use crate::error::{Error, RequestProblem, Result};
use crate::limits::{Deadline, Limits};
use crate::navigate::{self, Hover, Navigation};
use crate::plan::Plan;
use crate::query::{Expr, Pattern};
use crate::rank::Ranking;
use crate::request::{Cursor, Mode, PageStart, QueryInput, Request, fingerprint};
use crate::response::{GateVerdict, Response, ResultKind, StageStats, Stats, Timings};
use crate::search::lines::{self, line_start};
use crate::search::{DefinitionSite, Hit, Resume};
use crate::semantic::{Embedder, StageC};
use crate::symbols::query::SymbolHit;

/// Searches, files and code navigation over one corpus.
pub trait Searcher: Send + Sync {
    /// Runs a validated request within `deadline`; partial results are flagged.
    fn search(&self, request: &Request, deadline: &Deadline) -> Result<Response>;
    /// A file the corpus holds (no other path can be read).
    fn file(&self, repo: &str, path: &str) -> Result<FileContent>;
    /// Definitions of the identifier at a position (precise first).
    fn definition(&self, at: &FilePosition, limit: usize) -> Result<Navigation>;
    /// References to the identifier at a position (precise, else a whole-word search).
    fn references(
        &self,
        at: &FilePosition,
        limit: usize,
        deadline: &Deadline,
    ) -> Result<Navigation>;
    /// Hover text at a position.
    fn hover(&self, at: &FilePosition) -> Result<Option<Hover>>;
    /// What the corpus is: versions, layers, repositories.
    fn describe(&self) -> &Description;
}

/// A position in a file: `line` 1-based, `character` a byte offset in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePosition {
    pub repo: String,
    pub path: String,
    pub line: u64,
    pub character: usize,
}

/// A file of the corpus.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileContent {
    pub repo: String,
    pub path: String,
    pub language: String,
    pub bytes: usize,
    pub lines: usize,
    pub content: String,
}

/// One repository of a corpus: files, bytes and files per language.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RepoSummary {
    pub name: String,
    pub files: usize,
    pub bytes: u64,
    pub languages: BTreeMap<String, usize>,
}

/// What a searcher serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// Checksum of the manifest: identifies the bundle (cursors are tied to it).
    pub id: String,
    pub dir: PathBuf,
    /// RFC 3339 UTC time the bundle was opened and verified.
    pub loaded_at: String,
    pub manifest: Manifest,
    /// Share of files, in languages that imported SCIP/LSIF data covers, that have it (0–100).
    pub lsif_coverage_percent: f64,
    pub repos: Vec<RepoSummary>,
}

/// The embedding model Stage-C uses.
pub enum Model {
    /// No model: natural-language queries get the Stage-B order.
    None,
    Loaded(Arc<StageC>),
    /// Loaded on the first query that needs it (most CLI runs never do).
    Lazy {
        dir: Option<PathBuf>,
        loaded: OnceLock<Option<Arc<StageC>>>,
    },
}

impl Model {
    pub fn lazy(dir: Option<PathBuf>) -> Model {
        Model::Lazy {
            dir,
            loaded: OnceLock::new(),
        }
    }

    /// The model, loading it now if it is lazy.
    pub fn get(&self) -> Option<&StageC> {
        match self {
            Model::None => None,
            Model::Loaded(m) => Some(m),
            Model::Lazy { dir, loaded } => loaded
                .get_or_init(|| {
                    let dir = dir
                        .clone()
                        .or_else(crate::semantic::model::default_model_dir)?;
                    match Embedder::load(&dir, 2) {
                        Ok(e) => Some(Arc::new(StageC::new(e))),
                        Err(e) => {
                            tracing::warn!(target: "lens::stage_c", error = %e, "semantic stage unavailable");
                            None
                        }
                    }
                })
                .as_deref(),
        }
    }

    /// The model if loaded, without loading a lazy one.
    pub fn loaded(&self) -> Option<&StageC> {
        match self {
            Model::None => None,
            Model::Loaded(m) => Some(m),
            Model::Lazy { loaded, .. } => loaded.get().and_then(|m| m.as_deref()),
        }
    }
}

/// A bundle opened, verified and ready to search.
pub struct Engine {
    reader: BundleReader,
    by_path: HashMap<(String, String), u32>,
    description: Description,
    model: Model,
    ranking: Ranking,
}

impl Engine {
    /// Opens and verifies the bundle at `dir`.
    pub fn open(dir: &Path, model: Model) -> Result<Engine> {
        let reader = BundleReader::open(dir)?;
        Ok(Engine::new(reader, model))
    }

    pub fn new(reader: BundleReader, model: Model) -> Engine {
        let id = reader.manifest_checksum().to_string();
        let docs = reader.docs();
        let mut by_path = HashMap::with_capacity(reader.doc_count());
        let mut repos: BTreeMap<String, RepoSummary> = BTreeMap::new();
        for d in 0..reader.doc_count() as u32 {
            let rec = docs.get(d);
            let repo = reader.repo_name(&rec).to_string();
            let summary = repos.entry(repo.clone()).or_insert_with(|| RepoSummary {
                name: repo.clone(),
                files: 0,
                bytes: 0,
                languages: BTreeMap::new(),
            });
            summary.files += 1;
            summary.bytes += rec.content_len;
            *summary
                .languages
                .entry(reader.language(&rec).to_string())
                .or_default() += 1;
            by_path.insert((repo, reader.path(&rec).into_owned()), d);
        }
        let description = Description {
            id,
            dir: reader.dir().to_path_buf(),
            loaded_at: crate::bundle::manifest::rfc3339_utc(unix_now()),
            manifest: reader.manifest().clone(),
            lsif_coverage_percent: precise_coverage(&reader),
            repos: repos.into_values().collect(),
        };
        Engine {
            reader,
            by_path,
            description,
            model,
            ranking: Ranking::default(),
        }
    }

    /// The same engine ranking with `ranking` (a release's ranking config;
    /// its priors took effect when the bundle was built).
    pub fn with_ranking(mut self, ranking: Ranking) -> Engine {
        self.ranking = ranking;
        self
    }

    /// Ties the engine's id (and so its cursors) to a release version.
    pub fn for_release(mut self, version: &str) -> Engine {
        self.description.id = format!("{version}+{}", self.reader.manifest_checksum());
        self
    }

    pub fn ranking(&self) -> &Ranking {
        &self.ranking
    }

    pub fn reader(&self) -> &BundleReader {
        &self.reader
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    fn doc(&self, repo: &str, path: &str) -> Result<u32> {
        self.by_path
            .get(&(repo.to_string(), path.to_string()))
            .copied()
            .ok_or_else(|| Error::NotFound(format!("no file {path:?} in repository {repo:?}")))
    }

    /// The document and byte offset of a position, or why it is not one.
    fn locate(&self, at: &FilePosition) -> Result<(u32, u32)> {
        let doc = self.doc(&at.repo, &at.path)?;
        let invalid = |message: String| Error::InvalidRequest {
            problem: RequestProblem::InvalidPosition,
            message,
        };
        if at.line == 0 {
            return Err(invalid("line is 1-based".into()));
        }
        let offset =
            navigate::offset(&self.reader, doc, at.line, at.character).ok_or_else(|| {
                invalid(format!(
                    "{}:{}:{} is past the end of the line or file",
                    at.path, at.line, at.character
                ))
            })?;
        Ok((doc, offset))
    }

    /// The request bound to this bundle, and the gate's verdict when it judged it.
    fn plan(
        &self,
        req: &Request,
        cursor: Option<&Cursor>,
    ) -> Result<(Planned, Option<GateVerdict>)> {
        let limits = match req.mode {
            Mode::Ranked { limit } => Limits::top(limit),
            Mode::Exhaustive { page } => Limits {
                page,
                ..Limits::exhaustive()
            },
        };
        let limits = Limits {
            max_regex_size: req.max_regex_bytes,
            ..limits
        };
        let mut gate = None;
        let mut planned = match &req.query {
            // Only a plain ranked query is judged by the gate: filters and
            // exhaustive searches ask for exact matching.
            QueryInput::Text { text, stages } if req.filters.is_empty() => {
                let p = Planned::from_text(text, limits, *stages)?;
                if stages.is_some() && !req.exhaustive() {
                    gate = Some(if matches!(p, Planned::Semantic(_)) {
                        GateVerdict::NaturalLanguage
                    } else {
                        GateVerdict::Code
                    });
                }
                p
            }
            QueryInput::Text { text, .. } => self.filtered(text, false, req, limits)?,
            QueryInput::Symbols { text } => self.filtered(text, true, req, limits)?,
            QueryInput::Grep(g) => Planned::Text(Box::new(Plan::from_grep(g, limits)?)),
        };
        let wrong_cursor = || Error::InvalidRequest {
            problem: RequestProblem::InvalidCursor,
            message: "cursor belongs to another query or bundle".into(),
        };
        match &mut planned {
            Planned::Text(p) => {
                p.weights = self.ranking.weights;
                p.parallel = req.parallel;
                p.context_lines = req.context_lines;
                p.resume = match cursor.map(|c| c.at) {
                    None => None,
                    Some(PageStart::Text { d, k, t, p }) => Some(Resume {
                        doc: d,
                        skip: k,
                        definitions: t,
                        docs_per_hit: p.filter(|x| x.is_finite() && *x > 0.0),
                    }),
                    Some(_) => return Err(wrong_cursor()),
                };
            }
            Planned::Symbols(p) => {
                p.resume = match cursor.map(|c| c.at) {
                    None => None,
                    Some(PageStart::Symbol { r }) => Some(r),
                    Some(_) => return Err(wrong_cursor()),
                };
            }
            Planned::Semantic(p) => {
                p.fusion = req.fusion.unwrap_or(self.ranking.fusion);
            }
        }
        Ok((planned, gate))
    }

    /// Query text with the request's filters ANDed to it.
    fn filtered(
        &self,
        text: &str,
        symbols: bool,
        req: &Request,
        limits: Limits,
    ) -> Result<Planned> {
        let mut query = crate::query::parse(text)?;
        query.symbols |= symbols;
        let regex = |text: &str| Pattern {
            text: text.to_string(),
            is_regex: true,
            position: 0,
        };
        let f = &req.filters;
        let mut filters = Vec::new();
        if let Some(l) = &f.lang {
            filters.push(Expr::Lang(l.clone()));
        }
        if let Some(r) = &f.repo {
            filters.push(Expr::Repo(regex(r)));
        }
        if let Some(p) = &f.file {
            filters.push(Expr::File(regex(p)));
        }
        if !filters.is_empty() {
            filters.insert(0, query.expr);
            query.expr = Expr::And(filters);
        }
        Planned::from_query(&query, limits)
    }

    /// A Stage-B definition as a hit, with its context lines.
    fn symbol_hit(&self, h: SymbolHit, context_lines: usize) -> Hit {
        let content = self.reader.content(&self.reader.docs().get(h.doc));
        let at = line_start(content, h.abs_start as usize);
        Hit {
            repo: h.repo,
            path: h.path,
            language: h.language,
            line: h.line,
            start: h.start,
            end: h.end,
            abs_start: h.abs_start,
            abs_end: h.abs_end,
            snippet: Arc::from(h.snippet),
            score: h.score,
            symbol: None,
            definition: true,
            signals: None,
            definition_site: Some(Box::new(DefinitionSite {
                name: h.name,
                kind: h.kind,
                scope: h.scope,
                def_start: h.def_start,
                def_end: h.def_end,
            })),
            context: lines::context(content, at, context_lines),
            doc: h.doc,
        }
    }

    /// The stage's outcome as a response: hits, stats, timings, the next cursor.
    fn respond(
        &self,
        req: &Request,
        outcome: Outcome,
        cursor: Option<&Cursor>,
        fp: String,
    ) -> Response {
        let offset = cursor.map_or(0, |c| c.o);
        let (kind, hits, stage, timings, next) = match outcome {
            Outcome::Text(r) => {
                let stage_b = self
                    .reader
                    .symbols()
                    .is_some()
                    .then_some(r.stats.stage_b_ms);
                let timings = Timings {
                    stage_a: Some((r.stats.elapsed_ms - stage_b.unwrap_or(0.0)).max(0.0)),
                    stage_b,
                    stage_c: None,
                };
                let next = r.next.map(|n| PageStart::Text {
                    d: n.doc,
                    k: n.skip,
                    t: n.definitions,
                    p: n.docs_per_hit,
                });
                (
                    ResultKind::Text,
                    r.hits,
                    StageStats::Text(r.stats),
                    timings,
                    next,
                )
            }
            Outcome::Symbols(r) => {
                let timings = Timings {
                    stage_a: None,
                    stage_b: Some(r.stats.elapsed_ms),
                    stage_c: None,
                };
                let hits = r
                    .hits
                    .into_iter()
                    .map(|h| self.symbol_hit(h, req.context_lines))
                    .collect();
                let next = r.next.map(|r| PageStart::Symbol { r });
                (
                    ResultKind::Symbol,
                    hits,
                    StageStats::Symbol(r.stats),
                    timings,
                    next,
                )
            }
            Outcome::Semantic(r) => {
                let s = &r.stats;
                let timings = Timings {
                    stage_a: Some(s.stage_a_ms),
                    stage_b: s.stage_b_ms,
                    stage_c: s.stage_c_ms,
                };
                let mut hits = r.hits;
                if req.context_lines > 0 {
                    for h in &mut hits {
                        let content = self.reader.content(&self.reader.docs().get(h.doc));
                        let at = (h.abs_start - h.start as u64) as usize;
                        h.context = lines::context(content, at, req.context_lines);
                    }
                }
                (
                    ResultKind::Semantic,
                    hits,
                    StageStats::Semantic(r.stats),
                    timings,
                    None,
                )
            }
        };
        let end = offset + hits.len();
        let next_cursor = next.map(|at| Cursor { f: fp, o: end, at }.encode());
        Response {
            kind,
            stats: Stats {
                stage,
                offset,
                total_results: next_cursor.is_none().then_some(end),
            },
            hits,
            timings,
            next_cursor,
            gate: None,
            release: None,
        }
    }
}

impl Searcher for Engine {
    fn search(&self, req: &Request, deadline: &Deadline) -> Result<Response> {
        let fp = fingerprint(req, &self.description.id);
        let cursor = req.cursor.as_ref();
        if cursor.is_some_and(|c| c.f != fp) {
            return Err(Error::InvalidRequest {
                problem: RequestProblem::InvalidCursor,
                message: "cursor belongs to another query or bundle".into(),
            });
        }
        let (planned, gate) = self.plan(req, cursor)?;
        let model = match &planned {
            Planned::Semantic(p) if p.stages.semantic && self.reader.embeddings().is_some() => {
                self.model.get()
            }
            _ => None,
        };
        let started = Instant::now();
        let outcome = {
            let _stage = match &planned {
                Planned::Text(_) => tracing::debug_span!(target: "lens::stage_a", "stage_a"),
                Planned::Symbols(_) => tracing::debug_span!(target: "lens::stage_b", "stage_b"),
                Planned::Semantic(_) => tracing::debug_span!(target: "lens::stage_c", "stage_c"),
            }
            .entered();
            execute_with(&self.reader, &planned, deadline, model)?
        };
        let mut response = self.respond(req, outcome, cursor, fp);
        response.gate = gate;
        trace_stages(&response, started);
        Ok(response)
    }

    fn file(&self, repo: &str, path: &str) -> Result<FileContent> {
        let doc = self.doc(repo, path)?;
        let r = &self.reader;
        let rec = r.docs().get(doc);
        let content = r.content(&rec);
        let lines = memchr::memchr_iter(b'\n', content).count()
            + usize::from(!content.is_empty() && !content.ends_with(b"\n"));
        Ok(FileContent {
            repo: repo.to_string(),
            path: path.to_string(),
            language: r.language(&rec).to_string(),
            bytes: content.len(),
            lines,
            content: String::from_utf8_lossy(content).into_owned(),
        })
    }

    fn definition(&self, at: &FilePosition, limit: usize) -> Result<Navigation> {
        let (doc, offset) = self.locate(at)?;
        let _stage = tracing::debug_span!(target: "lens::stage_b", "definition").entered();
        Ok(navigate::definition(&self.reader, doc, offset, limit))
    }

    fn references(
        &self,
        at: &FilePosition,
        limit: usize,
        deadline: &Deadline,
    ) -> Result<Navigation> {
        let (doc, offset) = self.locate(at)?;
        let _stage = tracing::debug_span!(target: "lens::stage_b", "references").entered();
        navigate::references(&self.reader, doc, offset, limit, deadline)
    }

    fn hover(&self, at: &FilePosition) -> Result<Option<Hover>> {
        let (doc, offset) = self.locate(at)?;
        let _stage = tracing::debug_span!(target: "lens::stage_b", "hover").entered();
        Ok(navigate::hover(&self.reader, doc, offset))
    }

    fn describe(&self) -> &Description {
        &self.description
    }
}

/// One event per stage that ran, under its target, with its time.
fn trace_stages(r: &Response, started: Instant) {
    let t = r.timings;
    if let Some(ms) = t.stage_a {
        tracing::debug!(target: "lens::stage_a", ms, results = r.hits.len(), "stage_a done");
    }
    if let Some(ms) = t.stage_b {
        tracing::debug!(target: "lens::stage_b", ms, "stage_b done");
    }
    if let Some(ms) = t.stage_c {
        tracing::debug!(target: "lens::stage_c", ms, "stage_c done");
    }
    tracing::debug!(
        target: "lens::search",
        kind = ?r.kind,
        results = r.hits.len(),
        truncation = ?r.stats.truncation(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "search done"
    );
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Files with precise data over files in the languages it covers, in percent.
fn precise_coverage(reader: &BundleReader) -> f64 {
    let Some(p) = reader.precise() else {
        return 0.0;
    };
    let docs = reader.docs();
    let n = reader.doc_count() as u32;
    let langs: std::collections::HashSet<u16> = (0..n)
        .filter(|&d| p.covers(d))
        .map(|d| docs.get(d).lang)
        .collect();
    let (mut eligible, mut covered) = (0usize, 0usize);
    for d in (0..n).filter(|&d| langs.contains(&docs.get(d).lang)) {
        eligible += 1;
        covered += usize::from(p.covers(d));
    }
    if eligible == 0 {
        0.0
    } else {
        100.0 * covered as f64 / eligible as f64
    }
}
