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

use super::live;
use crate::{
    cgroup::OwnCgroup,
    cli::RunArgs,
    collector::{self, Collector, Filter},
    output::Output,
    report::{DeniedRow, Render, Report, SeccompOutcome, Target},
    seccomp::{self, Denial},
    spawn,
    syscalls::{AbiName, Knowledge},
};

pub async fn run(args: RunArgs, knowledge: &Knowledge) -> Result<u8> {
    let render = live::check(
        args.trace.interval,
        Render {
            objects: args.trace.objects,
            ..args.out.render()?
        },
    )?;
    args.trace.check(&render)?;
    let only = args.trace.only(knowledge)?;
    let output = Output::open(args.out.output.as_ref(), Output::Stderr)?;
    // Opened now for the same reason as --output: a path that cannot be written fails
    // before the workload has done anything.
    let profile_out = args
        .seccomp_out
        .as_deref()
        .map(|p| {
            std::fs::File::create(p)
                .map(|f| (p, f))
                .with_context(|| format!("cannot write --seccomp-out {}", p.display()))
        })
        .transpose()?;
    let path = spawn::resolve(&args.command[0])?;
    // A profile is read and compiled before anything runs, so that a bad one fails at
    // once; compiled in the parent, since the forked child must not allocate.
    let enforced = args
        .seccomp
        .as_deref()
        .map(|p| -> Result<_> {
            let profile = seccomp::read(p)?;
            let applied = seccomp::Applied::new(&profile, args.seccomp_action)
                .with_context(|| format!("--seccomp {}", p.display()))?;
            let compiled = applied
                .compile()
                .with_context(|| format!("--seccomp {}", p.display()))?;
            Ok((p, applied, compiled))
        })
        .transpose()?;
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
    let mut options = args.trace.options(filter, knowledge, only);
    // The kernel side counts what errno and kill deny (a logged call runs and is counted
    // as usual), and leaves out the child's own calls that install the filter.
    options.count_denied = enforced.is_some();
    let count_denied = options.count_denied;
    let mut collector = Collector::start(options)?;
    super::read_kallsyms_meanwhile();
    // Catch SIGINT, SIGTERM and SIGHUP before the workload exists: one that arrives while it is
    // being set up is passed on to it once it runs, instead of killing wl-user and
    // leaving it stopped.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;

    let stopped = spawn::fork_stopped(&path, &args.command, enforced.as_ref().map(|e| &e.2))?;
    let pid = stopped.pid.as_raw();
    let enrolled = match &cgroup {
        Some(c) => c.0.add(pid),
        None => collector.trace_tgid(pid as u32),
    }
    .and_then(|()| {
        // Installing the filter takes the child two syscalls of wl-user's own.
        if count_denied {
            collector.set_pending_exec(pid as u32)
        } else {
            Ok(())
        }
    });
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

    let command: Vec<String> = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let target = Target::Command(command);
    let mut live = live::Live::start(
        args.trace.interval,
        render,
        &output,
        &target,
        started,
        knowledge,
    );
    let mut reaper = reaper;
    let status = loop {
        let forward = tokio::select! {
            status = &mut reaper => break status.context("the reaper thread failed")?,
            () = live::tick(&mut live) => {
                live::report(&mut live, &collector);
                continue;
            }
            _ = sigint.recv() => Signal::SIGINT,
            _ = sigterm.recv() => Signal::SIGTERM,
            _ = sighup.recv() => Signal::SIGHUP,
        };
        if child_running.load(Ordering::SeqCst) {
            let _ = kill(child, forward);
        }
    };
    let duration_ns = started.elapsed().as_nanos() as u64;

    let mut snapshot = collector.finish()?;
    live::finish(live, &snapshot, duration_ns);
    drop(cgroup);
    let denied = std::mem::take(&mut snapshot.denied);
    let sources = super::sources(knowledge);
    let mut report = Report::new(target, duration_ns, Some(status), snapshot, &sources);
    if let Some((path, applied, _)) = &enforced {
        report.seccomp = Some(outcome(
            &report,
            path,
            applied,
            args.seccomp_action,
            &denied,
            knowledge,
        ));
    }
    // The profile first: a report that cannot be written must not lose it.
    let profile_written =
        profile_out.map_or(Ok(()), |(path, file)| write_profile(&report, path, file));
    output.write(&report, render)?;
    profile_written?;
    Ok(status as u8)
}

/// What the profile did: the calls it stopped, counted by the kernel side (at their
/// `sys_exit`, or at the exit of the task it killed), each with the action the profile
/// gives its syscall; and the calls it logged, which ran and were counted as usual.
fn outcome(
    report: &Report,
    path: &std::path::Path,
    applied: &seccomp::Applied,
    replaced: Option<Denial>,
    counted: &[(wl_common::Abi, u32, u64)],
    knowledge: &Knowledge,
) -> SeccompOutcome {
    let row = |name: String, abi: AbiName, calls: u64| {
        let action = applied.action_of(abi, &name);
        DeniedRow {
            action: action.oci(),
            effect: action.effect(),
            name,
            abi,
            calls,
        }
    };
    let mut denied: Vec<DeniedRow> = counted
        .iter()
        .map(|&(abi, nr, calls)| {
            let abi = AbiName::of(abi);
            row(knowledge.name_of(abi, nr), abi, calls)
        })
        .collect();
    let mut logged: Vec<DeniedRow> = report
        .syscalls
        .iter()
        .filter(|s| applied.action_of(s.abi, &s.name) == seccomp::Action::Log)
        .map(|s| row(s.name.clone(), s.abi, s.counts.calls))
        .collect();
    for rows in [&mut denied, &mut logged] {
        rows.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
    }
    SeccompOutcome {
        profile: path.display().to_string(),
        replaced,
        denied,
        logged,
    }
}

/// `--seccomp-out`: a profile allowing exactly the syscalls of this run, into the file
/// opened before the run.
fn write_profile(report: &Report, path: &std::path::Path, mut file: std::fs::File) -> Result<()> {
    use std::io::Write as _;
    let (profile, unnamed) = seccomp::profile(&report.seen(), Denial::Errno);
    if !unnamed.is_empty() {
        eprintln!(
            "wl: --seccomp-out: {} cannot be named in a profile and is left out",
            unnamed.join(", ")
        );
    }
    let json = serde_json::to_string_pretty(&profile)?;
    file.write_all((json + "\n").as_bytes())
        .with_context(|| format!("cannot write --seccomp-out {}", path.display()))
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
