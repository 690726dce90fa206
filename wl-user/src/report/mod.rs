//! The report: what a run or an attach gathered, named with the syscall tables, and
//! written as a table or JSON.

mod columns;
mod csv;
pub mod diff;
pub mod events;
mod histogram;
pub mod io_uring;
mod json;
mod markdown;
pub mod objects;
pub mod percentile;
pub mod profile;
pub mod provenance;
pub mod read;
pub mod render;
mod rst;
mod svg;
mod table;
pub mod tasks;

use std::{collections::BTreeMap, io::Write};

use anyhow::Result;
use serde::Serialize;
use wl_common::{Counts, LATENCY_BUCKETS};

pub use svg::Weight;

use crate::{
    collector::{Latency, Snapshot},
    syscalls::{self, AbiName, Knowledge},
};

/// The JSON report's `schema`: raised when a field changes meaning or goes away, not
/// when one is added. `wl-user diff` reads this and every older schema.
pub const SCHEMA: u32 = 1;

/// Report formats, as `--format` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns like `strace -c`, sorted by time spent.
    Table,
    /// One JSON object (fields described in README.md).
    Json,
    /// The kernel workload-tracing guide's grid table (reStructuredText), grouped by
    /// subsystem, ready to paste into kernel documentation.
    Rst,
    /// Comma-separated values, one row per syscall.
    Csv,
    /// Markdown tables: syscalls, then subsystems.
    Md,
    /// A picture (SVG icicle chart): subsystems, each divided into its syscalls, widths
    /// by time spent (or calls, see --weight); hover a box for its numbers. With
    /// --profile, a flame graph of the kernel stacks under it, coloured by subsystem.
    Svg,
    /// The kernel stacks --profile sampled, one line each (`outer;...;inner samples`),
    /// as flamegraph.pl, inferno-flamegraph and speedscope read them.
    Folded,
}

/// Which objects the report shows (`--objects`): none (and the kernel side does not
/// look), those of syscalls that reached more than one object or one of another
/// subsystem, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectsShown {
    None,
    Auto,
    All,
}

/// The order of syscall rows (`--sort`), busiest first except by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// Time spent (wall time in the call), then calls: strace -c's order.
    #[default]
    Time,
    /// Calls, then time.
    Calls,
    /// Failed calls, then calls.
    Errors,
    /// Name, then ABI.
    Name,
}

impl SortKey {
    /// `a` before `b` in this order; ties by name, so that equal runs read the same.
    pub fn order(self, a: &SyscallRow, b: &SyscallRow) -> std::cmp::Ordering {
        let (ca, cb) = (&a.counts, &b.counts);
        let first = match self {
            SortKey::Time => cb.total_ns.cmp(&ca.total_ns).then(cb.calls.cmp(&ca.calls)),
            SortKey::Calls => cb.calls.cmp(&ca.calls).then(cb.total_ns.cmp(&ca.total_ns)),
            SortKey::Errors => cb.errors.cmp(&ca.errors).then(cb.calls.cmp(&ca.calls)),
            SortKey::Name => std::cmp::Ordering::Equal,
        };
        first
            .then_with(|| a.name.cmp(&b.name))
            .then(a.abi.cmp(&b.abi))
    }
}

/// How a report is written.
#[derive(Debug, Clone, Copy)]
pub struct Render {
    pub format: Format,
    /// Text histograms under the table (`--histogram`).
    pub histograms: bool,
    /// What the SVG picture's widths measure (`--weight`).
    pub weight: Weight,
    /// JSON on one line: the final report ends `--interval`'s JSON Lines.
    pub one_line: bool,
    /// How many task blocks (with `--by`) or syscall rows (without) the text formats
    /// show (`--top`); all without.
    pub top: Option<usize>,
    /// The order of syscall rows (`--sort`).
    pub sort: SortKey,
    /// Which object rows the tables show under their syscall (`--objects`).
    pub objects: ObjectsShown,
    /// The width of the terminal the table goes to: its lines are made to fit. None
    /// for files and pipes, which keep every character.
    pub width: Option<usize>,
}

#[cfg(test)]
impl Render {
    pub fn plain(format: Format) -> Render {
        Render {
            format,
            histograms: false,
            weight: Weight::Time,
            one_line: false,
            top: None,
            objects: ObjectsShown::Auto,
            sort: SortKey::Time,
            width: None,
        }
    }
}

