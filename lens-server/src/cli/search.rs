//! `lens search --bundle DIR [--json] [--limit N] [--exhaustive] QUERY`
//! and the grep-compatible form (`-e PATTERN -F -i -w -g GLOB`), plus `--batch`.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use lens_core::response::{ResultKind, StageStats};
use lens_core::search::Truncation;
use lens_core::semantic::{StageCState, Stages};
use lens_core::{
    Deadline, Engine, GrepRequest, Model, Options, QueryInput, Request, RequestLimits, Response,
    Searcher,
};
use serde::Deserialize;

use super::rg_output::{FileOrder, Mode, Printer, Style, print_hits};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The bundle to search.
    #[arg(long, value_name = "DIR", env = "LENS_BUNDLE")]
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
    /// With a QUERY: one JSON document (as the HTTP API). With -e: ripgrep's JSON Lines.
    #[arg(long)]
    pub json: bool,
    /// Only the paths of files with a match (as rg -l).
    #[arg(short = 'l', long)]
    pub files_with_matches: bool,
    /// Matching lines per file (as rg -c).
    #[arg(short = 'c', long)]
    pub count: bool,
    /// Matches per file (as rg --count-matches).
    #[arg(long)]
    pub count_matches: bool,
    /// Only the matched parts of lines, one per line (as rg -o).
    #[arg(short = 'o', long)]
    pub only_matching: bool,
    /// Lines of context after each match.
    #[arg(short = 'A', long, value_name = "NUM")]
    pub after_context: Option<usize>,
    /// Lines of context before each match.
    #[arg(short = 'B', long, value_name = "NUM")]
    pub before_context: Option<usize>,
    /// Lines of context before and after each match.
    #[arg(short = 'C', long, value_name = "NUM")]
    pub context: Option<usize>,
    /// Line numbers (the default on a terminal).
    #[arg(short = 'n', long, overrides_with = "no_line_number")]
    pub line_number: bool,
    /// No line numbers.
    #[arg(short = 'N', long)]
    pub no_line_number: bool,
    /// The 1-based byte column of the first match on each line (implies -n).
    #[arg(long)]
    pub column: bool,
    /// The path on its own line above its matches (the default on a terminal).
    #[arg(long, overrides_with = "no_heading")]
    pub heading: bool,
    /// The path on every line.
    #[arg(long)]
    pub no_heading: bool,
    /// Colours as rg's defaults: `auto` on a terminal.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// `path:line:column:text` for every match, as editors read rg --vimgrep.
    #[arg(long)]
    pub vimgrep: bool,
    /// Maximum results in ranked mode (the query language's default; -e returns every match).
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
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

/// The CLI's bounds: its own user's machine, so no result or time cap beyond the engine's.
fn cli_limits() -> RequestLimits {
    RequestLimits {
        max_limit: usize::MAX,
        max_timeout_ms: u64::MAX,
        ..RequestLimits::default()
    }
}

fn options(limit: usize, exhaustive: bool, timeout_ms: u64) -> Options {
    Options {
        limit: Some(limit),
        exhaustive,
        timeout_ms: Some(timeout_ms),
        ..Options::default()
    }
}

/// The command line as a request: a QUERY or `-e` patterns with their flags.
fn request(a: &SearchArgs) -> anyhow::Result<Request> {
    let query = match (&a.query, a.patterns.is_empty()) {
        (Some(_), false) => bail!("give either a QUERY or -e patterns, not both"),
        (None, true) => bail!("no query: give a QUERY or -e PATTERN"),
        (Some(q), true) => {
            if a.fixed_strings || a.ignore_case || a.word_regexp || !a.globs.is_empty() {
                bail!("-F, -i, -w and -g go with -e; in a QUERY use \"...\", case:no and file:");
            }
            QueryInput::Text {
                text: q.clone(),
                stages: a.stages.stages(),
            }
        }
        (None, false) => QueryInput::Grep(GrepRequest {
            patterns: a.patterns.clone(),
            fixed_string: a.fixed_strings,
            case_insensitive: a.ignore_case,
            word: a.word_regexp,
            globs: a.globs.clone(),
        }),
    };
    // The grep form returns every match, as rg does; the query language ranks.
    let exhaustive = a.exhaustive || matches!(query, QueryInput::Grep(_));
    Ok(Request::new(
        query,
        options(a.limit, exhaustive, a.timeout_ms),
        &cli_limits(),
    )?)
}

