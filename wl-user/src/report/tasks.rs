//! `--by process|thread|comm`: who made the calls. The kernel side counts each call for
//! its thread as well; this names the threads (from what the kernel kept at their exit,
//! or from /proc while they run) and sums them into processes and command names.

use std::{collections::BTreeMap, io::Write};

use anyhow::Result;
use serde::Serialize;
use wl_common::{Counts, owner_event};

use super::{
    Report,
    events::{self, EventRow},
    io_uring::{self, IoUringRow},
};
use crate::{
    collector::{IoUringSnapshot, TaskSnapshot},
    options::By,
    procs::Running,
    syscalls::{AbiName, Knowledge, kallsyms::Kallsyms},
};

/// One syscall of one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskSyscall {
    pub name: String,
    pub nr: u32,
    pub abi: AbiName,
    /// Calls, failures and time (ns): in JSON `calls`, `errors`, `total_ns`.
    #[serde(flatten)]
    pub counts: Counts,
    pub subsystem: &'static str,
}

/// A process (`--by process`) or thread (`--by thread`) and its calls; id 0 is
/// "others": the tasks that did not fit in the kernel side's map.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    /// With `--by thread`: the thread's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    pub pid: u32,
    pub ppid: Option<u32>,
    pub comm: String,
    /// The executable, while the process runs; None once it has exited.
    pub exe: Option<String>,
    /// When it started, in ns since boot.
    pub start_ns: Option<u64>,
    /// Shell style (code, or 128+N when killed by signal N); None while it runs.
    pub exit_status: Option<i32>,
    /// Calls, failures and time (ns): in JSON `calls`, `errors`, `total_ns`.
    #[serde(flatten)]
    pub counts: Counts,
    pub syscalls: Vec<TaskSyscall>,
    #[serde(flatten)]
    pub work: TaskWork,
}

/// A command name (`--by comm`): the processes that ran under it, summed.
#[derive(Debug, Clone, Serialize)]
pub struct CommandRow {
    pub comm: String,
    pub processes: u64,
    /// Calls, failures and time (ns): in JSON `calls`, `errors`, `total_ns`.
    #[serde(flatten)]
    pub counts: Counts,
    pub syscalls: Vec<TaskSyscall>,
    #[serde(flatten)]
    pub work: TaskWork,
}

/// With events, the kernel work of a task (or command) that no syscall row shows, as
/// the report's own sections show the workload's: its `events` (page faults by outcome,
/// block I/O by operation: the report's sections split them further) and the
/// `io_uring` operations of the rings it set up, or submitted to first (`submitted`:
/// the requests it submitted itself). Absent in JSON when there are none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskWork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventRow>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_uring: Vec<IoUringRow>,
}

/// What the kernel side counted of one task's (or command's) work besides syscalls.
#[derive(Default)]
struct Work {
    /// Per (`owner_event` kind, detail).
    events: BTreeMap<(u32, u32), Counts>,
    io_uring: IoUringSnapshot,
}

impl Work {
    fn add(&mut self, other: &Work) {
        for (key, c) in &other.events {
            *self.events.entry(*key).or_default() += *c;
        }
        for (op, n) in &other.io_uring.submitted {
            *self.io_uring.submitted.entry(*op).or_default() += n;
        }
        for (op, errnos) in &other.io_uring.errnos {
            for (errno, n) in errnos {
                *self
                    .io_uring
                    .errnos
                    .entry(*op)
                    .or_default()
                    .entry(*errno)
                    .or_default() += n;
            }
        }
        self.io_uring
            .completed
            .extend_from_slice(&other.io_uring.completed);
    }

    fn rows(&self, k: &Knowledge, ksyms: &Kallsyms) -> TaskWork {
        TaskWork {
            events: events::owner_rows(&self.events),
            io_uring: io_uring::build(&self.io_uring, k, ksyms),
        }
    }
}

/// The per-task part of a report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tasks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<TaskRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<Vec<TaskRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<CommandRow>>,
}

