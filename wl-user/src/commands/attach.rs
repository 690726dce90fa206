//! `wl-user attach --pid N... | --cgroup PATH`: trace what already runs until Ctrl-C,
//! `--duration`, or the end of every target.

use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::signal::unix::{SignalKind, signal};

use super::live;
use crate::{
    cgroup::Cgroup,
    cli::AttachArgs,
    collector::{self, Collector, Filter},
    output::Output,
    procs,
    report::{Render, Report, Target},
    syscalls::Knowledge,
};

/// How often to look whether the targets are gone.
const POLL: Duration = Duration::from_millis(50);

pub async fn attach(args: AttachArgs, knowledge: &Knowledge) -> Result<()> {
    let render = live::check(
        args.trace.interval,
        Render {
            objects: args.trace.objects,
            ..args.out.render()?
        },
    )?;
    args.trace.check(&render)?;
    let only = args.trace.only(knowledge)?;
    let output = Output::open(args.out.output.as_ref(), Output::Stdout)?;
    // Validate every target before loading anything.
    let cgroup = args.cgroup.as_deref().map(Cgroup::open).transpose()?;
    let tgids = args
        .pid
        .iter()
        .map(|&p| procs::tgid_of(p))
        .collect::<Result<Vec<_>>>()?;
    collector::check_privileges()?;

    let follow_children = !args.no_children;
    let (filter, target) = match &cgroup {
        Some(c) => (
            Filter::Cgroup {
                id: c.id,
                level: c.level,
            },
            Target::Cgroup(c.path.display().to_string()),
        ),
        None => (
            Filter::Pids { follow_children },
            Target::Pids(args.pid.clone()),
        ),
    };
    // Caught before tracing starts: a Ctrl-C at any moment from here ends with a report.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut collector = Collector::start(args.trace.options(filter, knowledge, only))?;
    super::read_kallsyms_meanwhile();
    let started = Instant::now();
    if cgroup.is_none() {
        // Programs are attached, so from here on the kernel adds every new child of a
        // traced process; children that exist already are found in /proc.
        for &t in &tgids {
            collector.trace_tgid(t)?;
        }
        if follow_children {
            for d in procs::descendants(&tgids) {
                collector.trace_tgid(d)?;
            }
        }
    }
    eprintln!(
        "wl: tracing {}; Ctrl-C to stop",
        match &target {
            Target::Cgroup(p) => format!("cgroup {p}"),
            _ => format!(
                "pid {}",
                args.pid
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    );

    let deadline = args.duration.map(|d| tokio::time::Instant::now() + d);
    // A cgroup may be empty now and have processes later: with --duration it is traced
    // for all of it. Processes, once gone, cannot come back.
    let watch_targets = deadline.is_none() || cgroup.is_none();
    let mut tick = tokio::time::interval(POLL);
    let mut live = live::Live::start(
        args.trace.interval,
        render,
        &output,
        &target,
        started,
        knowledge,
    );
    loop {
        tokio::select! {
            () = live::tick(&mut live) => live::report(&mut live, &collector),
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = sighup.recv() => break,
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => break,
            _ = tick.tick(), if watch_targets => {
                match targets_gone(&mut collector, cgroup.as_ref()) {
                    Ok(false) => {}
                    Ok(true) => break,
                    // Say why tracing stops, and still report what was gathered.
                    Err(e) => {
                        eprintln!("wl: {e:#}; stopping");
                        break;
                    }
                }
            }
        }
    }
    let duration_ns = started.elapsed().as_nanos() as u64;
    let snapshot = collector.finish()?;
    live::finish(live, &snapshot, duration_ns);
    let report = Report::new(
        target,
        duration_ns,
        None,
        snapshot,
        &super::sources(knowledge),
    );
    output.write(&report, render)
}

fn targets_gone(collector: &mut Collector, cgroup: Option<&Cgroup>) -> Result<bool> {
    if let Some(c) = cgroup {
        return Ok(!c.populated()?);
    }
    let mut alive = 0;
    for tgid in collector.traced()? {
        if procs::exists(tgid) {
            alive += 1;
        } else {
            // Gone without the kernel side seeing its exit (it left between the /proc
            // scan and its insertion); forget it so its pid can be reused safely.
            collector.untrace_tgid(tgid)?;
        }
    }
    Ok(alive == 0)
}
