//! `lens search --bundle DIR [--json] [--limit N] [--exhaustive] QUERY`
//! and the grep-compatible form (`-e PATTERN -F -i -w -g GLOB`), plus `--batch`.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use lens_core::semantic::{Embedder, SemanticResult, StageC, Stages};
use lens_core::symbols::query::SymbolResult;
use lens_core::{
    BundleReader, Deadline, GrepRequest, Limits, Outcome, Plan, Planned, SearchResult,
};
use serde::Deserialize;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The bundle to search.
    #[arg(long, value_name = "DIR")]
    pub bundle: PathBuf,
    /// A query in the lens query language (omit when using -e).
    pub query: Option<String>,
    /// A regex (Rust syntax) as ripgrep's -e; repeatable.
    #[arg(short = 'e', long = "regexp", value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Treat -e patterns as literal strings.
    #[arg(short = 'F', long)]
    pub fixed_strings: bool,
    /// Case-insensitive -e patterns.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    /// Only matches bounded by non-word characters.
    #[arg(short = 'w', long)]
    pub word_regexp: bool,
    /// Include or (with !) exclude files by gitignore-style glob; repeatable.
    #[arg(short = 'g', long = "glob", value_name = "GLOB")]
    pub globs: Vec<String>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Maximum results in ranked mode.
    #[arg(long, default_value_t = lens_core::limits::DEFAULT_LIMIT)]
    pub limit: usize,
    /// Return every match (caps are reported, never silent).
    #[arg(long)]
    pub exhaustive: bool,
    /// Give up after this many milliseconds, returning partial results flagged as such.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Run one query per JSON line of FILE, opening the bundle once.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["query", "patterns"])]
    pub batch: Option<PathBuf>,
    /// Stages for natural-language queries: `abc` (BM25, symbols, embeddings), `ab`, `a`,
    /// or `exact` to read every query as the exact query language.
    #[arg(long, value_enum, default_value_t = StagesArg::Abc)]
    pub stages: StagesArg,
    /// Embedding model directory (default: $LENS_MODEL_DIR, else ~/.cache/lens/models/all-minilm-l6-v2).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StagesArg {
    Exact,
    A,
    Ab,
    Abc,
}

impl StagesArg {
    fn stages(self) -> Option<Stages> {
        match self {
            StagesArg::Exact => None,
            StagesArg::A => Some(Stages {
                symbols: false,
                semantic: false,
            }),
            StagesArg::Ab => Some(Stages {
                symbols: true,
                semantic: false,
            }),
            StagesArg::Abc => Some(Stages::default()),
        }
    }
}

/// The embedding model, loaded on first need: most queries never need it.
struct LazyModel<'a> {
    dir: Option<&'a std::path::Path>,
    loaded: std::cell::OnceCell<Option<StageC>>,
}

