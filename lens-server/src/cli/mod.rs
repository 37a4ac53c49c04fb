//! Subcommands of the `lens` binary.

mod index;
mod keys;
mod search;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "lens",
    version,
    about = "Self-hosted code search: index repositories, search them exactly and fast"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an index bundle from one or more repositories.
    Index(index::IndexArgs),
    /// Search a bundle with the query language or grep-style flags.
    Search(search::SearchArgs),
    /// Serve a bundle over HTTP.
    Serve(serve::ServeArgs),
    /// Manage API keys in a config file.
    Keys(keys::KeysArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Index(a) => index::run(a),
        Command::Search(a) => search::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Keys(a) => keys::run(a),
    }
}
