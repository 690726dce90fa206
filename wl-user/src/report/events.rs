//! The kernel work a workload caused that no syscall row shows: signals sent to its
//! tasks (queued for delivery, fatal ones too), their context switches, their page
//! faults and the block I/O they submitted, named and placed in their subsystem.

use std::collections::BTreeMap;

use serde::Serialize;
use wl_common::{BlockCounts, BlockKey, Counts, FaultKey, event, owner_event};

/// One kind of event and its detail: `signal` `SIGUSR1`, `context switch` `voluntary`,
/// `page fault` `file minor`, `block I/O` `vda write`.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// What happened: `signal`, `context switch`, `page fault` or `block I/O`.
    pub event: &'static str,
    /// Which: the signal's name; `voluntary` (the task blocked) or `involuntary` (it
    /// was preempted); the memory and outcome of a fault (`anon minor`, `file major`,
    /// `failed`); the device and the operation (`read`, `write`, `flush`, `discard`,
    /// ...).
    pub detail: String,
    /// Page faults on a file: the file's object, named as fd objects are (`ext4`,
    /// `tmpfs`, `/dev/zero`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// How many in `calls` (block I/O: bios); for voluntary switches, `total_ns` is
    /// the time the tasks waited before they ran again (0 for the others).
    #[serde(flatten)]
    pub counts: Counts,
    /// Block I/O: the bytes the bios carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    pub subsystem: &'static str,
    /// Where the kernel does it.
    pub source: String,
}

/// What names the objects and devices of events.
pub struct Namers<'a> {
    /// A block device from its major and minor numbers.
    pub device: &'a dyn Fn(u32, u32) -> Option<String>,
    /// A faulting file's object and the source of its code (`ext4`, `fs/ext4/`).
    pub file: &'a dyn Fn(&FaultKey) -> (String, Option<String>),
}

/// What the kernel side counted besides syscalls.
pub struct Counted<'a> {
    pub slots: &'a [(u32, Counts)],
    pub block: &'a [(BlockKey, BlockCounts)],
    /// None when faults were not counted.
    pub faults: Option<&'a [(FaultKey, u64)]>,
}

/// Where the kernel handles a fault it could not (arch/*/mm/fault.c).
const FAULT_SOURCE: &str = if cfg!(target_arch = "aarch64") {
    "arch/arm64/mm/fault.c"
} else {
    "arch/x86/mm/fault.c"
};

/// A block operation's name (`REQ_OP_*` in include/linux/blk_types.h, lower case).
pub fn block_op_name(op: u32) -> String {
    match op {
        BlockKey::READ => "read".into(),
        BlockKey::WRITE => "write".into(),
        BlockKey::FLUSH => "flush".into(),
        BlockKey::DISCARD => "discard".into(),
        5 => "secure erase".into(),
        7 => "zone append".into(),
        9 => "write zeroes".into(),
        11 | 13 | 15 | 17 | 19 => "zone management".into(),
        34 | 35 => "driver".into(),
        op => format!("op {op}"),
    }
}

/// A signal's name: `SIGUSR1`; real-time ones as `SIGRTMIN+N` (glibc keeps 32 and 33).
pub fn signal_name(sig: u32) -> String {
    const SIGRTMIN: u32 = 34;
    match nix::sys::signal::Signal::try_from(sig as i32) {
        Ok(s) => s.as_str().to_owned(),
        Err(_) if sig >= SIGRTMIN => format!("SIGRTMIN+{}", sig - SIGRTMIN),
        Err(_) => format!("SIG{sig}"),
    }
}

fn row(
    event: &'static str,
    detail: String,
    counts: Counts,
    subsystem: &'static str,
    source: &str,
) -> EventRow {
    EventRow {
        event,
        detail,
        object: None,
        counts,
        bytes: None,
        subsystem,
        source: source.to_owned(),
    }
}

fn calls(calls: u64) -> Counts {
    Counts {
        calls,
        ..Counts::default()
    }
}

fn switch_row(voluntary: bool, counts: Counts) -> EventRow {
    let detail = if voluntary {
        "voluntary"
    } else {
        "involuntary"
    };
    row(
        "context switch",
        detail.to_owned(),
        counts,
        "Scheduler",
        "kernel/sched/core.c",
    )
}

fn signal_row(sig: u32, counts: Counts) -> EventRow {
    row(
        "signal",
        signal_name(sig),
        counts,
        "Signal",
        "kernel/signal.c",
    )
}

/// Faults that began, `all`, less those `handled`: the ones that never ended handled
/// (a bad address, or a fault given up for a fatal signal), if any.
fn failed_faults(all: u64, handled: u64) -> Option<EventRow> {
    (all > handled).then(|| {
        row(
            "page fault",
            "failed".into(),
            calls(all - handled),
            "Memory Mgmt.",
            FAULT_SOURCE,
        )
    })
}