/// What was traced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `run`: the command line started.
    Command(Vec<String>),
    /// `attach --pid`: the pids given.
    Pids(Vec<u32>),
    /// `attach --cgroup`: the cgroup directory.
    Cgroup(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Kernel {
    pub release: String,
    pub arch: String,
}

impl Kernel {
    pub fn running() -> Kernel {
        let u = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            u.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Kernel {
            release: field(|u| u.release()),
            arch: field(|u| u.machine()),
        }
    }
}

/// What a report is made from besides the kernel side's snapshot, passed in so that
/// the report reads nothing itself: the syscall tables, the kernel's symbols (to name
/// the handlers objects reached) and what is known of tasks still running (`--by`).
pub struct Sources<'a> {
    /// What made the report (wl-user's version, start, command line, host).
    pub provenance: &'a provenance::Provenance,
    pub knowledge: &'a Knowledge,
    pub kallsyms: &'a crate::syscalls::kallsyms::Kallsyms,
    pub running: &'a dyn Fn(u32) -> Option<crate::procs::Running>,
    /// A block device's name from its major and minor numbers.
    pub block_device: &'a dyn Fn(u32, u32) -> Option<String>,
}

/// One syscall's row.
#[derive(Debug, Clone, Serialize)]
pub struct SyscallRow {
    pub name: String,
    pub nr: u32,
    pub abi: AbiName,
    /// Calls, failures and time (ns), in JSON `calls`, `errors`, `total_ns`; the time
    /// estimated from the timed calls with `--latency-sample`.
    #[serde(flatten)]
    pub counts: Counts,
    /// errno name → failures with it.
    pub errno: BTreeMap<String, u64>,
    /// Calls whose time was measured: all but `exit`/`exit_group`, or a sample.
    pub timed_calls: u64,
    pub avg_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    /// Latency percentiles of the timed calls, estimated from `latency_log2` (see
    /// [`percentile::percentile`]: within a factor of 2); 0 when none was timed.
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    /// Calls per log2 latency bucket: entry `b` counts calls of `[2^(b-1), 2^b)` ns.
    pub latency_log2: Vec<u64>,
    /// Coarse kernel subsystem (see syscalls/rules.rs).
    pub subsystem: &'static str,
    /// The source file that implements it for this ABI.
    pub source: Option<&'static str>,
    /// The kernel function it enters (`sys_getppid`).
    pub api: String,
    /// The MAINTAINERS section covering `source`.
    pub maintainers: Option<&'static str>,
    /// With objects resolved, when every call was served by one subsystem: that one
    /// (the netdev ioctls: Network, though ioctl enters in fs/ioctl.c). The tables,
    /// the live view and diff show a syscall under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_by: Option<&'static str>,
    /// Its calls mostly wait (sleep, poll, wait for a child, a futex, a signal, the
    /// disk): their wall time is time off CPU more than work (marked `~` in the table).
    pub waits: bool,
    /// With objects resolved, for syscalls that work on an fd or carry a command: the
    /// calls by object and command, busiest first; their calls add up to `calls`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<Vec<objects::ObjectRow>>,
}

impl SyscallRow {
    /// The subsystem its calls count under in the tables: the one that served them
    /// all where objects tell, else the one of its entry point.
    pub fn served(&self) -> &'static str {
        self.served_by.unwrap_or(self.subsystem)
    }
}

/// One subsystem's share of the workload.
#[derive(Debug, Clone, Serialize)]
pub struct SubsystemRow {
    pub name: &'static str,
    /// Calls, failures and time (ns): in JSON `calls`, `errors`, `total_ns`.
    #[serde(flatten)]
    pub counts: Counts,
    /// Distinct syscalls (per ABI) of this subsystem that were called.
    pub syscalls: u64,
    /// io_uring operations completed for the workload that this subsystem served: in
    /// the summary by entry point all under io_uring, by object under the subsystem of
    /// each request's file.
    pub io_uring_ops: u64,
    /// Events in this subsystem (page faults, signals, context switches, block I/O):
    /// kernel work that no call above counts.
    pub events: u64,
}

impl SubsystemRow {
    pub(crate) fn new(name: &'static str) -> SubsystemRow {
        SubsystemRow {
            name,
            counts: Counts::default(),
            syscalls: 0,
            io_uring_ops: 0,
            events: 0,
        }
    }

