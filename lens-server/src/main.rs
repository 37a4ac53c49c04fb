//! The `lens` binary: argument parsing and wiring; the work is in the libraries.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.log_format);
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lens: error: {e:#}");
            // Engine errors exit as the error table says; the binary's own (arguments,
            // files) exit 2.
            let code = e
                .downcast_ref::<lens_core::Error>()
                .map_or(2, |e| lens_server::errors::code_of(e).exit_code());
            ExitCode::from(code)
        }
    }
}
