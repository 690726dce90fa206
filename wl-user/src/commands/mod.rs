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

use std::sync::OnceLock;

use anyhow::Result;

use crate::{
    cli::{Cli, Command},
    procs,
    report::Sources,
    syscalls::{Knowledge, objects::Kallsyms},
};

/// What reports of this machine are made from besides the kernel side: `knowledge`,
/// the running kernel's symbols and /proc.
fn sources(knowledge: &Knowledge) -> Sources<'_> {
    Sources {
        knowledge,
        kallsyms: kallsyms(),
        running: &procs::running,
    }
}

/// The running kernel's symbols, read once per process (intervals make a report each).
/// Without them (no privilege to see addresses) handlers stay unnamed, and wl says so
/// once.
fn kallsyms() -> &'static Kallsyms {
    static KSYMS: OnceLock<Kallsyms> = OnceLock::new();
    KSYMS.get_or_init(|| {
        Kallsyms::read().unwrap_or_else(|e| {
            eprintln!("wl: handlers stay unnamed: {e:#}");
            Kallsyms::default()
        })
    })
}

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