fn comm_str(comm: &[u8; 16]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

/// The shell's status for a `task_struct.exit_code`.
fn exit_status(code: u32) -> i32 {
    match code & 0x7f {
        0 => ((code >> 8) & 0xff) as i32,
        sig => 128 + sig as i32,
    }
}

fn busiest_first(timed: bool) -> impl Fn(&(u64, u64), &(u64, u64)) -> std::cmp::Ordering {
    move |a, b| {
        if timed {
            b.0.cmp(&a.0).then(b.1.cmp(&a.1))
        } else {
            b.1.cmp(&a.1)
        }
    }
}

/// A task's (or command's) counts by (ABI, syscall number).
type PerSyscall = BTreeMap<(AbiName, u32), Counts>;

fn syscall_rows(counts: &PerSyscall, k: &Knowledge, timed: bool) -> Vec<TaskSyscall> {
    let mut rows: Vec<TaskSyscall> = counts
        .iter()
        .map(|(&(abi, nr), c)| {
            let described = k.describe(abi, nr);
            TaskSyscall {
                name: described.name,
                nr,
                abi,
                counts: *c,
                subsystem: described.subsystem,
            }
        })
        .collect();
    let order = busiest_first(timed);
    rows.sort_by(|a, b| {
        order(
            &(a.counts.total_ns, a.counts.calls),
            &(b.counts.total_ns, b.counts.calls),
        )
        .then(a.name.cmp(&b.name))
    });
    rows
}

/// Builds the per-task part of a report; `running` says what it can of a task that
/// still runs (/proc, in wl-user).
pub fn build(
    snap: TaskSnapshot,
    k: &Knowledge,
    ksyms: &Kallsyms,
    timed: bool,
    running: &dyn Fn(u32) -> Option<Running>,
) -> Tasks {
    // The kernel side counts per thread; what is known of the ones still running is
    // asked once.
    let mut known: BTreeMap<u32, Option<Running>> = BTreeMap::new();
    let mut stat = |id: u32| {
        known
            .entry(id)
            .or_insert_with(|| {
                if id == 0 || snap.exits.contains_key(&id) {
                    None
                } else {
                    running(id)
                }
            })
            .clone()
    };
    let by_thread = snap.by == By::Thread;
    // A process's row sums its threads.
    let mut row_of = |tid: u32| match (by_thread, tid, snap.exits.get(&tid)) {
        (true, _, _) | (_, 0, _) => tid,
        (false, _, Some(e)) => e.tgid,
        (false, _, None) => stat(tid).map_or(tid, |p| p.tgid),
    };
    let mut per_task: BTreeMap<u32, PerSyscall> = BTreeMap::new();
    let mut work: BTreeMap<u32, Work> = BTreeMap::new();
    for &(tid, abi, nr, c) in &snap.counts {
        *per_task
            .entry(row_of(tid))
            .or_default()
            .entry((AbiName::of(abi), nr))
            .or_default() += c;
    }
    for (key, c) in &snap.events {
        let id = row_of(key.owner as u32);
        per_task.entry(id).or_default();
        let w = work.entry(id).or_default();
        if key.kind == owner_event::IO_URING_SUBMIT {
            *w.io_uring.submitted.entry(key.detail).or_default() += c.calls;
        } else if key.kind == owner_event::IO_URING_ERRNO {
            let (opcode, errno) = owner_event::io_uring_errno_of(key.detail);
            *w.io_uring
                .errnos
                .entry(opcode)
                .or_default()
                .entry(errno)
                .or_default() += c.calls;
        } else {
            *w.events.entry((key.kind, key.detail)).or_default() += *c;
        }
    }
    for (key, c) in &snap.io_uring {
        let id = row_of(key.owner as u32);
        per_task.entry(id).or_default();
        work.entry(id)
            .or_default()
            .io_uring
            .completed
            .push((key.object, *c));
    }
    let none = Work::default();
    let mut rows: Vec<TaskRow> = per_task
        .iter()
        .map(|(&id, counts)| {
            let total: Counts = counts.values().copied().sum();
            let exited = snap.exits.get(&id);
            let alive = stat(id);
            let (pid, ppid, comm, start_ns) = match (id, exited, &alive) {
                (0, _, _) => (0, None, "others".to_owned(), None),
                (_, Some(e), _) => (e.tgid, Some(e.ppid), comm_str(&e.comm), Some(e.start_ns)),
                (_, None, Some(r)) => (r.tgid, Some(r.ppid), r.comm.clone(), Some(r.start_ns)),
                // Gone, and its exit not kept (the map of exits was full).
                (_, None, None) => (id, None, "?".to_owned(), None),
            };
            TaskRow {
                tid: by_thread.then_some(id),
                pid: if by_thread { pid } else { id },
                ppid,
                comm,
                exe: alive.as_ref().and_then(|r| r.exe.clone()),
                start_ns,
                exit_status: exited.map(|e| exit_status(e.exit_code)),
                counts: total,
                syscalls: syscall_rows(counts, k, timed),
                work: work.get(&id).unwrap_or(&none).rows(k, ksyms),
            }
        })
        .collect();
    let order = busiest_first(timed);
    rows.sort_by(|a, b| {
        // "others" last, whatever it holds.
        (a.pid == 0 && a.tid.unwrap_or(0) == 0)
            .cmp(&(b.pid == 0 && b.tid.unwrap_or(0) == 0))
            .then(order(
                &(a.counts.total_ns, a.counts.calls),
                &(b.counts.total_ns, b.counts.calls),
            ))
    });
    match snap.by {
        By::Process => Tasks {
            processes: Some(rows),
            ..Tasks::default()
        },
        By::Thread => Tasks {
            threads: Some(rows),
            ..Tasks::default()
        },
        By::Comm => {
            let mut by_comm: BTreeMap<String, (u64, PerSyscall, Work)> = BTreeMap::new();
            for (id, counts) in &per_task {
                let row = rows.iter().find(|r| r.pid == *id).expect("a row per task");
                let entry = by_comm.entry(row.comm.clone()).or_default();
                entry.0 += 1;
                for (key, c) in counts {
                    *entry.1.entry(*key).or_default() += *c;
                }
                entry.2.add(work.get(id).unwrap_or(&none));
            }
            let mut commands: Vec<CommandRow> = by_comm
                .into_iter()
                .map(|(comm, (processes, counts, work))| {
                    let total: Counts = counts.values().copied().sum();
                    CommandRow {
                        comm,
                        processes,
                        counts: total,
                        syscalls: syscall_rows(&counts, k, timed),
                        work: work.rows(k, ksyms),
                    }
                })
                .collect();
            commands.sort_by(|a, b| {
                order(
                    &(a.counts.total_ns, a.counts.calls),
                    &(b.counts.total_ns, b.counts.calls),
                )
            });
            Tasks {
                commands: Some(commands),
                ..Tasks::default()
            }
        }
    }
}

/// One process, thread or command as the text formats show it.
pub struct Block<'a> {
    /// `pid 1234 (make), ppid 1, exit 0`, `thread ...`, `cc (12 processes)`.
    pub title: String,
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    pub comm: &'a str,
    pub counts: Counts,
    pub syscalls: &'a [TaskSyscall],
    pub events: &'a [EventRow],
    pub io_uring: &'a [IoUringRow],
}