impl LazyModel<'_> {
    fn get(&self, bundle: &BundleReader, plan: &Planned) -> Option<&StageC> {
        let wants = matches!(plan, Planned::Semantic(p) if p.stages.semantic)
            && bundle.embeddings().is_some();
        if !wants {
            return None;
        }
        self.loaded
            .get_or_init(|| {
                let dir = self
                    .dir
                    .map(std::path::Path::to_path_buf)
                    .or_else(lens_core::semantic::model::default_model_dir)?;
                match Embedder::load(&dir, 2) {
                    Ok(e) => Some(StageC::new(e)),
                    Err(e) => {
                        eprintln!("lens: semantic stage unavailable: {e}");
                        None
                    }
                }
            })
            .as_ref()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    id: serde_json::Value,
    query: Option<String>,
    pattern: Option<String>,
    #[serde(default)]
    flags: BatchFlags,
    limit: Option<usize>,
    exhaustive: Option<bool>,
    stages: Option<StagesArg>,
    /// Fusion weights and cutoff for a natural-language query (evaluation and tuning).
    fusion: Option<lens_core::semantic::Fusion>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchFlags {
    #[serde(default)]
    fixed_string: bool,
    #[serde(default)]
    case_insensitive: bool,
    #[serde(default)]
    word: bool,
    #[serde(default)]
    globs: Vec<String>,
}

fn limits(limit: usize, exhaustive: bool) -> Limits {
    if exhaustive {
        Limits::exhaustive()
    } else {
        Limits::top(limit)
    }
}

fn open(dir: &std::path::Path) -> anyhow::Result<BundleReader> {
    BundleReader::open(dir).map_err(anyhow::Error::from)
}

pub fn run(a: SearchArgs) -> anyhow::Result<ExitCode> {
    if let Some(batch) = &a.batch {
        let bundle = open(&a.bundle)?;
        return run_batch(&bundle, batch, &a);
    }
    let lim = limits(a.limit, a.exhaustive);
    let plan = match (&a.query, a.patterns.is_empty()) {
        (Some(_), false) => bail!("give either a QUERY or -e patterns, not both"),
        (None, true) => bail!("no query: give a QUERY or -e PATTERN"),
        (Some(q), true) => {
            if a.fixed_strings || a.ignore_case || a.word_regexp || !a.globs.is_empty() {
                bail!("-F, -i, -w and -g go with -e; in a QUERY use \"...\", case:no and file:");
            }
            Planned::from_text(q, lim, a.stages.stages())?
        }
        (None, false) => Planned::Text(Box::new(Plan::from_grep(
            &GrepRequest {
                patterns: a.patterns.clone(),
                fixed_string: a.fixed_strings,
                case_insensitive: a.ignore_case,
                word: a.word_regexp,
                globs: a.globs.clone(),
            },
            lim,
        )?)),
    };
    let bundle = open(&a.bundle)?;
    let deadline = Deadline::after(Duration::from_millis(a.timeout_ms));
    let model = LazyModel {
        dir: a.model.as_deref(),
        loaded: Default::default(),
    };
    let outcome = lens_core::execute_with(&bundle, &plan, &deadline, model.get(&bundle, &plan))?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if a.json {
        serde_json::to_writer(&mut out, &outcome.to_json())?;
        writeln!(out)?;
    } else {
        match &outcome {
            Outcome::Text(r) => print_human(&mut out, r)?,
            Outcome::Symbols(r) => print_symbols(&mut out, r)?,
            Outcome::Semantic(r) => print_semantic(&mut out, r)?,
        }
    }
    out.flush()?;
    Ok(if outcome.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_human(out: &mut impl Write, r: &SearchResult) -> std::io::Result<()> {
    for h in &r.hits {
        if h.line == 0 {
            writeln!(out, "{}/{}", h.repo, h.path)?;
        } else {
            writeln!(
                out,
                "{}/{}:{}:{}: {}",
                h.repo,
                h.path,
                h.line,
                h.start + 1,
                h.snippet.trim_end()
            )?;
        }
    }
    let s = &r.stats;
    eprintln!(
        "{} results ({} matches in {} files; {} of {} files verified, {:?}){}{} in {:.2} ms",
        s.results,
        s.matches,
        s.files_matched,
        s.files_considered,
        s.files_total,
        s.strategy
            .map(|x| format!("{x:?}").to_lowercase())
            .unwrap_or_default(),
        if s.truncated {
            format!(", truncated: {:?}", s.truncation.unwrap())
        } else {
            String::new()
        },
        if s.timed_out { ", timed out" } else { "" },
        s.elapsed_ms
    );
    Ok(())
}

fn print_symbols(out: &mut impl Write, r: &SymbolResult) -> std::io::Result<()> {
    for h in &r.hits {
        let scope = h
            .scope
            .as_deref()
            .map(|s| format!(" in {s}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{}/{}:{}:{}: {} {}{}",
            h.repo,
            h.path,
            h.line,
            h.start + 1,
            h.kind,
            h.name,
            scope
        )?;
    }
    let s = &r.stats;
    eprintln!(
        "{} definitions ({} matched of {} examined){}{} in {:.2} ms",
        s.results,
        s.matched,
        s.candidates,
        if s.truncated { ", truncated" } else { "" },
        if s.timed_out { ", timed out" } else { "" },
        s.elapsed_ms
    );
    Ok(())
}

fn print_semantic(out: &mut impl Write, r: &SemanticResult) -> std::io::Result<()> {
    for h in &r.hits {
        let sym = h
            .symbol
            .as_ref()
            .map(|s| format!(" [{} {}]", s.kind, s.name))
            .unwrap_or_default();
        writeln!(
            out,
            "{}/{}:{}:{}:{} {}",
            h.repo,
            h.path,
            h.line,
            h.start + 1,
            sym,
            h.snippet.trim()
        )?;
    }
    let s = &r.stats;
    let stage_c = match s.stage_c {
        Some(lens_core::semantic::StageCState::Ran) => {
            format!("semantic: {} scored, {} cut off", s.scored, s.cut_off)
        }
        Some(state) => format!("semantic stage not run: {state:?}"),
        None => "semantic stage not run".to_string(),
    };
    eprintln!(
        "{} files for a natural-language query ({} lexical, {} nearest candidates; {}) in {:.2} ms",
        s.results, s.lexical_candidates, s.dense_candidates, stage_c, s.elapsed_ms
    );
    Ok(())
}

fn run_batch(bundle: &BundleReader, path: &PathBuf, a: &SearchArgs) -> anyhow::Result<ExitCode> {
    let model = LazyModel {
        dir: a.model.as_deref(),
        loaded: Default::default(),
    };
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut failures = 0usize;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let doc = match serde_json::from_str::<BatchLine>(&line) {
            Ok(req) => batch_one(bundle, req, a, &model),
            Err(e) => {
                serde_json::json!({"id": null, "line": n + 1, "error": {"code": "invalid_batch_line", "message": e.to_string()}})
            }
        };
        failures += usize::from(doc.get("error").is_some());
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    }
    out.flush()?;
    if failures > 0 {
        eprintln!("lens: {failures} batch queries failed");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn batch_one(
    bundle: &BundleReader,
    req: BatchLine,
    a: &SearchArgs,
    model: &LazyModel,
) -> serde_json::Value {
    let started = Instant::now();
    let lim = limits(
        req.limit.unwrap_or(a.limit),
        req.exhaustive.unwrap_or(a.exhaustive),
    );
    let plan = match (&req.query, &req.pattern) {
        (Some(q), None) => Planned::from_text(q, lim, req.stages.unwrap_or(a.stages).stages()),
        (None, Some(p)) => Plan::from_grep(
            &GrepRequest {
                patterns: vec![p.clone()],
                fixed_string: req.flags.fixed_string,
                case_insensitive: req.flags.case_insensitive,
                word: req.flags.word,
                globs: req.flags.globs.clone(),
            },
            lim,
        )
        .map(|p| Planned::Text(Box::new(p))),
        _ => {
            return serde_json::json!({"id": req.id, "error": {"code": "invalid_batch_line", "message": "give exactly one of query or pattern"}});
        }
    };
    let plan = plan.map(|mut p| {
        if let (Planned::Semantic(s), Some(f)) = (&mut p, req.fusion) {
            s.fusion = f;
        }
        p
    });
    let planning = started.elapsed();
    // Loading the model (once, on the first query that needs it) is not the search's time.
    let stage_c = plan.as_ref().ok().and_then(|p| model.get(bundle, p));
    let searching = Instant::now();
    let result = plan.and_then(|p| {
        lens_core::execute_with(
            bundle,
            &p,
            &Deadline::after(Duration::from_millis(a.timeout_ms)),
            stage_c,
        )
    });
    // Serialising the results is not the search's time.
    let elapsed = planning + searching.elapsed();
    match result {
        Ok(outcome) => {
            let mut doc = outcome.to_json();
            doc["id"] = req.id;
            doc["stats"]["elapsed_ms"] = serde_json::json!(elapsed.as_secs_f64() * 1000.0);
            doc
        }
        Err(e) => {
            serde_json::json!({"id": req.id, "error": {"code": e.code(), "message": e.to_string()}})
        }
    }
}
