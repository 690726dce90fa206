//! The subcommands: each sets up a filter, starts the collector, waits for the end of
//! the workload, and writes the report.

mod attach;
mod check;
mod diff;
mod docs;
mod live;
mod run;
mod seccomp;
mod syscalls;

use anyhow::Result;

use crate::{
    cli::{Cli, Command},
    syscalls::Knowledge,
};

/// Runs one subcommand; returns the process exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    // The syscall tables name what is traced; a bad --kernel-src fails before tracing.
    let knowledge = || Knowledge::load(cli.kernel_src.as_deref());
    match cli.command {
        Command::Run(args) => run::run(args, &knowledge()?).await,
        Command::Attach(args) => attach::attach(args, &knowledge()?).await.map(|()| 0),
        Command::Syscalls(args) => syscalls::syscalls(args, &knowledge()?).map(|()| 0),
        // Reports carry their names already: no syscall tables needed.
        Command::Diff(args) => Ok(diff::diff(args)),
        Command::Seccomp(args) => seccomp::seccomp(args).map(|()| 0),
        Command::Check => check::check(),
        Command::Serve(args) => crate::serve::serve(args, knowledge()?).await,
        Command::Completions { shell } => docs::completions(shell).map(|()| 0),
        Command::Man { dir } => docs::man(&dir).map(|()| 0),
    }
}
