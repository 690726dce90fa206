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

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wl-user: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("wl-user: error: {e:#}");
            let code = e
                .downcast_ref::<spawn::CommandError>()
                .map_or(1, |c| c.exit_code);
            ExitCode::from(code as u8)
        }
    }
}
