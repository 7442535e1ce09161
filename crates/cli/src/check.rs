//! `promlite check …`: validation tools modelled on `promtool check`.

use std::process::ExitCode;

use clap::Subcommand;

/// What to check.
#[derive(Subcommand)]
pub(crate) enum CheckCommand {
    /// Lint metrics exposition read from a file or standard input (like `promtool check
    /// metrics`).
    Metrics {
        /// The file to read; standard input when absent.
        file: Option<std::path::PathBuf>,
    },
}

pub(crate) fn run(cmd: CheckCommand) -> ExitCode {
    match cmd {
        CheckCommand::Metrics { file: _ } => {
            eprintln!("not implemented yet");
            ExitCode::FAILURE
        }
    }
}
