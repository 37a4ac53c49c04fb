//! `lens index PATH... --out BUNDLE_DIR`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indexer::{IndexOptions, RepoSpec};

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Repositories to index, as PATH or NAME=PATH.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Where to write the bundle (replaced atomically if it exists).
    #[arg(long, value_name = "BUNDLE_DIR")]
    pub out: PathBuf,
    /// Do not respect .gitignore, .ignore or git exclude files.
    #[arg(long)]
    pub no_ignore: bool,
    /// Include hidden files and directories.
    #[arg(long)]
    pub hidden: bool,
    /// Skip files larger than this many bytes; 0 means no limit.
    #[arg(long, value_name = "BYTES", default_value_t = lens_core::limits::DEFAULT_MAX_FILE_SIZE)]
    pub max_file_size: u64,
    /// Semantic version recorded in the bundle manifest.
    #[arg(long, default_value = "0.1.0")]
    pub bundle_version: String,
    /// Skip the tantivy text index: a faster build that serves exact search without BM25.
    #[arg(long)]
    pub no_text_index: bool,
    /// Skip tree-sitter symbol extraction (Stage-B).
    #[arg(long)]
    pub no_symbols: bool,
    /// Skip the sparse n-gram index: a smaller bundle, built faster, whose
    /// rare literals made of common trigrams are slower to find.
    #[arg(long)]
    pub no_sparse_grams: bool,
    /// Import a SCIP index (repeatable); its documents are matched to indexed files.
    #[arg(long, value_name = "INDEX.scip")]
    pub scip: Vec<PathBuf>,
    /// Import an LSIF dump (repeatable), streamed line by line.
    #[arg(long, value_name = "DUMP.lsif")]
    pub lsif: Vec<PathBuf>,
    /// Embed definitions and file heads for semantic search (Stage-C): `auto` embeds when
    /// the model is installed and the corpus has at most 20,000 chunks.
    #[arg(long, value_enum, default_value_t = EmbedArg::Auto)]
    pub embed: EmbedArg,
    /// Model directory (default: $LENS_MODEL_DIR, else ~/.cache/lens/models/all-minilm-l6-v2).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbedArg {
    Auto,
    On,
    Off,
}

pub fn run(a: IndexArgs) -> anyhow::Result<ExitCode> {
    let repos: Vec<RepoSpec> = a.paths.iter().map(|p| RepoSpec::parse(p)).collect();
    let opts = IndexOptions {
        no_ignore: a.no_ignore,
        hidden: a.hidden,
        max_file_size: a.max_file_size,
        bundle_version: a.bundle_version,
        text_index: !a.no_text_index,
        sparse_grams: !a.no_sparse_grams,
        symbols: !a.no_symbols,
        precise: indexer::precise::PreciseInputs {
            scip: a.scip,
            lsif: a.lsif,
        },
        embed: indexer::EmbedOptions {
            mode: match a.embed {
                EmbedArg::Auto => indexer::EmbedMode::Auto,
                EmbedArg::On => indexer::EmbedMode::On,
                EmbedArg::Off => indexer::EmbedMode::Off,
            },
            model_dir: a.model,
        },
        progress: !a.quiet && std::io::stderr().is_terminal(),
        ..IndexOptions::default()
    };
    let summary = indexer::build(&repos, &a.out, &opts)
        .with_context(|| format!("building {}", a.out.display()))?;
    if a.json {
        let c = &summary.manifest.counts;
        let doc = serde_json::json!({
            "bundle": a.out,
            "files": c.files,
            "bytes": c.bytes,
            "skipped": c.skipped,
            "skipped_by_reason": c.skipped_by_reason,
            "symbols": c.symbols,
            "precise": summary.manifest.build.precise,
            "embeddings": match &summary.embeddings {
                indexer::EmbedOutcome::Embedded { chunks, seconds } => serde_json::json!({
                    "model": summary.manifest.build.embeddings.as_ref().map(|e| &e.model),
                    "chunks": chunks,
                    "seconds": seconds,
                    "chunks_per_s": *chunks as f64 / seconds.max(1e-9),
                }),
                indexer::EmbedOutcome::Skipped(why) => serde_json::json!({"skipped": why}),
            },
            "elapsed_s": summary.elapsed.as_secs_f64(),
            "lexical_elapsed_s": summary.lexical_elapsed.as_secs_f64(),
            "mb_per_s": summary.mb_per_s(),
            "bundle_bytes": summary.bundle_bytes,
            "size_ratio": summary.size_ratio(),
        });
        println!("{doc}");
    } else {
        println!("{summary}");
        println!("bundle written to {}", a.out.display());
    }
    Ok(ExitCode::SUCCESS)
}
