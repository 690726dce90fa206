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
    report::{Sources, provenance::Provenance},
    syscalls::{Knowledge, kallsyms::Kallsyms},
};

/// What reports of this machine are made from besides the kernel side: `knowledge`,
/// the running kernel's symbols and /proc.
fn sources(knowledge: &Knowledge) -> Sources<'_> {
    Sources {
        provenance: provenance(),
        knowledge,
        kallsyms: kallsyms(),
        running: &procs::running,
        block_device: &procs::block_device,
    }
}

/// What made this process's reports: taken when the subcommand starts, so that
/// `started_at` is when tracing began, the same in every interval line.
fn provenance() -> &'static Provenance {
    static PROVENANCE: OnceLock<Provenance> = OnceLock::new();
    PROVENANCE.get_or_init(Provenance::now)
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

/// Reads the kernel's symbols on a thread of their own while the workload runs: reports
/// need them, and /proc/kallsyms takes the kernel some 30 ms to write out, which would
/// otherwise come between the workload's end and its report.
fn read_kallsyms_meanwhile() {
    std::thread::spawn(|| {
        kallsyms();
    });
}

/// Runs one subcommand; returns the process exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    provenance();
    // The syscall tables name what is traced; a bad --kernel-src fails before tracing.
    match cli.command {
        Command::Run(args) => {
            let knowledge = args.trace.tables.knowledge()?;
            run::run(args, &knowledge).await
        }
        Command::Attach(args) => {
            let knowledge = args.trace.tables.knowledge()?;
            attach::attach(args, &knowledge).await.map(|()| 0)
        }
        Command::Syscalls(args) => {
            let knowledge = args.tables.knowledge()?;
            syscalls::syscalls(args, &knowledge).map(|()| 0)
        }
        // Reports carry their names already: no syscall tables needed.
        Command::Diff(args) => Ok(diff::diff(args)),
        Command::Seccomp(args) => seccomp::seccomp(args).map(|()| 0),
        Command::Check => check::check(),
        Command::Serve(args) => {
            let knowledge = args.tables.knowledge()?;
            crate::serve::serve(args, knowledge).await
        }
        Command::Completions { shell } => docs::completions(shell).map(|()| 0),
        Command::Man { dir } => docs::man(&dir).map(|()| 0),
    }
}
