//! The `promlite` binary: the server (the default command, coming with the server work)
//! and promtool-style tools.

mod check;
mod query;
mod test;
mod tsdb;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Prometheus, re-built in Rust: server and tools.
#[derive(Parser)]
#[command(name = "promlite", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check files for problems, like `promtool check`.
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// PromQL tools: format an expression.
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// Run test scripts, like `promtool test`.
    #[command(subcommand)]
    Test(test::TestCommand),
    /// Inspect and create TSDB blocks, like `promtool tsdb`.
    #[command(subcommand)]
    Tsdb(tsdb::TsdbCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check(c)) => check::run(c),
        Some(Command::Tsdb(c)) => tsdb::run(c),
        Some(Command::Query(c)) => query::run(c),
        Some(Command::Test(c)) => test::run(c),
        None => {
            eprintln!("promlite: the server is not built yet; see `promlite --help` for the tools");
            ExitCode::from(2)
        }
    }
}
