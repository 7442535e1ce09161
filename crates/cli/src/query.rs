//! `promlite query …`: PromQL tools. `query format EXPR` prints the canonical form of an
//! expression, as Prometheus's `/api/v1/format_query` and `promtool query` do, or the
//! parse error with its position.

use std::process::ExitCode;

use clap::Subcommand;

/// PromQL tools.
#[derive(Subcommand)]
pub(crate) enum QueryCommand {
    /// Print an expression in Prometheus's canonical format.
    Format {
        /// The PromQL expression.
        expr: String,
        /// Accept experimental syntax (functions, duration expressions, …).
        #[arg(long)]
        experimental: bool,
    },
}

pub(crate) fn run(cmd: QueryCommand) -> ExitCode {
    let QueryCommand::Format { expr, experimental } = cmd;
    let options = if experimental {
        promlite_promql::ParserOptions::all()
    } else {
        promlite_promql::ParserOptions::new()
    };
    match promlite_promql::Parser::new(options).parse(&expr) {
        Ok(e) => {
            println!("{e}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
