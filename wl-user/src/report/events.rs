//! The kernel work a workload caused that no syscall row shows: signals sent to its
//! tasks (queued for delivery, fatal ones too), their context switches, and the block
//! I/O they submitted, named and placed in their subsystem.

use serde::Serialize;
use wl_common::{BlockCounts, BlockKey, Counts, event};

/// One kind of event and its detail: `signal` `SIGUSR1`, `context switch` `voluntary`,
/// `block I/O` `vda write`.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// What happened: `signal`, `context switch` or `block I/O`.
    pub event: &'static str,
    /// Which: the signal's name; `voluntary` (the task blocked) or `involuntary` (it
    /// was preempted); the device and the operation (`read`, `write`, `flush`,
    /// `discard`, ...).
    pub detail: String,
    /// How many in `calls` (block I/O: bios); for voluntary switches, `total_ns` is
    /// the time the tasks waited before they ran again (0 for the others).
    #[serde(flatten)]
    pub counts: Counts,
    /// Block I/O: the bytes the bios carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    pub subsystem: &'static str,
    /// Where the kernel does it.
    pub source: &'static str,
}

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

/// The rows of the kernel side's event slots and block I/O, busiest first; `device`
/// names a block device from its major and minor numbers.
pub fn build(
    slots: &[(u32, Counts)],
    block: &[(BlockKey, BlockCounts)],
    device: &dyn Fn(u32, u32) -> Option<String>,
) -> Vec<EventRow> {
    let mut rows: Vec<EventRow> = slots
        .iter()
        .map(|&(slot, counts)| match slot {
            event::SWITCH_VOLUNTARY | event::SWITCH_INVOLUNTARY => EventRow {
                event: "context switch",
                detail: if slot == event::SWITCH_VOLUNTARY {
                    "voluntary"
                } else {
                    "involuntary"
                }
                .to_owned(),
                counts,
                bytes: None,
                subsystem: "Scheduler",
                source: "kernel/sched/core.c",
            },
            sig => EventRow {
                event: "signal",
                detail: signal_name(sig),
                counts,
                bytes: None,
                subsystem: "Signal",
                source: "kernel/signal.c",
            },
        })
        .collect();
    rows.extend(block.iter().map(|&(key, c)| {
        let (major, minor) = key.major_minor();
        let name = device(major, minor).unwrap_or_else(|| format!("{major}:{minor}"));
        EventRow {
            event: "block I/O",
            detail: format!("{name} {}", block_op_name(key.op)),
            counts: Counts {
                calls: c.bios,
                ..Counts::default()
            },
            bytes: Some(c.bytes),
            subsystem: "Block layer",
            source: "block/blk-core.c",
        }
    }));
    rows.sort_by(|a, b| {
        b.counts
            .calls
            .cmp(&a.counts.calls)
            .then(a.event.cmp(b.event))
            .then(a.detail.cmp(&b.detail))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let rows = build(
            &[
                (10, c(3, 0)),
                (event::SWITCH_VOLUNTARY, c(7, 5_000)),
                (event::SWITCH_INVOLUNTARY, c(1, 0)),
            ],
            &block,
            &|major, minor| (major == 254 && minor == 16).then(|| "vdb".to_owned()),
        );
        let named: Vec<(&str, &str, u64)> = rows
            .iter()
            .map(|r| (r.event, r.detail.as_str(), r.counts.calls))
            .collect();
        assert_eq!(
            named,
            [
                ("context switch", "voluntary", 7),
                ("signal", "SIGUSR1", 3),
                ("block I/O", "vdb write", 2),
                ("context switch", "involuntary", 1)
            ]
        );
        assert_eq!(rows[0].counts.total_ns, 5_000);
        assert_eq!(rows[1].subsystem, "Signal");
        assert_eq!(rows[2].bytes, Some(8192));
        assert_eq!(rows[2].subsystem, "Block layer");
        assert_eq!(rows[0].bytes, None);
        // A device that has gone is named by its numbers.
        let unnamed = build(&[], &block, &|_, _| None);
        assert_eq!(unnamed[0].detail, "254:16 write");
        assert_eq!(block_op_name(BlockKey::FLUSH), "flush");
    }
}
