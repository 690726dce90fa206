//! wl-user: runs or attaches to a workload, counts its syscalls with wl's eBPF programs,
//! and reports them.

mod btf;
mod cgroup;
mod cli;
mod collector;
mod commands;
#[cfg(test)]
mod fuzz;
mod input;
mod options;
mod output;
mod procs;
mod report;
mod seccomp;
mod serve;
mod spawn;

// The syscall knowledge is a crate of its own, shared with xtask's generator.
use wl_syscalls as syscalls;

use std::process::ExitCode;

use clap::Parser;

/// wl-user's own failures (a bad option, a file it cannot read, a kernel that refuses
/// its programs) exit with this, as env(1), timeout(1) and nice(1) do, so that they never
/// look like the status of the command `run` traced. A command that cannot run exits 126,
/// one not found 127 (spawn.rs); `diff` keeps diff(1)'s 2 for trouble and `check` its 1
/// for a machine that cannot trace.
const OWN_ERROR: u8 = 125;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors: clap prints them to standard output.
            let code = if !e.use_stderr() {
                0
            } else if std::env::args_os().nth(1).is_some_and(|a| a == "diff") {
                2
            } else {
                OWN_ERROR
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wl-user: error: cannot start the async runtime: {e}");
            return ExitCode::from(OWN_ERROR);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("wl-user: error: {e:#}");
            let code = e
                .downcast_ref::<spawn::CommandError>()
                .map_or(OWN_ERROR, |c| c.exit_code as u8);
            ExitCode::from(code)
        }
    }
}