/// How the command line asks for lines to be printed (rg's flags and defaults).
fn rg_style(a: &SearchArgs) -> anyhow::Result<Style> {
    use std::io::IsTerminal;
    let modes = [
        (a.files_with_matches, Mode::FilesWithMatches),
        (a.count, Mode::Count),
        (a.count_matches, Mode::CountMatches),
        (a.only_matching, Mode::OnlyMatching),
        (a.vimgrep, Mode::Vimgrep),
        (a.json && !a.patterns.is_empty(), Mode::Json),
    ];
    let chosen: Vec<Mode> = modes.iter().filter(|m| m.0).map(|m| m.1).collect();
    if chosen.len() > 1 {
        bail!("-l, -c, --count-matches, -o, --vimgrep and --json choose the output: give one");
    }
    let tty = std::io::stdout().is_terminal();
    let context = a.context.unwrap_or(0);
    Ok(Style {
        mode: chosen.first().copied().unwrap_or(Mode::Lines),
        line_numbers: !a.no_line_number && (a.line_number || a.column || tty),
        column: a.column,
        heading: !a.no_heading && (a.heading || tty),
        color: match a.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
        },
        before: a.before_context.unwrap_or(context),
        after: a.after_context.unwrap_or(context),
    })
}

pub fn run(a: SearchArgs) -> anyhow::Result<ExitCode> {
    if let Some(batch) = &a.batch {
        let engine = Engine::open(&a.bundle, Model::lazy(a.model.clone()))?;
        return run_batch(&engine, batch, &a);
    }
    let request = request(&a)?;
    let style = rg_style(&a)?;
    let grep_form = matches!(request.query, QueryInput::Grep(_));
    let engine = Engine::open(&a.bundle, Model::lazy(a.model.clone()))?;
    let started = Instant::now();
    let response = engine.search(&request, &Deadline::after(request.timeout))?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if a.json && !grep_form {
        serde_json::to_writer(&mut out, &response)?;
        writeln!(out)?;
    } else if grep_form || response.kind == ResultKind::Text {
        let order = if grep_form {
            FileOrder::Path
        } else {
            FileOrder::Rank
        };
        let mut printer = Printer::new(&mut out, style);
        print_hits(&engine, &response.hits, order, &mut printer)?;
        printer.finish(
            started.elapsed(),
            engine.describe().manifest.counts.files as usize,
        )?;
        // A deadline or the match cap cut the answer: say so on stderr.
        if let Some(t) = response.stats.truncation()
            && t != Truncation::EarlyTermination
            && t != Truncation::ResultLimit
        {
            eprintln!("lens: results are partial: {}", summary(&response));
        }
    } else {
        print_human(&mut out, &response)?;
    }
    out.flush()?;
    Ok(if response.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `repo/path:line:column: text` per hit, and a summary on stderr.
fn print_human(out: &mut impl Write, r: &Response) -> std::io::Result<()> {
    for h in &r.hits {
        let place = format!("{}/{}", h.repo, h.path);
        match (r.kind, h.definition_site.as_deref()) {
            (_, Some(d)) => {
                let scope = d
                    .scope
                    .as_deref()
                    .map(|s| format!(" in {s}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{place}:{}:{}: {} {}{scope}",
                    h.line,
                    h.start + 1,
                    d.kind,
                    d.name
                )?;
            }
            (ResultKind::Semantic, None) => {
                let sym = h
                    .symbol
                    .as_ref()
                    .map(|s| format!(" [{} {}]", s.kind, s.name))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{place}:{}:{}:{sym} {}",
                    h.line,
                    h.start + 1,
                    h.snippet.trim()
                )?;
            }
            _ if h.line == 0 => writeln!(out, "{place}")?,
            _ => writeln!(
                out,
                "{place}:{}:{}: {}",
                h.line,
                h.start + 1,
                h.snippet.trim_end()
            )?,
        }
    }
    eprintln!("{}", summary(r));
    Ok(())
}

/// One line on what the search did.
fn summary(r: &Response) -> String {
    let flags = match r.stats.truncation() {
        None => String::new(),
        Some(Truncation::Deadline) => ", timed out".into(),
        Some(t) => format!(", truncated: {t:?}"),
    };
    let ms = r.stats.elapsed_ms();
    match &r.stats.stage {
        StageStats::Text(s) => format!(
            "{} results ({} matches in {} files; {} of {} files verified, {}){flags} in {ms:.2} ms",
            s.results,
            s.matches,
            s.files_matched,
            s.files_considered,
            s.files_total,
            s.strategy
                .map(|x| format!("{x:?}").to_lowercase())
                .unwrap_or_default(),
        ),
        StageStats::Symbol(s) => format!(
            "{} definitions ({} matched of {} examined){flags} in {ms:.2} ms",
            s.results, s.matched, s.candidates
        ),
        StageStats::Semantic(s) => {
            let stage_c = match s.stage_c {
                Some(StageCState::Ran) => {
                    format!("semantic: {} scored, {} cut off", s.scored, s.cut_off)
                }
                Some(state) => format!("semantic stage not run: {state:?}"),
                None => "semantic stage not run".to_string(),
            };
            format!(
                "{} files for a natural-language query ({} lexical, {} nearest candidates; {stage_c}){flags} in {ms:.2} ms",
                s.results, s.lexical_candidates, s.dense_candidates
            )
        }
    }
}

fn run_batch(engine: &Engine, path: &PathBuf, a: &SearchArgs) -> anyhow::Result<ExitCode> {
    // Loading the model (once) is not any query's time: load it before the first.
    if engine.reader().embeddings().is_some() && a.stages == StagesArg::Abc {
        engine.model().get();
    }
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
            Ok(req) => batch_one(engine, req, a),
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

/// The line's query: exactly one of `query` and `pattern`.
fn batch_query(req: &BatchLine, a: &SearchArgs) -> Option<QueryInput> {
    match (&req.query, &req.pattern) {
        (Some(q), None) => Some(QueryInput::Text {
            text: q.clone(),
            stages: req.stages.unwrap_or(a.stages).stages(),
        }),
        (None, Some(p)) => Some(QueryInput::Grep(GrepRequest {
            patterns: vec![p.clone()],
            fixed_string: req.flags.fixed_string,
            case_insensitive: req.flags.case_insensitive,
            word: req.flags.word,
            globs: req.flags.globs.clone(),
        })),
        _ => None,
    }
}

fn batch_request(query: QueryInput, req: &BatchLine, a: &SearchArgs) -> lens_core::Result<Request> {
    let mut o = options(
        req.limit.unwrap_or(a.limit),
        req.exhaustive.unwrap_or(a.exhaustive),
        a.timeout_ms,
    );
    o.fusion = req.fusion;
    Request::new(query, o, &cli_limits())
}

fn batch_one(engine: &Engine, req: BatchLine, a: &SearchArgs) -> serde_json::Value {
    let Some(query) = batch_query(&req, a) else {
        return serde_json::json!({"id": req.id, "error": {"code": "invalid_batch_line", "message": "give exactly one of query or pattern"}});
    };
    let started = Instant::now();
    let result = batch_request(query, &req, a)
        .and_then(|r| engine.search(&r, &Deadline::after(Duration::from_millis(a.timeout_ms))));
    // Planning and searching, not serialising the results.
    let elapsed = started.elapsed();
    match result {
        Ok(mut response) => {
            response
                .stats
                .set_elapsed_ms(elapsed.as_secs_f64() * 1000.0);
            let mut doc = serde_json::to_value(&response).expect("response serialises");
            doc["id"] = req.id;
            doc
        }
        Err(e) => {
            serde_json::json!({"id": req.id, "error": {"code": e.code(), "message": e.to_string()}})
        }
    }
}