fn block_row(detail: String, bios: u64, bytes: Option<u64>) -> EventRow {
    EventRow {
        bytes,
        ..row(
            "block I/O",
            detail,
            calls(bios),
            "Block layer",
            "block/blk-core.c",
        )
    }
}

/// Busiest first, then by name.
fn sort(rows: &mut [EventRow]) {
    rows.sort_by(|a, b| {
        b.counts
            .calls
            .cmp(&a.counts.calls)
            .then(a.event.cmp(b.event))
            .then(a.detail.cmp(&b.detail))
            .then(a.object.cmp(&b.object))
    });
}

/// The rows of events counted for one owner (`wl_common::OwnerEventKey`: a cgroup in
/// `serve`, a task with `--by`), by (kind, detail): page faults by outcome only
/// (`minor`, `major`, and `failed`), block I/O by operation only; busiest first.
/// io_uring submissions are not events: the io_uring rows count them.
pub fn owner_rows(counts: &BTreeMap<(u32, u32), Counts>) -> Vec<EventRow> {
    use owner_event as kind;
    let n = |detail| counts.get(&(kind::FAULT, detail)).map_or(0, |c| c.calls);
    let mut rows: Vec<EventRow> = counts
        .iter()
        .filter_map(|(&(k, detail), &c)| match k {
            kind::SIGNAL => Some(signal_row(detail, c)),
            kind::SWITCH => Some(switch_row(detail == kind::VOLUNTARY, c)),
            kind::FAULT if detail == kind::MINOR || detail == kind::MAJOR => Some(row(
                "page fault",
                if detail == kind::MINOR {
                    "minor"
                } else {
                    "major"
                }
                .to_owned(),
                c,
                "Memory Mgmt.",
                "mm/memory.c",
            )),
            kind::FAULT => failed_faults(c.calls, n(kind::MINOR) + n(kind::MAJOR)),
            kind::BLOCK => Some(block_row(block_op_name(detail), c.calls, None)),
            _ => None,
        })
        .filter(|r| r.counts.calls > 0 || r.counts.total_ns > 0)
        .collect();
    sort(&mut rows);
    rows
}

