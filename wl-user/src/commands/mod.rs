//! The subcommands: each sets up a filter, starts the collector, waits for the end of
//! the workload, and writes the report.

mod attach;
mod run;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs one subcommand; returns the process exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Attach(args) => attach::attach(args).await.map(|()| 0),
    }
}
