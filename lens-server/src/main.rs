//! The `lens` binary: argument parsing and wiring; the work is in the libraries.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lens: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
