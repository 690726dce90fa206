//! io_uring operations of the traced tasks as syscall-like rows: per opcode, requests
//! submitted and completed, failures by errno, the time from submission to completion,
//! and the objects the requests' files were, named as fd objects are.

use std::collections::BTreeMap;

use serde::Serialize;
use wl_common::{Counts, object};

use super::{objects::ObjectRow, percentile::percentile};
use crate::{
    collector::IoUringSnapshot,
    syscalls::{Knowledge, io_uring, kallsyms, objects},
};

/// One operation (opcode) of io_uring.
#[derive(Debug, Clone, Serialize)]
pub struct IoUringRow {
    /// The kernel's name: `READ`, `WRITE`, `NOP`, `SEND`, ...
    pub op: String,
    pub opcode: u32,
    /// Requests submitted while traced.
    pub submitted: u64,
    /// Completions (`calls`; a multishot request completes more than once), those that
    /// failed (`errors`), and the time from submission to each (`total_ns`).
    #[serde(flatten)]
    pub counts: Counts,
    /// errno name → failures with it.
    pub errnos: BTreeMap<String, u64>,
    /// Completions whose time since submission was measured, the sum of
    /// `latency_log2`: all but those submitted before tracing began and those whose
    /// in-flight slot another request took (0 with `--no-latency`). `total_ns` is
    /// their time.
    pub timed: u64,
    /// Completions per log2 bucket of the time since submission, as `latency_log2` of
    /// syscalls; `p50_ns` and `p99_ns` estimated from it (within a factor of 2).
    pub latency_log2: Vec<u64>,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub subsystem: &'static str,
    /// The file of io_uring/ that implements the operation.
    pub source: &'static str,
    /// The objects its requests worked on, busiest first: `subsystem` is where the
    /// object's code does the work (an ext4 file's read: Filesystem).
    pub objects: Vec<ObjectRow>,
}

/// The rows of `snap`, busiest first.
pub fn build(snap: &IoUringSnapshot, k: &Knowledge, ksyms: &kallsyms::Kallsyms) -> Vec<IoUringRow> {
    let mut rows: BTreeMap<u32, IoUringRow> = BTreeMap::new();
    let row = |opcode: u32| IoUringRow {
        op: io_uring::op_name(opcode),
        opcode,
        submitted: 0,
        counts: Counts::default(),
        errnos: BTreeMap::new(),
        timed: 0,
        latency_log2: Vec::new(),
        p50_ns: 0,
        p99_ns: 0,
        subsystem: "io_uring",
        source: io_uring::op_source(opcode),
        objects: Vec::new(),
    };
    for (&op, &n) in &snap.submitted {
        rows.entry(op).or_insert_with(|| row(op)).submitted = n;
    }
    for (key, counts) in &snap.completed {
        let r = rows.entry(key.slot).or_insert_with(|| row(key.slot));
        r.counts += *counts;
        let named = if key.kind == object::OTHERS {
            ObjectRow::others(*counts)
        } else {
            let info = objects::describe(k, ksyms, "io_uring_enter", key);
            ObjectRow {
                kind: info.kind,
                name: info.name,
                command: None,
                handler: None,
                via: None,
                source: info.source,
                maintainers: info.section.map(|s| s.name),
                subsystem: info.subsystem,
                counts: *counts,
            }
        };
        match r
            .objects
            .iter_mut()
            .find(|o| o.kind == named.kind && o.name == named.name)
        {
            Some(o) => o.counts += named.counts,
            None => r.objects.push(named),
        }
    }
    for (&op, hist) in &snap.latency {
        let r = rows.entry(op).or_insert_with(|| row(op));
        r.timed = hist.iter().sum();
        r.latency_log2 = hist.to_vec();
        r.p50_ns = percentile(hist, 0.5, 0, u64::MAX);
        r.p99_ns = percentile(hist, 0.99, 0, u64::MAX);
    }
    for (&op, by) in &snap.errnos {
        let r = rows.entry(op).or_insert_with(|| row(op));
        for (&errno, &n) in by {
            *r.errnos
                .entry(crate::syscalls::errno_name(errno))
                .or_default() += n;
        }
    }
    let mut rows: Vec<IoUringRow> = rows.into_values().collect();
    for r in &mut rows {
        r.objects.sort_by(|a, b| {
            b.counts
                .calls
                .cmp(&a.counts.calls)
                .then(a.name.cmp(&b.name))
        });
    }
    rows.sort_by(|a, b| {
        (b.counts.calls.max(b.submitted))
            .cmp(&a.counts.calls.max(a.submitted))
            .then(a.opcode.cmp(&b.opcode))
    });
    rows
}