impl Block<'_> {
    /// Every task together: the last line of a list of them.
    pub fn total(counts: Counts) -> Block<'static> {
        Block {
            title: "total".to_owned(),
            pid: None,
            tid: None,
            comm: "",
            counts,
            syscalls: &[],
            events: &[],
            io_uring: &[],
        }
    }
}

/// The report's tasks, busiest first, "others" last; None without `--by`.
pub fn blocks(report: &Report) -> Option<Vec<Block<'_>>> {
    let t = &report.tasks;
    if let Some(rows) = t.processes.as_ref().or(t.threads.as_ref()) {
        return Some(
            rows.iter()
                .map(|r| {
                    let who = match (r.tid, r.pid) {
                        (Some(0), _) | (None, 0) => "others (tasks that did not fit)".to_owned(),
                        (Some(tid), pid) => format!("thread {tid} of pid {pid} ({})", r.comm),
                        (None, pid) => format!("pid {pid} ({})", r.comm),
                    };
                    let ppid = r.ppid.map_or_else(String::new, |p| format!(", ppid {p}"));
                    let exit = r
                        .exit_status
                        .map_or_else(|| ", running".to_owned(), |s| format!(", exit {s}"));
                    Block {
                        title: format!("{who}{ppid}{exit}"),
                        pid: Some(r.pid),
                        tid: r.tid,
                        comm: &r.comm,
                        counts: r.counts,
                        syscalls: &r.syscalls,
                        events: &r.work.events,
                        io_uring: &r.work.io_uring,
                    }
                })
                .collect(),
        );
    }
    t.commands.as_ref().map(|rows| {
        rows.iter()
            .map(|r| Block {
                title: format!("{} ({} processes)", r.comm, r.processes),
                pid: None,
                tid: None,
                comm: &r.comm,
                counts: r.counts,
                syscalls: &r.syscalls,
                events: &r.work.events,
                io_uring: &r.work.io_uring,
            })
            .collect()
    })
}

