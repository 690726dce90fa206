//! The subcommands: each sets up a filter, starts the collector, waits for the end of
//! the workload, and writes the report.

mod attach;
mod check;
mod run;
mod syscalls;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs one subcommand; returns the process exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    if let Some(tree) = &cli.kernel_src {
        crate::syscalls::use_kernel_tree(tree)?;
    }
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Attach(args) => attach::attach(args).await.map(|()| 0),
        Command::Syscalls(args) => syscalls::syscalls(args).map(|()| 0),
        Command::Check => check::check(),
    }
}