/// The rows of what the kernel side counted besides syscalls, busiest first.
pub fn build(counted: &Counted, names: &Namers) -> Vec<EventRow> {
    let mut rows: Vec<EventRow> = Vec::new();
    let mut all_faults = 0;
    for &(slot, counts) in counted.slots {
        match slot {
            event::SWITCH_VOLUNTARY | event::SWITCH_INVOLUNTARY => {
                rows.push(switch_row(slot == event::SWITCH_VOLUNTARY, counts))
            }
            event::PAGE_FAULTS => all_faults = counts.calls,
            sig => rows.push(signal_row(sig, counts)),
        }
    }
    if let Some(faults) = counted.faults {
        // Keys that differ only in what is not shown (two devices of one driver) are
        // one row.
        let mut handled: BTreeMap<(String, Option<String>), (u64, String)> = BTreeMap::new();
        for (key, n) in faults {
            let outcome = if key.outcome == FaultKey::MAJOR {
                "major"
            } else {
                "minor"
            };
            let (memory, object, source) = match key.kind {
                FaultKey::ANON => ("anon", None, "mm/memory.c".to_owned()),
                FaultKey::UNKNOWN => ("unknown", None, "mm/memory.c".to_owned()),
                _ => {
                    let (name, source) = (names.file)(key);
                    ("file", Some(name), source.unwrap_or("mm/filemap.c".into()))
                }
            };
            handled
                .entry((format!("{memory} {outcome}"), object))
                .or_insert((0, source))
                .0 += n;
        }
        let sum: u64 = handled.values().map(|(n, _)| n).sum();
        for ((detail, object), (n, source)) in handled {
            let mut r = row("page fault", detail, calls(n), "Memory Mgmt.", &source);
            r.object = object;
            rows.push(r);
        }
        // Counted at the fault's start, the parts at its end.
        rows.extend(failed_faults(all_faults, sum));
    }
    rows.extend(counted.block.iter().map(|&(key, c)| {
        let (major, minor) = key.major_minor();
        let name = (names.device)(major, minor).unwrap_or_else(|| format!("{major}:{minor}"));
        block_row(
            format!("{name} {}", block_op_name(key.op)),
            c.bios,
            Some(c.bytes),
        )
    }));
    sort(&mut rows);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owner's events are named as the workload's: faults by outcome, the failed
    /// ones what is left of all that began; io_uring's counts are not events.
    #[test]
    fn owner_events_are_named_as_the_workloads() {
        use owner_event as kind;
        let c = |calls, total_ns| Counts {
            calls,
            errors: 0,
            total_ns,
        };
        let counts: BTreeMap<(u32, u32), Counts> = [
            ((kind::SIGNAL, 10), c(3, 0)),
            ((kind::SWITCH, kind::VOLUNTARY), c(7, 5_000)),
            ((kind::SWITCH, kind::INVOLUNTARY), c(1, 0)),
            ((kind::FAULT, kind::ALL_FAULTS), c(10, 0)),
            ((kind::FAULT, kind::MINOR), c(5, 0)),
            ((kind::FAULT, kind::MAJOR), c(4, 0)),
            ((kind::BLOCK, BlockKey::WRITE), c(2, 0)),
            ((kind::IO_URING_SUBMIT, 0), c(9, 0)),
            ((kind::IO_URING_ERRNO, kind::io_uring_errno(22, 9)), c(1, 0)),
        ]
        .into();
        let rows = owner_rows(&counts);
        let named: Vec<(&str, &str, u64, &str)> = rows
            .iter()
            .map(|r| (r.event, r.detail.as_str(), r.counts.calls, r.subsystem))
            .collect();
        assert_eq!(
            named,
            [
                ("context switch", "voluntary", 7, "Scheduler"),
                ("page fault", "minor", 5, "Memory Mgmt."),
                ("page fault", "major", 4, "Memory Mgmt."),
                ("signal", "SIGUSR1", 3, "Signal"),
                ("block I/O", "write", 2, "Block layer"),
                ("context switch", "involuntary", 1, "Scheduler"),
                ("page fault", "failed", 1, "Memory Mgmt."),
            ]
        );
        assert_eq!(rows[0].counts.total_ns, 5_000);
        assert_eq!(
            kind::io_uring_errno_of(kind::io_uring_errno(22, 9)),
            (22, 9)
        );
    }

    #[test]
    fn slots_are_named() {
        assert_eq!(signal_name(10), "SIGUSR1");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(35), "SIGRTMIN+1");
        let c = |calls, total_ns| Counts {
            calls,
            errors: 0,
            total_ns,
        };
        let block = [(
            BlockKey {
                dev: (254 << 20) | 16,
                op: BlockKey::WRITE,
            },
            BlockCounts {
                bios: 2,
                bytes: 8192,
            },
        )];
        let faults = [
            (
                FaultKey {
                    outcome: FaultKey::MINOR,
                    kind: FaultKey::ANON,
                    ..FaultKey::default()
                },
                5,
            ),
            (
                FaultKey {
                    outcome: FaultKey::MAJOR,
                    kind: wl_common::object::FILE,
                    fs_magic: 0xef53,
                    ..FaultKey::default()
                },
                4,
            ),
        ];
        let device = |major, minor| (major == 254 && minor == 16).then(|| "vdb".to_owned());
        let file = |_: &FaultKey| ("ext4".to_owned(), Some("fs/ext4/".to_owned()));
        let names = Namers {
            device: &device,
            file: &file,
        };
        let rows = build(
            &Counted {
                slots: &[
                    (10, c(3, 0)),
                    (event::SWITCH_VOLUNTARY, c(7, 5_000)),
                    (event::SWITCH_INVOLUNTARY, c(1, 0)),
                    (event::PAGE_FAULTS, c(10, 0)),
                ],
                block: &block,
                faults: Some(&faults),
            },
            &names,
        );
        let named: Vec<(&str, &str, u64)> = rows
            .iter()
            .map(|r| (r.event, r.detail.as_str(), r.counts.calls))
            .collect();
        assert_eq!(
            named,
            [
                ("context switch", "voluntary", 7),
                ("page fault", "anon minor", 5),
                ("page fault", "file major", 4),
                ("signal", "SIGUSR1", 3),
                ("block I/O", "vdb write", 2),
                ("context switch", "involuntary", 1),
                // The total less the handled ones.
                ("page fault", "failed", 1),
            ]
        );
        assert_eq!(rows[2].object.as_deref(), Some("ext4"));
        assert_eq!(rows[2].source, "fs/ext4/");
        assert_eq!(rows[1].object, None);
        assert_eq!(rows[1].subsystem, "Memory Mgmt.");
        assert_eq!(rows[0].counts.total_ns, 5_000);
        assert_eq!(rows[3].subsystem, "Signal");
        assert_eq!(rows[4].bytes, Some(8192));
        assert_eq!(rows[4].subsystem, "Block layer");
        assert_eq!(rows[0].bytes, None);
        // A device that has gone is named by its numbers.
        let unnamed = build(
            &Counted {
                slots: &[],
                block: &block,
                faults: None,
            },
            &Namers {
                device: &|_, _| None,
                file: &file,
            },
        );
        assert_eq!(unnamed[0].detail, "254:16 write");
        assert_eq!(block_op_name(BlockKey::FLUSH), "flush");
    }
}
