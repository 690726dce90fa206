//! `wl-user run -- COMMAND`: start a workload under tracing and report when it and all
//! its descendants have exited.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use anyhow::{Context as _, Result};
use nix::{
    errno::Errno,
    sys::{
        signal::{Signal, kill},
        wait::{WaitStatus, waitpid},
    },
    unistd::Pid,
};
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    cgroup::OwnCgroup,
    cli::RunArgs,
    collector::{self, Collector, Filter},
    output::Output,
    report::{Report, Target},
    spawn,
    syscalls::Knowledge,
};

pub async fn run(args: RunArgs, knowledge: &Knowledge) -> Result<u8> {
    let output = Output::open(args.out.output.as_ref(), Output::Stderr)?;
    let path = spawn::resolve(&args.command[0])?;
    collector::check_privileges()?;

    let cgroup = if args.no_cgroup {
        None
    } else {
        match OwnCgroup::create() {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("wl: cgroup v2 not usable ({e:#}); following the process tree instead");
                None
            }
        }
    };
    let filter = match &cgroup {
        Some(c) => Filter::Cgroup {
            id: c.0.id,
            level: c.0.level,
        },
        None => Filter::Pids {
            follow_children: true,
        },
    };
    // Orphaned descendants (double-forked daemons) are re-parented to wl-user, so that
    // waiting for every child means waiting for the whole tree.
    nix::sys::prctl::set_child_subreaper(true).context("cannot become a child subreaper")?;
    let mut collector = Collector::start(args.trace.options(filter))?;
    // Catch SIGINT, SIGTERM and SIGHUP before the workload exists: one that arrives while it is
    // being set up is passed on to it once it runs, instead of killing wl-user and
    // leaving it stopped.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;

    let stopped = spawn::fork_stopped(&path, &args.command)?;
    let enrolled = match &cgroup {
        Some(c) => c.0.add(stopped.pid.as_raw()),
        None => collector.trace_tgid(stopped.pid.as_raw() as u32),
    };
    if let Err(e) = enrolled {
        stopped.abandon();
        return Err(e);
    }
    let started = Instant::now();
    let child = stopped.pid;
    let child_running = Arc::new(AtomicBool::new(true));
    let reaper = tokio::task::spawn_blocking({
        let child_running = child_running.clone();
        move || reap_all(child, &child_running)
    });
    if let Err(e) = stopped.resume() {
        let _ = reaper.await;
        return Err(e);
    }

    let mut reaper = reaper;
    let status = loop {
        let forward = tokio::select! {
            status = &mut reaper => break status.context("the reaper thread failed")?,
            _ = sigint.recv() => Signal::SIGINT,
            _ = sigterm.recv() => Signal::SIGTERM,
            _ = sighup.recv() => Signal::SIGHUP,
        };
        if child_running.load(Ordering::SeqCst) {
            let _ = kill(child, forward);
        }
    };
    let duration_ns = started.elapsed().as_nanos() as u64;

    let snapshot = collector.snapshot()?;
    drop(collector);
    drop(cgroup);
    let command = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let report = Report::new(
        Target::Command(command),
        duration_ns,
        Some(status),
        snapshot,
        knowledge,
    );
    output.write(&report, args.out.format)?;
    Ok(status as u8)
}

/// Waits for every child (and, as subreaper, every orphaned descendant) until none is
/// left; returns the exit status of `child`, shell style.
fn reap_all(child: Pid, child_running: &AtomicBool) -> i32 {
    let mut status = 0;
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                child_running.store(false, Ordering::SeqCst);
                status = code;
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                child_running.store(false, Ordering::SeqCst);
                status = 128 + sig as i32;
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return status,
        }
    }
}