    /// `name`'s row in `rows`, added empty if it is not there.
    pub(crate) fn find<'r>(rows: &'r mut Vec<SubsystemRow>, name: &'static str) -> &'r mut Self {
        let i = match rows.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                rows.push(SubsystemRow::new(name));
                rows.len() - 1
            }
        };
        &mut rows[i]
    }
}

/// Adds to a subsystem summary the work no syscall row shows: each event under its
/// subsystem, each io_uring operation under io_uring, or `by_object` under its object's
/// subsystem.
fn credit_kernel_work(
    rows: &mut Vec<SubsystemRow>,
    events: &[events::EventRow],
    io_uring: &[io_uring::IoUringRow],
    by_object: bool,
) {
    for e in events {
        SubsystemRow::find(rows, e.subsystem).events += e.counts.calls;
    }
    for op in io_uring {
        if !by_object {
            SubsystemRow::find(rows, op.subsystem).io_uring_ops += op.counts.calls;
            continue;
        }
        for o in &op.objects {
            let name = o.subsystem.unwrap_or(op.subsystem);
            SubsystemRow::find(rows, name).io_uring_ops += o.counts.calls;
        }
    }
    sort_subsystems(rows);
}

/// Which syscall tables named the rows.
#[derive(Debug, Clone, Serialize)]
pub struct Tables {
    /// Linux release of the source tree the tables come from.
    pub linux: &'static str,
    /// "embedded", or the tree given with --kernel-src.
    pub origin: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`], so that readers can tell which fields to expect.
    pub schema: u32,
    /// `wl_version`, `started_at`, `command_line`, `host`.
    #[serde(flatten)]
    pub provenance: provenance::Provenance,
    pub target: Target,
    pub kernel: Kernel,
    pub duration_ns: u64,
    /// `run` only: the workload's exit status (128+N when killed by signal N).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// Whether calls were timed; without (`--no-latency`) the time fields are 0.
    pub latency: bool,
    /// One call in how many of each thread was timed (`--latency-sample`; 1: every
    /// call). Above 1, `total_ns` is estimated from the timed calls.
    pub latency_sample: u32,
    /// What the kernel side could not record, by reason.
    pub lost: BTreeMap<&'static str, u64>,
    /// Sorted by time spent, then calls, then name.
    pub syscalls: Vec<SyscallRow>,
    /// By the subsystem of each syscall's entry point, sorted by time spent, then calls.
    pub subsystems: Vec<SubsystemRow>,
    /// With objects resolved: each call under the subsystem of the object or command
    /// that served it (the netdev ioctls under networking), else of its syscall.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsystems_by_object: Option<Vec<SubsystemRow>>,
    pub syscall_tables: Tables,
    /// With `--by`: `process`, `thread` or `comm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<crate::options::By>,
    /// With `--by`: `processes`, `threads` or `commands`.
    #[serde(flatten)]
    pub tasks: tasks::Tasks,
    /// `run --seccomp` only: the profile applied and what it denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompOutcome>,
    /// Kernel work no syscall row shows: signals delivered to the traced tasks and their
    /// context switches (absent with `--events none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<events::EventRow>>,
    /// io_uring operations of the traced tasks, by opcode (with events, where the
    /// kernel has io_uring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_uring: Option<Vec<io_uring::IoUringRow>>,
    /// With `--syscall`, `--failed` or `--errno`: which calls were counted (`syscalls`,
    /// `failed`, `errnos`, as given); the rest were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<crate::options::Only>,
    /// With `--profile`: where the kernel's time went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<profile::Profile>,
}

/// A run under a seccomp profile: the calls it stopped and those it logged.
#[derive(Debug, Clone, Serialize)]
pub struct SeccompOutcome {
    /// The profile's path as given.
    pub profile: String,
    /// `--seccomp-action`, in place of the profile's actions that stop a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced: Option<crate::seccomp::Denial>,
    /// By syscall, most calls first: calls that did not run (an errno, a trap, or the
    /// kill of their thread or process).
    pub denied: Vec<DeniedRow>,
    /// Calls that ran under `SCMP_ACT_LOG`, logged by the kernel.
    pub logged: Vec<DeniedRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeniedRow {
    pub name: String,
    pub abi: AbiName,
    pub calls: u64,
    /// The profile's action for the syscall, e.g. `SCMP_ACT_ERRNO`.
    pub action: &'static str,
    /// What the caller got: an errno's name, `SIGSYS`, `process killed`, ...
    pub effect: String,
}

/// Busiest first: by time spent, then calls, then the work no call shows, then name.
fn sort_subsystems(rows: &mut [SubsystemRow]) {
    rows.sort_by(|a, b| {
        b.counts
            .total_ns
            .cmp(&a.counts.total_ns)
            .then(b.counts.calls.cmp(&a.counts.calls))
            .then((b.io_uring_ops + b.events).cmp(&(a.io_uring_ops + a.events)))
            .then(a.name.cmp(b.name))
    });
}

impl Report {
    /// The subsystem summary the tables show: by object where objects were resolved.
    pub fn summary(&self) -> &[SubsystemRow] {
        self.subsystems_by_object
            .as_deref()
            .unwrap_or(&self.subsystems)
    }

