//! The `promlite` binary: the server (the default command) and promtool-style tools.

mod check;
mod compat_flags;
mod log;
mod malloc;
mod query;
mod server;
mod test;
mod tsdb;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Prometheus, re-built in Rust: server and tools.
#[derive(Parser)]
#[command(name = "promlite", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand, promlite runs the server with these flags.
    #[command(flatten)]
    server: server::ServerArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the monitoring server (the default command).
    Server(Box<server::ServerArgs>),
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
        Some(Command::Server(args)) => server::run(*args),
        None => server::run(cli.server),
    }
}