/// The blocks `top` lets through, and one line for the rest.
fn shown<'a, 'b>(blocks: &'a [Block<'b>], top: Option<usize>) -> (&'a [Block<'b>], Option<String>) {
    let n = top.unwrap_or(blocks.len()).min(blocks.len());
    let rest = &blocks[n..];
    let line = (!rest.is_empty()).then(|| {
        format!(
            "{} more: {} calls, {} errors (--top shows more)",
            rest.len(),
            rest.iter().map(|b| b.counts.calls).sum::<u64>(),
            rest.iter().map(|b| b.counts.errors).sum::<u64>()
        )
    });
    (&blocks[..n], line)
}

/// Writes the tasks `top` lets through with `block`, then one line for the rest.
pub fn each_shown(
    report: &Report,
    top: Option<usize>,
    out: &mut dyn Write,
    mut block: impl FnMut(&Block, &mut dyn Write) -> Result<()>,
) -> Result<()> {
    let Some(blocks) = blocks(report) else {
        return Ok(());
    };
    let (blocks, rest) = shown(&blocks, top);
    for b in blocks {
        block(b, out)?;
    }
    if let Some(rest) = rest {
        writeln!(out, "\n{rest}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report reads nothing itself: what it shows of a running task is what it is
    /// told, and its threads are summed into the process it is told of.
    #[test]
    fn running_tasks_are_described_by_what_is_passed_in() {
        let c = |calls| Counts {
            calls,
            errors: 1,
            total_ns: 10 * calls,
        };
        let snap = TaskSnapshot {
            by: By::Process,
            counts: vec![
                (4242, wl_common::Abi::Native, 110, c(7)),
                (4243, wl_common::Abi::Native, 110, c(5)),
            ],
            exits: BTreeMap::new(),
            events: Vec::new(),
            io_uring: Vec::new(),
        };
        let running = |id: u32| {
            (4242..=4243).contains(&id).then(|| Running {
                tgid: 4242,
                ppid: 1,
                comm: "fake".into(),
                start_ns: 5,
                exe: Some("/bin/fake".into()),
            })
        };
        let tasks = build(
            snap,
            &Knowledge::embedded(),
            &Kallsyms::default(),
            true,
            &running,
        );
        let rows = tasks.processes.unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.pid, r.ppid, r.comm.as_str()), (4242, Some(1), "fake"));
        assert_eq!((r.exe.as_deref(), r.start_ns), (Some("/bin/fake"), Some(5)));
        assert_eq!(
            (r.counts.calls, r.counts.errors, r.counts.total_ns),
            (12, 2, 120)
        );
        assert_eq!(r.syscalls[0].name, "getppid");
    }

    #[test]
    fn exit_codes_read_like_a_shell() {
        assert_eq!(exit_status(3 << 8), 3);
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(9), 137);
        // A core dump sets 0x80 besides the signal.
        assert_eq!(exit_status(0x80 | 11), 139);
        assert_eq!(comm_str(b"wl-testload\0\0\0\0\0"), "wl-testload");
        assert_eq!(comm_str(b"sixteen-bytes-xx"), "sixteen-bytes-xx");
    }
}