    pub fn new(
        target: Target,
        duration_ns: u64,
        exit_status: Option<i32>,
        snap: Snapshot,
        sources: &Sources,
    ) -> Report {
        let k = sources.knowledge;
        let timed = snap.latency != Latency::Off;
        let (by, tasks) = match snap.tasks {
            Some(t) => (
                Some(t.by),
                tasks::build(t, k, sources.kallsyms, timed, sources.running),
            ),
            None => (None, tasks::Tasks::default()),
        };
        let mut object_rows = snap.objects.map(|o| objects::build(o, k, sources.kallsyms));
        let mut syscalls: Vec<SyscallRow> = snap
            .syscalls
            .into_iter()
            .map(|s| {
                let abi = AbiName::of(s.abi);
                let mut hist = s.latency_log2.to_vec();
                while hist.last() == Some(&0) {
                    hist.pop();
                }
                debug_assert!(hist.len() <= LATENCY_BUCKETS);
                let described = k.describe(abi, s.nr);
                let pct = |q| percentile::percentile(&hist, q, s.min_ns, s.max_ns);
                let objects = object_rows.as_mut().and_then(|o| o.remove(&(abi, s.nr)));
                let objects = objects.map(|mut rows| {
                    objects::scale_time(&mut rows, s.counts.calls, s.timed);
                    rows
                });
                SyscallRow {
                    name: described.name,
                    nr: s.nr,
                    abi,
                    counts: Counts {
                        // The timed calls' total scaled to all calls; the same number
                        // when every call was timed.
                        total_ns: (u128::from(s.counts.total_ns) * u128::from(s.counts.calls))
                            .checked_div(u128::from(s.timed))
                            .map_or(0, |t| t as u64),
                        ..s.counts
                    },
                    errno: s
                        .errnos
                        .iter()
                        .map(|(&e, &n)| (syscalls::errno_name(e), n))
                        .collect(),
                    timed_calls: s.timed,
                    avg_ns: s.counts.total_ns.checked_div(s.timed).unwrap_or(0),
                    min_ns: s.min_ns,
                    max_ns: s.max_ns,
                    p50_ns: pct(0.5),
                    p90_ns: pct(0.9),
                    p99_ns: pct(0.99),
                    latency_log2: hist,
                    subsystem: described.subsystem,
                    source: described.source,
                    api: described.entry.to_owned(),
                    maintainers: described.maintainers,
                    waits: described.waits,
                    served_by: objects
                        .as_deref()
                        .and_then(|o| objects::served_by(o, described.subsystem)),
                    objects,
                }
            })
            .collect();
        syscalls.sort_by(|a, b| SortKey::Time.order(a, b));
        let mut subsystems: Vec<SubsystemRow> = Vec::new();
        for r in &syscalls {
            let s = SubsystemRow::find(&mut subsystems, r.subsystem);
            s.counts += r.counts;
            s.syscalls += 1;
        }
        sort_subsystems(&mut subsystems);
        let subsystems_by_object = object_rows.map(|_| objects::subsystems(&syscalls));
        let mut report = Report {
            schema: SCHEMA,
            provenance: sources.provenance.clone(),
            target,
            kernel: Kernel::running(),
            duration_ns,
            exit_status,
            latency: snap.latency != Latency::Off,
            latency_sample: snap.latency.one_in(),
            lost: snap.lost,
            syscalls,
            subsystems,
            subsystems_by_object,
            syscall_tables: Tables {
                linux: k.release,
                origin: k.origin.clone(),
            },
            seccomp: None,
            only: snap.only,
            events: snap.events.as_deref().map(|slots| {
                let file = |key: &wl_common::FaultKey| {
                    let object = wl_common::ObjectKey {
                        kind: wl_common::object::FILE,
                        fs_magic: key.fs_magic,
                        rdev: key.rdev,
                        mode: key.mode,
                        type_fn: key.type_fn,
                        ..Default::default()
                    };
                    let info = crate::syscalls::objects::describe(
                        sources.knowledge,
                        sources.kallsyms,
                        "mmap",
                        &object,
                    );
                    (
                        info.name.unwrap_or_else(|| info.kind.to_owned()),
                        info.source,
                    )
                };
                events::build(
                    &events::Counted {
                        slots,
                        block: snap.block.as_deref().unwrap_or_default(),
                        faults: snap.faults.as_deref(),
                    },
                    &events::Namers {
                        device: sources.block_device,
                        file: &file,
                    },
                )
            }),
            io_uring: snap
                .io_uring
                .as_ref()
                .map(|u| io_uring::build(u, sources.knowledge, sources.kallsyms)),
            by,
            tasks,
            profile: snap
                .profile
                .as_ref()
                .map(|p| profile::build(p, &profile::namer(sources.knowledge, sources.kallsyms))),
        };
        let events = report.events.as_deref().unwrap_or_default();
        let io_uring = report.io_uring.as_deref().unwrap_or_default();
        credit_kernel_work(&mut report.subsystems, events, io_uring, false);
        if let Some(rows) = &mut report.subsystems_by_object {
            credit_kernel_work(rows, events, io_uring, true);
        }
        report
    }

