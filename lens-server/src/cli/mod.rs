//! Subcommands of the `lens` binary.

mod index;
mod keys;
mod mcp;
mod release;
mod rg_output;
mod search;
mod serve;
mod signoff;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "lens",
    version,
    about = "Self-hosted code search: index repositories, search them exactly and fast"
)]
pub struct Cli {
    /// Log lines as text or as JSON (one object per line); `LENS_LOG` filters them
    /// (default `info`; e.g. `lens::stage_a=debug`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Sends the libraries' tracing events to stderr, filtered by `LENS_LOG`.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("LENS_LOG").unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("lens: logging not set up: {e}");
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an index bundle from one or more repositories.
    Index(index::IndexArgs),
    /// Search a bundle with the query language or grep-style flags.
    Search(search::SearchArgs),
    /// Serve a bundle over HTTP.
    Serve(serve::ServeArgs),
    /// Serve a bundle to agents and editors over MCP (stdio).
    Mcp(mcp::McpArgs),
    /// Manage API keys in a config file.
    Keys(keys::KeysArgs),
    /// Build a candidate release into the release store, at 0% of traffic.
    CutRc(release::CutRcArgs),
    /// Check a candidate against stable: versions both ways, verification, golden queries.
    CompatDrill(release::CompatDrillArgs),
    /// The rollout from the command line: status, kill switch, progress.
    Canary(release::CanaryArgs),
    /// Run every quality gate and a query-log replay on the candidate and record the night.
    NightlyValidation(signoff::NightlyArgs),
    /// Whether a candidate is signed off and promotable; exits 0 only when it is.
    CheckSignoff(signoff::SignoffArgs),
    /// Make the signed-off candidate stable, keeping the previous stable for rollback.
    Promote(signoff::SignoffArgs),
    /// Make the previous stable the stable again.
    Rollback(signoff::RollbackArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Index(a) => index::run(a),
        Command::Search(a) => search::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Mcp(a) => mcp::run(a),
        Command::Keys(a) => keys::run(a),
        Command::CutRc(a) => release::cut_rc(a),
        Command::CompatDrill(a) => release::compat_drill(a),
        Command::Canary(a) => release::canary(a),
        Command::NightlyValidation(a) => signoff::nightly_validation(a),
        Command::CheckSignoff(a) => signoff::check_signoff(a),
        Command::Promote(a) => signoff::promote(a),
        Command::Rollback(a) => signoff::rollback(a),
    }
}
