//! `lens keys add --scopes search,ops --config lens.toml [--id NAME]`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use lens_server::server::auth::{hash_key, new_key};
use lens_server::server::config::{Config, KeyEntry};

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key, store its hash in the config file and print the key once.
    Add {
        /// Comma-separated scopes: search, ops.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// A name for the key (shown in the audit log) [default: key-N].
        #[arg(long)]
        id: Option<String>,
    },
}

pub fn run(a: KeysArgs) -> anyhow::Result<ExitCode> {
    let KeysCommand::Add { scopes, config, id } = a.command;
    for s in &scopes {
        if s != "search" && s != "ops" {
            bail!("unknown scope {s:?}; scopes are search and ops");
        }
    }
    let mut cfg = if config.exists() {
        Config::load(&config)?
    } else {
        Config::default()
    };
    let id = id.unwrap_or_else(|| format!("key-{}", cfg.keys.len() + 1));
    if cfg.keys.iter().any(|k| k.id == id) {
        bail!("a key named {id:?} exists in {}", config.display());
    }
    let key = new_key()?;
    cfg.keys.push(KeyEntry {
        id: id.clone(),
        sha256: hash_key(&key),
        scopes,
    });
    cfg.save(&config)?;
    eprintln!(
        "lens: added key {id:?} to {}; it is shown once:",
        config.display()
    );
    println!("{key}");
    Ok(ExitCode::SUCCESS)
}