    /// The syscalls that ran, by ABI: what a seccomp profile of this run allows.
    pub fn seen(&self) -> crate::seccomp::Seen {
        let mut seen = crate::seccomp::Seen::new();
        for s in &self.syscalls {
            seen.entry(s.abi).or_default().insert(s.name.clone());
        }
        seen
    }

    /// Total time spent in syscalls, for shares.
    pub fn total_ns(&self) -> u64 {
        self.syscalls.iter().map(|s| s.counts.total_ns).sum()
    }

    /// `ns` as a percentage of all the time spent in syscalls.
    pub fn percent_of_time(&self, ns: u64) -> f64 {
        match self.total_ns() {
            0 => 0.0,
            total => 100.0 * ns as f64 / total as f64,
        }
    }

    /// `rows` grouped by the subsystem that served them (busiest subsystem first), in
    /// their order within.
    pub fn by_subsystem<'a>(&self, rows: &'a [SyscallRow]) -> Vec<&'a SyscallRow> {
        let rank = |name: &str| {
            self.summary()
                .iter()
                .position(|s| s.name == name)
                .unwrap_or(usize::MAX)
        };
        let mut rows: Vec<&SyscallRow> = rows.iter().collect();
        rows.sort_by_key(|r| rank(r.served()));
        rows
    }

    /// The syscall rows the text formats show: without `--by`, the first `top` of them
    /// (`--top`) and a line that sums the rest.
    pub fn shown_syscalls(&self, top: Option<usize>) -> (&[SyscallRow], Option<String>) {
        let n = match (top, &self.by) {
            (Some(n), None) => n.min(self.syscalls.len()),
            _ => self.syscalls.len(),
        };
        let rest = &self.syscalls[n..];
        let line = (!rest.is_empty()).then(|| {
            let c: Counts = rest.iter().map(|s| s.counts).sum();
            format!(
                "{} more syscalls: {} calls, {} errors (--top shows more)",
                rest.len(),
                c.calls,
                c.errors
            )
        });
        (&self.syscalls[..n], line)
    }

    /// `--interval`'s view of this (interval's) report: rates per second of it.
    pub fn write_rates(
        &self,
        objects: ObjectsShown,
        fit: Option<usize>,
        width: Option<usize>,
        out: &mut dyn Write,
    ) -> Result<()> {
        table::rates(self, objects, fit, width, out)
    }

    pub fn write(&self, render: Render, out: &mut dyn Write) -> Result<()> {
        if render.sort != SortKey::Time {
            let mut sorted = self.clone();
            sorted.syscalls.sort_by(|a, b| render.sort.order(a, b));
            return sorted.write(
                Render {
                    sort: SortKey::Time,
                    ..render
                },
                out,
            );
        }
        match render.format {
            Format::Table => {
                table::write(self, render, out)?;
                if render.histograms {
                    histogram::write(self, out)?;
                }
                table::tasks(self, render, out)
            }
            Format::Json => json::write(self, render.one_line, out),
            Format::Rst => {
                rst::write(self, render, out)?;
                rst::tasks(self, render.top, out)
            }
            Format::Csv => csv::write(self, render.objects, out),
            Format::Md => {
                markdown::write(self, render, out)?;
                markdown::tasks(self, render.top, out)
            }
            Format::Svg => svg::write(self, render.weight, out),
            Format::Folded => match &self.profile {
                Some(p) => Ok(out.write_all(profile::folded(p).as_bytes())?),
                None => anyhow::bail!("--format folded writes the kernel stacks of --profile"),
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use wl_common::Abi;

    use super::*;
    use crate::collector::SyscallCounts;

    pub fn counts(abi: Abi, nr: u32, calls: u64, errors: u64, total_ns: u64) -> SyscallCounts {
        SyscallCounts {
            abi,
            nr,
            counts: wl_common::Counts {
                calls,
                errors,
                total_ns,
            },
            timed: calls,
            min_ns: 1,
            max_ns: total_ns,
            latency_log2: [0; LATENCY_BUCKETS],
            errnos: if errors > 0 {
                [(2, errors)].into()
            } else {
                BTreeMap::new()
            },
        }
    }

    pub fn sample() -> Report {
        let snap = Snapshot {
            latency: Latency::EveryCall,
            syscalls: vec![
                counts(Abi::Native, 110, 1000, 0, 50_000),
                counts(Abi::Native, 257, 10, 3, 90_000),
                counts(Abi::Compat, 64, 5, 0, 500),
                counts(Abi::Native, 500, 1, 0, 10),
            ],
            lost: [("no_task_slot", 0)].into(),
            denied: Vec::new(),
            tasks: None,
            objects: None,
            only: None,
            events: None,
            block: None,
            faults: None,
            io_uring: None,
            profile: None,
        };
        Report::new(
            Target::Command(vec!["true".into()]),
            1_000_000,
            Some(0),
            snap,
            &Sources {
                provenance: &provenance::Provenance::now(),
                knowledge: &Knowledge::embedded(),
                kallsyms: &Default::default(),
                running: &|_| None,
                block_device: &|_, _| None,
            },
        )
    }

    #[test]
    fn rows_are_named_and_sorted_by_time() {
        let r = sample();
        let names: Vec<_> = r
            .syscalls
            .iter()
            .map(|s| (s.name.as_str(), s.abi))
            .collect();
        assert_eq!(
            names,
            [
                ("openat", AbiName::X86_64),
                ("getppid", AbiName::X86_64),
                ("getppid", AbiName::I386),
                ("syscall_500", AbiName::X86_64)
            ]
        );
        assert_eq!(r.syscalls[0].errno.get("ENOENT"), Some(&3));
        assert_eq!(r.syscalls[1].avg_ns, 50);
        assert_eq!(r.syscalls[0].subsystem, "Filesystem");
        assert_eq!(r.syscalls[0].source, Some("fs/open.c"));
        assert_eq!(r.syscalls[0].api, "sys_openat");
        assert_eq!(r.syscalls[1].maintainers, Some("THE REST"));
        assert_eq!(r.syscalls[3].subsystem, "Other");
    }

    #[test]
    fn sort_and_top_shape_every_text_format() {
        let r = sample();
        let text = |render: Render| {
            let mut out = Vec::new();
            r.write(render, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let position = |t: &str, name: &str| t.find(&format!(" {name} ")).unwrap();
        let by_calls = text(Render {
            sort: SortKey::Calls,
            ..Render::plain(Format::Table)
        });
        // getppid (1000 calls) before openat (10), which is first by time.
        assert!(
            position(&by_calls, "getppid") < position(&by_calls, "openat"),
            "{by_calls}"
        );
        let by_name = text(Render {
            sort: SortKey::Name,
            ..Render::plain(Format::Md)
        });
        let order: Vec<usize> = ["getppid", "getppid [i386]", "openat", "syscall_500"]
            .iter()
            .map(|n| by_name.find(&format!("| {n} |")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{by_name}");
        for format in [Format::Table, Format::Md, Format::Rst] {
            let top = text(Render {
                top: Some(2),
                ..Render::plain(format)
            });
            assert!(top.contains(" openat "), "{top}");
            assert!(!top.contains("syscall_500"), "{format:?}: {top}");
            assert!(
                top.contains("2 more syscalls: 6 calls, 0 errors (--top shows more)"),
                "{format:?}: {top}"
            );
        }
        // The table's total is of every syscall, shown or not.
        let top = text(Render {
            top: Some(1),
            ..Render::plain(Format::Table)
        });
        assert!(top.contains(" 1016         3 total"), "{top}");
        // JSON keeps every row, in --sort order.
        let json = text(Render {
            top: Some(1),
            sort: SortKey::Errors,
            ..Render::plain(Format::Json)
        });
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["syscalls"].as_array().unwrap().len(), 4);
        assert_eq!(v["syscalls"][0]["name"], "openat");
    }

    #[test]
    fn every_lost_reason_is_explained_in_the_readme() {
        let readme = include_str!("../../../README.md");
        for reason in wl_common::Lost::ALL {
            let row = format!("| `{}` |", reason.name());
            assert!(readme.contains(&row), "README.md has no row {row}");
        }
    }

    #[test]
    fn subsystems_sum_their_syscalls() {
        let r = sample();
        let names: Vec<_> = r
            .subsystems
            .iter()
            .map(|s| (s.name, s.counts.calls, s.counts.errors, s.syscalls))
            .collect();
        // getppid twice: once per ABI.
        assert_eq!(
            names,
            [
                ("Filesystem", 10, 3, 1),
                ("Process Mgmt.", 1005, 0, 2),
                ("Other", 1, 0, 1)
            ]
        );
        let grouped: Vec<_> = r
            .by_subsystem(&r.syscalls)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(grouped, ["openat", "getppid", "getppid", "syscall_500"]);
    }

    #[test]
    fn the_summary_counts_events_and_io_uring_operations() {
        let r = sample();
        let calls = |calls| Counts {
            calls,
            ..Counts::default()
        };
        let event = |detail: &str, n, subsystem| events::EventRow {
            event: "page fault",
            detail: detail.into(),
            object: None,
            counts: calls(n),
            bytes: None,
            subsystem,
            source: "mm/memory.c".into(),
        };
        let object = |subsystem, n| objects::ObjectRow {
            kind: "file",
            name: Some("ext4".into()),
            command: None,
            handler: None,
            via: None,
            source: None,
            maintainers: None,
            subsystem,
            counts: calls(n),
        };
        let read = io_uring::IoUringRow {
            op: "READ".into(),
            opcode: 22,
            submitted: 7,
            counts: calls(7),
            errnos: BTreeMap::new(),
            timed: 0,
            latency_log2: Vec::new(),
            p50_ns: 0,
            p99_ns: 0,
            subsystem: "io_uring",
            source: "io_uring/rw.c",
            // Five of an ext4 file, two of a file whose handler is not known.
            objects: vec![object(Some("Filesystem"), 5), object(None, 2)],
        };
        let events = [
            event("anon minor", 40, "Memory Mgmt."),
            event("file minor", 2, "Memory Mgmt."),
        ];
        let summary = |by_object| {
            let mut rows = r.subsystems.clone();
            credit_kernel_work(&mut rows, &events, std::slice::from_ref(&read), by_object);
            rows.iter()
                .map(|s| (s.name, s.counts.calls, s.io_uring_ops, s.events))
                .collect::<Vec<_>>()
        };
        // The syscalls' rows keep their calls; the new ones have none, busiest last.
        assert_eq!(
            summary(false),
            [
                ("Filesystem", 10, 0, 0),
                ("Process Mgmt.", 1005, 0, 0),
                ("Other", 1, 0, 0),
                ("Memory Mgmt.", 0, 0, 42),
                ("io_uring", 0, 7, 0),
            ]
        );
        assert_eq!(
            summary(true),
            [
                ("Filesystem", 10, 5, 0),
                ("Process Mgmt.", 1005, 0, 0),
                ("Other", 1, 0, 0),
                ("Memory Mgmt.", 0, 0, 42),
                ("io_uring", 0, 2, 0),
            ]
        );
        // Shown where there is something to show.
        let md = |r: &Report| {
            let mut out = Vec::new();
            r.write(Render::plain(Format::Md), &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let without = md(&r);
        assert!(!without.contains("events"), "{without}");
        let mut with = sample();
        credit_kernel_work(&mut with.subsystems, &events, &[], false);
        let md = md(&with);
        // No io_uring operation: no column for them.
        assert!(md.contains("| # syscalls | # events |"), "{md}");
        assert!(
            md.contains("| Memory Mgmt. | 0 | 0 | 0.00 | 0 | 42 |"),
            "{md}"
        );
    }
}
