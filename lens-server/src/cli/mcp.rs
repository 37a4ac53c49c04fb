//! `lens mcp --bundle DIR`: the MCP server over stdio, for agents and editors
//! that start it as a child process. Stdout carries the protocol; logs go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use lens_core::{Engine, Model};
use lens_server::mcp::{Backend, LensMcp};
use lens_server::server::config::Config;
use rmcp::ServiceExt;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The bundle to serve.
    #[arg(long, value_name = "DIR", env = "LENS_BUNDLE")]
    pub bundle: PathBuf,
    /// Embedding model directory for prose questions (default: $LENS_MODEL_DIR, else
    /// ~/.cache/lens/models/all-minilm-l6-v2; loaded on the first question); `none` goes without.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Configuration file whose `[limits]` apply (query length, result limit, regex size).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(a: McpArgs) -> anyhow::Result<ExitCode> {
    let config = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let model = if a.model.as_deref() == Some(std::path::Path::new("none")) {
        Model::None
    } else {
        Model::lazy(a.model.clone())
    };
    let engine = Engine::open(&a.bundle, model)
        .with_context(|| format!("opening the bundle {}", a.bundle.display()))?;
    let backend = Arc::new(Backend::local(engine, config.limits.request_limits()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        eprintln!("lens: MCP server on stdio over {}", a.bundle.display());
        let service = LensMcp::new(backend)
            .serve(rmcp::transport::stdio())
            .await
            .context("starting the MCP session on stdio")?;
        service
            .waiting()
            .await
            .context("the MCP session on stdio")?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
