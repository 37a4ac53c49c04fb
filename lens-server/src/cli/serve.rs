//! `lens serve --bundle DIR [--config lens.toml] [--listen ADDR] [--policy permissive|enforce]`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use lens_core::Searcher;
use lens_server::server::auth::Policy;
use lens_server::server::config::Config;
use lens_server::server::semantic::SemanticService;
use lens_server::server::{AppState, serve};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The bundle to serve.
    #[arg(long, value_name = "DIR")]
    pub bundle: PathBuf,
    /// Configuration file (keys, limits, policy, audit log).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:3000, or the config's `listen`].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// `permissive` logs would-be denials; `enforce` blocks them.
    #[arg(long, value_enum)]
    pub policy: Option<Policy>,
    /// Append-only JSON-lines audit log [default: lens-audit.jsonl, or the config's `audit_log`].
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Embedding model directory for Stage-C [default: $LENS_MODEL_DIR, else
    /// ~/.cache/lens/models/all-minilm-l6-v2]; `none` serves without Stage-C.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// The release store (default: LENS_STATE_DIR, else .lens in the working directory).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

/// Chooses the policy: explicit flag, then config; with no keys a loopback
/// server starts permissive and any other address refuses to start.
pub fn resolve_policy(
    flag: Option<Policy>,
    config: &Config,
    addr: &SocketAddr,
) -> anyhow::Result<(Policy, Option<String>)> {
    let explicit = flag.or(config.policy);
    if config.keys.is_empty() {
        return match explicit {
            Some(Policy::Permissive) => Ok((Policy::Permissive, Some("no API keys configured; policy permissive: would-be denials are logged, not blocked".into()))),
            Some(Policy::Enforce) => Ok((Policy::Enforce, Some("no API keys configured; policy enforce: every protected route will be denied".into()))),
            None if addr.ip().is_loopback() => Ok((Policy::Permissive, Some(format!("no API keys configured and {addr} is loopback: starting permissive (add keys with `lens keys add`)")))),
            None => bail!("no API keys configured and {addr} is not a loopback address; add keys with `lens keys add --config FILE` or pass --policy permissive explicitly"),
        };
    }
    Ok((explicit.unwrap_or(Policy::Enforce), None))
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let listen = a
        .listen
        .clone()
        .or_else(|| config.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not an address like 127.0.0.1:3000"))?;
    let (policy, note) = resolve_policy(a.policy, &config, &addr)?;
    let audit = a
        .audit_log
        .clone()
        .or_else(|| config.audit_log.clone())
        .unwrap_or_else(|| PathBuf::from("lens-audit.jsonl"));
    let semantic = if a.model.as_deref() == Some(std::path::Path::new("none")) {
        SemanticService::disabled("disabled (--model none)")
    } else {
        SemanticService::load(
            a.model
                .clone()
                .or_else(lens_core::semantic::model::default_model_dir)
                .as_deref(),
        )
    };
    match semantic.state.reason() {
        None => eprintln!(
            "lens: semantic stage: {} loaded",
            semantic
                .stage_c
                .as_ref()
                .map(|s| s.embedder().id().model_id.clone())
                .unwrap_or_default()
        ),
        Some(why) => eprintln!(
            "lens: semantic stage {}: {why}; natural-language queries get the lexical and symbol order",
            semantic.state.as_str()
        ),
    }
    let store = lens_core::release::store::locate(a.state.as_deref());
    let state = AppState::with_store(&a.bundle, Some(&store), config, policy, &audit, semantic)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        if let Some(n) = note {
            eprintln!("lens: {n}");
        }
        let m = state.engine.load().describe().manifest.clone();
        eprintln!(
            "lens: serving {} ({} files, bundle {}) on http://{} (policy {}, audit log {})",
            a.bundle.display(),
            m.counts.files,
            m.bundle_version,
            listener.local_addr()?,
            policy.as_str(),
            audit.display()
        );
        serve(state, listener).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lens_server::server::config::KeyEntry;

    #[test]
    fn policy_resolution() {
        let lo: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let none = Config::default();
        assert_eq!(
            resolve_policy(None, &none, &lo).unwrap().0,
            Policy::Permissive
        );
        assert!(resolve_policy(None, &none, &any).is_err());
        assert_eq!(
            resolve_policy(Some(Policy::Permissive), &none, &any)
                .unwrap()
                .0,
            Policy::Permissive
        );
        let keyed = Config {
            keys: vec![KeyEntry {
                id: "a".into(),
                sha256: "x".into(),
                scopes: vec![],
            }],
            ..Config::default()
        };
        assert_eq!(
            resolve_policy(None, &keyed, &any).unwrap().0,
            Policy::Enforce
        );
        assert_eq!(
            resolve_policy(Some(Policy::Permissive), &keyed, &lo)
                .unwrap()
                .0,
            Policy::Permissive
        );
    }
}
