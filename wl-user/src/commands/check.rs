//! `wl-user check`: what the running kernel offers wl, and whether wl can trace on it.
//!
//! Each line names one requirement and what was found. The last check is the one that
//! decides: the real programs are loaded and attached (tracing nothing), so a kernel
//! that passes here runs `wl-user run`; then those of `wl-user serve`, optional.

use std::io::Write as _;

use anyhow::Result;

use crate::{
    btf, cgroup,
    collector::{self, Collector, Filter, Latency, TraceOptions},
    syscalls::Knowledge,
};

struct Line {
    ok: bool,
    what: &'static str,
    detail: String,
    /// A missing optional feature: wl works without it, in a narrower way.
    optional: bool,
}

fn kernel_release() -> String {
    nix::sys::utsname::uname().map_or_else(
        |e| format!("unknown ({e})"),
        |u| {
            format!(
                "Linux {} {}",
                u.release().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        },
    )
}

fn checks() -> Vec<Line> {
    let mut lines = Vec::new();
    fn add(lines: &mut Vec<Line>, ok: bool, what: &'static str, detail: String, optional: bool) {
        lines.push(Line {
            ok,
            what,
            detail,
            optional,
        })
    }

    let privileged = collector::check_privileges();
    add(
        &mut lines,
        privileged.is_ok(),
        "privileges",
        match &privileged {
            Ok(()) => "may load BPF tracing programs".into(),
            Err(e) => format!("{e:#}"),
        },
        false,
    );

    let btf = btf::Btf::from_sys_fs();
    match &btf {
        Ok(b) => {
            add(
                &mut lines,
                true,
                "BTF",
                "/sys/kernel/btf/vmlinux describes the kernel's types".into(),
                false,
            );
            let offsets = collector::kernel_offsets(b);
            add(
                &mut lines,
                offsets.is_ok(),
                "kernel fields",
                match offsets {
                    Ok(_) => "every task_struct/cgroup/kernfs field wl reads is there".into(),
                    Err(e) => format!("{e:#}"),
                },
                false,
            );
            // Each with its names by kernel release: missing when it has none of them.
            let missing: Vec<_> = collector::TRACEPOINTS
                .iter()
                .map(|(_, tp)| std::slice::from_ref(tp))
                .chain(collector::EVENT_TRACEPOINTS.iter().map(|(_, tps, _)| *tps))
                .filter(|tps| {
                    !tps.iter()
                        .any(|tp| b.has_typedef(&format!("btf_trace_{tp}")))
                })
                .map(|tps| tps[0])
                .collect();
            add(
                &mut lines,
                missing.is_empty(),
                "tracepoints",
                if missing.is_empty() {
                    "sys_enter, sys_exit, sched_process_fork, sched_process_exit, signal_generate, sched_switch, block_bio_queue, io_uring_create, io_uring_submit_req, io_uring_complete (BTF raw tracepoints)"
                        .into()
                } else {
                    format!("no BTF raw tracepoint {}", missing.join(", "))
                },
                false,
            );
        }
        Err(e) => add(&mut lines, false, "BTF", format!("{e:#}"), false),
    }

    if privileged.is_ok() {
        let task_storage = collector::has_task_storage();
        add(
            &mut lines,
            matches!(task_storage, Ok(true)),
            "task storage",
            match task_storage {
                Ok(true) => "BPF task local storage (Linux 5.11+) keeps each call's start".into(),
                Ok(false) => "this kernel has no BPF task local storage (Linux 5.11+)".into(),
                Err(e) => format!("{e:#}"),
            },
            false,
        );
    }

    match cgroup::mount_point() {
        Some(p) => add(
            &mut lines,
            true,
            "cgroup v2",
            format!("mounted at {}", p.display()),
            true,
        ),
        None => add(
            &mut lines,
            false,
            "cgroup v2",
            "not mounted: `run` follows the process tree instead, `attach --cgroup` cannot work"
                .into(),
            true,
        ),
    }

    if lines.iter().all(|l| l.ok || l.optional) {
        let knowledge = Knowledge::embedded();
        let loaded = Collector::start(TraceOptions {
            filter: Filter::Pids {
                follow_children: false,
            },
            latency: Latency::EveryCall,
            count_denied: false,
            by: None,
            noop: false,
            objects: Some(&knowledge),
            per_cgroup: None,
            only: Default::default(),
            events: true,
            profile: None,
        });
        add(
            &mut lines,
            loaded.is_ok(),
            "programs",
            match loaded {
                Ok(_) => "the kernel accepted and attached all six programs".into(),
                Err(e) => format!("{e:#}"),
            },
            false,
        );
        // `serve` counts per cgroup with one more program; tried with tiny maps and a
        // filter that matches no process.
        let serve = Collector::start(TraceOptions {
            filter: Filter::Pids {
                follow_children: false,
            },
            latency: Latency::EveryCall,
            count_denied: false,
            by: None,
            noop: false,
            objects: None,
            per_cgroup: Some(collector::CgroupLimits {
                cgroups: 1,
                series: 1,
                errno_series: 1,
            }),
            only: Default::default(),
            events: false,
            profile: None,
        });
        add(
            &mut lines,
            serve.is_ok(),
            "serve",
            match serve {
                Ok(_) => "per-cgroup counting and the cgroup_rmdir program load and attach".into(),
                Err(e) => format!("{e:#}"),
            },
            true,
        );
        // `--profile` samples kernel stacks on a clock of every CPU.
        let profile = Collector::start(TraceOptions {
            filter: Filter::Pids {
                follow_children: false,
            },
            latency: Latency::Off,
            count_denied: false,
            by: None,
            noop: false,
            objects: None,
            per_cgroup: None,
            only: Default::default(),
            events: false,
            profile: Some(collector::profile::DEFAULT_HZ),
        });
        add(
            &mut lines,
            profile.is_ok(),
            "profile",
            match profile {
                Ok(c) => format!(
                    "kernel stacks can be sampled on {} (--profile)",
                    c.profile_clock().map_or("?", |c| c.name())
                ),
                Err(e) => format!("{e:#}"),
            },
            true,
        );
    } else {
        add(
            &mut lines,
            false,
            "programs",
            "not tried: a requirement above is missing".into(),
            false,
        );
    }
    lines
}

/// Prints the checks; returns the exit code: 0 when wl can trace here, 1 otherwise.
pub fn check() -> Result<u8> {
    let lines = checks();
    let can_run = lines.iter().all(|l| l.ok || l.optional);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<14} {}", "kernel", kernel_release())?;
    for l in &lines {
        let mark = match (l.ok, l.optional) {
            (true, _) => "ok",
            (false, true) => "--",
            (false, false) => "NO",
        };
        writeln!(out, "{:<14} {mark:<3}{}", l.what, l.detail)?;
    }
    writeln!(
        out,
        "{}",
        if can_run {
            "wl can trace on this kernel."
        } else {
            "wl cannot trace here: see the NO lines."
        }
    )?;
    Ok(if can_run { 0 } else { 1 })
}
